//! Offline bundles between real processes on mutual TLS (DESIGN.md
//! "Offline bundle"):
//!
//! - A county with no network path to its prefecture exchanges only files
//!   for three rounds (its parent imports each bundle, it imports each
//!   acknowledgement); the prefecture syncs up live; the national figures
//!   equal the oracle, every ancestor holds the county's log exactly once,
//!   the county's status shows what its parent holds, the prefecture's
//!   status and dashboard show the county's last bundle, and a policy bulletin
//!   published at the national node reaches the county in an
//!   acknowledgement.
//! - Faults: a bundle imported twice, out of order, after the same changes
//!   came by a live session, and a parent killed with SIGKILL during an
//!   import then importing again: nothing twice, nothing lost.
//! - Trainings returned through acknowledgements: a county on files only
//!   gets the class its prefecture gave its people, and then shows the same
//!   person record and figures as its parent; the same acknowledgement
//!   twice, an older one after a newer one, change nothing; one whose
//!   returned trainings were altered is refused in one line.
//! - Bad files (cut, one byte flipped, signed by another child, of a node
//!   that is not a child, signed under another root, an acknowledgement for
//!   another node, a zstd bomb under `prlimit --as`): refused in one line
//!   naming the file, and the store unchanged.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use bytes::Bytes;
use lunxun_gen::NodeData;
use lunxun_node::certs::sign::Signer;
use lunxun_node::codec::bundle as file;
use lunxun_proto::v1 as pb;
use lunxun_tests::data::{assert_coverage_matches, extra_class, oracle};
use lunxun_tests::shown::{classes_of, own_figures, person_record, returned_records};
use lunxun_tests::{Logs, Node, Pki, World, assert_exactly_once, build_tree, seed};
use prost::Message;
use serde_json::Value;

/// The header the tests' stand-in for a bureau's proxy names the account in.
const PROXY_HEADER: &str = "x-remote-user";

