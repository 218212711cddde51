//! The view's snapshot: the in-memory view and rollups, kept in a file beside
//! the store so that a node opens by reading them and replaying only the log's
//! tail after them, instead of the whole log (tens of seconds at the national
//! node).
//!
//! The log stays the truth. A snapshot names the log heads it reflects (each
//! origin's seq and hash), the directory its dense ids mean
//! ([`OrgDirectory::digest`]), the returned trainings it shows (their combined
//! digest) and, per rollup, the policy it counted with; it is sealed by a
//! BLAKE3 digest over every byte. Opening uses it only if the seal holds,
//! the directory and returned trainings are the same, and the log holds every
//! head it names with the same hash; otherwise it is ignored with a line in
//! the log and the whole log is replayed. So a snapshot can be stale, torn,
//! from another store or damaged, and the view is still the log's.
//!
//! It is written to a temporary file, synced and renamed into place (a crash
//! leaves the old one or the new one), readable by the owner only: it holds
//! the people's records, as the store does. Dense ids are only meaningful
//! under the directory whose [`crate::orgs::OrgDirectory::digest`] it names.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Instant;

use lunxun_core::bytes::{Drain, Reader, Writer};
use lunxun_core::returns::child::Held;
use lunxun_core::rollup::{Rollup, Rollups};
use tracing::{debug, info, warn};

use super::replay::{Replayed, replay_tails};
use super::{Node, returned};
use crate::changelog::Head;
use crate::error::{Error, Result};
use crate::orgs::OrgId;
use crate::store::Store;
use crate::view::View;
use lunxun_core::bulletin::InForce;

/// The snapshot's file in the data dir.
pub const SNAPSHOT_FILE: &str = "view.snapshot";

const MAGIC: &[u8; 12] = b"LUNXUN-VIEW\n";
/// The byte format's version: a file of another one is ignored (the log is
/// replayed), never misread. 2: a rollup's counted entries are written by
/// person ([`Rollup::write_snapshot`]).
const FORMAT: u32 = 2;

/// Changes replayed at open after which a command run without a daemon
/// writes a snapshot as it ends (the daemon follows `[store]
/// snapshot_after_changes`); also what a change of the directory or a cut
/// log counts as, so the daemon writes one soon after.
pub const SNAPSHOT_AFTER_CHANGES: u64 = crate::config::StoreConfig::DEFAULT_SNAPSHOT_AFTER_CHANGES;

/// What a written snapshot holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotWritten {
    pub bytes: u64,
    /// Changes the view reflects (the sum of its heads).
    pub changes: u64,
    pub rollups: usize,
}

/// A snapshot read back and checked against the store, with the tail replayed.
pub(super) struct Opened {
    pub view: View,
    pub rollups: Rollups,
    pub held: Held,
    pub unknown: u64,
    pub tail: u64,
}

fn policy_digest(policy: &crate::policy::Policy) -> [u8; 32] {
    let text = toml::to_string(policy).unwrap_or_default();
    *blake3::hash(text.as_bytes()).as_bytes()
}

/// The snapshot's path in the data dir `dir`.
pub fn snapshot_path(dir: &Path) -> PathBuf {
    dir.join(SNAPSHOT_FILE)
}

impl Node {
    /// Writes the view and the rollups kept to the snapshot file, replacing
    /// the one before. Encoded into the file under the view's read lock
    /// (writers wait that long: about a second at the national node, the
    /// page cache taking the bytes), then sealed and synced after it.
    pub fn write_snapshot(&self) -> Result<SnapshotWritten> {
        let _one_at_a_time = self
            .snapshot_writing
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let started = Instant::now();
        let orgs = self.orgs();
        let in_force = self.in_force();
        let unknown_heads: Vec<(String, Head)> = self
            .store
            .heads()?
            .into_iter()
            .filter(|e| orgs.get(&e.origin).is_none())
            .filter_map(|e| {
                let change = crate::codec::decode_change(e.change.clone()).ok()?;
                Some((
                    e.origin,
                    Head {
                        seq: change.seq,
                        hash: change.hash,
                        written_at_ms: change.written_at_ms,
                        received_at_ms: e.received_at_ms,
                    },
                ))
            })
            .collect();
        let io_error = |source| {
            Error::Config(crate::config::ConfigError::Io {
                path: snapshot_path(&self.dir),
                source,
            })
        };
        let mut file = SnapshotFile::create(&self.dir).map_err(io_error)?;
        let (changes, rollups) = {
            let mut w = Writer::draining(&mut file);
            w.bytes(MAGIC);
            w.u32(FORMAT);
            w.bytes(&orgs.digest());
            let view = self.view();
            let held = self.held();
            let rollups = self.rollups.lock().unwrap_or_else(|p| p.into_inner());
            w.bytes(&held.combined());
            w.len(unknown_heads.len());
            for (origin, h) in &unknown_heads {
                w.str(origin);
                w.u64(h.seq);
                w.bytes(&h.hash);
            }
            view.write_snapshot(&mut w);
            w.len(rollups.kept().len());
            for r in rollups.kept() {
                w.bytes(&policy_digest(in_force.policy_at(r.as_of())));
                r.write_snapshot(&mut w);
            }
            w.finish();
            let changes: u64 = view.heads().map(|(_, h)| h.seq).sum();
            (changes, rollups.kept().len())
        };
        let bytes = file.seal_and_replace(&self.dir).map_err(io_error)?;
        self.since_snapshot.store(0, Ordering::Relaxed);
        info!(
            bytes,
            changes,
            rollups,
            ms = started.elapsed().as_millis() as u64,
            "view snapshot written"
        );
        Ok(SnapshotWritten {
            bytes,
            changes,
            rollups,
        })
    }

