//! Opening a node's log: dropping what an interrupted own write left, and
//! rebuilding the view from the log, truncating torn tails.

use std::collections::HashMap;

use tracing::{info, warn};

use crate::changelog::{GENESIS, Head};
use crate::codec;
use crate::error::Result;
use crate::orgs::OrgDirectory;
use crate::store::Store;
use crate::view::{Touch, View};

/// Drops what an own write left in `store` if the process died during it
/// (the mark [`Node::write_records`] sets before appending is still there):
/// the write was never acknowledged nor forwarded, and a write is
/// all-or-nothing, so its changes go; the user imports the file again.
pub(super) fn undo_unfinished_write(store: &Store, origin: &str) -> Result<()> {
    let Some(seq) = store.unfinished_write()? else {
        return Ok(());
    };
    let removed = store.truncate_after(origin, seq)?;
    warn!(
        origin,
        seq,
        removed,
        "a write was interrupted (a crash during an import): dropped what it left; import the file again"
    );
    store.clear_write_mark()?;
    Ok(())
}

/// Rebuilds the view from the log. Each origin's log must be dense and
/// chained; the first hole or broken link marks a torn tail (a crash during an
/// append, before its flush, so never acknowledged or forwarded): it is
/// truncated, with a warning, and the view holds the dense prefix. Returns
/// the view and how many changes of origins the directory does not know
/// the log holds (kept and forwarded, not shown).
pub(super) fn replay(store: &Store, orgs: &OrgDirectory) -> Result<(View, u64)> {
    let mut view = View::default();
    let replayed = replay_tails(store, orgs, &mut view, &HashMap::new(), |_, _| {})?;
    Ok((view, replayed.unknown))
}

/// What [`replay_tails`] did.
#[derive(Debug, Default)]
pub(super) struct Replayed {
    /// Changes applied to the view.
    pub applied: u64,
    /// Changes of origins the directory does not know, in the whole log.
    pub unknown: u64,
}

/// Replays into `view` every origin's changes after the head `starts` holds
/// for it (from the beginning for an origin it does not name), checking each
/// the way [`replay`] does, and calls `touched` with what each applied change
/// touched. The caller has checked that each start is a change the log holds.
pub(super) fn replay_tails(
    store: &Store,
    orgs: &OrgDirectory,
    view: &mut View,
    starts: &HashMap<String, Head>,
    mut touched: impl FnMut(&View, Touch),
) -> Result<Replayed> {
    let mut out = Replayed::default();
    for last in store.heads()? {
        let origin = last.origin;
        let id = orgs.get(&origin);
        let start = starts.get(&origin).copied().unwrap_or(Head {
            seq: 0,
            hash: GENESIS,
            written_at_ms: 0,
            received_at_ms: 0,
        });
        if id.is_none() && start.seq == 0 {
            warn!(origin = %origin, "changes of an origin not in the org directory are held but not shown");
        }
        let mut head = start;
        let mut torn = false;
        for entry in store.scan(&origin, start.seq) {
            let entry = entry?;
            let change = codec::decode_change(entry.change.clone()).ok().filter(|c| {
                c.origin == entry.origin
                    && c.seq == entry.seq
                    && c.seq == head.seq + 1
                    && c.prev_hash == head.hash
                    && c.hash_is_valid()
            });
            let Some(change) = change else {
                warn!(origin = %origin, after_seq = head.seq, at_seq = entry.seq, "torn tail of a log (a crash during an append): truncating it");
                torn = true;
                break;
            };
            head = Head {
                seq: change.seq,
                hash: change.hash,
                written_at_ms: change.written_at_ms,
                received_at_ms: entry.received_at_ms,
            };
            let Some(id) = id else {
                continue;
            };
            out.applied += 1;
            match codec::decode_record(&change.record) {
                Ok(record) => {
                    let touch = view.apply(id, record);
                    touched(view, touch);
                }
                // Stored changes were validated before they were stored; one that
                // no longer validates (a stricter version) stays in the log and is
                // forwarded, but is not shown.
                Err(e) => {
                    warn!(origin = %origin, seq = change.seq, error = %e, "stored record no longer validates; not shown")
                }
            }
        }
        match id {
            Some(id) if head.seq > 0 => view.set_head(id, head),
            Some(_) => {}
            None => out.unknown += head.seq,
        }
        if torn {
            let removed = store.truncate_after(&origin, head.seq)?;
            info!(origin = %origin, seq = head.seq, removed, "torn tail truncated");
        }
    }
    Ok(out)
}
