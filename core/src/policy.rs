//! The policy document (DOMAIN.md section 7): every number the rules use, as
//! one TOML file a node may load to override the national bureau's defaults.
//!
//! [`Policy::default`] is the documents' own numbers. A policy file only
//! names what it changes: every table and key is optional, a missing one keeps
//! its default, and a misspelt key is an error rather than a silently ignored
//! line. Rotation cycles and centralized-hour rules are filled key by key over
//! *their own* level's or rank band's default, so `[rotation.province]
//! max_years = 4` keeps the province's `min_years = 2`.
//!
//! [`Policy::to_toml`] writes the whole document with a comment per section;
//! `policy show` prints it, and a bureau can save it as the starting point of
//! its own file.

use serde::{Deserialize, Deserializer, Serialize};

use crate::model::{CLASS_DAYS_MAX, Level};

/// Longest rotation cycle, plan period or window a policy may name, in years:
/// the documents speak of at most 5, and anything past 10 is a typo.
pub const POLICY_YEARS_MAX: u32 = 10;
/// Earliest plan-period start year, the same bound as record dates.
pub const PLAN_START_YEAR_MIN: i32 = 1950;
/// Latest plan-period start year, the same bound as record dates.
pub const PLAN_START_YEAR_MAX: i32 = 2099;
/// Most hours one calendar year can hold (366 days of 24 hours): a threshold
/// above this times the window's length in years could never be met.
pub const HOURS_PER_YEAR_MAX: u32 = 366 * 24;
/// Most days one calendar year can hold.
pub const DAYS_PER_YEAR_MAX: u32 = 366;

/// One level's rotation cycle (每…年轮训一遍): the whole roster is rotated
/// once every `min_years`..=`max_years` years.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Cycle {
    /// Trained within this many years: `current` (在周期内).
    pub min_years: u32,
    /// Trained longer ago than this, or never and on the roster this long:
    /// `overdue` (逾期).
    pub max_years: u32,
}

/// The rotation cycle of each responsible level (earlier text section 二).
///
/// The cycle depends on the level of the node that keeps the roster, never on
/// its parent's: a county under a province still rotates every year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    default,
    deny_unknown_fields,
    expecting = "a table of national, province, prefecture and county"
)]
pub struct RotationPolicy {
    /// 国家信访局: every 3–4 years.
    #[serde(deserialize_with = "national_cycle")]
    pub national: Cycle,
    /// 省级信访部门: every 2–3 years.
    #[serde(deserialize_with = "province_cycle")]
    pub province: Cycle,
    /// 地市级信访部门: every 1–2 years.
    #[serde(deserialize_with = "prefecture_cycle")]
    pub prefecture: Cycle,
    /// 县级信访部门: every year.
    #[serde(deserialize_with = "county_cycle")]
    pub county: Cycle,
}

impl Default for RotationPolicy {
    fn default() -> Self {
        RotationPolicy {
            national: Cycle {
                min_years: 3,
                max_years: 4,
            },
            province: Cycle {
                min_years: 2,
                max_years: 3,
            },
            prefecture: Cycle {
                min_years: 1,
                max_years: 2,
            },
            county: Cycle {
                min_years: 1,
                max_years: 1,
            },
        }
    }
}

/// Over which stretch of time hours and days are summed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Window {
    /// 1 January of `as_of`'s year to `as_of` (每年).
    CalendarYear,
    /// 1 January of the first year of the plan period containing `as_of` to
    /// `as_of` (每5年, the National Cadre Training Plan 2023–2027).
    PlanPeriod,
}

impl Window {
    /// The spelling used in the policy file.
    pub fn as_str(self) -> &'static str {
        match self {
            Window::CalendarYear => "calendar_year",
            Window::PlanPeriod => "plan_period",
        }
    }

    /// The label reports print.
    pub fn zh(self) -> &'static str {
        match self {
            Window::CalendarYear => "每年",
            Window::PlanPeriod => "每个规划期",
        }
    }
}

/// A centralized-training requirement: met when the hours *or* the days
/// reach the threshold within the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CentralizedRule {
    /// Whole hours of centralized training that meet the rule.
    pub hours: u32,
    /// Days of centralized training that meet the rule on their own
    /// ("3 months" is 90 days).
    pub days: u32,
    /// Over which stretch the hours and days are summed.
    pub window: Window,
}

/// The online self-study requirement (网络自学): met by hours alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    default,
    deny_unknown_fields,
    expecting = "a table of hours and window"
)]
pub struct OnlineRule {
    /// Whole hours of online self-study that meet the rule.
    pub hours: u32,
    /// Over which stretch the hours are summed.
    pub window: Window,
}

impl Default for OnlineRule {
    fn default() -> Self {
        OnlineRule {
            hours: 50,
            window: Window::CalendarYear,
        }
    }
}

