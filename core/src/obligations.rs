//! Bureau-level obligations (DOMAIN.md §5): per node and calendar year,
//! which of the four a bureau has met — the leadership team studied training
//! work (专题研究), the principal leader met trainees (座谈交流), an annual
//! training plan exists (年度计划), call-up status was reported (调训通报).
//!
//! An obligation is met when the node's own origin holds at least one event
//! of that kind dated in that year. Only the node itself can meet its
//! obligations: a subordinate's events never count for its parent, so a
//! subtree is listed node by node, never summed.

use serde::Serialize;

use crate::model::{Date, ObligationKind, year_of};
use crate::orgs::{OrgDirectory, OrgId};
use crate::view::View;

/// One obligation of one node in one year.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct KindStatus {
    /// At least one event of the kind in the year.
    pub met: bool,
    /// Events of the kind in the year.
    pub count: u32,
    /// The latest of them.
    pub last: Option<Date>,
}

/// The four obligations of one node in one year (the fields in
/// [`ObligationKind::ALL`]'s order, named as the kinds' English names).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct YearObligations {
    pub study: KindStatus,
    pub trainee_meeting: KindStatus,
    pub annual_plan: KindStatus,
    pub callup_report: KindStatus,
}

impl YearObligations {
    pub fn get(&self, kind: ObligationKind) -> &KindStatus {
        match kind {
            ObligationKind::Study => &self.study,
            ObligationKind::TraineeMeeting => &self.trainee_meeting,
            ObligationKind::AnnualPlan => &self.annual_plan,
            ObligationKind::CallupReport => &self.callup_report,
        }
    }

    fn get_mut(&mut self, kind: ObligationKind) -> &mut KindStatus {
        match kind {
            ObligationKind::Study => &mut self.study,
            ObligationKind::TraineeMeeting => &mut self.trainee_meeting,
            ObligationKind::AnnualPlan => &mut self.annual_plan,
            ObligationKind::CallupReport => &mut self.callup_report,
        }
    }

    /// How many of the four are met (0..=4).
    pub fn met(&self) -> u32 {
        ObligationKind::ALL
            .iter()
            .filter(|k| self.get(**k).met)
            .count() as u32
    }

    /// The latest event of any kind in the year.
    pub fn last(&self) -> Option<Date> {
        ObligationKind::ALL
            .iter()
            .filter_map(|k| self.get(*k).last)
            .max()
    }
}

/// The obligations `origin` met in `year`, from the events its own log holds.
pub fn of_origin(view: &View, origin: OrgId, year: i32) -> YearObligations {
    let mut out = YearObligations::default();
    for event in view.obligations(origin) {
        if year_of(event.date) != year {
            continue;
        }
        let s = out.get_mut(event.kind);
        s.met = true;
        s.count += 1;
        s.last = s.last.max(Some(event.date));
    }
    out
}

/// One node of the `obligations` output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeObligations {
    pub org: String,
    pub name: String,
    pub level: &'static str,
    pub parent: Option<String>,
    /// Depth below the requested root (0 for the root).
    pub depth: u32,
    /// Whether this node's log reaches the viewing node at all: a silent
    /// node's obligations are unknown rather than unmet.
    pub reporting: bool,
    /// How many of the four are met.
    pub met: u32,
    #[serde(flatten)]
    pub kinds: YearObligations,
}

/// The `obligations` output: every node of a subtree, in the org
/// directory's order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObligationsReport {
    pub year: i32,
    pub nodes: Vec<NodeObligations>,
}

impl ObligationsReport {
    /// The entry of the node with this code.
    pub fn node(&self, code: &str) -> Option<&NodeObligations> {
        self.nodes.iter().find(|n| n.org == code)
    }
}

