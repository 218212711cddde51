//! Tests of the node: init and open, the write path, replay of a torn tail,
//! an interrupted write, and the write refusal of a conflicted own log.

use super::*;
use crate::model::{Attendance, Class, Hours, Mode, Outcome, Rank, RecordKey, RosterEntry};

fn d(s: &str) -> crate::model::Date {
    s.parse().unwrap()
}

fn config(org: &str) -> Config {
    Config {
        org: org.into(),
        ..Default::default()
    }
}

fn roster(id: &str, name: &str) -> Record {
    Record::Roster(RosterEntry {
        person: id.parse().unwrap(),
        name: name.into(),
        rank: Rank::General,
        since: d("2024-01-01"),
        until: None,
        employer: String::new(),
        position: String::new(),
        group: String::new(),
    })
}

#[test]
fn init_open_and_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    assert!(matches!(
        Node::open(&data),
        Err(Error::NotInitialized { .. })
    ));
    assert!(matches!(
        Node::init(&data, config("999999")),
        Err(Error::UnknownOrg(_))
    ));
    let node = Node::init(&data, config("410102")).unwrap();
    assert_eq!(node.orgs().org(node.me()).name, "中原区");
    drop(node);
    assert!(matches!(
        Node::init(&data, config("410102")),
        Err(Error::AlreadyInitialized { .. })
    ));
}

#[test]
fn writes_chain_survive_reopen_and_skip_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::init(dir.path(), config("410102")).unwrap();
    let a = roster("11010519491231002X", "甲");
    let class = Record::Class(Class {
        class_id: "C1".parse().unwrap(),
        title: "班".into(),
        category: String::new(),
        mode: Mode::Centralized,
        off_job: true,
        start: d("2024-03-01"),
        end: d("2024-03-03"),
        hours: Hours::from_whole(20),
        days: None,
    });
    let att = Record::Attendance(Attendance {
        class_id: "C1".parse().unwrap(),
        person: "11010519491231002X".parse().unwrap(),
        hours: Hours::from_whole(20),
        outcome: Outcome::Completed,
        name: String::new(),
    });
    let s = node
        .write_records(vec![a.clone(), class.clone(), att.clone()])
        .unwrap();
    assert_eq!((s.written, s.unchanged, s.seq), (3, 0, 3));
    let s = node
        .write_records(vec![a.clone(), class.clone(), att.clone()])
        .unwrap();
    assert_eq!((s.written, s.unchanged, s.seq), (0, 3, 3));
    let renamed = roster("11010519491231002X", "乙");
    let s = node
        .write_records(vec![renamed.clone(), a.clone()])
        .unwrap();
    // The last version of a key within one call wins: `a` equals what is held.
    assert_eq!((s.written, s.unchanged), (0, 2));
    let s = node.write_records(vec![renamed.clone()]).unwrap();
    assert_eq!(s.seq, 4);
    let tomb = Record::Tombstone(RecordKey::Attendance(
        "C1".parse().unwrap(),
        "11010519491231002X".parse().unwrap(),
    ));
    assert_eq!(node.write_records(vec![tomb.clone()]).unwrap().written, 1);
    assert_eq!(node.write_records(vec![tomb]).unwrap().written, 0);
    let counts = node.view().counts();
    drop(node);

    let node = Node::open(dir.path()).unwrap();
    assert_eq!(node.view().counts(), counts);
    let me = node.me();
    assert_eq!(node.view().head(me).unwrap().seq, 5);
    assert_eq!(node.view().current(me, &a.key()), Some(renamed));
    // Every stored change verifies and links.
    let mut prev = GENESIS;
    for e in node.store().scan(node.code(), 0) {
        let c = codec::decode_change(e.unwrap().change).unwrap();
        assert!(c.hash_is_valid());
        assert_eq!(c.prev_hash, prev);
        prev = c.hash;
    }
}

