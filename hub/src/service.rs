//! The children-facing sync service: `Sync.Session`, `Sync.Restore` and
//! `Sync.Trainings` (whose answer is [`crate::returns`]'s).
//!
//! A session: identify the child (its certificate, or with `--insecure` its
//! Hello), check it is one of our direct children and has a session slot,
//! answer with our vector for its subtree, then for each batch: decompress
//! and verify (every origin in the child's subtree, every hash intact), place
//! against our heads, append durably, and only then ack. A batch with a link
//! or peer fault is refused whole and ends the session; nothing of it is
//! written.
//!
//! This module only moves bytes between the tonic streams, the node's store
//! ([`Node::ingest`]) and the parent's session machine
//! ([`lunxun_core::session::parent`]), which decides the admissions, the
//! change budget, which batches are appended together, when each is acked,
//! and what the child's record says at the end. Errors become a
//! `tonic::Status` in [`crate::error`]. Every session and restore stops when
//! the server shuts down.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use lunxun_core::session::parent::{
    Ack, Admissions, Busy, ChangeBudget, HELD_MESSAGE, Outcome, ParentSession, Verdict,
};
use lunxun_node::codec;
use lunxun_node::config::Revoked;
use lunxun_node::ingest::{self, Checked, HeldReason, Refusal, Unknown};
use lunxun_node::node::{Node, now_ms};
use lunxun_node::orgs::OrgId;
use lunxun_node::store::Hold;
use lunxun_node::sync::blocking;
use lunxun_node::sync::children::{ChildState, count_unidentified_refusal};
use lunxun_node::sync::client::{
    MESSAGE_BYTES_MAX, PROTOCOL_OLDEST_SERVED, PROTOCOL_VERSION, SESSION_IDLE_TIMEOUT,
};
use lunxun_node::sync::outbound;
use lunxun_proto::v1 as pb;
use lunxun_proto::v1::sync_server::{Sync, SyncServer};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};
use tracing::{Instrument, info, info_span, warn};

use crate::error::Error;
use crate::identity::{Gate, Identity, peer_chain};
use crate::quota::{Quotas, SessionQuota};

pub use lunxun_core::session::parent::{CHILD_SESSIONS_MAX, GROUP_BATCHES_MAX, SESSIONS_MAX};

/// Changes one session may carry; a child with more continues in the next
/// session (it stops at the same count on its side).
pub const SESSION_CHANGES_MAX: u64 = lunxun_node::sync::client::SESSION_CHANGES_MAX;
/// Parent messages buffered towards a slow child.
const OUTBOUND_MAX: usize = 32;
/// Verified batches waiting to be applied, at most: bounds the memory a
/// fast child can make the parent hold, and lets verification of the next
/// batches overlap the durable append of the current ones.
const VERIFIED_QUEUE_MAX: usize = 8;
/// Restore batches buffered towards the child.
const RESTORE_OUTBOUND_MAX: usize = 4;

/// The service, shared by every session.
#[derive(Clone)]
pub struct SyncService {
    node: Arc<Node>,
    gate: Arc<Gate>,
    /// The session slots taken, per child and in all.
    admissions: Arc<Mutex<Admissions>>,
    /// Every child's quotas.
    quotas: Arc<Quotas>,
    /// Turns true when the server shuts down: every session and restore stops.
    shutdown: watch::Receiver<bool>,
}

/// A session slot of a child, given back when the session ends.
struct Slot {
    admissions: Arc<Mutex<Admissions>>,
    child: OrgId,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut a = self.admissions.lock().unwrap_or_else(|p| p.into_inner());
        a.release(self.child);
    }
}

/// Resolves when the server shuts down; never, if nothing can say so any more.
async fn stopped(mut shutdown: watch::Receiver<bool>) {
    if shutdown.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}

impl SyncService {
    /// The service of `node`; it runs until [`SyncService::with_shutdown`]'s
    /// signal, if given one.
    pub fn new(node: Arc<Node>, identity: Identity) -> SyncService {
        SyncService {
            gate: Arc::new(Gate::new(node.clone(), identity)),
            quotas: Arc::new(Quotas::new(node.clone())),
            node,
            admissions: Arc::default(),
            shutdown: watch::channel(false).1,
        }
    }

