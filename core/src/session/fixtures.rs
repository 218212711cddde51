//! What the session machines' tests share: the child and its origins, its
//! logs, and the record every simulated change carries.

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::changelog::{Change, GENESIS, Hash};
use crate::model::{PersonId, Rank, Record, RosterEntry};

/// The child whose sessions the tests drive (郑州).
pub const CHILD: &str = "410100";
/// The origins of its subtree the tests write.
pub const ORIGINS: [&str; 3] = ["410100", "410102", "410103"];

/// What a change's record decodes to, for the placement (the simulated
/// parent never decodes the bytes).
pub fn roster() -> Record {
    Record::Roster(RosterEntry {
        person: "11010519491231002X".parse::<PersonId>().unwrap(),
        name: "人".into(),
        rank: Rank::General,
        since: "2024-01-01".parse().unwrap(),
        until: None,
        employer: String::new(),
        position: String::new(),
        group: String::new(),
    })
}

/// The child's logs: its changes per origin.
#[derive(Debug, Default, Clone)]
pub struct ChildLogs {
    pub logs: BTreeMap<String, Vec<Change>>,
}

impl ChildLogs {
    /// Appends `n` changes to `origin`'s log.
    pub fn write(&mut self, origin: &str, n: u64) {
        let log = self.logs.entry(origin.to_owned()).or_default();
        for _ in 0..n {
            let seq = log.len() as u64 + 1;
            let prev = log.last().map_or(GENESIS, |c| c.hash);
            let record = Bytes::from(format!("{origin} {seq}"));
            log.push(Change::new(origin.into(), seq, prev, seq as i64, record));
        }
    }

    /// Every origin's head: (seq, hash).
    pub fn heads(&self) -> BTreeMap<String, (u64, Hash)> {
        self.logs
            .iter()
            .filter_map(|(o, l)| l.last().map(|c| (o.clone(), (c.seq, c.hash))))
            .collect()
    }

    /// The hash held at `seq` of `origin`.
    pub fn hash_at(&self, origin: &str, seq: u64) -> Option<Hash> {
        let log = self.logs.get(origin)?;
        log.get(seq.checked_sub(1)? as usize).map(|c| c.hash)
    }

    /// Change `seq` of `origin`.
    pub fn change(&self, origin: &str, seq: u64) -> Change {
        self.logs[origin][seq as usize - 1].clone()
    }
}