#[test]
fn replay_truncates_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::init(dir.path(), config("410102")).unwrap();
    let ids = [
        "11010519491231002X",
        "410102198001010011",
        "410102198001010038",
    ];
    for (i, id) in ids.iter().enumerate() {
        let mut digits = [0u8; 17];
        digits.copy_from_slice(&id.as_bytes()[..17]);
        let id = format!(
            "{}{}",
            &id[..17],
            crate::model::PersonId::check_char(&digits)
        );
        node.write_records(vec![roster(&id, &format!("人{i}"))])
            .unwrap();
    }
    let tip = node.view().head(node.me()).copied().unwrap();
    assert_eq!(tip.seq, 3);
    // What a crash mid-append can leave: an entry after a hole (seq 5
    // without 4), and one whose link does not match.
    let orphan = Change::new(
        "410102".into(),
        5,
        tip.hash,
        0,
        codec::encode_record(&roster(ids[0], "x")),
    );
    node.store()
        .append(&[LogEntry {
            origin: "410102".into(),
            seq: 5,
            received_at_ms: 0,
            change: codec::encode_change(&orphan),
        }])
        .unwrap();
    drop(node);
    let node = Node::open(dir.path()).unwrap();
    assert_eq!(node.view().head(node.me()).unwrap().seq, 3);
    assert_eq!(node.store().last("410102").unwrap().unwrap().seq, 3);

    let bad_link = Change::new(
        "410102".into(),
        4,
        [7; 32],
        0,
        codec::encode_record(&roster(ids[0], "y")),
    );
    node.store()
        .append(&[LogEntry {
            origin: "410102".into(),
            seq: 4,
            received_at_ms: 0,
            change: codec::encode_change(&bad_link),
        }])
        .unwrap();
    drop(node);
    let node = Node::open(dir.path()).unwrap();
    assert_eq!(node.store().last("410102").unwrap().unwrap().seq, 3);
    // And the log continues densely from the truncated head.
    node.write_records(vec![roster(ids[0], "z")]).unwrap();
    drop(node);
    let node = Node::open(dir.path()).unwrap();
    assert_eq!(node.view().head(node.me()).unwrap().seq, 4);

    // A segment whose middle does not link (seqs 5..=7, 6 broken): the
    // segment is cut after 5 and the rest goes.
    let tip = node.view().head(node.me()).copied().unwrap();
    let five = Change::new(
        "410102".into(),
        5,
        tip.hash,
        0,
        codec::encode_record(&roster(ids[0], "five")),
    );
    let six = Change::new(
        "410102".into(),
        6,
        [9; 32],
        0,
        codec::encode_record(&roster(ids[0], "six")),
    );
    let seven = Change::new(
        "410102".into(),
        7,
        six.hash,
        0,
        codec::encode_record(&roster(ids[0], "seven")),
    );
    let entries: Vec<LogEntry> = [&five, &six, &seven]
        .into_iter()
        .map(|c| LogEntry {
            origin: "410102".into(),
            seq: c.seq,
            received_at_ms: 0,
            change: codec::encode_change(c),
        })
        .collect();
    node.store().append(&entries).unwrap();
    drop(node);
    let node = Node::open(dir.path()).unwrap();
    assert_eq!(node.view().head(node.me()).unwrap().seq, 5);
    assert_eq!(node.store().last("410102").unwrap().unwrap().seq, 5);
    assert_eq!(node.store().scan("410102", 0).count(), 5);
}

/// A valid person id from its first 17 digits.
fn person_id(first17: &str) -> String {
    let mut digits = [0u8; 17];
    digits.copy_from_slice(first17.as_bytes());
    format!("{first17}{}", crate::model::PersonId::check_char(&digits))
}

