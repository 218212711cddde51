//! Returned trainings: the set a parent returns (table cases), the digests,
//! the plan, the child's checks (one hostile answer per refusal), and a
//! property test of parent and child over random edits and lost answers.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::child::{Answer, Held, PersonAnswer, Refused, Stale, Version, fresh, stage};
use super::parent::{PersonLimits, Sent, diff, digests, encoded_bytes_bound, person_set, plan};
use super::*;
use crate::model::{
    Attendance, Class, ClassId, Date, Hours, Mode, Outcome, Rank, Record, RecordKey, RosterEntry,
};
use crate::view::View;

fn d(s: &str) -> Date {
    s.parse().unwrap()
}

/// A valid ID number, distinct per `n`.
fn person(n: u32) -> PersonId {
    let text = format!("11010519900101{:03}", n % 1000);
    let digits: [u8; 17] = text.as_bytes().try_into().unwrap();
    format!("{text}{}", PersonId::check_char(&digits))
        .parse()
        .unwrap()
}

fn org(code: &str) -> OrgId {
    crate::orgs::OrgDirectory::builtin().get(code).unwrap()
}

fn roster(p: PersonId) -> Record {
    Record::Roster(RosterEntry {
        person: p,
        name: "甲".into(),
        rank: Rank::General,
        since: d("2024-01-01"),
        until: None,
        employer: String::new(),
        position: String::new(),
        group: String::new(),
    })
}

fn class(id: &str, hours: u32) -> Class {
    Class {
        class_id: id.parse().unwrap(),
        title: format!("班 {id}"),
        category: String::new(),
        mode: Mode::Centralized,
        off_job: false,
        start: d("2025-03-01"),
        end: d("2025-03-05"),
        hours: Hours::from_whole(hours),
        days: None,
    }
}

fn attendance(id: &str, p: PersonId, hours: u32) -> Attendance {
    Attendance {
        class_id: id.parse().unwrap(),
        person: p,
        hours: Hours::from_whole(hours),
        outcome: Outcome::Completed,
        name: "甲".into(),
    }
}

/// 郑州's view: 中原区 (410102) and 二七区 (410103) rosters, classes of
/// 郑州, both counties, 河南 and the national bureau.
fn prefecture_view(dir: &OrgDirectory) -> (View, [PersonId; 3]) {
    let (p, q, r) = (person(1), person(2), person(3));
    let o = |c: &str| dir.get(c).unwrap();
    let mut v = View::default();
    v.apply(o("410102"), roster(p));
    v.apply(o("410102"), roster(r));
    v.apply(o("410103"), roster(q));
    // p: trained by the prefecture, its own county, the sibling county, and
    // the national bureau (whose class record 郑州 lacks).
    v.apply(o("410100"), Record::Class(class("Z1", 20)));
    v.apply(o("410100"), Record::Attendance(attendance("Z1", p, 20)));
    v.apply(o("410102"), Record::Class(class("C1", 8)));
    v.apply(o("410102"), Record::Attendance(attendance("C1", p, 8)));
    v.apply(o("410103"), Record::Class(class("S1", 6)));
    v.apply(o("410103"), Record::Attendance(attendance("S1", p, 6)));
    v.apply(o("100000"), Record::Attendance(attendance("N1", p, 30)));
    // q (二七区's): trained by the prefecture too.
    v.apply(o("410100"), Record::Attendance(attendance("Z1", q, 20)));
    // r: only by its own county.
    v.apply(o("410102"), Record::Attendance(attendance("C1", r, 8)));
    (v, [p, q, r])
}

