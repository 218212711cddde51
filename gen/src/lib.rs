//! lunxun-gen: test data for lunxun, shipped apart from the node library.
//!
//! A deterministic generator of realistic rosters and training histories,
//! following DOMAIN.md's responsibility split, for any subtree and scale.
//!
//! Everything is a pure function of (seed, org, parameters): a node's data
//! can be generated on its own, in any order, and the same person appears
//! with the same ID number on every roster that lists them. Who is on which
//! roster (DOMAIN.md section 1):
//!
//! - a county trains township/street and village/community workers, every year;
//! - a prefecture trains its counties' bureau leaders and backbone staff, its
//!   municipal organs' petition staff and township backbone staff;
//! - a province trains its prefectures' leaders and backbone staff, its
//!   provincial organs' staff, and the heads of its counties (who are thus on
//!   two rosters: their prefecture's and their province's);
//! - the national bureau trains provincial leaders and business-division
//!   heads, central organs' petition staff, and prefecture bureau chiefs (on
//!   two rosters: the province's and the national bureau's).
//!
//! Each node has a "diligence" (how much of its roster it actually trains);
//! a share of nodes is far behind.

use chrono::Datelike;
use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use lunxun_core::model::{
    Attendance, Class, ClassId, Date, Hours, Level, Mode, Obligation, ObligationKind, Outcome,
    PersonId, Rank, RosterEntry,
};
use lunxun_core::orgs::{OrgDirectory, OrgId};

mod files;
pub use files::{write_csv, write_xlsx};

/// Parameters of a generated hierarchy.
#[derive(Debug, Clone)]
pub struct GenParams {
    /// Everything derives from it: the same seed gives the same files.
    pub seed: u64,
    /// The "today" of the data: classes end on or before it.
    pub as_of: Date,
    /// Years of history before `as_of`.
    pub years: u32,
    /// Grassroots and township workers on a county's roster.
    pub county_workers: u32,
    /// Staff of each bureau (leaders and backbone) on its parent's roster.
    pub bureau_staff: u32,
    /// Organs' petition staff on a prefecture's, province's or the national roster.
    pub organs_staff: u32,
    /// Centralized classes a node organizes per year.
    pub classes_per_year: u32,
    /// Share of nodes far behind (diligence 0.05–0.3 instead of 0.6–0.98).
    pub behind_share: f64,
    /// Chance (times the node's diligence) that a person is called up to a
    /// second centralized class in a year.
    pub second_class_share: f64,
}

impl Default for GenParams {
    fn default() -> Self {
        GenParams {
            seed: 1,
            as_of: Date::from_ymd_opt(2026, 6, 30).unwrap_or(lunxun_core::model::DATE_MIN),
            years: 4,
            county_workers: 120,
            bureau_staff: 12,
            organs_staff: 20,
            classes_per_year: 2,
            behind_share: 0.15,
            second_class_share: 0.0,
        }
    }
}

/// One node's generated files, as records.
#[derive(Debug, Clone, Default)]
pub struct NodeData {
    pub roster: Vec<RosterEntry>,
    pub classes: Vec<Class>,
    pub attendance: Vec<Attendance>,
    /// The bureau's obligation events (DOMAIN.md section 5), from a stream
    /// of its own so the other files do not change with them.
    pub obligations: Vec<Obligation>,
}

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "高", "林", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹",
];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明",
    "超", "秀英", "霞", "平", "刚", "桂英", "建华", "文", "华", "红", "志强", "晓东", "海燕",
    "国庆", "建国", "丹", "萍", "鹏", "辉", "玲", "宇", "浩", "婷", "雪",
];
const TITLES: &[&str] = &[
    "信访干部政治理论专题培训班",
    "信访业务能力提升培训班",
    "《信访工作条例》专题轮训班",
    "网上信访受理办理业务培训班",
    "信访督查督办专题培训班",
    "年轻信访干部任职培训班",
    "党性教育专题培训班",
    "接访工作实务培训班",
];
const CATEGORIES: &[&str] = &["政治理论", "履职能力", "党性教育", "年轻干部", "关键少数"];

/// Who a generated person is, which decides their ID number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Village/community or township worker of a county.
    Worker = 0,
    /// A bureau's leader or backbone staff (index 0 is the head).
    Staff = 1,
    /// An organs' petition office worker attached to a node.
    Organs = 2,
}

