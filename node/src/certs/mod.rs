//! Certificates for links between bureaus.
//!
//! - The national bureau runs the root CA (`certs init-ca`).
//! - A province can run an intermediate CA for its own subtree (`certs
//!   init-ca --ca ROOT_DIR --org 410000`), so it issues its prefectures' and
//!   counties' certificates itself. Every CA certificate carries its org in a
//!   URI SAN, and a parent accepts a chain only if every CA in it is an
//!   ancestor of the leaf's org: a province's CA can issue for its subtree and
//!   nothing else.
//! - A node's certificate (`certs issue`) carries its org code in the URI SAN
//!   `lunxun://org/<code>` — the only identity a parent believes — and, for a
//!   hub that serves, its DNS names or IP addresses (`--host`).
//!
//! A CA dir holds `ca.pem` (the CA's certificate), `ca.key` (its key, 0600),
//! `root.pem` (the national root, the trust anchor) and `chain.pem` (the CA
//! certificates between this CA and the root, this CA first; empty for the
//! root). A node's tls dir holds `ca.pem` (the root), `node.pem` (its
//! certificate followed by the chain) and `node.key` (0600).
//!
//! Issuing (rcgen: `init-ca`, `issue`) is the `issue` submodule; checking (the chain
//! rules and the org a certificate carries, used by the TLS client and the
//! hub's identity gate) is `check`. Both are re-exported here.

use std::path::PathBuf;

mod check;
mod issue;
pub mod sign;

pub use check::{
    CertInfo, ChainRefusal, chain_org, chain_serials, checked_org, info, pem_certificates,
    serial_hex,
};
pub use issue::{Made, init_ca, issue};

/// The CA certificate(s) a node trusts, in its tls dir.
pub const CA_FILE: &str = "ca.pem";
/// The node's certificate chain, in its tls dir.
pub const CERT_FILE: &str = "node.pem";
/// The node's private key, in its tls dir.
pub const KEY_FILE: &str = "node.key";

/// The URI SAN prefix that carries a node's (or a CA's) org code.
pub const ORG_URI_PREFIX: &str = "lunxun://org/";
/// A CA's key, in its CA dir.
pub const CA_KEY_FILE: &str = "ca.key";
/// The trust anchor (the national root), in a CA dir.
pub const ROOT_FILE: &str = "root.pem";
/// The CA certificates between a CA and the root, in its CA dir.
pub const CHAIN_FILE: &str = "chain.pem";
/// Default validity of the root CA.
pub const ROOT_DAYS: u32 = 3_650;
/// Default validity of an intermediate CA.
pub const INTERMEDIATE_DAYS: u32 = 1_825;
/// Default validity of a node certificate.
pub const NODE_DAYS: u32 = 397;
/// Longest validity accepted.
pub const DAYS_MAX: u32 = 7_300;

/// Why a certificate operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A file is not what it should be.
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
    /// The request makes no sense (unknown org, outside the CA's subtree...).
    #[error("{0}")]
    Refused(String),
    /// rcgen failed.
    #[error("certificate generation: {0}")]
    Generate(#[from] rcgen::Error),
}
