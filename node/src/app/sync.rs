//! Syncing with the parent until it holds everything (`sync --once`): the
//! upstream worker's sessions, then the own-log check.

use super::App;
use crate::error::Error;
use crate::sync::client::SyncError;
use crate::sync::session::Outcome;

/// Why a sync did not end cleanly.
#[derive(Debug, thiserror::Error)]
pub enum SyncFailure {
    /// Our own log disagrees with the parent's copy (the sessions still
    /// forwarded every other origin): writes are refused until restored.
    #[error(transparent)]
    Conflict(Error),
    /// A session failed.
    #[error(transparent)]
    Session(SyncError),
}

impl App {
    /// Sessions with the parent until it holds everything (or holds some
    /// back); the outcome may still be incomplete ([`Outcome::complete`]).
    pub async fn sync_until_done(&self) -> Result<Outcome, SyncFailure> {
        let result = self.upstream().sync_until_done(None).await;
        if let Some(e) = self.node().conflict_error() {
            return Err(SyncFailure::Conflict(e));
        }
        result.map_err(SyncFailure::Session)
    }
}
