//! Restoring a node from its parent (`restore --from-upstream`): every
//! change the parent holds of our subtree above what we hold, verified and
//! chained like a child's batch — and, where our copy of an origin and the
//! parent's disagree, the fork policy in [`policy`] decides which side wins.
//! The transport only moves the bytes (`crate::sync::client`).

use std::collections::BTreeSet;
use std::sync::Arc;

use bytes::Bytes;
use tracing::{instrument, warn};

use crate::codec::{self, BATCH_CHANGES_MAX};
use crate::ingest;
use crate::node::Node;
use crate::sync::blocking;
use crate::sync::client::{self, SyncError};

/// What a restore brought back.
#[derive(Debug, Clone, Copy, Default)]
pub struct Restored {
    pub batches: u64,
    pub received: u64,
    pub applied: u64,
    pub skipped: u64,
    /// Local changes dropped because the parent's copy of their origin
    /// differs from them (written on an old copy of the data).
    pub discarded: u64,
}

/// Which side wins when our copy of an origin and the parent's disagree:
/// plain functions of the parent's vector and what we hold.
///
/// The parent's copy always wins. It is the copy the rest of the tree has
/// (everything above it was forwarded from it), so ours is what changes: we
/// keep the common prefix, drop ours after it, and take the parent's.
pub mod policy {
    use std::collections::{BTreeMap, BTreeSet};

    use bytes::Bytes;

    use crate::changelog::Hash;
    use crate::node::Conflict;

    /// Origins where our copy forked from the parent's at the parent's head:
    /// we hold the parent's head seq (or more) but another change there.
    /// `ours` are our heads (origin → (seq, hash)); `hash_at` is the hash we
    /// hold at a seq below our head.
    pub fn forked_origins(
        parent: &BTreeMap<String, (u64, Hash)>,
        ours: &BTreeMap<String, (u64, Hash)>,
        hash_at: impl Fn(&str, u64) -> Option<Hash>,
    ) -> BTreeSet<String> {
        parent
            .iter()
            .filter(|(origin, (seq, hash))| {
                let Some((our_seq, our_hash)) = ours.get(*origin) else {
                    return false;
                };
                if *our_seq < *seq || *seq == 0 {
                    return false;
                }
                let held = if our_seq == seq {
                    Some(*our_hash)
                } else {
                    hash_at(origin, *seq)
                };
                held != Some(*hash)
            })
            .map(|(origin, _)| origin.clone())
            .collect()
    }

    /// How many changes of an origin ours and the parent's copy (`theirs`,
    /// from seq 1) share, byte for byte: what we keep. `ours` is the change
    /// we hold at a seq.
    pub fn common_prefix<E>(
        theirs: &[Bytes],
        mut ours: impl FnMut(u64) -> Result<Option<Bytes>, E>,
    ) -> Result<u64, E> {
        let mut common = 0u64;
        for change in theirs {
            let seq = common + 1;
            match ours(seq)? {
                Some(held) if held == *change => common = seq,
                _ => break,
            }
        }
        Ok(common)
    }

    /// Whether, after a restore, our own log at `own_seq` resolves the
    /// conflict that refused writes: a fork is resolved by taking the
    /// parent's copy; a lost tail only once we hold it again.
    pub fn resolves(conflict: Conflict, own_seq: u64) -> bool {
        match conflict {
            Conflict::LostTail { parent_seq } => own_seq >= parent_seq,
            Conflict::Forked { .. } => true,
            // The parent's copy is all there is of what the store lost.
            Conflict::StoreLost { .. } => true,
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn heads(entries: &[(&str, u64, u8)]) -> BTreeMap<String, (u64, Hash)> {
            entries
                .iter()
                .map(|(o, seq, h)| ((*o).to_owned(), (*seq, [*h; 32])))
                .collect()
        }

        #[test]
        fn a_fork_is_a_different_change_at_the_parents_head() {
            let parent = heads(&[
                ("A", 3, 1), // same head: agrees
                ("B", 3, 2), // same seq, another hash: forked
                ("C", 2, 3), // we are ahead, and agree at seq 2
                ("D", 2, 4), // we are ahead, and disagree at seq 2
                ("E", 5, 5), // we are behind: not a fork, a restore fills it
                ("F", 1, 6), // we hold nothing of it
                ("G", 0, 7), // the parent holds nothing of it
            ]);
            let ours = heads(&[
                ("A", 3, 1),
                ("B", 3, 9),
                ("C", 4, 9),
                ("D", 4, 9),
                ("E", 2, 5),
                ("G", 1, 7),
            ]);
            let hash_at = |origin: &str, seq: u64| match (origin, seq) {
                ("C", 2) => Some([3; 32]),
                ("D", 2) => Some([8; 32]),
                _ => None,
            };
            let forked: Vec<String> = forked_origins(&parent, &ours, hash_at)
                .into_iter()
                .collect();
            assert_eq!(forked, vec!["B".to_owned(), "D".to_owned()]);
        }

        #[test]
        fn the_common_prefix_ends_at_the_first_difference() {
            let theirs: Vec<Bytes> = [&b"a"[..], b"b", b"c", b"d"]
                .into_iter()
                .map(Bytes::from_static)
                .collect();
            let held = |ours: &'static [&'static str]| {
                move |seq: u64| {
                    Ok::<_, ()>(
                        ours.get(seq as usize - 1)
                            .map(|s| Bytes::from_static(s.as_bytes())),
                    )
                }
            };
            assert_eq!(common_prefix(&theirs, held(&["a", "b", "x", "d"])), Ok(2));
            assert_eq!(common_prefix(&theirs, held(&["a", "b"])), Ok(2));
            assert_eq!(common_prefix(&theirs, held(&["z"])), Ok(0));
            assert_eq!(
                common_prefix(&theirs, held(&["a", "b", "c", "d", "e"])),
                Ok(4)
            );
            assert_eq!(common_prefix(&[], held(&["a"])), Ok(0));
            assert_eq!(common_prefix(&theirs, |_| Err("store")), Err("store"));
        }

        #[test]
        fn a_lost_tail_is_resolved_only_once_it_is_held_again() {
            let lost = Conflict::LostTail { parent_seq: 7 };
            assert!(!resolves(lost, 6));
            assert!(resolves(lost, 7));
            assert!(resolves(lost, 8));
            assert!(resolves(Conflict::Forked { seq: 3 }, 0));
        }
    }
}

