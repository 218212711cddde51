//! Import tests: one per kind of bad row, each checking file, line and
//! column, plus the encodings, workbooks and header spellings people use.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use proptest::prelude::*;
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
use tempfile::TempDir;

use super::*;
use crate::model::{Hours, Mode, Outcome, PersonId, Rank};

/// A valid ID number from its first 17 digits.
fn id(first17: &str) -> String {
    let mut digits = [0u8; 17];
    digits.copy_from_slice(first17.as_bytes());
    format!("{first17}{}", PersonId::check_char(&digits))
}

fn date(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn write(dir: &TempDir, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

const OPTS: ImportOptions = ImportOptions { progress: false };

fn roster(text: &str) -> Result<Vec<RosterRow>, ImportError> {
    let dir = TempDir::new().unwrap();
    read_roster(&write(&dir, "roster.csv", text), &OPTS)
}

fn trainings(text: &str) -> Result<TrainingsFile, ImportError> {
    let dir = TempDir::new().unwrap();
    read_trainings(&write(&dir, "trainings.csv", text), &OPTS)
}

/// The problems of a rejected file, rendered as `--check` prints them, with
/// the temporary directory cut off.
fn problems(result: Result<impl std::fmt::Debug, ImportError>) -> Vec<String> {
    match result {
        Err(ImportError::Rows { file, problems, .. }) => {
            let name = Path::new(&file)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            problems.iter().map(|p| p.render(&name)).collect()
        }
        other => panic!("expected bad rows, got {other:?}"),
    }
}

/// Asserts the file was rejected with exactly one problem, starting `prefix`
/// and containing `reason`.
fn assert_one(result: Result<impl std::fmt::Debug, ImportError>, prefix: &str, reason: &str) {
    let problems = problems(result);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(
        problems[0].starts_with(prefix) && problems[0].contains(reason),
        "{:?} should start with {prefix:?} and contain {reason:?}",
        problems[0]
    );
}

const ROSTER_ZH: &str = "身份证号,姓名,职级,列入日期,工作单位,职务,培训对象类别,移出日期";
const ROSTER_EN: &str = "person_id,name,rank,since";
const TRAININGS_EN: &str =
    "class_id,title,mode,start,end,hours,person_id,result,off_job,days,name,category";

fn roster_en(rows: &[String]) -> String {
    let mut text = format!("{ROSTER_EN}\n");
    for row in rows {
        text.push_str(row);
        text.push('\n');
    }
    text
}

fn trainings_en(rows: &[String]) -> String {
    let mut text = format!("{TRAININGS_EN}\n");
    for row in rows {
        text.push_str(row);
        text.push('\n');
    }
    text
}

/// A good trainings row for class C1, varying the person.
fn class_row(person: &str) -> String {
    format!("C1,信访业务培训班,集中培训,2024-03-04,2024-03-08,40,{person},结业,是,5,张三,业务培训")
}

fn p1() -> String {
    id("41010219800101001")
}
fn p2() -> String {
    id("41010219851231002")
}

// ---------------------------------------------------------------------------
// Good files
// ---------------------------------------------------------------------------

#[test]
fn roster_with_chinese_headers() {
    let text = format!(
        "{ROSTER_ZH}\n\
         {},王建国,县处级及以上,2024-01-01,中原区信访局,局长,县级信访部门正职,\n\
         {},李秀兰,村（社区）,2024/3/1,林山寨街道建设路社区,信访代理员,,2025-06-30\n",
        p1(),
        p2()
    );
    let rows = roster(&text).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].line, 2);
    let first = &rows[0].entry;
    assert_eq!(first.person.to_string(), p1());
    assert_eq!(first.name, "王建国");
    assert_eq!(first.rank, Rank::Leading);
    assert_eq!(first.since, date("2024-01-01"));
    assert_eq!(first.until, None);
    assert_eq!(first.employer, "中原区信访局");
    assert_eq!(first.position, "局长");
    assert_eq!(first.group, "县级信访部门正职");
    let second = &rows[1].entry;
    assert_eq!(second.rank, Rank::Grassroots);
    assert_eq!(second.since, date("2024-03-01"));
    assert_eq!(second.until, Some(date("2025-06-30")));
    assert_eq!(second.group, "");
}

#[test]
fn roster_with_english_headers_in_any_order_and_case() {
    let text = format!(
        "Since, NAME ,extra,Person_ID,rank\n2024-01-01,Wang Jianguo,ignored,{},general\n",
        p1()
    );
    let rows = roster(&text).unwrap();
    assert_eq!(rows[0].entry.name, "Wang Jianguo");
    assert_eq!(rows[0].entry.rank, Rank::General);
    assert_eq!(rows[0].entry.employer, "");
}

