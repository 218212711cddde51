//! The log in the store: each origin's changes in [segments](super::segment)
//! and [packs](super::pack), written, read in seq order, and cut.

use std::sync::{RwLockReadGuard, RwLockWriteGuard};

use super::{
    DISK_BYTES_PER_BYTE, KEY_SEPARATOR, LogEntry, Store, StoreError, log_key, origin_end,
    origin_prefix, pack, segment,
};

/// A pack read, its runs found.
struct PackRead {
    id: u64,
    value: sled::IVec,
    runs: Vec<pack::RunAt>,
    /// Where the next run read is looked for first: a scan reads a pack's
    /// runs in the order they are stored.
    next: usize,
}

/// A run of one origin's consecutive changes being packed.
pub(super) struct NewRun<'o> {
    pub origin: &'o str,
    pub first: u64,
    pub last: u64,
    /// Its segment.
    pub segment: &'o [u8],
}

/// Bytes the segment of `run` takes.
fn segment_bytes(run: &[&LogEntry]) -> usize {
    segment::HEADER
        + run
            .iter()
            .map(|e| e.change.len() + segment::PER_CHANGE)
            .sum::<usize>()
}

/// `order` (sorted by origin and seq) cut into runs of one origin's
/// consecutive changes, each a segment of up to
/// [`segment::SEGMENT_MAX_BYTES`] (more only for a single larger change).
pub(super) fn cut_runs<'e, 'o>(order: &'o [&'e LogEntry]) -> Vec<&'o [&'e LogEntry]> {
    let mut runs = Vec::new();
    let (mut start, mut bytes) = (0, segment::HEADER);
    for (i, e) in order.iter().enumerate() {
        let size = e.change.len() + segment::PER_CHANGE;
        if i > start {
            let p = order[i - 1];
            let extends = p.origin == e.origin && p.seq + 1 == e.seq;
            if !extends || bytes + size > segment::SEGMENT_MAX_BYTES {
                runs.push(&order[start..i]);
                (start, bytes) = (i, segment::HEADER);
            }
        }
        bytes += size;
    }
    if start < order.len() {
        runs.push(&order[start..]);
    }
    runs
}

/// Writes `runs` in packs of up to [`segment::SEGMENT_MAX_BYTES`] with
/// `put` (key, value), adding each to `index` once it is put. The error is
/// `put`'s, or a run that overlaps one indexed.
pub(super) fn write_packs(
    index: &mut pack::Index,
    runs: Vec<NewRun<'_>>,
    mut put: impl FnMut([u8; 9], &[u8]) -> Result<(), StoreError>,
) -> Result<(), Result<StoreError, String>> {
    let mut value = Vec::with_capacity(segment::SEGMENT_MAX_BYTES + 1024);
    let mut start = 0;
    while start < runs.len() {
        let mut end = start;
        let mut bytes = pack::HEADER;
        while end < runs.len() {
            let size = pack::run_bytes(runs[end].origin, runs[end].segment.len());
            if end > start && bytes + size > segment::SEGMENT_MAX_BYTES {
                break;
            }
            bytes += size;
            end += 1;
        }
        let group = &runs[start..end];
        value.clear();
        pack::encode(
            &mut value,
            group.iter().map(|r| (r.origin, r.last, r.segment)),
        );
        let id = index.take_id();
        put(pack::key(id), &value).map_err(Ok)?;
        for r in group {
            let run = pack::Packed {
                first: r.first,
                last: r.last,
                pack: id,
            };
            index.add(r.origin, run).map_err(Err)?;
        }
        start = end;
    }
    Ok(())
}

/// Where every packed run of the segments tree `segments` is.
pub(super) fn read_packs(
    segments: &sled::Tree,
) -> Result<pack::Index, Result<sled::Error, String>> {
    let mut runs = Vec::new();
    let mut next = 0;
    for kv in segments.range(&[pack::KEY_PREFIX][..]..) {
        let (key, value) = kv.map_err(Ok)?;
        let id = pack::id(&key).map_err(Err)?;
        let found = pack::runs(&value).map_err(|reason| Err(format!("log pack {id}: {reason}")))?;
        next = id + 1;
        runs.extend(found.into_iter().map(|r| {
            let run = pack::Packed {
                first: r.first,
                last: r.last,
                pack: id,
            };
            (r.origin.to_owned(), run)
        }));
    }
    pack::Index::of(runs, next).map_err(|reason| Err(format!("log packs: {reason}")))
}

