//! Coverage: the rules applied to every active roster entry of a node, and
//! summed over subtrees, in the shape of the external contract's `coverage`
//! JSON.
//!
//! A node's own figures count its own roster (the entries it is responsible
//! for); hours count the distinct people on that roster over every training
//! the viewing node holds, wherever it was held. Subtree figures sum the own
//! figures of the node and every descendant.

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::model::{Date, Rank, RosterEntry};
use crate::orgs::{OrgDirectory, OrgId};
use crate::policy::Policy;
use crate::rules::{self, HoursStatus, RotationCounts, RotationStatus, TrainingFact};
use crate::view::View;

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

/// The statuses of every entry of `org`'s roster active on `as_of`, sorted by
/// person.
pub fn roster_statuses<'v>(
    view: &'v View,
    orgs: &OrgDirectory,
    policy: &Policy,
    org: OrgId,
    as_of: Date,
) -> Vec<PersonStatus<'v>> {
    let cycle = policy.cycle(orgs.org(org).level);
    let mut facts: Vec<TrainingFact> = Vec::new();
    let mut out: Vec<PersonStatus<'v>> = view
        .roster(org)
        .filter(|e| e.active_on(as_of))
        .map(|entry| {
            view.facts_into(entry.person, &mut facts);
            let last_trained = rules::last_rotation_training(org, as_of, &facts);
            PersonStatus {
                entry,
                last_trained,
                rotation: rules::rotation_status(cycle, as_of, entry.since, last_trained),
                hours: rules::hours_status(policy, entry.rank, as_of, &facts),
            }
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
    fn add(&mut self, met: bool) {
        self.people += 1;
        self.compliant += u64::from(met);
    }

    fn merge(&mut self, other: &RuleCount) {
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

/// A node's own figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OwnFigures {
    pub rotation: RotationCounts,
    pub hours: HoursCounts,
}

/// Counts the statuses of one roster.
pub fn own_figures(statuses: &[PersonStatus<'_>]) -> OwnFigures {
    let mut f = OwnFigures::default();
    for s in statuses {
        f.rotation.add(s.rotation);
        match s.entry.rank {
            Rank::Leading => f
                .hours
                .leading
                .add(s.hours.centralized.is_some_and(|t| t.met)),
            Rank::General => f
                .hours
                .general
                .add(s.hours.centralized.is_some_and(|t| t.met)),
            Rank::Grassroots => {}
        }
        if let Some(online) = s.hours.online {
            f.hours.online.add(online.met);
        }
    }
    f
}

/// The contract's rotation object.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RotationJson {
    pub roster: u64,
    pub current: u64,
    pub due: u64,
    pub new: u64,
    pub overdue: u64,
    pub covered: u64,
    pub rate: Option<f64>,
}

impl From<&RotationCounts> for RotationJson {
    fn from(c: &RotationCounts) -> Self {
        RotationJson {
            roster: c.roster(),
            current: c.current,
            due: c.due,
            new: c.new,
            overdue: c.overdue,
            covered: c.covered(),
            rate: c.rate(),
        }
    }
}

/// The contract's subtree object.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SubtreeJson {
    /// Reporting nodes in the subtree, the node included.
    pub nodes: u64,
    /// Org-directory nodes in the subtree, the node included.
    pub expected: u64,
    pub rotation: RotationJson,
    /// Extra: hour rules summed over the subtree.
    pub hours: HoursCounts,
}

/// One node of the `coverage` output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeCoverage {
    pub org: String,
    pub name: String,
    pub level: &'static str,
    pub parent: Option<String>,
    pub rotation: RotationJson,
    pub hours: HoursCounts,
    pub subtree: SubtreeJson,
    pub reporting: bool,
    pub freshness: Option<String>,
    /// Extra: depth below the requested root (0 for the root).
    pub depth: u32,
}

/// The `coverage` output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CoverageReport {
    pub as_of: String,
    pub nodes: Vec<NodeCoverage>,
}

/// Formats a millisecond timestamp as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_timestamp(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Coverage of `root`'s subtree to `depth` (None: all), on `as_of`.
pub fn coverage(
    view: &View,
    orgs: &OrgDirectory,
    policy: &Policy,
    root: OrgId,
    depth: Option<u32>,
    as_of: Date,
) -> CoverageReport {
    // Own figures of every node of the whole subtree that has a roster or
    // reports (those beyond `depth` still add to the subtree sums).
    let full = orgs.subtree(root, None);
    let mut own: HashMap<OrgId, OwnFigures> = HashMap::new();
    for &(org, _) in &full {
        if view.roster_len(org) > 0 {
            let statuses = roster_statuses(view, orgs, policy, org, as_of);
            own.insert(org, own_figures(&statuses));
        }
    }
    // Subtree sums, children before parents (reverse pre-order).
    let mut sums: HashMap<OrgId, (OwnFigures, u64, u64)> = HashMap::new();
    for &(org, _) in full.iter().rev() {
        let mut figures = own.get(&org).copied().unwrap_or_default();
        let mut reporting = u64::from(view.head(org).is_some());
        let mut expected = 1u64;
        for child in orgs.children(org) {
            if let Some((f, r, e)) = sums.get(child) {
                figures.rotation.merge(&f.rotation);
                figures.hours.merge(&f.hours);
                reporting += r;
                expected += e;
            }
        }
        sums.insert(org, (figures, reporting, expected));
    }
    let nodes = orgs
        .subtree(root, depth)
        .into_iter()
        .map(|(org, d)| {
            let o = orgs.org(org);
            let figures = own.get(&org).copied().unwrap_or_default();
            let (sub, reporting_nodes, expected) = sums.get(&org).copied().unwrap_or_default();
            let head = view.head(org);
            NodeCoverage {
                org: o.code.clone(),
                name: o.name.clone(),
                level: o.level.as_str(),
                parent: o.parent.map(|p| orgs.code(p).to_owned()),
                rotation: RotationJson::from(&figures.rotation),
                hours: figures.hours,
                subtree: SubtreeJson {
                    nodes: reporting_nodes,
                    expected,
                    rotation: RotationJson::from(&sub.rotation),
                    hours: sub.hours,
                },
                reporting: head.is_some(),
                freshness: head.map(|h| format_timestamp(h.received_at_ms)),
                depth: d,
            }
        })
        .collect();
    CoverageReport {
        as_of: as_of.to_string(),
        nodes,
    }
}