fn rng_for(seed: u64, org: &str, salt: u64) -> ChaCha8Rng {
    let mut h = blake3::Hasher::new();
    h.update(&seed.to_be_bytes());
    h.update(org.as_bytes());
    h.update(&salt.to_be_bytes());
    let bytes = h.finalize();
    let mut s = [0u8; 32];
    s.copy_from_slice(bytes.as_bytes());
    ChaCha8Rng::from_seed(s)
}

/// A valid, deterministic ID number for person `index` of `role` at `org`.
fn person_id(org: &str, role: Role, index: u32) -> PersonId {
    // Region prefix: the org's code when it is a region code, else a fixed one.
    let region = if org.len() == 6 && org.bytes().all(|b| b.is_ascii_digit()) {
        if org == "100000" { "110000" } else { org }
    } else {
        "110000"
    };
    // Birth dates over 40 years starting 1962; the 3-digit order code carries
    // the role and the rest of the index, so (role, index) is injective.
    const SPAN_DAYS: u32 = 14_600;
    // 7919 is prime and does not divide 14,600: multiplying spreads
    // consecutive people over the span and stays a bijection on it.
    let spread = (u64::from(index % SPAN_DAYS) * 7_919 % u64::from(SPAN_DAYS)) as i64;
    let birth = Date::from_ymd_opt(1962, 1, 1).unwrap_or(lunxun_core::model::DATE_MIN)
        + chrono::TimeDelta::days(spread);
    let order = (role as u32) * 300 + (index / SPAN_DAYS) % 300;
    let digits = format!(
        "{region}{:04}{:02}{:02}{order:03}",
        birth.year(),
        birth.month(),
        birth.day()
    );
    let mut d = [0u8; 17];
    d.copy_from_slice(digits.as_bytes());
    let id = format!("{digits}{}", PersonId::check_char(&d));
    // The digits are valid by construction.
    id.parse()
        .unwrap_or_else(|_| unreachable!("generated ID {id} is invalid"))
}

fn name(rng: &mut impl Rng) -> String {
    format!(
        "{}{}",
        SURNAMES[rng.random_range(0..SURNAMES.len())],
        GIVEN[rng.random_range(0..GIVEN.len())]
    )
}

fn date_between(rng: &mut impl Rng, from: Date, to: Date) -> Date {
    let span = (to - from).num_days().max(0);
    from + chrono::TimeDelta::days(rng.random_range(0..=span))
}

/// How well `org` trains its roster, 0..1.
pub fn diligence(params: &GenParams, orgs: &OrgDirectory, org: OrgId) -> f64 {
    let mut rng = rng_for(params.seed, orgs.code(org), 1);
    if rng.random_bool(params.behind_share.clamp(0.0, 1.0)) {
        rng.random_range(0.05..0.3)
    } else {
        rng.random_range(0.6..0.98)
    }
}

/// A member of a roster before dates are attached.
struct Member {
    person: PersonId,
    rank: Rank,
    employer: String,
    position: &'static str,
    group: &'static str,
    /// The person's own home org (where their name is drawn).
    home: String,
    role: Role,
    index: u32,
}

fn staff_of(
    params: &GenParams,
    orgs: &OrgDirectory,
    bureau: OrgId,
    heads_only: bool,
    group: &'static str,
) -> Vec<Member> {
    let o = orgs.org(bureau);
    let n = if heads_only { 1 } else { params.bureau_staff };
    (0..n)
        .map(|i| Member {
            person: person_id(&o.code, Role::Staff, i),
            rank: if i < 3 || o.level <= Level::Prefecture && i < 5 {
                Rank::Leading
            } else {
                Rank::General
            },
            employer: format!("{}信访局", o.name),
            position: match i {
                0 => "局长",
                1 | 2 => "副局长",
                3 | 4 => "科长",
                _ => "科员",
            },
            group,
            home: o.code.clone(),
            role: Role::Staff,
            index: i,
        })
        .collect()
}

