//! Bulletins: what the national bureau publishes down the tree (DESIGN.md
//! "Downward"): policy revisions, org-directory changes and revocations.
//!
//! The national node numbers them 1, 2, 3… without gaps, chains each to the
//! one before (`prev`, the digest of its predecessor), signs them, and every
//! parent hands its child the ones it lacks at every session. A receiver
//! takes only the next number whose `prev` matches what it holds: it never
//! goes backwards, never skips, and a second bulletin under a number it
//! holds is a fork, refused (the first is kept).
//!
//! This module is pure: the decoded form, the bytes signed, the admission
//! rule, and [`InForce`], what a node computes with once it holds a series —
//! the policy in force on any date (a 2025 figure keeps the 2025 policy),
//! the directory with every directory bulletin applied, and the revocations.
//! The encoding (prost) and the cryptography are the node crate's.

use std::sync::Arc;

use bytes::Bytes;

use crate::changelog::Hash;
use crate::model::Date;
use crate::orgs::{OrgDirectory, OrgError};
use crate::policy::{Policy, PolicyError};

/// Domain separation for bulletin signatures and digests.
const SIGNED_CONTEXT: &[u8] = b"lunxun.bulletin.v1\0";

/// Most bytes of one encoded bulletin (a whole directory of a few thousand
/// rows is about 150 KB): anything larger is refused before it is decoded.
pub const BULLETIN_BYTES_MAX: usize = 512 * 1024;
/// Most bytes of one sealed bulletin: the bulletin, a signature and a chain
/// of a few certificates.
pub const SEALED_BYTES_MAX: usize = BULLETIN_BYTES_MAX + 16 * 1024;
/// Most serials or org codes one revocation bulletin may name.
pub const REVOKED_MAX: usize = 10_000;
/// Most bulletins a node holds: a series far beyond what decades of
/// revisions make, and a bound on what a node keeps in memory.
pub const BULLETINS_MAX: u64 = 100_000;

/// What a bulletin says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// A policy TOML (keys it leaves out keep the documents' defaults).
    Policy { toml: String },
    /// Directory rows (see [`OrgDirectory::amend_csv`]).
    Orgs { csv: String },
    /// Certificate serials (lowercase hex) and org codes refused everywhere.
    Revocation {
        serials: Vec<String>,
        orgs: Vec<String>,
    },
}

impl Body {
    /// The kind's name, for listings.
    pub fn kind(&self) -> &'static str {
        match self {
            Body::Policy { .. } => "policy",
            Body::Orgs { .. } => "orgs",
            Body::Revocation { .. } => "revocation",
        }
    }
}

/// A decoded bulletin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bulletin {
    pub number: u64,
    /// The digest of bulletin `number - 1` ([`crate::changelog::GENESIS`] for 1).
    pub prev: Hash,
    /// The national node's clock when it signed, ms since the Unix epoch.
    pub signed_at_ms: i64,
    /// The first day it is in force.
    pub effective: Date,
    pub body: Body,
}

/// A bulletin as it travels and is stored: its bytes exactly as the national
/// node encoded them, the signature over [`signed_bytes`] of them, and the
/// signer's chain (leaf first). Without signatures (nodes without a tls dir)
/// the signature and chain are empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub bytes: Bytes,
    pub signature: Bytes,
    pub chain: Vec<Bytes>,
}

/// The bytes a bulletin's signature covers.
pub fn signed_bytes(bulletin: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(SIGNED_CONTEXT.len() + bulletin.len());
    out.extend_from_slice(SIGNED_CONTEXT);
    out.extend_from_slice(bulletin);
    out
}

/// A bulletin's digest, which the next one names as `prev`.
pub fn digest(bulletin: &[u8]) -> Hash {
    let mut h = blake3::Hasher::new();
    h.update(SIGNED_CONTEXT);
    h.update(bulletin);
    *h.finalize().as_bytes()
}

/// What an incoming bulletin is, against the series held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// The next one, chained to the last held: take it.
    Next,
    /// One already held, byte for byte: skip it.
    Duplicate,
    /// Another bulletin under a number held, or one chained to something
    /// else: refuse it and keep what is held.
    Fork,
    /// Beyond the next number: wait for the ones between.
    Gap,
}

/// Where `b` (whose encoded bytes have `digest`) stands against a series
/// whose digests, in number order from 1, are `held`.
pub fn admit(held: &[Hash], b: &Bulletin, digest: &Hash) -> Admission {
    let count = held.len() as u64;
    match b.number {
        0 => Admission::Fork,
        n if n <= count => {
            if held[(n - 1) as usize] == *digest {
                Admission::Duplicate
            } else {
                Admission::Fork
            }
        }
        n if n == count + 1 => {
            let expected = held.last().copied().unwrap_or(crate::changelog::GENESIS);
            if b.prev == expected {
                Admission::Next
            } else {
                Admission::Fork
            }
        }
        _ => Admission::Gap,
    }
}

