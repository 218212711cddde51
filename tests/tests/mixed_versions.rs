//! Mixed versions: bureaus upgrade top-down over months, so a parent serves
//! children one protocol version older than its own, and a child that is too
//! new for its parent is told, in one line, what to upgrade.
//!
//! The previous release's binaries (protocol 1) are built from its commit
//! (see [`lunxun_tests::previous`]): a county running them syncs through a
//! prefecture and a province of this version to the national node, whose
//! figures then equal the rules on every file; a county of this version is
//! refused by a prefecture of the previous one with the version line, and
//! nothing of it is applied there.

use lunxun_tests::data::{assert_coverage_matches, oracle};
use lunxun_tests::{Node, World, previous, seed};

#[test]
fn the_previous_protocol_syncs_through_this_one_and_the_reverse_is_refused() {
    let old = previous::binaries();
    let world = World::tls("mixed-versions", seed("mixed-versions", 41));
    // This version: 国家信访局 → 河南 → 郑州; the previous one: 中原区.
    let mut national = world.hub("100000", None);
    let mut henan = world.hub("410000", Some(&national.url()));
    let mut zhengzhou = world.hub("410100", Some(&henan.url()));
    let mut old_county = Node::init_using(
        world.root(),
        "410102",
        Some(&zhengzhou.url()),
        world.security,
        world.pki.as_ref(),
        Some(old.node.clone()),
    );
    let version = old_county.ok(&["--version"]);
    assert!(version.contains("0.1.0"), "the previous release: {version}");
    let mut data = Vec::new();
    for (org, node) in [
        ("100000", &mut national),
        ("410000", &mut henan),
        ("410100", &mut zhengzhou),
        ("410102", &mut old_county),
    ] {
        let generated = world.data(org);
        node.import_data(&generated);
        data.push((org, generated));
    }
    let out = old_county.sync_ok();
    assert!(out.contains("the parent holds everything"), "{out}");
    for node in [&zhengzhou, &henan] {
        let out = node.sync_ok();
        assert!(
            out.contains("the parent holds everything"),
            "{}: {out}",
            node.org
        );
    }
    let datasets: Vec<(&str, &lunxun_gen::NodeData)> = data.iter().map(|(o, d)| (*o, d)).collect();
    let expected = oracle(&datasets, "100000", world.params.as_of);
    assert_coverage_matches(&national.coverage_json(&world.as_of()), &expected);
    println!("a county of protocol 1 synced through protocol 2 to the national figures");

    // The reverse: a county of this version under a prefecture of the
    // previous one (湖北 → 武汉 of protocol 1, 江岸区 of protocol 2).
    let mut hubei = world.hub("420000", Some(&national.url()));
    let mut old_wuhan = Node::init_using(
        world.root(),
        "420100",
        Some(&hubei.url()),
        world.security,
        world.pki.as_ref(),
        Some(old.hub.clone()),
    );
    old_wuhan.serve();
    let mut jiang_an = world.node("420102", Some(&old_wuhan.url()));
    jiang_an.import_data(&world.data("420102"));
    let refused = jiang_an.sync_once();
    assert_eq!(
        refused.code, 4,
        "stdout {} stderr {}",
        refused.stdout, refused.stderr
    );
    let line = refused.stderr.trim();
    assert_eq!(line.lines().count(), 1, "one line: {line}");
    assert!(
        line.contains("protocol 1")
            && line.contains("lunxun 0.2")
            && line.contains("upgrade the parent"),
        "the version line: {line}"
    );
    let status = old_wuhan.status_json();
    assert_eq!(
        status["counts"]["changes"], 0,
        "nothing of the refused child applied: {status}"
    );
    println!("a county of protocol 2 under a parent of protocol 1: {line}");
    hubei.stop();
}
