//! Tables of hand-checked cases. Unless a case says otherwise the policy is
//! the default (national 3–4, province 2–3, prefecture 1–2, county 1–1;
//! leading 550 h or 90 days per plan period from 2023; general 90 h or 12
//! days per calendar year; online 50 h per calendar year; long off-job
//! more than 60 days). Most cases judge on 2025-06-30, whose cutoffs are
//! 1 → 2024-06-30, 2 → 2023-06-30, 3 → 2022-06-30, 4 → 2021-06-30.

use std::sync::OnceLock;

use super::*;
use crate::model::{ClassId, Level, RosterEntry};
use crate::orgs::OrgDirectory;

fn dir() -> &'static OrgDirectory {
    static DIR: OnceLock<OrgDirectory> = OnceLock::new();
    DIR.get_or_init(OrgDirectory::builtin)
}

fn org(code: &str) -> OrgId {
    dir().get(code).unwrap()
}

fn d(s: &str) -> Date {
    s.parse().unwrap()
}

fn h(s: &str) -> Hours {
    Hours::parse("hours", s).unwrap()
}

fn no_change(_: &mut Policy) {}

fn policy_with(tweak: fn(&mut Policy)) -> Policy {
    let mut p = Policy::default();
    tweak(&mut p);
    p.validate().unwrap();
    p
}

/// A completed one-day centralized class of `org_code` ending on `end`,
/// 8 hours, not off-job.
fn class(org_code: &str, end: &str) -> TrainingFact {
    TrainingFact {
        organizer: org(org_code),
        mode: Mode::Centralized,
        off_job: false,
        start: d(end),
        end: d(end),
        days: 1,
        hours: h("8"),
        outcome: Outcome::Completed,
    }
}

/// A completed centralized class of the province with these hours and days.
fn cz(end: &str, hours: &str, days: u32) -> TrainingFact {
    TrainingFact {
        hours: h(hours),
        days,
        ..class("410000", end)
    }
}

/// A completed online course of the province with these hours.
fn ol(end: &str, hours: &str) -> TrainingFact {
    TrainingFact {
        mode: Mode::Online,
        hours: h(hours),
        ..class("410000", end)
    }
}

/// An off-job centralized class of the province from `start` to `end`,
/// crediting its calendar span.
fn oj(start: &str, end: &str, outcome: Outcome) -> TrainingFact {
    let days = ((d(end) - d(start)).num_days() + 1) as u32;
    TrainingFact {
        off_job: true,
        start: d(start),
        days,
        outcome,
        ..class("410000", end)
    }
}

fn with(outcome: Outcome, f: TrainingFact) -> TrainingFact {
    TrainingFact { outcome, ..f }
}

#[test]
fn cutoffs() {
    let cases = [
        ("0 years is as_of itself", "2025-06-30", 0, "2025-06-30"),
        ("1 year", "2025-06-30", 1, "2024-06-30"),
        ("4 years", "2025-06-30", 4, "2021-06-30"),
        ("1 March stays 1 March", "2025-03-01", 1, "2024-03-01"),
        (
            "28 Feb into a leap year stays 28 Feb",
            "2025-02-28",
            1,
            "2024-02-28",
        ),
        (
            "29 Feb back 1 year -> 28 Feb",
            "2024-02-29",
            1,
            "2023-02-28",
        ),
        (
            "29 Feb back 2 years -> 28 Feb",
            "2024-02-29",
            2,
            "2022-02-28",
        ),
        (
            "29 Feb back 3 years -> 28 Feb",
            "2024-02-29",
            3,
            "2021-02-28",
        ),
        (
            "29 Feb back 4 years is a leap year -> 29 Feb",
            "2024-02-29",
            4,
            "2020-02-29",
        ),
        (
            "29 Feb back 8 years -> 29 Feb",
            "2024-02-29",
            8,
            "2016-02-29",
        ),
    ];
    for (name, as_of, years, expected) in cases {
        assert_eq!(cutoff(d(as_of), years), d(expected), "case {name}");
    }
}

struct StatusCase {
    name: &'static str,
    level: Level,
    as_of: &'static str,
    since: &'static str,
    last: Option<&'static str>,
    expected: RotationStatus,
}

