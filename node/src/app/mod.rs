//! The application layer: what a node does for whoever asks — the command
//! line, or the daemon running a command for a client on the same data dir.
//! Each operation returns plain results; the CLI only parses and renders.
//!
//! - [`bundle`]: offline bundles and their acknowledgements, both ways.
//! - [`init`]: create a node (with an org-directory extension).
//! - [`import`]: read a roster or training file into records, and write them.
//! - [`sync`]: sync with the parent until it holds everything.
//! - [`restore`]: rebuild from the parent, and the fork policy that decides
//!   which side wins.
//! - [`ledger`]: the imports ledger read back: undo's plan, history.
//! - [`status`]: identity, counts, upstream and children, as one value.

use std::path::Path;
use std::sync::Arc;

use crate::error::Result;
use crate::node::Node;
use crate::sync::worker::UpstreamWorker;

pub mod bundle;
pub mod import;
pub mod init;
pub mod ledger;
pub mod restore;
pub mod status;
pub mod sync;

/// An open node and its upstream worker: what every operation runs against.
/// The daemon holds one for its lifetime (its background loop and the
/// commands it runs share the worker, so sessions never overlap); a command
/// run without a daemon opens its own.
#[derive(Clone)]
pub struct App {
    node: Arc<Node>,
    upstream: Arc<UpstreamWorker>,
}

impl App {
    /// The application over an open node, with a new upstream worker.
    pub fn new(node: Arc<Node>) -> App {
        let upstream = Arc::new(UpstreamWorker::new(node.clone()));
        App { node, upstream }
    }

    /// Opens the node in `dir`.
    pub fn open(dir: &Path) -> Result<App> {
        Ok(App::new(Arc::new(Node::open(dir)?)))
    }

    pub fn node(&self) -> &Arc<Node> {
        &self.node
    }

    /// The worker that owns the connection to the parent.
    pub fn upstream(&self) -> &Arc<UpstreamWorker> {
        &self.upstream
    }
}
