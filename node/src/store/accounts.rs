//! The store's `accounts` and `audit` trees: the dashboard's accounts by
//! name, and the audit log in the order it was written.
//!
//! Both hold bytes their owner ([`crate::accounts`]) encodes; the store only
//! keys and orders them. Audit keys come from sled's monotonic id generator,
//! so entries keep their order across restarts and never collide.

use super::{Store, StoreError};

impl Store {
    /// The stored account `name`, as its owner encoded it.
    pub fn account(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .accounts
            .get(name.as_bytes())
            .map_err(|e| self.engine(e))?
            .map(|v| v.to_vec()))
    }

    /// Every account, by name.
    pub fn accounts(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let mut out = Vec::new();
        for item in self.accounts.iter() {
            let (key, value) = item.map_err(|e| self.engine(e))?;
            let name = String::from_utf8(key.to_vec())
                .map_err(|_| self.corrupt("account name is not utf-8"))?;
            out.push((name, value.to_vec()));
        }
        Ok(out)
    }

    /// Stores account `name` durably (replacing it).
    pub fn put_account(&self, name: &str, value: &[u8]) -> Result<(), StoreError> {
        self.accounts
            .insert(name.as_bytes(), value)
            .map_err(|e| self.engine(e))?;
        self.flush()
    }

    /// Removes account `name` durably; whether it existed.
    pub fn remove_account(&self, name: &str) -> Result<bool, StoreError> {
        let existed = self
            .accounts
            .remove(name.as_bytes())
            .map_err(|e| self.engine(e))?
            .is_some();
        self.flush()?;
        Ok(existed)
    }

    /// Appends an audit entry durably: when this returns, it survives a
    /// crash.
    pub fn append_audit(&self, value: &[u8]) -> Result<(), StoreError> {
        let id = self.db.generate_id().map_err(|e| self.engine(e))?;
        self.audit
            .insert(id.to_be_bytes(), value)
            .map_err(|e| self.engine(e))?;
        self.flush()
    }

    /// Audit entries in the order written, oldest first.
    pub fn audit(&self) -> impl DoubleEndedIterator<Item = Result<Vec<u8>, StoreError>> + '_ {
        self.audit
            .iter()
            .map(|item| item.map(|(_, v)| v.to_vec()).map_err(|e| self.engine(e)))
    }
}