/// The log entries of `origin` read from a segment.
fn entries_of(origin: &str, stored: Vec<segment::Stored>) -> Vec<LogEntry> {
    stored
        .into_iter()
        .map(|s| LogEntry {
            origin: origin.to_owned(),
            seq: s.seq,
            received_at_ms: s.received_at_ms,
            change: s.change,
        })
        .collect()
}

/// Two iterators of entries, each sorted by origin and seq, merged in that
/// order; an error goes out as soon as it is next on either side.
fn merge<'a>(
    a: impl Iterator<Item = Result<LogEntry, StoreError>> + 'a,
    b: impl Iterator<Item = Result<LogEntry, StoreError>> + 'a,
) -> impl Iterator<Item = Result<LogEntry, StoreError>> + 'a {
    let (mut a, mut b) = (a.peekable(), b.peekable());
    let mut last: Option<(String, u64)> = None;
    std::iter::from_fn(move || {
        loop {
            let first = match (a.peek(), b.peek()) {
                (None, None) => return None,
                (Some(_), None) | (Some(Err(_)), _) => true,
                (None, Some(_)) | (_, Some(Err(_))) => false,
                (Some(Ok(x)), Some(Ok(y))) => {
                    (x.origin.as_str(), x.seq) <= (y.origin.as_str(), y.seq)
                }
            };
            let next = if first { a.next() } else { b.next() };
            let Some(Ok(entry)) = next else {
                return next;
            };
            // A run moved while it was read is met twice (see
            // `Store::read_run`): once is enough.
            if last
                .as_ref()
                .is_some_and(|(o, s)| *o == entry.origin && *s >= entry.seq)
            {
                continue;
            }
            match &mut last {
                Some((o, s)) => {
                    if *o != entry.origin {
                        // The buffer is reused: no allocation per origin.
                        o.clear();
                        o.push_str(&entry.origin);
                    }
                    *s = entry.seq;
                }
                None => last = Some((entry.origin.clone(), entry.seq)),
            }
            return Some(Ok(entry));
        }
    })
}