#[test]
fn rotation_status_table() {
    use Level::*;
    use RotationStatus::*;
    const AS_OF: &str = "2025-06-30";
    const LONG_AGO: &str = "2015-01-01";
    let c = |level, since, last, expected, name| StatusCase {
        name,
        level,
        as_of: AS_OF,
        since,
        last,
        expected,
    };
    #[rustfmt::skip]
    let cases = [
        //level       since         last                expected why
        // national 3–4: cutoff(3) 2022-06-30, cutoff(4) 2021-06-30
        c(National,   LONG_AGO,     Some("2022-06-30"), Due,     "national: ended on cutoff(3) is not within 3 years, within 4 -> due"),
        c(National,   LONG_AGO,     Some("2022-07-01"), Current, "national: ended the day after cutoff(3) -> current"),
        c(National,   LONG_AGO,     Some("2021-06-30"), Overdue, "national: ended on cutoff(4) is not within 4 years -> overdue"),
        c(National,   LONG_AGO,     Some("2021-07-01"), Due,     "national: ended the day after cutoff(4) -> due"),
        c(National,   "2021-06-30", None,               Overdue, "national: never trained, since on cutoff(4) = on roster 4 years -> overdue"),
        c(National,   "2021-07-01", None,               New,     "national: never trained, since the day after cutoff(4) -> new"),
        c(National,   "2022-06-30", None,               New,     "national: never trained, since on cutoff(3) -> new (only max matters)"),
        c(National,   "2022-07-01", None,               New,     "national: never trained, since the day after cutoff(3) -> new"),
        // province 2–3: cutoff(2) 2023-06-30, cutoff(3) 2022-06-30
        c(Province,   LONG_AGO,     Some("2023-06-30"), Due,     "province: ended on cutoff(2) -> due"),
        c(Province,   LONG_AGO,     Some("2023-07-01"), Current, "province: ended the day after cutoff(2) -> current"),
        c(Province,   LONG_AGO,     Some("2022-06-30"), Overdue, "province: ended on cutoff(3) -> overdue"),
        c(Province,   LONG_AGO,     Some("2022-07-01"), Due,     "province: ended the day after cutoff(3) -> due"),
        c(Province,   "2022-06-30", None,               Overdue, "province: never trained, since on cutoff(3) -> overdue"),
        c(Province,   "2022-07-01", None,               New,     "province: never trained, since the day after cutoff(3) -> new"),
        c(Province,   "2023-06-30", None,               New,     "province: never trained, since on cutoff(2) -> new"),
        c(Province,   "2023-07-01", None,               New,     "province: never trained, since the day after cutoff(2) -> new"),
        // prefecture 1–2: cutoff(1) 2024-06-30, cutoff(2) 2023-06-30
        c(Prefecture, LONG_AGO,     Some("2024-06-30"), Due,     "prefecture: ended on cutoff(1) -> due"),
        c(Prefecture, LONG_AGO,     Some("2024-07-01"), Current, "prefecture: ended the day after cutoff(1) -> current"),
        c(Prefecture, LONG_AGO,     Some("2023-06-30"), Overdue, "prefecture: ended on cutoff(2) -> overdue"),
        c(Prefecture, LONG_AGO,     Some("2023-07-01"), Due,     "prefecture: ended the day after cutoff(2) -> due"),
        c(Prefecture, "2023-06-30", None,               Overdue, "prefecture: never trained, since on cutoff(2) -> overdue"),
        c(Prefecture, "2023-07-01", None,               New,     "prefecture: never trained, since the day after cutoff(2) -> new"),
        c(Prefecture, "2024-06-30", None,               New,     "prefecture: never trained, since on cutoff(1) -> new"),
        c(Prefecture, "2024-07-01", None,               New,     "prefecture: never trained, since the day after cutoff(1) -> new"),
        // county 1–1: never due
        c(County,     LONG_AGO,     Some("2024-06-30"), Overdue, "county: ended on cutoff(1) -> overdue, there is no due with min = max"),
        c(County,     LONG_AGO,     Some("2024-07-01"), Current, "county: ended the day after cutoff(1) -> current"),
        c(County,     LONG_AGO,     Some(AS_OF),        Current, "county: ended on as_of itself -> current"),
        c(County,     "2024-06-30", None,               Overdue, "county: never trained, since on cutoff(1) -> overdue"),
        c(County,     "2024-07-01", None,               New,     "county: never trained, since the day after cutoff(1) -> new"),
        c(County,     AS_OF,        None,               New,     "county: never trained, since = as_of -> new"),
        // since only matters for the never-trained
        c(Prefecture, "2025-01-01", Some("2023-01-01"), Overdue, "prefecture: trained 2023-01-01 (older than 2 y), added 2025-01-01 -> overdue, not new (literal text)"),
        c(Prefecture, "2025-03-01", Some("2024-01-01"), Due,     "prefecture: trained 2024-01-01, added 2025-03-01 -> due"),
        c(National,   "2025-01-01", Some("2024-01-01"), Current, "national: trained 2024-01-01 before joining the roster 2025-01-01 -> current"),
        c(Prefecture, "2025-01-01", Some("2025-07-01"), New,     "prefecture: a last_trained after as_of is ignored -> new"),
        c(Prefecture, "2020-01-01", Some("2025-07-01"), Overdue, "prefecture: a last_trained after as_of is ignored -> overdue"),
    ];
    // 29 February as_of: cutoff 1 → 2023-02-28, 2 → 2022-02-28, 3 → 2021-02-28, 4 → 2020-02-29
    let leap = |level, as_of, since, last, expected, name| StatusCase {
        name,
        level,
        as_of,
        since,
        last,
        expected,
    };
    #[rustfmt::skip]
    let leap_cases = [
        //   level       as_of         since         last                expected why
        leap(Prefecture, "2024-02-29", LONG_AGO,     Some("2023-02-28"), Due,     "29 Feb: prefecture ended 2023-02-28 = cutoff(1) -> due"),
        leap(Prefecture, "2024-02-29", LONG_AGO,     Some("2023-03-01"), Current, "29 Feb: prefecture ended 2023-03-01 -> current"),
        leap(Prefecture, "2024-02-29", LONG_AGO,     Some("2022-02-28"), Overdue, "29 Feb: prefecture ended 2022-02-28 = cutoff(2) -> overdue"),
        leap(Prefecture, "2024-02-29", LONG_AGO,     Some("2022-03-01"), Due,     "29 Feb: prefecture ended 2022-03-01 -> due"),
        leap(National,   "2024-02-29", LONG_AGO,     Some("2020-02-29"), Overdue, "29 Feb: national class ended 2020-02-29 = cutoff(4) -> overdue"),
        leap(National,   "2024-02-29", LONG_AGO,     Some("2020-03-01"), Due,     "29 Feb: national ended 2020-03-01 -> due"),
        leap(National,   "2024-02-28", LONG_AGO,     Some("2020-02-29"), Due,     "28 Feb 2024: national class ended 2020-02-29, after cutoff(4) 2020-02-28 -> due"),
        leap(Prefecture, "2021-02-28", LONG_AGO,     Some("2020-02-29"), Current, "class ended 2020-02-29, as_of 2021-02-28: after cutoff(1) 2020-02-28 -> prefecture current"),
        leap(Prefecture, "2021-03-01", LONG_AGO,     Some("2020-02-29"), Due,     "class ended 2020-02-29, as_of 2021-03-01: cutoff(1) 2020-03-01 -> prefecture due"),
        leap(County,     "2024-02-29", "2023-02-28", None,               Overdue, "29 Feb: county never trained, since 2023-02-28 = cutoff(1) -> overdue"),
        leap(County,     "2024-02-29", "2023-03-01", None,               New,     "29 Feb: county never trained, since 2023-03-01 -> new"),
        leap(Province,   "2024-02-29", LONG_AGO,     Some("2021-02-28"), Overdue, "29 Feb: province ended 2021-02-28 = cutoff(3) -> overdue"),
    ];
    let policy = Policy::default();
    for case in cases.iter().chain(&leap_cases) {
        let got = rotation_status(
            policy.cycle(case.level),
            d(case.as_of),
            d(case.since),
            case.last.map(d),
        );
        assert_eq!(got, case.expected, "case {}", case.name);
    }
}

