//! What a bureau prints and hands on: one person's record across the tree,
//! the personnel lists of DOMAIN.md §4, and the periodic 通报 (coverage
//! report per subordinate, with each one's bureau obligations for the year).
//! Each is plain data here; `cli` and the dashboard render it, and
//! [`write_xlsx`] / [`write_csv`] export any table.

use std::io::Write;
use std::path::Path;

use serde::Serialize;

use crate::coverage::{NodeCoverage, RuleCount, entry_status, format_timestamp};
use crate::model::{Date, Mode, ObligationKind, Outcome, PersonId, Rank};
use crate::obligations::{ObligationsReport, YearObligations};
use crate::orgs::{OrgDirectory, OrgId};
use crate::policy::Policy;
use crate::render::{Column, Lang, col, num};
use crate::rules::{self, HoursStatus, RotationStatus, TrainingFact};
use crate::view::View;
use lunxun_core::trend::previous_quarter;

// ---------------------------------------------------------------------------
// One person
// ---------------------------------------------------------------------------

/// A roster entry of the person, with its statuses.
#[derive(Debug, Clone, Serialize)]
pub struct PersonEntry {
    pub org: String,
    pub org_name: String,
    pub rank: Rank,
    pub since: Date,
    pub until: Option<Date>,
    pub active: bool,
    pub employer: String,
    pub position: String,
    pub group: String,
    pub last_trained: Option<Date>,
    pub rotation: Option<RotationStatus>,
    pub hours: Option<HoursStatus>,
}

/// A training of the person.
#[derive(Debug, Clone, Serialize)]
pub struct PersonTraining {
    pub organizer: String,
    pub organizer_name: String,
    pub class_id: String,
    pub title: Option<String>,
    pub mode: Option<Mode>,
    pub off_job: Option<bool>,
    pub start: Option<Date>,
    pub end: Option<Date>,
    pub days: Option<u32>,
    pub hours: crate::model::Hours,
    pub result: Outcome,
}

/// Everything a node can see of one person.
#[derive(Debug, Clone, Serialize)]
pub struct PersonReport {
    pub person_id: String,
    pub name: Option<String>,
    pub gender: &'static str,
    /// Only with the full ID: the masked digits of an ID are its birth date.
    pub birth_date: Option<Date>,
    pub as_of: Date,
    pub entries: Vec<PersonEntry>,
    pub trainings: Vec<PersonTraining>,
}

/// The person's roster entries (with statuses on `as_of`) and trainings, as
/// this node holds them; None when it holds nothing of them.
pub fn person(
    view: &View,
    orgs: &OrgDirectory,
    policy: &Policy,
    id: PersonId,
    as_of: Date,
    show_id: bool,
) -> Option<PersonReport> {
    let facts = view.facts(id);
    let entries: Vec<PersonEntry> = view
        .roster_entries_of(id)
        .into_iter()
        .map(|(org, e)| {
            let active = e.active_on(as_of);
            let s = active.then(|| entry_status(orgs, policy, org, e, as_of, &facts));
            PersonEntry {
                org: orgs.code(org).to_owned(),
                org_name: orgs.org(org).name.clone(),
                rank: e.rank,
                since: e.since,
                until: e.until,
                active,
                employer: e.employer.clone(),
                position: e.position.clone(),
                group: e.group.clone(),
                last_trained: s.as_ref().and_then(|s| s.last_trained),
                rotation: s.as_ref().map(|s| s.rotation),
                hours: s.map(|s| s.hours),
            }
        })
        .collect();
    let mut trainings: Vec<PersonTraining> = view
        .trainings_of(id)
        .into_iter()
        .map(|(org, class, class_id, hours, result)| PersonTraining {
            organizer: orgs.code(org).to_owned(),
            organizer_name: orgs.org(org).name.clone(),
            class_id: class_id.to_string(),
            title: class.map(|c| c.title.clone()),
            mode: class.map(|c| c.mode),
            off_job: class.map(|c| c.off_job),
            start: class.map(|c| c.start),
            end: class.map(|c| c.end),
            days: class.map(|c| c.credited_days()),
            hours,
            result,
        })
        .collect();
    if entries.is_empty() && trainings.is_empty() {
        return None;
    }
    trainings.sort_by(|a, b| b.end.cmp(&a.end).then_with(|| a.class_id.cmp(&b.class_id)));
    Some(PersonReport {
        person_id: if show_id { id.to_string() } else { id.masked() },
        name: view.name_of(id).map(str::to_owned),
        gender: id.gender().zh(),
        birth_date: show_id.then(|| id.birth_date()),
        as_of,
        entries,
        trainings,
    })
}

