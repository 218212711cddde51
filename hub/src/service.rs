//! The children-facing sync service: `Sync.Session` and `Sync.Restore`.
//!
//! A session: identify the child (its certificate, or with `--insecure` its
//! Hello), check it is one of our direct children, answer with our vector for
//! its subtree, then for each batch: decompress and verify (every origin in
//! the child's subtree, every hash intact), place against our heads, append
//! durably, and only then ack. Batches that arrived together are appended
//! together (one flush for the group). A batch with a link or peer fault is
//! refused whole and ends the session; nothing of it is written.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use lunxun_node::codec::{self, BATCH_BYTES_MAX, BATCH_CHANGES_MAX};
use lunxun_node::ingest::{self, Placed};
use lunxun_node::node::{Node, now_ms};
use lunxun_node::orgs::OrgId;
use lunxun_node::sync::blocking;
use lunxun_node::sync::children::{ChildState, count_unidentified_refusal};
use lunxun_node::sync::client::{MESSAGE_BYTES_MAX, PROTOCOL_VERSION, SESSION_IDLE_TIMEOUT};
use lunxun_proto::v1 as pb;
use lunxun_proto::v1::sync_server::{Sync, SyncServer};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};
use tracing::{Instrument, info, info_span, warn};

use crate::identity::{Gate, Identity, peer_chain};

/// Batches that arrived together and are appended with one flush, at most.
pub const GROUP_BATCHES_MAX: usize = 16;
/// Parent messages buffered towards a slow child.
const OUTBOUND_MAX: usize = 32;

/// Concurrent sessions (sync or restore) of one child, at most: a stolen or
/// broken child cannot tie up the parent.
pub const CHILD_SESSIONS_MAX: usize = 2;
/// Concurrent sessions of all children, at most.
pub const SESSIONS_MAX: usize = 512;
/// Changes one session may carry; a child with more continues in the next
/// session (it stops at the same count on its side).
pub const SESSION_CHANGES_MAX: u64 = lunxun_node::sync::client::SESSION_CHANGES_MAX;

/// The service, shared by every session.
#[derive(Clone)]
pub struct SyncService {
    node: Arc<Node>,
    gate: Arc<Gate>,
    sessions: Arc<Mutex<HashMap<OrgId, usize>>>,
}

/// A session slot of a child, released when the session ends.
struct Slot {
    sessions: Arc<Mutex<HashMap<OrgId, usize>>>,
    child: OrgId,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut s = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = s.get_mut(&self.child) {
            *n -= 1;
            if *n == 0 {
                s.remove(&self.child);
            }
        }
    }
}

impl SyncService {
    pub fn new(node: Arc<Node>, identity: Identity) -> SyncService {
        SyncService {
            gate: Arc::new(Gate::new(node.clone(), identity)),
            node,
            sessions: Arc::default(),
        }
    }

    /// The tonic service with this node's message limits.
    pub fn into_server(self) -> SyncServer<SyncService> {
        SyncServer::new(self)
            .max_decoding_message_size(MESSAGE_BYTES_MAX)
            .max_encoding_message_size(MESSAGE_BYTES_MAX)
    }

    /// Which child is talking — checked to be one of our direct children and
    /// not revoked — and a session slot for it.
    fn admit(
        &self,
        chain: Option<Vec<Vec<u8>>>,
        claimed: &str,
        peer: Option<SocketAddr>,
    ) -> Result<(OrgId, Slot), Status> {
        let refuse_unidentified = |(status, reason): (Status, &'static str)| {
            warn!(claimed, peer = ?peer, reason, error = %status.message(), "peer refused");
            count_unidentified_refusal(&self.node, reason);
            status
        };
        let code = self
            .gate
            .peer_org(chain, claimed)
            .map_err(refuse_unidentified)?;
        let orgs = self.node.orgs();
        let child = orgs.get(&code).ok_or_else(|| {
            refuse_unidentified((
                Status::permission_denied(format!("org {code} is not in our org directory")),
                "not-a-child",
            ))
        })?;
        if orgs.parent(child) != Some(self.node.me()) {
            return Err(refuse_unidentified((
                Status::permission_denied(format!(
                    "{code} is not a direct child of {}",
                    self.node.code()
                )),
                "not-a-child",
            )));
        }
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let total: usize = sessions.values().sum();
        let mine = sessions.get(&child).copied().unwrap_or(0);
        if mine >= CHILD_SESSIONS_MAX || total >= SESSIONS_MAX {
            drop(sessions);
            let status = Status::resource_exhausted(format!(
                "{code} already has {mine} sessions open (at most {CHILD_SESSIONS_MAX})"
            ));
            return Err(self.refuse(&code, peer, "too-many-sessions", status));
        }
        *sessions.entry(child).or_default() += 1;
        Ok((
            child,
            Slot {
                sessions: self.sessions.clone(),
                child,
            },
        ))
    }

