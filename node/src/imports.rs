//! The ledger of this node's own writes that people asked for: each import,
//! deletion and undo gets an id and an [`Entry`] (when, which file and its
//! hash, rows, the changes it wrote), inserted in the same append as its
//! changes (`Node::write_import`). What reads the log through it — undo and
//! history — is `app::ledger`'s.

use serde::{Deserialize, Serialize};

/// What an entry will say, before the write gives it its id and seqs.
#[derive(Debug, Clone, Default)]
pub struct Draft {
    /// `roster`, `trainings`, `delete` or `undo`.
    pub kind: String,
    /// The file as given (empty for a deletion or an undo), and its BLAKE3.
    pub file: String,
    pub hash: String,
    pub rows: usize,
    pub replace: bool,
    pub undoes: Option<u64>,
}

/// One ledger entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub id: u64,
    pub at_ms: i64,
    pub kind: String,
    pub file: String,
    pub hash: String,
    pub rows: usize,
    pub replace: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undoes: Option<u64>,
    /// Changes written, of which deletions.
    pub written: usize,
    pub removed: usize,
    /// The own log's seqs it wrote: `from_seq..=to_seq` (empty when
    /// `written` is 0).
    pub from_seq: u64,
    pub to_seq: u64,
}

impl Entry {
    pub fn from_draft(
        draft: Draft,
        id: u64,
        at_ms: i64,
        written: usize,
        removed: usize,
        from_seq: u64,
        to_seq: u64,
    ) -> Entry {
        Entry {
            id,
            at_ms,
            kind: draft.kind,
            file: draft.file,
            hash: draft.hash,
            rows: draft.rows,
            replace: draft.replace,
            undoes: draft.undoes,
            written,
            removed,
            from_seq,
            to_seq,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn decode(bytes: &[u8]) -> Option<Entry> {
        serde_json::from_slice(bytes).ok()
    }

    /// Whether this entry wrote own change `seq`.
    pub fn covers(&self, seq: u64) -> bool {
        self.written > 0 && (self.from_seq..=self.to_seq).contains(&seq)
    }
}
