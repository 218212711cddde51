//! The children's offline bundles as the front page shows them: for each
//! direct child of this node, when its last bundle was imported (in the
//! bureau's zone), what it covered and how many came in all — what
//! `status` lists, read from the same per-child record (`ChildState`).

use std::collections::HashMap;

use lunxun_node::coverage::format_timestamp;
use lunxun_node::node::Node;
use lunxun_node::sync::children::ChildState;

/// Origins whose seq range a bundle's cell lists; more are counted.
pub const BUNDLE_ORIGINS_SHOWN_MAX: usize = 3;

/// What the record says of a child's last bundle.
#[derive(Debug, Clone)]
pub(super) struct LastBundle {
    /// When it was imported, in ms since the epoch.
    at_ms: i64,
    /// Bundles of the child imported in all.
    bundles: u64,
    /// Per origin, the first and last seq it carried.
    covered: Vec<(String, u64, u64)>,
}

/// A child's last bundle, as its cell shows it (`partials/bundle.html`).
#[derive(Debug)]
pub(super) struct BundleCell {
    /// When it was imported (RFC 3339, UTC).
    pub(super) timestamp: String,
    /// The same in the bureau's zone, to the minute.
    pub(super) local: String,
    pub(super) bundles: u64,
    /// Changes it carried.
    pub(super) changes: u64,
    /// Which: `ORIGIN FIRST–LAST` per origin, the first few.
    pub(super) covered: String,
}

/// The last bundle of every direct child of the node that sent one.
pub(super) fn last_bundles(node: &Node) -> HashMap<String, LastBundle> {
    let orgs = node.orgs();
    orgs.children(node.me())
        .iter()
        .filter_map(|&c| {
            let code = orgs.code(c);
            let state = ChildState::load(node, code);
            let at_ms = state.last_bundle?;
            let covered = state
                .last_bundle_covered
                .iter()
                .filter(|(_, (first, last))| last >= first)
                .map(|(origin, &(first, last))| (origin.clone(), first, last))
                .collect();
            Some((
                code.to_owned(),
                LastBundle {
                    at_ms,
                    bundles: state.bundles,
                    covered,
                },
            ))
        })
        .collect()
}

impl LastBundle {
    pub(super) fn cell(&self, zone: chrono_tz::Tz) -> BundleCell {
        let changes = self.covered.iter().map(|(_, f, l)| l - f + 1).sum();
        let mut covered: Vec<String> = self
            .covered
            .iter()
            .take(BUNDLE_ORIGINS_SHOWN_MAX)
            .map(|(origin, first, last)| format!("{origin} {first}–{last}"))
            .collect();
        if self.covered.len() > BUNDLE_ORIGINS_SHOWN_MAX {
            covered.push(format!(
                "… +{}",
                self.covered.len() - BUNDLE_ORIGINS_SHOWN_MAX
            ));
        }
        BundleCell {
            timestamp: format_timestamp(self.at_ms),
            local: lunxun_node::clock::local_minutes(zone, self.at_ms),
            bundles: self.bundles,
            changes,
            covered: if covered.is_empty() {
                "—".to_owned()
            } else {
                covered.join(", ")
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_counts_the_changes_and_lists_the_first_origins() {
        let zone: chrono_tz::Tz = "Asia/Shanghai".parse().unwrap();
        let one = LastBundle {
            at_ms: 1_782_777_600_000,
            bundles: 3,
            covered: vec![("410102".into(), 11, 57)],
        };
        let cell = one.cell(zone);
        assert_eq!(cell.timestamp, "2026-06-30T00:00:00Z");
        assert_eq!(cell.local, "2026-06-30 08:00");
        assert_eq!((cell.bundles, cell.changes), (3, 47));
        assert_eq!(cell.covered, "410102 11–57");
        let many = LastBundle {
            covered: (0..5).map(|i| (format!("41010{i}"), 1, 2)).collect(),
            ..one
        };
        let cell = many.cell(zone);
        assert_eq!(cell.changes, 10);
        assert_eq!(cell.covered, "410100 1–2, 410101 1–2, 410102 1–2, … +2");
    }
}
