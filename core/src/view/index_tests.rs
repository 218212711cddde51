//! The view's attendance indexes against a naive model: random sequences of
//! applies, deletions and re-applies (people in many classes, so their lists
//! grow long and are compacted; classes of many people emptied and filled
//! again) give the same answers as a plain list of every attendance held.

use std::collections::{BTreeSet, HashMap};

use proptest::prelude::*;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;
use crate::model::Mode;
use crate::orgs::OrgDirectory;

fn person(i: u32) -> PersonId {
    let first17 = format!("4101021980{:02}{:02}{:03}", 1 + i % 12, 1 + i % 28, i);
    let mut digits = [0u8; 17];
    digits.copy_from_slice(first17.as_bytes());
    format!("{first17}{}", PersonId::check_char(&digits))
        .parse()
        .expect("valid id")
}

fn class_id(i: u32) -> ClassId {
    format!("C{i}").parse().expect("class id")
}

fn class(i: u32, start_day: u32) -> Class {
    let start = Date::from_ymd_opt(2024, 1, 1).expect("date")
        + chrono::TimeDelta::days(i64::from(start_day));
    Class {
        class_id: class_id(i),
        title: "班".into(),
        category: String::new(),
        mode: Mode::Centralized,
        off_job: true,
        start,
        end: start,
        hours: Hours::from_whole(8),
        days: None,
    }
}

/// What the view should answer: every attendance held, and each person's
/// attendance in the order it was (last) added.
#[derive(Default)]
struct Model {
    held: HashMap<(OrgId, u32, PersonId), (Hours, Outcome, String)>,
    order: HashMap<PersonId, Vec<(OrgId, u32)>>,
    classes: HashMap<(OrgId, u32), Class>,
}

impl Model {
    fn apply(&mut self, org: OrgId, c: u32, a: &Attendance) {
        let value = (a.hours, a.outcome, a.name.clone());
        if self.held.insert((org, c, a.person), value).is_none() {
            self.order.entry(a.person).or_default().push((org, c));
        }
    }

    fn delete(&mut self, org: OrgId, c: u32, p: PersonId) {
        if self.held.remove(&(org, c, p)).is_some() {
            let list = self.order.get_mut(&p).expect("ordered");
            list.retain(|x| *x != (org, c));
            if list.is_empty() {
                self.order.remove(&p);
            }
        }
    }

    fn attendees(&self, org: OrgId, c: u32) -> Vec<PersonId> {
        let set: BTreeSet<PersonId> = self
            .held
            .keys()
            .filter(|(o, k, _)| *o == org && *k == c)
            .map(|(_, _, p)| *p)
            .collect();
        set.into_iter().collect()
    }
}

fn compare(view: &View, model: &Model, orgs: &[OrgId], people: u32, classes: u32) {
    assert_eq!(view.counts().attendance, model.held.len());
    for i in 0..people {
        let p = person(i);
        let got: Vec<(OrgId, ClassId, Hours, Outcome)> = view
            .trainings_of(p)
            .into_iter()
            .map(|(o, _, c, h, r)| (o, c, h, r))
            .collect();
        let want: Vec<(OrgId, ClassId, Hours, Outcome)> = model
            .order
            .get(&p)
            .into_iter()
            .flatten()
            .map(|&(o, c)| {
                let (h, r, _) = &model.held[&(o, c, p)];
                (o, class_id(c), *h, *r)
            })
            .collect();
        assert_eq!(got, want, "trainings of person {i}, in order");
        // Facts follow the same order, leaving out classes not held.
        let facts: Vec<(OrgId, Date)> = view
            .facts(p)
            .into_iter()
            .map(|f| (f.organizer, f.start))
            .collect();
        let want_facts: Vec<(OrgId, Date)> = model
            .order
            .get(&p)
            .into_iter()
            .flatten()
            .filter_map(|&(o, c)| model.classes.get(&(o, c)).map(|k| (o, k.start)))
            .collect();
        assert_eq!(facts, want_facts, "facts of person {i}");
        for &org in orgs {
            for c in 0..classes {
                let key = RecordKey::Attendance(class_id(c), p);
                let want = model.held.get(&(org, c, p)).map(|(h, r, n)| {
                    Record::Attendance(Attendance {
                        class_id: class_id(c),
                        person: p,
                        hours: *h,
                        outcome: *r,
                        name: n.clone(),
                    })
                });
                assert_eq!(view.current(org, &key), want, "person {i} in class {c}");
            }
        }
    }
    for &org in orgs {
        for c in 0..classes {
            let want = model.attendees(org, c);
            assert_eq!(view.class_attendees(org, &class_id(c)), want, "class {c}");
            if let Some(idx) = view.class_idx(org, class_id(c).as_str()) {
                let slot = &view.classes[idx as usize];
                assert_eq!(slot.attendees as usize, want.len());
                // Stale entries never outgrow the attendees (or the slack).
                assert!(
                    slot.members.len() <= 2 * want.len() + 9,
                    "class {c}: {} entries for {} attendees",
                    slot.members.len(),
                    want.len()
                );
                let marked: BTreeSet<PersonId> = view.attendees_of(idx).collect();
                assert_eq!(marked.into_iter().collect::<Vec<_>>(), want);
            }
        }
    }
}