/// Verifies changes from the parent as a child's batch and stores them,
/// counting what happened to them.
fn ingest_changes(
    node: &Node,
    contents: codec::Contents,
    done: &mut Restored,
) -> Result<ingest::Placed, SyncError> {
    let verified = ingest::verify_contents(node, &node.config().revoked, node.me(), contents)
        .map_err(|e| SyncError::Parent(e.to_string()))?;
    let placed = blocking(|| node.ingest(vec![verified]))?
        .pop()
        .unwrap_or_default();
    done.received +=
        u64::from(placed.applied) + u64::from(placed.skipped) + u64::from(placed.held_changes);
    done.applied += u64::from(placed.applied);
    done.skipped += u64::from(placed.skipped);
    Ok(placed)
}

/// Rebuilds this node's subtree from its parent: every change the parent
/// holds of our subtree above what we hold. Where our copy of an origin
/// forked from the parent's (this node wrote on an old copy of its data),
/// the parent's copy wins ([`policy`]): the whole origin is fetched, our
/// changes from the first difference on are dropped, and the parent's are
/// taken. Lifts the write refusal once our own log agrees with the parent's.
/// Only while no one else uses the node (not through the daemon).
#[instrument(skip_all, fields(org = %node.code()))]
pub async fn restore(node: &Arc<Node>) -> Result<Restored, SyncError> {
    let (url, mut client) = client::connect(node).await?;
    let mut done = Restored::default();
    // Origins where our copy and the parent's disagree at the parent's head.
    let vector = client::probe_vector(node, &url, &mut client).await?;
    let ours = node.heads_by_code();
    let mut forked: BTreeSet<String> =
        policy::forked_origins(&vector.entries, &ours, |o, s| node.hash_at(o, s));
    done.batches += client::restore_stream(node, &url, &mut client, &ours, Vec::new(), |changes| {
        let placed = ingest_changes(node, changes, &mut done)?;
        // A change that does not chain onto ours: forked below our head.
        for h in placed.held {
            forked.insert(h.origin);
        }
        Ok(())
    })
    .await?;

    // Origins whose copies disagree: fetch them whole, keep our common
    // prefix, take the parent's copy after it.
    for origin in forked {
        let mut theirs: Vec<Bytes> = Vec::new();
        let mut signatures: Vec<Bytes> = Vec::new();
        done.batches += client::restore_stream(
            node,
            &url,
            &mut client,
            &Default::default(),
            vec![origin.clone()],
            |contents| {
                theirs.extend(contents.changes);
                signatures.extend(contents.checkpoints);
                Ok(())
            },
        )
        .await?;
        let common = policy::common_prefix(&theirs, |seq| {
            node.store()
                .entry(&origin, seq)
                .map(|e| e.map(|e| e.change))
                .map_err(crate::error::Error::from)
        })?;
        let dropped = node.truncate_origin(&origin, common)?;
        warn!(origin = %origin, kept = common, dropped, "our copy forked from the parent's: dropped ours after the common prefix");
        done.discarded += dropped as u64;
        for chunk in theirs.split_off(common as usize).chunks(BATCH_CHANGES_MAX) {
            let contents = codec::Contents {
                changes: chunk.to_vec(),
                checkpoints: signatures.clone(),
            };
            let placed = ingest_changes(node, contents, &mut done)?;
            if let Some(h) = placed.held.first() {
                return Err(SyncError::Parent(format!(
                    "the parent's copy of {} does not chain at seq {}: {}",
                    h.origin, h.seq, h.reason
                )));
            }
        }
    }
    // Our own log is the parent's now (or a continuation of it): writable.
    if let Some(conflict) = node.conflict() {
        let own_seq = node.view().head(node.me()).map_or(0, |h| h.seq);
        if policy::resolves(conflict, own_seq) {
            node.clear_conflict()?;
        }
    }
    node.record_own_head()?;
    Ok(done)
}
