//! Bureau obligations on the `lunxun-node` command line: `import obligations`
//! (CSV and XLSX, bad rows, re-import, `--replace`), `obligations` in its
//! three formats, and the four columns at the end of the 通报.

use std::path::Path;

use serde_json::Value;

mod support;
use support::*;

fn sample() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/county-410102/obligations.csv")
        .display()
        .to_string()
}

fn json(data: &Path, year: &str) -> Value {
    serde_json::from_str(&ok(
        data,
        &["obligations", "--year", year, "--format", "json"],
    ))
    .unwrap()
}

#[test]
fn the_sample_imports_once_and_obligations_json_says_what_each_year_met() {
    let tmp = tempfile::tempdir().unwrap();
    let data = county(tmp.path());
    let file = sample();
    let check = ok(&data, &["import", "obligations", "--check", &file]);
    assert!(check.contains("8 rows, all valid"), "{check}");
    assert_eq!(own_seq(&data), 0, "--check writes nothing");
    let out = ok(&data, &["import", "obligations", &file]);
    assert!(out.contains("8 changes written"), "{out}");
    let again = ok(&data, &["import", "obligations", &file]);
    assert!(again.contains("0 changes written"), "{again}");
    assert_eq!(own_seq(&data), 8);

    let y2025 = json(&data, "2025");
    assert_eq!(y2025["year"], 2025);
    let n = &y2025["nodes"][0];
    assert_eq!(n["org"], "410102");
    assert_eq!(n["reporting"], true);
    assert_eq!(n["met"], 4);
    for kind in ["study", "trainee_meeting", "annual_plan", "callup_report"] {
        assert_eq!(n[kind]["met"], true, "2025 {kind}");
    }
    assert_eq!(n["callup_report"]["count"], 2);
    assert_eq!(n["callup_report"]["last"], "2025-12-26");

    let y2026 = json(&data, "2026");
    let n = &y2026["nodes"][0];
    assert_eq!(n["met"], 3);
    assert_eq!(n["trainee_meeting"]["met"], false);
    assert_eq!(n["trainee_meeting"]["count"], 0);
    assert_eq!(n["trainee_meeting"]["last"], Value::Null);
    assert_eq!(n["annual_plan"]["last"], "2026-01-16");
    assert_eq!(json(&data, "2024")["nodes"][0]["met"], 0);

    // The table marks each kind; CSV speaks yes/no (是/否 with --lang zh).
    let table = ok(&data, &["obligations", "--year", "2026"]);
    assert!(
        table.contains("专题研究") && table.contains("callup_report"),
        "{table}"
    );
    let row = table.lines().nth(4).unwrap();
    assert_eq!(row.matches('✓').count(), 3, "{row}");
    assert_eq!(row.matches('✗').count(), 1, "{row}");
    assert!(row.contains("3/4") && row.contains("2026-06-30"), "{row}");
    let csv = ok(
        &data,
        &[
            "obligations",
            "--year",
            "2026",
            "--format",
            "csv",
            "--lang",
            "zh",
        ],
    );
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("机构代码,名称,层级,专题研究,座谈交流,年度计划,调训通报,已完成,最近日期")
    );
    assert_eq!(
        lines.next(),
        Some("410102,中原区,county,是,否,是,是,3/4,2026-06-30")
    );

    let bad = node(&data, &["obligations", "--year", "3000"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains("--year 3000"), "{}", bad.stderr);
}