/// The roster members of `org`, per the responsibility split.
fn members(params: &GenParams, orgs: &OrgDirectory, org: OrgId) -> Vec<Member> {
    let o = orgs.org(org);
    let mut out = Vec::new();
    let organs = |group: &'static str, employer: String| {
        (0..params.organs_staff).map(move |i| Member {
            person: person_id(&o.code, Role::Organs, i),
            rank: if i % 5 == 0 {
                Rank::Leading
            } else {
                Rank::General
            },
            employer: employer.clone(),
            position: "信访工作机构工作人员",
            group,
            home: o.code.clone(),
            role: Role::Organs,
            index: i,
        })
    };
    match o.level {
        Level::County => {
            for i in 0..params.county_workers {
                let township = i % 4 == 0;
                out.push(Member {
                    person: person_id(&o.code, Role::Worker, i),
                    rank: if township {
                        Rank::General
                    } else {
                        Rank::Grassroots
                    },
                    employer: if township {
                        format!("{}第{}街道办事处", o.name, i % 9 + 1)
                    } else {
                        format!("{}第{}社区居委会", o.name, i % 23 + 1)
                    },
                    position: if township {
                        "信访干事"
                    } else {
                        "信访工作人员"
                    },
                    group: if township {
                        "乡镇（街道）信访工作人员"
                    } else {
                        "村（社区）信访工作人员"
                    },
                    home: o.code.clone(),
                    role: Role::Worker,
                    index: i,
                });
            }
        }
        Level::Prefecture => {
            for &c in orgs.children(org) {
                out.extend(staff_of(
                    params,
                    orgs,
                    c,
                    false,
                    "县级信访部门领导干部和业务骨干",
                ));
            }
            out.extend(organs(
                "市直机关信访工作机构工作人员",
                format!("{}直机关", o.name),
            ));
        }
        Level::Province => {
            for &c in orgs.children(org) {
                match orgs.org(c).level {
                    Level::Prefecture => {
                        out.extend(staff_of(
                            params,
                            orgs,
                            c,
                            false,
                            "地市级信访部门领导干部和业务骨干",
                        ));
                        for &county in orgs.children(c) {
                            out.extend(staff_of(
                                params,
                                orgs,
                                county,
                                true,
                                "县（市）信访部门负责人",
                            ));
                        }
                    }
                    // A county directly under the province: trained as a
                    // county bureau, by the province.
                    _ => out.extend(staff_of(params, orgs, c, false, "县（市）信访部门负责人")),
                }
            }
            out.extend(organs(
                "省直机关信访工作机构工作人员",
                format!("{}直机关", o.name),
            ));
        }
        Level::National => {
            for &p in orgs.children(org) {
                out.extend(staff_of(
                    params,
                    orgs,
                    p,
                    false,
                    "省级信访部门领导干部和业务处室负责人",
                ));
                for &pref in orgs.children(p) {
                    if orgs.org(pref).level == Level::Prefecture {
                        out.extend(staff_of(params, orgs, pref, true, "地市级信访部门正职"));
                    }
                }
            }
            out.extend(organs(
                "中央和国家机关信访工作机构负责人和业务骨干",
                "中央和国家机关".into(),
            ));
        }
    }
    out
}

