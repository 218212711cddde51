//! The org page: an org's own and subtree figures, its children as a
//! drill-down table (with each one's last bundle where they are this node's
//! own), the map of its subtree, its trends over the plan period, and the
//! bureau obligations of the org and its children for the year. This module
//! computes the page's view model; `templates/org.html` and its partials lay
//! it out.

use askama::Template;
use axum::Extension;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use lunxun_node::coverage::{NodeCoverage, RuleCount};
use lunxun_node::model::{Date, ObligationKind, year_of};
use lunxun_node::obligations::ObligationsReport;
use lunxun_node::orgs::{OrgDirectory, OrgId};
use lunxun_node::render::percent;

use super::alerts::AlertsBox;
use super::bundles::{BundleCell, last_bundles};
use super::common::*;
use super::map::MapView;
use super::trend::TrendView;

/// The org page (`templates/org.html`).
#[derive(Template)]
#[template(path = "org.html")]
pub(super) struct OrgPage {
    frame: Frame,
    /// The query string links carry: `?as_of=…` when a date was asked for.
    q: String,
    /// The same after other parameters: `&as_of=…`.
    and: String,
    crumbs: Vec<Crumb>,
    name: String,
    code: String,
    level_zh: &'static str,
    level_en: &'static str,
    date: Date,
    own_freshness: Freshness,
    /// The front page's alerts box (None on `/org/{code}`).
    alerts: Option<AlertsBox>,
    cards: Cards,
    figures: Figures,
    map: MapView,
    children: Vec<ChildRow>,
    /// Whether the children are this node's own, whose bundles it imports.
    bundles_shown: bool,
    trend: Option<TrendView>,
    obligations: Obligations,
}

/// One step of the breadcrumb: the account's org down to this one.
struct Crumb {
    name: String,
    /// None for the page's own org (not a link).
    code: Option<String>,
}

/// The four cards at the top.
struct Cards {
    /// The own roster's, then the subtree's.
    rotation: Vec<RotationCard>,
    nodes: u64,
    expected: u64,
    /// Reporting over expected nodes, percent of the bar, one decimal.
    reporting_width: String,
    hours: Vec<HoursRow>,
}

struct RotationCard {
    label_zh: &'static str,
    label_en: &'static str,
    /// The colour band's class.
    class: &'static str,
    rate: String,
    covered: u64,
    roster: u64,
    /// The subtree's card says how many are overdue.
    overdue: Option<u64>,
    stack: Stack,
}

struct HoursRow {
    zh: &'static str,
    en: &'static str,
    count: RuleCount,
    rate: String,
}

/// The figures table: own roster beside subtree.
struct Figures {
    org: String,
    rotation: Vec<FigureRow>,
    own_rate: String,
    subtree_rate: String,
    hours: Vec<HoursFigure>,
    reporting: bool,
    nodes: u64,
    expected: u64,
}

struct FigureRow {
    zh: &'static str,
    en: &'static str,
    /// The field's name after `rotation.` (the browser test reads it back).
    field: &'static str,
    own: u64,
    subtree: u64,
}

struct HoursFigure {
    zh: &'static str,
    en: &'static str,
    /// The field's name after `hours.`.
    field: &'static str,
    own: RuleCount,
    subtree: RuleCount,
}

/// One child in the children table: its subtree's figures.
pub(super) struct ChildRow {
    org: String,
    name: String,
    level: &'static str,
    /// No node of its subtree has reported.
    silent: bool,
    roster: u64,
    covered: u64,
    overdue: u64,
    bar: Bar,
    rate: String,
    leading: RuleCount,
    general: RuleCount,
    online: RuleCount,
    nodes: u64,
    expected: u64,
    freshness: Freshness,
    /// Its last bundle imported here (None: none, or not shown).
    bundle: Option<BundleCell>,
}

/// The obligations table.
struct Obligations {
    year: i32,
    /// Each kind's short Chinese name and its English key.
    kinds: Vec<(&'static str, &'static str)>,
    rows: Vec<ObligationRow>,
}

struct ObligationRow {
    /// The page's own org (not a link).
    own: bool,
    org: String,
    name: String,
    reporting: bool,
    marks: Vec<Mark>,
    met: u32,
    last: String,
}

struct Mark {
    kind: &'static str,
    met: bool,
    mark: &'static str,
    /// How often and when last, if ever.
    title: Option<String>,
}

pub(super) async fn home(
    State(d): State<Dashboard>,
    Extension(viewer): Extension<Viewer>,
    uri: Uri,
) -> Response {
    org_response(d, viewer, None, uri).await
}

