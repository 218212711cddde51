//! Adversarial shapes against the usual one: the same number of changes,
//! shaped to hit the view's and the rollups' worst cases, each measured
//! against generated county data of that many changes in the same run.
//!
//! - one person in 100,000 classes (the classes first, then the attendance
//!   in reverse order, the worst order for a list kept sorted);
//! - one class of 100,000 people, then half of its attendance deleted;
//! - 10,000 title edits of one class (the biggest of a county's data) after a
//!   rollup exists, against 10,000 more usual changes after the same data;
//! - one change each from as many origins as the directory holds
//!   ([`lunxun_node::orgs::ORGS_MAX`], about 96,500 added counties), against
//!   the same number of changes from one origin under the same directory.
//!
//! Each is written hash-chained as its origins would, and measured three
//! ways: applying it to an in-memory view with a rollup kept (what the write
//! lock covers), ingesting it at the national node (`ingest::verify`, then
//! `Node::ingest`: placement, durable append, view, rollup marks, in batches
//! of `BATCH_CHANGES_MAX`), and reopening that node (replaying its log).
//! The first coverage query after the changes is timed too. Then the view's
//! memory per attendance row, at a county of 100,000 people and a million rows.
//!
//! A shape and its usual counterpart are measured in turns, each in a fresh
//! node: one unreported round of both (a process's first hundred megabytes
//! of allocations and the first fsyncs cost more than the next, whichever
//! shape pays them), then [`ROUNDS`] rounds, the order alternating. Each
//! figure is the median of its rounds; each ratio is the median of the
//! rounds' ratios (the two sides of a round run seconds apart, so a slow
//! spell of the machine falls on both), printed with every round's.
//!
//! Run: `cargo bench -p lunxun-node --bench shapes` (about two minutes).
//! `LUNXUN_BENCH_ROUNDS` sets the rounds (3).
//! `LUNXUN_BENCH_SHAPE_SIZE` sets the 100,000 (the others scale with it);
//! `LUNXUN_BENCH_SHAPES=origins` runs only the many-origins shape, `=others`
//! the other three.

use std::alloc::{GlobalAlloc, Layout};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use lunxun_node::changelog::{Change, GENESIS, Hash};
use lunxun_node::codec::{self, BATCH_CHANGES_MAX};
use lunxun_node::config::Config;
use lunxun_node::ingest;
use lunxun_node::model::{
    Attendance, Class, ClassId, Date, Hours, Mode, Outcome, PersonId, Rank, Record, RecordKey,
    RosterEntry,
};
use lunxun_node::node::Node;
use lunxun_node::orgs::{ORGS_MAX, OrgDirectory, OrgId};
use lunxun_node::policy::Policy;
use lunxun_node::rollup::Rollups;
use lunxun_node::view::View;

/// The allocator the binaries use, so the figures are theirs, counting the
/// bytes live (one relaxed atomic add per call, the same for every shape) so
/// the view's memory is measured exactly, not from RSS.
#[global_allocator]
static ALLOCATOR: Counting = Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

struct Counting;