#[test]
fn a_bad_row_refuses_the_whole_file_with_file_line_and_column() {
    let tmp = tempfile::tempdir().unwrap();
    let data = county(tmp.path());
    let file = tmp.path().join("obligations.csv");
    std::fs::write(
        &file,
        "kind,date,note\nstudy,2026-03-02,党组会\nmeeting,2026-04-01,\nannual_plan,2026-02-30,\nstudy,2026-03-02,另一说明\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let out = node(&data, &["import", "obligations", path]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "one line: {}", out.stderr);
    assert!(
        out.stderr
            .contains("obligations.csv:3: kind: obligation \"meeting\" is not one of study"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("2 more bad rows"), "{}", out.stderr);
    assert_eq!(own_seq(&data), 0, "nothing written");

    let check = node(&data, &["import", "obligations", "--check", path]);
    assert_eq!(check.code, 3);
    for expected in [
        "obligations.csv:3: kind:",
        "obligations.csv:4: date:",
        "obligations.csv:5: note: study on 2026-03-02 is also on line 2 with a different note",
    ] {
        assert!(
            check.stdout.contains(expected),
            "{expected}: {}",
            check.stdout
        );
    }
    assert_eq!(own_seq(&data), 0);

    // A missing required column is named.
    std::fs::write(&file, "事项,说明\n专题研究,x\n").unwrap();
    let out = node(&data, &["import", "obligations", path]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains("日期"), "{}", out.stderr);
}

#[test]
fn xlsx_replace_and_the_reports_last_columns() {
    let tmp = tempfile::tempdir().unwrap();
    let data = county(tmp.path());
    ok(&data, &["import", "obligations", &sample()]);

    // A 2026 workbook that is the whole truth for 2026: the plan and one
    // meeting; 2026's study and call-up report go, 2025 is untouched.
    let file = tmp.path().join("2026.xlsx");
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (c, h) in ["事项", "日期", "说明"].iter().enumerate() {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    let date_format = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd");
    for (r, (kind, (y, m, d))) in [("年度计划", (2026, 1, 16)), ("座谈交流", (2026, 5, 8))]
        .into_iter()
        .enumerate()
    {
        let r = r as u32 + 1;
        sheet.write_string(r, 0, kind).unwrap();
        let date = rust_xlsxwriter::ExcelDateTime::from_ymd(y, m, d).unwrap();
        sheet
            .write_datetime_with_format(r, 1, &date, &date_format)
            .unwrap();
    }
    book.save(&file).unwrap();
    let path = file.to_str().unwrap();
    let added = ok(&data, &["import", "obligations", path]);
    assert!(added.contains("2 changes written"), "{added}");
    assert!(
        added.contains("note: 2 obligation events of this file's years are not in the file"),
        "{added}"
    );
    let replaced = ok(&data, &["import", "obligations", path, "--replace"]);
    assert!(
        replaced.contains("2 removed as not in the file"),
        "{replaced}"
    );
    let n = &json(&data, "2026")["nodes"][0];
    assert_eq!(n["met"], 2);
    assert_eq!(n["study"]["met"], false);
    assert_eq!(n["trainee_meeting"]["last"], "2026-05-08");
    assert_eq!(json(&data, "2025")["nodes"][0]["met"], 4);

    // The 通报's existing columns stay where they were; the four come last,
    // for the year of --as-of.
    let csv = ok(
        &data,
        &[
            "report",
            "--as-of",
            "2026-06-30",
            "--format",
            "csv",
            "--lang",
            "en",
        ],
    );
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    assert_eq!(
        header,
        [
            "rank",
            "org",
            "name",
            "roster",
            "covered",
            "rotation_rate",
            "overdue",
            "leading_ok",
            "general_ok",
            "online_ok",
            "reporting",
            "expected",
            "freshness",
            "study",
            "trainee_meeting",
            "annual_plan",
            "callup_report",
            "previous_rate",
            "change",
        ]
    );
    let total: Vec<&str> = csv.lines().last().unwrap().split(',').collect();
    assert_eq!(total[0], "合计");
    assert_eq!(&total[13..17], ["否", "是", "是", "否"]);
    let report: Value = serde_json::from_str(&ok(
        &data,
        &["report", "--as-of", "2025-12-31", "--format", "json"],
    ))
    .unwrap();
    assert_eq!(report["year"], 2025);
    assert_eq!(report["total"]["obligations"]["study"]["met"], true);
}