/// Why a series (or the next bulletin of it) cannot be put in force.
#[derive(Debug, thiserror::Error)]
pub enum BulletinError {
    /// A policy bulletin's TOML does not parse or validate.
    #[error("bulletin {number}: {source}")]
    Policy { number: u64, source: PolicyError },
    /// A directory bulletin does not apply to the directory.
    #[error("bulletin {number}: {source}")]
    Orgs { number: u64, source: OrgError },
    /// A revocation bulletin names something malformed or too much.
    #[error("bulletin {number}: {reason}")]
    Revocation { number: u64, reason: String },
}

/// What a node computes with, given the bulletins it holds: the policy in
/// force on any date, the directory and the revocations.
#[derive(Debug, Clone)]
pub struct InForce {
    /// The node's own policy (its `policy.toml`, or the documents' numbers):
    /// in force before the first policy bulletin's effective date.
    base: Arc<Policy>,
    /// Policy bulletins by (effective, number): the last one effective on a
    /// date is the one in force that day.
    policies: Vec<(Date, u64, Arc<Policy>)>,
    orgs: Arc<OrgDirectory>,
    /// Serials revoked by bulletins.
    pub serials: Vec<String>,
    /// Orgs revoked by bulletins.
    pub revoked_orgs: Vec<String>,
    /// The highest number held (0 for none).
    pub latest: u64,
}

impl InForce {
    /// The node's own policy and directory, with no bulletin.
    pub fn new(base: Policy, orgs: OrgDirectory) -> InForce {
        InForce {
            base: Arc::new(base),
            policies: Vec::new(),
            orgs: Arc::new(orgs),
            serials: Vec::new(),
            revoked_orgs: Vec::new(),
            latest: 0,
        }
    }

    /// With `b`, the next bulletin, applied; `self` is unchanged on error.
    pub fn with(&self, b: &Bulletin) -> Result<InForce, BulletinError> {
        let mut next = self.clone();
        match &b.body {
            Body::Policy { toml } => {
                let file = format!("bulletin {}", b.number);
                let policy =
                    Policy::from_toml(toml, &file).map_err(|source| BulletinError::Policy {
                        number: b.number,
                        source,
                    })?;
                next.policies
                    .push((b.effective, b.number, Arc::new(policy)));
                next.policies
                    .sort_by_key(|(date, number, _)| (*date, *number));
            }
            Body::Orgs { csv } => {
                let mut orgs = (*self.orgs).clone();
                let file = format!("bulletin {}", b.number);
                orgs.amend_csv(&file, csv, b.effective)
                    .map_err(|source| BulletinError::Orgs {
                        number: b.number,
                        source,
                    })?;
                next.orgs = Arc::new(orgs);
            }
            Body::Revocation { serials, orgs } => {
                let bad = |reason: String| BulletinError::Revocation {
                    number: b.number,
                    reason,
                };
                if serials.len() + orgs.len() > REVOKED_MAX {
                    return Err(bad(format!(
                        "names more than {REVOKED_MAX} serials and orgs"
                    )));
                }
                if let Some(s) = serials.iter().find(|s| !is_serial(s)) {
                    return Err(bad(format!("serial {s:?} is not lowercase hex")));
                }
                if let Some(o) = orgs.iter().find(|o| !crate::orgs::is_valid_code(o)) {
                    return Err(bad(format!("org code {o:?} is malformed")));
                }
                for s in serials {
                    if !next.serials.contains(s) {
                        next.serials.push(s.clone());
                    }
                }
                for o in orgs {
                    if !next.revoked_orgs.contains(o) {
                        next.revoked_orgs.push(o.clone());
                    }
                }
            }
        }
        next.latest = b.number;
        Ok(next)
    }

    /// The policy in force on `date`.
    pub fn policy_at(&self, date: Date) -> &Arc<Policy> {
        self.policies
            .iter()
            .rev()
            .find(|(effective, _, _)| *effective <= date)
            .map_or(&self.base, |(_, _, p)| p)
    }

    /// The bulletin whose policy is in force on `date` (None: the node's own).
    pub fn policy_bulletin_at(&self, date: Date) -> Option<(u64, Date)> {
        self.policies
            .iter()
            .rev()
            .find(|(effective, _, _)| *effective <= date)
            .map(|(effective, number, _)| (*number, *effective))
    }

    /// The directory with every directory bulletin applied.
    pub fn orgs(&self) -> &Arc<OrgDirectory> {
        &self.orgs
    }
}

