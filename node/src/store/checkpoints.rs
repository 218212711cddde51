//! The store's `checkpoints` tree: the signed checkpoints this node holds,
//! per origin and seq, each stored beside the hash it vouches for so that
//! "how far is this origin signed" needs no decoding.
//!
//! Checkpoints are written in the same append as the changes they cover
//! (before its flush), and removed with them when a torn tail is truncated.

use bytes::Bytes;

use super::{KEY_SEPARATOR, Store, StoreError, log_key, origin_end};
use crate::changelog::{HASH_LEN, Hash};

/// A stored checkpoint: the seq it vouches for, the hash there, and the
/// checkpoint's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    pub seq: u64,
    pub hash: Hash,
    pub bytes: Bytes,
}

impl Store {
    /// Inserts checkpoints `(origin, seq, hash, bytes)` without flushing:
    /// part of an append whose caller flushes at the end.
    pub fn insert_checkpoints<'a>(
        &self,
        checkpoints: impl IntoIterator<Item = (&'a str, u64, &'a Hash, &'a Bytes)>,
    ) -> Result<(), StoreError> {
        let mut value = Vec::new();
        for (origin, seq, hash, bytes) in checkpoints {
            value.clear();
            value.extend_from_slice(hash);
            value.extend_from_slice(bytes);
            self.checkpoints
                .insert(log_key(origin, seq), value.as_slice())
                .map_err(|e| self.engine(e))?;
        }
        Ok(())
    }

    fn decode_checkpoint(&self, key: &[u8], value: &[u8]) -> Result<StoredCheckpoint, StoreError> {
        let (_, seq) = self.split_key(key)?;
        let seq: [u8; 8] = seq
            .try_into()
            .map_err(|_| self.corrupt("checkpoint key without a seq"))?;
        if value.len() < HASH_LEN {
            return Err(self.corrupt("checkpoint value shorter than a hash"));
        }
        let mut hash = [0u8; HASH_LEN];
        hash.copy_from_slice(&value[..HASH_LEN]);
        Ok(StoredCheckpoint {
            seq: u64::from_be_bytes(seq),
            hash,
            bytes: Bytes::copy_from_slice(&value[HASH_LEN..]),
        })
    }

    /// The checkpoints of `origin` with seq in `from..=to`, in seq order.
    pub fn checkpoints(
        &self,
        origin: &str,
        from: u64,
        to: u64,
    ) -> impl Iterator<Item = Result<StoredCheckpoint, StoreError>> + '_ {
        let end = log_key(origin, to.saturating_add(1).max(from));
        let end = if to == u64::MAX {
            origin_end(origin)
        } else {
            end
        };
        self.checkpoints
            .range(log_key(origin, from)..end)
            .map(move |kv| {
                let (k, v) = kv.map_err(|e| self.engine(e))?;
                self.decode_checkpoint(&k, &v)
            })
    }

    /// The newest checkpoint of `origin` at or below `seq`.
    pub fn checkpoint_at_or_below(
        &self,
        origin: &str,
        seq: u64,
    ) -> Result<Option<StoredCheckpoint>, StoreError> {
        let mut start = origin.as_bytes().to_vec();
        start.push(KEY_SEPARATOR);
        match self
            .checkpoints
            .range(start..log_key(origin, seq.saturating_add(1)))
            .next_back()
        {
            Some(kv) => {
                let (k, v) = kv.map_err(|e| self.engine(e))?;
                Ok(Some(self.decode_checkpoint(&k, &v)?))
            }
            None => Ok(None),
        }
    }

    /// Removes the checkpoints of `origin` above `seq` (without flushing).
    pub(super) fn remove_checkpoints_after(
        &self,
        origin: &str,
        seq: u64,
    ) -> Result<(), StoreError> {
        let keys: Vec<sled::IVec> = self
            .checkpoints
            .range(log_key(origin, seq.saturating_add(1))..origin_end(origin))
            .keys()
            .collect::<Result<_, _>>()
            .map_err(|e| self.engine(e))?;
        for k in &keys {
            self.checkpoints.remove(k).map_err(|e| self.engine(e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_by_range_and_below_and_truncated_with_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let b = |n: u8| Bytes::from(vec![n; 3]);
        let (h3, h9, hx) = ([3u8; 32], [9u8; 32], [7u8; 32]);
        store
            .insert_checkpoints([
                ("410102", 3, &h3, &b(3)),
                ("410102", 9, &h9, &b(9)),
                ("4101", 5, &hx, &b(5)),
            ])
            .unwrap();
        let seqs = |from, to| -> Vec<u64> {
            store
                .checkpoints("410102", from, to)
                .map(|c| c.unwrap().seq)
                .collect()
        };
        assert_eq!(seqs(1, 100), [3, 9]);
        assert_eq!(seqs(4, 9), [9]);
        assert_eq!(seqs(4, 8), Vec::<u64>::new());
        let below = store.checkpoint_at_or_below("410102", 8).unwrap().unwrap();
        assert_eq!((below.seq, below.hash, below.bytes), (3, h3, b(3)));
        assert!(store.checkpoint_at_or_below("410102", 2).unwrap().is_none());
        // Another origin's keys, shorter or a prefix, never leak in.
        assert_eq!(
            store
                .checkpoint_at_or_below("4101", 100)
                .unwrap()
                .unwrap()
                .seq,
            5
        );
        store.truncate_after("410102", 5).unwrap();
        assert_eq!(seqs(1, 100), [3]);
        assert_eq!(
            store
                .checkpoint_at_or_below("4101", 100)
                .unwrap()
                .unwrap()
                .seq,
            5
        );
    }
}
