//! Packs: the short runs of many origins stored as one value.
//!
//! A batch that carries one or two changes each of many origins (a
//! province forwarding what its counties wrote since the last session, or
//! 100,000 offices sending one change each) would cost one sled insert per
//! origin as [segments](super::segment); sled's cost is per insert, so such
//! a batch was stored at a fraction of the usual shape's rate. An append's
//! short runs (under [`RUN_MAX_BYTES`], when it has more than one) are
//! packed instead: several origins' runs in one value of up to
//! [`segment::SEGMENT_MAX_BYTES`], one insert each.
//!
//! Packs live in the segments tree, under keys `0xFF ‖ pack id (u64 BE)`
//! that sort after every origin's keys (an origin is UTF-8, which never
//! holds 0xFF), so one sled batch can move runs between packs and segments
//! atomically. An origin's log is its segments and its packed runs, which
//! never overlap: an in-memory [`Index`], rebuilt at open from the packs,
//! says where each packed run is. A binary from before packs refuses to
//! open a store holding one (it reads a pack's key as an origin that is
//! not UTF-8) rather than read a log with holes.
//!
//! [`Index::wants_compaction`] bounds the index: once the packed runs reach
//! [`COMPACT_AT`] (or twice what the last compaction left), the store
//! moves every origin with more than one packed run into segments and
//! packs the rest anew, in one atomic batch.
//!
//! # Format
//!
//! `FORMAT ‖ runs (u32 BE) ‖ runs × (origin length (u8) ‖ origin ‖ last
//! seq (u64 BE) ‖ segment length (u32 BE) ‖ segment)`, each segment in
//! [the segments' format](super::segment), ending at its last seq.

use std::hash::BuildHasher;

use hashbrown::{HashTable, hash_table};
use lunxun_core::hashing::FoldHash;
use smallvec::SmallVec;

use super::segment;

/// The first byte of a pack's value.
pub(super) const FORMAT: u8 = 0x50;

/// The first byte of every pack's key.
pub(super) const KEY_PREFIX: u8 = 0xFF;

/// A run whose segment is shorter than this is packed when its append has
/// other short runs.
pub(super) const RUN_MAX_BYTES: usize = segment::SEGMENT_MAX_BYTES / 4;

/// Packed runs that start a compaction (or twice what the last one left,
/// if more).
pub(super) const COMPACT_AT: usize = 65_536;

/// Bytes of a pack's value before its first run.
pub(super) const HEADER: usize = 5;

/// Bytes a run costs in a pack besides its origin and segment.
pub(super) const PER_RUN: usize = 1 + 8 + 4;

/// A pack's key.
pub(super) fn key(id: u64) -> [u8; 9] {
    let mut key = [KEY_PREFIX; 9];
    key[1..].copy_from_slice(&id.to_be_bytes());
    key
}

/// The pack id of a key starting with [`KEY_PREFIX`].
pub(super) fn id(key: &[u8]) -> Result<u64, String> {
    match key {
        [KEY_PREFIX, id @ ..] => id
            .try_into()
            .map(u64::from_be_bytes)
            .map_err(|_| format!("pack key of {} bytes", key.len())),
        _ => Err("not a pack key".into()),
    }
}

/// Whether a run of `origin` whose segment takes `bytes` may be packed.
pub(super) fn fits(origin: &str, bytes: usize) -> bool {
    bytes < RUN_MAX_BYTES && !origin.is_empty() && origin.len() <= usize::from(u8::MAX)
}

/// Bytes a run of `origin` whose segment takes `bytes` adds to a pack.
pub(super) fn run_bytes(origin: &str, segment: usize) -> usize {
    PER_RUN + origin.len() + segment
}

/// Writes a pack of `runs`: each an origin, its last seq and its segment.
pub(super) fn encode<'r>(
    value: &mut Vec<u8>,
    runs: impl ExactSizeIterator<Item = (&'r str, u64, &'r [u8])>,
) {
    value.push(FORMAT);
    value.extend_from_slice(&(runs.len() as u32).to_be_bytes());
    for (origin, last, segment) in runs {
        value.push(origin.len() as u8);
        value.extend_from_slice(origin.as_bytes());
        value.extend_from_slice(&last.to_be_bytes());
        value.extend_from_slice(&(segment.len() as u32).to_be_bytes());
        value.extend_from_slice(segment);
    }
}

