//! A node's trends ([`lunxun_core::trend`]), kept for the last few roots and
//! dates asked for: the org page and `coverage --trend` ask again with
//! nothing changed far more often than data arrives.

use std::sync::Mutex;

use lunxun_core::trend::{Trend, trend};

use super::{Node, now_ms};
use crate::model::Date;
use crate::orgs::OrgId;

/// Trends kept, at most (each a few kilobytes: one point per month).
pub const TRENDS_KEPT_MAX: usize = 16;

/// One trend kept.
#[derive(Debug)]
struct Kept {
    root: OrgId,
    as_of: Date,
    /// The append count it was computed at.
    generation: u64,
    computed_at_ms: i64,
    trend: Trend,
}

/// Trends computed, least recently used first.
#[derive(Debug, Default)]
pub(super) struct TrendCache {
    kept: Vec<Kept>,
}

impl TrendCache {
    pub(super) fn clear(cache: &Mutex<TrendCache>) {
        cache.lock().unwrap_or_else(|p| p.into_inner()).kept.clear();
    }
}

impl Node {
    /// `root`'s coverage and hour compliance at every month end of the plan
    /// period up to `as_of` (and on `as_of`): each point what
    /// [`Node::coverage`] gives for `root` on that date. Computed over
    /// `root`'s subtree only, in one pass over its people, and kept until
    /// the next append.
    pub fn trend(&self, root: OrgId, as_of: Date) -> Trend {
        self.trend_within(root, as_of, 0)
    }

    /// [`Node::trend`], or one computed before the latest appends but at
    /// most `max_age_ms` ago (the dashboard's, so that a national page does
    /// not recount the country after every batch that arrives).
    pub fn trend_within(&self, root: OrgId, as_of: Date, max_age_ms: i64) -> Trend {
        let view = self.view();
        let generation = *self.changed.borrow();
        let now = now_ms();
        {
            let mut cache = self.trends.lock().unwrap_or_else(|p| p.into_inner());
            let fresh = |k: &Kept| {
                k.generation == generation
                    || (max_age_ms > 0 && now.saturating_sub(k.computed_at_ms) <= max_age_ms)
            };
            if let Some(i) = cache
                .kept
                .iter()
                .position(|k| k.root == root && k.as_of == as_of && fresh(k))
            {
                let hit = cache.kept.remove(i);
                let trend = hit.trend.clone();
                cache.kept.push(hit);
                return trend;
            }
        }
        // Computed under the view's read lock, so no append slips in
        // between the generation read and the figures.
        let in_force = self.in_force();
        let computed = trend(
            &view,
            in_force.orgs(),
            &|date| in_force.policy_at(date).as_ref(),
            root,
            as_of,
        );
        let mut cache = self.trends.lock().unwrap_or_else(|p| p.into_inner());
        cache.kept.retain(|k| !(k.root == root && k.as_of == as_of));
        cache.kept.push(Kept {
            root,
            as_of,
            generation,
            computed_at_ms: now,
            trend: computed.clone(),
        });
        if cache.kept.len() > TRENDS_KEPT_MAX {
            cache.kept.remove(0);
        }
        computed
    }
}
