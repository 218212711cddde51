//! One cell to one typed value, or a reason the user can act on.
//!
//! CSV cells are always text; workbook cells may also be numbers, booleans or
//! dates, and each column accepts the forms a person filling it in Excel
//! would produce. Reasons are lowercase, name the value (cut short when long)
//! and never include a full ID number.

use std::borrow::Cow;
use std::str::FromStr;

use calamine::{CellErrorType, Data};
use chrono::NaiveDate;

use crate::model::{
    CLASS_DAYS_MAX, Date, Hours, Invalid, PersonId, check_date, check_text, parse_date,
};

/// A cell, borrowed from the file's text or the worksheet.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Cell<'a> {
    /// Blank, or only whitespace.
    Empty,
    /// Text, trimmed.
    Text(&'a str),
    Number(f64),
    Bool(bool),
    /// A date-formatted cell; `None` when it is not a real day (Excel's
    /// 1900-02-29).
    Date(Option<Date>),
    /// A time-duration cell (`[h]:mm`), which no column takes.
    Duration,
    /// An Excel error value such as `#N/A`.
    Error(&'a CellErrorType),
    /// Something that cannot be a value at all.
    Invalid(&'static str),
}

/// Longest cell quoted back in a message; longer values are only described.
const QUOTE_CHARS_MAX: usize = 40;
/// Longest text tried as a date, number or choice: anything longer is wrong,
/// and parsing it would only cost time.
const VALUE_BYTES_MAX: usize = 120;

impl<'a> Cell<'a> {
    pub fn from_text(text: &'a str) -> Cell<'a> {
        let text = text.trim();
        if text.is_empty() {
            Cell::Empty
        } else {
            Cell::Text(text)
        }
    }

    pub fn from_data(data: &'a Data) -> Cell<'a> {
        match data {
            Data::Empty => Cell::Empty,
            Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => Cell::from_text(s),
            Data::Float(f) => Cell::Number(*f),
            // Only ID-sized integers lose precision as f64, and those are
            // refused as numbers anyway.
            Data::Int(i) => Cell::Number(*i as f64),
            Data::Bool(b) => Cell::Bool(*b),
            Data::DateTime(dt) if dt.is_duration() => Cell::Duration,
            Data::DateTime(dt) => {
                let (y, m, d, ..) = dt.to_ymd_hms_milli();
                Cell::Date(NaiveDate::from_ymd_opt(
                    i32::from(y),
                    u32::from(m),
                    u32::from(d),
                ))
            }
            Data::Error(e) => Cell::Error(e),
        }
    }

    pub fn is_empty(&self) -> bool {
        matches!(self, Cell::Empty)
    }

    /// The cell as someone looking at the spreadsheet reads it.
    pub fn display(&self) -> Cow<'a, str> {
        match *self {
            Cell::Empty => Cow::Borrowed(""),
            Cell::Text(t) => Cow::Borrowed(t),
            Cell::Number(n) => Cow::Owned(number_text(n)),
            Cell::Bool(true) => Cow::Borrowed("TRUE"),
            Cell::Bool(false) => Cow::Borrowed("FALSE"),
            Cell::Date(Some(d)) => Cow::Owned(d.to_string()),
            Cell::Date(None) => Cow::Borrowed("1900-02-29"),
            Cell::Duration => Cow::Borrowed("(a time duration)"),
            Cell::Error(e) => Cow::Owned(e.to_string()),
            Cell::Invalid(why) => Cow::Borrowed(why),
        }
    }
}

/// `12` rather than `12.0` for whole numbers, as Excel shows them.
fn number_text(n: f64) -> String {
    if n.is_finite() && n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// `"value"`, or a description when the value is too long to repeat; an ID
/// number in it is masked (an error message must never carry one).
fn quote(text: &str) -> String {
    let text = crate::model::mask_ids(text);
    if text.chars().count() > QUOTE_CHARS_MAX {
        let head: String = text.chars().take(QUOTE_CHARS_MAX).collect();
        format!("{head:?}...")
    } else {
        format!("{text:?}")
    }
}

fn reason(e: Invalid) -> String {
    e.0
}

/// The reason for a cell that can only be an error value or unusable type.
fn not_a_value(field: &str, cell: &Cell<'_>) -> Option<String> {
    match cell {
        Cell::Error(e) => Some(format!("{field} cell holds the error value {e}")),
        Cell::Duration => Some(format!("{field} cell holds a time duration")),
        Cell::Invalid(why) => Some(format!("{field}: {why}")),
        _ => None,
    }
}

/// Text of a cell that must not be empty.
pub(crate) const EMPTY_REQUIRED: &str = "required cell is empty";

/// A cell's text for a text column; numbers read as Excel shows them.
pub(crate) fn text<'a>(field: &str, cell: Cell<'a>) -> Result<Cow<'a, str>, String> {
    if let Some(why) = not_a_value(field, &cell) {
        return Err(why);
    }
    Ok(cell.display())
}

/// A free-text value of at most `max` characters without control characters.
pub(crate) fn free_text(field: &str, cell: Cell<'_>, max: usize) -> Result<String, String> {
    let text = text(field, cell)?;
    check_text(field, &text, max).map_err(reason)?;
    Ok(text.into_owned())
}

/// Short text for a value column (date, number, choice), bounded so an
/// overlong cell is refused before any parser sees it.
fn value_text<'a>(field: &str, cell: Cell<'a>) -> Result<Cow<'a, str>, String> {
    let text = text(field, cell)?;
    if text.len() > VALUE_BYTES_MAX {
        return Err(format!("{field} {} is not a valid value", quote(&text)));
    }
    Ok(text)
}