    /// Changes applied to the view since it was last written or read.
    pub fn changes_since_snapshot(&self) -> u64 {
        self.since_snapshot.load(Ordering::Relaxed)
    }

    /// Writes a snapshot if at least `changes` were applied since the last
    /// one; a failure is a line in the log (the log stays the truth).
    pub fn snapshot_if_changed(&self, changes: u64) {
        if self.changes_since_snapshot() >= changes.max(1)
            && let Err(e) = self.write_snapshot()
        {
            warn!(error = %e, "cannot write the view snapshot; the next open replays more of the log");
        }
    }
}

/// Reads a snapshot's two halves on two threads.
struct Threads;

impl lunxun_core::view::snapshot::Join for Threads {
    fn join<A: Send, B: Send>(
        self,
        a: impl FnOnce() -> A + Send,
        b: impl FnOnce() -> B + Send,
    ) -> (A, B) {
        std::thread::scope(|s| {
            let other = s.spawn(b);
            let a = a();
            match other.join() {
                Ok(b) => (a, b),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }
}

/// The snapshot being written: a temporary file beside the snapshot,
/// readable by its owner only, that the encoder drains into (so the
/// snapshot's bytes are never all in memory: at the national node they are
/// hundreds of megabytes).
struct SnapshotFile {
    file: std::io::BufWriter<std::fs::File>,
    /// The first error writing it (a [`Drain`] cannot return one).
    error: Option<std::io::Error>,
}

impl SnapshotFile {
    fn tmp_path(dir: &Path) -> PathBuf {
        dir.join(format!("{SNAPSHOT_FILE}.tmp"))
    }

    fn create(dir: &Path) -> std::io::Result<SnapshotFile> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(Self::tmp_path(dir))?;
        Ok(SnapshotFile {
            file: std::io::BufWriter::with_capacity(1 << 20, file),
            error: None,
        })
    }

    fn attempt(&mut self, write: impl FnOnce(&mut Self) -> std::io::Result<()>) {
        if self.error.is_none()
            && let Err(e) = write(self)
        {
            self.error = Some(e);
        }
    }

    /// Seals what was written (a BLAKE3 digest of every byte, read back
    /// from the file since lengths were set in place), syncs it, and renames
    /// it over the snapshot; returns its size.
    fn seal_and_replace(mut self, dir: &Path) -> std::io::Result<u64> {
        use std::io::{Seek, SeekFrom};
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let mut file = self.file.into_inner().map_err(|e| e.into_error())?;
        file.seek(SeekFrom::Start(0))?;
        let mut hasher = blake3::Hasher::new();
        let size = std::io::copy(&mut file, &mut hasher)?;
        file.write_all(hasher.finalize().as_bytes())?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(Self::tmp_path(dir), snapshot_path(dir))?;
        std::fs::File::open(dir)?.sync_all()?;
        Ok(size + 32)
    }
}

impl Drain for SnapshotFile {
    fn write(&mut self, bytes: &[u8]) {
        self.attempt(|f| f.file.write_all(bytes));
    }

    fn overwrite(&mut self, at: u64, bytes: &[u8]) {
        use std::io::{Seek, SeekFrom};
        self.attempt(|f| {
            f.file.seek(SeekFrom::Start(at))?;
            f.file.write_all(bytes)?;
            f.file.seek(SeekFrom::End(0)).map(drop)
        });
    }
}

/// Reads the snapshot in `dir`, checks it against the store, and replays the
/// log's tail after it. `None` (with the reason in the log) when there is
/// none or it cannot be used: the caller replays the whole log.
pub(super) fn open(
    dir: &Path,
    store: &Store,
    in_force: &InForce,
    me: OrgId,
) -> Result<Option<Opened>> {
    let file = snapshot_path(dir);
    let bytes = match std::fs::read(&file) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            debug!("no view snapshot: replaying the whole log");
            return Ok(None);
        }
        Err(e) => {
            warn!(file = %file.display(), error = %e, "cannot read the view snapshot: replaying the whole log");
            return Ok(None);
        }
    };
    let started = Instant::now();
    let orgs = in_force.orgs();
    let ignore = |reason: &str| {
        warn!(file = %file.display(), reason, "the view snapshot is not used: replaying the whole log");
        Ok(None)
    };
    if bytes.len() < MAGIC.len() + 32 {
        return ignore("too short");
    }
    let (body, seal) = bytes.split_at(bytes.len() - 32);
    if blake3::hash(body).as_bytes() != seal {
        return ignore("its seal does not match (a damaged or torn file)");
    }
    let mut r = Reader::new(body);
    let header = (|| {
        let magic = r.take(MAGIC.len())?;
        let format = r.u32()?;
        let directory: [u8; 32] = r.array()?;
        let returned: [u8; 32] = r.array()?;
        Ok::<_, lunxun_core::bytes::Malformed>((magic == MAGIC, format, directory, returned))
    })();
    let Ok((true, FORMAT, directory, returned_digest)) = header else {
        return ignore("not a view snapshot of this version");
    };
    if directory != orgs.digest() {
        return ignore("the org directory changed since it was written");
    }
    let read_ms = started.elapsed().as_millis() as u64;
    let held = returned::load(store, orgs, me, None)?;
    if held.combined() != returned_digest {
        return ignore("the returned trainings changed since it was written");
    }
    let read = (|| {
        let mut unknown = Vec::new();
        for _ in 0..r.count(34)? {
            let origin = r.str()?.to_owned();
            let seq = r.u64()?;
            let hash: [u8; 32] = r.array()?;
            unknown.push((origin, seq, hash));
        }
        let view = View::read_snapshot_with(&mut r, orgs, Threads)?;
        let mut rollups = Vec::new();
        for _ in 0..r.count(33)? {
            let policy: [u8; 32] = r.array()?;
            rollups.push((policy, Rollup::read_snapshot(&mut r, orgs)?));
        }
        if r.remaining() != 0 {
            return Err(lunxun_core::bytes::Malformed("bytes after the end".into()));
        }
        Ok((unknown, view, rollups))
    })();
    let (unknown, mut view, rollups) = match read {
        Ok(x) => x,
        Err(e) => {
            return ignore(&format!("it does not read: {e}"));
        }
    };
    let decoded_ms = started.elapsed().as_millis() as u64;
    // Every head it names must be in the log with the same hash.
    let mut starts: HashMap<String, Head> = HashMap::new();
    for (id, head) in view.heads() {
        starts.insert(orgs.code(id).to_owned(), *head);
    }
    for (origin, seq, hash) in unknown {
        starts.insert(
            origin,
            Head {
                seq,
                hash,
                written_at_ms: 0,
                received_at_ms: 0,
            },
        );
    }
    for (origin, head) in &starts {
        let held = store
            .entry(origin, head.seq)?
            .and_then(|e| crate::codec::decode_change(e.change).ok());
        if held.is_none_or(|c| c.hash != head.hash) {
            return ignore(
                "the log does not hold a head it reflects (a truncated or restored store)",
            );
        }
    }
    let mut kept = Rollups::default();
    for (policy, rollup) in rollups {
        if policy == policy_digest(in_force.policy_at(rollup.as_of())) {
            kept.keep(rollup);
        }
    }
    let checked_ms = started.elapsed().as_millis() as u64;
    let Replayed { applied, unknown } =
        replay_tails(store, orgs, &mut view, &starts, |v, t| kept.touch(v, t))?;
    info!(
        tail = applied,
        bytes = bytes.len(),
        read_ms,
        decoded_ms,
        checked_ms,
        ms = started.elapsed().as_millis() as u64,
        "view read from its snapshot"
    );
    Ok(Some(Opened {
        view,
        rollups: kept,
        held,
        unknown,
        tail: applied,
    }))
}

#[cfg(test)]
mod tests;
