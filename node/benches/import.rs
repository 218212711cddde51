//! Import benchmark: a county-style node with 20,000 people and 200,000
//! attendance rows (CSV files from the deterministic generator), imported
//! through the same path as `lunxun-node import`, then coverage computed.
//!
//! The write path is compared with raw sled inserts of the very same records
//! (the log entries the import wrote, key and value byte for byte) into a
//! fresh store on the same disk, in the same run.
//!
//! The cost of durability across a power cut ([`store::Store::flush`]
//! `fsync`s sled's files after its flush) is measured in the same run: the
//! same import into a second node with that step turned off, and small
//! writes (one record each, as an operator's single edit) with and without.
//!
//! Run: `cargo bench -p lunxun-node --bench import` (a few seconds; set
//! `LUNXUN_BENCH_PEOPLE` / `LUNXUN_BENCH_ROWS` to change the scale,
//! `LUNXUN_BENCH_SMALL_WRITES` for the number of small writes).

use std::time::{Duration, Instant};

use lunxun_node::config::Config;
use lunxun_node::coverage;
use lunxun_node::import::{self, ImportOptions};
use lunxun_node::model::{Date, Record};
use lunxun_node::node::Node;
use lunxun_node::orgs::OrgDirectory;
use lunxun_node::store;

/// The allocator the binaries use, so the figures are theirs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn env_u32(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn county_config() -> Config {
    Config {
        org: "410102".into(),
        ..Default::default()
    }
}

/// Imports the same files into a fresh node whose store skips the `fsync`
/// after sled's flush, and prints both rates (`synced` is the measured
/// import with it).
fn durability_cost(
    dir: &std::path::Path,
    files: &std::path::Path,
    opts: &ImportOptions,
    synced: Duration,
    changes: usize,
) -> anyhow::Result<()> {
    let node = Node::init(dir, county_config())?;
    node.store().set_file_sync(false);
    let t = Instant::now();
    let roster = import::read_roster(&files.join("roster.csv"), opts)?;
    let s1 = node.write_records(
        roster
            .into_iter()
            .map(|r| Record::Roster(r.entry))
            .collect(),
    )?;
    let trainings = import::read_trainings(&files.join("trainings.csv"), opts)?;
    let mut records: Vec<Record> = trainings.classes.into_iter().map(Record::Class).collect();
    records.extend(trainings.attendance.into_iter().map(Record::Attendance));
    let s2 = node.write_records(records)?;
    let unsynced = t.elapsed();
    assert_eq!(s1.written + s2.written, changes);
    println!(
        "import without the fsync step: {changes} changes in {:.2?} = {:.0} changes/s; with it {:.0} changes/s ({:.2}x the time)",
        unsynced,
        rate(changes, unsynced),
        rate(changes, synced),
        synced.as_secs_f64() / unsynced.as_secs_f64()
    );
    Ok(())
}

