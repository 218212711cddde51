//! Faults between real processes: links cut at random points, delayed and
//! reset; a parent killed with SIGKILL in the middle of a large push; a hub
//! restored from an old copy of its data dir; old batches replayed by hand;
//! a county offline for a month. After each, the national node holds every
//! origin's log exactly once, byte for byte as the origin wrote it.
//!
//! The chain: 中原区 410102 (a county, no daemon: it syncs with `sync
//! --once`) → 郑州 410100 → 河南 410000 → the national bureau 100000 (hubs,
//! serving). Proxies, where a test wants them, sit between the county and
//! 郑州 and between 郑州 and 河南.

use std::time::Duration;

use bytes::Bytes;
use chrono::TimeDelta;
use lunxun_gen::NodeData;
use lunxun_node::model::Date;
use lunxun_proto::v1 as pb;
use lunxun_proto::v1::sync_client::SyncClient;
use lunxun_tests::data::extra_class;
use lunxun_tests::node::{Output, wait_serving};
use lunxun_tests::{
    Logs, Mode, Node, Proxy, World, assert_exactly_once, copy_dir, orgs, seed, wait_until,
};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The four nodes of the chain, with the proxies in front of 郑州 and 河南
/// when asked for. The world is declared last so it is dropped last.
struct Chain {
    county: Node,
    prefecture: Node,
    province: Node,
    national: Node,
    /// Between the county and 郑州.
    county_link: Option<Proxy>,
    /// Between 郑州 and 河南.
    prefecture_link: Option<Proxy>,
    world: World,
}

impl Chain {
    fn start(test: &str, seed: u64, proxy_county: bool, proxy_prefecture: bool) -> Chain {
        let world = World::new(test, seed);
        let national = world.hub("100000", None);
        let province = world.hub("410000", Some(&national.url()));
        let prefecture_link = proxy_prefecture
            .then(|| Proxy::start(&format!("{test}-410100"), province.addr(), seed + 1));
        let upstream = match &prefecture_link {
            Some(p) => world.security.url(p.addr()),
            None => province.url(),
        };
        let prefecture = world.hub("410100", Some(&upstream));
        let county_link = proxy_county
            .then(|| Proxy::start(&format!("{test}-410102"), prefecture.addr(), seed + 2));
        let upstream = match &county_link {
            Some(p) => world.security.url(p.addr()),
            None => prefecture.url(),
        };
        let county = world.node("410102", Some(&upstream));
        Chain {
            county,
            prefecture,
            province,
            national,
            county_link,
            prefecture_link,
            world,
        }
    }

    /// Completes the sync level by level (each session must end with the
    /// parent holding everything), with the links healed.
    fn settle(&mut self) {
        for link in [&self.county_link, &self.prefecture_link]
            .into_iter()
            .flatten()
        {
            link.set_mode(Mode::Pass);
        }
        self.county.sync_ok();
        self.prefecture.sync_ok();
        self.province.sync_ok();
    }

    /// Stops every daemon and checks every origin of the chain that wrote
    /// anything at every ancestor up to the national node. Returns the logs
    /// (county, prefecture, province, national).
    fn assert_exactly_once(&mut self) -> [Logs; 4] {
        for hub in [&mut self.prefecture, &mut self.province, &mut self.national] {
            if hub.is_serving() {
                hub.stop();
            }
        }
        let logs = [
            self.county.logs(),
            self.prefecture.logs(),
            self.province.logs(),
            self.national.logs(),
        ];
        for (i, own) in logs.iter().enumerate() {
            if own.seq(&own.org) == 0 {
                continue;
            }
            for holder in &logs[i + 1..] {
                assert_exactly_once(&own.org, own, holder);
            }
        }
        let wrote: Vec<&str> = logs
            .iter()
            .filter(|l| l.seq(&l.org) > 0)
            .map(|l| l.org.as_str())
            .collect();
        let mut wrote_sorted = wrote.clone();
        wrote_sorted.sort();
        assert_eq!(
            logs[3].origin_codes(),
            wrote_sorted,
            "the national node holds exactly the origins that wrote"
        );
        logs
    }
}