struct FactCase {
    name: &'static str,
    roster_org: &'static str,
    as_of: &'static str,
    since: &'static str,
    facts: Vec<TrainingFact>,
    tweak: fn(&mut Policy),
    last: Option<&'static str>,
    expected: RotationStatus,
}

#[test]
fn rotation_from_facts_table() {
    use Outcome::*;
    use RotationStatus::*;
    // One person on three rosters: trained by the national bureau in
    // 2022-03 and by the province in 2024-09, never by the prefecture.
    let two_rosters = vec![class("100000", "2022-03-01"), class("410000", "2024-09-01")];
    let c = |name, roster_org, since, facts, last, expected| FactCase {
        name,
        roster_org,
        as_of: "2025-06-30",
        since,
        facts,
        tweak: no_change,
        last,
        expected,
    };
    let mut cases = vec![
        c(
            "failed counts as trained",
            "410100",
            "2020-01-01",
            vec![with(Failed, class("410100", "2025-03-01"))],
            Some("2025-03-01"),
            Current,
        ),
        c(
            "absent_justified earns nothing",
            "410100",
            "2020-01-01",
            vec![with(AbsentJustified, class("410100", "2025-03-01"))],
            None,
            Overdue,
        ),
        c(
            "absent_unjustified earns nothing; recently added -> new",
            "410100",
            "2025-01-01",
            vec![with(AbsentUnjustified, class("410100", "2025-03-01"))],
            None,
            New,
        ),
        c(
            "the node's online course does not rotate",
            "410100",
            "2020-01-01",
            vec![ol("2025-03-01", "50")],
            None,
            Overdue,
        ),
        c(
            "another node's class does not rotate this roster",
            "410100",
            "2020-01-01",
            vec![class("410000", "2025-03-01")],
            None,
            Overdue,
        ),
        c(
            "class ending after as_of ignored: last is 2023-03-01, before cutoff(2) -> overdue",
            "410100",
            "2020-01-01",
            vec![
                TrainingFact {
                    start: d("2025-06-20"),
                    ..class("410100", "2025-07-05")
                },
                class("410100", "2023-03-01"),
            ],
            Some("2023-03-01"),
            Overdue,
        ),
        c(
            "class ending on as_of counts -> current",
            "410100",
            "2020-01-01",
            vec![class("410100", "2025-06-30")],
            Some("2025-06-30"),
            Current,
        ),
        c(
            "latest attended wins; a later absence does not: 2024-05-01 is within 2 not 1 -> due",
            "410100",
            "2020-01-01",
            vec![
                class("410100", "2024-05-01"),
                with(AbsentUnjustified, class("410100", "2025-05-01")),
                class("410100", "2023-09-01"),
            ],
            Some("2024-05-01"),
            Due,
        ),
        c(
            "two rosters, national 3–4: 2022-03-01 within 4 not 3 -> due",
            "100000",
            "2020-01-01",
            two_rosters.clone(),
            Some("2022-03-01"),
            Due,
        ),
        c(
            "two rosters, province 2–3: 2024-09-01 within 2 -> current",
            "410000",
            "2020-01-01",
            two_rosters.clone(),
            Some("2024-09-01"),
            Current,
        ),
        c(
            "two rosters, prefecture: never trained by 410100, on roster since 2020 -> overdue",
            "410100",
            "2020-01-01",
            two_rosters,
            None,
            Overdue,
        ),
        c(
            "济源 (county under a province) rotates yearly: 2024-03-01 is before cutoff(1) -> overdue, not province's current",
            "419001",
            "2020-01-01",
            vec![class("419001", "2024-03-01")],
            Some("2024-03-01"),
            Overdue,
        ),
        c(
            "济源 trained 2024-07-01 -> current",
            "419001",
            "2020-01-01",
            vec![class("419001", "2024-07-01")],
            Some("2024-07-01"),
            Current,
        ),
    ];
    let o = |name, roster_org, since, facts, tweak, last, expected| FactCase {
        name,
        roster_org,
        as_of: "2025-06-30",
        since,
        facts,
        tweak,
        last,
        expected,
    };
    cases.extend([
        o(
            "override prefecture 2–3: 2024-03-01 is within 2 -> current (default due)",
            "410100",
            "2020-01-01",
            vec![class("410100", "2024-03-01")],
            |p: &mut Policy| p.rotation.prefecture = Cycle { min_years: 2, max_years: 3 },
            Some("2024-03-01"),
            Current,
        ),
        o(
            "override county 1–2: 2024-03-01 -> due (default overdue)",
            "410102",
            "2020-01-01",
            vec![class("410102", "2024-03-01")],
            |p: &mut Policy| p.rotation.county.max_years = 2,
            Some("2024-03-01"),
            Due,
        ),
        o(
            "override national max 5: never trained since 2021-01-01, after cutoff(5) 2020-06-30 -> new (default overdue)",
            "100000",
            "2021-01-01",
            vec![],
            |p: &mut Policy| p.rotation.national.max_years = 5,
            None,
            New,
        ),
    ]);
    for case in &cases {
        let policy = policy_with(case.tweak);
        let node = org(case.roster_org);
        let as_of = d(case.as_of);
        let last = last_rotation_training(node, as_of, &case.facts);
        assert_eq!(last, case.last.map(d), "case {} (last)", case.name);
        let cycle = policy.cycle(dir().org(node).level);
        let got = rotation_status(cycle, as_of, d(case.since), last);
        assert_eq!(got, case.expected, "case {}", case.name);
    }
}

