//! Compaction of the log's packs: once the packed runs have doubled, the
//! origins of more than one packed run move into segments, in one atomic
//! sled batch (see [`super::pack`]).

use super::log::{NewRun, cut_runs, write_packs};
use super::{LogEntry, Store, StoreError, log_key, pack, segment};

impl Store {
    /// Moves every origin with more than one packed run into segments, and
    /// packs anew the other runs of the packs that held them, in one atomic
    /// batch (a crash leaves the packs as they were, or as they became).
    /// Packs holding only origins of one run stay as they are.
    pub(super) fn compact(&self, index: &mut pack::Index) -> Result<(), StoreError> {
        if !index.has_many() {
            let runs = index.runs();
            index.compacted(runs);
            return Ok(());
        }
        let all = index.all();
        let mut moving: std::collections::HashSet<&str> = Default::default();
        let mut touched: std::collections::BTreeSet<u64> = Default::default();
        for (i, (origin, run)) in all.iter().enumerate() {
            let next = all.get(i + 1).map(|(o, _)| o);
            let prev = i.checked_sub(1).map(|p| &all[p].0);
            if next == Some(origin) || prev == Some(origin) {
                moving.insert(origin);
                touched.insert(run.pack);
            }
        }
        if moving.is_empty() {
            let runs = index.runs();
            index.compacted(runs);
            return Ok(());
        }
        let mut left = index.emptied();
        for (origin, run) in &all {
            if !touched.contains(&run.pack) {
                left.add(origin, *run)
                    .map_err(|reason| self.corrupt(reason))?;
            }
        }
        let mut batch = sled::Batch::default();
        let mut moved: std::collections::BTreeMap<String, Vec<LogEntry>> = Default::default();
        let mut repack: Vec<(String, pack::Packed, Vec<u8>)> = Vec::new();
        for &id in &touched {
            let value = self.pack_value(id)?;
            let runs = pack::runs(&value)
                .map_err(|reason| self.corrupt(format!("log pack {id}: {reason}")))?;
            for r in runs {
                let run = pack::Packed {
                    first: r.first,
                    last: r.last,
                    pack: id,
                };
                if moving.contains(r.origin) {
                    let entries = self.decode_run(r.origin, run, r)?;
                    moved
                        .entry(r.origin.to_owned())
                        .or_default()
                        .extend(entries);
                } else {
                    repack.push((r.origin.to_owned(), run, r.segment.to_vec()));
                }
            }
            batch.remove(&pack::key(id)[..]);
        }
        let mut value = Vec::new();
        for (origin, mut entries) in moved {
            entries.sort_by_key(|e| e.seq);
            let order: Vec<&LogEntry> = entries.iter().collect();
            for run in cut_runs(&order) {
                let last = run[run.len() - 1];
                value.clear();
                segment::encode(
                    &mut value,
                    run.iter().map(|e| (e.received_at_ms, e.change.as_ref())),
                );
                batch.insert(log_key(&origin, last.seq), value.as_slice());
            }
        }
        let repack: Vec<NewRun> = repack
            .iter()
            .map(|(origin, run, segment)| NewRun {
                origin,
                first: run.first,
                last: run.last,
                segment,
            })
            .collect();
        let mut inserts = Vec::new();
        write_packs(&mut left, repack, |key, value| {
            inserts.push((key, value.to_vec()));
            Ok(())
        })
        .map_err(|e| e.unwrap_or_else(|reason| self.corrupt(reason)))?;
        for (key, value) in inserts {
            batch.insert(&key[..], value);
        }
        if !touched.is_empty() {
            self.segments
                .apply_batch(batch)
                .map_err(|e| self.engine(e))?;
        }
        let runs = left.runs();
        left.compacted(runs);
        tracing::debug!(
            moved = moving.len(),
            packs = touched.len(),
            left = runs,
            "packed runs compacted"
        );
        *index = left;
        Ok(())
    }
}
