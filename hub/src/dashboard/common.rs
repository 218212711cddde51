//! What every page of the dashboard shares: its state and job pool, request
//! parameters and failures, the date, escaping, colour bands, the layout and
//! its stylesheet, and the limits.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::Query;
use axum::http::{StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use lunxun_node::coverage::{NodeCoverage, RotationJson};
use lunxun_node::model::Date;
use lunxun_node::node::Node;
use lunxun_node::orgs::{OrgId, is_valid_code};
use serde::Deserialize;
use tokio::sync::Semaphore;

pub(super) use super::sessions::Viewer;

/// The file `serve --http` writes the bound address to (port 0 picks one).
pub const HTTP_ADDR_FILE: &str = "http.addr";

/// Longest query string accepted.
pub const QUERY_BYTES_MAX: usize = 512;

/// Largest form body accepted (a login, a person search, an account).
pub const FORM_BYTES_MAX: usize = 4 * 1024;

/// Longest person ID accepted in a search (an ID has 18 characters).
pub const PERSON_ID_CHARS_MAX: usize = 32;

/// Coverage and report computations running at once; further requests wait.
pub const JOBS_MAX: usize = 4;

/// Oldest trend the org page shows without recounting, in milliseconds:
/// at the national scale a trend counts every roster entry at every month
/// end, so the page reuses one computed before the latest batches for this
/// long (the CLI's `coverage --trend` always recounts after a change).
pub const TREND_AGE_MS_MAX: i64 = 10 * 60 * 1000;

/// The dashboard's shared state.
#[derive(Clone)]
pub(super) struct Dashboard {
    pub(super) node: Arc<Node>,
    pub(super) jobs: Arc<Semaphore>,
    pub(super) auth: Arc<super::sessions::Auth>,
}

impl Dashboard {
    /// Runs `f` on the blocking pool (coverage and reports read the view
    /// under a lock and may take a while at the national scale).
    pub(super) async fn run<T: Send + 'static>(
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

/// Why a request failed: its status and a one-line message.
#[derive(Debug)]
pub(super) struct Fail {
    pub(super) status: StatusCode,
    pub(super) message: String,
}

impl Fail {
    pub(super) fn bad(message: impl Into<String>) -> Fail {
        Fail {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    pub(super) fn not_found(message: impl Into<String>) -> Fail {
        Fail {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }

    pub(super) fn internal(message: impl Into<String>) -> Fail {
        Fail {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: message.into(),
        }
    }

    /// The API's error: `{"error": "..."}` on one line.
    pub(super) fn json(self) -> Response {
        let body = serde_json::json!({ "error": self.message }).to_string() + "\n";
        (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response()
    }

    /// An error page (with the viewer's header when there is one).
    pub(super) fn html(self, node: &Node, viewer: Option<&Viewer>) -> Response {
        let title = match self.status {
            StatusCode::NOT_FOUND => "未找到 Not found",
            StatusCode::BAD_REQUEST => "请求有误 Bad request",
            StatusCode::FORBIDDEN => "拒绝 Refused",
            _ => "出错了 Error",
        };
        let mut body = String::new();
        out!(
            body,
            r#"<h1>{title}</h1><p class="error">{}</p><p><a href="/">返回本节点 Back to this node</a></p>"#,
            esc(&self.message)
        );
        (self.status, Html(layout(node, viewer, title, None, &body))).into_response()
    }
}

/// Every query parameter the routes take (each one optional; empty counts
/// as absent, as forms send it).
#[derive(Debug, Default, Deserialize)]
pub(super) struct Params {
    pub(super) org: Option<String>,
    pub(super) depth: Option<String>,
    pub(super) as_of: Option<String>,
    pub(super) id: Option<String>,
    pub(super) lang: Option<String>,
}

pub(super) fn nonempty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

pub(super) fn params(uri: &Uri) -> Result<Params, Fail> {
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
pub(super) struct AsOf {
    pub(super) date: Date,
    pub(super) explicit: bool,
}

impl AsOf {
    pub(super) fn parse(node: &Node, p: &Params) -> Result<AsOf, Fail> {
        match nonempty(&p.as_of) {
            None => Ok(AsOf {
                date: node.today(),
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
    pub(super) fn query(self) -> String {
        if self.explicit {
            format!("?as_of={}", self.date)
        } else {
            String::new()
        }
    }

    /// The same with `&`, after other parameters.
    pub(super) fn and(self) -> String {
        if self.explicit {
            format!("&as_of={}", self.date)
        } else {
            String::new()
        }
    }
}

/// An org of the viewer's subtree, by code (None: the viewer's org). One
/// outside it is a 404, as if it did not exist.
pub(super) fn resolve(node: &Node, viewer: &Viewer, code: Option<&str>) -> Result<OrgId, Fail> {
    let Some(code) = code else {
        return Ok(viewer.org);
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
        Some(id) if !orgs.is_within(id, viewer.org) => Err(Fail::not_found(format!(
            "org {code} is outside what account {} sees ({})",
            viewer.account,
            orgs.code(viewer.org)
        ))),
        Some(id) => Ok(id),
    }
}

/// When a node's own data last arrived (local time, and how long ago), or
/// `未报送 silent` when it never did.
pub(super) fn freshness(n: &NodeCoverage, now_ms: i64, zone: chrono_tz::Tz) -> String {
    match &n.freshness {
        None => format!(
            r#"<span class="silent" data-org="{}" data-field="freshness">未报送 <span class="en">silent</span></span>"#,
            esc(&n.org)
        ),
        Some(ts) => {
            let parsed = chrono::DateTime::parse_from_rfc3339(ts).ok();
            let local = parsed
                .map(|t| lunxun_node::clock::local_minutes(zone, t.timestamp_millis()))
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
pub(super) fn age(seconds: i64) -> String {
    match seconds {
        s if s < 60 => "刚刚 just now".into(),
        s if s < 3_600 => format!("{} 分钟前 {0} min ago", s / 60),
        s if s < 86_400 => format!("{} 小时前 {0} h ago", s / 3_600),
        s => format!("{} 天前 {0} d ago", s / 86_400),
    }
}

/// A colour band for a coverage rate: its CSS class and colour.
pub(super) fn band(rate: Option<f64>) -> (&'static str, &'static str) {
    match rate {
        None => ("b0", "#a3acb9"),
        Some(r) if r >= 0.9 => ("b5", "#1a7f37"),
        Some(r) if r >= 0.75 => ("b4", "#5fa630"),
        Some(r) if r >= 0.6 => ("b3", "#d4a106"),
        Some(r) if r >= 0.4 => ("b2", "#e8710a"),
        Some(_) => ("b1", "#d12c2c"),
    }
}

pub(super) const BANDS: [(Option<f64>, &str); 6] = [
    (Some(0.95), "≥ 90%"),
    (Some(0.8), "75–90%"),
    (Some(0.65), "60–75%"),
    (Some(0.5), "40–60%"),
    (Some(0.1), "< 40%"),
    (None, "无数据 no data"),
];

/// A horizontal bar for a rate, with its percentage.
pub(super) fn rate_bar(rate: Option<f64>) -> String {
    let (class, _) = band(rate);
    let width = rate.map_or(0.0, |r| (r * 100.0).clamp(0.0, 100.0));
    format!(r#"<span class="bar"><span class="{class}" style="width:{width:.1}%"></span></span>"#)
}

/// A stacked bar of current / due / new / overdue.
pub(super) fn status_bar(r: &RotationJson) -> String {
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

/// Escapes text for HTML content and attribute values.
pub(super) fn esc(text: &str) -> String {
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

pub(super) fn layout(
    node: &Node,
    viewer: Option<&Viewer>,
    title: &str,
    current: Option<OrgId>,
    body: &str,
) -> String {
    let orgs = node.orgs();
    let me = orgs.org(node.me());
    let home_class = if current.is_some() && current == viewer.map(|v| v.org) {
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
<header class="top"><a class="brand" href="/">轮训覆盖 <span class="en">lunxun</span></a><span class="me">本节点 <span class="en">This node</span>: {me_name} <span class="code">{me_code}</span></span>{nav}</header>
<main>
{body}
</main>
<footer>lunxun · 干部教育培训轮训覆盖 <span class="en">cadre rotation-training coverage</span> · 身份证号一律脱敏 <span class="en">ID numbers are masked</span> · 查询与导出均记入审计日志 <span class="en">lookups and exports are audited</span></footer>
</body>
</html>
"#,
        title = esc(title),
        nav = nav(viewer, home_class),
        me_name = esc(&me.name),
        me_code = esc(&me.code),
    )
}

/// A hidden form field carrying the viewer's CSRF token.
pub(super) fn csrf_field(viewer: &Viewer) -> String {
    format!(
        r#"<input type="hidden" name="csrf" value="{}">"#,
        esc(&viewer.csrf)
    )
}

/// The header's links, and who is logged in (none on the login page).
fn nav(viewer: Option<&Viewer>, home_class: &str) -> String {
    let Some(v) = viewer else {
        return String::new();
    };
    let admin = if v.role == lunxun_node::accounts::Role::Admin {
        r#"<a href="/admin">管理 <span class="en">Admin</span></a>"#
    } else {
        ""
    };
    let logout = if v.via_proxy {
        String::new()
    } else {
        format!(
            r#"<form class="logout" method="post" action="/logout">{}<button type="submit">退出 <span class="en">Log out</span></button></form>"#,
            csrf_field(v)
        )
    };
    format!(
        r#"<nav><a href="/"{home_class}>概览 <span class="en">Overview</span></a><a href="/person">人员查询 <span class="en">Person search</span></a><a href="/api/coverage?depth=1">API</a>{admin}<span class="who" data-field="account">{name}</span>{logout}</nav>"#,
        name = esc(&v.account),
    )
}

pub(super) const CSS: &str = r#"
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
.map path{fill-rule:evenodd;stroke-linejoin:round}
path.area{stroke:#fff;stroke-width:1;vector-effect:non-scaling-stroke}
path.base{fill:#e9ecf0;stroke:#9aa5b1;stroke-width:1;vector-effect:non-scaling-stroke}
path.ctx,rect.ctx{fill:#d9dee4;stroke:#fff;stroke-width:1;vector-effect:non-scaling-stroke}
path.dash{fill:none;stroke:#4a5866;stroke-width:2;vector-effect:non-scaling-stroke}
.inset rect.frame{fill:none;stroke:#6b7785;stroke-width:1;vector-effect:non-scaling-stroke}
.inset-lbl{text-anchor:end;font-size:20px}
a:hover path.area{stroke:#1f2933;stroke-width:2}
.map svg .lbl{font-size:22px;stroke-width:5px}
.unmapped{font-size:13px}
.trend svg{display:block;max-width:100%}
.trend .axis{stroke:#9aa5b1;stroke-width:1}.trend .grid{stroke:#e3e7eb;stroke-width:1}
.trend text{font-size:11px;fill:#5b6672}
.trend polyline{fill:none;stroke-width:2}
.trend .l1{stroke:#1f6feb}.trend .l2{stroke:#d4a106}.trend .l3{stroke:#1a7f37}.trend .l4{stroke:#a33ea1}
.trend .k1{fill:#1f6feb}.trend .k2{fill:#d4a106}.trend .k3{fill:#1a7f37}.trend .k4{fill:#a33ea1}
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
section.alerts{border:2px solid #d12c2c;border-radius:8px;background:#fff7f7;padding:4px 16px 10px;margin-top:14px}
section.alerts h2{margin:10px 0 8px;color:#a61b1b}
section.alerts:has(p.ok){border-color:#9fd3ad;background:#f3fbf5}section.alerts:has(p.ok) h2{color:#13652b}
.alert-kind{background:#fde8e8;color:#a61b1b;border-radius:4px;padding:1px 7px;font-size:13px;white-space:nowrap}
.downloads p{display:flex;gap:10px;flex-wrap:wrap}
header.top nav{align-items:center}
.who{opacity:.9;font-size:14px}
form.logout{margin:0}form.logout button{background:rgba(255,255,255,.18);padding:2px 10px;font-size:13px}
section.login{max-width:380px;margin:48px auto;background:var(--card);border:1px solid var(--line);border-radius:8px;padding:20px 26px}
section.login form{display:flex;flex-direction:column;gap:12px;margin-top:12px}
section.login label{display:flex;flex-direction:column;gap:4px;font-size:14px}
table.audit td{font-size:13.5px}
form.inline{display:inline;margin:0}
form.add{display:flex;flex-wrap:wrap;gap:10px;align-items:end;margin:10px 0}
form.add label{display:flex;flex-direction:column;gap:3px;font-size:13.5px}
select{font:inherit;padding:4px 8px;border:1px solid #c5ccd4;border-radius:4px}
footer{max-width:1240px;margin:0 auto;padding:16px 28px 28px;color:var(--muted);font-size:12.5px;border-top:1px solid var(--line)}
"#;