#[test]
fn mixed_languages_and_variant_headers() {
    // Full-width spaces around a header, the 身份证号码 variant, English beside Chinese.
    let text = format!(
        "\u{3000}身份证号码\u{3000},name,职级,since,移出日期\n{},王芳,乡科级及以下,2024-01-01,\n",
        p1()
    );
    let rows = roster(&text).unwrap();
    assert_eq!(rows[0].entry.rank, Rank::General);

    let text = format!(
        "培训班编号,title,培训方式,start,结束日期,hours,身份证号,result\n\
         C1,班,online,2024-01-01,2024-12-31,12.5,{},合格\n",
        p1()
    );
    let file = trainings(&text).unwrap();
    assert_eq!(file.attendance[0].hours, Hours::from_tenths(125));
    assert_eq!(file.classes[0].mode, Mode::Online);
}

#[test]
fn utf8_with_bom() {
    let text = format!(
        "\u{feff}{ROSTER_ZH}\n{},王建国,乡科级,2024-01-01,,,,\n",
        p1()
    );
    let rows = roster(&text).unwrap();
    assert_eq!(rows[0].entry.name, "王建国");
}

#[test]
fn gb18030_file_with_chinese_headers_and_values() {
    let text = format!(
        "{ROSTER_ZH}\r\n{},王建国,县处级及以上,2024-01-01,中原区信访局,局长,县级信访部门正职,\r\n\
         {},李秀兰,村（社区）,2024-03-01,须水街道,信访专干,,\r\n",
        p1(),
        p2()
    );
    let (bytes, _, unmappable) = encoding_rs::GB18030.encode(&text);
    assert!(!unmappable);
    assert!(
        std::str::from_utf8(&bytes).is_err(),
        "test needs non-UTF-8 bytes"
    );
    let dir = TempDir::new().unwrap();
    let rows = read_roster(&write(&dir, "名单.csv", &bytes), &OPTS).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].entry.employer, "中原区信访局");
    assert_eq!(rows[1].entry.name, "李秀兰");
    assert_eq!(rows[1].entry.rank, Rank::Grassroots);
    assert_eq!(rows[1].line, 3);
}

#[test]
fn undecodable_bytes_are_a_format_error() {
    let dir = TempDir::new().unwrap();
    // 0xFF never starts a GB18030 sequence.
    let path = write(&dir, "roster.csv", b"person_id,name\n\xff\xff\xff\n");
    let err = read_roster(&path, &OPTS).unwrap_err();
    assert!(matches!(err, ImportError::Format { .. }), "{err:?}");
    assert!(err.to_string().contains("neither UTF-8 nor GB18030"));
}

#[test]
fn empty_file_and_header_only_file() {
    assert!(matches!(roster(""), Err(ImportError::Format { .. })));
    assert!(matches!(roster("\n\n"), Err(ImportError::Format { .. })));
    assert_eq!(roster(&format!("{ROSTER_ZH}\n")).unwrap(), vec![]);
}

#[test]
fn missing_file_is_an_io_error() {
    let dir = TempDir::new().unwrap();
    let err = read_roster(&dir.path().join("nope.csv"), &OPTS).unwrap_err();
    assert!(matches!(err, ImportError::Io { .. }));
    assert!(err.to_string().contains("nope.csv: "));
}

#[test]
fn completely_empty_rows_are_ignored() {
    let text = format!(
        "{ROSTER_EN}\n,,,\n{},王芳,general,2024-01-01\n , ,　,\n\n",
        p1()
    );
    let rows = roster(&text).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].line, 3);
}

