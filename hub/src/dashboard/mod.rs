//! The dashboard: server-rendered HTML over the node's coverage rollups, and
//! the HTTP API (`serve --http ADDR`).
//!
//! Routes (every one takes `as_of=YYYY-MM-DD`, default today):
//!
//! - `GET /login`, `POST /login`, `POST /logout` — accounts ([`auth`]).
//! - `/` and `/org/{code}` — one org of the account's subtree (`/` with the
//!   告警 Alerts box of the subordinates in it): its own and subtree figures,
//!   its children as a drill-down table with coverage bars, freshness and
//!   (the node's own children) their last bundle ([`bundles`]), a
//!   map of the subtree (boundaries coloured by coverage), the trends over the
//!   plan period, links to the 通报 downloads.
//! - `GET /person` (the form) and `POST /person` (field `id`: an ID number
//!   never goes in a URL) — every roster entry and training of one person in
//!   the account's subtree, with statuses; the ID number masked; audited.
//! - `POST /person/archive.xlsx` (the same form's second button) — that
//!   person's training archive (培训档案) as `person --format xlsx` writes
//!   it; audited as an export ([`archive`]).
//! - `/report.xlsx?org=`, `/report.csv?org=` and `/report.docx?org=` — the
//!   通报 of the org's direct subordinates, as `report` writes it; audited.
//! - `GET /metrics` — the Prometheus text format, without a session but only
//!   from loopback or `[dashboard] metrics_from` ([`metrics`]).
//! - `/api/coverage?org=&depth=&as_of=` — byte for byte what
//!   `coverage --format json` prints for the same arguments.
//! - `/admin` (admin accounts) — the accounts of its subtree (add, remove)
//!   and the audit log.
//!
//! Every route but the login's and `/metrics` needs a session ([`auth`]); an org outside
//! the account's subtree is a 404. No JavaScript. Handlers compute on the
//! blocking pool, at most [`JOBS_MAX`] at a time; query strings and form
//! bodies are bounded ([`QUERY_BYTES_MAX`], [`FORM_BYTES_MAX`]); bad input is
//! a 400.
//!
//! Pages are askama templates (`hub/templates/`: `base.html` the layout,
//! one per page, `partials/` and `macros.html` for shared pieces), checked
//! when the crate is built. Each page module computes a view model (plain
//! strings and numbers) and its template lays it out; askama escapes every
//! value for HTML. Only the SVG of the map and of the trend charts is passed
//! unescaped (`|safe`): [`map`] and [`trend`] build it from numbers and
//! names escaped with `common::esc`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, Uri, header};
use axum::response::Response;
use axum::routing::{get, post};
use lunxun_node::node::Node;
use tokio::sync::{Semaphore, watch};
use tracing::warn;

/// Writes to a `String` (which cannot fail).
macro_rules! out {
    ($dst:expr, $($arg:tt)*) => {{
        let _ = write!($dst, $($arg)*);
    }};
}

mod admin;
mod alerts;
mod archive;
mod auth;
mod bundles;
mod common;
mod map;
mod metrics;
mod org;
mod person;
mod report;
mod sessions;
mod shapes;
mod trend;

pub use auth::SESSION_COOKIE;
pub use bundles::BUNDLE_ORIGINS_SHOWN_MAX;
use common::{Dashboard, Fail, Viewer};
pub use common::{FORM_BYTES_MAX, HTTP_ADDR_FILE, JOBS_MAX, PERSON_ID_CHARS_MAX, QUERY_BYTES_MAX};
use org::{home, org_page};
use person::{person_page, person_search};
use report::{api_coverage, report_csv, report_docx, report_xlsx};
pub use sessions::{
    FREE_FAILURES, LOCK_MAX_MS, LOGIN_JOBS_MAX, SESSION_MS, SESSIONS_MAX, THROTTLE_KEYS_MAX,
};

/// The dashboard's routes over `node`.
pub fn router(node: Arc<Node>) -> Router {
    let state = Dashboard {
        node,
        jobs: Arc::new(Semaphore::new(JOBS_MAX)),
        auth: Arc::new(sessions::Auth::new()),
    };
    let private = Router::new()
        .route("/", get(home))
        .route("/org/{code}", get(org_page))
        .route("/person", get(person_page).post(person_search))
        .route("/person/archive.xlsx", post(archive::person_archive))
        .route("/report.xlsx", get(report_xlsx))
        .route("/report.csv", get(report_csv))
        .route("/report.docx", get(report_docx))
        .route("/api/coverage", get(api_coverage))
        .route("/admin", get(admin::page))
        .route("/admin/accounts", post(admin::add_account))
        .route("/admin/accounts/remove", post(admin::remove_account))
        .route("/logout", post(auth::logout))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_viewer,
        ));
    Router::new()
        .route("/login", get(auth::login_get).post(auth::login_post))
        .route("/metrics", get(metrics::metrics))
        .merge(private)
        .layer(axum::extract::DefaultBodyLimit::max(FORM_BYTES_MAX))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

/// Binds `addr` and writes the bound address to [`HTTP_ADDR_FILE`] in the
/// data dir. Warns when the address is not a loopback one and cookies are
/// not marked secure: passwords would cross the network in clear. Refuses a
/// trusted-proxy header that is not a header name.
pub async fn bind(
    node: &Node,
    addr: &str,
) -> Result<(tokio::net::TcpListener, SocketAddr), String> {
    if let Some(proxy) = &node.config().dashboard.trusted_proxy
        && HeaderName::from_bytes(proxy.header.as_bytes()).is_err()
    {
        return Err(format!(
            "config.toml [dashboard.trusted_proxy] header {:?} is not an HTTP header name",
            proxy.header
        ));
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr} (--http): {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    std::fs::write(node.dir().join(HTTP_ADDR_FILE), bound.to_string())
        .map_err(|e| format!("cannot write {HTTP_ADDR_FILE}: {e}"))?;
    if !bound.ip().is_loopback() && !node.config().dashboard.secure_cookies {
        warn!(%bound, "the dashboard is plain HTTP: passwords and session cookies cross the network in clear; put a TLS proxy in front and set [dashboard] secure_cookies = true");
    }
    Ok((listener, bound))
}

/// Serves the dashboard on `listener` until `stop` turns true.
pub async fn serve(
    listener: tokio::net::TcpListener,
    node: Arc<Node>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), String> {
    let service = router(node).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .await
        .map_err(|e| format!("dashboard: {e}"))
}

async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, name: HeaderName, value: &'static str| {
        h.entry(name).or_insert(HeaderValue::from_static(value));
    };
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    // Never tell another site which page (and org) was open. Not
    // `no-referrer`: under it browsers send `Origin: null` with every form,
    // which the cross-site check must refuse.
    set(headers, header::REFERRER_POLICY, "same-origin");
    set(headers, header::CACHE_CONTROL, "no-store");
    set(
        headers,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    response
}

async fn not_found(
    State(d): State<Dashboard>,
    axum::Extension(viewer): axum::Extension<Viewer>,
    uri: Uri,
) -> Response {
    let path: String = uri.path().chars().take(80).collect();
    Fail::not_found(format!("no page at {path}")).html(&d.node, Some(&viewer))
}

#[cfg(test)]
mod tests {
    use super::common::{BANDS, band, esc};
    use super::map::short_name;
    use super::report::rfc5987;

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
}
