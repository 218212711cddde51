//! The store: every change this node holds, on disk, in sled.
//!
//! The only module that imports sled, behind a narrow interface, so the
//! engine can be replaced without touching anything else.
//!
//! # Layout
//!
//! - tree `segments`: the [segments](segment) of every origin's log, key
//!   `origin ‖ 0x00 ‖ last seq (u64 BE)`, value the run of consecutive
//!   changes ending there, each with the time this node received it and its
//!   bytes exactly as the origin wrote them (the encoded `lunxun.v1.Change`).
//!   Keys of one origin sort by seq, so an origin's log appends at the end of
//!   its key range and a version vector is the last key of each origin's
//!   range.
//! - tree `log`: the first version's log, one change per key (`origin ‖ 0x00
//!   ‖ seq`, value `received_at_ms ‖ change bytes`). A store it wrote opens as
//!   it is: its changes are read as segments of one, below every segment of
//!   their origin, and cut with them; nothing new is written there. (A
//!   first-version binary opening this store sees only that prefix: valid
//!   changes, which it does not truncate, and a node with own writes then
//!   refuses writes as a store that lost changes; segments are kept for
//!   the next upgrade.)
//! - tree `checkpoints`: key `origin ‖ 0x00 ‖ seq (u64 BE)`, value `hash of
//!   the change at seq ‖ the encoded lunxun.v1.Checkpoint` exactly as its
//!   origin signed it ([`checkpoints`]).
//! - tree `meta`: small named values (node state, sync bookkeeping,
//!   quarantined changes), each behind its own typed method in [`meta`]; no
//!   other module names a meta key.
//! - trees `accounts` (key: account name) and `audit` (key: a monotonic id,
//!   u64 BE): the dashboard's accounts and the audit log ([`accounts`]).
//! - tree `imports` (key: the import id, u64 BE): the ledger of this node's
//!   own imports, deletions and undos ([`imports`]).
//! - tree `returned` (key: a person's packed id, u64 BE): the trainings the
//!   parent returns, one set per person ([`returned`]); never part of the log.
//!
//! # Durability
//!
//! [`Store::append`] inserts the entries as segments, one sled insert per
//! run of an origin's changes, and then flushes: when it returns, they
//! survive a process crash. Each segment is one insert, so it is stored
//! whole or not at all; a crash during an append can only leave a torn tail
//! of some origins' logs (segments after a hole, or never-flushed ones),
//! which nobody was told about, since nothing is acknowledged or forwarded
//! before the flush. The node's replay truncates such a tail at open
//! ([`Store::truncate_after`], which cuts a segment and removes the ones
//! after it in one atomic sled batch). One insert per change was measured
//! first: sled's cost is per insert, so that bound sync below the raw
//! one-insert-per-change floor it is compared with; a sled `Batch` of the
//! same inserts cost 1.3–2.4× as much per entry.
//!
//! sled 0.34's flush is not enough for a power cut: it writes the log with
//! `pwrite` and `sync_file_range`, which neither flushes the disk's cache nor
//! the file's size and extents, and leaves the rest to a background
//! `fsync` every `flush_every_ms` (500 ms); it never syncs `conf`, its
//! `blobs/` files or the directory after renaming a snapshot. An import
//! reported as written at a county is the only copy until it syncs, so
//! [`Store::flush`] then `fsync`s the files sled writes and the directories
//! holding them ([`sync_files`]).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use bytes::Bytes;

mod accounts;
mod bulletins;
mod checkpoints;
mod imports;
mod meta;
mod returned;
mod segment;
pub use meta::{ChildState, Conflict, Hold, UpstreamState};

/// sled's page cache size. Small on purpose: the node keeps its own
/// materialized view in memory, so sled's cache serves only writes and scans.
pub const CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// The files sled 0.34 writes in a store directory (beside `snap.*` and
/// `blobs/`), all `fsync`ed by [`Store::flush`].
const ENGINE_FILES: [&str; 2] = ["db", "conf"];

/// sled's directory of large values, written without any sync.
const BLOBS_DIR: &str = "blobs";

/// Separates an origin from the seq in a log key. Org codes never contain it.
const KEY_SEPARATOR: u8 = 0x00;

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process has the store open (sled allows one per store).
    #[error("data dir {path} is in use by another lunxun process")]
    Locked { path: PathBuf },
    /// The engine reported an error.
    #[error("store {path}: {message}")]
    Engine { path: PathBuf, message: String },
    /// A write would leave the disk fuller than the store allows.
    #[error(
        "store {path}: the disk is nearly full ({free_mib} MiB free; this write needs about \
         {need_mib} MiB and {keep_mib} MiB are kept free): nothing was written; free space and \
         write again"
    )]
    Full {
        path: PathBuf,
        free_mib: u64,
        need_mib: u64,
        keep_mib: u64,
    },
    /// A stored entry does not have the expected layout.
    #[error("store {path}: corrupt entry: {reason}")]
    Corrupt { path: PathBuf, reason: String },
}

