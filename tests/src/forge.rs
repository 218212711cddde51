//! What a compromised middle node could forward: a subordinate's changes
//! rewritten and re-chained so that every hash checks, with the
//! subordinate's genuine checkpoint, one of its own, or none. Receivers
//! above it must refuse all three; and a node whose own store was tampered
//! with must not forward what no checkpoint vouches for.

use std::path::Path;

use bytes::Bytes;
use lunxun_node::changelog::{Change, Hash};
use lunxun_node::codec;
use lunxun_node::model::{Obligation, ObligationKind, Record};
use lunxun_node::store::{LogEntry, Store};

/// `changes` (consecutive, of one origin, the first chained after `prev`)
/// with the record of the first rewritten and every change re-chained.
/// Returns them and the new head hash.
pub fn rewritten(changes: &[Bytes], prev: Hash) -> (Vec<Bytes>, Hash) {
    let mut prev = prev;
    let out = changes
        .iter()
        .enumerate()
        .map(|(i, bytes)| {
            let mut change = codec::decode_change(bytes.clone()).expect("a change");
            if i == 0 {
                change.record = codec::encode_record(&Record::Obligation(Obligation {
                    kind: ObligationKind::Study,
                    date: "2026-01-05".parse().expect("a date"),
                    note: "forged by a middle node".into(),
                }));
            }
            let change = Change::new(
                change.origin,
                change.seq,
                prev,
                change.written_at_ms,
                change.record,
            );
            prev = change.hash;
            codec::encode_change(&change)
        })
        .collect();
    (out, prev)
}

/// The hash a change carries.
pub fn hash_of(change: &Bytes) -> Hash {
    codec::decode_change(change.clone()).expect("a change").hash
}

/// Rewrites `origin`'s change `at` and re-chains the rest of it, in the
/// stopped node in `dir` (a tampered store file). Returns the head seq.
pub fn rewrite_in_store(dir: &Path, origin: &str, at: u64) -> u64 {
    let store = Store::open(&dir.join(lunxun_node::config::STORE_DIR)).expect("open the store");
    let prev = store
        .entry(origin, at - 1)
        .expect("read the store")
        .map_or(lunxun_node::changelog::GENESIS, |e| hash_of(&e.change));
    let entries: Vec<LogEntry> = store
        .scan(origin, at - 1)
        .map(|e| e.expect("read the store"))
        .collect();
    let changes: Vec<Bytes> = entries.iter().map(|e| e.change.clone()).collect();
    let (forged, _) = rewritten(&changes, prev);
    let forged: Vec<LogEntry> = entries
        .into_iter()
        .zip(forged)
        .map(|(e, change)| LogEntry { change, ..e })
        .collect();
    let head = forged.last().expect("changes to rewrite").seq;
    // A tampered file keeps the origin's signed checkpoints as they were:
    // the store's own cut would drop them with the changes, so they are put
    // back beside the forgery.
    let kept: Vec<_> = store
        .checkpoints(origin, at, u64::MAX)
        .map(|c| c.expect("read the store"))
        .collect();
    store.truncate_after(origin, at - 1).expect("cut the log");
    store.append(&forged).expect("write the store");
    store
        .insert_checkpoints(kept.iter().map(|c| (origin, c.seq, &c.hash, &c.bytes)))
        .expect("keep the checkpoints");
    store.flush().expect("write the store");
    head
}

/// The checkpoint a stopped node in `dir` holds of `origin` at `seq`.
pub fn stored_checkpoint(dir: &Path, origin: &str, seq: u64) -> Bytes {
    let store = Store::open(&dir.join(lunxun_node::config::STORE_DIR)).expect("open the store");
    let c = store
        .checkpoint_at_or_below(origin, seq)
        .expect("read the store")
        .expect("a checkpoint");
    assert_eq!(c.seq, seq, "a checkpoint at {seq}");
    c.bytes
}

/// A checkpoint of `origin` at `seq` (hash `hash`) signed with the identity
/// in `tls_dir`, which is for `signer_org`.
pub fn sign_as(tls_dir: &Path, signer_org: &str, origin: &str, seq: u64, hash: &Hash) -> Bytes {
    let signer =
        lunxun_node::certs::sign::Signer::load(tls_dir, signer_org).expect("the node's identity");
    signer.sign(origin, seq, hash, lunxun_node::node::now_ms())
}
