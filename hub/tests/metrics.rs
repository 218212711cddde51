//! `GET /metrics`, the alerts (front page, `status`) and the 通报 as a Word
//! document over an in-process router: a province hub (河南 410000) whose
//! children's sync records say, in recorded times, that 郑州 last synced
//! eight days ago, 济源 synced just now, 洛阳 is over a quota and 开封
//! never connected.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode, header};
use lunxun_gen::{GenParams, NodeData};
use lunxun_hub::dashboard;
use lunxun_node::accounts::{self, Role};
use lunxun_node::config::{Config, DashboardConfig, TrustedProxy};
use lunxun_node::ingest;
use lunxun_node::model::Record;
use lunxun_node::node::{Node, now_ms};
use lunxun_node::store::Hold;
use lunxun_node::sync::children::{ChildState, QUOTA_REASON};
use prometheus_parse::{Sample, Scrape, Value};
use tower::ServiceExt;

const DAY_MS: i64 = 86_400_000;
/// A valid ID number (GB 11643 check digit) that must never show.
const ID: &str = "410102198001010018";
const PROXY_HEADER: &str = "X-Remote-User";

fn config(org: &str, dashboard: DashboardConfig) -> Config {
    Config {
        org: org.into(),
        upstream: None,
        tls_dir: None,
        insecure: true,
        dashboard,
        ..Default::default()
    }
}

fn records(data: &NodeData) -> Vec<Record> {
    data.roster
        .iter()
        .cloned()
        .map(Record::Roster)
        .chain(data.classes.iter().cloned().map(Record::Class))
        .chain(data.attendance.iter().cloned().map(Record::Attendance))
        .collect()
}

/// The province hub, with 济源's records taken as a sync would and the
/// children's sync records written as the sync service writes them.
fn province(dir: &Path) -> Arc<Node> {
    let proxy = DashboardConfig {
        trusted_proxy: Some(TrustedProxy {
            header: PROXY_HEADER.into(),
            from: vec!["127.0.0.1".parse().unwrap()],
        }),
        ..Default::default()
    };
    let hub = Arc::new(Node::init(&dir.join("410000"), config("410000", proxy)).unwrap());
    let params = GenParams {
        seed: 11,
        county_workers: 10,
        bureau_staff: 3,
        organs_staff: 3,
        ..GenParams::default()
    };
    let orgs = hub.orgs().clone();
    let jiyuan = Node::init(&dir.join("419001"), config("419001", Default::default())).unwrap();
    let data = lunxun_gen::generate_node(&params, &orgs, orgs.get("419001").unwrap());
    jiyuan.write_records(records(&data)).unwrap();
    let changes: Vec<Bytes> = jiyuan
        .store()
        .scan("419001", 0)
        .map(|e| e.unwrap().change)
        .collect();
    let verified = ingest::verify(&orgs, hub.me(), changes).unwrap();
    hub.ingest(vec![verified.into()]).unwrap();

    let now = now_ms();
    let eight_days_ago = now - 8 * DAY_MS;
    // 郑州: its last session completed eight days ago, a batch of it was
    // refused since.
    ChildState::update(&hub, "410100", |s| {
        s.sessions = 3;
        s.last_session = Some(eight_days_ago);
        s.succeeded(eight_days_ago);
        s.applied = 1200;
        s.skipped = 7;
        s.succeeded(eight_days_ago);
        s.count_refusal("malformed", "a bad batch");
        s.failed = 1;
        s.first_seen = Some(now - 30 * DAY_MS);
    })
    .unwrap();
    // 济源: synced just now.
    ChildState::update(&hub, "419001", |s| {
        s.sessions = 1;
        s.last_session = Some(now);
        s.succeeded(now);
        s.applied = 500;
        s.pending = Some(0);
    })
    .unwrap();
    // 洛阳: synced yesterday, then refused for a quota.
    ChildState::update(&hub, "410300", |s| {
        s.sessions = 2;
        s.last_session = Some(now - DAY_MS);
        s.succeeded(now - DAY_MS);
        s.count_refusal(QUOTA_REASON, "410300 is over its quota changes_per_day 10");
    })
    .unwrap();
    // A quarantined origin under 郑州 whose reason quotes an ID number.
    hub.store()
        .set_hold(&Hold {
            origin: "410102".into(),
            seq: 4,
            reason: format!("quarantined: record of {ID} is malformed"),
            at_ms: now - 2 * DAY_MS,
        })
        .unwrap();
    hub
}

