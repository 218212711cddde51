//! The hub's per-child quotas: the core's ledger
//! ([`lunxun_core::session::quota`]) with each child's limits from
//! `config.toml` (`[quotas]`), the bureau's day, the subtree's roster count
//! from the view, and the day's usage written with every append
//! ([`Node::ingest_with`]).
//!
//! A session holds a [`SessionQuota`]: its batches reserve as they are
//! verified, settle as their group is appended, and whatever is still
//! reserved when the session ends (batches dropped unappended) is given back.

use std::sync::{Arc, Mutex, MutexGuard};

use lunxun_core::session::quota::{Amount, Exceeded, Ledger, Limits, Usage, check_roster};
use lunxun_node::ingest::{Checked, Placed, Verified};
use lunxun_node::node::Node;
use lunxun_node::orgs::OrgId;

/// Every child's counters at this hub.
pub struct Quotas {
    node: Arc<Node>,
    ledger: Mutex<Ledger>,
}

impl Quotas {
    pub fn new(node: Arc<Node>) -> Quotas {
        Quotas {
            node,
            ledger: Mutex::default(),
        }
    }

    fn limits(&self, code: &str) -> Limits {
        self.node.config().quotas.limits(code)
    }

    fn zone(&self) -> &'static str {
        self.node.config().zone().name()
    }

    /// The ledger, with `code`'s durable usage loaded from the store.
    fn ledger(&self, code: &str) -> MutexGuard<'_, Ledger> {
        let mut ledger = self.ledger.lock().unwrap_or_else(|p| p.into_inner());
        if !ledger.is_loaded(code) {
            let usage = self.node.store().quota_usage(code).ok().flatten();
            ledger.load(code, usage.unwrap_or(Usage::empty(self.node.today())));
        }
        ledger
    }

    /// Current roster entries held for the subtree of `child`.
    fn roster_held(&self, child: OrgId) -> u64 {
        let view = self.node.view();
        let orgs = self.node.orgs();
        view.roster_orgs()
            .filter(|&o| orgs.is_within(o, child))
            .map(|o| view.roster_len(o) as u64)
            .sum()
    }

    /// A session of `child` may start: refused if it used up a daily quota
    /// today or its subtree holds more roster entries than it may.
    pub fn admit(self: &Arc<Self>, child: OrgId) -> Result<SessionQuota, Exceeded> {
        let code = self.node.orgs().code(child).to_owned();
        let held = self.roster_held(child);
        let limits = self.limits(&code);
        self.ledger(&code)
            .admit(&code, self.node.today(), self.zone(), &limits, held)?;
        Ok(SessionQuota {
            quotas: self.clone(),
            child,
            code,
            outstanding: Mutex::default(),
        })
    }
}

/// What a verified batch (or group) carries towards the daily quotas.
pub fn amount<'a>(batches: impl IntoIterator<Item = &'a Checked>) -> Amount {
    batches
        .into_iter()
        .flat_map(|b| &b.changes)
        .fold(Amount::default(), |a, v| Amount {
            changes: a.changes + 1,
            bytes: a.bytes + v.bytes.len() as u64,
        })
}

/// One session's side of its child's quotas.
pub struct SessionQuota {
    quotas: Arc<Quotas>,
    child: OrgId,
    code: String,
    /// Reserved by this session's batches and not settled yet.
    outstanding: Mutex<Amount>,
}

impl SessionQuota {
    fn outstanding(&self) -> MutexGuard<'_, Amount> {
        self.outstanding.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reserves a verified batch: refused if it does not fit in the day.
    pub fn reserve(&self, batch: &[Verified]) -> Result<(), Exceeded> {
        let amount = batch.iter().fold(Amount::default(), |a, v| Amount {
            changes: a.changes + 1,
            bytes: a.bytes + v.bytes.len() as u64,
        });
        let q = &self.quotas;
        let limits = q.limits(&self.code);
        q.ledger(&self.code)
            .reserve(&self.code, q.node.today(), q.zone(), &limits, amount)?;
        let mut outstanding = self.outstanding();
        outstanding.changes += amount.changes;
        outstanding.bytes += amount.bytes;
        Ok(())
    }

    /// Called by the append of a group that reserved `reserved`, between its
    /// inserts and its flush: counts what the group applied and writes the
    /// day's usage to be flushed with it.
    pub fn settle(&self, reserved: Amount, placed: &[Placed]) -> lunxun_node::error::Result<()> {
        let applied = placed.iter().flat_map(|p| &p.accepted).fold(
            Amount::default(),
            |a, (_, _, bytes, _)| Amount {
                changes: a.changes + 1,
                bytes: a.bytes + bytes.len() as u64,
            },
        );
        let q = &self.quotas;
        let usage = q
            .ledger(&self.code)
            .settle(&self.code, q.node.today(), reserved, applied);
        {
            let mut outstanding = self.outstanding();
            outstanding.changes = outstanding.changes.saturating_sub(reserved.changes);
            outstanding.bytes = outstanding.bytes.saturating_sub(reserved.bytes);
        }
        q.node.store().stage_quota_usage(&self.code, &usage)?;
        Ok(())
    }

    /// A group that appended nothing: its reservation is given back.
    pub fn release(&self, reserved: Amount) {
        self.quotas.ledger(&self.code).release(&self.code, reserved);
        let mut outstanding = self.outstanding();
        outstanding.changes = outstanding.changes.saturating_sub(reserved.changes);
        outstanding.bytes = outstanding.bytes.saturating_sub(reserved.bytes);
    }

    /// After a durable group: refused if the child's subtree now holds more
    /// roster entries than it may.
    pub fn check_roster(&self) -> Result<(), Exceeded> {
        let q = &self.quotas;
        let held = q.roster_held(self.child);
        check_roster(
            &self.code,
            q.node.today(),
            q.zone(),
            &q.limits(&self.code),
            held,
        )
    }
}

impl Drop for SessionQuota {
    fn drop(&mut self) {
        let left = *self.outstanding();
        if left != Amount::default() {
            self.quotas.ledger(&self.code).release(&self.code, left);
        }
    }
}
