//! Attacks on a hub over mutual TLS, between real processes.
//!
//! The bureau under attack is 郑州 410100 (a hub serving its children on a
//! port the system picks), with its counties 中原区 410102 and 二七区 410103;
//! every node has a certificate of the test's own root CA, made with
//! `certs init-ca` / `certs issue`. Each case checks four things:
//!
//! - the refusal is clear: the child's stderr or the gRPC status names what
//!   is wrong;
//! - the hub's store is unchanged where it must be: every origin's log,
//!   read in-process with the daemon stopped, equals the log before;
//! - the hub keeps serving: a legitimate child syncs after the attack, and
//!   its log reaches the hub exactly once;
//! - the refusal is counted in the hub's `status --format json`
//!   (`children[].refusals` by reason for an identified child, or
//!   `refused_peers` for a peer never identified as one).
//!
//! Raw clients (tonic with a TLS config of the test's choosing) say what a
//! well-behaved `lunxun-node` never would: forged chains, other orgs'
//! records, oversized and malformed messages, too many sessions.
//!
//! A few cases need another shape: a county dialing its province (河南
//! 410000), absurd records pushed by 郑州 to 河南 (so one batch carries two
//! origins), and certificates of provinces' intermediate CAs presented to
//! 武汉 420100. Case numbers refer to the security test plan.

use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use lunxun_gen::NodeData;
use lunxun_hub::service::CHILD_SESSIONS_MAX;
use lunxun_node::changelog::{Change, GENESIS, Hash};
use lunxun_node::codec::{self, BATCH_BYTES_MAX, BATCH_CHANGES_MAX};
use lunxun_node::model::{Date, Obligation, ObligationKind, Record, date_to_days};
use lunxun_node::sync::client::{MESSAGE_BYTES_MAX, SESSION_CHANGES_MAX};
use lunxun_proto::v1 as pb;
use lunxun_tests::data::extra_class;
use lunxun_tests::pki::{backup_identity, serial, swap_identity};
use lunxun_tests::raw::{RawSession, Tls, client, runtime};
use lunxun_tests::{
    Logs, Node, Pki, Proxy, WAIT_MAX, World, assert_exactly_once, copy_dir, seed, wait_for,
    wait_until,
};
use prost::Message;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::Code;

/// The hub under attack: 郑州.
const HUB: &str = "410100";
/// Its county whose identity attackers use or abuse: 中原区.
const COUNTY: &str = "410102";
/// Its other county, the legitimate child that must keep syncing: 二七区.
const SIBLING: &str = "410103";

// ---------------------------------------------------------------------------
// The bureau under attack
// ---------------------------------------------------------------------------

/// 郑州 serving over mTLS, its two counties initialised with certificates
/// of the same root (the county behind a recording proxy when asked for).
/// The world is declared last, so it is dropped last.
struct Bureau {
    hub: Node,
    county: Node,
    sibling: Node,
    county_data: NodeData,
    sibling_data: NodeData,
    /// Between the county and the hub, when asked for.
    link: Option<Proxy>,
    /// Extra classes written so far (numbers the next one).
    classes: u32,
    world: World,
}

impl Bureau {
    /// Starts the hub, creates both counties, and syncs the county's
    /// generated records (the sibling's wait for [`Bureau::assert_serves_others`]).
    fn start(test: &str, default_seed: u64, proxy: bool) -> Bureau {
        let seed = seed(test, default_seed);
        let world = World::tls(test, seed);
        let hub = world.hub(HUB, None);
        let link = proxy.then(|| Proxy::start(test, hub.addr(), seed));
        let county_url = match &link {
            Some(p) => world.security.url(p.addr()),
            None => hub.url(),
        };
        let mut county = world.node(COUNTY, Some(&county_url));
        let mut sibling = world.node(SIBLING, Some(&hub.url()));
        let county_data = world.data(COUNTY);
        let sibling_data = world.data(SIBLING);
        county.import_data(&county_data);
        sibling.import_data(&sibling_data);
        let out = county.sync_ok();
        assert!(out.contains("the parent holds everything"), "{out}");
        Bureau {
            hub,
            county,
            sibling,
            county_data,
            sibling_data,
            link,
            classes: 0,
            world,
        }
    }

    fn pki(&self) -> &Pki {
        self.world.pki.as_ref().expect("a TLS world has a PKI")
    }

    /// The root every node trusts (PEM).
    fn ca(&self) -> Vec<u8> {
        self.pki().ca_pem()
    }

    /// The hub's logs, read with its daemon stopped (then served again).
    fn snapshot(&mut self) -> Logs {
        self.hub.stop();
        let logs = self.hub.logs();
        self.hub.serve();
        logs
    }

    /// Asserts that the hub's store holds exactly `before`.
    fn assert_unchanged(&mut self, before: &Logs, what: &str) {
        self.hub.stop();
        let after = self.hub.logs();
        self.hub.serve();
        assert_eq!(&after, before, "{what} changed the hub's store");
    }

    /// Asserts that the hub holds the county's log exactly as in `before`
    /// (for attacks during which the sibling syncs).
    fn assert_county_unchanged(&mut self, before: &Logs, what: &str) {
        self.hub.stop();
        let after = self.hub.logs();
        self.hub.serve();
        assert_eq!(
            after.origins.get(COUNTY),
            before.origins.get(COUNTY),
            "{what} changed the county's log at the hub"
        );
        assert_eq!(after.heads.get(COUNTY), before.heads.get(COUNTY));
    }

    /// A new class with everyone on `org`'s roster, imported at `node`.
    fn write_class(&mut self, org: &str) {
        self.classes += 1;
        let (node, data) = match org {
            COUNTY => (&mut self.county, &self.county_data),
            _ => (&mut self.sibling, &self.sibling_data),
        };
        let start = self.world.params.as_of + chrono::TimeDelta::days(i64::from(self.classes));
        node.import_data(&extra_class(data, self.classes, start));
    }

    /// The legitimate child still syncs: 二七区 writes and syncs, and its
    /// session completes.
    fn assert_serves_others(&mut self) {
        self.hub.assert_serving();
        self.write_class(SIBLING);
        let out = self.sibling.sync_ok();
        assert!(out.contains("the parent holds everything"), "{out}");
        let status = self.hub.status_json();
        let sibling = child(&status, SIBLING);
        assert!(sibling["last_success"].is_string(), "{sibling}");
        assert!(sibling["last_error"].is_null(), "{sibling}");
    }

    /// Stops the hub and checks that it holds both counties' logs, exactly
    /// once as they wrote them, and nothing else: whatever the attacks sent
    /// left no trace.
    fn finish(mut self) {
        self.hub.stop();
        let hub = self.hub.logs();
        assert_exactly_once(SIBLING, &self.sibling.logs(), &hub);
        assert_exactly_once(COUNTY, &self.county.logs(), &hub);
        assert_eq!(
            hub.origin_codes(),
            [COUNTY, SIBLING],
            "the hub holds only its children's logs"
        );
    }
}

// ---------------------------------------------------------------------------
// Status, errors, changes
// ---------------------------------------------------------------------------

