//! The archive's years, hand-checked: which rosters and trainings fall in
//! which year, the statuses at each year's end, the totals, the §4
//! consequences, and what a narrower viewer sees.

use super::*;
use crate::model::{Attendance, ClassId, Record, RosterEntry};

fn d(s: &str) -> Date {
    s.parse().unwrap()
}

fn id(first17: &str) -> PersonId {
    let mut digits = [0u8; 17];
    digits.copy_from_slice(first17.as_bytes());
    format!("{first17}{}", PersonId::check_char(&digits))
        .parse()
        .unwrap()
}

fn entry(person: PersonId, rank: Rank, since: &str, until: Option<&str>) -> Record {
    Record::Roster(RosterEntry {
        person,
        name: "赵立新".into(),
        rank,
        since: d(since),
        until: until.map(d),
        employer: "信访局".into(),
        position: "科长".into(),
        group: String::new(),
    })
}

fn class(id: &str, mode: Mode, off_job: bool, start: &str, end: &str, days: Option<u32>) -> Record {
    Record::Class(Class {
        class_id: id.parse().unwrap(),
        title: format!("班 {id}"),
        category: String::new(),
        mode,
        off_job,
        start: d(start),
        end: d(end),
        hours: Hours::from_whole(100),
        days,
    })
}

fn attend(class: &str, person: PersonId, hours: u32, outcome: Outcome) -> Record {
    Record::Attendance(Attendance {
        class_id: class.parse::<ClassId>().unwrap(),
        person,
        hours: Hours::from_whole(hours),
        outcome,
        name: String::new(),
    })
}

/// 中原区 (county, yearly cycle) rosters a general cadre from mid-2023 to
/// 2025-09-01; 郑州 organizes a long off-job class in 2024 and the person
/// is on no roster of 郑州.
fn fixture() -> (View, OrgDirectory, PersonId) {
    let orgs = OrgDirectory::builtin();
    let county = orgs.get("410102").unwrap();
    let city = orgs.get("410100").unwrap();
    let p = id("41010219860714318");
    let mut view = View::default();
    let mut put = |org: OrgId, r: Record| {
        view.apply(org, r);
    };
    put(
        county,
        entry(p, Rank::General, "2023-06-01", Some("2025-09-01")),
    );
    // 2024: a five-day county class (off-job), 30 online hours, and 郑州's
    // 70-day class (over two months).
    put(
        county,
        class(
            "C24",
            Mode::Centralized,
            true,
            "2024-04-15",
            "2024-04-19",
            Some(5),
        ),
    );
    put(county, attend("C24", p, 40, Outcome::Completed));
    put(
        county,
        class("W24", Mode::Online, false, "2024-01-01", "2024-11-30", None),
    );
    put(county, attend("W24", p, 30, Outcome::Completed));
    put(
        city,
        class(
            "Z24",
            Mode::Centralized,
            true,
            "2024-09-01",
            "2024-11-09",
            None,
        ),
    );
    put(city, attend("Z24", p, 300, Outcome::Completed));
    // 2025: failed an off-job class, missed one without a reason.
    put(
        county,
        class(
            "C25",
            Mode::Centralized,
            true,
            "2025-03-10",
            "2025-03-12",
            None,
        ),
    );
    put(county, attend("C25", p, 24, Outcome::Failed));
    put(
        county,
        class(
            "D25",
            Mode::Centralized,
            false,
            "2025-05-06",
            "2025-05-06",
            None,
        ),
    );
    put(county, attend("D25", p, 8, Outcome::AbsentUnjustified));
    // A class after the as-of date, and an attendance of a class not held.
    put(
        county,
        class(
            "F26",
            Mode::Centralized,
            true,
            "2026-08-01",
            "2026-08-03",
            None,
        ),
    );
    put(county, attend("F26", p, 24, Outcome::Completed));
    put(county, attend("X99", p, 6, Outcome::Completed));
    (view, orgs, p)
}

fn kinds(y: &ArchiveYear) -> Vec<(Consequence, &str)> {
    y.consequences
        .iter()
        .map(|(c, i)| (*c, y.trainings[*i].class_id.as_str()))
        .collect()
}