    /// Stops every session and restore when `shutdown` turns true (the
    /// daemon's signal, [`lunxun_node::daemon::Daemon::shutdown`]).
    pub fn with_shutdown(mut self, shutdown: watch::Receiver<bool>) -> SyncService {
        self.shutdown = shutdown;
        self
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
        let refuse_unidentified = |e: Error| -> Status {
            let reason = e.reason().unwrap_or("other");
            warn!(claimed, peer = ?peer, reason, error = %e, "peer refused");
            count_unidentified_refusal(&self.node, reason);
            e.into()
        };
        let code = self
            .gate
            .peer_org(chain, claimed)
            .map_err(refuse_unidentified)?;
        let orgs = self.node.orgs();
        let child = orgs
            .get(&code)
            .ok_or_else(|| refuse_unidentified(Error::UnknownOrg { code: code.clone() }))?;
        if orgs.parent(child) != Some(self.node.me()) {
            return Err(refuse_unidentified(Error::NotAChild {
                code,
                parent: self.node.code().to_owned(),
            }));
        }
        let admitted = self
            .admissions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .admit(child);
        if let Err(Busy { open }) = admitted {
            let refused = Error::TooManySessions {
                code: code.clone(),
                open,
            };
            return Err(self.refuse(&code, peer, refused));
        }
        let admissions = self.admissions.clone();
        Ok((child, Slot { admissions, child }))
    }

    /// Refuses a known child: a fault of its own is logged and counted in
    /// its record.
    fn refuse(&self, child: &str, peer: Option<SocketAddr>, error: Error) -> Status {
        if let Some(reason) = error.reason() {
            warn!(child, peer = ?peer, reason, error = %error, "refused");
            let message = error.to_string();
            let _ = ChildState::update(&self.node, child, |state| {
                state.count_refusal(reason, &message)
            });
        }
        error.into()
    }
}

/// Our vector for the subtree of `child`.
/// The session's first message: our vector for the child's subtree and,
/// for a child of protocol 2, our protocol and the bulletins it lacks.
fn vector(node: &Node, child: OrgId, hello: &pb::Hello) -> pb::ParentMessage {
    let mut message = {
        let view = node.view();
        let orgs = node.orgs();
        let heads = view
            .heads()
            .filter(|(org, _)| orgs.is_within(*org, child))
            .map(|(org, head)| (orgs.code(org), head.seq, &head.hash));
        codec::vector(&node.incarnation(), heads)
    };
    if hello.protocol >= 2
        && let Some(pb::parent_message::Kind::Vector(v)) = &mut message.kind
    {
        v.protocol = PROTOCOL_VERSION;
        match node.bulletins_above(hello.bulletins) {
            Ok(bulletins) => v.bulletins = bulletins,
            // The upward flow does not wait on what comes down.
            Err(e) => warn!(error = %e, "cannot read the bulletins to hand down"),
        }
    }
    message
}

/// What the receiving stage hands the applying stage.
enum Received {
    Batch(u64, Checked, Unknown),
    Done(u64),
    /// The input ended with a refusal or a broken stream.
    Ended(Error),
}

/// Aborts the receiving stage when the session is dropped.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn take(machine: &mut ParentSession<Error>, item: Received) {
    match item {
        Received::Batch(no, verified, unknown) => {
            machine.on_batch_holding(no, verified, unknown);
        }
        Received::Done(pending) => machine.on_done(pending),
        Received::Ended(e) => machine.on_refusal(e),
    }
}

