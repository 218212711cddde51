//! A node: one bureau's store, view, org directory and policy, and the one
//! write path every change goes through.
//!
//! Own edits append to the node's own origin's log through
//! [`Node::write_records`]; records received from subordinates are appended
//! under their original origins through [`Node::ingest`]. Both hold the write lock, append to the store
//! durably, and only then update the in-memory view, so the view never shows
//! anything the disk does not hold.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::{debug, info, warn};

use crate::changelog::{Change, GENESIS, Hash, Head};
use crate::codec;
use crate::config::{Config, ORGS_FILE, POLICY_FILE, STORE_DIR};
use crate::error::{Error, Result};
use crate::ingest::{self, Placed, Verified};
use crate::model::Record;
use crate::orgs::{OrgDirectory, OrgId};
use crate::policy::Policy;
use crate::rollup::Rollup;
use crate::store::{Hold, LogEntry, Store};
use crate::view::View;

/// Changes encoded per chunk of an own write (the encoder runs a chunk ahead
/// of the inserts).
const WRITE_CHUNK: usize = 4_096;

pub use crate::store::Conflict;

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// What a write did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteSummary {
    /// Records that differed from what was held: one change each.
    pub written: usize,
    /// Records identical to what was held: nothing written for them.
    pub unchanged: usize,
    /// The node's own seq after the write.
    pub seq: u64,
}

/// One bureau's node.
pub struct Node {
    dir: PathBuf,
    config: Config,
    orgs: Arc<OrgDirectory>,
    me: OrgId,
    policy: Policy,
    store: Store,
    view: RwLock<View>,
    /// Serializes appends: heads are read and advanced under it.
    write_lock: Mutex<()>,
    /// Set when this node's own log disagrees with its parent's copy.
    conflict: Mutex<Option<Conflict>>,
    /// Changes of origins the directory does not know, skipped at replay.
    unknown_origin_changes: u64,
    /// Random per open: a store reopened may have lost or regained any tail
    /// (a crash, a restored backup), so every open is a new incarnation.
    incarnation: [u8; 16],
    /// Bumped after every append, so workers can wait for new changes.
    changed: tokio::sync::watch::Sender<u64>,
    /// Coverage rollup for today, built at the first query and kept up to
    /// date by every append (see [`crate::rollup`]). Lock order: view first.
    rollup: Mutex<Option<Rollup>>,
    /// Held during a sync session with the parent (one at a time), with the
    /// open connection to the parent, reused between sessions.
    sync_gate: tokio::sync::Mutex<Option<crate::sync::client::Upstream>>,
}

fn random_incarnation() -> [u8; 16] {
    use rand::Rng;
    let mut id = [0u8; 16];
    rand::rng().fill_bytes(&mut id);
    id
}

