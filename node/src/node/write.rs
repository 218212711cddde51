//! The write path of this node's own records: one atomic, durable append
//! of what changed (marked as under way first, so that a crash leaves
//! nothing), encoded, hash-chained and signed a chunk ahead of the inserts,
//! and, for writes people asked for, the imports ledger entry in the same
//! append.

use super::*;

impl Node {
    /// Writes records as changes of this node's own origin, skipping those
    /// identical to what is held (so re-importing a file writes nothing).
    /// All-or-nothing: one atomic, durable append.
    pub fn write_records(&self, records: Vec<Record>) -> Result<WriteSummary> {
        self.write_records_with(records, |_| Vec::new())
    }

    /// [`Node::write_records`], plus the records `more` derives from the view
    /// as it stands under the write lock (a correction's tombstones: what a
    /// replacing file leaves out, what a deletion takes), so no other write
    /// can come between what they were computed from and their append.
    pub fn write_records_with(
        &self,
        records: Vec<Record>,
        more: impl FnOnce(&crate::view::View) -> Vec<Record>,
    ) -> Result<WriteSummary> {
        self.write_own(records, more, None)
            .map(|(summary, _)| summary)
    }

    /// [`Node::write_records_with`] as one entry of the imports ledger
    /// ([`crate::imports`]), inserted in the same append as its changes.
    pub fn write_import(
        &self,
        records: Vec<Record>,
        more: impl FnOnce(&crate::view::View) -> Vec<Record>,
        draft: crate::imports::Draft,
    ) -> Result<(WriteSummary, crate::imports::Entry)> {
        let (summary, entry) = self.write_own(records, more, Some(draft))?;
        let entry =
            entry.ok_or_else(|| Error::Corrupt("the import wrote no ledger entry".into()))?;
        Ok((summary, entry))
    }

    fn write_own(
        &self,
        mut records: Vec<Record>,
        more: impl FnOnce(&crate::view::View) -> Vec<Record>,
        draft: Option<crate::imports::Draft>,
    ) -> Result<(WriteSummary, Option<crate::imports::Entry>)> {
        use crate::imports::Entry;
        let _writing = self.lock_writes();
        self.check_writable()?;
        let me = self.me;
        let (changed, head, total) = {
            let view = self.view();
            records.extend(more(&view));
            let total = records.len();
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
            (changed, view.head(me).copied(), total)
        };
        let (seq, prev) = head.map_or((0, GENESIS), |h| (h.seq, h.hash));
        let now = now_ms();
        let removed = changed
            .iter()
            .filter(|r| matches!(r, Record::Tombstone(_)))
            .count();
        let entry = match draft {
            None => None,
            Some(draft) => {
                let id = self.store.last_import_id()? + 1;
                let written = changed.len();
                let to = seq + written as u64;
                Some(Entry::from_draft(
                    draft,
                    id,
                    now,
                    written,
                    removed,
                    seq + 1,
                    to,
                ))
            }
        };
        if changed.is_empty() {
            if let Some(entry) = &entry {
                self.store.insert_import(entry.id, &entry.encode())?;
                self.store.flush()?;
            }
            return Ok((
                WriteSummary {
                    written: 0,
                    unchanged: total,
                    removed: 0,
                    seq,
                },
                entry,
            ));
        }
        let origin = self.code().to_owned();
        // Read before anything is written. A bureau must be able to record
        // its work even while its certificate is wrong or missing: such a
        // write is stored unsigned, is not forwarded, and is signed at the
        // next sync with a valid certificate ([`Node::sign_own_head`]).
        let signer = match self.signer() {
            Ok(signer) => signer,
            Err(e) => {
                warn!(error = %e, "this write is not signed; it is signed (and forwarded) at the next sync with a valid certificate");
                None
            }
        };
        // All-or-nothing across a crash too: sled may persist any prefix of
        // an append before its flush, and a dense prefix of our own log
        // looks whole at replay. So the write is marked as under way
        // (durably) first, and the mark cleared once the append is durable;
        // a store opened with the mark set drops what the write left.
        let before = seq;
        self.store.mark_write(before)?;
        // Encoding, hash-chaining and signing run on a second thread, a chunk
        // ahead of the inserts: the two halves of the work overlap on two
        // cores. A checkpoint is signed every `checkpoint::INTERVAL_CHANGES`
        // changes (or `INTERVAL_BYTES`) and at the end, inserted with the
        // changes it covers.
        type Chunk = (Vec<LogEntry>, Vec<(u64, Hash, bytes::Bytes)>);
        let appended = std::thread::scope(|scope| -> Result<(u64, Hash)> {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Chunk>(2);
            let (changed, origin, signer) = (&changed, &origin, &signer);
            let encoder = scope.spawn(move || {
                let (mut seq, mut prev) = (seq, prev);
                let (mut unsigned, mut unsigned_bytes) = (0usize, 0usize);
                let last = before + changed.len() as u64;
                for chunk in changed.chunks(WRITE_CHUNK) {
                    let mut checkpoints = Vec::new();
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
                            let encoded = codec::encode_change(&change);
                            unsigned += 1;
                            unsigned_bytes += encoded.len();
                            if let Some(signer) = signer
                                && (seq == last
                                    || unsigned >= checkpoint::INTERVAL_CHANGES
                                    || unsigned_bytes >= checkpoint::INTERVAL_BYTES)
                            {
                                checkpoints.push((seq, prev, signer.sign(origin, seq, &prev, now)));
                                (unsigned, unsigned_bytes) = (0, 0);
                            }
                            LogEntry {
                                origin: origin.clone(),
                                seq,
                                received_at_ms: now,
                                change: encoded,
                            }
                        })
                        .collect();
                    if tx.send((entries, checkpoints)).is_err() {
                        break;
                    }
                }
                (seq, prev)
            });
            let mut inserted = Ok(());
            for (entries, checkpoints) in rx {
                inserted = self.store.insert(&entries).and_then(|()| {
                    self.store.insert_checkpoints(
                        checkpoints
                            .iter()
                            .map(|(seq, hash, bytes)| (origin.as_str(), *seq, hash, bytes)),
                    )
                });
                if inserted.is_err() {
                    break;
                }
            }
            let tip = encoder
                .join()
                .map_err(|_| Error::Corrupt("the change encoder panicked".into()))?;
            inserted?;
            if let Some(entry) = &entry {
                self.store.insert_import(entry.id, &entry.encode())?;
            }
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
        if let Err(e) = write_own_head(&self.dir, seq) {
            // The write is durable; only the check of a later damaged store is weaker.
            warn!(error = %e, "cannot record the own log's head beside the store");
        }
        let written = changed.len();
        {
            let mut view = self.view.write().unwrap_or_else(|p| p.into_inner());
            let mut rollups = self.rollups.lock().unwrap_or_else(|p| p.into_inner());
            for record in changed {
                let touch = view.apply(me, record);
                rollups.touch(&view, touch);
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
        self.since_snapshot
            .fetch_add(written as u64, std::sync::atomic::Ordering::Relaxed);
        self.changed.send_modify(|v| *v += 1);
        info!(org = %origin, written, unchanged = total - written, seq, "records written");
        Ok((
            WriteSummary {
                written,
                unchanged: total - written,
                removed,
                seq,
            },
            entry,
        ))
    }
}
