//! The dashboard: server-rendered HTML over the node's coverage rollups, and
//! the HTTP API (`serve --http ADDR`).
//!
//! Routes (every one takes `as_of=YYYY-MM-DD`, default today):
//!
//! - `/` and `/org/{code}` — one org of this node's subtree: its own and
//!   subtree figures, its children as a drill-down table with coverage bars
//!   and freshness, a map of the subtree, links to the 通报 downloads.
//! - `/person?id=` — every roster entry and training of one person this node
//!   holds, with statuses; the ID number masked.
//! - `/report.xlsx?org=` and `/report.csv?org=` — the 通报 of the org's
//!   direct subordinates, as `report` writes it.
//! - `/api/coverage?org=&depth=&as_of=` — byte for byte what
//!   `coverage --format json` prints for the same arguments.
//!
//! No login, no JavaScript. Handlers compute on the blocking pool, at most
//! [`JOBS_MAX`] at a time; query strings are bounded ([`QUERY_BYTES_MAX`]);
//! bad input is a 400, an org outside this node's subtree a 404.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use lunxun_node::coverage::{NodeCoverage, RotationJson, RuleCount};
use lunxun_node::model::{Date, PersonId};
use lunxun_node::node::Node;
use lunxun_node::orgs::{OrgDirectory, OrgId, is_valid_code};
use lunxun_node::render::{Lang, percent};
use lunxun_node::reports;
use serde::Deserialize;
use tokio::sync::{Semaphore, watch};
use tracing::warn;

/// Writes to a `String` (which cannot fail).
macro_rules! out {
    ($dst:expr, $($arg:tt)*) => {{
        let _ = write!($dst, $($arg)*);
    }};
}

/// The file `serve --http` writes the bound address to (port 0 picks one).
pub const HTTP_ADDR_FILE: &str = "http.addr";
/// Longest query string accepted.
pub const QUERY_BYTES_MAX: usize = 512;
/// Longest person ID accepted in a search (an ID has 18 characters).
pub const PERSON_ID_CHARS_MAX: usize = 32;
/// Coverage and report computations running at once; further requests wait.
pub const JOBS_MAX: usize = 4;
/// Most nodes drawn on a map: the subtree down to the deepest level that
/// keeps within it (the national map stops at prefectures).
pub const MAP_NODES_MAX: usize = 1_500;

/// The dashboard's shared state.
#[derive(Clone)]
struct Dashboard {
    node: Arc<Node>,
    jobs: Arc<Semaphore>,
}

impl Dashboard {
    /// Runs `f` on the blocking pool (coverage and reports read the view
    /// under a lock and may take a while at the national scale).
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Node) -> T + Send + 'static,
    ) -> Result<T, Fail> {
        let _permit = self
            .jobs
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Fail::internal("the dashboard is stopping"))?;
        let node = self.node.clone();
        tokio::task::spawn_blocking(move || f(&node))
            .await
            .map_err(|e| Fail::internal(format!("dashboard job failed: {e}")))
    }
}

/// The dashboard's routes over `node`.
pub fn router(node: Arc<Node>) -> Router {
    let state = Dashboard {
        node,
        jobs: Arc::new(Semaphore::new(JOBS_MAX)),
    };
    Router::new()
        .route("/", get(home))
        .route("/org/{code}", get(org_page))
        .route("/person", get(person_page))
        .route("/report.xlsx", get(report_xlsx))
        .route("/report.csv", get(report_csv))
        .route("/api/coverage", get(api_coverage))
        .fallback(not_found)
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

/// Binds `addr` and writes the bound address to [`HTTP_ADDR_FILE`] in the
/// data dir. Warns when the address is not a loopback one: there is no login.
pub async fn bind(
    node: &Node,
    addr: &str,
) -> Result<(tokio::net::TcpListener, SocketAddr), String> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr} (--http): {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    std::fs::write(node.dir().join(HTTP_ADDR_FILE), bound.to_string())
        .map_err(|e| format!("cannot write {HTTP_ADDR_FILE}: {e}"))?;
    if !bound.ip().is_loopback() {
        warn!(%bound, "the dashboard has no login: serve it on 127.0.0.1 or behind an authenticated reverse proxy");
    }
    Ok((listener, bound))
}

/// Serves the dashboard on `listener` until `stop` turns true.
pub async fn serve(
    listener: tokio::net::TcpListener,
    node: Arc<Node>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), String> {
    axum::serve(listener, router(node))
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .await
        .map_err(|e| format!("dashboard: {e}"))
}

// ---------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------

/// Why a request failed: its status and a one-line message.
#[derive(Debug)]
struct Fail {
    status: StatusCode,
    message: String,
}

