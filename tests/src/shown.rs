//! What a node shows of returned trainings, read through its command line:
//! an org's own figures, a person's classes and whole record, and how many
//! returned records it holds. Tests compare them between a child and its
//! ancestors (the live path, `tests/returned.rs`, and acknowledgements,
//! `tests/bundle.rs`).

use serde_json::Value;

use crate::Node;

/// `coverage --org ORG --depth 0 --format json` at `node`: ORG's own
/// rotation and hour figures.
pub fn own_figures(node: &Node, org: &str, as_of: &str) -> Value {
    let out = node.ok(&[
        "coverage", "--org", org, "--depth", "0", "--format", "json", "--as-of", as_of,
    ]);
    let json: Value = serde_json::from_str(&out).expect("coverage JSON");
    let entry = &json["nodes"][0];
    assert_eq!(entry["org"], org);
    serde_json::json!({"rotation": entry["rotation"], "hours": entry["hours"]})
}

/// `person ID --format json --show-ids --as-of AS_OF` at `node`: the
/// person's roster entries with their statuses and hours, and trainings.
pub fn person_record(node: &Node, person: &str, as_of: &str) -> Value {
    let out = node.ok(&[
        "person",
        person,
        "--format",
        "json",
        "--show-ids",
        "--as-of",
        as_of,
    ]);
    serde_json::from_str(&out).expect("person JSON")
}

/// The `organizer:class_id` of `person`'s trainings at `node` (empty when
/// it holds nothing of them).
pub fn classes_of(node: &Node, person: &str) -> Vec<String> {
    let out = node.run(&["person", person, "--format", "json", "--show-ids"]);
    if out.code != 0 {
        return Vec::new();
    }
    let json: Value = serde_json::from_str(&out.stdout).expect("person JSON");
    json["trainings"]
        .as_array()
        .expect("trainings")
        .iter()
        .map(|t| {
            format!(
                "{}:{}",
                t["organizer"].as_str().unwrap(),
                t["class_id"].as_str().unwrap()
            )
        })
        .collect()
}

/// Returned attendance records `node` holds, from `status`.
pub fn returned_records(node: &Node) -> u64 {
    node.status_json()["returned"]["records"]
        .as_u64()
        .expect("status shows returned records")
}
