//! Offline bundles against the live sync of the same changes, in one run
//! and one process: a county's 110,000 changes (10,000 people, 100,000
//! attendance rows) written once, then
//!
//! 1. `bundle export` of all of them: time, changes/s, bytes per change;
//! 2. `bundle import` of that file at a fresh prefecture (the session's
//!    verification and placement, durable append, the acknowledgement);
//! 3. `bundle import` of the acknowledgement back at the county;
//! 4. `sync --once` of the same changes to another fresh prefecture over
//!    loopback TCP: changes/s and compressed batch bytes per change.
//!
//! Plaintext nodes (no tls dir): no checkpoint signatures on either path.
//!
//! Run: `cargo bench -p lunxun-hub --bench bundle`.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use lunxun_hub::identity::Identity;
use lunxun_hub::service::SyncService;
use lunxun_node::app::bundle::{self, Imported, Since};
use lunxun_node::config::Config;
use lunxun_node::model::{Date, Record};
use lunxun_node::node::Node;
use lunxun_node::orgs::OrgDirectory;
use lunxun_node::sync::worker;
use tokio::sync::watch;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

/// The allocator the binaries use, so the figures are theirs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn node(dir: &Path, org: &str, upstream: Option<SocketAddr>) -> anyhow::Result<Arc<Node>> {
    Ok(Arc::new(Node::init(
        dir,
        Config {
            org: org.into(),
            upstream: upstream.map(|a| format!("http://{a}")),
            tls_dir: None,
            insecure: true,
            revoked: Default::default(),
            time_zone: None,
            quotas: Default::default(),
            dashboard: Default::default(),
            store: Default::default(),
            alerts: Default::default(),
        },
    )?))
}

/// Serves `node`'s children-facing sync service on a loopback port.
async fn serve(node: Arc<Node>, stop: watch::Receiver<bool>) -> anyhow::Result<SocketAddr> {
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

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let orgs = OrgDirectory::builtin();
    let as_of = Date::from_ymd_opt(2026, 6, 30).expect("valid date");
    let (_stop_tx, stop) = watch::channel(false);

    let live = node(&tmp.path().join("live"), "410100", None)?;
    let live_addr = serve(live.clone(), stop.clone()).await?;
    let by_file = node(&tmp.path().join("by-file"), "410100", None)?;
    let county = node(&tmp.path().join("county"), "410102", Some(live_addr))?;
    let data = lunxun_gen::generate_scaled(42, &orgs, county.me(), 10_000, 100_000, as_of);
    let mut records: Vec<Record> = data.roster.into_iter().map(Record::Roster).collect();
    records.extend(data.classes.into_iter().map(Record::Class));
    records.extend(data.attendance.into_iter().map(Record::Attendance));
    let written = county.write_records(records)?.written as f64;
    println!("county: {written} changes written");

    let file = tmp.path().join("county.lxb");
    let t = Instant::now();
    let e = bundle::export(&county, &file, Since::All, &mut |_, _| {})
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let export = t.elapsed();
    println!(
        "bundle export: {export:.2?} = {:.0} changes/s; {} bytes = {:.1} bytes/change ({} batches)",
        written / export.as_secs_f64(),
        e.bytes,
        e.bytes as f64 / written,
        e.batches
    );

    let t = Instant::now();
    let Imported::Bundle(i) =
        bundle::import(&by_file, &file).map_err(|e| anyhow::anyhow!("{e}"))?
    else {
        anyhow::bail!("the bundle imported as an acknowledgement");
    };
    let import = t.elapsed();
    assert_eq!(i.applied as f64, written);
    println!(
        "bundle import at the prefecture: {import:.2?} = {:.0} changes/s",
        written / import.as_secs_f64()
    );
    let t = Instant::now();
    bundle::import(&county, &i.ack).map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("acknowledgement import at the county: {:.2?}", t.elapsed());

    let t = Instant::now();
    let outcome = worker::sync_once(&county).await?;
    let sync = t.elapsed();
    assert!(outcome.complete(), "{outcome:?}");
    assert_eq!(outcome.applied as f64, written);
    println!(
        "sync --once county -> prefecture: {sync:.2?} = {:.0} changes/s; {:.1} compressed batch bytes/change",
        written / sync.as_secs_f64(),
        outcome.wire_bytes as f64 / written
    );
    println!(
        "export + import against the live sync: {:.2}x the time",
        (export + import).as_secs_f64() / sync.as_secs_f64()
    );
    Ok(())
}