#[test]
fn trainings_fold_rows_into_classes() {
    let p3 = id("41010219700615003");
    let text = trainings_en(&[
        format!(
            "C1,信访业务培训班,集中培训,2024-03-04,2024-03-08,40,{},结业,,,张三,",
            p1()
        ),
        format!(
            "C1,信访业务培训班,集中培训,2024-03-04,2024-03-08,32,{},未通过,,5,,",
            p2()
        ),
        format!("C1,信访业务培训班,集中培训,2024-03-04,2024-03-08,0,{p3},请假,是,,,"),
        format!(
            "W1,网上信访学习,网络自学,2024-01-01,2024-12-31,12.5,{},completed,,,,",
            p1()
        ),
        format!(
            "W1,网上信访学习,online,2024/1/1,2024-12-31,12.5,{},completed,,,,",
            p1()
        ),
    ]);
    let file = trainings(&text).unwrap();
    assert_eq!(file.classes.len(), 2);
    let c1 = &file.classes[0];
    assert_eq!(c1.class_id.as_str(), "C1");
    assert_eq!(c1.hours, Hours::from_whole(40), "the most credited");
    assert_eq!(c1.days, Some(5), "given on one row only");
    assert!(c1.off_job);
    assert_eq!(c1.category, "");
    let w1 = &file.classes[1];
    assert_eq!(w1.mode, Mode::Online);
    assert!(!w1.off_job, "online defaults to not off the job");
    assert_eq!(w1.days, None);
    // The identical repeated W1 row is dropped.
    assert_eq!(file.attendance.len(), 4);
    assert_eq!(file.attendance[0].name, "张三");
    assert_eq!(file.attendance[1].name, "", "name defaults to empty");
    assert_eq!(file.attendance[1].outcome, Outcome::Failed);
    assert_eq!(file.attendance[2].outcome, Outcome::AbsentJustified);
}

#[test]
fn centralized_off_job_defaults_to_yes_and_accepts_spellings() {
    for (cell, expected) in [
        ("", true),
        ("否", false),
        ("no", false),
        ("N", false),
        ("0", false),
        ("false", false),
        ("YES", true),
        ("y", true),
        ("1", true),
        ("True", true),
    ] {
        let text = trainings_en(&[format!(
            "C1,班,centralized,2024-03-04,2024-03-05,8,{},completed,{cell},,,",
            p1()
        )]);
        assert_eq!(
            trainings(&text).unwrap().classes[0].off_job,
            expected,
            "{cell:?}"
        );
    }
}

#[test]
fn identical_duplicate_roster_rows_are_accepted() {
    let row = format!("{},王芳,general,2024-01-01", p1());
    let rows = roster(&roster_en(&[row.clone(), row])).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].line, 2);
}

#[test]
fn quoted_fields_with_newlines_keep_line_numbers() {
    // Line 2: a record spanning lines 2-3; blank line 4; bad record on line 5
    // (csv's own count says 4 here).
    // (The multi-line cells sit in a column import ignores: every text
    // column it keeps refuses control characters.)
    let text = format!(
        "{ROSTER_EN},备注\r\n{},王芳,general,2024-01-01,\"调入\r\n借调\"\r\n\r\n{},李四,general,2024-13-01,x\r\n",
        p1(),
        p2()
    );
    assert_one(roster(&text), "roster.csv:5: since: ", "2024-13-01");

    let text = format!(
        "{ROSTER_EN},note\n{},王芳,general,2024-01-01,\"a\n\nb\"\n{},李四,boss,2024-01-01,x\n",
        p1(),
        p2()
    );
    assert_one(roster(&text), "roster.csv:5: rank: ", "\"boss\"");
    let rows = roster(&text.replace("boss", "general")).unwrap();
    assert_eq!(rows[1].line, 5);
}

// ---------------------------------------------------------------------------
// Headers
// ---------------------------------------------------------------------------

