//! The child's transport: connects to the parent, and drives a
//! [`ChildSession`] over the `Sync.Session` stream. It only moves bytes:
//! every decision is the session machine's (and a restore's, the
//! application's: `crate::app::restore`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use lunxun_proto::v1 as pb;
use lunxun_proto::v1::sync_client::SyncClient;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint};
use tracing::{debug, info, instrument, warn};

use super::outbound;
use super::session::{ChildSession, Outcome, ParentVector, ProtocolError};
use crate::changelog::Hash;
use crate::codec::{self, BATCH_BYTES_MAX, BATCH_CHANGES_MAX, BATCH_CHECKPOINTS_MAX};
use crate::node::Node;

/// The wire protocol version this node speaks. 2: bulletins in the Hello
/// and the vector, the parent's protocol in its vector.
pub const PROTOCOL_VERSION: u32 = 2;
/// The oldest protocol a parent serves: one version older than its own, so
/// bureaus upgrade top-down over months.
pub const PROTOCOL_OLDEST_SERVED: u32 = PROTOCOL_VERSION - 1;

/// The release to install for a protocol version (what a refusal names).
pub fn release_of(protocol: u32) -> String {
    match protocol {
        1 => "lunxun 0.1".into(),
        2 => "lunxun 0.2".into(),
        n => format!("the lunxun release that speaks protocol {n}"),
    }
}
/// Batches sent and not yet acked, at most.
pub const WINDOW_BATCHES: usize = 8;
/// Longest wait for the parent's next message while it owes us one.
pub const SESSION_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest wait to establish a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Changes one session carries at most; a larger backlog continues in the
/// next session at once (the parent refuses sessions beyond it).
pub const SESSION_CHANGES_MAX: u64 = 2_000_000;
/// Largest gRPC message accepted or sent (a compressed batch, or a vector of
/// every org).
pub const MESSAGE_BYTES_MAX: usize = BATCH_BYTES_MAX + 1024 * 1024;

/// Why a sync session failed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// No upstream is configured.
    #[error("no upstream configured (init --upstream URL)")]
    NoUpstream,
    /// The parent could not be reached.
    #[error("cannot reach the parent at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// The parent refused our certificate (shown at the first RPC with TLS 1.3).
    #[error("the parent refused our certificate ({url}): {reason}")]
    CertificateRefused { url: String, reason: String },
    /// The server is not this node's parent: its certificate stands for
    /// another org, or its chain breaks the parent rules. Refused inside the
    /// TLS handshake, before our certificate or any request went out.
    #[error("the parent at {url} {reason}; nothing was sent")]
    WrongParent { url: String, reason: String },
    /// The parent answered with an error.
    #[error("the parent refused the session: {0}")]
    Parent(String),
    /// The link broke or timed out mid-session; the next session resumes.
    #[error("the link to the parent broke: {0}")]
    Link(String),
    /// The parent broke the protocol.
    #[error("protocol error: {0}")]
    Protocol(#[from] ProtocolError),
    /// The parent speaks an older protocol than this node: parents are
    /// upgraded before their children.
    #[error(
        "the parent at {url} speaks protocol {parent}, older than this node's {PROTOCOL_VERSION}: \
         upgrade the parent to {} first (a parent serves children one version older, not newer)",
        release_of(PROTOCOL_VERSION)
    )]
    ParentTooOld { url: String, parent: u32 },
    /// The parent's answer to a restore failed verification or fell short
    /// of what its vector announced: nothing of it was applied.
    #[error("restore from the parent at {url} refused, the local store is unchanged: {reason}")]
    Restore { url: String, reason: String },
    /// The parent's returned trainings broke a bound or failed the checks:
    /// nothing of them was kept.
    #[error("returned trainings from the parent at {url} refused, nothing changed: {reason}")]
    Trainings { url: String, reason: String },
    /// The local store failed.
    #[error(transparent)]
    Node(#[from] crate::error::Error),
}

