//! The quota ledger: hand-checked cases, and a property test over random
//! sequences of reservations, appends (with duplicates skipped), dropped
//! sessions and day changes against a plain recount.

use proptest::prelude::*;

use super::*;

fn day(d: u32) -> Date {
    Date::from_ymd_opt(2026, 12, d).unwrap()
}

fn limits(changes: u64, bytes: u64, roster: u64) -> Limits {
    Limits {
        changes_per_day: changes,
        bytes_per_day: bytes,
        roster_entries: roster,
    }
}

fn amount(changes: u64, bytes: u64) -> Amount {
    Amount { changes, bytes }
}

const ZONE: &str = "Asia/Shanghai";

#[test]
fn a_batch_that_would_exceed_the_day_is_refused_with_the_reason() {
    let mut ledger = Ledger::default();
    let l = limits(100, 1_000_000, 10);
    ledger.admit("410100", day(3), ZONE, &l, 0).unwrap();
    ledger
        .reserve("410100", day(3), ZONE, &l, amount(60, 600))
        .unwrap();
    // Reserved but not applied yet: still counts against the day.
    let refused = ledger
        .reserve("410100", day(3), ZONE, &l, amount(41, 10))
        .unwrap_err();
    assert_eq!(refused.quota, Quota::ChangesPerDay);
    assert_eq!(
        refused.to_string(),
        "child 410100 is over its quota of 100 changes per day (2026-12-03, Asia/Shanghai); \
         it resumes tomorrow or when the parent raises quotas.changes_per_day"
    );
    // Exactly to the limit fits.
    ledger
        .reserve("410100", day(3), ZONE, &l, amount(40, 10))
        .unwrap();
    // Another child is unaffected.
    ledger
        .reserve("410200", day(3), ZONE, &l, amount(100, 10))
        .unwrap();
    // The first 60 are appended, 20 of them duplicates: 40 applied.
    let usage = ledger.settle("410100", day(3), amount(60, 600), amount(40, 400));
    assert_eq!((usage.changes, usage.bytes), (40, 400));
    // The 40 reserved next are dropped with their session: room for 60 again.
    ledger.release("410100", amount(40, 10));
    ledger
        .reserve("410100", day(3), ZONE, &l, amount(60, 10))
        .unwrap();
    let usage = ledger.settle("410100", day(3), amount(60, 10), amount(60, 10));
    assert_eq!(usage.changes, 100);
    // Used up: the next session is refused at admission, until tomorrow.
    let refused = ledger.admit("410100", day(3), ZONE, &l, 0).unwrap_err();
    assert_eq!((refused.quota, refused.limit), (Quota::ChangesPerDay, 100));
    ledger.admit("410100", day(4), ZONE, &l, 0).unwrap();
    assert_eq!(ledger.usage("410100", day(4)), Usage::empty(day(4)));
    // ... or until the limit is raised.
    let mut ledger2 = Ledger::default();
    ledger2.load("410100", usage);
    assert!(ledger2.admit("410100", day(3), ZONE, &l, 0).is_err());
    ledger2
        .admit("410100", day(3), ZONE, &limits(101, 1_000_000, 10), 0)
        .unwrap();
}

#[test]
fn bytes_and_roster_entries_are_quotas_too() {
    let mut ledger = Ledger::default();
    let l = limits(1_000, 500, 10);
    let refused = ledger
        .reserve("410100", day(3), ZONE, &l, amount(1, 501))
        .unwrap_err();
    assert_eq!(refused.quota, Quota::BytesPerDay);
    assert!(refused.to_string().contains("quota of 500 bytes per day"));
    assert!(refused.to_string().contains("quotas.bytes_per_day"));
    // The roster cap is what the subtree holds: at the cap is fine, above is not.
    ledger.admit("410100", day(3), ZONE, &l, 10).unwrap();
    let refused = ledger.admit("410100", day(3), ZONE, &l, 11).unwrap_err();
    assert_eq!(refused.quota, Quota::RosterEntries);
    assert_eq!(
        refused.to_string(),
        "child 410100 is over its quota of 10 roster entries held for its subtree; \
         it resumes when the parent raises quotas.roster_entries"
    );
    assert_eq!(check_roster("410100", day(3), ZONE, &l, 10), Ok(()));
    assert!(check_roster("410100", day(3), ZONE, &l, 11).is_err());
}

#[test]
fn a_loaded_usage_of_another_day_counts_nothing() {
    let mut ledger = Ledger::default();
    ledger.load(
        "410100",
        Usage {
            day: day(2),
            changes: 100,
            bytes: 1,
        },
    );
    assert!(ledger.is_loaded("410100"));
    assert!(!ledger.is_loaded("410200"));
    ledger
        .admit("410100", day(3), ZONE, &limits(100, 10, 10), 0)
        .unwrap();
}

/// One step of a child's sessions at its parent.
#[derive(Debug, Clone)]
enum Step {
    /// A batch of this many changes (bytes: ten a change) of which this
    /// many are duplicates.
    Batch { changes: u64, duplicates: u64 },
    /// The reserved batches not yet appended are appended.
    Append,
    /// The session drops its reserved batches.
    Drop,
    /// Midnight.
    NextDay,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (1u64..40, 0u64..40).prop_map(|(changes, d)| Step::Batch { changes, duplicates: d.min(changes) }),
        2 => Just(Step::Append),
        1 => Just(Step::Drop),
        1 => Just(Step::NextDay),
    ]
}

proptest! {
    /// Whatever the order: the applied changes of a day never exceed the
    /// limit, the durable usage is exactly what was applied that day (no
    /// duplicate, no dropped batch counted), and a refused batch is one
    /// that did not fit.
    #[test]
    fn the_day_never_exceeds_its_limit_and_counts_only_what_was_applied(
        steps in proptest::collection::vec(step(), 1..80),
        limit in 1u64..200,
    ) {
        let l = limits(limit, limit * 10, 1);
        let mut ledger = Ledger::default();
        let mut today = 1;
        // Reserved, not yet appended: (reserved, applied).
        let mut pending: Vec<(Amount, Amount)> = Vec::new();
        let mut applied_today = 0u64;
        for step in steps {
            match step {
                Step::Batch { changes, duplicates } => {
                    let reserved = amount(changes, changes * 10);
                    let before = ledger.usage("410100", day(today)).changes
                        + pending.iter().map(|(r, _)| r.changes).sum::<u64>();
                    match ledger.reserve("410100", day(today), ZONE, &l, reserved) {
                        Ok(()) => {
                            prop_assert!(before + changes <= limit);
                            let fresh = changes - duplicates;
                            pending.push((reserved, amount(fresh, fresh * 10)));
                        }
                        Err(e) => {
                            prop_assert!(before + changes > limit);
                            prop_assert_eq!(e.limit, limit);
                        }
                    }
                }
                Step::Append => {
                    for (reserved, applied) in pending.drain(..) {
                        let usage = ledger.settle("410100", day(today), reserved, applied);
                        applied_today += applied.changes;
                        prop_assert_eq!(usage.changes, applied_today);
                        prop_assert_eq!(usage.bytes, applied_today * 10);
                        prop_assert!(usage.changes <= limit);
                    }
                }
                Step::Drop => {
                    for (reserved, _) in pending.drain(..) {
                        ledger.release("410100", reserved);
                    }
                }
                Step::NextDay => {
                    for (reserved, _) in pending.drain(..) {
                        ledger.release("410100", reserved);
                    }
                    today += 1;
                    applied_today = 0;
                }
            }
            prop_assert_eq!(ledger.usage("410100", day(today)).changes, applied_today);
        }
    }
}
