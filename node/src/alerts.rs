//! Alerts about a parent's direct subordinates: silent for longer than
//! `[alerts] silent_days`, refused, with origins held back, over a quota.
//! [`alerts`] is a pure function of what the parent recorded of each child
//! and the time; [`records`] gathers those records from a node. `status`,
//! the dashboard's front page and `/metrics` all show the same list.

use serde::Serialize;

use crate::model::mask_ids;
use crate::node::Node;
use crate::store::{ChildState, Hold};

/// One day in milliseconds.
const DAY_MS: i64 = 86_400_000;

/// Held origins named in one alert's detail; the rest are counted.
pub const HELD_NAMED_MAX: usize = 3;

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// No completed session and no new data for longer than the threshold.
    Silent,
    /// Over one of its quotas: refused until a session of it succeeds.
    Quota,
    /// Refused since its last successful session (certificate, revoked,
    /// malformed, outside its subtree…).
    Refused,
    /// Origins of its subtree held back here (quarantine, gap, fork,
    /// unsigned…): later changes of those origins wait.
    Held,
}

impl AlertKind {
    pub const ALL: [AlertKind; 4] = [
        AlertKind::Silent,
        AlertKind::Quota,
        AlertKind::Refused,
        AlertKind::Held,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Silent => "silent",
            AlertKind::Quota => "quota",
            AlertKind::Refused => "refused",
            AlertKind::Held => "held",
        }
    }

    pub fn zh(self) -> &'static str {
        match self {
            AlertKind::Silent => "长期未同步",
            AlertKind::Quota => "超出配额",
            AlertKind::Refused => "同步被拒",
            AlertKind::Held => "数据暂扣",
        }
    }
}

/// One alert: its kind, the child, since when (ms since the epoch; None
/// when the child never delivered anything), and a one-line detail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alert {
    pub kind: AlertKind,
    pub child: String,
    pub name: String,
    pub since: Option<i64>,
    pub detail: String,
}

/// What a parent knows of one direct child.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChildRecord {
    pub org: String,
    pub name: String,
    /// Its sync record, if it ever connected.
    pub state: Option<ChildState>,
    /// When data of its subtree last arrived here (a session or a bundle).
    pub last_data_ms: Option<i64>,
    /// Origins of its subtree held back here.
    pub held: Vec<Hold>,
}

impl ChildRecord {
    /// Whether the parent ever heard of the child: a session, a refusal or
    /// data. A child never heard of is not alerted (coverage shows it as not
    /// reporting).
    pub fn known(&self) -> bool {
        self.state.is_some() || self.last_data_ms.is_some()
    }

    /// The child's last sign of life: its last completed session or its
    /// last data, whichever is later.
    pub fn last_contact(&self) -> Option<i64> {
        let success = self.state.as_ref().and_then(|s| s.last_success);
        success.max(self.last_data_ms)
    }

    /// Since when the child is silent at `now_ms`, if it is, with
    /// `silent_days` the threshold: `Some(Some(t))` since its last contact
    /// `t`, `Some(None)` for a child that has been known longer than the
    /// threshold and never delivered anything.
    pub fn silent_since(&self, now_ms: i64, silent_days: u32) -> Option<Option<i64>> {
        let threshold = i64::from(silent_days) * DAY_MS;
        match self.last_contact() {
            Some(t) => (now_ms.saturating_sub(t) >= threshold).then_some(Some(t)),
            None => {
                let seen = self.state.as_ref()?.first_seen?;
                (now_ms.saturating_sub(seen) >= threshold).then_some(None)
            }
        }
    }
}

