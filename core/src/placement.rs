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
use crate::checkpoint::{Signatures, Signed, confirmed_upto};
use crate::model::{Invalid, Record};
use crate::orgs::{OrgDirectory, OrgId, OrgMap, OrgSet};

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
            HeldReason::Unsigned => {
                f.write_str("unsigned: no checkpoint of the origin vouches for this change")
            }
            HeldReason::Contradicted => f.write_str(
                "rewritten: the origin's signed checkpoint names another change at this seq",
            ),
            HeldReason::BadSignature(e) => write!(f, "bad signature: {e}"),
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
    heads: &mut OrgMap<Head>,
    hash_at: impl Fn(&str, u64) -> Option<Hash>,
    now_ms: i64,
) -> Placed {
    let mut placed = Placed::default();
    placed.accepted.reserve(verified.len());
    let mut blocked = OrgSet::default();
    // Origins touched, with one of their codes, in first-seen order (the
    // set beside it keeps a batch of many origins linear).
    let mut touched: Vec<(OrgId, String)> = Vec::new();
    let mut seen = OrgSet::with_capacity_and_hasher(verified.len(), Default::default());
    for v in verified {
        if seen.insert(v.org) {
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
    // Built at once (sorted, then bulk-loaded): a batch may touch as many
    // origins as it has changes.
    placed.touched = touched
        .into_iter()
        .map(|(org, origin)| {
            let after = heads.get(&org).map_or((0, GENESIS), |h| (h.seq, h.hash));
            (origin, after)
        })
        .collect();
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
    heads: &mut OrgMap<Head>,
    hash_at: impl Fn(&str, u64) -> Option<Hash>,
    now_ms: i64,
) -> Placed {
    let checkpoints = &signatures.signed;
    let before: HashMap<OrgId, Option<Head>> = verified
        .iter()
        .map(|v| (v.org, heads.get(&v.org).copied()))
        .collect();
    let mut placed = place(verified, heads, &hash_at, now_ms);
    // The accepted changes of each origin (contiguous seqs, in order), as
    // indices into `accepted`, origins in first-seen order.
    let mut by_origin: Vec<(OrgId, Vec<usize>)> = Vec::new();
    let mut slot: HashMap<OrgId, usize> = HashMap::new();
    for (i, (org, ..)) in placed.accepted.iter().enumerate() {
        let at = *slot.entry(*org).or_insert_with(|| {
            by_origin.push((*org, Vec::new()));
            by_origin.len() - 1
        });
        by_origin[at].1.push(i);
    }
    // Decide first (indices into `accepted` stay valid), then roll back.
    let mut rollbacks: HashMap<OrgId, (String, u64, HeldReason)> = HashMap::new();
    for (org, mine) in by_origin {
        let first = placed.accepted[mine[0]].1.seq;
        let last = placed.accepted[mine[mine.len() - 1]].1.seq;
        let origin = &placed.accepted[mine[0]].1.origin;
        let prior = before.get(&org).copied().flatten();
        let held_hash = |seq: u64| -> Option<Hash> {
            if (first..=last).contains(&seq) {
                return Some(placed.accepted[mine[(seq - first) as usize]].1.hash);
            }
            match prior {
                Some(h) if h.seq == seq => Some(h.hash),
                Some(h) if seq < h.seq => hash_at(origin, seq),
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
        rollbacks.insert(org, (origin.clone(), keep_upto, reason));
    }
    if !rollbacks.is_empty() {
        let mut kept: HashMap<OrgId, Head> = HashMap::new();
        let mut dropped: HashMap<OrgId, u32> = HashMap::new();
        placed.accepted.retain(|(org, change, ..)| {
            let Some((_, keep_upto, _)) = rollbacks.get(org) else {
                return true;
            };
            if change.seq <= *keep_upto {
                kept.insert(
                    *org,
                    Head {
                        seq: change.seq,
                        hash: change.hash,
                        written_at_ms: change.written_at_ms,
                        received_at_ms: now_ms,
                    },
                );
                true
            } else {
                *dropped.entry(*org).or_default() += 1;
                false
            }
        });
        for (org, (origin, keep_upto, reason)) in rollbacks {
            let head = kept
                .get(&org)
                .copied()
                .or(before.get(&org).copied().flatten());
            match head {
                Some(h) => heads.insert(org, h),
                None => heads.remove(&org),
            };
            placed.held.retain(|h| h.origin != origin);
            placed.held.push(Held {
                origin: origin.clone(),
                seq: keep_upto + 1,
                reason,
            });
            placed.held_changes += dropped.get(&org).copied().unwrap_or(0);
            placed
                .touched
                .insert(origin, head.map_or((0, GENESIS), |h| (h.seq, h.hash)));
        }
    }
    // What to store: the checkpoints that match what is held now.
    let accepted: HashMap<(OrgId, u64), Hash> = placed
        .accepted
        .iter()
        .map(|(o, c, ..)| ((*o, c.seq), c.hash))
        .collect();
    let accepted_hash = |org: OrgId, seq: u64| accepted.get(&(org, seq)).copied();
    let mut keep: Vec<Signed> = Vec::new();
    let mut kept: HashSet<(OrgId, u64)> = HashSet::new();
    for c in checkpoints {
        let held = accepted_hash(c.org, c.seq).or_else(|| match heads.get(&c.org) {
            Some(h) if h.seq == c.seq => Some(h.hash),
            Some(h) if c.seq < h.seq => hash_at(&c.origin, c.seq),
            _ => None,
        });
        if held == Some(c.hash) && kept.insert((c.org, c.seq)) {
            keep.push(c.clone());
        }
    }
    placed.checkpoints = keep;
    placed
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::model::{Obligation, ObligationKind};

    const ORIGINS: [&str; 3] = ["410102", "410103", "410104"];

    fn log(origin: &str, n: u64) -> Vec<Change> {
        let mut prev = GENESIS;
        (1..=n)
            .map(|seq| {
                let c = Change::new(origin.into(), seq, prev, 0, Bytes::from(vec![seq as u8]));
                prev = c.hash;
                c
            })
            .collect()
    }

    fn record() -> Record {
        Record::Obligation(Obligation {
            kind: ObligationKind::Study,
            date: "2026-01-01".parse().unwrap(),
            note: String::new(),
        })
    }

    proptest! {
        /// Interleaved logs of three origins, each with a checkpoint at some
        /// seq (or none, or a forged one): each origin is applied exactly up
        /// to its checkpoint, the rest is held with the right reason, and the
        /// heads and what is stored follow.
        #[test]
        fn each_origin_is_applied_up_to_its_checkpoint(
            lengths in proptest::array::uniform3(1u64..12),
            marks in proptest::array::uniform3(0u64..14),
            forged in proptest::array::uniform3(any::<bool>()),
            order in proptest::collection::vec(0usize..3, 0..40),
        ) {
            let orgs = OrgDirectory::builtin();
            let sender = orgs.get("410100").unwrap();
            let logs: Vec<Vec<Change>> = ORIGINS.iter().zip(lengths).map(|(o, n)| log(o, n)).collect();
            // Interleave: `order` picks which origin goes next, then the rest.
            let mut next = [0usize; 3];
            let mut batch = Vec::new();
            let picks = order.into_iter().chain((0..3).flat_map(|i| std::iter::repeat_n(i, 12)));
            for i in picks {
                if let Some(c) = logs[i].get(next[i]) {
                    next[i] += 1;
                    batch.push(check(&orgs, sender, c.clone(), Bytes::new(), Ok(record())).unwrap());
                }
            }
            let mut signatures = Signatures::default();
            for (i, origin) in ORIGINS.iter().enumerate() {
                let at = marks[i];
                if at == 0 || at > lengths[i] {
                    continue;
                }
                let mut hash = logs[i][at as usize - 1].hash;
                if forged[i] {
                    hash[0] ^= 1;
                }
                signatures.signed.push(Signed {
                    org: orgs.get(origin).unwrap(),
                    origin: (*origin).into(),
                    seq: at,
                    hash,
                    bytes: Bytes::new(),
                });
            }
            let mut heads = OrgMap::default();
            let placed = place_signed(batch, &signatures, &mut heads, |_, _| None, 0);
            for (i, origin) in ORIGINS.iter().enumerate() {
                let org = orgs.get(origin).unwrap();
                let signed = marks[i] > 0 && marks[i] <= lengths[i];
                let expect = if signed && !forged[i] { marks[i] } else { 0 };
                let applied: Vec<u64> = placed.accepted.iter().filter(|a| a.0 == org).map(|a| a.1.seq).collect();
                prop_assert_eq!(applied, (1..=expect).collect::<Vec<_>>(), "{}", origin);
                prop_assert_eq!(heads.get(&org).map_or(0, |h| h.seq), expect);
                prop_assert_eq!(placed.touched[*origin].0, expect);
                let held = placed.held.iter().find(|h| h.origin == *origin);
                if expect == lengths[i] {
                    prop_assert!(held.is_none());
                } else {
                    let held = held.unwrap();
                    prop_assert_eq!(held.seq, expect + 1);
                    let reason = if signed && forged[i] { HeldReason::Contradicted } else { HeldReason::Unsigned };
                    prop_assert_eq!(&held.reason, &reason);
                }
                let stored = placed.checkpoints.iter().any(|c| c.org == org);
                prop_assert_eq!(stored, expect > 0);
            }
            let total: u64 = lengths.iter().sum();
            prop_assert_eq!(placed.accepted.len() as u64 + u64::from(placed.held_changes), total);
        }
    }
}