/// The hour rules per rank band (2024 text section 一(四)). Grassroots
/// workers have none: they are only rotated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    default,
    deny_unknown_fields,
    expecting = "a table of leading, general and online"
)]
pub struct HoursPolicy {
    /// 县处级及以上: 3 months (90 days) or 550 hours per plan period.
    #[serde(deserialize_with = "leading_rule")]
    pub leading: CentralizedRule,
    /// 乡科级及以下: 12 days or 90 hours per calendar year.
    #[serde(deserialize_with = "general_rule")]
    pub general: CentralizedRule,
    /// Leading and general alike: 50 hours of online self-study per year.
    pub online: OnlineRule,
}

impl Default for HoursPolicy {
    fn default() -> Self {
        HoursPolicy {
            leading: CentralizedRule {
                hours: 550,
                days: 90,
                window: Window::PlanPeriod,
            },
            general: CentralizedRule {
                hours: 90,
                days: 12,
                window: Window::CalendarYear,
            },
            online: OnlineRule::default(),
        }
    }
}

/// The national cadre-training plan periods: `start_year` and every `years`
/// before and after it (2018, 2023, 2028, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    default,
    deny_unknown_fields,
    expecting = "a table of start_year and years"
)]
pub struct PlanPeriod {
    /// First year of one known period (全国干部教育培训规划 2023–2027).
    pub start_year: i32,
    /// Length of every period, in years.
    pub years: u32,
}

impl Default for PlanPeriod {
    fn default() -> Self {
        PlanPeriod {
            start_year: 2023,
            years: 5,
        }
    }
}

/// Every number the rules use. `Default` is the national bureau's documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// Rotation cycles per responsible level (DOMAIN.md section 2).
    pub rotation: RotationPolicy,
    /// Hour and day thresholds per rank band (DOMAIN.md section 3).
    pub hours: HoursPolicy,
    /// Where the plan-period window starts (DOMAIN.md section 3).
    pub plan_period: PlanPeriod,
    /// Off-job trainings lasting more than this many calendar days go into
    /// the appointment approval form ("2 months", DOMAIN.md section 4).
    pub long_off_job_days: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            rotation: RotationPolicy::default(),
            hours: HoursPolicy::default(),
            plan_period: PlanPeriod::default(),
            long_off_job_days: 60,
        }
    }
}

/// Why a policy file could not be used. Every message names the file and,
/// where there is one, the field.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file exists but could not be read.
    #[error("{file}: {source}")]
    Io {
        /// The path as given, so the operator can find it.
        file: String,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The file is not TOML, or a key or value does not fit the document.
    #[error("{file}:{line}: {field}: {reason}")]
    Parse {
        /// The path as given.
        file: String,
        /// 1-based line of the offending key or value.
        line: usize,
        /// Dotted path of the key, as far as it can be told (`rotation.province.min_years`).
        field: String,
        /// What toml or serde found wrong, on one line.
        reason: String,
    },
    /// The document parses but a value is out of its sensible range.
    #[error("{file}: {field} {reason}")]
    Invalid {
        /// The path as given, or `policy` for a policy built in code.
        file: String,
        /// Dotted path of the field (`plan_period.years`).
        field: String,
        /// The value and the range it should be in.
        reason: String,
    },
}

/// The file name `validate` reports when the policy came from no file.
const IN_MEMORY: &str = "policy";

impl Policy {
    /// The rotation cycle of a responsible node of `level`.
    pub fn cycle(&self, level: Level) -> Cycle {
        match level {
            Level::National => self.rotation.national,
            Level::Province => self.rotation.province,
            Level::Prefecture => self.rotation.prefecture,
            Level::County => self.rotation.county,
        }
    }

    /// Parses a policy document and validates it. `file` only names the
    /// source in error messages.
    pub fn from_toml(text: &str, file: &str) -> Result<Policy, PolicyError> {
        let policy: Policy = toml::from_str(text).map_err(|e| parse_error(file, text, &e))?;
        policy.validate().map_err(|e| match e {
            PolicyError::Invalid { field, reason, .. } => PolicyError::Invalid {
                file: file.to_owned(),
                field,
                reason,
            },
            other => other,
        })?;
        Ok(policy)
    }

