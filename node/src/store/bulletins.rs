//! The store's `bulletins` tree: the national series this node holds, by
//! number (u64 BE), each value the sealed bulletin exactly as received, so
//! it is handed to the children byte for byte.
//!
//! The node verifies a bulletin before it stores it; the store only keeps
//! the series dense: a bulletin is stored with its predecessors, durably,
//! before anything is computed with it.

use super::{Store, StoreError};

impl Store {
    /// Every bulletin held, in number order.
    pub fn bulletins(&self) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let mut out = Vec::new();
        for item in self.bulletins.iter() {
            let (key, value) = item.map_err(|e| self.engine(e))?;
            let number = key
                .as_ref()
                .try_into()
                .map(u64::from_be_bytes)
                .map_err(|_| self.corrupt("bulletin key is not a u64"))?;
            out.push((number, value.to_vec()));
        }
        Ok(out)
    }

    /// Stores bulletins (number, sealed bytes) and makes them durable.
    pub fn put_bulletins(&self, bulletins: &[(u64, &[u8])]) -> Result<(), StoreError> {
        for (number, sealed) in bulletins {
            self.bulletins
                .insert(number.to_be_bytes(), *sealed)
                .map_err(|e| self.engine(e))?;
        }
        self.flush()
    }
}
