//! Dates, text and the error every constructor of the model returns: the
//! bounds shared by every record.

use chrono::NaiveDate;

/// Calendar dates. Only dates are stored; times of day never matter to the rules.
pub type Date = NaiveDate;

/// The earliest date any record may carry.
pub const DATE_MIN: Date = match NaiveDate::from_ymd_opt(1950, 1, 1) {
    Some(d) => d,
    None => unreachable!(),
};
/// The latest date any record may carry.
pub const DATE_MAX: Date = match NaiveDate::from_ymd_opt(2099, 12, 31) {
    Some(d) => d,
    None => unreachable!(),
};
/// Most hours one class may credit (a full year of 5.5 hours a day).
pub const CLASS_HOURS_MAX_TENTHS: u32 = 20_000;
/// Most days one class may last or credit.
pub const CLASS_DAYS_MAX: u32 = 366;
/// Longest a name may be, in characters.
pub const NAME_CHARS_MAX: usize = 64;
/// Longest a free-text field (title, employer, note...) may be, in characters.
pub const TEXT_CHARS_MAX: usize = 200;
/// Longest a class id may be, in characters.
pub const CLASS_ID_CHARS_MAX: usize = 64;

/// Why a value is not acceptable. The message is lowercase, names the
/// offending value, and never includes a full ID number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

pub(super) fn invalid(msg: impl Into<String>) -> Invalid {
    Invalid(msg.into())
}

/// Checks that a date lies within [`DATE_MIN`]..=[`DATE_MAX`].
pub fn check_date(field: &str, date: Date) -> Result<(), Invalid> {
    if date < DATE_MIN || date > DATE_MAX {
        return Err(invalid(format!(
            "{field} {date} is outside {DATE_MIN}..{DATE_MAX}"
        )));
    }
    Ok(())
}

/// Parses `YYYY-MM-DD` (also `YYYY/MM/DD` and `YYYY.MM.DD`, as Excel users type
/// them) and checks the range.
pub fn parse_date(field: &str, text: &str) -> Result<Date, Invalid> {
    let text = text.trim();
    let normalized: String = text
        .chars()
        .map(|c| if c == '/' || c == '.' { '-' } else { c })
        .collect();
    let date = NaiveDate::parse_from_str(&normalized, "%Y-%m-%d").map_err(|_| {
        let text = mask_ids(text);
        invalid(format!("{field} {text:?} is not a date (YYYY-MM-DD)"))
    })?;
    check_date(field, date)?;
    Ok(date)
}

/// 1970-01-01, the origin of the wire form of dates.
pub const EPOCH: Date = match NaiveDate::from_ymd_opt(1970, 1, 1) {
    Some(d) => d,
    None => unreachable!(),
};

/// Days since 1970-01-01, the wire form of a date.
pub fn date_to_days(date: Date) -> i32 {
    // Dates are bounded by DATE_MIN..=DATE_MAX, far inside i32.
    (date - EPOCH).num_days() as i32
}

/// The date `days` after 1970-01-01, if it is representable.
pub fn days_to_date(days: i32) -> Option<Date> {
    EPOCH.checked_add_signed(chrono::TimeDelta::try_days(i64::from(days))?)
}

/// Checks a free-text field: at most `max` characters, no control characters.
pub fn check_text(field: &str, text: &str, max: usize) -> Result<(), Invalid> {
    if text.chars().count() > max {
        return Err(invalid(format!("{field} is longer than {max} characters")));
    }
    if text.chars().any(char::is_control) {
        return Err(invalid(format!("{field} contains control characters")));
    }
    Ok(())
}

/// `text` with every resident ID number in it masked as `PersonId::masked`
/// does (`410102********1234`), for log lines and error messages: a run of
/// ten or more digits (an ID may end in `X`) whose 7th to 10th digits read as
/// a year 19xx or 20xx has its 7th to 14th characters starred. A cut-off ID
/// (`4101021980`) is masked too, and an ID glued to a word; other long
/// numbers (timestamps, counts) rarely match and are left alone.
pub fn mask_ids(text: &str) -> std::borrow::Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut out: Option<Vec<u8>> = None;
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i < bytes.len() && matches!(bytes[i], b'X' | b'x') {
            i += 1;
        }
        let run = &bytes[start..i];
        let year = run.get(6..8);
        if run.len() >= 10 && matches!(year, Some(b"19") | Some(b"20")) {
            let out = out.get_or_insert_with(|| bytes.to_vec());
            for b in &mut out[start + 6..start + run.len().min(14)] {
                *b = b'*';
            }
        }
    }
    match out {
        // Only ASCII digits were replaced by ASCII stars: still UTF-8.
        Some(out) => std::borrow::Cow::Owned(String::from_utf8_lossy(&out).into_owned()),
        None => std::borrow::Cow::Borrowed(text),
    }
}
