//! Trends: a node's rotation coverage (own roster and subtree) and hour
//! compliance at every month end of the plan period, each point what
//! `coverage --as-of` gives on that date.
//!
//! A rollup costs a pass over every roster of the view; a trend instead
//! passes once over the people on rosters inside the requested subtree, and
//! evaluates each of their entries at every date from the same facts. A
//! county's trend therefore reads only the county's people, and the
//! national trend reads everyone once (not once per month).

use chrono::{Datelike, Months, NaiveDate};
use serde::Serialize;

use crate::coverage::{HoursCounts, RotationJson};
use crate::figures::{OwnFigures, entry_status};
use crate::model::{Date, PersonId};
use crate::orgs::{OrgDirectory, OrgId};
use crate::policy::{Policy, Window};
use crate::rules::{TrainingFact, window_start};
use crate::view::View;

/// Most points of a trend: every month of the longest plan period (10
/// years, `policy::validate`) and the date asked for.
pub const TREND_POINTS_MAX: usize = 12 * 10 + 1;

/// The figures of one date.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrendPoint {
    pub as_of: Date,
    /// The node's own roster.
    pub rotation: RotationJson,
    pub hours: HoursCounts,
    /// The node and every descendant.
    pub subtree_rotation: RotationJson,
    pub subtree_hours: HoursCounts,
}

/// A node's trend over the plan period up to a date.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trend {
    pub org: String,
    pub name: String,
    /// First day of the plan period containing the date.
    pub plan_period_start: Date,
    pub as_of: Date,
    pub points: Vec<TrendPoint>,
}

/// The last day of `date`'s month.
pub fn month_end(date: Date) -> Date {
    let first = NaiveDate::from_ymd_opt(date.year(), date.month(), 1).unwrap_or(date);
    first
        .checked_add_months(Months::new(1))
        .and_then(|d| d.pred_opt())
        .unwrap_or(date)
}

/// The dates of a trend up to `as_of`: every month end from the plan
/// period's first month on or before `as_of`, then `as_of` itself when it is
/// not a month end. At most [`TREND_POINTS_MAX`].
pub fn trend_dates(policy: &Policy, as_of: Date) -> Vec<Date> {
    let start = window_start(policy, Window::PlanPeriod, as_of);
    let mut dates = Vec::new();
    let mut month = start;
    while dates.len() < TREND_POINTS_MAX - 1 {
        let end = month_end(month);
        if end > as_of {
            break;
        }
        dates.push(end);
        match month.checked_add_months(Months::new(1)) {
            Some(next) => month = next,
            None => break,
        }
    }
    if dates.last() != Some(&as_of) {
        dates.push(as_of);
    }
    dates
}

/// The date a comparison looks back to by default: the same day one
/// quarter (three calendar months) earlier; from a month's last day, the
/// last day of the month three months earlier (30 June → 31 March, 31 May →
/// 28 or 29 February).
pub fn previous_quarter(as_of: Date) -> Date {
    let back = as_of.checked_sub_months(Months::new(3)).unwrap_or(as_of);
    if as_of == month_end(as_of) {
        month_end(back)
    } else {
        back
    }
}

/// `root`'s own and subtree figures on each of `dates`, counting only the
/// roster entries of orgs inside `root`'s subtree: equal, date by date, to
/// the `root` row of the coverage report on that date.
pub fn trend_points(
    view: &View,
    orgs: &OrgDirectory,
    policies: &[&Policy],
    root: OrgId,
    dates: &[Date],
) -> Vec<TrendPoint> {
    let mut own = vec![OwnFigures::default(); dates.len()];
    let mut subtree = vec![OwnFigures::default(); dates.len()];
    let mut people: Vec<PersonId> = Vec::new();
    for org in view.roster_orgs() {
        if orgs.is_within(org, root) {
            people.extend(view.roster(org).map(|e| e.person));
        }
    }
    people.sort_unstable();
    people.dedup();
    let mut facts: Vec<TrainingFact> = Vec::new();
    for person in people {
        view.facts_into(person, &mut facts);
        for &org in view.rosters_of(person) {
            if !orgs.is_within(org, root) {
                continue;
            }
            let Some(entry) = view.roster_entry(org, person) else {
                continue;
            };
            for (i, &as_of) in dates.iter().enumerate() {
                if !entry.active_on(as_of) {
                    continue;
                }
                let s = entry_status(orgs, policies[i], org, entry, as_of, &facts);
                subtree[i].add(&s);
                if org == root {
                    own[i].add(&s);
                }
            }
        }
    }
    dates
        .iter()
        .zip(own.iter().zip(&subtree))
        .map(|(&as_of, (own, sub))| TrendPoint {
            as_of,
            rotation: RotationJson::from(&own.rotation),
            hours: own.hours,
            subtree_rotation: RotationJson::from(&sub.rotation),
            subtree_hours: sub.hours,
        })
        .collect()
}

/// `root`'s trend over the plan period up to `as_of` ([`trend_dates`]),
/// each date counted with the policy in force on it (`policy_at`: a policy
/// bulletin changes the rules from its effective date).
pub fn trend<'p>(
    view: &View,
    orgs: &OrgDirectory,
    policy_at: &dyn Fn(Date) -> &'p Policy,
    root: OrgId,
    as_of: Date,
) -> Trend {
    let policy = policy_at(as_of);
    let dates = trend_dates(policy, as_of);
    let policies: Vec<&Policy> = dates.iter().map(|d| policy_at(*d)).collect();
    let o = orgs.org(root);
    Trend {
        org: o.code.clone(),
        name: o.name.clone(),
        plan_period_start: window_start(policy, Window::PlanPeriod, as_of),
        as_of,
        points: trend_points(view, orgs, &policies, root, &dates),
    }
}

#[cfg(test)]
mod tests;
