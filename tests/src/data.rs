//! Test data: a [`World`] (a temp dir and the generator's parameters) in
//! which nodes are created, each node's generated records, extra classes to
//! import later, and the coverage oracle.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::TimeDelta;
use lunxun_gen::{GenParams, NodeData};
use lunxun_node::changelog::{GENESIS, Head};
use lunxun_node::coverage;
use lunxun_node::model::{Attendance, Class, Date, Hours, Mode, Outcome, Record};
use lunxun_node::policy::Policy;
use lunxun_node::view::View;
use serde_json::Value;
use tempfile::TempDir;

use crate::node::{Node, Security};
use crate::orgs;
use crate::pki::Pki;

/// The generator at a small scale, so a whole hierarchy imports and syncs
/// in seconds: 60 workers per county, 6 staff per bureau, 6 organs' staff.
pub fn small_params(seed: u64) -> GenParams {
    GenParams {
        seed,
        county_workers: 60,
        bureau_staff: 6,
        organs_staff: 6,
        ..GenParams::default()
    }
}

/// One test's world: a temp dir holding every node, and the generator's
/// parameters. Kept on disk (and its path printed) when the test fails, or
/// always with `LUNXUN_E2E_KEEP` set.
pub struct World {
    tmp: Option<TempDir>,
    pub params: GenParams,
    pub security: Security,
    /// The world's root CA, with [`Security::Tls`].
    pub pki: Option<Pki>,
}

impl World {
    /// A world for `test`, generating with `seed`.
    pub fn new(test: &str, seed: u64) -> World {
        let tmp = tempfile::Builder::new()
            .prefix(&format!("lunxun-e2e-{test}-"))
            .tempdir()
            .expect("create a temp dir");
        World {
            tmp: Some(tmp),
            params: small_params(seed),
            security: Security::default(),
            pki: None,
        }
    }

    /// A world whose nodes talk mutual TLS: a root CA made in `pki/` with
    /// `certs init-ca`, a certificate per node.
    pub fn tls(test: &str, seed: u64) -> World {
        let mut world = World::new(test, seed);
        world.pki = Some(Pki::root(&world.root().join("pki")));
        world.security = Security::Tls;
        world
    }

    /// The temp dir.
    pub fn root(&self) -> &Path {
        self.tmp.as_ref().expect("the world's temp dir").path()
    }

    /// The generator's "today", as `coverage --as-of` takes it.
    pub fn as_of(&self) -> String {
        self.params.as_of.to_string()
    }

    /// Creates the node of `org` syncing to `upstream`.
    pub fn node(&self, org: &str, upstream: Option<&str>) -> Node {
        Node::init(self.root(), org, upstream, self.security, self.pki.as_ref())
    }

    /// The hub of `org` with its parent `upstream`, serving.
    pub fn hub(&self, org: &str, upstream: Option<&str>) -> Node {
        let mut node = self.node(org, upstream);
        node.serve();
        node
    }

    /// `org`'s generated roster and trainings.
    pub fn data(&self, org: &str) -> NodeData {
        let id = orgs()
            .get(org)
            .unwrap_or_else(|| panic!("{org} is not in the org directory"));
        lunxun_gen::generate_node(&self.params, orgs(), id)
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let keep = std::thread::panicking() || std::env::var_os("LUNXUN_E2E_KEEP").is_some();
        if keep && let Some(tmp) = self.tmp.take() {
            eprintln!("kept the test's data in {}", tmp.keep().display());
        }
    }
}

/// A centralized class `X{index}` of three days from `start`, 24 hours,
/// completed by everyone on `roster`'s roster: a later trainings file
/// (roster left empty, so importing it writes the class and its attendance).
pub fn extra_class(roster: &NodeData, index: u32, start: Date) -> NodeData {
    let class = Class {
        class_id: format!("X{index:03}").parse().expect("a valid class id"),
        title: format!("补训班第{index}期"),
        category: "履职能力".into(),
        mode: Mode::Centralized,
        off_job: true,
        start,
        end: start + TimeDelta::days(2),
        hours: Hours::from_whole(24),
        days: None,
    };
    let attendance = roster
        .roster
        .iter()
        .map(|r| Attendance {
            class_id: class.class_id.clone(),
            person: r.person,
            hours: class.hours,
            outcome: Outcome::Completed,
            name: r.name.clone(),
        })
        .collect();
    NodeData {
        roster: Vec::new(),
        classes: vec![class],
        attendance,
        obligations: Vec::new(),
    }
}

