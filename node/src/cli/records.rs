//! The records and their coverage: `import`, `coverage`, `people`.

use serde::Serialize;

use super::{
    CliError, CliResult, CoverageArgs, Format, ImportArgs, Output, PeopleArgs, RankFilter,
    StatusFilter, exit, parse_as_of, resolve_org,
};
use crate::app::import::Kind;
use crate::coverage;
use crate::error::Error;
use crate::import::{self, ImportError, ImportOptions};
use crate::model::{Date, Rank};
use crate::node::Node;
use crate::render::{self, Column, Lang, col, num};
use crate::rules::RotationStatus;

pub(super) fn import_file(
    node: &Node,
    kind: Kind,
    args: ImportArgs,
    io: &mut Output<'_>,
) -> CliResult {
    let opts = ImportOptions {
        progress: io.progress,
    };
    let file = args.file.display().to_string();
    let read = match crate::app::import::read(kind, &args.file, &opts) {
        Ok(r) => r,
        Err(ImportError::Rows {
            file,
            problems,
            bad_rows,
        }) if args.check => {
            for p in &problems {
                writeln!(io.out, "{}", p.render(&file))?;
            }
            if bad_rows > problems.len() {
                writeln!(io.out, "... and {} more", bad_rows - problems.len())?;
            }
            return Err(CliError::new(
                exit::REFUSED,
                format!("{file}: {bad_rows} bad rows; nothing written"),
            ));
        }
        Err(e) => return Err(Error::Import(e).into()),
    };
    let rows = read.rows;
    let records = read.records.len();
    if args.check {
        writeln!(io.out, "{file}: {rows} rows, all valid ({records} records)")?;
        return Ok(());
    }
    let spinner = (io.progress && records >= import::PROGRESS_ROWS_MIN).then(|| {
        let s = indicatif::ProgressBar::new_spinner();
        s.set_message(format!("writing {records} records"));
        s.enable_steady_tick(std::time::Duration::from_millis(120));
        s
    });
    let left_out = if args.replace {
        0
    } else {
        crate::app::import::left_out(node, kind, &read)
    };
    let written = crate::app::import::write(node, kind, read, args.replace, &args.file);
    if let Some(s) = spinner {
        s.finish_and_clear();
    }
    let (summary, entry) = written?;
    let removed = if args.replace {
        format!(", {} removed as not in the file", summary.removed)
    } else {
        String::new()
    };
    writeln!(
        io.out,
        "{file}: {rows} rows; {} changes written{removed}, {} records unchanged (log at seq {}; import {})",
        summary.written, summary.unchanged, summary.seq, entry.id
    )?;
    if left_out > 0 {
        let what = match kind {
            Kind::Roster => "roster entries this node holds are",
            Kind::Trainings => "attendance records of this file's classes are",
            Kind::Obligations => "obligation events of this file's years are",
        };
        writeln!(
            io.out,
            "note: {left_out} {what} not in the file and were kept; import it with --replace to remove them"
        )?;
    }
    Ok(())
}

const COVERAGE_COLUMNS: [Column; 14] = [
    col("org", "机构代码"),
    col("name", "名称"),
    col("level", "层级"),
    num("roster", "名单人数"),
    num("current", "周期内"),
    num("due", "应安排"),
    num("new", "新列入"),
    num("overdue", "逾期"),
    num("rotation_rate", "轮训覆盖率"),
    num("leading_ok", "县处级达标"),
    num("general_ok", "乡科级达标"),
    num("online_ok", "网络学时达标"),
    num("subtree_rate", "下辖覆盖率"),
    col("freshness", "数据时间"),
];