impl Fail {
    fn bad(message: impl Into<String>) -> Fail {
        Fail {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    fn not_found(message: impl Into<String>) -> Fail {
        Fail {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }

    fn internal(message: impl Into<String>) -> Fail {
        Fail {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: message.into(),
        }
    }

    /// The API's error: `{"error": "..."}` on one line.
    fn json(self) -> Response {
        let body = serde_json::json!({ "error": self.message }).to_string() + "\n";
        (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response()
    }

    /// An error page.
    fn html(self, node: &Node) -> Response {
        let title = match self.status {
            StatusCode::NOT_FOUND => "未找到 Not found",
            StatusCode::BAD_REQUEST => "请求有误 Bad request",
            _ => "出错了 Error",
        };
        let mut body = String::new();
        out!(
            body,
            r#"<h1>{title}</h1><p class="error">{}</p><p><a href="/">返回本节点 Back to this node</a></p>"#,
            esc(&self.message)
        );
        (self.status, Html(layout(node, title, None, &body))).into_response()
    }
}

/// Every query parameter the routes take (each one optional; empty counts
/// as absent, as forms send it).
#[derive(Debug, Default, Deserialize)]
struct Params {
    org: Option<String>,
    depth: Option<String>,
    as_of: Option<String>,
    id: Option<String>,
    lang: Option<String>,
}

fn nonempty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn params(uri: &Uri) -> Result<Params, Fail> {
    let query = uri.query().unwrap_or_default();
    if query.len() > QUERY_BYTES_MAX {
        return Err(Fail::bad(format!(
            "the query string is longer than {QUERY_BYTES_MAX} bytes"
        )));
    }
    Query::<Params>::try_from_uri(uri)
        .map(|Query(p)| p)
        .map_err(|e| Fail::bad(format!("bad query string: {}", e.body_text())))
}

/// The date asked for, and whether it was asked for (then links carry it).
#[derive(Debug, Clone, Copy)]
struct AsOf {
    date: Date,
    explicit: bool,
}

impl AsOf {
    fn parse(p: &Params) -> Result<AsOf, Fail> {
        match nonempty(&p.as_of) {
            None => Ok(AsOf {
                date: lunxun_node::cli::today(),
                explicit: false,
            }),
            Some(t) => lunxun_node::model::parse_date("as_of", t)
                .map(|date| AsOf {
                    date,
                    explicit: true,
                })
                .map_err(|e| Fail::bad(e.0)),
        }
    }

    /// The query string links carry: `?as_of=…` when it was asked for.
    fn query(self) -> String {
        if self.explicit {
            format!("?as_of={}", self.date)
        } else {
            String::new()
        }
    }

    /// The same with `&`, after other parameters.
    fn and(self) -> String {
        if self.explicit {
            format!("&as_of={}", self.date)
        } else {
            String::new()
        }
    }
}

/// An org of this node's subtree, by code (None: this node).
fn resolve(node: &Node, code: Option<&str>) -> Result<OrgId, Fail> {
    let Some(code) = code else {
        return Ok(node.me());
    };
    if !is_valid_code(code) {
        return Err(Fail::bad(format!("org {code:?} is not an org code")));
    }
    let orgs = node.orgs();
    match orgs.get(code) {
        None => Err(Fail::not_found(format!(
            "org {code} is not in the org directory"
        ))),
        Some(id) if !orgs.is_within(id, node.me()) => Err(Fail::not_found(format!(
            "org {code} is outside this node's subtree ({})",
            node.code()
        ))),
        Some(id) => Ok(id),
    }
}

async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, name: HeaderName, value: &'static str| {
        h.entry(name).or_insert(HeaderValue::from_static(value));
    };
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    // Person searches carry an ID number in the URL: never pass it on.
    set(headers, header::REFERRER_POLICY, "no-referrer");
    set(headers, header::CACHE_CONTROL, "no-store");
    set(
        headers,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    response
}

async fn not_found(State(d): State<Dashboard>, uri: Uri) -> Response {
    let path: String = uri.path().chars().take(80).collect();
    Fail::not_found(format!("no page at {path}")).html(&d.node)
}

// ---------------------------------------------------------------------------
// The org page
// ---------------------------------------------------------------------------

async fn home(State(d): State<Dashboard>, uri: Uri) -> Response {
    org_response(d, None, uri).await
}

async fn org_page(State(d): State<Dashboard>, Path(code): Path<String>, uri: Uri) -> Response {
    org_response(d, Some(code), uri).await
}

async fn org_response(d: Dashboard, code: Option<String>, uri: Uri) -> Response {
    match org_html(&d, code, &uri).await {
        Ok(html) => Html(html).into_response(),
        Err(fail) => fail.html(&d.node),
    }
}

/// The levels below `root` a map shows: as deep as keeps within
/// [`MAP_NODES_MAX`] nodes, at least one.
fn map_depth(orgs: &OrgDirectory, root: OrgId) -> u32 {
    let mut per_depth: Vec<usize> = Vec::new();
    for (_, d) in orgs.subtree(root, None) {
        let d = d as usize;
        if per_depth.len() <= d {
            per_depth.resize(d + 1, 0);
        }
        per_depth[d] += 1;
    }
    let mut total = 0;
    let mut depth = 0;
    for (d, n) in per_depth.iter().enumerate() {
        total += n;
        if total > MAP_NODES_MAX {
            break;
        }
        depth = d as u32;
    }
    depth.max(1)
}

async fn org_html(d: &Dashboard, code: Option<String>, uri: &Uri) -> Result<String, Fail> {
    let p = params(uri)?;
    let as_of = AsOf::parse(&p)?;
    let org = resolve(&d.node, code.as_deref())?;
    let report = d
        .run(move |node| {
            let depth = map_depth(node.orgs(), org);
            node.coverage(org, Some(depth), as_of.date)
        })
        .await?;
    let node = &d.node;
    let orgs = node.orgs();
    let Some(root) = report.nodes.first() else {
        return Err(Fail::internal("coverage listed no node"));
    };
    let children: Vec<&NodeCoverage> = report.nodes.iter().filter(|n| n.depth == 1).collect();
    let now = lunxun_node::node::now_ms();
    let q = as_of.query();
    let o = orgs.org(org);

    let mut h = String::new();
    // Breadcrumb: this node down to the org.
    out!(h, r#"<nav class="crumbs" aria-label="breadcrumb">"#);
    let path = orgs.ancestry(org);
    let from = path.iter().position(|a| *a == node.me()).unwrap_or(0);
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
        freshness(root, now)
    );

    cards(&mut h, root);

    // The figures, and beside them the map of the subtree.
    let located = report
        .nodes
        .iter()
        .filter(|n| n.depth > 0)
        .filter(|n| {
            orgs.get(&n.org)
                .and_then(|id| orgs.org(id).location)
                .is_some()
        })
        .count();
    out!(h, r#"<div class="split">"#);
    figures_table(&mut h, root);
    if located > 0 {
        out!(
            h,
            r#"<section class="map-section"><h2>分布图 <span class="en">Map</span></h2>"#
        );
        map(&mut h, orgs, &report.nodes, as_of);
        out!(
            h,
            r#"<p class="note">按经纬度绘制，颜色为下辖合计轮训覆盖率；点击进入该单位 <span class="en">Placed by longitude and latitude, coloured by subtree rotation coverage; click a node to open it.</span></p></section>"#
        );
    }
    out!(h, "</div>");

    if !children.is_empty() {
        out!(
            h,
            r#"<section><h2>下级单位 <span class="en">Subordinates</span> <span class="count">{}</span></h2><p class="note">各行为该单位及其下辖合计 <span class="en">Each row sums the unit and everything below it.</span></p>"#,
            children.len()
        );
        children_table(&mut h, orgs, &children, as_of);
        out!(h, "</section>");
    }

    out!(
        h,
        r#"<section class="downloads"><h2>下载 <span class="en">Downloads</span></h2><p><a class="button" href="/report.xlsx?org={code}{and}">通报 XLSX <span class="en">report</span></a> <a class="button" href="/report.csv?org={code}{and}">通报 CSV <span class="en">report</span></a> <a class="button light" href="/api/coverage?org={code}&amp;depth=1{and}">JSON API</a></p><p class="note">通报：直属下级单位按轮训覆盖率排名 <span class="en">The 通报 ranks the direct subordinates by rotation coverage.</span></p></section>"#,
        code = esc(&o.code),
        and = esc(&as_of.and()),
    );
    let title = format!("{} · 轮训覆盖 {}", o.name, as_of.date);
    Ok(layout(node, &title, Some(org), &h))
}

/// When a node's own data last arrived (local time, and how long ago), or
/// `未报送 silent` when it never did.
fn freshness(n: &NodeCoverage, now_ms: i64) -> String {
    match &n.freshness {
        None => format!(
            r#"<span class="silent" data-org="{}" data-field="freshness">未报送 <span class="en">silent</span></span>"#,
            esc(&n.org)
        ),
        Some(ts) => {
            let parsed = chrono::DateTime::parse_from_rfc3339(ts).ok();
            let local = parsed
                .map(|t| {
                    t.with_timezone(&chrono::Local)
                        .format("%Y-%m-%d %H:%M")
                        .to_string()
                })
                .unwrap_or_else(|| ts.clone());
            let age = parsed
                .map(|t| age((now_ms - t.timestamp_millis()).max(0) / 1000))
                .unwrap_or_default();
            format!(
                r#"<time datetime="{ts}" title="{ts}" data-org="{org}" data-field="freshness">{local}</time> <span class="age">{age}</span>"#,
                ts = esc(ts),
                org = esc(&n.org),
            )
        }
    }
}

/// How long ago, in words.
fn age(seconds: i64) -> String {
    match seconds {
        s if s < 60 => "刚刚 just now".into(),
        s if s < 3_600 => format!("{} 分钟前 {0} min ago", s / 60),
        s if s < 86_400 => format!("{} 小时前 {0} h ago", s / 3_600),
        s => format!("{} 天前 {0} d ago", s / 86_400),
    }
}

/// A colour band for a coverage rate: its CSS class and colour.
fn band(rate: Option<f64>) -> (&'static str, &'static str) {
    match rate {
        None => ("b0", "#a3acb9"),
        Some(r) if r >= 0.9 => ("b5", "#1a7f37"),
        Some(r) if r >= 0.75 => ("b4", "#5fa630"),
        Some(r) if r >= 0.6 => ("b3", "#d4a106"),
        Some(r) if r >= 0.4 => ("b2", "#e8710a"),
        Some(_) => ("b1", "#d12c2c"),
    }
}

const BANDS: [(Option<f64>, &str); 6] = [
    (Some(0.95), "≥ 90%"),
    (Some(0.8), "75–90%"),
    (Some(0.65), "60–75%"),
    (Some(0.5), "40–60%"),
    (Some(0.1), "< 40%"),
    (None, "无数据 no data"),
];

/// A horizontal bar for a rate, with its percentage.
fn rate_bar(rate: Option<f64>) -> String {
    let (class, _) = band(rate);
    let width = rate.map_or(0.0, |r| (r * 100.0).clamp(0.0, 100.0));
    format!(r#"<span class="bar"><span class="{class}" style="width:{width:.1}%"></span></span>"#)
}

/// A stacked bar of current / due / new / overdue.
fn status_bar(r: &RotationJson) -> String {
    let total = r.roster.max(1) as f64;
    let mut s = String::from(r#"<span class="stack">"#);
    for (n, class, label) in [
        (r.current, "st-current", "在周期内 current"),
        (r.due, "st-due", "应安排轮训 due"),
        (r.new, "st-new", "新列入 new"),
        (r.overdue, "st-overdue", "逾期未训 overdue"),
    ] {
        if n > 0 {
            out!(
                s,
                r#"<span class="{class}" style="width:{:.2}%" title="{label}: {n}"></span>"#,
                n as f64 / total * 100.0
            );
        }
    }
    s.push_str("</span>");
    s
}

fn cards(h: &mut String, n: &NodeCoverage) {
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
fn cell(org: &str, field: &str, value: impl std::fmt::Display) -> String {
    format!(
        r#"<span data-org="{}" data-field="{field}">{value}</span>"#,
        esc(org)
    )
}

/// "compliant/people" as two readable cells.
fn ratio(org: &str, field: &str, c: &RuleCount) -> String {
    format!(
        "{}/{}",
        cell(org, &format!("{field}.compliant"), c.compliant),
        cell(org, &format!("{field}.people"), c.people)
    )
}

fn figures_table(h: &mut String, n: &NodeCoverage) {
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

fn children_table(h: &mut String, orgs: &OrgDirectory, children: &[&NodeCoverage], as_of: AsOf) {
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
            fresh = freshness(c, now),
        );
    }
    out!(h, "</tbody></table></div>");
}

/// The subtree's nodes on an equirectangular projection fit to their
/// bounding box, each a circle coloured by its subtree coverage.
fn map(h: &mut String, orgs: &OrgDirectory, nodes: &[NodeCoverage], as_of: AsOf) {
    const WIDTH: f64 = 640.0;
    const HEIGHT_MAX: f64 = 560.0;
    const PAD: f64 = 24.0;
    let q = as_of.query();
    let placed: Vec<(&NodeCoverage, f64, f64)> = nodes
        .iter()
        .filter_map(|n| {
            let id = orgs.get(&n.org)?;
            let (lon, lat) = orgs.org(id).location?;
            (lon.is_finite() && lat.is_finite()).then_some((n, lon, lat))
        })
        .collect();
    let Some(&(_, lon0, lat0)) = placed.first() else {
        return;
    };
    let (mut min_lon, mut max_lon, mut min_lat, mut max_lat) = (lon0, lon0, lat0, lat0);
    for &(_, lon, lat) in &placed {
        min_lon = min_lon.min(lon);
        max_lon = max_lon.max(lon);
        min_lat = min_lat.min(lat);
        max_lat = max_lat.max(lat);
    }
    // At least a fifth of a degree each way, so one node (or a line of
    // them) still makes a map.
    let widen = |lo: &mut f64, hi: &mut f64| {
        let span = *hi - *lo;
        if span < 0.2 {
            let mid = (*lo + *hi) / 2.0;
            *lo = mid - 0.1;
            *hi = mid + 0.1;
        }
    };
    widen(&mut min_lon, &mut max_lon);
    widen(&mut min_lat, &mut max_lat);
    let kx = ((min_lat + max_lat) / 2.0).to_radians().cos().max(0.2);
    let span_x = (max_lon - min_lon) * kx;
    let span_y = max_lat - min_lat;
    let scale = ((WIDTH - 2.0 * PAD) / span_x).min((HEIGHT_MAX - 2.0 * PAD) / span_y);
    let height = span_y * scale + 2.0 * PAD;
    let offset_x = (WIDTH - span_x * scale) / 2.0;
    let project = |lon: f64, lat: f64| {
        (
            offset_x + (lon - min_lon) * kx * scale,
            PAD + (max_lat - lat) * scale,
        )
    };
    let deepest = placed.iter().map(|p| p.0.depth).max().unwrap_or(0);
    let label_children = placed.iter().filter(|p| p.0.depth == 1).count() <= 40;
    out!(
        h,
        r#"<div class="map"><svg viewBox="0 0 {WIDTH} {height:.0}" width="100%" role="img" aria-label="分布图 map" xmlns="http://www.w3.org/2000/svg"><rect x="0" y="0" width="{WIDTH}" height="{height:.0}" class="sea"/>"#
    );
    // Larger, higher-level circles first; deeper ones on top of them.
    let mut order: Vec<&(&NodeCoverage, f64, f64)> = placed.iter().collect();
    order.sort_by_key(|p| p.0.depth);
    for &&(n, lon, lat) in &order {
        let (x, y) = project(lon, lat);
        let (class, _) = band(n.subtree.rotation.rate);
        let r = match (n.depth, deepest) {
            (0, _) => 10.0,
            (1, 1) => 7.0,
            (1, _) => 7.5,
            (2, 2) => 4.0,
            (2, _) => 4.5,
            _ => 3.0,
        };
        let tip = format!(
            "{} {} · 下辖轮训覆盖率 coverage {} · 在册 roster {} · 报送 reporting {}/{}",
            n.name,
            n.org,
            percent(n.subtree.rotation.rate),
            n.subtree.rotation.roster,
            n.subtree.nodes,
            n.subtree.expected
        );
        let shape = if n.depth == 0 { "root" } else { class };
        out!(
            h,
            r#"<a href="/org/{org}{q}"><circle data-org="{org}" cx="{x:.1}" cy="{y:.1}" r="{r}" class="{shape} d{d}"><title>{tip}</title></circle></a>"#,
            org = esc(&n.org),
            d = n.depth.min(3),
            tip = esc(&tip),
        );
    }
    if label_children {
        for &(n, lon, lat) in placed.iter().filter(|p| p.0.depth == 1) {
            let (x, y) = project(lon, lat);
            out!(
                h,
                r#"<text x="{:.1}" y="{:.1}" class="lbl">{}</text>"#,
                x + 9.0,
                y + 4.0,
                esc(&short_name(&n.name))
            );
        }
    }
    out!(h, "</svg>");
    out!(
        h,
        r#"<div class="legend"><span class="legend-title">下辖轮训覆盖率 <span class="en">Subtree rotation coverage</span></span>"#
    );
    for (rate, label) in BANDS {
        let (_, colour) = band(rate);
        out!(
            h,
            r#"<span class="key"><svg width="14" height="14" aria-hidden="true"><circle cx="7" cy="7" r="6" fill="{colour}"/></svg> {label}</span>"#
        );
    }
    out!(
        h,
        r#"<span class="key"><svg width="14" height="14" aria-hidden="true"><circle cx="7" cy="7" r="5" class="root"/></svg> 本单位 <span class="en">this unit</span></span>"#
    );
    let unplaced = nodes.len() - placed.len();
    if unplaced > 0 {
        out!(
            h,
            r#"<span class="key note">另有 {unplaced} 个单位无坐标未标注 <span class="en">{unplaced} without coordinates not shown</span></span>"#
        );
    }
    out!(h, "</div></div>");
}

/// A name shortened for a map label (the suffixes every province has).
fn short_name(name: &str) -> String {
    let mut s = name;
    for suffix in [
        "维吾尔自治区",
        "壮族自治区",
        "回族自治区",
        "自治区",
        "特别行政区",
        "省",
        "市",
    ] {
        if let Some(stripped) = s.strip_suffix(suffix)
            && !stripped.is_empty()
        {
            s = stripped;
            break;
        }
    }
    s.to_owned()
}

// ---------------------------------------------------------------------------
// Person search
// ---------------------------------------------------------------------------

async fn person_page(State(d): State<Dashboard>, uri: Uri) -> Response {
    let (status, body) = match person_html(&d, &uri).await {
        Ok(body) => (StatusCode::OK, body),
        Err((fail, body)) => (fail.status, body),
    };
    (
        status,
        Html(layout(&d.node, "人员查询 Person search", None, &body)),
    )
        .into_response()
}

fn person_form(as_of: Option<AsOf>) -> String {
    let date = as_of
        .filter(|a| a.explicit)
        .map(|a| a.date.to_string())
        .unwrap_or_default();
    format!(
        r#"<h1>人员查询 <span class="en">Person search</span></h1><form class="search" method="get" action="/person"><label>身份证号 <span class="en">ID number</span> <input name="id" maxlength="{PERSON_ID_CHARS_MAX}" size="22" autocomplete="off" required placeholder="18 位身份证号"></label> <label>统计日期 <span class="en">As of</span> <input type="date" name="as_of" value="{date}"></label> <button type="submit">查询 <span class="en">Search</span></button></form><p class="note">结果中的身份证号一律脱敏 <span class="en">ID numbers are masked in the results.</span></p>"#
    )
}

async fn person_html(d: &Dashboard, uri: &Uri) -> Result<String, (Fail, String)> {
    let p = params(uri).map_err(|f| with_form(f, None))?;
    let as_of = AsOf::parse(&p).map_err(|f| with_form(f, None))?;
    let mut h = person_form(Some(as_of));
    let Some(text) = nonempty(&p.id) else {
        return Ok(h);
    };
    if text.chars().count() > PERSON_ID_CHARS_MAX {
        return Err(with_form(
            Fail::bad(format!(
                "an ID number has 18 characters, not {}",
                text.chars().count()
            )),
            Some(as_of),
        ));
    }
    let id: PersonId = text
        .parse()
        .map_err(|e: lunxun_node::model::Invalid| with_form(Fail::bad(e.0), Some(as_of)))?;
    let found = d
        .run(move |node| {
            let view = node.view();
            reports::person(&view, node.orgs(), node.policy(), id, as_of.date, false)
        })
        .await
        .map_err(|f| with_form(f, Some(as_of)))?;
    let Some(person) = found else {
        return Err(with_form(
            Fail::not_found(format!(
                "{}：本节点没有此人的名单或培训记录 is on no roster and in no training this node holds",
                id.masked()
            )),
            Some(as_of),
        ));
    };
    let orgs = d.node.orgs();
    let me = d.node.me();
    let q = as_of.query();
    out!(
        h,
        r#"<section class="person"><h2><span data-field="person_id">{}</span> {} <span class="code">{}</span></h2><p class="sub">统计日期 <span class="en">As of</span> {}</p>"#,
        esc(&person.person_id),
        esc(person.name.as_deref().unwrap_or("?")),
        person.gender,
        person.as_of,
    );
    out!(
        h,
        r#"<h3>名单 <span class="en">Rosters</span></h3><div class="scroll"><table><thead><tr><th>名单 <span class="en">Roster of</span></th><th>职级 <span class="en">Rank</span></th><th>工作单位 / 职务 <span class="en">Employer, position</span></th><th>列入 <span class="en">Since</span></th><th>移出 <span class="en">Until</span></th><th>最近轮训 <span class="en">Last trained</span></th><th>轮训状态 <span class="en">Rotation</span></th><th>集中培训 <span class="en">Centralized</span></th><th>网络学时 <span class="en">Online</span></th></tr></thead><tbody>"#
    );
    for e in &person.entries {
        let roster = match orgs.get(&e.org).filter(|id| orgs.is_within(*id, me)) {
            Some(_) => format!(
                r#"<a href="/org/{code}{q}">{name}</a>"#,
                code = esc(&e.org),
                name = esc(&e.org_name)
            ),
            None => esc(&e.org_name),
        };
        let rotation = match e.rotation {
            Some(r) => format!(
                r#"<span class="badge st-{en}">{zh} <span class="en">{en}</span></span>"#,
                zh = r.zh(),
                en = r.as_str()
            ),
            None => r#"<span class="badge">不在册 <span class="en">inactive</span></span>"#.into(),
        };
        let tally = |t: Option<lunxun_node::rules::Tally>, days: bool| match t {
            None => "-".to_owned(),
            Some(t) => {
                let amount = if days {
                    format!("{} 学时 h / {} 天 d", t.hours, t.days)
                } else {
                    format!("{} 学时 h", t.hours)
                };
                let mark = if t.met {
                    r#"<span class="ok">达标 met</span>"#
                } else {
                    r#"<span class="no">未达标 not met</span>"#
                };
                format!("{amount} {mark}")
            }
        };
        let work = [e.employer.as_str(), e.position.as_str()]
            .iter()
            .filter(|s| !s.is_empty())
            .map(|s| esc(s))
            .collect::<Vec<_>>()
            .join(" · ");
        out!(
            h,
            r#"<tr><td>{roster}</td><td>{rank}</td><td>{work}</td><td>{since}</td><td>{until}</td><td>{last}</td><td>{rotation}</td><td>{central}</td><td>{online}</td></tr>"#,
            rank = e.rank.zh(),
            since = e.since,
            until = e.until.map(|u| u.to_string()).unwrap_or_default(),
            last = e
                .last_trained
                .map(|d| d.to_string())
                .unwrap_or_else(|| "-".into()),
            central = tally(e.hours.and_then(|x| x.centralized), true),
            online = tally(e.hours.and_then(|x| x.online), false),
        );
    }
    out!(h, "</tbody></table></div>");
    out!(
        h,
        r#"<h3>培训记录 <span class="en">Trainings</span> <span class="count">{}</span></h3><div class="scroll"><table><thead><tr><th>主办单位 <span class="en">Organizer</span></th><th>培训班 <span class="en">Class</span></th><th>方式 <span class="en">Mode</span></th><th>脱产 <span class="en">Off-job</span></th><th>开始 <span class="en">Start</span></th><th>结束 <span class="en">End</span></th><th class="n">天数 <span class="en">Days</span></th><th class="n">学时 <span class="en">Hours</span></th><th>结果 <span class="en">Result</span></th></tr></thead><tbody>"#,
        person.trainings.len()
    );
    for t in &person.trainings {
        let date = |d: Option<Date>| d.map(|d| d.to_string()).unwrap_or_default();
        out!(
            h,
            r#"<tr><td>{org}</td><td>{title}</td><td>{mode}</td><td>{off}</td><td>{start}</td><td>{end}</td><td class="n">{days}</td><td class="n">{hours}</td><td><span class="badge res-{res_en}">{res}</span></td></tr>"#,
            org = esc(&t.organizer_name),
            title = esc(&t
                .title
                .clone()
                .unwrap_or_else(|| format!("({})", t.class_id))),
            mode = t.mode.map(|m| m.zh()).unwrap_or("-"),
            off = match t.off_job {
                Some(true) => "是",
                Some(false) => "否",
                None => "-",
            },
            start = date(t.start),
            end = date(t.end),
            days = t.days.map(|d| d.to_string()).unwrap_or_default(),
            hours = t.hours,
            res = t.result.zh(),
            res_en = t.result.as_str(),
        );
    }
    out!(h, "</tbody></table></div></section>");
    Ok(h)
}

/// A failure on the person page: the form again, and the message.
fn with_form(fail: Fail, as_of: Option<AsOf>) -> (Fail, String) {
    let body = format!(
        r#"{}<p class="error">{}</p>"#,
        person_form(as_of),
        esc(&fail.message)
    );
    (fail, body)
}

// ---------------------------------------------------------------------------
// Downloads and the API
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum Format {
    Xlsx,
    Csv,
}

async fn report_xlsx(State(d): State<Dashboard>, uri: Uri) -> Response {
    report_download(d, uri, Format::Xlsx).await
}

async fn report_csv(State(d): State<Dashboard>, uri: Uri) -> Response {
    report_download(d, uri, Format::Csv).await
}

async fn report_download(d: Dashboard, uri: Uri, format: Format) -> Response {
    match report_bytes(&d, &uri, format).await {
        Ok(response) => response,
        Err(fail) => fail.html(&d.node),
    }
}

async fn report_bytes(d: &Dashboard, uri: &Uri, format: Format) -> Result<Response, Fail> {
    let p = params(uri)?;
    let as_of = AsOf::parse(&p)?;
    let org = resolve(&d.node, nonempty(&p.org))?;
    let lang = match nonempty(&p.lang) {
        None | Some("zh") => Lang::Zh,
        Some("en") => Lang::En,
        Some(other) => return Err(Fail::bad(format!("lang {other:?} is not zh or en"))),
    };
    let (report, bytes) = d
        .run(move |node| {
            let coverage = node.coverage(org, Some(1), as_of.date);
            let report =
                reports::tongbao(&coverage).ok_or_else(|| Fail::internal("nothing to report"))?;
            // The same title and table as `report`.
            let title = format!(
                "{} 干部轮训覆盖情况通报 coverage report, {}",
                report.name, report.as_of
            );
            let table = reports::report_table(&report);
            let bytes = match format {
                Format::Xlsx => {
                    reports::xlsx_bytes("lunxun", &title, &reports::REPORT_COLUMNS, &table)
                        .map_err(|e| Fail::internal(e.to_string()))?
                }
                Format::Csv => reports::csv_bytes(None, &reports::REPORT_COLUMNS, &table, lang)
                    .map_err(|e| Fail::internal(e.to_string()))?,
            };
            Ok::<_, Fail>((report, bytes))
        })
        .await??;
    let (ext, content_type) = match format {
        Format::Xlsx => (
            "xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
        Format::Csv => ("csv", "text/csv; charset=utf-8"),
    };
    let ascii = format!("lunxun-report-{}-{}.{ext}", report.org, report.as_of);
    let utf8 = format!("{}轮训覆盖情况通报-{}.{ext}", report.name, report.as_of);
    let disposition = format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{}",
        rfc5987(&utf8)
    );
    let disposition =
        HeaderValue::from_str(&disposition).map_err(|e| Fail::internal(e.to_string()))?;
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response())
}

/// Percent-encodes a filename for `filename*=UTF-8''…` (RFC 5987).
fn rfc5987(text: &str) -> String {
    let mut s = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            s.push(b as char);
        } else {
            out!(s, "%{b:02X}");
        }
    }
    s
}

async fn api_coverage(State(d): State<Dashboard>, uri: Uri) -> Response {
    match api_body(&d, &uri).await {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(fail) => fail.json(),
    }
}

async fn api_body(d: &Dashboard, uri: &Uri) -> Result<Vec<u8>, Fail> {
    let p = params(uri)?;
    let as_of = AsOf::parse(&p)?;
    let org = resolve(&d.node, nonempty(&p.org))?;
    let depth = match nonempty(&p.depth) {
        None => None,
        Some(t) => Some(t.parse::<u32>().map_err(|_| {
            Fail::bad(format!(
                "depth {t:?} is not a whole number of levels (0: the org alone)"
            ))
        })?),
    };
    d.run(move |node| {
        let report = node.coverage(org, depth, as_of.date);
        // Exactly what `coverage --format json` prints.
        let mut body = Vec::new();
        lunxun_node::render::json(&mut body, &report).map(|()| body)
    })
    .await?
    .map_err(|e| Fail::internal(e.to_string()))
}

// ---------------------------------------------------------------------------
// The page around every view
// ---------------------------------------------------------------------------

/// Escapes text for HTML content and attribute values.
fn esc(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => s.push_str("&amp;"),
            '<' => s.push_str("&lt;"),
            '>' => s.push_str("&gt;"),
            '"' => s.push_str("&quot;"),
            '\'' => s.push_str("&#39;"),
            c => s.push(c),
        }
    }
    s
}

fn layout(node: &Node, title: &str, current: Option<OrgId>, body: &str) -> String {
    let me = node.orgs().org(node.me());
    let home_class = if current == Some(node.me()) {
        r#" class="on""#
    } else {
        ""
    };
    format!(
        r#"<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · lunxun</title>
<style>{CSS}</style>
</head>
<body>
<header class="top"><a class="brand" href="/">轮训覆盖 <span class="en">lunxun</span></a><span class="me">本节点 <span class="en">This node</span>: {me_name} <span class="code">{me_code}</span></span><nav><a href="/"{home_class}>概览 <span class="en">Overview</span></a><a href="/person">人员查询 <span class="en">Person search</span></a><a href="/api/coverage?depth=1">API</a></nav></header>
<main>
{body}
</main>
<footer>lunxun · 干部教育培训轮训覆盖 <span class="en">cadre rotation-training coverage</span> · 身份证号一律脱敏 <span class="en">ID numbers are masked</span> · 本页面无登录，仅限本机或经认证的反向代理访问 <span class="en">no login: local or behind an authenticated proxy only</span></footer>
</body>
</html>
"#,
        title = esc(title),
        me_name = esc(&me.name),
        me_code = esc(&me.code),
    )
}

const CSS: &str = r#"
:root{--fg:#1f2933;--muted:#66727f;--line:#e3e7ec;--bg:#f4f6f8;--card:#fff;--red:#a61b1b;
--current:#1a7f37;--due:#8cc265;--new:#7aa6d6;--overdue:#d12c2c}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.55 "Noto Sans CJK SC","Source Han Sans SC","PingFang SC","Microsoft YaHei","WenQuanYi Micro Hei",system-ui,sans-serif}
a{color:#0b5cad;text-decoration:none}a:hover{text-decoration:underline}
.en{color:var(--muted);font-size:.82em;font-weight:400}
.code{color:var(--muted);font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85em}
header.top{background:var(--red);color:#fff;display:flex;flex-wrap:wrap;align-items:center;gap:8px 28px;padding:10px 28px}
header.top a,header.top .en,header.top .code{color:#fff}
header.top .en,header.top .code{opacity:.8}
.brand{font-size:19px;font-weight:700;letter-spacing:.04em}
header.top nav{margin-left:auto;display:flex;gap:18px}
header.top nav a.on{border-bottom:2px solid #fff}
main{max-width:1240px;margin:0 auto;padding:14px 28px 36px}
.crumbs{font-size:14px;color:var(--muted);margin:4px 0 6px}.crumbs .sep{margin:0 6px}.crumbs .here{color:var(--fg)}
.title{display:flex;align-items:baseline;gap:12px;flex-wrap:wrap}
h1{font-size:26px;margin:0}
h2{font-size:18px;margin:26px 0 8px}
h3{font-size:16px;margin:18px 0 6px}
.count{background:#e6eaef;border-radius:10px;padding:0 8px;font-size:13px;color:var(--muted);font-weight:400}
.level{background:#fdecec;color:var(--red);border-radius:4px;padding:1px 8px;font-size:14px}
.sub,.note{color:var(--muted);font-size:13.5px;margin:4px 0}
form.asof,form.search{margin:10px 0;display:flex;gap:10px;align-items:center;flex-wrap:wrap}
input{font:inherit;padding:4px 8px;border:1px solid #c5ccd4;border-radius:4px}
button,.button{font:inherit;background:var(--red);color:#fff;border:0;border-radius:4px;padding:5px 14px;cursor:pointer;display:inline-block}
button .en,.button .en{color:#fff;opacity:.85}
.button.light{background:#e6eaef;color:var(--fg)}.button.light .en{color:var(--muted)}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(250px,1fr));gap:14px;margin-top:14px}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:12px 16px}
.card .label{font-size:13.5px;color:var(--muted)}
.card .big{font-size:32px;font-weight:700;line-height:1.25;margin:2px 0}
.card .big small{font-size:18px;color:var(--muted);font-weight:400}
.card .detail{font-size:13px;color:var(--muted);margin-bottom:8px}
table{border-collapse:collapse;width:100%;background:var(--card);border:1px solid var(--line);border-radius:8px}
th,td{padding:7px 10px;border-bottom:1px solid var(--line);text-align:left;vertical-align:middle}
thead th{background:#f0f3f6;font-size:13.5px;font-weight:600;white-space:nowrap}
thead th .en{display:block;font-size:11.5px}
tbody tr:last-child td,tbody tr:last-child th{border-bottom:0}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.split{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:20px;align-items:start}
.split>section:only-child{grid-column:1/-1;max-width:760px}
@media (max-width:900px){.split{grid-template-columns:1fr}}table.figures tbody th{font-weight:400}
table.figures tr.strong td,table.figures tr.strong th{font-weight:700;background:#fbf7f2}
table.mini{border:0;background:none}table.mini td{border:0;padding:2px 4px;font-size:14px}
table.children tbody tr:hover{background:#f7f9fb}
tr.silent-row td{color:var(--muted)}
td.cov{white-space:nowrap;min-width:170px}
.scroll{overflow-x:auto}
.bar{display:inline-block;width:110px;height:10px;background:#e8ebef;border-radius:5px;overflow:hidden;vertical-align:middle}
.card .bar{width:100%}
.bar>span{display:block;height:100%}
.stack{display:flex;width:100%;height:12px;border-radius:6px;overflow:hidden;background:#e8ebef}
.stack>span{display:block;height:100%}
.st-current{background:var(--current)}.st-due{background:var(--due)}.st-new{background:var(--new)}.st-overdue{background:var(--overdue)}
.b-rep{background:#5b7fa6}
.b0{background:#a3acb9;fill:#a3acb9}.b1{background:#d12c2c;fill:#d12c2c}.b2{background:#e8710a;fill:#e8710a}.b3{background:#d4a106;fill:#d4a106}.b4{background:#5fa630;fill:#5fa630}.b5{background:#1a7f37;fill:#1a7f37}
.b0-text{color:#7b8491}.b1-text{color:#d12c2c}.b2-text{color:#c65f06}.b3-text{color:#a88004}.b4-text{color:#4b8a24}.b5-text{color:#1a7f37}
.silent{color:#9a3412;background:#fff1e6;border-radius:4px;padding:0 6px;font-size:13px}
.age{color:var(--muted);font-size:12.5px}
.map{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px}
.map svg{display:block}
.sea{fill:#f3f6f9}
circle{stroke:#fff;stroke-width:1}
circle.d1{stroke-width:1.5}
circle.root{fill:none;stroke:#1f2933;stroke-width:2.5}
a:hover circle{stroke:#1f2933;stroke-width:2}
.lbl{font-size:12px;fill:#37414b;paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round;pointer-events:none}
.legend{display:flex;flex-wrap:wrap;gap:6px 16px;align-items:center;font-size:13px;margin-top:8px}
.legend-title{font-weight:600}
.legend .key svg{vertical-align:-2px}
.badge{border-radius:4px;padding:1px 7px;font-size:13px;background:#eef1f4;white-space:nowrap}
.badge.st-current{background:#e3f4e8;color:#13652b}.badge.st-due{background:#f0f7e6;color:#4b7a1f}.badge.st-new{background:#e8f0fa;color:#2c5f94}.badge.st-overdue{background:#fde8e8;color:#a61b1b}
.badge .en{color:inherit;opacity:.8}
.res-failed,.res-absent_unjustified{background:#fde8e8;color:#a61b1b}
.ok{color:#13652b;font-size:13px}.no{color:#a61b1b;font-size:13px}
.error{background:#fde8e8;color:#8a1414;border-radius:6px;padding:8px 12px}
.downloads p{display:flex;gap:10px;flex-wrap:wrap}
footer{max-width:1240px;margin:0 auto;padding:16px 28px 28px;color:var(--muted);font-size:12.5px;border-top:1px solid var(--line)}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_encodes() {
        assert_eq!(
            esc(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(rfc5987("河南 a.xlsx"), "%E6%B2%B3%E5%8D%97%20a.xlsx");
        assert_eq!(short_name("河南省"), "河南");
        assert_eq!(short_name("新疆维吾尔自治区"), "新疆");
        assert_eq!(short_name("市"), "市");
    }

    #[test]
    fn bands_cover_the_legend() {
        assert_eq!(band(None).0, "b0");
        assert_eq!(band(Some(1.0)).0, "b5");
        assert_eq!(band(Some(0.0)).0, "b1");
        for (rate, _) in BANDS {
            assert!(band(rate).1.starts_with('#'));
        }
    }

    #[test]
    fn map_depth_stays_within_the_bound() {
        let orgs = OrgDirectory::builtin();
        let national = orgs.get("100000").unwrap();
        let depth = map_depth(&orgs, national);
        assert_eq!(depth, 2);
        assert!(orgs.subtree(national, Some(depth)).len() <= MAP_NODES_MAX);
        let henan = orgs.get("410000").unwrap();
        assert_eq!(
            orgs.subtree(henan, Some(map_depth(&orgs, henan))).len(),
            orgs.subtree_len(henan)
        );
        // A county: its own node only, and still depth 1.
        assert_eq!(map_depth(&orgs, orgs.get("410102").unwrap()), 1);
    }
}