// ---------------------------------------------------------------------------
// Personnel lists (DOMAIN.md §4)
// ---------------------------------------------------------------------------

/// Which list a row belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ListKind {
    /// Off-job trainings: the annual assessment form (年度考核登记表).
    OffJob,
    /// Off-job trainings longer than 2 months: the appointment form (干部任免审批表).
    LongOffJob,
    /// A failed assessment: cannot be rated 优秀 this year.
    Failed,
    /// Unjustified absence (无正当理由不参加培训).
    Absent,
}

impl ListKind {
    pub const ALL: [ListKind; 4] = [
        ListKind::OffJob,
        ListKind::LongOffJob,
        ListKind::Failed,
        ListKind::Absent,
    ];

    pub fn zh(self) -> &'static str {
        match self {
            ListKind::OffJob => "脱产培训（年度考核登记表）",
            ListKind::LongOffJob => "脱产两个月以上（干部任免审批表）",
            ListKind::Failed => "考核不合格，不得评优",
            ListKind::Absent => "无故缺席",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ListKind::OffJob => "off-job",
            ListKind::LongOffJob => "long-off-job",
            ListKind::Failed => "failed",
            ListKind::Absent => "absent",
        }
    }
}

/// One row of a personnel list.
#[derive(Debug, Clone, Serialize)]
pub struct ListRow {
    pub list: ListKind,
    pub person_id: String,
    pub name: String,
    /// The roster org(s) the person is on, in this node's subtree.
    pub rosters: String,
    pub organizer: String,
    pub class_id: String,
    pub title: String,
    pub start: Date,
    pub end: Date,
    pub days: u32,
    pub hours: crate::model::Hours,
    pub result: Outcome,
}

/// The §4 lists for `year`, for everyone on a roster within `root`'s subtree.
pub fn personnel_lists(
    view: &View,
    orgs: &OrgDirectory,
    policy: &Policy,
    root: OrgId,
    year: i32,
    kinds: &[ListKind],
    show_ids: bool,
) -> Vec<ListRow> {
    let mut people: Vec<PersonId> = view
        .roster_orgs()
        .filter(|o| orgs.is_within(*o, root))
        .flat_map(|o| view.roster(o).map(|e| e.person))
        .collect();
    people.sort_unstable();
    people.dedup();
    let mut rows = Vec::new();
    for person in people {
        let details = view.trainings_of(person);
        let facts: Vec<TrainingFact> = view.facts(person);
        if facts.is_empty() {
            continue;
        }
        let c = rules::consequences(policy, year, &facts);
        let rosters: Vec<String> = view
            .rosters_of(person)
            .iter()
            .filter(|o| orgs.is_within(**o, root))
            .map(|o| orgs.code(*o).to_owned())
            .collect();
        // facts follow trainings_of's order, without classes not held.
        let with_class: Vec<_> = details.iter().filter(|d| d.1.is_some()).collect();
        for (kind, indices) in [
            (ListKind::OffJob, &c.off_job),
            (ListKind::LongOffJob, &c.long_off_job),
            (ListKind::Failed, &c.failed),
            (ListKind::Absent, &c.unjustified_absences),
        ] {
            if !kinds.contains(&kind) {
                continue;
            }
            for &i in indices {
                let (Some(fact), Some(detail)) = (facts.get(i), with_class.get(i)) else {
                    continue;
                };
                rows.push(ListRow {
                    list: kind,
                    person_id: if show_ids {
                        person.to_string()
                    } else {
                        person.masked()
                    },
                    name: view.name_of(person).unwrap_or_default().to_owned(),
                    rosters: rosters.join(" "),
                    organizer: orgs.org(fact.organizer).name.clone(),
                    class_id: detail.2.to_string(),
                    title: detail.1.map(|c| c.title.clone()).unwrap_or_default(),
                    start: fact.start,
                    end: fact.end,
                    days: fact.days,
                    hours: fact.hours,
                    result: fact.outcome,
                });
            }
        }
    }
    rows.sort_by(|a, b| {
        (a.list as u8, &a.rosters, &a.name, a.end).cmp(&(b.list as u8, &b.rosters, &b.name, b.end))
    });
    rows
}