/// One stored change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// The change's origin (also inside `change`, duplicated in the key).
    pub origin: String,
    /// The change's seq (also inside `change`).
    pub seq: u64,
    /// When this node stored the change.
    pub received_at_ms: i64,
    /// The encoded change, as the origin wrote it.
    pub change: Bytes,
}

/// The on-disk store of one node.
pub struct Store {
    path: PathBuf,
    /// Dropped with the store unless it failed (see `Drop for Store`).
    db: std::mem::ManuallyDrop<sled::Db>,
    /// The first version's log, one change per key: read, cut, never
    /// written (see [`segment`]).
    log: sled::Tree,
    /// The log's segments.
    segments: sled::Tree,
    /// Whether tree `log` held anything at open (a store the first version
    /// wrote); when not, it is never read.
    legacy: bool,
    checkpoints: sled::Tree,
    meta: sled::Tree,
    accounts: sled::Tree,
    audit: sled::Tree,
    imports: sled::Tree,
    bulletins: sled::Tree,
    returned: sled::Tree,
    /// Whether [`Store::flush`] `fsync`s the files after sled's flush: always,
    /// but for benchmarks measuring what that costs.
    file_sync: AtomicBool,
    /// The first failure of the engine's files (a full disk, an I/O error,
    /// corruption found). After one, sled fails every later operation until
    /// the store is opened again, so a long-running process must end (and be
    /// restarted by its service manager) rather than stay up refusing writes.
    failed: OnceLock<String>,
    failure: tokio::sync::Notify,
    /// Bytes of the file system a log write leaves free (see
    /// [`Store::set_keep_free`]).
    keep_free: AtomicU64,
}

impl Drop for Store {
    /// Closes the engine, which flushes it. After a failure of its files the
    /// engine's flush waits for writes that will never complete, so a failed
    /// store leaves the engine open for the process's end: what it held
    /// durably is on disk, and the next open recovers from that.
    fn drop(&mut self) {
        if self.failed.get().is_none() {
            // SAFETY: `db` is not used again; this is the store's drop.
            unsafe { std::mem::ManuallyDrop::drop(&mut self.db) }
        }
    }
}

/// What a log write may cost on disk per byte of changes: the engine's log,
/// its page rewrites and its snapshot, with room to spare.
const DISK_BYTES_PER_BYTE: u64 = 3;

fn log_key(origin: &str, seq: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(origin.len() + 9);
    key.extend_from_slice(origin.as_bytes());
    key.push(KEY_SEPARATOR);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// Bytes an unprivileged process may still write on the file system holding
/// `path` (None where the system cannot say).
fn free_bytes(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut stats = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: c_path is a valid NUL-terminated string and stats a writable
    // statvfs; the call fills it when it returns 0.
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), stats.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it initialized stats.
    let stats = unsafe { stats.assume_init() };
    Some(stats.f_bavail.saturating_mul(stats.f_frsize))
}

fn origin_prefix(origin: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(origin.len() + 1);
    key.extend_from_slice(origin.as_bytes());
    key.push(KEY_SEPARATOR);
    key
}

/// The first key after every key of `origin`: its keys are
/// `origin ‖ 0x00 ‖ …`, and `origin ‖ 0x01` sorts after all of them and
/// before any longer origin's.
fn origin_end(origin: &str) -> Vec<u8> {
    let mut key = origin.as_bytes().to_vec();
    key.push(KEY_SEPARATOR + 1);
    key
}

