//! Sync benchmarks, in one process over real loopback TCP:
//!
//! 1. `sync --once` of a county's 220,000 changes (20,000 people, 200,000
//!    attendance rows) to its prefecture: changes/s, against raw sled inserts
//!    of the same records (the parent's log entries, key and value byte for
//!    byte) into a fresh store in the same run; bytes on the wire per change
//!    (compressed batch payload, and everything the loopback interface
//!    carried, TCP/IP headers included).
//! 2. Propagation latency: county → prefecture → national with every upstream
//!    worker running; from a county's write returning to the change being in
//!    the national node's view. p50, p90, max over 40 writes.
//!
//! 3. The same county and prefecture over mutual TLS, as bureaus run: every
//!    write signs checkpoints with the node certificate's key, and the
//!    prefecture verifies them (and the chains) before applying anything.
//!    Import (write) and sync throughput against 1.'s plaintext figures,
//!    measured in the same run.
//!
//! Run: `cargo bench -p lunxun-hub --bench sync`.

mod common;

use std::time::{Duration, Instant};

use lunxun_node::model::{Date, Rank, Record, RosterEntry};
use lunxun_node::node::Node;
use lunxun_node::orgs::OrgDirectory;
use lunxun_node::store;
use lunxun_node::sync::worker;
use tokio::sync::watch;

use common::{node, serve, serve_tls, tls_node};

fn loopback_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/net/dev").ok()?;
    let line = text.lines().find(|l| l.trim_start().starts_with("lo:"))?;
    line.split(':')
        .nth(1)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The county's records: 20,000 people and 200,000 attendance rows.