/// The alerts over `children` at `now_ms`, a subordinate being silent after
/// `silent_days` days without a completed session or new data: by kind,
/// then by child.
pub fn alerts(children: &[ChildRecord], now_ms: i64, silent_days: u32) -> Vec<Alert> {
    let mut out = Vec::new();
    for c in children.iter().filter(|c| c.known()) {
        let alert = |kind, since, detail: String| Alert {
            kind,
            child: c.org.clone(),
            name: c.name.clone(),
            since,
            detail: mask_ids(&detail).into_owned(),
        };
        if let Some(since) = c.silent_since(now_ms, silent_days) {
            let detail = match since {
                Some(t) => format!(
                    "no completed session or new data for {} days (threshold {silent_days})",
                    now_ms.saturating_sub(t) / DAY_MS
                ),
                None => format!(
                    "never completed a session nor delivered data (threshold {silent_days} days)"
                ),
            };
            out.push(alert(AlertKind::Silent, since, detail));
        }
        if let Some(s) = &c.state {
            if let Some(reason) = &s.refused_reason {
                out.push(alert(AlertKind::Quota, s.last_refusal, reason.clone()));
            } else if let Some(t) = s.last_refusal
                && s.last_success.is_none_or(|ok| t > ok)
            {
                let reasons: Vec<String> = s
                    .refusals
                    .iter()
                    .map(|(r, n)| format!("{r} ×{n}"))
                    .collect();
                let detail = format!(
                    "{} (refusals: {})",
                    s.last_error.as_deref().unwrap_or("refused"),
                    reasons.join(", ")
                );
                out.push(alert(AlertKind::Refused, Some(t), detail));
            }
        }
        if !c.held.is_empty() {
            let since = c.held.iter().map(|h| h.at_ms).min();
            let mut named: Vec<String> = c
                .held
                .iter()
                .take(HELD_NAMED_MAX)
                .map(|h| format!("{} from seq {}: {}", h.origin, h.seq, h.reason))
                .collect();
            if c.held.len() > HELD_NAMED_MAX {
                named.push(format!("and {} more", c.held.len() - HELD_NAMED_MAX));
            }
            let detail = format!("{} origins held back: {}", c.held.len(), named.join("; "));
            out.push(alert(AlertKind::Held, since, detail));
        }
    }
    out.sort_by(|a, b| a.kind.cmp(&b.kind).then_with(|| a.child.cmp(&b.child)));
    out
}

/// What `node` recorded of each of its direct children: sync record, last
/// data of the child's subtree, and the origins of that subtree held back.
pub fn records(node: &Node) -> Vec<ChildRecord> {
    let orgs = node.orgs();
    let heads: Vec<(crate::orgs::OrgId, i64)> = {
        let view = node.view();
        view.heads().map(|(o, h)| (o, h.received_at_ms)).collect()
    };
    let holds = node.store().holds().unwrap_or_default();
    orgs.children(node.me())
        .iter()
        .map(|&c| {
            let code = orgs.code(c);
            let state = node
                .store()
                .child_state(code)
                .ok()
                .filter(|s| *s != ChildState::default());
            let last_data_ms = heads
                .iter()
                .filter(|(o, _)| orgs.is_within(*o, c))
                .map(|(_, t)| *t)
                .max();
            let held = holds
                .iter()
                .filter(|h| orgs.get(&h.origin).is_some_and(|o| orgs.is_within(o, c)))
                .cloned()
                .collect();
            ChildRecord {
                org: code.to_owned(),
                name: orgs.org(c).name.clone(),
                state,
                last_data_ms,
                held,
            }
        })
        .collect()
}