/// The entry of `org` in `status.children` (Null if not listed).
fn child(status: &Value, org: &str) -> Value {
    status["children"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["org"] == org).cloned())
        .unwrap_or(Value::Null)
}

/// Refusals of child `org` for `reason`.
fn child_refusals(status: &Value, org: &str, reason: &str) -> u64 {
    child(status, org)["refusals"][reason].as_u64().unwrap_or(0)
}

/// Refusals of unidentified peers for `reason`.
fn peer_refusals(status: &Value, reason: &str) -> u64 {
    status["refused_peers"][reason].as_u64().unwrap_or(0)
}

/// The hub's daemon log once some line of it satisfies `line`. The hub logs
/// a refusal just after the peer sees it, so a test that checks the log
/// right after the client's error must wait for it.
fn hub_logged(hub: &Node, what: &str, line: impl Fn(&str) -> bool) -> String {
    wait_for(&format!("the hub to log {what}"), WAIT_MAX, || {
        let log = hub.daemon_stderr();
        if log.lines().any(&line) {
            Ok(log)
        } else {
            Err(format!("its log:\n{log}"))
        }
    })
}

/// The hub's status once it counts at least `min` refused peers for
/// `reason` (counted just after the refusal is logged).
fn hub_counted(hub: &Node, reason: &str, min: u64) -> Value {
    wait_for(
        &format!("the hub to count {min} refused peers for {reason}"),
        WAIT_MAX,
        || {
            let status = hub.status_json();
            if peer_refusals(&status, reason) >= min {
                Ok(status)
            } else {
                Err(status["refused_peers"].to_string())
            }
        },
    )
}

/// A status's code and message, with its sources (where TLS alerts hide).
fn describe(status: &tonic::Status) -> String {
    let mut text = format!("{:?}: {}", status.code(), status.message());
    let mut source = std::error::Error::source(status);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Asserts that `result` is a refusal with `code` whose message contains
/// every one of `words`; returns the message.
fn assert_refused<T: std::fmt::Debug>(
    result: Result<T, tonic::Status>,
    code: Code,
    words: &[&str],
) -> String {
    let status = match result {
        Ok(v) => panic!("expected a refusal ({code:?}, {words:?}), got {v:?}"),
        Err(s) => s,
    };
    let text = describe(&status);
    assert_eq!(status.code(), code, "{text}");
    for word in words {
        assert!(text.contains(word), "{word:?} not in: {text}");
    }
    text
}

/// An obligation record: small, valid, distinct by `n`.
fn obligation(n: u64) -> Bytes {
    codec::encode_record(&Record::Obligation(Obligation {
        kind: ObligationKind::Study,
        date: date("2025-03-01"),
        note: format!("学习记录 {n}"),
    }))
}

fn date(text: &str) -> Date {
    text.parse().expect("a date")
}

/// Encoded changes of `origin` with `records`, from seq `first`, chained
/// onto `prev` (the hash of seq `first - 1`); returns them and the last hash.
fn chain(origin: &str, first: u64, prev: Hash, records: Vec<Bytes>) -> (Vec<Bytes>, Hash) {
    let mut prev = prev;
    let changes = records
        .into_iter()
        .enumerate()
        .map(|(i, record)| {
            let change = Change::new(
                origin.into(),
                first + i as u64,
                prev,
                1_700_000_000_000,
                record,
            );
            prev = change.hash;
            codec::encode_change(&change)
        })
        .collect();
    (changes, prev)
}

/// `n` valid obligation changes of `origin` from seq `first` after `prev`.
fn valid_changes(origin: &str, first: u64, prev: Hash, n: u64) -> (Vec<Bytes>, Hash) {
    chain(
        origin,
        first,
        prev,
        (first..first + n).map(obligation).collect(),
    )
}

/// A batch of encoded changes with the checkpoints that vouch for them.
fn signed_batch(batch_no: u64, changes: Vec<Bytes>, checkpoints: Vec<Bytes>) -> pb::Batch {
    let contents = codec::Contents {
        changes,
        checkpoints,
    };
    codec::encode_batch(batch_no, contents).expect("encode a batch")
}

/// A checkpoint of `origin` at `seq` (whose change has `hash`), signed with a
/// certificate for that origin issued by the world's root.
fn checkpoint(world: &World, origin: &str, seq: u64, hash: &Hash) -> Bytes {
    let dir = world.root().join(format!("signer-{origin}"));
    if !dir.exists() {
        world
            .pki
            .as_ref()
            .expect("a PKI")
            .issue(origin, false, &dir);
    }
    let signer = lunxun_node::certs::sign::Signer::load(&dir, origin).expect("a signer");
    signer.sign(origin, seq, hash, lunxun_node::node::now_ms())
}

/// A batch of encoded changes.
fn batch(batch_no: u64, changes: Vec<Bytes>) -> pb::Batch {
    let contents = codec::Contents {
        changes,
        checkpoints: Vec::new(),
    };
    codec::encode_batch(batch_no, contents).expect("encode a batch")
}

/// The head (seq, hash) the hub's vector gives for `origin`.
fn head(session: &RawSession, origin: &str) -> (u64, Hash) {
    session
        .vector
        .entries
        .iter()
        .find(|e| e.origin == origin)
        .map_or((0, GENESIS), |e| {
            (e.seq, e.hash.as_ref().try_into().expect("a 32-byte hash"))
        })
}

/// Opens a raw session to the hub presenting the identity in `tls_dir`,
/// waiting (at most 20 s) while the child's earlier sessions still hold its
/// slots: a refused session's slot is released just after its refusal.
async fn open_session(
    addr: std::net::SocketAddr,
    ca: &[u8],
    tls_dir: &Path,
    org: &str,
) -> RawSession {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match raw_session(addr, ca, tls_dir, org).await {
            Ok(s) => return s,
            Err(e) if e.code() == Code::ResourceExhausted && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("{org}'s session does not open: {}", describe(&e)),
        }
    }
}

/// Opens a raw session to the hub presenting the identity in `tls_dir`.
async fn raw_session(
    addr: std::net::SocketAddr,
    ca: &[u8],
    tls_dir: &Path,
    org: &str,
) -> Result<RawSession, tonic::Status> {
    let mut c = client(addr, Some(Tls::from_dir(ca, tls_dir)))
        .await
        .map_err(|e| tonic::Status::unavailable(format!("connect: {e}")))?;
    RawSession::open(&mut c, org).await
}

// ---------------------------------------------------------------------------
// Who may connect: cases 1–3, 5, 11; intermediate CAs; handshake timeout
// ---------------------------------------------------------------------------

