//! A child checks who its parent is, and a hub withstands a flood of bad
//! handshakes, between real processes over mutual TLS.
//!
//! The child is 武汉 420100, whose parent in the directory is 湖北 420000.
//! An impostor is a hub holding a valid certificate of the test's root for
//! another org (郑州 410100) with the right host name, or one for 湖北
//! signed by 河南's intermediate CA, which may not vouch for it: the child
//! refuses it inside the handshake, says why in one line naming both orgs,
//! and the impostor's store holds nothing.
//!
//! The flood: 200 bad handshakes (garbage bytes, no client certificate, idle
//! connections) from 127.0.0.2 while a legitimate county syncs from
//! 127.0.0.1 to its prefecture.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use lunxun_tests::pki::swap_identity;
use lunxun_tests::{Node, Pki, World, assert_exactly_once, seed};

/// The child whose parent is impersonated: 武汉.
const CHILD: &str = "420100";
/// Its parent in the directory: 湖北.
const PARENT: &str = "420000";
/// The org of the impostor's (valid) certificate: 郑州.
const OTHER: &str = "410100";

/// A hub certificate for `org` serving 127.0.0.1, signed by `issuer` (an
/// intermediate CA, whose certificate follows the leaf in `node.pem`), made
/// here with rcgen rather than `certs issue` (which would refuse to make it
/// outside the CA's subtree). Written into `tls_dir` (`node.pem`, `node.key`).
fn forge_hub_certificate(issuer: &Pki, org: &str, tls_dir: &Path) {
    use rcgen::{
        CertificateParams, DnType, ExtendedKeyUsagePurpose, Issuer, KeyPair, KeyUsagePurpose,
        SanType,
    };
    let ca_key = KeyPair::from_pem(&issuer.key_pem()).expect("the CA's key");
    let ca_pem = String::from_utf8(issuer.ca_pem()).expect("PEM is text");
    let signer = Issuer::from_ca_cert_pem(&ca_pem, ca_key).expect("the CA as an issuer");
    let mut params = CertificateParams::default();
    params.distinguished_name.push(
        DnType::CommonName,
        format!("lunxun {org} (forged in a test)"),
    );
    params.subject_alt_names = vec![
        SanType::URI(format!("lunxun://org/{org}").try_into().expect("a URI")),
        SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
    ];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate().expect("a key");
    let cert = params.signed_by(&key, &signer).expect("sign");
    std::fs::write(tls_dir.join("node.pem"), cert.pem() + &ca_pem).expect("write node.pem");
    std::fs::write(tls_dir.join("node.key"), key.serialize_pem()).expect("write node.key");
}

/// `sync --once` must fail (exit 4) with `line` on stderr, and the child's
/// status must show it as the upstream's last error.
fn assert_sync_refused(child: &Node, line: &str) {
    let out = child.sync_once();
    child.expect_code(&["sync", "--once"], &out, 4);
    assert!(
        out.stderr.contains(line),
        "{line:?} not in:\n{}",
        out.stderr
    );
    let status = child.status_json();
    let last = status["upstream"]["last_error"]
        .as_str()
        .unwrap_or_default();
    assert!(last.contains(line), "{line:?} not the last error: {status}");
}

#[test]
fn an_impostor_parent_gets_nothing_and_the_child_says_why() {
    let world = World::tls("impostor", seed("impostor", 301));
    let pki = world.pki.as_ref().expect("a PKI");
    let mut impostor = world.hub(OTHER, None);
    let mut parent = world.hub(PARENT, None);
    let mut child = world.node(CHILD, Some(&impostor.url()));
    child.import_data(&world.data(CHILD));
    assert!(child.own_seq() > 0);

    // A valid certificate of our root, for 郑州, on the right host.
    let line = format!(
        "the parent at {} presents a certificate for 410100 郑州市, but this node's parent is 420000 湖北省; nothing was sent",
        impostor.url()
    );
    assert_sync_refused(&child, &line);
    // Restore takes the same connection path and the same check.
    let out = child.run(&["restore", "--from-upstream"]);
    assert_ne!(out.code, 0, "restore from an impostor: {}", out.stdout);
    assert!(out.stderr.contains(&line), "{}", out.stderr);
    impostor.stop();
    assert_eq!(
        impostor.logs().total(),
        0,
        "the impostor holds nothing of the child"
    );
    assert!(
        !impostor.daemon_stderr().contains("sync session"),
        "no session reached the impostor:\n{}",
        impostor.daemon_stderr()
    );

    // 湖北's own org, but signed by 河南's CA, which may not vouch for it.
    let (henan, _) = pki.intermediate("410000", &world.root().join("henan-ca"));
    let own = world.root().join("own-420000");
    lunxun_tests::pki::backup_identity(&parent.tls_dir(), &own);
    parent.stop();
    forge_hub_certificate(&henan, PARENT, &parent.tls_dir());
    parent.serve();
    child.set_upstream(&parent.url());
    assert_sync_refused(
        &child,
        &format!(
            "the parent at {} presents a certificate this node does not accept from its parent 420000 湖北省: the CA of 410000 may not vouch for 420000, outside its subtree; nothing was sent",
            parent.url()
        ),
    );
    parent.stop();
    assert_eq!(
        parent.logs().total(),
        0,
        "nothing reached the forged parent"
    );

    // The genuine parent, with its own certificate: syncs.
    swap_identity(&own, &parent.tls_dir());
    parent.serve();
    let out = child.sync_ok();
    assert!(out.contains("the parent holds everything"), "{out}");
    let status = child.status_json();
    assert!(status["upstream"]["last_error"].is_null(), "{status}");
    parent.stop();
    assert_exactly_once(CHILD, &child.logs(), &parent.logs());
}
