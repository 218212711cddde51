//! Harness for end-to-end tests of lunxun hierarchies: real `lunxun-node` and
//! `lunxun-hub` processes on real TCP ports, links that fail on demand, and
//! checks against the stores themselves.
//!
//! # Layout
//!
//! - [`bins`]: builds the two binaries once per test process and finds them.
//! - [`node`]: [`Node`], one data dir driven through the binaries' command
//!   line (`init`, `import`, `status`, `coverage`, `sync --once`, …) and its
//!   `serve` daemon (started, killed with SIGKILL, stopped with SIGTERM,
//!   restarted on the same port; always killed on drop).
//! - [`proxy`]: [`Proxy`], a fault-injecting TCP proxy between a child and its
//!   parent: pass, cut after a random number of bytes, latency, link down,
//!   or a seeded mix of them, switched at run time; it can record what
//!   children send.
//! - [`pki`]: [`Pki`], a per-test root CA made with `certs init-ca`, and
//!   node certificates made with `certs issue` (hubs for 127.0.0.1); with
//!   [`World::tls`] every node gets one and the links are mutual TLS
//!   ([`Security::Tls`]).
//! - [`raw`]: raw sync clients (tonic with a chosen TLS identity, or none)
//!   and [`raw::RawSession`], for what a well-behaved child never says.
//! - [`logs`]: every origin's change log read from a stopped node's store,
//!   and the exactly-once check (an ancestor holds each origin's log byte
//!   for byte as the origin wrote it).
//! - [`browser`]: headless Chromium over the DevTools protocol (a pipe):
//!   pages loaded, forms filled and submitted, cookies kept.
//! - [`data`]: generated rosters and trainings per node (small scale), files
//!   to import, and the coverage oracle computed in-process by the library's
//!   own rules.
//! - [`shown`]: what a node shows of an org's figures and a person's record,
//!   to compare a child's with its ancestors'.
//!
//! Everything waits by polling with a generous bound ([`wait_until`]); no
//! test asserts on wall-clock speed. Randomness is seeded; the seed is
//! printed and can be forced with `LUNXUN_E2E_SEED`.

pub mod bins;
pub mod browser;
pub mod data;
pub mod forge;
pub mod logs;
pub mod node;
pub mod pki;
pub mod previous;
pub mod proxy;
pub mod raw;
pub mod shown;

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use lunxun_node::orgs::OrgDirectory;

pub use data::World;
pub use logs::{Logs, assert_exactly_once};
pub use node::{Node, Output, Security};
pub use pki::Pki;
pub use proxy::{Mode, Proxy};

/// Longest wait for anything the tests poll for (a daemon's socket, a change
/// reaching the national node). Generous: the machine is shared.
pub const WAIT_MAX: Duration = Duration::from_secs(120);
/// Pause between two polls.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// The built-in org directory, parsed once.
pub fn orgs() -> &'static OrgDirectory {
    static ORGS: OnceLock<OrgDirectory> = OnceLock::new();
    ORGS.get_or_init(OrgDirectory::builtin)
}

/// The seed for a test's randomness: `LUNXUN_E2E_SEED` if set, else
/// `default`. Printed, so a failing run can be replayed.
pub fn seed(test: &str, default: u64) -> u64 {
    let seed = std::env::var("LUNXUN_E2E_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(default);
    eprintln!("{test}: seed {seed} (set LUNXUN_E2E_SEED to replay another)");
    seed
}

/// Polls `check` until it returns `Ok`, at most `max`, and returns what it
/// found; panics naming `what` and the last `Err` (the state seen) otherwise.
pub fn wait_for<T>(what: &str, max: Duration, mut check: impl FnMut() -> Result<T, String>) -> T {
    let start = Instant::now();
    loop {
        match check() {
            Ok(found) => return found,
            Err(last) if start.elapsed() > max => {
                panic!("timed out after {max:?} waiting for {what}; last seen: {last}")
            }
            Err(_) => std::thread::sleep(POLL_INTERVAL),
        }
    }
}

/// Polls `done` until it returns true, at most `max`; panics naming `what`
/// otherwise.
pub fn wait_until_for(what: &str, max: Duration, mut done: impl FnMut() -> bool) {
    wait_for(what, max, || {
        if done() {
            Ok(())
        } else {
            Err("not yet".into())
        }
    })
}

/// [`wait_until_for`] with [`WAIT_MAX`].
pub fn wait_until(what: &str, done: impl FnMut() -> bool) {
    wait_until_for(what, WAIT_MAX, done)
}

/// The test hierarchy, parents before children: the national bureau; 河南
/// and 湖北; 郑州 and 武汉; 中原区 and 二七区 under 郑州, 江岸区 under 武汉, and
/// 济源, a county directly under 河南.
pub const TREE: [&str; 9] = [
    "100000", "410000", "420000", "410100", "420100", "410102", "410103", "420102", "419001",
];

/// The parent of `org` in the org directory.
pub fn parent_of(org: &str) -> Option<&'static str> {
    let orgs = orgs();
    let id = orgs.get(org)?;
    orgs.parent(id).map(|p| orgs.code(p))
}

/// Creates the nodes of `tree` (parents first) in `world`, each syncing to
/// its parent directly; hubs serve, counties too when `serve_counties`.
pub fn build_tree(world: &World, tree: &[&str], serve_counties: bool) -> BTreeMap<String, Node> {
    let mut nodes: BTreeMap<String, Node> = BTreeMap::new();
    for &org in tree {
        let upstream = parent_of(org).map(|p| {
            nodes
                .get(p)
                .unwrap_or_else(|| panic!("{p}, the parent of {org}, must come before it"))
                .url()
        });
        let mut node = world.node(org, upstream.as_deref());
        if node.is_hub() || serve_counties {
            node.serve();
        }
        nodes.insert(org.to_owned(), node);
    }
    nodes
}

/// Copies the directory `from` to `to` (which must not exist), recursively:
/// a backup of a stopped node's data dir.
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("create {}: {e}", to.display()));
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("read {}: {e}", from.display()))
    {
        let entry = entry.expect("a directory entry");
        let target = to.join(entry.file_name());
        let kind = entry.file_type().expect("a file type");
        if kind.is_dir() {
            copy_dir(&entry.path(), &target);
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target)
                .unwrap_or_else(|e| panic!("copy {}: {e}", entry.path().display()));
        }
    }
}