/// One run in a pack, as [`runs`] reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Run<'v> {
    pub origin: &'v str,
    pub first: u64,
    pub last: u64,
    /// Its segment's bytes in the pack.
    pub segment: &'v [u8],
}

/// Where a run is in its pack's value.
#[derive(Debug, Clone)]
pub(super) struct RunAt {
    pub origin: std::ops::Range<usize>,
    pub first: u64,
    pub last: u64,
    pub segment: std::ops::Range<usize>,
}

impl RunAt {
    /// The run in `value`, the pack it was read from.
    pub fn of<'v>(&self, value: &'v [u8]) -> Run<'v> {
        Run {
            // Checked to be UTF-8 when it was read.
            origin: std::str::from_utf8(&value[self.origin.clone()]).unwrap_or_default(),
            first: self.first,
            last: self.last,
            segment: &value[self.segment.clone()],
        }
    }
}

/// [`runs`], as offsets into `value`.
pub(super) fn runs_at(value: &[u8]) -> Result<Vec<RunAt>, String> {
    let base = value.as_ptr() as usize;
    let at = |s: &[u8]| {
        let start = s.as_ptr() as usize - base;
        start..start + s.len()
    };
    Ok(runs(value)?
        .into_iter()
        .map(|r| RunAt {
            origin: at(r.origin.as_bytes()),
            first: r.first,
            last: r.last,
            segment: at(r.segment),
        })
        .collect())
}

/// The runs of a pack, each checked to be a well-formed header (the
/// changes are read by [`segment::decode`]).
pub(super) fn runs(value: &[u8]) -> Result<Vec<Run<'_>>, String> {
    if value.first() != Some(&FORMAT) {
        return Err(match value.first() {
            Some(b) => format!("unknown pack format {b:#04x}"),
            None => "empty pack".into(),
        });
    }
    let count = value
        .get(1..HEADER)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .ok_or("pack header is truncated")?;
    // Every run takes at least its fixed bytes, an origin byte and a
    // segment header: a count the value cannot hold allocates nothing.
    if count == 0 || (value.len() - HEADER) / (PER_RUN + 1 + segment::HEADER) < count {
        return Err(format!("pack claims {count} runs in {} bytes", value.len()));
    }
    let mut out = Vec::with_capacity(count);
    let mut at = HEADER;
    let take = |at: &mut usize, n: usize| -> Result<&[u8], String> {
        let end = at.checked_add(n).filter(|&e| e <= value.len());
        let bytes = end
            .map(|e| &value[*at..e])
            .ok_or_else(|| format!("pack is truncated at byte {at}"))?;
        *at += n;
        Ok(bytes)
    };
    for i in 0..count {
        let len = usize::from(take(&mut at, 1)?[0]);
        let origin = std::str::from_utf8(take(&mut at, len)?)
            .ok()
            .filter(|o| !o.is_empty())
            .ok_or_else(|| format!("run {i} of the pack has no origin"))?;
        let last = u64::from_be_bytes(take(&mut at, 8)?.try_into().unwrap_or_default());
        let len = u32::from_be_bytes(take(&mut at, 4)?.try_into().unwrap_or_default());
        let seg = take(&mut at, len as usize)?;
        let count =
            segment::count(seg).map_err(|e| format!("run {i} of the pack ({origin}): {e}"))?;
        let first = last
            .checked_sub(count - 1)
            .filter(|&f| f >= 1 && seg.first() == Some(&segment::FORMAT))
            .ok_or_else(|| format!("run {i} of the pack ({origin}) cannot end at seq {last}"))?;
        out.push(Run {
            origin,
            first,
            last,
            segment: seg,
        });
    }
    if at != value.len() {
        return Err(format!(
            "{} bytes after the pack's last run",
            value.len() - at
        ));
    }
    Ok(out)
}

