//! The parent's session machine against a simulated durable store that uses
//! the real placement ([`crate::placement`]) and the real child machine
//! ([`crate::session::child`]), over random interleavings of sends,
//! deliveries, replays, reorderings, appends, flushes, acks, disconnects,
//! crashes that lose what is not durable, and two sessions of one child
//! racing on the same heads. A checker asserts, at every step, that every
//! change is applied exactly once and in order, and that no ack covers a
//! change that is not durable; a broken driver that acks before the append
//! is durable must make the same checker fail.

use std::collections::{BTreeMap, HashMap, VecDeque};

use bytes::Bytes;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;

use super::*;
use crate::changelog::{Change, GENESIS, Hash, Head};
use crate::orgs::OrgDirectory;
use crate::placement;
use crate::session::child::{AckInfo, ChildSession, ParentVector};
use crate::session::fixtures::{CHILD, ChildLogs, ORIGINS, roster};

/// Changes one simulated session may carry: small, so budgets run out.
const BUDGET: u64 = 12;
/// Changes per batch.
const BATCH: u64 = 3;
/// The child's window.
const WINDOW: usize = 3;

/// What the checker found wrong.
type Violation = String;

/// The org directory, built once: building it is most of a case's time.
fn orgs() -> &'static OrgDirectory {
    static ORGS: std::sync::OnceLock<OrgDirectory> = std::sync::OnceLock::new();
    ORGS.get_or_init(OrgDirectory::builtin)
}

/// An append under way: what it writes, and the placements to ack once it
/// is durable (none if a broken driver acked them already).
struct Pending {
    session: u64,
    entries: Vec<(String, u64, Hash, Hash)>,
    placed: Vec<Placed>,
}

/// The parent's store: durable logs, and appends not yet durable.
#[derive(Default)]
struct Store {
    durable: BTreeMap<String, Vec<Hash>>,
    /// Appends under way, oldest first: they become durable in this order,
    /// and a crash loses them all.
    pending: VecDeque<Pending>,
    /// The heads placement sees: the durable logs and the appends under way
    /// (the node places and appends under one write lock).
    heads: crate::orgs::OrgMap<Head>,
    /// Durable applications per change.
    applied: HashMap<(String, u64), u32>,
}

impl Store {
    fn durable_seq(&self, origin: &str) -> u64 {
        self.durable.get(origin).map_or(0, |l| l.len() as u64)
    }

    fn vector(&self) -> ParentVector {
        ParentVector {
            incarnation: vec![1],
            entries: self
                .durable
                .iter()
                .filter_map(|(o, l)| l.last().map(|h| (o.clone(), (l.len() as u64, *h))))
                .collect(),
        }
    }

    /// The hash written at `seq`, durable or under way.
    fn hash_at(&self, origin: &str, seq: u64) -> Option<Hash> {
        if let Some(h) = self
            .durable
            .get(origin)
            .and_then(|l| l.get(seq.checked_sub(1)? as usize))
        {
            return Some(*h);
        }
        self.pending
            .iter()
            .flat_map(|p| &p.entries)
            .find(|(o, s, _, _)| o == origin && *s == seq)
            .map(|(_, _, h, _)| *h)
    }

    /// Places a group against the heads and starts its append.
    fn begin(&mut self, session: u64, batches: Vec<Checked>) -> Vec<Placed> {
        let mut heads = std::mem::take(&mut self.heads);
        let mut entries = Vec::new();
        let placed: Vec<Placed> = batches
            .into_iter()
            .map(|batch| {
                let mut p =
                    placement::place(batch.changes, &mut heads, |o, s| self.hash_at(o, s), 0);
                for (_, change, _, _) in p.accepted.drain(..) {
                    entries.push((change.origin, change.seq, change.hash, change.prev_hash));
                    p.applied += 1;
                }
                p
            })
            .collect();
        self.heads = heads;
        self.pending.push_back(Pending {
            session,
            entries,
            placed: Vec::new(),
        });
        placed
    }

