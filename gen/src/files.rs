//! Writing a generated node's data as the files a bureau keeps: CSV (the
//! contract's columns, English or Chinese headers) and XLSX workbooks.

use std::io::Write;
use std::path::Path;

use chrono::Datelike;

use crate::NodeData;
use lunxun_core::model::{Class, ClassId, Date};

/// Writes `roster.csv` and `trainings.csv` for one node into `dir`, in the
/// external contract's format (Chinese headers when `chinese`).
pub fn write_csv(data: &NodeData, dir: &Path, chinese: bool) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut roster = std::io::BufWriter::new(std::fs::File::create(dir.join("roster.csv"))?);
    if chinese {
        writeln!(
            roster,
            "身份证号,姓名,职级,列入日期,移出日期,工作单位,职务,培训对象类别"
        )?;
    } else {
        writeln!(
            roster,
            "person_id,name,rank,since,until,employer,position,group"
        )?;
    }
    for r in &data.roster {
        writeln!(
            roster,
            "{},{},{},{},{},{},{},{}",
            r.person,
            r.name,
            if chinese {
                r.rank.zh()
            } else {
                r.rank.as_str()
            },
            r.since,
            r.until.map(|u| u.to_string()).unwrap_or_default(),
            r.employer,
            r.position,
            r.group
        )?;
    }
    roster.flush()?;
    let mut trainings = std::io::BufWriter::new(std::fs::File::create(dir.join("trainings.csv"))?);
    if chinese {
        writeln!(
            trainings,
            "培训班编号,培训班名称,类别,培训方式,脱产,开始日期,结束日期,学时,身份证号,姓名,结果"
        )?;
    } else {
        writeln!(
            trainings,
            "class_id,title,category,mode,off_job,start,end,hours,person_id,name,result"
        )?;
    }
    let classes: std::collections::HashMap<&ClassId, &Class> =
        data.classes.iter().map(|c| (&c.class_id, c)).collect();
    for a in &data.attendance {
        let Some(c) = classes.get(&a.class_id) else {
            continue;
        };
        writeln!(
            trainings,
            "{},{},{},{},{},{},{},{},{},{},{}",
            c.class_id,
            c.title,
            c.category,
            if chinese {
                c.mode.zh()
            } else {
                c.mode.as_str()
            },
            match (chinese, c.off_job) {
                (true, true) => "是",
                (true, false) => "否",
                (false, true) => "yes",
                (false, false) => "no",
            },
            c.start,
            c.end,
            a.hours,
            a.person,
            a.name,
            if chinese {
                a.outcome.zh()
            } else {
                a.outcome.as_str()
            }
        )?;
    }
    trainings.flush()
}

/// Writes `roster.xlsx` and `trainings.xlsx` for one node into `dir`: ID
/// numbers as text (a number cell would lose digits), dates as date cells,
/// hours as numbers — as a bureau's spreadsheet holds them.
pub fn write_xlsx(
    data: &NodeData,
    dir: &Path,
    chinese: bool,
) -> Result<(), rust_xlsxwriter::XlsxError> {
    use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
    std::fs::create_dir_all(dir)?;
    let date_format = Format::new().set_num_format("yyyy-mm-dd");
    let excel_date =
        |d: Date| ExcelDateTime::from_ymd(d.year() as u16, d.month() as u8, d.day() as u8);

    let mut book = Workbook::new();
    let ws = book.add_worksheet();
    let header: [&str; 8] = if chinese {
        [
            "身份证号",
            "姓名",
            "职级",
            "列入日期",
            "移出日期",
            "工作单位",
            "职务",
            "培训对象类别",
        ]
    } else {
        [
            "person_id",
            "name",
            "rank",
            "since",
            "until",
            "employer",
            "position",
            "group",
        ]
    };
    for (c, h) in header.iter().enumerate() {
        ws.write_string(0, c as u16, *h)?;
    }
    for (i, r) in data.roster.iter().enumerate() {
        let row = i as u32 + 1;
        ws.write_string(row, 0, r.person.to_string())?;
        ws.write_string(row, 1, &r.name)?;
        ws.write_string(
            row,
            2,
            if chinese {
                r.rank.zh()
            } else {
                r.rank.as_str()
            },
        )?;
        ws.write_datetime_with_format(row, 3, &excel_date(r.since)?, &date_format)?;
        if let Some(u) = r.until {
            ws.write_datetime_with_format(row, 4, &excel_date(u)?, &date_format)?;
        }
        ws.write_string(row, 5, &r.employer)?;
        ws.write_string(row, 6, &r.position)?;
        ws.write_string(row, 7, &r.group)?;
    }
    book.save(dir.join("roster.xlsx"))?;

    let mut book = Workbook::new();
    let ws = book.add_worksheet();
    let header: [&str; 11] = if chinese {
        [
            "培训班编号",
            "培训班名称",
            "类别",
            "培训方式",
            "脱产",
            "开始日期",
            "结束日期",
            "学时",
            "身份证号",
            "姓名",
            "结果",
        ]
    } else {
        [
            "class_id",
            "title",
            "category",
            "mode",
            "off_job",
            "start",
            "end",
            "hours",
            "person_id",
            "name",
            "result",
        ]
    };
    for (c, h) in header.iter().enumerate() {
        ws.write_string(0, c as u16, *h)?;
    }
    let classes: std::collections::HashMap<&ClassId, &Class> =
        data.classes.iter().map(|c| (&c.class_id, c)).collect();
    let mut row = 0u32;
    for a in &data.attendance {
        let Some(c) = classes.get(&a.class_id) else {
            continue;
        };
        row += 1;
        ws.write_string(row, 0, c.class_id.as_str())?;
        ws.write_string(row, 1, &c.title)?;
        ws.write_string(row, 2, &c.category)?;
        ws.write_string(
            row,
            3,
            if chinese {
                c.mode.zh()
            } else {
                c.mode.as_str()
            },
        )?;
        ws.write_string(
            row,
            4,
            match (chinese, c.off_job) {
                (true, true) => "是",
                (true, false) => "否",
                (false, true) => "yes",
                (false, false) => "no",
            },
        )?;
        ws.write_datetime_with_format(row, 5, &excel_date(c.start)?, &date_format)?;
        ws.write_datetime_with_format(row, 6, &excel_date(c.end)?, &date_format)?;
        ws.write_number(row, 7, a.hours.as_f64())?;
        ws.write_string(row, 8, a.person.to_string())?;
        ws.write_string(row, 9, &a.name)?;
        ws.write_string(
            row,
            10,
            if chinese {
                a.outcome.zh()
            } else {
                a.outcome.as_str()
            },
        )?;
    }
    book.save(dir.join("trainings.xlsx"))?;
    Ok(())
}
