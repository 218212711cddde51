//! Signing and verifying checkpoints: what a receiver accepts, rejects and
//! holds back, and that no changed byte gets through.

use lunxun_core::orgs::OrgMap;
use std::sync::OnceLock;

use proptest::prelude::*;

use super::*;
use crate::certs::{init_ca, issue};
use crate::changelog::{Change, GENESIS};
use crate::checkpoint::Signatures;
use crate::codec;
use crate::ingest::{self, HeldReason};
use crate::model::{Obligation, ObligationKind, Record};

/// A root, a 河南 intermediate, and node certificates under them, made once.
struct Pki {
    _tmp: tempfile::TempDir,
    orgs: OrgDirectory,
    /// A node of 410102 (郑州市中原区) issued by the root.
    county: PathBuf,
    /// A node of 410103, issued by the root.
    neighbour: PathBuf,
    /// A node of 410102 issued by 湖北's CA (which may not vouch for it).
    hubei_issued: PathBuf,
    /// A node of 410102 issued by another root.
    foreign: PathBuf,
}

fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let orgs = OrgDirectory::builtin();
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        init_ca(&root, "100000", None, None, &orgs).unwrap();
        let hubei = tmp.path().join("hubei");
        init_ca(&hubei, "420000", Some(&root), None, &orgs).unwrap();
        let other_root = tmp.path().join("other-root");
        init_ca(&other_root, "100000", None, None, &orgs).unwrap();
        let node = |ca: &Path, org: &str, name: &str| {
            let dir = tmp.path().join(name);
            issue(ca, org, &[], &dir, None, &orgs).unwrap();
            dir
        };
        let county = node(&root, "410102", "county");
        let neighbour = node(&root, "410103", "neighbour");
        // 湖北's CA refuses to issue outside its subtree: build that chain
        // by hand below instead.
        let hubei_issued = tmp.path().join("hubei-issued");
        std::fs::create_dir_all(&hubei_issued).unwrap();
        let foreign = node(&other_root, "410102", "foreign");
        // The county's key with a chain that claims 湖北's CA vouches for it.
        for file in [KEY_FILE, CA_FILE] {
            std::fs::copy(county.join(file), hubei_issued.join(file)).unwrap();
        }
        let mut chain = std::fs::read_to_string(county.join(CERT_FILE)).unwrap();
        chain.push_str(&std::fs::read_to_string(hubei.join(CA_FILE)).unwrap());
        std::fs::write(hubei_issued.join(CERT_FILE), chain).unwrap();
        Pki {
            _tmp: tmp,
            orgs,
            county,
            neighbour,
            hubei_issued,
            foreign,
        }
    })
}

fn sender(p: &Pki) -> OrgId {
    p.orgs.get("410100").unwrap()
}

fn trust(p: &Pki) -> Trust {
    Trust::load(&p.county).unwrap()
}

fn verify(
    p: &Pki,
    bytes: Bytes,
    revoked: &Revoked,
) -> Result<Signed, Result<Option<Rejected>, String>> {
    trust(p).verify(&p.orgs, revoked, sender(p), bytes)
}

fn rejected(r: Result<Signed, Result<Option<Rejected>, String>>) -> String {
    match r {
        Err(Ok(Some(rejected))) => rejected.reason,
        other => panic!("expected a rejected checkpoint, got {other:?}"),
    }
}

fn now() -> i64 {
    crate::node::now_ms()
}

#[test]
fn a_checkpoint_verifies_for_its_origin_and_binds_its_fields() {
    let p = pki();
    let signer = Signer::load(&p.county, "410102").unwrap();
    let bytes = signer.sign("410102", 7, &[3; 32], now());
    let signed = verify(p, bytes.clone(), &Revoked::default()).unwrap();
    assert_eq!(
        (signed.origin.as_str(), signed.seq, signed.hash),
        ("410102", 7, [3; 32])
    );
    assert_eq!(signed.bytes, bytes);
    // Another seq or hash under the same signature: refused.
    let mut c = decode(&bytes).unwrap();
    c.seq = 8;
    assert!(rejected(verify(p, encode(&c), &Revoked::default())).contains("does not verify"));
    let mut c = decode(&bytes).unwrap();
    c.hash = [4; 32];
    assert!(rejected(verify(p, encode(&c), &Revoked::default())).contains("does not verify"));
}

