//! The org page: an org's own and subtree figures, its children as a
//! drill-down table, the map of its subtree, its trends over the plan
//! period, and the bureau obligations of
//! the org and its children for the year.

use std::fmt::Write as _;

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::Uri;
use axum::response::{Html, IntoResponse, Response};
use lunxun_node::coverage::{NodeCoverage, RuleCount};
use lunxun_node::model::{ObligationKind, year_of};
use lunxun_node::obligations::ObligationsReport;
use lunxun_node::orgs::OrgDirectory;
use lunxun_node::render::percent;

use super::common::*;
use super::map::map;
use super::trend::trend_section;

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
    match org_html(&d, &viewer, code, &uri).await {
        Ok(html) => Html(html).into_response(),
        Err(fail) => fail.html(&d.node, Some(&viewer)),
    }
}

pub(super) async fn org_html(
    d: &Dashboard,
    viewer: &Viewer,
    code: Option<String>,
    uri: &Uri,
) -> Result<String, Fail> {
    let p = params(uri)?;
    let as_of = AsOf::parse(&d.node, &p)?;
    // The front page (`/`) carries the alerts box.
    let code_is_home = code.is_none();
    let org = resolve(&d.node, viewer, code.as_deref())?;
    let (report, obligations, trend) = d
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
            (coverage, obligations, trend)
        })
        .await?;
    let node = &d.node;
    let orgs = node.orgs();
    let Some(root) = report.nodes.first() else {
        return Err(Fail::internal("coverage listed no node"));
    };
    let children: Vec<&NodeCoverage> = report.nodes.iter().filter(|n| n.depth == 1).collect();
    let now = lunxun_node::node::now_ms();
    let zone = node.config().zone();
    let q = as_of.query();
    let o = orgs.org(org);

    let mut h = String::new();
    // Breadcrumb: the account's org down to this one.
    out!(h, r#"<nav class="crumbs" aria-label="breadcrumb">"#);
    let path = orgs.ancestry(org);
    let from = path.iter().position(|a| *a == viewer.org).unwrap_or(0);
    for (i, a) in path[from..].iter().enumerate() {
        if i > 0 {
            out!(h, r#"<span class="sep">›</span>"#);
        }
        if *a == org {
            out!(
                h,
                r#"<span class="here">{}</span>"#,
                esc(&orgs.org(*a).name)
            );
        } else {
            out!(
                h,
                r#"<a href="/org/{}{q}">{}</a>"#,
                orgs.code(*a),
                esc(&orgs.org(*a).name)
            );
        }
    }
    out!(h, "</nav>");

    out!(
        h,
        r#"<div class="title"><h1>{name}</h1><span class="code">{code}</span><span class="level">{zh} <span class="en">{en}</span></span></div>"#,
        name = esc(&o.name),
        code = esc(&o.code),
        zh = o.level.zh(),
        en = o.level.as_str(),
    );
    out!(
        h,
        r#"<form class="asof" method="get" action="/org/{code}"><label>统计日期 <span class="en">As of</span> <input type="date" name="as_of" value="{date}" min="1950-01-01" max="2099-12-31"></label> <button type="submit">更新 <span class="en">Update</span></button></form>"#,
        code = esc(&o.code),
        date = as_of.date,
    );
    out!(
        h,
        r#"<p class="sub">本级数据时间 <span class="en">Own data received</span>: {}</p>"#,
        freshness(root, now, zone)
    );

    if code_is_home {
        let alerts = super::alerts::alerts_within(d, org).await?;
        let silent_days = node.config().alerts.silent_days;
        super::alerts::alerts_box(&mut h, &alerts, silent_days, zone);
    }

    cards(&mut h, root);

    // The figures, and beside them the map of the subtree.
    out!(h, r#"<div class="split">"#);
    figures_table(&mut h, root);
    out!(
        h,
        r#"<section class="map-section"><h2>分布图 <span class="en">Map</span></h2>"#
    );
    map(&mut h, &orgs, &report.nodes, as_of);
    out!(
        h,
        r#"<p class="note">颜色为下辖合计轮训覆盖率；点击进入该单位 <span class="en">Coloured by subtree rotation coverage; click an area to open it.</span></p></section>"#
    );
    out!(h, "</div>");

    if !children.is_empty() {
        out!(
            h,
            r#"<section><h2>下级单位 <span class="en">Subordinates</span> <span class="count">{}</span></h2><p class="note">各行为该单位及其下辖合计 <span class="en">Each row sums the unit and everything below it.</span></p>"#,
            children.len()
        );
        children_table(&mut h, &orgs, &children, as_of, zone);
        out!(h, "</section>");
    }

    trend_section(&mut h, &trend);

    obligations_table(&mut h, &obligations, as_of);

    out!(
        h,
        r#"<section class="downloads"><h2>下载 <span class="en">Downloads</span></h2><p><a class="button" href="/report.xlsx?org={code}{and}">通报 XLSX <span class="en">report</span></a> <a class="button" href="/report.csv?org={code}{and}">通报 CSV <span class="en">report</span></a> <a class="button" href="/report.docx?org={code}{and}">通报 Word <span class="en">document</span></a> <a class="button light" href="/api/coverage?org={code}&amp;depth=1{and}">JSON API</a></p><p class="note">通报：直属下级单位按轮训覆盖率排名 <span class="en">The 通报 ranks the direct subordinates by rotation coverage.</span></p></section>"#,
        code = esc(&o.code),
        and = esc(&as_of.and()),
    );
    let title = format!("{} · 轮训覆盖 {}", o.name, as_of.date);
    Ok(layout(node, Some(viewer), &title, Some(org), &h))
}

pub(super) fn cards(h: &mut String, n: &NodeCoverage) {
    let (own_class, _) = band(n.rotation.rate);
    let (sub_class, _) = band(n.subtree.rotation.rate);
    out!(h, r#"<section class="cards">"#);
    out!(
        h,
        r#"<div class="card"><div class="label">本级名单轮训覆盖率 <span class="en">Rotation coverage, own roster</span></div><div class="big {own_class}-text">{}</div><div class="detail">已覆盖 {} / 在册 {} <span class="en">covered / roster</span></div>{}</div>"#,
        percent(n.rotation.rate),
        n.rotation.covered,
        n.rotation.roster,
        status_bar(&n.rotation),
    );
    out!(
        h,
        r#"<div class="card"><div class="label">下辖合计轮训覆盖率 <span class="en">Rotation coverage, subtree</span></div><div class="big {sub_class}-text">{}</div><div class="detail">已覆盖 {} / 在册 {} · 逾期 {} <span class="en">overdue</span></div>{}</div>"#,
        percent(n.subtree.rotation.rate),
        n.subtree.rotation.covered,
        n.subtree.rotation.roster,
        n.subtree.rotation.overdue,
        status_bar(&n.subtree.rotation),
    );
    let reporting_rate =
        (n.subtree.expected > 0).then(|| n.subtree.nodes as f64 / n.subtree.expected as f64);
    out!(
        h,
        r#"<div class="card"><div class="label">报送节点 <span class="en">Reporting nodes</span></div><div class="big">{} <small>/ {}</small></div><div class="detail">下辖已报送 / 应报送 <span class="en">reporting / expected</span></div><span class="bar"><span class="b-rep" style="width:{:.1}%"></span></span></div>"#,
        n.subtree.nodes,
        n.subtree.expected,
        reporting_rate.unwrap_or(0.0) * 100.0,
    );
    out!(
        h,
        r#"<div class="card"><div class="label">学时达标（下辖合计）<span class="en">Hours compliant, subtree</span></div><table class="mini">"#
    );
    for (label, c) in [
        (
            "县处级 <span class=\"en\">leading</span>",
            &n.subtree.hours.leading,
        ),
        (
            "乡科级 <span class=\"en\">general</span>",
            &n.subtree.hours.general,
        ),
        (
            "网络自学 <span class=\"en\">online</span>",
            &n.subtree.hours.online,
        ),
    ] {
        out!(
            h,
            r#"<tr><td>{label}</td><td class="n">{}/{}</td><td class="n">{}</td></tr>"#,
            c.compliant,
            c.people,
            percent(c.rate())
        );
    }
    out!(h, "</table></div></section>");
}

/// A cell with a figure the browser test reads back.
pub(super) fn cell(org: &str, field: &str, value: impl std::fmt::Display) -> String {
    format!(
        r#"<span data-org="{}" data-field="{field}">{value}</span>"#,
        esc(org)
    )
}

/// "compliant/people" as two readable cells.
pub(super) fn ratio(org: &str, field: &str, c: &RuleCount) -> String {
    format!(
        "{}/{}",
        cell(org, &format!("{field}.compliant"), c.compliant),
        cell(org, &format!("{field}.people"), c.people)
    )
}

pub(super) fn figures_table(h: &mut String, n: &NodeCoverage) {
    let org = n.org.as_str();
    out!(
        h,
        r#"<section><h2>主要指标 <span class="en">Figures</span></h2><table class="figures"><thead><tr><th></th><th class="n">本级名单 <span class="en">Own roster</span></th><th class="n">下辖合计 <span class="en">Subtree</span></th></tr></thead><tbody>"#
    );
    let rows: [(&str, &str, u64, u64); 6] = [
        (
            "在册 <span class=\"en\">roster</span>",
            "roster",
            n.rotation.roster,
            n.subtree.rotation.roster,
        ),
        (
            "在周期内 <span class=\"en\">current</span>",
            "current",
            n.rotation.current,
            n.subtree.rotation.current,
        ),
        (
            "应安排轮训 <span class=\"en\">due</span>",
            "due",
            n.rotation.due,
            n.subtree.rotation.due,
        ),
        (
            "新列入 <span class=\"en\">new</span>",
            "new",
            n.rotation.new,
            n.subtree.rotation.new,
        ),
        (
            "逾期未训 <span class=\"en\">overdue</span>",
            "overdue",
            n.rotation.overdue,
            n.subtree.rotation.overdue,
        ),
        (
            "已覆盖 <span class=\"en\">covered</span>",
            "covered",
            n.rotation.covered,
            n.subtree.rotation.covered,
        ),
    ];
    for (label, field, own, sub) in rows {
        out!(
            h,
            r#"<tr><th>{label}</th><td class="n">{}</td><td class="n">{}</td></tr>"#,
            cell(org, &format!("rotation.{field}"), own),
            cell(org, &format!("subtree.rotation.{field}"), sub),
        );
    }
    out!(
        h,
        r#"<tr class="strong"><th>轮训覆盖率 <span class="en">rotation coverage</span></th><td class="n">{}</td><td class="n">{}</td></tr>"#,
        cell(org, "rotation.rate", percent(n.rotation.rate)),
        cell(
            org,
            "subtree.rotation.rate",
            percent(n.subtree.rotation.rate)
        ),
    );
    for (label, field, own, sub) in [
        (
            "县处级及以上学时达标 <span class=\"en\">leading, hours compliant</span>",
            "leading",
            &n.hours.leading,
            &n.subtree.hours.leading,
        ),
        (
            "乡科级及以下学时达标 <span class=\"en\">general, hours compliant</span>",
            "general",
            &n.hours.general,
            &n.subtree.hours.general,
        ),
        (
            "网络自学学时达标 <span class=\"en\">online, hours compliant</span>",
            "online",
            &n.hours.online,
            &n.subtree.hours.online,
        ),
    ] {
        out!(
            h,
            r#"<tr><th>{label}</th><td class="n">{}</td><td class="n">{}</td></tr>"#,
            ratio(org, &format!("hours.{field}"), own),
            ratio(org, &format!("subtree.hours.{field}"), sub),
        );
    }
    out!(
        h,
        r#"<tr><th>报送节点 / 应报节点 <span class="en">reporting / expected nodes</span></th><td class="n">{}</td><td class="n">{}/{}</td></tr>"#,
        if n.reporting {
            "已报送 <span class=\"en\">reporting</span>"
        } else {
            "未报送 <span class=\"en\">silent</span>"
        },
        cell(org, "subtree.nodes", n.subtree.nodes),
        cell(org, "subtree.expected", n.subtree.expected),
    );
    out!(h, "</tbody></table></section>");
}

pub(super) fn children_table(
    h: &mut String,
    orgs: &OrgDirectory,
    children: &[&NodeCoverage],
    as_of: AsOf,
    zone: chrono_tz::Tz,
) {
    let q = as_of.query();
    let now = lunxun_node::node::now_ms();
    out!(
        h,
        r#"<div class="scroll"><table class="children"><thead><tr><th>单位 <span class="en">Unit</span></th><th>级别 <span class="en">Level</span></th><th class="n">在册 <span class="en">Roster</span></th><th class="n">已覆盖 <span class="en">Covered</span></th><th class="n">逾期 <span class="en">Overdue</span></th><th>轮训覆盖率 <span class="en">Coverage</span></th><th class="n">县处级学时 <span class="en">Leading</span></th><th class="n">乡科级学时 <span class="en">General</span></th><th class="n">网络学时 <span class="en">Online</span></th><th class="n">报送 <span class="en">Reporting</span></th><th>数据时间 <span class="en">Freshness</span></th></tr></thead><tbody>"#
    );
    for c in children {
        let org = c.org.as_str();
        let level = orgs
            .get(org)
            .map(|id| orgs.org(id).level.zh())
            .unwrap_or(c.level);
        let silent = c.subtree.nodes == 0;
        out!(
            h,
            r#"<tr class="{cls}" data-child="{org}"><td><a class="child" data-child="{org}" href="/org/{org}{q}">{name}</a> <span class="code">{org}</span></td><td>{level}</td><td class="n">{roster}</td><td class="n">{covered}</td><td class="n">{overdue}</td><td class="cov">{bar} {rate}</td><td class="n">{leading}</td><td class="n">{general}</td><td class="n">{online}</td><td class="n">{nodes}/{expected}</td><td>{fresh}</td></tr>"#,
            cls = if silent { "silent-row" } else { "" },
            org = esc(org),
            name = esc(&c.name),
            roster = cell(org, "subtree.rotation.roster", c.subtree.rotation.roster),
            covered = cell(org, "subtree.rotation.covered", c.subtree.rotation.covered),
            overdue = cell(org, "subtree.rotation.overdue", c.subtree.rotation.overdue),
            bar = rate_bar(c.subtree.rotation.rate),
            rate = cell(
                org,
                "subtree.rotation.rate",
                percent(c.subtree.rotation.rate)
            ),
            leading = ratio(org, "subtree.hours.leading", &c.subtree.hours.leading),
            general = ratio(org, "subtree.hours.general", &c.subtree.hours.general),
            online = ratio(org, "subtree.hours.online", &c.subtree.hours.online),
            nodes = cell(org, "subtree.nodes", c.subtree.nodes),
            expected = cell(org, "subtree.expected", c.subtree.expected),
            fresh = freshness(c, now, zone),
        );
    }
    out!(h, "</tbody></table></div>");
}

/// The org's and its direct subordinates' obligations (DOMAIN.md §5) in the
/// year of the page's date: one row each, a mark per obligation.
pub(super) fn obligations_table(h: &mut String, report: &ObligationsReport, as_of: AsOf) {
    let q = as_of.query();
    out!(
        h,
        r#"<section class="obligations"><h2>履职事项 <span class="en">Obligations</span> <span class="count">{year}</span></h2><p class="note">各单位本级当年至少一次 <span class="en">At least once in the year, by the unit itself.</span></p><div class="scroll"><table class="children"><thead><tr><th>单位 <span class="en">Unit</span></th>"#,
        year = report.year,
    );
    for kind in ObligationKind::ALL {
        out!(
            h,
            r#"<th>{} <span class="en">{}</span></th>"#,
            kind.zh_short(),
            kind.as_str()
        );
    }
    out!(
        h,
        r#"<th class="n">已完成 <span class="en">Met</span></th><th>最近日期 <span class="en">Last</span></th></tr></thead><tbody>"#
    );
    for n in &report.nodes {
        let org = n.org.as_str();
        let unit = if n.depth == 0 {
            format!(
                r#"{} <span class="code">本级 <span class="en">own</span></span>"#,
                esc(&n.name)
            )
        } else {
            format!(
                r#"<a href="/org/{org}{q}">{name}</a> <span class="code">{org}</span>"#,
                org = esc(org),
                name = esc(&n.name),
            )
        };
        out!(
            h,
            r#"<tr class="{cls}"><td>{unit}</td>"#,
            cls = if n.reporting { "" } else { "silent-row" },
        );
        for kind in ObligationKind::ALL {
            let s = n.kinds.get(kind);
            let (class, mark) = if s.met {
                ("ok", "✓ 是")
            } else {
                ("no", "✗ 否")
            };
            let title = match s.last {
                Some(last) => format!(r#" title="{} 次 times, 最近 last {}""#, s.count, last),
                None => String::new(),
            };
            out!(
                h,
                r#"<td class="{class}"{title}>{}</td>"#,
                cell(org, &format!("obligations.{}", kind.as_str()), mark)
            );
        }
        out!(
            h,
            r#"<td class="n">{}/4</td><td>{}</td></tr>"#,
            cell(org, "obligations.met", n.met),
            n.kinds.last().map(|d| d.to_string()).unwrap_or_default(),
        );
    }
    out!(h, "</tbody></table></div></section>");
}