#[test]
fn a_child_is_returned_its_rosters_people_and_only_classes_held_outside_its_subtree() {
    let dir = OrgDirectory::builtin();
    let (view, [p, q, r]) = prefecture_view(&dir);
    let county = org("410102");
    let set = person_set(&view, &dir, county, p);
    let keys: Vec<(&str, &str, bool)> = set
        .iter()
        .map(|t| {
            (
                dir.code(t.origin),
                t.attendance.class_id.as_str(),
                t.class.is_some(),
            )
        })
        .collect();
    // Sorted by organizer code; the own county's class left out.
    assert_eq!(
        keys,
        vec![
            ("100000", "N1", false),
            ("410100", "Z1", true),
            ("410103", "S1", true)
        ]
    );
    let all = digests(&view, &dir, county, &PersonLimits::NONE).0;
    // q is not on 中原区's rosters; r has nothing from outside.
    assert_eq!(all.keys().copied().collect::<Vec<_>>(), vec![p]);
    assert!(!all.contains_key(&q) && !all.contains_key(&r));
    // 二七区 gets q's prefecture class, and nothing of p.
    let other = digests(&view, &dir, org("410103"), &PersonLimits::NONE).0;
    assert_eq!(other.keys().copied().collect::<Vec<_>>(), vec![q]);
    // To 郑州 itself (a child of 河南), p's set is the national class alone.
    let own = person_set(&view, &dir, org("410100"), p);
    let organizers: Vec<&str> = own.iter().map(|t| dir.code(t.origin)).collect();
    assert_eq!(organizers, vec!["100000"]);
}

#[test]
fn a_set_beyond_the_limits_is_left_out_and_counted() {
    let dir = OrgDirectory::builtin();
    let (view, [p, _, _]) = prefecture_view(&dir);
    let county = org("410102");
    let set = person_set(&view, &dir, county, p);
    let bound = encoded_bytes_bound(&dir, &set);
    for (limits, kept) in [
        (PersonLimits::NONE, true),
        (
            PersonLimits {
                items_max: 3,
                bytes_max: bound,
            },
            true,
        ),
        (
            PersonLimits {
                items_max: 2,
                bytes_max: usize::MAX,
            },
            false,
        ),
        (
            PersonLimits {
                items_max: 3,
                bytes_max: bound - 1,
            },
            false,
        ),
    ] {
        let (all, left_out) = digests(&view, &dir, county, &limits);
        assert_eq!(all.contains_key(&p), kept, "{limits:?}");
        assert_eq!(left_out, usize::from(!kept), "{limits:?}");
    }
}

#[test]
fn every_field_is_in_the_digest_and_order_is_not() {
    let dir = OrgDirectory::builtin();
    let p = person(1);
    let base = vec![
        Returned {
            origin: org("100000"),
            class: None,
            attendance: attendance("N1", p, 30),
        },
        Returned {
            origin: org("410100"),
            class: Some(class("Z1", 20)),
            attendance: attendance("Z1", p, 20),
        },
    ];
    let digest = person_digest(&dir, &base);
    let mut reversed = base.clone();
    reversed.reverse();
    sort(&dir, &mut reversed);
    assert_eq!(person_digest(&dir, &reversed), digest);
    type Edit = fn(&mut Vec<Returned>);
    let edits: [(&str, Edit); 9] = [
        ("hours", |s| s[0].attendance.hours = Hours::from_whole(31)),
        ("outcome", |s| s[0].attendance.outcome = Outcome::Failed),
        ("name", |s| s[0].attendance.name = "乙".into()),
        ("class arrives", |s| s[0].class = Some(class("N1", 30))),
        ("title", |s| {
            s[1].class.as_mut().unwrap().title = "新".into()
        }),
        ("mode", |s| s[1].class.as_mut().unwrap().mode = Mode::Online),
        ("days", |s| s[1].class.as_mut().unwrap().days = Some(2)),
        ("organizer", |s| s[0].origin = org("410000")),
        ("one fewer", |s| {
            s.pop();
        }),
    ];
    for (what, edit) in edits {
        let mut changed = base.clone();
        edit(&mut changed);
        assert_ne!(person_digest(&dir, &changed), digest, "{what}");
    }
    // The combined digest: nothing is NOTHING, and it does not depend on
    // the order people were added.
    assert_eq!(combined(&BTreeMap::new()), NOTHING);
    let a = BTreeMap::from([(person(1), [1; 32]), (person(2), [2; 32])]);
    let mut b = BTreeMap::new();
    b.insert(person(2), [2; 32]);
    b.insert(person(1), [1; 32]);
    assert_eq!(combined(&a), combined(&b));
    assert_ne!(combined(&a), NOTHING);
    b.insert(person(1), [3; 32]);
    assert_ne!(combined(&a), combined(&b));
}

