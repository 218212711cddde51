//! The session machine against a simulated parent that uses the real
//! placement ([`crate::placement`]), over random interleavings of sends,
//! deliveries, acks, disconnects, replays and reorderings.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use proptest::prelude::*;

use super::*;
use crate::changelog::{Change, Head};
use crate::orgs::{OrgDirectory, OrgId};
use crate::placement;
use crate::session::fixtures::{CHILD, ChildLogs, ORIGINS, roster};

/// A change's record as stored: the simulated parent does not decode it.
fn record(n: u64) -> Bytes {
    Bytes::from(format!("roster entry {n}"))
}

/// A parent holding what it accepted, counting every application.
struct Parent {
    orgs: OrgDirectory,
    sender: OrgId,
    heads: crate::orgs::OrgMap<Head>,
    logs: BTreeMap<String, Vec<Hash>>,
    applied: HashMap<(String, u64), u32>,
}

impl Parent {
    fn new() -> Parent {
        let orgs = OrgDirectory::builtin();
        let sender = orgs.get(CHILD).unwrap();
        Parent {
            orgs,
            sender,
            heads: Default::default(),
            logs: BTreeMap::new(),
            applied: HashMap::new(),
        }
    }

    fn vector(&self) -> ParentVector {
        ParentVector {
            incarnation: vec![1],
            entries: self
                .logs
                .iter()
                .filter_map(|(o, l)| l.last().map(|h| (o.clone(), (l.len() as u64, *h))))
                .collect(),
        }
    }

    fn receive(&mut self, batch_no: u64, changes: Vec<Change>) -> AckInfo {
        let verified = changes
            .into_iter()
            .map(|c| placement::check(&self.orgs, self.sender, c, Bytes::new(), Ok(roster())))
            .collect::<Result<Vec<_>, _>>()
            .expect("the child sends well-formed changes");
        let logs = &self.logs;
        let placed = placement::place(
            verified,
            &mut self.heads,
            |o, s| logs.get(o)?.get(s.checked_sub(1)? as usize).copied(),
            0,
        );
        for (_, change, _, _) in &placed.accepted {
            let log = self.logs.entry(change.origin.clone()).or_default();
            assert_eq!(change.seq, log.len() as u64 + 1, "applied out of order");
            log.push(change.hash);
            *self
                .applied
                .entry((change.origin.clone(), change.seq))
                .or_default() += 1;
        }
        AckInfo {
            batch_no,
            applied: placed.accepted.len() as u32,
            skipped: placed.skipped,
            quarantined: placed.quarantined(),
            entries: placed
                .touched
                .iter()
                .map(|(o, (s, h))| (o.clone(), *s, *h))
                .collect(),
            held: placed
                .held
                .iter()
                .map(|h| (h.origin.clone(), h.seq, h.reason.to_string()))
                .collect(),
        }
    }
}

/// Fills one batch of at most `max` changes; returns it (number, changes).
fn fill(session: &mut ChildSession, logs: &ChildLogs, max: u64) -> Option<(u64, Vec<Change>)> {
    let no = session.begin_batch()?;
    let mut out = Vec::new();
    while (out.len() as u64) < max {
        let Some(r) = session.next_range().cloned() else {
            break;
        };
        let upto = r.to.min(r.from + (max - out.len() as u64) - 1);
        for seq in r.from..=upto {
            out.push(logs.change(&r.origin, seq));
        }
        session.consumed(&r.origin, upto);
    }
    session.end_batch();
    Some((no, out))
}

fn start(logs: &ChildLogs, parent: &Parent, window: usize) -> ChildSession {
    let mut s = ChildSession::new(CHILD, logs.heads(), window);
    s.on_vector(parent.vector(), |o, q| logs.hash_at(o, q))
        .unwrap();
    s
}

/// Runs a clean session to completion, everything delivered in order.
fn clean_session(logs: &ChildLogs, parent: &mut Parent) -> Outcome {
    let mut s = start(logs, parent, 4);
    let mut wire: VecDeque<(u64, Vec<Change>)> = VecDeque::new();
    loop {
        while let Some(b) = fill(&mut s, logs, 5) {
            wire.push_back(b);
        }
        let Some((no, changes)) = wire.pop_front() else {
            break;
        };
        let ack = parent.receive(no, changes);
        s.on_ack(ack).unwrap();
    }
    assert!(s.is_done());
    s.outcome()
}

