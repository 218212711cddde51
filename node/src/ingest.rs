//! Ingest: decoding and checking changes that were written elsewhere — a
//! child's sync batches at a hub, or the parent's copy of our subtree during
//! a restore — before the core's placement ([`lunxun_core::placement`])
//! decides what each one is.
//!
//! [`verify`] decodes every change and its record (the codec is this crate's)
//! and runs [`lunxun_core::placement::check`] on it; any failure refuses the
//! whole batch. [`crate::node::Node::ingest`] then runs [`place`] under the
//! write lock and appends the accepted changes durably before anything is
//! acknowledged.
//!
//! [`verify_contents`] does the same for a whole batch with its checkpoints:
//! each checkpoint's signature and certificate chain is verified here too,
//! off the write lock ([`crate::certs::sign::Trust`]); a node that requires
//! signatures then places with [`place_signed`].

use bytes::Bytes;

pub use lunxun_core::checkpoint::{Rejected, Signatures, Signed};
pub use lunxun_core::placement::{
    Checked, Held, HeldReason, Placed, Refusal, Unknown, Verified, check, place, place_signed,
};

use crate::certs::sign::Trust;
use crate::codec;
use crate::config::Revoked;
use crate::orgs::{OrgDirectory, OrgId};

/// Decodes and checks a batch's changes ([`verify`]) and its checkpoints
/// from `sender`. A checkpoint that does not decode, or is of an origin
/// outside the sender's subtree, refuses the batch like such a change; one
/// whose signature or chain does not verify vouches for nothing (the
/// changes it was to cover are held back, with the reason). A node that does
/// not require signatures (no tls dir: `--insecure` links) ignores them.
pub fn verify_contents(
    orgs: &OrgDirectory,
    trust: Signing<'_>,
    revoked: &Revoked,
    sender: OrgId,
    contents: codec::Contents,
) -> Result<Checked, Refusal> {
    let changes = verify(orgs, sender, contents.changes)?;
    let signatures = verify_checkpoints(orgs, trust, revoked, sender, contents.checkpoints)?;
    Ok(Checked {
        changes,
        signatures,
    })
}

/// [`verify_contents`] for a parent, which keeps other origins flowing: the
/// changes of origins its directory does not know are set aside as held
/// ([`verify_holding_unknown`]).
pub fn verify_contents_holding_unknown(
    orgs: &OrgDirectory,
    trust: Signing<'_>,
    revoked: &Revoked,
    sender: OrgId,
    contents: codec::Contents,
) -> Result<(Checked, Unknown), Refusal> {
    let (changes, unknown) = verify_holding_unknown(orgs, sender, contents.changes)?;
    let signatures = verify_checkpoints(orgs, trust, revoked, sender, contents.checkpoints)?;
    Ok((
        Checked {
            changes,
            signatures,
        },
        unknown,
    ))
}

/// Whether a receiver requires signatures, and the roots it verifies them
/// to (or why it has none): `Node::signing`.
pub type Signing<'a> = Option<Result<&'a Trust, &'a str>>;

/// A batch's checkpoints, verified (see [`verify_contents`]).
fn verify_checkpoints(
    orgs: &OrgDirectory,
    trust: Signing<'_>,
    revoked: &Revoked,
    sender: OrgId,
    checkpoints: Vec<Bytes>,
) -> Result<Signatures, Refusal> {
    let mut signatures = Signatures::default();
    for bytes in checkpoints {
        match trust {
            Some(Ok(trust)) => match trust.verify(orgs, revoked, sender, bytes) {
                Ok(signed) => signatures.signed.push(signed),
                Err(Ok(rejected)) => signatures.rejected.extend(rejected),
                Err(Err(fault)) => return Err(Refusal::Malformed(fault)),
            },
            Some(Err(e)) => {
                let c = crate::certs::sign::decode(&bytes).map_err(|e| Refusal::Malformed(e.0))?;
                if let Some(org) = orgs.get(&c.origin) {
                    signatures.rejected.push(Rejected {
                        org,
                        origin: c.origin,
                        seq: c.seq,
                        reason: format!("this node cannot verify signatures: {e}"),
                    });
                }
            }
            // Links without TLS carry no signatures worth checking.
            None => break,
        }
    }
    Ok(signatures)
}

