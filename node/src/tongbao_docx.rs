//! The 通报 as a Word document (`report --format docx`, the dashboard's
//! `report.docx`): a title naming the period, the date it counts to, a
//! summary paragraph written from the figures, the ranking table and the
//! obligations (履职事项) of the report's year — the same cells as
//! [`reports::report_table`], under Chinese and English headers.
//!
//! Only plain paragraphs and tables, with an East-Asian font set on every
//! run, so Word and WPS open it alike.

use chrono::Datelike;
use docx_rs::{
    AlignmentType, Docx, PageMargin, PageOrientationType, Paragraph, Run, RunFonts, Table,
    TableCell, TableRow, WidthType,
};

use crate::model::Date;
use crate::render::{Column, percent};
use crate::reports::{self, ExportError, Report, ReportRow};

/// Silent subordinates named in the summary; the rest are counted.
pub const SILENT_NAMED_MAX: usize = 40;

/// Columns of the ranking table: the first of [`reports::REPORT_COLUMNS`],
/// up to the data time, then the comparison with the previous period (the
/// last [`COMPARISON_COLUMNS`]).
pub const RANKING_COLUMNS: usize = 13;
/// The obligations' columns, after the ranking's in [`reports::REPORT_COLUMNS`].
pub const OBLIGATION_COLUMNS: usize = 4;
/// The previous period's coverage and the change, last in
/// [`reports::REPORT_COLUMNS`].
pub const COMPARISON_COLUMNS: usize = 2;

/// The body's East-Asian font (宋体; present in Windows and WPS).
const BODY_FONT: &str = "宋体";
/// The title's and headings' East-Asian font.
const HEADING_FONT: &str = "黑体";
/// The Latin font beside them.
const LATIN_FONT: &str = "Times New Roman";

/// Sizes in half-points: 二号 title, 三号 headings, 小四 body, 五号 tables.
const TITLE_SIZE: usize = 44;
const HEADING_SIZE: usize = 32;
const BODY_SIZE: usize = 24;
const TABLE_SIZE: usize = 18;

/// A4 landscape in twips (the ranking table has 13 columns), with 2 cm margins.
const PAGE_WIDTH: u32 = 16_838;
const PAGE_HEIGHT: u32 = 11_906;
const MARGIN: i32 = 1_134;

/// The period a report dated `as_of` covers, as the title names it:
/// `2026年上半年` (to 30 June), `2026年度` (to 31 December), `2026年1月`,
/// else `2026年1—9月`.
pub fn period(as_of: Date) -> String {
    let (y, m, d) = (as_of.year(), as_of.month(), as_of.day());
    match (m, d) {
        (6, 30) => format!("{y}年上半年"),
        (12, 31) => format!("{y}年度"),
        (1, _) => format!("{y}年1月"),
        _ => format!("{y}年1—{m}月"),
    }
}

/// The document's title: `关于2026年上半年信访干部教育培训轮训情况的通报`.
pub fn title(as_of: Date) -> String {
    format!("关于{}信访干部教育培训轮训情况的通报", period(as_of))
}

/// A date as `2026年6月30日`.
fn date_zh(d: Date) -> String {
    format!("{}年{}月{}日", d.year(), d.month(), d.day())
}

fn as_of_date(report: &Report) -> Result<Date, ExportError> {
    report.as_of.parse().map_err(|_| ExportError::Write {
        path: "(report)".into(),
        reason: format!("the report's date {:?} is not a date", report.as_of),
    })
}

/// A subordinate that reports: some node of its subtree sent data.
fn reporting(r: &ReportRow) -> bool {
    r.reporting_nodes > 0
}

