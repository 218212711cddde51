//! What the command-line tests share: the real binary on a real data dir,
//! its exit code and output, and valid ID numbers.
// Each test binary uses its own part of this module.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn node(data: &Path, args: &[&str]) -> Out {
    run(Command::new(env!("CARGO_BIN_EXE_lunxun-node")), data, args)
}

/// Runs `command` (the binary, or a wrapper in front of it) on `data`.
pub fn run(mut command: Command, data: &Path, args: &[&str]) -> Out {
    let out = command
        .arg("--data")
        .arg(data)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run lunxun-node");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn ok(data: &Path, args: &[&str]) -> String {
    let out = node(data, args);
    assert_eq!(out.code, 0, "{args:?} failed: {}", out.stderr);
    out.stdout
}

pub fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/county-410102")
}

pub fn own_seq(data: &Path) -> u64 {
    let status: Value = serde_json::from_str(&ok(data, &["status", "--format", "json"])).unwrap();
    status["own_seq"].as_u64().unwrap()
}

pub fn county(tmp: &Path) -> PathBuf {
    let data = tmp.join("data");
    ok(&data, &["init", "--org", "410102"]);
    data
}

/// 17 digits plus the GB 11643 check character.
pub fn id(first17: &str) -> String {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = first17
        .bytes()
        .zip(W)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    format!(
        "{first17}{}",
        char::from(b"10X98765432"[(sum % 11) as usize])
    )
}