#[test]
fn county_under_a_province_uses_its_own_level() {
    let jiyuan = org("419001");
    let parent = dir().parent(jiyuan).unwrap();
    assert_eq!(dir().org(jiyuan).level, Level::County);
    assert_eq!(dir().org(parent).level, Level::Province);
    let p = Policy::default();
    assert_eq!(p.cycle(dir().org(jiyuan).level), p.rotation.county);
}

fn entry(since: &str, until: Option<&str>) -> RosterEntry {
    RosterEntry {
        person: "11010519491231002X".parse().unwrap(),
        name: "张三".into(),
        rank: Rank::General,
        since: d(since),
        until: until.map(d),
        employer: String::new(),
        position: String::new(),
        group: String::new(),
    }
}

#[test]
fn roster_activity_table() {
    // as_of 2025-06-30
    let cases = [
        ("since = as_of: active", "2025-06-30", None, true),
        (
            "since = as_of + 1: not yet active",
            "2025-07-01",
            None,
            false,
        ),
        (
            "until = as_of: inactive (until is exclusive)",
            "2020-01-01",
            Some("2025-06-30"),
            false,
        ),
        (
            "until = as_of + 1: still active",
            "2020-01-01",
            Some("2025-07-01"),
            true,
        ),
        (
            "until = as_of - 1: inactive",
            "2020-01-01",
            Some("2025-06-29"),
            false,
        ),
        ("no until: active", "2020-01-01", None, true),
    ];
    for (name, since, until, active) in cases {
        assert_eq!(
            entry(since, until).active_on(d("2025-06-30")),
            active,
            "case {name}"
        );
    }
}

#[test]
fn coverage_over_active_entries_only() {
    // A prefecture roster (1–2) on 2025-06-30; each entry with its facts.
    let node = org("410100");
    let as_of = d("2025-06-30");
    let roster = [
        (
            "current",
            entry("2020-01-01", None),
            vec![class("410100", "2025-01-01")],
        ),
        (
            "due",
            entry("2020-01-01", None),
            vec![class("410100", "2024-01-01")],
        ),
        ("new, added on as_of", entry("2025-06-30", None), vec![]),
        ("overdue", entry("2020-01-01", None), vec![]),
        (
            "left on as_of: not counted",
            entry("2020-01-01", Some("2025-06-30")),
            vec![class("410100", "2025-01-01")],
        ),
        (
            "leaves tomorrow: overdue",
            entry("2020-01-01", Some("2025-07-01")),
            vec![],
        ),
        (
            "joins tomorrow: not counted",
            entry("2025-07-01", None),
            vec![],
        ),
    ];
    let cycle = Policy::default().cycle(Level::Prefecture);
    let mut counts = RotationCounts::default();
    for (_, e, facts) in roster.iter().filter(|(_, e, _)| e.active_on(as_of)) {
        counts.add(rotation_status(
            cycle,
            as_of,
            e.since,
            last_rotation_training(node, as_of, facts),
        ));
    }
    assert_eq!(
        counts,
        RotationCounts {
            current: 1,
            due: 1,
            new: 1,
            overdue: 2
        }
    );
    assert_eq!(counts.roster(), 5);
    assert_eq!(counts.covered(), 2);
    assert_eq!(counts.rate(), Some(0.4));
}

