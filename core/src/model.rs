//! The domain model: people, roster entries, classes, attendance and
//! obligation events, as plain Rust values.
//!
//! Nothing here knows about prost, sled or files. Every constructor that takes
//! outside input validates it, and [`Record::validate`] checks a whole record
//! against the same bounds whether it came from a spreadsheet or a child's
//! batch, so an absurd value is refused at every door.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

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

fn invalid(msg: impl Into<String>) -> Invalid {
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
    let date = NaiveDate::parse_from_str(&normalized, "%Y-%m-%d")
        .map_err(|_| invalid(format!("{field} {text:?} is not a date (YYYY-MM-DD)")))?;
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

// ---------------------------------------------------------------------------
// Person identity
// ---------------------------------------------------------------------------

/// A resident ID number (公民身份号码, GB 11643-1999): 17 digits and a check
/// character, the identity of a person across the whole tree.
///
/// Stored packed in a `u64` (the 17 digits, then the check value 0..=10), so
/// indexes over a million people stay small and `Copy`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PersonId(u64);

const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK_CHARS: [u8; 11] = *b"10X98765432";

impl PersonId {
    /// The check character GB 11643 prescribes for these 17 digits.
    pub fn check_char(digits: &[u8; 17]) -> char {
        let sum: u32 = digits
            .iter()
            .zip(ID_WEIGHTS)
            .map(|(d, w)| u32::from(d - b'0') * w)
            .sum();
        char::from(ID_CHECK_CHARS[(sum % 11) as usize])
    }

    /// `410102********1234`: enough to tell people apart in a list, not enough
    /// to identify them outside it.
    pub fn masked(&self) -> String {
        let full = self.to_string();
        format!("{}********{}", &full[..6], &full[14..])
    }

    /// The holder's date of birth, encoded in digits 7–14.
    pub fn birth_date(&self) -> Date {
        let s = self.to_string();
        // Validated at construction; the fallback is never taken.
        NaiveDate::parse_from_str(&s[6..14], "%Y%m%d").unwrap_or(EPOCH)
    }

    /// Gender from digit 17: odd is male, even is female.
    pub fn gender(&self) -> Gender {
        if (self.0 / 11) % 2 == 1 {
            Gender::Male
        } else {
            Gender::Female
        }
    }

    /// The packed form, for compact keys.
    pub fn to_u64(self) -> u64 {
        self.0
    }

    /// Rebuilds an id from [`PersonId::to_u64`], checking it like a string.
    pub fn from_u64(packed: u64) -> Option<PersonId> {
        let digits = packed / 11;
        let check = packed % 11;
        if digits >= 100_000_000_000_000_000 {
            return None;
        }
        let text = format!(
            "{digits:017}{}",
            if check == 10 {
                'X'
            } else {
                char::from(b'0' + check as u8)
            }
        );
        text.parse().ok()
    }
}

impl FromStr for PersonId {
    type Err = Invalid;

    fn from_str(text: &str) -> Result<Self, Invalid> {
        let text = text.trim();
        let bytes = text.as_bytes();
        if bytes.len() != 18 {
            return Err(invalid(format!(
                "ID number must have 18 characters, found {}",
                text.chars().count()
            )));
        }
        let mut digits = [0u8; 17];
        digits.copy_from_slice(&bytes[..17]);
        if let Some(pos) = digits.iter().position(|b| !b.is_ascii_digit()) {
            return Err(invalid(format!(
                "ID number has a non-digit at position {}",
                pos + 1
            )));
        }
        let last = bytes[17].to_ascii_uppercase();
        let check_value = match last {
            b'0'..=b'9' => u64::from(last - b'0'),
            b'X' => 10,
            _ => return Err(invalid("ID number must end in a digit or X")),
        };
        let expected = Self::check_char(&digits);
        if char::from(last) != expected {
            return Err(invalid(format!(
                "ID number check digit is {}, expected {expected} (GB 11643)",
                char::from(last)
            )));
        }
        let birth = std::str::from_utf8(&digits[6..14]).unwrap_or_default();
        if NaiveDate::parse_from_str(birth, "%Y%m%d").is_err() {
            return Err(invalid(format!(
                "ID number has no valid birth date (digits 7-14: {birth})"
            )));
        }
        let number = std::str::from_utf8(&digits)
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| invalid("ID number is not numeric"))?;
        Ok(PersonId(number * 11 + check_value))
    }
}

