//! TLS for links between nodes: mutual TLS with the certificates in the
//! node's tls dir (`ca.pem`, `node.pem`, `node.key`), or plaintext with an
//! explicit `--insecure`. The client side is here; the server side (a hub's
//! listener) is `lunxun_hub::listener`.

use std::path::{Path, PathBuf};

use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

use crate::node::Node;

/// The CA certificate(s) a node trusts, in its tls dir.
pub const CA_FILE: &str = "ca.pem";
/// The node's certificate chain, in its tls dir.
pub const CERT_FILE: &str = "node.pem";
/// The node's private key, in its tls dir.
pub const KEY_FILE: &str = "node.key";

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file of the tls dir could not be read.
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// An https upstream without a tls dir.
    #[error("an https upstream needs --tls-dir (ca.pem, node.pem, node.key)")]
    NoTlsDir,
    /// tonic refused the configuration.
    #[error("tls configuration: {0}")]
    Config(String),
}

fn read(dir: &Path, file: &str) -> Result<Vec<u8>, TlsError> {
    let path = dir.join(file);
    std::fs::read(&path).map_err(|source| TlsError::Read { path, source })
}

/// The node's identity and trust roots from a tls dir.
pub struct TlsFiles {
    pub ca: Vec<u8>,
    pub cert: Vec<u8>,
    pub key: Vec<u8>,
}

impl TlsFiles {
    pub fn load(dir: &Path) -> Result<TlsFiles, TlsError> {
        Ok(TlsFiles {
            ca: read(dir, CA_FILE)?,
            cert: read(dir, CERT_FILE)?,
            key: read(dir, KEY_FILE)?,
        })
    }
}

/// Configures `endpoint` for the node's upstream: mTLS for `https://`,
/// plaintext for `http://` (only accepted with `insecure`, by the config).
pub fn client_endpoint(node: &Node, endpoint: Endpoint) -> Result<Endpoint, TlsError> {
    let https = node
        .config()
        .upstream
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"));
    if !https {
        return Ok(endpoint);
    }
    let dir = node.config().tls_dir.as_deref().ok_or(TlsError::NoTlsDir)?;
    let files = TlsFiles::load(dir)?;
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(files.ca))
        .identity(Identity::from_pem(files.cert, files.key));
    endpoint
        .tls_config(tls)
        .map_err(|e| TlsError::Config(e.to_string()))
}
