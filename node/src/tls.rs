//! TLS for links between nodes: mutual TLS with the certificates in the
//! node's tls dir (`ca.pem`, `node.pem`, `node.key`), or plaintext with an
//! explicit `--insecure`. The client side is here; the server side (a hub's
//! listener) is `lunxun_hub::listener`.
//!
//! The child checks who its parent is. TLS alone verifies the parent's chain
//! to our root and the URL's host name, but any intermediate CA can put any
//! host name in a certificate: a hub with a valid certificate for another org
//! and the right name would receive our data. So [`ParentVerifier`] also
//! requires, inside the handshake — before our certificate or any request is
//! sent — that the chain stands for the org the directory names as this
//! node's parent, every CA in it an ancestor of that org and none revoked in
//! our config: `certs::checked_org`, the rule a hub applies to its children.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio_rustls::rustls::client::WebPkiServerVerifier;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{
    self, CertificateError, DigitallySignedStruct, OtherError, RootCertStore, SignatureScheme,
};
use tonic::transport::{ClientTlsConfig, Endpoint, Identity};

use crate::certs;
use crate::node::Node;
use crate::orgs::OrgDirectory;

/// The files of a tls dir (defined with the certificates, which sign with them).
pub use crate::certs::{CA_FILE, CERT_FILE, KEY_FILE};

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
    /// The org directory names no parent for this node: no certificate
    /// could be checked against one.
    #[error("the org directory names no parent for {org}: no parent certificate can be checked")]
    NoParent { org: String },
    /// tonic or rustls refused the configuration.
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

/// Why the last handshake's parent check refused the server's certificate,
/// if it did: the connecting code reports it in one line, since what comes
/// back through the transport is only "invalid peer certificate".
#[derive(Debug, Clone, Default)]
pub struct ParentRefusal(Arc<Mutex<Option<String>>>);

impl ParentRefusal {
    /// The refusal recorded, if any (cleared).
    pub fn take(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    fn set(&self, reason: String) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason);
    }
}

/// The parent check's refusal as rustls carries it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct WrongParent(String);

/// The server verifier of a child's upstream link: rustls's WebPKI checks
/// (chain to our root, validity, host name), then the parent check.
pub struct ParentVerifier {
    inner: Arc<WebPkiServerVerifier>,
    /// The org code the directory names as this node's parent.
    parent: String,
    orgs: Arc<OrgDirectory>,
    /// Revoked certificate serials from our config.
    revoked: Vec<String>,
    refusal: ParentRefusal,
}

impl std::fmt::Debug for ParentVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParentVerifier")
            .field("parent", &self.parent)
            .finish_non_exhaustive()
    }
}

impl ParentVerifier {
    /// `code` with its name, as the directory knows it.
    fn named(&self, code: &str) -> String {
        match self.orgs.get(code) {
            Some(id) => format!("{code} {}", self.orgs.org(id).name),
            None => code.to_owned(),
        }
    }

    /// The parent check on a chain (leaf first) that WebPKI accepted: what
    /// the server presents, in words, when it is not our parent.
    pub fn check(&self, chain: &[&[u8]]) -> Result<(), String> {
        let org = certs::checked_org(chain, &self.orgs, &self.revoked).map_err(|e| {
            format!(
                "presents a certificate this node does not accept from its parent {}: {e}",
                self.named(&self.parent)
            )
        })?;
        if org != self.parent {
            return Err(format!(
                "presents a certificate for {}, but this node's parent is {}",
                self.named(&org),
                self.named(&self.parent)
            ));
        }
        Ok(())
    }
}

impl ServerCertVerifier for ParentVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verified = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        let chain: Vec<&[u8]> = std::iter::once(end_entity.as_ref())
            .chain(intermediates.iter().map(|c| c.as_ref()))
            .collect();
        match self.check(&chain) {
            Ok(()) => Ok(verified),
            Err(reason) => {
                self.refusal.set(reason.clone());
                Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                    OtherError(Arc::new(WrongParent(reason))),
                )))
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The verifier of `node`'s parent, trusting the roots in `ca_pem`.
pub fn parent_verifier(
    node: &Node,
    ca_pem: &[u8],
    refusal: ParentRefusal,
) -> Result<ParentVerifier, TlsError> {
    let orgs = node.orgs().clone();
    let parent = orgs
        .parent(node.me())
        .map(|id| orgs.code(id).to_owned())
        .ok_or_else(|| TlsError::NoParent {
            org: node.code().to_owned(),
        })?;
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(
        certs::pem_certificates(&String::from_utf8_lossy(ca_pem))
            .into_iter()
            .map(CertificateDer::from),
    );
    if added == 0 {
        return Err(TlsError::Config(format!(
            "{CA_FILE}: no usable CA certificate"
        )));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| TlsError::Config(format!("server verification: {e}")))?;
    Ok(ParentVerifier {
        inner,
        parent,
        orgs,
        revoked: node.revoked_with(&node.config().revoked).serials,
        refusal,
    })
}

