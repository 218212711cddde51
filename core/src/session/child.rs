//! The child's side of one sync session, as a state machine without I/O.
//!
//! The transport (`lunxun_node::sync::client`) feeds it the parent's vector and acks,
//! asks it what to send next, and tells it what it sent; this module decides
//! and checks everything else:
//!
//! - the plan: for every origin the child holds, the changes above the
//!   parent's durable vector;
//! - the fork check (the parent's hash at its seq must be ours) and the lost-
//!   tail check (the parent must not hold more of our own origin than we do);
//! - the window: at most `window` batches sent and not yet acked;
//! - the acks: in order, never moving the parent's vector backwards, never
//!   acknowledging what was not sent;
//! - held origins: once the parent holds an origin back (quarantine, gap,
//!   fork), nothing more of it is sent in this session;
//! - completion: the session is complete when the parent acked every change
//!   the child holds.
//!
//! A session that breaks is simply dropped: the next one starts from the
//! parent's durable vector, so nothing is lost and nothing applied twice.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::changelog::Hash;

/// The parent's answer to Hello: what it holds durably of our subtree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParentVector {
    pub incarnation: Vec<u8>,
    /// origin → (highest contiguous seq, hash of that change).
    pub entries: BTreeMap<String, (u64, Hash)>,
}

/// Changes `from..=to` of one origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    pub origin: String,
    pub from: u64,
    pub to: u64,
}

/// Something the session found that the node must act on or show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// The parent holds more of our own origin than we do: our log lost its
    /// tail, and a new write would fork it.
    LostTail { parent_seq: u64, local_seq: u64 },
    /// The parent holds another change at `seq` of `origin`: histories forked.
    Fork { origin: String, seq: u64 },
    /// The parent holds more of a forwarded origin than we do (we were
    /// restored from an older copy; the origin will resend to us).
    ParentAhead {
        origin: String,
        parent_seq: u64,
        local_seq: u64,
    },
}

/// What the parent acknowledged for one batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AckInfo {
    pub batch_no: u64,
    pub applied: u32,
    pub skipped: u32,
    pub quarantined: u32,
    /// The parent's vector for the origins the batch touched.
    pub entries: Vec<(String, u64, Hash)>,
    /// Origins the parent holds back: (origin, seq, reason).
    pub held: Vec<(String, u64, String)>,
}

/// A violation of the protocol by the parent: the session must end.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// A vector arrived twice, or an ack before the vector.
    #[error("unexpected message from the parent: {0}")]
    Unexpected(&'static str),
    /// An ack for a batch other than the oldest one in flight.
    #[error("ack for batch {got}, expected {expected:?}")]
    AckOutOfOrder { got: u64, expected: Option<u64> },
    /// An ack that moves the parent's vector backwards within a session.
    #[error("parent's vector for {origin} went back from {from} to {to}")]
    VectorRegressed { origin: String, from: u64, to: u64 },
    /// An ack that counts more changes than the batch carried.
    #[error("ack for batch {batch_no} counts {counted} changes, the batch carried {carried}")]
    AckCounts {
        batch_no: u64,
        counted: u64,
        carried: u32,
    },
    /// An ack for changes that were never sent.
    #[error("parent acked {origin} up to {acked}, but only {sent} was sent")]
    AckBeyondSent {
        origin: String,
        acked: u64,
        sent: u64,
    },
}

/// How a session ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub batches: u64,
    /// Compressed batch bytes sent.
    pub wire_bytes: u64,
    pub sent: u64,
    pub applied: u64,
    pub skipped: u64,
    pub quarantined: u64,
    pub held: Vec<(String, u64, String)>,
    pub findings: Vec<Finding>,
    /// Changes the child holds that the parent has not acked.
    pub pending: u64,
    pub parent_incarnation: Vec<u8>,
    /// What the parent holds of each origin, as far as the session knows.
    pub parent_vector: BTreeMap<String, u64>,
    /// The session stopped at its change budget with more to send: the next
    /// session should follow at once.
    pub truncated: bool,
    /// Changes held here that no signed checkpoint vouches for, so they were
    /// not sent, and why (the node's certificate could not sign them).
    pub unsigned: u64,
    pub unsigned_reason: Option<String>,
}