#[test]
fn missing_required_column_is_named_in_both_languages() {
    let err = roster(&format!("身份证号,姓名,职级\n{},王芳,general\n", p1())).unwrap_err();
    assert!(matches!(err, ImportError::Header { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("roster.csv: missing required column since (列入日期)"),
        "{msg}"
    );
}

#[test]
fn column_given_twice_is_a_header_error() {
    let err = roster(&format!(
        "person_id,name,rank,since,身份证号\n{},王芳,general,2024-01-01,{}\n",
        p1(),
        p1()
    ))
    .unwrap_err();
    assert!(matches!(err, ImportError::Header { .. }));
    assert!(err.to_string().contains("appears twice"), "{err}");
}

#[test]
fn title_rows_above_the_header_are_skipped() {
    let text = format!(
        "中原区信访干部名单,,,\n\n附件1,,,\n{ROSTER_EN}\n{},王芳,general,2024-01-01\n",
        p1()
    );
    let rows = roster(&text).unwrap();
    assert_eq!(rows[0].line, 5);
}

#[test]
fn a_file_without_header_row_does_not_echo_id_numbers() {
    let text = format!(
        "{},王芳,general,2024-01-01\n{},李四,general,2024-01-01\n",
        p1(),
        p2()
    );
    let err = roster(&text).unwrap_err();
    assert!(matches!(err, ImportError::Header { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("missing required columns person_id (身份证号)"),
        "{message}"
    );
    assert!(!message.contains(&p1()), "{message}");
    // A wrong header is reported as is, not searched past.
    let text = format!("{TRAININGS_EN}\n{}\n", class_row(&p1()));
    let message = roster(&text).unwrap_err().to_string();
    assert!(
        message.contains("missing required columns rank (职级), since (列入日期)"),
        "{message}"
    );
}

// ---------------------------------------------------------------------------
// Bad rows, one kind each
// ---------------------------------------------------------------------------

#[test]
fn bad_check_digit() {
    let good = p1();
    let bad = format!(
        "{}{}",
        &good[..17],
        if good.ends_with('1') { '2' } else { '1' }
    );
    let text = format!("{ROSTER_ZH}\n{bad},王芳,乡科级,2024-01-01,,,,\n");
    assert_one(roster(&text), "roster.csv:2: 身份证号: ", "check digit");
}

#[test]
fn id_with_17_characters() {
    let text = roster_en(&[format!("{},王芳,general,2024-01-01", &p1()[..17])]);
    assert_one(
        roster(&text),
        "roster.csv:2: person_id: ",
        "18 characters, found 17",
    );
}

#[test]
fn bad_date() {
    let text = roster_en(&[format!("{},王芳,general,2024-02-30", p1())]);
    assert_one(roster(&text), "roster.csv:2: since: ", "is not a date");
}

#[test]
fn year_9999() {
    let text = roster_en(&[format!("{},王芳,general,9999-01-01", p1())]);
    assert_one(
        roster(&text),
        "roster.csv:2: since: ",
        "outside 1950-01-01..2099-12-31",
    );
}

#[test]
fn until_before_since() {
    let text = format!(
        "{ROSTER_ZH}\n{},王芳,乡科级,2024-05-01,,,,2024-04-30\n",
        p1()
    );
    assert_one(
        roster(&text),
        "roster.csv:2: 移出日期: ",
        "not after since 2024-05-01",
    );
    let text = format!(
        "{ROSTER_ZH}\n{},王芳,乡科级,2024-05-01,,,,2024-05-01\n",
        p1()
    );
    assert_one(roster(&text), "roster.csv:2: 移出日期: ", "not after since");
}

#[test]
fn unknown_rank() {
    let text = format!("{ROSTER_ZH}\n{},王芳,处长,2024-05-01,,,,\n", p1());
    assert_one(
        roster(&text),
        "roster.csv:2: 职级: ",
        "\"处长\" is not one of",
    );
}

#[test]
fn unknown_result() {
    let text = trainings_en(&[class_row(&p1()).replace("结业", "优秀")]);
    assert_one(
        trainings(&text),
        "trainings.csv:2: result: ",
        "\"优秀\" is not one of",
    );
}

#[test]
fn unknown_mode() {
    let text = trainings_en(&[class_row(&p1()).replace("集中培训", "面授")]);
    assert_one(
        trainings(&text),
        "trainings.csv:2: mode: ",
        "\"面授\" is not one of",
    );
}

#[test]
fn negative_hours() {
    let text = trainings_en(&[class_row(&p1()).replace(",40,", ",-4,")]);
    assert_one(trainings(&text), "trainings.csv:2: hours: ", "negative");
}

#[test]
fn hours_with_two_decimals() {
    let text = trainings_en(&[class_row(&p1()).replace(",40,", ",7.25,")]);
    assert_one(
        trainings(&text),
        "trainings.csv:2: hours: ",
        "more than one decimal place",
    );
}

#[test]
fn hours_over_the_maximum() {
    let text = trainings_en(&[class_row(&p1()).replace(",40,", ",2000.1,")]);
    assert_one(trainings(&text), "trainings.csv:2: hours: ", "maximum");
}

#[test]
fn days_zero_or_too_many() {
    let text = trainings_en(&[class_row(&p1()).replace(",是,5,", ",是,0,")]);
    assert_one(
        trainings(&text),
        "trainings.csv:2: days: ",
        "days 0 is not within 1..=366",
    );
    let text = trainings_en(&[class_row(&p1()).replace(",是,5,", ",是,6,")]);
    assert_one(
        trainings(&text),
        "trainings.csv:2: days: ",
        "days 6 is more than the 5 days from start to end",
    );
    let text = trainings_en(&[class_row(&p1()).replace(",是,5,", ",是,400,")]);
    assert_one(
        trainings(&text),
        "trainings.csv:2: days: ",
        "not within 1..=366",
    );
    let text = trainings_en(&[class_row(&p1()).replace(",是,5,", ",是,2.5,")]);
    assert_one(
        trainings(&text),
        "trainings.csv:2: days: ",
        "not a whole number",
    );
}

#[test]
fn end_before_start() {
    let text = trainings_en(&[class_row(&p1()).replace("2024-03-08", "2024-03-01")]);
    assert_one(
        trainings(&text),
        "trainings.csv:2: end: ",
        "end 2024-03-01 is before start 2024-03-04",
    );
}

#[test]
fn class_longer_than_a_year() {
    let text = trainings_en(&[class_row(&p1())
        .replace("2024-03-08", "2025-03-08")
        .replace(",是,5,", ",是,,")]);
    assert_one(trainings(&text), "trainings.csv:2: end: ", "more than 366");
}

#[test]
fn empty_required_cell() {
    let text = format!("{ROSTER_ZH}\n{},  ,乡科级,2024-01-01,,,,\n", p1());
    assert_one(
        roster(&text),
        "roster.csv:2: 姓名: ",
        "required cell is empty",
    );
    let text = trainings_en(&[class_row(&p1()).replace(",40,", ",,")]);
    assert_one(
        trainings(&text),
        "trainings.csv:2: hours: ",
        "required cell is empty",
    );
    // A short row: its missing cells are empty too.
    let text = format!("{ROSTER_EN}\n{},王芳\n", p1());
    let problems = problems(roster(&text));
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].starts_with("roster.csv:2: rank: required cell is empty"));
    assert!(problems[1].starts_with("roster.csv:2: since: required cell is empty"));
}

#[test]
fn duplicate_conflicting_person_names_both_lines() {
    let text = roster_en(&[
        format!("{},王芳,general,2024-01-01", p1()),
        format!("{},李四,general,2024-01-01", p2()),
        format!("{},王芳,leading,2024-01-01", p1()),
    ]);
    assert_one(
        roster(&text),
        "roster.csv:4: person_id: ",
        "is also on line 2 with a different rank",
    );
    let message = roster(&text).unwrap_err().to_string();
    assert!(message.contains(&PersonId::masked(&p1().parse().unwrap())));
    assert!(!message.contains(&p1()), "full ID leaked: {message}");
}

#[test]
fn duplicate_attendance_in_a_class() {
    let row = class_row(&p1());
    let file = trainings(&trainings_en(&[row.clone(), row.clone()])).unwrap();
    assert_eq!(file.attendance.len(), 1);
    let text = trainings_en(&[row.clone(), row.replace("结业", "未通过")]);
    assert_one(
        trainings(&text),
        "trainings.csv:3: person_id: ",
        "is also in class C1 on line 2 with different result",
    );
}

#[test]
fn class_attribute_disagreement() {
    let text = trainings_en(&[
        class_row(&p1()),
        class_row(&p2()).replace("2024-03-08", "2024-03-09"),
    ]);
    assert_one(
        trainings(&text),
        "trainings.csv:3: end: ",
        "class C1 has end 2024-03-09 here but 2024-03-08 on line 2",
    );
    let text = trainings_en(&[
        class_row(&p1()),
        class_row(&p2()).replace("信访业务培训班", "另一个班"),
    ]);
    assert_one(trainings(&text), "trainings.csv:3: title: ", "on line 2");
    // Optional attributes only need to agree where they are stated.
    let text = trainings_en(&[
        class_row(&p1()).replace(",是,5,", ",,,"),
        class_row(&p2()).replace(",是,5,", ",否,,"),
        class_row(&id("41010219700615003")).replace(",是,5,", ",是,,"),
    ]);
    assert_one(
        trainings(&text),
        "trainings.csv:4: off_job: ",
        "class C1 has off_job yes here but no on line 3",
    );
}

#[test]
fn control_characters() {
    let text = roster_en(&[format!("{},\"王\u{7}芳\",general,2024-01-01", p1())]);
    assert_one(roster(&text), "roster.csv:2: name: ", "control characters");
    // A newline inside a quoted name is a control character too, and the
    // one-line message stays one line.
    let text = roster_en(&[format!("{},\"王\n芳\",general,2024-01-01", p1())]);
    let err = roster(&text).unwrap_err();
    assert!(
        err.to_string()
            .contains("roster.csv:2: name: name contains control characters")
    );
    assert!(!err.to_string().contains('\n'));
}

#[test]
fn overlong_text() {
    let long = "长".repeat(201);
    let text = format!("{ROSTER_ZH}\n{},王芳,乡科级,2024-01-01,{long},,,\n", p1());
    assert_one(
        roster(&text),
        "roster.csv:2: 工作单位: ",
        "longer than 200 characters",
    );
}

#[test]
fn every_bad_row_is_reported_and_display_is_one_line() {
    let text = roster_en(&[
        format!("{},王芳,boss,2024-01-01", p1()),
        format!("{},李四,general,2024-01-01", p2()),
        format!("{},,general,2024-99-01", &p1()[..10]),
        format!("{},赵六,general,1900-01-01", id("41010219700615003")),
    ]);
    let err = roster(&text).unwrap_err();
    let ImportError::Rows {
        problems, bad_rows, ..
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!(*bad_rows, 3);
    let lines: Vec<u64> = problems.iter().map(|p| p.line).collect();
    assert_eq!(lines, vec![2, 4, 4, 4, 5]);
    let message = err.to_string();
    assert!(!message.contains('\n'));
    assert!(message.ends_with(
        "roster.csv:2: rank: rank \"boss\" is not one of leading, general, grassroots \
         (县处级及以上, 乡科级及以下, 村（社区）); 2 more bad rows (run with --check to list them all)"
    ), "{message}");

    let one = roster(&roster_en(&[format!("{},王芳,boss,2024-01-01", p1())]))
        .unwrap_err()
        .to_string();
    assert!(!one.contains("more"), "{one}");
}

#[test]
fn problems_are_capped() {
    let rows: Vec<String> = (0..PROBLEMS_MAX + 10)
        .map(|_| format!("{},王芳,boss,2024-01-01", p1()))
        .collect();
    let Err(ImportError::Rows {
        problems, bad_rows, ..
    }) = roster(&roster_en(&rows))
    else {
        panic!("expected bad rows");
    };
    assert_eq!(problems.len(), PROBLEMS_MAX);
    assert_eq!(bad_rows, PROBLEMS_MAX + 10);
}

#[test]
fn large_file_with_progress_bar() {
    let rows: Vec<String> = (0..PROGRESS_ROWS_MIN as u32 + 1500)
        .map(|i| {
            let birth = date("1960-01-01") + chrono::Days::new(u64::from(i / 100));
            let person = id(&format!("410102{}{:03}", birth.format("%Y%m%d"), i % 100));
            format!("{person},王芳,general,2024-01-01")
        })
        .collect();
    let dir = TempDir::new().unwrap();
    let path = write(&dir, "big.csv", roster_en(&rows));
    let read = read_roster(&path, &ImportOptions { progress: true }).unwrap();
    assert_eq!(read.len(), rows.len());
    assert_eq!(read.last().unwrap().line, rows.len() as u64 + 1);
}

// ---------------------------------------------------------------------------
// Workbooks
// ---------------------------------------------------------------------------

fn date_format() -> Format {
    Format::new().set_num_format("yyyy-mm-dd")
}

fn excel_date(s: &str) -> ExcelDateTime {
    let d = date(s);
    ExcelDateTime::from_ymd(
        u16::try_from(chrono::Datelike::year(&d)).unwrap(),
        u8::try_from(chrono::Datelike::month(&d)).unwrap(),
        u8::try_from(chrono::Datelike::day(&d)).unwrap(),
    )
    .unwrap()
}

#[test]
fn xlsx_roster_with_date_cells() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("名单.XLSX");
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    for (col, header) in ["身份证号", "姓名", "职级", "列入日期", "移出日期", "备注"]
        .iter()
        .enumerate()
    {
        sheet.write_string(0, col as u16, *header).unwrap();
    }
    sheet.write_string(1, 0, p1()).unwrap();
    sheet.write_string(1, 1, "王建国").unwrap();
    sheet.write_string(1, 2, "县处级及以上").unwrap();
    sheet
        .write_datetime_with_format(1, 3, excel_date("2024-01-15"), &date_format())
        .unwrap();
    sheet.write_number(1, 5, 12).unwrap();
    // Row 3 left blank; row 4 has a date typed as text.
    sheet.write_string(3, 0, p2()).unwrap();
    sheet.write_string(3, 1, "李秀兰").unwrap();
    sheet.write_string(3, 2, "村（社区）").unwrap();
    sheet.write_string(3, 3, "2024/3/1").unwrap();
    sheet
        .write_datetime_with_format(3, 4, excel_date("2026-01-01"), &date_format())
        .unwrap();
    book.save(&path).unwrap();

    let rows = read_roster(&path, &OPTS).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].line, 2);
    assert_eq!(rows[0].entry.since, date("2024-01-15"));
    assert_eq!(rows[1].line, 4);
    assert_eq!(rows[1].entry.since, date("2024-03-01"));
    assert_eq!(rows[1].entry.until, Some(date("2026-01-01")));
}

