//! What a parent knows of each child's syncs, persisted per child so
//! `status` shows it (written by the hub's sync service).

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::node::Node;

/// Meta key prefix of child states.
const META_CHILD: &str = "child/";

/// One child's sync record at its parent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildState {
    /// When the child last opened a session (ms since the epoch).
    pub last_session: Option<i64>,
    /// When a session of the child last ended with everything acked.
    pub last_success: Option<i64>,
    /// Why the last session failed, if it did.
    pub last_error: Option<String>,
    /// The child's address at its last session.
    pub peer: Option<String>,
    pub sessions: u64,
    /// Changes received and stored.
    pub applied: u64,
    /// Changes received that were already held (resends, replays).
    pub skipped: u64,
    /// Batches or sessions refused (bad input, authorization, limits).
    pub refused: u64,
    /// What the child still had to send when its last session ended.
    pub pending: Option<u64>,
    /// Refusals by reason (certificate, revoked, not-a-child, outside-subtree,
    /// malformed, limits...).
    #[serde(default)]
    pub refusals: std::collections::BTreeMap<String, u64>,
}

/// Meta key of refusals of peers that were never identified as a child.
const META_REFUSALS: &str = "refusals";

/// Counts a refusal of a peer that is not (or not yet known to be) a child.
pub fn count_unidentified_refusal(node: &Node, reason: &str) {
    // Refusals come from concurrent tasks: one read-modify-write at a time,
    // or counts get lost.
    static COUNTING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _counting = COUNTING.lock().unwrap_or_else(|p| p.into_inner());
    let mut counts = unidentified_refusals(node);
    *counts.entry(reason.to_owned()).or_default() += 1;
    let _ = node.store().set_meta(
        META_REFUSALS,
        &serde_json::to_vec(&counts).unwrap_or_default(),
    );
}

/// Refusals of unidentified peers, by reason.
pub fn unidentified_refusals(node: &Node) -> std::collections::BTreeMap<String, u64> {
    node.store()
        .meta(META_REFUSALS)
        .ok()
        .flatten()
        .and_then(|v| serde_json::from_slice(&v).ok())
        .unwrap_or_default()
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
    }

    pub fn load(node: &Node, code: &str) -> ChildState {
        node.store()
            .meta(&format!("{META_CHILD}{code}"))
            .ok()
            .flatten()
            .and_then(|v| serde_json::from_slice(&v).ok())
            .unwrap_or_default()
    }

    pub fn save(&self, node: &Node, code: &str) -> Result<()> {
        let bytes = serde_json::to_vec(self).unwrap_or_default();
        node.store()
            .set_meta(&format!("{META_CHILD}{code}"), &bytes)?;
        Ok(())
    }
}
