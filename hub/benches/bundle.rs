//! Offline bundles against the live sync of the same changes, in one
//! process, over `LUNXUN_BENCH_RUNS` runs (default 3; each figure printed as
//! its min–max): a county's 110,000 changes (10,000 people, 100,000
//! attendance rows) written, then
//!
//! 1. `bundle export` of all of them: time, changes/s, bytes per change;
//! 2. `bundle import` of that file at a fresh prefecture (the session's
//!    verification and placement, durable append, the acknowledgement with
//!    the trainings returned);
//! 3. `bundle import` of the acknowledgement back at the county;
//! 4. `sync --once` of the same changes to another fresh prefecture over
//!    loopback TCP: changes/s and compressed batch bytes per change.
//!
//! Twice per run: plaintext nodes (no tls dir: nothing signed), and signed
//! nodes with certificates as bureaus run them (every write signs
//! checkpoints; the import verifies them and the bundle's seal, the county
//! the acknowledgement's; the live sync is mutual TLS).
//!
//! Run: `cargo bench -p lunxun-hub --bench bundle`.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use lunxun_node::app::bundle::{self, Imported, Since};
use lunxun_node::model::Date;
use lunxun_node::node::Node;
use lunxun_node::orgs::OrgDirectory;
use lunxun_node::sync::worker;
use tokio::sync::watch;

/// Runs when `LUNXUN_BENCH_RUNS` does not say.
const RUNS_DEFAULT: usize = 3;
/// The county's roster and attendance rows.
const PEOPLE: u32 = 10_000;
const ATTENDANCE: u32 = 100_000;

/// How the nodes of one run are made and served.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Variant {
    /// No tls dirs: nothing signed, plaintext sync.
    Plaintext,
    /// Tls dirs from the run's PKI: signed checkpoints and seals, mTLS.
    Signed,
}

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::Plaintext => "plaintext, unsigned",
            Variant::Signed => "signed, mTLS",
        }
    }
}

/// Every run's value of each figure: (variant, figure, values), in the
/// order first met.
#[derive(Default)]
struct Figures(Vec<(&'static str, &'static str, Vec<f64>)>);

impl Figures {
    fn add(&mut self, variant: Variant, name: &'static str, value: f64) {
        let variant = variant.name();
        match self
            .0
            .iter_mut()
            .find(|(v, n, _)| *v == variant && *n == name)
        {
            Some((_, _, values)) => values.push(value),
            None => self.0.push((variant, name, vec![value])),
        }
    }

    fn print(&self, runs: usize) {
        println!("\n{runs} runs, min–max:");
        for (variant, name, values) in &self.0 {
            let min = values.iter().copied().fold(f64::INFINITY, f64::min);
            let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let digits = match max {
                m if m >= 1_000.0 => 0,
                m if m >= 10.0 => 1,
                _ => 2,
            };
            println!("  {variant}: {name}: {min:.digits$}–{max:.digits$}");
        }
    }
}

fn runs() -> anyhow::Result<usize> {
    match std::env::var("LUNXUN_BENCH_RUNS") {
        Err(_) => Ok(RUNS_DEFAULT),
        Ok(text) => match text.parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => anyhow::bail!("LUNXUN_BENCH_RUNS={text:?}: not a number of runs above 0"),
        },
    }
}

fn main() -> anyhow::Result<()> {
    let runs = runs()?;
    common::runtime()?.block_on(async {
        let tmp = tempfile::tempdir()?;
        let orgs = OrgDirectory::builtin();
        let tls = common::pki(tmp.path(), &orgs)?;
        let mut figures = Figures::default();
        for run in 1..=runs {
            for variant in [Variant::Plaintext, Variant::Signed] {
                println!("--- run {run} of {runs}, {}", variant.name());
                let dir = tmp
                    .path()
                    .join(format!("run-{run}-{}", variant == Variant::Signed));
                one_run(&dir, &orgs, variant, &tls, &mut figures).await?;
                std::fs::remove_dir_all(&dir)?;
            }
        }
        figures.print(runs);
        Ok(())
    })
}

/// A node of `variant` for `org` in `dir`.
fn node_of(
    variant: Variant,
    dir: &Path,
    org: &str,
    upstream: Option<SocketAddr>,
    tls_dir: &Path,
) -> anyhow::Result<Arc<Node>> {
    match variant {
        Variant::Plaintext => common::node(dir, org, upstream),
        Variant::Signed => common::tls_node(dir, org, upstream, tls_dir),
    }
}

async fn one_run(
    dir: &Path,
    orgs: &OrgDirectory,
    variant: Variant,
    (tls_prefecture, tls_county): &(std::path::PathBuf, std::path::PathBuf),
    figures: &mut Figures,
) -> anyhow::Result<()> {
    let as_of = Date::from_ymd_opt(2026, 6, 30).expect("valid date");
    let (stop_tx, stop) = watch::channel(false);
    let live = node_of(variant, &dir.join("live"), "410100", None, tls_prefecture)?;
    let live_addr = match variant {
        Variant::Plaintext => common::serve(live.clone(), stop.clone()).await?,
        Variant::Signed => common::serve_tls(live.clone(), stop.clone()).await?,
    };
    let by_file = node_of(
        variant,
        &dir.join("by-file"),
        "410100",
        None,
        tls_prefecture,
    )?;
    let county = node_of(
        variant,
        &dir.join("county"),
        "410102",
        Some(live_addr),
        tls_county,
    )?;
    let records = common::county_records(orgs, &county, PEOPLE, ATTENDANCE, as_of);
    let written = county.write_records(records)?.written as f64;

    let file = dir.join("county.lxb");
    let t = Instant::now();
    let e = bundle::export(&county, &file, Since::All, &mut |_, _| {})
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let export = t.elapsed();
    println!(
        "bundle export: {written} changes in {export:.2?} = {:.0} changes/s; {} bytes = {:.1} bytes/change ({} batches)",
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
    let Imported::Ack(_) = bundle::import(&county, &i.ack).map_err(|e| anyhow::anyhow!("{e}"))?
    else {
        anyhow::bail!("the acknowledgement imported as a bundle");
    };
    let ack = t.elapsed();
    println!("acknowledgement import at the county: {ack:.2?}");

    let t = Instant::now();
    let outcome = worker::sync_once(&county).await?;
    let sync = t.elapsed();
    assert!(outcome.complete(), "{outcome:?}");
    assert_eq!(outcome.applied as f64, written);
    let wire = outcome.wire_bytes as f64 / written;
    println!(
        "sync --once county -> prefecture: {sync:.2?} = {:.0} changes/s; {wire:.1} compressed batch bytes/change",
        written / sync.as_secs_f64(),
    );
    let ratio = (export + import).as_secs_f64() / sync.as_secs_f64();
    println!("export + import against the live sync: {ratio:.2}x the time");
    let _ = stop_tx.send(true);

    figures.add(variant, "export, s", export.as_secs_f64());
    figures.add(variant, "export, changes/s", written / export.as_secs_f64());
    figures.add(variant, "bundle bytes/change", e.bytes as f64 / written);
    figures.add(variant, "import, s", import.as_secs_f64());
    figures.add(variant, "import, changes/s", written / import.as_secs_f64());
    figures.add(variant, "ack import, ms", ack.as_secs_f64() * 1e3);
    figures.add(variant, "sync --once, s", sync.as_secs_f64());
    figures.add(
        variant,
        "sync --once, changes/s",
        written / sync.as_secs_f64(),
    );
    figures.add(variant, "sync compressed batch bytes/change", wire);
    figures.add(variant, "export + import / live sync, x", ratio);
    Ok(())
}