impl Store {
    /// Opens (creating if needed) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let path = dir.to_path_buf();
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(CACHE_BYTES)
            .mode(sled::Mode::HighThroughput)
            .open()
            .map_err(|e| match &e {
                sled::Error::Io(io)
                    if io.kind() == std::io::ErrorKind::WouldBlock
                        || io.to_string().contains("lock") =>
                {
                    StoreError::Locked { path: path.clone() }
                }
                sled::Error::Corruption { .. } => StoreError::Engine {
                    path: path.clone(),
                    message: format!(
                        "the store's files are damaged ({e}): move the store directory aside and \
                         run `restore --from-upstream`, then import again what the parent never \
                         received"
                    ),
                },
                _ => StoreError::Engine {
                    path: path.clone(),
                    message: e.to_string(),
                },
            })?;
        let engine = |e: sled::Error| StoreError::Engine {
            path: path.clone(),
            message: e.to_string(),
        };
        let log = db.open_tree("log").map_err(engine)?;
        let segments = db.open_tree("segments").map_err(engine)?;
        let meta = db.open_tree("meta").map_err(engine)?;
        let checkpoints = db.open_tree("checkpoints").map_err(engine)?;
        let accounts = db.open_tree("accounts").map_err(engine)?;
        let audit = db.open_tree("audit").map_err(engine)?;
        let imports = db.open_tree("imports").map_err(engine)?;
        let bulletins = db.open_tree("bulletins").map_err(engine)?;
        let returned = db.open_tree("returned").map_err(engine)?;
        Ok(Store {
            path,
            db: std::mem::ManuallyDrop::new(db),
            legacy: !log.is_empty(),
            log,
            segments,
            checkpoints,
            meta,
            accounts,
            audit,
            imports,
            bulletins,
            returned,
            file_sync: AtomicBool::new(true),
            failed: OnceLock::new(),
            failure: tokio::sync::Notify::new(),
            keep_free: AtomicU64::new(
                crate::config::StoreConfig::DEFAULT_KEEP_FREE_MIB * 1024 * 1024,
            ),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn engine(&self, e: sled::Error) -> StoreError {
        let message = match &e {
            sled::Error::Io(io) if io.kind() == std::io::ErrorKind::StorageFull => {
                "the disk is full (no space left on device); free space, then start the node \
                 again (a running daemon exits so that its service manager restarts it)"
                    .to_owned()
            }
            _ => e.to_string(),
        };
        if matches!(
            e,
            sled::Error::Io(_) | sled::Error::Corruption { .. } | sled::Error::ReportableBug(_)
        ) {
            self.fail(&message);
        }
        StoreError::Engine {
            path: self.path.clone(),
            message,
        }
    }

    /// Sets the bytes of the file system that log writes leave free (0: no
    /// check; writes go on until the disk is full).
    pub fn set_keep_free(&self, bytes: u64) {
        self.keep_free.store(bytes, Ordering::Relaxed);
    }

    /// Refuses a write of about `bytes` on disk that would leave less than
    /// the space kept free.
    fn ensure_space(&self, bytes: u64) -> Result<(), StoreError> {
        let keep = self.keep_free.load(Ordering::Relaxed);
        if keep == 0 {
            return Ok(());
        }
        let Some(free) = free_bytes(&self.path) else {
            return Ok(());
        };
        if free >= keep.saturating_add(bytes) {
            return Ok(());
        }
        let mib = |b: u64| b.div_ceil(1024 * 1024);
        Err(StoreError::Full {
            path: self.path.clone(),
            free_mib: free / (1024 * 1024),
            need_mib: mib(bytes),
            keep_mib: mib(keep),
        })
    }

    /// Records the store's first failure and wakes [`Store::failed`].
    fn fail(&self, message: &str) {
        if self.failed.set(message.to_owned()).is_ok() {
            self.failure.notify_one();
        }
    }

    /// The store's failure, if its files failed since it opened: the store
    /// must be opened again (a restart) before it can be trusted.
    pub fn failure(&self) -> Option<&str> {
        self.failed.get().map(String::as_str)
    }

    /// Resolves when the store's files fail (see [`Store::failure`]).
    pub async fn failed(&self) -> String {
        loop {
            if let Some(message) = self.failure() {
                return message.to_owned();
            }
            self.failure.notified().await;
        }
    }

    fn corrupt(&self, reason: impl Into<String>) -> StoreError {
        StoreError::Corrupt {
            path: self.path.clone(),
            reason: reason.into(),
        }
    }

    /// A log key's origin and what follows its separator (the seq).
    fn split_key<'k>(&self, key: &'k [u8]) -> Result<(&'k str, &'k [u8]), StoreError> {
        let sep = key
            .iter()
            .position(|&b| b == KEY_SEPARATOR)
            .ok_or_else(|| self.corrupt("log key without separator"))?;
        let origin = std::str::from_utf8(&key[..sep])
            .map_err(|_| self.corrupt("log key origin is not utf-8"))?;
        Ok((origin, &key[sep + 1..]))
    }

    /// A log key's origin and last seq.
    fn segment_key<'k>(&self, key: &'k [u8]) -> Result<(&'k str, u64), StoreError> {
        let (origin, seq) = self.split_key(key)?;
        let seq: [u8; 8] = seq
            .try_into()
            .map_err(|_| self.corrupt(format!("log key of {origin} has a bad seq")))?;
        Ok((origin, u64::from_be_bytes(seq)))
    }

