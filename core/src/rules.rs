//! The rules of DOMAIN.md sections 2–4 as pure functions: rotation status,
//! hour tallies and personnel consequences.
//!
//! Nothing here does I/O or knows how records are stored: callers join each
//! attendance with its class into a [`TrainingFact`] and pass the facts of one
//! person. Every function takes the date it judges on (`as_of`) explicitly,
//! so a report for a past date gives the same numbers it gave that day.
//!
//! # Date arithmetic
//!
//! "Within k years" means the class ended strictly after [`cutoff`]`(as_of,
//! k)`; "on the roster for less than k years" means `since` is strictly after
//! it. Only classes that ended on or before `as_of` count, anywhere here.

use chrono::{Datelike, Months, NaiveDate};
use serde::{Serialize, Serializer};

use crate::model::{Attendance, Class, Date, Hours, Mode, Outcome, Rank};
use crate::orgs::OrgId;
use crate::policy::{Cycle, Policy, Window};

/// `as_of` moved back `years` calendar years; 29 February becomes 28
/// February when the target year has none.
pub fn cutoff(as_of: Date, years: u32) -> Date {
    // chrono clamps to the month's last day, which is exactly the 29 Feb rule.
    as_of
        .checked_sub_months(Months::new(years.saturating_mul(12)))
        .unwrap_or(NaiveDate::MIN)
}

/// Where one roster entry stands in its node's rotation cycle on a date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RotationStatus {
    /// Trained by this node within `min` years.
    Current,
    /// Last trained longer ago than `min` but within `max` years: still
    /// covered, but belongs in the next class.
    Due,
    /// Never trained by this node, on the roster for less than `max` years:
    /// not yet late.
    New,
    /// Last trained longer ago than `max` years, or never trained and on the
    /// roster for `max` years or more.
    Overdue,
}

impl RotationStatus {
    /// Every status, in report order.
    pub const ALL: [RotationStatus; 4] = [
        RotationStatus::Current,
        RotationStatus::Due,
        RotationStatus::New,
        RotationStatus::Overdue,
    ];

    /// The English spelling, as in JSON and CSV.
    pub fn as_str(self) -> &'static str {
        match self {
            RotationStatus::Current => "current",
            RotationStatus::Due => "due",
            RotationStatus::New => "new",
            RotationStatus::Overdue => "overdue",
        }
    }

    /// The label printed in Chinese reports.
    pub fn zh(self) -> &'static str {
        match self {
            RotationStatus::Current => "在周期内",
            RotationStatus::Due => "应安排轮训",
            RotationStatus::New => "新列入",
            RotationStatus::Overdue => "逾期未训",
        }
    }

    /// Whether the entry counts as rotated for the coverage rate (current or due).
    pub fn covered(self) -> bool {
        matches!(self, RotationStatus::Current | RotationStatus::Due)
    }
}

impl std::fmt::Display for RotationStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The rotation status of a roster entry (DOMAIN.md section 2).
///
/// `cycle` is the responsible node's own level's cycle; `since` is when the
/// entry was put on the roster; `last_trained` the end of the last attended
/// centralized class that node organized (see [`last_rotation_training`]). A
/// `last_trained` after `as_of` is ignored, as every class ending after
/// `as_of` is.
///
/// `since` only matters for people never trained by this node: someone
/// trained long ago (more than `max` years) is `overdue` even if they were put
/// on the roster recently, because the text defines `new` as "never trained by
/// this node".
pub fn rotation_status(
    cycle: Cycle,
    as_of: Date,
    since: Date,
    last_trained: Option<Date>,
) -> RotationStatus {
    match last_trained.filter(|&t| t <= as_of) {
        Some(t) if t > cutoff(as_of, cycle.min_years) => RotationStatus::Current,
        Some(t) if t > cutoff(as_of, cycle.max_years) => RotationStatus::Due,
        Some(_) => RotationStatus::Overdue,
        None if since > cutoff(as_of, cycle.max_years) => RotationStatus::New,
        None => RotationStatus::Overdue,
    }
}

