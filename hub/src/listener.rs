//! The children-facing listener over mutual TLS.
//!
//! The hub runs the TLS handshake itself instead of leaving it to tonic,
//! which drops a failed handshake with a debug line: here every failure —
//! no client certificate, one of another CA, an expired one, a replayed or
//! garbled session — is counted in `status` (`refused_peers`: `certificate`
//! when the client's certificate was refused, `tls-handshake` otherwise,
//! `too-many-handshakes` and `cooled-off` for connections closed unheard),
//! and a peer that does not finish its handshake within
//! [`HANDSHAKE_TIMEOUT`] is dropped instead of holding a connection open
//! forever. Established connections are handed to tonic, which still sees
//! the peer's certificates (`Request::peer_certs`).
//!
//! A flood of bad handshakes must not cost the children anything: a
//! failure is counted in memory and persisted with the others every
//! [`REFUSALS_PERSIST_INTERVAL`] and when the listener stops; its WARN line
//! is rate-limited per peer address ([`PEER_LOG_LINES_MAX`] a
//! [`LOG_WINDOW`], each message once, then a summary of what was left
//! out); and one address may have only [`PEER_HANDSHAKES_MAX`] handshakes
//! under way, and after [`PEER_FAILURES_MAX`] failures within
//! [`FAILURE_WINDOW`] it is cooled off for [`COOL_OFF`]: its connections are
//! closed at once, without a handshake. The limits are [`PeerGuard`]'s, a
//! pure state machine over the times it is given. Connections that finish
//! their handshake hold no slot: tonic takes each at once, and idle ones
//! are closed by HTTP/2 keepalive ([`configure_server`]).

use std::collections::{BTreeSet, HashMap};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use lunxun_node::node::Node;
pub use lunxun_node::sync::children::REFUSALS_PERSIST_INTERVAL;
use lunxun_node::sync::children::{count_unidentified_refusal, persist_unidentified_refusals};
use lunxun_node::tls::TlsFiles;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{self, RootCertStore, ServerConfig};
use tokio_rustls::server::TlsStream;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Server;
use tracing::warn;

/// Longest a peer may take to complete its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes under way at once, at most; further connections wait in the
/// listen backlog.
const HANDSHAKES_MAX: usize = 256;
/// Established connections waiting for the server to take them (tonic takes
/// each at once and serves it in its own task: idle ones wait there, not
/// here).
const ESTABLISHED_MAX: usize = 64;
/// Handshakes one peer address may have under way at once; its further
/// connections are closed at once (`too-many-handshakes`), so one address
/// cannot hold the [`HANDSHAKES_MAX`] slots others need.
pub const PEER_HANDSHAKES_MAX: u32 = 8;
/// Failed handshakes (and connections refused as too many) of one address
/// within [`FAILURE_WINDOW`] after which it is cooled off.
pub const PEER_FAILURES_MAX: u32 = 32;
/// The window in which an address's failures are counted.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// How long a cooled-off address's connections are closed without a
/// handshake (`cooled-off`).
pub const COOL_OFF: Duration = Duration::from_secs(60);
/// The window of the WARN-line rate limit, per peer address.
pub const LOG_WINDOW: Duration = Duration::from_secs(60);
/// WARN lines about one address's refusals per [`LOG_WINDOW`], at most;
/// the same message is logged once per window.
pub const PEER_LOG_LINES_MAX: u32 = 8;
/// Peer addresses tracked at once, at most (memory stays bounded under a
/// flood from many addresses); beyond it, quiet entries are dropped, and
/// new addresses go untracked, bounded by [`HANDSHAKES_MAX`] only.
pub const PEERS_TRACKED_MAX: usize = 4096;
/// HTTP/2 keepalive pings on an established connection: a peer that stops
/// answering them within [`KEEPALIVE_TIMEOUT`] is closed.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
/// How long a keepalive ping may go unanswered.
pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);
/// Longest a message kept in the log rate limit's memory, in bytes.
const LOGGED_MESSAGE_BYTES_MAX: usize = 200;

/// What the guard says about a new connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Run its handshake.
    Admit,
    /// Its address has [`PEER_HANDSHAKES_MAX`] handshakes under way.
    Busy,
    /// Its address is cooled off.
    CooledOff,
}

