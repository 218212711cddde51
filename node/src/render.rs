//! Output for people and programs: aligned tables (CJK-aware widths) with
//! bilingual headers, CSV with English or Chinese headers, JSON.

use std::io::{self, Write};

use unicode_width::UnicodeWidthStr;

/// A column: its English and Chinese names, and whether it is numeric
/// (right-aligned in tables).
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub en: &'static str,
    pub zh: &'static str,
    pub numeric: bool,
}

pub const fn col(en: &'static str, zh: &'static str) -> Column {
    Column {
        en,
        zh,
        numeric: false,
    }
}

pub const fn num(en: &'static str, zh: &'static str) -> Column {
    Column {
        en,
        zh,
        numeric: true,
    }
}

/// Header language for CSV output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Lang {
    /// English column names (stable, for programs).
    #[default]
    En,
    /// Chinese column names (for Excel users).
    Zh,
}

/// Writes an aligned table: a two-line header (Chinese over English), a rule,
/// then the rows.
pub fn table(out: &mut dyn Write, columns: &[Column], rows: &[Vec<String>]) -> io::Result<()> {
    let mut widths: Vec<usize> = columns
        .iter()
        .map(|c| c.en.width().max(c.zh.width()))
        .collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.width());
        }
    }
    let line =
        |out: &mut dyn Write, cells: &mut dyn Iterator<Item = (&str, bool)>| -> io::Result<()> {
            let mut text = String::new();
            for (i, (cell, numeric)) in cells.enumerate() {
                if i > 0 {
                    text.push_str("  ");
                }
                let pad = widths[i].saturating_sub(cell.width());
                if numeric {
                    text.push_str(&" ".repeat(pad));
                    text.push_str(cell);
                } else {
                    text.push_str(cell);
                    text.push_str(&" ".repeat(pad));
                }
            }
            writeln!(out, "{}", text.trim_end())
        };
    line(out, &mut columns.iter().map(|c| (c.zh, c.numeric)))?;
    line(out, &mut columns.iter().map(|c| (c.en, c.numeric)))?;
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    writeln!(out, "{}", rule.join("  "))?;
    for row in rows {
        line(
            out,
            &mut row
                .iter()
                .zip(columns)
                .map(|(cell, c)| (cell.as_str(), c.numeric)),
        )?;
    }
    Ok(())
}

/// Writes CSV with a header row in `lang`.
pub fn csv(
    out: &mut dyn Write,
    columns: &[Column],
    rows: &[Vec<String>],
    lang: Lang,
) -> io::Result<()> {
    let mut w = ::csv::Writer::from_writer(out);
    let header: Vec<&str> = columns
        .iter()
        .map(|c| match lang {
            Lang::En => c.en,
            Lang::Zh => c.zh,
        })
        .collect();
    w.write_record(&header).map_err(io::Error::from)?;
    for row in rows {
        w.write_record(row.iter().map(|cell| csv_safe(cell).into_owned()))
            .map_err(io::Error::from)?;
    }
    w.flush()
}

/// A cell as it may stand in a CSV file that a spreadsheet opens: a text
/// that would start a formula (`=`, `+`, `-`, `@`, a tab or a carriage
/// return first) gets a leading `'`, as OWASP's CSV-injection advice says, so
/// Excel and WPS show it as text instead of evaluating it. Numbers (`-3`,
/// `+1.5`, `-12.5%`) and the `-` that stands for "no value" stay as they are.
pub fn csv_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    let starts_formula = cell
        .chars()
        .next()
        .is_some_and(|c| matches!(c, '=' | '+' | '-' | '@' | '\t' | '\r'));
    let number = cell == "-"
        || cell
            .trim_end_matches('%')
            .parse::<f64>()
            .is_ok_and(f64::is_finite);
    if starts_formula && !number {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

/// Writes one JSON document and a newline.
pub fn json<T: serde::Serialize>(out: &mut dyn Write, value: &T) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value).map_err(io::Error::from)?;
    writeln!(out)
}

/// A rate as a percentage with one decimal, or `-` when undefined.
pub fn percent(rate: Option<f64>) -> String {
    rate.map_or_else(|| "-".to_owned(), |r| format!("{:.1}%", r * 100.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_never_start_a_formula() {
        for (cell, safe) in [
            (
                "=HYPERLINK(\"http://x\",\"点击\")",
                "'=HYPERLINK(\"http://x\",\"点击\")",
            ),
            ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
            ("+86 10 1234", "'+86 10 1234"),
            ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
            ("\t=1+1", "'\t=1+1"),
            ("\r=1+1", "'\r=1+1"),
            // Numbers and the no-value dash are kept.
            ("-3", "-3"),
            ("+1.5", "+1.5"),
            ("-12.5%", "-12.5%"),
            ("-", "-"),
            ("郑州市", "郑州市"),
            ("a=b", "a=b"),
            ("", ""),
        ] {
            assert_eq!(csv_safe(cell), safe, "{cell:?}");
        }
        let mut out = Vec::new();
        let columns = [Column {
            en: "name",
            zh: "姓名",
            numeric: false,
        }];
        csv(&mut out, &columns, &[vec!["=1+1".into()]], Lang::En).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "name\n'=1+1\n");
    }

    #[test]
    fn cjk_columns_align() {
        let mut out = Vec::new();
        let cols = [col("name", "名称"), num("count", "数量")];
        table(
            &mut out,
            &cols,
            &[
                vec!["河南省".into(), "12".into()],
                vec!["x".into(), "3".into()],
            ],
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        // Column widths: 6 (河南省) and 5 (count); numbers align right.
        assert_eq!(lines[0], "名称     数量");
        assert_eq!(lines[1], "name    count");
        assert_eq!(lines[2], "------  -----");
        assert_eq!(lines[3], "河南省     12");
        assert_eq!(lines[4], "x           3");
    }
}
