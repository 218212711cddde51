//! Restore from a parent that cannot be trusted, in real processes over
//! mutual TLS: 中原区 410102 (a county, no daemon) → 郑州 410100 (a hub).
//!
//! - The hub's copy of the county's own log is replaced by a forged seq 1
//!   (a person the county never wrote): the county's next sync refuses
//!   writes, and `restore --from-upstream` keeps every local change, says
//!   so, and takes nothing of the forgery. The county's store, status,
//!   coverage and people are the same before and after.
//! - A county put back on an old copy of its data dir (a lost tail): a
//!   restore over a dead link changes nothing; the next one, on a healed
//!   link, restores everything.

use std::path::Path;

use bytes::Bytes;
use lunxun_node::changelog::{Change, GENESIS};
use lunxun_node::codec;
use lunxun_node::config::STORE_DIR;
use lunxun_node::model::{PersonId, Rank, Record, RosterEntry};
use lunxun_node::store::{LogEntry, Store};
use lunxun_tests::{Mode, Node, Proxy, World, seed};
use serde_json::Value;

/// The name of the person only the forged change holds.
const FORGED_NAME: &str = "伪造者";

/// What a node shows of its data: its store's logs, its own seq and
/// writability, its coverage and its people. Equal before and after a
/// restore that must change nothing.
#[derive(Debug, PartialEq)]
struct Shown {
    logs: lunxun_tests::Logs,
    own_seq: Value,
    writable: Value,
    coverage: Value,
    people: String,
}

fn shown(node: &Node, as_of: &str) -> Shown {
    let status = node.status_json();
    Shown {
        logs: node.logs(),
        own_seq: status["own_seq"].clone(),
        writable: status["writable"].clone(),
        coverage: node.coverage_json(as_of),
        people: node.ok(&["people", "--as-of", as_of]),
    }
}

/// A change of `origin` at seq 1 that the origin never wrote: a roster
/// entry for a person it does not have, chained and hashed correctly.
fn forged_seq_1(origin: &str) -> Bytes {
    let record = Record::Roster(RosterEntry {
        person: "11010519491231002X"
            .parse::<PersonId>()
            .expect("a valid ID"),
        name: FORGED_NAME.into(),
        rank: Rank::General,
        since: "2024-01-01".parse().expect("a date"),
        until: None,
        employer: String::new(),
        position: String::new(),
        group: String::new(),
    });
    let change = Change::new(origin.into(), 1, GENESIS, 1, codec::encode_record(&record));
    codec::encode_change(&change)
}

/// Replaces `origin`'s log in the (stopped) node's store at `data_dir` by
/// `changes`, as a compromised parent would.
fn replace_log(data_dir: &Path, origin: &str, changes: Vec<Bytes>) {
    let store = Store::open(&data_dir.join(STORE_DIR)).expect("open the hub's store");
    store
        .truncate_after(origin, 0)
        .expect("drop the genuine log");
    let entries: Vec<LogEntry> = changes
        .into_iter()
        .enumerate()
        .map(|(i, change)| LogEntry {
            origin: origin.into(),
            seq: i as u64 + 1,
            received_at_ms: 1,
            change,
        })
        .collect();
    store.append(&entries).expect("store the forgery");
}

#[test]
fn restore_from_a_parent_holding_a_forged_seq_1_loses_nothing_local() {
    let seed = seed("restore-forged", 41);
    let world = World::tls("restore-forged", seed);
    let mut hub = world.hub("410100", None);
    let mut county = world.node("410102", Some(&hub.url()));
    let as_of = world.as_of();
    county.import_data(&world.data("410102"));
    county.sync_ok();
    let written = county.own_seq();
    assert!(written >= 2, "the county wrote its roster and trainings");

    // The hub is compromised: its copy of the county's log is a forgery.
    hub.stop();
    replace_log(hub.dir(), "410102", vec![forged_seq_1("410102")]);
    hub.serve();

    // The county's next sync sees another seq 1 and refuses writes.
    let out = county.sync_once();
    assert_ne!(out.code, 0, "{}", out.stdout);
    let before = shown(&county, &as_of);
    assert_eq!(before.writable, false);
    assert_eq!(before.own_seq, written);
    assert!(!before.people.contains(FORGED_NAME));

    // The forgery carries no checkpoint signed by the county, so the hub's
    // own software does not even send it (and a restore would refuse a copy
    // that no checkpoint of its origin vouches for): the answer falls short
    // of the hub's vector, and the restore refuses it before touching
    // anything.
    let out = county.run(&["restore", "--from-upstream"]);
    assert_ne!(out.code, 0, "writes stay refused: {}", out.stdout);
    assert!(!out.stdout.contains("dropped"), "{}", out.stdout);
    assert!(
        out.stderr.contains("refused, the local store is unchanged")
            && out.stderr.contains("410102"),
        "{}",
        out.stderr
    );
    let after = shown(&county, &as_of);
    assert_eq!(
        before, after,
        "a restore from a forging parent changes nothing"
    );
    assert!(!after.people.contains(FORGED_NAME));
    assert!(
        !county.dir().join("restore-staging").exists(),
        "the staged answer is removed"
    );
}

#[test]
fn a_failed_restore_changes_nothing_and_the_next_restores_the_lost_tail() {
    let seed = seed("restore-cut", 42);
    let world = World::tls("restore-cut", seed);
    let hub = world.hub("410100", None);
    let link = Proxy::start("restore-cut-410102", hub.addr(), seed);
    let county = world.node("410102", Some(&world.security.url(link.addr())));
    let as_of = world.as_of();
    let data = world.data("410102");

    // The roster is synced and backed up; the trainings are synced after.
    let files = county.work().join("files");
    lunxun_gen::write_csv(&data, &files, true).expect("write the files");
    county.import_roster(&files.join("roster.csv"));
    county.sync_ok();
    let backup = world.root().join("410102-backup");
    lunxun_tests::copy_dir(county.dir(), &backup);
    county.import_trainings(&files.join("trainings.csv"));
    county.sync_ok();
    let full = county.logs();

    // The old copy comes back: the next sync finds the lost tail.
    std::fs::remove_dir_all(county.dir()).expect("remove the data dir");
    lunxun_tests::copy_dir(&backup, county.dir());
    let _ = county.sync_once();
    let before = shown(&county, &as_of);
    assert_eq!(before.writable, false);

    // The link is down: the restore fails and changes nothing.
    link.set_mode(Mode::Down);
    let out = county.run(&["restore", "--from-upstream"]);
    assert_ne!(out.code, 0, "{}", out.stdout);
    assert!(out.stderr.contains("parent"), "{}", out.stderr);
    assert_eq!(
        before,
        shown(&county, &as_of),
        "a failed restore changes nothing"
    );

    link.set_mode(Mode::Pass);
    county.ok(&["restore", "--from-upstream"]);
    let status = county.status_json();
    assert_eq!(status["writable"], true, "{status}");
    assert_eq!(county.logs().origins, full.origins);
}
