//! Who is talking: a child's org code comes from its client certificate
//! (the URI SAN `lunxun://org/<code>`), never from what it says. Only with
//! `--insecure` (tests, closed networks) is the org the child claims taken
//! at its word.

use tonic::{Request, Status};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

/// The URI SAN prefix that carries a node's org code.
pub const ORG_URI_PREFIX: &str = "lunxun://org/";

/// How the service learns a peer's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity {
    /// From the verified client certificate (mTLS).
    Certificate,
    /// From the peer's own claim (`--insecure`).
    Insecure,
}

/// The org codes in a DER certificate's URI SANs.
pub fn orgs_in_certificate(der: &[u8]) -> Vec<String> {
    let Ok((_, cert)) = X509Certificate::from_der(der) else {
        return Vec::new();
    };
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    san.value
        .general_names
        .iter()
        .filter_map(|n| match n {
            GeneralName::URI(uri) => uri.strip_prefix(ORG_URI_PREFIX).map(str::to_owned),
            _ => None,
        })
        .collect()
}

/// The org code of the peer's verified client certificate, if it sent one
/// carrying exactly one org.
pub fn peer_certificate_org<T>(request: &Request<T>) -> Option<String> {
    let certs = request.peer_certs()?;
    let leaf = certs.first()?;
    let mut orgs = orgs_in_certificate(leaf.as_ref());
    (orgs.len() == 1).then(|| orgs.remove(0))
}

/// The peer's org code under `identity`: `certified` is what its certificate
/// says, `claimed` what its message says.
pub fn peer_org(
    identity: Identity,
    certified: Option<String>,
    claimed: &str,
) -> Result<String, Status> {
    match (identity, certified) {
        (_, Some(org)) => {
            if !claimed.is_empty() && claimed != org {
                tracing::warn!(certified = %org, claimed, "peer claims another org than its certificate; using the certificate");
            }
            Ok(org)
        }
        (Identity::Certificate, None) => Err(Status::unauthenticated(
            "no client certificate carrying a lunxun org (URI SAN lunxun://org/CODE)",
        )),
        (Identity::Insecure, None) => Ok(claimed.to_owned()),
    }
}
