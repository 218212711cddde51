//! The binaries under test: built once per test process (so they are
//! current with the sources), then run from the target dir.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Variables `cargo test` sets for a test process (prefixes).
const PER_TEST_VARIABLES: [&str; 9] = [
    "CARGO_MANIFEST_",
    "CARGO_PKG_",
    "CARGO_CRATE_NAME",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_TARGET_TMPDIR",
    "CARGO_BIN_EXE_",
    "CARGO_BIN_NAME",
    "CARGO_RUSTC_CURRENT_DIR",
    "OUT_DIR",
];

/// Paths of the two binaries.
#[derive(Debug)]
pub struct Bins {
    /// `lunxun-node`: what a county runs.
    pub node: PathBuf,
    /// `lunxun-hub`: what a bureau with subordinates runs.
    pub hub: PathBuf,
}

/// The workspace root (this crate sits one level below it).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits inside the workspace")
        .to_path_buf()
}

/// The cargo target dir (`CARGO_TARGET_DIR`, or `target/` in the workspace).
pub fn target_dir() -> PathBuf {
    let root = workspace_root();
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                root.join(dir)
            }
        }
        None => root.join("target"),
    }
}

/// Builds `lunxun-node` and `lunxun-hub` (debug) the first time it is
/// called in this process, and returns their paths. The build is the test
/// command's own (`--workspace`, tests included), so after `cargo test
/// --workspace` has built the tests there is nothing left to compile.
pub fn bins() -> &'static Bins {
    static BINS: OnceLock<Bins> = OnceLock::new();
    BINS.get_or_init(|| {
        let root = workspace_root();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut build = Command::new(&cargo);
        // What `cargo test` sets for this test process describes this crate,
        // not the build; build scripts that watch such variables (ring
        // watches CARGO_MANIFEST_DIR) would otherwise rebuild half the tree.
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            if PER_TEST_VARIABLES.iter().any(|p| key.starts_with(p)) {
                build.env_remove(&*key);
            }
        }
        let status = build
            .current_dir(&root)
            // The README's test command builds the whole workspace's tests,
            // which unifies the dependencies' features across every member
            // and its dev-dependencies; building the binaries with the same
            // selection finds them already built. Building only the two
            // packages would resolve other features and recompile some fifty
            // crates (about two and a half minutes on 2 cores) in the middle
            // of the test run.
            .args(["build", "-q", "--workspace", "--bins", "--tests"])
            .status()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", cargo.to_string_lossy()));
        assert!(status.success(), "building the binaries failed: {status}");
        let target = target_dir();
        let bins = Bins {
            node: target.join("debug").join("lunxun-node"),
            hub: target.join("debug").join("lunxun-hub"),
        };
        for bin in [&bins.node, &bins.hub] {
            assert!(bin.exists(), "{} was not built", bin.display());
        }
        bins
    })
}
