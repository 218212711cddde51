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

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, Uri, header};
use axum::response::Response;
use axum::routing::get;
use lunxun_node::node::Node;
use tokio::sync::{Semaphore, watch};
use tracing::warn;

/// Writes to a `String` (which cannot fail).
macro_rules! out {
    ($dst:expr, $($arg:tt)*) => {{
        let _ = write!($dst, $($arg)*);
    }};
}

mod common;
mod map;
mod org;
mod person;
mod report;

use common::{Dashboard, Fail};
pub use common::{HTTP_ADDR_FILE, JOBS_MAX, MAP_NODES_MAX, PERSON_ID_CHARS_MAX, QUERY_BYTES_MAX};
use org::{home, org_page};
use person::person_page;
use report::{api_coverage, report_csv, report_xlsx};

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

#[cfg(test)]
mod tests {
    use super::common::{BANDS, band, esc};
    use super::map::short_name;
    use super::org::map_depth;
    use super::report::rfc5987;
    use super::*;
    use lunxun_node::orgs::OrgDirectory;

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