impl Admission {
    /// The refusal reason counted for a connection closed unheard.
    pub fn reason(self) -> Option<&'static str> {
        match self {
            Admission::Admit => None,
            Admission::Busy => Some("too-many-handshakes"),
            Admission::CooledOff => Some("cooled-off"),
        }
    }

    /// Why it was closed, in words.
    pub fn message(self) -> &'static str {
        match self {
            Admission::Admit => "admitted",
            Admission::Busy => "closed unheard: too many handshakes under way from this address",
            Admission::CooledOff => {
                "closed unheard: this address is cooled off after repeated failed handshakes"
            }
        }
    }
}

/// Whether a refusal gets its WARN line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLine {
    /// Log it, saying how many refusals of the address went unlogged
    /// before it.
    Log { unlogged: u64 },
    /// Leave it out (counted for the next line or summary).
    Quiet,
}

/// What the guard knows of one address.
#[derive(Debug, Default)]
struct Peer {
    handshaking: u32,
    failures_since: Option<Instant>,
    failures: u32,
    cooled_until: Option<Instant>,
    log_since: Option<Instant>,
    lines: u32,
    messages: BTreeSet<String>,
    unlogged: u64,
}

impl Peer {
    /// Nothing worth keeping: no handshake under way, no window open.
    fn is_quiet(&self, now: Instant) -> bool {
        let open = |since: Option<Instant>, window: Duration| {
            since.is_some_and(|s| now.saturating_duration_since(s) < window)
        };
        self.handshaking == 0
            && self.unlogged == 0
            && self.cooled_until.is_none_or(|u| now >= u)
            && !open(self.failures_since, FAILURE_WINDOW)
            && !open(self.log_since, LOG_WINDOW)
    }
}

/// The per-address limits on handshakes and on log lines: pure, over the
/// times it is given.
#[derive(Debug, Default)]
pub struct PeerGuard {
    peers: HashMap<IpAddr, Peer>,
    /// Refusals of untracked addresses not logged.
    untracked_unlogged: u64,
}

impl PeerGuard {
    /// The entry of `ip`, made if there is room (after dropping quiet ones).
    fn peer(&mut self, ip: IpAddr, now: Instant) -> Option<&mut Peer> {
        if !self.peers.contains_key(&ip) && self.peers.len() >= PEERS_TRACKED_MAX {
            self.peers.retain(|_, p| !p.is_quiet(now));
        }
        if !self.peers.contains_key(&ip) && self.peers.len() >= PEERS_TRACKED_MAX {
            return None;
        }
        Some(self.peers.entry(ip).or_default())
    }

    /// A new connection from `ip`: admitted (its handshake now counts as
    /// under way until [`PeerGuard::finished`]), or closed unheard.
    pub fn admit(&mut self, ip: IpAddr, now: Instant) -> Admission {
        let Some(peer) = self.peer(ip, now) else {
            return Admission::Admit;
        };
        if let Some(until) = peer.cooled_until {
            if now < until {
                return Admission::CooledOff;
            }
            peer.cooled_until = None;
        }
        if peer.handshaking >= PEER_HANDSHAKES_MAX {
            Self::failed(peer, now);
            return Admission::Busy;
        }
        peer.handshaking += 1;
        Admission::Admit
    }

    /// An admitted handshake of `ip` ended, `ok` or failed.
    pub fn finished(&mut self, ip: IpAddr, now: Instant, ok: bool) {
        if let Some(peer) = self.peers.get_mut(&ip) {
            peer.handshaking = peer.handshaking.saturating_sub(1);
            if !ok {
                Self::failed(peer, now);
            }
        }
    }

    fn failed(peer: &mut Peer, now: Instant) {
        let expired = peer
            .failures_since
            .is_none_or(|s| now.saturating_duration_since(s) >= FAILURE_WINDOW);
        if expired {
            peer.failures_since = Some(now);
            peer.failures = 0;
        }
        peer.failures += 1;
        if peer.failures >= PEER_FAILURES_MAX {
            peer.cooled_until = Some(now + COOL_OFF);
            peer.failures_since = None;
            peer.failures = 0;
        }
    }