fn county_records(orgs: &OrgDirectory, county: &Node, as_of: Date) -> Vec<Record> {
    common::county_records(orgs, county, 20_000, 200_000, as_of)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() -> anyhow::Result<()> {
    common::runtime()?.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let orgs = OrgDirectory::builtin();
    let as_of = Date::from_ymd_opt(2026, 6, 30).expect("valid date");
    let (stop_tx, stop) = watch::channel(false);

    // --- 1. Throughput county -> prefecture.
    let national = node(&tmp.path().join("national"), "100000", None)?;
    let national_addr = serve(national.clone(), stop.clone()).await?;
    let province = node(&tmp.path().join("province"), "410000", Some(national_addr))?;
    let province_addr = serve(province.clone(), stop.clone()).await?;
    let prefecture = node(
        &tmp.path().join("prefecture"),
        "410100",
        Some(province_addr),
    )?;
    let prefecture_addr = serve(prefecture.clone(), stop.clone()).await?;
    let county = node(&tmp.path().join("county"), "410102", Some(prefecture_addr))?;

    let records = county_records(&orgs, &county, as_of);
    let t = Instant::now();
    let written = county.write_records(records)?.written;
    let plain_write = t.elapsed();

    let wire_before = loopback_bytes();
    let t = Instant::now();
    let outcome = worker::sync_once(&county).await?;
    let elapsed = t.elapsed();
    let wire = loopback_bytes()
        .zip(wire_before)
        .map(|(a, b)| a.saturating_sub(b));
    assert!(outcome.complete(), "{outcome:?}");
    assert_eq!(outcome.applied as usize, written);
    let rate = written as f64 / elapsed.as_secs_f64();
    println!(
        "sync --once county -> prefecture: {written} changes in {elapsed:.2?} = {rate:.0} changes/s ({} batches)",
        outcome.batches
    );
    println!(
        "  on the wire: {:.1} bytes/change of compressed batches; {} bytes/change on the loopback interface (both directions, TCP/IP headers included)",
        outcome.wire_bytes as f64 / written as f64,
        wire.map_or("n/a".into(), |w| format!(
            "{:.1}",
            w as f64 / written as f64
        ))
    );

    // The same records, raw, as the parent stored them.
    let raw: Vec<(Vec<u8>, Vec<u8>)> = prefecture
        .store()
        .scan("410102", 0)
        .map(|e| {
            let e = e.expect("stored entry");
            let mut v = e.received_at_ms.to_be_bytes().to_vec();
            v.extend_from_slice(&e.change);
            (store::change_key(&e.origin, e.seq), v)
        })
        .collect();
    assert_eq!(raw.len(), written);
    let t = Instant::now();
    store::raw_insert_baseline(&tmp.path().join("raw"), &raw)?;
    let raw_elapsed = t.elapsed();
    let raw_rate = raw.len() as f64 / raw_elapsed.as_secs_f64();
    println!(
        "raw sled inserts of the same {} records: {raw_elapsed:.2?} = {raw_rate:.0} records/s",
        raw.len()
    );
    println!(
        "ratio sync / raw inserts: {:.2} (target >= 0.80)",
        rate / raw_rate
    );

    // Forward the county's changes to the national node so the latency runs
    // start from an idle, up-to-date hierarchy.
    let t = Instant::now();
    worker::sync_once(&prefecture).await?;
    worker::sync_once(&province).await?;
    println!(
        "forwarded {written} changes prefecture -> province -> national in {:.2?}",
        t.elapsed()
    );

    // --- 2. Propagation latency county -> prefecture -> province -> national.
    for n in [&county, &prefecture, &province] {
        tokio::spawn(worker::run(n.clone(), stop.clone()));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut seen = national.subscribe();
    let person = "41010219800101001".to_owned();
    let mut digits = [0u8; 17];
    digits.copy_from_slice(person.as_bytes());
    let person = format!(
        "{person}{}",
        lunxun_node::model::PersonId::check_char(&digits)
    )
    .parse()?;
    let mut latencies = Vec::new();
    for i in 0..40 {
        let entry = Record::Roster(RosterEntry {
            person,
            name: format!("测{i}"),
            rank: Rank::General,
            since: as_of,
            until: None,
            employer: String::new(),
            position: String::new(),
            group: String::new(),
        });
        let t = Instant::now();
        let seq = county.write_records(vec![entry])?.seq;
        loop {
            let arrived = national
                .view()
                .head(county.me())
                .is_some_and(|h| h.seq >= seq);
            if arrived {
                break;
            }
            tokio::time::timeout(Duration::from_secs(30), seen.changed()).await??;
        }
        latencies.push(t.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    latencies.sort();
    println!(
        "propagation county -> national (3 hops, workers running): p50 {:.1?}, p90 {:.1?}, max {:.1?} over {} writes (target p50 < 250ms)",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.9),
        latencies[latencies.len() - 1],
        latencies.len()
    );

    // --- 3. The same over mutual TLS, signed and verified.
    let (tls_prefecture, tls_county) = common::pki(tmp.path(), &orgs)?;
    let signed_prefecture = tls_node(
        &tmp.path().join("tls-prefecture"),
        "410100",
        None,
        &tls_prefecture,
    )?;
    let signed_addr = serve_tls(signed_prefecture.clone(), stop.clone()).await?;
    let signed_county = tls_node(
        &tmp.path().join("tls-county"),
        "410102",
        Some(signed_addr),
        &tls_county,
    )?;
    let records = county_records(&orgs, &signed_county, as_of);
    let t = Instant::now();
    let signed_written = signed_county.write_records(records)?.written;
    let signed_write = t.elapsed();
    assert_eq!(signed_written, written);
    let t = Instant::now();
    let outcome = worker::sync_once(&signed_county).await?;
    let signed_elapsed = t.elapsed();
    assert!(outcome.complete(), "{outcome:?}");
    assert_eq!(outcome.applied as usize, written);
    let signed_rate = written as f64 / signed_elapsed.as_secs_f64();
    let plain_write_rate = written as f64 / plain_write.as_secs_f64();
    let signed_write_rate = written as f64 / signed_write.as_secs_f64();
    println!(
        "write (hash-chain, durable append) of the county's {written} changes: plaintext node {plain_write:.2?} = {plain_write_rate:.0} changes/s; signing node {signed_write:.2?} = {signed_write_rate:.0} changes/s (ratio {:.2})",
        signed_write_rate / plain_write_rate
    );
    println!(
        "sync --once over mTLS, signed and verified: {written} changes in {signed_elapsed:.2?} = {signed_rate:.0} changes/s ({} batches); ratio to plaintext unsigned sync above: {:.2}",
        outcome.batches,
        signed_rate / rate
    );
    let _ = stop_tx.send(true);
    Ok(())
}
