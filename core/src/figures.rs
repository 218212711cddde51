//! Figures: the statuses of one roster entry and the counts they add up to —
//! what both the from-scratch [`crate::coverage`] report and the incremental
//! [`crate::rollup`] count, so neither needs the other's internals.

use crate::model::{Date, Rank, RosterEntry};
use crate::orgs::{OrgDirectory, OrgId};
use crate::policy::Policy;
use crate::rules::{self, HoursStatus, RotationCounts, RotationStatus, TrainingFact};
use crate::view::View;
use serde::Serialize;

/// One active roster entry with its statuses.
#[derive(Debug, Clone)]
pub struct PersonStatus<'a> {
    pub entry: &'a RosterEntry,
    /// End of the last attended centralized class the responsible node
    /// organized, on or before `as_of`.
    pub last_trained: Option<Date>,
    pub rotation: RotationStatus,
    pub hours: HoursStatus,
}

/// The statuses of one roster entry of `org`, given the person's facts.
pub fn entry_status<'e>(
    orgs: &OrgDirectory,
    policy: &Policy,
    org: OrgId,
    entry: &'e RosterEntry,
    as_of: Date,
    facts: &[TrainingFact],
) -> PersonStatus<'e> {
    let cycle = policy.cycle(orgs.org(org).level);
    let last_trained = rules::last_rotation_training(org, as_of, facts);
    PersonStatus {
        entry,
        last_trained,
        rotation: rules::rotation_status(cycle, as_of, entry.since, last_trained),
        hours: rules::hours_status(policy, entry.rank, as_of, facts),
    }
}

/// The statuses of every entry of `org`'s roster active on `as_of`, sorted by
/// person.
pub fn roster_statuses<'v>(
    view: &'v View,
    orgs: &OrgDirectory,
    policy: &Policy,
    org: OrgId,
    as_of: Date,
) -> Vec<PersonStatus<'v>> {
    let mut facts: Vec<TrainingFact> = Vec::new();
    let mut out: Vec<PersonStatus<'v>> = view
        .roster(org)
        .filter(|e| e.active_on(as_of))
        .map(|entry| {
            view.facts_into(entry.person, &mut facts);
            entry_status(orgs, policy, org, entry, as_of, &facts)
        })
        .collect();
    out.sort_by_key(|s| s.entry.person);
    out
}

/// People counted under one hour rule, and those meeting it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RuleCount {
    pub people: u64,
    pub compliant: u64,
}

impl RuleCount {
    pub(crate) fn add(&mut self, met: bool) {
        self.people += 1;
        self.compliant += u64::from(met);
    }

    pub(crate) fn merge(&mut self, other: &RuleCount) {
        self.people += other.people;
        self.compliant += other.compliant;
    }

    /// compliant / people, or None with nobody to count.
    pub fn rate(&self) -> Option<f64> {
        (self.people > 0).then(|| self.compliant as f64 / self.people as f64)
    }
}

/// The hour rules' counts for one roster.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct HoursCounts {
    pub leading: RuleCount,
    pub general: RuleCount,
    pub online: RuleCount,
}

impl HoursCounts {
    pub fn merge(&mut self, other: &HoursCounts) {
        self.leading.merge(&other.leading);
        self.general.merge(&other.general);
        self.online.merge(&other.online);
    }
}

/// A node's own figures (or, summed, a subtree's).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OwnFigures {
    pub rotation: RotationCounts,
    pub hours: HoursCounts,
}

/// Counts the statuses of one roster.
pub fn own_figures(statuses: &[PersonStatus<'_>]) -> OwnFigures {
    let mut f = OwnFigures::default();
    for s in statuses {
        f.add(s);
    }
    f
}

impl OwnFigures {
    /// Adds another roster's (or subtree's) figures.
    pub fn merge(&mut self, other: &OwnFigures) {
        self.rotation.merge(&other.rotation);
        self.hours.merge(&other.hours);
    }

    /// Counts one more active entry with its statuses.
    pub fn add(&mut self, s: &PersonStatus<'_>) {
        self.rotation.add(s.rotation);
        match s.entry.rank {
            Rank::Leading => self
                .hours
                .leading
                .add(s.hours.centralized.is_some_and(|t| t.met)),
            Rank::General => self
                .hours
                .general
                .add(s.hours.centralized.is_some_and(|t| t.met)),
            Rank::Grassroots => {}
        }
        if let Some(online) = s.hours.online {
            self.hours.online.add(online.met);
        }
    }
}
