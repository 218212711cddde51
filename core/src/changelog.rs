//! The per-origin, hash-chained change log.
//!
//! Every origin numbers its changes 1, 2, 3… without gaps, and each change's
//! hash covers the previous change's hash, so a log is a chain that can be
//! checked link by link by anyone who holds it. A change is written once, by
//! its origin, and from then on travels as the exact bytes the origin encoded:
//! nothing downstream re-encodes it, so the hash never depends on an encoder.
//!
//! This module is pure: hashing, and deciding what an incoming change means
//! relative to the head a node holds (next, duplicate, fork, gap).

use bytes::Bytes;

/// Length of a change hash (BLAKE3-256).
pub const HASH_LEN: usize = 32;

/// A change hash.
pub type Hash = [u8; HASH_LEN];

/// The `prev_hash` of every origin's first change.
pub const GENESIS: Hash = [0; HASH_LEN];

/// Domain separation for change hashes, so no other BLAKE3 use can collide.
const HASH_CONTEXT: &[u8] = b"lunxun.change.v1\0";

/// One entry of an origin's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The org code of the node that wrote the record: its only writer.
    pub origin: String,
    /// Position in the origin's log, from 1, without gaps.
    pub seq: u64,
    /// Hash of the origin's change `seq - 1` ([`GENESIS`] for seq 1).
    pub prev_hash: Hash,
    /// [`chain_hash`] of this change.
    pub hash: Hash,
    /// The origin's clock when it wrote the change, in ms since the Unix epoch.
    /// Informational (lag, freshness); never used for ordering.
    pub written_at_ms: i64,
    /// The encoded `lunxun.v1.Record`, exactly as the origin wrote it.
    pub record: Bytes,
}

/// The hash of a change: BLAKE3 over a fixed layout of its fields.
///
/// Layout: context ‖ len(origin) u32 BE ‖ origin ‖ seq u64 BE ‖ prev_hash ‖
/// written_at_ms i64 BE ‖ len(record) u64 BE ‖ record.
pub fn chain_hash(
    origin: &str,
    seq: u64,
    prev_hash: &Hash,
    written_at_ms: i64,
    record: &[u8],
) -> Hash {
    let mut h = blake3::Hasher::new();
    h.update(HASH_CONTEXT);
    h.update(&(origin.len() as u32).to_be_bytes());
    h.update(origin.as_bytes());
    h.update(&seq.to_be_bytes());
    h.update(prev_hash);
    h.update(&written_at_ms.to_be_bytes());
    h.update(&(record.len() as u64).to_be_bytes());
    h.update(record);
    *h.finalize().as_bytes()
}

impl Change {
    /// A new change chained after `prev_hash`.
    pub fn new(
        origin: String,
        seq: u64,
        prev_hash: Hash,
        written_at_ms: i64,
        record: Bytes,
    ) -> Change {
        let hash = chain_hash(&origin, seq, &prev_hash, written_at_ms, &record);
        Change {
            origin,
            seq,
            prev_hash,
            hash,
            written_at_ms,
            record,
        }
    }

    /// Whether `hash` matches the change's content.
    pub fn hash_is_valid(&self) -> bool {
        chain_hash(
            &self.origin,
            self.seq,
            &self.prev_hash,
            self.written_at_ms,
            &self.record,
        ) == self.hash
    }
}

/// The newest change a node holds of one origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Highest contiguous seq held (the log is dense, so also the count).
    pub seq: u64,
    /// Hash of change `seq`.
    pub hash: Hash,
    /// When the origin wrote change `seq`.
    pub written_at_ms: i64,
    /// When this node stored change `seq` (its own write, or its receipt).
    pub received_at_ms: i64,
}

/// What an incoming change is, relative to what a node holds of its origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// The next change of the origin: apply it.
    Next,
    /// A change already held, with the same hash: skip it (a resend or replay).
    Duplicate,
    /// A change at a seq already held, or chained after one, with another
    /// hash: the origin's history has forked. Refuse it and keep the first.
    Fork {
        /// The seq where the histories disagree.
        seq: u64,
    },
    /// A change beyond the next one: never applied out of order.
    Gap {
        /// The seq this node needs next.
        expected: u64,
    },
}