pub(super) async fn org_page(
    State(d): State<Dashboard>,
    Extension(viewer): Extension<Viewer>,
    Path(code): Path<String>,
    uri: Uri,
) -> Response {
    org_response(d, viewer, Some(code), uri).await
}

pub(super) async fn org_response(
    d: Dashboard,
    viewer: Viewer,
    code: Option<String>,
    uri: Uri,
) -> Response {
    match org_model(&d, &viewer, code, &uri).await {
        Ok(model) => page(StatusCode::OK, &model),
        Err(fail) => fail.html(&d.node, Some(&viewer)),
    }
}

pub(super) async fn org_model(
    d: &Dashboard,
    viewer: &Viewer,
    code: Option<String>,
    uri: &Uri,
) -> Result<OrgPage, Fail> {
    let p = params(uri)?;
    let as_of = AsOf::parse(&d.node, &p)?;
    // The front page (`/`) carries the alerts box.
    let code_is_home = code.is_none();
    let org = resolve(&d.node, viewer, code.as_deref())?;
    let (report, obligations, trend, bundles) = d
        .run(move |node| {
            let coverage = node.coverage(org, Some(1), as_of.date);
            let trend = node.trend_within(org, as_of.date, TREND_AGE_MS_MAX);
            let obligations = lunxun_node::obligations::obligations(
                &node.view(),
                &node.orgs(),
                org,
                Some(1),
                year_of(as_of.date),
            );
            // Only this node's own children send it bundles.
            let bundles = (org == node.me()).then(|| last_bundles(node));
            (coverage, obligations, trend, bundles)
        })
        .await?;
    let node = &d.node;
    let orgs = node.orgs();
    let Some(root) = report.nodes.first() else {
        return Err(Fail::internal("coverage listed no node"));
    };
    let now = lunxun_node::node::now_ms();
    let zone = node.config().zone();
    let o = orgs.org(org);
    let alerts = if code_is_home {
        let alerts = super::alerts::alerts_within(d, org).await?;
        Some(AlertsBox::new(
            alerts,
            node.config().alerts.silent_days,
            zone,
        ))
    } else {
        None
    };
    let children = report
        .nodes
        .iter()
        .filter(|n| n.depth == 1)
        .map(|c| {
            let bundle = bundles
                .as_ref()
                .and_then(|b| b.get(&c.org))
                .map(|b| b.cell(zone));
            child_row(&orgs, c, now, zone, bundle)
        })
        .collect();
    let title = format!("{} · 轮训覆盖 {}", o.name, as_of.date);
    Ok(OrgPage {
        frame: Frame::new(node, Some(viewer), title, Some(org)),
        q: as_of.query(),
        and: as_of.and(),
        crumbs: crumbs(&orgs, viewer.org, org),
        name: o.name.clone(),
        code: o.code.clone(),
        level_zh: o.level.zh(),
        level_en: o.level.as_str(),
        date: as_of.date,
        own_freshness: Freshness::of(root, now, zone),
        alerts,
        cards: cards(root),
        figures: figures(root),
        map: MapView::new(&orgs, &report.nodes, as_of),
        children,
        bundles_shown: bundles.is_some(),
        trend: TrendView::new(&trend),
        obligations: obligations_table(&obligations),
    })
}

/// The account's org down to `org`.
fn crumbs(orgs: &OrgDirectory, top: OrgId, org: OrgId) -> Vec<Crumb> {
    let path = orgs.ancestry(org);
    let from = path.iter().position(|a| *a == top).unwrap_or(0);
    path[from..]
        .iter()
        .map(|&a| Crumb {
            name: orgs.org(a).name.clone(),
            code: (a != org).then(|| orgs.code(a).to_owned()),
        })
        .collect()
}