#[test]
fn rotation_counts() {
    let empty = RotationCounts::default();
    assert_eq!(empty.rate(), None, "empty roster has no rate");
    let mut a = RotationCounts::default();
    for s in RotationStatus::ALL {
        a.add(s);
    }
    assert_eq!(a.rate(), Some(0.5));
    let mut b = RotationCounts {
        current: 0,
        due: 0,
        new: 0,
        overdue: 2,
    };
    b.merge(&a);
    assert_eq!(
        b,
        RotationCounts {
            current: 1,
            due: 1,
            new: 1,
            overdue: 3
        }
    );
    assert_eq!(b.rate(), Some(2.0 / 6.0));
    assert!(RotationStatus::Due.covered() && RotationStatus::Current.covered());
    assert!(!RotationStatus::New.covered() && !RotationStatus::Overdue.covered());
    let names: Vec<_> = RotationStatus::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(names, ["current", "due", "new", "overdue"]);
    assert_eq!(
        serde_json::to_string(&RotationStatus::Overdue).unwrap(),
        "\"overdue\""
    );
    assert_eq!(RotationStatus::Overdue.zh(), "逾期未训");
}

struct WindowCase {
    name: &'static str,
    window: Window,
    as_of: &'static str,
    tweak: fn(&mut Policy),
    expected: &'static str,
}

#[test]
fn window_start_table() {
    use Window::*;
    let w = |name, window, as_of, expected| WindowCase {
        name,
        window,
        as_of,
        tweak: no_change,
        expected,
    };
    let every_3_from_2021 = |p: &mut Policy| {
        p.plan_period = crate::policy::PlanPeriod {
            start_year: 2021,
            years: 3,
        }
    };
    #[rustfmt::skip]
    let cases = [
        w("calendar year mid-year",                        CalendarYear, "2025-06-30", "2025-01-01"),
        w("calendar year on 1 Jan",                        CalendarYear, "2025-01-01", "2025-01-01"),
        w("calendar year on 31 Dec",                       CalendarYear, "2024-12-31", "2024-01-01"),
        w("calendar year on 29 Feb",                       CalendarYear, "2024-02-29", "2024-01-01"),
        w("plan period first day",                         PlanPeriod,   "2023-01-01", "2023-01-01"),
        w("plan period 29 Feb 2024",                       PlanPeriod,   "2024-02-29", "2023-01-01"),
        w("plan period last day 2027-12-31",               PlanPeriod,   "2027-12-31", "2023-01-01"),
        w("next plan period starts 2028-01-01",            PlanPeriod,   "2028-01-01", "2028-01-01"),
        w("next plan period last day",                     PlanPeriod,   "2032-12-31", "2028-01-01"),
        w("previous plan period, backwards: 2022 -> 2018", PlanPeriod,   "2022-12-31", "2018-01-01"),
        w("previous plan period first day",                PlanPeriod,   "2018-01-01", "2018-01-01"),
        w("two periods back: 2017 -> 2013",                PlanPeriod,   "2017-12-31", "2013-01-01"),
        WindowCase { name: "override every 3 from 2021: 2025 -> 2024", window: PlanPeriod, as_of: "2025-06-30", tweak: every_3_from_2021, expected: "2024-01-01" },
        WindowCase { name: "override every 3 from 2021: 2020 -> 2018", window: PlanPeriod, as_of: "2020-06-30", tweak: every_3_from_2021, expected: "2018-01-01" },
    ];
    for case in &cases {
        let p = policy_with(case.tweak);
        assert_eq!(
            window_start(&p, case.window, d(case.as_of)),
            d(case.expected),
            "case {}",
            case.name
        );
    }
}

