//! The previous release's binaries (protocol 1), for the mixed-version
//! test: built from [`PREVIOUS_RELEASE`], the last commit of that release
//! (tagged `v0.1.0`), into `target/previous-release/bin`.
//!
//! `.ci/previous-release` builds them before the tests, sharing the
//! workspace's target dir (the dependencies are the same, so only the
//! workspace's crates compile). Without them, the test builds them itself
//! from that commit, with a target dir of its own (slower: its dependencies
//! compile too). `LUNXUN_PREVIOUS_BIN_DIR` names another folder holding
//! `lunxun-node` and `lunxun-hub` of that release.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::bins::workspace_root;

/// The last commit of release 0.1 (protocol 1).
pub const PREVIOUS_RELEASE: &str = "eecc70e481d7e4bfa0119cec9a8bf68a604ad77d";

/// The previous release's two binaries.
pub struct Binaries {
    pub node: PathBuf,
    pub hub: PathBuf,
}

/// Where the previous release's binaries are (built at the first call if
/// they are not there yet).
pub fn binaries() -> &'static Binaries {
    static BINARIES: OnceLock<Binaries> = OnceLock::new();
    BINARIES.get_or_init(|| {
        let dir = match std::env::var_os("LUNXUN_PREVIOUS_BIN_DIR") {
            Some(dir) => PathBuf::from(dir),
            None => workspace_root().join("target/previous-release/bin"),
        };
        let found = Binaries {
            node: dir.join("lunxun-node"),
            hub: dir.join("lunxun-hub"),
        };
        if !(found.node.exists() && found.hub.exists()) {
            build(&dir);
        }
        assert!(
            found.node.exists() && found.hub.exists(),
            "the previous release's binaries are not in {}",
            dir.display()
        );
        found
    })
}

fn run(what: &str, command: &mut Command) {
    let status = command
        .status()
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    assert!(status.success(), "{what}: {status}");
}

/// Builds the previous release from its commit into `bin`.
fn build(bin: &Path) {
    let root = workspace_root();
    let base = root.join("target/previous-release");
    let src = base.join("src");
    eprintln!(
        "building the previous release ({PREVIOUS_RELEASE}) into {} (run .ci/previous-release to do this once, faster)",
        bin.display()
    );
    if !src.join("Cargo.toml").exists() {
        std::fs::create_dir_all(&src).expect("create the source folder");
        let archive = Command::new("git")
            .args(["archive", "--format=tar", PREVIOUS_RELEASE])
            .current_dir(&root)
            .output()
            .expect("run git archive");
        assert!(
            archive.status.success(),
            "the previous release's commit {PREVIOUS_RELEASE} is not in this clone (a shallow clone?): {}",
            String::from_utf8_lossy(&archive.stderr)
        );
        let mut tar = Command::new("tar")
            .args(["-x", "-C"])
            .arg(&src)
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("run tar");
        use std::io::Write;
        tar.stdin
            .take()
            .expect("tar's stdin")
            .write_all(&archive.stdout)
            .expect("feed tar");
        assert!(tar.wait().expect("tar").success(), "tar failed");
    }
    run(
        "cargo build of the previous release",
        Command::new(env!("CARGO"))
            .args(["build", "--bins", "-p", "lunxun-node", "-p", "lunxun-hub"])
            .arg("--manifest-path")
            .arg(src.join("Cargo.toml"))
            .arg("--target-dir")
            .arg(base.join("target")),
    );
    std::fs::create_dir_all(bin).expect("create the bin folder");
    for name in ["lunxun-node", "lunxun-hub"] {
        std::fs::copy(base.join("target/debug").join(name), bin.join(name))
            .unwrap_or_else(|e| panic!("copy {name}: {e}"));
    }
}
