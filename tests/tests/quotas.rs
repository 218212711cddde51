//! Per-child quotas at a parent, in real processes over mutual TLS: a child
//! over its quota is refused with a reason naming the quota, its limit and
//! the child — in the child's `status`, in the parent's, and as a non-zero
//! `sync --once` — while its sibling syncs; raised in the parent's config
//! (and the parent restarted), it completes, nothing lost and nothing twice.

use lunxun_tests::{Node, World, assert_exactly_once, seed};

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

/// A unit the built-in directory does not know (a bureau's directly run
/// office), defined in an `orgs.csv` extension under the prefecture.
const UNIT: &str = "ZZ4101X";
const EXTENSION: &str = "code,name,level,parent\nZZ4101X,郑州市信访局直属办公室,county,410100\n";

/// The prefecture's directory knows the unit, the province's does not: the
/// unit's changes are held at the province (shown in both statuses) while
/// the prefecture's other origins arrive; once the province's directory
/// learns the unit (and it restarts), they arrive too, exactly once.
#[test]
fn an_origin_the_parent_does_not_know_is_held_while_the_others_flow() {
    let world = World::new("unknown-origin", seed("unknown-origin", 12));
    let mut province = world.hub("410000", None);
    let mut prefecture = Node::init_unit(
        world.root(),
        PREFECTURE,
        Some(&province.url()),
        true,
        EXTENSION,
    );
    prefecture.serve();
    let unit = Node::init_unit(
        world.root(),
        UNIT,
        Some(&prefecture.url()),
        false,
        EXTENSION,
    );
    let mut county = world.node(OVER, Some(&prefecture.url()));
    let mut unit = unit;
    unit.import_data(&world.data(SIBLING));
    county.import_data(&world.data(OVER));
    unit.sync_ok();
    county.sync_ok();

    // Whatever the prefecture's exit code says (it holds more than the
    // province took), the county arrives and the unit is held.
    let _ = prefecture.sync_once();
    let reason = "unknown origin: not in this node's org directory";
    let upstream = prefecture.status_json()["upstream"].clone();
    let held_by_parent = upstream["held_by_parent"].as_array().unwrap().clone();
    assert!(
        held_by_parent
            .iter()
            .any(|h| h["origin"] == UNIT && h["reason"] == reason),
        "the child's status shows the unit held: {upstream}"
    );
    let held = province.status_json()["held"].as_array().unwrap().clone();
    assert!(
        held.iter()
            .any(|h| h["origin"] == UNIT && h["reason"] == reason && h["seq"] == 1),
        "the parent's status shows the unit held: {held:?}"
    );
    province.stop();
    let logs = province.logs();
    assert_eq!(logs.seq(UNIT), 0, "nothing of the unit is stored");
    assert_exactly_once(OVER, &county.logs(), &logs);
    assert_eq!(logs.seq(OVER), county.own_seq());

    // The province learns the unit: the next session delivers it.
    std::fs::write(province.dir().join("orgs.csv"), EXTENSION).unwrap();
    province.serve();
    prefecture.sync_ok();
    let held = province.status_json()["held"].as_array().unwrap().clone();
    assert!(held.iter().all(|h| h["origin"] != UNIT), "{held:?}");
    province.stop();
    prefecture.stop();
    let logs = province.logs();
    assert_exactly_once(UNIT, &unit.logs(), &logs);
    assert_exactly_once(OVER, &county.logs(), &logs);
    assert_eq!(logs.seq(UNIT), unit.own_seq());
}