/// Receives batches until Done, verifying each as it arrives (stage 1), and
/// appends the groups the machine makes, sending each ack it emits after the
/// durable append (stage 2). The stages run concurrently.
async fn drive(
    node: &Arc<Node>,
    child: OrgId,
    revoked: &Arc<Revoked>,
    inbound: Streaming<pb::ChildMessage>,
    outbound: &mpsc::Sender<Result<pb::ParentMessage, Status>>,
    machine: &mut ParentSession<Error>,
    quota: Arc<SessionQuota>,
) {
    let (verified_tx, mut verified_rx) = mpsc::channel(VERIFIED_QUEUE_MAX);
    let receiver = tokio::spawn(receive_stage(
        node.clone(),
        child,
        revoked.clone(),
        inbound,
        verified_tx,
        quota.clone(),
    ));
    let _receiver = AbortOnDrop(receiver.abort_handle());
    while !machine.is_finished() {
        if let Some(group) = machine.next_group() {
            let reserved = crate::quota::amount(&group.batches);
            let ingested = blocking(|| {
                node.ingest_with(group.batches, |placed| quota.settle(reserved, placed))
            });
            let placed = match ingested {
                Ok(placed) => placed,
                Err(e) => return machine.fail(Error::Store(e)),
            };
            if placed.iter().all(|p| p.applied == 0) {
                quota.release(reserved);
            }
            let acks = machine.on_durable(placed);
            if let Err(e) = blocking(|| record_unknown_holds(node, &acks)) {
                return machine.fail(Error::Store(e));
            }
            for ack in acks {
                let sent = outbound.send(Ok(codec::ack(&ack)));
                match tokio::time::timeout(SESSION_IDLE_TIMEOUT, sent).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => return machine.fail(Error::Gone),
                    Err(_) => return machine.fail(Error::AcksUnread),
                }
            }
            if let Err(e) = quota.check_roster() {
                return machine.fail(Error::Quota(e));
            }
            continue;
        }
        // Group commit: the next verified batch, and whatever else is
        // already verified.
        let Some(first) = verified_rx.recv().await else {
            return machine.fail(Error::Ended);
        };
        take(machine, first);
        while machine.wants_input() {
            match verified_rx.try_recv() {
                Ok(item) => take(machine, item),
                Err(_) => break,
            }
        }
    }
}

/// Records the unknown origins the acks hold back, for `status` (the
/// node's append records the other holds).
fn record_unknown_holds(node: &Node, acks: &[Ack]) -> lunxun_node::error::Result<()> {
    let unknown = acks
        .iter()
        .flat_map(|a| &a.placed.held)
        .filter(|h| h.reason == HeldReason::UnknownOrigin);
    for h in unknown {
        node.store().set_hold(&Hold {
            origin: h.origin.clone(),
            seq: h.seq,
            reason: h.reason.to_string(),
            at_ms: now_ms(),
        })?;
        warn!(origin = %h.origin, seq = h.seq, reason = %h.reason, "changes held back");
    }
    Ok(())
}

/// Decodes and verifies one batch from `child`.
fn verify(node: &Node, child: OrgId, revoked: &Revoked, batch: &pb::Batch) -> Received {
    let contents = match codec::decode_batch(batch) {
        Ok(contents) => contents,
        Err(e) => return Received::Ended(Error::Malformed(e.0)),
    };
    match ingest::verify_contents_holding_unknown(
        &node.orgs(),
        node.signing(),
        revoked,
        child,
        contents,
    ) {
        Ok((verified, unknown)) => Received::Batch(batch.batch_no, verified, unknown),
        Err(e @ (Refusal::Outside { .. } | Refusal::UnknownOrigin { .. })) => {
            Received::Ended(Error::Outside(e.to_string()))
        }
        Err(e) => Received::Ended(Error::Malformed(e.to_string())),
    }
}

/// Stage 1: reads the child's messages, counts each batch against the
/// session's change budget, decompresses and verifies it (the CPU-heavy
/// part), and passes it on. A refusal ends the stage: nothing after it is
/// read.
async fn receive_stage(
    node: Arc<Node>,
    child: OrgId,
    revoked: Arc<Revoked>,
    mut inbound: Streaming<pb::ChildMessage>,
    verified: mpsc::Sender<Received>,
    quota: Arc<SessionQuota>,
) {
    let mut budget = ChangeBudget::new(SESSION_CHANGES_MAX);
    loop {
        let item = match tokio::time::timeout(SESSION_IDLE_TIMEOUT, inbound.message()).await {
            Err(_) => Received::Ended(Error::Idle),
            Ok(Err(status)) => Received::Ended(Error::from_stream(status)),
            Ok(Ok(None)) => Received::Ended(Error::ClosedBeforeDone),
            Ok(Ok(Some(m))) => match m.kind {
                Some(pb::child_message::Kind::Batch(batch)) => match budget.take(batch.count) {
                    Err(over) => Received::Ended(Error::SessionChanges(over)),
                    Ok(()) => match blocking(|| verify(&node, child, &revoked, &batch)) {
                        Received::Batch(no, v, unknown) => match quota.reserve(&v.changes) {
                            Ok(()) => Received::Batch(no, v, unknown),
                            Err(e) => Received::Ended(Error::Quota(e)),
                        },
                        other => other,
                    },
                },
                Some(pb::child_message::Kind::Done(d)) => Received::Done(d.pending),
                Some(pb::child_message::Kind::Hello(_)) => Received::Ended(Error::SecondHello),
                None => Received::Ended(Error::EmptyMessage),
            },
        };
        let last = !matches!(item, Received::Batch(..));
        if verified.send(item).await.is_err() || last {
            return;
        }
    }
}

