//! The snapshot opens to the view the log replays: after a tail of changes
//! written after it, and whatever happened to it — damaged, torn, stale,
//! from another store, left half-written by a crash — in which case it is
//! ignored and the whole log replayed.

use lunxun_gen::GenParams;

use super::*;
use crate::changelog::{Change, GENESIS};
use crate::codec::{self, BATCH_CHANGES_MAX};
use crate::config::Config;
use crate::ingest;
use crate::model::{Date, Record};

fn config(org: &str) -> Config {
    Config {
        org: org.into(),
        ..Default::default()
    }
}

fn as_of() -> Date {
    Date::from_ymd_opt(2026, 6, 30).expect("date")
}

/// `org`'s generated records from `skip` on, at most `take`, hash-chained
/// after what `node` holds of it and ingested as a child's batches.
fn send(node: &Node, code: &str, skip: usize, take: usize) -> u64 {
    let orgs = node.orgs();
    let org = orgs.get(code).expect("org");
    let params = GenParams {
        seed: 7,
        as_of: as_of(),
        years: 4,
        county_workers: 150,
        bureau_staff: 4,
        organs_staff: 6,
        classes_per_year: 2,
        behind_share: 0.2,
        second_class_share: 0.5,
    };
    let data = lunxun_gen::generate_node(&params, &orgs, org);
    let mut records: Vec<Record> = data.roster.into_iter().map(Record::Roster).collect();
    records.extend(data.classes.into_iter().map(Record::Class));
    records.extend(data.attendance.into_iter().map(Record::Attendance));
    let head = node.view().head(org).copied();
    let (mut seq, mut prev) = head.map_or((0, GENESIS), |h| (h.seq, h.hash));
    let encoded: Vec<bytes::Bytes> = records
        .iter()
        .skip(skip)
        .take(take)
        .map(|r| {
            seq += 1;
            let c = Change::new(
                code.into(),
                seq,
                prev,
                1_780_000_000_000,
                codec::encode_record(r),
            );
            prev = c.hash;
            codec::encode_change(&c)
        })
        .collect();
    let n = encoded.len() as u64;
    for chunk in encoded.chunks(BATCH_CHANGES_MAX) {
        let verified = ingest::verify(&orgs, node.me(), chunk.to_vec()).expect("verifies");
        node.ingest(vec![verified.into()]).expect("ingests");
    }
    n
}

/// Everything the node answers from its view, in a comparable form.
fn answers(node: &Node) -> String {
    let root = node.me();
    let mut out = format!("{:?}\n", node.view().counts());
    for date in [as_of(), Date::from_ymd_opt(2024, 12, 31).expect("date")] {
        out += &format!("{:?}\n", node.coverage(root, None, date));
    }
    let view = node.view();
    let mut heads: Vec<_> = view.heads().map(|(o, h)| (o, *h)).collect();
    heads.sort_by_key(|(o, _)| *o);
    out += &format!("{heads:?}\n");
    for p in view.people_within(&node.orgs(), root) {
        out += &format!(
            "{:?} {:?}\n",
            view.roster_entries_of(p),
            view.trainings_of(p)
        );
    }
    out
}

fn reopen(dir: &Path) -> Node {
    Node::open(dir).expect("opens")
}

#[test]
fn a_snapshot_and_its_tail_open_to_what_the_log_replays() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("zhengzhou");
    let node = Node::init(&dir, config("410100")).expect("init");
    let before = send(&node, "410102", 0, 600) + send(&node, "410103", 0, 1_500);
    // A rollup kept, so the snapshot carries one.
    node.coverage(node.me(), None, as_of());
    let written = node.write_snapshot().expect("snapshot");
    assert_eq!(written.changes, before);
    assert_eq!(written.rollups, 1);
    let mode = std::fs::metadata(snapshot_path(&dir))
        .expect("file")
        .permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o077,
        0,
        "readable by its owner only"
    );
    // The tail: a new origin, and more of one already there.
    let (new_origin, more_of_one) = (
        send(&node, "410104", 0, 800),
        send(&node, "410102", 600, 10_000),
    );
    assert!(new_origin > 0 && more_of_one > 0);
    let tail = new_origin + more_of_one;
    let expected = answers(&node);
    drop(node);

    let node = reopen(&dir);
    assert_eq!(
        node.changes_since_snapshot(),
        tail,
        "only the tail was replayed"
    );
    assert_eq!(answers(&node), expected);
    // It goes on like the original: another batch, the same as a replay.
    let more = send(&node, "410103", 1_500, 300);
    let expected = answers(&node);
    drop(node);
    std::fs::remove_file(snapshot_path(&dir)).expect("removed");
    let node = reopen(&dir);
    assert_eq!(
        node.changes_since_snapshot(),
        before + tail + more,
        "a whole replay"
    );
    assert_eq!(answers(&node), expected);
}

