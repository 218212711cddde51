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
//!   its key range. After every origin's keys, under `0xFF ‖ pack id (u64
//!   BE)`, the [packs](pack): the short runs of many origins, one value
//!   for several origins' runs. An origin's log is its segments and its
//!   packed runs, which never overlap; where the packed runs are is kept in
//!   memory (rebuilt from the packs at open), and a version vector is each
//!   origin's last key or last packed run, whichever is higher.
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
//! run of an origin's changes (or per pack of several origins' short runs),
//! and then flushes: when it returns, they survive a process crash. Each
//! segment or pack is one insert, so it is stored whole or not at all; a
//! compaction of packs and a cut are one atomic sled batch each. A crash
//! during an append can only leave a torn tail of some origins' logs
//! (segments or packed runs after a hole, or never-flushed ones),
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
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{OnceLock, RwLock};

use bytes::Bytes;

mod accounts;
mod bulletins;
mod checkpoints;
mod compaction;
mod imports;
mod log;
mod meta;
mod pack;
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
    /// The log's segments, and its [packs](pack) after them.
    segments: sled::Tree,
    /// Where each packed run is (rebuilt from the packs at open).
    packed: RwLock<pack::Index>,
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
        let packed = log::read_packs(&segments).map_err(|e| match e {
            Ok(e) => engine(e),
            Err(reason) => StoreError::Corrupt {
                path: path.clone(),
                reason,
            },
        })?;
        Ok(Store {
            path,
            db: std::mem::ManuallyDrop::new(db),
            legacy: !log.is_empty(),
            log,
            segments,
            packed: RwLock::new(packed),
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
