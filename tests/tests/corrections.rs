//! Corrections over a four-level hierarchy of real processes: every node
//! imports its files and the tree syncs; then a county re-imports fixed files
//! with `--replace` (an attendance and a roster entry taken out), another
//! deletes a class, the first records its obligations and corrects a year of
//! them, a third imports a wrong file and undoes it. After each, the tree
//! syncs bottom-up and the national `coverage --format json` equals the rules
//! applied to the corrected files (and the obligations are the county's at
//! its parent and the national node); at the end every origin's log is held
//! byte for byte at every ancestor (nothing lost, nothing twice).

use std::collections::BTreeMap;

use lunxun_gen::NodeData;
use lunxun_tests::data::{assert_coverage_matches, extra_class, oracle};
use lunxun_tests::{Node, TREE, World, assert_exactly_once, build_tree, parent_of, seed};

/// Every level, bottom-up, each session complete.
fn sync_up(nodes: &BTreeMap<String, Node>) {
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
}

fn national_equals_oracle(
    world: &World,
    nodes: &BTreeMap<String, Node>,
    data: &BTreeMap<String, NodeData>,
    what: &str,
) {
    let datasets: Vec<(&str, &NodeData)> = data.iter().map(|(o, d)| (o.as_str(), d)).collect();
    let expected = oracle(&datasets, "100000", world.params.as_of);
    let actual = nodes["100000"].coverage_json(&world.as_of());
    assert_coverage_matches(&actual, &expected);
    println!("{what}: the national coverage equals the rules on the corrected files");
}

/// `obligations --format json` at `node` for `org` alone in `year`.
fn obligations(node: &Node, org: &str, year: &str) -> serde_json::Value {
    let out = node.ok(&[
        "obligations",
        "--org",
        org,
        "--depth",
        "0",
        "--year",
        year,
        "--format",
        "json",
    ]);
    let json: serde_json::Value = serde_json::from_str(&out).expect("obligations JSON");
    json["nodes"][0].clone()
}

/// Writes `data` as CSV files under the node's work dir; their paths.
fn files(node: &Node, data: &NodeData, name: &str) -> (String, String) {
    let dir = node.work().join(name);
    lunxun_gen::write_csv(data, &dir, true).expect("write files");
    (
        dir.join("roster.csv").display().to_string(),
        dir.join("trainings.csv").display().to_string(),
    )
}

#[test]
fn replace_delete_and_undo_reach_the_national_figures() {
    let world = World::new("corrections", seed("corrections", 13));
    let mut nodes = build_tree(&world, &TREE, false);
    let mut data = BTreeMap::new();
    for org in TREE {
        let generated = world.data(org);
        nodes.get_mut(org).unwrap().import_data(&generated);
        data.insert(org.to_owned(), generated);
    }
    sync_up(&nodes);
    national_equals_oracle(&world, &nodes, &data, "imported");

    // 中原区 fixes its files: a person who never attended a class, a roster
    // entry that was a mistake; imported again with --replace.
    let county = data.get_mut("410102").unwrap();
    let wrong = county.attendance.remove(3);
    let mistaken = county.roster.remove(5);
    // (The person's attendance stays: only the roster entry was wrong.)
    let fixed = county.clone();
    let (roster, trainings) = files(&nodes["410102"], &fixed, "fixed");
    let out = nodes["410102"].ok(&["import", "roster", &roster, "--replace"]);
    assert!(out.contains("1 removed as not in the file"), "{out}");
    let out = nodes["410102"].ok(&["import", "trainings", &trainings, "--replace"]);
    assert!(out.contains("removed as not in the file"), "{out}");
    assert!(
        !out.contains(&wrong.person.to_string()) && !out.contains(&mistaken.person.to_string())
    );
    sync_up(&nodes);
    national_equals_oracle(&world, &nodes, &data, "replaced");

    // 济源 deletes a whole class (and so its attendance).
    let jiyuan = data.get_mut("419001").unwrap();
    let class = jiyuan.classes.remove(0);
    jiyuan.attendance.retain(|a| a.class_id != class.class_id);
    let out = nodes["419001"].ok(&["delete", "class", &class.class_id.to_string()]);
    assert!(out.contains("deleted class"), "{out}");
    sync_up(&nodes);
    national_equals_oracle(&world, &nodes, &data, "deleted");

    // 中原区 records its obligations, then corrects 2025 with --replace: its
    // parent and the national node see each version after the sync.
    let sample =
        lunxun_tests::bins::workspace_root().join("examples/county-410102/obligations.csv");
    nodes["410102"].ok(&["import", "obligations", &sample.display().to_string()]);
    sync_up(&nodes);
    for at in ["410100", "100000"] {
        let met = obligations(&nodes[at], "410102", "2025");
        assert_eq!(met["met"], 4, "{at}: {met}");
        assert_eq!(met["callup_report"]["count"], 2, "{at}: {met}");
    }
    let fixed = nodes["410102"].work().join("obligations-2025.csv");
    std::fs::write(
        &fixed,
        "kind,date\nannual_plan,2025-01-20\nstudy,2025-03-14\n",
    )
    .expect("write");
    let out = nodes["410102"].ok(&[
        "import",
        "obligations",
        &fixed.display().to_string(),
        "--replace",
    ]);
    assert!(out.contains("3 removed as not in the file"), "{out}");
    sync_up(&nodes);
    for at in ["410100", "100000"] {
        let met = obligations(&nodes[at], "410102", "2025");
        assert_eq!(met["met"], 2, "{at}: {met}");
        assert_eq!(met["trainee_meeting"]["met"], false, "{at}: {met}");
        // 2026 is not named by the file: untouched.
        assert_eq!(obligations(&nodes[at], "410102", "2026")["met"], 3, "{at}");
    }

    // 武汉 江岸区 imports a wrong file, syncs it up, and undoes it.
    let wrong_file = extra_class(
        &data["420102"],
        1,
        world.params.as_of - chrono::TimeDelta::days(30),
    );
    let (_, trainings) = files(&nodes["420102"], &wrong_file, "wrong");
    let out = nodes["420102"].ok(&["import", "trainings", &trainings]);
    let id = out
        .rsplit("import ")
        .next()
        .and_then(|s| s.trim_end().trim_end_matches(')').parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no import id in: {out}"));
    sync_up(&nodes);
    let mut with_wrong = data.clone();
    let w = with_wrong.get_mut("420102").unwrap();
    w.classes.extend(wrong_file.classes.clone());
    w.attendance.extend(wrong_file.attendance.clone());
    national_equals_oracle(&world, &nodes, &with_wrong, "a wrong file");
    let out = nodes["420102"].ok(&["undo", &id.to_string()]);
    assert!(out.contains(&format!("undid import {id}")), "{out}");
    sync_up(&nodes);
    national_equals_oracle(&world, &nodes, &data, "undone");

    // Every correction is an ordinary change: each origin's log is held byte
    // for byte at every ancestor.
    let logs: BTreeMap<String, _> = nodes
        .iter_mut()
        .map(|(o, n)| {
            if n.is_serving() {
                n.stop();
            }
            (o.clone(), n.logs())
        })
        .collect();
    for origin in TREE {
        let mut ancestor = parent_of(origin);
        while let Some(a) = ancestor {
            assert_exactly_once(origin, &logs[origin], &logs[a]);
            ancestor = parent_of(a);
        }
    }
}