impl Node {
    /// Creates a node in `dir` for `config.org`, and opens it.
    pub fn init(dir: &Path, config: Config) -> Result<Node> {
        if let Ok(existing) = Config::load(dir) {
            return Err(Error::AlreadyInitialized {
                dir: dir.to_path_buf(),
                org: existing.org,
            });
        }
        config.validate(&dir.join(crate::config::CONFIG_FILE))?;
        let orgs = crate::config::load_orgs(&dir.join(ORGS_FILE))?;
        if orgs.get(&config.org).is_none() {
            return Err(Error::UnknownOrg(config.org));
        }
        std::fs::create_dir_all(dir).map_err(|source| crate::config::ConfigError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        config.save(dir)?;
        Self::open(dir)
    }

    /// Opens the node in `dir` and rebuilds its view from the log.
    pub fn open(dir: &Path) -> Result<Node> {
        if !dir.join(crate::config::CONFIG_FILE).exists() {
            return Err(Error::NotInitialized {
                dir: dir.to_path_buf(),
            });
        }
        let config = Config::load(dir)?;
        let orgs = Arc::new(crate::config::load_orgs(&dir.join(ORGS_FILE))?);
        let me = orgs
            .get(&config.org)
            .ok_or_else(|| Error::UnknownOrg(config.org.clone()))?;
        let policy = crate::config::load_policy(&dir.join(POLICY_FILE))?;
        let store = Store::open(&dir.join(STORE_DIR))?;
        undo_unfinished_write(&store, &config.org)?;
        let conflict = store.conflict()?;
        let (view, unknown_origin_changes) = replay(&store, &orgs)?;
        let (changed, _) = tokio::sync::watch::channel(0);
        let node = Node {
            dir: dir.to_path_buf(),
            config,
            orgs,
            me,
            policy,
            store,
            view: RwLock::new(view),
            write_lock: Mutex::new(()),
            conflict: Mutex::new(conflict),
            unknown_origin_changes,
            incarnation: random_incarnation(),
            changed,
            sync_gate: tokio::sync::Mutex::new(None),
            rollup: Mutex::new(None),
        };
        debug!(org = %node.config.org, "node opened");
        Ok(node)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn orgs(&self) -> &Arc<OrgDirectory> {
        &self.orgs
    }

    /// This node's org.
    pub fn me(&self) -> OrgId {
        self.me
    }

    /// This node's org code.
    pub fn code(&self) -> &str {
        self.orgs.code(self.me)
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn incarnation(&self) -> [u8; 16] {
        self.incarnation
    }

    /// Changes skipped at open because their origin is not in the directory.
    pub fn unknown_origin_changes(&self) -> u64 {
        self.unknown_origin_changes
    }

    /// Held by whoever runs a sync session with the parent.
    pub fn sync_gate(&self) -> &tokio::sync::Mutex<Option<crate::sync::client::Upstream>> {
        &self.sync_gate
    }

    /// A receiver that sees a new value after every append.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Read access to the view. Never hold it across an await or a write.
    pub fn view(&self) -> RwLockReadGuard<'_, View> {
        // A panic while holding the lock leaves the view as it was before the
        // panicking apply, which only ever runs after a durable append: the
        // data is still consistent with the store, so recover the guard.
        self.view.read().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_writes(&self) -> MutexGuard<'_, ()> {
        self.write_lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Why writes are refused, if they are.
    pub fn conflict(&self) -> Option<Conflict> {
        *self.conflict.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether this node may write (its own log agrees with its parent's copy).
    pub fn writable(&self) -> bool {
        self.conflict().is_none()
    }

    fn set_conflict(&self, conflict: Conflict) -> Result<()> {
        self.store.set_conflict(conflict)?;
        *self.conflict.lock().unwrap_or_else(|p| p.into_inner()) = Some(conflict);
        Ok(())
    }

    /// Refuses new writes until the node is restored from its parent: the
    /// parent holds own-origin changes up to `parent_seq`, beyond ours.
    pub fn mark_lost_tail(&self, parent_seq: u64) -> Result<()> {
        let local = self.view().head(self.me).map_or(0, |h| h.seq);
        if parent_seq <= local {
            return Ok(());
        }
        warn!(org = %self.code(), parent_seq, local_seq = local, "parent holds more of our own log than we do: refusing writes until restored");
        self.set_conflict(Conflict::LostTail { parent_seq })
    }

    /// Refuses new writes until the node is restored from its parent: the
    /// parent holds another change at `seq` of our own log (this node wrote
    /// on an old copy of its data before it synced).
    pub fn mark_forked(&self, seq: u64) -> Result<()> {
        warn!(org = %self.code(), seq, "our own log forked from the parent's copy: refusing writes until restored");
        self.set_conflict(Conflict::Forked { seq })
    }

    /// Lifts the refusal: the own log agrees with the parent's copy again.
    pub fn clear_conflict(&self) -> Result<()> {
        self.store.clear_conflict()?;
        *self.conflict.lock().unwrap_or_else(|p| p.into_inner()) = None;
        info!(org = %self.code(), "own log agrees with the parent's copy: writes allowed");
        Ok(())
    }

    /// The error a write gets while writes are refused.
    pub fn conflict_error(&self) -> Option<Error> {
        self.check_writable().err()
    }

    fn check_writable(&self) -> Result<()> {
        let local_seq = self.view().head(self.me).map_or(0, |h| h.seq);
        match self.conflict() {
            None => Ok(()),
            Some(Conflict::LostTail { parent_seq }) => Err(Error::LostTail {
                org: self.code().to_owned(),
                parent_seq,
                local_seq,
            }),
            Some(Conflict::Forked { seq }) => Err(Error::Forked {
                org: self.code().to_owned(),
                seq,
            }),
        }
    }

    /// Drops every change of `origin` after `keep` and rebuilds the view
    /// (a restore resolving a fork). Only while no one else uses the node.
    pub fn truncate_origin(&self, origin: &str, keep: u64) -> Result<usize> {
        let _writing = self.lock_writes();
        let removed = self.store.truncate_after(origin, keep)?;
        let (view, _) = replay(&self.store, &self.orgs)?;
        *self.view.write().unwrap_or_else(|p| p.into_inner()) = view;
        *self.rollup.lock().unwrap_or_else(|p| p.into_inner()) = None;
        Ok(removed)
    }

    /// Coverage of `root`'s subtree to `depth` on `as_of`: from the rollup
    /// kept up to date for `as_of` (built at the first query of a date, then
    /// refreshed with only what changed since).
    pub fn coverage(
        &self,
        root: OrgId,
        depth: Option<u32>,
        as_of: crate::model::Date,
    ) -> crate::coverage::CoverageReport {
        let view = self.view();
        let mut rollup = self.rollup.lock().unwrap_or_else(|p| p.into_inner());
        if rollup.as_ref().map(Rollup::as_of) != Some(as_of) {
            let today = chrono::Local::now().date_naive();
            if as_of != today && rollup.as_ref().is_some_and(|r| r.as_of() == today) {
                // Another date: answer from scratch and keep today's rollup.
                drop(rollup);
                return crate::coverage::coverage(
                    &view,
                    &self.orgs,
                    &self.policy,
                    root,
                    depth,
                    as_of,
                );
            }
            *rollup = Some(Rollup::build(&view, &self.orgs, &self.policy, as_of));
        }
        match rollup.as_mut() {
            Some(r) => {
                r.refresh(&view, &self.orgs, &self.policy);
                crate::coverage::report(&view, &self.orgs, r, root, depth)
            }
            None => crate::coverage::coverage(&view, &self.orgs, &self.policy, root, depth, as_of),
        }
    }

    /// Writes records as changes of this node's own origin, skipping those
    /// identical to what is held (so re-importing a file writes nothing).
    /// All-or-nothing: one atomic, durable append.
    pub fn write_records(&self, records: Vec<Record>) -> Result<WriteSummary> {
        let _writing = self.lock_writes();
        self.check_writable()?;
        let me = self.me;
        let total = records.len();
        let (changed, head) = {
            let view = self.view();
            let mut seen = std::collections::HashSet::new();
            let changed: Vec<Record> = records
                .into_iter()
                .rev()
                // Within one call the last version of a key wins.
                .filter(|r| seen.insert(r.key()))
                .filter(|r| match r {
                    Record::Tombstone(k) => view.current(me, k).is_some(),
                    _ => view.current(me, &r.key()).as_ref() != Some(r),
                })
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            (changed, view.head(me).copied())
        };
        let (seq, prev) = head.map_or((0, GENESIS), |h| (h.seq, h.hash));
        if changed.is_empty() {
            return Ok(WriteSummary {
                written: 0,
                unchanged: total,
                seq,
            });
        }
        let now = now_ms();
        let origin = self.code().to_owned();
        // All-or-nothing across a crash too: sled may persist any prefix of
        // an append before its flush, and a dense prefix of our own log
        // looks whole at replay. So the write is marked as under way
        // (durably) first, and the mark cleared once the append is durable;
        // a store opened with the mark set drops what the write left.
        let before = seq;
        self.store.mark_write(before)?;
        // Encoding and hash-chaining run on a second thread, a chunk ahead of
        // the inserts: the two halves of the work overlap on two cores.
        let appended = std::thread::scope(|scope| -> Result<(u64, Hash)> {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<LogEntry>>(2);
            let (changed, origin) = (&changed, &origin);
            let encoder = scope.spawn(move || {
                let (mut seq, mut prev) = (seq, prev);
                for chunk in changed.chunks(WRITE_CHUNK) {
                    let entries = chunk
                        .iter()
                        .map(|record| {
                            seq += 1;
                            let change = Change::new(
                                origin.clone(),
                                seq,
                                prev,
                                now,
                                codec::encode_record(record),
                            );
                            prev = change.hash;
                            LogEntry {
                                origin: origin.clone(),
                                seq,
                                received_at_ms: now,
                                change: codec::encode_change(&change),
                            }
                        })
                        .collect();
                    if tx.send(entries).is_err() {
                        break;
                    }
                }
                (seq, prev)
            });
            let mut inserted = Ok(());
            for entries in rx {
                inserted = self.store.insert(&entries);
                if inserted.is_err() {
                    break;
                }
            }
            let tip = encoder
                .join()
                .map_err(|_| Error::Corrupt("the change encoder panicked".into()))?;
            inserted?;
            self.store.flush()?;
            Ok(tip)
        });
        let (seq, prev) = match appended {
            Ok(tip) => tip,
            Err(e) => {
                let _ = self
                    .store
                    .truncate_after(&origin, before)
                    .and_then(|_| self.store.clear_write_mark());
                return Err(e);
            }
        };
        self.store.clear_write_mark()?;
        let written = changed.len();
        {
            let mut view = self.view.write().unwrap_or_else(|p| p.into_inner());
            let mut rollup = self.rollup.lock().unwrap_or_else(|p| p.into_inner());
            for record in changed {
                let touch = view.apply(me, record);
                if let Some(r) = rollup.as_mut() {
                    r.touch(&view, touch);
                }
            }
            view.set_head(
                me,
                Head {
                    seq,
                    hash: prev,
                    written_at_ms: now,
                    received_at_ms: now,
                },
            );
        }
        self.changed.send_modify(|v| *v += 1);
        info!(org = %origin, written, unchanged = total - written, seq, "records written");
        Ok(WriteSummary {
            written,
            unchanged: total - written,
            seq,
        })
    }

    /// Stores changes written elsewhere (a child's batches, or the parent's
    /// copy during a restore), already [`ingest::verify`]-ed: places each
    /// batch in turn against the heads, appends every accepted change in one
    /// durable append, then updates the view. Returns one [`Placed`] per batch
    /// (for the acks). Held origins are recorded for `status`.
    pub fn ingest(&self, batches: Vec<Vec<Verified>>) -> Result<Vec<Placed>> {
        let _writing = self.lock_writes();
        let mut heads: HashMap<OrgId, Head> = {
            let view = self.view();
            batches
                .iter()
                .flatten()
                .filter_map(|v| view.head(v.org).map(|h| (v.org, *h)))
                .collect()
        };
        let now = now_ms();
        let hash_at = |origin: &str, seq: u64| {
            self.store
                .entry(origin, seq)
                .ok()
                .flatten()
                .and_then(|e| codec::decode_change(e.change).ok())
                .map(|c| c.hash)
        };
        let placed: Vec<Placed> = batches
            .into_iter()
            .map(|batch| ingest::place(batch, &mut heads, hash_at, now))
            .collect();
        let entries: Vec<LogEntry> = placed
            .iter()
            .flat_map(|p| &p.accepted)
            .map(|(_, change, bytes, _)| LogEntry {
                origin: change.origin.clone(),
                seq: change.seq,
                received_at_ms: now,
                change: bytes.clone(),
            })
            .collect();
        self.store.append(&entries)?;
        let mut placed = placed;
        if !entries.is_empty() {
            let mut view = self.view.write().unwrap_or_else(|p| p.into_inner());
            let mut rollup = self.rollup.lock().unwrap_or_else(|p| p.into_inner());
            for p in &mut placed {
                for (org, change, _, record) in std::mem::take(&mut p.accepted) {
                    let touch = view.apply(org, record);
                    if let Some(r) = rollup.as_mut() {
                        r.touch(&view, touch);
                    }
                    view.set_head(
                        org,
                        Head {
                            seq: change.seq,
                            hash: change.hash,
                            written_at_ms: change.written_at_ms,
                            received_at_ms: now,
                        },
                    );
                    // Keep the change for the caller's counts, without the record.
                    p.applied += 1;
                }
            }
        }
        self.record_holds(&placed)?;
        if !entries.is_empty() {
            self.changed.send_modify(|v| *v += 1);
        }
        Ok(placed)
    }

    /// Persists the origins held back by the latest placements, and forgets
    /// holds their origin has since moved past.
    fn record_holds(&self, placed: &[Placed]) -> Result<()> {
        for p in placed {
            for h in &p.held {
                self.store.set_hold(&Hold {
                    origin: h.origin.clone(),
                    seq: h.seq,
                    reason: h.reason.to_string(),
                    at_ms: now_ms(),
                })?;
                warn!(origin = %h.origin, seq = h.seq, reason = %h.reason, "changes held back");
            }
            for (origin, (seq, _)) in &p.touched {
                if p.held.iter().any(|h| &h.origin == origin) {
                    continue;
                }
                self.store.release_hold(origin, *seq)?;
            }
        }
        Ok(())
    }

    /// Origins currently held back, with their seq and reason.
    pub fn holds(&self) -> Result<Vec<(String, u64, String)>> {
        Ok(self
            .store
            .holds()?
            .into_iter()
            .map(|h| (h.origin, h.seq, h.reason))
            .collect())
    }
}

/// Drops what an own write left in `store` if the process died during it
/// (the mark [`Node::write_records`] sets before appending is still there):
/// the write was never acknowledged nor forwarded, and a write is
/// all-or-nothing, so its changes go; the user imports the file again.
fn undo_unfinished_write(store: &Store, origin: &str) -> Result<()> {
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
fn replay(store: &Store, orgs: &OrgDirectory) -> Result<(View, u64)> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Attendance, Class, Hours, Mode, Outcome, Rank, RecordKey, RosterEntry};

    fn d(s: &str) -> crate::model::Date {
        s.parse().unwrap()
    }

    fn config(org: &str) -> Config {
        Config {
            org: org.into(),
            upstream: None,
            tls_dir: None,
            insecure: false,
            revoked: Default::default(),
        }
    }

    fn roster(id: &str, name: &str) -> Record {
        Record::Roster(RosterEntry {
            person: id.parse().unwrap(),
            name: name.into(),
            rank: Rank::General,
            since: d("2024-01-01"),
            until: None,
            employer: String::new(),
            position: String::new(),
            group: String::new(),
        })
    }

    #[test]
    fn init_open_and_refusals() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        assert!(matches!(
            Node::open(&data),
            Err(Error::NotInitialized { .. })
        ));
        assert!(matches!(
            Node::init(&data, config("999999")),
            Err(Error::UnknownOrg(_))
        ));
        let node = Node::init(&data, config("410102")).unwrap();
        assert_eq!(node.orgs().org(node.me()).name, "中原区");
        drop(node);
        assert!(matches!(
            Node::init(&data, config("410102")),
            Err(Error::AlreadyInitialized { .. })
        ));
    }

    #[test]
    fn writes_chain_survive_reopen_and_skip_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let node = Node::init(dir.path(), config("410102")).unwrap();
        let a = roster("11010519491231002X", "甲");
        let class = Record::Class(Class {
            class_id: "C1".parse().unwrap(),
            title: "班".into(),
            category: String::new(),
            mode: Mode::Centralized,
            off_job: true,
            start: d("2024-03-01"),
            end: d("2024-03-03"),
            hours: Hours::from_whole(20),
            days: None,
        });
        let att = Record::Attendance(Attendance {
            class_id: "C1".parse().unwrap(),
            person: "11010519491231002X".parse().unwrap(),
            hours: Hours::from_whole(20),
            outcome: Outcome::Completed,
            name: String::new(),
        });
        let s = node
            .write_records(vec![a.clone(), class.clone(), att.clone()])
            .unwrap();
        assert_eq!((s.written, s.unchanged, s.seq), (3, 0, 3));
        let s = node
            .write_records(vec![a.clone(), class.clone(), att.clone()])
            .unwrap();
        assert_eq!((s.written, s.unchanged, s.seq), (0, 3, 3));
        let renamed = roster("11010519491231002X", "乙");
        let s = node
            .write_records(vec![renamed.clone(), a.clone()])
            .unwrap();
        // The last version of a key within one call wins: `a` equals what is held.
        assert_eq!((s.written, s.unchanged), (0, 2));
        let s = node.write_records(vec![renamed.clone()]).unwrap();
        assert_eq!(s.seq, 4);
        let tomb = Record::Tombstone(RecordKey::Attendance(
            "C1".parse().unwrap(),
            "11010519491231002X".parse().unwrap(),
        ));
        assert_eq!(node.write_records(vec![tomb.clone()]).unwrap().written, 1);
        assert_eq!(node.write_records(vec![tomb]).unwrap().written, 0);
        let counts = node.view().counts();
        drop(node);

        let node = Node::open(dir.path()).unwrap();
        assert_eq!(node.view().counts(), counts);
        let me = node.me();
        assert_eq!(node.view().head(me).unwrap().seq, 5);
        assert_eq!(node.view().current(me, &a.key()), Some(renamed));
        // Every stored change verifies and links.
        let mut prev = GENESIS;
        for e in node.store().scan(node.code(), 0) {
            let c = codec::decode_change(e.unwrap().change).unwrap();
            assert!(c.hash_is_valid());
            assert_eq!(c.prev_hash, prev);
            prev = c.hash;
        }
    }

    #[test]
    fn replay_truncates_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let node = Node::init(dir.path(), config("410102")).unwrap();
        let ids = [
            "11010519491231002X",
            "410102198001010011",
            "410102198001010038",
        ];
        for (i, id) in ids.iter().enumerate() {
            let mut digits = [0u8; 17];
            digits.copy_from_slice(&id.as_bytes()[..17]);
            let id = format!(
                "{}{}",
                &id[..17],
                crate::model::PersonId::check_char(&digits)
            );
            node.write_records(vec![roster(&id, &format!("人{i}"))])
                .unwrap();
        }
        let tip = node.view().head(node.me()).copied().unwrap();
        assert_eq!(tip.seq, 3);
        // What a crash mid-append can leave: an entry after a hole (seq 5
        // without 4), and one whose link does not match.
        let orphan = Change::new(
            "410102".into(),
            5,
            tip.hash,
            0,
            codec::encode_record(&roster(ids[0], "x")),
        );
        node.store()
            .append(&[LogEntry {
                origin: "410102".into(),
                seq: 5,
                received_at_ms: 0,
                change: codec::encode_change(&orphan),
            }])
            .unwrap();
        drop(node);
        let node = Node::open(dir.path()).unwrap();
        assert_eq!(node.view().head(node.me()).unwrap().seq, 3);
        assert_eq!(node.store().last("410102").unwrap().unwrap().seq, 3);

        let bad_link = Change::new(
            "410102".into(),
            4,
            [7; 32],
            0,
            codec::encode_record(&roster(ids[0], "y")),
        );
        node.store()
            .append(&[LogEntry {
                origin: "410102".into(),
                seq: 4,
                received_at_ms: 0,
                change: codec::encode_change(&bad_link),
            }])
            .unwrap();
        drop(node);
        let node = Node::open(dir.path()).unwrap();
        assert_eq!(node.store().last("410102").unwrap().unwrap().seq, 3);
        // And the log continues densely from the truncated head.
        node.write_records(vec![roster(ids[0], "z")]).unwrap();
        drop(node);
        let node = Node::open(dir.path()).unwrap();
        assert_eq!(node.view().head(node.me()).unwrap().seq, 4);
    }

    #[test]
    fn a_write_interrupted_by_a_crash_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let node = Node::init(dir.path(), config("410102")).unwrap();
        let first = roster("11010519491231002X", "甲");
        node.write_records(vec![first.clone()]).unwrap();
        assert_eq!(node.store().unfinished_write().unwrap(), None);
        // What a crash during a write of seqs 2..=3 can leave: the mark, and
        // a dense, chained prefix of the write, which replay alone keeps.
        let tip = node.view().head(node.me()).copied().unwrap();
        node.store().mark_write(1).unwrap();
        let mut prev = tip.hash;
        for seq in 2..=3 {
            let change = Change::new(
                "410102".into(),
                seq,
                prev,
                0,
                codec::encode_record(&roster("11010519491231002X", &format!("人{seq}"))),
            );
            prev = change.hash;
            node.store()
                .append(&[LogEntry {
                    origin: "410102".into(),
                    seq,
                    received_at_ms: 0,
                    change: codec::encode_change(&change),
                }])
                .unwrap();
        }
        drop(node);
        let node = Node::open(dir.path()).unwrap();
        assert_eq!(node.view().head(node.me()).unwrap().seq, 1);
        assert_eq!(node.store().last("410102").unwrap().unwrap().seq, 1);
        assert_eq!(node.store().unfinished_write().unwrap(), None);
        assert_eq!(node.view().current(node.me(), &first.key()), Some(first));
        // And the log goes on densely from there.
        let s = node
            .write_records(vec![roster("11010519491231002X", "乙")])
            .unwrap();
        assert_eq!(s.seq, 2);
    }

    #[test]
    fn lost_tail_refuses_writes_until_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let node = Node::init(dir.path(), config("410102")).unwrap();
        node.write_records(vec![roster("11010519491231002X", "甲")])
            .unwrap();
        node.mark_lost_tail(1).unwrap();
        assert!(node.writable(), "a parent at our own seq is not ahead");
        node.mark_lost_tail(7).unwrap();
        let err = node
            .write_records(vec![roster("11010519491231002X", "乙")])
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::LostTail {
                    parent_seq: 7,
                    local_seq: 1,
                    ..
                }
            ),
            "{err}"
        );
        drop(node);
        let node = Node::open(dir.path()).unwrap();
        assert!(!node.writable(), "the refusal survives a restart");
        node.mark_forked(1).unwrap();
        let err = node
            .write_records(vec![roster("11010519491231002X", "乙")])
            .unwrap_err();
        assert!(matches!(err, Error::Forked { seq: 1, .. }), "{err}");
        node.clear_conflict().unwrap();
        node.write_records(vec![roster("11010519491231002X", "乙")])
            .unwrap();
    }
}