impl fmt::Display for PersonId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let check = self.0 % 11;
        write!(f, "{:017}", self.0 / 11)?;
        if check == 10 {
            f.write_str("X")
        } else {
            write!(f, "{check}")
        }
    }
}

impl fmt::Debug for PersonId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PersonId({})", self.masked())
    }
}

/// Derived from the ID number, never stored separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Gender {
    Male,
    Female,
}

impl Gender {
    pub fn zh(self) -> &'static str {
        match self {
            Gender::Male => "男",
            Gender::Female => "女",
        }
    }
}

// ---------------------------------------------------------------------------
// Enumerations with English and Chinese spellings
// ---------------------------------------------------------------------------

/// Accepts the English word (any case) or one of the Chinese spellings.
fn parse_choice<T: Copy>(
    field: &str,
    text: &str,
    choices: &[(T, &[&str])],
    expected: &str,
) -> Result<T, Invalid> {
    let t = text.trim();
    let lower = t.to_ascii_lowercase();
    for (value, spellings) in choices {
        if spellings.iter().any(|s| *s == lower || *s == t) {
            return Ok(*value);
        }
    }
    Err(invalid(format!("{field} {t:?} is not one of {expected}")))
}

/// A node's level in the hierarchy (DOMAIN.md section 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    National,
    Province,
    Prefecture,
    County,
}

impl Level {
    pub const ALL: [Level; 4] = [
        Level::National,
        Level::Province,
        Level::Prefecture,
        Level::County,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::National => "national",
            Level::Province => "province",
            Level::Prefecture => "prefecture",
            Level::County => "county",
        }
    }

    pub fn zh(self) -> &'static str {
        match self {
            Level::National => "国家级",
            Level::Province => "省级",
            Level::Prefecture => "地市级",
            Level::County => "县级",
        }
    }
}

impl FromStr for Level {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        parse_choice(
            "level",
            s,
            &[
                (Level::National, &["national", "国家级"]),
                (Level::Province, &["province", "省级"]),
                (Level::Prefecture, &["prefecture", "地市级"]),
                (Level::County, &["county", "县级"]),
            ],
            "national, province, prefecture, county",
        )
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Rank band, which decides the hour rule (DOMAIN.md section 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Rank {
    /// 县处级 and 四级调研员 and above.
    Leading,
    /// 乡科级 and 一级主任科员 and below.
    General,
    /// Village/community workers: rotation only, no hour rule.
    Grassroots,
}

impl Rank {
    pub const ALL: [Rank; 3] = [Rank::Leading, Rank::General, Rank::Grassroots];

    pub fn as_str(self) -> &'static str {
        match self {
            Rank::Leading => "leading",
            Rank::General => "general",
            Rank::Grassroots => "grassroots",
        }
    }

    pub fn zh(self) -> &'static str {
        match self {
            Rank::Leading => "县处级及以上",
            Rank::General => "乡科级及以下",
            Rank::Grassroots => "村（社区）",
        }
    }
}

impl FromStr for Rank {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        parse_choice(
            "rank",
            s,
            &[
                (Rank::Leading, &["leading", "县处级及以上", "县处级"]),
                (Rank::General, &["general", "乡科级及以下", "乡科级"]),
                (
                    Rank::Grassroots,
                    &["grassroots", "村（社区）", "村(社区)", "村社区"],
                ),
            ],
            "leading, general, grassroots (县处级及以上, 乡科级及以下, 村（社区）)",
        )
    }
}

impl fmt::Display for Rank {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a class is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// 集中培训: centralized, counts for rotation and centralized hours.
    Centralized,
    /// 网络自学: online self-study, counts for the online hour rule only.
    Online,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Centralized => "centralized",
            Mode::Online => "online",
        }
    }

    pub fn zh(self) -> &'static str {
        match self {
            Mode::Centralized => "集中培训",
            Mode::Online => "网络自学",
        }
    }
}

impl FromStr for Mode {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        parse_choice(
            "mode",
            s,
            &[
                (Mode::Centralized, &["centralized", "集中培训", "集中"]),
                (Mode::Online, &["online", "网络自学", "网络培训"]),
            ],
            "centralized, online (集中培训, 网络自学)",
        )
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A person's result in a class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// 结业.
    Completed,
    /// 未通过: trained, but cannot be rated 优秀 that year.
    Failed,
    /// 请假: absent with a reason; earns nothing.
    AbsentJustified,
    /// 无故缺席: absent without a reason; earns nothing and has consequences.
    AbsentUnjustified,
}