/// The summary paragraph, in Chinese, from the report's figures: how many
/// subordinates reported of how many, the subtree's rotation coverage and
/// hour compliance, the best and the worst by coverage, the silent ones by
/// name (at most [`SILENT_NAMED_MAX`]).
pub fn summary(report: &Report) -> String {
    let t = &report.total;
    let mut s = String::new();
    let as_of = report
        .as_of
        .parse::<Date>()
        .map(date_zh)
        .unwrap_or_else(|_| report.as_of.clone());
    let reported = report.rows.iter().filter(|r| reporting(r)).count();
    s.push_str(&format!(
        "截至{as_of}，{}所属{}个下级单位中，{reported}个已报送数据（下辖应报送节点{}个，已报送{}个）。",
        report.name,
        report.rows.len(),
        t.expected_nodes,
        t.reporting_nodes,
    ));
    match t.rotation_rate {
        Some(rate) => s.push_str(&format!(
            "下辖合计应训{}人，已轮训{}人，轮训覆盖率{}，逾期未训{}人。",
            t.roster,
            t.covered,
            percent(Some(rate)),
            t.overdue
        )),
        None => s.push_str("下辖尚无在册应训人员，轮训覆盖率无从计算。"),
    }
    let rule = |label: &str, c: &crate::coverage::RuleCount| {
        format!(
            "{label}{}/{}人（{}）",
            c.compliant,
            c.people,
            percent(c.rate())
        )
    };
    s.push_str(&format!(
        "学时达标情况：{}，{}，{}。",
        rule("县处级及以上集中培训", &t.leading),
        rule("乡科级及以下集中培训", &t.general),
        rule("网络自学", &t.online),
    ));
    // Rows are ranked by coverage, those without a rate last.
    let rated: Vec<&ReportRow> = report
        .rows
        .iter()
        .filter(|r| r.rotation_rate.is_some())
        .collect();
    match rated.as_slice() {
        [] => s.push_str("各下级单位均无可计算的轮训覆盖率。"),
        [only] => s.push_str(&format!(
            "仅{}有可计算的轮训覆盖率（{}）。",
            only.name,
            percent(only.rotation_rate)
        )),
        [best, .., worst] => s.push_str(&format!(
            "轮训覆盖率最高的是{}（{}），最低的是{}（{}）。",
            best.name,
            percent(best.rotation_rate),
            worst.name,
            percent(worst.rotation_rate)
        )),
    }
    let silent: Vec<&str> = report
        .rows
        .iter()
        .filter(|r| !reporting(r))
        .map(|r| r.name.as_str())
        .collect();
    if silent.is_empty() {
        s.push_str("各下级单位均已报送数据。");
    } else if silent.len() <= SILENT_NAMED_MAX {
        s.push_str(&format!(
            "尚未报送数据的单位（{}个）：{}。",
            silent.len(),
            silent.join("、")
        ));
    } else {
        s.push_str(&format!(
            "尚未报送数据的单位：{}等{}个。",
            silent[..SILENT_NAMED_MAX].join("、"),
            silent.len()
        ));
    }
    s
}

fn fonts(east_asia: &str) -> RunFonts {
    RunFonts::new()
        .east_asia(east_asia)
        .ascii(LATIN_FONT)
        .hi_ansi(LATIN_FONT)
        .cs(LATIN_FONT)
}

fn run(text: &str, font: &str, size: usize) -> Run {
    Run::new().add_text(text).fonts(fonts(font)).size(size)
}

fn heading(text: &str) -> Paragraph {
    Paragraph::new()
        .add_run(run(text, HEADING_FONT, HEADING_SIZE))
        .keep_next(true)
}

fn body(text: &str) -> Paragraph {
    Paragraph::new()
        .add_run(run(text, BODY_FONT, BODY_SIZE))
        .first_line_chars(200)
}

fn cell(text: &str, bold: bool) -> TableCell {
    let mut r = run(text, BODY_FONT, TABLE_SIZE);
    if bold {
        r = r.bold();
    }
    TableCell::new().add_paragraph(Paragraph::new().add_run(r))
}