/// One attendance joined with its class: what the rules need to know about a
/// training someone took part in (or missed).
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingFact {
    /// The node that organized the class (the class's origin): only its own
    /// classes rotate its roster.
    pub organizer: OrgId,
    /// Centralized classes count for rotation and centralized hours; online
    /// ones for online hours only.
    pub mode: Mode,
    /// 脱产: goes into the annual assessment form.
    pub off_job: bool,
    /// First day of the class: with `end`, the calendar span for the long
    /// off-job rule.
    pub start: Date,
    /// Last day of the class: decides the window and year it counts in.
    pub end: Date,
    /// Credited days ([`Class::credited_days`]), for the day thresholds.
    pub days: u32,
    /// Hours credited to this person.
    pub hours: Hours,
    /// Whether the person attended, failed or was absent.
    pub outcome: Outcome,
}

impl TrainingFact {
    /// Joins an attendance with its class, organized by `organizer`.
    pub fn from_class(organizer: OrgId, class: &Class, attendance: &Attendance) -> TrainingFact {
        TrainingFact {
            organizer,
            mode: class.mode,
            off_job: class.off_job,
            start: class.start,
            end: class.end,
            days: class.credited_days(),
            hours: attendance.hours,
            outcome: attendance.outcome,
        }
    }

    /// Whether this fact counts on `as_of` at all: the person attended and
    /// the class had ended.
    fn attended_by(&self, as_of: Date) -> bool {
        self.outcome.attended() && self.end <= as_of
    }

    /// Days from first to last day of the class, both included.
    fn span_days(&self) -> i64 {
        (self.end - self.start).num_days() + 1
    }
}

/// The end of the latest class that rotates `organizer`'s roster: organized
/// by it, centralized, attended (completed or failed), ended on or before
/// `as_of`.
pub fn last_rotation_training(
    organizer: OrgId,
    as_of: Date,
    facts: &[TrainingFact],
) -> Option<Date> {
    facts
        .iter()
        .filter(|f| f.organizer == organizer && f.mode == Mode::Centralized && f.attended_by(as_of))
        .map(|f| f.end)
        .max()
}

/// The first day of the window that contains `as_of`: 1 January of its year,
/// or 1 January of the first year of its plan period (`start_year` and every
/// `years` before and after it: 2018, 2023, 2028, ...).
pub fn window_start(policy: &Policy, window: Window, as_of: Date) -> Date {
    let year = as_of.year();
    let first = match window {
        Window::CalendarYear => year,
        Window::PlanPeriod => {
            let start = policy.plan_period.start_year;
            // validate() keeps years in 1..=10; max(1) keeps this total.
            let len = i32::try_from(policy.plan_period.years.max(1)).unwrap_or(i32::MAX);
            start + (year - start).div_euclid(len) * len
        }
    };
    NaiveDate::from_ymd_opt(first, 1, 1).unwrap_or(as_of)
}

fn serialize_date<S: Serializer>(date: &Date, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(date)
}

/// One hour rule's sums for one person over its window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Hours of attended classes of the rule's mode ending in the window.
    pub hours: Hours,
    /// Credited days of the same classes.
    pub days: u32,
    /// Hours that meet the rule.
    pub required_hours: Hours,
    /// Days that meet the rule on their own; `None` for the online rule,
    /// which only counts hours.
    pub required_days: Option<u32>,
    /// First day of the window (its last is `as_of`), so a report can say
    /// what it summed.
    #[serde(serialize_with = "serialize_date")]
    pub window_start: Date,
    /// Hours reach `required_hours`, or days reach `required_days`.
    pub met: bool,
}

/// A person's standing against the hour rules of their rank band.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct HoursStatus {
    /// The centralized rule; `None` when it does not apply (grassroots).
    pub centralized: Option<Tally>,
    /// The online rule; `None` when it does not apply (grassroots).
    pub online: Option<Tally>,
}

/// Sums the attended classes of `mode` ending in `window` up to `as_of`.
fn tally(
    policy: &Policy,
    mode: Mode,
    required_hours: u32,
    required_days: Option<u32>,
    window: Window,
    as_of: Date,
    facts: &[TrainingFact],
) -> Tally {
    let start = window_start(policy, window, as_of);
    let mut hours = Hours::ZERO;
    let mut days = 0u32;
    for f in facts {
        if f.mode == mode && f.attended_by(as_of) && f.end >= start {
            hours += f.hours;
            days = days.saturating_add(f.days);
        }
    }
    let required_hours = Hours::from_whole(required_hours);
    Tally {
        hours,
        days,
        required_hours,
        required_days,
        window_start: start,
        met: hours >= required_hours || required_days.is_some_and(|d| days >= d),
    }
}

