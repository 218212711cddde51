//! `deploy/pki.sh` issues a root, a province's intermediate and nodes, renews
//! and revokes, exactly as deploy/PKI.md says.

use std::path::Path;
use std::process::Command;

fn pki(args: &[&str]) -> std::process::Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/pki.sh");
    Command::new("bash")
        .arg(script)
        .args(args)
        .env("LUNXUN_HUB", env!("CARGO_BIN_EXE_lunxun-hub"))
        .output()
        .expect("run pki.sh")
}

fn ok(args: &[&str]) -> String {
    let out = pki(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn root_province_node_renew_revoke() {
    let tmp = tempfile::tempdir().unwrap();
    let p = |s: &str| tmp.path().join(s).display().to_string();
    ok(&["root", &p("root")]);
    ok(&["province", &p("root"), "410000", &p("henan")]);
    let issued = ok(&["node", &p("henan"), "410102", &p("county")]);
    let serial = issued
        .split("serial ")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_owned();
    let shown = ok(&["show", &p("county")]);
    assert!(
        shown.contains("org 410102") && shown.contains(&serial),
        "{shown}"
    );
    assert!(
        shown.contains("CA "),
        "the chain includes the province's CA: {shown}"
    );

    // Outside the province's subtree: refused with exit code 3.
    let out = pki(&["node", &p("henan"), "420102", &p("wuhan")]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("outside its subtree"));

    let hub = ok(&[
        "node",
        &p("root"),
        "410000",
        &p("hub"),
        "hub.example",
        "127.0.0.1",
    ]);
    assert!(hub.contains("410000"));
    assert!(ok(&["show", &p("hub")]).contains("hosts hub.example, 127.0.0.1"));

    let renewed = ok(&["renew", &p("henan"), "410102", &p("county")]);
    assert!(renewed.contains("renewed"), "{renewed}");
    let after = ok(&["show", &p("county")]);
    assert!(!after.contains(&serial), "a new serial after renewal");

    // Revocation on a hub's data dir.
    let data = p("hubdata");
    let init = Command::new(env!("CARGO_BIN_EXE_lunxun-hub"))
        .args(["--data", &data, "init", "--org", "410100", "--insecure"])
        .output()
        .unwrap();
    assert!(init.status.success());
    let revoked = ok(&["revoke", &data, &serial]);
    assert!(revoked.contains("1 serials"), "{revoked}");
    let config = std::fs::read_to_string(tmp.path().join("hubdata/config.toml")).unwrap();
    assert!(config.contains(&serial), "{config}");
    assert_eq!(pki(&["bogus"]).status.code(), Some(2));
}
