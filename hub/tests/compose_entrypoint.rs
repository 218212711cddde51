//! The compose hierarchy's entry point, run outside containers: it issues the
//! PKI, initialises a node with its certificate and upstream, and imports the
//! generated sample files, exactly as each container does at first start.

use std::path::Path;
use std::process::Command;

fn entrypoint(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/compose/entrypoint.sh");
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_lunxun-hub"))
        .parent()
        .unwrap()
        .to_path_buf();
    let mut cmd = Command::new("sh");
    cmd.arg(script)
        .args(args)
        .env("LUNXUN_BIN_DIR", bin_dir)
        .env("LUNXUN_SERVE", "0");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run entrypoint.sh")
}

#[test]
fn pki_then_a_province_hub_initialises_with_its_sample_data() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = tmp.path().join("pki").display().to_string();
    let nodes = "100000:national 410000:province";
    let out = entrypoint(&["pki"], &[("PKI_DIR", &pki), ("LUNXUN_NODES", nodes)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again = entrypoint(&["pki"], &[("PKI_DIR", &pki)]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("already issued"));

    let data = tmp.path().join("province").display().to_string();
    let env = [
        ("PKI_DIR", pki.as_str()),
        ("DATA_DIR", data.as_str()),
        ("LUNXUN_ORG", "410000"),
        ("LUNXUN_UPSTREAM", "https://national:7443"),
    ];
    let out = entrypoint(&["hub"], &env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config = std::fs::read_to_string(tmp.path().join("province/config.toml")).unwrap();
    assert!(config.contains("https://national:7443"), "{config}");
    let status = Command::new(env!("CARGO_BIN_EXE_lunxun-hub"))
        .args(["--data", &data, "status", "--format", "json"])
        .output()
        .unwrap();
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["org"], "410000");
    assert!(
        status["own_seq"].as_u64().unwrap() > 100,
        "sample data imported: {status}"
    );
    // The certificate is the province's, and its key is private to the node.
    let key = tmp.path().join("province/tls/node.key");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(key).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    let shown = Command::new(env!("CARGO_BIN_EXE_lunxun-hub"))
        .args(["certs", "show", &format!("{data}/tls")])
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.contains("org 410000") && shown.contains("hosts province"),
        "{shown}"
    );
    // A second start does not import again.
    let out = entrypoint(&["hub"], &env);
    assert!(out.status.success());
    let again: serde_json::Value = serde_json::from_slice(
        &Command::new(env!("CARGO_BIN_EXE_lunxun-hub"))
            .args(["--data", &data, "status", "--format", "json"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(again["own_seq"], status["own_seq"]);
    assert_eq!(entrypoint(&["bogus"], &[]).status.code(), Some(2));
}