/// A person's hour tallies on `as_of` (DOMAIN.md section 3), from every
/// training the caller can see for them, wherever it was held.
///
/// Leading and general cadres have a centralized rule (hours or days) and the
/// online rule (hours); grassroots workers have neither.
pub fn hours_status(
    policy: &Policy,
    rank: Rank,
    as_of: Date,
    facts: &[TrainingFact],
) -> HoursStatus {
    let rule = match rank {
        Rank::Leading => policy.hours.leading,
        Rank::General => policy.hours.general,
        Rank::Grassroots => {
            return HoursStatus {
                centralized: None,
                online: None,
            };
        }
    };
    let online = policy.hours.online;
    HoursStatus {
        centralized: Some(tally(
            policy,
            Mode::Centralized,
            rule.hours,
            Some(rule.days),
            rule.window,
            as_of,
            facts,
        )),
        online: Some(tally(
            policy,
            Mode::Online,
            online.hours,
            None,
            online.window,
            as_of,
            facts,
        )),
    }
}

/// Roster entries per rotation status, for one node or summed over many.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RotationCounts {
    /// Entries trained within `min` years.
    pub current: u64,
    /// Entries trained within `max` but not `min` years.
    pub due: u64,
    /// Entries never trained and on the roster less than `max` years.
    pub new: u64,
    /// Entries late for rotation.
    pub overdue: u64,
}

impl RotationCounts {
    /// Counts one more entry with status `s`.
    pub fn add(&mut self, s: RotationStatus) {
        let slot = match s {
            RotationStatus::Current => &mut self.current,
            RotationStatus::Due => &mut self.due,
            RotationStatus::New => &mut self.new,
            RotationStatus::Overdue => &mut self.overdue,
        };
        *slot = slot.saturating_add(1);
    }

    /// Active roster entries counted.
    pub fn roster(&self) -> u64 {
        self.current
            .saturating_add(self.due)
            .saturating_add(self.new)
            .saturating_add(self.overdue)
    }

    /// Entries that count as rotated: current and due.
    pub fn covered(&self) -> u64 {
        self.current.saturating_add(self.due)
    }

    /// Rotation coverage, covered / roster; `None` for an empty roster, which
    /// has no rate rather than a rate of 0 or 1.
    pub fn rate(&self) -> Option<f64> {
        let roster = self.roster();
        (roster > 0).then(|| self.covered() as f64 / roster as f64)
    }

    /// Adds another node's counts (for subtree totals).
    pub fn merge(&mut self, other: &RotationCounts) {
        self.current = self.current.saturating_add(other.current);
        self.due = self.due.saturating_add(other.due);
        self.new = self.new.saturating_add(other.new);
        self.overdue = self.overdue.saturating_add(other.overdue);
    }
}

/// What one person's trainings of one year mean for their personnel files
/// (DOMAIN.md section 4). Each list holds indices into the facts passed to
/// [`consequences`], in their order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct YearConsequences {
    /// Attended off-job trainings: go into the annual assessment form (年度考核登记表).
    pub off_job: Vec<usize>,
    /// Attended off-job trainings spanning more than `long_off_job_days`
    /// calendar days: go into the appointment approval form (干部任免审批表).
    pub long_off_job: Vec<usize>,
    /// Failed assessments: the person cannot be rated 优秀 that year.
    pub failed: Vec<usize>,
    /// Absences without a reason: criticism up to organizational handling.
    pub unjustified_absences: Vec<usize>,
}

impl YearConsequences {
    /// Whether a failed assessment bars the person from 优秀 this year.
    pub fn excellent_barred(&self) -> bool {
        !self.failed.is_empty()
    }
}

/// One person's consequences for `year`. A training belongs to the year its
/// class ends in; only attended ones go on the off-job lists.
pub fn consequences(policy: &Policy, year: i32, facts: &[TrainingFact]) -> YearConsequences {
    let mut out = YearConsequences::default();
    for (i, f) in facts.iter().enumerate() {
        if f.end.year() != year {
            continue;
        }
        if f.off_job && f.outcome.attended() {
            out.off_job.push(i);
            if f.span_days() > i64::from(policy.long_off_job_days) {
                out.long_off_job.push(i);
            }
        }
        match f.outcome {
            Outcome::Failed => out.failed.push(i),
            Outcome::AbsentUnjustified => out.unjustified_absences.push(i),
            Outcome::Completed | Outcome::AbsentJustified => {}
        }
    }
    out
}

#[cfg(test)]
mod tests;
