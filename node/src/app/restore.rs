//! Restoring a node from its parent (`restore --from-upstream`).
//!
//! The parent is not trusted: its whole answer is received and verified
//! before anything local changes. Every change it sends is decoded and
//! checked like a child's batch ([`ingest::verify`]: origin known and inside
//! our subtree, hash matching the content) and staged on disk, in a separate
//! store under the data dir ([`STAGING_DIR`]), never in memory. Once the
//! stream has ended, [`verify_staged`] checks each staged origin's copy is one
//! contiguous hash chain from what we hold (or from seq 1), and
//! [`policy::shortfall`] that the answer holds every change the parent's
//! vector announced: an empty or short answer, a broken chain or a broken
//! link is one line naming the parent and the origin, and the local store is
//! left as it was.
//!
//! Only then is anything applied, and never at the cost of a local change:
//! where our copy of an origin and the parent's disagree, ours is kept
//! ([`policy::decide`]) and the restore says so. The parent's copy is only
//! taken where it extends ours. (Until origins sign their logs, a parent's
//! copy of our own origin that conflicts with ours cannot be told from a
//! forgery, so it is never taken over ours.) The transport only moves the
//! bytes (`crate::sync::client`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use tracing::{info, instrument, warn};

use crate::changelog::{GENESIS, Hash};
use crate::codec::{self, BATCH_CHANGES_MAX};
use crate::ingest::{self, Checked, HeldReason, Signatures, Signed};
use crate::node::Node;
use crate::orgs::{OrgDirectory, OrgId};
use crate::store::{LogEntry, Store, StoreError};
use crate::sync::blocking;
use crate::sync::client::{self, SESSION_CHANGES_MAX, SyncError};

/// Where the parent's answer is staged, under the data dir: a store of its
/// own, removed when the restore ends (and at the start of the next one, if
/// a restore died).
pub const STAGING_DIR: &str = "restore-staging";

/// Changes a restore stages beyond what the parent's vector announced: the
/// parent may receive more of our subtree while it answers, but not more
/// than a session carries. Bounds what a hostile parent can make us stage.
pub const RESTORE_GROWTH_MAX: u64 = SESSION_CHANGES_MAX;

/// An origin where our copy and the parent's disagree, and ours was kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    pub origin: String,
    /// The first seq where the two copies differ.
    pub from_seq: u64,
    /// Our changes from `from_seq` on, kept.
    pub local: u64,
}

/// What a restore brought back.
#[derive(Debug, Clone, Default)]
pub struct Restored {
    pub batches: u64,
    pub received: u64,
    pub applied: u64,
    pub skipped: u64,
    /// Changes taken but held back at placement (records that do not
    /// validate here: quarantined).
    pub held: u64,
    /// Origins where the parent's copy conflicts with ours: ours kept.
    pub kept: Vec<Kept>,
}

/// Why a staged copy cannot be taken.
#[derive(Debug, thiserror::Error)]
pub enum StagedFault {
    /// The copy's first change does not chain onto the change we hold at
    /// its base: our copy differs at or below our head, and the whole
    /// origin is needed to find where.
    #[error("does not chain onto our change at seq {base}")]
    BelowBase { base: u64 },
    /// The copy itself is broken (the parent's fault).
    #[error("{origin} seq {seq}: {reason}")]
    Broken {
        origin: String,
        seq: u64,
        reason: String,
    },
    /// The staging store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A staged copy of one origin that passed [`verify_staged`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StagedCopy {
    /// The seq it continues from (0: a whole copy from seq 1).
    pub base: u64,
    /// Its last change (seq, hash); the base itself if it holds none.
    pub tip: (u64, Hash),
}

