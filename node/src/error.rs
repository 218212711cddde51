//! The node's error type: one variant per way an operation can fail, each
//! rendering as one lowercase line that names what went wrong and where.

use std::path::PathBuf;

use crate::config::ConfigError;
use crate::import::ImportError;
use crate::orgs::OrgError;
use crate::policy::PolicyError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store failed or is locked by another process.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// `config.toml` is unreadable or invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The org-directory extension is invalid.
    #[error(transparent)]
    Orgs(#[from] OrgError),
    /// `policy.toml` is unreadable or invalid.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// An import file was refused; nothing was written.
    #[error(transparent)]
    Import(#[from] ImportError),
    /// The data dir has no node in it.
    #[error("{} is not a lunxun data dir (run `init --org CODE` first)", dir.display())]
    NotInitialized { dir: PathBuf },
    /// `init` on a data dir that already holds a node.
    #[error("{} already holds node {org}", dir.display())]
    AlreadyInitialized { dir: PathBuf, org: String },
    /// An org code that the directory does not know.
    #[error("org {0} is not in the org directory")]
    UnknownOrg(String),
    /// The parent holds more of this node's own log than the node does: a new
    /// write would fork the log.
    #[error(
        "this node lost the tail of its own log (its parent holds {org} up to seq {parent_seq}, \
         this store only up to {local_seq}): run `restore --from-upstream` before writing"
    )]
    LostTail {
        org: String,
        parent_seq: u64,
        local_seq: u64,
    },
    /// This node wrote on an old copy of its data before syncing: its own log
    /// and its parent's copy disagree from `seq` on.
    #[error(
        "this node's own log forked from its parent's copy at seq {seq} of {org} (it wrote on an old copy \
         of its data before syncing): run `restore --from-upstream`, then import again what was imported since"
    )]
    Forked { org: String, seq: u64 },
    /// The store lost changes this node had written (a truncated or damaged
    /// store file): its own log ends before what it had written.
    #[error(
        "the store lost changes written here: {org}'s own log ends at seq {local_seq}, but seq \
         {written_seq} had been written (a damaged or truncated store file): run \
         `restore --from-upstream`, then import again what the parent never received"
    )]
    StoreLost {
        org: String,
        written_seq: u64,
        local_seq: u64,
    },
    /// The store holds something it could not have written.
    #[error("store is corrupt: {0}")]
    Corrupt(String),
    /// A request that makes no sense for this node.
    #[error("{0}")]
    Usage(String),
    /// The parent's returned trainings were refused; nothing was changed.
    #[error("returned trainings refused, nothing changed: {0}")]
    Returned(lunxun_core::returns::child::Refused),
    /// The node cannot sign its writes (its tls dir's key or certificate).
    #[error("cannot sign this node's writes: {0}")]
    Sign(#[from] crate::certs::sign::SignError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