impl Store {
    /// A log key's origin and what follows its separator (the seq).
    pub(super) fn split_key<'k>(&self, key: &'k [u8]) -> Result<(&'k str, &'k [u8]), StoreError> {
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
        Ok(entries_of(origin, stored))
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
    /// [`segment::SEGMENT_MAX_BYTES`], one insert each; when the append has
    /// more than one short run (several origins of a few changes each),
    /// those go in [packs](pack) instead, many runs to an insert. Refused
    /// whole, before anything is written, when it would leave the disk with
    /// less than the space kept free, or when a change is at or below a seq
    /// the store already holds for its origin.
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
        let runs = cut_runs(&order);
        let short = runs
            .iter()
            .filter(|r| pack::fits(&r[0].origin, segment_bytes(r)))
            .count();
        // Each run's segment is encoded at the end of `encoded`: a packed
        // one stays there (one buffer for all of them), another is stored
        // and its bytes dropped.
        let mut encoded = Vec::with_capacity(segment::SEGMENT_MAX_BYTES + 1024);
        let mut spans = Vec::new();
        for run in runs {
            let last = run[run.len() - 1];
            let start = encoded.len();
            segment::encode(
                &mut encoded,
                run.iter().map(|e| (e.received_at_ms, e.change.as_ref())),
            );
            if short > 1 && pack::fits(&last.origin, encoded.len() - start) {
                spans.push((
                    last.origin.as_str(),
                    run[0].seq,
                    last.seq,
                    start..encoded.len(),
                ));
                continue;
            }
            self.segments
                .insert(log_key(&last.origin, last.seq), &encoded[start..])
                .map_err(|e| self.engine(e))?;
            encoded.truncate(start);
        }
        if spans.is_empty() {
            return Ok(());
        }
        let packed: Vec<NewRun> = spans
            .into_iter()
            .map(|(origin, first, last, span)| NewRun {
                origin,
                first,
                last,
                segment: &encoded[span],
            })
            .collect();
        let mut index = self.packed_mut();
        write_packs(&mut index, packed, |key, value| {
            self.segments
                .insert(key, value)
                .map(drop)
                .map_err(|e| self.engine(e))
        })
        .map_err(|e| e.unwrap_or_else(|reason| self.corrupt(reason)))?;
        if index.wants_compaction() {
            self.compact(&mut index)?;
        }
        Ok(())
    }

    fn packed(&self) -> RwLockReadGuard<'_, pack::Index> {
        self.packed.read().unwrap_or_else(|p| p.into_inner())
    }

    fn packed_mut(&self) -> RwLockWriteGuard<'_, pack::Index> {
        self.packed.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The stored value of pack `id`, which the index names.
    pub(super) fn pack_value(&self, id: u64) -> Result<sled::IVec, StoreError> {
        self.segments
            .get(pack::key(id))
            .map_err(|e| self.engine(e))?
            .ok_or_else(|| self.corrupt(format!("log pack {id} is missing")))
    }

    /// The changes of a packed run.
    pub(super) fn decode_run(
        &self,
        origin: &str,
        run: pack::Packed,
        found: pack::Run<'_>,
    ) -> Result<Vec<LogEntry>, StoreError> {
        let stored = segment::decode(found.last, found.segment).map_err(|reason| {
            self.corrupt(format!(
                "log pack {} at {origin} seq {}: {reason}",
                run.pack, found.last
            ))
        })?;
        Ok(entries_of(origin, stored))
    }

    /// The changes of the packed run `run` of `origin`; `cache` keeps the
    /// last pack read (one pack holds many origins' runs, read in order).
    ///
    /// A reader takes runs from the index and reads their packs after: a
    /// compaction (or a cut) in between moves the run. If the index no
    /// longer lists it there, its seqs are read from where they are now
    /// (the scans that call this skip what they yield twice).
    fn read_run(
        &self,
        origin: &str,
        run: pack::Packed,
        cache: &mut Option<PackRead>,
    ) -> Result<Vec<LogEntry>, StoreError> {
        match self.read_packed(origin, run, cache) {
            Err(_) if self.packed().holding(origin, run.last) != Some(run) => {
                let mut moved = Vec::new();
                for seq in run.first..=run.last {
                    match self.entry(origin, seq)? {
                        Some(entry) => moved.push(entry),
                        None => break,
                    }
                }
                Ok(moved)
            }
            read => read,
        }
    }

    /// [`Store::read_run`] from the pack the index named.
    fn read_packed(
        &self,
        origin: &str,
        run: pack::Packed,
        cache: &mut Option<PackRead>,
    ) -> Result<Vec<LogEntry>, StoreError> {
        let read = match cache {
            Some(read) if read.id == run.pack => read,
            _ => {
                let value = self
                    .segments
                    .get(pack::key(run.pack))
                    .map_err(|e| self.engine(e))?
                    .ok_or_else(|| {
                        self.corrupt(format!(
                            "log pack {} of {origin} at seq {} is missing",
                            run.pack, run.last
                        ))
                    })?;
                let runs = pack::runs_at(&value)
                    .map_err(|reason| self.corrupt(format!("log pack {}: {reason}", run.pack)))?;
                cache.insert(PackRead {
                    id: run.pack,
                    value,
                    runs,
                    next: 0,
                })
            }
        };
        let count = read.runs.len();
        let at = (0..count).map(|i| (read.next + i) % count).find(|&i| {
            let r = &read.runs[i];
            r.last == run.last && read.value[r.origin.clone()] == *origin.as_bytes()
        });
        if let Some(at) = at {
            read.next = at + 1;
        }
        let found = at.map(|at| read.runs[at].of(&read.value)).ok_or_else(|| {
            self.corrupt(format!(
                "log pack {} lacks the run of {origin} ending at seq {}",
                run.pack, run.last
            ))
        })?;
        self.decode_run(origin, run, found)
    }

    /// The entries of the packed runs `runs` (of `origin`, or each its
    /// own) with seq above `after`, as an iterator of results.
    fn packed_entries<'s>(
        &'s self,
        runs: Vec<(String, pack::Packed)>,
        after: u64,
    ) -> impl Iterator<Item = Result<LogEntry, StoreError>> + 's {
        let mut cache = None;
        runs.into_iter().flat_map(move |(origin, run)| {
            match self.read_run(&origin, run, &mut cache) {
                Ok(entries) => entries
                    .into_iter()
                    .filter(|e| e.seq > after)
                    .map(Ok)
                    .collect::<Vec<_>>(),
                Err(e) => vec![Err(e)],
            }
        })
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
    /// the segments or the packs, else in the first version's log (always
    /// below them).
    fn last_seq(&self, origin: &str) -> Result<u64, StoreError> {
        let packed = self.packed().last(origin).map_or(0, |r| r.last);
        for tree in self.log_trees() {
            if let Some(key) = tree.scan_prefix(origin_prefix(origin)).keys().next_back() {
                let key = key.map_err(|e| self.engine(e))?;
                return Ok(self.segment_key(&key)?.1.max(packed));
            }
        }
        Ok(packed)
    }

    /// Removes every entry of `origin` with seq greater than `seq`, durably
    /// (a torn tail found at open, or a restore). Returns how many. The
    /// segment holding `seq` and later changes is cut, the segments after
    /// it removed and the packs holding later runs rewritten without them,
    /// in one atomic batch; then the first version's single changes above
    /// `seq` go (each below every segment, so a crash in between leaves a
    /// dense prefix, or a hole that the next open's replay truncates
    /// again).
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
        let mut index = self.packed_mut();
        let cut = index.after(origin, seq);
        let mut packs: Vec<u64> = cut.iter().map(|r| r.pack).collect();
        packs.sort_unstable();
        packs.dedup();
        let mut kept_runs = Vec::new();
        for id in packs {
            let value = self.pack_value(id)?;
            let runs = pack::runs(&value)
                .map_err(|reason| self.corrupt(format!("log pack {id}: {reason}")))?;
            let mut segments: Vec<Vec<u8>> = Vec::with_capacity(runs.len());
            let mut lasts = Vec::with_capacity(runs.len());
            for r in &runs {
                if r.origin != origin || r.last <= seq {
                    segments.push(r.segment.to_vec());
                    lasts.push((r.origin, r.last));
                    continue;
                }
                if r.first > seq {
                    removed += (r.last - r.first + 1) as usize;
                    continue;
                }
                let run = pack::Packed {
                    first: r.first,
                    last: r.last,
                    pack: id,
                };
                let mut kept = self.decode_run(origin, run, *r)?;
                kept.retain(|e| e.seq <= seq);
                let mut value = Vec::new();
                segment::encode(
                    &mut value,
                    kept.iter().map(|e| (e.received_at_ms, e.change.as_ref())),
                );
                segments.push(value);
                lasts.push((r.origin, seq));
                kept_runs.push(pack::Packed {
                    first: r.first,
                    last: seq,
                    pack: id,
                });
                removed += (r.last - seq) as usize;
            }
            if segments.is_empty() {
                batch.remove(&pack::key(id)[..]);
            } else {
                let mut value = Vec::new();
                pack::encode(
                    &mut value,
                    lasts
                        .iter()
                        .zip(&segments)
                        .map(|((o, last), s)| (*o, *last, s.as_slice())),
                );
                batch.insert(&pack::key(id)[..], value);
            }
        }
        self.segments
            .apply_batch(batch)
            .map_err(|e| self.engine(e))?;
        for run in &cut {
            index.remove(origin, run.last);
        }
        for run in kept_runs {
            index
                .add(origin, run)
                .map_err(|reason| self.corrupt(reason))?;
        }
        drop(index);
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

    /// How many packs the log has (for tests and the store's figures).
    pub fn packs_held(&self) -> usize {
        self.segments.range(&[pack::KEY_PREFIX][..]..).count()
    }

    /// The entry of `origin` at `seq`: in its packed run, in the first
    /// segment ending at or after it, or the first version's single change.
    pub fn entry(&self, origin: &str, seq: u64) -> Result<Option<LogEntry>, StoreError> {
        let run = self.packed().holding(origin, seq);
        if let Some(run) = run {
            let entries = self.read_run(origin, run, &mut None)?;
            return Ok(entries.into_iter().find(|e| e.seq == seq));
        }
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
        self.last_with(origin, &mut None)
    }

    /// [`Store::last`], keeping the last pack read in `cache`.
    fn last_with(
        &self,
        origin: &str,
        cache: &mut Option<PackRead>,
    ) -> Result<Option<LogEntry>, StoreError> {
        let packed = self.packed().last(origin);
        for tree in self.log_trees() {
            if let Some(kv) = tree.scan_prefix(origin_prefix(origin)).next_back() {
                let (k, v) = kv.map_err(|e| self.engine(e))?;
                let (_, last) = self.segment_key(&k)?;
                if packed.is_none_or(|p| p.last < last) {
                    return Ok(self.decode(&k, &v)?.pop());
                }
                break;
            }
        }
        match packed {
            Some(run) => Ok(self.read_run(origin, run, cache)?.pop()),
            None => Ok(None),
        }
    }

    /// Every origin held, in order.
    fn origins(&self) -> Result<Vec<String>, StoreError> {
        let mut out: std::collections::BTreeSet<String> =
            self.packed().origins().map(str::to_owned).collect();
        for tree in self.log_trees() {
            let mut from: Vec<u8> = Vec::new();
            while let Some(first) = tree
                .range(from.as_slice()..&[pack::KEY_PREFIX][..])
                .keys()
                .next()
            {
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
        let mut cache = None;
        for origin in self.origins()? {
            if let Some(last) = self.last_with(&origin, &mut cache)? {
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
        let runs = self
            .packed()
            .after(origin, after)
            .into_iter()
            .map(|r| (origin.to_owned(), r))
            .collect();
        merge(
            legacy
                .into_iter()
                .flatten()
                .chain(self.entries(self.segments.range(range), after)),
            self.packed_entries(runs, after),
        )
    }

    /// Every entry, origin by origin, each origin in seq order.
    pub fn scan_all(&self) -> Box<dyn Iterator<Item = Result<LogEntry, StoreError>> + '_> {
        if self.legacy {
            // The first version's changes go before each origin's.
            return match self.origins() {
                Ok(origins) => Box::new(origins.into_iter().flat_map(move |o| self.scan(&o, 0))),
                Err(e) => Box::new(std::iter::once(Err(e))),
            };
        }
        // One pass over the segments, and one over the packed runs.
        let runs = self.packed().all();
        Box::new(merge(
            self.entries(self.segments.range(..&[pack::KEY_PREFIX][..]), 0),
            self.packed_entries(runs, 0),
        ))
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{BLOBS_DIR, change_key};
    use bytes::Bytes;

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

    /// Pack keys in the segments tree.
    fn packs(store: &Store) -> usize {
        store.segments.range(&[pack::KEY_PREFIX][..]..).count()
    }

    /// What the store holds, read every way it can be.
    fn read_back(store: &Store) -> Vec<(String, u64, Bytes)> {
        let all: Vec<(String, u64, Bytes)> = store
            .scan_all()
            .map(|e| e.map(|e| (e.origin, e.seq, e.change)).unwrap())
            .collect();
        for origin in store.origins().unwrap() {
            let mine: Vec<&(String, u64, Bytes)> =
                all.iter().filter(|(o, _, _)| *o == origin).collect();
            for after in [0, 1, 2, 5] {
                let scanned: Vec<u64> =
                    store.scan(&origin, after).map(|e| e.unwrap().seq).collect();
                let expected: Vec<u64> = mine.iter().map(|e| e.1).filter(|&s| s > after).collect();
                assert_eq!(scanned, expected, "{origin} after {after}");
            }
            for (o, seq, change) in &mine {
                let e = store.entry(o, *seq).unwrap().unwrap();
                assert_eq!(&e.change, change);
            }
            let last = mine.last().map(|e| e.1);
            assert_eq!(store.last(&origin).unwrap().map(|e| e.seq), last);
            assert_eq!(store.last_seq(&origin).unwrap(), last.unwrap_or(0));
        }
        let heads: Vec<(String, u64)> = store
            .heads()
            .unwrap()
            .into_iter()
            .map(|e| (e.origin, e.seq))
            .collect();
        let mut expected: Vec<(String, u64)> = Vec::new();
        for (o, seq, _) in &all {
            match expected.last_mut() {
                Some((last, s)) if last == o => *s = *seq,
                _ => expected.push((o.clone(), *seq)),
            }
        }
        assert_eq!(heads, expected);
        all
    }

    /// Whether `all` is every origin's log dense from seq 1 up to `ends`.
    fn dense<O: AsRef<str>>(all: &[(String, u64, Bytes)], ends: &[(O, u64)]) -> bool {
        let expected: Vec<(String, u64)> = ends
            .iter()
            .flat_map(|(o, n)| (1..=*n).map(|s| (o.as_ref().to_owned(), s)))
            .collect();
        let got: Vec<(String, u64)> = all.iter().map(|(o, s, _)| (o.clone(), *s)).collect();
        got == expected
    }

    #[test]
    fn short_runs_of_many_origins_are_packed() {
        let dir = tempfile::tempdir().unwrap();
        let origins: Vec<String> = (0..200).map(|i| format!("U{i:06}")).collect();
        let runs = {
            let store = Store::open(dir.path()).unwrap();
            // Two changes each of 200 origins, one origin of 300 changes,
            // and the long one's short tail.
            let mut batch: Vec<LogEntry> = origins
                .iter()
                .flat_map(|o| [entry(o, 1), entry(o, 2)])
                .collect();
            batch.extend((1..=300).map(|s| big("410102", s)));
            store.append(&batch).unwrap();
            let packed = packs(&store);
            assert!((2..20).contains(&packed), "{packed} packs");
            // Every short origin's run (and perhaps the long one's tail).
            assert!((200..=201).contains(&store.packed().runs()));
            // One origin's write goes in a segment, after its packed run.
            store
                .append(&[entry("U000007", 3), entry("U000007", 4)])
                .unwrap();
            // More short runs: packed again, above the segment.
            store
                .append(&[entry("U000007", 5), entry("U000008", 3)])
                .unwrap();
            let all = read_back(&store);
            let mut ends: Vec<(&str, u64)> = origins.iter().map(|o| (o.as_str(), 2)).collect();
            ends[7].1 = 5;
            ends[8].1 = 3;
            ends.insert(0, ("410102", 300));
            assert!(dense(&all, &ends));
            store.packed().runs()
        };
        // Reopened: the index is rebuilt from the packs.
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.packed().runs(), runs);
        let all = read_back(&store);
        assert_eq!(all.len(), 300 + 400 + 3 + 1);
        // A cut inside a packed run, and one below packed runs and a
        // segment.
        assert_eq!(store.truncate_after("U000003", 1).unwrap(), 1);
        assert_eq!(store.truncate_after("U000007", 3).unwrap(), 2);
        assert_eq!(store.truncate_after("U000008", 0).unwrap(), 3);
        assert_eq!(store.truncate_after("410102", 100).unwrap(), 200);
        assert_eq!(store.truncate_after("U000003", 1).unwrap(), 0);
        let check = |store: &Store| {
            let all = read_back(store);
            let mut ends: Vec<(&str, u64)> = origins.iter().map(|o| (o.as_str(), 2)).collect();
            ends[3].1 = 1;
            ends[7].1 = 3;
            ends.remove(8);
            ends.insert(0, ("410102", 100));
            assert!(dense(&all, &ends));
        };
        check(&store);
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        check(&store);
        // The origins cut can grow again.
        store
            .append(&[entry("U000008", 1), entry("U000003", 2)])
            .unwrap();
        assert_eq!(store.last("U000008").unwrap(), Some(entry("U000008", 1)));
        assert_eq!(store.last("U000003").unwrap(), Some(entry("U000003", 2)));
        // A write overlapping a packed run is refused.
        let err = store.append(&[entry("U000009", 2)]).unwrap_err();
        assert!(err.to_string().contains("overlap"), "{err}");
    }

    #[test]
    fn compaction_moves_origins_of_many_runs_to_segments() {
        let dir = tempfile::tempdir().unwrap();
        let mut ends: Vec<(String, u64)> = (0..60).map(|i| (format!("U{i:06}"), 0)).collect();
        {
            let store = Store::open(dir.path()).unwrap();
            store.packed_mut().compact_at(100);
            // First, one change each of 20 other origins: their pack has
            // no origin of more than one run, and stays as it is.
            let others: Vec<LogEntry> = (0..20).map(|i| entry(&format!("V{i:06}"), 1)).collect();
            store.append(&others).unwrap();
            assert_eq!(packs(&store), 1);
            let mut all_ends = ends.clone();
            all_ends.extend(others.iter().map(|e| (e.origin.clone(), 1)));
            // Rounds of one change each of every origin, and of every
            // other origin: once the packed runs reach 100, the origins of
            // more than one run move to segments.
            for round in 0..4 {
                let batch: Vec<LogEntry> = all_ends[..60]
                    .iter_mut()
                    .enumerate()
                    .filter(|(i, _)| round == 0 || i % 2 == 0)
                    .map(|(_, (o, n))| {
                        *n += 1;
                        entry(o, *n)
                    })
                    .collect();
                store.append(&batch).unwrap();
                let all = read_back(&store);
                assert!(dense(&all, &all_ends), "round {round}");
            }
            let index = store.packed();
            // 20 + 60 + 30 runs reached 100 in the second round: the 30
            // origins of two runs went to segments, the other 30 were
            // packed anew, the 20 left where they were (50 left). The
            // fourth round reached 100 again: the same 30 origins' two
            // new runs went to segments.
            assert_eq!(index.runs(), 50, "runs after compaction");
            assert_eq!(index.last("V000003").map(|r| r.pack), Some(0));
            assert_eq!(index.after("U000000", 0).len(), 0);
            assert_eq!(index.after("U000001", 0).len(), 1);
            drop(index);
            assert_eq!(store.segments.range(..&[pack::KEY_PREFIX][..]).count(), 60);
            ends = all_ends;
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.packed().runs(), 50);
        assert!(store.segments.contains_key(pack::key(0)).unwrap());
        assert!(dense(&read_back(&store), &ends));
    }

    #[test]
    fn a_scan_reads_runs_a_compaction_moves_under_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.packed_mut().compact_at(60);
        let mut ends: Vec<(String, u64)> = (0..30).map(|i| (format!("U{i:06}"), 0)).collect();
        let round = |ends: &mut Vec<(String, u64)>| {
            let batch: Vec<LogEntry> = ends
                .iter_mut()
                .map(|(o, n)| {
                    *n += 1;
                    // About 9 runs to a pack: a scan reads several.
                    LogEntry {
                        change: Bytes::from(vec![*n as u8; 400]),
                        ..entry(o, *n)
                    }
                })
                .collect();
            store.append(&batch).unwrap();
        };
        round(&mut ends);
        round(&mut ends);
        assert_eq!(store.packed().runs(), 0, "compacted at 60");
        round(&mut ends);
        let before = ends.clone();
        // Scans under way when a compaction moves every run they listed.
        let mut all = store.scan_all();
        let mut one = store.scan("U000007", 0);
        let first: Vec<_> = all.by_ref().take(5).map(Result::unwrap).collect();
        assert_eq!(one.next().unwrap().unwrap().seq, 1);
        round(&mut ends);
        round(&mut ends);
        let rest: Vec<LogEntry> = all.map(Result::unwrap).collect();
        let seen: Vec<(String, u64)> = first
            .iter()
            .chain(&rest)
            .map(|e| (e.origin.clone(), e.seq))
            .collect();
        // Everything held when the scan began, once each and in order; of
        // what came after, at most a dense part of each origin's.
        let mut expected = Vec::new();
        for (o, n) in &before {
            expected.extend((1..=*n).map(|s| (o.clone(), s)));
        }
        let held: Vec<(String, u64)> = seen
            .iter()
            .filter(|(o, s)| before.iter().any(|(b, n)| b == o && s <= n))
            .cloned()
            .collect();
        assert_eq!(held, expected);
        let mut sorted = seen.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted, seen, "in order, once each");
        let mine: Vec<u64> = one.map(|e| e.unwrap().seq).collect();
        assert!(mine.starts_with(&[2, 3]), "{mine:?}");
        assert!(mine.windows(2).all(|w| w[1] == w[0] + 1), "{mine:?}");
    }

    #[test]
    fn a_damaged_pack_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            store
                .append(&[entry("U000001", 1), entry("U000002", 1)])
                .unwrap();
            let (key, mut value) = store
                .segments
                .range(&[pack::KEY_PREFIX][..]..)
                .next()
                .unwrap()
                .unwrap();
            let mut damaged = value.to_vec();
            damaged.truncate(damaged.len() - 1);
            value = damaged.into();
            store.segments.insert(key, value).unwrap();
            store.flush().unwrap();
        }
        let err = Store::open(dir.path()).err().unwrap().to_string();
        assert!(err.contains("corrupt entry: log pack 0"), "{err}");
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