#[test]
fn xlsx_trainings_with_numbers_and_dates() {
    let dir = TempDir::new().unwrap();
    // No extension: recognized by its zip magic.
    let path = dir.path().join("trainings-upload");
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    for (col, header) in TRAININGS_EN.split(',').enumerate() {
        sheet.write_string(0, col as u16, header).unwrap();
    }
    for (row, person, hours) in [(1u32, p1(), 40.0), (2, p2(), 7.5)] {
        sheet.write_number(row, 0, 2024001).unwrap();
        sheet.write_string(row, 1, "信访干部轮训班").unwrap();
        sheet.write_string(row, 2, "集中培训").unwrap();
        sheet
            .write_datetime_with_format(row, 3, excel_date("2024-04-08"), &date_format())
            .unwrap();
        sheet.write_string(row, 4, "2024年4月12日").unwrap();
        sheet.write_number(row, 5, hours).unwrap();
        sheet.write_string(row, 6, person).unwrap();
        sheet.write_string(row, 7, "结业").unwrap();
        sheet.write_boolean(row, 8, true).unwrap();
        sheet.write_number(row, 9, 5).unwrap();
    }
    book.save(&path).unwrap();

    let file = read_trainings(&path, &OPTS).unwrap();
    assert_eq!(file.classes.len(), 1);
    let class = &file.classes[0];
    assert_eq!(class.class_id.as_str(), "2024001");
    assert_eq!(class.start, date("2024-04-08"));
    assert_eq!(class.end, date("2024-04-12"));
    assert_eq!(class.hours, Hours::from_whole(40));
    assert_eq!(class.days, Some(5));
    assert!(class.off_job);
    assert_eq!(file.attendance[1].hours, Hours::from_tenths(75));
}

