//! The personal training archive (培训档案): one person's file as a
//! personnel office keeps it, year by year — the rosters they were on with
//! their statuses at the year's end, every training the viewer can see that
//! ended that year, the year's totals as the rules count them, and the
//! year's consequences (DOMAIN.md §4).
//!
//! Pure: the node's CLI writes it as a workbook, the dashboard serves the
//! same bytes. Years run from the earliest roster or training year to the
//! year of `as_of`; dates are bounded (`DATE_MIN..=DATE_MAX`), so the number
//! of years is too.

use chrono::{Datelike, NaiveDate};
use serde::Serialize;

use crate::figures::entry_status;
use crate::model::{Class, Date, Hours, Mode, Outcome, PersonId, Rank};
use crate::orgs::{OrgDirectory, OrgId};
use crate::policy::Policy;
use crate::rules::{self, HoursStatus, RotationStatus, TrainingFact};
use crate::view::View;

/// What DOMAIN.md §4 makes of a training in the year it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Consequence {
    /// An attended off-job training: into the annual assessment form.
    OffJob,
    /// An attended off-job training longer than two months: into the
    /// appointment approval form as well.
    LongOffJob,
    /// A failed assessment: the person cannot be rated 优秀 that year.
    Failed,
    /// Absent without a reason: criticism up to organizational handling.
    Absent,
}

impl Consequence {
    pub fn as_str(self) -> &'static str {
        match self {
            Consequence::OffJob => "off-job training: annual assessment form",
            Consequence::LongOffJob => "off-job over two months: appointment approval form",
            Consequence::Failed => "failed assessment: cannot be rated excellent this year",
            Consequence::Absent => "unjustified absence: criticism up to organizational handling",
        }
    }

    pub fn zh(self) -> &'static str {
        match self {
            Consequence::OffJob => "脱产培训，记入年度考核登记表",
            Consequence::LongOffJob => "脱产培训两个月以上，记入干部任免审批表",
            Consequence::Failed => "培训考核不合格，年度考核不得评为优秀",
            Consequence::Absent => "无正当理由不参加培训，批评教育直至组织处理",
        }
    }
}

/// A roster entry of the person in one year, with its statuses on that
/// year's status date.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArchiveEntry {
    pub org: String,
    pub org_name: String,
    pub rank: Rank,
    pub since: Date,
    pub until: Option<Date>,
    pub employer: String,
    pub position: String,
    /// On the roster on the status date; the statuses below only then.
    pub active: bool,
    pub last_trained: Option<Date>,
    pub rotation: Option<RotationStatus>,
    pub hours: Option<HoursStatus>,
}

/// A training of the person whose class the viewer holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArchiveTraining {
    pub organizer: String,
    pub organizer_name: String,
    pub class_id: String,
    pub title: String,
    pub mode: Mode,
    pub off_job: bool,
    pub start: Date,
    pub end: Date,
    pub days: u32,
    pub hours: Hours,
    pub result: Outcome,
}

/// An attendance whose class record the viewer does not hold: no date
/// places it in a year, so it is listed apart.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UndatedTraining {
    pub organizer: String,
    pub organizer_name: String,
    pub class_id: String,
    pub hours: Hours,
    pub result: Outcome,
}

/// A year's sums over the trainings the person attended (completed or
/// failed), as the hour rules add them: centralized hours and days, online
/// hours.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct YearTotals {
    pub trainings: usize,
    pub attended: usize,
    pub centralized_hours: Hours,
    pub centralized_days: u32,
    pub online_hours: Hours,
    /// Days of attended off-job classes, first to last day.
    pub off_job_days: u32,
}

/// One year of the archive.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArchiveYear {
    pub year: i32,
    /// 31 December, or `as_of` in its own year: the statuses are on this day.
    pub status_date: Date,
    /// Entries on a roster at some time in the year up to the status date.
    pub rosters: Vec<ArchiveEntry>,
    /// Trainings whose class ended in the year (and by `as_of`), in date order.
    pub trainings: Vec<ArchiveTraining>,
    pub totals: YearTotals,
    /// Each consequence with the index of its training in `trainings`.
    pub consequences: Vec<(Consequence, usize)>,
}

impl ArchiveYear {
    /// Whether a failed assessment bars 优秀 this year.
    pub fn excellent_barred(&self) -> bool {
        self.consequences
            .iter()
            .any(|(c, _)| *c == Consequence::Failed)
    }
}

/// The archive of one person.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PersonArchive {
    /// The full ID: the archive is the person's own file. Renderers keep it
    /// out of logs, errors and URLs.
    #[serde(skip)]
    pub person: PersonId,
    pub name: Option<String>,
    pub as_of: Date,
    /// Earliest year first.
    pub years: Vec<ArchiveYear>,
    pub undated: Vec<UndatedTraining>,
    /// Trainings whose class ends after `as_of`: not yet part of the file.
    pub later: usize,
}