    /// The oldest append under way becomes durable.
    fn flush(&mut self) -> Result<Option<(u64, Vec<Placed>)>, Violation> {
        let Some(p) = self.pending.pop_front() else {
            return Ok(None);
        };
        for (origin, seq, hash, prev) in p.entries {
            let log = self.durable.entry(origin.clone()).or_default();
            if seq != log.len() as u64 + 1 {
                return Err(format!(
                    "{origin} seq {seq} appended after {}: a gap or out of order",
                    log.len()
                ));
            }
            if prev != log.last().copied().unwrap_or(GENESIS) {
                return Err(format!("{origin} seq {seq} does not chain"));
            }
            log.push(hash);
            let n = self.applied.entry((origin.clone(), seq)).or_default();
            *n += 1;
            if *n > 1 {
                return Err(format!("{origin} seq {seq} applied {n} times"));
            }
        }
        Ok(Some((p.session, p.placed)))
    }

    /// A crash: what is not durable is lost.
    fn crash(&mut self, orgs: &OrgDirectory) {
        self.pending.clear();
        self.heads = self
            .durable
            .iter()
            .filter_map(|(o, l)| {
                let hash = *l.last()?;
                let head = Head {
                    seq: l.len() as u64,
                    hash,
                    written_at_ms: 0,
                    received_at_ms: 0,
                };
                Some((orgs.get(o)?, head))
            })
            .collect();
    }
}

/// One session: the child's machine, the parent's, and the link between.
struct Sim {
    id: u64,
    child: ChildSession,
    parent: ParentSession<String>,
    budget: ChangeBudget,
    /// Batches on the wire to the parent.
    up: Vec<(u64, Vec<Change>)>,
    /// Acks on the wire to the child.
    down: VecDeque<AckInfo>,
    /// Batches the parent's machine took, not yet acked, in order.
    fed: VecDeque<u64>,
}

/// One step of a faulty world.
#[derive(Debug, Clone)]
enum Op {
    /// A new session of the child (refused when it has too many).
    Start,
    /// The child fills and sends a batch, if its window and budget allow.
    Send { s: usize },
    /// The parent reads a batch: the oldest on the wire, or another one.
    Deliver { s: usize, pick: usize },
    /// The parent reads a copy of a batch delivered before, in any session.
    Replay { s: usize, pick: usize },
    /// The child says Done.
    Done { s: usize },
    /// The driver hands the session's next group to the store.
    Append { s: usize },
    /// The oldest append under way becomes durable.
    Flush,
    /// The child reads the oldest ack.
    Ack { s: usize },
    /// The link of one session breaks.
    Disconnect { s: usize },
    /// The parent crashes: every session ends, appends under way are lost.
    Crash,
    /// The child writes new changes.
    Write { origin: usize, n: u64 },
}

fn op() -> impl Strategy<Value = Op> {
    let s = 0usize..2;
    prop_oneof![
        10 => Just(Op::Start),
        12 => s.clone().prop_map(|s| Op::Send { s }),
        12 => (s.clone(), 0usize..6).prop_map(|(s, pick)| Op::Deliver { s, pick: pick.saturating_sub(4) }),
        2 => (s.clone(), 0usize..16).prop_map(|(s, pick)| Op::Replay { s, pick }),
        4 => s.clone().prop_map(|s| Op::Done { s }),
        10 => s.clone().prop_map(|s| Op::Append { s }),
        10 => Just(Op::Flush),
        12 => s.clone().prop_map(|s| Op::Ack { s }),
        1 => s.prop_map(|s| Op::Disconnect { s }),
        1 => Just(Op::Crash),
        3 => ((0usize..3), (1u64..5)).prop_map(|(origin, n)| Op::Write { origin, n }),
    ]
}

/// The world: one child, its parent's store, the sessions between them.
struct World {
    orgs: &'static OrgDirectory,
    sender: OrgId,
    logs: ChildLogs,
    store: Store,
    admissions: Admissions,
    sessions: Vec<Sim>,
    next_id: u64,
    /// Every batch the parent ever read, for replays.
    history: Vec<(u64, Vec<Change>)>,
    /// The broken driver: acks a group as soon as it is placed, before its
    /// append is durable.
    ack_early: bool,
}