/// Checks the staged changes of `origin` (in seq order) as the parent's copy
/// continuing from `base` (seq, hash; `(0, GENESIS)` for a whole copy): each
/// decodes, passes the checks of a child's batch from `sender`, is of
/// `origin`, and chains onto the one before without a gap. The one place a
/// staged copy is verified: signature checks of origin logs belong here.
pub fn verify_staged(
    orgs: &OrgDirectory,
    sender: OrgId,
    origin: &str,
    base: (u64, Hash),
    staged: impl Iterator<Item = Result<Bytes, StoreError>>,
) -> Result<StagedCopy, StagedFault> {
    let mut tip = base;
    for bytes in staged {
        let bytes = bytes?;
        let seq = tip.0 + 1;
        let broken = |reason: String| StagedFault::Broken {
            origin: origin.to_owned(),
            seq,
            reason,
        };
        let verified = ingest::verify(orgs, sender, vec![bytes])
            .map_err(|e| broken(e.to_string()))?
            .pop()
            .ok_or_else(|| broken("missing".into()))?;
        let change = verified.change;
        if change.origin != origin || change.seq != seq {
            return Err(broken(format!(
                "found {} seq {} in its place",
                change.origin, change.seq
            )));
        }
        if change.prev_hash != tip.1 {
            if seq == base.0 + 1 && base.0 > 0 {
                return Err(StagedFault::BelowBase { base: base.0 });
            }
            return Err(broken("does not chain onto the change before it".into()));
        }
        tip = (seq, change.hash);
    }
    Ok(StagedCopy { base: base.0, tip })
}

