//! The store's `imports` tree: one entry per write of this node's own
//! records that people asked for (an import, a deletion, an undo), by id,
//! as its owner ([`crate::imports`]) encodes it.
//!
//! An entry that covers changes is inserted in the same append as they are,
//! before its flush; a crash can still leave it without its changes (sled
//! persists any prefix of what was inserted), so the node drops, at open,
//! entries above its own log's head ([`Store::drop_imports_above`]).

use super::{Store, StoreError};

impl Store {
    /// The highest import id used, 0 before the first.
    pub fn last_import_id(&self) -> Result<u64, StoreError> {
        match self.imports.last().map_err(|e| self.engine(e))? {
            None => Ok(0),
            Some((key, _)) => key
                .as_ref()
                .try_into()
                .map(u64::from_be_bytes)
                .map_err(|_| self.corrupt("import key is not a u64")),
        }
    }

    /// Inserts import entry `id` without flushing (part of an append).
    pub fn insert_import(&self, id: u64, value: &[u8]) -> Result<(), StoreError> {
        self.imports
            .insert(id.to_be_bytes(), value)
            .map_err(|e| self.engine(e))?;
        Ok(())
    }

    /// Import entry `id`.
    pub fn import(&self, id: u64) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .imports
            .get(id.to_be_bytes())
            .map_err(|e| self.engine(e))?
            .map(|v| v.to_vec()))
    }

    /// Every import entry, oldest first.
    pub fn imports(&self) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let mut out = Vec::new();
        for item in self.imports.iter() {
            let (key, value) = item.map_err(|e| self.engine(e))?;
            let id = key
                .as_ref()
                .try_into()
                .map(u64::from_be_bytes)
                .map_err(|_| self.corrupt("import key is not a u64"))?;
            out.push((id, value.to_vec()));
        }
        Ok(out)
    }

    /// Removes the newest entries for which `above` holds (their changes
    /// were not kept), durably; how many.
    pub fn drop_imports_above(&self, above: impl Fn(&[u8]) -> bool) -> Result<usize, StoreError> {
        let mut dropped = 0;
        while let Some((key, value)) = self.imports.last().map_err(|e| self.engine(e))? {
            if !above(&value) {
                break;
            }
            self.imports.remove(key).map_err(|e| self.engine(e))?;
            dropped += 1;
        }
        if dropped > 0 {
            self.flush()?;
        }
        Ok(dropped)
    }
}