impl Outcome {
    /// Whether the person was trained: completed or failed (DOMAIN.md section 2).
    pub fn attended(self) -> bool {
        matches!(self, Outcome::Completed | Outcome::Failed)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::Failed => "failed",
            Outcome::AbsentJustified => "absent_justified",
            Outcome::AbsentUnjustified => "absent_unjustified",
        }
    }

    pub fn zh(self) -> &'static str {
        match self {
            Outcome::Completed => "结业",
            Outcome::Failed => "未通过",
            Outcome::AbsentJustified => "请假",
            Outcome::AbsentUnjustified => "无故缺席",
        }
    }
}

impl FromStr for Outcome {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        parse_choice(
            "result",
            s,
            &[
                (Outcome::Completed, &["completed", "结业", "合格"]),
                (Outcome::Failed, &["failed", "未通过", "不合格"]),
                (Outcome::AbsentJustified, &["absent_justified", "请假"]),
                (
                    Outcome::AbsentUnjustified,
                    &["absent_unjustified", "无故缺席"],
                ),
            ],
            "completed, failed, absent_justified, absent_unjustified (结业, 未通过, 请假, 无故缺席)",
        )
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A bureau-level obligation (DOMAIN.md section 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObligationKind {
    /// 专题研究.
    Study,
    /// 座谈交流.
    TraineeMeeting,
    /// 年度教育培训计划.
    AnnualPlan,
    /// 定期通报调训情况.
    CallupReport,
}

impl ObligationKind {
    pub const ALL: [ObligationKind; 4] = [
        ObligationKind::Study,
        ObligationKind::TraineeMeeting,
        ObligationKind::AnnualPlan,
        ObligationKind::CallupReport,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ObligationKind::Study => "study",
            ObligationKind::TraineeMeeting => "trainee_meeting",
            ObligationKind::AnnualPlan => "annual_plan",
            ObligationKind::CallupReport => "callup_report",
        }
    }

    pub fn zh(self) -> &'static str {
        match self {
            ObligationKind::Study => "专题研究",
            ObligationKind::TraineeMeeting => "座谈交流",
            ObligationKind::AnnualPlan => "年度教育培训计划",
            ObligationKind::CallupReport => "通报调训情况",
        }
    }
}

impl FromStr for ObligationKind {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        parse_choice(
            "obligation",
            s,
            &[
                (ObligationKind::Study, &["study", "专题研究"]),
                (
                    ObligationKind::TraineeMeeting,
                    &["trainee_meeting", "座谈交流"],
                ),
                (
                    ObligationKind::AnnualPlan,
                    &["annual_plan", "年度教育培训计划"],
                ),
                (
                    ObligationKind::CallupReport,
                    &["callup_report", "通报调训情况"],
                ),
            ],
            "study, trainee_meeting, annual_plan, callup_report",
        )
    }
}

impl fmt::Display for ObligationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// ---------------------------------------------------------------------------
// Quantities
// ---------------------------------------------------------------------------

/// Hours in tenths of an hour, so sums are exact and nothing hashed is a float.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hours(u32);

impl Hours {
    pub const ZERO: Hours = Hours(0);

    pub fn from_tenths(tenths: u32) -> Hours {
        Hours(tenths)
    }

    pub fn tenths(self) -> u32 {
        self.0
    }

    /// Whole hours, for thresholds written as whole numbers.
    pub fn from_whole(hours: u32) -> Hours {
        Hours(hours.saturating_mul(10))
    }

    pub fn as_f64(self) -> f64 {
        f64::from(self.0) / 10.0
    }

    /// Parses `12`, `12.5` or `12.0`; at most one decimal place, not negative,
    /// at most [`CLASS_HOURS_MAX_TENTHS`].
    pub fn parse(field: &str, text: &str) -> Result<Hours, Invalid> {
        let t = text.trim();
        let bad = || invalid(format!("{field} {t:?} is not a number of hours"));
        if t.starts_with('-') {
            return Err(invalid(format!("{field} {t} is negative")));
        }
        let (whole, frac) = match t.split_once('.') {
            Some((w, f)) => (w, f.trim_end_matches('0')),
            None => (t, ""),
        };
        if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        if !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        if frac.len() > 1 {
            return Err(invalid(format!(
                "{field} {t} has more than one decimal place"
            )));
        }
        let whole: u64 = whole.parse().map_err(|_| bad())?;
        let tenth: u64 = frac.parse().unwrap_or(0);
        let tenths = whole.saturating_mul(10).saturating_add(tenth);
        Self::checked(field, tenths)
    }

