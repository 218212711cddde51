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

pub use crate::figures::{
    HoursCounts, OwnFigures, PersonStatus, RuleCount, entry_status, own_figures, roster_statuses,
};
use crate::model::Date;
use crate::orgs::{OrgDirectory, OrgId};
use crate::policy::Policy;

use crate::rollup::Rollup;
use crate::rules::RotationCounts;
use crate::view::View;

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
    /// Extra: the day a directory bulletin retired the org (its records
    /// stay, under its last name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retired: Option<String>,
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

/// Coverage of `root`'s subtree to `depth` (None: all), on `as_of`,
/// computed from scratch. A node answers from its incremental rollup instead
/// (the node engine's `coverage`); both give the same report.
pub fn coverage(
    view: &View,
    orgs: &OrgDirectory,
    policy: &Policy,
    root: OrgId,
    depth: Option<u32>,
    as_of: Date,
) -> CoverageReport {
    let rollup = Rollup::build(view, orgs, policy, as_of);
    report(view, orgs, &rollup, root, depth)
}

/// The report for `root`'s subtree to `depth`, from a refreshed rollup.
pub fn report(
    view: &View,
    orgs: &OrgDirectory,
    rollup: &Rollup,
    root: OrgId,
    depth: Option<u32>,
) -> CoverageReport {
    // Reporting nodes per subtree: each reporting origin counts at every
    // ancestor (a few thousand origins, four levels).
    let mut reporting: HashMap<OrgId, u64> = HashMap::new();
    for (org, _) in view.heads() {
        let mut cur = Some(org);
        while let Some(o) = cur {
            *reporting.entry(o).or_default() += 1;
            cur = orgs.parent(o);
        }
    }
    let nodes = orgs
        .subtree(root, depth)
        .into_iter()
        .map(|(org, d)| {
            let o = orgs.org(org);
            let figures = rollup.own(org);
            let sub = rollup.subtree(org);
            let head = view.head(org);
            NodeCoverage {
                org: o.code.clone(),
                name: o.name.clone(),
                level: o.level.as_str(),
                parent: o.parent.map(|p| orgs.code(p).to_owned()),
                rotation: RotationJson::from(&figures.rotation),
                hours: figures.hours,
                subtree: SubtreeJson {
                    nodes: reporting.get(&org).copied().unwrap_or(0),
                    expected: orgs.subtree_len(org) as u64,
                    rotation: RotationJson::from(&sub.rotation),
                    hours: sub.hours,
                },
                reporting: head.is_some(),
                freshness: head.map(|h| format_timestamp(h.received_at_ms)),
                depth: d,
                retired: o.retired.map(|r| r.to_string()),
            }
        })
        .collect();
    CoverageReport {
        as_of: rollup.as_of().to_string(),
        nodes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        Attendance, Class, ClassId, Hours, Mode, Outcome, PersonId, Rank, Record, RosterEntry,
    };

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

    fn entry(person: PersonId, rank: Rank, since: &str) -> Record {
        Record::Roster(RosterEntry {
            person,
            name: "某人".into(),
            rank,
            since: d(since),
            until: None,
            employer: String::new(),
            position: String::new(),
            group: String::new(),
        })
    }

    fn class(id: &str, mode: Mode, start: &str, end: &str, hours: u32) -> Record {
        Record::Class(Class {
            class_id: id.parse().unwrap(),
            title: "班".into(),
            category: String::new(),
            mode,
            off_job: mode == Mode::Centralized,
            start: d(start),
            end: d(end),
            hours: Hours::from_whole(hours),
            days: None,
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

    /// 河南 (province, cycle 2–3), 郑州 (prefecture, 1–2), 济源 (a county
    /// directly under 河南, cycle 1), 中原区 (county under 郑州).
    #[test]
    fn two_rosters_skipped_level_and_subtree_sums() {
        let orgs = OrgDirectory::builtin();
        let policy = Policy::default();
        let henan = orgs.get("410000").unwrap();
        let zhengzhou = orgs.get("410100").unwrap();
        let jiyuan = orgs.get("419001").unwrap();
        let zhongyuan = orgs.get("410102").unwrap();
        let as_of = d("2026-06-30");
        // The head of 中原区: on 郑州's roster and on 河南's.
        let head = id("41010219700101001");
        let worker = id("41900119800101002");
        let mut view = View::default();
        let mut seq = 0;
        let mut put = |view: &mut View, org: OrgId, r: Record| {
            seq += 1;
            view.apply(org, r);
            view.set_head(
                org,
                crate::changelog::Head {
                    seq,
                    hash: [0; 32],
                    written_at_ms: 0,
                    received_at_ms: 1_750_000_000_000,
                },
            );
        };
        put(&mut view, henan, entry(head, Rank::Leading, "2020-01-01"));
        put(
            &mut view,
            zhengzhou,
            entry(head, Rank::Leading, "2020-01-01"),
        );
        // 郑州 trained the head 18 months ago (within its max of 2 years:
        // due); 河南 never did and the head has been on its roster 6 years
        // (overdue).
        put(
            &mut view,
            zhengzhou,
            class("Z1", Mode::Centralized, "2024-12-20", "2024-12-30", 80),
        );
        put(
            &mut view,
            zhengzhou,
            attend("Z1", head, 80, Outcome::Completed),
        );
        // 济源 is a county: yearly. Trained 13 months ago: overdue.
        put(
            &mut view,
            jiyuan,
            entry(worker, Rank::General, "2022-01-01"),
        );
        put(
            &mut view,
            jiyuan,
            class("J1", Mode::Centralized, "2025-05-20", "2025-05-29", 90),
        );
        put(&mut view, jiyuan, attend("J1", worker, 90, Outcome::Failed));
        // 50 online hours this year for the worker, from another organizer.
        put(
            &mut view,
            zhongyuan,
            class("W1", Mode::Online, "2026-01-01", "2026-06-01", 50),
        );
        put(
            &mut view,
            zhongyuan,
            attend("W1", worker, 50, Outcome::Completed),
        );

        let report = coverage(&view, &orgs, &policy, henan, Some(1), as_of);
        let node = |code: &str| report.nodes.iter().find(|n| n.org == code).unwrap();
        let h = node("410000");
        assert_eq!(
            (h.rotation.roster, h.rotation.overdue, h.rotation.covered),
            (1, 1, 0)
        );
        assert_eq!(h.rotation.rate, Some(0.0));
        let z = node("410100");
        assert_eq!(
            (z.rotation.roster, z.rotation.due, z.rotation.rate),
            (1, 1, Some(1.0))
        );
        // The head's 80 hours in the plan period do not meet 550 h / 90 days.
        assert_eq!(
            z.hours.leading,
            RuleCount {
                people: 1,
                compliant: 0
            }
        );
        let j = node("419001");
        assert_eq!(j.parent.as_deref(), Some("410000"));
        assert_eq!((j.rotation.roster, j.rotation.overdue), (1, 1));
        // 90 hours ended in 2025: not in 2026's calendar-year window.
        assert_eq!(
            j.hours.general,
            RuleCount {
                people: 1,
                compliant: 0
            }
        );
        // Online hours count wherever they were held: 中原区's class counts for 济源's roster.
        assert_eq!(
            j.hours.online,
            RuleCount {
                people: 1,
                compliant: 1
            }
        );
        // Depth 1: 河南 and its direct children only; 中原区 is not listed,
        // but 郑州's subtree includes it (it reports: one node).
        assert!(report.nodes.iter().all(|n| n.depth <= 1));
        assert!(report.nodes.iter().all(|n| n.org != "410102"));
        assert_eq!(z.subtree.nodes, 2);
        assert_eq!(z.subtree.expected as usize, orgs.subtree_len(zhengzhou));
        assert_eq!(h.subtree.rotation.roster, 3);
        assert_eq!(h.subtree.rotation.covered, 1);
        assert_eq!(h.subtree.nodes, 4);
        assert_eq!(h.subtree.expected as usize, orgs.subtree_len(henan));
        // Silent nodes show zeros, reporting false and no freshness.
        let silent = node("410200");
        assert!(!silent.reporting);
        assert_eq!(silent.freshness, None);
        assert_eq!(silent.rotation.rate, None);
        assert_eq!(h.freshness.as_deref(), Some("2025-06-15T15:06:40Z"));
    }

    #[test]
    fn json_has_the_contract_fields() {
        let orgs = OrgDirectory::builtin();
        let view = View::default();
        let root = orgs.get("410100").unwrap();
        let report = coverage(
            &view,
            &orgs,
            &Policy::default(),
            root,
            Some(0),
            d("2026-01-01"),
        );
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["as_of"], "2026-01-01");
        let n = &json["nodes"][0];
        assert_eq!(json["nodes"].as_array().unwrap().len(), 1);
        for key in [
            "org",
            "name",
            "level",
            "parent",
            "rotation",
            "hours",
            "subtree",
            "reporting",
            "freshness",
        ] {
            assert!(n.get(key).is_some(), "missing {key}");
        }
        for key in [
            "roster", "current", "due", "new", "overdue", "covered", "rate",
        ] {
            assert!(n["rotation"].get(key).is_some(), "missing rotation.{key}");
            assert!(
                n["subtree"]["rotation"].get(key).is_some(),
                "missing subtree.rotation.{key}"
            );
        }
        for rule in ["leading", "general", "online"] {
            assert_eq!(n["hours"][rule]["people"], 0);
            assert_eq!(n["hours"][rule]["compliant"], 0);
        }
        assert_eq!(n["org"], "410100");
        assert_eq!(n["level"], "prefecture");
        assert_eq!(n["parent"], "410000");
        assert_eq!(n["rotation"]["rate"], serde_json::Value::Null);
        assert_eq!(n["reporting"], false);
        assert_eq!(n["freshness"], serde_json::Value::Null);
        assert_eq!(n["subtree"]["nodes"], 0);
        assert_eq!(n["subtree"]["expected"], orgs.subtree_len(root));
    }
}
