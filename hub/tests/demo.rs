//! `lunxun-hub demo --exit` builds a node, imports generated files and prints
//! coverage that matches what the node itself reports afterwards.

use std::process::Command;

fn hub(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lunxun-hub"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run lunxun-hub")
}

#[test]
fn demo_builds_a_county_and_refuses_a_used_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("demo");
    let data = data.to_str().unwrap();
    let out = hub(&["--data", data, "demo", "--exit"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("410102") && text.contains("轮训覆盖率"),
        "{text}"
    );

    // The node the demo built answers on its own, with the same figures.
    let node_dir = format!("{data}/nodes/410102");
    let cov = hub(&[
        "--data",
        &node_dir,
        "coverage",
        "--as-of",
        "2026-06-30",
        "--format",
        "json",
    ]);
    assert!(cov.status.success());
    let json: serde_json::Value = serde_json::from_slice(&cov.stdout).unwrap();
    let roster = json["nodes"][0]["rotation"]["roster"].as_u64().unwrap();
    assert!(roster > 50, "a realistic roster: {roster}");
    let line = text.lines().find(|l| l.starts_with("410102")).unwrap();
    assert!(
        line.split_whitespace().any(|w| w == roster.to_string()),
        "{line}"
    );

    let again = hub(&["--data", data, "demo", "--exit"]);
    assert_eq!(again.status.code(), Some(2));
}
