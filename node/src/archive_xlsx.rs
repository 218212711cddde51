//! The personal training archive (培训档案, [`crate::archive`]) as the XLSX
//! sheet a personnel office files: a header block (name, full ID, gender,
//! birth date, as-of date, the preparing bureau), then one block per year —
//! rosters with their year-end statuses, trainings, the year's totals and
//! its DOMAIN.md §4 consequences — each table under Chinese headers with the
//! English below. `person --format xlsx` writes it; the dashboard serves the
//! same bytes.
//!
//! The full ID number is in the file (it is the person's own file) and
//! nowhere else: not in the errors or the messages about it.

use std::path::Path;

use rust_xlsxwriter::{Format, Workbook, Worksheet, XlsxError};

use crate::archive::{ArchiveYear, PersonArchive};
use crate::render::{Column, col, num};
use crate::reports::ExportError;

/// The worksheet's name.
pub const SHEET: &str = "培训档案";

const ROSTER_COLUMNS: [Column; 13] = [
    col("roster", "名单单位"),
    col("org", "机构代码"),
    col("rank", "职级"),
    col("employer", "工作单位"),
    col("position", "职务"),
    col("since", "列入日期"),
    col("until", "移出日期"),
    col("last_trained", "最近轮训"),
    col("rotation", "轮训状态"),
    num("centralized_hours", "集中培训学时"),
    num("centralized_days", "集中培训天数"),
    num("online_hours", "网络学时"),
    col("hours_met", "学时达标"),
];

const TRAINING_COLUMNS: [Column; 10] = [
    col("organizer", "主办单位"),
    col("class_id", "培训班编号"),
    col("title", "培训班名称"),
    col("start", "开始日期"),
    col("end", "结束日期"),
    num("days", "天数"),
    num("hours", "学时"),
    col("result", "结果"),
    col("off_job", "脱产"),
    col("mode", "培训方式"),
];

const TOTAL_COLUMNS: [Column; 6] = [
    num("trainings", "培训次数"),
    num("attended", "参训次数"),
    num("centralized_hours", "集中培训学时"),
    num("centralized_days", "集中培训天数"),
    num("online_hours", "网络学时"),
    num("off_job_days", "脱产天数"),
];

const CONSEQUENCE_COLUMNS: [Column; 5] = [
    col("consequence", "人事结果"),
    col("meaning", "说明"),
    col("class_id", "培训班编号"),
    col("title", "培训班名称"),
    col("end", "结束日期"),
];

const UNDATED_COLUMNS: [Column; 4] = [
    col("organizer", "主办单位"),
    col("class_id", "培训班编号"),
    num("hours", "学时"),
    col("result", "结果"),
];

/// Where the next row goes, and the formats every block shares.
struct Sheet<'a> {
    ws: &'a mut Worksheet,
    row: u32,
    bold: Format,
    header: Format,
    year: Format,
}

impl Sheet<'_> {
    fn line(&mut self, cells: &[&str], format: Option<&Format>) -> Result<(), XlsxError> {
        for (c, text) in cells.iter().enumerate() {
            match format {
                Some(f) => self
                    .ws
                    .write_string_with_format(self.row, c as u16, *text, f)?,
                None => self.ws.write_string(self.row, c as u16, *text)?,
            };
        }
        self.row += 1;
        Ok(())
    }

    /// A section title, the Chinese and English header rows, the rows (or
    /// 无 none), numbers as numbers.
    fn table(
        &mut self,
        title: &str,
        columns: &[Column],
        rows: &[Vec<String>],
    ) -> Result<(), XlsxError> {
        let bold = self.bold.clone();
        self.line(&[title], Some(&bold))?;
        let header = self.header.clone();
        let zh: Vec<&str> = columns.iter().map(|c| c.zh).collect();
        let en: Vec<&str> = columns.iter().map(|c| c.en).collect();
        self.line(&zh, Some(&header))?;
        self.line(&en, Some(&header))?;
        if rows.is_empty() {
            self.line(&["无 none"], None)?;
        }
        for row in rows {
            for (c, cell) in row.iter().enumerate() {
                let numeric = columns.get(c).is_some_and(|k| k.numeric);
                match (numeric, cell.parse::<f64>()) {
                    (true, Ok(n)) => self.ws.write_number(self.row, c as u16, n)?,
                    _ => self.ws.write_string(self.row, c as u16, cell)?,
                };
            }
            self.row += 1;
        }
        Ok(())
    }
}

fn date(d: Option<crate::model::Date>) -> String {
    d.map(|d| d.to_string()).unwrap_or_default()
}