/// Records a node writes when it imports `data`: roster entries, classes,
/// attendance.
pub fn records(data: &NodeData) -> Vec<Record> {
    data.roster
        .iter()
        .cloned()
        .map(Record::Roster)
        .chain(data.classes.iter().cloned().map(Record::Class))
        .chain(data.attendance.iter().cloned().map(Record::Attendance))
        .collect()
}

/// The coverage JSON of `root`'s whole subtree on `as_of`, computed
/// in-process by the library's rules over `datasets` (each node's records,
/// applied in order): what a node holding exactly these records must print.
pub fn oracle(datasets: &[(&str, &NodeData)], root: &str, as_of: Date) -> Value {
    oracle_with(datasets, root, as_of, &Policy::default(), orgs())
}

/// [`oracle`] under `policy` and the directory `orgs` (a policy or a
/// directory a bulletin put in force).
pub fn oracle_with(
    datasets: &[(&str, &NodeData)],
    root: &str,
    as_of: Date,
    policy: &Policy,
    orgs: &lunxun_node::orgs::OrgDirectory,
) -> Value {
    let mut view = View::default();
    for (org, data) in datasets {
        let id = orgs
            .get(org)
            .unwrap_or_else(|| panic!("{org} is not in the org directory"));
        let records = records(data);
        if records.is_empty() {
            continue;
        }
        for record in records {
            view.apply(id, record);
        }
        // Reporting: the viewing node holds a change of this origin.
        view.set_head(
            id,
            Head {
                seq: 1,
                hash: GENESIS,
                written_at_ms: 0,
                received_at_ms: 0,
            },
        );
    }
    let root = orgs.get(root).expect("the root is in the org directory");
    let report = coverage::coverage(&view, orgs, policy, root, None, as_of);
    // Through text, as the CLI's output is read: serde_json's default float
    // parser may land one ULP off the printed value, the same way on both.
    let text = serde_json::to_string(&report).expect("coverage serializes");
    serde_json::from_str(&text).expect("coverage parses")
}

/// Fields of a coverage node compared with the oracle (not `freshness`, a
/// timestamp).
const COMPARED: [&str; 9] = [
    "org",
    "name",
    "level",
    "parent",
    "rotation",
    "hours",
    "subtree",
    "reporting",
    "depth",
];

/// Asserts that a node's `coverage --format json` equals the oracle's on
/// every node of the subtree, field by field (freshness aside: present
/// exactly for reporting nodes).
pub fn assert_coverage_matches(actual: &Value, expected: &Value) {
    assert_eq!(actual["as_of"], expected["as_of"], "as_of differs");
    let by_org = |v: &Value| -> BTreeMap<String, Value> {
        v["nodes"]
            .as_array()
            .expect("coverage has nodes")
            .iter()
            .map(|n| {
                (
                    n["org"].as_str().expect("a node has org").to_owned(),
                    n.clone(),
                )
            })
            .collect()
    };
    let (actual, expected) = (by_org(actual), by_org(expected));
    assert_eq!(
        actual.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "coverage lists other nodes than the oracle"
    );
    let mut differences = Vec::new();
    for (org, want) in &expected {
        let got = &actual[org];
        for field in COMPARED {
            if got[field] != want[field] {
                differences.push(format!(
                    "{org}.{field}: got {} expected {}",
                    got[field], want[field]
                ));
            }
        }
        let reporting = got["reporting"].as_bool() == Some(true);
        if reporting == got["freshness"].is_null() {
            differences.push(format!(
                "{org}: reporting {reporting} but freshness {}",
                got["freshness"]
            ));
        }
    }
    assert!(
        differences.is_empty(),
        "coverage differs from the oracle in {} places:\n{}",
        differences.len(),
        differences
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
