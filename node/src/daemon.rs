//! The long-running side of a node (`serve`): named tasks sharing one
//! shutdown signal — the admin endpoint, the upstream worker, and whatever
//! the hub adds (its children-facing sync service). Ctrl-C or SIGTERM, any
//! task ending early, or the store's files failing (a full disk: the store
//! refuses everything until it is opened again) stops them all; the last
//! ends the process with an error, so that its service manager restarts it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{error, info};

use crate::admin::{self, Runner};
use crate::app::App;
use crate::node::Node;

/// How often the daemon checks whether the view's snapshot is due (a load
/// of a counter).
const SNAPSHOT_CHECK: Duration = Duration::from_secs(1);

/// Changes older than this are put in a snapshot even if there are few.
const SNAPSHOT_AGE_MAX: Duration = Duration::from_secs(600);

/// Writes the view's snapshot in the background: once `[store]
/// snapshot_after_changes` changes were applied since the last one, or any
/// change waited [`SNAPSHOT_AGE_MAX`].
async fn snapshots(node: Arc<Node>, mut stop: watch::Receiver<bool>) -> Result<(), String> {
    let after = node.config().store.snapshot_after_changes.max(1);
    let mut waiting_since: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            _ = stop.changed() => return Ok(()),
            _ = tokio::time::sleep(SNAPSHOT_CHECK) => {}
        }
        let changes = node.changes_since_snapshot();
        if changes == 0 {
            waiting_since = None;
            continue;
        }
        let since = *waiting_since.get_or_insert_with(tokio::time::Instant::now);
        if changes >= after || since.elapsed() >= SNAPSHOT_AGE_MAX {
            let node = node.clone();
            let _ = tokio::task::spawn_blocking(move || node.snapshot_if_changed(1)).await;
            waiting_since = None;
        }
    }
}

/// How long tasks get to finish after the shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// A node's running tasks.
pub struct Daemon {
    node: Arc<Node>,
    /// The node's application layer: the upstream worker's background loop
    /// and the commands the admin endpoint runs share it.
    app: App,
    shutdown: watch::Sender<bool>,
    /// A task reports here if it ends before the shutdown signal.
    ended: tokio::sync::mpsc::UnboundedSender<(&'static str, Result<(), String>)>,
    ended_rx: tokio::sync::mpsc::UnboundedReceiver<(&'static str, Result<(), String>)>,
    tasks: Vec<(&'static str, JoinHandle<()>)>,
}

impl Daemon {
    pub fn new(node: Arc<Node>) -> Daemon {
        let (shutdown, _) = watch::channel(false);
        let (ended, ended_rx) = tokio::sync::mpsc::unbounded_channel();
        Daemon {
            app: App::new(node.clone()),
            node,
            shutdown,
            ended,
            ended_rx,
            tasks: Vec::new(),
        }
    }

    pub fn node(&self) -> &Arc<Node> {
        &self.node
    }

    /// The node with its upstream worker, as the commands run in the daemon see it.
    pub fn app(&self) -> &App {
        &self.app
    }

    /// A receiver that turns true when the daemon stops.
    pub fn shutdown(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Runs a named task until it ends; it must watch [`Daemon::shutdown`].
    pub fn spawn<F>(&mut self, name: &'static str, task: F)
    where
        F: Future<Output = Result<(), String>> + Send + 'static,
    {
        let ended = self.ended.clone();
        let handle = tokio::spawn(async move {
            let result = task.await;
            let _ = ended.send((name, result));
        });
        self.tasks.push((name, handle));
    }

    /// The tasks every node runs: the admin endpoint and the upstream worker.
    pub fn start_node_tasks(&mut self, runner: Runner) {
        let (app, stop) = (self.app.clone(), self.shutdown());
        self.spawn("admin", async move {
            admin::serve(app, runner, stop)
                .await
                .map_err(|e| format!("admin endpoint: {e}"))
        });
        let (upstream, stop) = (self.app.upstream().clone(), self.shutdown());
        self.spawn("upstream", async move {
            upstream.run(stop).await;
            Ok(())
        });
        let (node, stop) = (self.node.clone(), self.shutdown());
        self.spawn("snapshot", snapshots(node, stop));
    }

    /// Waits for Ctrl-C, SIGTERM, or a task ending early; then stops every
    /// task. Returns the first task failure, if any.
    pub async fn run(mut self) -> Result<(), String> {
        let mut failure = None;
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .map_err(|e| format!("signal handler: {e}"))?;
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {
                    info!("interrupted: shutting down");
                    break;
                }
                _ = terminate.recv() => {
                    info!("terminated: shutting down");
                    break;
                }
                message = self.node.store().failed() => {
                    error!(error = %message, "the store failed: exiting so that the node restarts on a fresh open");
                    failure = Some(format!("the store failed: {message}"));
                    break;
                }
                Some((name, result)) = self.ended_rx.recv() => {
                    match result {
                        // The upstream worker ends at once when there is no upstream.
                        Ok(()) if name == "upstream" && self.node.config().upstream.is_none() => continue,
                        Ok(()) => info!(task = name, "task ended"),
                        Err(e) => {
                            error!(task = name, error = %e, "task failed");
                            failure = Some(e);
                        }
                    }
                    break;
                }
            }
        }
        let _ = self.shutdown.send(true);
        for (name, handle) in self.tasks {
            if tokio::time::timeout(SHUTDOWN_GRACE, handle).await.is_err() {
                error!(task = name, "did not stop in time");
            }
        }
        if self.node.store().failure().is_none() {
            self.node.store().flush().map_err(|e| e.to_string())?;
            // A clean stop leaves a snapshot of everything applied, so the
            // next start replays nothing.
            let node = self.node.clone();
            let _ = tokio::task::spawn_blocking(move || node.snapshot_if_changed(1)).await;
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