    /// Whether a refusal of `ip` with `message` gets a WARN line.
    pub fn log_refusal(&mut self, ip: IpAddr, message: &str, now: Instant) -> LogLine {
        let Some(peer) = self.peer(ip, now) else {
            self.untracked_unlogged += 1;
            return LogLine::Quiet;
        };
        if peer
            .log_since
            .is_none_or(|s| now.saturating_duration_since(s) >= LOG_WINDOW)
        {
            peer.log_since = Some(now);
            peer.lines = 0;
            peer.messages.clear();
        }
        let mut key = message.to_owned();
        if key.len() > LOGGED_MESSAGE_BYTES_MAX {
            let mut end = LOGGED_MESSAGE_BYTES_MAX;
            while !key.is_char_boundary(end) {
                end -= 1;
            }
            key.truncate(end);
        }
        if peer.lines >= PEER_LOG_LINES_MAX || peer.messages.contains(&key) {
            peer.unlogged += 1;
            return LogLine::Quiet;
        }
        peer.lines += 1;
        peer.messages.insert(key);
        LogLine::Log {
            unlogged: std::mem::take(&mut peer.unlogged),
        }
    }

    /// Refusals left unlogged whose window has ended, per address (`None`:
    /// untracked ones), taken for a summary line; drops quiet entries.
    pub fn summaries(&mut self, now: Instant) -> Vec<(Option<IpAddr>, u64)> {
        let mut out = Vec::new();
        for (ip, peer) in &mut self.peers {
            let ended = peer
                .log_since
                .is_none_or(|s| now.saturating_duration_since(s) >= LOG_WINDOW);
            if ended && peer.unlogged > 0 {
                out.push((Some(*ip), std::mem::take(&mut peer.unlogged)));
            }
        }
        if self.untracked_unlogged > 0 {
            out.push((None, std::mem::take(&mut self.untracked_unlogged)));
        }
        self.peers.retain(|_, p| !p.is_quiet(now));
        out.sort();
        out
    }

    /// Addresses tracked now.
    pub fn tracked(&self) -> usize {
        self.peers.len()
    }
}

/// The HTTP/2 settings of the children-facing server: keepalive pings close
/// connections whose peer stopped answering, so dead links do not pile up.
pub fn configure_server(server: Server) -> Server {
    server
        .http2_keepalive_interval(Some(KEEPALIVE_INTERVAL))
        .http2_keepalive_timeout(Some(KEEPALIVE_TIMEOUT))
        .tcp_keepalive(Some(KEEPALIVE_INTERVAL))
}

/// The server side of mutual TLS from a tls dir: our certificate chain and
/// key, and client certificates required, verified to the roots in `ca.pem`.
pub fn server_config(dir: &Path) -> Result<Arc<ServerConfig>, String> {
    let files = TlsFiles::load(dir).map_err(|e| e.to_string())?;
    let pems = |bytes: &[u8], file: &str| {
        CertificateDer::pem_slice_iter(bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{}: {e}", dir.join(file).display()))
    };
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(pems(&files.ca, lunxun_node::tls::CA_FILE)?);
    if added == 0 {
        return Err(format!(
            "{}: no usable CA certificate",
            dir.join(lunxun_node::tls::CA_FILE).display()
        ));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebPkiClientVerifier::builder_with_provider(roots.into(), provider.clone())
        .build()
        .map_err(|e| format!("client verification: {e}"))?;
    let chain = pems(&files.cert, lunxun_node::tls::CERT_FILE)?;
    let key = PrivateKeyDer::from_pem_slice(&files.key)
        .map_err(|e| format!("{}: {e}", dir.join(lunxun_node::tls::KEY_FILE).display()))?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("tls configuration: {e}"))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// The established connections, as tonic takes them. Dropped when the
/// server stops: the refusals counted in memory are persisted then.
pub struct Incoming {
    inner: ReceiverStream<io::Result<TlsStream<TcpStream>>>,
    node: Arc<Node>,
}

impl Stream for Incoming {
    type Item = io::Result<TlsStream<TcpStream>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.inner).poll_next(cx)
    }
}

impl Drop for Incoming {
    fn drop(&mut self) {
        persist(&self.node);
    }
}

fn persist(node: &Node) {
    if let Err(e) = persist_unidentified_refusals(node) {
        warn!(error = %e, "the refused peers' counts could not be persisted; kept for the next try");
    }
}