fn assert_converged(logs: &ChildLogs, parent: &Parent) {
    for (origin, log) in &logs.logs {
        let held: Vec<Hash> = log.iter().map(|c| c.hash).collect();
        assert_eq!(
            parent.logs.get(origin),
            Some(&held),
            "parent's log of {origin}"
        );
    }
    for (key, n) in &parent.applied {
        assert_eq!(*n, 1, "{key:?} applied {n} times");
    }
}

#[test]
fn first_sync_and_an_up_to_date_child() {
    let mut logs = ChildLogs::default();
    logs.write("410100", 7);
    logs.write("410102", 12);
    let mut parent = Parent::new();
    let out = clean_session(&logs, &mut parent);
    assert!(out.complete(), "{out:?}");
    assert_eq!((out.sent, out.applied, out.skipped), (19, 19, 0));
    assert_eq!(out.batches, 4);
    assert_converged(&logs, &parent);
    // Up to date: the vector alone ends the session.
    let mut s = start(&logs, &parent, 4);
    assert_eq!(s.begin_batch(), None);
    assert!(s.is_done());
    assert!(s.outcome().complete());
}

#[test]
fn lost_tail_fork_and_parent_ahead_are_found() {
    let mut logs = ChildLogs::default();
    logs.write("410100", 5);
    logs.write("410102", 5);
    let mut parent = Parent::new();
    clean_session(&logs, &mut parent);

    // The child restored from an older copy: fewer own changes than the parent.
    let mut old = ChildLogs::default();
    old.write("410100", 3);
    old.write("410102", 2);
    let s = start(&old, &parent, 4);
    assert_eq!(s.lost_tail(), Some((5, 3)));
    let out = s.outcome();
    assert!(!out.complete());
    assert!(out.findings.contains(&Finding::ParentAhead {
        origin: "410102".into(),
        parent_seq: 5,
        local_seq: 2
    }));

    // After the restore the child wrote something else at seq 4 and 5: a fork.
    let mut forked = old.clone();
    forked.logs.get_mut("410100").unwrap().truncate(3);
    let log = forked.logs.get_mut("410100").unwrap();
    for seq in 4..=6 {
        let prev = log.last().unwrap().hash;
        log.push(Change::new(
            "410100".into(),
            seq,
            prev,
            999,
            record(1000 + seq),
        ));
    }
    forked.write("410102", 3);
    let mut s = start(&forked, &parent, 4);
    assert!(s.outcome().findings.contains(&Finding::Fork {
        origin: "410100".into(),
        seq: 5
    }));
    // Nothing of the forked origin is sent.
    while let Some((_, changes)) = fill(&mut s, &forked, 10) {
        for c in changes {
            assert_ne!(c.origin, "410100");
        }
    }
}

#[test]
fn acks_are_checked() {
    let mut logs = ChildLogs::default();
    logs.write("410102", 20);
    let parent = Parent::new();
    let mut s = start(&logs, &parent, 2);
    let (b1, _) = fill(&mut s, &logs, 5).unwrap();
    let (b2, _) = fill(&mut s, &logs, 5).unwrap();
    assert!(fill(&mut s, &logs, 5).is_none(), "window of 2");
    let ack = |no, seq| AckInfo {
        batch_no: no,
        applied: 5,
        entries: vec![("410102".into(), seq, [0; 32])],
        ..AckInfo::default()
    };
    assert!(matches!(
        s.on_ack(ack(b2, 10)),
        Err(ProtocolError::AckOutOfOrder { .. })
    ));
    assert!(matches!(
        s.on_ack(ack(b1, 11)),
        Err(ProtocolError::AckBeyondSent { .. })
    ));
    s.on_ack(ack(b1, 5)).unwrap();
    assert!(matches!(
        s.on_ack(ack(b2, 4)),
        Err(ProtocolError::VectorRegressed { .. })
    ));
    assert!(matches!(
        s.on_vector(ParentVector::default(), |_, _| None),
        Err(ProtocolError::Unexpected(_))
    ));
}

