//! The core stays pure: no source file of this crate names the network, the
//! disk, the clock, a runtime or a storage engine, and its manifest depends on
//! none of them. (CI also checks `cargo tree -p lunxun-core -e normal`.)

use std::path::{Path, PathBuf};

/// What the core must never name: I/O, time, randomness from the OS, and the
/// crates that bring them.
const FORBIDDEN: &[&str] = &[
    "std::fs",
    "std::net",
    "std::env",
    "std::process",
    "std::thread",
    "SystemTime",
    "Instant::now",
    "Utc::now",
    "Local::now",
    "tokio",
    "tonic",
    "prost",
    "sled",
    "axum",
    "hyper",
    "File::open",
    "File::create",
];

/// Crates the manifest's normal dependencies must not include.
const FORBIDDEN_CRATES: &[&str] = &["tokio", "tonic", "prost", "sled", "axum", "hyper", "rustls"];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read the source folder") {
        let path = entry.expect("a folder entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_source_file_names_io_clock_or_runtime() {
    let mut files = Vec::new();
    sources(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    assert!(files.len() >= 10, "found only {files:?}");
    let mut found = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read a source file");
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for word in FORBIDDEN {
                if code.contains(word) {
                    found.push(format!("{}:{}: {word}", file.display(), n + 1));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "the core must stay pure:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_manifest_depends_on_no_io_crate() {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
            .expect("read the manifest");
    let deps = manifest
        .split("[dependencies]")
        .nth(1)
        .and_then(|rest| rest.split("\n[").next())
        .expect("a [dependencies] table");
    for line in deps.lines() {
        let name = line.split(['=', '.', ' ']).next().unwrap_or("").trim();
        assert!(
            !FORBIDDEN_CRATES.contains(&name),
            "lunxun-core depends on {name}"
        );
    }
}