/// The archive of `person` on `as_of` as seen from `scope`'s subtree: its
/// roster entries there and, when it holds one, every training of the
/// person (they count towards its figures); otherwise only the trainings
/// its orgs organized. `None` when nothing is left.
pub fn person_archive(
    view: &View,
    orgs: &OrgDirectory,
    policy: &Policy,
    person: PersonId,
    scope: OrgId,
    as_of: Date,
) -> Option<PersonArchive> {
    let entries: Vec<_> = view
        .roster_entries_of(person)
        .into_iter()
        .filter(|(org, _)| orgs.is_within(*org, scope))
        .collect();
    let rostered = !entries.is_empty();
    let mut dated: Vec<(OrgId, &Class, String, Hours, Outcome)> = Vec::new();
    let mut undated = Vec::new();
    for (org, class, class_id, hours, result) in view.trainings_of(person) {
        if !rostered && !orgs.is_within(org, scope) {
            continue;
        }
        match class {
            Some(c) => dated.push((org, c, class_id.to_string(), hours, result)),
            None => undated.push(UndatedTraining {
                organizer: orgs.code(org).to_owned(),
                organizer_name: orgs.org(org).name.clone(),
                class_id: class_id.to_string(),
                hours,
                result,
            }),
        }
    }
    if entries.is_empty() && dated.is_empty() && undated.is_empty() {
        return None;
    }
    undated.sort_by(|a, b| a.class_id.cmp(&b.class_id));
    let later = dated.iter().filter(|t| t.1.end > as_of).count();
    dated.retain(|t| t.1.end <= as_of);
    dated.sort_by(|a, b| (a.1.end, a.1.start, &a.2, a.0).cmp(&(b.1.end, b.1.start, &b.2, b.0)));
    // The statuses count every training the viewer holds, as the figures do.
    let all_facts = view.facts(person);
    let facts: Vec<TrainingFact> = dated
        .iter()
        .map(|(org, c, _, hours, result)| TrainingFact {
            organizer: *org,
            mode: c.mode,
            off_job: c.off_job,
            start: c.start,
            end: c.end,
            days: c.credited_days(),
            hours: *hours,
            outcome: *result,
        })
        .collect();
    let first = entries
        .iter()
        .map(|(_, e)| e.since)
        .chain(facts.iter().map(|f| f.end))
        .filter(|d| *d <= as_of)
        .map(|d| d.year())
        .min();
    let mut years = Vec::new();
    for year in first.into_iter().flat_map(|f| f..=as_of.year()) {
        let status_date = NaiveDate::from_ymd_opt(year, 12, 31).map_or(as_of, |d| d.min(as_of));
        let jan1 = NaiveDate::from_ymd_opt(year, 1, 1).unwrap_or(status_date);
        let rosters = entries
            .iter()
            .filter(|(_, e)| e.since <= status_date && e.until.is_none_or(|u| u > jan1))
            .map(|(org, e)| {
                let active = e.active_on(status_date);
                let s =
                    active.then(|| entry_status(orgs, policy, *org, e, status_date, &all_facts));
                ArchiveEntry {
                    org: orgs.code(*org).to_owned(),
                    org_name: orgs.org(*org).name.clone(),
                    rank: e.rank,
                    since: e.since,
                    until: e.until,
                    employer: e.employer.clone(),
                    position: e.position.clone(),
                    active,
                    last_trained: s.as_ref().and_then(|s| s.last_trained),
                    rotation: s.as_ref().map(|s| s.rotation),
                    hours: s.map(|s| s.hours),
                }
            })
            .collect();
        let in_year: Vec<usize> = (0..facts.len())
            .filter(|i| facts[*i].end.year() == year)
            .collect();
        let offset = in_year.first().copied().unwrap_or(0);
        let trainings: Vec<ArchiveTraining> = in_year
            .iter()
            .map(|&i| {
                let (org, c, class_id, hours, result) = &dated[i];
                ArchiveTraining {
                    organizer: orgs.code(*org).to_owned(),
                    organizer_name: orgs.org(*org).name.clone(),
                    class_id: class_id.clone(),
                    title: c.title.clone(),
                    mode: c.mode,
                    off_job: c.off_job,
                    start: c.start,
                    end: c.end,
                    days: c.credited_days(),
                    hours: *hours,
                    result: *result,
                }
            })
            .collect();
        let mut totals = YearTotals {
            trainings: trainings.len(),
            ..YearTotals::default()
        };
        for &i in &in_year {
            let f = &facts[i];
            if !f.outcome.attended() {
                continue;
            }
            totals.attended += 1;
            match f.mode {
                Mode::Centralized => {
                    totals.centralized_hours += f.hours;
                    totals.centralized_days = totals.centralized_days.saturating_add(f.days);
                }
                Mode::Online => totals.online_hours += f.hours,
            }
            if f.off_job {
                let span = u32::try_from((f.end - f.start).num_days() + 1).unwrap_or(0);
                totals.off_job_days = totals.off_job_days.saturating_add(span);
            }
        }
        // The facts are in date order, so a year's are one run from `offset`.
        let c = rules::consequences(policy, year, &facts);
        let mut consequences = Vec::new();
        for (kind, indices) in [
            (Consequence::OffJob, &c.off_job),
            (Consequence::LongOffJob, &c.long_off_job),
            (Consequence::Failed, &c.failed),
            (Consequence::Absent, &c.unjustified_absences),
        ] {
            consequences.extend(indices.iter().map(|i| (kind, i.saturating_sub(offset))));
        }
        years.push(ArchiveYear {
            year,
            status_date,
            rosters,
            trainings,
            totals,
            consequences,
        });
    }
    Some(PersonArchive {
        person,
        name: view.name_of(person).map(str::to_owned),
        as_of,
        years,
        undated,
        later,
    })
}

#[cfg(test)]
mod tests;