pub const LIST_COLUMNS: [Column; 11] = [
    col("list", "名单"),
    col("person_id", "身份证号"),
    col("name", "姓名"),
    col("rosters", "所在名单"),
    col("organizer", "主办单位"),
    col("title", "培训班名称"),
    col("start", "开始日期"),
    col("end", "结束日期"),
    num("days", "天数"),
    num("hours", "学时"),
    col("result", "结果"),
];

/// The rows of [`LIST_COLUMNS`].
pub fn list_table(rows: &[ListRow], zh: bool) -> Vec<Vec<String>> {
    rows.iter()
        .map(|r| {
            vec![
                if zh { r.list.zh() } else { r.list.as_str() }.to_owned(),
                r.person_id.clone(),
                r.name.clone(),
                r.rosters.clone(),
                r.organizer.clone(),
                r.title.clone(),
                r.start.to_string(),
                r.end.to_string(),
                r.days.to_string(),
                r.hours.to_string(),
                if zh { r.result.zh() } else { r.result.as_str() }.to_owned(),
            ]
        })
        .collect()
}

// ---------------------------------------------------------------------------
// The 通报: coverage per subordinate, ranked
// ---------------------------------------------------------------------------

/// One subordinate in the report.
#[derive(Debug, Clone, Serialize)]
pub struct ReportRow {
    pub rank: usize,
    pub org: String,
    pub name: String,
    pub level: &'static str,
    /// Over the subordinate's whole subtree.
    pub roster: u64,
    pub covered: u64,
    pub overdue: u64,
    pub rotation_rate: Option<f64>,
    pub leading: RuleCount,
    pub general: RuleCount,
    pub online: RuleCount,
    /// Nodes of its subtree that report, and all of them.
    pub reporting_nodes: u64,
    pub expected_nodes: u64,
    /// When the subordinate's own data last arrived.
    pub freshness: Option<String>,
    /// The subordinate's own obligations (DOMAIN.md §5) in the report's year.
    pub obligations: YearObligations,
    /// Its subtree's rotation coverage on the comparison date.
    pub previous_rate: Option<f64>,
    /// `rotation_rate - previous_rate`, when both exist (a fraction: 0.05
    /// is five percentage points).
    pub change: Option<f64>,
}

/// The 通报 for `root` on `as_of`: every direct subordinate with its
/// subtree's figures, ranked by rotation coverage (silent ones last).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub org: String,
    pub name: String,
    pub as_of: String,
    /// The calendar year of `as_of`, whose obligations the rows show.
    pub year: i32,
    pub generated: String,
    /// The date the previous period's figures are from (`report
    /// --compare`; default one quarter earlier, [`previous_quarter`]).
    pub compare_as_of: String,
    pub total: ReportRow,
    pub rows: Vec<ReportRow>,
}

fn report_row(n: &NodeCoverage, obligations: &ObligationsReport) -> ReportRow {
    ReportRow {
        rank: 0,
        org: n.org.clone(),
        name: n.name.clone(),
        level: n.level,
        roster: n.subtree.rotation.roster,
        covered: n.subtree.rotation.covered,
        overdue: n.subtree.rotation.overdue,
        rotation_rate: n.subtree.rotation.rate,
        leading: n.subtree.hours.leading,
        general: n.subtree.hours.general,
        online: n.subtree.hours.online,
        reporting_nodes: n.subtree.nodes,
        expected_nodes: n.subtree.expected,
        freshness: n.freshness.clone(),
        obligations: obligations
            .node(&n.org)
            .map(|o| o.kinds)
            .unwrap_or_default(),
        previous_rate: None,
        change: None,
    }
}

/// Builds the report from a coverage report of `root` to depth 1 and the
/// obligations of the same nodes (their year is the report's).
pub fn tongbao(
    coverage: &crate::coverage::CoverageReport,
    obligations: &ObligationsReport,
) -> Option<Report> {
    let root = coverage.nodes.first()?;
    let mut rows: Vec<ReportRow> = coverage
        .nodes
        .iter()
        .filter(|n| n.depth == 1)
        .map(|n| report_row(n, obligations))
        .collect();
    rows.sort_by(|a, b| {
        let key = |r: &ReportRow| r.rotation_rate.map_or(f64::NEG_INFINITY, |x| x);
        key(b).total_cmp(&key(a)).then_with(|| a.org.cmp(&b.org))
    });
    for (i, r) in rows.iter_mut().enumerate() {
        r.rank = i + 1;
    }
    Some(Report {
        org: root.org.clone(),
        name: root.name.clone(),
        as_of: coverage.as_of.clone(),
        year: obligations.year,
        generated: format_timestamp(crate::node::now_ms()),
        compare_as_of: String::new(),
        total: report_row(root, obligations),
        rows,
    })
}