#[test]
fn a_hole_in_packed_runs_is_a_torn_tail() {
    // A national node holding a few changes each of many counties: their
    // runs are packed, several origins to a stored value. A crash can
    // leave a later pack without an earlier one; the replay truncates
    // every origin at its hole, whichever pack holds what.
    let dir = tempfile::tempdir().unwrap();
    let node = Node::init(dir.path(), config("100000")).unwrap();
    let counties = ["410102", "410103", "410104", "410105", "410106", "410108"];
    let mut chains: std::collections::HashMap<&str, (u64, Hash)> = Default::default();
    let mut next = |origin: &'static str, n: u32| -> LogEntry {
        let (seq, prev) = chains.entry(origin).or_insert((0, GENESIS));
        let id = person_id(&format!("{origin}19800101{n:03}"));
        let change = Change::new(
            origin.into(),
            *seq + 1,
            *prev,
            0,
            codec::encode_record(&roster(&id, &format!("人{n}"))),
        );
        *seq += 1;
        *prev = change.hash;
        LogEntry {
            origin: origin.into(),
            seq: change.seq,
            received_at_ms: 0,
            change: codec::encode_change(&change),
        }
    };
    let mut n = 0;
    let mut round = |skip: &[&str]| -> Vec<LogEntry> {
        let mut batch = Vec::new();
        for county in counties {
            n += 1;
            let e = next(county, n);
            if !skip.contains(&county) {
                batch.push(e);
            }
        }
        batch
    };
    node.store().append(&round(&[])).unwrap();
    node.store().append(&round(&[])).unwrap();
    // The third round's pack for two origins never stored; the fourth's is.
    let third = round(&["410103", "410106"]);
    node.store().append(&third).unwrap();
    node.store().append(&round(&[])).unwrap();
    assert!(node.store().packs_held() > 0);
    drop(node);
    let node = Node::open(dir.path()).unwrap();
    for county in counties {
        let org = node.orgs().get(county).unwrap();
        let held = if ["410103", "410106"].contains(&county) {
            2
        } else {
            4
        };
        assert_eq!(node.view().head(org).unwrap().seq, held, "{county}");
        assert_eq!(node.store().last(county).unwrap().unwrap().seq, held);
        assert_eq!(node.store().scan(county, 0).count() as u64, held);
    }
    assert_eq!(node.view().counts().roster_entries, 20);
    // Nothing of the cut origins' tails is read back after another open.
    drop(node);
    let node = Node::open(dir.path()).unwrap();
    assert_eq!(node.view().counts().roster_entries, 20);
    assert_eq!(node.store().scan_all().count(), 20);
}

#[test]
fn a_write_interrupted_by_a_crash_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::init(dir.path(), config("410102")).unwrap();
    let first = roster("11010519491231002X", "甲");
    node.write_records(vec![first.clone()]).unwrap();
    assert_eq!(node.store().unfinished_write().unwrap(), None);
    // What a crash during a write of seqs 2..=3 can leave: the mark, and
    // a dense, chained prefix of the write, which replay alone keeps.
    let tip = node.view().head(node.me()).copied().unwrap();
    node.store().mark_write(1).unwrap();
    let mut prev = tip.hash;
    for seq in 2..=3 {
        let change = Change::new(
            "410102".into(),
            seq,
            prev,
            0,
            codec::encode_record(&roster("11010519491231002X", &format!("人{seq}"))),
        );
        prev = change.hash;
        node.store()
            .append(&[LogEntry {
                origin: "410102".into(),
                seq,
                received_at_ms: 0,
                change: codec::encode_change(&change),
            }])
            .unwrap();
    }
    drop(node);
    let node = Node::open(dir.path()).unwrap();
    assert_eq!(node.view().head(node.me()).unwrap().seq, 1);
    assert_eq!(node.store().last("410102").unwrap().unwrap().seq, 1);
    assert_eq!(node.store().unfinished_write().unwrap(), None);
    assert_eq!(node.view().current(node.me(), &first.key()), Some(first));
    // And the log goes on densely from there.
    let s = node
        .write_records(vec![roster("11010519491231002X", "乙")])
        .unwrap();
    assert_eq!(s.seq, 2);
}

#[test]
fn lost_tail_refuses_writes_until_cleared() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::init(dir.path(), config("410102")).unwrap();
    node.write_records(vec![roster("11010519491231002X", "甲")])
        .unwrap();
    node.mark_lost_tail(1).unwrap();
    assert!(node.writable(), "a parent at our own seq is not ahead");
    node.mark_lost_tail(7).unwrap();
    let err = node
        .write_records(vec![roster("11010519491231002X", "乙")])
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::LostTail {
                parent_seq: 7,
                local_seq: 1,
                ..
            }
        ),
        "{err}"
    );
    drop(node);
    let node = Node::open(dir.path()).unwrap();
    assert!(!node.writable(), "the refusal survives a restart");
    node.mark_forked(1).unwrap();
    let err = node
        .write_records(vec![roster("11010519491231002X", "乙")])
        .unwrap_err();
    assert!(matches!(err, Error::Forked { seq: 1, .. }), "{err}");
    node.clear_conflict().unwrap();
    node.write_records(vec![roster("11010519491231002X", "乙")])
        .unwrap();
}