/// Where one packed run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Packed {
    pub first: u64,
    pub last: u64,
    pub pack: u64,
}

/// An origin's packed runs, in seq order: most have one.
type Runs = SmallVec<[Packed; 1]>;

/// An origin and its packed runs, with the origin's hash (a table growing
/// to 100,000 origins rehashes without reading their strings again).
#[derive(Debug)]
struct Entry {
    hash: u64,
    origin: Box<str>,
    runs: Runs,
}

/// Every packed run, by origin, each origin's in seq order. A hash table:
/// an append of many origins' runs adds as many keys, and only an open, a
/// whole scan or a compaction wants them in order.
#[derive(Debug)]
pub(super) struct Index {
    by_origin: HashTable<Entry>,
    hasher: FoldHash,
    runs: usize,
    next: u64,
    /// Runs the last compaction left packed.
    left: usize,
    /// [`COMPACT_AT`], or less in tests.
    compact_at: usize,
}

impl Default for Index {
    fn default() -> Index {
        Index {
            by_origin: HashTable::new(),
            hasher: FoldHash::default(),
            runs: 0,
            next: 0,
            left: 0,
            compact_at: COMPACT_AT,
        }
    }
}

impl Index {
    fn find(&self, origin: &str) -> Option<&Entry> {
        let hash = self.hasher.hash_one(origin);
        self.by_origin.find(hash, |e| *e.origin == *origin)
    }

    /// Adds a run. Runs of one origin must not overlap.
    pub fn add(&mut self, origin: &str, run: Packed) -> Result<(), String> {
        let hash = self.hasher.hash_one(origin);
        let entry = self
            .by_origin
            .entry(hash, |e| *e.origin == *origin, |e| e.hash);
        match entry {
            hash_table::Entry::Vacant(v) => {
                // Most origins of a pack have this one run.
                v.insert(Entry {
                    hash,
                    origin: origin.into(),
                    runs: smallvec::smallvec![run],
                });
            }
            hash_table::Entry::Occupied(mut o) => {
                let runs = &mut o.get_mut().runs;
                let at = runs.partition_point(|r| r.last < run.first);
                if runs.get(at).is_some_and(|r| r.first <= run.last) {
                    return Err(format!(
                        "packed runs of {origin} overlap at seqs {}..={}",
                        run.first, run.last
                    ));
                }
                runs.insert(at, run);
            }
        }
        self.runs += 1;
        self.next = self.next.max(run.pack + 1);
        Ok(())
    }

    /// An index of `runs` (in any order), each origin's checked not to
    /// overlap; built in one pass once they are sorted.
    pub fn of(mut runs: Vec<(String, Packed)>, next: u64) -> Result<Index, String> {
        runs.sort_unstable_by(|a, b| (a.0.as_str(), a.1.first).cmp(&(b.0.as_str(), b.1.first)));
        for pair in runs.windows(2) {
            if pair[0].0 == pair[1].0 && pair[1].1.first <= pair[0].1.last {
                return Err(format!(
                    "packed runs of {} overlap at seqs {}..={}",
                    pair[1].0, pair[1].1.first, pair[1].1.last
                ));
            }
        }
        let count = runs.len();
        let next = runs.iter().map(|r| r.1.pack + 1).fold(next, u64::max);
        let mut grouped: Vec<(String, Runs)> = Vec::new();
        for (origin, run) in runs {
            match grouped.last_mut() {
                Some((o, list)) if *o == origin => list.push(run),
                _ => grouped.push((origin, smallvec::smallvec![run])),
            }
        }
        let mut index = Index {
            by_origin: HashTable::with_capacity(grouped.len()),
            runs: count,
            next,
            left: count,
            ..Index::default()
        };
        for (origin, runs) in grouped {
            let hash = index.hasher.hash_one(origin.as_str());
            let entry = Entry {
                hash,
                origin: origin.into_boxed_str(),
                runs,
            };
            index.by_origin.insert_unique(hash, entry, |e| e.hash);
        }
        Ok(index)
    }