impl World {
    fn new(ack_early: bool) -> World {
        let orgs = orgs();
        let sender = orgs.get(CHILD).unwrap();
        let mut logs = ChildLogs::default();
        logs.write("410100", 4);
        logs.write("410102", 9);
        World {
            orgs,
            sender,
            logs,
            store: Store::default(),
            admissions: Admissions::default(),
            sessions: Vec::new(),
            next_id: 1,
            history: Vec::new(),
            ack_early,
        }
    }

    fn start(&mut self) -> Result<Option<usize>, Violation> {
        if let Err(busy) = self.admissions.admit(self.sender) {
            if busy.open != CHILD_SESSIONS_MAX || self.sessions.len() != CHILD_SESSIONS_MAX {
                return Err(format!(
                    "refused with {} sessions open",
                    self.sessions.len()
                ));
            }
            return Ok(None);
        }
        let mut child = ChildSession::new(CHILD, self.logs.heads(), WINDOW);
        let logs = &self.logs;
        child
            .on_vector(self.store.vector(), |o, s| logs.hash_at(o, s))
            .map_err(|e| format!("the child refused the durable vector: {e}"))?;
        if let Some(f) = child.outcome().findings.first() {
            return Err(format!("the durable vector made the child find {f:?}"));
        }
        self.sessions.push(Sim {
            id: self.next_id,
            child,
            parent: ParentSession::new(),
            budget: ChangeBudget::new(BUDGET),
            up: Vec::new(),
            down: VecDeque::new(),
            fed: VecDeque::new(),
        });
        self.next_id += 1;
        Ok(Some(self.sessions.len() - 1))
    }

    /// The child of session `s` fills a batch within its window and budget.
    fn send(&mut self, s: usize) -> bool {
        let sim = &mut self.sessions[s];
        if sim.child.outcome_sent() + BATCH > BUDGET {
            return false;
        }
        let Some(no) = sim.child.begin_batch() else {
            return false;
        };
        let mut out = Vec::new();
        while (out.len() as u64) < BATCH {
            let Some(r) = sim.child.next_range().cloned() else {
                break;
            };
            let upto = r.to.min(r.from + (BATCH - out.len() as u64) - 1);
            for seq in r.from..=upto {
                out.push(self.logs.logs[&r.origin][seq as usize - 1].clone());
            }
            sim.child.consumed(&r.origin, upto);
        }
        sim.child.end_batch();
        sim.up.push((no, out));
        true
    }

