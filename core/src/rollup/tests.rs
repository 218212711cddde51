//! Rollups kept up to date change by change equal a from-scratch count,
//! over random hierarchies and random change orders.

use proptest::prelude::*;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;
use crate::figures::{own_figures, roster_statuses};
use crate::model::{
    Attendance, Class, ClassId, Hours, Mode, Outcome, Rank, Record, RecordKey, RosterEntry,
};

pub(crate) fn person(i: u32) -> PersonId {
    let first17 = format!(
        "4101021980{:02}{:02}{:03}",
        1 + i % 12,
        1 + i % 28,
        i % 1000
    );
    let mut digits = [0u8; 17];
    digits.copy_from_slice(first17.as_bytes());
    format!("{first17}{}", PersonId::check_char(&digits))
        .parse()
        .expect("valid id")
}

pub(crate) fn date(days: i64) -> Date {
    Date::from_ymd_opt(2022, 1, 1).expect("date") + chrono::TimeDelta::days(days)
}

/// A random slice of the real tree: the national node, a province, some of
/// its prefectures and counties, and a county directly under it.
pub(crate) fn hierarchy(rng: &mut ChaCha8Rng, orgs: &OrgDirectory) -> Vec<OrgId> {
    let province = orgs
        .get(["410000", "420000", "460000"][rng.random_range(0..3)])
        .expect("province");
    let mut out = vec![orgs.get("100000").expect("national"), province];
    for &child in orgs.children(province) {
        if rng.random_bool(0.3) {
            out.push(child);
            for &grandchild in orgs.children(child) {
                if rng.random_bool(0.3) {
                    out.push(grandchild);
                }
            }
        }
    }
    out
}

/// One random change: mostly new versions, some deletions, some class edits
/// after attendance exists.
pub(crate) fn change(rng: &mut ChaCha8Rng, nodes: &[OrgId], people: u32) -> (OrgId, Record) {
    let org = nodes[rng.random_range(0..nodes.len())];
    let p = person(rng.random_range(0..people));
    let class: ClassId = format!("C{}", rng.random_range(0..6))
        .parse()
        .expect("class id");
    let record = match rng.random_range(0..10) {
        0..=2 => Record::Roster(RosterEntry {
            person: p,
            name: "某".into(),
            rank: [Rank::Leading, Rank::General, Rank::Grassroots][rng.random_range(0..3)],
            since: date(rng.random_range(0..1200)),
            until: rng
                .random_bool(0.15)
                .then(|| date(rng.random_range(1200..1600))),
            employer: String::new(),
            position: String::new(),
            group: String::new(),
        }),
        3 | 4 => {
            let start = rng.random_range(0..1500);
            Record::Class(Class {
                class_id: class,
                title: "班".into(),
                category: String::new(),
                mode: if rng.random_bool(0.7) {
                    Mode::Centralized
                } else {
                    Mode::Online
                },
                off_job: true,
                start: date(start),
                end: date(start + rng.random_range(0..20)),
                hours: Hours::from_whole(rng.random_range(1..120)),
                days: None,
            })
        }
        5..=7 => Record::Attendance(Attendance {
            class_id: class,
            person: p,
            hours: Hours::from_whole(rng.random_range(0..120)),
            outcome: [
                Outcome::Completed,
                Outcome::Failed,
                Outcome::AbsentJustified,
                Outcome::AbsentUnjustified,
            ][rng.random_range(0..4)],
            name: String::new(),
        }),
        8 => Record::Tombstone(RecordKey::Attendance(class, p)),
        _ => Record::Tombstone(if rng.random_bool(0.5) {
            RecordKey::Roster(p)
        } else {
            RecordKey::Class(class)
        }),
    };
    (org, record)
}