/// Adds the previous period to a report: each row's subtree rotation
/// coverage in `previous` (a coverage report of the same root to depth 1 on
/// an earlier date), and the change since.
pub fn compare(report: &mut Report, previous: &crate::coverage::CoverageReport) {
    report.compare_as_of = previous.as_of.clone();
    let rate_of = |org: &str| {
        previous
            .nodes
            .iter()
            .find(|n| n.org == org)
            .and_then(|n| n.subtree.rotation.rate)
    };
    for row in report.rows.iter_mut().chain([&mut report.total]) {
        row.previous_rate = rate_of(&row.org);
        row.change = row.rotation_rate.zip(row.previous_rate).map(|(a, b)| a - b);
    }
}

/// The 通报 of `node` for `root`'s direct subordinates on `as_of`, with the
/// obligations of `as_of`'s year, compared with one quarter earlier
/// ([`previous_quarter`]): what `report` and the dashboard export.
pub fn tongbao_of(node: &crate::node::Node, root: OrgId, as_of: Date) -> Option<Report> {
    tongbao_compared(node, root, as_of, previous_quarter(as_of))
}

/// [`tongbao_of`], compared with the figures on `previous`.
pub fn tongbao_compared(
    node: &crate::node::Node,
    root: OrgId,
    as_of: Date,
    previous: Date,
) -> Option<Report> {
    let coverage = node.coverage(root, Some(1), as_of);
    let earlier = node.coverage(root, Some(1), previous);
    let obligations = crate::obligations::obligations(
        &node.view(),
        &node.orgs(),
        root,
        Some(1),
        crate::model::year_of(as_of),
    );
    let mut report = tongbao(&coverage, &obligations)?;
    compare(&mut report, &earlier);
    Some(report)
}

/// The columns of the 通报. The obligations and the comparison come last:
/// programs read the earlier columns by position.
pub const REPORT_COLUMNS: [Column; 19] = [
    num("rank", "排名"),
    col("org", "机构代码"),
    col("name", "单位"),
    num("roster", "应训人数"),
    num("covered", "已轮训"),
    num("rotation_rate", "轮训覆盖率"),
    num("overdue", "逾期未训"),
    num("leading_ok", "县处级学时达标"),
    num("general_ok", "乡科级学时达标"),
    num("online_ok", "网络学时达标"),
    num("reporting", "报送节点"),
    num("expected", "应报节点"),
    col("freshness", "数据时间"),
    col("study", "专题研究"),
    col("trainee_meeting", "座谈交流"),
    col("annual_plan", "年度计划"),
    col("callup_report", "调训通报"),
    num("previous_rate", "上期覆盖率"),
    col("change", "变化"),
];

/// A change of rate in percentage points, signed (`+3.2`, `-0.5`, `0.0`).
pub fn points_cell(change: Option<f64>) -> String {
    change.map_or_else(|| "-".to_owned(), |c| format!("{:+.1}", c * 100.0))
}

/// An obligation met or not, as a CSV or spreadsheet cell.
pub fn met_cell(met: bool, lang: Lang) -> &'static str {
    match (lang, met) {
        (Lang::Zh, true) => "是",
        (Lang::Zh, false) => "否",
        (Lang::En, true) => "yes",
        (Lang::En, false) => "no",
    }
}

fn ratio(c: &RuleCount) -> String {
    format!("{}/{}", c.compliant, c.people)
}