/// An endpoint configured for the node's upstream, and where its parent
/// check reports a refusal (never set over plaintext).
pub struct ClientTls {
    pub endpoint: Endpoint,
    pub refusal: ParentRefusal,
}

/// Configures `endpoint` for the node's upstream: mTLS for `https://`, the
/// server checked to be this node's parent ([`ParentVerifier`]); plaintext
/// for `http://` (only accepted with `insecure`, by the config).
pub fn client_endpoint(node: &Node, endpoint: Endpoint) -> Result<ClientTls, TlsError> {
    let refusal = ParentRefusal::default();
    let https = node
        .config()
        .upstream
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"));
    if !https {
        return Ok(ClientTls { endpoint, refusal });
    }
    let dir = node.config().tls_dir.as_deref().ok_or(TlsError::NoTlsDir)?;
    let files = TlsFiles::load(dir)?;
    let verifier = parent_verifier(node, &files.ca, refusal.clone())?;
    let tls = ClientTlsConfig::new().identity(Identity::from_pem(files.cert, files.key));
    let endpoint = endpoint
        .tls_config_with_verifier(tls, Arc::new(verifier))
        .map_err(|e| TlsError::Config(e.to_string()))?;
    Ok(ClientTls { endpoint, refusal })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Revoked};

    /// The DER chain (leaf first) in a tls dir's `node.pem`.
    fn chain(dir: &Path) -> Vec<Vec<u8>> {
        certs::pem_certificates(&std::fs::read_to_string(dir.join(CERT_FILE)).unwrap())
    }

    #[test]
    fn the_parent_check_names_both_orgs_and_applies_the_chain_rules() {
        let tmp = tempfile::tempdir().unwrap();
        let orgs = OrgDirectory::builtin();
        let root = tmp.path().join("root");
        certs::init_ca(&root, "100000", None, None, &orgs).unwrap();
        let henan = tmp.path().join("henan");
        certs::init_ca(&henan, "410000", Some(&root), None, &orgs).unwrap();
        let host = ["127.0.0.1".to_owned()];
        let (zhengzhou, hubei) = (tmp.path().join("410100"), tmp.path().join("420000"));
        certs::issue(&root, "410100", &host, &zhengzhou, None, &orgs).unwrap();
        certs::issue(&root, "420000", &host, &hubei, None, &orgs).unwrap();
        let hubei_serial = certs::info(&chain(&hubei)[0]).unwrap().serial;
        let mut config = Config {
            org: "420100".into(),
            upstream: None,
            tls_dir: None,
            insecure: false,
            revoked: Revoked::default(),
            time_zone: None,
            quotas: Default::default(),
            dashboard: Default::default(),
            store: Default::default(),
            alerts: Default::default(),
        };
        let node = Node::init(&tmp.path().join("wuhan"), config.clone()).unwrap();
        let ca = std::fs::read(root.join(CA_FILE)).unwrap();
        let verifier = parent_verifier(&node, &ca, ParentRefusal::default()).unwrap();
        let check = |dir: &Path| {
            let chain = chain(dir);
            let refs: Vec<&[u8]> = chain.iter().map(Vec::as_slice).collect();
            verifier.check(&refs)
        };
        assert_eq!(check(&hubei), Ok(()));
        assert_eq!(
            check(&zhengzhou).unwrap_err(),
            "presents a certificate for 410100 郑州市, but this node's parent is 420000 湖北省"
        );
        // A CA that is not the parent's ancestor, before the parent's org.
        let leaf = chain(&hubei).remove(0);
        let henan_ca =
            certs::pem_certificates(&std::fs::read_to_string(henan.join(CA_FILE)).unwrap())
                .remove(0);
        let err = verifier.check(&[&leaf, &henan_ca]).unwrap_err();
        assert!(err.contains("may not vouch for 420000"), "{err}");
        // A revoked serial in our config.
        drop(verifier);
        drop(node);
        config.revoked.serials = vec![hubei_serial.clone()];
        let node = Node::init(&tmp.path().join("wuhan2"), config.clone()).unwrap();
        let verifier = parent_verifier(&node, &ca, ParentRefusal::default()).unwrap();
        let chain = chain(&hubei);
        let err = verifier.check(&[&chain[0]]).unwrap_err();
        assert!(
            err.contains(&format!("serial {hubei_serial} is revoked")),
            "{err}"
        );
        // The national bureau has no parent to check.
        let national = Config {
            org: "100000".into(),
            ..config
        };
        let top = Node::init(&tmp.path().join("national"), national).unwrap();
        assert!(matches!(
            parent_verifier(&top, &ca, ParentRefusal::default()),
            Err(TlsError::NoParent { .. })
        ));
    }
}