type Answer = (StatusCode, HeaderMap, String);

async fn send(router: &Router, mut request: Request<Body>, from: Option<&str>) -> Answer {
    if let Some(ip) = from {
        let addr = SocketAddr::new(ip.parse().unwrap(), 50000);
        request.extensions_mut().insert(ConnectInfo(addr));
    }
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    // A document is not text: kept lossy, never printed whole.
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

async fn scrape(router: &Router, from: &str) -> Answer {
    send(
        router,
        Request::get("/metrics").body(Body::empty()).unwrap(),
        Some(from),
    )
    .await
}

/// The page `uri` as the account `name`, through the trusted proxy.
async fn page(router: &Router, name: &str, uri: &str) -> Answer {
    send(
        router,
        Request::get(uri)
            .header(PROXY_HEADER, name)
            .body(Body::empty())
            .unwrap(),
        Some("127.0.0.1"),
    )
    .await
}

fn parse(body: &str) -> Scrape {
    Scrape::parse(body.lines().map(|l| Ok(l.to_owned()))).expect("the Prometheus text format")
}

/// The value of `metric` with these labels.
fn value(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s: &&Sample| {
            s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v))
        })
        .map(|s| match s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
            _ => f64::NAN,
        })
}

#[tokio::test]
async fn metrics_are_prometheus_text_with_the_childrens_sync_state() {
    let tmp = tempfile::tempdir().unwrap();
    let hub = province(tmp.path());
    let router = dashboard::router(hub.clone());
    let (status, headers, body) = scrape(&router, "127.0.0.1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        headers[header::CONTENT_TYPE],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let m = parse(&body);
    let child = |c: &'static str| [("child", c)];
    // Typed as the format says.
    let sample = |name: &str| m.samples.iter().find(|s| s.metric == name).unwrap();
    assert!(matches!(
        sample("lunxun_child_sessions_started_total").value,
        Value::Counter(_)
    ));
    assert!(matches!(
        sample("lunxun_store_bytes").value,
        Value::Gauge(_)
    ));
    assert!(m.docs.contains_key("lunxun_child_silent"));

    assert_eq!(
        value(&m, "lunxun_child_sessions_started_total", &child("410100")),
        Some(3.0)
    );
    assert_eq!(
        value(&m, "lunxun_child_sessions_ok_total", &child("410100")),
        Some(2.0)
    );
    assert_eq!(
        value(&m, "lunxun_child_sessions_failed_total", &child("410100")),
        Some(1.0)
    );
    assert_eq!(
        value(&m, "lunxun_child_changes_received_total", &child("410100")),
        Some(1200.0)
    );
    assert_eq!(
        value(&m, "lunxun_child_changes_skipped_total", &child("410100")),
        Some(7.0)
    );
    assert_eq!(
        value(
            &m,
            "lunxun_child_refusals_total",
            &[("child", "410100"), ("reason", "malformed")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &m,
            "lunxun_child_refusals_total",
            &[("child", "410300"), ("reason", "quota")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&m, "lunxun_child_quota_refusals_total", &child("410300")),
        Some(1.0)
    );
    assert_eq!(
        value(&m, "lunxun_child_quota_refused", &child("410300")),
        Some(1.0)
    );
    assert_eq!(
        value(&m, "lunxun_child_quota_refused", &child("410100")),
        Some(0.0)
    );
    // Lag and freshness: 郑州 eight days (no data here), 济源 fresh.
    let lag = value(&m, "lunxun_child_seconds_since_success", &child("410100")).unwrap();
    assert!(lag >= 8.0 * 86_400.0, "{lag}");
    assert_eq!(
        value(&m, "lunxun_child_seconds_since_data", &child("410100")),
        None
    );
    assert!(value(&m, "lunxun_child_seconds_since_data", &child("419001")).unwrap() < 86_400.0);
    // Silent: 郑州 only (the default threshold, seven days).
    assert_eq!(
        value(&m, "lunxun_child_silent", &child("410100")),
        Some(1.0)
    );
    assert_eq!(
        value(&m, "lunxun_child_silent", &child("419001")),
        Some(0.0)
    );
    assert_eq!(
        value(&m, "lunxun_child_silent", &child("410300")),
        Some(0.0)
    );
    assert_eq!(value(&m, "lunxun_silent_children", &[]), Some(1.0));
    assert_eq!(value(&m, "lunxun_alert_silent_days", &[]), Some(7.0));
    assert_eq!(value(&m, "lunxun_alerts", &[("kind", "silent")]), Some(1.0));
    assert_eq!(value(&m, "lunxun_alerts", &[("kind", "quota")]), Some(1.0));
    assert_eq!(value(&m, "lunxun_alerts", &[("kind", "held")]), Some(1.0));
    assert_eq!(
        value(&m, "lunxun_alerts", &[("kind", "refused")]),
        Some(1.0)
    );
    // 开封 and the others never connected: counted, no series of their own.
    let never = value(&m, "lunxun_children_never_heard", &[]).unwrap();
    let children = hub.orgs().children(hub.me()).len() as f64;
    assert_eq!(never, children - 3.0);
    assert_eq!(value(&m, "lunxun_child_silent", &child("410200")), None);
    // Quarantine, store, own log.
    assert_eq!(value(&m, "lunxun_held_origins", &[]), Some(1.0));
    assert_eq!(
        value(&m, "lunxun_child_held_origins", &child("410100")),
        Some(1.0)
    );
    assert!(value(&m, "lunxun_store_bytes", &[]).unwrap() > 0.0);
    assert_eq!(value(&m, "lunxun_own_seq", &[]), Some(0.0));
    assert_eq!(
        value(
            &m,
            "lunxun_node_info",
            &[("org", "410000"), ("level", "province")]
        ),
        Some(1.0)
    );
    // Never an ID number, nor any part of a hold's or refusal's text.
    assert!(
        !body.contains("198001010018") && !body.contains("quarantined"),
        "{body}"
    );
}

#[tokio::test]
async fn metrics_answer_loopback_and_configured_networks_only_and_never_through_a_proxy() {
    let tmp = tempfile::tempdir().unwrap();
    let hub = province(tmp.path());
    let router = dashboard::router(hub.clone());
    for from in ["127.0.0.1", "::1"] {
        assert_eq!(scrape(&router, from).await.0, StatusCode::OK, "{from}");
    }
    // Another address, or no known peer: refused, with nothing in it.
    for from in [Some("10.1.2.3"), Some("192.0.2.1"), None] {
        let (status, _, body) = send(
            &router,
            Request::get("/metrics").body(Body::empty()).unwrap(),
            from,
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{from:?}");
        assert!(!body.contains("lunxun_"), "{body}");
    }
    // A proxy on loopback passes its clients on: refused too.
    for h in ["X-Forwarded-For", "Forwarded", PROXY_HEADER] {
        let (status, _, _) = send(
            &router,
            Request::get("/metrics")
                .header(h, "admin")
                .body(Body::empty())
                .unwrap(),
            Some("127.0.0.1"),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{h}");
    }
    // No session needed, and no login redirect.
    let (status, headers, _) = scrape(&router, "127.0.0.1").await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers.get(header::LOCATION).is_none());
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");

    // A bureau that lets its monitoring network read them.
    let open = DashboardConfig {
        metrics_from: vec!["10.0.0.0/8".to_owned().try_into().unwrap()],
        ..Default::default()
    };
    let other = Arc::new(Node::init(&tmp.path().join("410100"), config("410100", open)).unwrap());
    let router = dashboard::router(other);
    assert_eq!(scrape(&router, "10.1.2.3").await.0, StatusCode::OK);
    assert_eq!(scrape(&router, "::ffff:10.1.2.3").await.0, StatusCode::OK);
    assert_eq!(scrape(&router, "11.1.2.3").await.0, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_front_page_lists_the_alerts_of_the_viewers_subtree() {
    let tmp = tempfile::tempdir().unwrap();
    let hub = province(tmp.path());
    for (name, org) in [("admin", "410000"), ("zz", "410100"), ("jy", "419001")] {
        accounts::add(&hub, name, org, Role::Viewer, "a long test password").unwrap();
    }
    let router = dashboard::router(hub.clone());

    let (status, _, html) = page(&router, "admin", "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"<section class="alerts""#));
    assert!(html.contains(r#"data-field="alerts.count">4<"#));
    for (kind, child) in [
        ("silent", "410100"),
        ("quota", "410300"),
        ("refused", "410100"),
        ("held", "410100"),
    ] {
        assert!(
            html.contains(&format!(r#"data-alert="{kind}" data-child="{child}""#)),
            "{kind} {child}"
        );
    }
    assert!(!html.contains(r#"data-alert="silent" data-child="419001""#));
    // Masked in the held alert's detail.
    assert!(!html.contains("198001010018"));
    assert!(html.contains("410102********0018"));
    // Not on the other org pages.
    let (_, _, other) = page(&router, "admin", "/org/410100").await;
    assert!(!other.contains(r#"<section class="alerts""#));

    // 郑州's account sees its own alerts, not 洛阳's.
    let (_, _, html) = page(&router, "zz", "/").await;
    assert!(html.contains(r#"data-alert="silent" data-child="410100""#));
    assert!(!html.contains(r#"data-child="410300""#));
    // 济源's account: nothing to alert.
    let (_, _, html) = page(&router, "jy", "/").await;
    assert!(html.contains(r#"data-field="alerts.count">0<"#));
    assert!(html.contains("无告警"));

    // `status` lists the same alerts.
    let status = lunxun_node::app::status::status(&hub);
    let alerts: Vec<(String, String)> = status
        .alerts
        .iter()
        .map(|a| {
            (
                serde_json::to_value(a.kind)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_owned(),
                a.child.clone(),
            )
        })
        .collect();
    assert_eq!(
        alerts,
        [
            ("silent".to_owned(), "410100".to_owned()),
            ("quota".to_owned(), "410300".to_owned()),
            ("refused".to_owned(), "410100".to_owned()),
            ("held".to_owned(), "410100".to_owned()),
        ]
    );
    assert_eq!(status.silent_days, 7);
}

#[tokio::test]
async fn the_tongbao_downloads_as_a_word_document_audited() {
    let tmp = tempfile::tempdir().unwrap();
    let hub = province(tmp.path());
    accounts::add(&hub, "admin", "410000", Role::Admin, "a long test password").unwrap();
    let router = dashboard::router(hub.clone());
    let (_, _, html) = page(&router, "admin", "/").await;
    assert!(html.contains(r#"href="/report.docx?org=410000""#));
    let (status, headers, _) = send(
        &router,
        Request::get("/report.docx?org=410000&as_of=2026-06-30")
            .header(PROXY_HEADER, "admin")
            .body(Body::empty())
            .unwrap(),
        Some("127.0.0.1"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers[header::CONTENT_TYPE],
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    );
    let disposition = headers[header::CONTENT_DISPOSITION].to_str().unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\"lunxun-report-410000-2026-06-30.docx\""),
        "{disposition}"
    );
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    let events = accounts::events(&hub, 0, None).unwrap();
    assert!(
        events
            .iter()
            .any(|e| format!("{e:?}").contains("report.docx on 2026-06-30")),
        "{events:?}"
    );
    // Outside the account's subtree: a 404, and nothing audited for it.
    accounts::add(&hub, "jy", "419001", Role::Viewer, "a long test password").unwrap();
    let (status, _, _) = send(
        &router,
        Request::get("/report.docx?org=410000")
            .header(PROXY_HEADER, "jy")
            .body(Body::empty())
            .unwrap(),
        Some("127.0.0.1"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn metrics_of_a_hub_with_a_parent_show_its_upstream_link() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = config("410100", Default::default());
    c.upstream = Some("http://127.0.0.1:9".into());
    let node = Arc::new(Node::init(&tmp.path().join("410100"), c).unwrap());
    let sent_at = now_ms() - 3_600_000;
    node.store()
        .set_upstream_state(&lunxun_node::sync::worker::UpstreamState {
            last_attempt: Some(sent_at),
            last_success: Some(sent_at),
            last_sent: 40,
            sent_total: 1234,
            ..Default::default()
        })
        .unwrap();
    let (status, _, body) = scrape(&dashboard::router(node), "127.0.0.1").await;
    assert_eq!(status, StatusCode::OK);
    let m = parse(&body);
    assert_eq!(
        value(&m, "lunxun_upstream_changes_sent_total", &[]),
        Some(1234.0)
    );
    assert_eq!(
        value(&m, "lunxun_upstream_failures_in_a_row", &[]),
        Some(0.0)
    );
    assert_eq!(value(&m, "lunxun_upstream_pending_changes", &[]), Some(0.0));
    assert!(value(&m, "lunxun_upstream_seconds_since_success", &[]).unwrap() >= 3_600.0);
    // No children ever heard: every one counted, none alerted.
    assert_eq!(value(&m, "lunxun_silent_children", &[]), Some(0.0));
    assert_eq!(value(&m, "lunxun_alerts", &[("kind", "silent")]), Some(0.0));
}
