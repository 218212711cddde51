//! The upstream worker: a named background loop that syncs with the parent
//! after local changes (debounced), periodically, and on request, backing off
//! exponentially with jitter while the parent is unreachable. Its state is
//! persisted after every attempt, so `status` shows it whether or not the
//! daemon runs.

use std::sync::Arc;
use std::time::Duration;

use rand::RngExt;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{info, warn};

use super::client::{self, SyncError};
use super::session::Outcome;
use super::trainings;
use crate::error::Result;
use crate::node::{Node, ReturnedApplied, now_ms};

/// Period of the background sync when nothing changes.
pub const SYNC_INTERVAL: Duration = Duration::from_secs(60);
/// Wait after a local change before syncing. Short: a change starts a
/// session at once when the link is idle, and changes that arrive during a
/// session are coalesced into the next one, which is what keeps bursts in few
/// sessions; this only lets the writes of one moment land together.
pub const DEBOUNCE: Duration = Duration::from_millis(20);
/// First retry delay after a failure.
pub const BACKOFF_MIN: Duration = Duration::from_secs(1);
/// Longest retry delay.
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);

pub use crate::store::UpstreamState;

impl UpstreamState {
    /// The state recorded by the last session (the default if none was).
    pub fn load(node: &Node) -> UpstreamState {
        node.store().upstream_state().unwrap_or_default()
    }

    fn save(&self, node: &Node) -> Result<()> {
        node.store().set_upstream_state(self)?;
        Ok(())
    }