    /// The parent of session `s` reads a batch: the budget, the check, the
    /// machine. Returns false if the driver would not read yet.
    fn feed(&mut self, s: usize, no: u64, changes: Vec<Change>) -> Result<bool, Violation> {
        let sim = &mut self.sessions[s];
        if !sim.parent.wants_input() {
            return Ok(false);
        }
        self.history.push((no, changes.clone()));
        if let Err(e) = sim.budget.take(changes.len() as u32) {
            sim.parent.on_refusal(e.to_string());
            return Ok(true);
        }
        let verified = changes
            .into_iter()
            .map(|c| placement::check(self.orgs, self.sender, c, Bytes::new(), Ok(roster())))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("a change the child wrote was refused: {e}"))?;
        if sim.parent.on_batch(no, verified.into()) {
            sim.fed.push_back(no);
        }
        Ok(true)
    }

    /// Acks the machine emitted for session `s`: checked, then sent.
    fn emit(&mut self, s: usize, acks: Vec<Ack>) -> Result<(), Violation> {
        let sim = &mut self.sessions[s];
        for ack in acks {
            if sim.fed.pop_front() != Some(ack.batch_no) {
                return Err(format!("ack for batch {} out of order", ack.batch_no));
            }
            for (origin, (seq, _)) in &ack.placed.touched {
                let durable = self.store.durable_seq(origin);
                if *seq > durable {
                    return Err(format!(
                        "ack for batch {} covers {origin} up to {seq}, durable only up to {durable}",
                        ack.batch_no
                    ));
                }
            }
            let p = &ack.placed;
            sim.down.push_back(AckInfo {
                batch_no: ack.batch_no,
                applied: p.applied,
                skipped: p.skipped,
                quarantined: p.quarantined(),
                entries: p
                    .touched
                    .iter()
                    .map(|(o, (seq, h))| (o.clone(), *seq, *h))
                    .collect(),
                held: p
                    .held
                    .iter()
                    .map(|h| (h.origin.clone(), h.seq, h.reason.to_string()))
                    .collect(),
            });
        }
        Ok(())
    }

    fn append(&mut self, s: usize) -> Result<bool, Violation> {
        let sim = &mut self.sessions[s];
        let Some(group) = sim.parent.next_group() else {
            return Ok(false);
        };
        if group.batches.len() > GROUP_BATCHES_MAX || group.batch_nos.len() != group.batches.len() {
            return Err(format!("a group of {} batches", group.batches.len()));
        }
        let id = sim.id;
        let placed = self.store.begin(id, group.batches);
        if self.ack_early {
            let acks = self.sessions[s].parent.on_durable(placed);
            self.emit(s, acks)?;
        } else if let Some(p) = self.store.pending.back_mut() {
            p.placed = placed;
        }
        Ok(true)
    }

    fn flush(&mut self) -> Result<bool, Violation> {
        let Some((id, placed)) = self.store.flush()? else {
            return Ok(false);
        };
        if self.ack_early {
            return Ok(true);
        }
        if let Some(s) = self.sessions.iter().position(|x| x.id == id) {
            let acks = self.sessions[s].parent.on_durable(placed);
            self.emit(s, acks)?;
        }
        Ok(true)
    }

    fn drop_session(&mut self, s: usize) {
        let mut sim = self.sessions.remove(s);
        sim.parent.fail("the link broke".into());
        self.admissions.release(self.sender);
    }

    /// Ends the sessions whose machine finished, checking their outcome.
    fn reap(&mut self) -> Result<(), Violation> {
        while let Some(s) = self.sessions.iter().position(|x| x.parent.is_finished()) {
            let sim = self.sessions.remove(s);
            self.admissions.release(self.sender);
            let unacked = sim.fed.len();
            // Batches taken and never acked: only a failure may leave them.
            if sim.parent.finish(|| "cut".into()).end.is_ok() && unacked > 0 {
                return Err(format!(
                    "a session ended well with {unacked} batches never acked"
                ));
            }
        }
        Ok(())
    }

    fn step(&mut self, op: Op) -> Result<(), Violation> {
        let pick = |s: usize, n: usize| (n > 0).then(|| s % n);
        let n = self.sessions.len();
        match op {
            Op::Start => {
                self.start()?;
            }
            Op::Send { s } => {
                if let Some(s) = pick(s, n) {
                    self.send(s);
                }
            }
            Op::Deliver { s, pick: at } => {
                if let Some(s) = pick(s, n) {
                    let up = &mut self.sessions[s].up;
                    if !up.is_empty() {
                        let i = at % up.len();
                        let (no, changes) = up.remove(i);
                        if !self.feed(s, no, changes.clone())? {
                            self.sessions[s].up.insert(i, (no, changes));
                        }
                    }
                }
            }
            Op::Replay { s, pick: at } => {
                if let Some(s) = pick(s, n)
                    && !self.history.is_empty()
                {
                    let (no, changes) = self.history[at % self.history.len()].clone();
                    self.feed(s, no, changes)?;
                }
            }
            Op::Done { s } => {
                if let Some(s) = pick(s, n) {
                    // The child says Done once it has sent what it may.
                    if self.sessions[s].up.is_empty() && !self.send_possible(s) {
                        let sim = &mut self.sessions[s];
                        if sim.parent.wants_input() {
                            sim.parent.on_done(sim.child.outcome().pending);
                        }
                    }
                }
            }
            Op::Append { s } => {
                if let Some(s) = pick(s, n) {
                    self.append(s)?;
                }
            }
            Op::Flush => {
                self.flush()?;
            }
            Op::Ack { s } => {
                if let Some(s) = pick(s, n) {
                    let sim = &mut self.sessions[s];
                    if let Some(ack) = sim.down.pop_front()
                        && sim.child.on_ack(ack).is_err()
                    {
                        // The child ends a session on a bad ack (a reordered
                        // or replayed batch's), like a broken link.
                        self.drop_session(s);
                    }
                }
            }
            Op::Disconnect { s } => {
                if let Some(s) = pick(s, n) {
                    self.drop_session(s);
                }
            }
            Op::Crash => {
                self.sessions.clear();
                self.admissions = Admissions::default();
                self.store.crash(self.orgs);
            }
            Op::Write { origin, n } => self.logs.write(ORIGINS[origin], n),
        }
        self.reap()
    }

    /// A session without faults, to its end: everything in order.
    fn clean_session(&mut self) -> Result<Outcome<String>, Violation> {
        while !self.sessions.is_empty() {
            self.drop_session(0);
        }
        while self.flush()? {}
        let s = self
            .start()?
            .ok_or_else(|| Violation::from("no session slot"))?;
        for round in 0.. {
            if round > 100 {
                return Err("a clean session does not end".into());
            }
            while self.send(s) {
                let (no, changes) = self.sessions[s].up.remove(0);
                if !self.feed(s, no, changes)? {
                    return Err("a clean session's batch was not read".into());
                }
            }
            while self.append(s)? {
                while self.flush()? {}
            }
            let sim = &mut self.sessions[s];
            while let Some(ack) = sim.down.pop_front() {
                sim.child
                    .on_ack(ack)
                    .map_err(|e| format!("a clean session's ack was refused: {e}"))?;
            }
            if sim.child.in_flight() == 0 && !self.send_possible(s) {
                let sim = &mut self.sessions[s];
                sim.parent.on_done(sim.child.outcome().pending);
                break;
            }
        }
        let sim = self.sessions.remove(s);
        self.admissions.release(self.sender);
        if !sim.parent.is_finished() {
            return Err("a clean session did not finish".into());
        }
        Ok(sim.parent.finish(|| "cut".into()))
    }

    fn send_possible(&mut self, s: usize) -> bool {
        let sim = &self.sessions[s];
        sim.child.outcome_sent() + BATCH <= BUDGET && !sim.child.is_done()
    }

    /// Runs `ops`, then clean sessions until the child is done; checks
    /// everything the child holds is durable at the parent.
    fn run(mut self, ops: Vec<Op>) -> Result<(), Violation> {
        for op in ops {
            self.step(op)?;
        }
        for _ in 0..20 {
            let outcome = self.clean_session()?;
            if outcome.verdict() == Verdict::Success {
                break;
            }
        }
        for (origin, log) in &self.logs.logs {
            let held: Vec<Hash> = log.iter().map(|c| c.hash).collect();
            if self.store.durable.get(origin) != Some(&held) {
                return Err(format!("the parent's log of {origin} is not the child's"));
            }
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, .. ProptestConfig::default() })]

    /// Whatever the link, the store and the other session do: every change
    /// is applied exactly once, in order, without gaps; no ack covers a
    /// change that is not durable; acks come in batch order; and clean
    /// sessions afterwards leave the parent holding everything the child does.
    #[test]
    fn any_interleaving_applies_exactly_once_and_acks_only_durable_changes(
        ops in proptest::collection::vec(op(), 1..200)
    ) {
        if let Err(v) = World::new(false).run(ops) {
            prop_assert!(false, "{}", v);
        }
    }
}

