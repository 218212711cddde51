//! The front page's 告警 Alerts box: the node's alerts about its direct
//! subordinates (`lunxun_node::alerts`), only those inside the viewer's
//! subtree, with since when (in the bureau's zone) and why
//! (`templates/partials/alerts.html`).

use lunxun_node::alerts::{self, Alert};
use lunxun_node::orgs::OrgId;

use super::common::*;

/// The box: one row per alert, or a line saying there is none.
pub(super) struct AlertsBox {
    pub(super) rows: Vec<AlertRow>,
    /// Days without a session or data before a child is silent.
    pub(super) silent_days: u32,
}

pub(super) struct AlertRow {
    pub(super) kind: &'static str,
    pub(super) kind_zh: &'static str,
    pub(super) org: String,
    pub(super) name: String,
    /// In the bureau's zone, or `从未 never`.
    pub(super) since: String,
    pub(super) detail: String,
}

/// The alerts of the node's children inside `root`'s subtree.
pub(super) async fn alerts_within(d: &Dashboard, root: OrgId) -> Result<Vec<Alert>, Fail> {
    d.run(move |node| {
        let orgs = node.orgs();
        alerts::of_node(node, lunxun_node::node::now_ms())
            .into_iter()
            .filter(|a| orgs.get(&a.child).is_some_and(|c| orgs.is_within(c, root)))
            .collect()
    })
    .await
}

impl AlertsBox {
    pub(super) fn new(alerts: Vec<Alert>, silent_days: u32, zone: chrono_tz::Tz) -> AlertsBox {
        let rows = alerts
            .into_iter()
            .map(|a| AlertRow {
                kind: a.kind.as_str(),
                kind_zh: a.kind.zh(),
                since: match a.since {
                    Some(t) => lunxun_node::clock::local_minutes(zone, t),
                    None => "从未 never".into(),
                },
                org: a.child,
                name: a.name,
                detail: a.detail,
            })
            .collect();
        AlertsBox { rows, silent_days }
    }
}
