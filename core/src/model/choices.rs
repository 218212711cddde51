//! The model's enumerations — levels, rank bands, modes, results, obligation
//! kinds — each with its English and Chinese spellings.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::values::{Invalid, invalid};

/// Accepts the English word (any case) or one of the Chinese spellings.
pub(super) fn parse_choice<T: Copy>(
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
    /// Every mode.
    pub const ALL: [Mode; 2] = [Mode::Centralized, Mode::Online];

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
    /// Every outcome.
    pub const ALL: [Outcome; 4] = [
        Outcome::Completed,
        Outcome::Failed,
        Outcome::AbsentJustified,
        Outcome::AbsentUnjustified,
    ];

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

    /// The short Chinese name, for column headers (年度计划, 调训通报).
    pub fn zh_short(self) -> &'static str {
        match self {
            ObligationKind::Study => "专题研究",
            ObligationKind::TraineeMeeting => "座谈交流",
            ObligationKind::AnnualPlan => "年度计划",
            ObligationKind::CallupReport => "调训通报",
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
                    &["annual_plan", "年度计划", "年度教育培训计划"],
                ),
                (
                    ObligationKind::CallupReport,
                    &["callup_report", "调训通报", "通报调训情况"],
                ),
            ],
            "study, trainee_meeting, annual_plan, callup_report (专题研究, 座谈交流, 年度计划, 调训通报)",
        )
    }
}

impl fmt::Display for ObligationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