    /// The changes of the segment stored at `key`.
    fn decode(&self, key: &[u8], value: &[u8]) -> Result<Vec<LogEntry>, StoreError> {
        let (origin, last) = self.segment_key(key)?;
        let stored = segment::decode(last, value).map_err(|reason| {
            self.corrupt(format!("log segment of {origin} at seq {last}: {reason}"))
        })?;
        Ok(stored
            .into_iter()
            .map(|s| LogEntry {
                origin: origin.to_owned(),
                seq: s.seq,
                received_at_ms: s.received_at_ms,
                change: s.change,
            })
            .collect())
    }

    /// Appends entries durably: when this returns they survive a crash. If
    /// it fails or the process dies first, any subset of its segments may be
    /// stored, which the node's replay truncates to a dense prefix. The
    /// caller keeps each origin's log dense; the store refuses only a change
    /// at or below a seq it holds (segments never overlap).
    pub fn append(&self, entries: &[LogEntry]) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        self.insert(entries)?;
        self.flush()
    }

    /// Inserts entries without flushing: part of an append whose caller
    /// flushes at the end ([`Store::flush`]). Each origin's consecutive
    /// changes go in [segments](segment) of up to
    /// [`segment::SEGMENT_MAX_BYTES`], one insert each. Refused whole, before
    /// anything is written, when it would leave the disk with less than the
    /// space kept free, or when a change is at or below a seq the store
    /// already holds for its origin.
    pub fn insert(&self, entries: &[LogEntry]) -> Result<(), StoreError> {
        let bytes: u64 = entries
            .iter()
            .map(|e| (e.change.len() + e.origin.len() + 24) as u64)
            .sum();
        self.ensure_space(bytes.saturating_mul(DISK_BYTES_PER_BYTE))?;
        let mut order: Vec<&LogEntry> = entries.iter().collect();
        order.sort_by(|a, b| (a.origin.as_str(), a.seq).cmp(&(b.origin.as_str(), b.seq)));
        if cfg!(debug_assertions) {
            self.check_above_held(&order)?;
        }
        let mut value = Vec::with_capacity(segment::SEGMENT_MAX_BYTES + 1024);
        let mut run: Vec<&LogEntry> = Vec::new();
        let mut run_bytes = 0;
        let flush_run = |run: &mut Vec<&LogEntry>, value: &mut Vec<u8>| -> Result<(), StoreError> {
            let Some(last) = run.last() else {
                return Ok(());
            };
            value.clear();
            segment::encode(
                value,
                run.iter().map(|e| (e.received_at_ms, e.change.as_ref())),
            );
            self.segments
                .insert(log_key(&last.origin, last.seq), value.as_slice())
                .map_err(|e| self.engine(e))?;
            run.clear();
            Ok(())
        };
        for e in order {
            let extends = run
                .last()
                .is_some_and(|p| p.origin == e.origin && p.seq + 1 == e.seq);
            let size = e.change.len() + segment::PER_CHANGE;
            if !extends || run_bytes + size > segment::SEGMENT_MAX_BYTES {
                flush_run(&mut run, &mut value)?;
                run_bytes = segment::HEADER;
            }
            run.push(e);
            run_bytes += size;
        }
        flush_run(&mut run, &mut value)
    }

    /// Refuses changes (sorted by origin and seq) at or below a seq held for
    /// their origin, which would overlap a segment. The node's placement
    /// never appends one (each change follows the head under the write
    /// lock), so only builds with debug assertions (every test) pay this
    /// read per origin.
    fn check_above_held(&self, order: &[&LogEntry]) -> Result<(), StoreError> {
        let mut held: Option<(&str, u64)> = None;
        for e in order {
            let last = match held {
                Some((origin, last)) if origin == e.origin => last,
                _ => self.last_seq(&e.origin)?,
            };
            if e.seq <= last {
                return Err(self.corrupt(format!(
                    "a write of {} at seq {} would overlap the log, which holds it up to seq {last}",
                    e.origin, e.seq
                )));
            }
            held = Some((&e.origin, e.seq));
        }
        Ok(())
    }

    /// The trees holding the log, segments first: the first version's tree
    /// only if it held anything at open.
    fn log_trees(&self) -> impl Iterator<Item = &sled::Tree> {
        std::iter::once(&self.segments).chain(self.legacy.then_some(&self.log))
    }

    /// The last seq stored for `origin` (0: none), from its last key: in
    /// the segments, else in the first version's log (always below them).
    fn last_seq(&self, origin: &str) -> Result<u64, StoreError> {
        for tree in self.log_trees() {
            if let Some(key) = tree.scan_prefix(origin_prefix(origin)).keys().next_back() {
                let key = key.map_err(|e| self.engine(e))?;
                return Ok(self.segment_key(&key)?.1);
            }
        }
        Ok(0)
    }

    /// Removes every entry of `origin` with seq greater than `seq`, durably
    /// (a torn tail found at open, or a restore). Returns how many. The
    /// segment holding `seq` and later changes is cut in the same atomic
    /// batch that removes the segments after it; then the first version's
    /// single changes above `seq` go (each below every segment, so a crash
    /// in between leaves a dense prefix, or a hole that the next open's
    /// replay truncates again).
    pub fn truncate_after(&self, origin: &str, seq: u64) -> Result<usize, StoreError> {
        let above = log_key(origin, seq.saturating_add(1))..origin_end(origin);
        let mut batch = sled::Batch::default();
        let mut removed = 0usize;
        for kv in self.segments.range(above.clone()) {
            let (key, value) = kv.map_err(|e| self.engine(e))?;
            let (_, last) = self.segment_key(&key)?;
            let count = segment::count(&value).map_err(|reason| {
                self.corrupt(format!("log segment of {origin} at seq {last}: {reason}"))
            })?;
            let first = last.saturating_sub(count - 1);
            batch.remove(key.clone());
            if first <= seq {
                let kept = self.decode(&key, &value)?;
                let kept: Vec<&LogEntry> = kept.iter().filter(|e| e.seq <= seq).collect();
                let mut value = Vec::new();
                segment::encode(
                    &mut value,
                    kept.iter().map(|e| (e.received_at_ms, e.change.as_ref())),
                );
                batch.insert(log_key(origin, seq), value);
                removed += (last - seq) as usize;
            } else {
                removed += count as usize;
            }
        }
        self.segments
            .apply_batch(batch)
            .map_err(|e| self.engine(e))?;
        let single: Vec<sled::IVec> = self
            .log
            .range(above)
            .keys()
            .collect::<Result<_, _>>()
            .map_err(|e| self.engine(e))?;
        for key in &single {
            self.log.remove(key).map_err(|e| self.engine(e))?;
        }
        removed += single.len();
        self.remove_checkpoints_after(origin, seq)?;
        self.flush()?;
        Ok(removed)
    }

    /// Makes every write so far durable, across a power cut too: sled's
    /// flush, then an `fsync` of its files and directories.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map_err(|e| self.engine(e))?;
        if self.file_sync.load(Ordering::Relaxed) {
            sync_files(&self.path).map_err(|(file, e)| {
                let message = format!("fsync: {e}");
                self.fail(&message);
                StoreError::Engine {
                    path: file,
                    message,
                }
            })?;
        }
        Ok(())
    }

    /// Turns the `fsync` after sled's flush off (or on again): only for
    /// benchmarks measuring its cost. Writes are then durable across a
    /// process crash, not a power cut.
    pub fn set_file_sync(&self, on: bool) {
        self.file_sync.store(on, Ordering::Relaxed);
    }

    /// The entry of `origin` at `seq`: in the first segment ending at or
    /// after it, or the first version's single change.
    pub fn entry(&self, origin: &str, seq: u64) -> Result<Option<LogEntry>, StoreError> {
        for tree in self.log_trees() {
            let Some(kv) = tree.range(log_key(origin, seq)..origin_end(origin)).next() else {
                continue;
            };
            let (key, value) = kv.map_err(|e| self.engine(e))?;
            if let Some(e) = self
                .decode(&key, &value)?
                .into_iter()
                .find(|e| e.seq == seq)
            {
                return Ok(Some(e));
            }
        }
        Ok(None)
    }

    /// The newest entry of `origin`.
    pub fn last(&self, origin: &str) -> Result<Option<LogEntry>, StoreError> {
        for tree in self.log_trees() {
            if let Some(kv) = tree.scan_prefix(origin_prefix(origin)).next_back() {
                let (k, v) = kv.map_err(|e| self.engine(e))?;
                return Ok(self.decode(&k, &v)?.pop());
            }
        }
        Ok(None)
    }

    /// Every origin held, in order.
    fn origins(&self) -> Result<Vec<String>, StoreError> {
        let mut out = std::collections::BTreeSet::new();
        for tree in self.log_trees() {
            let mut from: Vec<u8> = Vec::new();
            while let Some(first) = tree.range(from.as_slice()..).keys().next() {
                let key = first.map_err(|e| self.engine(e))?;
                let (origin, _) = self.split_key(&key)?;
                from = origin_end(origin);
                out.insert(origin.to_owned());
            }
        }
        Ok(out.into_iter().collect())
    }

    /// The newest entry of every origin held, in origin order.
    pub fn heads(&self) -> Result<Vec<LogEntry>, StoreError> {
        let mut out = Vec::new();
        for origin in self.origins()? {
            if let Some(last) = self.last(&origin)? {
                out.push(last);
            }
        }
        Ok(out)
    }

    /// The entries of `origin` with seq greater than `after`, in order.
    pub fn scan(
        &self,
        origin: &str,
        after: u64,
    ) -> impl Iterator<Item = Result<LogEntry, StoreError>> + use<'_> {
        let range = log_key(origin, after.saturating_add(1))..origin_end(origin);
        // The first version's single changes are all below the segments.
        let legacy = self
            .legacy
            .then(|| self.entries(self.log.range(range.clone()), after));
        legacy
            .into_iter()
            .flatten()
            .chain(self.entries(self.segments.range(range), after))
    }

    /// Every entry, origin by origin, each origin in seq order.
    pub fn scan_all(&self) -> impl Iterator<Item = Result<LogEntry, StoreError>> + '_ {
        // One pass over the segments, unless the first version's changes
        // must go before each origin's.
        let (origins, error) = match self.legacy.then(|| self.origins()) {
            None => (None, None),
            Some(Ok(origins)) => (Some(origins), None),
            Some(Err(e)) => (Some(Vec::new()), Some(Err(e))),
        };
        let segments = origins
            .is_none()
            .then(|| self.entries(self.segments.iter(), 0));
        error
            .into_iter()
            .chain(segments.into_iter().flatten())
            .chain(
                origins
                    .into_iter()
                    .flatten()
                    .flat_map(move |o| self.scan(&o, 0)),
            )
    }

    /// The entries of the segments `segments` yields with seq above `after`
    /// (only the first segment can hold some at or below it).
    fn entries(
        &self,
        segments: sled::Iter,
        after: u64,
    ) -> impl Iterator<Item = Result<LogEntry, StoreError>> + use<'_> {
        segments.flat_map(move |kv| {
            let decoded = kv
                .map_err(|e| self.engine(e))
                .and_then(|(k, v)| self.decode(&k, &v));
            let (entries, error) = match decoded {
                Ok(entries) => (entries, None),
                Err(e) => (Vec::new(), Some(Err(e))),
            };
            entries
                .into_iter()
                .filter(move |e| e.seq > after)
                .map(Ok)
                .chain(error)
        })
    }

    /// A named value.
    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .meta
            .get(key.as_bytes())
            .map_err(|e| self.engine(e))?
            .map(|v| v.to_vec()))
    }

    /// Sets a named value durably.
    fn set_meta(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.meta
            .insert(key.as_bytes(), value)
            .map_err(|e| self.engine(e))?;
        self.flush()
    }

    /// Removes a named value durably.
    fn remove_meta(&self, key: &str) -> Result<(), StoreError> {
        self.meta
            .remove(key.as_bytes())
            .map_err(|e| self.engine(e))?;
        self.flush()
    }

    /// Named values whose key starts with `prefix`, in key order.
    fn meta_with_prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.meta
            .scan_prefix(prefix.as_bytes())
            .map(|kv| {
                let (k, v) = kv.map_err(|e| self.engine(e))?;
                Ok((String::from_utf8_lossy(&k).into_owned(), v.to_vec()))
            })
            .collect()
    }

    /// Bytes the store occupies on disk.
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }
}