fn is_serial(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::changelog::GENESIS;

    fn d(s: &str) -> Date {
        s.parse().unwrap()
    }

    fn bulletin(number: u64, prev: Hash, effective: &str, body: Body) -> Bulletin {
        Bulletin {
            number,
            prev,
            signed_at_ms: 0,
            effective: d(effective),
            body,
        }
    }

    #[test]
    fn a_series_is_taken_in_order_and_never_forked() {
        let b1 = bulletin(1, GENESIS, "2026-01-01", Body::Orgs { csv: String::new() });
        let d1 = digest(b"one");
        assert_eq!(admit(&[], &b1, &d1), Admission::Next);
        assert_eq!(admit(&[d1], &b1, &d1), Admission::Duplicate);
        assert_eq!(admit(&[d1], &b1, &digest(b"other")), Admission::Fork);
        let b2 = bulletin(2, d1, "2026-01-01", Body::Orgs { csv: String::new() });
        assert_eq!(admit(&[d1], &b2, &digest(b"two")), Admission::Next);
        assert_eq!(admit(&[], &b2, &digest(b"two")), Admission::Gap);
        let wrong_prev = bulletin(2, GENESIS, "2026-01-01", Body::Orgs { csv: String::new() });
        assert_eq!(admit(&[d1], &wrong_prev, &digest(b"two")), Admission::Fork);
        let zero = bulletin(0, GENESIS, "2026-01-01", Body::Orgs { csv: String::new() });
        assert_eq!(admit(&[], &zero, &digest(b"z")), Admission::Fork);
    }

    #[test]
    fn the_policy_in_force_on_a_date_is_the_last_effective_by_then() {
        let base = InForce::new(Policy::default(), OrgDirectory::builtin());
        let county = |years: u32| Body::Policy {
            toml: format!("[rotation.county]\nmin_years = {years}\nmax_years = {years}\n"),
        };
        let one = base
            .with(&bulletin(1, GENESIS, "2026-07-01", county(2)))
            .unwrap();
        let two = one
            .with(&bulletin(2, GENESIS, "2027-01-01", county(3)))
            .unwrap();
        let level = crate::model::Level::County;
        assert_eq!(two.policy_at(d("2026-06-30")).cycle(level).max_years, 1);
        assert_eq!(two.policy_at(d("2026-07-01")).cycle(level).max_years, 2);
        assert_eq!(two.policy_at(d("2027-03-01")).cycle(level).max_years, 3);
        assert_eq!(two.policy_bulletin_at(d("2026-06-30")), None);
        assert_eq!(
            two.policy_bulletin_at(d("2026-12-31")),
            Some((1, d("2026-07-01")))
        );
        assert_eq!(two.latest, 2);
        // A later bulletin effective earlier still wins from its date on.
        let three = two
            .with(&bulletin(3, GENESIS, "2026-09-01", county(4)))
            .unwrap();
        assert_eq!(three.policy_at(d("2026-10-01")).cycle(level).max_years, 4);
        assert_eq!(three.policy_at(d("2027-03-01")).cycle(level).max_years, 3);
    }

    #[test]
    fn a_bad_bulletin_leaves_what_is_in_force() {
        let base = InForce::new(Policy::default(), OrgDirectory::builtin());
        let bad_policy = bulletin(
            1,
            GENESIS,
            "2026-01-01",
            Body::Policy {
                toml: "[rotation.county]\nmax_years = 0\n".into(),
            },
        );
        assert!(
            base.with(&bad_policy)
                .unwrap_err()
                .to_string()
                .starts_with("bulletin 1:")
        );
        let misspelt = bulletin(
            1,
            GENESIS,
            "2026-01-01",
            Body::Policy {
                toml: "[rotaton]\n".into(),
            },
        );
        assert!(base.with(&misspelt).is_err());
        let bad_orgs = bulletin(
            1,
            GENESIS,
            "2026-01-01",
            Body::Orgs {
                csv: "code,name,level,parent\n419999,x,county,999999\n".into(),
            },
        );
        assert!(
            base.with(&bad_orgs)
                .unwrap_err()
                .to_string()
                .contains("not in the directory")
        );
        let bad_serial = bulletin(
            1,
            GENESIS,
            "2026-01-01",
            Body::Revocation {
                serials: vec!["XYZ".into()],
                orgs: vec![],
            },
        );
        assert!(base.with(&bad_serial).is_err());
        assert_eq!(base.latest, 0);
        let good = bulletin(
            1,
            GENESIS,
            "2026-01-01",
            Body::Revocation {
                serials: vec!["0a1b".into()],
                orgs: vec!["410102".into()],
            },
        );
        let next = base.with(&good).unwrap();
        assert_eq!(next.serials, ["0a1b"]);
        assert_eq!(next.revoked_orgs, ["410102"]);
        let added = next
            .with(&bulletin(
                2,
                GENESIS,
                "2026-01-01",
                Body::Orgs {
                    csv: "code,name,level,parent\n410199,新区,county,410100\n".into(),
                },
            ))
            .unwrap();
        assert!(added.orgs().get("410199").is_some());
        assert!(next.orgs().get("410199").is_none());
    }
}