/// Case 1: A client that trusts the root but presents no certificate: the
/// session never opens, nothing is written, the refusal is counted.
#[test]
fn a_client_without_a_certificate_is_refused() {
    let mut bureau = Bureau::start("nocert", 101, false);
    let before = bureau.snapshot();
    let (addr, ca) = (bureau.hub.addr(), bureau.ca());
    let rt = runtime();
    let text = rt.block_on(async {
        // With TLS 1.3 the handshake may look complete to the client; the
        // refusal shows at the first call at the latest.
        let result = match client(addr, Some(Tls::anonymous(&ca))).await {
            Err(e) => Err(tonic::Status::unavailable(format!(
                "{e}: {}",
                lunxun_node::sync::client::error_chain(&e)
            ))),
            Ok(mut c) => RawSession::open(&mut c, COUNTY).await.map(|_| ()),
        };
        let status = result.expect_err("a session without a client certificate");
        describe(&status)
    });
    drop(rt);
    eprintln!("the client saw: {text}");
    // The client reads TLS's certificate_required alert or only the
    // connection closing, as the race goes; the hub names the fault.
    hub_logged(&bureau.hub, "the refusal with the peer's address", |l| {
        l.contains("TLS handshake refused")
            && l.contains("reason=\"certificate\"")
            && l.contains("peer sent no certificates")
            && l.contains("peer=127.0.0.1:")
    });
    hub_counted(&bureau.hub, "certificate", 1);
    bureau.assert_unchanged(&before, "a client without a certificate");
    bureau.assert_serves_others();
    bureau.finish();
}

/// Case 2: A county presenting a certificate of another root (it still trusts
/// the right one): it is told the parent refused its certificate.
#[test]
fn a_certificate_from_another_ca_is_refused() {
    let mut bureau = Bureau::start("otherca", 102, false);
    let other = Pki::root(&bureau.world.root().join("other-pki"));
    let forged = bureau.world.root().join("other-410102");
    other.issue(COUNTY, false, &forged);
    let own = bureau.world.root().join("own-410102");
    backup_identity(&bureau.county.tls_dir(), &own);
    swap_identity(&forged, &bureau.county.tls_dir());
    bureau.write_class(COUNTY);
    let before = bureau.snapshot();

    let out = bureau.county.sync_once();
    bureau.county.expect_code(&["sync", "--once"], &out, 4);
    assert!(
        out.stderr.contains("the parent refused our certificate"),
        "{}",
        out.stderr
    );
    // Both roots have the same name: the chain leads to ours, and the
    // signature does not verify.
    hub_logged(&bureau.hub, "the refusal", |l| {
        l.contains("TLS handshake refused") && l.contains("invalid peer certificate")
    });
    hub_counted(&bureau.hub, "certificate", 1);
    bureau.assert_unchanged(&before, "a certificate of another CA");
    bureau.assert_serves_others();

    // Its own certificate back, the county syncs.
    swap_identity(&own, &bureau.county.tls_dir());
    bureau.county.sync_ok();
    bureau.finish();
}

/// A certificate for `org` signed by `issuer`'s key (the root, or an
/// intermediate), valid from `not_before` to `not_after`, made here with
/// rcgen rather than `certs issue` (which would refuse to make it):
/// (`node.pem` — the leaf, then the issuer when it is an intermediate —
/// and `node.key`).
fn forged_certificate(
    issuer: &Pki,
    intermediate: bool,
    org: &str,
    not_before: (i32, u8, u8),
    not_after: (i32, u8, u8),
) -> (String, String) {
    use rcgen::{
        CertificateParams, DnType, ExtendedKeyUsagePurpose, Issuer, KeyPair, KeyUsagePurpose,
        SanType, date_time_ymd,
    };
    let ca_key = KeyPair::from_pem(&issuer.key_pem()).expect("the CA's key");
    let ca_pem = String::from_utf8(issuer.ca_pem()).expect("PEM is text");
    let signer = Issuer::from_ca_cert_pem(&ca_pem, ca_key).expect("the CA as an issuer");
    let mut params = CertificateParams::default();
    params.distinguished_name.push(
        DnType::CommonName,
        format!("lunxun {org} (forged in a test)"),
    );
    params.subject_alt_names = vec![SanType::URI(
        format!("lunxun://org/{org}").try_into().expect("a URI"),
    )];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.use_authority_key_identifier_extension = true;
    params.not_before = date_time_ymd(not_before.0, not_before.1, not_before.2);
    params.not_after = date_time_ymd(not_after.0, not_after.1, not_after.2);
    let key = KeyPair::generate().expect("a key");
    let cert = params.signed_by(&key, &signer).expect("sign");
    let chain = if intermediate {
        cert.pem() + &ca_pem
    } else {
        cert.pem()
    };
    (chain, key.serialize_pem())
}

/// Puts a certificate and key into a tls dir.
fn install_identity(tls_dir: &Path, (cert, key): (String, String)) {
    std::fs::write(tls_dir.join("node.pem"), cert).expect("write node.pem");
    std::fs::write(tls_dir.join("node.key"), key).expect("write node.key");
}

/// Case 3: An expired certificate (and one not valid yet), signed by the right
/// root for the right org: refused, the child is told so.
#[test]
fn an_expired_certificate_is_refused() {
    let mut bureau = Bureau::start("expired", 103, false);
    let own = bureau.world.root().join("own-410102");
    backup_identity(&bureau.county.tls_dir(), &own);
    bureau.write_class(COUNTY);
    let before = bureau.snapshot();
    let tls = bureau.county.tls_dir();
    for (what, from, to) in [
        ("expired", (2020, 1, 1), (2021, 1, 1)),
        ("not yet valid", (2090, 1, 1), (2091, 1, 1)),
    ] {
        install_identity(
            &tls,
            forged_certificate(bureau.pki(), false, COUNTY, from, to),
        );
        let out = bureau.county.sync_once();
        bureau.county.expect_code(&["sync", "--once"], &out, 4);
        assert!(
            out.stderr.contains("the parent refused our certificate"),
            "{what}: {}",
            out.stderr
        );
    }
    // The hub names the fault in its log (the child may or may not read
    // TLS's alert before the connection closes).
    for fault in ["certificate expired", "certificate not valid yet"] {
        hub_logged(&bureau.hub, fault, |l| {
            l.contains("TLS handshake refused") && l.contains(fault)
        });
    }
    hub_counted(&bureau.hub, "certificate", 2);
    bureau.assert_unchanged(&before, "an expired certificate");
    bureau.assert_serves_others();
    swap_identity(&own, &tls);
    bureau.county.sync_ok();
    bureau.finish();
}