#[test]
fn the_incremental_rollup_follows_corrections_as_a_recount_does() {
    use lunxun_core::corrections::{self, Scope};
    let dir = tempfile::tempdir().unwrap();
    let node = Node::init(&dir.path().join("data"), config("410102")).unwrap();
    let orgs = node.orgs().clone();
    let params = lunxun_gen::GenParams {
        seed: 9,
        county_workers: 40,
        ..lunxun_gen::GenParams::default()
    };
    let data = lunxun_gen::generate_node(&params, &orgs, node.me());
    let mut records: Vec<Record> = data.roster.iter().cloned().map(Record::Roster).collect();
    records.extend(data.classes.iter().cloned().map(Record::Class));
    records.extend(data.attendance.iter().cloned().map(Record::Attendance));
    node.write_records(records).unwrap();
    let as_of = d("2026-06-30");
    let recount = |node: &Node| {
        let view = node.view();
        let fresh = crate::coverage::coverage(
            &view,
            &node.orgs(),
            &node.policy_at(as_of),
            node.me(),
            None,
            as_of,
        );
        serde_json::to_value(&fresh).unwrap()
    };
    let incremental =
        |node: &Node| serde_json::to_value(node.coverage(node.me(), None, as_of)).unwrap();
    // The rollup for as_of exists before the corrections, and is updated by them.
    assert_eq!(incremental(&node), recount(&node));
    let me = node.me();
    // A roster file without its first five entries, replacing.
    let file: Vec<Record> = data.roster[5..]
        .iter()
        .cloned()
        .map(Record::Roster)
        .collect();
    let summary = node
        .write_records_with(file.clone(), |view| {
            corrections::left_out(view, me, Scope::Roster, &file)
        })
        .unwrap();
    assert_eq!(summary.removed, 5);
    assert_eq!(incremental(&node), recount(&node));
    // A class file without half the attendance of its first class.
    let first = &data.classes[0];
    let mut file = vec![Record::Class(first.clone())];
    let of_first: Vec<_> = data
        .attendance
        .iter()
        .filter(|a| a.class_id == first.class_id)
        .collect();
    assert!(of_first.len() >= 2, "the class has attendees");
    file.extend(
        of_first[of_first.len() / 2..]
            .iter()
            .map(|a| Record::Attendance((*a).clone())),
    );
    let summary = node
        .write_records_with(file.clone(), |view| {
            corrections::left_out(view, me, Scope::Classes, &file)
        })
        .unwrap();
    assert_eq!(summary.removed, of_first.len() / 2);
    assert_eq!(incremental(&node), recount(&node));
    // A whole class deleted, then a roster entry.
    let second = RecordKey::Class(data.classes[1].class_id.clone());
    node.write_records_with(Vec::new(), |view| {
        corrections::delete(view, me, &second).unwrap()
    })
    .unwrap();
    let entry = RecordKey::Roster(data.roster[6].person);
    node.write_records_with(Vec::new(), |view| {
        corrections::delete(view, me, &entry).unwrap()
    })
    .unwrap();
    assert_eq!(incremental(&node), recount(&node));
    // And after a reopen (replay of the tombstones).
    drop(node);
    let node = Node::open(&dir.path().join("data")).unwrap();
    assert_eq!(incremental(&node), recount(&node));
    assert!(node.view().class(me, &data.classes[1].class_id).is_none());
}

mod corrections_property {
    //! Any sequence of imports, replaces, deletes and undos leaves the same
    //! records and figures as importing the final files into a fresh node.

    use std::collections::BTreeMap;

    use lunxun_core::corrections::{self, Scope};
    use proptest::prelude::*;

    use super::*;
    use crate::app::ledger as imports;
    use crate::imports::Draft;

    const PEOPLE: u32 = 6;
    const CLASSES: u32 = 3;

    fn person(n: u32) -> crate::model::PersonId {
        let first17 = format!("41010219800101{n:03}");
        let mut digits = [0u8; 17];
        digits.copy_from_slice(first17.as_bytes());
        format!("{first17}{}", crate::model::PersonId::check_char(&digits))
            .parse()
            .unwrap()
    }