/// A table with two header rows (Chinese, then English) and `rows`, each
/// cut to the cells at `picks`.
fn table(columns: &[Column], picks: &[usize], rows: &[Vec<String>]) -> Table {
    let header = |zh: bool| {
        TableRow::new(
            picks
                .iter()
                .map(|&i| cell(if zh { columns[i].zh } else { columns[i].en }, true))
                .collect(),
        )
    };
    let mut all = vec![header(true), header(false)];
    all.extend(rows.iter().map(|row| {
        TableRow::new(
            picks
                .iter()
                .map(|&i| cell(row.get(i).map_or("", String::as_str), false))
                .collect(),
        )
    }));
    Table::new(all).width(5000, WidthType::Pct)
}

/// The document's bytes.
pub fn docx_bytes(report: &Report) -> Result<Vec<u8>, ExportError> {
    let as_of = as_of_date(report)?;
    let columns = &reports::REPORT_COLUMNS;
    let cells = reports::report_table(report);
    let ranking: Vec<usize> = (0..RANKING_COLUMNS)
        .chain(columns.len() - COMPARISON_COLUMNS..columns.len())
        .collect();
    let obligations: Vec<usize> = [0, 1, 2]
        .into_iter()
        .chain(RANKING_COLUMNS..RANKING_COLUMNS + OBLIGATION_COLUMNS)
        .collect();
    let doc = Docx::new()
        .page_size(PAGE_WIDTH, PAGE_HEIGHT)
        .page_orient(PageOrientationType::Landscape)
        .page_margin(PageMargin {
            top: MARGIN,
            left: MARGIN,
            bottom: MARGIN,
            right: MARGIN,
            header: MARGIN / 2,
            footer: MARGIN / 2,
            gutter: 0,
        })
        .default_fonts(fonts(BODY_FONT))
        .default_size(BODY_SIZE)
        .add_paragraph(
            Paragraph::new()
                .add_run(run(&title(as_of), HEADING_FONT, TITLE_SIZE))
                .align(AlignmentType::Center),
        )
        .add_paragraph(
            Paragraph::new()
                .add_run(run(
                    &format!(
                        "{}　统计截至{}（as of {}；generated {}）",
                        report.name,
                        date_zh(as_of),
                        report.as_of,
                        report.generated
                    ),
                    BODY_FONT,
                    BODY_SIZE,
                ))
                .align(AlignmentType::Center),
        )
        .add_paragraph(heading("一、总体情况 Overview"))
        .add_paragraph(body(&summary(report)))
        .add_paragraph(heading(
            "二、各单位轮训情况（按下辖合计轮训覆盖率排名）Ranking by rotation coverage",
        ))
        .add_table(table(columns, &ranking, &cells))
        .add_paragraph(body(
            "注：各行为该单位及其下辖合计；学时达标为达标人数/应达标人数；未报送的单位排在最后。",
        ))
        .add_paragraph(heading(&format!(
            "三、{}年度履职事项 Obligations in {}",
            report.year, report.year
        )))
        .add_table(table(columns, &obligations, &cells))
        .add_paragraph(body(
            "注：专题研究、座谈交流、年度计划、调训通报，各单位本级当年至少一次为“是”。",
        ));
    let mut out = std::io::Cursor::new(Vec::new());
    doc.build().pack(&mut out).map_err(|e| ExportError::Write {
        path: "(memory)".into(),
        reason: e.to_string(),
    })?;
    Ok(out.into_inner())
}