/// The rows of [`REPORT_COLUMNS`] (the total last).
pub fn report_table(report: &Report) -> Vec<Vec<String>> {
    let row = |r: &ReportRow, rank: String| {
        let mut cells = vec![
            rank,
            r.org.clone(),
            r.name.clone(),
            r.roster.to_string(),
            r.covered.to_string(),
            crate::render::percent(r.rotation_rate),
            r.overdue.to_string(),
            ratio(&r.leading),
            ratio(&r.general),
            ratio(&r.online),
            r.reporting_nodes.to_string(),
            r.expected_nodes.to_string(),
            r.freshness.clone().unwrap_or_else(|| "未报送".into()),
        ];
        cells.extend(
            ObligationKind::ALL
                .iter()
                .map(|k| met_cell(r.obligations.get(*k).met, Lang::Zh).to_owned()),
        );
        cells.push(crate::render::percent(r.previous_rate));
        cells.push(points_cell(r.change));
        cells
    };
    let mut rows: Vec<Vec<String>> = report
        .rows
        .iter()
        .map(|r| row(r, r.rank.to_string()))
        .collect();
    rows.push(row(&report.total, "合计".into()));
    rows
}

// ---------------------------------------------------------------------------
// Export
// ---------------------------------------------------------------------------

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{path}: {reason}")]
    Write { path: String, reason: String },
}

/// A table as CSV bytes: UTF-8 with BOM (so Excel on Chinese Windows reads
/// it), an optional title line, a header row in `lang`, the rows.
pub fn csv_bytes(
    title: Option<&str>,
    columns: &[Column],
    rows: &[Vec<String>],
    lang: Lang,
) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    out.write_all("\u{feff}".as_bytes())?;
    if let Some(t) = title {
        writeln!(out, "{t}")?;
    }
    crate::render::csv(&mut out, columns, rows, lang)?;
    Ok(out)
}

/// Writes a table as CSV (UTF-8 with BOM, so Excel on Chinese Windows reads it).
pub fn write_csv(
    path: &Path,
    title: Option<&str>,
    columns: &[Column],
    rows: &[Vec<String>],
    lang: Lang,
) -> Result<(), ExportError> {
    let err = |e: std::io::Error| ExportError::Write {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    let bytes = csv_bytes(title, columns, rows, lang).map_err(err)?;
    std::fs::write(path, bytes).map_err(err)
}

/// A table as an XLSX workbook: a title row, bilingual headers (Chinese over
/// English), numbers as numbers.
fn workbook(
    sheet: &str,
    title: &str,
    columns: &[Column],
    rows: &[Vec<String>],
) -> Result<rust_xlsxwriter::Workbook, rust_xlsxwriter::XlsxError> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut book = Workbook::new();
    let ws = book.add_worksheet();
    ws.set_name(sheet)?;
    let bold = Format::new().set_bold();
    let header = Format::new().set_bold().set_background_color("#DDEBF7");
    ws.write_string_with_format(0, 0, title, &bold)?;
    for (c, column) in columns.iter().enumerate() {
        ws.write_string_with_format(1, c as u16, column.zh, &header)?;
        ws.write_string_with_format(2, c as u16, column.en, &header)?;
        ws.set_column_width(c as u16, (column.zh.chars().count() * 2).max(10) as f64)?;
    }
    for (r, row) in rows.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            let (r, c) = (r as u32 + 3, c as u16);
            match (
                columns.get(c as usize).is_some_and(|k| k.numeric),
                cell.parse::<f64>(),
            ) {
                (true, Ok(n)) => ws.write_number(r, c, n)?,
                _ => ws.write_string(r, c, cell)?,
            };
        }
    }
    ws.set_freeze_panes(3, 0)?;
    Ok(book)
}

/// Writes a table as an XLSX workbook (see [`xlsx_bytes`]).
pub fn write_xlsx(
    path: &Path,
    sheet: &str,
    title: &str,
    columns: &[Column],
    rows: &[Vec<String>],
) -> Result<(), ExportError> {
    let err = |e: rust_xlsxwriter::XlsxError| ExportError::Write {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    workbook(sheet, title, columns, rows)
        .map_err(err)?
        .save(path)
        .map_err(err)
}

/// A table as the bytes of an XLSX workbook: a title row, bilingual headers
/// (Chinese over English), numbers as numbers.
pub fn xlsx_bytes(
    sheet: &str,
    title: &str,
    columns: &[Column],
    rows: &[Vec<String>],
) -> Result<Vec<u8>, ExportError> {
    let err = |e: rust_xlsxwriter::XlsxError| ExportError::Write {
        path: "(memory)".into(),
        reason: e.to_string(),
    };
    workbook(sheet, title, columns, rows)
        .map_err(err)?
        .save_to_buffer()
        .map_err(err)
}
