//! Ingest: storing changes that were written elsewhere — a child's sync
//! batches at a hub, or the parent's copy of our subtree during a restore.
//!
//! Two steps, so the expensive one can run off the write lock:
//!
//! 1. [`verify`] (no node state): decode every change, check that its origin
//!    is known and allowed (inside the sender's subtree) and that its hash
//!    matches its content, and decode its record. Any failure here is the
//!    sender's or the link's fault, and refuses the whole batch: nothing of it
//!    is written ([`Refusal`]).
//! 2. [`place`] (pure, given the heads): each change is the next of its origin
//!    (accept), one already held (skip: a resend or a replay), a fork (refuse
//!    loudly, keep the first), or beyond a gap (hold back). A change whose
//!    record is malformed while its chain is intact is the origin's fault, not
//!    the link's: it is quarantined. After a held or quarantined change, the
//!    rest of that origin waits; other origins keep flowing.
//!
//! [`crate::node::Node::ingest`] runs `place` under the write lock and appends
//! the accepted changes durably before anything is acknowledged.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use bytes::Bytes;

use crate::changelog::{Admission, Change, Hash, Head, admit};
use crate::codec;
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

/// A change that passed [`verify`].
#[derive(Debug, Clone)]
pub struct Verified {
    pub org: OrgId,
    pub change: Change,
    /// The change exactly as received, to be stored and forwarded as is.
    pub bytes: Bytes,
    /// The decoded record, or why it is malformed (then it is quarantined).
    pub record: Result<Record, Invalid>,
}

/// Decodes and checks a batch of encoded changes from `sender`, whose subtree
/// bounds the origins it may send.
pub fn verify(
    orgs: &OrgDirectory,
    sender: OrgId,
    changes: Vec<Bytes>,
) -> Result<Vec<Verified>, Refusal> {
    changes
        .into_iter()
        .map(|bytes| {
            let change =
                codec::decode_change(bytes.clone()).map_err(|e| Refusal::Malformed(e.0))?;
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
            let record = codec::decode_record(&change.record);
            Ok(Verified {
                org,
                change,
                bytes,
                record,
            })
        })
        .collect()
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
}

