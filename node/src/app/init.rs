//! Creating a node: its config, and the org-directory extension copied into
//! the data dir once it is known to be valid.

use std::path::{Path, PathBuf};

use crate::config::{Config, ORGS_FILE};
use crate::error::Error;
use crate::node::Node;
use crate::orgs::OrgDirectory;

/// What `init` is asked for.
#[derive(Debug, Clone)]
pub struct InitRequest {
    /// This bureau's org code.
    pub org: String,
    /// The parent's sync endpoint.
    pub upstream: Option<String>,
    /// Directory holding ca.pem, node.pem and node.key (made absolute).
    pub tls_dir: Option<PathBuf>,
    /// Plaintext links.
    pub insecure: bool,
    /// An org-directory extension to check and copy into the data dir.
    pub orgs: Option<PathBuf>,
}

/// Why `init` failed.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// The org-directory extension is unreadable or invalid; nothing was written.
    #[error("{0}")]
    Extension(String),
    /// The data dir could not be written.
    #[error("{0}")]
    DataDir(String),
    /// The node could not be created.
    #[error(transparent)]
    Node(#[from] Error),
}

/// Creates the node in `data` and opens it.
pub fn init(data: &Path, request: InitRequest) -> Result<Node, InitError> {
    if let Some(orgs) = &request.orgs {
        crate::config::private_data_dir(data)
            .map_err(|e| InitError::DataDir(format!("{}: {e}", data.display())))?;
        // Check it before copying, so a bad file leaves the dir untouched.
        let mut dir = OrgDirectory::builtin();
        let text = std::fs::read_to_string(orgs)
            .map_err(|e| InitError::Extension(format!("{}: {e}", orgs.display())))?;
        dir.add_csv(&orgs.display().to_string(), &text)
            .map_err(|e| InitError::Extension(e.to_string()))?;
        std::fs::write(data.join(ORGS_FILE), text)
            .map_err(|e| InitError::DataDir(format!("{}: {e}", data.display())))?;
    }
    let config = Config {
        org: request.org,
        upstream: request.upstream,
        tls_dir: request
            .tls_dir
            .map(|p| std::path::absolute(&p).unwrap_or(p)),
        insecure: request.insecure,
        ..Default::default()
    };
    if config.insecure {
        tracing::warn!("--insecure: links to the parent will be plaintext");
    }
    Ok(Node::init(data, config)?)
}