/// The restore's decisions: plain functions of the parent's vector, what we
/// hold and what the parent sent.
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

    /// How many changes of an origin ours and the parent's copy share from
    /// seq 1, byte for byte. `theirs` and `ours` are the change each holds
    /// at a seq.
    pub fn common_prefix<E>(
        mut theirs: impl FnMut(u64) -> Result<Option<Bytes>, E>,
        mut ours: impl FnMut(u64) -> Result<Option<Bytes>, E>,
    ) -> Result<u64, E> {
        let mut common = 0u64;
        loop {
            let seq = common + 1;
            match (theirs(seq)?, ours(seq)?) {
                (Some(t), Some(o)) if t == o => common = seq,
                _ => return Ok(common),
            }
        }
    }

    /// How the parent's answer for one origin falls short of its vector.
    #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
    pub enum Shortfall {
        /// Nothing of the origin came, though the vector holds it.
        #[error(
            "the parent sent nothing of {origin} though its vector holds it up to seq {promised}"
        )]
        Empty { origin: String, promised: u64 },
        /// The answer ends before the vector's head.
        #[error(
            "the parent's answer for {origin} ends at seq {tip} though its vector holds seq {promised}"
        )]
        Short {
            origin: String,
            tip: u64,
            promised: u64,
        },
        /// The change at the vector's head is not the one it announced.
        #[error("the parent's change {origin} seq {promised} is not the one its vector announced")]
        Other { origin: String, promised: u64 },
    }

    /// Whether the parent's answer for `origin` holds what its vector
    /// (`promised`: seq, hash) announced beyond `base`, the seq the answer
    /// continues from. `staged` is the answer's tip seq (none if nothing
    /// came) and the hash it holds at the promised seq.
    pub fn shortfall(
        origin: &str,
        promised: (u64, Hash),
        base: u64,
        staged: Option<(u64, Option<Hash>)>,
    ) -> Option<Shortfall> {
        let (seq, hash) = promised;
        if seq <= base {
            return None;
        }
        let origin = origin.to_owned();
        match staged {
            None => Some(Shortfall::Empty {
                origin,
                promised: seq,
            }),
            Some((tip, _)) if tip < seq => Some(Shortfall::Short {
                origin,
                tip,
                promised: seq,
            }),
            Some((_, at)) if at != Some(hash) => Some(Shortfall::Other {
                origin,
                promised: seq,
            }),
            Some(_) => None,
        }
    }

    /// What a restore does with the parent's verified copy of an origin.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Decision {
        /// Take the parent's changes after this seq: they extend ours.
        Take { after: u64 },
        /// Keep ours: the copies differ from this seq on, where we hold
        /// `local` changes the parent's copy replaces.
        KeepOurs { from_seq: u64, local: u64 },
        /// Nothing to take: the parent's copy is a prefix of ours.
        Nothing,
    }

    /// Decides for one origin: we hold up to `our_seq`, the parent's copy
    /// up to `their_seq`, and the two share the first `common` changes.
    /// A local change is never replaced: until origins sign their logs, a
    /// parent's change that conflicts with one of ours cannot be told from a
    /// forgery (for our own origin above all).
    pub fn decide(our_seq: u64, their_seq: u64, common: u64) -> Decision {
        if their_seq <= common {
            Decision::Nothing
        } else if our_seq <= common {
            Decision::Take { after: common }
        } else {
            Decision::KeepOurs {
                from_seq: common + 1,
                local: our_seq - common,
            }
        }
    }

    /// Whether, after a restore, our own log at `own_seq` resolves the
    /// conflict that refused writes. A fork is resolved only if our copy no
    /// longer conflicts with the parent's (`own_kept` is false); a lost tail
    /// only once we hold it again.
    pub fn resolves(conflict: Conflict, own_seq: u64, own_kept: bool) -> bool {
        match conflict {
            Conflict::LostTail { parent_seq } => own_seq >= parent_seq && !own_kept,
            Conflict::Forked { .. } => !own_kept,
            // The parent's copy is all there is of what the store lost.
            Conflict::StoreLost { .. } => !own_kept,
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

        fn held(log: &'static [&'static str]) -> impl FnMut(u64) -> Result<Option<Bytes>, ()> {
            move |seq: u64| {
                Ok(log
                    .get(seq as usize - 1)
                    .map(|s| Bytes::from_static(s.as_bytes())))
            }
        }

        #[test]
        fn the_common_prefix_ends_at_the_first_difference() {
            let theirs = &["a", "b", "c", "d"];
            assert_eq!(
                common_prefix(held(theirs), held(&["a", "b", "x", "d"])),
                Ok(2)
            );
            assert_eq!(common_prefix(held(theirs), held(&["a", "b"])), Ok(2));
            assert_eq!(common_prefix(held(theirs), held(&["z"])), Ok(0));
            assert_eq!(
                common_prefix(held(theirs), held(&["a", "b", "c", "d", "e"])),
                Ok(4)
            );
            assert_eq!(common_prefix(held(&[]), held(&["a"])), Ok(0));
            assert_eq!(common_prefix(held(theirs), |_| Err(())), Err(()));
        }

        #[test]
        fn an_answer_short_of_the_vector_is_refused() {
            let promised = (5, [5; 32]);
            let short = |base, staged| shortfall("410102", promised, base, staged);
            // Everything up to the vector's head, and more: kept.
            assert_eq!(short(2, Some((5, Some([5; 32])))), None);
            assert_eq!(short(0, Some((7, Some([5; 32])))), None);
            // Nothing owed beyond what we hold.
            assert_eq!(short(5, None), None);
            assert_eq!(short(9, None), None);
            assert_eq!(
                short(2, None),
                Some(Shortfall::Empty {
                    origin: "410102".into(),
                    promised: 5
                })
            );
            assert_eq!(
                short(2, Some((4, None))),
                Some(Shortfall::Short {
                    origin: "410102".into(),
                    tip: 4,
                    promised: 5
                })
            );
            assert_eq!(
                short(0, Some((6, Some([6; 32])))),
                Some(Shortfall::Other {
                    origin: "410102".into(),
                    promised: 5
                })
            );
            let line = short(2, Some((4, None))).unwrap().to_string();
            assert!(line.contains("410102") && line.contains("seq 4") && line.contains("seq 5"));
        }

        #[test]
        fn a_local_change_is_never_replaced() {
            // Ours is a prefix of theirs (a lost tail, a dead disk): take.
            assert_eq!(decide(3, 5, 3), Decision::Take { after: 3 });
            assert_eq!(decide(0, 5, 0), Decision::Take { after: 0 });
            // Theirs is a prefix of ours: nothing to take.
            assert_eq!(decide(5, 3, 3), Decision::Nothing);
            assert_eq!(decide(5, 5, 5), Decision::Nothing);
            // They differ after the common prefix: ours is kept, whatever
            // the lengths (a forged seq 1 of a two-change log).
            assert_eq!(
                decide(2, 1, 0),
                Decision::KeepOurs {
                    from_seq: 1,
                    local: 2
                }
            );
            assert_eq!(
                decide(4, 9, 2),
                Decision::KeepOurs {
                    from_seq: 3,
                    local: 2
                }
            );
        }

        #[test]
        fn a_conflict_is_resolved_only_when_nothing_of_ours_was_kept() {
            let lost = Conflict::LostTail { parent_seq: 7 };
            assert!(!resolves(lost, 6, false));
            assert!(resolves(lost, 7, false));
            assert!(resolves(lost, 8, false));
            assert!(!resolves(lost, 8, true));
            assert!(resolves(Conflict::Forked { seq: 3 }, 0, false));
            assert!(!resolves(Conflict::Forked { seq: 3 }, 5, true));
            assert!(resolves(Conflict::StoreLost { written_seq: 4 }, 4, false));
            assert!(!resolves(Conflict::StoreLost { written_seq: 4 }, 4, true));
        }
    }
}