impl Outcome {
    /// The parent acked everything the child holds, and nothing is wrong.
    pub fn complete(&self) -> bool {
        self.pending == 0
            && self.unsigned == 0
            && self.held.is_empty()
            && self
                .findings
                .iter()
                .all(|f| matches!(f, Finding::ParentAhead { .. }))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    AwaitVector,
    Streaming,
}

/// A batch sent and not yet acked: the highest seq it carried per origin.
#[derive(Debug, Clone)]
struct InFlight {
    batch_no: u64,
    count: u32,
}

/// One session of a child with its parent.
#[derive(Debug)]
pub struct ChildSession {
    me: String,
    /// Local heads when the session started: (seq, hash).
    local: BTreeMap<String, (u64, Hash)>,
    window: usize,
    phase: Phase,
    plan: VecDeque<Range>,
    /// The batch being filled: its number and how many changes so far.
    building: Option<(u64, u32)>,
    in_flight: VecDeque<InFlight>,
    next_batch_no: u64,
    /// Highest seq put into a batch, per origin.
    sent_upto: BTreeMap<String, u64>,
    /// Highest seq the parent holds durably, per origin, as far as we know.
    acked: BTreeMap<String, u64>,
    /// Origins not to send any more of in this session.
    blocked: BTreeSet<String>,
    outcome: Outcome,
}

impl ChildSession {
    /// A session of node `me`, holding `local` heads, with at most `window`
    /// unacked batches.
    pub fn new(me: &str, local: BTreeMap<String, (u64, Hash)>, window: usize) -> ChildSession {
        ChildSession {
            me: me.to_owned(),
            local,
            window: window.max(1),
            phase: Phase::AwaitVector,
            plan: VecDeque::new(),
            building: None,
            in_flight: VecDeque::new(),
            next_batch_no: 1,
            sent_upto: BTreeMap::new(),
            acked: BTreeMap::new(),
            blocked: BTreeSet::new(),
            outcome: Outcome::default(),
        }
    }

    /// Takes the parent's vector and plans what to send. `hash_at` gives the
    /// hash the child holds of `origin` at an earlier `seq`.
    pub fn on_vector(
        &mut self,
        vector: ParentVector,
        hash_at: impl Fn(&str, u64) -> Option<Hash>,
    ) -> Result<(), ProtocolError> {
        if self.phase != Phase::AwaitVector {
            return Err(ProtocolError::Unexpected("a second vector"));
        }
        self.phase = Phase::Streaming;
        self.outcome.parent_incarnation = vector.incarnation.clone();
        for (origin, &(local_seq, local_hash)) in &self.local {
            let (parent_seq, parent_hash) =
                vector.entries.get(origin).copied().unwrap_or((0, [0; 32]));
            self.acked.insert(origin.clone(), parent_seq.min(local_seq));
            if parent_seq > local_seq {
                self.blocked.insert(origin.clone());
                self.outcome.findings.push(if *origin == self.me {
                    Finding::LostTail {
                        parent_seq,
                        local_seq,
                    }
                } else {
                    Finding::ParentAhead {
                        origin: origin.clone(),
                        parent_seq,
                        local_seq,
                    }
                });
                continue;
            }
            if parent_seq > 0 {
                let ours = if parent_seq == local_seq {
                    Some(local_hash)
                } else {
                    hash_at(origin, parent_seq)
                };
                if ours != Some(parent_hash) {
                    self.blocked.insert(origin.clone());
                    self.outcome.findings.push(Finding::Fork {
                        origin: origin.clone(),
                        seq: parent_seq,
                    });
                    continue;
                }
            }
            if parent_seq < local_seq {
                self.plan.push_back(Range {
                    origin: origin.clone(),
                    from: parent_seq + 1,
                    to: local_seq,
                });
            }
        }
        // Our own origin, held by the parent but not by us at all.
        if !self.local.contains_key(&self.me)
            && let Some(&(parent_seq, _)) = vector.entries.get(&self.me)
            && parent_seq > 0
        {
            self.outcome.findings.push(Finding::LostTail {
                parent_seq,
                local_seq: 0,
            });
        }
        Ok(())
    }

    /// The seq where our own origin forked from the parent's copy, if it did.
    pub fn own_fork(&self) -> Option<u64> {
        self.outcome.findings.iter().find_map(|f| match f {
            Finding::Fork { origin, seq } if *origin == self.me => Some(*seq),
            _ => None,
        })
    }

    /// The lost-tail finding, if the parent holds more of our own origin.
    pub fn lost_tail(&self) -> Option<(u64, u64)> {
        self.outcome.findings.iter().find_map(|f| match f {
            Finding::LostTail {
                parent_seq,
                local_seq,
            } => Some((*parent_seq, *local_seq)),
            _ => None,
        })
    }

    fn drop_blocked(&mut self) {
        let blocked = &self.blocked;
        self.plan.retain(|r| !blocked.contains(&r.origin));
    }