/// The alerts of `node`'s direct children at `now_ms`, with the node's
/// `[alerts]` threshold.
pub fn of_node(node: &Node, now_ms: i64) -> Vec<Alert> {
    alerts(&records(node), now_ms, node.config().alerts.silent_days)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_780_000_000_000;

    fn child(org: &str, state: Option<ChildState>, last_data_ms: Option<i64>) -> ChildRecord {
        ChildRecord {
            org: org.into(),
            name: format!("office {org}"),
            state,
            last_data_ms,
            held: Vec::new(),
        }
    }

    fn synced(last_success: i64) -> ChildState {
        ChildState {
            last_session: Some(last_success),
            last_success: Some(last_success),
            first_seen: Some(last_success - 100 * DAY_MS),
            sessions: 5,
            ok: 5,
            ..ChildState::default()
        }
    }

    fn kinds(alerts: &[Alert]) -> Vec<(AlertKind, &str, Option<i64>)> {
        alerts
            .iter()
            .map(|a| (a.kind, a.child.as_str(), a.since))
            .collect()
    }

    #[test]
    fn a_child_is_silent_after_the_threshold_from_its_last_contact() {
        let eight_days_ago = NOW - 8 * DAY_MS;
        let six_days_ago = NOW - 6 * DAY_MS;
        let children = [
            // Stopped syncing eight days ago.
            child("410100", Some(synced(eight_days_ago)), Some(eight_days_ago)),
            // Six days: not yet.
            child("410200", Some(synced(six_days_ago)), None),
            // No session for eight days, but a bundle two days ago.
            child(
                "410300",
                Some(synced(eight_days_ago)),
                Some(NOW - 2 * DAY_MS),
            ),
            // Exactly at the threshold: silent.
            child("410400", None, Some(NOW - 7 * DAY_MS)),
            // Never heard of: not alerted.
            child("410500", None, None),
        ];
        let got = alerts(&children, NOW, 7);
        assert_eq!(
            kinds(&got),
            [
                (AlertKind::Silent, "410100", Some(eight_days_ago)),
                (AlertKind::Silent, "410400", Some(NOW - 7 * DAY_MS)),
            ]
        );
        assert!(
            got[0].detail.contains("for 8 days (threshold 7)"),
            "{got:?}"
        );
        assert_eq!(got[0].name, "office 410100");
        // With a threshold of 0 every known child is silent, and with 30 none.
        assert_eq!(alerts(&children, NOW, 0).len(), 4);
        assert!(alerts(&children, NOW, 30).is_empty());
    }

    #[test]
    fn a_child_that_never_delivered_is_silent_once_known_longer_than_the_threshold() {
        let failing = |first_seen: i64| ChildState {
            first_seen: Some(first_seen),
            last_session: Some(NOW - 1000),
            sessions: 3,
            failed: 3,
            ..ChildState::default()
        };
        let children = [
            child("410100", Some(failing(NOW - 10 * DAY_MS)), None),
            child("410200", Some(failing(NOW - DAY_MS)), None),
        ];
        let got = alerts(&children, NOW, 7);
        assert_eq!(kinds(&got), [(AlertKind::Silent, "410100", None)]);
        assert!(got[0].detail.starts_with("never completed"));
    }

    #[test]
    fn refusals_since_the_last_success_quota_and_holds_are_alerted() {
        let mut refused = synced(NOW - DAY_MS);
        refused.last_refusal = Some(NOW - 1000);
        refused.refusals.insert("revoked".into(), 2);
        refused.last_error = Some("certificate serial ab is revoked".into());
        // Refused before its last success: nothing to say any more.
        let mut recovered = synced(NOW - 1000);
        recovered.last_refusal = Some(NOW - DAY_MS);
        let mut over = synced(NOW - DAY_MS);
        over.last_refusal = Some(NOW - 500);
        over.refused_reason = Some("quota changes_per_day 10 exceeded".into());
        let mut held = child("410400", Some(synced(NOW - 1000)), Some(NOW - 1000));
        held.held = (0..5)
            .map(|i| Hold {
                origin: format!("41040{i}"),
                seq: 7,
                reason: "quarantined: bad record 410102198001010018".into(),
                at_ms: NOW - 3000 + i,
            })
            .collect();
        let children = [
            child("410100", Some(refused), None),
            child("410200", Some(recovered), None),
            child("410300", Some(over), None),
            held,
        ];
        let got = alerts(&children, NOW, 7);
        assert_eq!(
            kinds(&got),
            [
                (AlertKind::Quota, "410300", Some(NOW - 500)),
                (AlertKind::Refused, "410100", Some(NOW - 1000)),
                (AlertKind::Held, "410400", Some(NOW - 3000)),
            ]
        );
        assert!(got[0].detail.contains("changes_per_day"));
        assert_eq!(
            got[1].detail,
            "certificate serial ab is revoked (refusals: revoked ×2)"
        );
        assert!(
            got[2]
                .detail
                .starts_with("5 origins held back: 410400 from seq 7")
        );
        assert!(got[2].detail.ends_with("and 2 more"), "{}", got[2].detail);
        // No ID number in any detail.
        assert!(!got[2].detail.contains("198001010018"), "{}", got[2].detail);
    }
}