/// A province's intermediate CA vouches only for its subtree: a
/// certificate it signed for a county of another province is refused by
/// that county's hub, though TLS verifies its chain to the root. Revoking
/// an intermediate's serial cuts off every certificate it signed, and only
/// those.
#[test]
fn intermediate_cas_vouch_only_for_their_subtree_and_can_be_revoked() {
    const WUHAN: &str = "420100";
    const JIANGAN: &str = "420102";
    let seed = seed("intermediate", 116);
    let world = World::tls("intermediate", seed);
    let pki = world.pki.as_ref().expect("a PKI");
    let root = world.root();
    let (henan, _) = pki.intermediate("410000", &root.join("henan-ca"));
    let (hubei, hubei_serial) = pki.intermediate("420000", &root.join("hubei-ca"));
    let mut hub = world.hub(WUHAN, None);
    let mut county = world.node(JIANGAN, Some(&hub.url()));
    let data = world.data(JIANGAN);
    county.import_data(&data);
    let tls = county.tls_dir();
    let own = root.join("own-420102");
    backup_identity(&tls, &own);

    // Issued by 湖北's CA (leaf and chain): accepted.
    let by_hubei = root.join("420102-by-hubei");
    hubei.issue(JIANGAN, false, &by_hubei);
    swap_identity(&by_hubei, &tls);
    county.sync_ok();
    county.import_data(&extra_class(&data, 1, world.params.as_of));
    hub.stop();
    let before = hub.logs();
    hub.serve();

    // Signed by 河南's CA for a 湖北 county: refused.
    install_identity(
        &tls,
        forged_certificate(&henan, true, JIANGAN, (2020, 1, 1), (2090, 1, 1)),
    );
    let out = county.sync_once();
    county.expect_code(&["sync", "--once"], &out, 4);
    assert!(
        out.stderr
            .contains("the CA of 410000 may not vouch for 420102, outside its subtree"),
        "{}",
        out.stderr
    );
    hub_counted(&hub, "certificate", 1);

    // 湖北's CA revoked: what it signed is refused; the root's still passes.
    swap_identity(&by_hubei, &tls);
    hub.ok(&["revoke", "--serial", &hubei_serial]);
    let out = county.sync_once();
    county.expect_code(&["sync", "--once"], &out, 4);
    assert!(
        out.stderr
            .contains(&format!("certificate serial {hubei_serial} is revoked")),
        "{}",
        out.stderr
    );
    hub.stop();
    assert_eq!(hub.logs(), before, "refused chains changed the hub's store");
    hub.serve();
    swap_identity(&own, &tls);
    county.sync_ok();
    hub.ok(&["revoke", "--serial", &hubei_serial, "--remove"]);
    swap_identity(&by_hubei, &tls);
    county.sync_ok();
    hub.stop();
    assert_exactly_once(JIANGAN, &county.logs(), &hub.logs());
}

/// Case 5: A county dialing its province directly: the county itself
/// refuses a server that is not its parent; a client that does not check
/// is refused by the province, "not a direct child".
#[test]
fn a_grandchild_dialing_its_grandparent_is_refused() {
    let seed = seed("grandchild", 105);
    let world = World::tls("grandchild", seed);
    let mut province = world.hub("410000", None);
    let mut county = world.node(COUNTY, Some(&province.url()));
    county.import_data(&world.data(COUNTY));
    province.stop();
    let before = province.logs();
    province.serve();

    let out = county.sync_once();
    county.expect_code(&["sync", "--once"], &out, 4);
    assert!(
        out.stderr.contains(
            "presents a certificate for 410000 河南省, but this node's parent is 410100 郑州市; nothing was sent"
        ),
        "{}",
        out.stderr
    );
    let ca = world.pki.as_ref().expect("a PKI").ca_pem();
    let raw = runtime().block_on(raw_session(province.addr(), &ca, &county.tls_dir(), COUNTY));
    assert_refused(
        raw.map(|_| ()),
        Code::PermissionDenied,
        &["410102 is not a direct child of 410000"],
    );
    let status = hub_counted(&province, "not-a-child", 1);
    assert!(
        child(&status, COUNTY).is_null(),
        "a grandchild is not listed"
    );

    // A direct child (郑州) syncs.
    let mut prefecture = world.node(HUB, Some(&province.url()));
    prefecture.import_data(&world.data(HUB));
    prefecture.sync_ok();
    province.stop();
    let after = province.logs();
    assert_eq!(before.total(), 0);
    assert_eq!(
        after.origin_codes(),
        vec![HUB],
        "only the direct child's log"
    );
    assert_exactly_once(HUB, &prefecture.logs(), &after);
}

/// Case 11: Revocation without restart: a serial, then an org; lifted again.
#[test]
fn revoked_serials_and_orgs_are_refused_without_restart() {
    let mut bureau = Bureau::start("revoke", 111, false);
    let county_serial = serial(&bureau.county.tls_dir());
    bureau.write_class(COUNTY);
    let before = bureau.snapshot();
    let serves = bureau.hub.daemon_logs().len();

    for (args, word) in [
        (
            vec!["--serial", county_serial.as_str()],
            format!("certificate serial {county_serial} is revoked"),
        ),
        (
            vec!["--org", COUNTY],
            format!("org {COUNTY} is revoked here"),
        ),
    ] {
        let mut revoke = vec!["revoke"];
        revoke.extend(&args);
        let out = bureau.hub.ok(&revoke);
        assert!(out.contains("effective at the next session"), "{out}");
        let config = std::fs::read_to_string(bureau.hub.dir().join("config.toml"))
            .expect("the hub's config");
        assert!(config.contains(args[1]), "{config}");

        let out = bureau.county.sync_once();
        bureau.county.expect_code(&["sync", "--once"], &out, 4);
        assert!(out.stderr.contains(&word), "{}", out.stderr);
        assert!(out.stderr.contains("permission denied"), "{}", out.stderr);
        bureau.assert_serves_others();

        revoke.push("--remove");
        bureau.hub.ok(&revoke);
        let config = std::fs::read_to_string(bureau.hub.dir().join("config.toml"))
            .expect("the hub's config");
        assert!(!config.contains(args[1]), "{config}");
        // Lifted: the county syncs again (what it sends is new only the
        // first time round).
        bureau.county.sync_ok();
    }
    hub_counted(&bureau.hub, "revoked", 2);
    // No restart: the daemon started by `snapshot` served throughout.
    assert_eq!(bureau.hub.daemon_logs().len(), serves);
    assert!(
        !bureau.hub.daemon_stderr().contains("INSECURE"),
        "a TLS hub does not warn about plaintext"
    );
    // While revoked nothing of the county was written; lifted, all of it.
    bureau.hub.stop();
    let after = bureau.hub.logs();
    bureau.hub.serve();
    assert!(after.seq(COUNTY) > before.seq(COUNTY));
    bureau.finish();
}

/// A peer that opens a connection and never finishes its TLS handshake is
/// dropped after the hub's handshake timeout, counted, and holds up no one
/// meanwhile.
#[test]
fn a_peer_that_never_finishes_its_handshake_is_dropped() {
    use lunxun_hub::listener::HANDSHAKE_TIMEOUT;
    let mut bureau = Bureau::start("slowloris", 117, false);
    let addr = bureau.hub.addr();
    let rt = runtime();
    let silent = rt.block_on(async {
        let mut streams = Vec::new();
        for _ in 0..3 {
            streams.push(tokio::net::TcpStream::connect(addr).await.expect("connect"));
        }
        streams
    });
    let start = Instant::now();
    // Served meanwhile.
    bureau.assert_serves_others();
    let kept = rt.block_on(async {
        let mut kept = Vec::new();
        for mut s in silent {
            let mut buf = [0u8; 64];
            let read = tokio::time::timeout(HANDSHAKE_TIMEOUT * 3, s.read(&mut buf)).await;
            assert!(
                matches!(read, Ok(Ok(0)) | Ok(Err(_))),
                "the hub closes a silent connection: {read:?}"
            );
            kept.push(start.elapsed());
        }
        kept
    });
    drop(rt);
    eprintln!("silent connections closed after {kept:?}");
    assert!(
        kept.iter()
            .all(|k| *k + Duration::from_secs(1) >= HANDSHAKE_TIMEOUT),
        "not before the timeout: {kept:?}"
    );
    hub_counted(&bureau.hub, "tls-handshake", 3);
    hub_logged(&bureau.hub, "why", |l| {
        l.contains("no TLS handshake within")
    });
    bureau.finish();
}