/// Whether `rollup` counts what the rules say, org by org: each roster's
/// statuses from [`roster_statuses`] (one person at a time, as a report
/// reads them), and each subtree the sum of its orgs' rosters.
fn check_against_statuses(
    rollup: &Rollup,
    view: &View,
    orgs: &OrgDirectory,
    policy: &Policy,
) -> Result<(), String> {
    let mut subtree = vec![OwnFigures::default(); orgs.len()];
    for i in 0..orgs.len() as u32 {
        let org = OrgId::from_index(i);
        let own = own_figures(&roster_statuses(view, orgs, policy, org, rollup.as_of()));
        if rollup.own(org) != own {
            return Err(format!(
                "own figures of {org:?}: {:?} vs {own:?}",
                rollup.own(org)
            ));
        }
        let mut cur = Some(org);
        while let Some(o) = cur {
            subtree[o.index()].merge(&own);
            cur = orgs.parent(o);
        }
    }
    for (i, sum) in subtree.iter().enumerate() {
        let org = OrgId::from_index(i as u32);
        if rollup.subtree(org) != *sum {
            return Err(format!(
                "subtree of {org:?}: {:?} vs {sum:?}",
                rollup.subtree(org)
            ));
        }
    }
    Ok(())
}

/// A random hierarchy and date from `seed`, and an empty view: what every
/// property here starts from.
struct Start {
    rng: ChaCha8Rng,
    orgs: OrgDirectory,
    policy: Policy,
    nodes: Vec<OrgId>,
    as_of: Date,
    view: View,
}

fn start(seed: u64) -> Start {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let orgs = OrgDirectory::builtin();
    let nodes = hierarchy(&mut rng, &orgs);
    let as_of = date(rng.random_range(900..1700));
    Start {
        rng,
        orgs,
        policy: Policy::default(),
        nodes,
        as_of,
        view: View::default(),
    }
}

fn check(seed: u64, batches: usize, batch_size: usize, people: u32) -> Result<(), String> {
    let Start {
        mut rng,
        orgs,
        policy,
        nodes,
        as_of,
        mut view,
    } = start(seed);
    let mut rollup = Rollup::build(&view, &orgs, &policy, as_of);
    for b in 0..batches {
        for _ in 0..batch_size {
            let (org, record) = change(&mut rng, &nodes, people);
            let touch = view.apply(org, record);
            rollup.touch(&view, touch);
        }
        // Sometimes several batches go by before a query refreshes.
        if rng.random_bool(0.7) || b + 1 == batches {
            rollup.refresh(&view, &orgs, &policy);
            let scratch = Rollup::build(&view, &orgs, &policy, as_of);
            rollup
                .same_figures(&scratch)
                .map_err(|e| format!("seed {seed}, after batch {b}: {e}"))?;
            check_against_statuses(&rollup, &view, &orgs, &policy)
                .map_err(|e| format!("seed {seed}, after batch {b}: {e}"))?;
            // And the report built from either is identical.
            let root = nodes[0];
            let a = crate::coverage::report(&view, &orgs, &rollup, root, None);
            let z = crate::coverage::report(&view, &orgs, &scratch, root, None);
            if a != z {
                return Err(format!("seed {seed}, after batch {b}: reports differ"));
            }
        }
    }
    Ok(())
}

#[test]
fn a_known_sequence_matches() {
    check(7, 12, 40, 30).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 150, .. ProptestConfig::default() })]

    #[test]
    fn incremental_rollups_equal_a_recount(seed in any::<u64>(), batches in 1usize..10, batch_size in 1usize..60, people in 2u32..40) {
        if let Err(e) = check(seed, batches, batch_size, people) {
            prop_assert!(false, "{}", e);
        }
    }
}

