//! What a node sends of an origin's log — upward in a session, or downward
//! in a restore: runs of changes, each ending at a signed checkpoint that
//! travels with it.
//!
//! A receiver that requires signatures applies a batch's changes of an
//! origin only as far as a checkpoint *in that batch* vouches for them, so a
//! sender never splits a run between two batches: it cuts each batch at a
//! checkpoint, and sends only the newest checkpoint of the run (it vouches
//! for everything below it). An origin signs at least every
//! [`crate::checkpoint::INTERVAL_CHANGES`] changes, so a run always fits an
//! empty batch; one that does not (a log written by other rules) is sent
//! unsigned in pieces, and the receiver holds it back and says so.

use bytes::Bytes;

use crate::node::Node;
use crate::store::StoreError;

/// Bytes a change or checkpoint adds to a batch besides its own: its length
/// prefix and tag.
pub const ELEMENT_OVERHEAD: usize = 8;

/// Room left in the batch being filled.
#[derive(Debug, Clone, Copy)]
pub struct Room {
    pub changes: usize,
    pub bytes: usize,
    /// The batch is empty: a run that cannot fit it will never fit any.
    pub empty: bool,
}

/// Changes `from..=upto` of one origin, with the checkpoint at `upto`.
#[derive(Debug, Clone, Default)]
pub struct Run {
    pub changes: Vec<Bytes>,
    pub upto: u64,
    pub checkpoint: Option<Bytes>,
}

impl Run {
    /// What the run adds to a batch's bytes.
    pub fn size(&self) -> usize {
        self.changes
            .iter()
            .chain(self.checkpoint.as_ref())
            .map(|b| b.len() + ELEMENT_OVERHEAD)
            .sum()
    }
}

/// The longest run of `origin` from `from` (at most to `to`) that fits
/// `room` and, when this node requires signatures, ends at a checkpoint it
/// holds. None when nothing fits (the batch should be closed) or the store
/// holds nothing there.
pub fn next_run(
    node: &Node,
    origin: &str,
    from: u64,
    to: u64,
    room: Room,
) -> Result<Option<Run>, StoreError> {
    if from > to || from == 0 {
        return Ok(None);
    }
    let signed = node.requires_signatures();
    // The checkpoint, if any, takes room too.
    let reserve = if signed {
        crate::certs::sign::CHECKPOINT_BYTES_MAX
    } else {
        0
    };
    let mut changes: Vec<Bytes> = Vec::new();
    let mut bytes = reserve;
    for entry in node.store().scan(origin, from - 1) {
        let entry = entry?;
        if entry.seq > to || entry.seq != from + changes.len() as u64 {
            break;
        }
        let size = entry.change.len() + ELEMENT_OVERHEAD;
        if changes.len() + 1 > room.changes || bytes + size > room.bytes {
            break;
        }
        bytes += size;
        changes.push(entry.change);
    }
    if changes.is_empty() {
        return Ok(None);
    }
    let reached = from + changes.len() as u64 - 1;
    if !signed {
        return Ok(Some(Run {
            changes,
            upto: reached,
            checkpoint: None,
        }));
    }
    match node.store().checkpoint_at_or_below(origin, reached)? {
        Some(c) if c.seq >= from => {
            changes.truncate((c.seq - from + 1) as usize);
            Ok(Some(Run {
                changes,
                upto: c.seq,
                checkpoint: Some(c.bytes),
            }))
        }
        // No checkpoint within what fits: wait for an empty batch, and if
        // even that is too small, send the run unsigned.
        _ if room.empty => Ok(Some(Run {
            changes,
            upto: reached,
            checkpoint: None,
        })),
        _ => Ok(None),
    }
}