/// Writes how a session went into the child's record.
fn record(
    node: &Node,
    code: &str,
    peer: Option<SocketAddr>,
    started: i64,
    outcome: &Outcome<Error>,
) {
    let tally = &outcome.tally;
    let _ = ChildState::update(node, code, |state| {
        state.sessions += 1;
        state.last_session = Some(started);
        state.peer = peer.map(|p| p.to_string());
        state.applied += tally.applied;
        state.skipped += tally.skipped;
        if let Ok(pending) = outcome.end {
            state.pending = Some(pending);
        }
        match outcome.verdict() {
            Verdict::Success => state.succeeded(now_ms()),
            Verdict::Held => state.last_error = Some(HELD_MESSAGE.into()),
            Verdict::Unfinished { .. } => {}
            Verdict::Failed(e) => {
                state.failed += 1;
                let message = e.to_string();
                if let Some(reason) = e.reason() {
                    state.count_refusal(reason, &message);
                }
                state.last_error = Some(message);
            }
        }
    });
}

/// Sends the changes of `child`'s subtree above `from` (all origins, or
/// `only` these) in batches.
async fn send_restore(
    node: &Node,
    child: OrgId,
    only: &BTreeSet<String>,
    from: &BTreeMap<String, u64>,
    tx: &mpsc::Sender<Result<pb::Batch, Status>>,
) {
    // What may be forwarded: up to each origin's newest checkpoint.
    let origins: Vec<(String, u64)> = node
        .sendable_heads()
        .into_iter()
        .filter(|(code, _)| {
            node.orgs()
                .get(code)
                .is_some_and(|o| node.orgs().is_within(o, child))
        })
        .map(|(code, (seq, _))| (code, seq))
        .filter(|(code, _)| only.is_empty() || only.contains(code))
        .collect();
    let encoded = |batch: Result<pb::Batch, lunxun_node::model::Invalid>| {
        batch.map_err(|e| Status::from(Error::Encode(e.0)))
    };
    let mut filler = codec::BatchFiller::default();
    for (origin, head) in origins {
        let mut next = from.get(&origin).copied().unwrap_or(0) + 1;
        while next <= head {
            // Every run fits an empty batch; the filler closes the current
            // one when it does not fit there.
            let room = outbound::Room {
                changes: codec::BATCH_CHANGES_MAX,
                bytes: codec::BATCH_BYTES_MAX,
                empty: true,
            };
            let run = match blocking(|| outbound::next_run(node, &origin, next, head, room)) {
                Ok(Some(run)) => run,
                Ok(None) => break,
                Err(e) => {
                    let _ = tx.send(Err(Error::Scan(e).into())).await;
                    return;
                }
            };
            next = run.upto + 1;
            if let Some(batch) = filler.push_run(run.changes, run.checkpoint)
                && tx.send(encoded(batch)).await.is_err()
            {
                return;
            }
        }
    }
    if let Some(batch) = filler.finish() {
        let _ = tx.send(encoded(batch)).await;
    }
    info!(child = %node.orgs().code(child), batches = filler.batches(), "restore sent");
}

