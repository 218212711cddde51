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
    /// The trainings the parent returns (held apart from the log; included
    /// in `counts`).
    pub returned: ReturnedJson,
    pub unknown_origin_changes: u64,
    pub upstream: Option<UpstreamJson>,
    pub children: Vec<ChildJson>,
    /// Origins whose changes this node holds back (quarantine, gap, fork).
    pub held: Vec<HeldJson>,
    /// Peers refused before they were known as one of our children, by reason.
    pub refused_peers: std::collections::BTreeMap<String, u64>,
    /// The national bureau's bulletins held, and which is in force.
    pub bulletins: BulletinsJson,
    /// Days without a session or data before a child is alerted as silent.
    pub silent_days: u32,
    /// Alerts about the direct children (silent, quota, refused, held).
    pub alerts: Vec<AlertJson>,
}

#[derive(Debug, Serialize)]
pub struct BulletinsJson {
    /// The highest bulletin number held (0: none).
    pub held: u64,
    /// The bulletin whose policy is in force today (None: the node's own).
    pub policy_in_force: Option<u64>,
    /// The day that policy took effect.
    pub policy_effective: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ReturnedJson {
    /// People with at least one training returned by the parent.
    pub people: usize,
    /// Attendance records returned by the parent.
    pub records: usize,
    /// When they last changed here.
    pub changed: Option<String>,
    /// When the parent's answer was last taken (changed or not).
    pub checked: Option<String>,
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
    /// What the parent holds of our subtree (origin → seq), as of the last
    /// session or bundle acknowledgement, whichever told more lately.
    pub parent_holds: std::collections::BTreeMap<String, u64>,
    /// When the parent's last bundle acknowledgement was imported.
    pub last_bundle_ack: Option<String>,
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
    /// Bundles of the child imported (offline transport).
    pub bundles: u64,
    /// When its last bundle was imported.
    pub last_bundle: Option<String>,
    /// What that bundle covered: per origin, its first and last seq.
    pub last_bundle_covered: std::collections::BTreeMap<String, (u64, u64)>,
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
    let orgs = node.orgs();
    let org = orgs.org(node.me());
    let policy = node.in_force().policy_bulletin_at(node.today());
    let bulletins = BulletinsJson {
        held: node.bulletins_held(),
        policy_in_force: policy.map(|(n, _)| n),
        policy_effective: policy.map(|(_, d)| d.to_string()),
    };
    let (own, counts) = {
        let view = node.view();
        (view.head(node.me()).copied(), view.counts())
    };
    let state = crate::sync::worker::UpstreamState::load(node);
    let returned = node.returned_counts();
    let returned = ReturnedJson {
        people: returned.people,
        records: returned.records,
        changed: ts(returned.changed_at_ms),
        checked: ts(state.returned_at),
    };
    // A node that only ever exchanges bundles has no URL but a parent all the same.
    let url = node.config().upstream.clone().or_else(|| {
        state
            .last_bundle_ack
            .map(|_| "none (bundles only)".to_owned())
    });
    let upstream = url.map(|url| {
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
            parent_holds: state.parent.clone(),
            last_bundle_ack: ts(state.last_bundle_ack),
        }
    });
    let children = node
        .orgs()
        .children(node.me())
        .iter()
        .filter_map(|&c| {
            let orgs = node.orgs();
            let code = orgs.code(c);
            let state = crate::sync::children::ChildState::load(node, code);
            // Children never heard from (by a session or a bundle) are not listed.
            state.last_session.or(state.last_bundle)?;
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
                bundles: state.bundles,
                last_bundle: ts(state.last_bundle),
                last_bundle_covered: state.last_bundle_covered.clone(),
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
        returned,
        unknown_origin_changes: node.unknown_origin_changes(),
        upstream,
        children,
        held,
        refused_peers: crate::sync::children::unidentified_refusals(node),
        bulletins,
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