/// `steps` random changes among `people` people and `classes` classes at two
/// origins; whole-class deletions and a person joining every class come in
/// bursts, as corrections and imports write them.
fn run(seed: u64, steps: usize, people: u32, classes: u32) {
    let dir = OrgDirectory::builtin();
    let orgs = [
        dir.get("410102").expect("county"),
        dir.get("410100").expect("prefecture"),
    ];
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut view = View::default();
    let mut model = Model::default();
    let names = ["", "甲", "乙"];
    for step in 0..steps {
        let org = orgs[rng.random_range(0..orgs.len())];
        let c = rng.random_range(0..classes);
        let p = person(rng.random_range(0..people));
        let attendance = |rng: &mut ChaCha8Rng, c: u32, p: PersonId| Attendance {
            class_id: class_id(c),
            person: p,
            hours: Hours::from_whole(rng.random_range(0..40)),
            outcome: [Outcome::Completed, Outcome::Failed][rng.random_range(0..2)],
            name: names[rng.random_range(0..names.len())].into(),
        };
        match rng.random_range(0..20) {
            0..=9 => {
                let a = attendance(&mut rng, c, p);
                model.apply(org, c, &a);
                view.apply(org, Record::Attendance(a));
            }
            10..=13 => {
                model.delete(org, c, p);
                view.apply(
                    org,
                    Record::Tombstone(RecordKey::Attendance(class_id(c), p)),
                );
            }
            14 | 15 => {
                let k = class(c, rng.random_range(0..300));
                model.classes.insert((org, c), k.clone());
                view.apply(org, Record::Class(k));
            }
            16 => {
                model.classes.remove(&(org, c));
                view.apply(org, Record::Tombstone(RecordKey::Class(class_id(c))));
            }
            17 => {
                // A class's attendance deleted, every row, in random order.
                let mut all = model.attendees(org, c);
                for i in (1..all.len()).rev() {
                    all.swap(i, rng.random_range(0..=i));
                }
                for q in all {
                    model.delete(org, c, q);
                    view.apply(
                        org,
                        Record::Tombstone(RecordKey::Attendance(class_id(c), q)),
                    );
                }
            }
            18 => {
                // Everyone joins the class.
                for i in 0..people {
                    let a = attendance(&mut rng, c, person(i));
                    model.apply(org, c, &a);
                    view.apply(org, Record::Attendance(a));
                }
            }
            _ => {
                // The person joins every class, from a random one on.
                let from = rng.random_range(0..classes);
                for k in (from..classes).chain(0..from) {
                    let a = attendance(&mut rng, k, p);
                    model.apply(org, k, &a);
                    view.apply(org, Record::Attendance(a));
                }
            }
        }
        if step % 16 == 0 || step + 1 == steps {
            compare(&view, &model, &orgs, people, classes);
        }
    }
}

#[test]
fn long_lists_and_big_classes_match_the_model() {
    // Lists well past the hash-index threshold, compacted many times.
    run(1, 400, 60, 90);
    run(2, 400, 3, 120);
}

#[test]
fn a_long_list_keeps_its_order_through_removals() {
    let org = OrgDirectory::builtin().get("410102").expect("county");
    let p = person(1);
    let mut view = View::default();
    let mut model = Model::default();
    let att = |c: u32| Attendance {
        class_id: class_id(c),
        person: p,
        hours: Hours::from_whole(c % 30),
        outcome: Outcome::Completed,
        name: String::new(),
    };
    // Classes in descending order, so slot order and list order differ.
    for c in (0..200).rev() {
        model.apply(org, c, &att(c));
        view.apply(org, Record::Attendance(att(c)));
    }
    for c in (0..200).filter(|c| c % 3 != 0) {
        model.delete(org, c, p);
        view.apply(
            org,
            Record::Tombstone(RecordKey::Attendance(class_id(c), p)),
        );
    }
    for c in [5, 1, 7] {
        model.apply(org, c, &att(c));
        view.apply(org, Record::Attendance(att(c)));
    }
    compare(&view, &model, &[org], 2, 200);
    for c in 0..200 {
        model.delete(org, c, p);
        view.apply(
            org,
            Record::Tombstone(RecordKey::Attendance(class_id(c), p)),
        );
    }
    compare(&view, &model, &[org], 2, 200);
    assert_eq!(view.counts().people, 0);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, .. ProptestConfig::default() })]

    #[test]
    fn the_indexes_answer_like_a_plain_list(seed in any::<u64>(), steps in 1usize..250, people in 1u32..50, classes in 1u32..70) {
        run(seed, steps, people, classes);
    }
}