/// A broken driver that acks a group as soon as it is placed, before the
/// append is durable: the same checker must catch it, or the property above
/// proves nothing.
#[test]
fn the_checker_catches_a_driver_that_acks_before_the_append_is_durable() {
    let ops = vec![
        Op::Start,
        Op::Send { s: 0 },
        Op::Deliver { s: 0, pick: 0 },
        Op::Append { s: 0 },
    ];
    let found = World::new(true).run(ops.clone()).unwrap_err();
    assert!(found.contains("durable only up to 0"), "{found}");
    assert_eq!(World::new(false).run(ops), Ok(()));

    // And over random interleavings, as the property runs them.
    let mut runner = TestRunner::deterministic();
    let strategy = proptest::collection::vec(op(), 1..200);
    let (mut caught, runs) = (0, 300);
    for _ in 0..runs {
        let ops = strategy.new_tree(&mut runner).unwrap().current();
        World::new(false).run(ops.clone()).unwrap();
        if World::new(true).run(ops).is_err() {
            caught += 1;
        }
    }
    assert!(caught > runs / 2, "caught {caught} of {runs}");
}

#[test]
fn admissions_bound_each_child_and_all_children() {
    let orgs = orgs();
    let a = orgs.get("410100").unwrap();
    let b = orgs.get("410200").unwrap();
    let mut adm = Admissions::default();
    for _ in 0..CHILD_SESSIONS_MAX {
        adm.admit(a).unwrap();
    }
    assert_eq!(
        adm.admit(a),
        Err(Busy {
            open: CHILD_SESSIONS_MAX
        })
    );
    adm.admit(b).unwrap();
    adm.release(a);
    adm.admit(a).unwrap();
    assert_eq!((adm.open(a), adm.total()), (CHILD_SESSIONS_MAX, 3));
    for _ in 0..CHILD_SESSIONS_MAX {
        adm.release(a);
    }
    adm.release(b);
    assert_eq!(adm.total(), 0);

    // All children together: at most SESSIONS_MAX.
    let mut adm = Admissions::default();
    let admitted = orgs.ids().take_while(|&c| adm.admit(c).is_ok()).count();
    assert!(orgs.len() > SESSIONS_MAX);
    assert_eq!((admitted, adm.total()), (SESSIONS_MAX, SESSIONS_MAX));
    let first = orgs.ids().next().unwrap();
    adm.release(first);
    adm.admit(first).unwrap();
}

