//! The daemon path: `serve` at every level, each worker syncing on change.
//! An import at a county goes through its daemon's admin socket and
//! reaches the national node without anyone running `sync`.

use lunxun_tests::data::extra_class;
use lunxun_tests::{World, assert_exactly_once, build_tree, seed, wait_until};
use serde_json::Value;

/// The entry of `child` in `status.children`, if listed.
fn child_entry(status: &Value, child: &str) -> Option<Value> {
    status["children"]
        .as_array()?
        .iter()
        .find(|c| c["org"] == child)
        .cloned()
}

#[test]
fn an_import_at_a_county_reaches_the_national_node_through_the_daemons() {
    let world = World::new("serve", seed("serve", 31));
    let tree = ["100000", "410000", "410100", "410102", "410103"];
    let mut nodes = build_tree(&world, &tree, true);
    let data = world.data("410102");
    nodes.get_mut("410102").expect("中原区").import_data(&data);
    let seq = nodes["410102"].own_seq();
    nodes
        .get_mut("100000")
        .expect("the national node")
        .wait_for_changes(1, seq);

    // The prefecture lists the county, with a complete session.
    let prefecture = &nodes["410100"];
    wait_until("郑州 to record 中原区's complete session", || {
        let status = prefecture.status_json();
        child_entry(&status, "410102").is_some_and(|c| {
            c["last_success"].is_string() && c["pending"] == 0 && c["applied"] == seq
        })
    });
    let status = prefecture.status_json();
    let child = child_entry(&status, "410102").expect("中原区 is listed");
    assert!(child["last_error"].is_null(), "{child}");
    assert_eq!(child["refused"], 0, "{child}");
    assert!(
        child_entry(&status, "410103").is_some(),
        "二七区's worker synced (with nothing to send): {status}"
    );

    // A later file, again through the daemon; the worker picks it up.
    let extra = extra_class(&data, 1, world.params.as_of);
    nodes.get_mut("410102").expect("中原区").import_data(&extra);
    let later = seq + 1 + extra.attendance.len() as u64;
    assert_eq!(nodes["410102"].own_seq(), later);
    nodes
        .get_mut("100000")
        .expect("the national node")
        .wait_for_changes(1, later);
    wait_until("中原区's worker to record its success", || {
        let status = nodes["410102"].status_json();
        status["upstream"]["pending"] == 0 && status["upstream"]["last_success"].is_string()
    });
    let county = nodes["410102"].status_json();
    assert_eq!(county["writable"], true);
    assert!(county["upstream"]["last_error"].is_null(), "{county}");

    // The imports went through the county's daemon (its store was locked).
    let log = std::fs::read_to_string(nodes["410102"].work().join("serve-0.err"))
        .expect("the county daemon's log");
    assert_eq!(
        log.matches(r#"admin command command="import""#).count(),
        3,
        "roster, trainings, and the later trainings"
    );

    for node in nodes.values_mut() {
        node.stop();
    }
    let county = nodes["410102"].logs();
    for holder in ["410100", "410000", "100000"] {
        assert_exactly_once("410102", &county, &nodes[holder].logs());
    }
}