#[test]
fn a_signer_must_hold_a_certificate_for_its_own_org() {
    let p = pki();
    let err = Signer::load(&p.county, "410103").unwrap_err().to_string();
    assert!(err.contains("not this node's org 410103"), "{err}");
    // The neighbour's key over the county's origin: signed by 410103.
    let signer = Signer::load(&p.neighbour, "410103").unwrap();
    let forged = signer.sign("410102", 1, &[1; 32], now());
    let reason = rejected(verify(p, forged, &Revoked::default()));
    assert!(
        reason.contains("for 410103, not for the origin"),
        "{reason}"
    );
}

#[test]
fn chains_outside_the_line_other_roots_revoked_and_expired_are_rejected() {
    let p = pki();
    let hubei = Signer::load(&p.hubei_issued, "410102").unwrap();
    let reason = rejected(verify(
        p,
        hubei.sign("410102", 1, &[1; 32], now()),
        &Revoked::default(),
    ));
    assert!(
        reason.contains("chain") || reason.contains("vouch"),
        "{reason}"
    );
    let foreign = Signer::load(&p.foreign, "410102").unwrap();
    let reason = rejected(verify(
        p,
        foreign.sign("410102", 1, &[1; 32], now()),
        &Revoked::default(),
    ));
    assert!(reason.contains("does not chain to our root"), "{reason}");

    let county = Signer::load(&p.county, "410102").unwrap();
    let serial = crate::certs::info(&county.chain[0]).unwrap().serial;
    let revoked = Revoked {
        serials: vec![serial.clone()],
        orgs: Vec::new(),
    };
    let reason = rejected(verify(
        p,
        county.sign("410102", 1, &[1; 32], now()),
        &revoked,
    ));
    assert!(
        reason.contains(&format!("revoked certificate {serial}")),
        "{reason}"
    );
    // Signed before the certificate was valid (a clock or a backdating).
    let reason = rejected(verify(
        p,
        county.sign("410102", 1, &[1; 32], 1_000),
        &Revoked::default(),
    ));
    assert!(reason.contains("signing time"), "{reason}");
    // Remembered chains are still checked against each signing time.
    let t = trust(p);
    let ok = county.sign("410102", 2, &[1; 32], now());
    assert!(
        t.verify(&p.orgs, &Revoked::default(), sender(p), ok)
            .is_ok()
    );
    let early = county.sign("410102", 3, &[1; 32], 1_000);
    assert!(matches!(
        t.verify(&p.orgs, &Revoked::default(), sender(p), early),
        Err(Ok(_))
    ));
}

#[test]
fn a_checkpoint_outside_the_senders_subtree_or_malformed_refuses_the_batch() {
    let p = pki();
    let county = Signer::load(&p.county, "410102").unwrap();
    let bytes = county.sign("410102", 1, &[1; 32], now());
    let hubei_sender = p.orgs.get("420100").unwrap();
    let outside = trust(p).verify(&p.orgs, &Revoked::default(), hubei_sender, bytes);
    assert!(matches!(outside, Err(Err(e)) if e.contains("outside")));
    assert!(matches!(
        verify(p, Bytes::from_static(b"\xff\xff\xff"), &Revoked::default()),
        Err(Err(_))
    ));
    let huge = Bytes::from(vec![0u8; CHECKPOINT_BYTES_MAX + 1]);
    assert!(matches!(verify(p, huge, &Revoked::default()), Err(Err(e)) if e.contains("exceeds")));
}

/// When the logs below were written: fixed, so two calls make the same log.
const WRITTEN_AT_MS: i64 = 1_767_225_600_000;

/// A county's log of `n` changes, signed at its end as a write would be.
fn signed_log(n: u64) -> (Vec<Bytes>, Bytes) {
    let signer = Signer::load(&pki().county, "410102").unwrap();
    let mut prev = GENESIS;
    let changes = (1..=n)
        .map(|seq| {
            let record = codec::encode_record(&Record::Obligation(Obligation {
                kind: ObligationKind::Study,
                date: "2026-01-01".parse().unwrap(),
                note: format!("meeting {seq}"),
            }));
            let c = Change::new("410102".into(), seq, prev, WRITTEN_AT_MS, record);
            prev = c.hash;
            codec::encode_change(&c)
        })
        .collect();
    (changes, signer.sign("410102", n, &prev, now()))
}