/// Writes the document to `path`.
pub fn write_docx(path: &std::path::Path, report: &Report) -> Result<(), ExportError> {
    let bytes = docx_bytes(report)?;
    std::fs::write(path, bytes).map_err(|e| ExportError::Write {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coverage::RuleCount;

    fn date(s: &str) -> Date {
        s.parse().unwrap()
    }

    #[test]
    fn the_title_names_the_period() {
        assert_eq!(
            title(date("2026-06-30")),
            "关于2026年上半年信访干部教育培训轮训情况的通报"
        );
        assert_eq!(period(date("2025-12-31")), "2025年度");
        assert_eq!(period(date("2026-01-20")), "2026年1月");
        assert_eq!(period(date("2026-09-15")), "2026年1—9月");
    }

    fn row(org: &str, name: &str, roster: u64, covered: u64, nodes: u64) -> ReportRow {
        ReportRow {
            rank: 0,
            org: org.into(),
            name: name.into(),
            level: "prefecture",
            roster,
            covered,
            overdue: roster - covered,
            rotation_rate: (roster > 0).then(|| covered as f64 / roster as f64),
            leading: RuleCount {
                people: 4,
                compliant: 3,
            },
            general: RuleCount::default(),
            online: RuleCount {
                people: 10,
                compliant: 5,
            },
            reporting_nodes: nodes,
            expected_nodes: 3,
            freshness: None,
            obligations: Default::default(),
            previous_rate: None,
            change: None,
        }
    }

    fn report(rows: Vec<ReportRow>) -> Report {
        Report {
            org: "410000".into(),
            name: "河南省".into(),
            as_of: "2026-06-30".into(),
            year: 2026,
            generated: "2026-07-01T00:00:00Z".into(),
            compare_as_of: "2026-03-31".into(),
            total: ReportRow {
                reporting_nodes: 5,
                expected_nodes: 9,
                ..row("410000", "河南省", 200, 150, 5)
            },
            rows,
        }
    }

    #[test]
    fn the_summary_counts_names_the_best_the_worst_and_the_silent() {
        let r = report(vec![
            row("410100", "郑州市", 100, 90, 2),
            row("410300", "洛阳市", 100, 60, 3),
            row("410200", "开封市", 0, 0, 0),
            row("410400", "平顶山市", 0, 0, 0),
        ]);
        assert_eq!(
            summary(&r),
            "截至2026年6月30日，河南省所属4个下级单位中，2个已报送数据（下辖应报送节点9个，已报送5个）。\
             下辖合计应训200人，已轮训150人，轮训覆盖率75.0%，逾期未训50人。\
             学时达标情况：县处级及以上集中培训3/4人（75.0%），乡科级及以下集中培训0/0人（-），网络自学5/10人（50.0%）。\
             轮训覆盖率最高的是郑州市（90.0%），最低的是洛阳市（60.0%）。\
             尚未报送数据的单位（2个）：开封市、平顶山市。"
        );
        let one = report(vec![row("410100", "郑州市", 10, 5, 1)]);
        assert!(
            summary(&one)
                .ends_with("仅郑州市有可计算的轮训覆盖率（50.0%）。各下级单位均已报送数据。")
        );
        let many = report(
            (0..45)
                .map(|i| row(&format!("4101{i:02}"), &format!("县{i}"), 0, 0, 0))
                .collect(),
        );
        let s = summary(&many);
        assert!(s.contains("各下级单位均无可计算的轮训覆盖率。"), "{s}");
        assert!(s.ends_with("、县39等45个。"), "{s}");
    }

    #[test]
    fn the_document_is_a_zip_with_the_title_and_the_tables() {
        let r = report(vec![row("410100", "郑州市", 100, 90, 2)]);
        let bytes = docx_bytes(&r).unwrap();
        assert!(bytes.starts_with(b"PK"));
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        let mut xml = String::new();
        std::io::Read::read_to_string(&mut zip.by_name("word/document.xml").unwrap(), &mut xml)
            .unwrap();
        assert!(xml.contains("关于2026年上半年信访干部教育培训轮训情况的通报"));
        assert_eq!(xml.matches("<w:tbl>").count(), 2, "two tables");
        assert!(xml.contains("w:eastAsia=\"宋体\""));
        assert!(xml.contains("轮训覆盖率") && xml.contains("rotation_rate"));
    }
}