/// Decodes and checks a batch of encoded changes from `sender`, whose subtree
/// bounds the origins it may send.
pub fn verify(
    orgs: &OrgDirectory,
    sender: OrgId,
    changes: Vec<Bytes>,
) -> Result<Vec<Verified>, Refusal> {
    changes
        .into_iter()
        .map(|bytes| {
            let change =
                codec::decode_change(bytes.clone()).map_err(|e| Refusal::Malformed(e.0))?;
            let record = codec::decode_record(&change.record);
            check(orgs, sender, change, bytes, record)
        })
        .collect()
}

/// [`verify`] for a parent, which keeps other origins flowing: the changes
/// of origins the directory does not know are set aside as held
/// ([`Unknown`]; their hashes still checked), not refused. Everything else
/// refuses the whole batch as [`verify`] does.
pub fn verify_holding_unknown(
    orgs: &OrgDirectory,
    sender: OrgId,
    changes: Vec<Bytes>,
) -> Result<(Vec<Verified>, Unknown), Refusal> {
    let mut unknown = Unknown::default();
    let mut verified = Vec::with_capacity(changes.len());
    for bytes in changes {
        let change = codec::decode_change(bytes.clone()).map_err(|e| Refusal::Malformed(e.0))?;
        if orgs.get(&change.origin).is_none() {
            if !change.hash_is_valid() {
                return Err(Refusal::BadHash {
                    origin: change.origin,
                    seq: change.seq,
                });
            }
            unknown.hold(&change)?;
            continue;
        }
        let record = codec::decode_record(&change.record);
        verified.push(check(orgs, sender, change, bytes, record)?);
    }
    Ok((verified, unknown))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::changelog::{Change, GENESIS, Hash};
    use crate::model::Record;
    use crate::model::{PersonId, Rank, RosterEntry};

    fn roster_bytes(name: &str) -> Bytes {
        codec::encode_record(&Record::Roster(RosterEntry {
            person: "11010519491231002X".parse::<PersonId>().unwrap(),
            name: name.into(),
            rank: Rank::General,
            since: "2024-01-01".parse().unwrap(),
            until: None,
            employer: String::new(),
            position: String::new(),
            group: String::new(),
        }))
    }

    fn log(origin: &str, n: u64, tag: &str) -> Vec<Bytes> {
        let mut prev = GENESIS;
        (1..=n)
            .map(|seq| {
                let c = Change::new(
                    origin.into(),
                    seq,
                    prev,
                    seq as i64,
                    roster_bytes(&format!("{tag}{seq}")),
                );
                prev = c.hash;
                codec::encode_change(&c)
            })
            .collect()
    }

    #[test]
    fn verify_refuses_link_and_peer_faults() {
        let orgs = OrgDirectory::builtin();
        let zhengzhou = orgs.get("410100").unwrap();
        assert_eq!(
            verify(&orgs, zhengzhou, log("410102", 3, "a"))
                .unwrap()
                .len(),
            3
        );
        assert_eq!(
            verify(&orgs, zhengzhou, log("410100", 1, "a"))
                .unwrap()
                .len(),
            1
        );
        assert!(matches!(
            verify(&orgs, zhengzhou, log("420102", 1, "a")),
            Err(Refusal::Outside { .. })
        ));
        assert!(matches!(
            verify(&orgs, zhengzhou, log("ZZ-NOWHERE", 1, "a")),
            Err(Refusal::UnknownOrigin { .. })
        ));
        let mut forged = codec::decode_change(log("410102", 1, "a").remove(0)).unwrap();
        forged.record = roster_bytes("forged");
        assert!(matches!(
            verify(&orgs, zhengzhou, vec![codec::encode_change(&forged)]),
            Err(Refusal::BadHash { .. })
        ));
        assert!(matches!(
            verify(&orgs, zhengzhou, vec![Bytes::from_static(b"\xff\xff")]),
            Err(Refusal::Malformed(_))
        ));
    }

    #[test]
    fn a_parent_holds_unknown_origins_and_refuses_the_rest_as_before() {
        let orgs = OrgDirectory::builtin();
        let zhengzhou = orgs.get("410100").unwrap();
        let mut batch = log("ZZ-NOWHERE", 2, "u");
        batch.extend(log("410102", 2, "a"));
        let (verified, unknown) = verify_holding_unknown(&orgs, zhengzhou, batch).unwrap();
        assert_eq!(verified.len(), 2);
        assert_eq!(unknown.changes, 2);
        assert_eq!(unknown.held.len(), 1);
        assert_eq!(unknown.held[0].origin, "ZZ-NOWHERE");
        assert_eq!(
            unknown.held[0].reason.to_string(),
            "unknown origin: not in this node's org directory"
        );
        assert!(matches!(
            verify_holding_unknown(&orgs, zhengzhou, log("420102", 1, "a")),
            Err(Refusal::Outside { .. })
        ));
        let mut forged = codec::decode_change(log("ZZ-NOWHERE", 1, "a").remove(0)).unwrap();
        forged.record = roster_bytes("forged");
        assert!(matches!(
            verify_holding_unknown(&orgs, zhengzhou, vec![codec::encode_change(&forged)]),
            Err(Refusal::BadHash { .. })
        ));
        let many: Vec<Bytes> = (0..=lunxun_core::placement::UNKNOWN_ORIGINS_MAX)
            .flat_map(|i| log(&format!("ZZ-{i}"), 1, "m"))
            .collect();
        assert!(matches!(
            verify_holding_unknown(&orgs, zhengzhou, many),
            Err(Refusal::UnknownOrigins { .. })
        ));
    }

    #[test]
    fn placement_skips_holds_and_quarantines_per_origin() {
        let orgs = OrgDirectory::builtin();
        let zhengzhou = orgs.get("410100").unwrap();
        let a = log("410102", 5, "a");
        let b = log("410103", 3, "b");
        let mut heads = lunxun_core::orgs::OrgMap::default();
        let held = |_: &str, _: u64| None;

        // Batch: a1..a3, b2 (gap), b1.
        let batch = vec![
            a[0].clone(),
            a[1].clone(),
            a[2].clone(),
            b[1].clone(),
            b[0].clone(),
        ];
        let p = place(
            verify(&orgs, zhengzhou, batch).unwrap(),
            &mut heads,
            held,
            0,
        );
        assert_eq!(p.accepted.len(), 3);
        assert_eq!(p.held.len(), 1);
        assert_eq!(p.held[0].reason, HeldReason::Gap { expected: 1 });
        // b1 came after b2 in the batch: the origin was already blocked.
        assert_eq!(p.held_changes, 2);
        assert_eq!(p.touched["410102"].0, 3);
        assert_eq!(p.touched["410103"].0, 0);

        // Resent a2..a4: a2, a3 skipped, a4 accepted; b in order now.
        let batch = vec![
            a[1].clone(),
            a[2].clone(),
            a[3].clone(),
            b[0].clone(),
            b[1].clone(),
        ];
        let stored: Vec<Hash> = a
            .iter()
            .map(|x| codec::decode_change(x.clone()).unwrap().hash)
            .collect();
        let lookup = |o: &str, seq: u64| (o == "410102").then(|| stored[seq as usize - 1]);
        let p = place(
            verify(&orgs, zhengzhou, batch).unwrap(),
            &mut heads,
            lookup,
            0,
        );
        assert_eq!((p.accepted.len(), p.skipped), (3, 2));

        // A fork: another a3 chained from a2. Held, the first kept.
        let other = log("410102", 3, "other");
        let p = place(
            verify(&orgs, zhengzhou, vec![other[2].clone()]).unwrap(),
            &mut heads,
            lookup,
            0,
        );
        assert_eq!(p.held[0].reason, HeldReason::Fork);
        assert!(p.accepted.is_empty());

        // A malformed record with an intact chain: quarantined, and a5 waits
        // behind it, while b3 flows.
        let head = heads[&orgs.get("410102").unwrap()];
        let bad = Change::new(
            "410102".into(),
            5,
            head.hash,
            0,
            Bytes::from_static(b"\x0a\x01\x00"),
        );
        let batch = vec![codec::encode_change(&bad), b[2].clone()];
        let p = place(
            verify(&orgs, zhengzhou, batch).unwrap(),
            &mut heads,
            lookup,
            0,
        );
        assert_eq!(p.quarantined(), 1);
        assert!(matches!(p.held[0].reason, HeldReason::Quarantined(_)));
        assert_eq!(p.accepted.len(), 1);
        assert_eq!(p.accepted[0].1.origin, "410103");
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use crate::changelog::{Change, GENESIS};
    use crate::model::Record;
    use lunxun_proto::v1 as pb;
    use proptest::prelude::*;
    use prost::Message;

    fn valid_changes(n: usize) -> Vec<Bytes> {
        let mut prev = GENESIS;
        (1..=n as u64)
            .map(|seq| {
                let record = codec::encode_record(&Record::Obligation(crate::model::Obligation {
                    kind: crate::model::ObligationKind::Study,
                    date: "2024-01-01".parse().unwrap(),
                    note: format!("n{seq}"),
                }));
                let c = Change::new("410102".into(), seq, prev, 0, record);
                prev = c.hash;
                codec::encode_change(&c)
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 400, .. ProptestConfig::default() })]

        /// Arbitrary batch envelopes: decoding never panics and never
        /// produces more than the limits.
        #[test]
        fn arbitrary_batches_never_panic(zstd in proptest::collection::vec(any::<u8>(), 0..2048), raw in any::<u32>(), count in any::<u32>()) {
            let batch = pb::Batch { batch_no: 1, count, raw_bytes: raw, zstd: zstd.into() };
            if let Ok(contents) = codec::decode_batch(&batch) {
                prop_assert!(contents.changes.len() <= codec::BATCH_CHANGES_MAX);
                prop_assert!(contents.checkpoints.len() <= codec::BATCH_CHECKPOINTS_MAX);
            }
        }

        /// Arbitrary bytes as changes, and valid changes with bytes flipped:
        /// verification never panics, and what it accepts hashes correctly.
        #[test]
        fn arbitrary_changes_never_panic(
            junk in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..8),
            flips in proptest::collection::vec((0usize..8, any::<usize>(), any::<u8>()), 0..6),
        ) {
            let orgs = OrgDirectory::builtin();
            let sender = orgs.get("410100").unwrap();
            let _ = verify(&orgs, sender, junk.into_iter().map(Bytes::from).collect());
            let mut changes: Vec<Vec<u8>> = valid_changes(8).into_iter().map(|b| b.to_vec()).collect();
            for (i, at, byte) in flips {
                let c = &mut changes[i];
                let at = at % c.len();
                c[at] ^= byte.max(1);
            }
            if let Ok(verified) = verify(&orgs, sender, changes.into_iter().map(Bytes::from).collect()) {
                for v in &verified {
                    prop_assert!(v.change.hash_is_valid());
                    prop_assert!(orgs.is_within(v.org, sender));
                }
                let mut heads = lunxun_core::orgs::OrgMap::default();
                let _ = place(verified, &mut heads, |_, _| None, 0);
            }
        }

        /// Arbitrary bytes as any message of the sync protocol decode or fail,
        /// never panic.
        #[test]
        fn arbitrary_protocol_messages_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = pb::ChildMessage::decode(bytes.as_slice());
            let _ = pb::ParentMessage::decode(bytes.as_slice());
            let _ = codec::decode_change(Bytes::from(bytes.clone()));
            let _ = codec::decode_record(&bytes);
        }
    }
}
