//! What comes down the tree, over a four-level hierarchy of real processes
//! on mutual TLS: the national node publishes a revised policy, a directory
//! change and a revocation as signed bulletins; one round of sessions, top
//! down, puts each in force at every node.
//!
//! - Policy: after the round, every node's own `coverage --format json` for
//!   its subtree equals the national node's for the same orgs, today and on
//!   a date before the bulletin's effective date, and the national figures
//!   equal the rules applied to every file under the revised policy (and
//!   under the old one before that date; the two checked to differ, so the
//!   test can fail).
//! - Directory: a county created by the bulletin inits (certificate and
//!   node from the bulletin's row), imports, syncs through its prefecture,
//!   and appears in the national tree; a retired county's records stay
//!   visible under its last name.
//! - Revocation: a county's certificate revoked by bulletin is refused by
//!   its own parent, which never had it in its config.
//! - Faults: the national node killed (`kill -9`) right after publishing and
//!   a prefecture right after receiving keep the bulletin; a second round
//!   brings nothing twice.

use std::collections::BTreeMap;

use lunxun_gen::NodeData;
use lunxun_node::orgs::OrgDirectory;
use lunxun_node::policy::Policy;
use lunxun_tests::data::{assert_coverage_matches, oracle_with};
use lunxun_tests::{Node, TREE, World, build_tree, orgs, seed};
use serde_json::Value;

/// Top-down: each node's session brings what its parent holds.
const TOP_DOWN: [&str; 8] = [
    "410000", "420000", "410100", "420100", "419001", "410102", "410103", "420102",
];

/// Every level, bottom-up, each session complete.
fn sync_up(nodes: &BTreeMap<String, Node>) {
    for org in TOP_DOWN.iter().rev() {
        let out = nodes[*org].sync_ok();
        assert!(out.contains("the parent holds everything"), "{org}: {out}");
    }
}

fn coverage(node: &Node, org: &str, as_of: &str) -> Value {
    let out = node.ok(&[
        "coverage", "--org", org, "--as-of", as_of, "--format", "json",
    ]);
    serde_json::from_str(&out).expect("coverage JSON")
}

const REVISED: &str = "# 2027 revision\n[rotation.county]\nmin_years = 2\nmax_years = 2\n\n[hours.general]\nhours = 100\n";