    /// The whole document as commented TOML, readable by a bureau's IT staff.
    /// [`Policy::from_toml`] reads it back to the same policy.
    pub fn to_toml(&self) -> String {
        let r = &self.rotation;
        let h = &self.hours;
        let p = &self.plan_period;
        format!(
            r#"# lunxun policy (培训政策): every number the training rules use.
# The defaults are the national bureau's documents. A node's policy file only
# needs the lines it changes; a missing line keeps its default, and an unknown
# key is an error.

# Off-job (脱产) trainings lasting more than this many calendar days go into
# the appointment approval form (干部任免审批表). Default 60 (2 months).
long_off_job_days = {long}

# Rotation cycles (轮训周期), by the level of the node that keeps the roster.
# Last trained within min_years: current (在周期内); within max_years: due
# (应安排轮训); never trained and on the roster less than max_years: new
# (新列入); otherwise overdue (逾期未训).
# Defaults: national 3-4, province 2-3, prefecture 1-2, county every year.
[rotation.national]
min_years = {nat_min}
max_years = {nat_max}

[rotation.province]
min_years = {prov_min}
max_years = {prov_max}

[rotation.prefecture]
min_years = {pref_min}
max_years = {pref_max}

[rotation.county]
min_years = {county_min}
max_years = {county_max}

# Hour rules (学时要求). A centralized rule (集中培训) is met when the hours OR
# the days reach the threshold; the online rule (网络自学) by hours alone.
# Only attended classes (completed or failed) whose end date falls in the
# window count. window is "calendar_year" (1 January to the report date) or
# "plan_period" (1 January of the plan period's first year to the report date).
# Grassroots (村、社区) workers have no hour rule.

# Leading cadres (县处级及以上). Default 550 hours or 90 days (3 months) per plan period.
[hours.leading]
hours = {lead_hours}
days = {lead_days}
window = "{lead_window}"

# General cadres (乡科级及以下). Default 90 hours or 12 days per calendar year.
[hours.general]
hours = {gen_hours}
days = {gen_days}
window = "{gen_window}"

# Online self-study, leading and general cadres. Default 50 hours per calendar year.
[hours.online]
hours = {online_hours}
window = "{online_window}"

# Plan periods (全国干部教育培训规划): start_year and every `years` years before
# and after it. Default 2023, every 5 years (2018, 2023, 2028, ...).
[plan_period]
start_year = {start}
years = {years}
"#,
            long = self.long_off_job_days,
            nat_min = r.national.min_years,
            nat_max = r.national.max_years,
            prov_min = r.province.min_years,
            prov_max = r.province.max_years,
            pref_min = r.prefecture.min_years,
            pref_max = r.prefecture.max_years,
            county_min = r.county.min_years,
            county_max = r.county.max_years,
            lead_hours = h.leading.hours,
            lead_days = h.leading.days,
            lead_window = h.leading.window.as_str(),
            gen_hours = h.general.hours,
            gen_days = h.general.days,
            gen_window = h.general.window.as_str(),
            online_hours = h.online.hours,
            online_window = h.online.window.as_str(),
            start = p.start_year,
            years = p.years,
        )
    }