impl fmt::Display for HeldReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeldReason::Quarantined(e) => write!(f, "quarantined: {e}"),
            HeldReason::Gap { expected } => write!(f, "gap: seq {expected} is missing"),
            HeldReason::Fork => {
                f.write_str("fork: another change with this seq is already held; the first is kept")
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

/// What [`place`] decided for one batch.
#[derive(Debug, Default)]
pub struct Placed {
    /// The next changes of their origins, in order, with their records
    /// (drained by [`crate::node::Node::ingest`] once stored).
    pub accepted: Vec<(OrgId, Change, Bytes, Record)>,
    /// Changes stored (set by [`crate::node::Node::ingest`]).
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
    let mut blocked: std::collections::HashSet<OrgId> = std::collections::HashSet::new();
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
        let after = heads
            .get(&org)
            .map_or((0, crate::changelog::GENESIS), |h| (h.seq, h.hash));
        placed.touched.insert(origin, after);
    }
    placed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::changelog::GENESIS;
    use crate::model::{PersonId, Rank, RosterEntry};

    fn roster_bytes(name: &str) -> Bytes {
        codec::encode_record(&Record::Roster(RosterEntry {
            person: "11010519491231002X".parse::<PersonId>().unwrap(),
            name: name.into(),
            rank: Rank::General,
            since: "2024-01-01".parse().unwrap(),
            until: None,
            employer: String::new(),
            position: String::new(),
            group: String::new(),
        }))
    }

    fn log(origin: &str, n: u64, tag: &str) -> Vec<Bytes> {
        let mut prev = GENESIS;
        (1..=n)
            .map(|seq| {
                let c = Change::new(
                    origin.into(),
                    seq,
                    prev,
                    seq as i64,
                    roster_bytes(&format!("{tag}{seq}")),
                );
                prev = c.hash;
                codec::encode_change(&c)
            })
            .collect()
    }

    #[test]
    fn verify_refuses_link_and_peer_faults() {
        let orgs = OrgDirectory::builtin();
        let zhengzhou = orgs.get("410100").unwrap();
        assert_eq!(
            verify(&orgs, zhengzhou, log("410102", 3, "a"))
                .unwrap()
                .len(),
            3
        );
        assert_eq!(
            verify(&orgs, zhengzhou, log("410100", 1, "a"))
                .unwrap()
                .len(),
            1
        );
        assert!(matches!(
            verify(&orgs, zhengzhou, log("420102", 1, "a")),
            Err(Refusal::Outside { .. })
        ));
        assert!(matches!(
            verify(&orgs, zhengzhou, log("ZZ-NOWHERE", 1, "a")),
            Err(Refusal::UnknownOrigin { .. })
        ));
        let mut forged = codec::decode_change(log("410102", 1, "a").remove(0)).unwrap();
        forged.record = roster_bytes("forged");
        assert!(matches!(
            verify(&orgs, zhengzhou, vec![codec::encode_change(&forged)]),
            Err(Refusal::BadHash { .. })
        ));
        assert!(matches!(
            verify(&orgs, zhengzhou, vec![Bytes::from_static(b"\xff\xff")]),
            Err(Refusal::Malformed(_))
        ));
    }

    #[test]
    fn placement_skips_holds_and_quarantines_per_origin() {
        let orgs = OrgDirectory::builtin();
        let zhengzhou = orgs.get("410100").unwrap();
        let a = log("410102", 5, "a");
        let b = log("410103", 3, "b");
        let mut heads = HashMap::new();
        let held = |_: &str, _: u64| None;

        // Batch: a1..a3, b2 (gap), b1.
        let batch = vec![
            a[0].clone(),
            a[1].clone(),
            a[2].clone(),
            b[1].clone(),
            b[0].clone(),
        ];
        let p = place(
            verify(&orgs, zhengzhou, batch).unwrap(),
            &mut heads,
            held,
            0,
        );
        assert_eq!(p.accepted.len(), 3);
        assert_eq!(p.held.len(), 1);
        assert_eq!(p.held[0].reason, HeldReason::Gap { expected: 1 });
        // b1 came after b2 in the batch: the origin was already blocked.
        assert_eq!(p.held_changes, 2);
        assert_eq!(p.touched["410102"].0, 3);
        assert_eq!(p.touched["410103"].0, 0);

        // Resent a2..a4: a2, a3 skipped, a4 accepted; b in order now.
        let batch = vec![
            a[1].clone(),
            a[2].clone(),
            a[3].clone(),
            b[0].clone(),
            b[1].clone(),
        ];
        let stored: Vec<Hash> = a
            .iter()
            .map(|x| codec::decode_change(x.clone()).unwrap().hash)
            .collect();
        let lookup = |o: &str, seq: u64| (o == "410102").then(|| stored[seq as usize - 1]);
        let p = place(
            verify(&orgs, zhengzhou, batch).unwrap(),
            &mut heads,
            lookup,
            0,
        );
        assert_eq!((p.accepted.len(), p.skipped), (3, 2));

        // A fork: another a3 chained from a2. Held, the first kept.
        let other = log("410102", 3, "other");
        let p = place(
            verify(&orgs, zhengzhou, vec![other[2].clone()]).unwrap(),
            &mut heads,
            lookup,
            0,
        );
        assert_eq!(p.held[0].reason, HeldReason::Fork);
        assert!(p.accepted.is_empty());

        // A malformed record with an intact chain: quarantined, and a5 waits
        // behind it, while b3 flows.
        let head = heads[&orgs.get("410102").unwrap()];
        let bad = Change::new(
            "410102".into(),
            5,
            head.hash,
            0,
            Bytes::from_static(b"\x0a\x01\x00"),
        );
        let batch = vec![codec::encode_change(&bad), b[2].clone()];
        let p = place(
            verify(&orgs, zhengzhou, batch).unwrap(),
            &mut heads,
            lookup,
            0,
        );
        assert_eq!(p.quarantined(), 1);
        assert!(matches!(p.held[0].reason, HeldReason::Quarantined(_)));
        assert_eq!(p.accepted.len(), 1);
        assert_eq!(p.accepted[0].1.origin, "410103");
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use crate::changelog::GENESIS;
    use lunxun_proto::v1 as pb;
    use proptest::prelude::*;
    use prost::Message;

    fn valid_changes(n: usize) -> Vec<Bytes> {
        let mut prev = GENESIS;
        (1..=n as u64)
            .map(|seq| {
                let record = codec::encode_record(&Record::Obligation(crate::model::Obligation {
                    kind: crate::model::ObligationKind::Study,
                    date: "2024-01-01".parse().unwrap(),
                    note: format!("n{seq}"),
                }));
                let c = Change::new("410102".into(), seq, prev, 0, record);
                prev = c.hash;
                codec::encode_change(&c)
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 400, .. ProptestConfig::default() })]

        /// Arbitrary batch envelopes: decoding never panics and never
        /// produces more than the limits.
        #[test]
        fn arbitrary_batches_never_panic(zstd in proptest::collection::vec(any::<u8>(), 0..2048), raw in any::<u32>(), count in any::<u32>()) {
            let batch = pb::Batch { batch_no: 1, count, raw_bytes: raw, zstd: zstd.into() };
            if let Ok(changes) = codec::decode_batch(&batch) {
                prop_assert!(changes.len() <= codec::BATCH_CHANGES_MAX);
            }
        }

        /// Arbitrary bytes as changes, and valid changes with bytes flipped:
        /// verification never panics, and what it accepts hashes correctly.
        #[test]
        fn arbitrary_changes_never_panic(
            junk in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..8),
            flips in proptest::collection::vec((0usize..8, any::<usize>(), any::<u8>()), 0..6),
        ) {
            let orgs = OrgDirectory::builtin();
            let sender = orgs.get("410100").unwrap();
            let _ = verify(&orgs, sender, junk.into_iter().map(Bytes::from).collect());
            let mut changes: Vec<Vec<u8>> = valid_changes(8).into_iter().map(|b| b.to_vec()).collect();
            for (i, at, byte) in flips {
                let c = &mut changes[i];
                let at = at % c.len();
                c[at] ^= byte.max(1);
            }
            if let Ok(verified) = verify(&orgs, sender, changes.into_iter().map(Bytes::from).collect()) {
                for v in &verified {
                    prop_assert!(v.change.hash_is_valid());
                    prop_assert!(orgs.is_within(v.org, sender));
                }
                let mut heads = HashMap::new();
                let _ = place(verified, &mut heads, |_, _| None, 0);
            }
        }

        /// Arbitrary bytes as any message of the sync protocol decode or fail,
        /// never panic.
        #[test]
        fn arbitrary_protocol_messages_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = pb::ChildMessage::decode(bytes.as_slice());
            let _ = pb::ParentMessage::decode(bytes.as_slice());
            let _ = codec::decode_change(Bytes::from(bytes.clone()));
            let _ = codec::decode_record(&bytes);
        }
    }
}
