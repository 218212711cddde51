//! Per-child quotas at a parent: how much one direct child may send in a day
//! (changes and bytes) and hold (current roster entries), counting everything
//! it sends for its whole subtree. One child — stolen, broken or misconfigured
//! — cannot fill its parent's disk or starve its siblings.
//!
//! The counting, as the hub's sync service drives it ([`Ledger`]):
//!
//! - a verified batch *reserves* its changes and bytes before it is queued
//!   for the append; a batch that does not fit in what is left of the day
//!   (counting what other batches of the child's sessions reserved) ends the
//!   session with [`Exceeded`], and the batches before it stay applied and
//!   acked;
//! - when its group is appended, the reservation is *settled*: only what
//!   was applied counts towards the day's [`Usage`] (a resent or replayed
//!   batch skipped as duplicate consumes nothing), and that usage is written
//!   in the same flush as the append, so it survives a restart and nothing
//!   is counted twice;
//! - roster entries are not a daily volume but what the child's subtree
//!   holds: the number of distinct current roster records of origins in it
//!   (as the parent's view counts them), checked before a session and after
//!   every durable group. A group that takes the subtree over the cap stays
//!   applied (it is durable and acked) and the session ends after it; the
//!   next one is refused until the parent raises the cap.
//!
//! The day is the bureau's day, in its configured time zone, given by the
//! caller: no clock here.

use std::collections::BTreeMap;
use std::fmt;

use crate::model::Date;

/// Changes one child may have applied at its parent in one day, by default.
///
/// Sized for the biggest legitimate day: a province's first sync of years of
/// history at the national node. The largest provinces have about 200
/// offices; a generous office roster is 10,000 people who each attend a
/// handful of classes over a five-year plan, so an office writes about 50,000
/// changes in five years and a province about 10,000,000. Twice that leaves
/// room for corrections and a re-sent history in the same day, while a child
/// gone wrong is stopped within a day at a bounded cost.
pub const CHANGES_PER_DAY_DEFAULT: u64 = 20_000_000;

/// Bytes of changes (as stored) one child may have applied in one day, by
/// default: [`CHANGES_PER_DAY_DEFAULT`] at about 400 bytes a change (a
/// generated history averages under 300; names, employers and notes vary).
pub const BYTES_PER_DAY_DEFAULT: u64 = 8 * 1024 * 1024 * 1024;

/// Current roster entries one child's subtree may hold at its parent, by
/// default: about 200 offices of 10,000 people each (a large province at the
/// national node), where a real one holds a fraction of that.
pub const ROSTER_ENTRIES_DEFAULT: u64 = 2_000_000;

/// What one child may send and hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub changes_per_day: u64,
    pub bytes_per_day: u64,
    pub roster_entries: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            changes_per_day: CHANGES_PER_DAY_DEFAULT,
            bytes_per_day: BYTES_PER_DAY_DEFAULT,
            roster_entries: ROSTER_ENTRIES_DEFAULT,
        }
    }
}

/// What a child had applied on one day (the durable counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub day: Date,
    pub changes: u64,
    pub bytes: u64,
}

impl Usage {
    /// Nothing applied yet on `day`.
    pub fn empty(day: Date) -> Usage {
        Usage {
            day,
            changes: 0,
            bytes: 0,
        }
    }

    /// This usage as of `day`: a new day starts from nothing.
    pub fn on(self, day: Date) -> Usage {
        if self.day == day {
            self
        } else {
            Usage::empty(day)
        }
    }
}

/// Changes and bytes of one or more batches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Amount {
    pub changes: u64,
    pub bytes: u64,
}

impl Amount {
    fn plus(self, other: Amount) -> Amount {
        Amount {
            changes: self.changes.saturating_add(other.changes),
            bytes: self.bytes.saturating_add(other.bytes),
        }
    }

    fn minus(self, other: Amount) -> Amount {
        Amount {
            changes: self.changes.saturating_sub(other.changes),
            bytes: self.bytes.saturating_sub(other.bytes),
        }
    }
}

/// Which quota a child is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quota {
    ChangesPerDay,
    BytesPerDay,
    RosterEntries,
}

impl Quota {
    /// The config key that raises it.
    pub fn key(self) -> &'static str {
        match self {
            Quota::ChangesPerDay => "quotas.changes_per_day",
            Quota::BytesPerDay => "quotas.bytes_per_day",
            Quota::RosterEntries => "quotas.roster_entries",
        }
    }
}

/// A child is over one of its quotas: the session is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exceeded {
    pub child: String,
    pub quota: Quota,
    pub limit: u64,
    /// The bureau's day and its time zone (daily quotas).
    pub day: Date,
    pub zone: String,
}

impl fmt::Display for Exceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Exceeded {
            child,
            limit,
            day,
            zone,
            ..
        } = self;
        let key = self.quota.key();
        match self.quota {
            Quota::ChangesPerDay => write!(
                f,
                "child {child} is over its quota of {limit} changes per day ({day}, {zone}); \
                 it resumes tomorrow or when the parent raises {key}"
            ),
            Quota::BytesPerDay => write!(
                f,
                "child {child} is over its quota of {limit} bytes per day ({day}, {zone}); \
                 it resumes tomorrow or when the parent raises {key}"
            ),
            Quota::RosterEntries => write!(
                f,
                "child {child} is over its quota of {limit} roster entries held for its subtree; \
                 it resumes when the parent raises {key}"
            ),
        }
    }
}