    fn entry(n: u32, variant: u8) -> Record {
        Record::Roster(RosterEntry {
            person: person(n),
            name: format!("人{n}"),
            rank: if variant.is_multiple_of(2) {
                Rank::General
            } else {
                Rank::Leading
            },
            since: d("2023-01-01"),
            until: None,
            employer: format!("单位{variant}"),
            position: String::new(),
            group: String::new(),
        })
    }

    fn class(c: u32) -> Class {
        Class {
            class_id: format!("K{c}").parse().unwrap(),
            title: format!("班{c}"),
            category: String::new(),
            mode: if c == 2 {
                Mode::Online
            } else {
                Mode::Centralized
            },
            off_job: true,
            start: d("2025-03-01"),
            end: d("2025-03-05"),
            hours: Hours::from_whole(40),
            days: None,
        }
    }

    fn attendance(c: u32, n: u32, variant: u8) -> Record {
        Record::Attendance(Attendance {
            class_id: format!("K{c}").parse().unwrap(),
            person: person(n),
            hours: Hours::from_whole(8 * (u32::from(variant) + 1)),
            outcome: if variant == 2 {
                Outcome::Failed
            } else {
                Outcome::Completed
            },
            name: String::new(),
        })
    }

    #[derive(Debug, Clone)]
    enum Op {
        Roster {
            people: Vec<(u32, u8)>,
            replace: bool,
        },
        Trainings {
            class: u32,
            people: Vec<(u32, u8)>,
            replace: bool,
        },
        DeleteClass(u32),
        DeleteAttendance(u32, u32),
        DeleteRoster(u32),
        UndoLast,
    }

    fn op() -> impl Strategy<Value = Op> {
        let people = prop::collection::vec((0..PEOPLE, 0u8..3), 0..5);
        prop_oneof![
            3 => (people.clone(), any::<bool>()).prop_map(|(people, replace)| Op::Roster { people, replace }),
            3 => (0..CLASSES, people, any::<bool>())
                .prop_map(|(class, people, replace)| Op::Trainings { class, people, replace }),
            1 => (0..CLASSES).prop_map(Op::DeleteClass),
            1 => (0..CLASSES, 0..PEOPLE).prop_map(|(c, p)| Op::DeleteAttendance(c, p)),
            1 => (0..PEOPLE).prop_map(Op::DeleteRoster),
            2 => Just(Op::UndoLast),
        ]
    }

    type State = BTreeMap<RecordKey, Record>;

    /// What the records should be after `records` are written (tombstones
    /// delete), as a plain map.
    fn apply(state: &mut State, records: Vec<Record>) {
        for r in records {
            match r {
                Record::Tombstone(k) => {
                    state.remove(&k);
                }
                r => {
                    state.insert(r.key(), r);
                }
            }
        }
    }

    fn figures(node: &Node) -> serde_json::Value {
        let view = node.view();
        let report = crate::coverage::coverage(
            &view,
            &node.orgs(),
            &node.policy(),
            node.me(),
            Some(0),
            d("2026-06-30"),
        );
        let mut v = serde_json::to_value(&report).unwrap();
        // Whether the node ever wrote anything is not a record: a fresh node
        // given no records has not reported.
        for n in v["nodes"].as_array_mut().unwrap() {
            let n = n.as_object_mut().unwrap();
            n.remove("freshness");
            n.remove("reporting");
            n["subtree"].as_object_mut().unwrap().remove("nodes");
        }
        v
    }