/// Decides what `change` is, given the node's head for its origin (if any)
/// and a way to look up the hash the node holds at an earlier seq.
///
/// The change's own hash must already have been checked
/// ([`Change::hash_is_valid`]); this only places it in the chain.
pub fn admit(
    change: &Change,
    head: Option<&Head>,
    held_hash: impl FnOnce(u64) -> Option<Hash>,
) -> Admission {
    let (head_seq, head_hash) = head.map_or((0, GENESIS), |h| (h.seq, h.hash));
    if change.seq == head_seq + 1 {
        if change.prev_hash == head_hash {
            Admission::Next
        } else {
            // The change links to a different seq `head_seq`: the fork is there.
            Admission::Fork { seq: head_seq }
        }
    } else if change.seq > head_seq + 1 {
        Admission::Gap {
            expected: head_seq + 1,
        }
    } else {
        let held = if change.seq == head_seq {
            Some(head_hash)
        } else {
            held_hash(change.seq)
        };
        match held {
            Some(h) if h == change.hash => Admission::Duplicate,
            _ => Admission::Fork { seq: change.seq },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(origin: &str, n: u64) -> Vec<Change> {
        let mut prev = GENESIS;
        (1..=n)
            .map(|seq| {
                let c = Change::new(
                    origin.into(),
                    seq,
                    prev,
                    1_700_000_000_000 + seq as i64,
                    Bytes::from(vec![seq as u8; 8]),
                );
                prev = c.hash;
                c
            })
            .collect()
    }

    fn head_of(c: &Change) -> Head {
        Head {
            seq: c.seq,
            hash: c.hash,
            written_at_ms: c.written_at_ms,
            received_at_ms: 0,
        }
    }

    #[test]
    fn hash_covers_every_field() {
        let c = chain("410102", 2).pop().unwrap();
        assert!(c.hash_is_valid());
        let mut m = c.clone();
        m.origin = "410103".into();
        assert!(!m.hash_is_valid());
        let mut m = c.clone();
        m.seq = 3;
        assert!(!m.hash_is_valid());
        let mut m = c.clone();
        m.prev_hash[0] ^= 1;
        assert!(!m.hash_is_valid());
        let mut m = c.clone();
        m.written_at_ms += 1;
        assert!(!m.hash_is_valid());
        let mut m = c.clone();
        m.record = Bytes::from_static(b"other");
        assert!(!m.hash_is_valid());
    }

    #[test]
    fn admission_cases() {
        let log = chain("410102", 5);
        let other = chain("410102", 5).into_iter().map(|mut c| {
            c.written_at_ms += 7;
            c.hash = chain_hash(&c.origin, c.seq, &c.prev_hash, c.written_at_ms, &c.record);
            c
        });
        let other: Vec<Change> = other.collect();
        let held = |seq: u64| log.get(seq as usize - 1).map(|c| c.hash);
        let head3 = head_of(&log[2]);

        assert_eq!(admit(&log[0], None, held), Admission::Next);
        assert_eq!(admit(&log[1], None, held), Admission::Gap { expected: 1 });
        assert_eq!(admit(&log[3], Some(&head3), held), Admission::Next);
        assert_eq!(
            admit(&log[4], Some(&head3), held),
            Admission::Gap { expected: 4 }
        );
        assert_eq!(admit(&log[2], Some(&head3), held), Admission::Duplicate);
        assert_eq!(admit(&log[0], Some(&head3), held), Admission::Duplicate);
        // Same seq, other content: fork at that seq.
        assert_eq!(
            admit(&other[1], Some(&head3), held),
            Admission::Fork { seq: 2 }
        );
        // Next seq but chained after a different change 3.
        let mut forked_next = log[3].clone();
        forked_next.prev_hash = other[2].hash;
        assert_eq!(
            admit(&forked_next, Some(&head3), held),
            Admission::Fork { seq: 3 }
        );
    }
}
