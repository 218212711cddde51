//! Placement of received changes: given the heads a node holds, what each
//! change of a child's batch (or of the parent's copy during a restore) is.
//!
//! Two steps, so the expensive one can run off the write lock:
//!
//! 1. [`check`] (no node state), after the caller decoded the change and its
//!    record: its origin is known and allowed (inside the sender's subtree)
//!    and its hash matches its content. Any failure here is the sender's or
//!    the link's fault, and refuses the whole batch: nothing of it is written
//!    ([`Refusal`]).
//!    A receiver that keeps other origins flowing sets aside the changes of
//!    origins its directory does not know before this check, as held
//!    ([`Unknown`]).
//! 2. [`place`] (given the heads): each change is the next of its origin
//!    (accept), one already held (skip: a resend or a replay), a fork (refuse
//!    loudly, keep the first), or beyond a gap (hold back). A change whose
//!    record is malformed while its chain is intact is the origin's fault, not
//!    the link's: it is quarantined. After a held or quarantined change, the
//!    rest of that origin waits; other origins keep flowing.
//!
//! The node's engine runs `place` under its write lock and appends the
//! accepted changes durably before anything is acknowledged.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use bytes::Bytes;

use crate::changelog::{Admission, Change, GENESIS, Hash, Head, admit};
use crate::model::{Invalid, Record};
use crate::orgs::{OrgDirectory, OrgId};

/// Why a whole batch was refused; nothing of it was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The batch or a change in it does not decode.
    #[error("malformed batch: {0}")]
    Malformed(String),
    /// A change of an origin the org directory does not know.
    #[error("change of unknown origin {origin}")]
    UnknownOrigin { origin: String },
    /// A change of an origin outside the sender's subtree.
    #[error("change of origin {origin}, outside {sender}'s subtree")]
    Outside { origin: String, sender: String },
    /// A change whose hash does not match its content.
    #[error("change {origin} seq {seq} does not match its hash")]
    BadHash { origin: String, seq: u64 },
    /// More distinct unknown origins in one batch than may be held.
    #[error("more than {max} unknown origins in one batch")]
    UnknownOrigins { max: usize },
}

/// A change that passed [`check`].
#[derive(Debug, Clone)]
pub struct Verified {
    pub org: OrgId,
    pub change: Change,
    /// The change exactly as received, to be stored and forwarded as is.
    pub bytes: Bytes,
    /// The decoded record, or why it is malformed (then it is quarantined).
    pub record: Result<Record, Invalid>,
}

/// Checks one decoded change from `sender`, whose subtree bounds the origins
/// it may send: its origin is known and inside that subtree, and its hash
/// matches its content. `bytes` is the change as received, kept to be stored
/// and forwarded as is; `record` is its decoded record or why it is malformed.
pub fn check(
    orgs: &OrgDirectory,
    sender: OrgId,
    change: Change,
    bytes: Bytes,
    record: Result<Record, Invalid>,
) -> Result<Verified, Refusal> {
    let org = orgs
        .get(&change.origin)
        .ok_or_else(|| Refusal::UnknownOrigin {
            origin: change.origin.clone(),
        })?;
    if !orgs.is_within(org, sender) {
        return Err(Refusal::Outside {
            origin: change.origin.clone(),
            sender: orgs.code(sender).to_owned(),
        });
    }
    if !change.hash_is_valid() {
        return Err(Refusal::BadHash {
            origin: change.origin.clone(),
            seq: change.seq,
        });
    }
    Ok(Verified {
        org,
        change,
        bytes,
        record,
    })
}

/// Why an origin's changes are held back from a given seq on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeldReason {
    /// The record does not validate; the origin must be fixed or this node upgraded.
    Quarantined(String),
    /// A change arrived before the ones preceding it.
    Gap { expected: u64 },
    /// Another change with this seq (or its predecessor) is already held.
    Fork,
    /// The origin is not in this node's org directory: its changes are not
    /// stored until the directory learns it ([`Unknown`]).
    UnknownOrigin,
}

impl fmt::Display for HeldReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeldReason::Quarantined(e) => write!(f, "quarantined: {e}"),
            HeldReason::Gap { expected } => write!(f, "gap: seq {expected} is missing"),
            HeldReason::Fork => {
                f.write_str("fork: another change with this seq is already held; the first is kept")
            }
            HeldReason::UnknownOrigin => {
                f.write_str("unknown origin: not in this node's org directory")
            }
        }
    }
}

/// An origin held back at `seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub origin: String,
    pub seq: u64,
    pub reason: HeldReason,
}