/// The parent's answer on disk: a store of its own under the data dir, and
/// per origin the seq and hash the answer continues from and the next seq
/// due. Removed when dropped.
struct Staging {
    dir: PathBuf,
    store: Option<Store>,
    /// origin → (base (seq, hash), next seq due).
    origins: BTreeMap<String, ((u64, Hash), u64)>,
    /// Changes staged, and the most allowed.
    changes: u64,
    limit: u64,
    /// Per origin, why a checkpoint the parent sent did not verify.
    rejected: BTreeMap<String, String>,
}

impl Staging {
    fn open(data_dir: &Path) -> Result<Staging, SyncError> {
        let dir = data_dir.join(STAGING_DIR);
        remove_staging(&dir);
        let store = Store::open(&dir).map_err(crate::error::Error::from)?;
        Ok(Staging {
            dir,
            store: Some(store),
            origins: BTreeMap::new(),
            changes: 0,
            limit: 0,
            rejected: BTreeMap::new(),
        })
    }

    fn store(&self) -> &Store {
        self.store
            .as_ref()
            .expect("the staging store is open until dropped")
    }

    /// Expects a whole copy of `origins` next: forgets what was staged of them.
    fn restart(&mut self, origins: &BTreeSet<String>) -> Result<(), StoreError> {
        for origin in origins {
            self.store().truncate_after(origin, 0)?;
            self.origins.remove(origin);
        }
        Ok(())
    }

    /// Stages one batch of the parent's answer: each change decoded and
    /// checked like a child's batch, of an origin `base_of` says we asked
    /// for (and from which seq), and the next seq due of its origin.
    fn stage(
        &mut self,
        node: &Node,
        url: &str,
        contents: codec::Contents,
        base_of: &dyn Fn(&str) -> Option<(u64, Hash)>,
    ) -> Result<u64, SyncError> {
        let refuse = |reason: String| SyncError::Restore {
            url: url.to_owned(),
            reason,
        };
        let codec::Contents {
            changes,
            checkpoints,
        } = contents;
        let count = changes.len() as u64;
        if self.changes + count > self.limit {
            return Err(refuse(format!(
                "the answer holds more than the {} changes its vector announced (and {RESTORE_GROWTH_MAX} more)",
                self.limit.saturating_sub(RESTORE_GROWTH_MAX)
            )));
        }
        let verified =
            ingest::verify(&node.orgs(), node.me(), changes).map_err(|e| refuse(e.to_string()))?;
        let mut entries = Vec::with_capacity(verified.len());
        for v in verified {
            let origin = v.change.origin;
            if !self.origins.contains_key(&origin) {
                let base = base_of(&origin).ok_or_else(|| {
                    refuse(format!(
                        "the parent sent changes of {origin}, which were not asked for"
                    ))
                })?;
                self.origins.insert(origin.clone(), (base, base.0 + 1));
            }
            let Some((_, next)) = self.origins.get_mut(&origin) else {
                continue;
            };
            if v.change.seq != *next {
                return Err(refuse(format!(
                    "the parent sent {origin} seq {} where seq {} was due",
                    v.change.seq, *next
                )));
            }
            *next += 1;
            entries.push(LogEntry {
                origin,
                seq: v.change.seq,
                received_at_ms: 0,
                change: v.bytes,
            });
        }
        // Checkpoints: verified now (signature, chain to our root, the
        // origin's org, revocations), staged beside the changes they cover.
        let mut signed = Vec::new();
        if node.requires_signatures() {
            let trust = node
                .trust()
                .map_err(|e| refuse(format!("this node cannot verify signatures: {e}")))?;
            let (orgs, revoked) = (node.orgs(), node.revoked_with(&node.config().revoked));
            for bytes in checkpoints {
                match trust.verify(&orgs, &revoked, node.me(), bytes) {
                    Ok(c) => signed.push(c),
                    Err(Ok(Some(r))) => {
                        self.rejected
                            .insert(r.origin, format!("seq {}: {}", r.seq, r.reason));
                    }
                    // An origin our directory does not know: not asked for.
                    Err(Ok(None)) => {}
                    Err(Err(fault)) => return Err(refuse(fault)),
                }
            }
        }
        blocking(|| {
            self.store().insert(&entries)?;
            self.store().insert_checkpoints(
                signed
                    .iter()
                    .map(|c| (c.origin.as_str(), c.seq, &c.hash, &c.bytes)),
            )
        })
        .map_err(crate::error::Error::from)?;
        self.changes += count;
        Ok(count)
    }