/// Maps a gRPC status from the parent to an error, telling a refused
/// certificate from a network problem.
pub fn status_error(url: &str, status: &tonic::Status) -> SyncError {
    // The status's own message is often just "transport error": the cause
    // (a TLS alert, a reset) is in its sources.
    let mut text = status.message().to_owned();
    let mut source = std::error::Error::source(status);
    while let Some(s) = source {
        let t = s.to_string();
        if !text.contains(&t) {
            text.push_str(": ");
            text.push_str(&t);
        }
        source = s.source();
    }
    // Not every layer chains its sources; the debug form carries them all.
    let lower = format!("{text} {status:?}").to_ascii_lowercase();
    const ALERT: &str = "received fatal alert: ";
    if let Some(at) = lower.find(ALERT) {
        let name: String = lower[at + ALERT.len()..]
            .chars()
            .take_while(|c| c.is_alphanumeric())
            .collect();
        let alert = format!("{ALERT}{name}");
        if !text.to_ascii_lowercase().contains(&alert) {
            text.push_str(": ");
            text.push_str(&alert);
        }
    }
    let refused_by_parent = lower.contains("received fatal alert")
        || lower.contains("certificate required")
        || lower.contains("bad certificate")
        || lower.contains("unknown ca");
    let untrusted_parent = lower.contains("invalid peer certificate");
    match status.code() {
        tonic::Code::Unavailable | tonic::Code::Unknown if refused_by_parent => {
            SyncError::CertificateRefused {
                url: url.to_owned(),
                reason: text,
            }
        }
        tonic::Code::Unavailable | tonic::Code::Unknown if untrusted_parent => {
            SyncError::Unreachable {
                url: url.to_owned(),
                reason: format!(
                    "we do not trust the parent's certificate (check ca.pem and the URL's host): {text}"
                ),
            }
        }
        tonic::Code::Unavailable => SyncError::Unreachable {
            url: url.to_owned(),
            reason: text,
        },
        // Failures below gRPC (a broken pipe, a closed connection) surface
        // as Unknown "transport error": the link's doing, not the parent's.
        tonic::Code::Unknown => SyncError::Link(text),
        // A parent of protocol 1 refuses our Hello in these words.
        tonic::Code::FailedPrecondition if older_parent(status.message()).is_some() => {
            SyncError::ParentTooOld {
                url: url.to_owned(),
                parent: older_parent(status.message()).unwrap_or(1),
            }
        }
        tonic::Code::PermissionDenied | tonic::Code::Unauthenticated => SyncError::Parent(format!(
            "{}: {}",
            code_name(status.code()),
            status.message()
        )),
        tonic::Code::Cancelled
        | tonic::Code::DeadlineExceeded
        | tonic::Code::Aborted
        | tonic::Code::Internal => SyncError::Link(text),
        _ => SyncError::Parent(format!(
            "{}: {}",
            code_name(status.code()),
            status.message()
        )),
    }
}

/// The protocol of a parent that refused our Hello as too new, from its
/// refusal ("protocol 2 is not spoken here (this node speaks 1)", the words
/// of protocol 1), if that is what it says and it speaks an older one.
fn older_parent(message: &str) -> Option<u32> {
    const SPEAKS: &str = "is not spoken here (this node speaks ";
    let at = message.find(SPEAKS)? + SPEAKS.len();
    let spoken: u32 = message[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .ok()?;
    (spoken < PROTOCOL_VERSION).then_some(spoken)
}

/// With TLS 1.3 a refused client certificate surfaces at the first request,
/// and sometimes only as the connection closing before any answer: on an
/// `https` link, that is reported as the probable refusal it is.
fn refusal_before_answer(url: &str, e: SyncError) -> SyncError {
    let closed = |r: &str| {
        let r = r.to_ascii_lowercase();
        [
            "connection closed",
            "canceled",
            "cancelled",
            "broken pipe",
            "reset",
            "unexpected eof",
        ]
        .iter()
        .any(|k| r.contains(k))
    };
    match e {
        SyncError::Link(reason) | SyncError::Unreachable { reason, .. }
            if url.starts_with("https://") && closed(&reason) =>
        {
            SyncError::CertificateRefused {
                url: url.to_owned(),
                reason: format!(
                    "the parent closed the connection before answering, most likely refusing our certificate ({reason})"
                ),
            }
        }
        e => e,
    }
}

fn code_name(code: tonic::Code) -> &'static str {
    match code {
        tonic::Code::PermissionDenied => "permission denied",
        tonic::Code::Unauthenticated => "unauthenticated",
        tonic::Code::InvalidArgument => "invalid argument",
        tonic::Code::FailedPrecondition => "failed precondition",
        tonic::Code::ResourceExhausted => "resource exhausted",
        tonic::Code::DataLoss => "data loss",
        _ => "error",
    }
}

/// An open connection to the parent: its URL and client.
pub type Upstream = (String, SyncClient<Channel>);