    /// Starts filling a new batch, if the window has room and anything is
    /// left to send. Returns its number.
    pub fn begin_batch(&mut self) -> Option<u64> {
        if self.phase != Phase::Streaming || self.building.is_some() {
            return None;
        }
        self.drop_blocked();
        if self.in_flight.len() >= self.window || self.plan.is_empty() {
            return None;
        }
        let no = self.next_batch_no;
        self.next_batch_no += 1;
        self.building = Some((no, 0));
        Some(no)
    }

    /// The next range to put into the batch being filled.
    pub fn next_range(&self) -> Option<&Range> {
        self.building.and(self.plan.front())
    }

    /// Records that changes of `origin` up to `upto` went into the batch
    /// being filled (from the front of the plan).
    pub fn consumed(&mut self, origin: &str, upto: u64) {
        let Some((_, count)) = self.building.as_mut() else {
            return;
        };
        let Some(front) = self.plan.front_mut() else {
            return;
        };
        if front.origin != origin || upto < front.from || upto > front.to {
            debug_assert!(
                false,
                "consumed {origin} {upto} outside the plan front {front:?}"
            );
            return;
        }
        *count += (upto - front.from + 1) as u32;
        self.sent_upto.insert(origin.to_owned(), upto);
        if upto == front.to {
            self.plan.pop_front();
        } else {
            front.from = upto + 1;
        }
    }

    /// Counts the compressed size of a batch sent.
    pub fn add_wire_bytes(&mut self, bytes: usize) {
        self.outcome.wire_bytes += bytes as u64;
    }

    /// The batch being filled was sent (or is empty and dropped).
    pub fn end_batch(&mut self) {
        if let Some((batch_no, count)) = self.building.take()
            && count > 0
        {
            self.in_flight.push_back(InFlight { batch_no, count });
            self.outcome.batches += 1;
            self.outcome.sent += u64::from(count);
        }
    }

    /// Takes the parent's ack for the oldest batch in flight.
    pub fn on_ack(&mut self, ack: AckInfo) -> Result<(), ProtocolError> {
        if self.phase != Phase::Streaming {
            return Err(ProtocolError::Unexpected("an ack before the vector"));
        }
        let expected = self.in_flight.front().map(|f| f.batch_no);
        if expected != Some(ack.batch_no) {
            return Err(ProtocolError::AckOutOfOrder {
                got: ack.batch_no,
                expected,
            });
        }
        let carried = self.in_flight.front().map_or(0, |f| f.count);
        let counted = u64::from(ack.applied) + u64::from(ack.skipped);
        if counted > u64::from(carried) {
            return Err(ProtocolError::AckCounts {
                batch_no: ack.batch_no,
                counted,
                carried,
            });
        }
        for (origin, seq, _) in &ack.entries {
            let before = self.acked.get(origin).copied().unwrap_or(0);
            if *seq < before {
                return Err(ProtocolError::VectorRegressed {
                    origin: origin.clone(),
                    from: before,
                    to: *seq,
                });
            }
            let sent = self.sent_upto.get(origin).copied().unwrap_or(0).max(before);
            if *seq > sent {
                return Err(ProtocolError::AckBeyondSent {
                    origin: origin.clone(),
                    acked: *seq,
                    sent,
                });
            }
        }
        // Valid: only now change state.
        self.in_flight.pop_front();
        for (origin, seq, _) in &ack.entries {
            self.acked.insert(origin.clone(), *seq);
        }
        for held in &ack.held {
            self.blocked.insert(held.0.clone());
            if !self.outcome.held.iter().any(|h| h.0 == held.0) {
                self.outcome.held.push(held.clone());
            }
        }
        self.drop_blocked();
        self.outcome.applied += u64::from(ack.applied);
        self.outcome.skipped += u64::from(ack.skipped);
        self.outcome.quarantined += u64::from(ack.quarantined);
        Ok(())
    }

    /// Nothing left to send and nothing in flight.
    pub fn is_done(&self) -> bool {
        self.phase == Phase::Streaming
            && self.building.is_none()
            && self.in_flight.is_empty()
            && self.plan.iter().all(|r| self.blocked.contains(&r.origin))
    }

    /// The session stops here for its budget (see [`Outcome::truncated`]).
    pub fn mark_truncated(&mut self) {
        self.outcome.truncated = true;
    }

    /// Changes sent so far in this session.
    pub fn outcome_sent(&self) -> u64 {
        self.outcome.sent
    }

    /// Batches sent and not yet acked.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// How the session went, with the changes still not acked.
    pub fn outcome(&self) -> Outcome {
        let mut out = self.outcome.clone();
        out.parent_vector = self.acked.clone();
        out.pending = self
            .local
            .iter()
            .map(|(o, (seq, _))| seq.saturating_sub(self.acked.get(o).copied().unwrap_or(0)))
            .sum();
        out
    }
}

#[cfg(test)]
mod tests;