    /// Whether the staged copy of `origin` is vouched for up to `tip` by a
    /// verified checkpoint of its origin (always, for a node that does not
    /// require signatures). The reason when it is not.
    fn signed_upto(&self, node: &Node, origin: &str, tip: (u64, Hash)) -> Result<(), String> {
        if !node.requires_signatures() {
            return Ok(());
        }
        let c = self
            .store()
            .checkpoint_at_or_below(origin, tip.0)
            .map_err(|e| e.to_string())?;
        if c.is_some_and(|c| c.seq == tip.0 && c.hash == tip.1) {
            return Ok(());
        }
        Err(match self.rejected.get(origin) {
            Some(reason) => format!("its origin's checkpoint does not verify: {reason}"),
            None => "no checkpoint signed by its origin vouches for it".into(),
        })
    }

    /// The staged changes of `origin`, in seq order.
    fn scan<'a>(&'a self, origin: &str) -> impl Iterator<Item = Result<Bytes, StoreError>> + 'a {
        self.store().scan(origin, 0).map(|e| e.map(|e| e.change))
    }

    /// The hash of the staged change of `origin` at `seq`.
    fn hash_at(&self, origin: &str, seq: u64) -> Result<Option<Hash>, StoreError> {
        Ok(self
            .store()
            .entry(origin, seq)?
            .and_then(|e| codec::decode_change(e.change).ok())
            .map(|c| c.hash))
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        drop(self.store.take());
        remove_staging(&self.dir);
    }
}

fn remove_staging(dir: &Path) {
    if dir.exists()
        && let Err(e) = std::fs::remove_dir_all(dir)
    {
        warn!(dir = %dir.display(), error = %e, "cannot remove a restore's staging store");
    }
}

/// The parent's vector, restricted to our subtree (what it announces of
/// other origins it could not send us anyway).
fn promised_of(
    node: &Node,
    vector: BTreeMap<String, (u64, Hash)>,
) -> BTreeMap<String, (u64, Hash)> {
    vector
        .into_iter()
        .filter(|(origin, (seq, _))| {
            *seq > 0
                && node
                    .orgs()
                    .get(origin)
                    .is_some_and(|o| node.orgs().is_within(o, node.me()))
        })
        .collect()
}

/// Changes the parent owes beyond `bases`, by its vector.
fn owed(promised: &BTreeMap<String, (u64, Hash)>, base: impl Fn(&str) -> u64) -> u64 {
    promised
        .iter()
        .map(|(origin, (seq, _))| seq.saturating_sub(base(origin)))
        .sum()
}

/// Verifies every staged origin in `origins`: the copies, and those whose
/// first change does not chain onto ours (our copy differs below our head).
fn verify_all(
    node: &Node,
    url: &str,
    staging: &Staging,
    origins: impl Iterator<Item = String>,
) -> Result<(BTreeMap<String, StagedCopy>, BTreeSet<String>), SyncError> {
    let mut copies = BTreeMap::new();
    let mut below = BTreeSet::new();
    for origin in origins {
        let Some((base, _)) = staging.origins.get(&origin).copied() else {
            continue;
        };
        let verified = blocking(|| {
            verify_staged(
                &node.orgs(),
                node.me(),
                &origin,
                base,
                staging.scan(&origin),
            )
        });
        match verified {
            Ok(copy) if copy.tip.0 > copy.base => {
                if let Err(reason) = staging.signed_upto(node, &origin, copy.tip) {
                    return Err(SyncError::Restore {
                        url: url.to_owned(),
                        reason: format!(
                            "the parent's copy of {origin} up to seq {} is not its origin's: {reason}",
                            copy.tip.0
                        ),
                    });
                }
                copies.insert(origin, copy);
            }
            Ok(copy) => {
                copies.insert(origin, copy);
            }
            Err(StagedFault::BelowBase { .. }) => {
                below.insert(origin);
            }
            Err(StagedFault::Store(e)) => return Err(crate::error::Error::from(e).into()),
            Err(e @ StagedFault::Broken { .. }) => {
                return Err(SyncError::Restore {
                    url: url.to_owned(),
                    reason: format!("the parent's copy is broken at {e}"),
                });
            }
        }
    }
    Ok((copies, below))
}

