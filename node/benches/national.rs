//! National scale: the national node holding every office's records — all
//! 3,499 nodes of the division tree, about a million people and ten million
//! attendance records — generated deterministically per node, hash-chained
//! as each origin would write them, and ingested through the parent's own
//! path (`ingest::verify`, then `Node::ingest`: placement, durable append,
//! view, rollup marks), in batches of `BATCH_CHANGES_MAX` as sync delivers
//! them (the network is measured by the sync benchmark).
//!
//! Then: the first coverage query at the root (builds the rollup), later
//! queries (p50), a query after a fresh batch, person lookups, the 通报 with
//! its XLSX, reopening the store (replay, then from the view snapshot), and
//! peak memory (VmHWM). Each reopen runs in a fresh process (this binary
//! again, with `LUNXUN_BENCH_PHASE` set), as a restarted node would: its
//! peak memory is its own, not the ingesting process's heap.
//!
//! Run: `cargo bench -p lunxun-node --bench national` (several minutes and
//! ~5 GB of disk). `LUNXUN_BENCH_SCALE=0.1` runs a tenth of the country.
//! `LUNXUN_BENCH_YEARS=18` (default 9) gives every person twice the
//! training history, about 2x the changes: the scale of a node that has
//! kept its log for another plan period, when the log has grown and the
//! people have not.

use std::time::{Duration, Instant};

use lunxun_gen::GenParams;
use lunxun_node::changelog::{Change, GENESIS};
use lunxun_node::codec::{self, BATCH_CHANGES_MAX};
use lunxun_node::config::Config;
use lunxun_node::ingest;
use lunxun_node::model::{Date, Record};
use lunxun_node::node::Node;
use lunxun_node::orgs::OrgDirectory;
use lunxun_node::reports;

