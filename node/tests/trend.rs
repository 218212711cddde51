//! `coverage --trend` over generated data: every point equals what
//! `coverage --as-of` prints for the same node on that date; and the 通报's
//! comparison with the previous period (`report --compare`).

mod support;

use serde_json::Value;
use support::ok;

const AS_OF: &str = "2026-06-30";

fn json(text: &str) -> Value {
    serde_json::from_str(text).expect("JSON")
}

#[test]
fn every_trend_point_equals_coverage_as_of_that_date() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let files = tmp.path().join("files");
    ok(&data, &["init", "--org", "410102"]);
    let out = files.to_str().unwrap();
    ok(
        &data,
        &[
            "gen", "--org", "410102", "--depth", "0", "--out", out, "--as-of", AS_OF,
        ],
    );
    for kind in ["roster", "trainings"] {
        let file = files.join("410102").join(format!("{kind}.csv"));
        ok(&data, &["import", kind, file.to_str().unwrap()]);
    }
    let trend = json(&ok(
        &data,
        &["coverage", "--trend", "--as-of", AS_OF, "--format", "json"],
    ));
    assert_eq!(trend["org"], "410102");
    assert_eq!(trend["plan_period_start"], "2023-01-01");
    let points = trend["points"].as_array().expect("points");
    // January 2023 to June 2026: 42 month ends, the last one the date.
    assert_eq!(points.len(), 42);
    assert_eq!(points[0]["as_of"], "2023-01-31");
    assert_eq!(points[41]["as_of"], AS_OF);
    let mut rates = std::collections::BTreeSet::new();
    for p in points {
        let date = p["as_of"].as_str().unwrap();
        let report = json(&ok(
            &data,
            &[
                "coverage", "--as-of", date, "--depth", "0", "--format", "json",
            ],
        ));
        let n = &report["nodes"][0];
        assert_eq!(p["rotation"], n["rotation"], "{date}");
        assert_eq!(p["hours"], n["hours"], "{date}");
        assert_eq!(p["subtree_rotation"], n["subtree"]["rotation"], "{date}");
        assert_eq!(p["subtree_hours"], n["subtree"]["hours"], "{date}");
        rates.insert(p["rotation"]["rate"].to_string());
    }
    assert!(
        rates.len() > 3,
        "the figures move over the period: {rates:?}"
    );

    // The table and the CSV say the same.
    let table = ok(&data, &["coverage", "--trend", "--as-of", AS_OF]);
    assert!(table.contains("2023-01-31") && table.contains("轮训覆盖率"));
    let csv = ok(
        &data,
        &["coverage", "--trend", "--as-of", AS_OF, "--format", "csv"],
    );
    assert_eq!(csv.lines().count(), 43);
    assert!(csv.starts_with("as_of,roster,rotation_rate,"));

    // The 通报 compares with one quarter earlier by default, or --compare.
    let report = json(&ok(
        &data,
        &["report", "--as-of", AS_OF, "--format", "json"],
    ));
    assert_eq!(report["compare_as_of"], "2026-03-31");
    let at = |date: &str| {
        points
            .iter()
            .find(|p| p["as_of"] == date)
            .map(|p| p["subtree_rotation"]["rate"].clone())
            .unwrap()
    };
    assert_eq!(report["total"]["previous_rate"], at("2026-03-31"));
    let report = json(&ok(
        &data,
        &[
            "report",
            "--as-of",
            AS_OF,
            "--compare",
            "2025-12-31",
            "--format",
            "json",
        ],
    ));
    assert_eq!(report["compare_as_of"], "2025-12-31");
    assert_eq!(report["total"]["previous_rate"], at("2025-12-31"));
    let change = report["total"]["change"].as_f64().unwrap();
    let want = at(AS_OF).as_f64().unwrap() - at("2025-12-31").as_f64().unwrap();
    assert!((change - want).abs() < 1e-12);
    let bad = support::node(
        &data,
        &["report", "--as-of", AS_OF, "--compare", "2027-01-01"],
    );
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains("--compare"));
}
