//! A node: one bureau's store, view, org directory and policy, and the one
//! write path every change goes through.
//!
//! Own edits append to the node's own origin's log through
//! [`Node::write_records`]; records received from subordinates are appended
//! under their original origins through [`Node::ingest`]. Both hold the write lock, append to the store
//! durably, and only then update the in-memory view, so the view never shows
//! anything the disk does not hold.
//!
//! Opening the log (replay, torn tails, an interrupted write) is in `replay`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::{debug, info, warn};

use crate::certs::sign::{Signer, Trust};
use crate::changelog::{Change, GENESIS, Hash, Head};
use crate::checkpoint;
use crate::codec;
use crate::config::{Config, ORGS_FILE, POLICY_FILE, STORE_DIR};
use crate::error::{Error, Result};
use crate::ingest::{self, Checked, Placed};
use crate::model::Record;
use crate::orgs::{OrgId, OrgMap};
use crate::rollup::Rollups;
use crate::store::{Hold, LogEntry, Store};
use crate::view::View;

mod ack;
pub mod downward;
mod replay;
mod returned;
mod returning;
pub mod snapshot;
mod trends;
mod write;
pub use ack::{AckRefused, AckReturned, AckTaken, ReturnedTaken};
use replay::{replay, undo_unfinished_write};
pub use returned::{ReturnedApplied, ReturnedCounts};
pub use returning::Returning;

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
    /// Of `written`, the deletions (tombstones).
    pub removed: usize,
    /// The node's own seq after the write.
    pub seq: u64,
}