#[test]
fn a_session_carries_at_most_its_budget() {
    let max = 2_000_000;
    let batch = 4_096u32;
    let mut budget = ChangeBudget::new(max);
    for _ in 0..max / u64::from(batch) {
        budget.take(batch).unwrap();
    }
    let room = (max - budget.used()) as u32;
    assert!(room < batch);
    // One more full batch does not fit; what is left does, exactly.
    let refused = budget.take(batch).unwrap_err();
    assert_eq!(
        refused.to_string(),
        "more than 2000000 changes in one session"
    );
    budget.take(room).unwrap();
    assert_eq!(budget.used(), max);
    assert!(budget.take(1).is_err());
    budget.take(0).unwrap();
    // A claim of u32::MAX cannot overflow the count.
    assert!(ChangeBudget::new(max).take(u32::MAX).is_err());
}

fn verified(n: u64, origin: &str) -> Checked {
    let orgs = orgs();
    let sender = orgs.get(CHILD).unwrap();
    let mut logs = ChildLogs::default();
    logs.write(origin, n);
    logs.logs[origin]
        .iter()
        .map(|c| placement::check(orgs, sender, c.clone(), Bytes::new(), Ok(roster())).unwrap())
        .collect::<Vec<_>>()
        .into()
}

#[test]
fn groups_hold_at_most_group_batches_max_and_nothing_after_the_end() {
    let mut m: ParentSession<&str> = ParentSession::new();
    for no in 1..=20 {
        assert!(m.on_batch(no, verified(1, "410102")));
    }
    assert!(!m.wants_input(), "the group is full");
    m.on_done(0);
    assert!(!m.on_batch(21, Checked::default()), "nothing after Done");
    m.on_refusal("late");
    let g = m.next_group().unwrap();
    assert_eq!(g.batch_nos, (1..=16).collect::<Vec<_>>());
    assert!(m.next_group().is_none(), "one group at a time");
    assert!(!m.is_finished());
    let acks = m.on_durable((0..16).map(|_| Placed::default()).collect());
    assert_eq!(
        acks.iter().map(|a| a.batch_no).collect::<Vec<_>>(),
        (1..=16).collect::<Vec<_>>()
    );
    let g = m.next_group().unwrap();
    assert_eq!(g.batch_nos, vec![17, 18, 19, 20]);
    m.on_durable((0..4).map(|_| Placed::default()).collect());
    assert!(m.is_finished());
    let out = m.finish(|| "cut");
    assert_eq!(out.end, Ok(0));
    assert_eq!(out.verdict(), Verdict::Success);
}