/// Opens a channel to the node's parent.
pub async fn connect(node: &Node) -> Result<Upstream, SyncError> {
    let url = node
        .config()
        .upstream
        .clone()
        .ok_or(SyncError::NoUpstream)?;
    let endpoint = Endpoint::from_shared(url.clone())
        .map_err(|e| SyncError::Unreachable {
            url: url.clone(),
            reason: e.to_string(),
        })?
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(20));
    let tls = crate::tls::client_endpoint(node, endpoint).map_err(|e| SyncError::Unreachable {
        url: url.clone(),
        reason: e.to_string(),
    })?;
    let channel = tls
        .endpoint
        .connect()
        .await
        .map_err(|e| connect_error(&url, &tls.refusal, &e))?;
    Ok(upstream(url, channel))
}

/// Why connecting to the parent failed: the parent check's refusal (a
/// server that is not our parent), an untrusted certificate, or the network.
fn connect_error(
    url: &str,
    refusal: &crate::tls::ParentRefusal,
    e: &tonic::transport::Error,
) -> SyncError {
    if let Some(reason) = refusal.take() {
        return SyncError::WrongParent {
            url: url.to_owned(),
            reason,
        };
    }
    let reason = error_chain(e);
    if reason.contains("invalid peer certificate") {
        SyncError::Unreachable {
            url: url.to_owned(),
            reason: format!(
                "we do not trust the parent's certificate (check ca.pem and the URL's host): {reason}"
            ),
        }
    } else {
        SyncError::Unreachable {
            url: url.to_owned(),
            reason,
        }
    }
}

/// A client on `channel` with this node's message limits.
pub fn upstream(url: String, channel: Channel) -> Upstream {
    let client = SyncClient::new(channel)
        .max_decoding_message_size(MESSAGE_BYTES_MAX)
        .max_encoding_message_size(MESSAGE_BYTES_MAX);
    (url, client)
}

/// An error with its sources, on one line.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let t = s.to_string();
        if !text.contains(&t) {
            text.push_str(": ");
            text.push_str(&t);
        }
        source = s.source();
    }
    text
}

/// Fills the next batch from the store, within the count and byte limits,
/// in runs that end at a checkpoint ([`outbound`]).
fn build_batch(node: &Node, session: &mut ChildSession) -> Result<Option<pb::Batch>, SyncError> {
    let Some(batch_no) = session.begin_batch() else {
        return Ok(None);
    };
    let mut contents = codec::Contents::default();
    let mut bytes = 0usize;
    while let Some(range) = session.next_range().cloned() {
        if contents.checkpoints.len() >= BATCH_CHECKPOINTS_MAX {
            break;
        }
        let room = outbound::Room {
            changes: BATCH_CHANGES_MAX - contents.changes.len(),
            bytes: BATCH_BYTES_MAX.saturating_sub(bytes),
            empty: contents.changes.is_empty(),
        };
        let run = outbound::next_run(node, &range.origin, range.from, range.to, room)
            .map_err(crate::error::Error::from)?;
        // Nothing fits, or the store no longer holds what the plan says:
        // stop this batch.
        let Some(run) = run else {
            break;
        };
        bytes += run.size();
        session.consumed(&range.origin, run.upto);
        contents.changes.extend(run.changes);
        contents.checkpoints.extend(run.checkpoint);
        if run.upto != range.to {
            break;
        }
    }
    session.end_batch();
    if contents.changes.is_empty() {
        return Ok(None);
    }
    let batch = codec::encode_batch(batch_no, contents).map_err(|e| SyncError::Link(e.0))?;
    session.add_wire_bytes(batch.zstd.len());
    Ok(Some(batch))
}

/// The parent's next message, within [`SESSION_IDLE_TIMEOUT`].
async fn next_message(
    url: &str,
    inbound: &mut tonic::Streaming<pb::ParentMessage>,
) -> Result<Option<pb::parent_message::Kind>, SyncError> {
    match tokio::time::timeout(SESSION_IDLE_TIMEOUT, inbound.message()).await {
        Err(_) => Err(SyncError::Link(format!(
            "no answer from the parent for {}s",
            SESSION_IDLE_TIMEOUT.as_secs()
        ))),
        Ok(Err(status)) => Err(status_error(url, &status)),
        Ok(Ok(None)) => Err(SyncError::Link("the parent closed the stream".into())),
        Ok(Ok(Some(m))) => Ok(m.kind),
    }
}