impl std::error::Error for Exceeded {}

/// One child's counters: the day's durable usage and what its sessions
/// reserved and have not settled.
#[derive(Debug, Clone, Copy)]
struct Account {
    usage: Usage,
    reserved: Amount,
}

/// The parent's counters for every child it heard from since it started.
#[derive(Debug, Default)]
pub struct Ledger {
    accounts: BTreeMap<String, Account>,
}

impl Ledger {
    /// Whether `child`'s durable usage is loaded (else the caller loads it
    /// from the store and calls [`Ledger::load`]).
    pub fn is_loaded(&self, child: &str) -> bool {
        self.accounts.contains_key(child)
    }

    /// Takes `child`'s durable usage, as the store holds it (once, at its
    /// first session since the parent started).
    pub fn load(&mut self, child: &str, usage: Usage) {
        self.accounts.entry(child.to_owned()).or_insert(Account {
            usage,
            reserved: Amount::default(),
        });
    }

    fn account(&mut self, child: &str, day: Date) -> &mut Account {
        let account = self.accounts.entry(child.to_owned()).or_insert(Account {
            usage: Usage::empty(day),
            reserved: Amount::default(),
        });
        account.usage = account.usage.on(day);
        account
    }

    /// `child`'s usage on `day`, as durably counted.
    pub fn usage(&mut self, child: &str, day: Date) -> Usage {
        self.account(child, day).usage
    }

    /// Before a session: refused if `child` already used up a daily quota
    /// on `day`, or its subtree holds more than `roster_held` allows.
    pub fn admit(
        &mut self,
        child: &str,
        day: Date,
        zone: &str,
        limits: &Limits,
        roster_held: u64,
    ) -> Result<(), Exceeded> {
        let account = self.account(child, day);
        let used = Amount {
            changes: account.usage.changes,
            bytes: account.usage.bytes,
        }
        .plus(account.reserved);
        let exceeded = |quota, limit| Exceeded {
            child: child.to_owned(),
            quota,
            limit,
            day,
            zone: zone.to_owned(),
        };
        if used.changes >= limits.changes_per_day {
            return Err(exceeded(Quota::ChangesPerDay, limits.changes_per_day));
        }
        if used.bytes >= limits.bytes_per_day {
            return Err(exceeded(Quota::BytesPerDay, limits.bytes_per_day));
        }
        check_roster(child, day, zone, limits, roster_held)
    }

    /// Reserves a verified batch's `amount` for `child` on `day`: refused,
    /// and nothing reserved, if the day's usage, the reservations and it
    /// would exceed a daily quota.
    pub fn reserve(
        &mut self,
        child: &str,
        day: Date,
        zone: &str,
        limits: &Limits,
        amount: Amount,
    ) -> Result<(), Exceeded> {
        let account = self.account(child, day);
        let after = Amount {
            changes: account.usage.changes,
            bytes: account.usage.bytes,
        }
        .plus(account.reserved)
        .plus(amount);
        let exceeded = |quota, limit| Exceeded {
            child: child.to_owned(),
            quota,
            limit,
            day,
            zone: zone.to_owned(),
        };
        if after.changes > limits.changes_per_day {
            return Err(exceeded(Quota::ChangesPerDay, limits.changes_per_day));
        }
        if after.bytes > limits.bytes_per_day {
            return Err(exceeded(Quota::BytesPerDay, limits.bytes_per_day));
        }
        account.reserved = account.reserved.plus(amount);
        Ok(())
    }

    /// Gives back a reservation that will not be settled (its batches were
    /// dropped with their session).
    pub fn release(&mut self, child: &str, reserved: Amount) {
        if let Some(account) = self.accounts.get_mut(child) {
            account.reserved = account.reserved.minus(reserved);
        }
    }

    /// A group is being appended: its `reserved` amount is replaced by what
    /// it `applied`. Returns the day's usage after it, which the caller
    /// writes in the same flush as the append (so two sessions of one child
    /// settle one after the other, under the append's lock).
    pub fn settle(&mut self, child: &str, day: Date, reserved: Amount, applied: Amount) -> Usage {
        let account = self.account(child, day);
        account.reserved = account.reserved.minus(reserved);
        account.usage.changes = account.usage.changes.saturating_add(applied.changes);
        account.usage.bytes = account.usage.bytes.saturating_add(applied.bytes);
        account.usage
    }
}

/// After a durable group (or before a session): refused if `child`'s
/// subtree holds more current roster entries than it may.
pub fn check_roster(
    child: &str,
    day: Date,
    zone: &str,
    limits: &Limits,
    roster_held: u64,
) -> Result<(), Exceeded> {
    if roster_held > limits.roster_entries {
        return Err(Exceeded {
            child: child.to_owned(),
            quota: Quota::RosterEntries,
            limit: limits.roster_entries,
            day,
            zone: zone.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
