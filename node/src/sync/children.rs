//! What a parent knows of each child's syncs, persisted per child so
//! `status` shows it (written by the hub's sync service).

use crate::error::Result;
use crate::node::Node;
pub use crate::store::ChildState;

/// The reason a refusal for one of the child's quotas is counted under: the
/// child stays refused (`refused_reason` in `status`) until a session of it
/// succeeds.
pub const QUOTA_REASON: &str = "quota";

/// Counts a refusal of a peer that is not (or not yet known to be) a child.
pub fn count_unidentified_refusal(node: &Node, reason: &str) {
    // Refusals come from concurrent tasks: one read-modify-write at a time,
    // or counts get lost.
    static COUNTING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _counting = COUNTING.lock().unwrap_or_else(|p| p.into_inner());
    let mut counts = unidentified_refusals(node);
    *counts.entry(reason.to_owned()).or_default() += 1;
    let _ = node.store().set_peer_refusals(&counts);
}

/// Refusals of unidentified peers, by reason.
pub fn unidentified_refusals(node: &Node) -> std::collections::BTreeMap<String, u64> {
    node.store().peer_refusals().unwrap_or_default()
}

impl ChildState {
    /// Changes a child's record: one read-modify-write at a time, since two
    /// sessions of one child may end together.
    pub fn update(node: &Node, code: &str, change: impl FnOnce(&mut ChildState)) -> Result<()> {
        static UPDATING: std::sync::Mutex<()> = std::sync::Mutex::new(());
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
        if reason == QUOTA_REASON {
            self.refused_reason = Some(message.to_owned());
        }
    }

    /// A session of the child succeeded: nothing refuses it any more.
    pub fn succeeded(&mut self, at_ms: i64) {
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
