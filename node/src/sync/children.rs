//! What a parent knows of each child's syncs, persisted per child so
//! `status` shows it (written by the hub's sync service).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

use crate::error::Result;
use crate::node::Node;
pub use crate::store::ChildState;

/// Refusals of unidentified peers counted since they were last persisted,
/// per data dir (one process may run several nodes: the demo). A flood of
/// failed handshakes costs a map update each, not a store write:
/// [`persist_unidentified_refusals`] writes them at most periodically.
static PENDING_REFUSALS: Mutex<BTreeMap<PathBuf, BTreeMap<String, u64>>> =
    Mutex::new(BTreeMap::new());

/// Counts a refusal of a peer that is not (or not yet known to be) a child,
/// in memory (see [`persist_unidentified_refusals`]).
pub fn count_unidentified_refusal(node: &Node, reason: &str) {
    let mut pending = PENDING_REFUSALS.lock().unwrap_or_else(|p| p.into_inner());
    *pending
        .entry(node.dir().to_path_buf())
        .or_default()
        .entry(reason.to_owned())
        .or_default() += 1;
}

/// Adds the refusals counted in memory to the store's, durably: one write
/// (the hub's listener calls it periodically and when it stops). On a
/// failed write the counts stay pending for the next call.
pub fn persist_unidentified_refusals(node: &Node) -> Result<()> {
    // Held during the write, so a reader never sees counts in neither place.
    let mut pending = PENDING_REFUSALS.lock().unwrap_or_else(|p| p.into_inner());
    let Some(counts) = pending.get(node.dir()).filter(|c| !c.is_empty()) else {
        return Ok(());
    };
    let mut stored = node.store().peer_refusals().unwrap_or_default();
    for (reason, n) in counts {
        *stored.entry(reason.clone()).or_default() += n;
    }
    node.store().set_peer_refusals(&stored)?;
    pending.remove(node.dir());
    Ok(())
}

/// Refusals of unidentified peers, by reason: those persisted and those
/// still counted in memory.
pub fn unidentified_refusals(node: &Node) -> BTreeMap<String, u64> {
    let pending = PENDING_REFUSALS.lock().unwrap_or_else(|p| p.into_inner());
    let mut counts = node.store().peer_refusals().unwrap_or_default();
    for (reason, n) in pending.get(node.dir()).into_iter().flatten() {
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
        change(&mut state);
        state.save(node, code)
    }

    /// Counts a refusal of this child for `reason`, with its message.
    pub fn count_refusal(&mut self, reason: &str, message: &str) {
        self.refused += 1;
        *self.refusals.entry(reason.to_owned()).or_default() += 1;
        self.last_error = Some(message.to_owned());
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