/// Opens a session: says Hello on `tx` and returns the parent's stream with
/// its vector, which comes first. Every wait is bounded; over TLS, a parent
/// that closes the connection before answering is refusing our certificate
/// (TLS 1.3 shows the refusal only now).
async fn open_session(
    node: &Node,
    url: &str,
    client: &mut SyncClient<Channel>,
    tx: &mpsc::Sender<pb::ChildMessage>,
    rx: mpsc::Receiver<pb::ChildMessage>,
) -> Result<(tonic::Streaming<pb::ParentMessage>, ParentVector), SyncError> {
    let hello = codec::encode_hello(
        PROTOCOL_VERSION,
        node.code(),
        &node.incarnation(),
        node.bulletins_held(),
    );
    // The channel is new: the Hello never waits for room.
    tx.send(pb::ChildMessage {
        kind: Some(pb::child_message::Kind::Hello(hello)),
    })
    .await
    .map_err(|_| SyncError::Link("the stream to the parent closed".into()))?;
    let first = async {
        let mut inbound = tokio::time::timeout(
            SESSION_IDLE_TIMEOUT,
            client.session(ReceiverStream::new(rx)),
        )
        .await
        .map_err(|_| SyncError::Link("the parent did not answer the session".into()))?
        .map_err(|s| status_error(url, &s))?
        .into_inner();
        let first = next_message(url, &mut inbound).await?;
        Ok::<_, SyncError>((inbound, first))
    };
    let (inbound, first) = first.await.map_err(|e| refusal_before_answer(url, e))?;
    let Some(pb::parent_message::Kind::Vector(mut vector)) = first else {
        return Err(ProtocolError::Unexpected("a message other than the vector first").into());
    };
    if vector.protocol < PROTOCOL_VERSION {
        return Err(SyncError::ParentTooOld {
            url: url.to_owned(),
            parent: vector.protocol.max(1),
        });
    }
    // The bulletins we lack, before anything else: a refused one is said
    // (and kept out), and the session goes on: the upward flow does not
    // wait on what comes down.
    let bulletins = std::mem::take(&mut vector.bulletins);
    if !bulletins.is_empty() {
        match super::blocking(|| node.receive_bulletins(&bulletins)) {
            Ok(n) if n > 0 => {
                info!(
                    new = n,
                    held = node.bulletins_held(),
                    "bulletins received from the parent"
                )
            }
            Ok(_) => {}
            Err(refused) => {
                warn!(parent = url, error = %refused, "a bulletin from the parent was refused")
            }
        }
    }
    Ok((inbound, codec::decode_vector(vector)))
}