/// Receives the parent's whole answer into `staging` and verifies it:
/// everything above what we hold, then, for the origins where our copy and
/// the parent's differ, their whole copy. Returns the verified copies.
async fn receive(
    node: &Node,
    upstream: &mut client::Upstream,
    staging: &mut Staging,
    done: &mut Restored,
) -> Result<BTreeMap<String, StagedCopy>, SyncError> {
    let (url, client) = upstream;
    let url = url.clone();
    let vector = client::probe_vector(node, &url, client).await?;
    let promised = promised_of(node, vector.entries);
    let ours = node.heads_by_code();
    // Where the parent's head is not the change we hold there, ask for the
    // whole origin at once.
    let forked = policy::forked_origins(&promised, &ours, |o, s| node.hash_at(o, s));
    let from: BTreeMap<String, (u64, Hash)> = ours
        .iter()
        .filter(|(o, _)| !forked.contains(*o))
        .map(|(o, h)| (o.clone(), *h))
        .collect();
    let base_seq = |origin: &str| from.get(origin).map_or(0, |h| h.0);
    staging.limit = owed(&promised, base_seq) + RESTORE_GROWTH_MAX;
    let base_of = |origin: &str| Some(from.get(origin).copied().unwrap_or((0, GENESIS)));
    done.batches += client::restore_stream(node, &url, client, &from, Vec::new(), |changes| {
        done.received += staging.stage(node, &url, changes, &base_of)?;
        Ok(())
    })
    .await?;
    let staged: Vec<String> = staging.origins.keys().cloned().collect();
    let (mut copies, below) = verify_all(node, &url, staging, staged.into_iter())?;

    // Origins whose copy does not chain onto ours: fetch them whole.
    if !below.is_empty() {
        staging.restart(&below).map_err(crate::error::Error::from)?;
        let whole = |origin: &str| below.contains(origin).then_some((0, GENESIS));
        staging.limit = staging.changes + owed(&promised, |_| 0) + RESTORE_GROWTH_MAX;
        let only: Vec<String> = below.iter().cloned().collect();
        done.batches +=
            client::restore_stream(node, &url, client, &Default::default(), only, |changes| {
                done.received += staging.stage(node, &url, changes, &whole)?;
                Ok(())
            })
            .await?;
        let (whole_copies, still) = verify_all(node, &url, staging, below.iter().cloned())?;
        if let Some(origin) = still.first() {
            return Err(SyncError::Restore {
                url,
                reason: format!("the parent's whole copy of {origin} does not start at seq 1"),
            });
        }
        copies.extend(whole_copies);
    }

    // Everything the vector announced must have come.
    for (origin, &(seq, hash)) in &promised {
        let base = copies.get(origin).map_or_else(
            || {
                if forked.contains(origin) {
                    0
                } else {
                    base_seq(origin)
                }
            },
            |c| c.base,
        );
        let staged = match copies.get(origin) {
            Some(copy) => Some((
                copy.tip.0,
                staging
                    .hash_at(origin, seq)
                    .map_err(crate::error::Error::from)?,
            )),
            None => None,
        };
        if let Some(short) = policy::shortfall(origin, (seq, hash), base, staged) {
            let reason = if done.received == 0 {
                format!("the answer was empty: {short}")
            } else {
                short.to_string()
            };
            return Err(SyncError::Restore { url, reason });
        }
    }
    Ok(copies)
}

