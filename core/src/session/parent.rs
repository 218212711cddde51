//! The parent's side of one sync session, as a state machine without I/O.
//!
//! The hub's transport (`lunxun_hub::service`) reads the child's messages,
//! decodes and checks each batch ([`crate::placement::check`]), runs the
//! node's durable append ([`crate::placement::place`] under its write lock),
//! and writes acks; this module decides everything else:
//!
//! - admission: at most [`CHILD_SESSIONS_MAX`] sessions of one child and
//!   [`SESSIONS_MAX`] in all ([`Admissions`]);
//! - the change budget: at most so many changes in one session, counted as
//!   each batch claims them, before it is decoded ([`ChangeBudget`]);
//! - group commit: the verified batches waiting are appended together, at
//!   most [`GROUP_BATCHES_MAX`] at a time, one group at a time, in the order
//!   they arrived; nothing that arrives after Done or after a refusal is
//!   appended, while the batches before it are;
//! - acks: one per batch, in batch order, and only once the machine was told
//!   its group's durable append completed;
//! - held origins and the session's tally, and what the child's record says
//!   when it ends ([`Outcome::verdict`]).
//!
//! A session that breaks is dropped: a group whose append did not complete
//! is never acked, and the next session starts from the durable vector.

use std::collections::{BTreeMap, VecDeque};

use crate::orgs::OrgId;
use crate::placement::{Checked, Held, Placed, Unknown};

/// Concurrent sessions (sync or restore) of one child, at most: a stolen or
/// broken child cannot tie up the parent.
pub const CHILD_SESSIONS_MAX: usize = 2;
/// Concurrent sessions of all children, at most.
pub const SESSIONS_MAX: usize = 512;
/// Batches that arrived together and are appended with one flush, at most.
pub const GROUP_BATCHES_MAX: usize = 16;
/// What the child's record says after a session that ended with origins held back.
pub const HELD_MESSAGE: &str = "some origins are held back (see HELD in status)";

/// The sessions open, per child and in all.
#[derive(Debug, Default)]
pub struct Admissions {
    open: BTreeMap<OrgId, usize>,
    total: usize,
}

/// A session refused for want of a slot: the child already has `open`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy {
    pub open: usize,
}

impl Admissions {
    /// Takes a session slot for `child`, if it and the parent have room.
    pub fn admit(&mut self, child: OrgId) -> Result<(), Busy> {
        let open = self.open(child);
        if open >= CHILD_SESSIONS_MAX || self.total >= SESSIONS_MAX {
            return Err(Busy { open });
        }
        *self.open.entry(child).or_default() += 1;
        self.total += 1;
        Ok(())
    }

    /// Gives back a slot [`Admissions::admit`] took.
    pub fn release(&mut self, child: OrgId) {
        let Some(n) = self.open.get_mut(&child) else {
            debug_assert!(false, "released a slot of {child:?} never taken");
            return;
        };
        *n -= 1;
        if *n == 0 {
            self.open.remove(&child);
        }
        self.total -= 1;
    }

    /// Sessions of `child` open.
    pub fn open(&self, child: OrgId) -> usize {
        self.open.get(&child).copied().unwrap_or(0)
    }

    /// Sessions open in all.
    pub fn total(&self) -> usize {
        self.total
    }
}

/// More changes than one session may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("more than {max} changes in one session")]
pub struct OverBudget {
    pub max: u64,
}

/// The changes one session may still carry.
#[derive(Debug, Clone)]
pub struct ChangeBudget {
    max: u64,
    used: u64,
}

impl ChangeBudget {
    /// A budget of `max` changes (a child with more continues in the next
    /// session: it stops at the same count on its side).
    pub fn new(max: u64) -> ChangeBudget {
        ChangeBudget { max, used: 0 }
    }

    /// Counts a batch of `count` changes (as it claims; decoding checks the
    /// claim). Refused, and nothing counted, if it does not fit.
    pub fn take(&mut self, count: u32) -> Result<(), OverBudget> {
        let after = self.used + u64::from(count);
        if after > self.max {
            return Err(OverBudget { max: self.max });
        }
        self.used = after;
        Ok(())
    }

