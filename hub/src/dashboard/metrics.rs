//! `GET /metrics`: the node's sync and store figures in the Prometheus text
//! format (0.0.4), for the bureau's monitoring. No session: it answers
//! connections from loopback and from `[dashboard] metrics_from` only, and
//! never one that came through a proxy (which would make every proxied
//! client look local). Labels carry org codes and fixed reasons only —
//! never a name, an error text or an ID number.
//!
//! Everything is read at scrape time from what the store records (each
//! child's sync record, the upstream state, holds, refusals) and from the
//! view's heads: the counters survive restarts because their sources do.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lunxun_node::alerts::{self, AlertKind};
use lunxun_node::node::Node;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::common::*;

/// Headers a proxy adds: a request carrying one is refused, whoever
/// connected (the proxy may sit on loopback).
const PROXY_HEADERS: [&str; 3] = ["forwarded", "x-forwarded-for", "x-real-ip"];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChildLabel {
    child: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChildReason {
    child: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NodeLabel {
    org: String,
    level: String,
}

pub(super) async fn metrics(State(d): State<Dashboard>, request: Request) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| a.ip());
    let config = &d.node.config().dashboard;
    let proxied = PROXY_HEADERS
        .iter()
        .any(|h| request.headers().contains_key(HeaderName::from_static(h)))
        || config
            .trusted_proxy
            .as_ref()
            .is_some_and(|p| request.headers().contains_key(p.header.as_str()));
    if proxied || !peer.is_some_and(|ip| config.metrics_allowed(ip)) {
        return (
            StatusCode::FORBIDDEN,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "metrics are served to loopback and [dashboard] metrics_from only, never through a proxy\n",
        )
            .into_response();
    }
    match d
        .run(|node| encode(node, lunxun_node::node::now_ms()))
        .await
    {
        Ok(Ok(body)) => (
            [(
                header::CONTENT_TYPE,
                prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            )],
            body,
        )
            .into_response(),
        Ok(Err(e)) => Fail::internal(format!("metrics: {e}")).json(),
        Err(fail) => fail.json(),
    }
}

/// A counter family registered under `name` (`_total` is appended).
fn counters<S>(r: &mut Registry, name: &str, help: &str) -> Family<S, Counter>
where
    S: EncodeLabelSet + Clone + std::hash::Hash + Eq + std::fmt::Debug + Send + Sync + 'static,
{
    let family = Family::<S, Counter>::default();
    r.register(name, help, family.clone());
    family
}

/// A gauge family registered under `name`.
fn gauges<S>(r: &mut Registry, name: &str, help: &str) -> Family<S, Gauge>
where
    S: EncodeLabelSet + Clone + std::hash::Hash + Eq + std::fmt::Debug + Send + Sync + 'static,
{
    let family = Family::<S, Gauge>::default();
    r.register(name, help, family.clone());
    family
}

/// A gauge without labels registered under `name`, set to `value`.
fn gauge(r: &mut Registry, name: &str, help: &str, value: i64) {
    let g = Gauge::<i64>::default();
    g.set(value);
    r.register(name, help, g);
}

fn seconds_since(now_ms: i64, t: i64) -> i64 {
    now_ms.saturating_sub(t).max(0) / 1000
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The node's metrics at `now_ms`, in the Prometheus text format.
pub(crate) fn encode(node: &Node, now_ms: i64) -> Result<String, std::fmt::Error> {
    let mut r = Registry::with_prefix("lunxun");
    let orgs = node.orgs();
    let org = orgs.org(node.me());
    let info = gauges::<NodeLabel>(&mut r, "node_info", "This node's org code and level");
    info.get_or_create(&NodeLabel {
        org: org.code.clone(),
        level: org.level.as_str().to_owned(),
    })
    .set(1);
    let own = node.view().head(node.me()).map_or(0, |h| h.seq);
    gauge(
        &mut r,
        "own_seq",
        "Highest seq of this node's own log",
        to_i64(own),
    );
    gauge(
        &mut r,
        "store_bytes",
        "Bytes the store takes on disk",
        to_i64(node.store().size_on_disk()),
    );
    gauge(
        &mut r,
        "writable",
        "1 when this node accepts writes, 0 while its own log conflicts with its parent's copy",
        i64::from(node.writable()),
    );
    let holds = node.store().holds().unwrap_or_default();
    gauge(
        &mut r,
        "held_origins",
        "Origins whose changes this node holds back (quarantine, gap, fork, unsigned, unknown)",
        to_i64(holds.len() as u64),
    );
    gauge(
        &mut r,
        "unknown_origin_changes",
        "Changes held of origins not in the org directory",
        to_i64(node.unknown_origin_changes()),
    );
    let peers = counters::<ReasonLabel>(
        &mut r,
        "peer_refusals",
        "Connections refused before the peer was known as a child, by reason",
    );
    for (reason, n) in lunxun_node::sync::children::unidentified_refusals(node) {
        peers.get_or_create(&ReasonLabel { reason }).inc_by(n);
    }
    if node.config().upstream.is_some() {
        let state = lunxun_node::sync::worker::UpstreamState::load(node);
        let (pending, _) = state.pending(node);
        let sent = Counter::<u64>::default();
        sent.inc_by(state.sent_total);
        r.register("upstream_changes_sent", "Changes sent to the parent", sent);
        gauge(
            &mut r,
            "upstream_pending_changes",
            "Changes the parent did not hold at the last session",
            to_i64(pending),
        );
        gauge(
            &mut r,
            "upstream_failures_in_a_row",
            "Upstream sessions failed since the last complete one",
            i64::from(state.failures),
        );
        gauge(
            &mut r,
            "upstream_held_origins",
            "Origins of ours the parent holds back",
            to_i64(state.held.len() as u64),
        );
        if let Some(t) = state.last_success {
            gauge(
                &mut r,
                "upstream_seconds_since_success",
                "Seconds since the last complete upstream session",
                seconds_since(now_ms, t),
            );
        }
    }
    children(&mut r, node, now_ms);
    let mut body = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut body, &r)?;
    Ok(body)
}