/// One session with the parent: sends everything above its vector, and
/// returns when the parent acked all of it (or held some back). Lost-tail
/// findings mark the node so it refuses writes.
#[instrument(skip_all, fields(org = %node.code()))]
pub async fn run_session(
    node: Arc<Node>,
    url: &str,
    mut client: SyncClient<Channel>,
) -> Result<Outcome, SyncError> {
    let (tx, rx) = mpsc::channel::<pb::ChildMessage>(WINDOW_BATCHES + 2);
    // Every wait on the network is bounded: a held or dead link must end
    // the session, never hang it.
    let send = |tx: &mpsc::Sender<pb::ChildMessage>, kind: pb::child_message::Kind| {
        let tx = tx.clone();
        async move {
            match tokio::time::timeout(
                SESSION_IDLE_TIMEOUT,
                tx.send(pb::ChildMessage { kind: Some(kind) }),
            )
            .await
            {
                Ok(Ok(())) => Ok(()),
                Ok(Err(_)) => Err(SyncError::Link("the stream to the parent closed".into())),
                Err(_) => Err(SyncError::Link(format!(
                    "the parent took nothing for {}s",
                    SESSION_IDLE_TIMEOUT.as_secs()
                ))),
            }
        }
    };
    let (mut inbound, parent) = open_session(&node, url, &mut client, &tx, rx).await?;
    // A log written before signatures, or while the certificate was
    // unusable, or under a replaced certificate, gets a checkpoint at its
    // head, so that it can be forwarded. If the node cannot sign, the rest
    // still flows and the session says what is left.
    let unsigned_reason = super::blocking(|| node.sign_own_head())
        .err()
        .map(|e| e.to_string());
    if let Some(reason) = &unsigned_reason {
        warn!(%reason, "cannot sign this node's own changes; they are not sent");
    }
    let sendable = node.sendable_heads();
    let unsigned: u64 = node
        .heads_by_code()
        .iter()
        .map(|(o, (seq, _))| seq - sendable.get(o).map_or(0, |s| s.0))
        .sum();
    let mut session = ChildSession::new(node.code(), sendable, WINDOW_BATCHES);
    debug!(origins = parent.entries.len(), "parent vector received");
    session.on_vector(parent, |o, s| node.hash_at(o, s))?;
    // Our own log disagrees with the parent's copy: refuse writes until
    // restored, and keep forwarding the other origins (the session sends
    // nothing more of ours).
    if let Some((parent_seq, _)) = session.lost_tail() {
        node.mark_lost_tail(parent_seq)?;
    }
    if let Some(seq) = session.own_fork() {
        node.mark_forked(seq)?;
    }

    loop {
        // Fill the window, within the session's budget.
        let within_budget =
            |s: &ChildSession| s.outcome_sent() + BATCH_CHANGES_MAX as u64 <= SESSION_CHANGES_MAX;
        while session.in_flight() < WINDOW_BATCHES && within_budget(&session) {
            let Some(batch) = super::blocking(|| build_batch(&node, &mut session))? else {
                break;
            };
            send(&tx, pb::child_message::Kind::Batch(batch)).await?;
        }
        if session.is_done() {
            break;
        }
        if session.in_flight() == 0 && !within_budget(&session) {
            session.mark_truncated();
            break;
        }
        match next_message(url, &mut inbound).await? {
            Some(pb::parent_message::Kind::Ack(ack)) => session.on_ack(codec::decode_ack(ack))?,
            _ => return Err(ProtocolError::Unexpected("a message other than an ack").into()),
        }
    }
    let pending = session.outcome().pending;
    send(&tx, pb::child_message::Kind::Done(pb::Done { pending })).await?;
    drop(tx);
    // Let the parent close its side cleanly (ignore what it says now).
    let _ = tokio::time::timeout(Duration::from_secs(5), inbound.message()).await;
    let mut outcome = session.outcome();
    outcome.unsigned = unsigned;
    outcome.unsigned_reason = unsigned_reason;
    for h in &outcome.held {
        warn!(origin = %h.0, seq = h.1, reason = %h.2, "the parent holds changes back");
    }
    info!(
        sent = outcome.sent,
        applied = outcome.applied,
        skipped = outcome.skipped,
        pending = outcome.pending,
        "sync session ended"
    );
    Ok(outcome)
}

/// Streams a restore of `node`'s subtree from the parent — every change
/// above `from`, or with `only`, every change of those origins — and hands
/// each batch's changes to `each`. Returns the number of batches.
pub async fn restore_stream(
    node: &Node,
    url: &str,
    client: &mut SyncClient<Channel>,
    from: &BTreeMap<String, (u64, Hash)>,
    only: Vec<String>,
    mut each: impl FnMut(codec::Contents) -> Result<(), SyncError>,
) -> Result<u64, SyncError> {
    let request = codec::encode_restore_request(node.code(), from, only);
    let mut stream = tokio::time::timeout(SESSION_IDLE_TIMEOUT, client.restore(request))
        .await
        .map_err(|_| SyncError::Link("the parent did not answer the restore".into()))?
        .map_err(|s| status_error(url, &s))?
        .into_inner();
    let mut batches = 0;
    loop {
        let batch = match tokio::time::timeout(SESSION_IDLE_TIMEOUT, stream.message()).await {
            Err(_) => return Err(SyncError::Link("the parent stopped sending".into())),
            Ok(Err(s)) => return Err(status_error(url, &s)),
            Ok(Ok(None)) => return Ok(batches),
            Ok(Ok(Some(b))) => b,
        };
        batches += 1;
        let contents = codec::decode_batch(&batch).map_err(|e| SyncError::Parent(e.0))?;
        each(contents)?;
    }
}

/// The parent's vector for our subtree: a session that says Hello, reads the
/// vector, and ends at once.
pub async fn probe_vector(
    node: &Node,
    url: &str,
    client: &mut SyncClient<Channel>,
) -> Result<ParentVector, SyncError> {
    let (tx, rx) = mpsc::channel::<pb::ChildMessage>(2);
    let (mut inbound, parent) = open_session(node, url, client, &tx, rx).await?;
    let pending = node
        .heads_by_code()
        .iter()
        .map(|(o, (seq, _))| seq.saturating_sub(parent.entries.get(o).map_or(0, |e| e.0)))
        .sum();
    let _ = tx
        .send(pb::ChildMessage {
            kind: Some(pb::child_message::Kind::Done(pb::Done { pending })),
        })
        .await;
    drop(tx);
    let _ = tokio::time::timeout(Duration::from_secs(5), inbound.message()).await;
    Ok(parent)
}