// SAFETY: every call is forwarded to mimalloc unchanged; only a counter is
// updated besides.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is mimalloc's.
        let p = unsafe { mimalloc::MiMalloc.alloc(layout) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { mimalloc::MiMalloc.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator with `layout`.
        unsafe { mimalloc::MiMalloc.dealloc(ptr, layout) };
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from this allocator with `layout`.
        let p = unsafe { mimalloc::MiMalloc.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        p
    }
}

const AS_OF: (i32, u32, u32) = (2026, 6, 30);

fn as_of() -> Date {
    Date::from_ymd_opt(AS_OF.0, AS_OF.1, AS_OF.2).expect("valid date")
}

/// A valid id for person `i` (distinct for distinct `i` below 10^7).
fn person(i: u32) -> PersonId {
    let first17 = format!(
        "410102{:04}{:02}{:02}{:03}",
        1950 + i / 336_000,
        1 + (i / 28_000) % 12,
        1 + (i / 1_000) % 28,
        i % 1_000
    );
    let mut digits = [0u8; 17];
    digits.copy_from_slice(first17.as_bytes());
    format!("{first17}{}", PersonId::check_char(&digits))
        .parse()
        .expect("valid id")
}

fn roster_entry(i: u32) -> RosterEntry {
    RosterEntry {
        person: person(i),
        name: "王某".into(),
        rank: Rank::General,
        since: Date::from_ymd_opt(2020, 1, 1).expect("date"),
        until: None,
        employer: String::new(),
        position: String::new(),
        group: String::new(),
    }
}

fn class(id: &str, day: u32, title: &str) -> Class {
    let start = Date::from_ymd_opt(2022, 1, 1).expect("date")
        + chrono::TimeDelta::days(i64::from(day % 1500));
    Class {
        class_id: id.parse().expect("class id"),
        title: title.into(),
        category: String::new(),
        mode: Mode::Centralized,
        off_job: true,
        start,
        end: start,
        hours: Hours::from_whole(8),
        days: None,
    }
}

fn attendance(class_id: &ClassId, i: u32) -> Attendance {
    Attendance {
        class_id: class_id.clone(),
        person: person(i),
        hours: Hours::from_whole(8),
        outcome: Outcome::Completed,
        name: "王某".into(),
    }
}

type Changes = Vec<(OrgId, Record)>;

/// `n` changes of a county's generated data, as an import writes them:
/// roster, classes, attendance.
fn usual(orgs: &OrgDirectory, county: OrgId, seed: u64, n: usize) -> Changes {
    let people = (n / 10) as u32;
    let data = lunxun_gen::generate_scaled(seed, orgs, county, people, n as u32 - people, as_of());
    let mut out: Changes = data
        .roster
        .into_iter()
        .map(|r| (county, Record::Roster(r)))
        .collect();
    out.extend(data.classes.into_iter().map(|c| (county, Record::Class(c))));
    out.extend(
        data.attendance
            .into_iter()
            .map(|a| (county, Record::Attendance(a))),
    );
    out.truncate(n);
    out
}

/// What was measured of one shape.
#[derive(Debug, Clone, Copy)]
struct Figures {
    changes: usize,
    view: Duration,
    ingest: Duration,
    query: Duration,
    replayed: u64,
    replay: Duration,
}

fn per(d: Duration, n: u64) -> f64 {
    d.as_secs_f64() * 1e6 / n.max(1) as f64
}

/// Hash-chains `changes` as their origins write them, continuing `chains`.
fn encode(
    orgs: &OrgDirectory,
    chains: &mut HashMap<OrgId, (u64, Hash)>,
    changes: &Changes,
) -> Vec<bytes::Bytes> {
    changes
        .iter()
        .map(|(org, record)| {
            let (seq, prev) = chains.entry(*org).or_insert((0, GENESIS));
            let c = Change::new(
                orgs.code(*org).to_owned(),
                *seq + 1,
                *prev,
                1_780_000_000_000,
                codec::encode_record(record),
            );
            *seq += 1;
            *prev = c.hash;
            codec::encode_change(&c)
        })
        .collect()
}

fn ingest_all(node: &Node, orgs: &OrgDirectory, encoded: Vec<bytes::Bytes>) -> anyhow::Result<()> {
    for chunk in encoded.chunks(BATCH_CHANGES_MAX) {
        let verified =
            ingest::verify(orgs, node.me(), chunk.to_vec()).map_err(|e| anyhow::anyhow!("{e}"))?;
        let placed = node.ingest(vec![verified.into()])?;
        assert!(placed.iter().all(|p| p.held.is_empty()), "nothing held");
    }
    Ok(())
}

/// `base` applied to a view (not timed), a rollup built, then `timed`
/// applied with its marks: what the write lock covers.
fn view_apply(orgs: &OrgDirectory, base: &Changes, timed: &Changes) -> Duration {
    let policy = Policy::default();
    let mut view = View::default();
    let mut rollups = Rollups::default();
    for (org, r) in base.iter().cloned() {
        view.apply(org, r);
    }
    let _ = rollups.get(&view, orgs, &policy, as_of(), as_of());
    let records = timed.clone();
    let t = Instant::now();
    for (org, r) in records {
        let touch = view.apply(org, r);
        rollups.touch(&view, touch);
    }
    t.elapsed()
}

/// Per-change view time of `shape` at `size` over that at `size / 2`: near 1
/// when its cost per change does not grow with it. Each size is applied
/// [`rounds`] times in turn after one unreported pass of both; the median
/// of each.
fn growth(orgs: &OrgDirectory, shape: impl Fn(usize) -> Changes, size: usize) -> f64 {
    let none = Changes::new();
    let (big, half) = (shape(size), shape(size / 2));
    let (mut b, mut h) = (Vec::new(), Vec::new());
    for round in 0..=rounds() {
        let bt = per(view_apply(orgs, &none, &big), big.len() as u64);
        let ht = per(view_apply(orgs, &none, &half), half.len() as u64);
        if round > 0 {
            b.push(bt);
            h.push(ht);
        }
    }
    median(b) / median(h).max(1e-9)
}

/// `base` (not timed), then a coverage query (the rollup exists), then
/// `timed`: applied to a view, ingested at a national node in `dir`, the
/// query after it, and the reopen of that node.
fn measure(
    dir: &Path,
    orgs_csv: Option<&str>,
    base: &Changes,
    timed: &Changes,
) -> anyhow::Result<Figures> {
    let mut orgs = OrgDirectory::builtin();
    if let Some(csv) = orgs_csv {
        orgs.add_csv("orgs.csv", csv)?;
    }
    let national = orgs.get("100000").expect("national");
    let view_time = view_apply(&orgs, base, timed);

    // The national node.
    std::fs::create_dir_all(dir)?;
    if let Some(csv) = orgs_csv {
        std::fs::write(dir.join("orgs.csv"), csv)?;
    }
    let node = Node::init(
        dir,
        Config {
            org: "100000".into(),
            ..Default::default()
        },
    )?;
    let mut chains = HashMap::new();
    ingest_all(&node, &orgs, encode(&orgs, &mut chains, base))?;
    let _ = node.coverage(national, Some(1), as_of());
    let encoded = encode(&orgs, &mut chains, timed);
    let t = Instant::now();
    ingest_all(&node, &orgs, encoded)?;
    let ingest_time = t.elapsed();
    let t = Instant::now();
    let _ = node.coverage(national, Some(1), as_of());
    let query = t.elapsed();
    drop(node);
    let t = Instant::now();
    let node = Node::open(dir)?;
    let replay = t.elapsed();
    let replayed = node.view().counts().changes;
    Ok(Figures {
        changes: timed.len(),
        view: view_time,
        ingest: ingest_time,
        query,
        replayed,
        replay,
    })
}

/// Rounds of each comparison after its unreported one.
const ROUNDS: usize = 3;

fn rounds() -> usize {
    std::env::var("LUNXUN_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(ROUNDS)
        .max(1)
}

/// One side of a comparison: the changes applied first (not timed), then
/// the timed ones.
type Side<'a> = (&'a Changes, &'a Changes);

/// Each reported round's figures of both sides.
struct Compared {
    usual: Vec<Figures>,
    shape: Vec<Figures>,
}

/// `usual` and `shape` measured in turns, each in a fresh node under `dir`
/// (removed after): one unreported round, then [`rounds`] rounds, the
/// order alternating.
fn compare(dir: &Path, csv: Option<&str>, usual: Side, shape: Side) -> anyhow::Result<Compared> {
    let mut out = Compared {
        usual: Vec::new(),
        shape: Vec::new(),
    };
    for round in 0..=rounds() {
        let (u_dir, s_dir) = (
            dir.join(format!("usual-{round}")),
            dir.join(format!("shape-{round}")),
        );
        let (u, s) = if round % 2 == 1 {
            let s = measure(&s_dir, csv, shape.0, shape.1)?;
            (measure(&u_dir, csv, usual.0, usual.1)?, s)
        } else {
            let u = measure(&u_dir, csv, usual.0, usual.1)?;
            (u, measure(&s_dir, csv, shape.0, shape.1)?)
        };
        std::fs::remove_dir_all(&u_dir)?;
        std::fs::remove_dir_all(&s_dir)?;
        if round > 0 {
            out.usual.push(u);
            out.shape.push(s);
        }
    }
    Ok(out)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn report(name: &str, c: &Compared) {
    let (n, u) = (c.shape[0].changes, c.usual[0].changes);
    println!(
        "{name}: {n} changes (usual shape: {u}); medians of {} rounds",
        c.shape.len()
    );
    // Per change of each round, shape and usual, and their ratio.
    let line = |what: &str, of: &dyn Fn(&Figures) -> f64| {
        let s: Vec<f64> = c.shape.iter().map(of).collect();
        let u: Vec<f64> = c.usual.iter().map(of).collect();
        let ratios: Vec<f64> = s.iter().zip(&u).map(|(s, u)| s / u.max(1e-9)).collect();
        let each: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
        println!(
            "  {what}: {:.2} µs/change, usual {:.2} ({:.2}x; rounds {})",
            median(s),
            median(u),
            median(ratios),
            each.join(", ")
        );
    };
    line("view apply + rollup mark", &|f| {
        per(f.view, f.changes as u64)
    });
    line("ingest at the national node", &|f| {
        per(f.ingest, f.changes as u64)
    });
    line(
        &format!("reopen (replay {} changes)", c.shape[0].replayed),
        &|f| per(f.replay, f.replayed),
    );
    let query = |v: &[Figures]| median(v.iter().map(|f| f.query.as_secs_f64() * 1e3).collect());
    println!(
        "  first coverage query after: {:.1} ms, usual {:.1} ms",
        query(&c.shape),
        query(&c.usual)
    );
}

/// The view's memory per attendance row: the bytes allocated and still live
/// after applying a county's generated data to an empty view (copies of the
/// records, so only what the view keeps counts), over its attendance rows.
fn view_memory(orgs: &OrgDirectory, county: OrgId, people: u32, rows: u32) {
    let data = lunxun_gen::generate_scaled(7, orgs, county, people, rows, as_of());
    let n_rows = data.attendance.len();
    let mut records: Vec<Record> = data.roster.into_iter().map(Record::Roster).collect();
    records.extend(data.classes.into_iter().map(Record::Class));
    records.extend(data.attendance.into_iter().map(Record::Attendance));
    let before = LIVE_BYTES.load(Ordering::Relaxed);
    let mut view = View::default();
    for r in &records {
        view.apply(county, r.clone());
    }
    let kept = LIVE_BYTES.load(Ordering::Relaxed) - before;
    let counts = view.counts();
    println!(
        "view memory: {} people, {} classes, {} attendance rows: {:.1} MiB = {:.1} bytes per attendance row (everything the view holds, over its rows)",
        counts.people,
        counts.classes,
        n_rows,
        kept as f64 / 1048576.0,
        kept as f64 / n_rows as f64
    );
}

/// One person in `size` classes: the classes, then the attendance in reverse
/// order (the worst order for a list kept sorted).
fn one_person(county: OrgId, size: usize) -> Changes {
    let mut shape: Changes = vec![(county, Record::Roster(roster_entry(0)))];
    let ids: Vec<ClassId> = (0..size)
        .map(|i| format!("P{i:07}").parse().expect("class id"))
        .collect();
    for (i, id) in ids.iter().enumerate() {
        shape.push((county, Record::Class(class(id.as_str(), i as u32, "班"))));
    }
    for id in ids.iter().rev() {
        shape.push((county, Record::Attendance(attendance(id, 0))));
    }
    shape
}

/// One class of `size` people (half of them on the roster), then every
/// other one's attendance deleted.
fn one_class(county: OrgId, size: usize) -> Changes {
    let big: ClassId = "BIG".parse().expect("class id");
    let mut shape: Changes = (0..size as u32 / 2)
        .map(|i| (county, Record::Roster(roster_entry(i))))
        .collect();
    shape.push((county, Record::Class(class("BIG", 100, "班"))));
    for i in 0..size as u32 {
        shape.push((county, Record::Attendance(attendance(&big, i))));
    }
    for i in (0..size as u32).step_by(2) {
        shape.push((
            county,
            Record::Tombstone(RecordKey::Attendance(big.clone(), person(i))),
        ));
    }
    shape
}

/// A roster entry each from the first `n` added origins `U000000`...
fn one_each(orgs: &OrgDirectory, n: usize) -> Changes {
    (0..n)
        .map(|i| {
            let org = orgs.get(&format!("U{i:06}")).expect("added");
            (org, Record::Roster(roster_entry(i as u32)))
        })
        .collect()
}

fn main() -> anyhow::Result<()> {
    let size: usize = std::env::var("LUNXUN_BENCH_SHAPE_SIZE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let orgs = OrgDirectory::builtin();
    let county = orgs.get("410102").expect("中原区 is in the directory");
    let tmp = tempfile::tempdir()?;
    let none = Changes::new();
    let started = Instant::now();

    // `LUNXUN_BENCH_SHAPES=origins` runs only the many-origins shape,
    // `=others` only the other three.
    let only = std::env::var("LUNXUN_BENCH_SHAPES").ok();
    let runs = |name: &str| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|s| s == name))
    };
    if runs("others") {
        // One person in `size` classes.
        let shape = one_person(county, size);
        let n = shape.len();
        let usual_n = usual(&orgs, county, 1, n);
        let c = compare(
            &tmp.path().join("one-person"),
            None,
            (&none, &usual_n),
            (&none, &shape),
        )?;
        report(&format!("one person in {size} classes"), &c);
        println!(
            "  view per change at {size} classes over at half as many: {:.2}x",
            growth(&orgs, |n| one_person(county, n), size)
        );

        // One class of `size` people, then half its attendance deleted.
        let shape = one_class(county, size);
        let usual_n2 = if shape.len() == n {
            usual_n
        } else {
            usual(&orgs, county, 1, shape.len())
        };
        let c = compare(
            &tmp.path().join("one-class"),
            None,
            (&none, &usual_n2),
            (&none, &shape),
        )?;
        report(
            &format!("one class of {size} people, then half of it deleted"),
            &c,
        );
        println!(
            "  view per change at {size} people over at half as many: {:.2}x (usual shape: {:.2}x)",
            growth(&orgs, |n| one_class(county, n), size),
            growth(&orgs, |n| usual(&orgs, county, 1, 2 * n), size)
        );
        drop(usual_n2);

        // Title edits of one class after a rollup exists.
        let edits = size / 10;
        let mut all = usual(&orgs, county, 2, 2 * size + edits);
        let more: Changes = all.split_off(2 * size);
        let base = all;
        let mut attendees: HashMap<&ClassId, usize> = HashMap::new();
        for (_, r) in &base {
            if let Record::Attendance(a) = r {
                *attendees.entry(&a.class_id).or_default() += 1;
            }
        }
        let (biggest, members) = attendees
            .iter()
            .max_by_key(|(c, n)| (**n, (**c).clone()))
            .map(|(c, n)| ((*c).clone(), *n))
            .expect("a class");
        let template = base
            .iter()
            .find_map(|(_, r)| match r {
                Record::Class(c) if c.class_id == biggest => Some(c.clone()),
                _ => None,
            })
            .expect("the class is held");
        let shape: Changes = (0..edits)
            .map(|i| {
                let mut c = template.clone();
                c.title = format!("{}（第{}次更正）", template.title, i + 1);
                (county, Record::Class(c))
            })
            .collect();
        let c = compare(
            &tmp.path().join("class-edits"),
            None,
            (&base, &more),
            (&base, &shape),
        )?;
        report(
            &format!(
                "{edits} title edits of one class ({members} attendees) after a rollup exists, over {} changes",
                base.len()
            ),
            &c,
        );
        drop((base, more));
    }

    // One change each from as many origins as the directory holds.
    if !runs("origins") {
        println!("total {:.1?}", started.elapsed());
        return Ok(());
    }
    let origins = ORGS_MAX - orgs.len();
    let mut csv = String::from("code,name,level,parent\n");
    let prefectures: Vec<OrgId> = orgs
        .ids()
        .filter(|o| orgs.org(*o).level == lunxun_node::model::Level::Prefecture)
        .collect();
    for i in 0..origins {
        let parent = orgs.code(prefectures[i % prefectures.len()]);
        csv.push_str(&format!("U{i:06},单位{i},county,{parent}\n"));
    }
    let mut big_orgs = orgs.clone();
    big_orgs.add_csv("orgs.csv", &csv)?;
    let shape = one_each(&big_orgs, origins);
    let usual_4 = usual(&orgs, county, 3, origins);
    let c = compare(
        &tmp.path().join("origins"),
        Some(&csv),
        (&none, &usual_4),
        (&none, &shape),
    )?;
    report(&format!("{origins} origins of one change each"), &c);
    println!(
        "  view per change at {origins} origins over at half as many: {:.2}x",
        growth(&big_orgs, |n| one_each(&big_orgs, n), origins)
    );

    view_memory(&orgs, county, size as u32, 10 * size as u32);
    drop(tmp);
    println!("total {:.1?}", started.elapsed());
    Ok(())
}