/// Stores the staged changes of `origin` after `after`, in batches, as a
/// child's batches are stored.
fn take(
    node: &Node,
    url: &str,
    staging: &Staging,
    origin: &str,
    after: u64,
    done: &mut Restored,
) -> Result<(), SyncError> {
    let signed = node.requires_signatures();
    let Some(org) = node.orgs().get(origin) else {
        return Ok(());
    };
    let mut after = after;
    loop {
        // The next run: up to the staged checkpoint within a batch's reach
        // (verified at staging), so each batch is vouched for.
        let reach = after + BATCH_CHANGES_MAX as u64;
        let (upto, checkpoint) = if signed {
            match staging
                .store()
                .checkpoint_at_or_below(origin, reach)
                .map_err(crate::error::Error::from)?
            {
                Some(c) if c.seq > after => (c.seq, Some(c)),
                _ => (reach, None),
            }
        } else {
            (reach, None)
        };
        let chunk: Vec<Bytes> = staging
            .store()
            .scan(origin, after)
            .take_while(|e| e.as_ref().map_or(true, |e| e.seq <= upto))
            .map(|e| e.map(|e| e.change))
            .collect::<Result<_, _>>()
            .map_err(crate::error::Error::from)?;
        if chunk.is_empty() {
            break;
        }
        after += chunk.len() as u64;
        let verified =
            ingest::verify(&node.orgs(), node.me(), chunk).map_err(|e| SyncError::Restore {
                url: url.to_owned(),
                reason: e.to_string(),
            })?;
        let signatures = Signatures {
            signed: checkpoint
                .into_iter()
                .map(|c| Signed {
                    org,
                    origin: origin.to_owned(),
                    seq: c.seq,
                    hash: c.hash,
                    bytes: c.bytes,
                })
                .collect(),
            rejected: Vec::new(),
        };
        let verified = Checked {
            changes: verified,
            signatures,
        };
        let placed = blocking(|| node.ingest(vec![verified]))?
            .pop()
            .unwrap_or_default();
        done.applied += u64::from(placed.applied);
        done.skipped += u64::from(placed.skipped);
        for h in &placed.held {
            if !matches!(h.reason, HeldReason::Quarantined(_)) {
                // Verified to chain onto our head: another writer got there first.
                return Err(SyncError::Restore {
                    url: url.to_owned(),
                    reason: format!(
                        "{} seq {} no longer chains here: {}",
                        h.origin, h.seq, h.reason
                    ),
                });
            }
        }
        done.held += u64::from(placed.held_changes);
    }
    Ok(())
}

/// Applies the verified copies: takes what extends ours, keeps ours where
/// the two differ.
fn apply(
    node: &Node,
    url: &str,
    staging: &Staging,
    copies: &BTreeMap<String, StagedCopy>,
    done: &mut Restored,
) -> Result<(), SyncError> {
    let ours = node.heads_by_code();
    for (origin, copy) in copies {
        let our_seq = ours.get(origin).map_or(0, |h| h.0);
        let common = if copy.base > 0 || our_seq == 0 {
            copy.base
        } else {
            policy::common_prefix(
                |seq| {
                    staging
                        .store()
                        .entry(origin, seq)
                        .map(|e| e.map(|e| e.change))
                },
                |seq| node.store().entry(origin, seq).map(|e| e.map(|e| e.change)),
            )
            .map_err(crate::error::Error::from)?
        };
        match policy::decide(our_seq, copy.tip.0, common) {
            policy::Decision::Take { after } => take(node, url, staging, origin, after, done)?,
            policy::Decision::KeepOurs { from_seq, local } => {
                warn!(origin = %origin, from_seq, local, "the parent's copy conflicts with ours: ours kept, the parent's not taken");
                done.kept.push(Kept {
                    origin: origin.clone(),
                    from_seq,
                    local,
                });
            }
            policy::Decision::Nothing => {}
        }
    }
    Ok(())
}

