//! The store's `returned` tree: the trainings the parent returns (see
//! `lunxun_core::returns`), one value per person — key the person's packed
//! id (u64 BE), value the person's set as its owner encodes it (a
//! `lunxun.v1.PersonTrainings`). Apart from the log on purpose: nothing
//! here is a change of any origin, so nothing here is ever forwarded
//! nor restored to a child.

use lunxun_core::returns::child::Version;

use super::{DISK_BYTES_PER_BYTE, Store, StoreError};

impl Store {
    /// Every person's returned set as stored: (packed person id, bytes).
    pub fn returned(&self) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let mut out = Vec::new();
        for item in self.returned.iter() {
            let (key, value) = item.map_err(|e| self.engine(e))?;
            let person = key
                .as_ref()
                .try_into()
                .map(u64::from_be_bytes)
                .map_err(|_| self.corrupt("returned key is not a u64"))?;
            out.push((person, value.to_vec()));
        }
        Ok(out)
    }

    /// Replaces the sets of the people named (`Some`: the new bytes, `None`:
    /// removed) in one atomic batch, records `at_ms` as when they came and
    /// `version` as the parent's answer they are, and makes all of it
    /// durable: a crash leaves all of them or none. Refused whole when it
    /// would leave the disk with less than the space kept free.
    pub fn replace_returned(
        &self,
        changes: &[(u64, Option<Vec<u8>>)],
        at_ms: i64,
        version: &Version,
    ) -> Result<(), StoreError> {
        let bytes: u64 = changes
            .iter()
            .map(|(_, v)| 8 + v.as_ref().map_or(0, Vec::len) as u64)
            .sum();
        self.ensure_space(bytes.saturating_mul(DISK_BYTES_PER_BYTE))?;
        let mut batch = sled::Batch::default();
        for (person, value) in changes {
            match value {
                Some(v) => batch.insert(&person.to_be_bytes(), v.as_slice()),
                None => batch.remove(&person.to_be_bytes()),
            }
        }
        self.returned
            .apply_batch(batch)
            .map_err(|e| self.engine(e))?;
        self.stage_returned_at(at_ms)?;
        self.stage_returned_version(version)?;
        self.flush()
    }

    /// Removes the sets of these people, durably (sets that no longer read).
    pub fn drop_returned(&self, people: &[u64]) -> Result<(), StoreError> {
        for person in people {
            self.returned
                .remove(person.to_be_bytes())
                .map_err(|e| self.engine(e))?;
        }
        self.flush()
    }
}