/// `fsync`s what sled wrote in the store directory `dir`: its log and
/// config files, its blobs, and the directories (a snapshot's rename, a new
/// file). A file sled has not created (yet) is skipped. On failure, names
/// the file.
fn sync_files(dir: &Path) -> Result<(), (PathBuf, std::io::Error)> {
    let sync = |path: PathBuf| match std::fs::File::open(&path) {
        Ok(f) => f.sync_all().map_err(|e| (path, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err((path, e)),
    };
    for name in ENGINE_FILES {
        sync(dir.join(name))?;
    }
    let blobs = dir.join(BLOBS_DIR);
    match std::fs::read_dir(&blobs) {
        Ok(entries) => {
            for entry in entries {
                let entry = entry.map_err(|e| (blobs.clone(), e))?;
                sync(entry.path())?;
            }
            sync(blobs)?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err((blobs, e)),
    }
    sync(dir.to_path_buf())
}

/// Inserts `records` (key, value) one by one into a fresh sled tree in `dir`
/// and flushes: the baseline the benchmarks compare every write path with.
pub fn raw_insert_baseline(dir: &Path, records: &[(Vec<u8>, Vec<u8>)]) -> Result<(), StoreError> {
    let store = Store::open(dir)?;
    let tree = store
        .db
        .open_tree("baseline")
        .map_err(|e| store.engine(e))?;
    for (k, v) in records {
        tree.insert(k.as_slice(), v.as_slice())
            .map_err(|e| store.engine(e))?;
    }
    store.flush()
}

/// The log key of a change: exposed for benchmarks that reproduce the layout.
pub fn change_key(origin: &str, seq: u64) -> Vec<u8> {
    log_key(origin, seq)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(origin: &str, seq: u64) -> LogEntry {
        LogEntry {
            origin: origin.into(),
            seq,
            received_at_ms: 1_000 + seq as i64,
            change: Bytes::from(format!("{origin}/{seq}")),
        }
    }

    #[test]
    fn append_scan_and_heads() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert!(store.heads().unwrap().is_empty());
        let mut batch = Vec::new();
        for seq in 1..=300 {
            batch.push(entry("410102", seq));
        }
        for seq in 1..=3 {
            batch.push(entry("AB", seq));
            batch.push(entry("AB-C", seq));
            batch.push(entry("410100", seq));
        }
        store.append(&batch).unwrap();
        let heads = store.heads().unwrap();
        let summary: Vec<(String, u64)> = heads.iter().map(|e| (e.origin.clone(), e.seq)).collect();
        assert_eq!(
            summary,
            vec![
                ("410100".into(), 3),
                ("410102".into(), 300),
                ("AB".into(), 3),
                ("AB-C".into(), 3)
            ]
        );
        // Seqs sort numerically (big-endian), not as text.
        let tail: Vec<u64> = store.scan("410102", 255).map(|e| e.unwrap().seq).collect();
        assert_eq!(tail, (256..=300).collect::<Vec<_>>());
        assert_eq!(store.scan("AB", 0).count(), 3);
        assert_eq!(store.entry("AB-C", 2).unwrap(), Some(entry("AB-C", 2)));
        assert_eq!(store.entry("AB-C", 4).unwrap(), None);
        assert_eq!(store.scan_all().count(), 309);
        assert_eq!(store.truncate_after("410102", 250).unwrap(), 50);
        assert_eq!(store.last("410102").unwrap().map(|e| e.seq), Some(250));
        assert_eq!(store.truncate_after("410102", 250).unwrap(), 0);
        assert_eq!(store.last("410100").unwrap().map(|e| e.seq), Some(3));
    }

    fn big(origin: &str, seq: u64) -> LogEntry {
        LogEntry {
            change: Bytes::from(vec![seq as u8; 300 + (seq as usize % 7) * 50]),
            ..entry(origin, seq)
        }
    }

    #[test]
    fn segments_split_cut_and_refuse_overlaps() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        // 1,000 changes of about 450 bytes: several segments, interleaved
        // with another origin in the caller's order.
        let mut batch: Vec<LogEntry> = (1..=1_000).map(|s| big("410102", s)).collect();
        batch.insert(500, entry("410103", 1));
        store.append(&batch).unwrap();
        let segments = store.segments.len();
        assert!((100..500).contains(&segments), "{segments} segments");
        let all: Vec<LogEntry> = store.scan("410102", 0).map(Result::unwrap).collect();
        assert_eq!(
            all,
            (1..=1_000).map(|s| big("410102", s)).collect::<Vec<_>>()
        );
        for seq in [1, 2, 77, 500, 999, 1_000] {
            assert_eq!(
                store.entry("410102", seq).unwrap(),
                Some(big("410102", seq))
            );
            let tail: Vec<u64> = store.scan("410102", seq).map(|e| e.unwrap().seq).collect();
            assert_eq!(tail, (seq + 1..=1_000).collect::<Vec<_>>());
        }
        assert_eq!(store.entry("410102", 1_001).unwrap(), None);
        assert_eq!(store.entry("410102", 0).unwrap(), None);
        // A change at or below a seq held is refused, and nothing of the
        // write is stored.
        let err = store
            .append(&[entry("410103", 2), big("410102", 1_000)])
            .unwrap_err();
        assert!(err.to_string().contains("overlap"), "{err}");
        assert_eq!(store.last("410103").unwrap(), Some(entry("410103", 1)));
        // Cutting inside a segment keeps its head and removes the rest.
        assert_eq!(store.truncate_after("410102", 333).unwrap(), 667);
        let kept: Vec<u64> = store.scan("410102", 0).map(|e| e.unwrap().seq).collect();
        assert_eq!(kept, (1..=333).collect::<Vec<_>>());
        assert_eq!(store.last("410102").unwrap(), Some(big("410102", 333)));
        store.append(&[big("410102", 334)]).unwrap();
        assert_eq!(store.last("410102").unwrap(), Some(big("410102", 334)));
        assert_eq!(store.scan_all().count(), 335);
        assert_eq!(store.truncate_after("410102", 0).unwrap(), 334);
        assert_eq!(store.last("410102").unwrap(), None);
    }

    #[test]
    fn segments_stay_inline_in_the_engine() {
        // sled writes a tree node over its inline limit as a blob file, and
        // every flush syncs every blob file: the log's segments must keep
        // its nodes under that limit. 40,000 changes of a typical size.
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        for chunk in (1..=40_000u64).collect::<Vec<_>>().chunks(2_000) {
            let batch: Vec<LogEntry> = chunk
                .iter()
                .map(|&seq| LogEntry {
                    change: Bytes::from(vec![seq as u8; 180]),
                    ..entry("410102", seq)
                })
                .collect();
            store.append(&batch).unwrap();
        }
        let blobs = std::fs::read_dir(dir.path().join(BLOBS_DIR)).map_or(0, |d| d.count());
        assert_eq!(blobs, 0, "blob files written for the log");
        assert_eq!(store.scan("410102", 0).count(), 40_000);
    }

    #[test]
    fn a_store_of_the_first_layout_reads_and_grows() {
        let dir = tempfile::tempdir().unwrap();
        {
            // The first version's layout, byte for byte: one change per key.
            let store = Store::open(dir.path()).unwrap();
            for (origin, seq) in (1..=5).map(|s| ("410102", s)).chain([("410101", 1)]) {
                let e = entry(origin, seq);
                let mut value = e.received_at_ms.to_be_bytes().to_vec();
                value.extend_from_slice(&e.change);
                store.log.insert(change_key(origin, seq), value).unwrap();
            }
            store.flush().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.last("410102").unwrap(), Some(entry("410102", 5)));
        assert_eq!(store.entry("410102", 3).unwrap(), Some(entry("410102", 3)));
        store
            .append(&[entry("410102", 6), entry("410102", 7)])
            .unwrap();
        let all: Vec<LogEntry> = store.scan("410102", 2).map(Result::unwrap).collect();
        assert_eq!(all, (3..=7).map(|s| entry("410102", s)).collect::<Vec<_>>());
        assert_eq!(store.truncate_after("410102", 4).unwrap(), 3);
        // Origins of both layouts, in origin order.
        store.append(&[entry("410100", 1)]).unwrap();
        assert_eq!(
            store.heads().unwrap(),
            vec![entry("410100", 1), entry("410101", 1), entry("410102", 4)]
        );
        let all: Vec<(String, u64)> = store
            .scan_all()
            .map(|e| e.map(|e| (e.origin, e.seq)).unwrap())
            .collect();
        assert_eq!(all.len(), 6);
        assert_eq!(all[2], ("410102".into(), 1));
        // A damaged value is a one-line error naming the origin and seq.
        store
            .segments
            .insert(change_key("410102", 9), &[0x7f, 1][..])
            .unwrap();
        let err = store.last("410102").unwrap_err().to_string();
        assert!(err.contains("410102 at seq 9"), "{err}");
    }

    #[test]
    fn survives_reopen_and_refuses_a_second_opener() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            store
                .append(&[entry("410102", 1), entry("410102", 2)])
                .unwrap();
            store.set_meta("k", b"v").unwrap();
            match Store::open(dir.path()) {
                Err(StoreError::Locked { .. }) => {}
                Err(e) => panic!("unexpected error {e}"),
                Ok(_) => panic!("a second opener must be refused"),
            }
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.last("410102").unwrap(), Some(entry("410102", 2)));
        assert_eq!(store.meta("k").unwrap().as_deref(), Some(&b"v"[..]));
        store.remove_meta("k").unwrap();
        assert_eq!(store.meta("k").unwrap(), None);
    }
}