    /// Changes we hold that the parent did not hold at the last session, and
    /// the age of the oldest of them (ms), from the local store.
    pub fn pending(&self, node: &Node) -> (u64, Option<i64>) {
        let heads: Vec<(String, u64)> = {
            let view = node.view();
            view.heads()
                .map(|(o, h)| (node.orgs().code(o).to_owned(), h.seq))
                .collect()
        };
        let mut pending = 0;
        let mut oldest: Option<i64> = None;
        for (origin, seq) in heads {
            let acked = self.parent.get(&origin).copied().unwrap_or(0);
            if seq > acked {
                pending += seq - acked;
                if let Ok(Some(e)) = node.store().entry(&origin, acked + 1) {
                    oldest =
                        Some(oldest.map_or(e.received_at_ms, |o: i64| o.min(e.received_at_ms)));
                }
            }
        }
        (pending, oldest.map(|t| (now_ms() - t).max(0)))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The upstream worker of one node: it owns the connection to the parent
/// (kept between sessions, dropped after a failure) and runs one session at
/// a time, whoever asks — its own background loop ([`UpstreamWorker::run`])
/// or a command (`sync --once` through the daemon).
pub struct UpstreamWorker {
    node: Arc<Node>,
    /// Held during a session, with the open connection to the parent.
    link: tokio::sync::Mutex<Option<client::Upstream>>,
}

impl UpstreamWorker {
    pub fn new(node: Arc<Node>) -> UpstreamWorker {
        UpstreamWorker {
            node,
            link: tokio::sync::Mutex::new(None),
        }
    }

    pub fn node(&self) -> &Arc<Node> {
        &self.node
    }

    /// One session now, with its outcome recorded in the persisted state.
    pub async fn sync_once(&self) -> std::result::Result<Outcome, SyncError> {
        self.sync_once_via(|| client::connect(&self.node)).await
    }

    /// [`UpstreamWorker::sync_once`], opening the connection with `connect`
    /// when none is open (the simulation connects over its simulated network).
    pub async fn sync_once_via<F, Fut>(&self, connect: F) -> std::result::Result<Outcome, SyncError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = std::result::Result<client::Upstream, SyncError>>,
    {
        let node = &self.node;
        let mut connection = self.link.lock().await;
        let mut state = UpstreamState::load(node);
        state.last_attempt = Some(now_ms());
        let result = async {
            let (url, client) = match connection.take() {
                Some(c) => c,
                None => connect().await?,
            };
            let outcome = client::run_session(node.clone(), &url, client.clone()).await?;
            *connection = Some((url, client));
            Ok::<_, SyncError>(outcome)
        }
        .await;
        match &result {
            Ok(outcome) => {
                state.parent_incarnation = Some(hex(&outcome.parent_incarnation));
                state.last_sent = outcome.sent;
                state.sent_total += outcome.sent;
                state.held = outcome.held.clone();
                state.parent = outcome.parent_vector.clone();
                if outcome.complete() {
                    state.last_success = Some(now_ms());
                    state.last_error = None;
                    state.failures = 0;
                } else {
                    state.failures += 1;
                    state.last_error = Some(incomplete_reason(outcome));
                }
            }
            Err(e) => {
                state.failures += 1;
                state.last_error = Some(e.to_string());
            }
        }
        if let Err(e) = state.save(node) {
            warn!(error = %e, "could not record the upstream state");
        }
        result
    }

    /// Fetches the trainings the parent returns ([`trainings::fetch`]) on
    /// the worker's connection (opened if none is), and records when an
    /// answer was last taken, or why not, in the persisted state.
    pub async fn fetch_trainings(&self) -> std::result::Result<Option<ReturnedApplied>, SyncError> {
        let node = &self.node;
        let mut connection = self.link.lock().await;
        let result = async {
            let (url, mut client) = match connection.take() {
                Some(c) => c,
                None => client::connect(node).await?,
            };
            let applied = trainings::fetch(node, &url, &mut client).await?;
            *connection = Some((url, client));
            Ok::<_, SyncError>(applied)
        }
        .await;
        let mut state = UpstreamState::load(node);
        match &result {
            Ok(Some(_)) => state.returned_at = Some(now_ms()),
            Ok(None) => {}
            Err(e) => {
                state.failures += 1;
                state.last_error = Some(e.to_string());
            }
        }
        if let Err(e) = state.save(node) {
            warn!(error = %e, "could not record the upstream state");
        }
        result
    }

    /// Sessions until the parent holds everything or a session ends short
    /// for another reason than the session budget: a backlog beyond one
    /// session's budget continues in further sessions at once. Stops early
    /// (with a truncated outcome) when `shutdown` turns true. The outcome's
    /// counts are summed over the sessions. Then the trainings the parent
    /// returns are fetched ([`UpstreamWorker::fetch_trainings`]); a refused
    /// answer is this call's error.
    pub async fn sync_until_done(
        &self,
        shutdown: Option<&watch::Receiver<bool>>,
    ) -> std::result::Result<Outcome, SyncError> {
        let (mut batches, mut sent, mut applied, mut skipped) = (0, 0, 0, 0);
        loop {
            let o = self.sync_once().await?;
            (batches, sent, applied, skipped) = (
                batches + o.batches,
                sent + o.sent,
                applied + o.applied,
                skipped + o.skipped,
            );
            let stopping = shutdown.is_some_and(|s| *s.borrow());
            if !(o.truncated && o.held.is_empty()) || stopping {
                // The parent holds what we sent: what it returns to us now
                // reflects our rosters as it holds them.
                if !stopping {
                    self.fetch_trainings().await?;
                }
                return Ok(Outcome {
                    batches,
                    sent,
                    applied,
                    skipped,
                    ..o
                });
            }
        }
    }

    /// Runs until `shutdown` turns true: syncs after local changes (debounced),
    /// every [`SYNC_INTERVAL`], and when `trigger` fires; backs off after
    /// failures.
    pub async fn run(&self, mut shutdown: watch::Receiver<bool>) {
        let node = &self.node;
        if node.config().upstream.is_none() {
            return;
        }
        let mut changed = node.subscribe();
        let mut backoff = BACKOFF_MIN;
        let mut failing = false;
        let mut next_at = Instant::now();
        info!(org = %node.code(), upstream = ?node.config().upstream, "upstream worker started");
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                _ = tokio::time::sleep_until(next_at) => {}
                r = changed.changed() => {
                    if r.is_err() {
                        break;
                    }
                    // While failing, changes wait for the retry; otherwise they
                    // are synced after a short debounce.
                    if failing {
                        continue;
                    }
                    next_at = next_at.min(Instant::now() + DEBOUNCE);
                    continue;
                }
            }
            changed.borrow_and_update();
            match self.sync_until_done(Some(&shutdown)).await {
                Ok(outcome) if outcome.complete() => {
                    failing = false;
                    backoff = BACKOFF_MIN;
                    next_at = Instant::now() + SYNC_INTERVAL;
                }
                _ if *shutdown.borrow() => break,
                result => {
                    match result {
                        Ok(outcome) => {
                            warn!(reason = %incomplete_reason(&outcome), retry_in = ?backoff, "sync incomplete")
                        }
                        Err(e) => warn!(error = %e, retry_in = ?backoff, "sync failed"),
                    }
                    failing = true;
                    next_at = Instant::now() + with_jitter(backoff);
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
        info!(org = %node.code(), "upstream worker stopped");
    }
}

/// One session now, on a one-off worker: its own connection, not serialized
/// with the sessions of another worker of the same node.
pub async fn sync_once(node: &Arc<Node>) -> std::result::Result<Outcome, SyncError> {
    UpstreamWorker::new(node.clone()).sync_once().await
}

/// [`sync_once`], opening the connection with `connect`.
pub async fn sync_once_via<F, Fut>(
    node: &Arc<Node>,
    connect: F,
) -> std::result::Result<Outcome, SyncError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = std::result::Result<client::Upstream, SyncError>>,
{
    UpstreamWorker::new(node.clone())
        .sync_once_via(connect)
        .await
}

/// Runs a worker for `node` until `shutdown` turns true (see
/// [`UpstreamWorker::run`]).
pub async fn run(node: Arc<Node>, shutdown: watch::Receiver<bool>) {
    UpstreamWorker::new(node).run(shutdown).await
}

/// Why a session that ended cleanly is still not complete.
pub fn incomplete_reason(outcome: &Outcome) -> String {
    if let Some((origin, seq, reason)) = outcome.held.first() {
        return format!("the parent holds back {origin} from seq {seq}: {reason}");
    }
    if let Some(f) = outcome
        .findings
        .iter()
        .find(|f| !matches!(f, super::session::Finding::ParentAhead { .. }))
    {
        return format!("{f:?}");
    }
    if outcome.unsigned > 0 {
        return format!(
            "{} changes are not signed, so not sent: {}",
            outcome.unsigned,
            outcome
                .unsigned_reason
                .as_deref()
                .unwrap_or("no signed checkpoint vouches for them")
        );
    }
    format!("{} changes not acked", outcome.pending)
}

/// `d` ± 25%, so a parent coming back is not hit by every child at once.
fn with_jitter(d: Duration) -> Duration {
    let factor = rand::rng().random_range(0.75..1.25);
    d.mul_f64(factor)
}
