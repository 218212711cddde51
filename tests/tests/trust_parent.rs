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
//! connections) from 127.0.0.2, beside 80 idle connections that finished
//! their handshake with a valid certificate, while a legitimate county
//! syncs from 127.0.0.1 to its prefecture: the county completes, every bad
//! connection is counted once (persisted by the time the hub stops), and
//! the hub's log holds far fewer lines about them than there were.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;

use lunxun_hub::listener::HANDSHAKE_TIMEOUT;
use lunxun_tests::pki::swap_identity;
use lunxun_tests::raw::runtime;
use lunxun_tests::{Node, Pki, WAIT_MAX, World, assert_exactly_once, seed, wait_for};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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

/// Connections of the flood.
const FLOOD: usize = 200;
/// Idle connections with a valid certificate held during the flood: more
/// than the listener's queue of established connections (64).
const IDLE_ESTABLISHED: usize = 80;
/// The address the flood comes from (Linux routes all of 127/8 to lo).
const FLOOD_FROM: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// A TCP connection to `addr` from [`FLOOD_FROM`].
async fn flood_stream(addr: SocketAddr) -> std::io::Result<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(IpAddr::V4(FLOOD_FROM), 0))?;
    socket.connect(addr).await
}

/// One bad handshake of kind `n % 3`: garbage bytes, a TLS client without
/// a certificate, or a connection that says nothing. Each waits (bounded)
/// for the hub to close it.
async fn bad_handshake(addr: SocketAddr, ca: Vec<u8>, n: usize) {
    let wait = HANDSHAKE_TIMEOUT * 3;
    match n % 3 {
        0 => {
            let Ok(mut s) = flood_stream(addr).await else {
                return;
            };
            let garbage: Vec<u8> = (0..512).map(|i| (i * 7 + n) as u8).collect();
            let _ = s.write_all(&garbage).await;
            let mut buf = [0u8; 256];
            let _ = tokio::time::timeout(wait, async {
                while let Ok(k) = s.read(&mut buf).await {
                    if k == 0 {
                        break;
                    }
                }
            })
            .await;
        }
        1 => {
            use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};
            let tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca));
            let endpoint = Endpoint::from_shared(format!("https://{addr}"))
                .expect("a URL")
                .local_address(Some(IpAddr::V4(FLOOD_FROM)))
                .connect_timeout(wait)
                .tls_config(tls)
                .expect("a TLS config");
            let _ = tokio::time::timeout(wait, endpoint.connect()).await;
        }
        _ => {
            let Ok(mut s) = flood_stream(addr).await else {
                return;
            };
            let mut buf = [0u8; 64];
            let _ = tokio::time::timeout(wait, s.read(&mut buf)).await;
        }
    }
}

/// Refusals of unidentified peers in a status, in all.
fn refused_peers(status: &Value) -> u64 {
    status["refused_peers"]
        .as_object()
        .map_or(0, |m| m.values().filter_map(Value::as_u64).sum())
}

#[test]
fn a_flood_of_bad_handshakes_does_not_keep_a_child_out() {
    const HUB: &str = "410100";
    const COUNTY: &str = "410102";
    let world = World::tls("flood", seed("flood", 302));
    let mut hub = world.hub(HUB, None);
    let mut county = world.node(COUNTY, Some(&hub.url()));
    county.import_data(&world.data(COUNTY));
    let addr = hub.addr();
    let ca = world.pki.as_ref().expect("a PKI").ca_pem();

    // More idle connections with a valid certificate (the sibling's) than
    // the listener queues established ones: they must not take the slots
    // the child needs. Opened one by one, each handshake finished.
    let sibling_tls = world.root().join("sibling-tls");
    world
        .pki
        .as_ref()
        .expect("a PKI")
        .issue("410103", false, &sibling_tls);
    let idle_rt = runtime();
    let idle: Vec<tonic::transport::Channel> = idle_rt.block_on(async {
        use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};
        let read = |f: &str| std::fs::read(sibling_tls.join(f)).expect("the sibling's tls dir");
        let tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&ca))
            .identity(Identity::from_pem(read("node.pem"), read("node.key")));
        let mut idle = Vec::new();
        for _ in 0..IDLE_ESTABLISHED {
            let endpoint = Endpoint::from_shared(format!("https://{addr}"))
                .expect("a URL")
                .local_address(Some(IpAddr::V4(FLOOD_FROM)))
                .tls_config(tls.clone())
                .expect("a TLS config");
            idle.push(endpoint.connect().await.expect("an established connection"));
        }
        idle
    });

    let flood = std::thread::spawn(move || {
        runtime().block_on(async move {
            let tasks: Vec<_> = (0..FLOOD)
                .map(|n| tokio::spawn(bad_handshake(addr, ca.clone(), n)))
                .collect();
            for t in tasks {
                let _ = t.await;
            }
        })
    });
    // The flood is under way (idle connections hold for the handshake
    // timeout) when the child syncs.
    wait_for("the flood to be refused", WAIT_MAX, || {
        let status = hub.status_json();
        match refused_peers(&status) {
            n if n >= 20 => Ok(()),
            _ => Err(status["refused_peers"].to_string()),
        }
    });
    let out = county.sync_ok();
    assert!(out.contains("the parent holds everything"), "{out}");
    flood.join().expect("the flood's thread");
    drop(idle);
    drop(idle_rt);

    // Every bad connection counted once, whether heard or closed unheard.
    let status = wait_for("the hub to count the flood", WAIT_MAX, || {
        let status = hub.status_json();
        match refused_peers(&status) {
            n if n >= FLOOD as u64 => Ok(status),
            _ => Err(status["refused_peers"].to_string()),
        }
    });
    assert_eq!(refused_peers(&status), FLOOD as u64, "{status}");
    // Still serving: the child syncs again.
    county.sync_ok();
    hub.assert_serving();
    // The log is rate-limited: far fewer lines than connections.
    let log = hub.daemon_stderr();
    let lines = log
        .lines()
        .filter(|l| l.contains("WARN") && l.contains(&FLOOD_FROM.to_string()))
        .count();
    assert!(
        (1..=FLOOD / 8).contains(&lines),
        "{lines} WARN lines about the flood:\n{log}"
    );
    // The counts persisted by the time the hub stopped.
    hub.stop();
    assert_eq!(refused_peers(&hub.status_json()), FLOOD as u64);
    assert_exactly_once(COUNTY, &county.logs(), &hub.logs());
}