fn date(text: &str) -> Date {
    text.parse().expect("a date")
}

fn assert_synced_or_incomplete(node: &Node, out: &Output) {
    assert!(
        out.code == 0 || out.code == 4,
        "{}: sync --once exited {} (0 or 4 expected)\nstdout:\n{}\nstderr:\n{}",
        node.org,
        out.code,
        out.stdout,
        out.stderr
    );
}

#[test]
fn cut_delayed_and_reset_links_lose_nothing_and_apply_nothing_twice() {
    let seed = seed("links", 21);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut chain = Chain::start("links", seed, true, true);
    let county_data = chain.world.data("410102");
    let prefecture_data = chain.world.data("410100");
    chain.county.import_data(&county_data);
    chain.prefecture.import_data(&prefecture_data);

    let pick = |rng: &mut ChaCha8Rng| match rng.random_range(0..6u32) {
        0 | 1 => Mode::Chaos {
            max_bytes: 48 * 1024,
            latency_max: Duration::from_millis(10),
        },
        2 => Mode::Cut {
            max_bytes: 32 * 1024,
        },
        3 => Mode::Down,
        4 => Mode::Latency(Duration::from_millis(3)),
        _ => Mode::Cut {
            max_bytes: 4 * 1024,
        },
    };
    let (county_link, prefecture_link) = (
        chain.county_link.as_ref().expect("a county link"),
        chain.prefecture_link.as_ref().expect("a prefecture link"),
    );
    let mut incomplete = 0;
    for round in 0..16u32 {
        let (a, b) = (pick(&mut rng), pick(&mut rng));
        county_link.set_mode(a);
        prefecture_link.set_mode(b);
        let out = chain.county.sync_once();
        assert_synced_or_incomplete(&chain.county, &out);
        incomplete += u32::from(out.code != 0);
        let out = chain.prefecture.sync_once();
        assert_synced_or_incomplete(&chain.prefecture, &out);
        incomplete += u32::from(out.code != 0);
        // New changes keep arriving between the attempts.
        let day = date("2026-05-04") + TimeDelta::days(i64::from(round) * 2);
        if round % 3 == 1 {
            chain
                .county
                .import_data(&extra_class(&county_data, round, day));
        }
        if round % 5 == 2 {
            chain
                .prefecture
                .import_data(&extra_class(&prefecture_data, round, day));
        }
    }
    let (a, b) = (county_link.stats(), prefecture_link.stats());
    eprintln!("county link {a:?}; prefecture link {b:?}; {incomplete} incomplete syncs");
    assert!(incomplete > 0, "the faults never broke a session");
    assert!(a.cuts > 0 && a.resets > 0, "county link: {a:?}");
    assert!(b.cuts > 0 && b.resets > 0, "prefecture link: {b:?}");

    chain.settle();
    let logs = chain.assert_exactly_once();
    assert_eq!(logs[3].seq("410102"), logs[0].seq("410102"));
    assert_eq!(logs[3].seq("410100"), logs[1].seq("410100"));
}

/// Changes `node` holds over every origin, from its status (through its
/// daemon when it serves).
fn held_changes(node: &Node) -> u64 {
    node.status_json()["counts"]["changes"]
        .as_u64()
        .expect("status counts changes")
}

