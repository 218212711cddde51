//! Alerts and metrics in real processes over mutual TLS: a county syncs to
//! its prefecture once and stops; with the prefecture's `[alerts]
//! silent_days = 0` it is silent at once (no sleeping for days), and the
//! prefecture's `status` (table and JSON) and `GET /metrics` (scraped over
//! TCP from loopback and parsed as the Prometheus text format) say so, with
//! the session and the changes the county sent.

use std::io::{Read, Write};

use lunxun_tests::{World, seed};
use prometheus_parse::{Scrape, Value};

const PREFECTURE: &str = "410100";
const COUNTY: &str = "410102";

/// `GET /metrics` over a plain TCP connection to `addr`: status line and body.
fn scrape(addr: std::net::SocketAddr) -> (String, String) {
    let mut conn = std::net::TcpStream::connect(addr).expect("connect to the dashboard");
    conn.set_read_timeout(Some(lunxun_tests::WAIT_MAX))
        .expect("a read timeout");
    conn.write_all(b"GET /metrics HTTP/1.1\r\nHost: monitor\r\nConnection: close\r\n\r\n")
        .expect("send the request");
    let mut answer = String::new();
    conn.read_to_string(&mut answer).expect("read the answer");
    let (head, body) = answer.split_once("\r\n\r\n").expect("headers and a body");
    (
        head.lines().next().unwrap_or_default().to_owned(),
        body.to_owned(),
    )
}

fn value(scrape: &Scrape, metric: &str, child: Option<&str>) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == metric && child.is_none_or(|c| s.labels.get("child") == Some(c)))
        .map(|s| match s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
            _ => f64::NAN,
        })
}

#[test]
fn a_child_that_stopped_syncing_is_alerted_in_status_and_metrics() {
    let world = World::tls("alerts", seed("alerts", 7));
    let mut hub = world.node(PREFECTURE, None);
    let config = hub.dir().join("config.toml");
    let mut text = std::fs::read_to_string(&config).expect("the hub's config");
    text.push_str("\n[alerts]\nsilent_days = 0\n");
    std::fs::write(&config, text).expect("write the hub's config");
    hub.serve_with(&["--http", "127.0.0.1:0"]);
    let url = hub.url();
    let mut county = world.node(COUNTY, Some(&url));
    county.import_data(&world.data(COUNTY));
    county.sync_ok();
    let sent = county.own_seq();

    // The county syncs no more. `status --format json`:
    let status = hub.status_json();
    assert_eq!(status["silent_days"], 0, "{status}");
    let alerts = status["alerts"].as_array().expect("status lists alerts");
    assert_eq!(alerts.len(), 1, "{status}");
    let alert = &alerts[0];
    assert_eq!(alert["kind"], "silent", "{alert}");
    assert_eq!(alert["child"], COUNTY, "{alert}");
    let child = status["children"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["org"] == COUNTY)
        .expect("the county in the hub's status");
    // Since its last contact: its session, or the data it brought, whichever
    // came last (both within that session).
    let since = alert["since"].as_str().expect("a time");
    let last_success = child["last_success"].as_str().unwrap();
    assert!(since <= last_success, "{since} after {last_success}");
    assert!(
        since >= child["last_session"].as_str().unwrap(),
        "{since} before the session began"
    );
    // The table.
    let table = hub.ok(&["status"]);
    assert!(
        table.contains("ALERTS     1 (silent after 0 days)"),
        "{table}"
    );
    assert!(table.contains("长期未同步 silent"), "{table}");
    assert!(table.contains(COUNTY), "{table}");

    // `/metrics`, from loopback, without a session.
    let addr = hub.http_addr();
    let (status_line, body) = scrape(addr);
    assert!(status_line.starts_with("HTTP/1.1 200"), "{status_line}");
    let m = Scrape::parse(body.lines().map(|l| Ok(l.to_owned()))).expect("Prometheus text");
    assert_eq!(value(&m, "lunxun_child_silent", Some(COUNTY)), Some(1.0));
    assert_eq!(value(&m, "lunxun_silent_children", None), Some(1.0));
    let silent_alerts = m
        .samples
        .iter()
        .find(|s| s.metric == "lunxun_alerts" && s.labels.get("kind") == Some("silent"))
        .map(|s| match s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
            _ => f64::NAN,
        });
    assert_eq!(silent_alerts.map(|v| v >= 1.0), Some(true));
    let started = value(&m, "lunxun_child_sessions_started_total", Some(COUNTY)).unwrap();
    let ok = value(&m, "lunxun_child_sessions_ok_total", Some(COUNTY)).unwrap();
    assert!(
        started >= 1.0 && ok >= 1.0 && ok <= started,
        "{started} {ok}"
    );
    assert_eq!(
        value(&m, "lunxun_child_sessions_failed_total", Some(COUNTY)),
        Some(0.0)
    );
    assert_eq!(
        value(&m, "lunxun_child_changes_received_total", Some(COUNTY)),
        Some(sent as f64)
    );
    assert_eq!(
        value(&m, "lunxun_child_pending_changes", Some(COUNTY)),
        Some(0.0)
    );
    assert!(value(&m, "lunxun_child_seconds_since_data", Some(COUNTY)).is_some());
    // The county's own view of its link: what it sent.
    assert_eq!(
        county.status_json()["upstream"]["pending"],
        0,
        "the county holds nothing the prefecture lacks"
    );
    hub.stop();
}