/// The allocator the binaries use, so the figures are theirs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn percentile(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn main() -> anyhow::Result<()> {
    if let (Ok(phase), Ok(dir)) = (
        std::env::var("LUNXUN_BENCH_PHASE"),
        std::env::var("LUNXUN_BENCH_DIR"),
    ) {
        return reopen(&phase, std::path::Path::new(&dir));
    }
    let scale: f64 = std::env::var("LUNXUN_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let orgs = OrgDirectory::builtin();
    let as_of = Date::from_ymd_opt(2026, 6, 30).expect("valid date");
    let params = GenParams {
        seed: 2026,
        as_of,
        years: std::env::var("LUNXUN_BENCH_YEARS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(9),
        county_workers: (280.0 * scale).round().max(1.0) as u32,
        bureau_staff: 12,
        organs_staff: 30,
        classes_per_year: 2,
        behind_share: 0.15,
        second_class_share: 0.9,
    };
    let tmp = tempfile::tempdir()?;
    let node = Node::init(
        &tmp.path().join("national"),
        Config {
            org: "100000".into(),
            ..Default::default()
        },
    )?;
    let national = node.me();
    println!(
        "national scale x{scale}, {} years of history: {} nodes; generating, hash-chaining and ingesting every origin's log",
        params.years,
        orgs.len()
    );

    let started = Instant::now();
    let (mut gen_time, mut encode_time, mut ingest_time) =
        (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let (mut changes, mut people_rows, mut attendance_rows) = (0u64, 0u64, 0u64);
    let origins: Vec<_> = orgs
        .subtree(national, None)
        .into_iter()
        .map(|(o, _)| o)
        .collect();
    for (i, &org) in origins.iter().enumerate() {
        let t = Instant::now();
        let data = lunxun_gen::generate_node(&params, &orgs, org);
        gen_time += t.elapsed();
        people_rows += data.roster.len() as u64;
        attendance_rows += data.attendance.len() as u64;
        let t = Instant::now();
        let mut records: Vec<Record> = data.roster.into_iter().map(Record::Roster).collect();
        records.extend(data.classes.into_iter().map(Record::Class));
        records.extend(data.attendance.into_iter().map(Record::Attendance));
        let code = orgs.code(org).to_owned();
        let mut prev = GENESIS;
        let encoded: Vec<bytes::Bytes> = records
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let c = Change::new(
                    code.clone(),
                    i as u64 + 1,
                    prev,
                    1_780_000_000_000,
                    codec::encode_record(r),
                );
                prev = c.hash;
                codec::encode_change(&c)
            })
            .collect();
        encode_time += t.elapsed();
        changes += encoded.len() as u64;
        let t = Instant::now();
        for chunk in encoded.chunks(BATCH_CHANGES_MAX) {
            let verified = ingest::verify(&orgs, national, chunk.to_vec())
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let placed = node.ingest(vec![verified.into()])?;
            assert!(placed.iter().all(|p| p.held.is_empty()), "nothing held");
        }
        ingest_time += t.elapsed();
        if (i + 1) % 500 == 0 {
            println!(
                "  {}/{} origins, {changes} changes, {:.0?} so far, RSS {:.0} MiB",
                i + 1,
                origins.len(),
                started.elapsed(),
                rss_mib().unwrap_or(0.0)
            );
        }
    }
    let counts = node.view().counts();
    println!(
        "data: {} roster entries ({} people), {} attendance rows, {} classes, {changes} changes from {} origins",
        counts.roster_entries, counts.people, attendance_rows, counts.classes, counts.origins
    );
    let _ = people_rows;
    println!(
        "ingest at the national node: {:.1?} = {:.0} changes/s (verify + place + durable append + view); generation {gen_time:.1?}, encoding {encode_time:.1?} (not counted)",
        ingest_time,
        changes as f64 / ingest_time.as_secs_f64()
    );
    println!(
        "store on disk: {:.2} GiB",
        node.store().size_on_disk() as f64 / (1u64 << 30) as f64
    );

    // Coverage at the root.
    let t = Instant::now();
    let first = node.coverage(national, None, as_of);
    let first_time = t.elapsed();
    let root = &first.nodes[0];
    println!(
        "coverage at the root, first query (builds the rollup): {first_time:.2?}; {} nodes listed, roster {}, rate {:.3}",
        first.nodes.len(),
        root.subtree.rotation.roster,
        root.subtree.rotation.rate.unwrap_or(0.0)
    );
    let mut whole = Vec::new();
    let mut shallow = Vec::new();
    for _ in 0..21 {
        let t = Instant::now();
        let r = node.coverage(national, None, as_of);
        whole.push(t.elapsed());
        assert_eq!(r.nodes.len(), first.nodes.len());
        let t = Instant::now();
        let _ = node.coverage(national, Some(1), as_of);
        shallow.push(t.elapsed());
    }
    println!(
        "coverage at the root, later queries: whole tree (3,499 nodes) p50 {:.1?}; depth 1 p50 {:.1?} (target p50 < 100 ms)",
        percentile(whole.clone(), 0.5),
        percentile(shallow, 0.5)
    );
    // A county's batch arrives; the next query recounts only its people.
    let county = orgs.get("410102").expect("county");
    let mut data = lunxun_gen::generate_node(
        &GenParams {
            seed: 99,
            ..params.clone()
        },
        &orgs,
        county,
    );
    data.attendance.truncate(2_000);
    let head = node.view().head(county).copied().expect("county reported");
    let mut prev = head.hash;
    let encoded: Vec<bytes::Bytes> = data
        .attendance
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            let c = Change::new(
                "410102".into(),
                head.seq + i as u64 + 1,
                prev,
                1_780_000_000_001,
                codec::encode_record(&Record::Attendance(a)),
            );
            prev = c.hash;
            codec::encode_change(&c)
        })
        .collect();
    node.ingest(vec![
        ingest::verify(&orgs, national, encoded)
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .into(),
    ])?;
    let t = Instant::now();
    let _ = node.coverage(national, None, as_of);
    println!(
        "coverage at the root after a 2,000-change batch from one county: {:.1?}",
        t.elapsed()
    );

    let today_p50 = percentile(whole.clone(), 0.5);
    // Past dates: the 通报 of earlier quarters, the dashboard's date picker.
    let mut past = Vec::new();
    for (y, m, d) in [
        (2024, 3, 31),
        (2024, 6, 30),
        (2024, 9, 30),
        (2024, 12, 31),
        (2025, 3, 31),
        (2025, 6, 30),
        (2025, 9, 30),
        (2025, 12, 31),
        (2026, 3, 31),
    ] {
        let date = Date::from_ymd_opt(y, m, d).expect("valid date");
        let t = Instant::now();
        let r = node.coverage(national, None, date);
        past.push(t.elapsed());
        assert_eq!(r.nodes.len(), first.nodes.len());
    }
    let past_p50 = percentile(past.clone(), 0.5);
    println!(
        "coverage at the root at a past date, first query of the date: p50 {past_p50:.1?}, max {:.1?} over {} quarter ends (target p50 < 300 ms); {:.0}x today's later query, {:.2}x today's first",
        past.iter().max().copied().unwrap_or_default(),
        past.len(),
        past_p50.as_secs_f64() / today_p50.as_secs_f64(),
        past_p50.as_secs_f64() / first_time.as_secs_f64(),
    );
    // The same quarter ends asked again: the rollups of the most recent
    // dates asked for are kept.
    let recent = &[(2025, 9, 30), (2025, 12, 31), (2026, 3, 31)];
    let mut again = Vec::new();
    for _ in 0..7 {
        for &(y, m, d) in recent {
            let date = Date::from_ymd_opt(y, m, d).expect("valid date");
            let t = Instant::now();
            let _ = node.coverage(national, None, date);
            again.push(t.elapsed());
        }
    }
    let again_p50 = percentile(again, 0.5);
    println!(
        "coverage at the root at a past date, later queries of the {} most recent dates: p50 {again_p50:.1?}, {:.2}x today's later query",
        recent.len(),
        again_p50.as_secs_f64() / today_p50.as_secs_f64(),
    );
    // The trend: every month end of the plan period, as the org page draws it.
    let t = Instant::now();
    let trend = node.trend(national, as_of);
    println!(
        "trend of the root (own and subtree, each month end of the plan period): {:.1?} for {} points",
        t.elapsed(),
        trend.points.len()
    );

    // Person lookups.
    let people: Vec<_> = node
        .view()
        .roster(county)
        .map(|e| e.person)
        .take(200)
        .collect();
    let mut lookups = Vec::new();
    for &p in &people {
        let t = Instant::now();
        let found = reports::person(&node.view(), &orgs, &node.policy(), p, as_of, false);
        lookups.push(t.elapsed());
        assert!(found.is_some());
    }
    println!(
        "person lookup: p50 {:.1?} over {} people",
        percentile(lookups, 0.5),
        people.len()
    );

    // The 通报 and its workbook.
    let t = Instant::now();
    let report = reports::tongbao_of(&node, national, as_of).expect("a report");
    let xlsx = tmp.path().join("report.xlsx");
    reports::write_xlsx(
        &xlsx,
        "tongbao",
        "通报",
        &reports::REPORT_COLUMNS,
        &reports::report_table(&report),
    )?;
    println!(
        "report (31 provinces ranked) with its XLSX: {:.1?}",
        t.elapsed()
    );

    let peak = peak_rss_mib().unwrap_or(0.0);
    println!(
        "peak memory (VmHWM) of the process that generated, ingested and queried: {peak:.0} MiB"
    );
    let today = digest(&node.coverage(national, None, as_of));
    drop(node);
    let dir = tmp.path().join("national");
    // Where an open's time goes: the store alone, then each whole open (its
    // phases in its log line).
    let t = Instant::now();
    drop(lunxun_node::store::Store::open(
        &dir.join(lunxun_node::config::STORE_DIR),
    )?);
    println!("opening the store alone (sled): {:.2?}", t.elapsed());
    for phase in ["replay", "snapshot"] {
        let out = std::process::Command::new(std::env::current_exe()?)
            .env("LUNXUN_BENCH_PHASE", phase)
            .env("LUNXUN_BENCH_DIR", &dir)
            .stderr(std::process::Stdio::inherit())
            .output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        print!("{text}");
        anyhow::ensure!(out.status.success(), "the {phase} reopen failed");
        let figures = text
            .lines()
            .find_map(|l| l.strip_prefix("coverage digest: "))
            .ok_or_else(|| anyhow::anyhow!("the {phase} reopen printed no coverage"))?;
        anyhow::ensure!(
            figures == today,
            "the {phase} reopen's coverage differs from the ingesting node's"
        );
    }
    Ok(())
}