#[test]
fn xlsx_id_stored_as_number() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("roster.xlsx");
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    for (col, header) in ["person_id", "name", "rank", "since"].iter().enumerate() {
        sheet.write_string(0, col as u16, *header).unwrap();
    }
    sheet.write_string(1, 0, p1()).unwrap();
    sheet.write_string(1, 1, "王芳").unwrap();
    sheet.write_string(1, 2, "general").unwrap();
    sheet.write_string(1, 3, "2024-01-01").unwrap();
    sheet.write_number(2, 0, 410102198512310021.0).unwrap();
    sheet.write_string(2, 1, "李四").unwrap();
    sheet.write_string(2, 2, "general").unwrap();
    sheet.write_string(2, 3, "2024-01-01").unwrap();
    book.save(&path).unwrap();
    assert_one(
        read_roster(&path, &OPTS),
        "roster.xlsx:3: person_id: ",
        "format the column as text",
    );
}

#[test]
fn xlsx_line_numbers_count_from_the_top_of_the_sheet() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("roster.xlsx");
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    // A title in A2, the header in row 4, data from row 5, starting at column B.
    sheet.write_string(1, 0, "中原区信访干部名单").unwrap();
    for (col, header) in ["身份证号", "姓名", "职级", "列入日期"].iter().enumerate() {
        sheet.write_string(3, col as u16 + 1, *header).unwrap();
    }
    for (row, rank) in [(4u32, "乡科级"), (6, "科员")] {
        sheet
            .write_string(row, 1, if row == 4 { p1() } else { p2() })
            .unwrap();
        sheet.write_string(row, 2, "王芳").unwrap();
        sheet.write_string(row, 3, rank).unwrap();
        sheet.write_string(row, 4, "2024-01-01").unwrap();
    }
    book.save(&path).unwrap();
    assert_one(
        read_roster(&path, &OPTS),
        "roster.xlsx:7: 职级: ",
        "\"科员\"",
    );
}