fn cards(n: &NodeCoverage) -> Cards {
    let reporting_rate =
        (n.subtree.expected > 0).then(|| n.subtree.nodes as f64 / n.subtree.expected as f64);
    let hours = |zh, en, count: RuleCount| HoursRow {
        zh,
        en,
        count,
        rate: percent(count.rate()),
    };
    Cards {
        rotation: vec![
            RotationCard {
                label_zh: "本级名单轮训覆盖率",
                label_en: "Rotation coverage, own roster",
                class: band(n.rotation.rate).0,
                rate: percent(n.rotation.rate),
                covered: n.rotation.covered,
                roster: n.rotation.roster,
                overdue: None,
                stack: Stack::of(&n.rotation),
            },
            RotationCard {
                label_zh: "下辖合计轮训覆盖率",
                label_en: "Rotation coverage, subtree",
                class: band(n.subtree.rotation.rate).0,
                rate: percent(n.subtree.rotation.rate),
                covered: n.subtree.rotation.covered,
                roster: n.subtree.rotation.roster,
                overdue: Some(n.subtree.rotation.overdue),
                stack: Stack::of(&n.subtree.rotation),
            },
        ],
        nodes: n.subtree.nodes,
        expected: n.subtree.expected,
        reporting_width: format!("{:.1}", reporting_rate.unwrap_or(0.0) * 100.0),
        hours: vec![
            hours("县处级", "leading", n.subtree.hours.leading),
            hours("乡科级", "general", n.subtree.hours.general),
            hours("网络自学", "online", n.subtree.hours.online),
        ],
    }
}

fn figures(n: &NodeCoverage) -> Figures {
    let (own, sub) = (&n.rotation, &n.subtree.rotation);
    let row = |zh, en, field, own, subtree| FigureRow {
        zh,
        en,
        field,
        own,
        subtree,
    };
    let hours = |zh, en, field, own, subtree| HoursFigure {
        zh,
        en,
        field,
        own,
        subtree,
    };
    Figures {
        org: n.org.clone(),
        rotation: vec![
            row("在册", "roster", "roster", own.roster, sub.roster),
            row("在周期内", "current", "current", own.current, sub.current),
            row("应安排轮训", "due", "due", own.due, sub.due),
            row("新列入", "new", "new", own.new, sub.new),
            row("逾期未训", "overdue", "overdue", own.overdue, sub.overdue),
            row("已覆盖", "covered", "covered", own.covered, sub.covered),
        ],
        own_rate: percent(own.rate),
        subtree_rate: percent(sub.rate),
        hours: vec![
            hours(
                "县处级及以上学时达标",
                "leading, hours compliant",
                "leading",
                n.hours.leading,
                n.subtree.hours.leading,
            ),
            hours(
                "乡科级及以下学时达标",
                "general, hours compliant",
                "general",
                n.hours.general,
                n.subtree.hours.general,
            ),
            hours(
                "网络自学学时达标",
                "online, hours compliant",
                "online",
                n.hours.online,
                n.subtree.hours.online,
            ),
        ],
        reporting: n.reporting,
        nodes: n.subtree.nodes,
        expected: n.subtree.expected,
    }
}

fn child_row(
    orgs: &OrgDirectory,
    c: &NodeCoverage,
    now: i64,
    zone: chrono_tz::Tz,
    bundle: Option<BundleCell>,
) -> ChildRow {
    let sub = &c.subtree;
    ChildRow {
        org: c.org.clone(),
        name: c.name.clone(),
        level: orgs
            .get(&c.org)
            .map(|id| orgs.org(id).level.zh())
            .unwrap_or(c.level),
        silent: sub.nodes == 0,
        roster: sub.rotation.roster,
        covered: sub.rotation.covered,
        overdue: sub.rotation.overdue,
        bar: Bar::of(sub.rotation.rate),
        rate: percent(sub.rotation.rate),
        leading: sub.hours.leading,
        general: sub.hours.general,
        online: sub.hours.online,
        nodes: sub.nodes,
        expected: sub.expected,
        freshness: Freshness::of(c, now, zone),
        bundle,
    }
}

/// The org's and its direct subordinates' obligations (DOMAIN.md §5) in the
/// year of the page's date: one row each, a mark per obligation.
fn obligations_table(report: &ObligationsReport) -> Obligations {
    let rows = report
        .nodes
        .iter()
        .map(|n| ObligationRow {
            own: n.depth == 0,
            org: n.org.clone(),
            name: n.name.clone(),
            reporting: n.reporting,
            marks: ObligationKind::ALL
                .into_iter()
                .map(|kind| {
                    let s = n.kinds.get(kind);
                    Mark {
                        kind: kind.as_str(),
                        met: s.met,
                        mark: if s.met { "✓ 是" } else { "✗ 否" },
                        title: s
                            .last
                            .map(|last| format!("{} 次 times, 最近 last {last}", s.count)),
                    }
                })
                .collect(),
            met: n.met,
            last: n.kinds.last().map(|d| d.to_string()).unwrap_or_default(),
        })
        .collect();
    Obligations {
        year: report.year,
        kinds: ObligationKind::ALL
            .into_iter()
            .map(|k| (k.zh_short(), k.as_str()))
            .collect(),
        rows,
    }
}