    /// Changes counted so far.
    pub fn used(&self) -> u64 {
        self.used
    }
}

/// Verified batches to append together, in arrival order.
#[derive(Debug)]
pub struct Group {
    /// The batches' numbers, as the child gave them.
    pub batch_nos: Vec<u64>,
    /// The batches, for the node's append.
    pub batches: Vec<Checked>,
}

/// One batch's acknowledgement: its batch number and what its placement did
/// (the changes durably appended; `accepted` is drained by the engine).
#[derive(Debug)]
pub struct Ack {
    pub batch_no: u64,
    pub placed: Placed,
}

/// One session of a child with its parent. `F` is the transport's failure:
/// a refusal of the child's input, a broken link, a failed store.
#[derive(Debug)]
pub struct ParentSession<F> {
    /// Verified batches not yet handed out for an append, each with its
    /// changes of unknown origins (held, not appended).
    queued: VecDeque<(u64, Checked, Unknown)>,
    /// How the child's input ended (Done, with what it still holds, or a
    /// refusal), once it did: nothing after it is appended.
    input_end: Option<Result<u64, F>>,
    /// The session failed on our side of the input: it ends now.
    failure: Option<F>,
    /// The batch numbers of the group being appended, not yet durable, with
    /// each batch's unknown origins.
    appending: Option<Vec<(u64, Unknown)>>,
    tally: Tally,
}

/// What a session did so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Batches acked.
    pub batches: u64,
    /// Changes durably appended.
    pub applied: u64,
    /// Changes already held (resends, replays).
    pub skipped: u64,
    /// Changes quarantined.
    pub quarantined: u64,
    /// Origins held back, at their first held change (the first reason seen).
    pub held: Vec<Held>,
}

impl<F> Default for ParentSession<F> {
    fn default() -> Self {
        ParentSession::new()
    }
}

impl<F> ParentSession<F> {
    pub fn new() -> ParentSession<F> {
        ParentSession {
            queued: VecDeque::new(),
            input_end: None,
            failure: None,
            appending: None,
            tally: Tally::default(),
        }
    }

    fn input_open(&self) -> bool {
        self.input_end.is_none() && self.failure.is_none()
    }

    /// A verified batch arrived. Returns false if it is ignored: it came
    /// after the input's end, or the session failed.
    pub fn on_batch(&mut self, batch_no: u64, verified: Checked) -> bool {
        self.on_batch_holding(batch_no, verified, Unknown::default())
    }

    /// A verified batch arrived with changes of origins the directory does
    /// not know: those are held, reported in the batch's ack with its
    /// placement, and never appended.
    pub fn on_batch_holding(&mut self, batch_no: u64, verified: Checked, unknown: Unknown) -> bool {
        if !self.input_open() {
            return false;
        }
        self.queued.push_back((batch_no, verified, unknown));
        true
    }

    /// The child said Done, holding `pending` changes it did not send.
    pub fn on_done(&mut self, pending: u64) {
        if self.input_open() {
            self.input_end = Some(Ok(pending));
        }
    }

    /// The child's input ended with a failure (a refused batch, a broken or
    /// idle stream): the batches before it are still appended and acked.
    pub fn on_refusal(&mut self, failure: F) {
        if self.input_open() {
            self.input_end = Some(Err(failure));
        }
    }

    /// The session failed on the applying side (the store, the acks' link, a
    /// shutdown): it ends now; a group being appended is never acked.
    pub fn fail(&mut self, failure: F) {
        if self.failure.is_none() && !self.is_finished() {
            self.failure = Some(failure);
            self.appending = None;
            self.queued.clear();
        }
    }

    /// Whether the transport should hand over more of the child's input for
    /// the next group: the input goes on and the group has room.
    pub fn wants_input(&self) -> bool {
        self.input_open() && self.queued.len() < GROUP_BATCHES_MAX
    }