/// Accepts connections on `listener`, runs their handshakes (each within
/// [`HANDSHAKE_TIMEOUT`], within the per-address limits), and yields the
/// established ones. Stops accepting when the stream is dropped.
pub fn incoming(listener: TcpListener, config: Arc<ServerConfig>, node: Arc<Node>) -> Incoming {
    let (tx, rx) = mpsc::channel(ESTABLISHED_MAX);
    let guard = Arc::new(Mutex::new(PeerGuard::default()));
    tokio::spawn(refusals_task(
        node.clone(),
        guard.clone(),
        tx.clone(),
        REFUSALS_PERSIST_INTERVAL,
    ));
    tokio::spawn(accept_loop(
        listener,
        TlsAcceptor::from(config),
        node.clone(),
        guard,
        tx,
    ));
    Incoming {
        inner: ReceiverStream::new(rx),
        node,
    }
}

fn lock(guard: &Mutex<PeerGuard>) -> std::sync::MutexGuard<'_, PeerGuard> {
    guard.lock().unwrap_or_else(|p| p.into_inner())
}

/// Every `period` ([`REFUSALS_PERSIST_INTERVAL`]) until the listener stops:
/// persists the refusals counted in memory, and logs the summaries of
/// unlogged ones.
async fn refusals_task(
    node: Arc<Node>,
    guard: Arc<Mutex<PeerGuard>>,
    established: mpsc::Sender<io::Result<TlsStream<TcpStream>>>,
    period: Duration,
) {
    let mut tick = tokio::time::interval(period);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = established.closed() => return,
            _ = tick.tick() => {}
        }
        let summaries = lock(&guard).summaries(Instant::now());
        for (peer, unlogged) in summaries {
            match peer {
                Some(peer) => {
                    warn!(%peer, unlogged, "TLS handshakes refused and not logged in the last minute")
                }
                None => warn!(
                    unlogged,
                    "TLS handshakes of untracked peers refused and not logged"
                ),
            }
        }
        let node = node.clone();
        let _ = tokio::task::spawn_blocking(move || persist(&node)).await;
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    node: Arc<Node>,
    guard: Arc<Mutex<PeerGuard>>,
    established: mpsc::Sender<io::Result<TlsStream<TcpStream>>>,
) {
    let handshakes = Arc::new(Semaphore::new(HANDSHAKES_MAX));
    loop {
        let permit = tokio::select! {
            _ = established.closed() => return,
            permit = handshakes.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        let (stream, peer) = tokio::select! {
            _ = established.closed() => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, a connection aborted before
                    // it was taken...: wait a little rather than spin.
                    warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let admission = lock(&guard).admit(peer.ip(), Instant::now());
        if let Some(reason) = admission.reason() {
            // Closed unheard: no handshake, no task.
            drop(stream);
            refused(&node, &guard, peer, reason, admission.message());
            continue;
        }
        let _ = stream.set_nodelay(true);
        let (acceptor, node, guard, established) = (
            acceptor.clone(),
            node.clone(),
            guard.clone(),
            established.clone(),
        );
        tokio::spawn(async move {
            let _permit = permit;
            let outcome = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await;
            lock(&guard).finished(peer.ip(), Instant::now(), matches!(outcome, Ok(Ok(_))));
            match outcome {
                Ok(Ok(tls)) => {
                    let _ = established.send(Ok(tls)).await;
                }
                Ok(Err(e)) => refused(&node, &guard, peer, handshake_refusal(&e), &e.to_string()),
                Err(_) => refused(
                    &node,
                    &guard,
                    peer,
                    "tls-handshake",
                    &format!("no TLS handshake within {}s", HANDSHAKE_TIMEOUT.as_secs()),
                ),
            }
        });
    }
}

/// Why a handshake failed, as counted: the client's certificate, or the
/// handshake itself (garbled or replayed bytes, a client that does not
/// trust us, a peer that hung up).
fn handshake_refusal(e: &io::Error) -> &'static str {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(
            rustls::Error::InvalidCertificate(_)
            | rustls::Error::NoCertificatesPresented
            | rustls::Error::InvalidCertRevocationList(_),
        ) => "certificate",
        _ => "tls-handshake",
    }
}

