//! A four-level hierarchy of real processes: every node imports its own
//! generated files, the tree syncs bottom-up, and the national node ends up
//! with every origin's log byte for byte, and with coverage equal to the
//! library's rules applied to every record of the tree.

use std::collections::BTreeMap;

use lunxun_gen::NodeData;
use lunxun_tests::data::{assert_coverage_matches, oracle};
use lunxun_tests::{Logs, Node, TREE, World, assert_exactly_once, build_tree, parent_of, seed};

/// Imports every node's generated files; returns each node's data and own
/// seq afterwards.
fn import_all(
    world: &World,
    nodes: &mut BTreeMap<String, Node>,
) -> (BTreeMap<String, NodeData>, BTreeMap<String, u64>) {
    let mut data = BTreeMap::new();
    let mut seqs = BTreeMap::new();
    for org in TREE {
        let generated = world.data(org);
        let node = nodes.get_mut(org).expect("every node of the tree");
        node.import_data(&generated);
        let seq = node.own_seq();
        let records = generated.roster.len() + generated.classes.len() + generated.attendance.len();
        assert_eq!(
            seq, records as u64,
            "{org}: one change per generated record"
        );
        data.insert(org.to_owned(), generated);
        seqs.insert(org.to_owned(), seq);
    }
    (data, seqs)
}

/// Stops every daemon and checks every origin's log: at the national node
/// and at every ancestor between, byte for byte as the origin wrote it.
fn assert_tree_exactly_once(nodes: &mut BTreeMap<String, Node>) -> BTreeMap<String, Logs> {
    for node in nodes.values_mut() {
        if node.is_serving() {
            node.stop();
        }
    }
    let logs: BTreeMap<String, Logs> = nodes.iter().map(|(o, n)| (o.clone(), n.logs())).collect();
    let national = &logs["100000"];
    assert_eq!(
        national.origin_codes(),
        {
            let mut all = TREE.to_vec();
            all.sort();
            all
        },
        "the national node holds exactly the tree's origins"
    );
    for origin in TREE {
        let mut ancestor = parent_of(origin);
        while let Some(a) = ancestor {
            assert_exactly_once(origin, &logs[origin], &logs[a]);
            ancestor = parent_of(a);
        }
    }
    logs
}

/// Checks the national node's coverage of the whole tree against the oracle.
fn assert_national_coverage(world: &World, national: &Node, data: &BTreeMap<String, NodeData>) {
    let datasets: Vec<(&str, &NodeData)> = data.iter().map(|(o, d)| (o.as_str(), d)).collect();
    let expected = oracle(&datasets, "100000", world.params.as_of);
    let actual = national.coverage_json(&world.as_of());
    assert_coverage_matches(&actual, &expected);
    // Not vacuous: the tree's figures are there.
    let root = &actual["nodes"][0];
    assert_eq!(root["org"], "100000");
    assert_eq!(root["subtree"]["nodes"], 9);
    let roster: u64 = datasets
        .iter()
        .map(|(_, d)| {
            d.roster
                .iter()
                .filter(|r| r.active_on(world.params.as_of))
                .count() as u64
        })
        .sum();
    assert_eq!(root["subtree"]["rotation"]["roster"], roster);
}

#[test]
fn level_by_level_sync_once_reaches_the_national_node_exactly_once() {
    let world = World::new("levels", seed("levels", 11));
    let mut nodes = build_tree(&world, &TREE, false);
    let (data, seqs) = import_all(&world, &mut nodes);

    // Bottom-up: counties, prefectures, provinces; each level's session
    // completes only when its parent acked everything it holds.
    for level in [
        &["410102", "410103", "420102", "419001"][..],
        &["410100", "420100"],
        &["410000", "420000"],
    ] {
        for org in level {
            let out = nodes[*org].sync_ok();
            assert!(out.contains("the parent holds everything"), "{org}: {out}");
        }
    }
    let total: u64 = seqs.values().sum();
    let national = nodes.get_mut("100000").expect("the national node");
    national.wait_for_changes(9, total);
    // A county's session that finds nothing new is done in one round trip.
    let again = nodes["410102"].sync_ok();
    assert!(again.contains("0 changes sent"), "{again}");

    // Through the national daemon (a large JSON over the admin socket).
    assert_national_coverage(&world, &nodes["100000"], &data);
    let logs = assert_tree_exactly_once(&mut nodes);
    assert_eq!(logs["100000"].total(), total);
}

#[test]
fn daemons_at_every_level_converge_without_a_manual_sync() {
    let world = World::new("daemons", seed("daemons", 12));
    let mut nodes = build_tree(&world, &TREE, true);
    let (data, seqs) = import_all(&world, &mut nodes);
    let total: u64 = seqs.values().sum();
    nodes
        .get_mut("100000")
        .expect("the national node")
        .wait_for_changes(9, total);
    let logs = assert_tree_exactly_once(&mut nodes);
    assert_eq!(logs["100000"].total(), total);
    // With every daemon stopped, coverage opens the store itself.
    assert_national_coverage(&world, &nodes["100000"], &data);
}
