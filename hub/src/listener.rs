//! The children-facing listener over mutual TLS.
//!
//! The hub runs the TLS handshake itself instead of leaving it to tonic,
//! which drops a failed handshake with a debug line: here every failure —
//! no client certificate, one of another CA, an expired one, a replayed or
//! garbled session — is logged with the peer's address and counted in
//! `status` (`refused_peers`: `certificate` when the client's certificate
//! was refused, `tls-handshake` otherwise), and a peer that does not finish
//! its handshake within [`HANDSHAKE_TIMEOUT`] is dropped instead of holding a
//! connection open forever. Established connections are handed to tonic,
//! which still sees the peer's certificates (`Request::peer_certs`).

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use lunxun_node::node::Node;
use lunxun_node::sync::children::count_unidentified_refusal;
use lunxun_node::tls::TlsFiles;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{self, RootCertStore, ServerConfig};
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;
use tracing::warn;

/// Longest a peer may take to complete its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes under way at once, at most; further connections wait in the
/// listen backlog.
const HANDSHAKES_MAX: usize = 256;
/// Established connections waiting for the server to take them.
const ESTABLISHED_MAX: usize = 64;

/// The server side of mutual TLS from a tls dir: our certificate chain and
/// key, and client certificates required, verified to the roots in `ca.pem`.
pub fn server_config(dir: &Path) -> Result<Arc<ServerConfig>, String> {
    let files = TlsFiles::load(dir).map_err(|e| e.to_string())?;
    let pems = |bytes: &[u8], file: &str| {
        CertificateDer::pem_slice_iter(bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{}: {e}", dir.join(file).display()))
    };
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(pems(&files.ca, lunxun_node::tls::CA_FILE)?);
    if added == 0 {
        return Err(format!(
            "{}: no usable CA certificate",
            dir.join(lunxun_node::tls::CA_FILE).display()
        ));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebPkiClientVerifier::builder_with_provider(roots.into(), provider.clone())
        .build()
        .map_err(|e| format!("client verification: {e}"))?;
    let chain = pems(&files.cert, lunxun_node::tls::CERT_FILE)?;
    let key = PrivateKeyDer::from_pem_slice(&files.key)
        .map_err(|e| format!("{}: {e}", dir.join(lunxun_node::tls::KEY_FILE).display()))?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("tls configuration: {e}"))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// Accepts connections on `listener`, runs their handshakes (each within
/// [`HANDSHAKE_TIMEOUT`]), and yields the established ones. Stops accepting
/// when the stream is dropped.
pub fn incoming(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    node: Arc<Node>,
) -> ReceiverStream<io::Result<TlsStream<TcpStream>>> {
    let (tx, rx) = mpsc::channel(ESTABLISHED_MAX);
    tokio::spawn(accept_loop(listener, TlsAcceptor::from(config), node, tx));
    ReceiverStream::new(rx)
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    node: Arc<Node>,
    established: mpsc::Sender<io::Result<TlsStream<TcpStream>>>,
) {
    let handshakes = Arc::new(Semaphore::new(HANDSHAKES_MAX));
    loop {
        let permit = tokio::select! {
            _ = established.closed() => return,
            permit = handshakes.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        let (stream, peer) = tokio::select! {
            _ = established.closed() => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, a connection aborted before
                    // it was taken...: wait a little rather than spin.
                    warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let (acceptor, node, established) = (acceptor.clone(), node.clone(), established.clone());
        tokio::spawn(async move {
            let _permit = permit;
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => {
                    let _ = established.send(Ok(tls)).await;
                }
                Ok(Err(e)) => refused(&node, peer, handshake_refusal(&e), &e.to_string()),
                Err(_) => refused(
                    &node,
                    peer,
                    "tls-handshake",
                    &format!("no TLS handshake within {}s", HANDSHAKE_TIMEOUT.as_secs()),
                ),
            }
        });
    }
}

/// Why a handshake failed, as counted: the client's certificate, or the
/// handshake itself (garbled or replayed bytes, a client that does not
/// trust us, a peer that hung up).
fn handshake_refusal(e: &io::Error) -> &'static str {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(
            rustls::Error::InvalidCertificate(_)
            | rustls::Error::NoCertificatesPresented
            | rustls::Error::InvalidCertRevocationList(_),
        ) => "certificate",
        _ => "tls-handshake",
    }
}

fn refused(node: &Node, peer: SocketAddr, reason: &'static str, error: &str) {
    warn!(%peer, reason, error, "TLS handshake refused");
    count_unidentified_refusal(node, reason);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_faults_are_told_from_other_handshake_failures() {
        let wrap = |e: rustls::Error| io::Error::new(io::ErrorKind::InvalidData, e);
        assert_eq!(
            handshake_refusal(&wrap(rustls::Error::NoCertificatesPresented)),
            "certificate"
        );
        assert_eq!(
            handshake_refusal(&wrap(rustls::Error::InvalidCertificate(
                rustls::CertificateError::Expired
            ))),
            "certificate"
        );
        assert_eq!(
            handshake_refusal(&wrap(rustls::Error::DecryptError)),
            "tls-handshake"
        );
        assert_eq!(
            handshake_refusal(&io::Error::from(io::ErrorKind::UnexpectedEof)),
            "tls-handshake"
        );
    }
}
