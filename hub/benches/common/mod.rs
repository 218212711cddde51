//! What the hub's benchmarks share (`benches/sync.rs`, `benches/bundle.rs`,
//! each with `mod common;`): the allocator the binaries use, nodes in a
//! temporary folder, plaintext or with a tls dir, the children-facing sync
//! service on a loopback port, plaintext or over mutual TLS as `serve`
//! runs it, a PKI for a prefecture and its county, and the county's
//! generated records.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use lunxun_hub::identity::Identity;
use lunxun_hub::service::SyncService;
use lunxun_node::config::Config;
use lunxun_node::model::{Date, Record};
use lunxun_node::node::Node;
use lunxun_node::orgs::OrgDirectory;
use tokio::sync::watch;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

/// The allocator the binaries use, so the figures are theirs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The runtime the benchmarks run in: two workers, as on the machines
/// measured.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

fn config(org: &str, upstream: Option<String>, tls_dir: Option<&Path>) -> Config {
    Config {
        org: org.into(),
        upstream,
        tls_dir: tls_dir.map(Path::to_path_buf),
        insecure: tls_dir.is_none(),
        ..Default::default()
    }
}

/// A plaintext node (no tls dir: nothing signed, `--insecure` upstream).
pub fn node(dir: &Path, org: &str, upstream: Option<SocketAddr>) -> anyhow::Result<Arc<Node>> {
    let upstream = upstream.map(|a| format!("http://{a}"));
    Ok(Arc::new(Node::init(dir, config(org, upstream, None))?))
}

/// A node with a tls dir: its writes sign checkpoints, it verifies what it
/// receives, and its upstream (when `upstream` is given) is mutual TLS.
pub fn tls_node(
    dir: &Path,
    org: &str,
    upstream: Option<SocketAddr>,
    tls_dir: &Path,
) -> anyhow::Result<Arc<Node>> {
    let upstream = upstream.map(|a| format!("https://{a}"));
    Ok(Arc::new(Node::init(
        dir,
        config(org, upstream, Some(tls_dir)),
    )?))
}

/// Serves `node`'s children-facing sync service on a loopback port, in
/// plaintext, until `stop` turns true.
pub async fn serve(node: Arc<Node>, stop: watch::Receiver<bool>) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let service = SyncService::new(node, Identity::Insecure).into_server();
    tokio::spawn(async move {
        let mut stop = stop;
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        let _ = Server::builder()
            .add_service(service)
            .serve_with_incoming_shutdown(incoming, async move {
                let _ = stop.wait_for(|s| *s).await;
            })
            .await;
    });
    Ok(addr)
}

/// Serves `node`'s children-facing sync service over mutual TLS, as
/// `serve` does, until `stop` turns true.
pub async fn serve_tls(node: Arc<Node>, stop: watch::Receiver<bool>) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let dir = node.config().tls_dir.clone().expect("a tls dir");
    let tls = lunxun_hub::listener::server_config(&dir).map_err(anyhow::Error::msg)?;
    let service = SyncService::new(node.clone(), Identity::Certificate).into_server();
    tokio::spawn(async move {
        let mut stop = stop;
        let incoming = lunxun_hub::listener::incoming(listener, tls, node);
        let _ = lunxun_hub::listener::configure_server(Server::builder())
            .add_service(service)
            .serve_with_incoming_shutdown(incoming, async move {
                let _ = stop.wait_for(|s| *s).await;
            })
            .await;
    });
    Ok(addr)
}

/// A root CA under `dir` and the tls dirs of 郑州 (410100, serving on
/// 127.0.0.1) and 中原区 (410102): (prefecture's, county's).
pub fn pki(dir: &Path, orgs: &OrgDirectory) -> anyhow::Result<(PathBuf, PathBuf)> {
    let root = dir.join("pki-root");
    lunxun_node::certs::init_ca(&root, "100000", None, None, orgs)?;
    let (prefecture, county) = (dir.join("tls-410100"), dir.join("tls-410102"));
    lunxun_node::certs::issue(
        &root,
        "410100",
        &["127.0.0.1".into()],
        &prefecture,
        None,
        orgs,
    )?;
    lunxun_node::certs::issue(&root, "410102", &[], &county, None, orgs)?;
    Ok((prefecture, county))
}

/// The county's records, generated (seed 42): `people` on its roster and
/// `attendance` rows.
pub fn county_records(
    orgs: &OrgDirectory,
    county: &Node,
    people: u32,
    attendance: u32,
    as_of: Date,
) -> Vec<Record> {
    let data = lunxun_gen::generate_scaled(42, orgs, county.me(), people, attendance, as_of);
    let mut records: Vec<Record> = data.roster.into_iter().map(Record::Roster).collect();
    records.extend(data.classes.into_iter().map(Record::Class));
    records.extend(data.attendance.into_iter().map(Record::Attendance));
    records
}