/// `--insecure` is said loudly in the daemon's log.
#[test]
fn an_insecure_hub_warns_in_its_log() {
    let world = World::new("insecure", seed("insecure", 113));
    let mut hub = world.hub(HUB, None);
    hub.stop();
    let log = hub.daemon_stderr();
    assert!(log.contains("WARN"), "{log}");
    assert!(
        log.contains("INSECURE: plaintext links without certificates"),
        "{log}"
    );
}

// ---------------------------------------------------------------------------
// What a child may send and read: cases 4, 6; restore
// ---------------------------------------------------------------------------

/// Case 4: A county presenting its sibling's certificate is the sibling to the
/// hub, and its own records are refused as outside the sibling's subtree.
#[test]
fn a_siblings_certificate_identifies_the_sibling() {
    let mut bureau = Bureau::start("sibling", 104, false);
    let own = bureau.world.root().join("own-410102");
    backup_identity(&bureau.county.tls_dir(), &own);
    swap_identity(&bureau.sibling.tls_dir(), &bureau.county.tls_dir());
    bureau.write_class(COUNTY);
    let before = bureau.snapshot();

    let out = bureau.county.sync_once();
    bureau.county.expect_code(&["sync", "--once"], &out, 4);
    assert!(
        out.stderr
            .contains("change of origin 410102, outside 410103's subtree"),
        "{}",
        out.stderr
    );
    let status = bureau.hub.status_json();
    let sibling = child(&status, SIBLING);
    assert!(
        child_refusals(&status, SIBLING, "outside-subtree") >= 1,
        "counted against the certificate's org: {sibling}"
    );
    assert_eq!(child_refusals(&status, COUNTY, "outside-subtree"), 0);
    hub_logged(&bureau.hub, "the mismatch", |l| {
        l.contains("peer claims another org than its certificate")
    });
    bureau.assert_unchanged(&before, "a county with its sibling's certificate");
    bureau.assert_serves_others();
    swap_identity(&own, &bureau.county.tls_dir());
    bureau.county.sync_ok();
    bureau.finish();
}

/// Case 6: Validly chained changes of origins outside the child's subtree: a
/// sibling, a county of another province. (An org nobody knows is held, not
/// refused: `tests/tests/quotas.rs`.)
#[test]
fn origins_outside_the_childs_subtree_are_refused() {
    let mut bureau = Bureau::start("outside", 106, false);
    let before = bureau.snapshot();
    let (addr, ca, tls) = (bureau.hub.addr(), bureau.ca(), bureau.county.tls_dir());
    let rt = runtime();
    rt.block_on(async {
        for (origin, words) in [
            (SIBLING, vec!["outside 410102's subtree"]),
            ("420102", vec!["outside 410102's subtree"]),
        ] {
            let mut session = open_session(addr, &ca, &tls, COUNTY).await;
            // Its own next change first: the batch is refused whole.
            let (own_seq, own_hash) = head(&session, COUNTY);
            let (mut changes, _) = valid_changes(COUNTY, own_seq + 1, own_hash, 2);
            changes.extend(valid_changes(origin, 1, GENESIS, 3).0);
            session.send_batch(batch(1, changes)).await;
            let mut expected = vec!["change of"];
            expected.extend(words);
            assert_refused(session.ack().await, Code::PermissionDenied, &expected);
        }
    });
    drop(rt);
    let status = bureau.hub.status_json();
    assert!(
        child_refusals(&status, COUNTY, "outside-subtree") >= 2,
        "{}",
        child(&status, COUNTY)
    );
    bureau.assert_unchanged(&before, "changes outside the subtree");
    bureau.assert_serves_others();
    bureau.finish();
}

/// A child restores only its own subtree, whatever it claims or asks for.
#[test]
fn a_child_restores_only_its_own_subtree() {
    let mut bureau = Bureau::start("restore", 115, false);
    bureau.assert_serves_others();
    let (addr, ca, tls) = (bureau.hub.addr(), bureau.ca(), bureau.county.tls_dir());
    let own_seq = bureau.county.own_seq();
    let rt = runtime();
    let restored = rt.block_on(async {
        let mut c = client(addr, Some(Tls::from_dir(&ca, &tls)))
            .await
            .expect("connect");
        let mut restored = Vec::new();
        for (claimed, only) in [
            (COUNTY, vec![SIBLING.to_owned()]),
            (SIBLING, Vec::new()),
            (SIBLING, vec![SIBLING.to_owned(), COUNTY.to_owned()]),
        ] {
            let mut stream = c
                .restore(pb::RestoreRequest {
                    from: Vec::new(),
                    org: claimed.into(),
                    only,
                })
                .await
                .expect("a restore")
                .into_inner();
            let mut origins = std::collections::BTreeMap::<String, u64>::new();
            while let Some(b) = stream.message().await.expect("a batch") {
                for change in codec::decode_batch(&b).expect("a valid batch").changes {
                    let change = codec::decode_change(change).expect("a change");
                    *origins.entry(change.origin).or_default() += 1;
                }
            }
            restored.push(origins);
        }
        restored
    });
    drop(rt);
    let mine = std::collections::BTreeMap::from([(COUNTY.to_owned(), own_seq)]);
    assert_eq!(restored[0], Default::default(), "not its sibling's records");
    assert_eq!(restored[1], mine, "its own, whatever it claims");
    assert_eq!(restored[2], mine, "its own only");
    bureau.finish();
}

// ---------------------------------------------------------------------------
// Forged and replayed history: cases 7, 8
// ---------------------------------------------------------------------------

