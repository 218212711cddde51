//! Per-child quotas at a parent, in real processes over mutual TLS: a child
//! over its quota is refused with a reason naming the quota, its limit and
//! the child — in the child's `status`, in the parent's, and as a non-zero
//! `sync --once` — while its sibling syncs; raised in the parent's config
//! (and the parent restarted), it completes, nothing lost and nothing twice.

use lunxun_tests::{World, assert_exactly_once, seed};

const PREFECTURE: &str = "410100";
const OVER: &str = "410102";
const SIBLING: &str = "410103";

/// Appends `text` to the config of the (stopped) node in `dir`.
fn add_to_config(dir: &std::path::Path, text: &str) {
    let path = dir.join("config.toml");
    let mut config = std::fs::read_to_string(&path).expect("the hub's config");
    config.push_str(text);
    std::fs::write(&path, config).expect("write the hub's config");
}

fn child_status<'a>(status: &'a serde_json::Value, org: &str) -> &'a serde_json::Value {
    status["children"]
        .as_array()
        .expect("status lists children")
        .iter()
        .find(|c| c["org"] == org)
        .unwrap_or_else(|| panic!("{org} is not in the parent's status: {status}"))
}

#[test]
fn a_child_over_its_quota_is_refused_with_the_reason_and_its_sibling_is_not() {
    let world = World::tls("quotas", seed("quotas", 11));
    let mut hub = world.node(PREFECTURE, None);
    // Fewer changes a day than the county holds; the sibling keeps the default.
    add_to_config(
        hub.dir(),
        &format!("\n[quotas.children.\"{OVER}\"]\nchanges_per_day = 10\n"),
    );
    hub.serve();
    let url = hub.url();
    let mut over = world.node(OVER, Some(&url));
    let mut sibling = world.node(SIBLING, Some(&url));
    over.import_data(&world.data(OVER));
    sibling.import_data(&world.data(SIBLING));
    assert!(over.own_seq() > 10, "the county holds more than its quota");

    let reason = format!("child {OVER} is over its quota of 10 changes per day (");
    let out = over.sync_once();
    assert_ne!(out.code, 0, "sync --once over the quota must fail: {out:?}");
    assert!(out.stderr.contains(&reason), "{}", out.stderr);
    assert!(
        out.stderr.contains("quotas.changes_per_day"),
        "{}",
        out.stderr
    );
    let last_error = over.status_json()["upstream"]["last_error"].clone();
    assert!(
        last_error.as_str().is_some_and(|e| e.contains(&reason)),
        "the child's status names the reason: {last_error}"
    );
    // The sibling is unaffected.
    sibling.sync_ok();

    let status = hub.status_json();
    let refused = child_status(&status, OVER);
    assert!(
        refused["refused_reason"]
            .as_str()
            .is_some_and(|r| r.contains(&reason) && r.contains("Asia/Shanghai")),
        "the parent's status names the reason: {refused}"
    );
    assert_eq!(refused["refusals"]["quota"], 1, "{refused}");
    let fine = child_status(&status, SIBLING);
    assert!(fine["refused_reason"].is_null(), "{fine}");
    assert_eq!(fine["quota_used"]["changes"], sibling.own_seq(), "{fine}");
    // Refused again at the next session, before anything is sent.
    let out = over.sync_once();
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains(&reason), "{}", out.stderr);

    // Raised in the parent's config: the child completes.
    hub.stop();
    add_to_config(hub.dir(), "\n[quotas]\nchanges_per_day = 1000000\n");
    let config = std::fs::read_to_string(hub.dir().join("config.toml")).unwrap();
    std::fs::write(
        hub.dir().join("config.toml"),
        config.replace("changes_per_day = 10\n", "changes_per_day = 100000\n"),
    )
    .unwrap();
    hub.serve();
    over.sync_ok();
    // Nothing new: a second session consumes nothing more.
    over.sync_ok();
    sibling.sync_ok();
    let status = hub.status_json();
    let done = child_status(&status, OVER);
    assert!(done["refused_reason"].is_null(), "{done}");
    assert!(done["last_error"].is_null(), "{done}");
    assert_eq!(done["quota_used"]["changes"], over.own_seq(), "{done}");
    assert!(done["quota_used"]["bytes"].as_u64().unwrap() > 0, "{done}");
    assert!(over.status_json()["upstream"]["last_error"].is_null());

    // Nothing lost, nothing twice, for both children.
    hub.stop();
    let held = hub.logs();
    for county in [&over, &sibling] {
        assert_exactly_once(&county.org.clone(), &county.logs(), &held);
        assert_eq!(held.seq(&county.org), county.own_seq());
    }
}