#[test]
fn a_parent_killed_mid_push_loses_nothing_and_applies_nothing_twice() {
    let seed = seed("kill9", 22);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // A pass-through proxy in front of 郑州 shows when a push is under way.
    let mut chain = Chain::start("kill9", seed, true, false);
    // 郑州 writes its view's snapshot every few thousand changes, so kills
    // also land while one is written, and each restart opens from the last
    // one and replays the log after it.
    chain.prefecture.kill9();
    let config = chain.prefecture.dir().join("config.toml");
    let mut text = std::fs::read_to_string(&config).expect("郑州's config");
    assert!(!text.contains("[store]"), "{text}");
    text.push_str("\n[store]\nsnapshot_after_changes = 3000\n");
    std::fs::write(&config, text).expect("write 郑州's config");
    chain.prefecture.serve();
    wait_serving(&mut chain.prefecture);
    // A county with a large log: tens of thousands of changes.
    let id = orgs().get("410102").expect("中原区");
    let big: NodeData =
        lunxun_gen::generate_scaled(seed, orgs(), id, 5_000, 60_000, chain.world.params.as_of);
    chain.county.import_data(&big);
    let total = chain.county.own_seq();
    assert!(total > 60_000, "a large log: {total}");
    chain.prefecture.import_data(&chain.world.data("410100"));
    let own = held_changes(&chain.prefecture);

    // Kill 郑州 at a random moment early in each push (the parent applies
    // what it received in large groups, so its counts cannot show a middle),
    // until three pushes were cut short or one got through anyway.
    let mut interrupted = 0;
    for round in 0..8 {
        let before = held_changes(&chain.prefecture) - own;
        if before == total || interrupted == 3 {
            break;
        }
        let link = chain.county_link.as_ref().expect("a county link");
        let start = link.stats().bytes_up;
        let started_bytes = rng.random_range(1_000..64_000u64);
        let delay = Duration::from_millis(rng.random_range(0..400));
        let push = chain.county.spawn(&["sync", "--once"]);
        wait_until("the push to start", || {
            link.stats().bytes_up - start >= started_bytes
        });
        std::thread::sleep(delay);
        chain.prefecture.kill9();
        let out = push.wait();
        assert_synced_or_incomplete(&chain.county, &out);
        eprintln!(
            "round {round}: 郑州 held {before} of {total} county changes; killed {delay:?} after \
             {started_bytes} bytes of the push; county sync exited {}",
            out.code
        );
        interrupted += u32::from(out.code == 4);
        // Back on the same port, replaying (and truncating any torn tail).
        chain.prefecture.serve();
        wait_serving(&mut chain.prefecture);
    }
    assert!(
        interrupted >= 2,
        "the kills interrupted {interrupted} pushes"
    );
    chain.settle();
    let logs = chain.assert_exactly_once();
    assert_eq!(logs[3].seq("410102"), total);
    assert!(
        chain.prefecture.dir().join("view.snapshot").exists(),
        "郑州 wrote its view's snapshot"
    );
}