#[test]
fn after_a_refusal_the_batches_before_it_are_acked_and_it_ends_the_session() {
    let mut m: ParentSession<&str> = ParentSession::new();
    m.on_batch(1, verified(2, "410102"));
    m.on_refusal("outside-subtree");
    assert!(!m.on_batch(2, verified(1, "410103")));
    let g = m.next_group().unwrap();
    assert_eq!(g.batch_nos, vec![1]);
    assert!(!m.is_finished(), "the batch before the refusal is appended");
    let placed = Store::default().begin(1, g.batches);
    let acks = m.on_durable(placed);
    assert_eq!(acks.len(), 1);
    assert_eq!(acks[0].placed.applied, 2);
    assert!(m.is_finished());
    let out = m.finish(|| "cut");
    assert_eq!(out.verdict(), Verdict::Failed(&"outside-subtree"));
    assert_eq!(out.tally.applied, 2);
}

#[test]
fn a_group_whose_append_did_not_complete_is_never_acked() {
    let mut m: ParentSession<&str> = ParentSession::new();
    m.on_batch(1, verified(2, "410102"));
    let _group = m.next_group().unwrap();
    assert!(m.is_appending());
    m.fail("store: disk full");
    assert!(m.is_finished());
    assert!(m.on_durable(vec![Placed::default()]).is_empty());
    let out = m.finish(|| "cut");
    assert_eq!(out.verdict(), Verdict::Failed(&"store: disk full"));
    assert_eq!(out.tally.batches, 0);
}

#[test]
fn verdicts() {
    let held = Held {
        origin: "410102".into(),
        seq: 3,
        reason: placement::HeldReason::Gap { expected: 2 },
    };
    let done = |pending, held: Vec<Held>| Outcome::<&str> {
        tally: Tally {
            held,
            ..Tally::default()
        },
        end: Ok(pending),
    };
    assert_eq!(done(0, vec![]).verdict(), Verdict::Success);
    assert_eq!(
        done(5, vec![]).verdict(),
        Verdict::Unfinished { pending: 5 }
    );
    assert_eq!(done(0, vec![held.clone()]).verdict(), Verdict::Held);
    assert_eq!(done(5, vec![held]).verdict(), Verdict::Held);
    // A session cut off before its end failed.
    let m: ParentSession<&str> = ParentSession::new();
    assert_eq!(
        m.finish(|| "the server is shutting down").verdict(),
        Verdict::Failed(&"the server is shutting down")
    );
}

#[test]
fn unknown_origins_are_held_in_their_batchs_ack_and_the_tally() {
    use crate::placement::{HeldReason, UNKNOWN_ORIGINS_MAX, Unknown};

    let change = |origin: &str, seq| Change::new(origin.into(), seq, GENESIS, 0, Bytes::new());
    let mut unknown = Unknown::default();
    unknown.hold(&change("410199", 3)).unwrap();
    unknown.hold(&change("410199", 4)).unwrap();
    let mut machine: ParentSession<String> = ParentSession::new();
    assert!(machine.on_batch_holding(1, Checked::default(), unknown));
    assert!(machine.on_batch(2, Checked::default()));
    machine.on_done(0);
    let group = machine.next_group().unwrap();
    assert_eq!(group.batch_nos, vec![1, 2]);
    let acks = machine.on_durable(vec![Placed::default(), Placed::default()]);
    assert_eq!(acks[0].placed.held.len(), 1);
    assert_eq!(acks[0].placed.held[0].origin, "410199");
    assert_eq!(acks[0].placed.held[0].seq, 3);
    assert_eq!(acks[0].placed.held[0].reason, HeldReason::UnknownOrigin);
    assert_eq!(acks[0].placed.held_changes, 2);
    assert!(acks[1].placed.held.is_empty());
    assert_eq!(machine.tally().held.len(), 1);
    let outcome = machine.finish(|| "cut".to_owned());
    assert_eq!(outcome.verdict(), Verdict::Held);

    // At most so many distinct unknown origins in one batch.
    let mut unknown = Unknown::default();
    for i in 0..UNKNOWN_ORIGINS_MAX {
        unknown.hold(&change(&format!("Z{i}"), 1)).unwrap();
    }
    unknown.hold(&change("Z0", 2)).unwrap();
    assert!(unknown.hold(&change("Z-ONE-MORE", 1)).is_err());
}
