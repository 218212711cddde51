//! Signed checkpoints: an origin's signature over its log up to a seq.
//!
//! The hash chain proves order, not authorship: anyone can recompute it. So
//! after every write the origin signs `(origin, seq, hash)` with the key of
//! its own node certificate. The change at `seq` carries `hash` and every
//! change the hash of its predecessor, so one checkpoint vouches for the
//! whole log up to `seq`: a receiver verifies one signature per write, not
//! one per change.
//!
//! This module holds what is pure about them: the exact bytes signed, the
//! decoded form, and the rule a receiver applies ([`confirmed_upto`]). The
//! cryptography (signing with the node's key, verifying a signature and its
//! certificate chain to the national root) is the node crate's.

use bytes::Bytes;

use crate::changelog::Hash;
use crate::orgs::OrgId;

/// Domain separation for checkpoint signatures, so a signature over anything
/// else can never pass for one.
const SIGNED_CONTEXT: &[u8] = b"lunxun.checkpoint.v1\0";

/// An origin signs a checkpoint at least every so many changes within one
/// write, so that the changes between two checkpoints always fit one batch.
pub const INTERVAL_CHANGES: usize = 1_024;
/// … and at least every so many encoded bytes of changes.
pub const INTERVAL_BYTES: usize = 1024 * 1024;

/// A decoded checkpoint, as its origin signed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub seq: u64,
    /// The hash of the origin's change `seq`.
    pub hash: Hash,
    /// The signer's clock when it signed, in ms since the Unix epoch: the
    /// certificate chain is verified at this time, so an expired or renewed
    /// certificate's earlier signatures stay valid.
    pub signed_at_ms: i64,
    pub signature: Bytes,
    /// The signer's certificate, then any intermediate CAs (DER).
    pub chain: Vec<Bytes>,
}

/// The bytes an origin signs for a checkpoint.
///
/// Layout: context ‖ len(origin) u32 BE ‖ origin ‖ seq u64 BE ‖ hash ‖
/// signed_at_ms i64 BE.
pub fn signed_bytes(origin: &str, seq: u64, hash: &Hash, signed_at_ms: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(SIGNED_CONTEXT.len() + 4 + origin.len() + 8 + 32 + 8);
    out.extend_from_slice(SIGNED_CONTEXT);
    out.extend_from_slice(&(origin.len() as u32).to_be_bytes());
    out.extend_from_slice(origin.as_bytes());
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(hash);
    out.extend_from_slice(&signed_at_ms.to_be_bytes());
    out
}

impl Checkpoint {
    /// What its signature covers.
    pub fn signed_bytes(&self) -> Vec<u8> {
        signed_bytes(&self.origin, self.seq, &self.hash, self.signed_at_ms)
    }
}

/// A checkpoint whose signature and certificate chain were verified (by the
/// node crate) for the org `org`: it vouches for that origin's change `seq`
/// having `hash`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    pub org: OrgId,
    pub origin: String,
    pub seq: u64,
    pub hash: Hash,
    /// The checkpoint exactly as received, to be stored and forwarded as is.
    pub bytes: Bytes,
}

/// A checkpoint whose signature or certificate chain did not verify, and why
/// (revoked, expired at signing time, signed for another org, a CA outside
/// the org's line, a bad signature). It vouches for nothing; the changes it
/// was to cover are held back with this reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub org: OrgId,
    pub origin: String,
    pub seq: u64,
    pub reason: String,
}

/// A batch's checkpoints after verification.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Signatures {
    pub signed: Vec<Signed>,
    pub rejected: Vec<Rejected>,
}

/// How far a receiver may apply an origin's changes: the highest seq at or
/// below `upto` for which a verified checkpoint matches the hash the
/// receiver holds (or is about to hold) there. `hash_at` gives that hash.
/// Checkpoints that match nothing held are ignored; one that contradicts a
/// held hash is returned in `Err` (a rewritten or forged log).
pub fn confirmed_upto<'a>(
    checkpoints: impl IntoIterator<Item = &'a Signed>,
    upto: u64,
    hash_at: impl Fn(u64) -> Option<Hash>,
) -> Result<Option<u64>, &'a Signed> {
    let mut best = None;
    for c in checkpoints {
        if c.seq > upto {
            continue;
        }
        match hash_at(c.seq) {
            Some(h) if h == c.hash => best = best.max(Some(c.seq)),
            Some(_) => return Err(c),
            None => {}
        }
    }
    Ok(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed(seq: u64, hash: u8) -> Signed {
        Signed {
            org: crate::orgs::OrgDirectory::builtin().get("410102").unwrap(),
            origin: "410102".into(),
            seq,
            hash: [hash; 32],
            bytes: Bytes::new(),
        }
    }

    #[test]
    fn signed_bytes_bind_every_field() {
        let base = signed_bytes("410102", 7, &[1; 32], 1000);
        assert_ne!(base, signed_bytes("410103", 7, &[1; 32], 1000));
        assert_ne!(base, signed_bytes("410102", 8, &[1; 32], 1000));
        assert_ne!(base, signed_bytes("410102", 7, &[2; 32], 1000));
        assert_ne!(base, signed_bytes("410102", 7, &[1; 32], 1001));
        // The origin's length is part of the layout: no shifting of bytes
        // between the origin and the seq.
        assert_ne!(
            signed_bytes("4101", 7, &[1; 32], 0),
            signed_bytes("41010", 7, &[1; 32], 0)
        );
    }

    #[test]
    fn confirmation_takes_the_highest_matching_checkpoint() {
        let held = |seq: u64| (seq <= 10).then_some([seq as u8; 32]);
        let cps = [signed(3, 3), signed(8, 8), signed(12, 12)];
        assert_eq!(confirmed_upto(&cps, 10, held), Ok(Some(8)));
        assert_eq!(confirmed_upto(&cps, 5, held), Ok(Some(3)));
        assert_eq!(confirmed_upto(&cps[2..], 20, held), Ok(None));
        let forged = [signed(3, 3), signed(5, 99)];
        assert_eq!(confirmed_upto(&forged, 10, held).unwrap_err().seq, 5);
    }
}
