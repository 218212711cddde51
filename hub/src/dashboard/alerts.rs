//! The front page's 告警 Alerts box: the node's alerts about its direct
//! subordinates (`lunxun_node::alerts`), only those inside the viewer's
//! subtree, with since when (in the bureau's zone) and why.

use std::fmt::Write as _;

use lunxun_node::alerts::{self, Alert};
use lunxun_node::orgs::OrgId;

use super::common::*;

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

/// The box: one row per alert, or a line saying there is none.
pub(super) fn alerts_box(h: &mut String, alerts: &[Alert], silent_days: u32, zone: chrono_tz::Tz) {
    out!(
        h,
        r#"<section class="alerts" aria-label="alerts"><h2>告警 <span class="en">Alerts</span> <span class="count" data-field="alerts.count">{}</span></h2>"#,
        alerts.len()
    );
    if alerts.is_empty() {
        out!(
            h,
            r#"<p class="ok">无告警：下级单位均在 {silent_days} 天内同步，无拒收、暂扣或超额 <span class="en">No alerts: every subordinate synced within {silent_days} days, none refused, held back or over a quota.</span></p></section>"#
        );
        return;
    }
    out!(
        h,
        r#"<div class="scroll"><table class="alerts"><thead><tr><th>告警 <span class="en">Alert</span></th><th>单位 <span class="en">Unit</span></th><th>起始时间 <span class="en">Since</span></th><th>说明 <span class="en">Detail</span></th></tr></thead><tbody>"#
    );
    for a in alerts {
        let since = match a.since {
            Some(t) => lunxun_node::clock::local_minutes(zone, t),
            None => "从未 never".into(),
        };
        out!(
            h,
            r#"<tr data-alert="{kind}" data-child="{org}"><td><span class="alert-kind">{zh} <span class="en">{kind}</span></span></td><td><a href="/org/{org}">{name}</a> <span class="code">{org}</span></td><td>{since}</td><td>{detail}</td></tr>"#,
            kind = a.kind.as_str(),
            zh = a.kind.zh(),
            org = esc(&a.child),
            name = esc(&a.name),
            since = esc(&since),
            detail = esc(&a.detail),
        );
    }
    out!(
        h,
        r#"</tbody></table></div><p class="note">长期未同步：超过 {silent_days} 天无完整同步且无新数据 <span class="en">Silent: no completed session and no new data for {silent_days} days or more.</span></p></section>"#
    );
}