#[test]
fn bulletins_put_one_policy_one_tree_and_revocations_in_force_everywhere() {
    let world = World::tls("downward", seed("downward", 29));
    let mut nodes = build_tree(&world, &TREE, false);
    let mut data = BTreeMap::new();
    for org in TREE {
        let generated = world.data(org);
        nodes.get_mut(org).unwrap().import_data(&generated);
        data.insert(org.to_owned(), generated);
    }
    sync_up(&nodes);
    let as_of = world.params.as_of;
    let effective = as_of - chrono::TimeDelta::days(30);
    let before = (effective - chrono::TimeDelta::days(1)).to_string();

    // Policy: published at the national node, in force from `effective`.
    let file = nodes["100000"].work().join("policy-revised.toml");
    std::fs::write(&file, REVISED).unwrap();
    let out = nodes["100000"].ok(&[
        "policy",
        "publish",
        &file.display().to_string(),
        "--effective",
        &effective.to_string(),
    ]);
    assert!(
        out.contains("published bulletin 1") && out.contains("signed"),
        "{out}"
    );
    // A county cannot publish.
    let refused = nodes["410102"].run(&[
        "policy",
        "publish",
        &file.display().to_string(),
        "--effective",
        "2027-01-01",
    ]);
    assert_eq!(
        refused.code, 3,
        "stdout {} stderr {}",
        refused.stdout, refused.stderr
    );
    assert!(
        refused.stderr.contains("only the national bureau"),
        "{}",
        refused.stderr
    );
    // Killed right after: what was published is durable, and what a hub
    // received is too (kill -9 of 郑州 after its session, then restart).
    nodes.get_mut("100000").unwrap().kill9();
    nodes.get_mut("100000").unwrap().serve();
    for org in ["410000", "420000", "410100"] {
        nodes[org].sync_ok();
    }
    nodes.get_mut("410100").unwrap().kill9();
    nodes.get_mut("410100").unwrap().serve();
    // The rest of the round; then a second one, which brings nothing new
    // (each bulletin is taken once).
    for org in TOP_DOWN.iter().skip(3) {
        nodes[*org].sync_ok();
    }
    for org in TOP_DOWN {
        nodes[org].sync_ok();
        let listed: Value =
            serde_json::from_str(&nodes[org].ok(&["bulletins", "--format", "json"])).unwrap();
        assert_eq!(
            listed["bulletins"].as_array().map(Vec::len),
            Some(1),
            "{org}: {listed}"
        );
    }
    let revised = Policy::from_toml(REVISED, "revised").unwrap();
    let dir = orgs();
    let all: Vec<(&str, &NodeData)> = data.iter().map(|(o, d)| (o.as_str(), d)).collect();
    // The national figures are the rules under the revised policy on every
    // file, and before its effective date the rules under the old one…
    let expected = oracle_with(&all, "100000", as_of, &revised, dir);
    assert_coverage_matches(
        &coverage(&nodes["100000"], "100000", &as_of.to_string()),
        &expected,
    );
    let before_date = before.parse().unwrap();
    let old = oracle_with(&all, "100000", before_date, &Policy::default(), dir);
    assert_coverage_matches(&coverage(&nodes["100000"], "100000", &before), &old);
    let under_old = oracle_with(&all, "100000", as_of, &Policy::default(), dir);
    assert_ne!(
        under_old["nodes"], expected["nodes"],
        "the revised policy changes no figure: the test would prove nothing"
    );
    // …and every node's own figures for its subtree are the national
    // node's for the same orgs and dates (its people's trainings held
    // elsewhere came back down with the sessions).
    for org in TREE {
        let node = &nodes[org];
        let status = node.status_json();
        assert_eq!(status["bulletins"]["held"], 1, "{org}: {status}");
        assert_eq!(status["bulletins"]["policy_in_force"], 1, "{org}: {status}");
        let shown = node.ok(&["policy", "show"]);
        assert!(
            shown.contains("bulletin 1 of the national bureau") && shown.contains("hours = 100"),
            "{org}: {shown}"
        );
        for date in [as_of.to_string(), before.clone()] {
            let national = coverage(&nodes["100000"], org, &date);
            assert_coverage_matches(&coverage(node, org, &date), &national);
        }
    }
    println!(
        "policy bulletin: every node computes with it from its effective date, and with the old one before"
    );

    // Directory: 郑州新区 created under 郑州, 二七区 retired.
    let retired_on = (as_of - chrono::TimeDelta::days(1)).to_string();
    let new_row = "410199,郑州新区,county,410100";
    let bulletin = format!(
        "code,name,level,parent,retired\n{new_row},\n410103,二七区,county,410100,{retired_on}\n"
    );
    let file = nodes["100000"].work().join("orgs-2027.csv");
    std::fs::write(&file, &bulletin).unwrap();
    let out = nodes["100000"].ok(&[
        "orgs",
        "publish",
        &file.display().to_string(),
        "--effective",
        &effective.to_string(),
    ]);
    assert!(out.contains("published bulletin 2"), "{out}");
    for org in ["410000", "410100"] {
        nodes[org].sync_ok();
    }
    let extension = format!("code,name,level,parent\n{new_row}\n");
    let mut county = Node::init_new(
        world.root(),
        "410199",
        Some(&nodes["410100"].url()),
        world.security,
        world.pki.as_ref(),
        false,
        &extension,
    );
    let mut extended = OrgDirectory::builtin();
    extended.add_csv("extension", &extension).unwrap();
    let generated =
        lunxun_gen::generate_node(&world.params, &extended, extended.get("410199").unwrap());
    county.import_data(&generated);
    let out = county.sync_ok();
    assert!(out.contains("the parent holds everything"), "{out}");
    assert_eq!(county.status_json()["bulletins"]["held"], 2);
    for org in ["410100", "410000"] {
        nodes[org].sync_ok();
    }
    let national = coverage(&nodes["100000"], "410100", &as_of.to_string());
    let find = |code: &str| {
        national["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["org"] == code)
            .cloned()
            .unwrap_or_else(|| panic!("{code} is not in the national tree: {national}"))
    };
    let new = find("410199");
    assert_eq!(new["reporting"], true, "{new}");
    assert_eq!(new["name"], "郑州新区");
    assert!(new["rotation"]["roster"].as_u64() > Some(0), "{new}");
    let erqi = find("410103");
    assert_eq!(erqi["name"], "二七区");
    assert_eq!(erqi["retired"], retired_on.as_str(), "{erqi}");
    assert_eq!(erqi["reporting"], true);
    println!(
        "directory bulletin: a county it created synced and shows nationally; a retired one keeps its records"
    );

    // Revocation: 江岸区's certificate, revoked by bulletin, is refused by
    // 武汉, whose config never named it.
    let serial = lunxun_tests::pki::serial(&nodes["420102"].tls_dir());
    let out = nodes["100000"].ok(&["revoke", "--serial", &serial, "--publish"]);
    assert!(out.contains("published bulletin 3"), "{out}");
    for org in ["420000", "420100"] {
        nodes[org].sync_ok();
    }
    let refused = nodes["420102"].sync_once();
    assert_ne!(refused.code, 0, "{}", refused.stdout);
    assert!(refused.stderr.contains("revoked"), "{}", refused.stderr);
    let bulletins = nodes["420100"].ok(&["bulletins", "--format", "json"]);
    let bulletins: Value = serde_json::from_str(&bulletins).unwrap();
    assert_eq!(bulletins["held"], 3);
    assert_eq!(bulletins["bulletins"][2]["kind"], "revocation");
    println!("revocation bulletin: enforced by a parent that never had it in its config");
}