/// Case 7: A change whose hash does not match its content refuses its batch; a
/// change that does not link to the hub's head is held as a fork.
#[test]
fn forged_hash_chains_are_refused_or_held() {
    let mut bureau = Bureau::start("forged", 107, false);
    let before = bureau.snapshot();
    let (addr, ca, tls) = (bureau.hub.addr(), bureau.ca(), bureau.county.tls_dir());
    let rt = runtime();
    rt.block_on(async {
        // The hash does not match the content (a record altered after hashing).
        let mut session = open_session(addr, &ca, &tls, COUNTY).await;
        let (seq, hash) = head(&session, COUNTY);
        let (mut changes, _) = valid_changes(COUNTY, seq + 1, hash, 3);
        let mut altered = codec::decode_change(changes[2].clone()).expect("a change");
        altered.record = obligation(999);
        changes[2] = codec::encode_change(&altered);
        session.send_batch(batch(1, changes)).await;
        assert_refused(
            session.ack().await,
            Code::InvalidArgument,
            &[&format!(
                "change 410102 seq {} does not match its hash",
                seq + 3
            )],
        );

        // A change hashed correctly, but linked to a history the hub does
        // not hold: a fork, held back; the first history is kept.
        let mut session = open_session(addr, &ca, &tls, COUNTY).await;
        let (changes, _) = valid_changes(COUNTY, seq + 1, [7; 32], 2);
        session.send_batch(batch(1, changes)).await;
        let ack = session
            .ack()
            .await
            .expect("an ack: a fork is not a link fault");
        assert_eq!((ack.applied, ack.skipped), (0, 0), "{ack:?}");
        assert_eq!(ack.held.len(), 1, "{ack:?}");
        assert_eq!(ack.held[0].origin, COUNTY);
        assert_eq!(ack.held[0].seq, seq + 1);
        assert!(
            ack.held[0].reason.contains("fork"),
            "{}",
            ack.held[0].reason
        );
        assert_eq!(ack.entries[0].seq, seq, "the vector does not move");
        // A rewritten past (seq 1 with another record): a fork too.
        let (changes, _) = chain(COUNTY, 1, GENESIS, vec![obligation(1)]);
        session.send_batch(batch(2, changes)).await;
        let ack = session.ack().await.expect("an ack");
        assert_eq!(ack.applied, 0, "{ack:?}");
        assert!(ack.held[0].reason.contains("fork"), "{ack:?}");
        session.finish(0).await.expect("the session ends cleanly");
    });
    drop(rt);
    let status = bureau.hub.status_json();
    assert!(
        child_refusals(&status, COUNTY, "malformed") >= 1,
        "{}",
        child(&status, COUNTY)
    );
    let held = status["held"].as_array().expect("held");
    assert!(
        held.iter()
            .any(|h| h["origin"] == COUNTY
                && h["reason"].as_str().is_some_and(|r| r.contains("fork"))),
        "the hub's status shows the fork: {held:?}"
    );
    bureau.assert_unchanged(&before, "a forged chain");
    bureau.assert_serves_others();
    // The county's real next changes chain onto what the hub holds; the
    // hold lifts.
    bureau.write_class(COUNTY);
    bureau.county.sync_ok();
    let status = bureau.hub.status_json();
    assert_eq!(status["held"], serde_json::json!([]), "{status}");
    bureau.finish();
}

/// Sends `bytes` to `addr` on a new TCP connection as fast as the peer
/// takes them, and reads what comes back until it closes (at most 30 s).
/// Returns the bytes received and how long the peer kept the connection.
async fn replay_bytes(addr: std::net::SocketAddr, bytes: &[u8]) -> (Vec<u8>, Duration) {
    let start = Instant::now();
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect to the hub");
    let (mut read, mut write) = stream.into_split();
    let bytes = bytes.to_vec();
    let writer = tokio::spawn(async move {
        // The hub may close before taking everything: that is the point.
        let _ = write.write_all(&bytes).await;
        let _ = write.shutdown().await;
    });
    let mut received = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), read.read_to_end(&mut received)).await;
    writer.abort();
    (received, start.elapsed())
}

/// Case 8a: A whole TLS session captured on the wire and replayed on a new
/// connection, to a hub that no longer holds what it carried: the
/// handshake fails and nothing is applied.
#[test]
fn a_captured_tls_session_replayed_applies_nothing() {
    let mut bureau = Bureau::start("tlsreplay", 108, true);
    bureau.write_class(COUNTY);
    // The hub before the session to capture.
    bureau.hub.stop();
    let backup = bureau.world.root().join("410100-backup");
    copy_dir(bureau.hub.dir(), &backup);
    let before = bureau.hub.logs();
    bureau.hub.serve();

    let link = bureau.link.as_ref().expect("a proxy");
    link.capture(true);
    bureau.county.sync_ok();
    link.capture(false);
    let captured = link.captured();
    assert!(!captured.is_empty(), "the session went through the proxy");
    let bytes: usize = captured.iter().map(Vec::len).sum();
    bureau.hub.stop();
    let synced = bureau.hub.logs();
    assert!(
        synced.seq(COUNTY) > before.seq(COUNTY),
        "the captured session carried changes"
    );

    // The hub loses them (its old copy comes back), and the capture is replayed.
    std::fs::remove_dir_all(bureau.hub.dir()).expect("remove the hub's data dir");
    copy_dir(&backup, bureau.hub.dir());
    bureau.hub.serve();
    let status = bureau.hub.status_json();
    let refused_before: u64 = status["refused_peers"]
        .as_object()
        .map_or(0, |m| m.values().filter_map(Value::as_u64).sum());
    let addr = bureau.hub.addr();
    let rt = runtime();
    let replies = rt.block_on(async {
        let mut replies = Vec::new();
        for connection in &captured {
            replies.push(replay_bytes(addr, connection).await);
        }
        replies
    });
    drop(rt);
    for (reply, kept) in &replies {
        // The hub answered the replayed ClientHello with a fresh handshake
        // and closed the connection once the replayed records did not fit it.
        assert!(!reply.is_empty(), "the hub answered the ClientHello");
        assert!(
            *kept < Duration::from_secs(30),
            "the hub closed the connection"
        );
    }
    eprintln!("replayed {} connections, {bytes} bytes", captured.len());
    let status = bureau.hub.status_json();
    let refused_after: u64 = status["refused_peers"]
        .as_object()
        .map_or(0, |m| m.values().filter_map(Value::as_u64).sum());
    assert!(
        refused_after >= refused_before + captured.len() as u64,
        "every failed handshake is counted: {}",
        status["refused_peers"]
    );
    bureau.assert_unchanged(&before, "a replayed TLS session");
    bureau.assert_serves_others();
    // The county's next session sends again what the hub lost.
    bureau.county.sync_ok();
    bureau.finish();
}

/// Case 8b: A previous session's batches replayed at the gRPC level with a
/// valid certificate: every change is skipped, none applied twice.
#[test]
fn replayed_batches_with_a_valid_certificate_are_skipped() {
    let mut bureau = Bureau::start("grpcreplay", 109, false);
    let before = bureau.snapshot();
    let held: Vec<Bytes> = before.origins[COUNTY]
        .iter()
        .map(|s| s.change.clone())
        .collect();
    let n = held.len() as u64;
    let (addr, ca, tls) = (bureau.hub.addr(), bureau.ca(), bureau.county.tls_dir());
    let rt = runtime();
    rt.block_on(async {
        let mut session = open_session(addr, &ca, &tls, COUNTY).await;
        assert_eq!(session.seq_of(COUNTY), n);
        let half = held.len() / 2;
        for (no, changes) in [
            (1, held.clone()),
            (2, held[..half].to_vec()),
            (2, held[..half].to_vec()),
            (3, held[half..].iter().rev().cloned().collect()),
        ] {
            let count = changes.len() as u32;
            session.send_batch(batch(no, changes)).await;
            let ack = session.ack().await.expect("an ack");
            assert_eq!(
                (ack.applied, ack.skipped, ack.quarantined),
                (0, count, 0),
                "{ack:?}"
            );
            assert!(ack.held.is_empty(), "{ack:?}");
            assert_eq!(ack.entries[0].seq, n, "the vector does not move");
        }
        session.finish(0).await.expect("the session ends cleanly");
    });
    drop(rt);
    let status = bureau.hub.status_json();
    assert!(
        child(&status, COUNTY)["skipped"].as_u64() >= Some(2 * n),
        "{status}"
    );
    bureau.assert_unchanged(&before, "replayed batches");
    bureau.assert_serves_others();
    bureau.finish();
}

