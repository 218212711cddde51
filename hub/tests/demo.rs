//! `lunxun-hub demo --exit`: builds the hierarchy, syncs it over mTLS and
//! prints the national coverage. Checked independently of the demo's own
//! verification: the national node's `coverage --format json` must equal the
//! rules applied (here, by the library) to every office's generated files.

use std::path::Path;
use std::process::Command;

use lunxun_node::coverage;
use lunxun_node::import::{self, ImportOptions};
use lunxun_node::model::Record;
use lunxun_node::orgs::OrgDirectory;
use lunxun_node::policy::Policy;
use lunxun_node::view::View;

fn hub(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lunxun-hub"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run lunxun-hub")
}

/// Every office's files, imported into one view as its records.
fn oracle(files: &Path, orgs: &OrgDirectory) -> View {
    let opts = ImportOptions { progress: false };
    let mut view = View::default();
    for dir in std::fs::read_dir(files).unwrap() {
        let dir = dir.unwrap().path();
        let code = dir.file_name().unwrap().to_str().unwrap().to_owned();
        let org = orgs.get(&code).unwrap();
        let ext = if dir.join("roster.xlsx").exists() {
            "xlsx"
        } else {
            "csv"
        };
        for r in import::read_roster(&dir.join(format!("roster.{ext}")), &opts).unwrap() {
            view.apply(org, Record::Roster(r.entry));
        }
        let t = import::read_trainings(&dir.join(format!("trainings.{ext}")), &opts).unwrap();
        for c in t.classes {
            view.apply(org, Record::Class(c));
        }
        for a in t.attendance {
            view.apply(org, Record::Attendance(a));
        }
    }
    view
}

#[test]
fn demo_converges_and_equals_the_rules_on_the_offices_files() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("demo");
    let out = hub(&[
        "--data",
        data.to_str().unwrap(),
        "demo",
        "--exit",
        "--as-of",
        "2026-06-30",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("verified: the national coverage equals the rules"),
        "{text}"
    );
    assert!(text.contains("the offline counties come online"), "{text}");
    // The dashboard account it printed exists on the national node.
    let account = text
        .lines()
        .find_map(|l| l.strip_prefix("dashboard account 看板账号: "))
        .expect("the demo prints its dashboard account");
    let (name, password) = account.split_once("  password 密码: ").unwrap();
    assert_eq!(name, "demo");
    assert_eq!(password.len(), 16);
    let users = hub(&[
        "--data",
        data.join("nodes/100000").to_str().unwrap(),
        "user",
        "list",
    ]);
    let users = String::from_utf8_lossy(&users.stdout);
    assert!(users.contains("demo") && users.contains("admin"), "{users}");
    assert!(!users.contains(password), "{users}");
    assert!(
        text.contains("国家信访局") && text.contains("济源市"),
        "{text}"
    );

    let orgs = OrgDirectory::builtin();
    let view = oracle(&data.join("files"), &orgs);
    let national = orgs.get("100000").unwrap();
    // The demo publishes a revised policy effective 30 days before its date:
    // its figures follow it, and a date before keeps the documents' numbers.
    let revised = Policy::from_toml(lunxun_hub::demo::REVISED_POLICY, "revised").unwrap();
    let before = coverage::coverage(
        &view,
        &orgs,
        &Policy::default(),
        national,
        None,
        "2026-05-30".parse().unwrap(),
    );
    let got_before = hub(&[
        "--data",
        data.join("nodes/100000").to_str().unwrap(),
        "coverage",
        "--as-of",
        "2026-05-30",
        "--format",
        "json",
    ]);
    let got_before: serde_json::Value = serde_json::from_slice(&got_before.stdout).unwrap();
    assert_eq!(
        got_before["nodes"][0]["subtree"]["rotation"],
        serde_json::to_value(before.nodes[0].subtree.rotation).unwrap(),
        "before the revision's effective date, the documents' policy"
    );
    let county = hub(&[
        "--data",
        data.join("nodes/410102").to_str().unwrap(),
        "bulletins",
        "--format",
        "json",
    ]);
    let county: serde_json::Value = serde_json::from_slice(&county.stdout).unwrap();
    assert_eq!(county["held"], 1, "a county holds the revision: {county}");
    let want = coverage::coverage(
        &view,
        &orgs,
        &revised,
        national,
        None,
        "2026-06-30".parse().unwrap(),
    );
    let got = hub(&[
        "--data",
        data.join("nodes/100000").to_str().unwrap(),
        "coverage",
        "--as-of",
        "2026-06-30",
        "--format",
        "json",
    ]);
    assert!(got.status.success());
    let got: serde_json::Value = serde_json::from_slice(&got.stdout).unwrap();
    let want = serde_json::to_value(&want).unwrap();
    let nodes = |v: &serde_json::Value| v["nodes"].as_array().unwrap().clone();
    let (got, want) = (nodes(&got), nodes(&want));
    assert_eq!(got.len(), want.len());
    let mut reporting = 0;
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g["org"], w["org"]);
        for field in ["rotation", "hours"] {
            assert_eq!(g[field], w[field], "{} {field}", g["org"]);
        }
        assert_eq!(
            g["subtree"]["rotation"], w["subtree"]["rotation"],
            "{} subtree",
            g["org"]
        );
        reporting += usize::from(g["reporting"] == true);
    }
    assert_eq!(reporting, 28, "every office of the demo reports");

    // Every node is a usable data dir afterwards; the demo refuses a used dir.
    let report = hub(&[
        "--data",
        data.join("nodes/100000").to_str().unwrap(),
        "report",
        "--as-of",
        "2026-06-30",
    ]);
    assert!(String::from_utf8_lossy(&report.stdout).contains("河南省"));
    let again = hub(&["--data", data.to_str().unwrap(), "demo", "--exit"]);
    assert_eq!(again.status.code(), Some(2));
}