/// Rebuilds this node's subtree from its parent: every change the parent
/// holds of our subtree above what we hold, received and verified whole
/// before any is stored, and stored only where it extends our copy; where
/// the two copies differ, ours is kept and reported ([`Restored::kept`]).
/// Lifts the write refusal once our own log holds the parent's copy and
/// nothing of it conflicts. Only while no one else uses the node (not
/// through the daemon).
#[instrument(skip_all, fields(org = %node.code()))]
pub async fn restore(node: &Arc<Node>) -> Result<Restored, SyncError> {
    let mut upstream = client::connect(node).await?;
    let mut done = Restored::default();
    let mut staging = Staging::open(node.dir())?;
    let copies = receive(node, &mut upstream, &mut staging, &mut done).await?;
    apply(node, &upstream.0, &staging, &copies, &mut done)?;
    drop(staging);

    let own_kept = done.kept.iter().any(|k| k.origin == node.code());
    let own_seq = node.view().head(node.me()).map_or(0, |h| h.seq);
    match node.conflict() {
        Some(conflict) if policy::resolves(conflict, own_seq, own_kept) => node.clear_conflict()?,
        Some(_) => {}
        None if own_kept => {
            let seq = done
                .kept
                .iter()
                .find(|k| k.origin == node.code())
                .map_or(1, |k| k.from_seq);
            node.mark_forked(seq)?;
        }
        None => {}
    }
    node.record_own_head()?;
    info!(
        received = done.received,
        applied = done.applied,
        kept = done.kept.len(),
        "restore done"
    );
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::changelog::Change;
    use crate::model::{PersonId, Rank, Record, RosterEntry};

    fn log(origin: &str, n: u64, tag: &str) -> Vec<Change> {
        let mut prev = GENESIS;
        (1..=n)
            .map(|seq| {
                let record = Record::Roster(RosterEntry {
                    person: "11010519491231002X".parse::<PersonId>().unwrap(),
                    name: format!("{tag}{seq}"),
                    rank: Rank::General,
                    since: "2024-01-01".parse().unwrap(),
                    until: None,
                    employer: String::new(),
                    position: String::new(),
                    group: String::new(),
                });
                let c = Change::new(origin.into(), seq, prev, 1, codec::encode_record(&record));
                prev = c.hash;
                c
            })
            .collect()
    }

    fn staged(changes: &[Change]) -> impl Iterator<Item = Result<Bytes, StoreError>> + '_ {
        changes.iter().map(|c| Ok(codec::encode_change(c)))
    }

    #[test]
    fn a_staged_copy_must_chain_from_its_base_without_a_gap() {
        let orgs = OrgDirectory::builtin();
        let zhengzhou = orgs.get("410100").unwrap();
        let ours = log("410102", 5, "a");
        // A whole copy, and a continuation from seq 2.
        let whole = verify_staged(&orgs, zhengzhou, "410102", (0, GENESIS), staged(&ours)).unwrap();
        assert_eq!(
            whole,
            StagedCopy {
                base: 0,
                tip: (5, ours[4].hash)
            }
        );
        let tail = verify_staged(
            &orgs,
            zhengzhou,
            "410102",
            (2, ours[1].hash),
            staged(&ours[2..]),
        )
        .unwrap();
        assert_eq!(
            tail,
            StagedCopy {
                base: 2,
                tip: (5, ours[4].hash)
            }
        );
        // A continuation that does not chain onto the change we hold.
        let theirs = log("410102", 5, "b");
        assert!(matches!(
            verify_staged(
                &orgs,
                zhengzhou,
                "410102",
                (2, ours[1].hash),
                staged(&theirs[2..])
            ),
            Err(StagedFault::BelowBase { base: 2 })
        ));
        // A gap, a change of another origin, one that breaks the chain,
        // one outside the subtree: the parent's fault, named.
        let gap = [ours[0].clone(), ours[2].clone()];
        let broken = |r: Result<StagedCopy, StagedFault>| match r {
            Err(StagedFault::Broken { origin, seq, .. }) => (origin, seq),
            other => panic!("expected a broken copy, got {other:?}"),
        };
        assert_eq!(
            broken(verify_staged(
                &orgs,
                zhengzhou,
                "410102",
                (0, GENESIS),
                staged(&gap)
            )),
            ("410102".into(), 2)
        );
        let other = log("410103", 1, "a");
        assert_eq!(
            broken(verify_staged(
                &orgs,
                zhengzhou,
                "410102",
                (0, GENESIS),
                staged(&other)
            )),
            ("410102".into(), 1)
        );
        let spliced = [ours[0].clone(), theirs[1].clone()];
        assert_eq!(
            broken(verify_staged(
                &orgs,
                zhengzhou,
                "410102",
                (0, GENESIS),
                staged(&spliced)
            )),
            ("410102".into(), 2)
        );
        let outside = log("420102", 1, "a");
        assert_eq!(
            broken(verify_staged(
                &orgs,
                zhengzhou,
                "420102",
                (0, GENESIS),
                staged(&outside)
            )),
            ("420102".into(), 1)
        );
        // A forged hash.
        let mut forged = ours[0].clone();
        forged.hash = [9; 32];
        assert_eq!(
            broken(verify_staged(
                &orgs,
                zhengzhou,
                "410102",
                (0, GENESIS),
                staged(&[forged])
            )),
            ("410102".into(), 1)
        );
    }
}