struct HoursCase {
    name: &'static str,
    rank: Rank,
    as_of: &'static str,
    facts: Vec<TrainingFact>,
    tweak: fn(&mut Policy),
    /// (hours, days, met) of the centralized rule.
    centralized: Option<(&'static str, u32, bool)>,
    /// (hours, met) of the online rule.
    online: Option<(&'static str, bool)>,
}

#[test]
fn hours_table() {
    use Outcome::*;
    use Rank::*;
    const AS_OF: &str = "2025-06-30";
    let c = |name, rank, as_of, facts, centralized, online| HoursCase {
        name,
        rank,
        as_of,
        facts,
        tweak: no_change,
        centralized,
        online,
    };
    let plan = vec![
        cz("2023-01-01", "300", 40),
        TrainingFact {
            organizer: org("100000"),
            ..cz("2027-12-31", "250", 30)
        },
    ];
    let mut cases = vec![
        c(
            "leading: classes ending 2023-01-01 and 2027-12-31 both in the 2023–2027 period, 550 h exactly -> met",
            Leading,
            "2027-12-31",
            plan.clone(),
            Some(("550", 70, true)),
            Some(("0", false)),
        ),
        c(
            "leading as_of 2028-01-01: new period, only the class ending that day counts",
            Leading,
            "2028-01-01",
            [plan, vec![cz("2028-01-01", "10", 1)]].concat(),
            Some(("10", 1, false)),
            Some(("0", false)),
        ),
        c(
            "leading as_of 2023-06-30: class ending 2022-12-31 is before the period",
            Leading,
            "2023-06-30",
            vec![cz("2022-12-31", "600", 100), cz("2023-01-01", "20", 3)],
            Some(("20", 3, false)),
            Some(("0", false)),
        ),
        c(
            "leading: met by days alone, 90 days and 100 h",
            Leading,
            AS_OF,
            vec![cz("2024-05-01", "60", 60), cz("2025-03-01", "40", 30)],
            Some(("100", 90, true)),
            Some(("0", false)),
        ),
        c(
            "leading: met by hours alone, 550 h in 10 days",
            Leading,
            AS_OF,
            vec![cz("2024-05-01", "550", 10)],
            Some(("550", 10, true)),
            Some(("0", false)),
        ),
        c(
            "leading: neither, 549.9 h and 89 days",
            Leading,
            AS_OF,
            vec![cz("2024-05-01", "549.9", 89)],
            Some(("549.9", 89, false)),
            Some(("0", false)),
        ),
        c(
            "general: class ending 2024-12-31 is last calendar year's",
            General,
            AS_OF,
            vec![cz("2024-12-31", "90", 12), cz("2025-01-01", "10", 2)],
            Some(("10", 2, false)),
            Some(("0", false)),
        ),
        c(
            "general: met by days alone, 12 days and 10 h, ending on 1 Jan",
            General,
            AS_OF,
            vec![cz("2025-01-01", "10", 12)],
            Some(("10", 12, true)),
            Some(("0", false)),
        ),
        c(
            "general: met by hours alone, 90 h in 5 days",
            General,
            AS_OF,
            vec![cz("2025-03-01", "90", 5)],
            Some(("90", 5, true)),
            Some(("0", false)),
        ),
        c(
            "general: neither, 89.9 h and 11 days",
            General,
            AS_OF,
            vec![cz("2025-03-01", "89.9", 11)],
            Some(("89.9", 11, false)),
            Some(("0", false)),
        ),
        c(
            "online: exactly 50 h over two courses -> met",
            General,
            AS_OF,
            vec![ol("2025-02-01", "30"), ol("2025-06-30", "20")],
            Some(("0", 0, false)),
            Some(("50", true)),
        ),
        c(
            "online: 49.9 h -> not met",
            General,
            AS_OF,
            vec![ol("2025-02-01", "49.9")],
            Some(("0", 0, false)),
            Some(("49.9", false)),
        ),
        c(
            "online hours and days do not count toward centralized",
            General,
            AS_OF,
            vec![TrainingFact {
                days: 20,
                ..ol("2025-02-01", "100")
            }],
            Some(("0", 0, false)),
            Some(("100", true)),
        ),
        c(
            "centralized hours do not count toward online",
            General,
            AS_OF,
            vec![cz("2025-02-01", "100", 13)],
            Some(("100", 13, true)),
            Some(("0", false)),
        ),
        c(
            "leading: online rule is per calendar year even inside the plan period",
            Leading,
            AS_OF,
            vec![ol("2024-12-31", "30"), ol("2025-01-02", "30")],
            Some(("0", 0, false)),
            Some(("30", false)),
        ),
        c(
            "grassroots: no hour rule at all",
            Grassroots,
            AS_OF,
            vec![cz("2025-02-01", "600", 100), ol("2025-02-01", "100")],
            None,
            None,
        ),
        c(
            "failed counts for hours",
            General,
            AS_OF,
            vec![
                with(Failed, cz("2025-02-01", "90", 1)),
                with(Failed, ol("2025-02-01", "50")),
            ],
            Some(("90", 1, true)),
            Some(("50", true)),
        ),
        c(
            "absences earn no hours or days",
            General,
            AS_OF,
            vec![
                with(AbsentJustified, cz("2025-02-01", "90", 12)),
                with(AbsentUnjustified, cz("2025-03-01", "90", 12)),
                with(AbsentJustified, ol("2025-02-01", "50")),
            ],
            Some(("0", 0, false)),
            Some(("0", false)),
        ),
        c(
            "class ending after as_of ignored even though it started before",
            General,
            AS_OF,
            vec![
                TrainingFact {
                    start: d("2025-06-25"),
                    ..cz("2025-07-02", "90", 8)
                },
                ol("2025-07-01", "50"),
            ],
            Some(("0", 0, false)),
            Some(("0", false)),
        ),
        c(
            "class ending on as_of counts",
            General,
            AS_OF,
            vec![cz(AS_OF, "90", 1)],
            Some(("90", 1, true)),
            Some(("0", false)),
        ),
        c(
            "hours count wherever held: national + province + county classes",
            General,
            AS_OF,
            vec![
                TrainingFact {
                    organizer: org("100000"),
                    ..cz("2025-02-01", "30", 1)
                },
                cz("2025-03-01", "30", 1),
                TrainingFact {
                    organizer: org("410102"),
                    ..cz("2025-04-01", "30", 1)
                },
            ],
            Some(("90", 3, true)),
            Some(("0", false)),
        ),
        c(
            "29 Feb: as_of 2024-02-29, classes ending 2024-01-01 and 2024-02-29 count",
            General,
            "2024-02-29",
            vec![
                cz("2024-01-01", "45", 6),
                cz("2024-02-29", "45", 6),
                cz("2023-12-31", "45", 6),
            ],
            Some(("90", 12, true)),
            Some(("0", false)),
        ),
        c(
            "default general: 85 h and 3 days not met",
            General,
            AS_OF,
            vec![cz("2025-03-01", "85", 3)],
            Some(("85", 3, false)),
            Some(("0", false)),
        ),
    ];
    let o = |name, rank, facts, tweak, centralized, online| HoursCase {
        name,
        rank,
        as_of: AS_OF,
        facts,
        tweak,
        centralized,
        online,
    };
    cases.extend([
        o(
            "override general 80 h: 85 h now met",
            General,
            vec![cz("2025-03-01", "85", 3)],
            |p: &mut Policy| p.hours.general.hours = 80,
            Some(("85", 3, true)),
            Some(("0", false)),
        ),
        o(
            "override general window plan_period: a 2024 class counts",
            General,
            vec![cz("2024-03-01", "90", 12)],
            |p: &mut Policy| p.hours.general.window = Window::PlanPeriod,
            Some(("90", 12, true)),
            Some(("0", false)),
        ),
        o(
            "default general window: the same 2024 class does not count",
            General,
            vec![cz("2024-03-01", "90", 12)],
            no_change,
            Some(("0", 0, false)),
            Some(("0", false)),
        ),
        o(
            "override plan period from 2021: a leading class ending 2022-06-01 counts",
            Leading,
            vec![cz("2022-06-01", "550", 10)],
            |p: &mut Policy| p.plan_period.start_year = 2021,
            Some(("550", 10, true)),
            Some(("0", false)),
        ),
        o(
            "default plan period 2023: the same 2022 class does not count",
            Leading,
            vec![cz("2022-06-01", "550", 10)],
            no_change,
            Some(("0", 0, false)),
            Some(("0", false)),
        ),
        o(
            "override online 40 h: 45 h met",
            Leading,
            vec![ol("2025-03-01", "45")],
            |p: &mut Policy| p.hours.online.hours = 40,
            Some(("0", 0, false)),
            Some(("45", true)),
        ),
        o(
            "override leading 60 days: 60 days met",
            Leading,
            vec![cz("2025-03-01", "300", 60)],
            |p: &mut Policy| p.hours.leading.days = 60,
            Some(("300", 60, true)),
            Some(("0", false)),
        ),
    ]);
    for case in &cases {
        let policy = policy_with(case.tweak);
        let got = hours_status(&policy, case.rank, d(case.as_of), &case.facts);
        let centralized = got.centralized.map(|t| (t.hours, t.days, t.met));
        let expected = case
            .centralized
            .map(|(hours, days, met)| (h(hours), days, met));
        assert_eq!(centralized, expected, "case {} (centralized)", case.name);
        let online = got.online.map(|t| (t.hours, t.met));
        let expected = case.online.map(|(hours, met)| (h(hours), met));
        assert_eq!(online, expected, "case {} (online)", case.name);
    }
}

#[test]
fn tally_carries_requirements_and_window() {
    let p = Policy::default();
    let as_of = d("2025-06-30");
    let lead = hours_status(&p, Rank::Leading, as_of, &[]);
    let c = lead.centralized.unwrap();
    assert_eq!(
        (c.required_hours, c.required_days, c.window_start),
        (h("550"), Some(90), d("2023-01-01"))
    );
    let o = lead.online.unwrap();
    assert_eq!(
        (o.required_hours, o.required_days, o.window_start),
        (h("50"), None, d("2025-01-01"))
    );
    let gen_c = hours_status(&p, Rank::General, as_of, &[])
        .centralized
        .unwrap();
    assert_eq!(
        (
            gen_c.required_hours,
            gen_c.required_days,
            gen_c.window_start
        ),
        (h("90"), Some(12), d("2025-01-01"))
    );
    let json = serde_json::to_value(hours_status(
        &p,
        Rank::General,
        as_of,
        &[cz("2025-03-01", "12.5", 2)],
    ))
    .unwrap();
    assert_eq!(json["centralized"]["hours"], serde_json::json!(12.5));
    assert_eq!(json["centralized"]["required_hours"], serde_json::json!(90));
    assert_eq!(json["centralized"]["window_start"], "2025-01-01");
    assert_eq!(json["online"]["required_days"], serde_json::Value::Null);
    assert_eq!(
        serde_json::to_value(hours_status(&p, Rank::Grassroots, as_of, &[])).unwrap(),
        serde_json::json!({"centralized": null, "online": null})
    );
}

struct ConsequenceCase {
    name: &'static str,
    year: i32,
    facts: Vec<TrainingFact>,
    tweak: fn(&mut Policy),
    /// off_job, long_off_job, failed, unjustified_absences
    expected: [&'static [usize]; 4],
}

#[test]
fn consequences_table() {
    use Outcome::*;
    let none: &[usize] = &[];
    let c = |name, year, facts, expected| ConsequenceCase {
        name,
        year,
        facts,
        tweak: no_change,
        expected,
    };
    let cases = [
        c(
            "attended off-job class -> annual assessment form",
            2024,
            vec![oj("2024-03-01", "2024-03-10", Completed)],
            [&[0], none, none, none],
        ),
        c(
            "not off-job -> nothing",
            2024,
            vec![class("410000", "2024-03-10")],
            [none, none, none, none],
        ),
        c(
            "failed off-job -> off-job and failed",
            2024,
            vec![oj("2024-03-01", "2024-03-10", Failed)],
            [&[0], none, &[0], none],
        ),
        c(
            "absent_unjustified off-job -> only the unjustified absence",
            2024,
            vec![oj("2024-03-01", "2024-03-10", AbsentUnjustified)],
            [none, none, none, &[0]],
        ),
        c(
            "absent_justified -> nothing",
            2024,
            vec![oj("2024-03-01", "2024-03-10", AbsentJustified)],
            [none, none, none, none],
        ),
        c(
            "class spanning new year belongs to its end year 2024",
            2024,
            vec![oj("2023-12-20", "2024-01-10", Completed)],
            [&[0], none, none, none],
        ),
        c(
            "... and not to its start year 2023",
            2023,
            vec![oj("2023-12-20", "2024-01-10", Completed)],
            [none, none, none, none],
        ),
        c(
            "span 61 days (03-01..04-30) > 60 -> long",
            2024,
            vec![oj("2024-03-01", "2024-04-30", Completed)],
            [&[0], &[0], none, none],
        ),
        c(
            "span exactly 60 days (03-01..04-29) -> not long",
            2024,
            vec![oj("2024-03-01", "2024-04-29", Completed)],
            [&[0], none, none, none],
        ),
        c(
            "calendar span decides, not credited days: 61-day span crediting 20 days -> long",
            2024,
            vec![TrainingFact {
                days: 20,
                ..oj("2024-03-01", "2024-04-30", Completed)
            }],
            [&[0], &[0], none, none],
        ),
        c(
            "long but absent_justified -> on no list",
            2024,
            vec![oj("2024-03-01", "2024-05-30", AbsentJustified)],
            [none, none, none, none],
        ),
        c(
            "long but not off-job -> on no list",
            2024,
            vec![TrainingFact {
                off_job: false,
                ..oj("2024-03-01", "2024-05-30", Completed)
            }],
            [none, none, none, none],
        ),
        c(
            "failed long off-job class -> on three lists",
            2024,
            vec![oj("2024-03-01", "2024-05-30", Failed)],
            [&[0], &[0], &[0], none],
        ),
        c(
            "failed online course, not off-job -> failed only",
            2024,
            vec![with(Failed, ol("2024-05-01", "10"))],
            [none, none, &[0], none],
        ),
        c(
            "failure in a class ending 2025-01-01 is not 2024's",
            2024,
            vec![oj("2024-12-20", "2025-01-01", Failed)],
            [none, none, none, none],
        ),
        c(
            "indices follow fact order; other years skipped",
            2024,
            vec![
                oj("2023-05-01", "2023-05-10", Completed),
                oj("2024-05-01", "2024-05-10", Completed),
                with(Failed, class("410100", "2024-06-01")),
                with(AbsentUnjustified, class("410100", "2025-01-02")),
                with(AbsentUnjustified, class("410102", "2024-09-01")),
            ],
            [&[1], none, &[2], &[4]],
        ),
        ConsequenceCase {
            name: "override long_off_job_days 30: a 40-day class is long",
            year: 2024,
            facts: vec![oj("2024-03-01", "2024-04-09", Completed)],
            tweak: |p| p.long_off_job_days = 30,
            expected: [&[0], &[0], none, none],
        },
        c(
            "default: the same 40-day class is not long",
            2024,
            vec![oj("2024-03-01", "2024-04-09", Completed)],
            [&[0], none, none, none],
        ),
    ];
    for case in &cases {
        let policy = policy_with(case.tweak);
        let got = consequences(&policy, case.year, &case.facts);
        let [off_job, long_off_job, failed, unjustified] = case.expected;
        let expected = YearConsequences {
            off_job: off_job.to_vec(),
            long_off_job: long_off_job.to_vec(),
            failed: failed.to_vec(),
            unjustified_absences: unjustified.to_vec(),
        };
        assert_eq!(got, expected, "case {}", case.name);
        assert_eq!(
            got.excellent_barred(),
            !failed.is_empty(),
            "case {} (excellent)",
            case.name
        );
    }
}

#[test]
fn fact_from_class_resolves_days() {
    let mut class = Class {
        class_id: "C1".parse::<ClassId>().unwrap(),
        title: "t".into(),
        category: String::new(),
        mode: Mode::Centralized,
        off_job: true,
        start: d("2024-03-01"),
        end: d("2024-03-05"),
        hours: h("40"),
        days: None,
    };
    let attendance = Attendance {
        class_id: class.class_id.clone(),
        person: "11010519491231002X".parse().unwrap(),
        hours: h("32.5"),
        outcome: Outcome::Failed,
        name: "张三".into(),
    };
    let f = TrainingFact::from_class(org("410000"), &class, &attendance);
    assert_eq!(
        (f.days, f.hours, f.outcome, f.off_job),
        (5, h("32.5"), Outcome::Failed, true)
    );
    class.days = Some(3);
    assert_eq!(
        TrainingFact::from_class(org("410000"), &class, &attendance).days,
        3
    );
}
