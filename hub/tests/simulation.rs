//! A deterministic simulation (turmoil) of a 3-level tree — the national
//! bureau, a province, and two of the province's children (a prefecture and
//! a county directly under the province) — where every node writes records
//! while a fault schedule partitions, holds and repairs the links between
//! them. The real sync code runs over the simulated network; each node has a
//! real store.
//!
//! At the end all links are repaired and the tree quiesces; then the
//! invariants are checked: every origin's log at the national node (and at
//! the province, for its subtree) is byte for byte the origin's own log, so
//! nothing was lost and nothing applied twice, and the national node's view
//! equals the records of all origins applied once.
//!
//! Every run prints its seed. `LUNXUN_SIM_SEEDS=N` runs seeds 1..=N (default
//! 200); `LUNXUN_SIM_SEED=S` replays one seed. Seeds run in parallel, one
//! per core (`LUNXUN_SIM_THREADS=N` to choose).

use std::net::{IpAddr, Ipv4Addr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use lunxun_hub::identity::Identity;
use lunxun_hub::service::SyncService;
use lunxun_node::codec;
use lunxun_node::config::Config;
use lunxun_node::model::{
    Attendance, Class, Hours, Mode, Outcome, PersonId, Rank, Record, RosterEntry,
};
use lunxun_node::node::Node;
use lunxun_node::sync::client::{SyncError, upstream};
use lunxun_node::sync::worker::sync_once_via;
use lunxun_node::view::View;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::Connected;
use tonic::transport::{Endpoint, Server};

const PORT: u16 = 7443;
/// Simulated time with faults.
const FAULT_PHASE: Duration = Duration::from_secs(90);
/// Simulated time for the repaired tree to settle (longer than the sync
/// code's idle timeout, so any session stuck on a dead link has ended).
const QUIESCE: Duration = Duration::from_secs(150);

/// The tree: (host name, org code, parent host).
const TREE: [(&str, &str, Option<&str>); 4] = [
    ("national", "100000", None),
    ("province", "410000", Some("national")),
    ("prefecture", "410100", Some("province")),
    ("county", "419001", Some("province")),
];
const LINKS: [(&str, &str); 3] = [
    ("province", "national"),
    ("prefecture", "province"),
    ("county", "province"),
];

/// turmoil's stream, as tonic's server wants it.
struct SimStream(turmoil::net::TcpStream);

impl Connected for SimStream {
    type ConnectInfo = ();
    fn connect_info(&self) -> Self::ConnectInfo {}
}

impl AsyncRead for SimStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for SimStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// Serves `node`'s children-facing sync service on the simulated network.
async fn serve(node: Arc<Node>) -> Result<(), Box<dyn std::error::Error>> {
    let listener =
        turmoil::net::TcpListener::bind((IpAddr::from(Ipv4Addr::UNSPECIFIED), PORT)).await?;
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    tokio::spawn(async move {
        loop {
            let accepted = listener.accept().await.map(|(s, _)| SimStream(s));
            if tx.send(accepted).await.is_err() {
                break;
            }
        }
    });
    Server::builder()
        .add_service(SyncService::new(node, Identity::Insecure).into_server())
        .serve_with_incoming(ReceiverStream::new(rx))
        .await?;
    Ok(())
}

/// One sync with the parent over the simulated network.
async fn sync(node: &Arc<Node>, parent: &str) -> Result<(), SyncError> {
    let url = format!("http://{parent}:{PORT}");
    sync_once_via(node, || async {
        let channel = Endpoint::from_shared(url.clone())
            .map_err(|e| SyncError::Link(e.to_string()))?
            .connect_timeout(Duration::from_secs(10))
            .connect_with_connector(tower::service_fn(|uri: tonic::transport::Uri| async move {
                let authority = uri.authority().map(|a| a.to_string()).unwrap_or_default();
                turmoil::net::TcpStream::connect(authority)
                    .await
                    .map(TokioIo::new)
            }))
            .await
            .map_err(|e| SyncError::Unreachable {
                url: url.clone(),
                reason: e.to_string(),
            })?;
        Ok(upstream(url.clone(), channel))
    })
    .await
    .map(|_| ())
}

fn person(rng: &mut ChaCha8Rng, region: &str) -> PersonId {
    let first17 = format!(
        "{region}19{:02}0{}{:02}{:03}",
        rng.random_range(50..99),
        rng.random_range(1..10),
        rng.random_range(10..28),
        rng.random_range(0..1000)
    );
    let mut digits = [0u8; 17];
    digits.copy_from_slice(first17.as_bytes());
    format!("{first17}{}", PersonId::check_char(&digits))
        .parse()
        .expect("valid generated ID")
}

/// A few random records of `org`: roster entries, or a class with attendance.
fn records(rng: &mut ChaCha8Rng, org: &str, round: u32) -> Vec<Record> {
    let region = if org == "100000" { "110000" } else { org };
    let date =
        |d: u32| lunxun_node::model::DATE_MIN + chrono::TimeDelta::days(i64::from(27_000 + d));
    if rng.random_bool(0.5) {
        (0..rng.random_range(1..6))
            .map(|i| {
                Record::Roster(RosterEntry {
                    person: person(rng, region),
                    name: format!("人{round}-{i}"),
                    rank: [Rank::Leading, Rank::General, Rank::Grassroots][rng.random_range(0..3)],
                    since: date(rng.random_range(0..400)),
                    until: None,
                    employer: String::new(),
                    position: String::new(),
                    group: String::new(),
                })
            })
            .collect()
    } else {
        let class_id = format!("S{round}");
        let start = rng.random_range(0..600);
        let mut out = vec![Record::Class(Class {
            class_id: class_id.parse().expect("valid class id"),
            title: format!("班{round}"),
            category: String::new(),
            mode: Mode::Centralized,
            off_job: true,
            start: date(start),
            end: date(start + 4),
            hours: Hours::from_whole(40),
            days: None,
        })];
        for _ in 0..rng.random_range(1..8) {
            out.push(Record::Attendance(Attendance {
                class_id: class_id.parse().expect("valid class id"),
                person: person(rng, region),
                hours: Hours::from_whole(40),
                outcome: Outcome::Completed,
                name: String::new(),
            }));
        }
        out
    }
}

/// A node's life: write now and then, sync with the parent now and then.
async fn live(node: Arc<Node>, parent: &'static str, seed: u64, writing: Arc<AtomicBool>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ u64::from(node.me().index() as u32) << 32);
    let mut round = 0;
    loop {
        if writing.load(Ordering::SeqCst) && rng.random_bool(0.6) {
            round += 1;
            let batch = records(&mut rng, node.code(), round);
            node.write_records(batch).expect("a local write");
        }
        let _ = sync(&node, parent).await;
        tokio::time::sleep(Duration::from_millis(rng.random_range(200..3_000))).await;
    }
}

fn node(dir: &std::path::Path, org: &str, parent: Option<&str>) -> Arc<Node> {
    Arc::new(
        Node::init(
            &dir.join(org),
            Config {
                org: org.into(),
                upstream: parent.map(|p| format!("http://{p}:{PORT}")),
                tls_dir: None,
                insecure: true,
                ..Default::default()
            },
        )
        .expect("init"),
    )
}

/// An origin's log, as the encoded changes stored at `holder`.
fn log_of(holder: &Node, origin: &str) -> Vec<bytes::Bytes> {
    holder
        .store()
        .scan(origin, 0)
        .map(|e| e.expect("stored entry").change)
        .collect()
}

fn check(nodes: &[(&str, Arc<Node>)]) -> Result<(), String> {
    let national = &nodes[0].1;
    let province = &nodes[1].1;
    let mut oracle = View::default();
    for (_, origin) in nodes {
        let own = log_of(origin, origin.code());
        for change in &own {
            let c = codec::decode_change(change.clone()).map_err(|e| e.0)?;
            oracle.apply(
                origin.me(),
                codec::decode_record(&c.record).map_err(|e| e.0)?,
            );
        }
        if log_of(national, origin.code()) != own {
            return Err(format!(
                "national holds {} changes of {}, which wrote {} (or bytes differ)",
                log_of(national, origin.code()).len(),
                origin.code(),
                own.len()
            ));
        }
        if origin.code() != "100000" && log_of(province, origin.code()) != own {
            return Err(format!(
                "province's copy of {} differs from its log",
                origin.code()
            ));
        }
        let head = national.view().head(origin.me()).map_or(0, |h| h.seq);
        if head != own.len() as u64 {
            return Err(format!(
                "national's head of {} is {head}, the log has {}",
                origin.code(),
                own.len()
            ));
        }
    }
    let (mut got, mut want) = (national.view().counts(), oracle.counts());
    // Heads are not part of the oracle; compare the records.
    (got.origins, got.changes, want.origins, want.changes) = (0, 0, 0, 0);
    if got != want {
        return Err(format!(
            "national's view {got:?} differs from the records applied once {want:?}"
        ));
    }
    Ok(())
}

fn run_seed(seed: u64) -> Result<(), String> {
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let nodes: Vec<(&str, Arc<Node>)> = TREE
        .iter()
        .map(|(host, org, parent)| (*host, node(tmp.path(), org, *parent)))
        .collect();
    let writing = Arc::new(AtomicBool::new(true));
    let mut sim = turmoil::Builder::new()
        .simulation_duration(FAULT_PHASE + QUIESCE + Duration::from_secs(60))
        .tick_duration(Duration::from_millis(5))
        .rng_seed(seed)
        .build();
    for ((host, _, parent), (_, node)) in TREE.iter().zip(&nodes) {
        let (node, writing, parent) = (node.clone(), writing.clone(), *parent);
        let serves = *host == "national" || *host == "province";
        sim.host(*host, move || {
            let (node, writing) = (node.clone(), writing.clone());
            async move {
                if let Some(parent) = parent {
                    tokio::spawn(live(node.clone(), parent, seed, writing));
                }
                if serves {
                    serve(node).await?;
                } else {
                    std::future::pending::<()>().await;
                }
                Ok(())
            }
        });
    }
    let checked = Arc::new(std::sync::Mutex::new(None));
    {
        let (nodes, writing, checked) = (nodes.clone(), writing.clone(), checked.clone());
        sim.client("driver", async move {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let start = tokio::time::Instant::now();
            while start.elapsed() < FAULT_PHASE {
                let (a, b) = LINKS[rng.random_range(0..LINKS.len())];
                match rng.random_range(0..4) {
                    0 => turmoil::partition(a, b),
                    1 => turmoil::repair(a, b),
                    2 => turmoil::hold(a, b),
                    _ => turmoil::release(a, b),
                }
                tokio::time::sleep(Duration::from_millis(rng.random_range(100..5_000))).await;
            }
            for (a, b) in LINKS {
                turmoil::release(a, b);
                turmoil::repair(a, b);
            }
            writing.store(false, Ordering::SeqCst);
            tokio::time::sleep(QUIESCE).await;
            *checked.lock().expect("lock") = Some(check(&nodes));
            Ok(())
        });
    }
    sim.run().map_err(|e| format!("simulation failed: {e}"))?;
    let result = checked.lock().map_err(|e| e.to_string())?.take();
    result.unwrap_or_else(|| Err("the driver did not finish".into()))
}

#[test]
fn partitions_holds_and_repairs_converge_exactly_once() {
    let seeds: Vec<u64> = match std::env::var("LUNXUN_SIM_SEED") {
        Ok(s) => vec![s.parse().expect("LUNXUN_SIM_SEED is a number")],
        Err(_) => {
            let n: u64 = std::env::var("LUNXUN_SIM_SEEDS")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(200);
            (1..=n).collect()
        }
    };
    // Seeds are independent simulations (each on its own thread's runtime,
    // with its own stores): run them on every core.
    let threads = std::env::var("LUNXUN_SIM_THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, seeds.len());
    eprintln!(
        "simulating seeds {}..={} on {threads} threads",
        seeds[0],
        seeds[seeds.len() - 1]
    );
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failures = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                while let Some(&seed) = seeds.get(next.fetch_add(1, Ordering::Relaxed)) {
                    if let Err(e) = run_seed(seed) {
                        eprintln!("seed {seed} FAILED: {e} (replay: LUNXUN_SIM_SEED={seed})");
                        failures.lock().expect("lock").push(seed);
                    }
                }
            });
        }
    });
    let mut failures = failures.into_inner().expect("lock");
    failures.sort_unstable();
    assert!(failures.is_empty(), "failing seeds: {failures:?}");
}