/// Distinct unknown origins one batch may hold back, at most: a batch with
/// more is refused whole ([`Refusal::UnknownOrigins`]), so a sender cannot
/// make the parent record holds without bound.
pub const UNKNOWN_ORIGINS_MAX: usize = 16;

/// The changes of one batch whose origin the org directory does not know.
///
/// Such an origin cannot be placed in the tree (is it inside the sender's
/// subtree?), so it is neither accepted nor refused: it is held — nothing of
/// it is stored, the ack says so, and the sender skips it for the rest of the
/// session — while the batch's other origins flow. Once the directory learns
/// it, the next session delivers it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unknown {
    /// Each unknown origin at its first change in the batch.
    pub held: Vec<Held>,
    /// The changes of unknown origins, in all.
    pub changes: u32,
}

impl Unknown {
    /// Holds `change`, whose origin is unknown. Refused when that is one
    /// distinct origin more than [`UNKNOWN_ORIGINS_MAX`].
    pub fn hold(&mut self, change: &Change) -> Result<(), Refusal> {
        if !self.held.iter().any(|h| h.origin == change.origin) {
            if self.held.len() >= UNKNOWN_ORIGINS_MAX {
                return Err(Refusal::UnknownOrigins {
                    max: UNKNOWN_ORIGINS_MAX,
                });
            }
            self.held.push(Held {
                origin: change.origin.clone(),
                seq: change.seq,
                reason: HeldReason::UnknownOrigin,
            });
        }
        self.changes += 1;
        Ok(())
    }

    /// Adds these held origins to the batch's placement.
    pub fn add_to(self, placed: &mut Placed) {
        placed.held_changes += self.changes;
        placed.held.extend(self.held);
    }
}

/// What [`place`] decided for one batch.
#[derive(Debug, Default)]
pub struct Placed {
    /// The next changes of their origins, in order, with their records
    /// (drained by the engine once stored).
    pub accepted: Vec<(OrgId, Change, Bytes, Record)>,
    /// Changes stored (set by the engine).
    pub applied: u32,
    /// Changes already held (resends, replays).
    pub skipped: u32,
    /// Origins held back, at their first held change.
    pub held: Vec<Held>,
    /// Changes not applied because their origin is held (the held ones included).
    pub held_changes: u32,
    /// For every origin the batch touched: the head after it (seq, hash).
    pub touched: BTreeMap<String, (u64, Hash)>,
}

impl Placed {
    pub fn quarantined(&self) -> u32 {
        self.held
            .iter()
            .filter(|h| matches!(h.reason, HeldReason::Quarantined(_)))
            .count() as u32
    }
}

/// Places verified changes against the heads a node holds. `heads` is
/// advanced as changes are accepted, so consecutive batches can be placed
/// before one append. `hash_at` looks up the hash held at an earlier seq.
pub fn place(
    verified: Vec<Verified>,
    heads: &mut HashMap<OrgId, Head>,
    hash_at: impl Fn(&str, u64) -> Option<Hash>,
    now_ms: i64,
) -> Placed {
    let mut placed = Placed::default();
    let mut blocked: HashSet<OrgId> = HashSet::new();
    // Origins touched, with one of their codes, in first-seen order.
    let mut touched: Vec<(OrgId, String)> = Vec::new();
    for v in verified {
        if !touched.iter().any(|(o, _)| *o == v.org) {
            touched.push((v.org, v.change.origin.clone()));
        }
        if blocked.contains(&v.org) {
            placed.held_changes += 1;
            continue;
        }
        let head = heads.get(&v.org).copied();
        let admission = admit(&v.change, head.as_ref(), |seq| {
            hash_at(&v.change.origin, seq)
        });
        let reason = match admission {
            Admission::Duplicate => {
                placed.skipped += 1;
                continue;
            }
            Admission::Fork { .. } => HeldReason::Fork,
            Admission::Gap { expected } => HeldReason::Gap { expected },
            Admission::Next => match v.record {
                Err(e) => HeldReason::Quarantined(e.0),
                Ok(record) => {
                    heads.insert(
                        v.org,
                        Head {
                            seq: v.change.seq,
                            hash: v.change.hash,
                            written_at_ms: v.change.written_at_ms,
                            received_at_ms: now_ms,
                        },
                    );
                    placed.accepted.push((v.org, v.change, v.bytes, record));
                    continue;
                }
            },
        };
        placed.held.push(Held {
            origin: v.change.origin.clone(),
            seq: v.change.seq,
            reason,
        });
        placed.held_changes += 1;
        blocked.insert(v.org);
    }
    for (org, origin) in touched {
        let after = heads.get(&org).map_or((0, GENESIS), |h| (h.seq, h.hash));
        placed.touched.insert(origin, after);
    }
    placed
}