/// Generates `org`'s roster and the classes it organized, with attendance.
pub fn generate_node(params: &GenParams, orgs: &OrgDirectory, org: OrgId) -> NodeData {
    let o = orgs.org(org);
    let diligence = diligence(params, orgs, org);
    let mut rng = rng_for(params.seed, &o.code, 2);
    let first = Date::from_ymd_opt(params.as_of.year() - params.years as i32, 1, 1)
        .unwrap_or(lunxun_core::model::DATE_MIN);
    let mut data = NodeData::default();

    for m in members(params, orgs, org) {
        // Names come from the person's home, so every roster agrees.
        let mut name_rng = rng_for(
            params.seed,
            &m.home,
            1_000 + (m.role as u64) * 1_000_000 + u64::from(m.index),
        );
        let since = date_between(
            &mut rng,
            first - chrono::TimeDelta::days(365 * 3),
            params.as_of,
        );
        let until = rng.random_bool(0.03).then(|| {
            date_between(
                &mut rng,
                since + chrono::TimeDelta::days(1),
                params.as_of + chrono::TimeDelta::days(1),
            )
        });
        data.roster.push(RosterEntry {
            person: m.person,
            name: name(&mut name_rng),
            rank: m.rank,
            since,
            until,
            employer: m.employer,
            position: m.position.to_owned(),
            group: m.group.to_owned(),
        });
    }

    for year in (params.as_of.year() - params.years as i32 + 1)..=params.as_of.year() {
        let year_start = Date::from_ymd_opt(year, 1, 1).unwrap_or(first);
        let year_end = Date::from_ymd_opt(year, 12, 31)
            .unwrap_or(params.as_of)
            .min(params.as_of);
        if year_end < year_start + chrono::TimeDelta::days(10) {
            continue;
        }
        // Centralized classes: each roster member is called up to one of
        // them this year with probability `diligence`.
        let mut classes: Vec<Class> = Vec::new();
        for k in 0..params.classes_per_year.max(1) {
            let start = date_between(&mut rng, year_start, year_end - chrono::TimeDelta::days(10));
            let span: i64 = rng.random_range(3..=10);
            let end = (start + chrono::TimeDelta::days(span - 1)).min(year_end);
            let days = ((end - start).num_days() + 1) as u32;
            classes.push(Class {
                class_id: class_id(&format!("{year}-C{:02}", k + 1)),
                title: format!("{year}年{}", TITLES[rng.random_range(0..TITLES.len())]),
                category: CATEGORIES[rng.random_range(0..CATEGORIES.len())].to_owned(),
                mode: Mode::Centralized,
                off_job: true,
                start,
                end,
                hours: Hours::from_whole(days * 8),
                days: None,
            });
        }
        let online = Class {
            class_id: class_id(&format!("{year}-WL")),
            title: format!("{year}年网络学院自学"),
            category: "政治理论".into(),
            mode: Mode::Online,
            off_job: false,
            start: year_start,
            end: year_end,
            hours: Hours::from_whole(80),
            days: None,
        };
        // A long off-job class for leading cadres (党校中青班-style, 40–75
        // days), where most of their centralized hours come from.
        let long_start = date_between(&mut rng, year_start, year_end - chrono::TimeDelta::days(10));
        let long_end =
            (long_start + chrono::TimeDelta::days(rng.random_range(39..75))).min(year_end);
        let long_days = ((long_end - long_start).num_days() + 1) as u32;
        let long = Class {
            class_id: class_id(&format!("{year}-ZQB")),
            title: format!("{year}年领导干部进修班"),
            category: "关键少数".into(),
            mode: Mode::Centralized,
            off_job: true,
            start: long_start,
            end: long_end,
            hours: Hours::from_whole(long_days.min(366) * 6),
            days: None,
        };
        let mut long_used = false;
        let mut used = vec![false; classes.len()];
        let mut online_used = false;
        for (i, entry) in data.roster.iter().enumerate() {
            if entry.since > year_end || entry.until.is_some_and(|u| u <= year_start) {
                continue;
            }
            // Called up to one class this year, and in diligent offices
            // often to a second one.
            let calls = usize::from(rng.random_bool(diligence))
                + usize::from(
                    classes.len() > 1 && rng.random_bool(diligence * params.second_class_share),
                );
            for n in 0..calls {
                let k = (i + year as usize + n) % classes.len();
                let class = &classes[k];
                let outcome = match rng.random_range(0..100) {
                    0..=3 => Outcome::Failed,
                    4..=8 => Outcome::AbsentJustified,
                    9..=10 => Outcome::AbsentUnjustified,
                    _ => Outcome::Completed,
                };
                data.attendance.push(Attendance {
                    class_id: class.class_id.clone(),
                    person: entry.person,
                    hours: if outcome.attended() {
                        class.hours
                    } else {
                        Hours::ZERO
                    },
                    outcome,
                    name: entry.name.clone(),
                });
                used[k] = true;
            }
            if entry.rank == Rank::Leading && rng.random_bool((diligence * 0.35).clamp(0.0, 1.0)) {
                let outcome = if rng.random_range(0..100) < 4 {
                    Outcome::Failed
                } else {
                    Outcome::Completed
                };
                data.attendance.push(Attendance {
                    class_id: long.class_id.clone(),
                    person: entry.person,
                    hours: long.hours,
                    outcome,
                    name: entry.name.clone(),
                });
                long_used = true;
            }
            if entry.rank != Rank::Grassroots && rng.random_bool(diligence) {
                // 20–80 hours of online self-study, in whole hours.
                data.attendance.push(Attendance {
                    class_id: online.class_id.clone(),
                    person: entry.person,
                    hours: Hours::from_whole(rng.random_range(20..=80)),
                    outcome: Outcome::Completed,
                    name: entry.name.clone(),
                });
                online_used = true;
            }
        }
        for (class, used) in classes.into_iter().zip(used) {
            if used {
                data.classes.push(class);
            }
        }
        if online_used {
            data.classes.push(online);
        }
        if long_used {
            data.classes.push(long);
        }
    }
    // A class's hours are the most credited on any of its rows, as an
    // import of the files reads them.
    let mut most: std::collections::HashMap<&ClassId, Hours> = std::collections::HashMap::new();
    for a in &data.attendance {
        let m = most.entry(&a.class_id).or_insert(Hours::ZERO);
        *m = (*m).max(a.hours);
    }
    let most: std::collections::HashMap<ClassId, Hours> =
        most.into_iter().map(|(k, v)| (k.clone(), v)).collect();
    for c in &mut data.classes {
        c.hours = most.get(&c.class_id).copied().unwrap_or(Hours::ZERO);
    }
    data.obligations = obligations(params, &o.code, diligence, first);
    data
}