#[test]
fn a_hub_restored_from_an_old_copy_gets_whole_again_from_children_and_parent() {
    let seed = seed("backup", 23);
    let mut chain = Chain::start("backup", seed, false, false);
    let county_data = chain.world.data("410102");
    let prefecture_data = chain.world.data("410100");
    chain.county.import_data(&county_data);
    chain.prefecture.import_data(&prefecture_data);
    chain.settle();

    // A backup of 郑州's data dir.
    chain.prefecture.stop();
    let backup = chain.world.root().join("410100-backup");
    copy_dir(chain.prefecture.dir(), &backup);
    let old = chain.prefecture.logs();
    chain.prefecture.serve();

    // Life goes on: the county and 郑州 write more, and everything syncs.
    chain
        .county
        .import_data(&extra_class(&county_data, 1, date("2026-05-11")));
    chain
        .prefecture
        .import_data(&extra_class(&prefecture_data, 1, date("2026-05-12")));
    chain.settle();
    chain.prefecture.stop();
    let full = chain.prefecture.logs();
    assert!(full.seq("410100") > old.seq("410100"));
    assert!(full.seq("410102") > old.seq("410102"));

    // The disk dies; the old copy comes back.
    std::fs::remove_dir_all(chain.prefecture.dir()).expect("remove 郑州's data dir");
    copy_dir(&backup, chain.prefecture.dir());
    chain.prefecture.serve();
    assert_eq!(chain.prefecture.own_seq(), old.seq("410100"));

    // The county resends what 郑州 lost.
    let out = chain.county.sync_ok();
    let lost = full.seq("410102") - old.seq("410102");
    assert!(
        out.contains(&format!("{lost} changes sent")),
        "the county resends the {lost} changes 郑州 lost: {out}"
    );

    // 郑州 finds it lost its own tail when it syncs upward, and refuses writes.
    let out = chain.prefecture.sync_once();
    chain.prefecture.expect_code(&["sync", "--once"], &out, 1);
    assert!(
        out.stderr.contains("restore --from-upstream"),
        "{}",
        out.stderr
    );
    let status = chain.prefecture.status_json();
    assert_eq!(status["writable"], false, "{status}");
    let extra = extra_class(&prefecture_data, 2, date("2026-05-20"));
    lunxun_gen::write_csv(&extra, &chain.prefecture.work().join("refused"), false)
        .expect("write a trainings file");
    let trainings = chain.prefecture.work().join("refused/trainings.csv");
    let args = [
        "import",
        "trainings",
        trainings.to_str().expect("a utf-8 path"),
    ];
    let out = chain.prefecture.run(&args);
    chain.prefecture.expect_code(&args, &out, 1);
    assert!(
        out.stderr.contains("restore --from-upstream"),
        "{}",
        out.stderr
    );
    assert_eq!(chain.prefecture.own_seq(), old.seq("410100"));

    // The national node still holds 郑州's log exactly once, as 郑州 wrote it.
    chain.national.stop();
    let national = chain.national.logs();
    assert_exactly_once("410100", &full, &national);
    chain.national.serve();
    wait_serving(&mut chain.national);

    // Restore from 河南 (which needs the store to itself).
    let out = chain.prefecture.run(&["restore", "--from-upstream"]);
    assert_eq!(out.code, 2, "refused while serving: {}", out.stderr);
    chain.prefecture.stop();
    let out = chain.prefecture.ok(&["restore", "--from-upstream"]);
    assert!(out.contains("writes allowed"), "{out}");
    chain.prefecture.serve();
    let status = chain.prefecture.status_json();
    assert_eq!(status["writable"], true, "{status}");
    assert_eq!(status["own_seq"], full.seq("410100"));

    // Writable again, and syncing again.
    chain.prefecture.import_trainings(&trainings);
    chain
        .county
        .import_data(&extra_class(&county_data, 3, date("2026-05-25")));
    chain.settle();
    let logs = chain.assert_exactly_once();
    assert_eq!(
        logs[1].seq("410100"),
        full.seq("410100") + 1 + extra.attendance.len() as u64
    );
    // What 郑州 held before the loss is a prefix of what it holds now.
    assert_eq!(
        logs[1].origins["410100"][..full.origins["410100"].len()],
        full.origins["410100"][..]
    );
}

/// One ack from the parent.
fn ack(message: Option<pb::ParentMessage>) -> pb::Ack {
    match message.and_then(|m| m.kind) {
        Some(pb::parent_message::Kind::Ack(ack)) => ack,
        other => panic!("expected an ack, got {other:?}"),
    }
}