#[tonic::async_trait]
impl Sync for SyncService {
    type SessionStream = ReceiverStream<Result<pb::ParentMessage, Status>>;
    type RestoreStream = ReceiverStream<Result<pb::Batch, Status>>;
    type TrainingsStream = ReceiverStream<Result<pb::TrainingsChunk, Status>>;

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
            Ok(Ok(Some(_))) => Err(Error::NoHello),
            Ok(Ok(None)) => Err(Error::ClosedBeforeHello),
            // Too large, or not a message at all.
            Ok(Err(status)) => Err(Error::from_stream(status)),
            Err(_) => Err(Error::HelloTimeout),
        };
        let hello = match (first, &admitted) {
            (Ok(hello), _) => hello,
            // A known child's fault is counted like any later refusal.
            (Err(e), Some((child, _))) => {
                let code = self.node.orgs().code(*child).to_owned();
                return Err(self.refuse(&code, peer, e));
            }
            (Err(e), None) => return Err(e.into()),
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
        if !(PROTOCOL_OLDEST_SERVED..=PROTOCOL_VERSION).contains(&hello.protocol) {
            let refused = Error::Protocol {
                spoken: hello.protocol,
            };
            return Err(self.refuse(&code, peer, refused));
        }
        let quota = match blocking(|| self.quotas.admit(child)) {
            Ok(quota) => Arc::new(quota),
            Err(e) => return Err(self.refuse(&code, peer, Error::Quota(e))),
        };
        let (tx, rx) = mpsc::channel(OUTBOUND_MAX);
        let node = self.node.clone();
        // The revocations in force when the session opened, for the
        // checkpoints it carries too.
        let revoked = Arc::new(self.gate.revoked());
        let first = blocking(|| vector(&node, child, &hello));
        let _ = tx.send(Ok(first)).await;
        let shutdown = self.shutdown.clone();
        let span = info_span!("child session", child = %code, peer = ?peer);
        tokio::spawn(
            async move {
                let _slot = slot;
                let started = now_ms();
                let mut machine = ParentSession::new();
                let shut_down = tokio::select! {
                    () = drive(&node, child, &revoked, inbound, &tx, &mut machine, quota) => false,
                    () = stopped(shutdown) => true,
                };
                if shut_down {
                    machine.fail(Error::ShuttingDown);
                }
                let outcome = machine.finish(|| Error::Ended);
                record(&node, &code, peer, started, &outcome);
                let Outcome { tally, end } = outcome;
                match end {
                    Ok(pending) => info!(
                        applied = tally.applied,
                        skipped = tally.skipped,
                        pending,
                        "session ended"
                    ),
                    Err(e) => {
                        warn!(error = %e, applied = tally.applied, "session failed");
                        let _ = tx.send(Err(e.into())).await;
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
        let only: BTreeSet<String> = request.only.into_iter().collect();
        let from: BTreeMap<String, u64> = request
            .from
            .into_iter()
            .map(|e| (e.origin, e.seq))
            .collect();
        let node = self.node.clone();
        let (tx, rx) = mpsc::channel(RESTORE_OUTBOUND_MAX);
        info!(child = %node.orgs().code(child), "restore requested");
        let shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let shut_down = tokio::select! {
                () = send_restore(&node, child, &only, &from, &tx) => false,
                () = stopped(shutdown) => true,
            };
            if shut_down {
                let _ = tx.send(Err(Error::ShuttingDown.into())).await;
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn trainings(
        &self,
        request: Request<pb::TrainingsRequest>,
    ) -> Result<Response<Self::TrainingsStream>, Status> {
        let peer = request.remote_addr();
        let claimed = request.get_ref().org.chars().take(40).collect::<String>();
        let (child, slot) = self.admit(peer_chain(&request), &claimed, peer)?;
        let digest = request.into_inner().digest;
        let rx = crate::returns::serve(
            self.node.clone(),
            child,
            &digest,
            slot,
            self.shutdown.clone(),
        )?;
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

#[cfg(test)]
mod tests {
    use lunxun_core::session::parent::OverBudget;

    use super::*;

    #[test]
    fn a_session_carries_at_most_session_changes_max_changes() {
        let batch = codec::BATCH_CHANGES_MAX as u32;
        let mut budget = ChangeBudget::new(SESSION_CHANGES_MAX);
        let full = SESSION_CHANGES_MAX / u64::from(batch);
        for _ in 0..full {
            budget.take(batch).unwrap();
        }
        let room = (SESSION_CHANGES_MAX - budget.used()) as u32;
        assert!(room < batch);
        // One more full batch does not fit; what is left does, exactly.
        let refused = Status::from(Error::SessionChanges(budget.take(batch).unwrap_err()));
        assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
        assert!(refused.message().contains("2000000 changes in one session"));
        budget.take(room).unwrap();
        assert_eq!(budget.used(), SESSION_CHANGES_MAX);
        assert!(budget.take(1).is_err());
        budget.take(0).unwrap();
        // A claim of u32::MAX cannot overflow the count.
        assert_eq!(
            ChangeBudget::new(SESSION_CHANGES_MAX).take(u32::MAX),
            Err(OverBudget {
                max: SESSION_CHANGES_MAX
            })
        );
    }
}