/// A bureau's obligation events from `first` to `as_of`: each kind met in a
/// year with the bureau's diligence (a diligent office meets nearly all,
/// one far behind few), on working-looking dates of that year.
fn obligations(params: &GenParams, code: &str, diligence: f64, first: Date) -> Vec<Obligation> {
    let mut rng = rng_for(params.seed, code, 3);
    let mut out = Vec::new();
    for year in first.year()..=params.as_of.year() {
        let start = Date::from_ymd_opt(year, 1, 1).unwrap_or(first);
        let end = Date::from_ymd_opt(year, 12, 31)
            .unwrap_or(params.as_of)
            .min(params.as_of);
        for kind in ObligationKind::ALL {
            if start > end || !rng.random_bool(diligence) {
                continue;
            }
            let note = match kind {
                ObligationKind::Study => "党组会专题研究干部教育培训工作",
                ObligationKind::TraineeMeeting => "主要负责同志与参训学员座谈",
                ObligationKind::AnnualPlan => "印发年度教育培训计划",
                ObligationKind::CallupReport => "通报调训情况",
            };
            out.push(Obligation {
                kind,
                date: date_between(&mut rng, start, end),
                note: note.to_owned(),
            });
        }
    }
    out
}

/// A single node with `people` on its roster and `attendance` rows (the most
/// recent ones), for benchmarks: a county-style roster at any scale.
pub fn generate_scaled(
    seed: u64,
    orgs: &OrgDirectory,
    org: OrgId,
    people: u32,
    attendance: u32,
    as_of: Date,
) -> NodeData {
    let mut years = (attendance / people.max(1)).max(1);
    loop {
        let params = GenParams {
            seed,
            as_of,
            years,
            county_workers: people,
            classes_per_year: 4,
            behind_share: 0.0,
            ..GenParams::default()
        };
        let mut data = generate_node(&params, orgs, org);
        let excess = data.attendance.len().saturating_sub(attendance as usize);
        if excess > 0 || years >= 60 {
            // Attendance is generated year by year: drop the oldest rows and
            // the classes left without attendees.
            data.attendance.drain(..excess);
            let used: std::collections::HashSet<ClassId> =
                data.attendance.iter().map(|a| a.class_id.clone()).collect();
            data.classes.retain(|c| used.contains(&c.class_id));
            return data;
        }
        years += 2;
    }
}

/// A generated class id, known to be valid.
fn class_id(s: &str) -> ClassId {
    s.parse()
        .unwrap_or_else(|_| unreachable!("generated class id {s} is invalid"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_consistent_across_rosters() {
        let orgs = OrgDirectory::builtin();
        let params = GenParams::default();
        let henan = orgs.get("410000").unwrap();
        let zhengzhou = orgs.get("410100").unwrap();
        let a = generate_node(&params, &orgs, zhengzhou);
        let b = generate_node(&params, &orgs, zhengzhou);
        assert_eq!(a.roster, b.roster);
        assert_eq!(a.attendance, b.attendance);
        // The head of 中原区 is on 郑州's roster (as county staff) and on
        // 河南's (as a county head), with the same ID and name.
        let head = person_id("410102", Role::Staff, 0);
        let on_pref = a.roster.iter().find(|r| r.person == head).unwrap();
        let prov = generate_node(&params, &orgs, henan);
        let on_prov = prov.roster.iter().find(|r| r.person == head).unwrap();
        assert_eq!(on_pref.name, on_prov.name);
        // 济源 (directly under 河南) sends its whole staff to the province.
        let jiyuan_staff = person_id("419001", Role::Staff, 5);
        assert!(prov.roster.iter().any(|r| r.person == jiyuan_staff));
        // Every record validates.
        for r in &prov.roster {
            r.validate().unwrap();
        }
        for c in &prov.classes {
            c.validate().unwrap();
        }
    }

    #[test]
    fn ids_are_unique_per_node() {
        let orgs = OrgDirectory::builtin();
        let county = orgs.get("410102").unwrap();
        let data = generate_scaled(
            7,
            &orgs,
            county,
            20_000,
            200_000,
            Date::from_ymd_opt(2026, 6, 30).unwrap(),
        );
        let mut ids: Vec<_> = data.roster.iter().map(|r| r.person).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 20_000);
        assert_eq!(data.attendance.len(), 200_000);
        let classes: std::collections::HashSet<&ClassId> =
            data.classes.iter().map(|c| &c.class_id).collect();
        assert!(
            data.attendance
                .iter()
                .all(|a| classes.contains(&a.class_id))
        );
    }
}