    /// Removes the run of `origin` ending at `last`.
    pub fn remove(&mut self, origin: &str, last: u64) {
        let hash = self.hasher.hash_one(origin);
        let Ok(mut entry) = self.by_origin.find_entry(hash, |e| *e.origin == *origin) else {
            return;
        };
        let runs = &mut entry.get_mut().runs;
        if let Some(at) = runs.iter().position(|r| r.last == last) {
            runs.remove(at);
            self.runs -= 1;
        }
        if runs.is_empty() {
            entry.remove();
        }
    }

    /// The id the next pack takes.
    pub fn take_id(&mut self) -> u64 {
        let id = self.next;
        self.next += 1;
        id
    }

    pub fn runs(&self) -> usize {
        self.runs
    }

    /// The packed runs of `origin` ending after `after`, in seq order.
    pub fn after(&self, origin: &str, after: u64) -> Vec<Packed> {
        self.find(origin).map_or_else(Vec::new, |e| {
            let at = e.runs.partition_point(|r| r.last <= after);
            e.runs[at..].to_vec()
        })
    }

    /// The packed run of `origin` holding `seq`.
    pub fn holding(&self, origin: &str, seq: u64) -> Option<Packed> {
        let runs = &self.find(origin)?.runs;
        let at = runs.partition_point(|r| r.last < seq);
        runs.get(at).filter(|r| r.first <= seq).copied()
    }

    /// The last packed run of `origin`.
    pub fn last(&self, origin: &str) -> Option<Packed> {
        self.find(origin)?.runs.last().copied()
    }

    /// Every origin with a packed run, in no particular order.
    pub fn origins(&self) -> impl Iterator<Item = &str> {
        self.by_origin.iter().map(|e| &*e.origin)
    }

    /// Whether an origin has more than one packed run.
    pub fn has_many(&self) -> bool {
        self.by_origin.iter().any(|e| e.runs.len() > 1)
    }

    /// Every packed run, by origin then seq.
    pub fn all(&self) -> Vec<(String, Packed)> {
        let mut entries: Vec<&Entry> = self.by_origin.iter().collect();
        entries.sort_unstable_by(|a, b| a.origin.cmp(&b.origin));
        let mut out = Vec::with_capacity(self.runs);
        for e in entries {
            out.extend(e.runs.iter().map(|r| (String::from(&*e.origin), *r)));
        }
        out
    }

    /// Whether the packed runs have grown enough since the last
    /// compaction to compact them: a compaction costs about what it
    /// moves, so it runs once the runs have at least doubled.
    pub fn wants_compaction(&self) -> bool {
        self.runs >= self.compact_at.max(2 * self.left)
    }

    /// Compacts from `runs` packed runs on instead of [`COMPACT_AT`].
    #[cfg(test)]
    pub fn compact_at(&mut self, runs: usize) {
        self.compact_at = runs;
    }

    /// An index of no runs that goes on from this one's ids and settings.
    pub fn emptied(&self) -> Index {
        Index {
            next: self.next,
            compact_at: self.compact_at,
            ..Index::default()
        }
    }