#[test]
fn replayed_old_batches_are_skipped_and_change_nothing() {
    let seed = seed("replay", 24);
    let mut chain = Chain::start("replay", seed, false, false);
    let county_data = chain.world.data("410102");
    chain.county.import_data(&county_data);
    chain.settle();
    let synced = chain.county.own_seq();
    // More changes the prefecture has not seen.
    chain
        .county
        .import_data(&extra_class(&county_data, 1, date("2026-06-01")));
    let county = chain.county.logs();
    let changes: Vec<Bytes> = county.origins["410102"]
        .iter()
        .map(|s| s.change.clone())
        .collect();
    assert!(synced >= 16, "enough changes to replay: {synced}");

    chain.prefecture.stop();
    let before = chain.prefecture.logs();
    assert_eq!(before.seq("410102"), synced);
    chain.prefecture.serve();

    let held = |from: u64, to: u64| changes[(from - 1) as usize..to as usize].to_vec();
    // (batch_no, changes): already held, overlapping, reversed, the same
    // batch twice, a later range before an earlier one.
    let (quarter, half) = (synced / 4, synced / 2);
    let replays: Vec<(u64, Vec<Bytes>)> = vec![
        (1, held(1, half)),
        (2, held(quarter, half + quarter)),
        (3, held(half + 1, synced).into_iter().rev().collect()),
        (4, held(1, half)),
        (4, held(1, half)),
        (5, held(half + quarter, synced)),
        (6, held(quarter, half + quarter - 1)),
    ];
    let gap_from = synced + 2;
    let url = chain.prefecture.url();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let skipped = runtime.block_on(async {
        let mut client = SyncClient::connect(url).await.expect("connect to 郑州");
        let (tx, rx) = tokio::sync::mpsc::channel::<pb::ChildMessage>(4);
        let send = |kind| {
            let tx = tx.clone();
            async move {
                tx.send(pb::ChildMessage { kind: Some(kind) })
                    .await
                    .expect("the session is open")
            }
        };
        send(pb::child_message::Kind::Hello(pb::Hello {
            protocol: 1,
            org: "410102".into(),
            incarnation: Bytes::from_static(b"a replaying test"),
            bulletins: 0,
        }))
        .await;
        let mut inbound = client
            .session(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
            .expect("郑州 accepts the session")
            .into_inner();
        let vector = match inbound
            .message()
            .await
            .expect("a vector")
            .and_then(|m| m.kind)
        {
            Some(pb::parent_message::Kind::Vector(v)) => v,
            other => panic!("expected the vector, got {other:?}"),
        };
        let entry = vector
            .entries
            .iter()
            .find(|e| e.origin == "410102")
            .expect("郑州 holds the county");
        assert_eq!(entry.seq, synced);

        let mut skipped = 0;
        for (batch_no, batch) in &replays {
            let count = batch.len() as u32;
            let encoded = lunxun_node::codec::encode_batch(*batch_no, batch.clone().into())
                .expect("encode a batch");
            send(pb::child_message::Kind::Batch(encoded)).await;
            let ack = ack(inbound.message().await.expect("an ack"));
            assert_eq!(ack.batch_no, *batch_no);
            assert_eq!(
                (ack.applied, ack.skipped, ack.quarantined),
                (0, count, 0),
                "batch {batch_no}: everything already held is skipped"
            );
            assert!(ack.held.is_empty(), "{:?}", ack.held);
            assert_eq!(ack.entries.len(), 1);
            assert_eq!(ack.entries[0].seq, synced, "the vector does not move");
            skipped += u64::from(count);
        }
        // Changes beyond a gap are held back, never applied out of order.
        let gap = held(gap_from, gap_from + 2);
        let encoded = lunxun_node::codec::encode_batch(7, gap.into()).expect("encode a batch");
        send(pb::child_message::Kind::Batch(encoded)).await;
        let ack = ack(inbound.message().await.expect("an ack"));
        assert_eq!(ack.applied, 0);
        assert_eq!(ack.held.len(), 1, "{:?}", ack.held);
        assert_eq!(ack.held[0].seq, gap_from);
        assert!(ack.held[0].reason.contains("gap"), "{}", ack.held[0].reason);
        assert_eq!(ack.entries[0].seq, synced);

        send(pb::child_message::Kind::Done(pb::Done { pending: 0 })).await;
        drop(tx);
        while let Ok(Some(_)) = inbound.message().await {}
        skipped
    });
    // Close the connection now: an idle runtime would leave it open and
    // unanswering, and 郑州's graceful shutdown would wait for it.
    drop(runtime);

    let status = chain.prefecture.status_json();
    let child = status["children"]
        .as_array()
        .expect("children")
        .iter()
        .find(|c| c["org"] == "410102")
        .cloned()
        .expect("the county is listed");
    assert!(child["skipped"].as_u64() >= Some(skipped), "{child}");
    assert_eq!(status["held"][0]["origin"], "410102", "{status}");
    chain.prefecture.stop();
    let after = chain.prefecture.logs();
    assert_eq!(after, before, "replays changed 郑州's store");

    // The county's own next session fills the gap in order; the hold lifts.
    chain.prefecture.serve();
    chain.settle();
    let status = chain.prefecture.status_json();
    assert_eq!(status["held"], serde_json::json!([]), "{status}");
    let logs = chain.assert_exactly_once();
    assert_eq!(logs[3].seq("410102"), county.seq("410102"));
}

#[test]
fn a_county_offline_for_a_month_catches_up_exactly_once() {
    let seed = seed("offline", 25);
    let mut chain = Chain::start("offline", seed, true, false);
    let county_data = chain.world.data("410102");
    chain.county.import_data(&county_data);
    chain.settle();
    let synced = chain.county.own_seq();

    // The link goes down; a month of weekly classes is recorded offline.
    let link = chain.county_link.as_ref().expect("a county link");
    link.set_mode(Mode::Down);
    let mut written = 0;
    for week in 0..4u32 {
        let class = extra_class(
            &county_data,
            10 + week,
            chain.world.params.as_of + TimeDelta::days(i64::from(week) * 7 + 1),
        );
        written += 1 + class.attendance.len() as u64;
        chain.county.import_data(&class);
        let out = chain.county.sync_once();
        chain.county.expect_code(&["sync", "--once"], &out, 4);
    }
    assert_eq!(chain.county.own_seq(), synced + written);
    let status = chain.county.status_json();
    let upstream = &status["upstream"];
    assert_eq!(upstream["pending"], written, "{status}");
    assert!(upstream["last_error"].is_string(), "{status}");
    assert!(upstream["failures"].as_u64() >= Some(4), "{status}");
    assert!(link.stats().resets >= 4, "{:?}", link.stats());

    // The link comes back.
    chain.settle();
    let status = chain.county.status_json();
    assert_eq!(status["upstream"]["pending"], 0, "{status}");
    assert!(status["upstream"]["last_error"].is_null(), "{status}");
    let logs = chain.assert_exactly_once();
    assert_eq!(logs[3].seq("410102"), synced + written);
}

/// Bytes of every file under `dir`, recursively.
fn bytes_under(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.file_type() {
                    Ok(t) if t.is_dir() => bytes_under(&e.path()),
                    Ok(_) => e.metadata().map_or(0, |m| m.len()),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

#[test]
fn a_county_killed_mid_import_keeps_nothing_of_the_import() {
    let seed = seed("import", 26);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut chain = Chain::start("import", seed, false, false);
    let id = orgs().get("410102").expect("中原区");
    let big =
        lunxun_gen::generate_scaled(seed, orgs(), id, 4_000, 56_000, chain.world.params.as_of);
    let files = chain.county.work().join("big");
    lunxun_gen::write_csv(&big, &files, true).expect("write the files");
    chain.county.serve();
    chain.county.import_roster(&files.join("roster.csv"));
    let before = chain.county.own_seq();
    let full = before + (big.classes.len() + big.attendance.len()) as u64;

    // Kill the county's daemon once the import is writing (its store grows).
    let store = chain.county.dir().join("store");
    let grown = bytes_under(&store) + rng.random_range(1..4u64) * 1024 * 1024;
    let trainings = files.join("trainings.csv");
    let args = [
        "import",
        "trainings",
        trainings.to_str().expect("a utf-8 path"),
    ];
    let import = chain.county.spawn(&args);
    wait_until("the import to write", || bytes_under(&store) >= grown);
    chain.county.kill9();
    let out = import.wait();
    eprintln!(
        "killed after the store grew past {grown} bytes: import exited {}",
        out.code
    );
    chain.county.serve();
    let seq = chain.county.own_seq();
    assert!(
        seq == before || (seq == full && out.code == 0),
        "an interrupted import must leave nothing: own seq {seq}, {before} before it, \
         {full} with all of it (import exited {})",
        out.code
    );

    // Imported again, all of it; and synced exactly once.
    chain.county.ok(&args);
    assert_eq!(chain.county.own_seq(), full);
    chain.county.stop();
    chain.settle();
    let logs = chain.assert_exactly_once();
    assert_eq!(logs[3].seq("410102"), full);
}

/// A hub put back on an old copy of its data dir that writes before it next
/// syncs upward forks its own log. Its parent keeps the first history and
/// refuses the fork; the hub's next sync finds it and refuses writes. Until
/// origins sign their logs, the parent's copy after the common prefix cannot
/// be told from a forgery, so `restore --from-upstream` drops and replaces
/// nothing: it keeps every local change, says so, and writes stay refused.
#[test]
fn a_hub_that_wrote_on_an_old_backup_before_syncing_keeps_its_changes_on_restore() {
    let seed = seed("fork", 27);
    let mut chain = Chain::start("fork", seed, false, false);
    let data = chain.world.data("410100");
    chain.prefecture.import_data(&data);
    chain.settle();
    chain.prefecture.stop();
    let backup = chain.world.root().join("410100-backup");
    copy_dir(chain.prefecture.dir(), &backup);
    let old_seq = chain.prefecture.own_seq();
    chain.prefecture.serve();
    chain
        .prefecture
        .import_data(&extra_class(&data, 1, date("2026-05-11")));
    chain.settle();
    chain.prefecture.stop();

    // The old copy comes back, and today's file is imported before the link
    // is up (no daemon: nothing syncs on its own).
    std::fs::remove_dir_all(chain.prefecture.dir()).expect("remove 郑州's data dir");
    copy_dir(&backup, chain.prefecture.dir());
    let today = extra_class(&data, 2, date("2026-05-20"));
    chain.prefecture.import_data(&today);
    let local = chain.prefecture.own_seq() - old_seq;
    assert!(local > 0);

    // Its next sync finds the fork: writes must be refused until restored.
    let out = chain.prefecture.sync_once();
    assert_ne!(out.code, 0, "{}", out.stdout);
    let status = chain.prefecture.status_json();
    assert_eq!(
        status["writable"], false,
        "a node whose own log forked from its parent's copy must refuse writes: {}",
        status["upstream"]
    );
    let before = chain.prefecture.logs();
    // Restore keeps the local changes, says so, and takes nothing over them.
    let out = chain.prefecture.run(&["restore", "--from-upstream"]);
    assert_ne!(out.code, 0, "{}", out.stdout);
    assert!(
        out.stdout.contains(&format!(
            "kept our {local} local changes of 410100 from seq {}",
            old_seq + 1
        )),
        "{}",
        out.stdout
    );
    assert!(out.stderr.contains("writes stay refused"), "{}", out.stderr);
    assert_eq!(chain.prefecture.logs().origins, before.origins);
    assert_eq!(chain.prefecture.status_json()["writable"], false);
}

/// A county's store file is cut short after it synced (a disk fault, a bad
/// copy). sled reads the rest as a torn tail, so the store alone would look
/// like a node that never wrote those changes, and its next write would fork
/// its log. The own-head file beside the store tells: writes are refused
/// with a line naming `restore --from-upstream`, and the restore brings back
/// every change, exactly once everywhere.
#[test]
fn a_county_whose_store_lost_changes_is_refused_writes_until_restored() {
    let seed = seed("store-lost", 28);
    let mut chain = Chain::start("store-lost", seed, false, false);
    let data = chain.world.data("410102");
    chain.county.import_data(&data);
    chain.settle();
    let full = chain.county.own_seq();
    assert!(full > 0);

    let store = chain.county.dir().join("store");
    std::fs::OpenOptions::new()
        .write(true)
        .open(store.join("db"))
        .expect("open the store file")
        .set_len(100)
        .expect("cut the store file");
    for entry in std::fs::read_dir(&store).expect("read the store dir") {
        let path = entry.expect("an entry").path();
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("snap."))
        {
            std::fs::remove_file(path).expect("remove a snapshot");
        }
    }
    assert!(chain.county.own_seq() < full, "the cut must lose changes");
    let status = chain.county.status_json();
    assert_eq!(status["writable"], false, "{status}");
    let extra = extra_class(&data, 1, date("2026-05-11"));
    let files = chain.county.work().join("extra");
    lunxun_gen::write_csv(&extra, &files, true).expect("write the files");
    let trainings = files.join("trainings.csv");
    let out = chain.county.run(&[
        "import",
        "trainings",
        trainings.to_str().expect("a utf-8 path"),
    ]);
    assert_ne!(out.code, 0, "{}", out.stdout);
    assert!(
        out.stderr.contains("restore --from-upstream"),
        "{}",
        out.stderr
    );

    chain.county.ok(&["restore", "--from-upstream"]);
    let status = chain.county.status_json();
    assert_eq!(status["writable"], true, "{status}");
    assert_eq!(status["own_seq"], full);
    chain.county.import_data(&extra);
    chain.settle();
    let logs = chain.assert_exactly_once();
    assert_eq!(logs[3].seq("410102"), chain.county.own_seq());
}
