//! A bundle acknowledgement's downward part at the child (DESIGN.md
//! "Offline bundle"): the bulletins it carries and the trainings its parent
//! returns, checked whole under the write lock before either is kept.
//!
//! The bulletins are admitted first, without storing them, so the returned
//! trainings are read against the directory they put in force; the answer
//! is then bounded and decoded ([`codec::bundle::decode_returned`]) and
//! checked exactly as a session's (`returns::child::stage`). Only when
//! every part passes is anything stored: the bulletins, then the answer (one
//! durable write, as a session's). A file can come late, twice or after a
//! newer one, so its answer is taken only when newer than the one held
//! (`returns::child::fresh`); one that is not is read within its bounds,
//! then left.
//! A crash between the two writes leaves what a second import of the same
//! file completes (a bulletin held is skipped; an answer taken is not newer
//! than itself).

use bytes::Bytes;
use lunxun_core::returns::Digest;
use lunxun_core::returns::child::{Stale, Version, fresh, stage};

use super::Node;
use super::downward::{Refused, SEND_BULLETINS_MAX};
use crate::codec::bundle::{EncodedAnswer, decode_returned};
use crate::error::Error;

/// The trainings an acknowledgement returns, and what it says of them.
#[derive(Debug, Clone, Copy)]
pub struct AckReturned<'a> {
    pub encoded: &'a EncodedAnswer,
    /// The parent that wrote the file (its signer).
    pub parent: &'a str,
    /// What we held when we wrote the bundle it acknowledges.
    pub base: Option<&'a Digest>,
}

/// What became of an acknowledgement's returned trainings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReturnedTaken {
    /// The file returns none (an older parent, or an answer too large).
    None,
    /// Taken: the people the answer names, and those whose set changed here.
    Taken { named: usize, changed: usize },
    /// Checked and left: not newer than the answer held.
    Stale { named: usize, why: Stale },
}

/// What taking an acknowledgement's downward part did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckTaken {
    /// Bulletins new here.
    pub bulletins: usize,
    pub returned: ReturnedTaken,
}

/// Why an acknowledgement's downward part was not taken (nothing of it was).
#[derive(Debug, thiserror::Error)]
pub enum AckRefused {
    /// A bulletin that does not follow, verify or apply.
    #[error(transparent)]
    Bulletin(#[from] Refused),
    /// The returned trainings do not read within their bounds.
    #[error("returned trainings: {0}")]
    Malformed(String),
    /// The returned trainings read, but are not ours to take.
    #[error("returned trainings: {0}")]
    Returned(#[from] lunxun_core::returns::child::Refused),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] Error),
}

/// An answer checked and to be stored, or checked and left.
enum Checked {
    Take {
        staged: lunxun_core::returns::child::Staged,
        version: Version,
        named: usize,
    },
    Leave(ReturnedTaken),
}

impl Node {
    /// Takes an acknowledgement's `bulletins` and `returned` trainings,
    /// all of them or, when any part is refused, none (see the module's doc).
    pub fn receive_ack(
        &self,
        bulletins: &[Bytes],
        returned: AckReturned<'_>,
    ) -> Result<AckTaken, AckRefused> {
        if bulletins.len() > SEND_BULLETINS_MAX {
            return Err(AckRefused::Bulletin(Refused {
                number: 0,
                reason: format!(
                    "{} bulletins in one file (at most {SEND_BULLETINS_MAX})",
                    bulletins.len()
                ),
            }));
        }
        let _writing = self.lock_writes();
        let (admitted, refused) = self.admit_bulletins(bulletins);
        if let Some(e) = refused {
            return Err(e.into());
        }
        let checked = if returned.encoded.is_empty() {
            Checked::Leave(ReturnedTaken::None)
        } else {
            let orgs = admitted.orgs().clone();
            let (answer, at_ms) =
                decode_returned(&orgs, returned.encoded).map_err(|e| AckRefused::Malformed(e.0))?;
            let named = answer.people.len();
            let (before, combined) = {
                let held = self.held();
                (held.digests(), held.combined())
            };
            let version = self.store.returned_version().map_err(Error::from)?;
            let freshness = fresh(
                version.as_ref(),
                returned.parent,
                at_ms,
                answer.full,
                returned.base,
                &combined,
            );
            match freshness {
                Ok(()) => {
                    let staged = {
                        let view = self.view();
                        stage(&view, &orgs, self.me, &before, answer)?
                    };
                    Checked::Take {
                        staged,
                        version: Version {
                            parent: returned.parent.to_owned(),
                            at_ms,
                        },
                        named,
                    }
                }
                // Read within its bounds, and left: staging it against what
                // we hold now could only refuse the file's other parts for
                // an answer that is not taken anyway.
                Err(why) => Checked::Leave(ReturnedTaken::Stale { named, why }),
            }
        };
        let bulletins = self.store_bulletins(admitted)?;
        let returned = match checked {
            Checked::Leave(r) => r,
            Checked::Take {
                staged,
                version,
                named,
            } => ReturnedTaken::Taken {
                named,
                changed: self.commit_returned(staged, &version)?,
            },
        };
        Ok(AckTaken {
            bulletins,
            returned,
        })
    }
}