/// What a receiver requiring signatures does with a batch: verify the
/// changes and checkpoints, then place them (a fresh receiver).
fn receive(changes: Vec<Bytes>, checkpoints: Vec<Bytes>) -> Result<Vec<Bytes>, String> {
    let p = pki();
    let verified = ingest::verify(&p.orgs, sender(p), changes).map_err(|e| e.to_string())?;
    let t = trust(p);
    let mut signatures = Signatures::default();
    for c in checkpoints {
        match t.verify(&p.orgs, &Revoked::default(), sender(p), c) {
            Ok(s) => signatures.signed.push(s),
            Err(Ok(r)) => signatures.rejected.extend(r),
            Err(Err(e)) => return Err(e),
        }
    }
    let mut heads = OrgMap::default();
    let placed = ingest::place_signed(verified, &signatures, &mut heads, |_, _| None, 0);
    Ok(placed.accepted.into_iter().map(|(_, _, b, _)| b).collect())
}

#[test]
fn a_receiver_applies_only_what_a_checkpoint_vouches_for() {
    let (changes, checkpoint) = signed_log(5);
    assert_eq!(
        receive(changes.clone(), vec![checkpoint.clone()]).unwrap(),
        changes
    );
    // No checkpoint: nothing applied, and the origin is held as unsigned.
    assert!(receive(changes.clone(), Vec::new()).unwrap().is_empty());
    let p = pki();
    let verified = ingest::verify(&p.orgs, sender(p), changes.clone()).unwrap();
    let placed = ingest::place_signed(
        verified,
        &Signatures::default(),
        &mut OrgMap::default(),
        |_, _| None,
        0,
    );
    assert_eq!(placed.held[0].reason, HeldReason::Unsigned);
    assert_eq!((placed.held[0].seq, placed.held_changes), (1, 5));
    // A checkpoint at 3 of a log of 5: 1..=3 applied, 4 and 5 held.
    let (_, at3) = signed_log(3);
    let applied = receive(changes.clone(), vec![at3]).unwrap();
    assert_eq!(applied, changes[..3]);
    // A middle node rewrites change 2 and re-chains the rest: the origin's
    // checkpoint names another hash at 5; nothing of it is applied.
    let mut rewritten = Vec::new();
    let mut prev = GENESIS;
    for (i, bytes) in changes.iter().enumerate() {
        let mut c = codec::decode_change(bytes.clone()).unwrap();
        if i == 1 {
            c.record = codec::encode_record(&Record::Obligation(Obligation {
                kind: ObligationKind::Study,
                date: "2026-01-01".parse().unwrap(),
                note: "forged".into(),
            }));
        }
        let c = Change::new(c.origin, c.seq, prev, c.written_at_ms, c.record);
        prev = c.hash;
        rewritten.push(codec::encode_change(&c));
    }
    let verified = ingest::verify(&p.orgs, sender(p), rewritten).unwrap();
    let t = trust(p);
    let signatures = Signatures {
        signed: vec![
            t.verify(&p.orgs, &Revoked::default(), sender(p), checkpoint)
                .unwrap(),
        ],
        rejected: Vec::new(),
    };
    let placed = ingest::place_signed(
        verified,
        &signatures,
        &mut OrgMap::default(),
        |_, _| None,
        0,
    );
    assert!(placed.accepted.is_empty());
    assert_eq!(placed.held[0].reason, HeldReason::Contradicted);
    assert!(
        placed.checkpoints.is_empty(),
        "a contradicted checkpoint is not stored"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    /// Any byte changed in any change or in the checkpoint of a signed batch
    /// is detected at the receiver: the batch is refused, or what it applies
    /// is exactly a prefix of the genuine log, byte for byte.
    #[test]
    fn any_changed_byte_is_detected(
        target in 0usize..6,
        at in any::<usize>(),
        flip in 1u8..=255,
    ) {
        let (changes, checkpoint) = signed_log(5);
        let (mut sent, mut cp) = (changes.clone(), checkpoint.to_vec());
        if target < 5 {
            let mut c = sent[target].to_vec();
            let i = at % c.len();
            c[i] ^= flip;
            sent[target] = Bytes::from(c);
        } else {
            let i = at % cp.len();
            cp[i] ^= flip;
        }
        if let Ok(applied) = receive(sent, vec![Bytes::from(cp)]) {
            prop_assert!(applied.len() <= changes.len());
            prop_assert_eq!(&applied[..], &changes[..applied.len()]);
        }
    }
}
