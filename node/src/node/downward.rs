//! The bulletins a node holds, and what is in force because of them
//! (DESIGN.md "Downward"): the national node publishes, every node receives
//! from its parent at each session, verifies, stores durably, and only then
//! computes with them.
//!
//! What is in force is one [`InForce`] value swapped whole under a lock:
//! a query takes the directory and the policy of one moment, never half of
//! a bulletin.

use std::sync::Arc;

use bytes::Bytes;
use tracing::{info, warn};

use super::{Node, now_ms};
use crate::changelog::{GENESIS, Hash};
use crate::codec;
use crate::config::Revoked;
use crate::error::{Error, Result};
use crate::model::Date;
use crate::orgs::{NATIONAL, OrgDirectory};
use crate::policy::Policy;
use crate::store::Store;
use lunxun_core::bulletin::{self, Admission, BULLETINS_MAX, Body, Bulletin, InForce, Sealed};

/// Most bulletins a parent hands a child in one session (the rest come at
/// the next ones).
pub const SEND_BULLETINS_MAX: usize = 32;
/// Most bytes of bulletins a parent hands a child in one session's first
/// message (well within the message bound).
pub const SEND_BULLETIN_BYTES_MAX: usize = 2 * 1024 * 1024;

/// The series held and what it puts in force.
#[derive(Debug, Clone)]
pub(super) struct Downward {
    pub(super) in_force: Arc<InForce>,
    /// Digests of the bulletins held, by number from 1.
    pub(super) digests: Vec<Hash>,
    /// Number, kind and effective date of each bulletin held, for listings.
    pub(super) listed: Vec<Listed>,
}

/// One bulletin held, as `bulletins` lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Listed {
    pub number: u64,
    pub kind: &'static str,
    pub effective: String,
    pub signed_at: String,
    /// Whether it carries a signature (nodes without a tls dir publish
    /// unsigned bulletins).
    pub signed: bool,
    /// What it says, in one line.
    pub summary: String,
}

fn summary(body: &Body) -> String {
    match body {
        Body::Policy { toml } => format!("policy of {} lines", toml.lines().count()),
        Body::Orgs { csv } => format!("{} directory rows", csv.lines().count().saturating_sub(1)),
        Body::Revocation { serials, orgs } => format!(
            "revokes {} certificates and {} orgs{}",
            serials.len(),
            orgs.len(),
            if orgs.is_empty() {
                String::new()
            } else {
                format!(" ({})", orgs.join(", "))
            }
        ),
    }
}

fn listed(b: &Bulletin, sealed: &Sealed) -> Listed {
    Listed {
        number: b.number,
        kind: b.body.kind(),
        effective: b.effective.to_string(),
        signed_at: crate::coverage::format_timestamp(b.signed_at_ms),
        signed: !sealed.signature.is_empty(),
        summary: summary(&b.body),
    }
}

impl Downward {
    /// The series in the store, applied over the node's own policy and
    /// directory. The store holds only what was verified before it was
    /// stored; a series that does not chain is a damaged store.
    pub(super) fn load(store: &Store, policy: Policy, orgs: OrgDirectory) -> Result<Downward> {
        let mut down = Downward {
            in_force: Arc::new(InForce::new(policy, orgs)),
            digests: Vec::new(),
            listed: Vec::new(),
        };
        for (number, bytes) in store.bulletins()? {
            let corrupt = |reason: String| Error::Corrupt(format!("bulletin {number}: {reason}"));
            let sealed = codec::decode_sealed(&bytes).map_err(|e| corrupt(e.0))?;
            let b = codec::decode_bulletin(&sealed.bytes).map_err(|e| corrupt(e.0))?;
            let digest = bulletin::digest(&sealed.bytes);
            if b.number != number || bulletin::admit(&down.digests, &b, &digest) != Admission::Next
            {
                return Err(corrupt("does not follow the bulletins before it".into()));
            }
            down.in_force = Arc::new(down.in_force.with(&b).map_err(|e| corrupt(e.to_string()))?);
            down.digests.push(digest);
            down.listed.push(listed(&b, &sealed));
        }
        Ok(down)
    }
}

/// Bulletins admitted and not yet stored ([`Node::admit_bulletins`]).
pub(super) struct Admitted {
    next: Downward,
    new: Vec<(u64, Bytes)>,
}

impl Admitted {
    /// The directory they put in force.
    pub(super) fn orgs(&self) -> &Arc<OrgDirectory> {
        self.next.in_force.orgs()
    }
}

/// Why a bulletin from the parent was not taken (nothing of it, nor of the
/// ones after it in the same message, was stored).
#[derive(Debug, thiserror::Error)]
#[error("bulletin {number}: {reason}")]
pub struct Refused {
    pub number: u64,
    pub reason: String,
}