pub(super) fn coverage(node: &Node, args: CoverageArgs, io: &mut Output<'_>) -> CliResult {
    let as_of = parse_as_of(node, args.as_of.as_deref())?;
    let root = resolve_org(node, args.org.as_deref())?;
    if args.trend {
        return trend(node, root, as_of, args.format, args.lang, io);
    }
    let report = node.coverage(root, args.depth, as_of);
    match args.format {
        Format::Json => render::json(io.out, &report)?,
        Format::Table | Format::Csv => {
            let ratio = |c: &coverage::RuleCount| format!("{}/{}", c.compliant, c.people);
            let rows: Vec<Vec<String>> = report
                .nodes
                .iter()
                .filter(|n| {
                    !(args.reporting_only && args.format == Format::Table)
                        || n.depth == 0
                        || n.reporting
                        || n.subtree.rotation.roster > 0
                })
                .map(|n| {
                    let indent = if args.format == Format::Table {
                        "  ".repeat(n.depth as usize)
                    } else {
                        String::new()
                    };
                    vec![
                        n.org.clone(),
                        format!("{indent}{}", n.name),
                        n.level.to_owned(),
                        n.rotation.roster.to_string(),
                        n.rotation.current.to_string(),
                        n.rotation.due.to_string(),
                        n.rotation.new.to_string(),
                        n.rotation.overdue.to_string(),
                        render::percent(n.rotation.rate),
                        ratio(&n.hours.leading),
                        ratio(&n.hours.general),
                        ratio(&n.hours.online),
                        render::percent(n.subtree.rotation.rate),
                        n.freshness.clone().unwrap_or_else(|| {
                            if args.format == Format::Table {
                                "未报送 silent".into()
                            } else {
                                String::new()
                            }
                        }),
                    ]
                })
                .collect();
            if args.format == Format::Table {
                writeln!(io.out, "coverage on {} (覆盖情况)", report.as_of)?;
                render::table(io.out, &COVERAGE_COLUMNS, &rows)?;
            } else {
                render::csv(io.out, &COVERAGE_COLUMNS, &rows, args.lang)?;
            }
        }
    }
    Ok(())
}

const TREND_COLUMNS: [Column; 11] = [
    col("as_of", "日期"),
    num("roster", "在册"),
    num("rotation_rate", "轮训覆盖率"),
    num("subtree_roster", "下辖在册"),
    num("subtree_rate", "下辖覆盖率"),
    num("leading_ok", "县处级达标"),
    num("general_ok", "乡科级达标"),
    num("online_ok", "网络学时达标"),
    num("subtree_leading_ok", "下辖县处级达标"),
    num("subtree_general_ok", "下辖乡科级达标"),
    num("subtree_online_ok", "下辖网络学时达标"),
];

/// `coverage --trend`: the root's figures at each month end of the plan
/// period (see `lunxun_core::trend`).
fn trend(
    node: &Node,
    root: crate::orgs::OrgId,
    as_of: Date,
    format: Format,
    lang: Lang,
    io: &mut Output<'_>,
) -> CliResult {
    let trend = node.trend(root, as_of);
    if format == Format::Json {
        render::json(io.out, &trend)?;
        return Ok(());
    }
    let ratio = |c: &coverage::RuleCount| format!("{}/{}", c.compliant, c.people);
    let rows: Vec<Vec<String>> = trend
        .points
        .iter()
        .map(|p| {
            vec![
                p.as_of.to_string(),
                p.rotation.roster.to_string(),
                render::percent(p.rotation.rate),
                p.subtree_rotation.roster.to_string(),
                render::percent(p.subtree_rotation.rate),
                ratio(&p.hours.leading),
                ratio(&p.hours.general),
                ratio(&p.hours.online),
                ratio(&p.subtree_hours.leading),
                ratio(&p.subtree_hours.general),
                ratio(&p.subtree_hours.online),
            ]
        })
        .collect();
    if format == Format::Table {
        writeln!(
            io.out,
            "trend of {} {} from {} to {} (趋势)",
            trend.org, trend.name, trend.plan_period_start, trend.as_of
        )?;
        render::table(io.out, &TREND_COLUMNS, &rows)?;
    } else {
        render::csv(io.out, &TREND_COLUMNS, &rows, lang)?;
    }
    Ok(())
}