/// The obligations of every node of `root`'s subtree to `depth` (None: all)
/// in `year`.
pub fn obligations(
    view: &View,
    orgs: &OrgDirectory,
    root: OrgId,
    depth: Option<u32>,
    year: i32,
) -> ObligationsReport {
    let nodes = orgs
        .subtree(root, depth)
        .into_iter()
        .map(|(org, d)| {
            let o = orgs.org(org);
            let kinds = of_origin(view, org, year);
            NodeObligations {
                org: o.code.clone(),
                name: o.name.clone(),
                level: o.level.as_str(),
                parent: o.parent.map(|p| orgs.code(p).to_owned()),
                depth: d,
                reporting: view.head(org).is_some(),
                met: kinds.met(),
                kinds,
            }
        })
        .collect();
    ObligationsReport { year, nodes }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Obligation, Record, RecordKey};

    use ObligationKind::{AnnualPlan, CallupReport, Study, TraineeMeeting};

    fn d(s: &str) -> Date {
        s.parse().unwrap()
    }

    fn event(kind: ObligationKind, date: &str) -> Record {
        Record::Obligation(Obligation {
            kind,
            date: d(date),
            note: String::new(),
        })
    }

    /// (case, events of 中原区 as (kind, date), year, expected per kind as
    /// (count, last) in ALL's order, met).
    type Case = (
        &'static str,
        &'static [(ObligationKind, &'static str)],
        i32,
        [(u32, Option<&'static str>); 4],
        u32,
    );

    const NONE: (u32, Option<&str>) = (0, None);

    #[test]
    fn a_kind_is_met_by_one_event_dated_in_the_year() {
        let cases: &[Case] = &[
            ("nothing recorded", &[], 2026, [NONE; 4], 0),
            (
                "one study",
                &[(Study, "2026-03-02")],
                2026,
                [(1, Some("2026-03-02")), NONE, NONE, NONE],
                1,
            ),
            (
                "the year's first and last days count",
                &[(AnnualPlan, "2026-01-01"), (CallupReport, "2026-12-31")],
                2026,
                [NONE, NONE, (1, Some("2026-01-01")), (1, Some("2026-12-31"))],
                2,
            ),
            (
                "last year's and next year's do not",
                &[(Study, "2025-12-31"), (Study, "2027-01-01")],
                2026,
                [NONE; 4],
                0,
            ),
            (
                "two of a kind: counted twice, the later is last",
                &[
                    (CallupReport, "2026-09-30"),
                    (CallupReport, "2026-03-31"),
                    (CallupReport, "2025-12-31"),
                ],
                2026,
                [NONE, NONE, NONE, (2, Some("2026-09-30"))],
                1,
            ),
            (
                "all four",
                &[
                    (Study, "2026-02-10"),
                    (TraineeMeeting, "2026-05-20"),
                    (AnnualPlan, "2026-01-15"),
                    (CallupReport, "2026-06-30"),
                ],
                2026,
                [
                    (1, Some("2026-02-10")),
                    (1, Some("2026-05-20")),
                    (1, Some("2026-01-15")),
                    (1, Some("2026-06-30")),
                ],
                4,
            ),
            (
                "another year asked for",
                &[(Study, "2026-02-10"), (TraineeMeeting, "2025-05-20")],
                2025,
                [NONE, (1, Some("2025-05-20")), NONE, NONE],
                1,
            ),
        ];
        let orgs = OrgDirectory::builtin();
        let county = orgs.get("410102").unwrap();
        for (name, events, year, expected, met) in cases {
            let mut view = View::default();
            for (kind, date) in *events {
                view.apply(county, event(*kind, date));
            }
            let got = of_origin(&view, county, *year);
            for (kind, (count, last)) in ObligationKind::ALL.iter().zip(expected) {
                let s = got.get(*kind);
                assert_eq!(s.count, *count, "{name}: {kind} count");
                assert_eq!(s.met, *count > 0, "{name}: {kind} met");
                assert_eq!(s.last, last.map(d), "{name}: {kind} last");
            }
            assert_eq!(got.met(), *met, "{name}: met");
            let latest = expected.iter().filter_map(|(_, l)| l.map(d)).max();
            assert_eq!(got.last(), latest, "{name}: last of any kind");
        }
    }

    #[test]
    fn only_the_nodes_own_events_count_and_deletions_take_theirs() {
        let orgs = OrgDirectory::builtin();
        let prefecture = orgs.get("410100").unwrap();
        let county = orgs.get("410102").unwrap();
        let other = orgs.get("410103").unwrap();
        let mut view = View::default();
        view.apply(county, event(Study, "2026-03-02"));
        view.apply(county, event(AnnualPlan, "2026-01-10"));
        view.apply(prefecture, event(CallupReport, "2026-04-01"));
        let head = crate::changelog::Head {
            seq: 2,
            hash: crate::changelog::GENESIS,
            written_at_ms: 0,
            received_at_ms: 0,
        };
        view.set_head(county, head);

        let report = obligations(&view, &orgs, prefecture, Some(1), 2026);
        assert_eq!(report.year, 2026);
        assert_eq!(report.nodes[0].org, "410100");
        assert_eq!(report.nodes[0].depth, 0);
        assert_eq!(report.nodes.len(), orgs.subtree(prefecture, Some(1)).len());
        assert!(report.nodes[1..].iter().all(|n| n.depth == 1));
        // The prefecture's own report only: its counties' events are theirs.
        let p = report.node("410100").unwrap();
        assert_eq!(p.met, 1);
        assert!(p.kinds.callup_report.met && !p.kinds.study.met);
        assert!(!p.reporting, "no head held for the prefecture");
        let c = report.node("410102").unwrap();
        assert_eq!((c.met, c.depth, c.reporting), (2, 1, true));
        assert_eq!(c.parent.as_deref(), Some("410100"));
        assert!(c.kinds.study.met && c.kinds.annual_plan.met && !c.kinds.callup_report.met);
        assert_eq!(report.node("410103").unwrap().met, 0);
        assert_eq!(of_origin(&view, other, 2026), YearObligations::default());

        // A tombstone of the one study event unmeets it.
        view.apply(
            county,
            Record::Tombstone(RecordKey::Obligation(Study, d("2026-03-02"))),
        );
        let c = of_origin(&view, county, 2026);
        assert!(!c.study.met && c.annual_plan.met);
        assert_eq!(c.met(), 1);
    }

    #[test]
    fn kinds_read_english_and_chinese_spellings() {
        for (text, kind) in [
            ("study", Study),
            ("专题研究", Study),
            ("trainee_meeting", TraineeMeeting),
            ("座谈交流", TraineeMeeting),
            ("annual_plan", AnnualPlan),
            ("年度计划", AnnualPlan),
            ("年度教育培训计划", AnnualPlan),
            ("callup_report", CallupReport),
            ("调训通报", CallupReport),
            ("通报调训情况", CallupReport),
            (" Study ", Study),
        ] {
            assert_eq!(text.parse::<ObligationKind>(), Ok(kind), "{text:?}");
        }
        let e = "meeting".parse::<ObligationKind>().unwrap_err();
        assert!(
            e.0.contains("is not one of study, trainee_meeting"),
            "{}",
            e.0
        );
    }

    #[test]
    fn json_has_booleans_per_kind() {
        let orgs = OrgDirectory::builtin();
        let county = orgs.get("410102").unwrap();
        let mut view = View::default();
        view.apply(county, event(TraineeMeeting, "2026-05-20"));
        let report = obligations(&view, &orgs, county, None, 2026);
        let json = serde_json::to_value(&report).unwrap();
        let n = &json["nodes"][0];
        assert_eq!(json["year"], 2026);
        assert_eq!(n["org"], "410102");
        assert_eq!(n["met"], 1);
        assert_eq!(n["trainee_meeting"]["met"], true);
        assert_eq!(n["trainee_meeting"]["count"], 1);
        assert_eq!(n["trainee_meeting"]["last"], "2026-05-20");
        assert_eq!(n["study"]["met"], false);
        assert_eq!(n["study"]["last"], serde_json::Value::Null);
    }
}