/// Counts a refused connection (in memory) and logs it within the rate
/// limit.
fn refused(
    node: &Node,
    guard: &Mutex<PeerGuard>,
    peer: SocketAddr,
    reason: &'static str,
    error: &str,
) {
    count_unidentified_refusal(node, reason);
    match lock(guard).log_refusal(peer.ip(), error, Instant::now()) {
        LogLine::Log { unlogged: 0 } => warn!(%peer, reason, error, "TLS handshake refused"),
        LogLine::Log { unlogged } => {
            warn!(%peer, reason, error, unlogged, "TLS handshake refused (and others of this address not logged)")
        }
        LogLine::Quiet => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn an_address_has_only_so_many_handshakes_under_way() {
        let mut guard = PeerGuard::default();
        let t0 = Instant::now();
        for _ in 0..PEER_HANDSHAKES_MAX {
            assert_eq!(guard.admit(ip(2), t0), Admission::Admit);
        }
        assert_eq!(guard.admit(ip(2), t0), Admission::Busy);
        // Another address is not affected.
        assert_eq!(guard.admit(ip(1), t0), Admission::Admit);
        // One ends: room for one more.
        guard.finished(ip(2), t0, true);
        assert_eq!(guard.admit(ip(2), t0), Admission::Admit);
        assert_eq!(guard.admit(ip(2), t0), Admission::Busy);
    }

    #[test]
    fn repeated_failures_cool_an_address_off_for_a_while() {
        let mut guard = PeerGuard::default();
        let t0 = Instant::now();
        for i in 0..PEER_FAILURES_MAX - 1 {
            assert_eq!(guard.admit(ip(2), t0), Admission::Admit, "failure {i}");
            guard.finished(ip(2), t0, false);
        }
        assert_eq!(guard.admit(ip(2), t0), Admission::Admit);
        guard.finished(ip(2), t0, false);
        assert_eq!(guard.admit(ip(2), t0), Admission::CooledOff);
        assert_eq!(
            guard.admit(ip(1), t0),
            Admission::Admit,
            "others unaffected"
        );
        let later = t0 + COOL_OFF - Duration::from_millis(1);
        assert_eq!(guard.admit(ip(2), later), Admission::CooledOff);
        assert_eq!(guard.admit(ip(2), t0 + COOL_OFF), Admission::Admit);
    }

    #[test]
    fn failures_spread_wider_than_the_window_never_cool_off() {
        let mut guard = PeerGuard::default();
        let t0 = Instant::now();
        let step = FAILURE_WINDOW / (PEER_FAILURES_MAX / 2);
        for i in 0..PEER_FAILURES_MAX * 4 {
            let now = t0 + step * i;
            assert_eq!(guard.admit(ip(2), now), Admission::Admit, "failure {i}");
            guard.finished(ip(2), now, false);
        }
    }

    #[test]
    fn log_lines_are_limited_per_address_then_summarized() {
        let mut guard = PeerGuard::default();
        let t0 = Instant::now();
        assert_eq!(
            guard.log_refusal(ip(2), "garbage", t0),
            LogLine::Log { unlogged: 0 }
        );
        // The same message again within the window: left out.
        for _ in 0..100 {
            assert_eq!(guard.log_refusal(ip(2), "garbage", t0), LogLine::Quiet);
        }
        // Another message: logged, saying how many were left out before it.
        assert_eq!(
            guard.log_refusal(ip(2), "fault 1", t0),
            LogLine::Log { unlogged: 100 }
        );
        // Others, up to the limit per window.
        for i in 2..PEER_LOG_LINES_MAX {
            assert_eq!(
                guard.log_refusal(ip(2), &format!("fault {i}"), t0),
                LogLine::Log { unlogged: 0 }
            );
        }
        assert_eq!(guard.log_refusal(ip(2), "one more", t0), LogLine::Quiet);
        // Another address has its own budget.
        assert_eq!(
            guard.log_refusal(ip(1), "garbage", t0),
            LogLine::Log { unlogged: 0 }
        );
        // No summary while the window is open; then one, taken once.
        assert!(guard.summaries(t0 + LOG_WINDOW / 2).is_empty());
        let end = t0 + LOG_WINDOW;
        assert_eq!(guard.summaries(end), vec![(Some(ip(2)), 1)]);
        assert!(guard.summaries(end).is_empty());
        // A new window logs again.
        assert_eq!(
            guard.log_refusal(ip(2), "garbage", end),
            LogLine::Log { unlogged: 0 }
        );
    }

    #[test]
    fn the_next_line_after_a_window_tells_what_was_left_out() {
        let mut guard = PeerGuard::default();
        let t0 = Instant::now();
        guard.log_refusal(ip(2), "garbage", t0);
        guard.log_refusal(ip(2), "garbage", t0);
        guard.log_refusal(ip(2), "garbage", t0);
        assert_eq!(
            guard.log_refusal(ip(2), "garbage", t0 + LOG_WINDOW),
            LogLine::Log { unlogged: 2 }
        );
    }

    #[test]
    fn tracked_addresses_stay_bounded() {
        let mut guard = PeerGuard::default();
        let t0 = Instant::now();
        let many = |i: usize| IpAddr::from((i as u128 + 1).to_be_bytes());
        for i in 0..PEERS_TRACKED_MAX + 100 {
            // Each holds a handshake: none is quiet, none can be dropped.
            assert_eq!(guard.admit(many(i), t0), Admission::Admit);
        }
        assert_eq!(guard.tracked(), PEERS_TRACKED_MAX);
        assert_eq!(
            guard.log_refusal(many(PEERS_TRACKED_MAX + 1), "x", t0),
            LogLine::Quiet
        );
        assert_eq!(guard.summaries(t0), vec![(None, 1)]);
        // Once quiet, entries make room again.
        for i in 0..PEERS_TRACKED_MAX {
            guard.finished(many(i), t0, true);
        }
        let later = t0 + FAILURE_WINDOW.max(LOG_WINDOW);
        assert_eq!(guard.admit(ip(9), later), Admission::Admit);
        assert!(guard.tracked() < PEERS_TRACKED_MAX);
    }

    #[tokio::test]
    async fn refusals_are_persisted_periodically_until_the_listener_stops() {
        use lunxun_node::config::{Config, Revoked};
        use lunxun_node::sync::children::unidentified_refusals;
        let tmp = tempfile::tempdir().unwrap();
        let config = Config {
            org: "410100".into(),
            upstream: None,
            tls_dir: None,
            insecure: false,
            revoked: Revoked::default(),
            time_zone: None,
            quotas: Default::default(),
            dashboard: Default::default(),
            store: Default::default(),
            alerts: Default::default(),
        };
        let node = Arc::new(Node::init(tmp.path(), config).unwrap());
        let (tx, rx) = mpsc::channel(1);
        let guard = Arc::new(Mutex::new(PeerGuard::default()));
        let period = Duration::from_millis(20);
        let task = tokio::spawn(refusals_task(node.clone(), guard, tx, period));
        count_unidentified_refusal(&node, "tls-handshake");
        count_unidentified_refusal(&node, "tls-handshake");
        // Persisted by a later tick (bounded wait, not a duration asserted).
        let stored = || {
            node.store()
                .peer_refusals()
                .unwrap()
                .get("tls-handshake")
                .copied()
        };
        for _ in 0..500 {
            if stored() == Some(2) {
                break;
            }
            tokio::time::sleep(period).await;
        }
        assert_eq!(stored(), Some(2));
        assert_eq!(
            unidentified_refusals(&node)["tls-handshake"],
            2,
            "not twice"
        );
        // The listener's stream dropped: the task ends.
        drop(rx);
        tokio::time::timeout(Duration::from_secs(30), task)
            .await
            .expect("the task ends with the listener")
            .unwrap();
    }

    #[test]
    fn certificate_faults_are_told_from_other_handshake_failures() {
        let wrap = |e: rustls::Error| io::Error::new(io::ErrorKind::InvalidData, e);
        assert_eq!(
            handshake_refusal(&wrap(rustls::Error::NoCertificatesPresented)),
            "certificate"
        );
        assert_eq!(
            handshake_refusal(&wrap(rustls::Error::InvalidCertificate(
                rustls::CertificateError::Expired
            ))),
            "certificate"
        );
        assert_eq!(
            handshake_refusal(&wrap(rustls::Error::DecryptError)),
            "tls-handshake"
        );
        assert_eq!(
            handshake_refusal(&io::Error::from(io::ErrorKind::UnexpectedEof)),
            "tls-handshake"
        );
    }
}