/// One row of `people --format json`.
#[derive(Debug, Serialize)]
struct PersonJson {
    person_id: String,
    name: String,
    rank: Rank,
    since: Date,
    until: Option<Date>,
    employer: String,
    position: String,
    group: String,
    last_trained: Option<Date>,
    rotation: RotationStatus,
    hours: crate::rules::HoursStatus,
    compliant: Option<bool>,
}

const PEOPLE_COLUMNS: [Column; 10] = [
    col("person_id", "身份证号"),
    col("name", "姓名"),
    col("rank", "职级"),
    col("since", "列入日期"),
    col("last_trained", "最近轮训"),
    col("rotation", "轮训状态"),
    col("centralized", "集中培训"),
    col("online", "网络学时"),
    col("compliant", "学时达标"),
    col("employer", "工作单位"),
];

pub(super) fn people(node: &Node, args: PeopleArgs, io: &mut Output<'_>) -> CliResult {
    let as_of = parse_as_of(node, args.as_of.as_deref())?;
    let org = resolve_org(node, args.org.as_deref())?;
    let view = node.view();
    let statuses =
        coverage::roster_statuses(&view, &node.orgs(), &node.policy_at(as_of), org, as_of);
    let wanted = |s: &coverage::PersonStatus<'_>| {
        let status_ok = args.status.is_empty()
            || args.status.iter().any(|f| {
                matches!(
                    (f, s.rotation),
                    (StatusFilter::Current, RotationStatus::Current)
                        | (StatusFilter::Due, RotationStatus::Due)
                        | (StatusFilter::New, RotationStatus::New)
                        | (StatusFilter::Overdue, RotationStatus::Overdue)
                )
            });
        let rank_ok = args.rank.is_empty()
            || args.rank.iter().any(|f| {
                matches!(
                    (f, s.entry.rank),
                    (RankFilter::Leading, Rank::Leading)
                        | (RankFilter::General, Rank::General)
                        | (RankFilter::Grassroots, Rank::Grassroots)
                )
            });
        status_ok && rank_ok && (!args.non_compliant || compliant(&s.hours) == Some(false))
    };
    let selected: Vec<&coverage::PersonStatus<'_>> =
        statuses.iter().filter(|s| wanted(s)).collect();
    let id = |s: &coverage::PersonStatus<'_>| {
        if args.show_ids {
            s.entry.person.to_string()
        } else {
            s.entry.person.masked()
        }
    };
    match args.format {
        Format::Json => {
            let rows: Vec<PersonJson> = selected
                .iter()
                .map(|s| PersonJson {
                    person_id: id(s),
                    name: s.entry.name.clone(),
                    rank: s.entry.rank,
                    since: s.entry.since,
                    until: s.entry.until,
                    employer: s.entry.employer.clone(),
                    position: s.entry.position.clone(),
                    group: s.entry.group.clone(),
                    last_trained: s.last_trained,
                    rotation: s.rotation,
                    hours: s.hours,
                    compliant: compliant(&s.hours),
                })
                .collect();
            #[derive(Serialize)]
            struct PeopleJson<'a> {
                org: &'a str,
                as_of: Date,
                people: Vec<PersonJson>,
            }
            render::json(
                io.out,
                &PeopleJson {
                    org: node.orgs().code(org),
                    as_of,
                    people: rows,
                },
            )?;
        }
        Format::Table | Format::Csv => {
            let zh = args.format == Format::Table || args.lang == Lang::Zh;
            let rows: Vec<Vec<String>> = selected
                .iter()
                .map(|s| {
                    let tally = |t: Option<crate::rules::Tally>, days: bool| match t {
                        None => "-".to_owned(),
                        Some(t) if days => format!("{}h/{}d", t.hours, t.days),
                        Some(t) => format!("{}h", t.hours),
                    };
                    vec![
                        id(s),
                        s.entry.name.clone(),
                        if zh {
                            s.entry.rank.zh()
                        } else {
                            s.entry.rank.as_str()
                        }
                        .to_owned(),
                        s.entry.since.to_string(),
                        s.last_trained
                            .map(|d| d.to_string())
                            .unwrap_or_else(|| "-".into()),
                        if zh {
                            s.rotation.zh()
                        } else {
                            s.rotation.as_str()
                        }
                        .to_owned(),
                        tally(s.hours.centralized, true),
                        tally(s.hours.online, false),
                        match compliant(&s.hours) {
                            None => "-".into(),
                            Some(true) => if zh { "达标" } else { "yes" }.into(),
                            Some(false) => if zh { "未达标" } else { "no" }.into(),
                        },
                        s.entry.employer.clone(),
                    ]
                })
                .collect();
            if args.format == Format::Table {
                writeln!(
                    io.out,
                    "{} on {}: {} of {} active roster entries",
                    node.orgs().org(org),
                    as_of,
                    rows.len(),
                    statuses.len()
                )?;
                render::table(io.out, &PEOPLE_COLUMNS, &rows)?;
            } else {
                render::csv(io.out, &PEOPLE_COLUMNS, &rows, args.lang)?;
            }
        }
    }
    Ok(())
}