    fn refuse(
        &self,
        child: &str,
        peer: Option<SocketAddr>,
        reason: &str,
        status: Status,
    ) -> Status {
        warn!(child, peer = ?peer, reason, error = %status.message(), "refused");
        let _ = ChildState::update(&self.node, child, |state| {
            state.count_refusal(reason, status.message())
        });
        status
    }
}

/// The reason a session that ended with `code` is counted under in the
/// child's refusals, or None when it ended for the link's sake (cancelled,
/// timed out) or ours (internal): those are not the child's doing.
fn refusal_reason(code: tonic::Code) -> Option<&'static str> {
    match code {
        // A change of an origin outside the child's subtree, or unknown.
        tonic::Code::PermissionDenied => Some("outside-subtree"),
        // A batch or change that does not decode or does not hash.
        tonic::Code::InvalidArgument => Some("malformed"),
        // A message above the size limit (tonic's own check), or more
        // changes than one session may carry.
        tonic::Code::OutOfRange | tonic::Code::ResourceExhausted => Some("limits"),
        _ => None,
    }
}

/// Our vector for the subtree of `child`.
fn vector(node: &Node, child: OrgId) -> pb::Vector {
    let view = node.view();
    let orgs = node.orgs();
    let entries = view
        .heads()
        .filter(|(org, _)| orgs.is_within(*org, child))
        .map(|(org, head)| pb::VectorEntry {
            origin: orgs.code(org).to_owned(),
            seq: head.seq,
            hash: Bytes::copy_from_slice(&head.hash),
        })
        .collect();
    pb::Vector {
        incarnation: Bytes::copy_from_slice(&node.incarnation()),
        entries,
    }
}

fn ack(batch_no: u64, placed: &Placed) -> pb::ParentMessage {
    pb::ParentMessage {
        kind: Some(pb::parent_message::Kind::Ack(pb::Ack {
            batch_no,
            applied: placed.applied,
            skipped: placed.skipped,
            quarantined: placed.quarantined(),
            entries: placed
                .touched
                .iter()
                .map(|(origin, (seq, hash))| pb::VectorEntry {
                    origin: origin.clone(),
                    seq: *seq,
                    hash: Bytes::copy_from_slice(hash),
                })
                .collect(),
            held: placed
                .held
                .iter()
                .map(|h| pb::Held {
                    origin: h.origin.clone(),
                    seq: h.seq,
                    reason: h.reason.to_string(),
                })
                .collect(),
        })),
    }
}

/// What a session did, for the child's record.
#[derive(Default)]
struct Tally {
    applied: u64,
    skipped: u64,
    held: bool,
}

/// What the receiving stage hands the applying stage.
enum Received {
    Batch(u64, Vec<ingest::Verified>),
    Done(u64),
}

/// Verified batches waiting to be applied, at most: bounds the memory a
/// fast child can make the parent hold, and lets verification of the next
/// batches overlap the durable append of the current ones.
const VERIFIED_QUEUE_MAX: usize = 8;