    /// From a spreadsheet number: must be a whole number of tenths (allowing
    /// for binary floating-point noise).
    pub fn from_f64(field: &str, value: f64) -> Result<Hours, Invalid> {
        if !value.is_finite() {
            return Err(invalid(format!("{field} is not a number")));
        }
        if value < 0.0 {
            return Err(invalid(format!("{field} {value} is negative")));
        }
        let tenths = (value * 10.0).round();
        if ((value * 10.0) - tenths).abs() > 1e-6 {
            return Err(invalid(format!(
                "{field} {value} has more than one decimal place"
            )));
        }
        Self::checked(field, tenths as u64)
    }

    fn checked(field: &str, tenths: u64) -> Result<Hours, Invalid> {
        if tenths > u64::from(CLASS_HOURS_MAX_TENTHS) {
            return Err(invalid(format!(
                "{field} {} exceeds the maximum of {} hours",
                Hours(tenths.min(u64::from(u32::MAX)) as u32),
                CLASS_HOURS_MAX_TENTHS / 10
            )));
        }
        Ok(Hours(tenths as u32))
    }
}

impl std::ops::Add for Hours {
    type Output = Hours;
    fn add(self, rhs: Hours) -> Hours {
        Hours(self.0.saturating_add(rhs.0))
    }
}

impl std::ops::AddAssign for Hours {
    fn add_assign(&mut self, rhs: Hours) {
        *self = *self + rhs;
    }
}

/// Reports and JSON show hours as a plain number: `12` or `12.5`, as
/// [`Hours`]'s `Display` writes them.
impl Serialize for Hours {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.is_multiple_of(10) {
            s.serialize_u32(self.0 / 10)
        } else {
            s.serialize_f64(self.as_f64())
        }
    }
}

impl fmt::Display for Hours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_multiple_of(10) {
            write!(f, "{}", self.0 / 10)
        } else {
            write!(f, "{}.{}", self.0 / 10, self.0 % 10)
        }
    }
}

/// A class id, unique within its organizing node.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClassId(String);

impl ClassId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ClassId {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        let s = s.trim();
        if s.is_empty() {
            return Err(invalid("class id is empty"));
        }
        check_text("class id", s, CLASS_ID_CHARS_MAX)?;
        Ok(ClassId(s.to_owned()))
    }
}

impl std::borrow::Borrow<str> for ClassId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClassId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

// ---------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------

/// A person on the roster of the responsible node (the record's origin): an
/// assignment, person × node. The person's details are as that node keeps
/// them; the rank band here decides which hour rule applies on this roster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterEntry {
    pub person: PersonId,
    pub name: String,
    pub rank: Rank,
    /// The day the person was put on this roster.
    pub since: Date,
    /// The day the person left it (exclusive: inactive from this day on).
    pub until: Option<Date>,
    pub employer: String,
    pub position: String,
    /// 培训对象类别, free text (e.g. 地市级信访部门正职).
    pub group: String,
}

impl RosterEntry {
    /// Active on `as_of`: `since <= as_of` and no `until` or `until > as_of`.
    pub fn active_on(&self, as_of: Date) -> bool {
        self.since <= as_of && self.until.is_none_or(|u| u > as_of)
    }

    pub fn validate(&self) -> Result<(), Invalid> {
        if self.name.trim().is_empty() {
            return Err(invalid("name is empty"));
        }
        check_text("name", &self.name, NAME_CHARS_MAX)?;
        check_text("employer", &self.employer, TEXT_CHARS_MAX)?;
        check_text("position", &self.position, TEXT_CHARS_MAX)?;
        check_text("group", &self.group, TEXT_CHARS_MAX)?;
        check_date("since", self.since)?;
        if let Some(until) = self.until {
            check_date("until", until)?;
            if until <= self.since {
                return Err(invalid(format!(
                    "until {until} is not after since {}",
                    self.since
                )));
            }
        }
        Ok(())
    }
}

