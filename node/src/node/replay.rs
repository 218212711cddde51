//! Opening a node's log: dropping what an interrupted own write left, and
//! rebuilding the view from the log, truncating torn tails.

use std::collections::HashMap;

use tracing::{info, warn};

use crate::changelog::{GENESIS, Head};
use crate::codec;
use crate::error::Result;
use crate::orgs::OrgDirectory;
use crate::store::{LogEntry, Store};
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
    view.shrink_to_fit();
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
/// With no starts, the log is read in one pass; otherwise only the origins
/// whose log goes past their start are read.
pub(super) fn replay_tails(
    store: &Store,
    orgs: &OrgDirectory,
    view: &mut View,
    starts: &HashMap<String, Head>,
    mut touched: impl FnMut(&View, Touch),
) -> Result<Replayed> {
    let mut out = Replayed::default();
    if starts.is_empty() {
        let mut current: Option<Origin> = None;
        for entry in store.scan_all() {
            let entry = entry?;
            if current.as_ref().is_none_or(|c| c.origin != entry.origin) {
                if let Some(done) = current.take() {
                    done.finish(store, view, &mut out)?;
                }
                current = Some(Origin::start(orgs, entry.origin.clone(), GENESIS_HEAD));
            }
            if let Some(c) = current.as_mut() {
                c.apply(&entry, view, &mut touched, &mut out);
            }
        }
        if let Some(done) = current {
            done.finish(store, view, &mut out)?;
        }
        return Ok(out);
    }
    for last in store.heads()? {
        let start = starts.get(&last.origin).copied().unwrap_or(GENESIS_HEAD);
        let mut origin = Origin::start(orgs, last.origin, start);
        if last.seq > start.seq {
            for entry in store.scan(&origin.origin, start.seq) {
                origin.apply(&entry?, view, &mut touched, &mut out);
                if origin.torn {
                    break;
                }
            }
        }
        origin.finish(store, view, &mut out)?;
    }
    Ok(out)
}

/// Before an origin's first change.
const GENESIS_HEAD: Head = Head {
    seq: 0,
    hash: GENESIS,
    written_at_ms: 0,
    received_at_ms: 0,
};

/// One origin's replay under way.
struct Origin {
    origin: String,
    id: Option<crate::orgs::OrgId>,
    head: Head,
    /// A hole or a broken link was found: the rest is a torn tail.
    torn: bool,
}

impl Origin {
    fn start(orgs: &OrgDirectory, origin: String, start: Head) -> Origin {
        let id = orgs.get(&origin);
        if id.is_none() && start.seq == 0 {
            warn!(origin = %origin, "changes of an origin not in the org directory are held but not shown");
        }
        Origin {
            origin,
            id,
            head: start,
            torn: false,
        }
    }

    /// Applies the origin's next stored change, unless it or one before it
    /// does not follow the head.
    fn apply(
        &mut self,
        entry: &LogEntry,
        view: &mut View,
        touched: &mut impl FnMut(&View, Touch),
        out: &mut Replayed,
    ) {
        if self.torn {
            return;
        }
        let head = self.head;
        let change = codec::decode_change(entry.change.clone()).ok().filter(|c| {
            c.origin == entry.origin
                && c.seq == entry.seq
                && c.seq == head.seq + 1
                && c.prev_hash == head.hash
                && c.hash_is_valid()
        });
        let Some(change) = change else {
            warn!(origin = %self.origin, after_seq = head.seq, at_seq = entry.seq, "torn tail of a log (a crash during an append): truncating it");
            self.torn = true;
            return;
        };
        self.head = Head {
            seq: change.seq,
            hash: change.hash,
            written_at_ms: change.written_at_ms,
            received_at_ms: entry.received_at_ms,
        };
        let Some(id) = self.id else {
            return;
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
                warn!(origin = %self.origin, seq = change.seq, error = %e, "stored record no longer validates; not shown")
            }
        }
    }

    /// Records the origin's head in the view (or counts it as unknown), and
    /// truncates a torn tail.
    fn finish(self, store: &Store, view: &mut View, out: &mut Replayed) -> Result<()> {
        match self.id {
            Some(id) if self.head.seq > 0 => view.set_head(id, self.head),
            Some(_) => {}
            None => out.unknown += self.head.seq,
        }
        if self.torn {
            let removed = store.truncate_after(&self.origin, self.head.seq)?;
            info!(origin = %self.origin, seq = self.head.seq, removed, "torn tail truncated");
        }
        Ok(())
    }
}
