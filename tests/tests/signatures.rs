//! Signed origin logs, in real processes over mutual TLS: every receiver
//! applies an origin's changes only as far as a checkpoint signed by that
//! origin's own certificate vouches for them (DESIGN.md "Origin signatures").
//!
//! - a compromised province that rewrites a county's records and re-chains
//!   them is refused at the national bureau, whether it forwards the
//!   county's checkpoint (which names another hash) or signs one itself
//!   (with a certificate for the province, not the county) — and the
//!   national copy keeps the genuine history;
//! - a renewed certificate keeps signing (the old checkpoints stay valid);
//!   one revoked at the national bureau gets what it signed held back there
//!   while the province's own records flow, until a new certificate signs.
//!
//! 济源市 (419001) is a county directly under 河南 (410000), so the three
//! levels are three processes.

use lunxun_node::codec;
use lunxun_tests::data::extra_class;
use lunxun_tests::forge;
use lunxun_tests::pki::{serial, swap_identity};
use lunxun_tests::raw::{RawSession, Tls, client, runtime};
use lunxun_tests::{Node, World, assert_exactly_once, seed};
use serde_json::Value;

const NATIONAL: &str = "100000";
const PROVINCE: &str = "410000";
const COUNTY: &str = "419001";

/// The hold `holder`'s status shows for `origin`, if any.
fn held(holder: &Node, origin: &str) -> Option<Value> {
    holder.status_json()["held"]
        .as_array()?
        .iter()
        .find(|h| h["origin"] == origin)
        .cloned()
}

#[test]
fn a_compromised_province_cannot_rewrite_a_countys_records() {
    let world = World::tls("rewrite", seed("rewrite", 201));
    let mut national = world.hub(NATIONAL, None);
    let mut province = world.hub(PROVINCE, Some(&national.url()));
    let mut county = world.node(COUNTY, Some(&province.url()));
    let data = world.data(COUNTY);
    county.import_data(&data);
    county.sync_ok();
    province.sync_ok();
    let reached = county.own_seq();

    // The national bureau is offline while the county's next class reaches
    // the province.
    national.stop();
    county.import_data(&extra_class(&data, 1, world.params.as_of));
    county.sync_ok();
    let head = county.own_seq();
    assert!(head > reached + 1);
    province.stop();
    let genuine = county.logs();
    let genuine_checkpoint = forge::stored_checkpoint(province.dir(), COUNTY, head);

    // A tampered store file at the province: its own software forwards
    // nothing that no checkpoint vouches for.
    assert_eq!(
        forge::rewrite_in_store(province.dir(), COUNTY, reached + 1),
        head
    );
    national.serve();
    province.serve();
    let out = province.sync_once();
    province.expect_code(&["sync", "--once"], &out, 4);
    assert!(
        out.stderr.contains("not signed, so not sent"),
        "{}",
        out.stderr
    );
    province.stop();

    // A compromised province running other software: it sends the county's
    // rewritten, re-chained changes with the county's own checkpoint, with
    // one it signed itself, and with none. All are held back, with the
    // reason, at the national bureau; then the genuine ones arrive.
    let tail = &genuine.origins[COUNTY][reached as usize..];
    let tail: Vec<_> = tail.iter().map(|s| s.change.clone()).collect();
    let prev = forge::hash_of(&genuine.origins[COUNTY][reached as usize - 1].change);
    let (forged, forged_hash) = forge::rewritten(&tail, prev);
    let own_signature = forge::sign_as(&province.tls_dir(), PROVINCE, COUNTY, head, &forged_hash);
    let ca = std::fs::read(province.tls_dir().join("ca.pem")).expect("ca.pem");
    let addr = national.addr();
    let tls_dir = province.tls_dir();
    let rt = runtime();
    rt.block_on(async {
        let mut client = client(addr, Some(Tls::from_dir(&ca, &tls_dir)))
            .await
            .expect("connect");
        let mut session = RawSession::open(&mut client, PROVINCE)
            .await
            .expect("a session");
        assert_eq!(session.seq_of(COUNTY), reached);
        let attempts = [
            (vec![genuine_checkpoint.clone()], "rewritten"),
            (
                vec![own_signature],
                "signed by a certificate for 410000, not for the origin",
            ),
            (Vec::new(), "unsigned"),
        ];
        for (no, (checkpoints, reason)) in attempts.into_iter().enumerate() {
            let batch = codec::encode_batch(
                no as u64 + 1,
                codec::Contents {
                    changes: forged.clone(),
                    checkpoints,
                },
            )
            .expect("a batch");
            session.send_batch(batch).await;
            let ack = session.ack().await.expect("an ack");
            assert_eq!(ack.applied, 0, "{reason}: {ack:?}");
            assert_eq!(ack.held.len(), 1, "{reason}: {ack:?}");
            assert_eq!(
                (ack.held[0].origin.as_str(), ack.held[0].seq),
                (COUNTY, reached + 1)
            );
            assert!(ack.held[0].reason.contains(reason), "{reason}: {ack:?}");
        }
        let batch = codec::encode_batch(
            4,
            codec::Contents {
                changes: tail.clone(),
                checkpoints: vec![genuine_checkpoint],
            },
        )
        .expect("a batch");
        session.send_batch(batch).await;
        let ack = session.ack().await.expect("an ack");
        assert_eq!(u64::from(ack.applied), head - reached, "{ack:?}");
        assert!(ack.held.is_empty(), "{ack:?}");
        session.finish(0).await.expect("a clean session");
    });
    drop(rt);
    assert!(held(&national, COUNTY).is_none(), "the hold is lifted");

    // The national copy: the county's genuine history, nothing forged.
    national.stop();
    assert_exactly_once(COUNTY, &genuine, &national.logs());
}