/// The per-child families and the alerts.
fn children(r: &mut Registry, node: &Node, now_ms: i64) {
    let started = counters::<ChildLabel>(
        r,
        "child_sessions_started",
        "Sync sessions of the child that ran to their end here",
    );
    let ok = counters::<ChildLabel>(
        r,
        "child_sessions_ok",
        "Sync sessions of the child that ended with everything acked",
    );
    let failed = counters::<ChildLabel>(
        r,
        "child_sessions_failed",
        "Sync sessions of the child that ended with an error",
    );
    let received = counters::<ChildLabel>(
        r,
        "child_changes_received",
        "Changes received from the child and stored",
    );
    let skipped = counters::<ChildLabel>(
        r,
        "child_changes_skipped",
        "Changes received from the child that were already held (resends)",
    );
    let refusals = counters::<ChildReason>(
        r,
        "child_refusals",
        "Refusals of the child, by reason (quota among them)",
    );
    let quota_refusals = counters::<ChildLabel>(
        r,
        "child_quota_refusals",
        "Refusals of the child for one of its quotas",
    );
    let quota_refused = gauges::<ChildLabel>(
        r,
        "child_quota_refused",
        "1 while the child is refused for one of its quotas (until a session succeeds)",
    );
    let since_success = gauges::<ChildLabel>(
        r,
        "child_seconds_since_success",
        "Seconds since the child's last complete session (lag)",
    );
    let since_data = gauges::<ChildLabel>(
        r,
        "child_seconds_since_data",
        "Seconds since data of the child's subtree last arrived (freshness)",
    );
    let pending = gauges::<ChildLabel>(
        r,
        "child_pending_changes",
        "Changes the child still had to send when its last session ended",
    );
    let held = gauges::<ChildLabel>(
        r,
        "child_held_origins",
        "Origins of the child's subtree held back here",
    );
    let silent = gauges::<ChildLabel>(
        r,
        "child_silent",
        "1 when the child is silent longer than [alerts] silent_days",
    );
    let silent_days = node.config().alerts.silent_days;
    let records = alerts::records(node);
    let mut silent_count = 0;
    let mut never = 0;
    for c in &records {
        if !c.known() {
            never += 1;
            continue;
        }
        let label = ChildLabel {
            child: c.org.clone(),
        };
        let is_silent = c.silent_since(now_ms, silent_days).is_some();
        silent_count += i64::from(is_silent);
        silent.get_or_create(&label).set(i64::from(is_silent));
        held.get_or_create(&label).set(to_i64(c.held.len() as u64));
        if let Some(t) = c.last_data_ms {
            since_data
                .get_or_create(&label)
                .set(seconds_since(now_ms, t));
        }
        let Some(s) = &c.state else { continue };
        started.get_or_create(&label).inc_by(s.sessions);
        ok.get_or_create(&label).inc_by(s.ok);
        failed.get_or_create(&label).inc_by(s.failed);
        received.get_or_create(&label).inc_by(s.applied);
        skipped.get_or_create(&label).inc_by(s.skipped);
        for (reason, n) in &s.refusals {
            refusals
                .get_or_create(&ChildReason {
                    child: c.org.clone(),
                    reason: reason.clone(),
                })
                .inc_by(*n);
        }
        let quota = s
            .refusals
            .get(lunxun_node::sync::children::QUOTA_REASON)
            .copied()
            .unwrap_or(0);
        quota_refusals.get_or_create(&label).inc_by(quota);
        quota_refused
            .get_or_create(&label)
            .set(i64::from(s.refused_reason.is_some()));
        if let Some(t) = s.last_success {
            since_success
                .get_or_create(&label)
                .set(seconds_since(now_ms, t));
        }
        if let Some(p) = s.pending {
            pending.get_or_create(&label).set(to_i64(p));
        }
    }
    gauge(
        r,
        "silent_children",
        "Direct children silent longer than [alerts] silent_days",
        silent_count,
    );
    gauge(
        r,
        "children_never_heard",
        "Direct children in the org directory never heard from (no session, no data)",
        never,
    );
    gauge(
        r,
        "alert_silent_days",
        "Days without a session or data before a child is alerted as silent",
        i64::from(silent_days),
    );
    let by_kind = gauges::<KindLabel>(r, "alerts", "Alerts about the direct children, by kind");
    let all = alerts::alerts(&records, now_ms, silent_days);
    for kind in AlertKind::ALL {
        let n = all.iter().filter(|a| a.kind == kind).count();
        by_kind
            .get_or_create(&KindLabel {
                kind: kind.as_str().to_owned(),
            })
            .set(to_i64(n as u64));
    }
}