/// Several dates asked for in turn between batches of changes: each answer
/// from the kept rollups equals a recount on that date, and no more than
/// today's and [`PAST_DATES_MAX`] others are ever kept.
fn check_dates(seed: u64, rounds: usize) -> Result<(), String> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let orgs = OrgDirectory::builtin();
    let policy = Policy::default();
    let nodes = hierarchy(&mut rng, &orgs);
    let today = date(1500);
    let mut view = View::default();
    let mut rollups = Rollups::default();
    for round in 0..rounds {
        for _ in 0..rng.random_range(0..30) {
            let (org, record) = change(&mut rng, &nodes, 25);
            let touch = view.apply(org, record);
            rollups.touch(&view, touch);
        }
        // Today, or one of a handful of past dates (so some repeat).
        let as_of = if rng.random_bool(0.3) {
            today
        } else {
            date(900 + 100 * rng.random_range(0..6))
        };
        let kept = rollups.get(&view, &orgs, &policy, as_of, today);
        let scratch = Rollup::build(&view, &orgs, &policy, as_of);
        kept.same_figures(&scratch)
            .map_err(|e| format!("seed {seed}, round {round}, {as_of}: {e}"))?;
        let dates = rollups.dates();
        let past = dates.iter().filter(|d| **d != today).count();
        if past > PAST_DATES_MAX {
            return Err(format!("seed {seed}: {past} past dates kept: {dates:?}"));
        }
        if dates.iter().collect::<std::collections::HashSet<_>>().len() != dates.len() {
            return Err(format!("seed {seed}: a date kept twice: {dates:?}"));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 60, .. ProptestConfig::default() })]

    #[test]
    fn rollups_kept_for_several_dates_equal_a_recount(seed in any::<u64>(), rounds in 1usize..25) {
        if let Err(e) = check_dates(seed, rounds) {
            prop_assert!(false, "{}", e);
        }
    }
}

/// Big classes edited and emptied with a rollup kept: a class of up to a
/// hundred people on several rosters is edited over and over (its dates and
/// mode move people between statuses), most of its attendance is deleted
/// and applied again, and the class itself deleted and recreated; after
/// every few changes the kept rollup equals a recount.
fn check_big_classes(seed: u64, rounds: usize) -> Result<(), String> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let orgs = OrgDirectory::builtin();
    let policy = Policy::default();
    let nodes = hierarchy(&mut rng, &orgs);
    let as_of = date(1500);
    let people = rng.random_range(20..100u32);
    let mut view = View::default();
    for i in 0..people {
        let (org, _) = change(&mut rng, &nodes, 1);
        view.apply(
            org,
            Record::Roster(RosterEntry {
                person: person(i),
                name: "某".into(),
                rank: [Rank::Leading, Rank::General][rng.random_range(0..2)],
                since: date(rng.random_range(0..1200)),
                until: None,
                employer: String::new(),
                position: String::new(),
                group: String::new(),
            }),
        );
    }
    let organizer = nodes[rng.random_range(0..nodes.len())];
    let big: ClassId = "BIG".parse().expect("class id");
    let class = |rng: &mut ChaCha8Rng| {
        let start = rng.random_range(0..1500);
        Class {
            class_id: "BIG".parse().expect("class id"),
            title: format!("班{}", rng.random_range(0..1000)),
            category: String::new(),
            mode: if rng.random_bool(0.7) {
                Mode::Centralized
            } else {
                Mode::Online
            },
            off_job: true,
            start: date(start),
            end: date(start + rng.random_range(0..10)),
            hours: Hours::from_whole(rng.random_range(1..120)),
            days: None,
        }
    };
    let attend = |rng: &mut ChaCha8Rng, i: u32| Attendance {
        class_id: "BIG".parse().expect("class id"),
        person: person(i),
        hours: Hours::from_whole(rng.random_range(0..120)),
        outcome: Outcome::Completed,
        name: String::new(),
    };
    let mut rollup = Rollup::build(&view, &orgs, &policy, as_of);
    let marks = |view: &mut View, rollup: &mut Rollup, r: Record| {
        let touch = view.apply(organizer, r);
        rollup.touch(view, touch);
    };
    for i in 0..people {
        let a = attend(&mut rng, i);
        marks(&mut view, &mut rollup, Record::Attendance(a));
    }
    for round in 0..rounds {
        match rng.random_range(0..6) {
            0..=2 => {
                for _ in 0..rng.random_range(1..20) {
                    let c = class(&mut rng);
                    marks(&mut view, &mut rollup, Record::Class(c));
                }
            }
            3 => {
                for i in 0..people {
                    if rng.random_bool(0.8) {
                        let key = RecordKey::Attendance(big.clone(), person(i));
                        marks(&mut view, &mut rollup, Record::Tombstone(key));
                    }
                }
            }
            4 => {
                for i in 0..people {
                    if rng.random_bool(0.6) {
                        let a = attend(&mut rng, i);
                        marks(&mut view, &mut rollup, Record::Attendance(a));
                    }
                }
            }
            _ => {
                let key = RecordKey::Class(big.clone());
                marks(&mut view, &mut rollup, Record::Tombstone(key));
            }
        }
        if rng.random_bool(0.5) || round + 1 == rounds {
            rollup.refresh(&view, &orgs, &policy);
            let scratch = Rollup::build(&view, &orgs, &policy, as_of);
            rollup
                .same_figures(&scratch)
                .map_err(|e| format!("seed {seed}, round {round}: {e}"))?;
        }
    }
    Ok(())
}