#[test]
fn a_child_holding_the_last_answer_gets_the_changes_else_everything() {
    let now = BTreeMap::from([
        (person(1), [1; 32]),
        (person(2), [9; 32]),
        (person(4), [4; 32]),
    ]);
    let before = BTreeMap::from([
        (person(1), [1; 32]),
        (person(2), [2; 32]),
        (person(3), [3; 32]),
    ]);
    assert_eq!(diff(&before, &now), vec![person(2), person(3), person(4)]);
    let last = Sent::new(before);
    let p = plan(Some(&last), &last.combined, &now);
    assert!(!p.full);
    assert_eq!(p.people, vec![person(2), person(3), person(4)]);
    for (last, child) in [
        (None, NOTHING),
        (Some(&last), NOTHING),
        (Some(&last), [7; 32]),
    ] {
        let p = plan(last, &child, &now);
        assert!(p.full);
        assert_eq!(p.people, vec![person(1), person(2), person(4)]);
    }
}

/// 中原区's view (its own rosters) and an answer 郑州 would give it.
fn county_and_answer() -> (OrgDirectory, View, Answer) {
    let dir = OrgDirectory::builtin();
    let (parent, [p, _, _]) = prefecture_view(&dir);
    let county = dir.get("410102").unwrap();
    let mut view = View::default();
    view.apply(county, roster(p));
    view.apply(county, roster(person(3)));
    let all = digests(&parent, &dir, county, &PersonLimits::NONE).0;
    let answer = Answer {
        full: true,
        people: vec![PersonAnswer {
            person: p,
            items: person_set(&parent, &dir, county, p),
        }],
        digest: Sent::new(all).combined,
    };
    (dir, view, answer)
}

#[test]
fn a_good_answer_stages_and_the_same_answer_again_changes_nothing() {
    let (dir, mut view, answer) = county_and_answer();
    let county = dir.get("410102").unwrap();
    let mut held = Held::default();
    let staged = stage(&view, &dir, county, &held.digests(), answer.clone()).unwrap();
    assert_eq!(staged.changes.len(), 1);
    for (p, items, digest) in staged.changes {
        for (origin, record) in held.replace(p, items, digest.unwrap()) {
            view.apply(origin, record);
        }
    }
    assert_eq!(held.combined(), answer.digest);
    assert_eq!((held.people(), held.records()), (1, 3));
    // p's hours now count the prefecture's, the sibling's and (without its
    // class) not yet the national class.
    assert_eq!(view.facts(person(1)).len(), 2);
    let again = stage(&view, &dir, county, &held.digests(), answer).unwrap();
    assert!(again.is_empty());
    assert_eq!(again.combined, held.combined());
}

