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
use crate::checkpoint::{Signatures, Signed, confirmed_upto};
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

/// A batch whose changes passed [`check`], with what its checkpoints vouch
/// for (verified by the node crate).
#[derive(Debug, Default)]
pub struct Checked {
    pub changes: Vec<Verified>,
    pub signatures: Signatures,
}

impl From<Vec<Verified>> for Checked {
    /// Changes without checkpoints: a receiver that requires signatures
    /// holds them all back.
    fn from(changes: Vec<Verified>) -> Checked {
        Checked {
            changes,
            signatures: Signatures::default(),
        }
    }
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
    /// No checkpoint of the origin in the batch vouches for the change (a
    /// receiver that requires signatures applies only signed changes).
    Unsigned,
    /// A checkpoint signed by the origin names another hash at this seq than
    /// the change the batch carries: the log was rewritten after it was
    /// signed. Nothing of the origin from here is applied.
    Contradicted,
    /// The origin's checkpoint in the batch did not verify (why).
    BadSignature(String),
}

impl fmt::Display for HeldReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeldReason::Quarantined(e) => write!(f, "quarantined: {e}"),
            HeldReason::Gap { expected } => write!(f, "gap: seq {expected} is missing"),
            HeldReason::Fork => {
                f.write_str("fork: another change with this seq is already held; the first is kept")
            }
            HeldReason::Unsigned => {
                f.write_str("unsigned: no checkpoint of the origin vouches for this change")
            }
            HeldReason::Contradicted => f.write_str(
                "rewritten: the origin's signed checkpoint names another change at this seq",
            ),
            HeldReason::BadSignature(e) => write!(f, "bad signature: {e}"),
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
    /// Checkpoints of the batch that match what the node holds once the
    /// accepted changes are stored: to be stored with them ([`place_signed`]).
    pub checkpoints: Vec<Signed>,
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

/// [`place`] for a receiver that requires signatures: the batch's changes of
/// an origin are applied only up to the highest of the batch's verified
/// checkpoints of that origin that matches them; the rest is held back
/// ([`HeldReason::Unsigned`], or [`HeldReason::BadSignature`] when the
/// batch's checkpoint of the origin did not verify), and a checkpoint that names another hash than
/// the change at its seq holds the origin back from its first change in the
/// batch ([`HeldReason::Contradicted`]). The checkpoints that match what is
/// held afterwards are returned in [`Placed::checkpoints`], to be stored.
pub fn place_signed(
    verified: Vec<Verified>,
    signatures: &Signatures,
    heads: &mut HashMap<OrgId, Head>,
    hash_at: impl Fn(&str, u64) -> Option<Hash>,
    now_ms: i64,
) -> Placed {
    let checkpoints = &signatures.signed;
    let before: HashMap<OrgId, Option<Head>> = verified
        .iter()
        .map(|v| (v.org, heads.get(&v.org).copied()))
        .collect();
    let mut placed = place(verified, heads, &hash_at, now_ms);
    // The accepted changes of each origin: contiguous seqs, in order.
    let mut origins: Vec<OrgId> = Vec::new();
    for (org, ..) in &placed.accepted {
        if !origins.contains(org) {
            origins.push(*org);
        }
    }
    for org in origins {
        let mine: Vec<usize> = (0..placed.accepted.len())
            .filter(|&i| placed.accepted[i].0 == org)
            .collect();
        let first = placed.accepted[mine[0]].1.seq;
        let last = placed.accepted[mine[mine.len() - 1]].1.seq;
        let origin = placed.accepted[mine[0]].1.origin.clone();
        let prior = before.get(&org).copied().flatten();
        let held_hash = |seq: u64| -> Option<Hash> {
            if (first..=last).contains(&seq) {
                return Some(placed.accepted[mine[(seq - first) as usize]].1.hash);
            }
            match prior {
                Some(h) if h.seq == seq => Some(h.hash),
                Some(h) if seq < h.seq => hash_at(&origin, seq),
                _ => None,
            }
        };
        let theirs = checkpoints.iter().filter(|c| c.org == org);
        let (keep_upto, reason) = match confirmed_upto(theirs, last, held_hash) {
            Ok(Some(upto)) if upto >= last => continue,
            Ok(upto) => {
                let reason = match signatures.rejected.iter().find(|r| r.org == org) {
                    Some(r) => HeldReason::BadSignature(format!("seq {}: {}", r.seq, r.reason)),
                    None => HeldReason::Unsigned,
                };
                (upto.unwrap_or(0).max(first - 1), reason)
            }
            Err(_) => (first - 1, HeldReason::Contradicted),
        };
        // Roll back this origin's changes above `keep_upto`.
        let mut kept_head = prior;
        let mut dropped = 0u32;
        let mut index = 0usize;
        placed.accepted.retain(|(o, change, ..)| {
            let i = index;
            index += 1;
            if *o != org {
                return true;
            }
            debug_assert!(mine.contains(&i));
            if change.seq <= keep_upto {
                kept_head = Some(Head {
                    seq: change.seq,
                    hash: change.hash,
                    written_at_ms: change.written_at_ms,
                    received_at_ms: now_ms,
                });
                true
            } else {
                dropped += 1;
                false
            }
        });
        match kept_head {
            Some(h) => heads.insert(org, h),
            None => heads.remove(&org),
        };
        placed.held.retain(|h| h.origin != origin);
        placed.held.push(Held {
            origin: origin.clone(),
            seq: keep_upto + 1,
            reason,
        });
        placed.held_changes += dropped;
        let after = kept_head.map_or((0, GENESIS), |h| (h.seq, h.hash));
        placed.touched.insert(origin, after);
    }
    // What to store: the checkpoints that match what is held now.
    let accepted_hash = |org: OrgId, seq: u64| {
        placed
            .accepted
            .iter()
            .find(|(o, c, ..)| *o == org && c.seq == seq)
            .map(|(_, c, ..)| c.hash)
    };
    let mut keep: Vec<Signed> = Vec::new();
    for c in checkpoints {
        let held = accepted_hash(c.org, c.seq).or_else(|| match heads.get(&c.org) {
            Some(h) if h.seq == c.seq => Some(h.hash),
            Some(h) if c.seq < h.seq => hash_at(&c.origin, c.seq),
            _ => None,
        });
        if held == Some(c.hash) && !keep.iter().any(|k| k.org == c.org && k.seq == c.seq) {
            keep.push(c.clone());
        }
    }
    placed.checkpoints = keep;
    placed
}
