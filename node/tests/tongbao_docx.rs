//! `report --format docx`: the 通报 as a Word document, read back with a
//! standard reader (python-docx), whose ranking and obligations tables must
//! hold exactly the figures `report --format json` prints.
//!
//! The reader is installed by `.ci/run`; without it this test fails and
//! says so, unless `LUNXUN_SKIP_DOCX_READER=1`.

mod support;

use std::path::Path;
use std::process::Command;

use bytes::Bytes;
use lunxun_node::config::Config;
use lunxun_node::ingest;
use lunxun_node::model::Record;
use lunxun_node::node::Node;
use serde_json::Value;
use support::ok;

const AS_OF: &str = "2026-06-30";

/// Prints the document's paragraphs and tables as JSON.
const READER: &str = r#"
import json, sys
try:
    import docx
except ImportError:
    print("NO-PYTHON-DOCX")
    sys.exit(0)
d = docx.Document(sys.argv[1])
print(json.dumps({
    "paragraphs": [p.text for p in d.paragraphs],
    "tables": [[[c.text for c in row.cells] for row in t.rows] for t in d.tables],
}, ensure_ascii=False))
"#;

fn config(org: &str) -> Config {
    Config {
        org: org.into(),
        upstream: None,
        tls_dir: None,
        insecure: true,
        ..Default::default()
    }
}

/// 河南 (province) holding its own records, 郑州's and 济源's as a sync
/// would have delivered them; closed when this returns.
fn province(tmp: &Path) -> std::path::PathBuf {
    let dir = tmp.join("410000");
    let hub = Node::init(&dir, config("410000")).unwrap();
    let params = lunxun_gen::GenParams {
        seed: 3,
        county_workers: 12,
        bureau_staff: 4,
        organs_staff: 4,
        ..lunxun_gen::GenParams::default()
    };
    let orgs = hub.orgs().clone();
    for org in ["410000", "410100", "419001"] {
        let data = lunxun_gen::generate_node(&params, &orgs, orgs.get(org).unwrap());
        let records: Vec<Record> = data
            .roster
            .iter()
            .cloned()
            .map(Record::Roster)
            .chain(data.classes.iter().cloned().map(Record::Class))
            .chain(data.attendance.iter().cloned().map(Record::Attendance))
            .collect();
        if org == "410000" {
            hub.write_records(records).unwrap();
            continue;
        }
        let child = Node::init(&tmp.join(org), config(org)).unwrap();
        child.write_records(records).unwrap();
        let changes: Vec<Bytes> = child
            .store()
            .scan(org, 0)
            .map(|e| e.unwrap().change)
            .collect();
        let verified = ingest::verify(&orgs, hub.me(), changes).unwrap();
        hub.ingest(vec![verified.into()]).unwrap();
    }
    dir
}

