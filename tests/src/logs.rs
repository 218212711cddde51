//! Every origin's change log as a stopped node's store holds it, and the
//! exactly-once check: an ancestor holds an origin's log with the same seqs
//! 1..n and the same bytes as the origin wrote them, so nothing was lost and
//! nothing applied twice.

use std::collections::BTreeMap;
use std::path::Path;

use bytes::Bytes;
use lunxun_node::changelog::GENESIS;
use lunxun_node::codec;

/// One stored change: its seq and its bytes exactly as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub seq: u64,
    pub change: Bytes,
}

/// Every origin's log held by one node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Logs {
    /// The node's org code.
    pub org: String,
    /// origin → its changes in the order the store keeps them (by seq).
    pub origins: BTreeMap<String, Vec<Stored>>,
    /// origin → the head seq the node's view holds.
    pub heads: BTreeMap<String, u64>,
}

impl Logs {
    /// Opens the node in `dir` in-process (no other process may hold it)
    /// and reads every entry of its store.
    pub fn read(dir: &Path) -> Logs {
        let node = lunxun_node::node::Node::open(dir)
            .unwrap_or_else(|e| panic!("open {}: {e}", dir.display()));
        let mut origins: BTreeMap<String, Vec<Stored>> = BTreeMap::new();
        for entry in node.store().scan_all() {
            let entry = entry.unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
            origins.entry(entry.origin).or_default().push(Stored {
                seq: entry.seq,
                change: entry.change,
            });
        }
        let heads = node
            .view()
            .heads()
            .map(|(org, head)| (node.orgs().code(org).to_owned(), head.seq))
            .collect();
        Logs {
            org: node.code().to_owned(),
            origins,
            heads,
        }
    }

    /// The number of changes held of `origin`.
    pub fn seq(&self, origin: &str) -> u64 {
        self.origins.get(origin).map_or(0, |l| l.len() as u64)
    }

    /// Changes held, over every origin.
    pub fn total(&self) -> u64 {
        self.origins.values().map(|l| l.len() as u64).sum()
    }

    /// The origins held.
    pub fn origin_codes(&self) -> Vec<&str> {
        self.origins.keys().map(String::as_str).collect()
    }

    /// Checks that `origin`'s log here is dense from 1, chained, each change
    /// verifying its hash, and that the view's head is its last seq.
    pub fn assert_well_formed(&self, origin: &str) {
        let log = self
            .origins
            .get(origin)
            .unwrap_or_else(|| panic!("{} holds nothing of {origin}", self.org));
        let mut prev = GENESIS;
        for (i, stored) in log.iter().enumerate() {
            let expected = i as u64 + 1;
            assert_eq!(
                stored.seq, expected,
                "{} holds {origin} with a hole or a duplicate at position {i}",
                self.org
            );
            let change = codec::decode_change(stored.change.clone()).unwrap_or_else(|e| {
                panic!("{}: {origin} seq {expected} does not decode: {e}", self.org)
            });
            assert_eq!(change.origin, origin);
            assert_eq!(change.seq, expected);
            assert!(
                change.hash_is_valid(),
                "{}: {origin} seq {expected} does not match its hash",
                self.org
            );
            assert_eq!(
                change.prev_hash, prev,
                "{}: {origin} seq {expected} does not chain onto seq {}",
                self.org, i
            );
            prev = change.hash;
        }
        assert_eq!(
            self.heads.get(origin).copied(),
            Some(log.len() as u64),
            "{}: the view's head of {origin} is not the store's last seq",
            self.org
        );
    }
}

/// Asserts that `holder` holds `origin`'s log exactly as `own` (the origin's
/// own node) does: seqs 1..n, the same bytes, nothing missing, nothing twice.
pub fn assert_exactly_once(origin: &str, own: &Logs, holder: &Logs) {
    assert_eq!(own.org, origin, "`own` must be the origin's own node");
    own.assert_well_formed(origin);
    holder.assert_well_formed(origin);
    let mine = &own.origins[origin];
    let theirs = &holder.origins[origin];
    assert_eq!(
        theirs.len(),
        mine.len(),
        "{} holds {} changes of {origin}, the origin wrote {}",
        holder.org,
        theirs.len(),
        mine.len()
    );
    if let Some(i) = mine.iter().zip(theirs).position(|(a, b)| a != b) {
        panic!(
            "{} holds another change of {origin} at seq {} than the origin wrote",
            holder.org, mine[i].seq
        );
    }
}
