//! What every page of the dashboard shares: its state and job pool, request
//! parameters and failures, the date, the layout's frame and the small view
//! models several templates use (freshness, bars), colour bands, the
//! escaping of the SVG builders, and the limits.

use std::fmt;
use std::sync::Arc;

use askama::Template;

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
        let error = ErrorPage {
            frame: Frame::new(node, viewer, title, None),
            message: self.message,
        };
        page(self.status, &error)
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

/// What the layout (`templates/base.html`) shows around every page: the
/// title, this node, and the viewer's links (none on the login page).
#[derive(Debug)]
pub(super) struct Frame {
    pub(super) title: String,
    pub(super) me_name: String,
    pub(super) me_code: String,
    pub(super) nav: Option<Nav>,
}

/// The header's links and who is logged in (`templates/partials/nav.html`).
#[derive(Debug)]
pub(super) struct Nav {
    /// Whether the page is the viewer's own org (the overview link is marked).
    pub(super) home_on: bool,
    pub(super) admin: bool,
    pub(super) account: String,
    /// The logout form's token; None behind a trusted proxy (no logout here).
    pub(super) logout_csrf: Option<String>,
}

impl Frame {
    /// The frame of a page titled `title` about org `current`, if any.
    pub(super) fn new(
        node: &Node,
        viewer: Option<&Viewer>,
        title: impl Into<String>,
        current: Option<OrgId>,
    ) -> Frame {
        let orgs = node.orgs();
        let me = orgs.org(node.me());
        Frame {
            title: title.into(),
            me_name: me.name.clone(),
            me_code: me.code.clone(),
            nav: viewer.map(|v| Nav {
                home_on: current == Some(v.org),
                admin: v.role == lunxun_node::accounts::Role::Admin,
                account: v.account.clone(),
                logout_csrf: (!v.via_proxy).then(|| v.csrf.clone()),
            }),
        }
    }
}

/// A failed request's page (`templates/error.html`).
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    frame: Frame,
    message: String,
}

/// Renders a page with `status`. Rendering fails only on a formatting
/// error, never expected; then a 500 in plain text.
pub(super) fn page(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot render the page: {e}"),
        )
            .into_response(),
    }
}

/// When a node's own data last arrived (`macros.html`'s `freshness`).
#[derive(Debug)]
pub(super) struct Freshness {
    pub(super) org: String,
    /// None: it never did (`未报送 silent`).
    pub(super) at: Option<FreshAt>,
}

#[derive(Debug)]
pub(super) struct FreshAt {
    /// As the coverage report has it (RFC 3339, UTC).
    pub(super) timestamp: String,
    /// In the bureau's zone, to the minute.
    pub(super) local: String,
    /// How long ago, in words.
    pub(super) age: String,
}

impl Freshness {
    pub(super) fn of(n: &NodeCoverage, now_ms: i64, zone: chrono_tz::Tz) -> Freshness {
        let at = n.freshness.as_ref().map(|ts| {
            let parsed = chrono::DateTime::parse_from_rfc3339(ts).ok();
            FreshAt {
                timestamp: ts.clone(),
                local: parsed
                    .map(|t| lunxun_node::clock::local_minutes(zone, t.timestamp_millis()))
                    .unwrap_or_else(|| ts.clone()),
                age: parsed
                    .map(|t| age((now_ms - t.timestamp_millis()).max(0) / 1000))
                    .unwrap_or_default(),
            }
        });
        Freshness {
            org: n.org.clone(),
            at,
        }
    }
}

/// A horizontal bar for a rate (`macros.html`'s `bar`).
#[derive(Debug)]
pub(super) struct Bar {
    pub(super) class: &'static str,
    /// Percent of the width, one decimal.
    pub(super) width: String,
}

impl Bar {
    pub(super) fn of(rate: Option<f64>) -> Bar {
        let width = rate.map_or(0.0, |r| (r * 100.0).clamp(0.0, 100.0));
        Bar {
            class: band(rate).0,
            width: format!("{width:.1}"),
        }
    }
}

/// A stacked bar of current / due / new / overdue (`macros.html`'s `stack`).
#[derive(Debug)]
pub(super) struct Stack {
    pub(super) parts: Vec<StackPart>,
}

#[derive(Debug)]
pub(super) struct StackPart {
    pub(super) class: &'static str,
    pub(super) label: &'static str,
    pub(super) count: u64,
    /// Percent of the roster, two decimals.
    pub(super) width: String,
}

impl Stack {
    pub(super) fn of(r: &RotationJson) -> Stack {
        let total = r.roster.max(1) as f64;
        let parts = [
            (r.current, "st-current", "在周期内 current"),
            (r.due, "st-due", "应安排轮训 due"),
            (r.new, "st-new", "新列入 new"),
            (r.overdue, "st-overdue", "逾期未训 overdue"),
        ]
        .into_iter()
        .filter(|(n, _, _)| *n > 0)
        .map(|(count, class, label)| StackPart {
            class,
            label,
            count,
            width: format!("{:.2}", count as f64 / total * 100.0),
        })
        .collect();
        Stack { parts }
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

/// Escapes text for HTML content and attribute values (the SVG builders';
/// templates escape alike through [`HtmlEntities`]).
pub(super) fn esc(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    let _ = write_escaped(&mut s, text);
    s
}

/// The entity a character with a meaning in HTML takes.
fn entity(c: char) -> Option<&'static str> {
    match c {
        '&' => Some("&amp;"),
        '<' => Some("&lt;"),
        '>' => Some("&gt;"),
        '"' => Some("&quot;"),
        '\'' => Some("&#39;"),
        _ => None,
    }
}

fn write_escaped(mut dest: impl fmt::Write, text: &str) -> fmt::Result {
    let mut plain = 0;
    for (i, c) in text.char_indices() {
        if let Some(e) = entity(c) {
            dest.write_str(&text[plain..i])?;
            dest.write_str(e)?;
            plain = i + c.len_utf8();
        }
    }
    dest.write_str(&text[plain..])
}

/// The templates' escaper for `.html` (named in `hub/askama.toml`): the same
/// entities as [`esc`].
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct HtmlEntities;

impl askama::filters::Escaper for HtmlEntities {
    fn write_escaped_str<W: fmt::Write>(&self, dest: W, string: &str) -> fmt::Result {
        write_escaped(dest, string)
    }
}