#[test]
fn every_hostile_answer_is_refused_naming_its_field() {
    let (dir, view, good) = county_and_answer();
    let county = dir.get("410102").unwrap();
    let p = good.people[0].person;
    type Break = fn(&mut Answer);
    type Expected = fn(&Refused) -> bool;
    let cases: [(&str, Break, Expected); 7] = [
        (
            "a person on no roster of ours",
            |a| a.people[0].person = person(2),
            |e| matches!(e, Refused::NotOnOurRosters { index: 0, .. }),
        ),
        (
            "an origin inside our subtree",
            |a| a.people[0].items[0].origin = org("410102"),
            |e| {
                matches!(
                    e,
                    Refused::InsideOurSubtree {
                        index: 0,
                        item: 0,
                        ..
                    }
                )
            },
        ),
        (
            "someone else's attendance",
            |a| a.people[0].items[1].attendance.person = person(3),
            |e| matches!(e, Refused::OtherPerson { index: 0, item: 1 }),
        ),
        (
            "another class's record",
            |a| a.people[0].items[1].class = Some(class("X9", 1)),
            |e| matches!(e, Refused::ClassMismatch { index: 0, item: 1 }),
        ),
        (
            "one attendance twice",
            |a| {
                let twice = a.people[0].items[1].clone();
                a.people[0].items.push(twice);
            },
            |e| matches!(e, Refused::Duplicate { index: 0, .. }),
        ),
        (
            "a person twice",
            |a| {
                let twice = a.people[0].clone();
                a.people.push(twice);
            },
            |e| matches!(e, Refused::Repeated { index: 1, .. }),
        ),
        (
            "a digest that does not add up",
            |a| a.people[0].items[0].attendance.hours = Hours::from_whole(99),
            |e| *e == Refused::Digest,
        ),
    ];
    for (what, hostile, expected) in cases {
        let mut answer = good.clone();
        hostile(&mut answer);
        let refused = stage(&view, &dir, county, &BTreeMap::new(), answer).unwrap_err();
        assert!(expected(&refused), "{what}: {refused:?}");
        let line = refused.to_string();
        assert!(
            !line.contains('\n') && !line.contains(&p.to_string()),
            "{what}: {line}"
        );
    }
    // An empty set for anyone (a drop) needs no roster: it only takes away.
    let drop = Answer {
        full: false,
        people: vec![PersonAnswer {
            person: person(2),
            items: Vec::new(),
        }],
        digest: NOTHING,
    };
    assert!(
        stage(&view, &dir, county, &BTreeMap::new(), drop)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn replacing_a_set_drops_what_is_gone_and_a_class_with_its_last_attendee() {
    let dir = OrgDirectory::builtin();
    let (p, q) = (person(1), person(2));
    let pref = org("410100");
    let item = |who: PersonId, id: &str| Returned {
        origin: pref,
        class: Some(class(id, 4)),
        attendance: attendance(id, who, 4),
    };
    let mut held = Held::default();
    let mut view = View::default();
    let apply = |held: &mut Held, view: &mut View, who, items: Vec<Returned>| {
        let digest = person_digest(&dir, &items);
        for (o, r) in held.replace(who, items, digest) {
            view.apply(o, r);
        }
    };
    apply(&mut held, &mut view, p, vec![item(p, "A"), item(p, "B")]);
    apply(&mut held, &mut view, q, vec![item(q, "A")]);
    assert_eq!(held.records(), 3);
    // p leaves class A: A stays (q still attends), B goes with p's set.
    apply(&mut held, &mut view, p, vec![item(p, "A")]);
    assert!(view.class(pref, &"B".parse::<ClassId>().unwrap()).is_none());
    assert!(view.class(pref, &"A".parse::<ClassId>().unwrap()).is_some());
    // The parent no longer holds class A's record: the view follows.
    let mut without = item(p, "A");
    without.class = None;
    apply(&mut held, &mut view, p, vec![without]);
    assert!(view.class(pref, &"A".parse::<ClassId>().unwrap()).is_none());
    assert_eq!(held.records(), 2);
    apply(&mut held, &mut view, q, Vec::new());
    apply(&mut held, &mut view, p, Vec::new());
    assert!(view.class(pref, &"A".parse::<ClassId>().unwrap()).is_none());
    assert_eq!(
        (held.people(), held.records(), held.combined()),
        (0, 0, NOTHING)
    );
    assert_eq!(view.counts().attendance, 0);
    assert!(
        view.current(pref, &RecordKey::Attendance("A".parse().unwrap(), p))
            .is_none()
    );
}

/// One random edit of the parent's view: an attendance of `who` at class
/// `class` of organizer `org` (or its deletion, or a class version).
#[derive(Debug, Clone)]
enum Edit {
    Attend {
        org: usize,
        who: u32,
        class: u8,
        hours: u32,
    },
    Leave {
        org: usize,
        who: u32,
        class: u8,
    },
    Class {
        org: usize,
        class: u8,
        hours: u32,
    },
    Unclass {
        org: usize,
        class: u8,
    },
    Roster {
        who: u32,
        on: bool,
    },
}

const ORGANIZERS: [&str; 5] = ["100000", "410000", "410100", "410103", "410102"];

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => (0..5usize, 0..6u32, 0..4u8, 1..40u32)
            .prop_map(|(org, who, class, hours)| Edit::Attend { org, who, class, hours }),
        1 => (0..5usize, 0..6u32, 0..4u8).prop_map(|(org, who, class)| Edit::Leave { org, who, class }),
        1 => (0..5usize, 0..4u8, 1..40u32).prop_map(|(org, class, hours)| Edit::Class { org, class, hours }),
        1 => (0..5usize, 0..4u8).prop_map(|(org, class)| Edit::Unclass { org, class }),
        1 => (0..6u32, any::<bool>()).prop_map(|(who, on)| Edit::Roster { who, on }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Over random edits at the parent and answers lost on the way, the
    /// child that stages and applies each answer it receives holds exactly
    /// the parent's sets after every answer, its view showing them; the
    /// parent sends only the changes whenever the child holds its last answer.
    #[test]
    fn the_child_holds_the_parents_sets_after_every_answer(
        rounds in proptest::collection::vec((proptest::collection::vec(edit(), 0..6), any::<bool>()), 1..12)
    ) {
        let dir = OrgDirectory::builtin();
        let county = dir.get("410102").unwrap();
        let mut parent = View::default();
        let mut child = View::default();
        let mut held = Held::default();
        let mut last: Option<Sent> = None;
        for who in 0..6 {
            // Half of them on the county's roster, at both ends.
            if who % 2 == 0 {
                parent.apply(county, roster(person(who)));
                child.apply(county, roster(person(who)));
            }
        }
        for (edits, lost) in rounds {
            for e in edits {
                match e {
                    Edit::Attend { org, who, class: c, hours } => {
                        let o = dir.get(ORGANIZERS[org]).unwrap();
                        let record = Record::Attendance(attendance(&format!("K{c}"), person(who), hours));
                        parent.apply(o, record.clone());
                        if o == county { child.apply(o, record); }
                    }
                    Edit::Leave { org, who, class: c } => {
                        let o = dir.get(ORGANIZERS[org]).unwrap();
                        let record = Record::Tombstone(RecordKey::Attendance(format!("K{c}").parse().unwrap(), person(who)));
                        parent.apply(o, record.clone());
                        if o == county { child.apply(o, record); }
                    }
                    Edit::Class { org, class: c, hours } => {
                        let o = dir.get(ORGANIZERS[org]).unwrap();
                        let record = Record::Class(class(&format!("K{c}"), hours));
                        parent.apply(o, record.clone());
                        if o == county { child.apply(o, record); }
                    }
                    Edit::Unclass { org, class: c } => {
                        let o = dir.get(ORGANIZERS[org]).unwrap();
                        let record = Record::Tombstone(RecordKey::Class(format!("K{c}").parse().unwrap()));
                        parent.apply(o, record.clone());
                        if o == county { child.apply(o, record); }
                    }
                    Edit::Roster { who, on } => {
                        let record = if on { roster(person(who)) } else { Record::Tombstone(RecordKey::Roster(person(who))) };
                        parent.apply(county, record.clone());
                        child.apply(county, record);
                    }
                }
            }
            let now = digests(&parent, &dir, county, &PersonLimits::NONE).0;
            let p = plan(last.as_ref(), &held.combined(), &now);
            if let Some(l) = &last && l.combined == held.combined() {
                prop_assert!(!p.full);
            }
            let answer = Answer {
                full: p.full,
                people: p.people.iter().map(|who| PersonAnswer {
                    person: *who,
                    items: if now.contains_key(who) { person_set(&parent, &dir, county, *who) } else { Vec::new() },
                }).collect(),
                digest: combined(&now),
            };
            last = Some(Sent::new(now.clone()));
            if lost {
                continue;
            }
            let staged = stage(&child, &dir, county, &held.digests(), answer).unwrap();
            for (who, items, digest) in staged.changes {
                for (o, r) in held.replace(who, items, digest.unwrap_or(NOTHING)) {
                    child.apply(o, r);
                }
            }
            prop_assert_eq!(held.digests(), now.clone());
            prop_assert_eq!(held.combined(), combined(&now));
            for who in 0..6 {
                let p = person(who);
                let mut want = parent.facts(p);
                let mut got = child.facts(p);
                let key = |f: &crate::rules::TrainingFact| {
                    (f.organizer, f.hours, f.end, f.start, f.days, f.off_job, f.mode.as_str(), f.outcome.as_str())
                };
                want.sort_by_key(key);
                got.sort_by_key(key);
                if now.contains_key(&p) || child.rosters_of(p).contains(&county) {
                    prop_assert_eq!(got, want);
                }
            }
        }
    }
}

/// (held version, parent, answer time, full, base, held digest, expected).
type FreshCase = (
    Option<Version>,
    &'static str,
    i64,
    bool,
    Option<Digest>,
    Digest,
    Result<(), Stale>,
);

#[test]
fn an_answer_in_a_file_is_taken_only_when_newer_than_the_one_held() {
    let (a, b) = ([1u8; DIGEST_LEN], [2u8; DIGEST_LEN]);
    let held = |at_ms| {
        Some(Version {
            parent: "410100".into(),
            at_ms,
        })
    };
    let older = |answer_ms, held_ms| Err(Stale::Older { answer_ms, held_ms });
    let cases: Vec<FreshCase> = vec![
        // Newer and whole: taken whatever it was computed for.
        (held(10), "410100", 20, true, Some(b), a, Ok(())),
        (held(10), "410100", 20, true, None, a, Ok(())),
        // Newer changes since what we hold: taken; since another set: not.
        (held(10), "410100", 20, false, Some(a), a, Ok(())),
        (
            held(10),
            "410100",
            20,
            false,
            Some(b),
            a,
            Err(Stale::OtherBase),
        ),
        (
            held(10),
            "410100",
            20,
            false,
            None,
            a,
            Err(Stale::OtherBase),
        ),
        // The same file again, or an older one: never, even on our base.
        (held(20), "410100", 20, true, Some(a), a, older(20, 20)),
        (held(20), "410100", 10, true, Some(a), a, older(10, 20)),
        (held(20), "410100", 10, false, Some(a), a, older(10, 20)),
        // No time of this parent's held: only an answer for what we hold.
        (None, "410100", 5, true, Some(a), a, Ok(())),
        (None, "410100", 5, true, Some(b), a, Err(Stale::OtherBase)),
        (None, "410100", 5, false, Some(a), a, Ok(())),
        (None, "410100", 5, true, None, a, Err(Stale::OtherBase)),
        (held(20), "410000", 5, true, Some(a), a, Ok(())),
        (
            held(20),
            "410000",
            50,
            true,
            Some(b),
            a,
            Err(Stale::OtherBase),
        ),
    ];
    for (i, (version, parent, at_ms, full, base, digest, expected)) in cases.into_iter().enumerate()
    {
        assert_eq!(
            fresh(
                version.as_ref(),
                parent,
                at_ms,
                full,
                base.as_ref(),
                &digest
            ),
            expected,
            "case {i}"
        );
    }
}