/// A GB 11643 ID number. A number cell has already lost its last digits
/// (Excel keeps 15 significant digits), so it is refused with the fix.
pub(crate) fn person_id(cell: Cell<'_>) -> Result<PersonId, String> {
    if let Cell::Number(_) = cell {
        return Err(
            "ID number is stored as a number, so Excel has dropped its last digits; \
                    format the column as text and enter the numbers again"
                .to_owned(),
        );
    }
    let text = value_text("ID number", cell)?;
    text.parse::<PersonId>().map_err(reason)
}

/// A date from a date cell or from text (`2024-03-01`, `2024/3/1`,
/// `2024.3.1`, `2024年3月1日`, optionally followed by a midnight time).
pub(crate) fn date(field: &str, cell: Cell<'_>) -> Result<Date, String> {
    match cell {
        Cell::Date(Some(d)) => return check_date(field, d).map(|()| d).map_err(reason),
        Cell::Date(None) => return Err(format!("{field} 1900-02-29 is not a real day")),
        Cell::Number(n) => {
            return Err(format!(
                "{field} {} is a number, not a date; format the column as a date or type YYYY-MM-DD",
                number_text(n)
            ));
        }
        _ => {}
    }
    let text = value_text(field, cell)?;
    if let Some(d) = iso_date(text.as_bytes()) {
        return check_date(field, d).map(|()| d).map_err(reason);
    }
    let mut normalized: String = text
        .chars()
        .map(|c| if c == '年' || c == '月' { '-' } else { c })
        .filter(|c| *c != '日')
        .collect();
    // A time of day after the date (exports from other systems add one).
    if let Some(cut) = normalized.find([' ', 'T'])
        && normalized[cut + 1..]
            .trim()
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b':' || b == b'.')
    {
        normalized.truncate(cut);
    }
    parse_date(field, &normalized).map_err(|e| {
        // Quote what the user typed, not the normalized form.
        e.0.replace(
            &format!("{:?}", normalized.trim()),
            &format!("{:?}", &*text),
        )
    })
}

/// The common `YYYY-MM-DD` without allocating; anything else takes the slow
/// path.
fn iso_date(b: &[u8]) -> Option<Date> {
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b.get(r)?.iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let year = i32::try_from(num(0..4)?).ok()?;
    NaiveDate::from_ymd_opt(year, num(5..7)?, num(8..10)?)
}

/// Hours: a number cell, or text with at most one decimal.
pub(crate) fn hours(field: &str, cell: Cell<'_>) -> Result<Hours, String> {
    match cell {
        Cell::Number(n) => Hours::from_f64(field, n).map_err(reason),
        _ => {
            let text = value_text(field, cell)?;
            Hours::parse(field, &text).map_err(reason)
        }
    }
}

/// Stated days of a class: a whole number in 1..=[`CLASS_DAYS_MAX`].
pub(crate) fn days(field: &str, cell: Cell<'_>) -> Result<u32, String> {
    let value: i64 = match cell {
        Cell::Number(n) => {
            if !n.is_finite() || n.fract() != 0.0 {
                return Err(format!("{field} {} is not a whole number", number_text(n)));
            }
            // Saturating: only the range check below cares about huge values.
            n.clamp(-1e12, 1e12) as i64
        }
        _ => {
            let text = value_text(field, cell)?;
            let whole = text.strip_suffix(".0").unwrap_or(&text);
            match whole.parse::<i64>() {
                Ok(n) => n,
                Err(e) if *e.kind() == std::num::IntErrorKind::PosOverflow => i64::MAX,
                Err(e) if *e.kind() == std::num::IntErrorKind::NegOverflow => i64::MIN,
                Err(_) => return Err(format!("{field} {} is not a whole number", quote(&text))),
            }
        }
    };
    if !(1..=i64::from(CLASS_DAYS_MAX)).contains(&value) {
        return Err(format!(
            "{field} {value} is not within 1..={CLASS_DAYS_MAX}"
        ));
    }
    Ok(value as u32)
}

/// Yes or no: `yes/no`, `是/否`, `true/false`, `y/n`, `1/0`, or a boolean cell.
pub(crate) fn yes_no(field: &str, cell: Cell<'_>) -> Result<bool, String> {
    match cell {
        Cell::Bool(b) => return Ok(b),
        Cell::Number(1.0) => return Ok(true),
        Cell::Number(0.0) => return Ok(false),
        _ => {}
    }
    let text = value_text(field, cell)?;
    let lower = text.to_ascii_lowercase();
    match lower.as_str() {
        "yes" | "y" | "true" | "1" | "是" | "脱产" => Ok(true),
        "no" | "n" | "false" | "0" | "否" | "不脱产" => Ok(false),
        _ => Err(format!(
            "{field} {} is not one of yes, no (是, 否)",
            quote(&text)
        )),
    }
}

/// A value of an enumeration that reads English and Chinese.
pub(crate) fn choice<T: FromStr<Err = Invalid>>(field: &str, cell: Cell<'_>) -> Result<T, String> {
    let text = value_text(field, cell)?;
    text.parse::<T>().map_err(reason)
}