#[test]
fn corrupt_workbook_is_a_format_error() {
    let dir = TempDir::new().unwrap();
    let path = write(&dir, "roster.xlsx", b"PK\x03\x04 definitely not a zip");
    let err = read_roster(&path, &OPTS).unwrap_err();
    assert!(matches!(err, ImportError::Format { .. }), "{err:?}");
}

// ---------------------------------------------------------------------------
// The sample files of the README walkthrough
// ---------------------------------------------------------------------------

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/county-410102")
        .join(name)
}

#[test]
fn sample_files_import() {
    let roster = read_roster(&sample("roster.csv"), &OPTS).unwrap();
    assert!(roster.len() >= 10);
    assert!(roster.iter().any(|r| r.entry.until.is_some()));
    assert!(roster.iter().any(|r| r.entry.rank == Rank::Leading));
    assert!(
        roster
            .iter()
            .all(|r| r.entry.person.to_string().starts_with("410102"))
    );
    let english = read_roster(&sample("roster-en.csv"), &OPTS).unwrap();
    for row in &english {
        assert!(
            roster.iter().any(|r| r.entry == row.entry),
            "roster-en.csv line {} differs from roster.csv",
            row.line
        );
    }
    let file = read_trainings(&sample("trainings.csv"), &OPTS).unwrap();
    assert!((3..=4).contains(&file.classes.len()));
    for outcome in [
        Outcome::Failed,
        Outcome::AbsentJustified,
        Outcome::AbsentUnjustified,
    ] {
        assert!(file.attendance.iter().any(|a| a.outcome == outcome));
    }
    assert!(file.classes.iter().any(|c| c.mode == Mode::Online));
    assert!(
        file.classes
            .iter()
            .any(|c| c.mode == Mode::Centralized && c.off_job)
    );
}

