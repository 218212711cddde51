//! A trend's every point equals the coverage report's root row on that date,
//! over random hierarchies and histories; the dates follow the plan period.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;
use crate::coverage::coverage;
use crate::rollup::tests::{change, date, hierarchy};

fn d(s: &str) -> Date {
    s.parse().expect("date")
}

#[test]
fn dates_are_the_month_ends_of_the_plan_period() {
    let policy = Policy::default();
    let dates = trend_dates(&policy, d("2026-06-15"));
    assert_eq!(dates.first(), Some(&d("2023-01-31")));
    assert_eq!(dates[1], d("2023-02-28"));
    assert_eq!(dates[dates.len() - 2], d("2026-05-31"));
    assert_eq!(dates.last(), Some(&d("2026-06-15")));
    assert_eq!(dates.len(), 12 * 3 + 5 + 1);
    // A month end is not repeated; a new period starts afresh.
    assert_eq!(trend_dates(&policy, d("2024-02-29")).len(), 14);
    assert_eq!(trend_dates(&policy, d("2028-01-01")), vec![d("2028-01-01")]);
    assert_eq!(month_end(d("2024-02-10")), d("2024-02-29"));
    assert_eq!(month_end(d("2026-12-31")), d("2026-12-31"));
    assert_eq!(previous_quarter(d("2026-05-31")), d("2026-02-28"));
    assert_eq!(previous_quarter(d("2026-06-30")), d("2026-03-31"));
    assert_eq!(previous_quarter(d("2026-06-15")), d("2026-03-15"));
}

#[test]
fn every_point_equals_the_coverage_report_on_its_date() {
    let orgs = OrgDirectory::builtin();
    let policy = Policy::default();
    for seed in 0..12u64 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let nodes = hierarchy(&mut rng, &orgs);
        let mut view = View::default();
        for _ in 0..300 {
            let (org, record) = change(&mut rng, &nodes, 40);
            view.apply(org, record);
        }
        let as_of = date(rng.random_range(900..1700));
        for &root in &nodes[..3.min(nodes.len())] {
            let t = trend(&view, &orgs, &|_| &policy, root, as_of);
            assert_eq!(t.points.len(), trend_dates(&policy, as_of).len());
            for p in &t.points {
                let report = coverage(&view, &orgs, &policy, root, Some(0), p.as_of);
                let n = &report.nodes[0];
                assert_eq!(p.rotation, n.rotation, "seed {seed} {} own", p.as_of);
                assert_eq!(p.hours, n.hours, "seed {seed} {} hours", p.as_of);
                assert_eq!(
                    p.subtree_rotation, n.subtree.rotation,
                    "seed {seed} {} subtree",
                    p.as_of
                );
                assert_eq!(p.subtree_hours, n.subtree.hours, "seed {seed} {}", p.as_of);
            }
        }
    }
}