#[test]
fn a_known_big_class_matches() {
    check_big_classes(11, 40).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, .. ProptestConfig::default() })]

    #[test]
    fn big_class_edits_and_deletions_equal_a_recount(seed in any::<u64>(), rounds in 1usize..30) {
        if let Err(e) = check_big_classes(seed, rounds) {
            prop_assert!(false, "{}", e);
        }
    }
}

/// Parts built for the people of each share and merged count what one
/// build counts, for any number of parts, and refresh the same afterwards.
#[test]
fn parts_merged_equal_one_build() {
    for seed in 0..12u64 {
        let Start {
            mut rng,
            orgs,
            policy,
            nodes,
            as_of,
            mut view,
        } = start(seed);
        for _ in 0..400 {
            let (org, record) = change(&mut rng, &nodes, 40);
            view.apply(org, record);
        }
        for parts in 1..5 {
            let whole = Rollup::build(&view, &orgs, &policy, as_of);
            let built: Vec<Rollup> = (0..parts)
                .map(|part| Rollup::build_part(&view, &orgs, &policy, as_of, part, parts))
                .collect();
            let mut merged = Rollup::merge(built).expect("parts");
            merged
                .same_figures(&whole)
                .unwrap_or_else(|e| panic!("seed {seed}, {parts} parts: {e}"));
            let mut whole = whole;
            for _ in 0..50 {
                let (org, record) = change(&mut rng, &nodes, 40);
                let touch = view.apply(org, record);
                merged.touch(&view, touch);
                whole.touch(&view, touch);
            }
            merged.refresh(&view, &orgs, &policy);
            whole.refresh(&view, &orgs, &policy);
            merged
                .same_figures(&Rollup::build(&view, &orgs, &policy, as_of))
                .unwrap_or_else(|e| panic!("seed {seed}, {parts} parts, refreshed: {e}"));
            whole.same_figures(&merged).expect("the same");
        }
    }
}

/// Parts built for any number of parts, merged in any order, count what the
/// rules say (one roster at a time), and so do they after changes and a
/// refresh.
fn check_parts(seed: u64, parts: usize, changes: usize) -> Result<(), String> {
    let Start {
        mut rng,
        orgs,
        policy,
        nodes,
        as_of,
        mut view,
    } = start(seed);
    for _ in 0..changes {
        let (org, record) = change(&mut rng, &nodes, 40);
        view.apply(org, record);
    }
    let mut built: Vec<Rollup> = (0..parts)
        .map(|part| Rollup::build_part(&view, &orgs, &policy, as_of, part, parts))
        .collect();
    // The order the threads are joined in does not matter.
    let turn = rng.random_range(0..parts);
    built.rotate_left(turn);
    let mut merged = Rollup::merge(built).expect("parts");
    check_against_statuses(&merged, &view, &orgs, &policy)
        .map_err(|e| format!("seed {seed}, {parts} parts: {e}"))?;
    for _ in 0..changes / 4 {
        let (org, record) = change(&mut rng, &nodes, 40);
        let touch = view.apply(org, record);
        merged.touch(&view, touch);
    }
    merged.refresh(&view, &orgs, &policy);
    check_against_statuses(&merged, &view, &orgs, &policy)
        .map_err(|e| format!("seed {seed}, {parts} parts, refreshed: {e}"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 60, .. ProptestConfig::default() })]

    #[test]
    fn parts_in_any_number_and_order_count_what_the_rules_say(seed in any::<u64>(), parts in 1usize..9, changes in 0usize..500) {
        if let Err(e) = check_parts(seed, parts, changes) {
            prop_assert!(false, "{}", e);
        }
    }
}