#[test]
fn a_damaged_torn_stale_or_foreign_snapshot_is_ignored() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("zhengzhou");
    let node = Node::init(&dir, config("410100")).expect("init");
    let total = send(&node, "410102", 0, 1_200) + send(&node, "410103", 0, 600);
    node.write_snapshot().expect("snapshot");
    let expected = answers(&node);
    drop(node);
    let good = std::fs::read(snapshot_path(&dir)).expect("read");
    let check = |what: &str, bytes: Option<&[u8]>, used: bool| {
        if let Some(b) = bytes {
            std::fs::write(snapshot_path(&dir), b).expect("write");
        }
        let node = reopen(&dir);
        let replayed = node.changes_since_snapshot();
        assert_eq!(replayed == 0, used, "{what}: replayed {replayed}");
        if !used {
            assert_eq!(replayed, total, "{what}: the whole log");
        }
        assert_eq!(answers(&node), expected, "{what}");
    };
    check("the snapshot as written", None, true);
    let mut flipped = good.clone();
    flipped[good.len() / 2] ^= 0x20;
    check("a flipped byte", Some(&flipped), false);
    check("torn in half", Some(&good[..good.len() / 2]), false);
    check("empty", Some(&[]), false);
    // A crash while a new one was written leaves its temporary file: the
    // one before is used.
    std::fs::write(snapshot_path(&dir), &good).expect("write");
    std::fs::write(dir.join(format!("{SNAPSHOT_FILE}.tmp")), &good[..100]).expect("tmp");
    check("beside a torn temporary file", None, true);

    // Another store's snapshot: its heads are not this log's.
    let other = tmp.path().join("other");
    let node = Node::init(&other, config("410100")).expect("init");
    send(&node, "410102", 5, 1_200);
    node.write_snapshot().expect("snapshot");
    drop(node);
    let foreign = std::fs::read(snapshot_path(&other)).expect("read");
    check("another store's", Some(&foreign), false);

    // A log cut below what the snapshot reflects (a restore, a lost tail).
    std::fs::write(snapshot_path(&dir), &good).expect("write");
    let node = reopen(&dir);
    assert_eq!(node.changes_since_snapshot(), 0);
    let held_103 = node
        .view()
        .head(node.orgs().get("410103").expect("org"))
        .map_or(0, |h| h.seq);
    node.store()
        .truncate_after("410103", 100)
        .expect("truncate");
    drop(node);
    let node = reopen(&dir);
    let cut = total - held_103 + 100;
    assert_eq!(node.changes_since_snapshot(), cut, "the whole log");
    assert_eq!(
        node.view()
            .head(node.orgs().get("410103").expect("org"))
            .map(|h| h.seq),
        Some(100)
    );
    drop(node);
    std::fs::remove_file(snapshot_path(&dir)).expect("removed");
    let replayed = answers(&reopen(&dir));
    std::fs::write(snapshot_path(&dir), &good).expect("write");
    assert_eq!(answers(&reopen(&dir)), replayed);
}

/// What [`SnapshotFile`] is given, through a writer that drains: past a MiB,
/// with a length set after its bytes reached the file.
fn write_parts(w: &mut Writer<'_>) {
    w.bytes(MAGIC);
    let at = w.len_later();
    let start = w.position();
    for i in 0..400_000u64 {
        w.u64(i);
        w.str("信访");
    }
    w.set_len(at, (w.position() - start) as usize);
    w.u32(7);
}

#[test]
fn a_snapshot_file_holds_what_was_drained_into_it_sealed() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut file = SnapshotFile::create(tmp.path()).expect("create");
    let mut w = Writer::draining(&mut file);
    write_parts(&mut w);
    w.finish();
    drop(w);
    let size = file.seal_and_replace(tmp.path()).expect("sealed");
    let mut plain = Writer::default();
    write_parts(&mut plain);
    assert!(plain.out.len() > 2 << 20, "more than the writer buffers");
    let bytes = std::fs::read(snapshot_path(tmp.path())).expect("read");
    assert_eq!(size, bytes.len() as u64);
    let (body, seal) = bytes.split_at(bytes.len() - 32);
    assert!(body == plain.out.as_slice(), "the bytes a buffer holds");
    assert_eq!(seal, blake3::hash(body).as_bytes());
    assert!(
        !SnapshotFile::tmp_path(tmp.path()).exists(),
        "renamed into place"
    );
}

#[test]
fn a_failed_write_is_an_error_and_leaves_the_snapshot_in_place() {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(snapshot_path(tmp.path()), b"the previous one").expect("write");
    // A device that refuses every write, as a full disk does.
    let full = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let mut file = SnapshotFile {
        file: std::io::BufWriter::new(full),
        error: None,
    };
    let mut w = Writer::draining(&mut file);
    write_parts(&mut w);
    w.finish();
    drop(w);
    assert!(file.error.is_some(), "the write failed");
    assert!(file.seal_and_replace(tmp.path()).is_err());
    assert_eq!(
        std::fs::read(snapshot_path(tmp.path())).expect("read"),
        b"the previous one"
    );
}

#[test]
fn snapshots_written_at_once_take_turns() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("zhengzhou");
    let node = Node::init(&dir, config("410100")).expect("init");
    send(&node, "410102", 0, 600);
    send(&node, "410103", 0, 1_500);
    node.coverage(node.me(), None, as_of());
    let expected = answers(&node);
    // The daemon's periodic write and its clean stop's, say.
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for _ in 0..3 {
                    node.write_snapshot().expect("written");
                }
            });
        }
    });
    drop(node);
    let node = reopen(&dir);
    assert_eq!(node.changes_since_snapshot(), 0, "opened from the snapshot");
    assert_eq!(answers(&node), expected);
}