/// The document read back by python-docx, or None when the test may skip.
fn read_back(file: &Path) -> Option<Value> {
    let skip = std::env::var("LUNXUN_SKIP_DOCX_READER").is_ok_and(|v| v == "1");
    let out = Command::new("python3")
        .arg("-c")
        .arg(READER)
        .arg(file)
        .output();
    let missing = "python3 with python-docx reads the document back: `pip install python-docx` \
                   (.ci/run installs it), or set LUNXUN_SKIP_DOCX_READER=1 to skip this check";
    match out {
        Ok(o)
            if o.status.success()
                && !String::from_utf8_lossy(&o.stdout).contains("NO-PYTHON-DOCX") =>
        {
            Some(serde_json::from_slice(&o.stdout).expect("the reader's JSON"))
        }
        Ok(o) if o.status.success() || skip => {
            assert!(skip, "{missing}");
            None
        }
        Ok(o) => panic!(
            "python-docx could not read the document: {}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(_) if skip => None,
        Err(e) => panic!("{missing} ({e})"),
    }
}

fn percent(rate: &Value) -> String {
    rate.as_f64()
        .map_or_else(|| "-".to_owned(), |r| format!("{:.1}%", r * 100.0))
}

fn ratio(rule: &Value) -> String {
    format!("{}/{}", rule["compliant"], rule["people"])
}

/// The ranking table's cells for one row of `report --format json`.
fn ranking_cells(row: &Value, rank: String) -> Vec<String> {
    vec![
        rank,
        row["org"].as_str().unwrap().to_owned(),
        row["name"].as_str().unwrap().to_owned(),
        row["roster"].to_string(),
        row["covered"].to_string(),
        percent(&row["rotation_rate"]),
        row["overdue"].to_string(),
        ratio(&row["leading"]),
        ratio(&row["general"]),
        ratio(&row["online"]),
        row["reporting_nodes"].to_string(),
        row["expected_nodes"].to_string(),
        row["freshness"].as_str().unwrap_or("未报送").to_owned(),
        percent(&row["previous_rate"]),
        row["change"]
            .as_f64()
            .map_or_else(|| "-".to_owned(), |c| format!("{:+.1}", c * 100.0)),
    ]
}

/// The obligations table's cells for one row.
fn obligation_cells(row: &Value, rank: String) -> Vec<String> {
    let mut cells = vec![
        rank,
        row["org"].as_str().unwrap().to_owned(),
        row["name"].as_str().unwrap().to_owned(),
    ];
    for kind in ["study", "trainee_meeting", "annual_plan", "callup_report"] {
        let met = row["obligations"][kind]["met"].as_bool().unwrap();
        cells.push(if met { "是" } else { "否" }.to_owned());
    }
    cells
}

#[test]
fn the_word_document_holds_the_figures_report_json_prints() {
    let tmp = tempfile::tempdir().unwrap();
    let data = province(tmp.path());
    let json: Value = serde_json::from_str(&ok(
        &data,
        &["report", "--as-of", AS_OF, "--format", "json"],
    ))
    .unwrap();
    let file = tmp.path().join("通报.docx");
    let file_arg = file.to_str().unwrap();
    let said = ok(
        &data,
        &[
            "report", "--as-of", AS_OF, "--format", "docx", "--out", file_arg,
        ],
    );
    assert!(
        said.starts_with("关于2026年上半年信访干部教育培训轮训情况的通报: "),
        "{said}"
    );
    // Without --out: a usage error, nothing written.
    let out = support::node(&data, &["report", "--format", "docx"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("--out"), "{}", out.stderr);

    let bytes = std::fs::read(&file).unwrap();
    assert!(bytes.starts_with(b"PK"), "a zip package");
    let Some(doc) = read_back(&file) else {
        eprintln!("LUNXUN_SKIP_DOCX_READER=1: the document was not read back");
        return;
    };
    let paragraphs: Vec<&str> = doc["paragraphs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(
        paragraphs[0],
        "关于2026年上半年信访干部教育培训轮训情况的通报"
    );
    assert!(
        paragraphs[1].starts_with("河南省　统计截至2026年6月30日"),
        "{}",
        paragraphs[1]
    );
    let rows = json["rows"].as_array().unwrap();
    let summary = paragraphs
        .iter()
        .find(|p| p.starts_with("截至2026年6月30日"))
        .expect("the summary paragraph");
    let reported = rows
        .iter()
        .filter(|r| r["reporting_nodes"].as_u64().unwrap() > 0)
        .count();
    assert_eq!(reported, 2, "郑州 and 济源 report");
    assert!(
        summary.contains(&format!(
            "河南省所属{}个下级单位中，{reported}个已报送数据",
            rows.len()
        )),
        "{summary}"
    );
    let total = &json["total"];
    assert!(
        summary.contains(&format!("轮训覆盖率{}", percent(&total["rotation_rate"]))),
        "{summary}"
    );
    assert!(summary.contains("尚未报送数据的单位"), "{summary}");
    let best = rows[0]["name"].as_str().unwrap();
    assert!(
        summary.contains(&format!("轮训覆盖率最高的是{best}")),
        "{summary}"
    );

    let tables = doc["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 2, "the ranking and the obligations");
    let cells = |t: &Value| -> Vec<Vec<String>> {
        t.as_array()
            .unwrap()
            .iter()
            .map(|r| {
                r.as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c.as_str().unwrap().to_owned())
                    .collect()
            })
            .collect()
    };
    let ranking = cells(&tables[0]);
    let columns = &lunxun_node::reports::REPORT_COLUMNS;
    let ranked = || columns[..13].iter().chain(&columns[columns.len() - 2..]);
    let zh: Vec<&str> = ranked().map(|c| c.zh).collect();
    let en: Vec<&str> = ranked().map(|c| c.en).collect();
    assert_eq!(ranking[0], zh);
    assert_eq!(ranking[1], en);
    assert_eq!(
        ranking.len(),
        2 + rows.len() + 1,
        "headers, every subordinate, the total"
    );
    for (got, row) in ranking[2..].iter().zip(rows) {
        assert_eq!(*got, ranking_cells(row, row["rank"].to_string()));
    }
    assert_eq!(
        *ranking.last().unwrap(),
        ranking_cells(total, "合计".into())
    );

    let obligations = cells(&tables[1]);
    assert_eq!(
        obligations[0],
        [
            "排名",
            "机构代码",
            "单位",
            "专题研究",
            "座谈交流",
            "年度计划",
            "调训通报"
        ]
    );
    assert_eq!(
        obligations[1],
        [
            "rank",
            "org",
            "name",
            "study",
            "trainee_meeting",
            "annual_plan",
            "callup_report"
        ]
    );
    for (got, row) in obligations[2..].iter().zip(rows) {
        assert_eq!(*got, obligation_cells(row, row["rank"].to_string()));
    }
    assert_eq!(
        *obligations.last().unwrap(),
        obligation_cells(total, "合计".into())
    );
    assert!(
        paragraphs
            .iter()
            .any(|p| p.starts_with("三、2026年度履职事项"))
    );
}