/// A class (培训班) organized by the record's origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Class {
    pub class_id: ClassId,
    pub title: String,
    pub category: String,
    pub mode: Mode,
    /// 脱产: the trainee leaves their post for the class.
    pub off_job: bool,
    pub start: Date,
    pub end: Date,
    /// The class's nominal hours: the most credited to any attendee.
    pub hours: Hours,
    /// Days as stated by the organizer; `None` means `end - start + 1`.
    pub days: Option<u32>,
}

impl Class {
    /// The days this class credits: its stated days, else `end - start + 1`.
    pub fn credited_days(&self) -> u32 {
        self.days
            .unwrap_or_else(|| ((self.end - self.start).num_days() + 1).max(0) as u32)
    }

    pub fn validate(&self) -> Result<(), Invalid> {
        if self.title.trim().is_empty() {
            return Err(invalid("title is empty"));
        }
        check_text("title", &self.title, TEXT_CHARS_MAX)?;
        check_text("category", &self.category, TEXT_CHARS_MAX)?;
        check_date("start", self.start)?;
        check_date("end", self.end)?;
        if self.end < self.start {
            return Err(invalid(format!(
                "end {} is before start {}",
                self.end, self.start
            )));
        }
        let span = (self.end - self.start).num_days() + 1;
        if span > i64::from(CLASS_DAYS_MAX) {
            return Err(invalid(format!(
                "class lasts {span} days, more than {CLASS_DAYS_MAX}"
            )));
        }
        if let Some(days) = self.days {
            if days == 0 || days > CLASS_DAYS_MAX {
                return Err(invalid(format!(
                    "days {days} is not within 1..={CLASS_DAYS_MAX}"
                )));
            }
            if i64::from(days) > span {
                return Err(invalid(format!(
                    "days {days} is more than the {span} days from start to end"
                )));
            }
        }
        if self.hours.tenths() > CLASS_HOURS_MAX_TENTHS {
            return Err(invalid(format!("hours {} is too large", self.hours)));
        }
        Ok(())
    }
}

/// One person's attendance of one class of the record's origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attendance {
    pub class_id: ClassId,
    pub person: PersonId,
    /// Hours credited to this person.
    pub hours: Hours,
    pub outcome: Outcome,
    /// The name as the organizer recorded it (people need not be on its roster).
    pub name: String,
}

impl Attendance {
    pub fn validate(&self) -> Result<(), Invalid> {
        check_text("name", &self.name, NAME_CHARS_MAX)?;
        if self.hours.tenths() > CLASS_HOURS_MAX_TENTHS {
            return Err(invalid(format!("hours {} is too large", self.hours)));
        }
        Ok(())
    }
}

/// A bureau-level obligation event of the record's origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Obligation {
    pub kind: ObligationKind,
    pub date: Date,
    pub note: String,
}

impl Obligation {
    pub fn validate(&self) -> Result<(), Invalid> {
        check_date("date", self.date)?;
        check_text("note", &self.note, TEXT_CHARS_MAX)
    }
}

/// The identity of a record within its origin. Two records of one origin with
/// the same key are versions of one another; the later change wins.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordKey {
    Roster(PersonId),
    Class(ClassId),
    Attendance(ClassId, PersonId),
    Obligation(ObligationKind, Date),
}

/// What one change of an origin's log carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Roster(RosterEntry),
    Class(Class),
    Attendance(Attendance),
    Obligation(Obligation),
    /// Deletes the record with this key.
    Tombstone(RecordKey),
}

impl Record {
    pub fn key(&self) -> RecordKey {
        match self {
            Record::Roster(r) => RecordKey::Roster(r.person),
            Record::Class(c) => RecordKey::Class(c.class_id.clone()),
            Record::Attendance(a) => RecordKey::Attendance(a.class_id.clone(), a.person),
            Record::Obligation(o) => RecordKey::Obligation(o.kind, o.date),
            Record::Tombstone(k) => k.clone(),
        }
    }

    /// Checks every field against the bounds import enforces.
    pub fn validate(&self) -> Result<(), Invalid> {
        match self {
            Record::Roster(r) => r.validate(),
            Record::Class(c) => c.validate(),
            Record::Attendance(a) => a.validate(),
            Record::Obligation(o) => o.validate(),
            Record::Tombstone(RecordKey::Obligation(_, date)) => check_date("date", *date),
            Record::Tombstone(_) => Ok(()),
        }
    }
}

/// Calendar year of a date, as the hour windows use it.
pub fn year_of(date: Date) -> i32 {
    date.year()
}

#[cfg(test)]
mod tests;