// ---------------------------------------------------------------------------
// Malformed input and absurd records: cases 9, 10
// ---------------------------------------------------------------------------

/// Case 9: Oversized and malformed messages, each in its own session: refused
/// with a status naming the fault, nothing written, the hub still serving.
#[test]
fn oversized_and_malformed_messages_are_refused() {
    let mut bureau = Bureau::start("malformed", 110, false);
    let before = bureau.snapshot();
    let (addr, ca, tls) = (bureau.hub.addr(), bureau.ca(), bureau.county.tls_dir());
    let rt = runtime();
    let refused = rt.block_on(async {
        let open = || open_session(addr, &ca, &tls, COUNTY);
        let (seq, hash) = head(&open().await, COUNTY);
        let (next, _) = valid_changes(COUNTY, seq + 1, hash, 2);
        let list = |changes: Vec<Bytes>| {
            pb::ChangeList {
                changes,
                checkpoints: Vec::new(),
            }
            .encode_to_vec()
        };
        let zstd = |raw: &[u8]| Bytes::from(zstd::bulk::compress(raw, 1).expect("compress"));
        let mut short_hash = pb::Change::decode(next[0].clone()).expect("a change");
        short_hash.hash = short_hash.hash.slice(..31);
        let good_list = list(next.clone());
        let cases: Vec<(&str, pb::Batch, Code, Vec<String>)> = vec![
            (
                "a message above MESSAGE_BYTES_MAX",
                pb::Batch {
                    batch_no: 1,
                    count: 1,
                    raw_bytes: 1,
                    zstd: Bytes::from(vec![0u8; MESSAGE_BYTES_MAX + 1]),
                },
                Code::OutOfRange,
                vec!["message length too large".into()],
            ),
            (
                "a batch claiming more than BATCH_BYTES_MAX",
                pb::Batch {
                    raw_bytes: BATCH_BYTES_MAX as u32 + 1,
                    ..batch(1, next.clone())
                },
                Code::InvalidArgument,
                vec![format!(
                    "claims {} bytes, more than {BATCH_BYTES_MAX}",
                    BATCH_BYTES_MAX + 1
                )],
            ),
            (
                "a batch claiming more than BATCH_CHANGES_MAX",
                pb::Batch {
                    count: BATCH_CHANGES_MAX as u32 + 1,
                    ..batch(1, next.clone())
                },
                Code::InvalidArgument,
                vec![format!(
                    "claims {} changes, more than {BATCH_CHANGES_MAX}",
                    BATCH_CHANGES_MAX + 1
                )],
            ),
            (
                "bytes that are not zstd",
                pb::Batch {
                    batch_no: 1,
                    count: 2,
                    raw_bytes: good_list.len() as u32,
                    zstd: Bytes::from(good_list.clone()),
                },
                Code::InvalidArgument,
                vec!["does not decompress".into()],
            ),
            (
                "a ChangeList that does not decode",
                pb::Batch {
                    batch_no: 1,
                    count: 2,
                    raw_bytes: 40,
                    zstd: zstd(&[0xff; 40]),
                },
                Code::InvalidArgument,
                vec!["is malformed".into()],
            ),
            (
                "a change with a 31-byte hash",
                batch(
                    1,
                    vec![next[0].clone(), Bytes::from(short_hash.encode_to_vec())],
                ),
                Code::InvalidArgument,
                vec!["hash has 31 bytes, expected 32".into()],
            ),
        ];
        let mut refused = 0;
        for (what, bad, code, words) in cases {
            let mut s = open().await;
            s.send_batch(bad).await;
            let words: Vec<&str> = words.iter().map(String::as_str).collect();
            let text = assert_refused(s.ack().await, code, &words);
            eprintln!("{what}: {text}");
            refused += 1;
        }
        // The first message: too large, or not a Hello.
        let c = client(addr, Some(Tls::from_dir(&ca, &tls)))
            .await
            .expect("connect");
        for (what, first, code, words) in [
            (
                "a Hello above MESSAGE_BYTES_MAX",
                pb::child_message::Kind::Hello(pb::Hello {
                    protocol: 1,
                    org: "4".repeat(MESSAGE_BYTES_MAX + 1),
                    incarnation: Bytes::new(),
                    bulletins: 0,
                }),
                Code::OutOfRange,
                "message length too large",
            ),
            (
                "a batch before the Hello",
                pb::child_message::Kind::Batch(batch(1, next.clone())),
                Code::InvalidArgument,
                "a session starts with Hello",
            ),
        ] {
            let (tx, rx) = tokio::sync::mpsc::channel(1);
            tx.send(pb::ChildMessage { kind: Some(first) })
                .await
                .expect("queued");
            let result = c
                .clone()
                .session(tokio_stream::wrappers::ReceiverStream::new(rx))
                .await;
            let text = assert_refused(result.map(|_| ()), code, &[words]);
            eprintln!("{what}: {text}");
            refused += 1;
        }
        // Afterwards a well-formed session goes through, on the same hub.
        let s = open().await;
        s.finish(0).await.expect("a clean session");
        refused
    });
    drop(rt);
    let status = bureau.hub.status_json();
    let county = child(&status, COUNTY);
    let counted: u64 = ["malformed", "limits"]
        .iter()
        .map(|r| child_refusals(&status, COUNTY, r))
        .sum();
    assert!(counted >= refused, "every refusal counted: {county}");
    assert!(child_refusals(&status, COUNTY, "limits") >= 1, "{county}");
    bureau.assert_unchanged(&before, "malformed messages");
    bureau.assert_serves_others();
    bureau.finish();
}

/// A record encoded straight from its wire form (no domain validation).
fn wire_record(kind: pb::record::Kind) -> Bytes {
    Bytes::from(pb::Record { kind: Some(kind) }.encode_to_vec())
}

fn wire_roster(person_id: &str, rank: i32, since: &str) -> Bytes {
    wire_record(pb::record::Kind::Roster(pb::RosterEntry {
        person_id: person_id.into(),
        name: "张三".into(),
        rank,
        since: date_to_days(date(since)),
        ..Default::default()
    }))
}