/// One bureau's node.
pub struct Node {
    dir: PathBuf,
    config: Config,
    /// The bulletins held and what they put in force (the directory, the
    /// policy on each date, revocations). Lock order: view, rollups, this.
    downward: RwLock<downward::Downward>,
    me: OrgId,
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
    /// Coverage rollups for today and the last few other dates asked for,
    /// each built at the first query of its date and kept up to date by
    /// every append (see [`crate::rollup`]). Lock order: view first.
    rollups: Mutex<Rollups>,
    /// The trainings the parent returned, as held beside the view (each
    /// person's digest and keys); changed only under the write lock, after
    /// the store. Lock order: view before it.
    returned: Mutex<lunxun_core::returns::child::Held>,
    /// Changes applied to the view since its snapshot was written or read
    /// (see [`snapshot`]).
    since_snapshot: AtomicU64,
    /// Held while a snapshot is written: two writers (the daemon's periodic
    /// one and its clean stop's) would share the temporary file.
    snapshot_writing: Mutex<()>,
    /// What this node last returned to each child (see [`returning`]), in
    /// memory: after a restart each child gets its whole set once.
    returned_sent: Mutex<std::collections::HashMap<OrgId, lunxun_core::returns::parent::Sent>>,
    /// The last few trends computed (see [`trends`]).
    trends: Mutex<trends::TrendCache>,
    /// The roots checkpoints are verified to (loaded at the first use).
    trust: std::sync::OnceLock<std::result::Result<Trust, String>>,
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
        crate::config::private_data_dir(dir).map_err(|source| crate::config::ConfigError::Io {
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
        let base_orgs = crate::config::load_orgs(&dir.join(ORGS_FILE))?;
        let policy = crate::config::load_policy(&dir.join(POLICY_FILE))?;
        let store = Store::open(&dir.join(STORE_DIR))?;
        let downward = downward::Downward::load(&store, policy, base_orgs)?;
        let orgs = downward.in_force.orgs().clone();
        let me = orgs
            .get(&config.org)
            .ok_or_else(|| Error::UnknownOrg(config.org.clone()))?;
        store.set_keep_free(config.store.keep_free_mib.saturating_mul(1024 * 1024));
        // sled creates its files with the process's umask: tighten them (and
        // an old data dir) now that they exist.
        match crate::config::private_data_dir(dir) {
            Ok(loosened) if !loosened.is_empty() => warn!(
                dir = %dir.display(),
                files = loosened.len(),
                "the data dir was readable by other local users; it is now the owner's only (0700, files 0600)"
            ),
            Ok(_) => {}
            Err(e) => warn!(dir = %dir.display(), error = %e, "cannot make the data dir private"),
        }
        undo_unfinished_write(&store, &config.org)?;
        let opened = match snapshot::open(dir, &store, &downward.in_force, me)? {
            Some(opened) => opened,
            None => {
                let (mut view, unknown) = replay(&store, &orgs)?;
                let held = returned::load(&store, &orgs, me, Some(&mut view))?;
                let tail = view.heads().map(|(_, h)| h.seq).sum();
                snapshot::Opened {
                    view,
                    rollups: Rollups::default(),
                    held,
                    unknown,
                    tail,
                }
            }
        };
        let snapshot::Opened {
            view,
            rollups,
            held: returned,
            unknown: unknown_origin_changes,
            tail,
        } = opened;
        let local_seq = view.head(me).map_or(0, |h| h.seq);
        // A ledger entry whose changes a crash (or the undo of an
        // unfinished write) did not keep.
        let dropped = store.drop_imports_above(|bytes| {
            crate::imports::Entry::decode(bytes)
                .is_some_and(|e| e.written > 0 && e.to_seq > local_seq)
        })?;
        if dropped > 0 {
            warn!(
                dropped,
                "import ledger entries without their changes were dropped"
            );
        }
        match read_own_head(dir) {
            Some(written_seq) if written_seq > local_seq => {
                if store.conflict()?.is_none() {
                    store.set_conflict(Conflict::StoreLost { written_seq })?;
                }
                warn!(
                    org = %config.org,
                    written_seq,
                    local_seq,
                    "the store lost changes written here (a damaged or truncated store file): \
                     writes are refused; run `restore --from-upstream`"
                );
            }
            Some(written_seq) if written_seq == local_seq => {}
            _ => {
                if let Err(e) = write_own_head(dir, local_seq) {
                    warn!(error = %e, "cannot record the own log's head beside the store");
                }
            }
        }
        let conflict = store.conflict()?;
        let (changed, _) = tokio::sync::watch::channel(0);
        let node = Node {
            dir: dir.to_path_buf(),
            config,
            downward: RwLock::new(downward),
            me,
            store,
            view: RwLock::new(view),
            write_lock: Mutex::new(()),
            conflict: Mutex::new(conflict),
            unknown_origin_changes,
            incarnation: random_incarnation(),
            changed,
            rollups: Mutex::new(rollups),
            returned: Mutex::new(returned),
            since_snapshot: AtomicU64::new(tail),
            snapshot_writing: Mutex::new(()),
            returned_sent: Mutex::default(),
            trends: Mutex::new(trends::TrendCache::default()),
            trust: std::sync::OnceLock::new(),
        };
        debug!(org = %node.config.org, "node opened");
        Ok(node)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Today in the bureau's time zone: the default `as_of` everywhere.
    pub fn today(&self) -> crate::model::Date {
        crate::clock::today_in(self.config.zone())
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// This node's org.
    pub fn me(&self) -> OrgId {
        self.me
    }

    /// This node's org code.
    pub fn code(&self) -> &str {
        &self.config.org
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

    /// The hash of the change this node holds for `origin` at `seq`.
    pub fn hash_at(&self, origin: &str, seq: u64) -> Option<Hash> {
        let entry = self.store.entry(origin, seq).ok()??;
        codec::decode_change(entry.change).ok().map(|c| c.hash)
    }

    /// The head (seq, hash) of every origin in the view, by org code.
    pub fn heads_by_code(&self) -> BTreeMap<String, (u64, Hash)> {
        let view = self.view();
        let orgs = self.orgs();
        view.heads()
            .map(|(org, head)| (orgs.code(org).to_owned(), (head.seq, head.hash)))
            .collect()
    }

    /// Whether this node signs its writes and applies received changes only
    /// as far as signed checkpoints vouch for them: every node with a tls
    /// dir (mTLS links). Without one (`--insecure` links) there is no key to
    /// sign with nor a root to verify to.
    pub fn requires_signatures(&self) -> bool {
        self.config.tls_dir.is_some()
    }

    /// The roots checkpoints are verified to (`ca.pem` of the tls dir).
    pub fn trust(&self) -> std::result::Result<&Trust, &str> {
        self.trust
            .get_or_init(|| match self.config.tls_dir.as_deref() {
                Some(dir) => Trust::load(dir).map_err(|e| e.to_string()),
                None => Err("no tls dir".into()),
            })
            .as_ref()
            .map_err(|e| e.as_str())
    }

    /// Whether this node requires signatures, and the roots it verifies them
    /// to: what [`ingest::verify_contents`] takes.
    pub fn signing(&self) -> ingest::Signing<'_> {
        self.requires_signatures().then(|| self.trust())
    }

    /// The signing identity, read from the tls dir now (so a renewed
    /// certificate signs from the next write on); None without one.
    pub fn signer(&self) -> Result<Option<Signer>> {
        match self.config.tls_dir.as_deref() {
            Some(dir) => Ok(Some(Signer::load(dir, self.code())?)),
            None => Ok(None),
        }
    }

    /// What this node may forward of every origin: its head (seq, hash) or,
    /// when signatures are required, the newest signed checkpoint at or
    /// below the head that matches the change held there. Changes above it
    /// are not forwarded.
    pub fn sendable_heads(&self) -> BTreeMap<String, (u64, Hash)> {
        let heads = self.heads_by_code();
        if !self.requires_signatures() {
            return heads;
        }
        heads
            .into_iter()
            .filter_map(|(origin, (seq, hash))| {
                let c = self.store.checkpoint_at_or_below(&origin, seq).ok()??;
                let held = if c.seq == seq {
                    Some(hash)
                } else {
                    self.hash_at(&origin, c.seq)
                };
                (held == Some(c.hash)).then_some((origin, (c.seq, c.hash)))
            })
            .collect()
    }

    /// Signs a checkpoint at the own head if it has none signed with the
    /// current certificate: a log written before signatures, a write made
    /// while the certificate was unusable, or a renewed or replaced
    /// certificate (whose predecessor may since have been revoked). The
    /// newest checkpoint vouches for the whole log below it, so this is what
    /// lets it be forwarded. Nothing to do without a tls dir.
    pub fn sign_own_head(&self) -> Result<bool> {
        let _writing = self.lock_writes();
        let Some(head) = self.view().head(self.me).copied() else {
            return Ok(false);
        };
        if !self.requires_signatures() {
            return Ok(false);
        }
        let Some(signer) = self.signer()? else {
            return Ok(false);
        };
        if let Some(c) = self.store.checkpoint_at_or_below(self.code(), head.seq)?
            && c.seq == head.seq
            && c.hash == head.hash
            && crate::certs::sign::decode(&c.bytes).is_ok_and(|c| signer.signs_with(&c.chain))
        {
            return Ok(false);
        }
        let bytes = signer.sign(self.code(), head.seq, &head.hash, now_ms());
        self.store
            .insert_checkpoints([(self.code(), head.seq, &head.hash, &bytes)])?;
        self.store.flush()?;
        info!(org = %self.code(), seq = head.seq, "signed a checkpoint at the own head");
        Ok(true)
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
            Some(Conflict::StoreLost { written_seq }) => Err(Error::StoreLost {
                org: self.code().to_owned(),
                written_seq,
                local_seq,
            }),
        }
    }

    /// Writes the own log's head to [`OWN_HEAD_FILE`], beside the store and
    /// durably, so a store that later loses own changes is told apart from
    /// one that never had them (sled reads a damaged tail as a torn one).
    pub fn record_own_head(&self) -> Result<()> {
        let seq = self.view().head(self.me).map_or(0, |h| h.seq);
        write_own_head(&self.dir, seq).map_err(|source| {
            Error::Config(crate::config::ConfigError::Io {
                path: self.dir.join(OWN_HEAD_FILE),
                source,
            })
        })
    }

    /// Drops every change of `origin` after `keep` and rebuilds the view
    /// (a restore resolving a fork). Only while no one else uses the node.
    pub fn truncate_origin(&self, origin: &str, keep: u64) -> Result<usize> {
        let _writing = self.lock_writes();
        let removed = self.store.truncate_after(origin, keep)?;
        let orgs = self.orgs();
        let (mut view, _) = replay(&self.store, &orgs)?;
        let returned = returned::load(&self.store, &orgs, self.me, Some(&mut view))?;
        *self.view.write().unwrap_or_else(|p| p.into_inner()) = view;
        *self.returned.lock().unwrap_or_else(|p| p.into_inner()) = returned;
        self.rollups
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        trends::TrendCache::clear(&self.trends);
        // The snapshot reflects a log that no longer is: write another.
        self.since_snapshot.fetch_add(
            snapshot::SNAPSHOT_AFTER_CHANGES,
            std::sync::atomic::Ordering::Relaxed,
        );
        Ok(removed)
    }

    /// Coverage of `root`'s subtree to `depth` on `as_of`: from the rollup
    /// kept for `as_of` (today's, or one of the last few other dates asked
    /// for; built at the first query of a date, then refreshed with only what
    /// changed since).
    pub fn coverage(
        &self,
        root: OrgId,
        depth: Option<u32>,
        as_of: crate::model::Date,
    ) -> crate::coverage::CoverageReport {
        let today = self.today();
        let view = self.view();
        let mut rollups = self.rollups.lock().unwrap_or_else(|p| p.into_inner());
        // Read under the rollups' lock: see `downward::put_in_force`.
        let in_force = self.in_force();
        let orgs = in_force.orgs();
        let policy = in_force.policy_at(as_of);
        let rollup = rollups.get_or_build(&view, orgs, policy, as_of, today, || {
            build_rollup(&view, orgs, policy, as_of)
        });
        crate::coverage::report(&view, orgs, rollup, root, depth)
    }

    /// Stores changes written elsewhere (a child's batches, or the parent's
    /// copy during a restore), already [`ingest::verify_contents`]-ed: places each
    /// batch in turn against the heads, appends every accepted change in one
    /// durable append, then updates the view. Returns one [`Placed`] per batch
    /// (for the acks). Held origins are recorded for `status`.
    pub fn ingest(&self, batches: Vec<Checked>) -> Result<Vec<Placed>> {
        self.ingest_with(batches, |_| Ok(()))
    }

    /// [`Node::ingest`], and `with_append` called, under the write lock,
    /// between the append's inserts and its flush, with the placements (when
    /// anything was accepted): what it writes to the store is made durable by
    /// the same flush (the hub's quota counters).
    pub fn ingest_with(
        &self,
        batches: Vec<Checked>,
        with_append: impl FnOnce(&[Placed]) -> Result<()>,
    ) -> Result<Vec<Placed>> {
        let _writing = self.lock_writes();
        let mut heads: OrgMap<Head> = {
            let view = self.view();
            let changes = batches.iter().map(|b| b.changes.len()).sum();
            // Room for as many origins as changes: placing adds each
            // origin's head, and a batch may hold one change per origin.
            let mut heads = OrgMap::with_capacity_and_hasher(changes, Default::default());
            heads.extend(
                batches
                    .iter()
                    .flat_map(|b| &b.changes)
                    .filter_map(|v| view.head(v.org).map(|h| (v.org, *h))),
            );
            heads
        };
        let now = now_ms();
        let hash_at = |origin: &str, seq: u64| self.hash_at(origin, seq);
        let signed = self.requires_signatures();
        let placed: Vec<Placed> = batches
            .into_iter()
            .map(|batch| {
                if signed {
                    ingest::place_signed(batch.changes, &batch.signatures, &mut heads, hash_at, now)
                } else {
                    ingest::place(batch.changes, &mut heads, hash_at, now)
                }
            })
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
        let checkpoints = placed.iter().flat_map(|p| &p.checkpoints);
        if !entries.is_empty() || placed.iter().any(|p| !p.checkpoints.is_empty()) {
            self.store.insert(&entries)?;
            self.store.insert_checkpoints(
                checkpoints.map(|c| (c.origin.as_str(), c.seq, &c.hash, &c.bytes)),
            )?;
            with_append(&placed)?;
            self.store.flush()?;
        }
        let mut placed = placed;
        if !entries.is_empty() {
            let mut view = self.view.write().unwrap_or_else(|p| p.into_inner());
            let mut rollups = self.rollups.lock().unwrap_or_else(|p| p.into_inner());
            for p in &mut placed {
                for (org, change, _, record) in std::mem::take(&mut p.accepted) {
                    let touch = view.apply(org, record);
                    rollups.touch(&view, touch);
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
            self.since_snapshot
                .fetch_add(entries.len() as u64, std::sync::atomic::Ordering::Relaxed);
            self.changed.send_modify(|v| *v += 1);
        }
        Ok(placed)
    }

    /// Persists the origins held back by the latest placements, and forgets
    /// holds their origin has since moved past.
    fn record_holds(&self, placed: &[Placed]) -> Result<()> {
        // Only an origin held before can be released: one scan of the holds
        // (few, usually none), not a store read per origin a batch touched.
        let mut held: std::collections::HashSet<String> =
            self.store.holds()?.into_iter().map(|h| h.origin).collect();
        for p in placed {
            let held_here: std::collections::HashSet<&str> =
                p.held.iter().map(|h| h.origin.as_str()).collect();
            for h in &p.held {
                self.store.set_hold(&Hold {
                    origin: h.origin.clone(),
                    seq: h.seq,
                    reason: h.reason.to_string(),
                    at_ms: now_ms(),
                })?;
                held.insert(h.origin.clone());
                warn!(origin = %h.origin, seq = h.seq, reason = %h.reason, "changes held back");
            }
            for (origin, (seq, _)) in &p.touched {
                if held_here.contains(origin.as_str()) || !held.contains(origin) {
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

/// The file beside the store that holds the own log's head (`SEQ`): written
/// durably after every own write, so a store that later loses own changes is
/// told apart from one that never had them.
pub const OWN_HEAD_FILE: &str = "own.head";

/// The own head recorded in `dir`, if any (an unreadable file counts as none).
fn read_own_head(dir: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(dir.join(OWN_HEAD_FILE)).ok()?;
    text.trim().parse().ok()
}

/// Records `seq` as the own head: a temporary file, fsynced, renamed over
/// the old one, and the directory fsynced, so a power cut leaves the old
/// value or the new one.
/// Builds the rollup of `as_of` in parts, one per core (at most
/// [`ROLLUP_PARTS_MAX`]), and merges them: a date not kept costs its share of
/// the people on each core instead of all of them on one.
fn build_rollup(
    view: &View,
    orgs: &crate::orgs::OrgDirectory,
    policy: &crate::policy::Policy,
    as_of: crate::model::Date,
) -> crate::rollup::Rollup {
    use crate::rollup::Rollup;
    let parts = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(ROLLUP_PARTS_MAX);
    let entries: usize = view.roster_orgs().map(|o| view.roster_len(o)).sum();
    if parts <= 1 || entries < ROLLUP_PARALLEL_FROM {
        return Rollup::build(view, orgs, policy, as_of);
    }
    let built = std::thread::scope(|s| {
        let handles: Vec<_> = (1..parts)
            .map(|part| s.spawn(move || Rollup::build_part(view, orgs, policy, as_of, part, parts)))
            .collect();
        let mut built = vec![Rollup::build_part(view, orgs, policy, as_of, 0, parts)];
        for h in handles {
            built.push(
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            );
        }
        built
    });
    Rollup::merge(built).unwrap_or_else(|| Rollup::build(view, orgs, policy, as_of))
}

/// Threads a rollup is built on, at most.
const ROLLUP_PARTS_MAX: usize = 8;

/// Roster entries below which a rollup is built on one thread (the threads
/// would cost more than they save).
const ROLLUP_PARALLEL_FROM: usize = 20_000;

fn write_own_head(dir: &Path, seq: u64) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = dir.join(format!("{OWN_HEAD_FILE}.tmp"));
    let mut file = std::fs::File::create(&tmp)?;
    writeln!(file, "{seq}")?;
    file.sync_all()?;
    std::fs::rename(&tmp, dir.join(OWN_HEAD_FILE))?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests;