#[test]
fn a_held_origin_stops_and_others_flow() {
    let mut logs = ChildLogs::default();
    logs.write("410102", 10);
    logs.write("410103", 10);
    let parent = Parent::new();
    let mut s = start(&logs, &parent, 8);
    let (b1, _) = fill(&mut s, &logs, 4).unwrap();
    s.on_ack(AckInfo {
        batch_no: b1,
        applied: 0,
        quarantined: 1,
        entries: vec![("410102".into(), 0, [0; 32])],
        held: vec![("410102".into(), 1, "quarantined: bad".into())],
        ..AckInfo::default()
    })
    .unwrap();
    while let Some((_, changes)) = fill(&mut s, &logs, 4) {
        for c in changes {
            assert_eq!(c.origin, "410103");
        }
    }
    let out = s.outcome();
    assert_eq!(out.held.len(), 1);
    assert!(!out.complete());
}

/// One step of a faulty world.
#[derive(Debug, Clone)]
enum Op {
    /// The child fills and sends a batch (if the window allows).
    Send,
    /// The parent receives a batch from the wire: the oldest, or another one
    /// (reordering).
    Deliver { pick: usize },
    /// The parent receives a copy of a batch it already processed (a replay).
    Replay { pick: usize },
    /// The child receives the oldest ack.
    Ack,
    /// The link breaks: everything in flight is lost; a new session starts.
    Disconnect,
    /// New changes are written at the child (its own, or a forwarded origin's).
    Write { origin: usize, n: u64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Send),
        4 => (0usize..4).prop_map(|pick| Op::Deliver { pick }),
        1 => (0usize..8).prop_map(|pick| Op::Replay { pick }),
        4 => Just(Op::Ack),
        1 => Just(Op::Disconnect),
        1 => ((0usize..3), (1u64..6)).prop_map(|(origin, n)| Op::Write { origin, n }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

    /// Whatever the link does, a final clean session leaves the parent with
    /// exactly the child's logs, every change applied exactly once, never out
    /// of order, and the session machine never accepts a bad ack.
    #[test]
    fn any_interleaving_converges_exactly_once(ops in proptest::collection::vec(op(), 1..120), window in 1usize..5) {
        let mut logs = ChildLogs::default();
        logs.write("410100", 4);
        logs.write("410102", 9);
        let mut parent = Parent::new();
        let mut session = start(&logs, &parent, window);
        let mut wire: Vec<(u64, Vec<Change>)> = Vec::new();
        let mut delivered: Vec<(u64, Vec<Change>)> = Vec::new();
        let mut acks: VecDeque<AckInfo> = VecDeque::new();
        for op in ops {
            match op {
                Op::Send => {
                    if let Some(b) = fill(&mut session, &logs, 3) {
                        wire.push(b);
                    }
                }
                Op::Deliver { pick } => {
                    if !wire.is_empty() {
                        let i = if pick == 0 { 0 } else { pick % wire.len() };
                        let (no, changes) = wire.remove(i);
                        acks.push_back(parent.receive(no, changes.clone()));
                        delivered.push((no, changes));
                    }
                }
                Op::Replay { pick } => {
                    if !delivered.is_empty() {
                        let (no, changes) = delivered[pick % delivered.len()].clone();
                        acks.push_back(parent.receive(no, changes));
                    }
                }
                Op::Ack => {
                    if let Some(ack) = acks.pop_front() {
                        // A protocol error ends the session, like a broken link.
                        if session.on_ack(ack).is_err() {
                            wire.clear();
                            acks.clear();
                            session = start(&logs, &parent, window);
                        }
                    }
                }
                Op::Disconnect => {
                    wire.clear();
                    acks.clear();
                    session = start(&logs, &parent, window);
                }
                Op::Write { origin, n } => {
                    // New changes join the next session's plan.
                    logs.write(ORIGINS[origin], n);
                }
            }
            if session.is_done() {
                session = start(&logs, &parent, window);
            }
            // Nothing is ever applied twice, even mid-way.
            for (key, n) in &parent.applied {
                prop_assert_eq!(*n, 1, "{:?}", key);
            }
        }
        let out = clean_session(&logs, &mut parent);
        prop_assert!(out.complete(), "{:?}", out);
        assert_converged(&logs, &parent);
    }
}