#[test]
fn years_run_from_the_roster_to_as_of_with_totals_and_consequences() {
    let (view, orgs, p) = fixture();
    let policy = Policy::default();
    let national = orgs.get("100000").unwrap();
    let a = person_archive(&view, &orgs, &policy, p, national, d("2026-06-30")).unwrap();
    assert_eq!(a.name.as_deref(), Some("赵立新"));
    let years: Vec<i32> = a.years.iter().map(|y| y.year).collect();
    assert_eq!(years, [2023, 2024, 2025, 2026]);
    assert_eq!(a.later, 1, "F26 ends after the as-of date");
    assert_eq!(a.undated.len(), 1);
    assert_eq!(a.undated[0].class_id, "X99");

    let [y23, y24, y25, y26] = &a.years[..] else {
        panic!("four years")
    };
    // 2023: on the roster, never trained, less than a year: new.
    assert_eq!(y23.status_date, d("2023-12-31"));
    assert!(y23.trainings.is_empty() && y23.consequences.is_empty());
    assert_eq!(y23.rosters.len(), 1);
    assert_eq!(y23.rosters[0].rotation, Some(RotationStatus::New));
    assert_eq!(y23.totals, YearTotals::default());

    // 2024: three trainings in date order; the county's rotates its roster.
    let ids: Vec<&str> = y24.trainings.iter().map(|t| t.class_id.as_str()).collect();
    assert_eq!(ids, ["C24", "Z24", "W24"]);
    let e = &y24.rosters[0];
    assert_eq!(e.rotation, Some(RotationStatus::Current));
    assert_eq!(e.last_trained, Some(d("2024-04-19")));
    let hours = e.hours.unwrap();
    let central = hours.centralized.unwrap();
    // 40 + 300 hours, 5 + 70 days: the general rule (90 h or 12 d) is met.
    assert_eq!(
        (central.hours, central.days, central.met),
        (Hours::from_whole(340), 75, true)
    );
    let online = hours.online.unwrap();
    assert_eq!((online.hours, online.met), (Hours::from_whole(30), false));
    assert_eq!(
        y24.totals,
        YearTotals {
            trainings: 3,
            attended: 3,
            centralized_hours: Hours::from_whole(340),
            centralized_days: 75,
            online_hours: Hours::from_whole(30),
            off_job_days: 5 + 70,
        }
    );
    assert_eq!(
        kinds(y24),
        [
            (Consequence::OffJob, "C24"),
            (Consequence::OffJob, "Z24"),
            (Consequence::LongOffJob, "Z24"),
        ]
    );
    assert!(!y24.excellent_barred());

    // 2025: the failed class still counts as trained; the absence earns
    // nothing. The entry ends on 1 September: listed, but not active on
    // 31 December, so no statuses.
    assert_eq!(
        kinds(y25),
        [
            (Consequence::OffJob, "C25"),
            (Consequence::Failed, "C25"),
            (Consequence::Absent, "D25"),
        ]
    );
    assert!(y25.excellent_barred());
    assert_eq!(
        (y25.totals.trainings, y25.totals.attended),
        (2, 1),
        "{:?}",
        y25.totals
    );
    assert_eq!(y25.totals.centralized_hours, Hours::from_whole(24));
    assert_eq!(y25.rosters.len(), 1);
    assert!(!y25.rosters[0].active);
    assert_eq!(y25.rosters[0].rotation, None);

    // 2026: statuses on the as-of date; the roster entry has ended, and
    // the August class is not yet in the file.
    assert_eq!(y26.status_date, d("2026-06-30"));
    assert!(y26.rosters.is_empty() && y26.trainings.is_empty());
}

#[test]
fn an_entry_shows_its_status_in_the_year_it_is_active_on_the_status_date() {
    let (view, orgs, p) = fixture();
    let policy = Policy::default();
    let county = orgs.get("410102").unwrap();
    // As of mid-2025 the entry is still active: the 2025 class rotates it.
    let a = person_archive(&view, &orgs, &policy, p, county, d("2025-06-30")).unwrap();
    let y25 = a.years.last().unwrap();
    assert_eq!(y25.year, 2025);
    assert_eq!(y25.status_date, d("2025-06-30"));
    assert!(y25.rosters[0].active);
    assert_eq!(y25.rosters[0].last_trained, Some(d("2025-03-12")));
    assert_eq!(y25.rosters[0].rotation, Some(RotationStatus::Current));
    assert_eq!(a.later, 1);
}

#[test]
fn a_viewer_without_the_roster_sees_only_its_own_classes() {
    let (view, orgs, p) = fixture();
    let policy = Policy::default();
    // Another county under 郑州 sees nothing of the person.
    let other = orgs.get("410103").unwrap();
    assert_eq!(
        person_archive(&view, &orgs, &policy, p, other, d("2026-06-30")),
        None
    );
    // 郑州's subtree holds the county's roster: everything.
    let city = orgs.get("410100").unwrap();
    let all = person_archive(&view, &orgs, &policy, p, city, d("2026-06-30")).unwrap();
    assert_eq!(all.years.len(), 4);
    // A viewer whose subtree is only 郑州's own node, were the roster not
    // in it: rebuild the view without the county's roster entry.
    let mut bare = View::default();
    bare.apply(
        city,
        class(
            "Z24",
            Mode::Centralized,
            true,
            "2024-09-01",
            "2024-11-09",
            None,
        ),
    );
    bare.apply(city, attend("Z24", p, 300, Outcome::Completed));
    let county = orgs.get("410102").unwrap();
    bare.apply(
        county,
        class(
            "C24",
            Mode::Centralized,
            true,
            "2024-04-15",
            "2024-04-19",
            None,
        ),
    );
    bare.apply(county, attend("C24", p, 40, Outcome::Completed));
    let seen = person_archive(&bare, &orgs, &policy, p, county, d("2026-06-30")).unwrap();
    let classes: Vec<&str> = seen
        .years
        .iter()
        .flat_map(|y| y.trainings.iter().map(|t| t.class_id.as_str()))
        .collect();
    assert_eq!(classes, ["C24"], "only the county's own class");
    assert_eq!(seen.years.first().map(|y| y.year), Some(2024));
}

#[test]
fn nothing_before_as_of_gives_no_years() {
    let (view, orgs, p) = fixture();
    let policy = Policy::default();
    let national = orgs.get("100000").unwrap();
    let a = person_archive(&view, &orgs, &policy, p, national, d("2022-12-31")).unwrap();
    assert!(a.years.is_empty());
    assert_eq!(a.later, 6);
}
