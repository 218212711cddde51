//! What a parent knows of each child's syncs, persisted per child so
//! `status` shows it (written by the hub's sync service), and the refusals
//! of peers never identified as a child, counted in memory and persisted at
//! most periodically (a flood of bad handshakes must not cost a store write
//! each).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::Result;
use crate::node::Node;
pub use crate::store::ChildState;

/// The reason a refusal for one of the child's quotas is counted under: the
/// child stays refused (`refused_reason` in `status`) until a session of it
/// succeeds.
pub const QUOTA_REASON: &str = "quota";

/// Longest refusals of unidentified peers stay counted in memory only: the
/// hub's listener persists them this often and when it stops, and a count
/// made longer than this after the first one still pending persists them
/// all at once (so a node without that listener, `--insecure`, keeps them
/// too).
pub const REFUSALS_PERSIST_INTERVAL: Duration = Duration::from_secs(30);

/// Refusals not yet persisted, and since when.
#[derive(Debug, Default)]
struct Pending {
    counts: BTreeMap<String, u64>,
    since: Option<Instant>,
}

/// Refusals of unidentified peers counted since they were last persisted,
/// per data dir (one process may run several nodes: the demo). A flood of
/// failed handshakes costs a map update each, not a store write.
static PENDING_REFUSALS: Mutex<BTreeMap<PathBuf, Pending>> = Mutex::new(BTreeMap::new());

/// Counts a refusal of a peer that is not (or not yet known to be) a child,
/// in memory; persisted at most every [`REFUSALS_PERSIST_INTERVAL`].
pub fn count_unidentified_refusal(node: &Node, reason: &str) {
    let mut all = PENDING_REFUSALS.lock().unwrap_or_else(|p| p.into_inner());
    let pending = all.entry(node.dir().to_path_buf()).or_default();
    *pending.counts.entry(reason.to_owned()).or_default() += 1;
    let now = Instant::now();
    match pending.since {
        None => pending.since = Some(now),
        Some(since) if now.saturating_duration_since(since) >= REFUSALS_PERSIST_INTERVAL => {
            // Kept pending if the write fails; tried again at the next count.
            let _ = persist_locked(node, &mut all);
        }
        Some(_) => {}
    }
}

/// Adds the refusals counted in memory to the store's, durably: one write
/// (the hub's listener calls it periodically and when it stops). On a
/// failed write the counts stay pending for the next call.
pub fn persist_unidentified_refusals(node: &Node) -> Result<()> {
    let mut all = PENDING_REFUSALS.lock().unwrap_or_else(|p| p.into_inner());
    persist_locked(node, &mut all)
}

/// [`persist_unidentified_refusals`] with the pending map held during the
/// write, so a reader never sees counts in neither place.
fn persist_locked(node: &Node, all: &mut BTreeMap<PathBuf, Pending>) -> Result<()> {
    let Some(pending) = all.get(node.dir()).filter(|p| !p.counts.is_empty()) else {
        return Ok(());
    };
    let mut stored = node.store().peer_refusals().unwrap_or_default();
    for (reason, n) in &pending.counts {
        *stored.entry(reason.clone()).or_default() += n;
    }
    node.store().set_peer_refusals(&stored)?;
    all.remove(node.dir());
    Ok(())
}

/// Refusals of unidentified peers, by reason: those persisted and those
/// still counted in memory.
pub fn unidentified_refusals(node: &Node) -> BTreeMap<String, u64> {
    let all = PENDING_REFUSALS.lock().unwrap_or_else(|p| p.into_inner());
    let mut counts = node.store().peer_refusals().unwrap_or_default();
    for (reason, n) in all.get(node.dir()).into_iter().flat_map(|p| &p.counts) {
        *counts.entry(reason.clone()).or_default() += n;
    }
    counts
}

impl ChildState {
    /// Changes a child's record: one read-modify-write at a time, since two
    /// sessions of one child may end together.
    pub fn update(node: &Node, code: &str, change: impl FnOnce(&mut ChildState)) -> Result<()> {
        static UPDATING: Mutex<()> = Mutex::new(());
        let _updating = UPDATING.lock().unwrap_or_else(|p| p.into_inner());
        let mut state = ChildState::load(node, code);
        state.first_seen.get_or_insert_with(crate::node::now_ms);
        change(&mut state);
        state.save(node, code)
    }

    /// Counts a refusal of this child for `reason`, with its message.
    pub fn count_refusal(&mut self, reason: &str, message: &str) {
        self.refused += 1;
        self.last_refusal = Some(crate::node::now_ms());
        *self.refusals.entry(reason.to_owned()).or_default() += 1;
        self.last_error = Some(message.to_owned());
        if reason == QUOTA_REASON {
            self.refused_reason = Some(message.to_owned());
        }
    }

    /// A session of the child succeeded: nothing refuses it any more.
    pub fn succeeded(&mut self, at_ms: i64) {
        self.ok += 1;
        self.last_success = Some(at_ms);
        self.last_error = None;
        self.refused_reason = None;
    }

    pub fn load(node: &Node, code: &str) -> ChildState {
        node.store().child_state(code).unwrap_or_default()
    }

    pub fn save(&self, node: &Node, code: &str) -> Result<()> {
        node.store().set_child_state(code, self)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Revoked};

    #[test]
    fn refusals_are_counted_in_memory_and_persisted_on_demand() {
        let tmp = tempfile::tempdir().unwrap();
        let config = Config {
            org: "410100".into(),
            upstream: None,
            tls_dir: None,
            insecure: false,
            revoked: Revoked::default(),
            time_zone: None,
            quotas: Default::default(),
            dashboard: Default::default(),
            store: Default::default(),
            alerts: Default::default(),
        };
        let node = Node::init(tmp.path(), config).unwrap();
        for _ in 0..3 {
            count_unidentified_refusal(&node, "tls-handshake");
        }
        count_unidentified_refusal(&node, "certificate");
        // Shown before they are persisted, and not yet in the store.
        assert_eq!(unidentified_refusals(&node)["tls-handshake"], 3);
        assert!(node.store().peer_refusals().unwrap().is_empty());
        persist_unidentified_refusals(&node).unwrap();
        let stored = node.store().peer_refusals().unwrap();
        assert_eq!((stored["tls-handshake"], stored["certificate"]), (3, 1));
        // Persisted counts are added to, never counted twice.
        count_unidentified_refusal(&node, "tls-handshake");
        persist_unidentified_refusals(&node).unwrap();
        persist_unidentified_refusals(&node).unwrap();
        assert_eq!(node.store().peer_refusals().unwrap()["tls-handshake"], 4);
        assert_eq!(unidentified_refusals(&node)["tls-handshake"], 4);
    }
}