impl Node {
    /// What is in force: the directory, the policy on each date, the
    /// revocations of the bulletins held.
    pub fn in_force(&self) -> Arc<InForce> {
        self.downward().in_force.clone()
    }

    fn downward(&self) -> std::sync::RwLockReadGuard<'_, Downward> {
        self.downward.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The org directory in force (the built-in tree, the data dir's
    /// `orgs.csv`, and every directory bulletin held).
    pub fn orgs(&self) -> Arc<OrgDirectory> {
        self.downward().in_force.orgs().clone()
    }

    /// The policy in force on `date`.
    pub fn policy_at(&self, date: Date) -> Arc<Policy> {
        self.downward().in_force.policy_at(date).clone()
    }

    /// The policy in force today.
    pub fn policy(&self) -> Arc<Policy> {
        self.policy_at(self.today())
    }

    /// The highest bulletin number held (0 for none).
    pub fn bulletins_held(&self) -> u64 {
        self.downward().digests.len() as u64
    }

    /// Every bulletin held, oldest first.
    pub fn bulletins(&self) -> Vec<Listed> {
        self.downward().listed.clone()
    }

    /// The revocations in force: `config.toml`'s `[revoked]` and every
    /// revocation bulletin's.
    pub fn revoked_with(&self, config: &Revoked) -> Revoked {
        let in_force = self.in_force();
        let mut revoked = config.clone();
        for s in &in_force.serials {
            if !revoked.serials.contains(s) {
                revoked.serials.push(s.clone());
            }
        }
        for o in &in_force.revoked_orgs {
            if !revoked.orgs.contains(o) {
                revoked.orgs.push(o.clone());
            }
        }
        revoked
    }

    /// The sealed bulletins above `held`, in order, at most
    /// [`SEND_BULLETINS_MAX`] and [`SEND_BULLETIN_BYTES_MAX`] bytes (always
    /// at least one when there is one).
    pub fn bulletins_above(&self, held: u64) -> Result<Vec<Bytes>> {
        if held >= self.bulletins_held() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        let mut bytes = 0;
        for (number, sealed) in self.store.bulletins()? {
            if number <= held {
                continue;
            }
            if out.len() >= SEND_BULLETINS_MAX
                || (!out.is_empty() && bytes + sealed.len() > SEND_BULLETIN_BYTES_MAX)
            {
                break;
            }
            bytes += sealed.len();
            out.push(Bytes::from(sealed));
        }
        Ok(out)
    }

    /// Takes the parent's bulletins: each decoded within its bounds, the
    /// next of the series (a duplicate is skipped, a fork or a gap refused),
    /// signed by the national bureau when this node requires signatures,
    /// and applicable to what is in force. The ones before a refused one
    /// are kept; the refused one and those after it are not. Returns how
    /// many were new.
    pub fn receive_bulletins(&self, sealed: &[Bytes]) -> std::result::Result<usize, Refused> {
        if sealed.len() > SEND_BULLETINS_MAX {
            return Err(Refused {
                number: 0,
                reason: format!(
                    "{} bulletins in one message (at most {SEND_BULLETINS_MAX})",
                    sealed.len()
                ),
            });
        }
        let _writing = self.lock_writes();
        let (admitted, refused) = self.admit_bulletins(sealed);
        let new = self.store_bulletins(admitted)?;
        match refused {
            Some(e) => {
                warn!(number = e.number, reason = %e.reason, "bulletin refused");
                Err(e)
            }
            None => Ok(new),
        }
    }

    /// Admits `sealed` in order against the series held, storing nothing
    /// (the caller holds the write lock): what the ones before the first
    /// refused one put in force, and that refusal.
    pub(super) fn admit_bulletins(&self, sealed: &[Bytes]) -> (Admitted, Option<Refused>) {
        let mut next = self.downward().clone();
        let mut new: Vec<(u64, Bytes)> = Vec::new();
        for bytes in sealed {
            match self.admit_bulletin(&next, bytes) {
                Ok(None) => {}
                Ok(Some((b, s, in_force, digest))) => {
                    next.in_force = Arc::new(in_force);
                    next.digests.push(digest);
                    next.listed.push(listed(&b, &s));
                    new.push((b.number, bytes.clone()));
                }
                Err(e) => return (Admitted { next, new }, Some(e)),
            }
        }
        (Admitted { next, new }, None)
    }

    /// Stores admitted bulletins durably, then puts them in force (the
    /// caller holds the write lock); how many were new.
    pub(super) fn store_bulletins(
        &self,
        admitted: Admitted,
    ) -> std::result::Result<usize, Refused> {
        let Admitted { next, new } = admitted;
        if new.is_empty() {
            return Ok(0);
        }
        let rows: Vec<(u64, &[u8])> = new.iter().map(|(n, b)| (*n, b.as_ref())).collect();
        if let Err(e) = self.store.put_bulletins(&rows) {
            return Err(Refused {
                number: new[0].0,
                reason: format!("cannot be stored: {e}"),
            });
        }
        self.put_in_force(next);
        for (number, _) in &new {
            info!(number, "bulletin received and in force");
        }
        Ok(new.len())
    }

    /// Publishes a bulletin (the national node only): the next number,
    /// chained to the last, signed with this node's certificate when it has
    /// a tls dir, stored durably and in force before this returns.
    pub fn publish(&self, body: Body, effective: Date) -> Result<u64> {
        if self.code() != NATIONAL {
            return Err(Error::Usage(format!(
                "only the national bureau's node ({NATIONAL}) publishes bulletins; this node is {}",
                self.code()
            )));
        }
        let signer = self.signer()?;
        let (number, prev) = {
            let down = self.downward();
            let number = down.digests.len() as u64 + 1;
            (number, down.digests.last().copied().unwrap_or(GENESIS))
        };
        if number > BULLETINS_MAX {
            return Err(Error::Usage(format!("more than {BULLETINS_MAX} bulletins")));
        }
        let b = Bulletin {
            number,
            prev,
            signed_at_ms: now_ms(),
            effective,
            body,
        };
        // Checked against what is in force before it is signed, so nothing
        // that cannot apply is ever published.
        self.in_force()
            .with(&b)
            .map_err(|e| Error::Usage(e.to_string()))?;
        let bytes = codec::encode_bulletin(&b);
        let sealed = match signer {
            Some(signer) => signer.seal_bulletin(bytes),
            None => Sealed {
                bytes,
                signature: Bytes::new(),
                chain: Vec::new(),
            },
        };
        match self.receive_bulletins(&[codec::encode_sealed(&sealed)]) {
            Ok(1) => Ok(number),
            Ok(_) => Err(Error::Corrupt(format!("bulletin {number} was not taken"))),
            Err(e) => Err(Error::Usage(e.to_string())),
        }
    }

    /// One sealed bulletin against the series `down`: None for a duplicate.
    fn admit_bulletin(
        &self,
        down: &Downward,
        bytes: &Bytes,
    ) -> std::result::Result<Option<(Bulletin, Sealed, InForce, Hash)>, Refused> {
        let refuse = |number: u64, reason: String| Refused { number, reason };
        let sealed = codec::decode_sealed(bytes).map_err(|e| refuse(0, e.0))?;
        let b = codec::decode_bulletin(&sealed.bytes).map_err(|e| refuse(0, e.0))?;
        let digest = bulletin::digest(&sealed.bytes);
        match bulletin::admit(&down.digests, &b, &digest) {
            Admission::Duplicate => return Ok(None),
            Admission::Next => {}
            Admission::Fork => {
                return Err(refuse(
                    b.number,
                    "contradicts the bulletins held (another bulletin under a number held, or \
                     chained to another predecessor): kept what is held"
                        .into(),
                ));
            }
            Admission::Gap => {
                return Err(refuse(
                    b.number,
                    format!(
                        "comes after a gap (this node holds up to {})",
                        down.digests.len()
                    ),
                ));
            }
        }
        if b.number > BULLETINS_MAX {
            return Err(refuse(
                b.number,
                format!("beyond {BULLETINS_MAX} bulletins"),
            ));
        }
        if self.requires_signatures() {
            if sealed.signature.is_empty() {
                return Err(refuse(b.number, "is not signed".into()));
            }
            let trust = self
                .trust()
                .map_err(|e| refuse(b.number, format!("cannot be verified: {e}")))?;
            let revoked = self.revoked_with(&self.config.revoked);
            trust
                .verify_bulletin(down.in_force.orgs(), &revoked, &sealed, b.signed_at_ms)
                .map_err(|e| refuse(b.number, e))?;
        }
        let in_force = down.in_force.with(&b).map_err(|e| {
            refuse(
                b.number,
                e.to_string()
                    .trim_start_matches(&format!("bulletin {}: ", b.number))
                    .to_owned(),
            )
        })?;
        Ok(Some((b, sealed, in_force, digest)))
    }

    /// Makes `next` what is in force: every rollup was counted with the old
    /// policy and directory, so they are dropped and rebuilt at the next
    /// query. Swapped first, cleared after: a query reads the policy and the
    /// directory under the rollups' lock, so a rollup built with the old
    /// ones is built before the clear and dropped by it. (No other lock is
    /// held while this one is: the order elsewhere is view, rollups, this.)
    fn put_in_force(&self, next: Downward) {
        *self.downward.write().unwrap_or_else(|p| p.into_inner()) = next;
        self.rollups
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        super::trends::TrendCache::clear(&self.trends);
        // The snapshot's directory or rollups no longer hold: write another.
        self.since_snapshot.fetch_add(
            super::snapshot::SNAPSHOT_AFTER_CHANGES,
            std::sync::atomic::Ordering::Relaxed,
        );
    }
}