/// Small writes, one record each: the fsync's cost per write, with it (on
/// `node`) and without (a fresh node in `dir`).
fn small_writes(node: &Node, dir: &std::path::Path) -> anyhow::Result<()> {
    let n = env_u32("LUNXUN_BENCH_SMALL_WRITES", 200) as usize;
    let unsynced = Node::init(dir, county_config())?;
    unsynced.store().set_file_sync(false);
    let entry = node
        .view()
        .roster(node.me())
        .next()
        .expect("a roster entry")
        .clone();
    let time = |node: &Node| -> anyhow::Result<Duration> {
        let t = Instant::now();
        for i in 0..n {
            let mut e = entry.clone();
            e.position = format!("bench {i}");
            node.write_records(vec![Record::Roster(e)])?;
        }
        Ok(t.elapsed())
    };
    let with = time(node)?;
    let without = time(&unsynced)?;
    println!(
        "small writes (1 record each, {n}): with the fsync step {:.2?} per write, without {:.2?} per write",
        with / n as u32,
        without / n as u32
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    // `cargo bench` passes `--bench`; ignore arguments.
    let people = env_u32("LUNXUN_BENCH_PEOPLE", 20_000);
    let rows = env_u32("LUNXUN_BENCH_ROWS", 200_000);
    let as_of = Date::from_ymd_opt(2026, 6, 30).expect("valid date");
    let orgs = OrgDirectory::builtin();
    let county = orgs.get("410102").expect("中原区 is in the directory");
    let tmp = tempfile::tempdir()?;

    let data = lunxun_gen::generate_scaled(42, &orgs, county, people, rows, as_of);
    let files = tmp.path().join("files");
    lunxun_gen::write_csv(&data, &files, true)?;
    println!(
        "data: {} roster rows, {} attendance rows, {} classes (CSV, Chinese headers)",
        data.roster.len(),
        data.attendance.len(),
        data.classes.len()
    );

    let node_dir = tmp.path().join("node");
    let node = Node::init(&node_dir, county_config())?;
    let opts = ImportOptions { progress: false };

    // Import: parse + validate + encode + hash + durable append + view.
    let t = Instant::now();
    let roster = import::read_roster(&files.join("roster.csv"), &opts)?;
    let parsed_roster = t.elapsed();
    let n_roster = roster.len();
    let s1 = node.write_records(
        roster
            .into_iter()
            .map(|r| Record::Roster(r.entry))
            .collect(),
    )?;
    let roster_time = t.elapsed();

    let t = Instant::now();
    let trainings = import::read_trainings(&files.join("trainings.csv"), &opts)?;
    let parsed_trainings = t.elapsed();
    let n_att = trainings.attendance.len();
    let mut records: Vec<Record> = trainings.classes.into_iter().map(Record::Class).collect();
    records.extend(trainings.attendance.into_iter().map(Record::Attendance));
    let s2 = node.write_records(records)?;
    let trainings_time = t.elapsed();

    let changes = s1.written + s2.written;
    let import_time = roster_time + trainings_time;
    println!(
        "import: {changes} changes in {:.2?} = {:.0} changes/s (parse+validate {:.2?}, write {:.2?})",
        import_time,
        rate(changes, import_time),
        parsed_roster + parsed_trainings,
        import_time - parsed_roster - parsed_trainings
    );
    println!(
        "  roster {n_roster} rows {:.2?}; trainings {n_att} rows {:.2?}",
        roster_time, trainings_time
    );

    // Re-import writes nothing.
    let t = Instant::now();
    let again = import::read_trainings(&files.join("trainings.csv"), &opts)?;
    let mut records: Vec<Record> = again.classes.into_iter().map(Record::Class).collect();
    records.extend(again.attendance.into_iter().map(Record::Attendance));
    let s3 = node.write_records(records)?;
    assert_eq!(s3.written, 0, "re-import must write nothing");
    println!(
        "re-import of trainings: 0 changes written, {:.2?}",
        t.elapsed()
    );

    // The same records, raw: collect the log entries exactly as stored.
    let raw: Vec<(Vec<u8>, Vec<u8>)> = node
        .store()
        .scan_all()
        .map(|e| {
            let e = e.expect("stored entry");
            let mut v = e.received_at_ms.to_be_bytes().to_vec();
            v.extend_from_slice(&e.change);
            (store::change_key(&e.origin, e.seq), v)
        })
        .collect();
    assert_eq!(raw.len(), changes);
    let bytes: usize = raw.iter().map(|(k, v)| k.len() + v.len()).sum();
    let t = Instant::now();
    store::raw_insert_baseline(&tmp.path().join("raw"), &raw)?;
    let raw_time = t.elapsed();
    println!(
        "raw sled inserts of the same {} records ({:.1} MiB): {:.2?} = {:.0} records/s",
        raw.len(),
        bytes as f64 / 1048576.0,
        raw_time,
        rate(raw.len(), raw_time)
    );
    println!(
        "ratio import / raw inserts: {:.2} (target >= 0.50)",
        rate(changes, import_time) / rate(raw.len(), raw_time)
    );

    durability_cost(
        &tmp.path().join("nosync"),
        &files,
        &opts,
        import_time,
        changes,
    )?;
    small_writes(&node, &tmp.path().join("small"))?;

    // Coverage: warm (view in memory), and cold (open = replay the log).
    let mut warm = Vec::new();
    let mut report = None;
    for _ in 0..7 {
        let t = Instant::now();
        let view = node.view();
        report = Some(coverage::coverage(
            &view,
            &node.orgs(),
            &node.policy(),
            node.me(),
            None,
            as_of,
        ));
        warm.push(t.elapsed());
    }
    let report = report.expect("at least one run");
    let root = &report.nodes[0];
    println!(
        "coverage of {} people: median {:.2?} (warm, 7 runs); rate {:.3}, leading {}/{}, general {}/{}, online {}/{}",
        root.rotation.roster,
        median(warm),
        root.rotation.rate.unwrap_or(0.0),
        root.hours.leading.compliant,
        root.hours.leading.people,
        root.hours.general.compliant,
        root.hours.general.people,
        root.hours.online.compliant,
        root.hours.online.people
    );
    drop(node);
    let t = Instant::now();
    let node = Node::open(&node_dir)?;
    let opened = t.elapsed();
    let view = node.view();
    let _ = coverage::coverage(&view, &node.orgs(), &node.policy(), node.me(), None, as_of);
    println!(
        "cold: open (replay {} changes) {:.2?}, open + coverage {:.2?}",
        changes,
        opened,
        t.elapsed()
    );
    println!(
        "node store on disk: {:.1} MiB",
        node.store().size_on_disk() as f64 / 1048576.0
    );
    Ok(())
}