/// The coverage's figures, compared across processes.
fn digest(report: &lunxun_node::coverage::CoverageReport) -> String {
    let json = serde_json::to_vec(report).expect("coverage serializes");
    blake3::hash(&json).to_hex().to_string()
}

/// A reopen of the national node in `dir`, in this fresh process: `replay`
/// (no snapshot: the whole log into the view, then the snapshot written) or
/// `snapshot` (from the snapshot the replay wrote).
fn reopen(phase: &str, dir: &std::path::Path) -> anyhow::Result<()> {
    let as_of = Date::from_ymd_opt(2026, 6, 30).expect("valid date");
    if phase == "replay" {
        let _ = std::fs::remove_file(lunxun_node::node::snapshot::snapshot_path(dir));
    } else {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("lunxun_node::node::snapshot=info")
            .try_init();
    }
    let t = Instant::now();
    let node = Node::open(dir)?;
    let open_time = t.elapsed();
    let national = node.me();
    let open_rss = rss_mib().unwrap_or(0.0);
    let t = Instant::now();
    let report = node.coverage(national, None, as_of);
    let first_after = t.elapsed();
    if phase == "replay" {
        println!(
            "reopen without a snapshot (replay {} changes into the view): {open_time:.1?}; RSS after {open_rss:.0} MiB",
            node.view().counts().changes,
        );
        println!("coverage at the root after it (builds the rollup): {first_after:.2?}");
        let t = Instant::now();
        let written = node.write_snapshot()?;
        println!(
            "view snapshot written: {:.1?}, {:.0} MiB ({:.1} bytes per change), {} rollup(s)",
            t.elapsed(),
            written.bytes as f64 / (1u64 << 20) as f64,
            written.bytes as f64 / written.changes.max(1) as f64,
            written.rollups
        );
    } else {
        anyhow::ensure!(
            node.changes_since_snapshot() == 0,
            "opened from the snapshot"
        );
        println!(
            "reopen from the snapshot: {open_time:.2?} (target < 3 s); first coverage at the root after it {first_after:.1?} (target < 50 ms); RSS after {open_rss:.0} MiB"
        );
    }
    println!(
        "peak memory (VmHWM) of the {phase} reopen's process: {:.0} MiB (target < 1,536)",
        peak_rss_mib().unwrap_or(0.0)
    );
    println!("coverage digest: {}", digest(&report));
    Ok(())
}