#[test]
fn renewed_certificates_keep_signing_and_revoked_ones_are_refused_above() {
    let world = World::tls("rollover", seed("rollover", 202));
    let pki = world.pki.as_ref().expect("a PKI");
    let mut national = world.hub(NATIONAL, None);
    let mut province = world.hub(PROVINCE, Some(&national.url()));
    let mut county = world.node(COUNTY, Some(&province.url()));
    let data = world.data(COUNTY);
    let as_of = world.params.as_of;
    county.import_data(&data);
    county.sync_ok();
    province.sync_ok();

    // Renewed: a new key and certificate. What the old one signed stays
    // valid at every level; the new one signs from the next write on.
    let first = serial(&county.tls_dir());
    let renewed = world.root().join("419001-renewed");
    pki.issue(COUNTY, false, &renewed);
    swap_identity(&renewed, &county.tls_dir());
    let second = serial(&county.tls_dir());
    assert_ne!(first, second);
    county.import_data(&extra_class(&data, 1, as_of));
    county.sync_ok();
    province.sync_ok();
    let signed_by_second = county.own_seq();

    // The second key is stolen: the national bureau revokes it. The
    // province does not know yet and takes the county's next class; the
    // national bureau holds it back, and the province's own records flow.
    national.ok(&["revoke", "--serial", &second]);
    county.import_data(&extra_class(&data, 2, as_of));
    county.sync_ok();
    province.import_data(&world.data(PROVINCE));
    let out = province.sync_once();
    province.expect_code(&["sync", "--once"], &out, 4);
    assert!(
        out.stderr
            .contains(&format!("signed by revoked certificate {second}")),
        "{}",
        out.stderr
    );
    let hold = held(&national, COUNTY).expect("the national bureau shows the hold");
    assert_eq!(hold["seq"], signed_by_second + 1, "{hold}");

    // A third certificate: the county's next write is signed by it, and its
    // checkpoint vouches for everything below, so all of it arrives.
    let third = world.root().join("419001-third");
    pki.issue(COUNTY, false, &third);
    swap_identity(&third, &county.tls_dir());
    county.import_data(&extra_class(&data, 3, as_of));
    county.sync_ok();
    province.sync_ok();
    assert!(held(&national, COUNTY).is_none(), "the hold is lifted");
    province.stop();
    national.stop();
    let at_national = national.logs();
    assert_exactly_once(COUNTY, &county.logs(), &at_national);
    assert_exactly_once(PROVINCE, &province.logs(), &at_national);
}