/// The dashboard's front page at `addr`, asked for on behalf of `account`
/// as a trusted proxy does: the whole answer.
fn front_page(addr: std::net::SocketAddr, account: &str) -> String {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(addr).expect("connect to the dashboard");
    conn.set_read_timeout(Some(lunxun_tests::WAIT_MAX))
        .expect("a read timeout");
    write!(
        conn,
        "GET / HTTP/1.1\r\nHost: {addr}\r\n{PROXY_HEADER}: {account}\r\nConnection: close\r\n\r\n"
    )
    .expect("send the request");
    let mut answer = String::new();
    conn.read_to_string(&mut answer).expect("read the answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    answer
}

/// 郑州 serving (with no parent of its own) and `counties` syncing to it.
fn prefecture_with(world: &World, counties: &[&str]) -> BTreeMap<String, Node> {
    let parent = world.hub("410100", None);
    let mut nodes = BTreeMap::new();
    for org in counties {
        nodes.insert(org.to_string(), world.node(org, Some(&parent.url())));
    }
    nodes.insert("410100".to_owned(), parent);
    nodes
}

fn json(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

fn export(node: &Node, out: &Path, extra: &[&str]) -> Value {
    let mut args = vec![
        "bundle".to_owned(),
        "export".into(),
        "--out".into(),
        out.display().to_string(),
        "--format".into(),
        "json".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    json(&node.ok(&args))
}

fn import(node: &Node, path: &Path) -> Value {
    json(&node.ok(&[
        "bundle",
        "import",
        &path.display().to_string(),
        "--format",
        "json",
    ]))
}

/// The roster of `data` alone, and its trainings alone.
fn split(data: &NodeData) -> (NodeData, NodeData) {
    let mut roster = data.clone();
    roster.classes.clear();
    roster.attendance.clear();
    roster.obligations.clear();
    let mut trainings = data.clone();
    trainings.roster.clear();
    trainings.obligations.clear();
    (roster, trainings)
}

#[test]
fn a_county_without_a_link_syncs_by_files_for_rounds_and_the_nation_sees_it() {
    let world = World::tls("bundle-rounds", seed("bundle-rounds", 41));
    let mut nodes = build_tree(&world, &["100000", "410000", "410100"], false);
    // No network path: the county knows no URL at all.
    let mut county = world.node("410102", None);
    let data = world.data("410102");
    let (roster, trainings) = split(&data);
    let extra = extra_class(&data, 1, world.params.as_of - chrono::TimeDelta::days(20));
    let prefecture_data = world.data("410100");
    nodes
        .get_mut("410100")
        .unwrap()
        .import_data(&prefecture_data);
    let stick = world.root().join("stick");
    std::fs::create_dir_all(&stick).unwrap();

    // A revised policy, in force after the figures' date (so they keep the
    // default policy), published at the national node and brought down
    // live to the prefecture.
    let policy = nodes["100000"].work().join("policy.toml");
    std::fs::write(&policy, "[hours.general]\nhours = 100\n").unwrap();
    let effective = (world.params.as_of + chrono::TimeDelta::days(30)).to_string();
    nodes["100000"].ok(&[
        "policy",
        "publish",
        &policy.display().to_string(),
        "--effective",
        &effective,
    ]);
    nodes["410000"].sync_ok();
    nodes["410100"].sync_ok();

    let mut written = 0;
    // The seqs of the county's last bundle.
    let mut last = (0, 0);
    for (round, part) in [&roster, &trainings, &extra].into_iter().enumerate() {
        county.import_data(part);
        let own = county.own_seq();
        let bundle = stick.join(format!("round-{}.lxb", round + 1));
        let e = export(&county, &bundle, &[]);
        // Only what the parent lacks: this round's changes.
        assert_eq!(e["changes"], own - written, "round {}: {e}", round + 1);
        // Through the prefecture's daemon, with a path relative to its cwd.
        let i = import(&nodes["410100"], &bundle);
        assert_eq!(i["applied"], own - written, "round {}: {i}", round + 1);
        assert_eq!(i["skipped"], 0);
        let ack = PathBuf::from(i["ack"].as_str().expect("the ack's path"));
        assert!(ack.exists(), "{}", ack.display());
        let a = import(&county, &ack);
        assert_eq!(a["kind"], "ack");
        assert_eq!(a["vector"]["410102"], own, "{a}");
        last = (written + 1, own);
        written = own;
        let status = county.status_json();
        assert_eq!(
            status["upstream"]["parent_holds"]["410102"], own,
            "{status}"
        );
        assert_eq!(status["upstream"]["pending"], 0, "{status}");
    }
    // The bulletin came down in an acknowledgement.
    let status = county.status_json();
    assert_eq!(status["bulletins"]["held"], 1, "{status}");
    let shown = county.ok(&["bulletins"]);
    assert!(shown.contains("policy"), "{shown}");
    // Nothing left to send: an empty bundle.
    let e = export(&county, &stick.join("empty.lxb"), &[]);
    assert_eq!(e["changes"], 0);
    // The prefecture lists the county with its last bundle.
    let p = nodes["410100"].status_json();
    let child = p["children"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["org"] == "410102")
        .unwrap_or_else(|| panic!("the county is listed: {p}"));
    assert_eq!(child["bundles"], 3, "{child}");
    assert_eq!(
        child["last_bundle_covered"]["410102"][1], written,
        "{child}"
    );
    // So does its dashboard's front page, asked through the bureau's proxy.
    let prefecture = nodes.get_mut("410100").unwrap();
    prefecture.stop();
    let mut config = lunxun_node::config::Config::load(prefecture.dir()).unwrap();
    config.dashboard.trusted_proxy = Some(lunxun_node::config::TrustedProxy {
        header: PROXY_HEADER.into(),
        from: vec![std::net::Ipv4Addr::LOCALHOST.into()],
    });
    config.save(prefecture.dir()).unwrap();
    prefecture.serve_with(&["--http", "127.0.0.1:0"]);
    let args = [
        "user",
        "add",
        "clerk",
        "--org",
        "410100",
        "--password-stdin",
    ];
    let out = prefecture.run_with_input(&args, "a long test password\n");
    assert_eq!(out.code, 0, "user add: {}", out.stderr);
    let page = front_page(prefecture.http_addr(), "clerk");
    for (field, want) in [
        ("last_bundle.changes", (last.1 - last.0 + 1).to_string()),
        (
            "last_bundle.covered",
            format!("410102 {}–{}", last.0, last.1),
        ),
    ] {
        let cell = format!(r#"data-org="410102" data-field="{field}">{want}<"#);
        assert!(page.contains(&cell), "{cell} not on the page:\n{page}");
    }

    // The prefecture syncs up live; the nation sees the county.
    nodes["410100"].sync_ok();
    nodes["410000"].sync_ok();
    let datasets = vec![
        ("410100", &prefecture_data),
        ("410102", &roster),
        ("410102", &trainings),
        ("410102", &extra),
    ];
    let expected = oracle(&datasets, "100000", world.params.as_of);
    assert_coverage_matches(&nodes["100000"].coverage_json(&world.as_of()), &expected);
    for n in nodes.values_mut() {
        n.stop();
    }
    let own = Logs::read(county.dir());
    for a in ["410100", "410000", "100000"] {
        assert_exactly_once("410102", &own, &Logs::read(nodes[a].dir()));
    }
    county.status_json();
    println!("three rounds of files: the national figures equal the oracle, exactly once");
}

#[test]
fn bundles_twice_out_of_order_after_a_session_and_across_a_kill_apply_once() {
    let world = World::tls("bundle-faults", seed("bundle-faults", 43));
    let mut nodes = prefecture_with(&world, &["410102"]);
    let data = world.data("410102");
    let (roster, trainings) = split(&data);
    let stick = world.root().join("stick");
    std::fs::create_dir_all(&stick).unwrap();
    nodes.get_mut("410102").unwrap().import_data(&roster);
    let county = &nodes["410102"];
    let first = county.own_seq();
    let b1 = stick.join("b1.lxb");
    export(county, &b1, &[]);
    nodes.get_mut("410102").unwrap().import_data(&trainings);
    let county = &nodes["410102"];
    let second = county.own_seq();
    // Round 2 starts above round 1, whatever the parent acknowledged.
    let since = stick.join("since.json");
    std::fs::write(&since, format!("{{\"410102\": {first}}}")).unwrap();
    let b2 = stick.join("b2.lxb");
    let e = export(county, &b2, &["--since", &since.display().to_string()]);
    assert_eq!(e["changes"], second - first);

    let parent = &nodes["410100"];
    // Round 2 first: a gap, held, nothing applied.
    let i = import(parent, &b2);
    assert_eq!(i["applied"], 0, "{i}");
    assert!(
        i["held"].to_string().contains("gap"),
        "the gap is held: {i}"
    );
    let i = import(parent, &b1);
    assert_eq!(i["applied"], first, "{i}");
    // Twice: nothing.
    let i = import(parent, &b1);
    assert_eq!(
        (i["applied"].clone(), i["skipped"].clone()),
        (0.into(), first.into())
    );
    let i = import(parent, &b2);
    assert_eq!(i["applied"], second - first, "{i}");
    let i = import(parent, &b2);
    assert_eq!(i["applied"], 0, "{i}");
    // A live session after the files: nothing to send.
    let out = county.sync_ok();
    assert!(out.contains("the parent holds everything"), "{out}");

    // Changes that came by a session first, then in a bundle.
    let extra = extra_class(&data, 1, world.params.as_of - chrono::TimeDelta::days(10));
    nodes.get_mut("410102").unwrap().import_data(&extra);
    let county = &nodes["410102"];
    county.sync_ok();
    let b3 = stick.join("b3.lxb");
    export(county, &b3, &["--all"]);
    let i = import(&nodes["410100"], &b3);
    assert_eq!(i["applied"], 0, "{i}");
    assert_eq!(i["skipped"], county.own_seq(), "{i}");

    // SIGKILL of the parent's daemon during an import, then again.
    let more = extra_class(&data, 2, world.params.as_of - chrono::TimeDelta::days(5));
    nodes.get_mut("410102").unwrap().import_data(&more);
    let b4 = stick.join("b4.lxb");
    export(&nodes["410102"], &b4, &[]);
    let running = nodes["410100"].spawn(&["bundle", "import", &b4.display().to_string()]);
    std::thread::sleep(std::time::Duration::from_millis(30));
    nodes.get_mut("410100").unwrap().kill9();
    let _ = running.wait();
    nodes.get_mut("410100").unwrap().serve();
    import(&nodes["410100"], &b4);
    let i = import(&nodes["410100"], &b4);
    assert_eq!(i["applied"], 0, "{i}");
    nodes.get_mut("410100").unwrap().stop();
    let own = Logs::read(nodes["410102"].dir());
    assert_exactly_once("410102", &own, &Logs::read(nodes["410100"].dir()));
    println!("twice, out of order, after a session, across a kill: exactly once");
}

/// What a refused file must leave as it was: every log, the children's
/// records and holds, the upstream state and bulletins.
fn snapshot(node: &Node) -> (Logs, Value) {
    let mut status = node.status_json();
    for volatile in ["incarnation", "store_bytes"] {
        status[volatile] = Value::Null;
    }
    // Ages grow by themselves.
    if let Some(upstream) = status["upstream"].as_object_mut() {
        upstream.remove("lag_seconds");
    }
    if let Some(children) = status["children"].as_array_mut() {
        for c in children {
            c["lag_seconds"] = Value::Null;
        }
    }
    (Logs::read(node.dir()), status)
}

fn refused(node: &Node, path: &Path, says: &str) {
    let before = snapshot(node);
    let out = node.run(&["bundle", "import", &path.display().to_string()]);
    assert_eq!(
        out.code,
        3,
        "{}: {} {}",
        path.display(),
        out.stdout,
        out.stderr
    );
    let line = out.stderr.trim();
    assert_eq!(line.lines().count(), 1, "one line: {line}");
    assert!(
        line.contains(&path.display().to_string()) && line.contains(says),
        "{line} should name the file and say {says:?}"
    );
    assert!(!file_exists(&lunxun_node::app::bundle::ack_path(path)));
    let after = snapshot(node);
    assert_eq!(before.0, after.0, "the logs changed: {line}");
    assert_eq!(before.1, after.1, "the status changed: {line}");
}

fn file_exists(p: &Path) -> bool {
    p.exists()
}

/// A file's content re-signed by `signer`.
fn resigned(bytes: &[u8], signer: &Signer) -> Vec<u8> {
    let p = file::parse(bytes).expect("a bundle");
    let (sig, chain) = signer.sign_bytes(file::SIGNED_CONTEXT, p.signed);
    file::seal(p.signed.to_vec(), sig, chain)
}

#[test]
fn bad_bundles_are_refused_in_one_line_and_change_nothing() {
    let world = World::tls("bundle-bad", seed("bundle-bad", 47));
    let nodes = prefecture_with(&world, &["410102", "410103"]);
    let other = world.node("420102", None);
    let mut other_data = world.data("420102");
    other_data.attendance.clear();
    let mut nodes = nodes;
    for org in ["410102", "410103"] {
        let mut d = world.data(org);
        d.attendance.clear();
        nodes.get_mut(org).unwrap().import_data(&d);
    }
    let mut other = other;
    other.import_data(&other_data);
    let mut parent = nodes.remove("410100").unwrap();
    parent.stop();
    let county = &nodes["410102"];
    let dir = world.root().join("bad");
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.lxb");
    export(county, &good, &[]);
    let bytes = std::fs::read(&good).unwrap();

    let cut = dir.join("cut.lxb");
    std::fs::write(&cut, &bytes[..bytes.len() - 10]).unwrap();
    refused(&parent, &cut, "truncated");

    let flipped = dir.join("flipped.lxb");
    let mut f = bytes.clone();
    let at = f.len() / 2;
    f[at] ^= 0x01;
    std::fs::write(&flipped, &f).unwrap();
    refused(&parent, &flipped, "");

    // Signed by another child of the same parent.
    let sibling = Signer::load(&nodes["410103"].tls_dir(), "410103").unwrap();
    let posing = dir.join("posing.lxb");
    std::fs::write(&posing, resigned(&bytes, &sibling)).unwrap();
    refused(&parent, &posing, "signed by a certificate for 410103");

    // A county that is not a child of this prefecture.
    let foreign = dir.join("foreign.lxb");
    export(&other, &foreign, &[]);
    refused(&parent, &foreign, "not a direct child");

    // Signed under another hierarchy's root.
    let elsewhere = Pki::root(&world.root().join("other-pki"));
    let impostor = world.root().join("impostor-tls");
    elsewhere.issue("410102", false, &impostor);
    let impostor = Signer::load(&impostor, "410102").unwrap();
    let rooted = dir.join("other-root.lxb");
    std::fs::write(&rooted, resigned(&bytes, &impostor)).unwrap();
    refused(&parent, &rooted, "does not chain to our root");

    // A zstd bomb, signed by the county itself: a batch that claims 4 MiB
    // and decompresses to 256 MiB, imported under an address-space cap.
    let county_signer = Signer::load(&county.tls_dir(), "410102").unwrap();
    let zeros = std::io::Read::take(std::io::repeat(0), 1 << 28);
    let bomb_bytes = zstd::stream::encode_all(zeros, 3).unwrap();
    let header = file::BundleHeader {
        org: "410102".into(),
        parent: "410100".into(),
        created_at_ms: chrono::Utc::now().timestamp_millis(),
        batches: 1,
        changes: 1,
        ..Default::default()
    };
    let batch = pb::Batch {
        batch_no: 1,
        count: 1,
        raw_bytes: lunxun_node::codec::BATCH_BYTES_MAX as u32,
        zstd: Bytes::from(bomb_bytes),
    };
    let content = file::bundle_content(&header, &[batch]);
    let (sig, chain) = county_signer.sign_bytes(file::SIGNED_CONTEXT, &content);
    let bomb = dir.join("bomb.lxb");
    std::fs::write(&bomb, file::seal(content, sig, chain)).unwrap();
    let before = snapshot(&parent);
    let out = Command::new("prlimit")
        .arg(format!("--as={}", 1u64 << 30))
        .arg(&lunxun_tests::bins::bins().hub)
        .arg("--data")
        .arg(parent.dir())
        .args(["bundle", "import"])
        .arg(&bomb)
        .output()
        .expect("run prlimit");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("bomb.lxb") && stderr.contains("decompress"),
        "{stderr}"
    );
    assert_eq!(before, snapshot(&parent));

    // An acknowledgement for another node.
    parent.serve();
    let sibling_bundle = dir.join("sibling.lxb");
    export(&nodes["410103"], &sibling_bundle, &[]);
    let i = import(&parent, &sibling_bundle);
    let ack = PathBuf::from(i["ack"].as_str().unwrap());
    refused(&nodes["410102"], &ack, "an acknowledgement for 410103");
    // And a bundle is not for a county to import.
    refused(&nodes["410102"], &good, "not a direct child");
    // The good one still goes in.
    let i = import(&parent, &good);
    assert_eq!(i["applied"], county.own_seq());
    println!("every bad file refused in one line, nothing changed");
}

/// `bundle export` at `county`, `bundle import` at `parent`: the
/// prefecture's summary and the acknowledgement's path.
fn exchange(county: &Node, parent: &Node, bundle: &Path) -> (Value, PathBuf) {
    export(county, bundle, &[]);
    let i = import(parent, bundle);
    let ack = PathBuf::from(i["ack"].as_str().expect("the ack's path"));
    (i, ack)
}

/// What returned trainings change at a node: how many it holds, the
/// person's record, the county's own figures.
fn returned_state(node: &Node, person: &str, as_of: &str) -> Value {
    serde_json::json!({
        "status": node.status_json()["returned"],
        "person": person_record(node, person, as_of),
        "figures": own_figures(node, "410102", as_of),
    })
}

/// `ack` with its first returned chunk's first training credited an hour
/// more, re-signed by `signer`: a file its parent might sign, and whose
/// answer does not add up to the digest it announces.
fn with_altered_training(ack: &[u8], signer: &Signer) -> Vec<u8> {
    let p = file::parse(ack).expect("an acknowledgement");
    let mut h = pb::BundleAck::decode(p.header).expect("its header");
    let batch = &mut h.returned[0];
    let raw = zstd::bulk::decompress(&batch.zstd, batch.raw_bytes as usize).unwrap();
    let mut chunk = pb::TrainingsChunk::decode(raw.as_slice()).unwrap();
    let item = &mut chunk.people[0].items[0];
    item.attendance.as_mut().unwrap().hours_tenths += 10;
    let raw = chunk.encode_to_vec();
    batch.raw_bytes = raw.len() as u32;
    batch.zstd = Bytes::from(zstd::bulk::compress(&raw, 1).unwrap());
    let header = h.encode_to_vec();
    let mut content = file::MAGIC.to_vec();
    content.extend_from_slice(&file::FORMAT_VERSION.to_be_bytes());
    content.push(2);
    content.extend_from_slice(&(header.len() as u32).to_be_bytes());
    content.extend_from_slice(&header);
    let (sig, chain) = signer.sign_bytes(file::SIGNED_CONTEXT, &content);
    file::seal(content, sig, chain)
}

#[test]
fn a_county_on_files_gets_the_trainings_held_above_it_in_acknowledgements() {
    let world = World::tls("bundle-returned", seed("bundle-returned", 53));
    let as_of = world.as_of();
    let mut prefecture = world.hub("410100", None);
    // No network path: the county knows no URL at all.
    let mut county = world.node("410102", None);
    let data = world.data("410102");
    county.import_data(&data);
    let worker = data.roster[0].person.to_string();
    let people = {
        let mut p: Vec<_> = data.roster.iter().map(|r| r.person).collect();
        p.sort();
        p.dedup();
        p.len() as u64
    };
    let stick = world.root().join("stick");
    std::fs::create_dir_all(&stick).unwrap();
    let day = world.params.as_of - chrono::TimeDelta::days(40);

    // Round 1: the county's roster reaches 郑州, which trained none of them
    // yet: the whole (empty) set comes back.
    let (i, a1) = exchange(&county, &prefecture, &stick.join("r1.lxb"));
    assert_eq!(
        (i["returned"].clone(), i["returned_full"].clone()),
        (0.into(), true.into()),
        "{i}"
    );
    let a = import(&county, &a1);
    assert_eq!(a["returned"]["stale"], Value::Null, "{a}");

    // 郑州 trains 中原区's people; the next acknowledgement brings the class
    // back, as only what changed since the answer the county holds.
    prefecture.import_data(&extra_class(&data, 100, day));
    let (i, a2) = exchange(&county, &prefecture, &stick.join("r2.lxb"));
    assert_eq!(
        (i["returned"].clone(), i["returned_full"].clone()),
        (people.into(), false.into()),
        "{i}"
    );
    let a = import(&county, &a2);
    assert_eq!(
        a["returned"],
        serde_json::json!({"people": people, "changed": people, "stale": null}),
        "{a}"
    );
    assert!(classes_of(&county, &worker).contains(&"410100:X100".to_owned()));
    assert_eq!(returned_records(&county), people);
    assert_eq!(
        person_record(&county, &worker, &as_of),
        person_record(&prefecture, &worker, &as_of),
        "the worker's record, hours and statuses, at 中原区 and at 郑州"
    );
    assert_eq!(
        own_figures(&county, "410102", &as_of),
        own_figures(&prefecture, "410102", &as_of)
    );

    // The same acknowledgement again: nothing counted twice.
    let held = returned_state(&county, &worker, &as_of);
    let a = import(&county, &a2);
    assert!(
        a["returned"]["stale"]
            .as_str()
            .unwrap()
            .contains("not after"),
        "{a}"
    );
    assert_eq!(returned_state(&county, &worker, &as_of), held);

    // Two more rounds written before either acknowledgement comes back;
    // 郑州 trains them again between the two. The newer comes first.
    prefecture.import_data(&extra_class(&data, 101, day + chrono::TimeDelta::days(5)));
    let (_, a3) = exchange(&county, &prefecture, &stick.join("r3.lxb"));
    prefecture.import_data(&extra_class(&data, 102, day + chrono::TimeDelta::days(10)));
    let (i, a4) = exchange(&county, &prefecture, &stick.join("r4.lxb"));
    // Written for what the county held before r3's acknowledgement: whole.
    assert_eq!(i["returned_full"], true, "{i}");
    // An altered training in a file its parent signs: the answer does not
    // add up, and nothing of the file is taken.
    let parent_signer = Signer::load(&prefecture.tls_dir(), "410100").unwrap();
    let altered = stick.join("altered.lxb.ack");
    std::fs::write(
        &altered,
        with_altered_training(&std::fs::read(&a4).unwrap(), &parent_signer),
    )
    .unwrap();
    refused(&county, &altered, "digest");
    // A byte flipped in the returned trainings: the seal no longer holds.
    let bytes = std::fs::read(&a4).unwrap();
    let p = file::parse(&bytes).unwrap();
    let zstd = pb::BundleAck::decode(p.header).unwrap().returned[0]
        .zstd
        .clone();
    let at = bytes
        .windows(zstd.len())
        .position(|w| w == zstd.as_ref())
        .unwrap()
        + zstd.len() / 2;
    let mut flipped = bytes.clone();
    flipped[at] ^= 0x01;
    let flipped_path = stick.join("flipped.lxb.ack");
    std::fs::write(&flipped_path, &flipped).unwrap();
    refused(&county, &flipped_path, "signature");

    let a = import(&county, &a4);
    assert_eq!(a["returned"]["stale"], Value::Null, "{a}");
    let held = returned_state(&county, &worker, &as_of);
    let classes = classes_of(&county, &worker);
    for class in ["410100:X100", "410100:X101", "410100:X102"] {
        assert!(
            classes.contains(&class.to_owned()),
            "{class} not in {classes:?}"
        );
    }
    assert_eq!(held["person"], person_record(&prefecture, &worker, &as_of));
    assert_eq!(held["figures"], own_figures(&prefecture, "410102", &as_of));
    // The older ones after it, the changes since r2's answer and the first,
    // empty, whole set: neither takes anything back.
    for (older, why) in [(&a3, "not after"), (&a1, "not after"), (&a2, "not after")] {
        let a = import(&county, older);
        let stale = a["returned"]["stale"]
            .as_str()
            .unwrap_or_else(|| panic!("{a}"));
        assert!(stale.contains(why), "{}: {a}", older.display());
        assert_eq!(
            returned_state(&county, &worker, &as_of),
            held,
            "{}",
            older.display()
        );
    }

    // Nothing returned goes up: the county's log is its own origin only.
    prefecture.stop();
    let own = Logs::read(county.dir());
    assert_eq!(own.origin_codes(), vec!["410102"]);
    assert_exactly_once("410102", &own, &Logs::read(prefecture.dir()));
    println!(
        "returned trainings by acknowledgement: taken once, never older, an altered one refused"
    );
}