/// Receives batches until Done, verifying each as it arrives (stage 1), and
/// applies them in groups, acking each after its durable append (stage 2).
/// The stages run concurrently.
async fn session_loop(
    node: Arc<Node>,
    child: OrgId,
    inbound: Streaming<pb::ChildMessage>,
    outbound: mpsc::Sender<Result<pb::ParentMessage, Status>>,
    tally: &mut Tally,
) -> Result<Option<u64>, Status> {
    let (verified_tx, mut verified_rx) =
        mpsc::channel::<Result<Received, Status>>(VERIFIED_QUEUE_MAX);
    let receiver = tokio::spawn(receive_stage(node.clone(), child, inbound, verified_tx));
    let result = async {
        loop {
            let Some(first) = verified_rx.recv().await else {
                return Err(Status::cancelled("the session ended"));
            };
            // Group commit: apply together whatever is already verified.
            let mut group = vec![first];
            while group.len() < GROUP_BATCHES_MAX {
                match verified_rx.try_recv() {
                    Ok(item) => group.push(item),
                    Err(_) => break,
                }
            }
            let mut batches = Vec::new();
            let mut end = None;
            for item in group {
                match item {
                    Ok(Received::Batch(no, verified)) if end.is_none() => {
                        batches.push((no, verified))
                    }
                    Ok(Received::Done(pending)) => end = Some(Ok(Some(pending))),
                    Ok(Received::Batch(..)) => {}
                    Err(status) => {
                        end.get_or_insert(Err(status));
                    }
                }
            }
            if !batches.is_empty() {
                let numbers: Vec<u64> = batches.iter().map(|(n, _)| *n).collect();
                let placed =
                    blocking(|| node.ingest(batches.into_iter().map(|(_, v)| v).collect()))
                        .map_err(|e| Status::internal(format!("store: {e}")))?;
                for (no, p) in numbers.into_iter().zip(&placed) {
                    tally.applied += u64::from(p.applied);
                    tally.skipped += u64::from(p.skipped);
                    tally.held |= !p.held.is_empty();
                    match tokio::time::timeout(SESSION_IDLE_TIMEOUT, outbound.send(Ok(ack(no, p))))
                        .await
                    {
                        Ok(Ok(())) => {}
                        Ok(Err(_)) => return Err(Status::cancelled("the child went away")),
                        Err(_) => {
                            return Err(Status::deadline_exceeded(
                                "the child stopped reading acks",
                            ));
                        }
                    }
                }
            }
            if let Some(end) = end {
                return end;
            }
        }
    }
    .await;
    receiver.abort();
    result
}

/// Counts a batch of `count` changes (as it claims; decoding checks the
/// claim) against the session's budget of [`SESSION_CHANGES_MAX`], `used`
/// so far.
fn take_changes(used: &mut u64, count: u32) -> Result<(), Status> {
    let after = *used + u64::from(count);
    if after > SESSION_CHANGES_MAX {
        return Err(Status::resource_exhausted(format!(
            "more than {SESSION_CHANGES_MAX} changes in one session"
        )));
    }
    *used = after;
    Ok(())
}

/// Stage 1: reads the child's messages, decompresses and verifies each batch
/// (the CPU-heavy part), and passes it on. A refusal ends the stage: nothing
/// after it is read.
async fn receive_stage(
    node: Arc<Node>,
    child: OrgId,
    mut inbound: Streaming<pb::ChildMessage>,
    verified: mpsc::Sender<Result<Received, Status>>,
) {
    let mut changes: u64 = 0;
    loop {
        let item = match tokio::time::timeout(SESSION_IDLE_TIMEOUT, inbound.message()).await {
            Err(_) => Err(Status::deadline_exceeded(
                "the child sent nothing for too long",
            )),
            Ok(Err(status)) => Err(status),
            Ok(Ok(None)) => Err(Status::cancelled("the child closed the stream before Done")),
            Ok(Ok(Some(m))) => match m.kind {
                Some(pb::child_message::Kind::Batch(batch)) => {
                    take_changes(&mut changes, batch.count).and_then(|()| {
                        let orgs = node.orgs().clone();
                        blocking(|| {
                            let changes = codec::decode_batch(&batch)
                                .map_err(|e| Status::invalid_argument(e.0))?;
                            ingest::verify(&orgs, child, changes)
                                .map(|v| Received::Batch(batch.batch_no, v))
                                .map_err(|e| match e {
                                    ingest::Refusal::Outside { .. }
                                    | ingest::Refusal::UnknownOrigin { .. } => {
                                        Status::permission_denied(e.to_string())
                                    }
                                    _ => Status::invalid_argument(e.to_string()),
                                })
                        })
                    })
                }
                Some(pb::child_message::Kind::Done(d)) => Ok(Received::Done(d.pending)),
                Some(pb::child_message::Kind::Hello(_)) => {
                    Err(Status::invalid_argument("a second Hello"))
                }
                None => Err(Status::invalid_argument("an empty message")),
            },
        };
        let last = !matches!(item, Ok(Received::Batch(..)));
        if verified.send(item).await.is_err() || last {
            return;
        }
    }
}