/// Case 10: Absurd values in validly chained records: quarantined (held, shown
/// in status with the reason), not stored; the origin's later changes wait
/// behind them while other origins of the same batch flow. The sender is
/// 郑州 (raw, with its own certificate) pushing to 河南, so one batch can
/// carry two origins of its subtree.
#[test]
fn absurd_records_are_quarantined_and_other_origins_flow() {
    let seed = seed("absurd", 112);
    let world = World::tls("absurd", seed);
    let mut province = world.hub("410000", None);
    let prefecture = world.node(HUB, Some(&province.url()));
    province.stop();
    let before = province.logs();
    province.serve();
    let (addr, ca) = (province.addr(), world.pki.as_ref().expect("a PKI").ca_pem());
    const ID: &str = "11010519491231002X";
    let absurd: Vec<(&str, Bytes, &str)> = vec![
        (
            "hours above the maximum",
            wire_record(pb::record::Kind::Class(pb::Class {
                class_id: "2025-01".into(),
                title: "信访业务培训班".into(),
                mode: pb::Mode::Centralized as i32,
                start: date_to_days(date("2025-03-01")),
                end: date_to_days(date("2025-03-05")),
                hours_tenths: 20_001,
                ..Default::default()
            })),
            "hours 2000.1 is too large",
        ),
        (
            "a date in year 9999",
            wire_roster(ID, pb::Rank::General as i32, "9999-01-01"),
            "since 9999-01-01 is outside",
        ),
        (
            "an unknown rank",
            wire_roster(ID, 7, "2024-01-01"),
            "unknown rank 7",
        ),
        (
            "an invalid ID number",
            wire_roster("110105194912310021", pb::Rank::General as i32, "2024-01-01"),
            "ID number check digit",
        ),
    ];
    let rt = runtime();
    rt.block_on(async {
        let mut session = open_session(addr, &ca, &prefecture.tls_dir(), HUB).await;
        for (i, (what, record, reason)) in absurd.iter().enumerate() {
            let (changes, _) = chain(COUNTY, 1, GENESIS, vec![record.clone()]);
            session.send_batch(batch(i as u64 + 1, changes)).await;
            let ack = session
                .ack()
                .await
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!((ack.applied, ack.quarantined), (0, 1), "{what}: {ack:?}");
            assert_eq!((ack.held[0].origin.as_str(), ack.held[0].seq), (COUNTY, 1));
            assert!(
                ack.held[0].reason.contains("quarantined"),
                "{what}: {ack:?}"
            );
            assert!(ack.held[0].reason.contains(reason), "{what}: {ack:?}");
            let status = province.status_json();
            let held = &status["held"][0];
            assert_eq!(held["origin"], COUNTY, "{what}: {status}");
            assert!(
                held["reason"].as_str().is_some_and(|r| r.contains(reason)),
                "{what}: status shows the reason: {held}"
            );
        }
        // The bad record, a later change of its origin behind it, and
        // another origin's changes: the later one waits, the other flows.
        let (mut changes, _) = chain(COUNTY, 1, GENESIS, vec![absurd[3].1.clone(), obligation(2)]);
        let (sibling, sibling_head) = valid_changes(SIBLING, 1, GENESIS, 2);
        changes.extend(sibling);
        let signed = checkpoint(&world, SIBLING, 2, &sibling_head);
        session
            .send_batch(signed_batch(9, changes, vec![signed]))
            .await;
        let ack = session.ack().await.expect("an ack");
        assert_eq!((ack.applied, ack.quarantined), (2, 1), "{ack:?}");
        assert_eq!(ack.held.len(), 1, "{ack:?}");
        let at = |o: &str| ack.entries.iter().find(|e| e.origin == o).map(|e| e.seq);
        assert_eq!((at(COUNTY), at(SIBLING)), (Some(0), Some(2)), "{ack:?}");
        session.finish(0).await.expect("a clean session");
    });
    drop(rt);
    let status = province.status_json();
    let prefecture_state = child(&status, HUB);
    assert!(
        prefecture_state["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("held back")),
        "{prefecture_state}"
    );
    province.stop();
    let after = province.logs();
    assert_eq!(before.total(), 0);
    assert_eq!(
        after.origin_codes(),
        vec![SIBLING],
        "nothing of the quarantined origin"
    );
    after.assert_well_formed(SIBLING);
    assert_eq!(after.seq(SIBLING), 2);
}

// ---------------------------------------------------------------------------
// Limits: case 12
// ---------------------------------------------------------------------------

/// Case 12: More than CHILD_SESSIONS_MAX concurrent sessions of one child, and
/// a batch claiming more than SESSION_CHANGES_MAX changes: resource
/// exhausted, counted; the child's slots come back when its sessions end,
/// and other children are served meanwhile.
#[test]
fn too_many_sessions_of_one_child_are_refused() {
    let mut bureau = Bureau::start("limits", 114, false);
    let before = bureau.snapshot();
    let (addr, ca, tls) = (bureau.hub.addr(), bureau.ca(), bureau.county.tls_dir());
    let rt = runtime();
    let mut held = rt.block_on(async {
        let mut held = Vec::new();
        for _ in 0..CHILD_SESSIONS_MAX {
            let session = raw_session(addr, &ca, &tls, COUNTY).await;
            held.push(session.expect("a session within the limit"));
        }
        let text = assert_refused(
            raw_session(addr, &ca, &tls, COUNTY).await.map(|_| ()),
            Code::ResourceExhausted,
            &[&format!(
                "410102 already has {CHILD_SESSIONS_MAX} sessions open (at most {CHILD_SESSIONS_MAX})"
            )],
        );
        eprintln!("{text}");
        held
    });
    // Other children are served while the county holds its slots.
    bureau.assert_serves_others();
    let status = bureau.hub.status_json();
    assert!(
        child_refusals(&status, COUNTY, "too-many-sessions") >= 1,
        "{}",
        child(&status, COUNTY)
    );

    // The county's sessions end: its slots come back.
    for s in &mut held {
        s.close();
    }
    drop(held);
    rt.block_on(async {
        let mut session = open_session(addr, &ca, &tls, COUNTY).await;
        // A batch claiming more changes than one session may carry.
        session
            .send_batch(pb::Batch {
                count: SESSION_CHANGES_MAX as u32 + 1,
                ..batch(1, Vec::new())
            })
            .await;
        assert_refused(
            session.ack().await,
            Code::ResourceExhausted,
            &[&format!(
                "more than {SESSION_CHANGES_MAX} changes in one session"
            )],
        );

        // Streams that never say Hello hold the child's slots too: the
        // certificate says who they are before they say anything.
        let c = client(addr, Some(Tls::from_dir(&ca, &tls)))
            .await
            .expect("connect");
        let mut silent = Vec::new();
        for _ in 0..CHILD_SESSIONS_MAX {
            let (tx, rx) = tokio::sync::mpsc::channel::<pb::ChildMessage>(1);
            let mut c = c.clone();
            silent.push((
                tx,
                tokio::spawn(async move {
                    c.session(tokio_stream::wrappers::ReceiverStream::new(rx))
                        .await
                        .map(|_| ())
                }),
            ));
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        let refused = loop {
            match raw_session(addr, &ca, &tls, COUNTY).await {
                Err(e) if e.code() == Code::ResourceExhausted => break e,
                Ok(s) if Instant::now() < deadline => {
                    s.finish(0).await.expect("a clean session");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                other => panic!(
                    "sessions that never said Hello do not count against the child: {:?}",
                    other.map(|_| ()).map_err(|e| describe(&e))
                ),
            }
        };
        assert_refused::<()>(Err(refused), Code::ResourceExhausted, &["sessions open"]);
        for (tx, task) in silent {
            drop(tx);
            task.abort();
        }
    });
    drop(rt);
    let status = bureau.hub.status_json();
    assert!(
        child_refusals(&status, COUNTY, "limits") >= 1,
        "{}",
        child(&status, COUNTY)
    );
    bureau.assert_county_unchanged(&before, "too many sessions");
    wait_until("the county to sync again", || {
        bureau.county.sync_once().code == 0
    });
    bureau.finish();
}