    /// Notes what a compaction left packed.
    pub fn compacted(&mut self, left: usize) {
        self.left = left;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pack(runs: &[(&str, u64, &[&[u8]])]) -> Vec<u8> {
        let segments: Vec<Vec<u8>> = runs
            .iter()
            .map(|(_, _, changes)| {
                let mut s = Vec::new();
                segment::encode(&mut s, changes.iter().map(|c| (7, *c)));
                s
            })
            .collect();
        let mut v = Vec::new();
        encode(
            &mut v,
            runs.iter()
                .zip(&segments)
                .map(|((o, last, _), s)| (*o, *last, s.as_slice())),
        );
        v
    }

    #[test]
    fn round_trip() {
        let v = pack(&[("410102", 3, &[b"a", b"bb"]), ("U000001", 1, &[b"c"])]);
        let runs = runs(&v).unwrap();
        assert_eq!(runs.len(), 2);
        assert_eq!(
            (runs[0].origin, runs[0].first, runs[0].last),
            ("410102", 2, 3)
        );
        assert_eq!(
            (runs[1].origin, runs[1].first, runs[1].last),
            ("U000001", 1, 1)
        );
        let changes = segment::decode(runs[0].last, runs[0].segment).unwrap();
        assert_eq!(&changes[1].change[..], b"bb");
        assert_eq!(id(&key(42)), Ok(42));
        assert!(id(b"410102\0").is_err());
    }

    #[test]
    fn every_damage_is_an_error() {
        let v = pack(&[("410102", 3, &[b"a", b"bb"]), ("U000001", 1, &[b"c"])]);
        for cut in 0..v.len() {
            assert!(runs(&v[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = v.clone();
        longer.push(0);
        assert!(runs(&longer).is_err());
        let mut bomb = v.clone();
        bomb[1..5].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(runs(&bomb).is_err());
        // A run of two cannot end at seq 1.
        let early = pack(&[("410102", 1, &[b"a", b"bb"])]);
        assert!(runs(&early).is_err());
        for i in 0..v.len() {
            for bit in 0..8 {
                let mut flipped = v.clone();
                flipped[i] ^= 1 << bit;
                let _ = runs(&flipped);
            }
        }
    }

    #[test]
    fn the_index_finds_runs_and_refuses_overlaps() {
        let mut index = Index::default();
        let run = |first, last, pack| Packed { first, last, pack };
        index.add("A", run(5, 6, 3)).unwrap();
        index.add("A", run(1, 2, 1)).unwrap();
        index.add("B", run(1, 1, 1)).unwrap();
        assert!(index.add("A", run(2, 4, 9)).is_err());
        assert_eq!(index.holding("A", 6), Some(run(5, 6, 3)));
        assert_eq!(index.holding("A", 3), None);
        assert_eq!(index.after("A", 2), vec![run(5, 6, 3)]);
        assert_eq!(index.after("A", 0).len(), 2);
        assert_eq!(index.last("A"), Some(run(5, 6, 3)));
        assert_eq!(index.take_id(), 4);
        let mut origins: Vec<&str> = index.origins().collect();
        origins.sort_unstable();
        assert_eq!(origins, ["A", "B"]);
        index.remove("B", 1);
        assert_eq!(index.runs(), 2);
        assert_eq!(index.origins().count(), 1);
        // Built at once, as an open does.
        let built = Index::of(
            vec![
                ("B".into(), run(1, 1, 1)),
                ("A".into(), run(5, 6, 3)),
                ("A".into(), run(1, 2, 1)),
            ],
            0,
        )
        .unwrap();
        assert_eq!(built.after("A", 0), vec![run(1, 2, 1), run(5, 6, 3)]);
        assert_eq!((built.runs(), built.next), (3, 4));
        let overlapping = vec![("A".into(), run(1, 2, 1)), ("A".into(), run(2, 4, 2))];
        assert!(Index::of(overlapping, 0).is_err());
    }

    #[test]
    fn the_index_grows_to_many_origins_and_lists_them_in_order() {
        let mut index = Index::default();
        let run = |first, last, pack| Packed { first, last, pack };
        // Added out of order, the table growing many times over.
        for i in (0..5_000u64).rev() {
            index.add(&format!("U{i:06}"), run(1, 1, i / 20)).unwrap();
        }
        for i in (0..5_000u64).step_by(7) {
            index.add(&format!("U{i:06}"), run(2, 3, 300)).unwrap();
        }
        let all = index.all();
        assert_eq!(all.len(), index.runs());
        assert!(
            all.windows(2)
                .all(|w| (&w[0].0, w[0].1.first) < (&w[1].0, w[1].1.first))
        );
        assert_eq!(index.holding("U000007", 3), Some(run(2, 3, 300)));
        assert_eq!(index.holding("U000008", 2), None);
        assert_eq!(index.last("U004999"), Some(run(1, 1, 249)));
        assert!(index.has_many());
        for i in (0..5_000u64).step_by(7) {
            index.remove(&format!("U{i:06}"), 3);
        }
        assert!(!index.has_many());
        assert_eq!(index.runs(), 5_000);
        index.remove("U000000", 1);
        assert_eq!(index.last("U000000"), None);
        assert_eq!(index.origins().count(), 4_999);
    }
}