/// Whether the hour rules that apply are all met (None: none apply).
fn compliant(h: &crate::rules::HoursStatus) -> Option<bool> {
    match (h.centralized, h.online) {
        (None, None) => None,
        (c, o) => Some(c.is_none_or(|t| t.met) && o.is_none_or(|t| t.met)),
    }
}

/// `delete class|attendance|roster`: the tombstones, written as one change
/// each of this node's origin.
pub(super) fn delete(node: &Node, command: super::DeleteCommand, io: &mut Output<'_>) -> CliResult {
    use crate::model::{ClassId, PersonId, RecordKey};
    let class = |text: &str| {
        text.parse::<ClassId>().map_err(|e: crate::model::Invalid| {
            CliError::new(exit::USAGE, format!("class id: {}", e.0))
        })
    };
    let person = |text: &str| {
        text.parse::<PersonId>()
            .map_err(|e: crate::model::Invalid| {
                CliError::new(exit::USAGE, format!("person id: {}", e.0))
            })
    };
    let (key, what) = match &command {
        super::DeleteCommand::Class { class_id } => (
            RecordKey::Class(class(class_id)?),
            format!("class {class_id}"),
        ),
        super::DeleteCommand::Attendance {
            class_id,
            person_id,
        } => {
            let p = person(person_id)?;
            (
                RecordKey::Attendance(class(class_id)?, p),
                format!("attendance of {} in class {class_id}", p.masked()),
            )
        }
        super::DeleteCommand::Roster { person_id } => {
            let p = person(person_id)?;
            (
                RecordKey::Roster(p),
                format!("roster entry of {}", p.masked()),
            )
        }
    };
    let me = node.me();
    // Checked first (a deletion of nothing leaves no ledger entry), then
    // computed again under the write lock.
    if lunxun_core::corrections::delete(&node.view(), me, &key).is_none() {
        return Err(CliError::new(
            exit::REFUSED,
            format!("this node holds no {what} of its own; nothing deleted"),
        ));
    }
    let draft = crate::imports::Draft {
        kind: "delete".into(),
        file: what.clone(),
        ..Default::default()
    };
    let (summary, entry) = node.write_import(
        Vec::new(),
        |view| lunxun_core::corrections::delete(view, me, &key).unwrap_or_default(),
        draft,
    )?;
    writeln!(
        io.out,
        "deleted {what}: {} changes written (log at seq {}; import {})",
        summary.written, summary.seq, entry.id
    )?;
    Ok(())
}
