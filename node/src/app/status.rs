//! Assembling `status`: identity, counts, the upstream link and the
//! children as the store recorded them, and what is held back — one value
//! that the CLI renders as text or prints as JSON.

use serde::Serialize;

use crate::coverage::format_timestamp;
use crate::node::{Node, now_ms};

/// `status --format json`.
#[derive(Debug, Serialize)]
pub struct StatusJson {
    pub org: String,
    pub name: String,
    pub level: &'static str,
    pub parent: Option<String>,
    pub data_dir: String,
    pub store_bytes: u64,
    pub incarnation: String,
    pub own_seq: u64,
    pub last_write: Option<String>,
    pub writable: bool,
    pub counts: crate::view::ViewCounts,
    pub unknown_origin_changes: u64,
    pub upstream: Option<UpstreamJson>,
    pub children: Vec<ChildJson>,
    /// Origins whose changes this node holds back (quarantine, gap, fork).
    pub held: Vec<HeldJson>,
    /// Peers refused before they were known as one of our children, by reason.
    pub refused_peers: std::collections::BTreeMap<String, u64>,
    /// Days without a session or data before a child is alerted as silent.
    pub silent_days: u32,
    /// Alerts about the direct children (silent, quota, refused, held).
    pub alerts: Vec<AlertJson>,
}

/// One alert of `status --format json`.
#[derive(Debug, Serialize)]
pub struct AlertJson {
    pub kind: crate::alerts::AlertKind,
    pub child: String,
    pub name: String,
    /// When it began (UTC), or null for a child that never delivered anything.
    pub since: Option<String>,
    /// The same in ms since the epoch, for the table (in the bureau's zone).
    #[serde(skip)]
    pub since_ms: Option<i64>,
    pub detail: String,
}

#[derive(Debug, Serialize)]
pub struct UpstreamJson {
    pub url: String,
    pub last_attempt: Option<String>,
    pub last_success: Option<String>,
    pub last_error: Option<String>,
    pub failures: u32,
    /// Changes not acked by the parent as of the last session.
    pub pending: u64,
    /// Age of the oldest of them, in seconds.
    pub lag_seconds: Option<i64>,
    pub parent_incarnation: Option<String>,
    pub held_by_parent: Vec<HeldJson>,
}

#[derive(Debug, Serialize)]
pub struct ChildJson {
    pub org: String,
    pub name: String,
    pub last_session: Option<String>,
    pub last_success: Option<String>,
    pub last_error: Option<String>,
    pub pending: Option<u64>,
    /// Seconds since the child's last complete session.
    pub lag_seconds: Option<i64>,
    pub applied: u64,
    pub skipped: u64,
    pub refused: u64,
    /// Refusals by reason.
    pub refusals: std::collections::BTreeMap<String, u64>,
    /// Why the child is refused for now (one of its quotas), if it is.
    pub refused_reason: Option<String>,
    /// What the child had applied here today, against its daily quotas.
    pub quota_used: Option<QuotaUsedJson>,
}

#[derive(Debug, Serialize)]
pub struct QuotaUsedJson {
    pub day: String,
    pub changes: u64,
    pub bytes: u64,
}

#[derive(Debug, Serialize)]
pub struct HeldJson {
    pub origin: String,
    pub seq: u64,
    pub reason: String,
}

fn ts(ms: Option<i64>) -> Option<String> {
    ms.map(format_timestamp)
}

/// The node's `status`, assembled from the view, the store and the org
/// directory.
pub fn status(node: &Node) -> StatusJson {
    let now = now_ms();
    let org = node.orgs().org(node.me());
    let (own, counts) = {
        let view = node.view();
        (view.head(node.me()).copied(), view.counts())
    };
    let upstream = node.config().upstream.as_ref().map(|url| {
        let state = crate::sync::worker::UpstreamState::load(node);
        let (pending, lag) = state.pending(node);
        UpstreamJson {
            url: url.clone(),
            last_attempt: ts(state.last_attempt),
            last_success: ts(state.last_success),
            last_error: state.last_error.clone(),
            failures: state.failures,
            pending,
            lag_seconds: lag.map(|ms| ms / 1000),
            parent_incarnation: state.parent_incarnation.clone(),
            held_by_parent: state
                .held
                .iter()
                .map(|(origin, seq, reason)| HeldJson {
                    origin: origin.clone(),
                    seq: *seq,
                    reason: reason.clone(),
                })
                .collect(),
        }
    });
    let children = node
        .orgs()
        .children(node.me())
        .iter()
        .filter_map(|&c| {
            let code = node.orgs().code(c);
            let state = crate::sync::children::ChildState::load(node, code);
            // Children that never connected are listed only at hubs that hear from any.
            state.last_session?;
            Some(ChildJson {
                org: code.to_owned(),
                name: node.orgs().org(c).name.clone(),
                last_session: ts(state.last_session),
                last_success: ts(state.last_success),
                last_error: state.last_error.clone(),
                pending: state.pending,
                lag_seconds: state.last_success.map(|t| (now - t).max(0) / 1000),
                applied: state.applied,
                skipped: state.skipped,
                refused: state.refused,
                refusals: state.refusals.clone(),
                refused_reason: state.refused_reason.clone(),
                quota_used: node
                    .store()
                    .quota_usage(code)
                    .ok()
                    .flatten()
                    .filter(|u| u.day == node.today())
                    .map(|u| QuotaUsedJson {
                        day: u.day.to_string(),
                        changes: u.changes,
                        bytes: u.bytes,
                    }),
            })
        })
        .collect();
    let held = node
        .holds()
        .unwrap_or_default()
        .into_iter()
        .map(|(origin, seq, reason)| HeldJson {
            origin,
            seq,
            reason,
        })
        .collect();
    StatusJson {
        org: org.code.clone(),
        name: org.name.clone(),
        level: org.level.as_str(),
        parent: org.parent.map(|p| node.orgs().code(p).to_owned()),
        data_dir: node.dir().display().to_string(),
        store_bytes: node.store().size_on_disk(),
        incarnation: node
            .incarnation()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
        own_seq: own.map_or(0, |h| h.seq),
        last_write: own.map(|h| format_timestamp(h.received_at_ms)),
        writable: node.writable(),
        counts,
        unknown_origin_changes: node.unknown_origin_changes(),
        upstream,
        children,
        held,
        refused_peers: crate::sync::children::unidentified_refusals(node),
        silent_days: node.config().alerts.silent_days,
        alerts: crate::alerts::of_node(node, now)
            .into_iter()
            .map(|a| AlertJson {
                kind: a.kind,
                child: a.child,
                name: a.name,
                since: ts(a.since),
                since_ms: a.since,
                detail: a.detail,
            })
            .collect(),
    }
}