    /// Checks every number is in a range where the rules still make sense:
    /// cycles `1 <= min <= max <= 10` years, thresholds above zero and
    /// reachable within their window, plan periods of 1..=10 years starting
    /// in 1950..=2099, and a long off-job threshold a class can exceed.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let bad = |field: &str, reason: String| PolicyError::Invalid {
            file: IN_MEMORY.to_owned(),
            field: field.to_owned(),
            reason,
        };
        for level in Level::ALL {
            let c = self.cycle(level);
            let field = |key: &str| format!("rotation.{}.{key}", level.as_str());
            for (key, years) in [("min_years", c.min_years), ("max_years", c.max_years)] {
                if !(1..=POLICY_YEARS_MAX).contains(&years) {
                    return Err(bad(
                        &field(key),
                        format!("{years} is not within 1..={POLICY_YEARS_MAX}"),
                    ));
                }
            }
            if c.min_years > c.max_years {
                return Err(bad(
                    &field("min_years"),
                    format!("{} is greater than max_years {}", c.min_years, c.max_years),
                ));
            }
        }

        let p = self.plan_period;
        if !(1..=POLICY_YEARS_MAX).contains(&p.years) {
            return Err(bad(
                "plan_period.years",
                format!("{} is not within 1..={POLICY_YEARS_MAX}", p.years),
            ));
        }
        if !(PLAN_START_YEAR_MIN..=PLAN_START_YEAR_MAX).contains(&p.start_year) {
            return Err(bad(
                "plan_period.start_year",
                format!(
                    "{} is not within {PLAN_START_YEAR_MIN}..={PLAN_START_YEAR_MAX}",
                    p.start_year
                ),
            ));
        }

        let window_years = |w: Window| match w {
            Window::CalendarYear => 1,
            Window::PlanPeriod => p.years,
        };
        let threshold = |field: &str, value: u32, per_year_max: u32, w: Window| {
            let max = per_year_max * window_years(w);
            if value == 0 {
                return Err(bad(field, "must be greater than 0".to_owned()));
            }
            if value > max {
                return Err(bad(
                    field,
                    format!(
                        "{value} can never be reached in a {} window (at most {max})",
                        w.as_str()
                    ),
                ));
            }
            Ok(())
        };
        for (band, rule) in [
            ("leading", self.hours.leading),
            ("general", self.hours.general),
        ] {
            threshold(
                &format!("hours.{band}.hours"),
                rule.hours,
                HOURS_PER_YEAR_MAX,
                rule.window,
            )?;
            threshold(
                &format!("hours.{band}.days"),
                rule.days,
                DAYS_PER_YEAR_MAX,
                rule.window,
            )?;
        }
        let online = self.hours.online;
        threshold(
            "hours.online.hours",
            online.hours,
            HOURS_PER_YEAR_MAX,
            online.window,
        )?;

        // A class spans at most CLASS_DAYS_MAX days, so the threshold must be
        // below that for any class to be "longer".
        if !(1..CLASS_DAYS_MAX).contains(&self.long_off_job_days) {
            return Err(bad(
                "long_off_job_days",
                format!(
                    "{} is not within 1..={}",
                    self.long_off_job_days,
                    CLASS_DAYS_MAX - 1
                ),
            ));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Key-by-key overrides of the tables whose default depends on where they sit
// ---------------------------------------------------------------------------

/// A `[rotation.<level>]` table as written: each key optional.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table of min_years and max_years")]
struct CyclePatch {
    min_years: Option<u32>,
    max_years: Option<u32>,
}

impl CyclePatch {
    fn over(self, base: Cycle) -> Cycle {
        Cycle {
            min_years: self.min_years.unwrap_or(base.min_years),
            max_years: self.max_years.unwrap_or(base.max_years),
        }
    }
}

/// A `[hours.leading]` or `[hours.general]` table as written: each key optional.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table of hours, days and window")]
struct CentralizedPatch {
    hours: Option<u32>,
    days: Option<u32>,
    window: Option<Window>,
}

impl CentralizedPatch {
    fn over(self, base: CentralizedRule) -> CentralizedRule {
        CentralizedRule {
            hours: self.hours.unwrap_or(base.hours),
            days: self.days.unwrap_or(base.days),
            window: self.window.unwrap_or(base.window),
        }
    }
}

fn national_cycle<'de, D: Deserializer<'de>>(d: D) -> Result<Cycle, D::Error> {
    Ok(CyclePatch::deserialize(d)?.over(RotationPolicy::default().national))
}

fn province_cycle<'de, D: Deserializer<'de>>(d: D) -> Result<Cycle, D::Error> {
    Ok(CyclePatch::deserialize(d)?.over(RotationPolicy::default().province))
}

fn prefecture_cycle<'de, D: Deserializer<'de>>(d: D) -> Result<Cycle, D::Error> {
    Ok(CyclePatch::deserialize(d)?.over(RotationPolicy::default().prefecture))
}

fn county_cycle<'de, D: Deserializer<'de>>(d: D) -> Result<Cycle, D::Error> {
    Ok(CyclePatch::deserialize(d)?.over(RotationPolicy::default().county))
}

fn leading_rule<'de, D: Deserializer<'de>>(d: D) -> Result<CentralizedRule, D::Error> {
    Ok(CentralizedPatch::deserialize(d)?.over(HoursPolicy::default().leading))
}

fn general_rule<'de, D: Deserializer<'de>>(d: D) -> Result<CentralizedRule, D::Error> {
    Ok(CentralizedPatch::deserialize(d)?.over(HoursPolicy::default().general))
}

/// Turns a toml error into one line naming the file, the line and, as far as
/// the text tells, the dotted key.
fn parse_error(file: &str, text: &str, err: &toml::de::Error) -> PolicyError {
    let reason = err.message().trim().replace('\n', " ");
    let offset = err.span().map_or(0, |s| s.start).min(text.len());
    let before = text.get(..offset).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let line_text = text.lines().nth(line - 1).unwrap_or("");
    let field = field_at(text, line - 1, line_text);
    PolicyError::Parse {
        file: file.to_owned(),
        line,
        field,
        reason,
    }
}

/// The dotted key of line `index`: the table header itself, or the enclosing
/// header joined with the key before `=`. Good enough for the flat tables a
/// policy file holds.
fn field_at(text: &str, index: usize, line_text: &str) -> String {
    let header = |l: &str| {
        let l = l.trim();
        l.strip_prefix('[')
            .and_then(|l| l.split(']').next())
            .map(|h| h.trim().to_owned())
    };
    if let Some(h) = header(line_text) {
        return h;
    }
    let key = line_text
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"').to_owned())
        .unwrap_or_default();
    let table = text.lines().take(index).filter_map(header).last();
    match (table, key.is_empty()) {
        (Some(t), false) => format!("{t}.{key}"),
        (Some(t), true) => t,
        (None, false) => key,
        (None, true) => "document".to_owned(),
    }
}

#[cfg(test)]
mod tests;
