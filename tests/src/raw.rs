//! Raw sync clients: what a broken or hostile child can say to a hub,
//! spoken directly with tonic — over mutual TLS with a chosen identity (or
//! none), or plaintext — instead of through `lunxun-node`.
//!
//! A [`RawSession`] is one `Sync.Session` stream: it says Hello, reads the
//! parent's vector, then sends whatever the test wants and reads what comes
//! back, every wait bounded by [`RAW_WAIT_MAX`].

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use lunxun_node::sync::client::{MESSAGE_BYTES_MAX, PROTOCOL_VERSION};
use lunxun_node::tls::{CA_FILE, CERT_FILE, KEY_FILE};
use lunxun_proto::v1 as pb;
use lunxun_proto::v1::sync_client::SyncClient;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic::{Status, Streaming};

/// Longest wait for the hub's next message in a raw session.
pub const RAW_WAIT_MAX: Duration = Duration::from_secs(30);

/// A runtime for raw clients in a (synchronous) test. Drop it when done:
/// that closes its connections, which an idle runtime would keep open.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

/// What a raw client presents.
pub struct Tls<'a> {
    /// The roots it trusts (PEM).
    pub ca: &'a [u8],
    /// Its certificate chain and key (PEM), if it presents one.
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
}

impl<'a> Tls<'a> {
    /// Trusts `ca`, presents nothing.
    pub fn anonymous(ca: &'a [u8]) -> Tls<'a> {
        Tls { ca, identity: None }
    }

    /// Trusts `ca`, presents the identity of a tls dir.
    pub fn from_dir(ca: &'a [u8], dir: &Path) -> Tls<'a> {
        let read = |f: &str| {
            std::fs::read(dir.join(f)).unwrap_or_else(|e| panic!("{}: {e}", dir.join(f).display()))
        };
        Tls {
            ca,
            identity: Some((read(CERT_FILE), read(KEY_FILE))),
        }
    }
}

/// The trust anchor of a tls dir.
pub fn ca_of(dir: &Path) -> Vec<u8> {
    std::fs::read(dir.join(CA_FILE)).unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
}

/// A client of the hub at `addr` over mutual TLS (`tls`), or plaintext
/// when `tls` is None, with the protocol's message limits. The error is the
/// connection's (with TLS 1.3 a refused certificate usually shows only at
/// the first call).
pub async fn client(
    addr: SocketAddr,
    tls: Option<Tls<'_>>,
) -> Result<SyncClient<Channel>, tonic::transport::Error> {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mut endpoint = Endpoint::from_shared(format!("{scheme}://{addr}"))
        .expect("a valid URL")
        .connect_timeout(Duration::from_secs(10))
        .tcp_nodelay(true);
    if let Some(tls) = tls {
        let mut config = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(tls.ca));
        if let Some((cert, key)) = tls.identity {
            config = config.identity(Identity::from_pem(cert, key));
        }
        endpoint = endpoint.tls_config(config)?;
    }
    let channel = endpoint.connect().await?;
    Ok(SyncClient::new(channel)
        .max_decoding_message_size(MESSAGE_BYTES_MAX)
        .max_encoding_message_size(usize::MAX))
}

/// One `Sync.Session` stream, opened with a Hello.
pub struct RawSession {
    tx: Option<mpsc::Sender<pb::ChildMessage>>,
    inbound: Streaming<pb::ParentMessage>,
    /// The parent's vector, its first answer.
    pub vector: pb::Vector,
}

impl RawSession {
    /// Opens a session claiming to be `org` (the hub believes the
    /// certificate, not this) and reads the parent's vector.
    pub async fn open(client: &mut SyncClient<Channel>, org: &str) -> Result<RawSession, Status> {
        let (tx, rx) = mpsc::channel::<pb::ChildMessage>(16);
        tx.send(pb::ChildMessage {
            kind: Some(pb::child_message::Kind::Hello(pb::Hello {
                protocol: PROTOCOL_VERSION,
                org: org.to_owned(),
                incarnation: Bytes::from_static(b"a raw test client"),
                bulletins: 0,
            })),
        })
        .await
        .expect("the channel is open");
        let response = tokio::time::timeout(RAW_WAIT_MAX, client.session(ReceiverStream::new(rx)))
            .await
            .map_err(|_| Status::deadline_exceeded("the hub did not answer the session"))??;
        let mut session = RawSession {
            tx: Some(tx),
            inbound: response.into_inner(),
            vector: pb::Vector::default(),
        };
        match session.next().await? {
            Some(pb::ParentMessage {
                kind: Some(pb::parent_message::Kind::Vector(v)),
            }) => session.vector = v,
            other => panic!("expected the vector first, got {other:?}"),
        }
        Ok(session)
    }

    /// The vector's seq for `origin` (0 when absent).
    pub fn seq_of(&self, origin: &str) -> u64 {
        self.vector
            .entries
            .iter()
            .find(|e| e.origin == origin)
            .map_or(0, |e| e.seq)
    }

    /// Sends one message; false when the hub closed the stream.
    pub async fn send(&self, kind: pb::child_message::Kind) -> bool {
        let Some(tx) = &self.tx else { return false };
        tx.send(pb::ChildMessage { kind: Some(kind) }).await.is_ok()
    }

    /// Sends a batch.
    pub async fn send_batch(&self, batch: pb::Batch) -> bool {
        self.send(pb::child_message::Kind::Batch(batch)).await
    }

    /// The hub's next message (None: the stream ended).
    pub async fn next(&mut self) -> Result<Option<pb::ParentMessage>, Status> {
        tokio::time::timeout(RAW_WAIT_MAX, self.inbound.message())
            .await
            .map_err(|_| Status::deadline_exceeded("the hub sent nothing"))?
    }

    /// The hub's next message, which must be an ack; Err with the hub's
    /// status if it ended the session instead.
    pub async fn ack(&mut self) -> Result<pb::Ack, Status> {
        match self.next().await? {
            Some(pb::ParentMessage {
                kind: Some(pb::parent_message::Kind::Ack(ack)),
            }) => Ok(ack),
            None => Err(Status::cancelled(
                "the hub ended the stream without a status",
            )),
            other => panic!("expected an ack, got {other:?}"),
        }
    }

    /// Ends the session as a child does: Done, then reads until the hub
    /// closes; returns the hub's final status, if any.
    pub async fn finish(mut self, pending: u64) -> Result<(), Status> {
        self.send(pb::child_message::Kind::Done(pb::Done { pending }))
            .await;
        self.tx = None;
        while self.next().await?.is_some() {}
        Ok(())
    }

    /// Closes our side without Done.
    pub fn close(&mut self) {
        self.tx = None;
    }
}
