//! A one-row import's latency while six clients ask for coverage at other
//! dates, against the same import on an idle node, in one run.
//!
//! The node is the import benchmark's county (20,000 people, 200,000
//! attendance rows by default). Each client loops over its own past dates
//! (more of them than the node keeps rollups for), so nearly every query
//! builds a rollup, as a dashboard's date picker or last quarter's 通报 does.
//! The import is one roster record (an operator's single edit), written
//! through `Node::write_records` as `import` does.
//!
//! Run: `cargo bench -p lunxun-node --bench contention` (about a minute; set
//! `LUNXUN_BENCH_PEOPLE` / `LUNXUN_BENCH_ROWS` for the scale,
//! `LUNXUN_BENCH_WRITES` for the number of one-row imports measured).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lunxun_node::config::Config;
use lunxun_node::import::{self, ImportOptions};
use lunxun_node::model::{Date, Record};
use lunxun_node::node::Node;
use lunxun_node::orgs::OrgDirectory;

/// The allocator the binaries use, so the figures are theirs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CLIENTS: usize = 6;
/// Dates each client cycles through: together far more than the rollups kept.
const DATES_PER_CLIENT: i64 = 20;

fn env_u32(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// `n` one-row imports, one after another; their latencies, sorted.
fn one_row_imports(node: &Node, n: usize, tag: &str) -> anyhow::Result<Vec<Duration>> {
    let entry = node
        .view()
        .roster(node.me())
        .next()
        .expect("a roster entry")
        .clone();
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let mut e = entry.clone();
        e.position = format!("{tag} {i}");
        let t = Instant::now();
        node.write_records(vec![Record::Roster(e)])?;
        times.push(t.elapsed());
        std::thread::sleep(Duration::from_millis(20));
    }
    times.sort();
    Ok(times)
}

fn main() -> anyhow::Result<()> {
    let people = env_u32("LUNXUN_BENCH_PEOPLE", 20_000);
    let rows = env_u32("LUNXUN_BENCH_ROWS", 200_000);
    let writes = env_u32("LUNXUN_BENCH_WRITES", 100) as usize;
    let as_of = Date::from_ymd_opt(2026, 6, 30).expect("valid date");
    let orgs = OrgDirectory::builtin();
    let county = orgs.get("410102").expect("中原区 is in the directory");
    let tmp = tempfile::tempdir()?;
    let data = lunxun_gen::generate_scaled(42, &orgs, county, people, rows, as_of);
    let files = tmp.path().join("files");
    lunxun_gen::write_csv(&data, &files, true)?;

    let config = Config {
        org: "410102".into(),
        ..Default::default()
    };
    let node = Arc::new(Node::init(&tmp.path().join("node"), config)?);
    let opts = ImportOptions { progress: false };
    let roster = import::read_roster(&files.join("roster.csv"), &opts)?;
    node.write_records(
        roster
            .into_iter()
            .map(|r| Record::Roster(r.entry))
            .collect(),
    )?;
    let trainings = import::read_trainings(&files.join("trainings.csv"), &opts)?;
    let mut records: Vec<Record> = trainings.classes.into_iter().map(Record::Class).collect();
    records.extend(trainings.attendance.into_iter().map(Record::Attendance));
    node.write_records(records)?;
    println!(
        "data: {} roster rows, {} attendance rows",
        data.roster.len(),
        data.attendance.len()
    );

    // One query at a past date, alone: what each client's query costs.
    let root = node.me();
    let t = Instant::now();
    let past = as_of - chrono::Duration::days(400);
    node.coverage(root, None, past);
    let query = t.elapsed();

    let idle = one_row_imports(&node, writes, "idle")?;

    let stop = Arc::new(AtomicBool::new(false));
    let queries = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (node, stop, queries) = (node.clone(), stop.clone(), queries.clone());
            std::thread::spawn(move || {
                let mut i = 0i64;
                while !stop.load(Ordering::Relaxed) {
                    let back = 30 + (c as i64 * DATES_PER_CLIENT + i % DATES_PER_CLIENT) * 7;
                    node.coverage(root, None, as_of - chrono::Duration::days(back));
                    queries.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let t = Instant::now();
    let before = queries.load(Ordering::Relaxed);
    let loaded = one_row_imports(&node, writes, "loaded")?;
    let served = queries.load(Ordering::Relaxed) - before;
    let elapsed = t.elapsed();
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().expect("client thread");
    }

    println!("one coverage query at a past date, alone: {query:.2?}");
    println!(
        "one-row import, idle: p50 {:.2?}, p99 {:.2?} ({writes} imports)",
        percentile(&idle, 0.5),
        percentile(&idle, 0.99)
    );
    println!(
        "one-row import, {CLIENTS} clients asking other dates ({:.0} queries/s): p50 {:.2?}, p90 {:.2?}, p99 {:.2?}",
        served as f64 / elapsed.as_secs_f64(),
        percentile(&loaded, 0.5),
        percentile(&loaded, 0.9),
        percentile(&loaded, 0.99)
    );
    println!(
        "  slowest five: {:.2?}",
        &loaded[loaded.len().saturating_sub(5)..]
    );
    println!(
        "ratio loaded/idle: p50 {:.1}x, p99 {:.1}x",
        percentile(&loaded, 0.5).as_secs_f64() / percentile(&idle, 0.5).as_secs_f64(),
        percentile(&loaded, 0.99).as_secs_f64() / percentile(&idle, 0.99).as_secs_f64()
    );
    Ok(())
}