#[tonic::async_trait]
impl Sync for SyncService {
    type SessionStream = ReceiverStream<Result<pb::ParentMessage, Status>>;
    type RestoreStream = ReceiverStream<Result<pb::Batch, Status>>;

    async fn session(
        &self,
        request: Request<Streaming<pb::ChildMessage>>,
    ) -> Result<Response<Self::SessionStream>, Status> {
        let peer = request.remote_addr();
        let chain = peer_chain(&request).filter(|c| !c.is_empty());
        let mut inbound = request.into_inner();
        // A certificate says who the peer is before it says anything: it is
        // admitted (authorization, revocation, its session slots) before
        // its Hello is awaited, so streams that never say Hello count
        // against its sessions too. Without one (--insecure), the Hello is
        // all there is to go by.
        let admitted = match chain {
            Some(chain) => Some(self.admit(Some(chain), "", peer)?),
            None => None,
        };
        let first = match tokio::time::timeout(SESSION_IDLE_TIMEOUT, inbound.message()).await {
            Ok(Ok(Some(pb::ChildMessage {
                kind: Some(pb::child_message::Kind::Hello(h)),
            }))) => Ok(h),
            Ok(Ok(Some(_))) => Err(Status::invalid_argument("a session starts with Hello")),
            Ok(Ok(None)) => Err(Status::cancelled(
                "the child closed the stream before its Hello",
            )),
            // Too large, or not a message at all.
            Ok(Err(status)) => Err(status),
            Err(_) => Err(Status::deadline_exceeded("the child sent no Hello")),
        };
        let hello = match (first, &admitted) {
            (Ok(hello), _) => hello,
            // A known child's fault is counted like any later refusal.
            (Err(status), Some((child, _))) => {
                return Err(match refusal_reason(status.code()) {
                    Some(reason) => {
                        let code = self.node.orgs().code(*child).to_owned();
                        self.refuse(&code, peer, reason, status)
                    }
                    None => status,
                });
            }
            (Err(status), None) => return Err(status),
        };
        let claimed = hello.org.chars().take(40).collect::<String>();
        let (child, slot) = match admitted {
            Some(admitted) => admitted,
            None => self.admit(None, &claimed, peer)?,
        };
        let code = self.node.orgs().code(child).to_owned();
        if !claimed.is_empty() && claimed != code {
            warn!(certified = %code, claimed, "peer claims another org than its certificate; using the certificate");
        }
        if hello.protocol != PROTOCOL_VERSION {
            return Err(self.refuse(
                &code,
                peer,
                "protocol",
                Status::failed_precondition(format!(
                    "protocol {} is not spoken here (this node speaks {PROTOCOL_VERSION})",
                    hello.protocol
                )),
            ));
        }
        let (tx, rx) = mpsc::channel(OUTBOUND_MAX);
        let node = self.node.clone();
        let vector = blocking(|| vector(&node, child));
        let _ = tx
            .send(Ok(pb::ParentMessage {
                kind: Some(pb::parent_message::Kind::Vector(vector)),
            }))
            .await;
        let span = info_span!("child session", child = %code, peer = ?peer);
        tokio::spawn(
            async move {
                let _slot = slot;
                let started = now_ms();
                let mut tally = Tally::default();
                let result =
                    session_loop(node.clone(), child, inbound, tx.clone(), &mut tally).await;
                let failure = result
                    .as_ref()
                    .err()
                    .map(|s| (s.code(), s.message().to_owned()));
                let _ = ChildState::update(&node, &code, |state| {
                    state.sessions += 1;
                    state.last_session = Some(started);
                    state.peer = peer.map(|p| p.to_string());
                    state.applied += tally.applied;
                    state.skipped += tally.skipped;
                    match (&result, &failure) {
                        (Ok(pending), _) => {
                            state.pending = *pending;
                            if *pending == Some(0) && !tally.held {
                                state.last_success = Some(now_ms());
                                state.last_error = None;
                            } else if tally.held {
                                state.last_error =
                                    Some("some origins are held back (see HELD in status)".into());
                            }
                        }
                        (Err(_), Some((code, message))) => {
                            if let Some(reason) = refusal_reason(*code) {
                                state.count_refusal(reason, message);
                            }
                            state.last_error = Some(message.clone());
                        }
                        (Err(_), None) => {}
                    }
                });
                match result {
                    Ok(pending) => info!(
                        applied = tally.applied,
                        skipped = tally.skipped,
                        ?pending,
                        "session ended"
                    ),
                    Err(status) => {
                        warn!(error = %status.message(), applied = tally.applied, "session failed");
                        let _ = tx.send(Err(status)).await;
                    }
                }
            }
            .instrument(span),
        );
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn restore(
        &self,
        request: Request<pb::RestoreRequest>,
    ) -> Result<Response<Self::RestoreStream>, Status> {
        let peer = request.remote_addr();
        let claimed = request.get_ref().org.chars().take(40).collect::<String>();
        let (child, slot) = self.admit(peer_chain(&request), &claimed, peer)?;
        let request = request.into_inner();
        let only: std::collections::BTreeSet<String> = request.only.into_iter().collect();
        let from: BTreeMap<String, u64> = request
            .from
            .into_iter()
            .map(|e| (e.origin, e.seq))
            .collect();
        let node = self.node.clone();
        let (tx, rx) = mpsc::channel(4);
        let code = node.orgs().code(child).to_owned();
        info!(child = %code, "restore requested");
        tokio::spawn(async move {
            let _slot = slot;
            let origins: Vec<(String, u64)> = {
                let view = node.view();
                view.heads()
                    .filter(|(o, _)| node.orgs().is_within(*o, child))
                    .map(|(o, h)| (node.orgs().code(o).to_owned(), h.seq))
                    .filter(|(code, _)| only.is_empty() || only.contains(code))
                    .collect()
            };
            let mut batch_no = 0;
            let mut changes: Vec<Bytes> = Vec::new();
            let mut bytes = 0usize;
            for (origin, head) in origins {
                let start = from.get(&origin).copied().unwrap_or(0);
                if start >= head {
                    continue;
                }
                for entry in node.store().scan(&origin, start) {
                    let entry = match entry {
                        Ok(e) => e,
                        Err(e) => {
                            let _ = tx.send(Err(Status::internal(e.to_string()))).await;
                            return;
                        }
                    };
                    if changes.len() >= BATCH_CHANGES_MAX
                        || bytes + entry.change.len() + 8 > BATCH_BYTES_MAX
                    {
                        batch_no += 1;
                        let batch = codec::encode_batch(batch_no, std::mem::take(&mut changes));
                        bytes = 0;
                        if tx
                            .send(batch.map_err(|e| Status::internal(e.0)))
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                    bytes += entry.change.len() + 8;
                    changes.push(entry.change);
                }
            }
            if !changes.is_empty() {
                batch_no += 1;
                let _ = tx
                    .send(codec::encode_batch(batch_no, changes).map_err(|e| Status::internal(e.0)))
                    .await;
            }
            info!(child = %code, batches = batch_no, "restore sent");
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_carries_at_most_session_changes_max_changes() {
        let batch = codec::BATCH_CHANGES_MAX as u32;
        let mut used = 0;
        let full = SESSION_CHANGES_MAX / u64::from(batch);
        for _ in 0..full {
            take_changes(&mut used, batch).unwrap();
        }
        let room = (SESSION_CHANGES_MAX - used) as u32;
        assert!(room < batch);
        // One more full batch does not fit; what is left does, exactly.
        let refused = take_changes(&mut used, batch).unwrap_err();
        assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
        assert!(refused.message().contains("2000000 changes in one session"));
        take_changes(&mut used, room).unwrap();
        assert_eq!(used, SESSION_CHANGES_MAX);
        assert!(take_changes(&mut used, 1).is_err());
        take_changes(&mut used, 0).unwrap();
        // A claim of u32::MAX cannot overflow the count.
        assert!(take_changes(&mut 0, u32::MAX).is_err());
    }

    #[test]
    fn refusals_are_the_childs_faults_only() {
        assert_eq!(
            refusal_reason(tonic::Code::PermissionDenied),
            Some("outside-subtree")
        );
        assert_eq!(
            refusal_reason(tonic::Code::InvalidArgument),
            Some("malformed")
        );
        assert_eq!(refusal_reason(tonic::Code::OutOfRange), Some("limits"));
        assert_eq!(
            refusal_reason(tonic::Code::ResourceExhausted),
            Some("limits")
        );
        for link in [
            tonic::Code::Cancelled,
            tonic::Code::DeadlineExceeded,
            tonic::Code::Internal,
            tonic::Code::Unknown,
        ] {
            assert_eq!(refusal_reason(link), None, "{link:?}");
        }
    }
}
