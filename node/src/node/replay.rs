//! Opening a node's log: dropping what an interrupted own write left, and
//! rebuilding the view from the log, truncating torn tails.

use tracing::{info, warn};

use crate::changelog::{GENESIS, Head};
use crate::codec;
use crate::error::Result;
use crate::orgs::{OrgDirectory, OrgId};
use crate::store::Store;
use crate::view::View;

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
/// truncated, with a warning, and the view holds the dense prefix.
pub(super) fn replay(store: &Store, orgs: &OrgDirectory) -> Result<(View, u64)> {
    let mut view = View::default();
    let mut unknown = 0u64;
    let mut torn: Vec<(String, u64)> = Vec::new();
    // The origin being replayed, its id, its head so far, and whether its
    // tail is torn (the rest of its entries are skipped, then truncated).
    let mut current: Option<(String, Option<OrgId>, Head, bool)> = None;
    let finish = |view: &mut View, cur: Option<(String, Option<OrgId>, Head, bool)>| {
        if let Some((_, Some(id), head, _)) = cur
            && head.seq > 0
        {
            view.set_head(id, head);
        }
    };
    for entry in store.scan_all() {
        let entry = entry?;
        let same_origin = current.as_ref().is_some_and(|(o, ..)| *o == entry.origin);
        if !same_origin {
            finish(&mut view, current.take());
            let id = orgs.get(&entry.origin);
            if id.is_none() {
                warn!(origin = %entry.origin, "changes of an origin not in the org directory are held but not shown");
            }
            current = Some((
                entry.origin.clone(),
                id,
                Head {
                    seq: 0,
                    hash: GENESIS,
                    written_at_ms: 0,
                    received_at_ms: 0,
                },
                false,
            ));
        }
        let Some((origin, id, head, is_torn)) = current.as_mut() else {
            continue;
        };
        if *is_torn {
            continue;
        }
        let change = codec::decode_change(entry.change.clone()).ok().filter(|c| {
            c.origin == entry.origin
                && c.seq == entry.seq
                && c.seq == head.seq + 1
                && c.prev_hash == head.hash
                && c.hash_is_valid()
        });
        let Some(change) = change else {
            warn!(origin = %origin, after_seq = head.seq, at_seq = entry.seq, "torn tail of a log (a crash during an append): truncating it");
            torn.push((origin.clone(), head.seq));
            *is_torn = true;
            continue;
        };
        *head = Head {
            seq: change.seq,
            hash: change.hash,
            written_at_ms: change.written_at_ms,
            received_at_ms: entry.received_at_ms,
        };
        let Some(id) = *id else {
            unknown += 1;
            continue;
        };
        match codec::decode_record(&change.record) {
            Ok(record) => {
                view.apply(id, record);
            }
            // Stored changes were validated before they were stored; one that
            // no longer validates (a stricter version) stays in the log and is
            // forwarded, but is not shown.
            Err(e) => {
                warn!(origin = %entry.origin, seq = change.seq, error = %e, "stored record no longer validates; not shown")
            }
        }
    }
    finish(&mut view, current.take());
    for (origin, seq) in torn {
        let removed = store.truncate_after(&origin, seq)?;
        info!(origin = %origin, seq, removed, "torn tail truncated");
    }
    Ok((view, unknown))
}