    /// The next group to append durably, if no group is being appended and
    /// batches are waiting: at most [`GROUP_BATCHES_MAX`] of them, in order.
    pub fn next_group(&mut self) -> Option<Group> {
        if self.failure.is_some() || self.appending.is_some() || self.queued.is_empty() {
            return None;
        }
        let n = self.queued.len().min(GROUP_BATCHES_MAX);
        let mut batch_nos = Vec::with_capacity(n);
        let mut batches = Vec::with_capacity(n);
        let mut appending = Vec::with_capacity(n);
        for (batch_no, verified, unknown) in self.queued.drain(..n) {
            batch_nos.push(batch_no);
            batches.push(verified);
            appending.push((batch_no, unknown));
        }
        self.appending = Some(appending);
        Some(Group { batch_nos, batches })
    }

    /// The group's durable append completed, with one placement per batch:
    /// the acks to send, in batch order.
    pub fn on_durable(&mut self, placed: Vec<Placed>) -> Vec<Ack> {
        let Some(batch_nos) = self.appending.take() else {
            debug_assert!(self.failure.is_some(), "a durable append of no group");
            return Vec::new();
        };
        assert_eq!(
            batch_nos.len(),
            placed.len(),
            "one placement per batch of the group"
        );
        batch_nos
            .into_iter()
            .zip(placed)
            .map(|((batch_no, unknown), mut placed)| {
                unknown.add_to(&mut placed);
                self.count(&placed);
                Ack { batch_no, placed }
            })
            .collect()
    }

    fn count(&mut self, placed: &Placed) {
        let t = &mut self.tally;
        t.batches += 1;
        t.applied += u64::from(placed.applied);
        t.skipped += u64::from(placed.skipped);
        t.quarantined += u64::from(placed.quarantined());
        for h in &placed.held {
            if !t.held.iter().any(|x| x.origin == h.origin) {
                t.held.push(h.clone());
            }
        }
    }

    /// Whether a group is being appended.
    pub fn is_appending(&self) -> bool {
        self.appending.is_some()
    }

    /// The session is over: it failed, or its input ended and everything
    /// before the end was appended and acked.
    pub fn is_finished(&self) -> bool {
        self.failure.is_some()
            || (self.input_end.is_some() && self.queued.is_empty() && self.appending.is_none())
    }

    /// What the session did so far.
    pub fn tally(&self) -> &Tally {
        &self.tally
    }

    /// Ends the session: how it went. If it had not ended by itself, it was
    /// cut off with `unfinished()`.
    pub fn finish(self, unfinished: impl FnOnce() -> F) -> Outcome<F> {
        let finished = self.is_finished();
        let end = match (self.failure, self.input_end) {
            (Some(f), _) => Err(f),
            (None, Some(end)) if finished => end,
            (None, _) => Err(unfinished()),
        };
        Outcome {
            tally: self.tally,
            end,
        }
    }
}

/// How a session ended.
#[derive(Debug)]
pub struct Outcome<F> {
    pub tally: Tally,
    /// Done, with the changes the child still holds, or how it failed.
    pub end: Result<u64, F>,
}

/// What the child's record should say after a session.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict<'a, F> {
    /// The child sent everything it holds and nothing is held back.
    Success,
    /// Done, but some origins are held back: the record's last error says so
    /// ([`HELD_MESSAGE`]).
    Held,
    /// Done, but the child holds more (it stopped at its budget): neither a
    /// success nor an error.
    Unfinished { pending: u64 },
    /// The session failed: the record's last error.
    Failed(&'a F),
}

impl<F> Outcome<F> {
    pub fn verdict(&self) -> Verdict<'_, F> {
        match &self.end {
            Err(f) => Verdict::Failed(f),
            Ok(_) if !self.tally.held.is_empty() => Verdict::Held,
            Ok(0) => Verdict::Success,
            Ok(pending) => Verdict::Unfinished { pending: *pending },
        }
    }
}

#[cfg(test)]
mod tests;