// ---------------------------------------------------------------------------
// Nothing from a file panics
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let dir = TempDir::new().unwrap();
        let path = write(&dir, "any.csv", &bytes);
        let _ = read_roster(&path, &OPTS);
        let _ = read_trainings(&path, &OPTS);
        let mut with_header = format!("{TRAININGS_EN}\n").into_bytes();
        with_header.extend_from_slice(&bytes);
        let path = write(&dir, "header.csv", &with_header);
        let _ = read_trainings(&path, &OPTS);
    }

    #[test]
    fn arbitrary_cells_never_panic(
        rows in proptest::collection::vec(proptest::collection::vec(any::<String>(), 0..14), 0..6),
        seed_cells in proptest::collection::vec(
            prop_oneof![
                Just(String::new()), Just("-".to_owned()), Just("9999-99-99".to_owned()),
                Just("2024年2月30日".to_owned()), Just("1e400".to_owned()), Just("-0".to_owned()),
                Just(".5".to_owned()), Just("18446744073709551616".to_owned()),
                Just("2024-01-01 ".to_owned()), Just("2024-01-01T".to_owned()),
                "[0-9Xx.\\-/年月日 T:]{0,20}",
            ],
            12,
        ),
    ) {
        let dir = TempDir::new().unwrap();
        let mut writer = csv::WriterBuilder::new().flexible(true).from_writer(Vec::new());
        writer.write_record(TRAININGS_EN.split(',')).unwrap();
        writer.write_record(&seed_cells).unwrap();
        let mut roster_writer = csv::WriterBuilder::new().flexible(true).from_writer(Vec::new());
        roster_writer.write_record(ROSTER_ZH.split(',')).unwrap();
        roster_writer.write_record(&seed_cells[..8]).unwrap();
        for row in &rows {
            writer.write_record(row).unwrap();
            roster_writer.write_record(row).unwrap();
        }
        let path = write(&dir, "t.csv", writer.into_inner().unwrap());
        let _ = read_trainings(&path, &OPTS).map_err(|e| e.to_string());
        let path = write(&dir, "r.csv", roster_writer.into_inner().unwrap());
        let _ = read_roster(&path, &OPTS).map_err(|e| e.to_string());
    }
}

#[test]
/// The generator's workbooks read back as the records it made.
fn generated_xlsx_files_import_back_identically() {
    let orgs = crate::orgs::OrgDirectory::builtin();
    let params = lunxun_gen::GenParams {
        county_workers: 30,
        ..lunxun_gen::GenParams::default()
    };
    let data = lunxun_gen::generate_node(&params, &orgs, orgs.get("410102").unwrap());
    let dir = tempfile::tempdir().unwrap();
    lunxun_gen::write_xlsx(&data, dir.path(), true).unwrap();
    let opts = ImportOptions { progress: false };
    let roster = read_roster(&dir.path().join("roster.xlsx"), &opts).unwrap();
    assert_eq!(
        roster.into_iter().map(|r| r.entry).collect::<Vec<_>>(),
        data.roster
    );
    let trainings = read_trainings(&dir.path().join("trainings.xlsx"), &opts).unwrap();
    assert_eq!(trainings.attendance, data.attendance);
    let mut classes = trainings.classes;
    let mut want = data.classes.clone();
    classes.sort_by(|a, b| a.class_id.cmp(&b.class_id));
    want.sort_by(|a, b| a.class_id.cmp(&b.class_id));
    assert_eq!(classes, want);
}