fn year_block(s: &mut Sheet<'_>, y: &ArchiveYear) -> Result<(), XlsxError> {
    let year = s.year.clone();
    s.line(
        &[
            &format!("{}年 year {}", y.year, y.year),
            &format!("状态日期 statuses on {}", y.status_date),
        ],
        Some(&year),
    )?;
    let rosters: Vec<Vec<String>> = y
        .rosters
        .iter()
        .map(|e| {
            let central = e.hours.and_then(|h| h.centralized);
            let online = e.hours.and_then(|h| h.online);
            let met = match (e.active, central, online) {
                (false, _, _) => "-".to_owned(),
                (true, None, None) => "不适用 n/a".to_owned(),
                (true, c, o) => {
                    if c.is_none_or(|t| t.met) && o.is_none_or(|t| t.met) {
                        "达标 met".to_owned()
                    } else {
                        "未达标 not met".to_owned()
                    }
                }
            };
            vec![
                e.org_name.clone(),
                e.org.clone(),
                e.rank.zh().to_owned(),
                e.employer.clone(),
                e.position.clone(),
                e.since.to_string(),
                date(e.until),
                date(e.last_trained),
                match e.rotation {
                    Some(r) => format!("{} {}", r.zh(), r.as_str()),
                    None => "不在册 inactive".to_owned(),
                },
                central.map(|t| t.hours.to_string()).unwrap_or_default(),
                central.map(|t| t.days.to_string()).unwrap_or_default(),
                online.map(|t| t.hours.to_string()).unwrap_or_default(),
                met,
            ]
        })
        .collect();
    s.table("名单 Rosters", &ROSTER_COLUMNS, &rosters)?;
    let trainings: Vec<Vec<String>> = y
        .trainings
        .iter()
        .map(|t| {
            vec![
                t.organizer_name.clone(),
                t.class_id.clone(),
                t.title.clone(),
                t.start.to_string(),
                t.end.to_string(),
                t.days.to_string(),
                t.hours.to_string(),
                t.result.zh().to_owned(),
                if t.off_job { "是" } else { "否" }.to_owned(),
                t.mode.zh().to_owned(),
            ]
        })
        .collect();
    s.table("培训 Trainings", &TRAINING_COLUMNS, &trainings)?;
    let t = &y.totals;
    s.table(
        "年度合计 Year totals",
        &TOTAL_COLUMNS,
        &[vec![
            t.trainings.to_string(),
            t.attended.to_string(),
            t.centralized_hours.to_string(),
            t.centralized_days.to_string(),
            t.online_hours.to_string(),
            t.off_job_days.to_string(),
        ]],
    )?;
    let consequences: Vec<Vec<String>> = y
        .consequences
        .iter()
        .filter_map(|(c, i)| {
            let t = y.trainings.get(*i)?;
            Some(vec![
                c.zh().to_owned(),
                c.as_str().to_owned(),
                t.class_id.clone(),
                t.title.clone(),
                t.end.to_string(),
            ])
        })
        .collect();
    s.table(
        "人事结果 Consequences (DOMAIN §4)",
        &CONSEQUENCE_COLUMNS,
        &consequences,
    )?;
    s.row += 1;
    Ok(())
}

/// The archive as a workbook; `prepared_by` names the bureau that made it.
fn workbook(a: &PersonArchive, prepared_by: &str) -> Result<Workbook, XlsxError> {
    let mut book = Workbook::new();
    let ws = book.add_worksheet();
    ws.set_name(SHEET)?;
    for (c, width) in [16.0, 14.0, 28.0, 24.0, 14.0, 12.0, 12.0, 12.0, 18.0, 12.0]
        .into_iter()
        .enumerate()
    {
        ws.set_column_width(c as u16, width)?;
    }
    let mut s = Sheet {
        ws,
        row: 0,
        bold: Format::new().set_bold(),
        header: Format::new().set_bold().set_background_color("#DDEBF7"),
        year: Format::new().set_bold().set_background_color("#FCE4D6"),
    };
    let name = a.name.as_deref().unwrap_or("");
    let bold = s.bold.clone();
    s.line(
        &[&format!(
            "{name} 干部教育培训档案 personal training archive"
        )],
        Some(&bold),
    )?;
    let person = a.person;
    for (label, value) in [
        ("姓名 Name", name.to_owned()),
        ("身份证号 ID number", person.to_string()),
        ("性别 Gender", person.gender().zh().to_owned()),
        ("出生日期 Birth date", person.birth_date().to_string()),
        ("统计日期 As of", a.as_of.to_string()),
        ("制表单位 Prepared by", prepared_by.to_owned()),
    ] {
        s.ws.write_string_with_format(s.row, 0, label, &bold)?;
        s.ws.write_string(s.row, 1, value)?;
        s.row += 1;
    }
    if a.later > 0 {
        s.ws.write_string_with_format(s.row, 0, "说明 Note", &bold)?;
        s.ws.write_string(
            s.row,
            1,
            format!(
                "另有 {n} 项培训在统计日期后结束，未列入 {n} more trainings end after the as-of date and are not listed",
                n = a.later
            ),
        )?;
        s.row += 1;
    }
    s.row += 1;
    for y in &a.years {
        year_block(&mut s, y)?;
    }
    if !a.undated.is_empty() {
        let rows: Vec<Vec<String>> = a
            .undated
            .iter()
            .map(|t| {
                vec![
                    t.organizer_name.clone(),
                    t.class_id.clone(),
                    t.hours.to_string(),
                    t.result.zh().to_owned(),
                ]
            })
            .collect();
        s.table(
            "年份不明（未收到培训班记录）Undated: the class record is not held",
            &UNDATED_COLUMNS,
            &rows,
        )?;
    }
    Ok(book)
}

/// The archive as the bytes of an XLSX workbook.
pub fn xlsx_bytes(a: &PersonArchive, prepared_by: &str) -> Result<Vec<u8>, ExportError> {
    workbook(a, prepared_by)
        .and_then(|mut b| b.save_to_buffer())
        .map_err(|e| ExportError::Write {
            path: "(memory)".into(),
            reason: e.to_string(),
        })
}

/// Writes the archive to `path` (replacing a file there, as every export does).
pub fn write_xlsx(path: &Path, a: &PersonArchive, prepared_by: &str) -> Result<(), ExportError> {
    let bytes = xlsx_bytes(a, prepared_by).map_err(|e| match e {
        ExportError::Write { reason, .. } => ExportError::Write {
            path: path.display().to_string(),
            reason,
        },
    })?;
    std::fs::write(path, bytes).map_err(|e| ExportError::Write {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}