    fn universe() -> Vec<RecordKey> {
        let mut keys = Vec::new();
        for n in 0..PEOPLE {
            keys.push(RecordKey::Roster(person(n)));
            for c in 0..CLASSES {
                keys.push(RecordKey::Attendance(
                    format!("K{c}").parse().unwrap(),
                    person(n),
                ));
            }
        }
        for c in 0..CLASSES {
            keys.push(RecordKey::Class(format!("K{c}").parse().unwrap()));
        }
        keys
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
        #[test]
        fn corrections_equal_a_fresh_import_of_the_final_files(ops in prop::collection::vec(op(), 1..14)) {
            let dir = tempfile::tempdir().unwrap();
            let node = Node::init(&dir.path().join("n"), config("410102")).unwrap();
            let me = node.me();
            let mut state = State::new();
            // The state before each ledger entry, by entry id.
            let mut before: BTreeMap<u64, State> = BTreeMap::new();
            for op in ops {
                let snapshot = state.clone();
                let draft = Draft { kind: "test".into(), ..Default::default() };
                let written = match op {
                    Op::Roster { people, replace } => {
                        let file: Vec<Record> = people.iter().map(|(n, v)| entry(*n, *v)).collect();
                        let f = file.clone();
                        let r = node.write_import(file, |view| {
                            if replace { corrections::left_out(view, me, Scope::Roster, &f) } else { Vec::new() }
                        }, draft).unwrap();
                        if replace {
                            state.retain(|k, _| !matches!(k, RecordKey::Roster(_)));
                        }
                        apply(&mut state, f);
                        Some(r.1.id)
                    }
                    Op::Trainings { class: c, people, replace } => {
                        let mut file = vec![Record::Class(class(c))];
                        file.extend(people.iter().map(|(n, v)| attendance(c, *n, *v)));
                        let f = file.clone();
                        let r = node.write_import(file, |view| {
                            if replace { corrections::left_out(view, me, Scope::Classes, &f) } else { Vec::new() }
                        }, draft).unwrap();
                        let id: crate::model::ClassId = format!("K{c}").parse().unwrap();
                        if replace {
                            state.retain(|k, _| !matches!(k, RecordKey::Attendance(cid, _) if *cid == id));
                        }
                        apply(&mut state, f);
                        Some(r.1.id)
                    }
                    Op::DeleteClass(c) => {
                        let id: crate::model::ClassId = format!("K{c}").parse().unwrap();
                        let key = RecordKey::Class(id.clone());
                        if corrections::delete(&node.view(), me, &key).is_none() {
                            None
                        } else {
                            let r = node.write_import(Vec::new(), |view| corrections::delete(view, me, &key).unwrap_or_default(), draft).unwrap();
                            state.retain(|k, _| !matches!(k, RecordKey::Class(cid) | RecordKey::Attendance(cid, _) if *cid == id));
                            Some(r.1.id)
                        }
                    }
                    Op::DeleteAttendance(c, n) => {
                        let key = RecordKey::Attendance(format!("K{c}").parse().unwrap(), person(n));
                        let r = node.write_import(Vec::new(), |view| corrections::delete(view, me, &key).unwrap_or_default(), draft).unwrap();
                        state.remove(&key);
                        Some(r.1.id)
                    }
                    Op::DeleteRoster(n) => {
                        let key = RecordKey::Roster(person(n));
                        let r = node.write_import(Vec::new(), |view| corrections::delete(view, me, &key).unwrap_or_default(), draft).unwrap();
                        state.remove(&key);
                        Some(r.1.id)
                    }
                    Op::UndoLast => {
                        let last = imports::list(&node).unwrap().into_iter().last();
                        match last {
                            Some(entry) if entry.written > 0 => {
                                let undo = Draft { kind: "undo".into(), undoes: Some(entry.id), ..Default::default() };
                                let r = node.write_import(Vec::new(), |_| imports::undo_plan(&node, &entry).unwrap().records, undo).unwrap();
                                // Nothing came after it, so the state before it returns.
                                state = before[&entry.id].clone();
                                Some(r.1.id)
                            }
                            _ => None,
                        }
                    }
                };
                if let Some(id) = written {
                    before.insert(id, snapshot);
                }
                // The node's records are the model's, key by key.
                let view = node.view();
                for key in universe() {
                    prop_assert_eq!(view.current(me, &key), state.get(&key).cloned(), "{:?}", key);
                }
            }
            // And the figures equal a fresh node's given the final files.
            let fresh = Node::init(&dir.path().join("fresh"), config("410102")).unwrap();
            fresh.write_records(state.values().cloned().collect()).unwrap();
            prop_assert_eq!(figures(&node), figures(&fresh));
            // Also after a reopen.
            drop(node);
            let reopened = Node::open(&dir.path().join("n")).unwrap();
            prop_assert_eq!(figures(&reopened), figures(&fresh));
        }
    }
}
