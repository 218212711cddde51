//! Reports: one person's record, the personnel lists, the 通报, the bureau
//! obligations, and how a table goes out (table, JSON, CSV, XLSX).

use std::path::Path;

use super::{
    CliError, CliResult, Format, ListsArgs, ObligationsArgs, Output, PersonArgs, PersonFormat,
    ReportArgs, ReportFormat, TableFormat, exit, parse_as_of, resolve_org,
};
use crate::model::ObligationKind;
use crate::node::Node;
use crate::render::{self, Column, Lang, col, num};

pub(super) fn person(node: &Node, args: PersonArgs, io: &mut Output<'_>) -> CliResult {
    let as_of = parse_as_of(node, args.as_of.as_deref())?;
    let id: crate::model::PersonId = args
        .id
        .parse()
        .map_err(|e: crate::model::Invalid| CliError::new(exit::USAGE, e.0))?;
    match (args.format, &args.out) {
        (PersonFormat::Xlsx, Some(out)) => return archive(node, id, as_of, out, io),
        (PersonFormat::Xlsx, None) => {
            return Err(CliError::new(exit::USAGE, "--format xlsx needs --out FILE"));
        }
        (_, Some(_)) => {
            return Err(CliError::new(
                exit::USAGE,
                "--out goes with --format xlsx (the training archive)",
            ));
        }
        (_, None) => {}
    }
    let found = {
        let view = node.view();
        crate::reports::person(
            &view,
            &node.orgs(),
            &node.policy_at(as_of),
            id,
            as_of,
            args.show_ids,
        )
    };
    let shown = if args.show_ids { ", full ID shown" } else { "" };
    let outcome = if found.is_some() {
        "shown"
    } else {
        "not found"
    };
    super::accounts::audit_cli(
        node,
        crate::accounts::Action::Person,
        format!("{} {outcome}{shown}", id.masked()),
    )?;
    let Some(p) = found else {
        return Err(CliError::new(
            exit::REFUSED,
            format!(
                "{} is on no roster and in no training this node holds",
                id.masked()
            ),
        ));
    };
    if args.format == PersonFormat::Json {
        render::json(io.out, &p)?;
        return Ok(());
    }
    writeln!(
        io.out,
        "{} {} ({}{}) on {}",
        p.person_id,
        p.name.as_deref().unwrap_or("?"),
        p.gender,
        p.birth_date
            .map(|d| format!(", born {d}"))
            .unwrap_or_default(),
        p.as_of
    )?;
    let rows: Vec<Vec<String>> = p
        .entries
        .iter()
        .map(|e| {
            vec![
                format!("{} {}", e.org, e.org_name),
                e.rank.zh().to_owned(),
                e.since.to_string(),
                e.until.map(|u| u.to_string()).unwrap_or_default(),
                e.last_trained
                    .map(|d| d.to_string())
                    .unwrap_or_else(|| "-".into()),
                e.rotation
                    .map_or_else(|| "不在册".to_owned(), |r| r.zh().to_owned()),
                match e.hours.map(|h| (h.centralized, h.online)) {
                    Some((Some(c), _)) => format!(
                        "{}h/{}d{}",
                        c.hours,
                        c.days,
                        if c.met { " 达标" } else { "" }
                    ),
                    _ => "-".into(),
                },
                match e.hours.and_then(|h| h.online) {
                    Some(o) => format!("{}h{}", o.hours, if o.met { " 达标" } else { "" }),
                    None => "-".into(),
                },
            ]
        })
        .collect();
    writeln!(io.out, "\n名单 rosters")?;
    render::table(
        io.out,
        &[
            col("roster", "名单"),
            col("rank", "职级"),
            col("since", "列入日期"),
            col("until", "移出日期"),
            col("last_trained", "最近轮训"),
            col("rotation", "轮训状态"),
            col("centralized", "集中培训"),
            col("online", "网络学时"),
        ],
        &rows,
    )?;
    let rows: Vec<Vec<String>> = p
        .trainings
        .iter()
        .map(|t| {
            vec![
                t.organizer_name.clone(),
                t.title
                    .clone()
                    .unwrap_or_else(|| format!("({})", t.class_id)),
                t.mode.map(|m| m.zh()).unwrap_or("-").to_owned(),
                t.start.map(|d| d.to_string()).unwrap_or_default(),
                t.end.map(|d| d.to_string()).unwrap_or_default(),
                t.days.map(|d| d.to_string()).unwrap_or_default(),
                t.hours.to_string(),
                t.result.zh().to_owned(),
            ]
        })
        .collect();
    writeln!(io.out, "\n培训 trainings")?;
    render::table(
        io.out,
        &[
            col("organizer", "主办单位"),
            col("title", "培训班"),
            col("mode", "方式"),
            col("start", "开始"),
            col("end", "结束"),
            num("days", "天数"),
            num("hours", "学时"),
            col("result", "结果"),
        ],
        &rows,
    )?;
    Ok(())
}

/// `person ID --format xlsx --out FILE`: the training archive (培训档案),
/// the person's own file with the full ID inside it; the audit entry, the
/// messages and errors carry the masked ID only (a file may be named after
/// the number).
fn archive(
    node: &Node,
    id: crate::model::PersonId,
    as_of: crate::model::Date,
    out: &Path,
    io: &mut Output<'_>,
) -> CliResult {
    use crate::model::mask_ids;
    let found = {
        let view = node.view();
        crate::archive::person_archive(
            &view,
            &node.orgs(),
            &node.policy_at(as_of),
            id,
            node.me(),
            as_of,
        )
    };
    let path = out.display().to_string();
    let path = mask_ids(&path);
    let Some(a) = found else {
        super::accounts::audit_cli(
            node,
            crate::accounts::Action::Person,
            format!("{} not found (archive)", id.masked()),
        )?;
        return Err(CliError::new(
            exit::REFUSED,
            format!(
                "{} is on no roster and in no training this node holds; nothing written",
                id.masked()
            ),
        ));
    };
    // Logged before it leaves: an export the audit log cannot take is refused.
    super::accounts::audit_cli(
        node,
        crate::accounts::Action::Export,
        format!(
            "archive of {} on {as_of} ({} years, full ID) to {path}",
            id.masked(),
            a.years.len()
        ),
    )?;
    let prepared_by = node.orgs().org(node.me()).name.clone();
    crate::archive_xlsx::write_xlsx(out, &a, &prepared_by)
        .map_err(|e| CliError::new(exit::FAILED, mask_ids(&e.to_string())))?;
    let trainings: usize = a.years.iter().map(|y| y.trainings.len()).sum();
    writeln!(
        io.out,
        "{} 培训档案 training archive on {as_of}: {} years, {trainings} trainings written to {path}",
        id.masked(),
        a.years.len(),
    )?;
    Ok(())
}

/// Where and how a table goes: `--format`, `--out`, `--lang`.
struct Destination<'a> {
    format: TableFormat,
    out: Option<&'a Path>,
    lang: Lang,
}

/// Writes a table in the chosen format, to stdout or `--out`.
fn emit_table(
    io: &mut Output<'_>,
    to: Destination<'_>,
    title: &str,
    columns: &[Column],
    rows: Vec<Vec<String>>,
    json: impl FnOnce() -> serde_json::Value,
) -> CliResult {
    let Destination { format, out, lang } = to;
    let failed = |e: crate::reports::ExportError| CliError::new(exit::FAILED, e.to_string());
    match (format, out) {
        (TableFormat::Xlsx, None) => {
            return Err(CliError::new(exit::USAGE, "--format xlsx needs --out FILE"));
        }
        (TableFormat::Xlsx, Some(path)) => {
            crate::reports::write_xlsx(path, "lunxun", title, columns, &rows).map_err(failed)?;
        }
        (TableFormat::Csv, Some(path)) => {
            crate::reports::write_csv(path, None, columns, &rows, lang).map_err(failed)?;
        }
        (TableFormat::Csv, None) => render::csv(io.out, columns, &rows, lang)?,
        (TableFormat::Json, _) => render::json(io.out, &json())?,
        (TableFormat::Table, _) => {
            writeln!(io.out, "{title}")?;
            render::table(io.out, columns, &rows)?;
        }
    }
    if let (Some(path), TableFormat::Xlsx | TableFormat::Csv) = (out, format) {
        writeln!(
            io.out,
            "{title}: {} rows written to {}",
            rows.len(),
            path.display()
        )?;
    }
    Ok(())
}

pub(super) fn lists(node: &Node, args: ListsArgs, io: &mut Output<'_>) -> CliResult {
    let root = resolve_org(node, args.org.as_deref())?;
    let kinds = if args.list.is_empty() {
        crate::reports::ListKind::ALL.to_vec()
    } else {
        args.list.clone()
    };
    // The year's rules: the policy in force on its last day.
    let year_end =
        chrono::NaiveDate::from_ymd_opt(args.year, 12, 31).unwrap_or_else(|| node.today());
    let rows = {
        let view = node.view();
        crate::reports::personnel_lists(
            &view,
            &node.orgs(),
            &node.policy_at(year_end),
            root,
            args.year,
            &kinds,
            args.show_ids,
        )
    };
    let zh = args.format != TableFormat::Csv || args.lang == Lang::Zh;
    let title = format!(
        "{} {}年 干部教育培训人事名单 personnel lists ({} rows)",
        node.orgs().org(root),
        args.year,
        rows.len()
    );
    let table = crate::reports::list_table(&rows, zh);
    super::accounts::audit_cli(
        node,
        crate::accounts::Action::Export,
        format!(
            "lists {} of {} ({} rows{}) to {}",
            args.year,
            node.orgs().code(root),
            rows.len(),
            if args.show_ids { ", full IDs" } else { "" },
            args.out
                .as_deref()
                .map_or("stdout".into(), |p| p.display().to_string())
        ),
    )?;
    emit_table(
        io,
        Destination {
            format: args.format,
            out: args.out.as_deref(),
            lang: args.lang,
        },
        &title,
        &crate::reports::LIST_COLUMNS,
        table,
        || serde_json::json!({ "org": node.orgs().code(root), "year": args.year, "rows": rows }),
    )
}

pub(super) fn report(node: &Node, args: ReportArgs, io: &mut Output<'_>) -> CliResult {
    let as_of = parse_as_of(node, args.as_of.as_deref())?;
    let root = resolve_org(node, args.org.as_deref())?;
    let compare = match args.compare.as_deref() {
        Some(text) => crate::model::parse_date("--compare", text)
            .map_err(|e| CliError::new(exit::USAGE, e.0))?,
        None => lunxun_core::trend::previous_quarter(as_of),
    };
    if compare > as_of {
        return Err(CliError::new(
            exit::USAGE,
            format!("--compare {compare} is after --as-of {as_of}"),
        ));
    }
    let report = crate::reports::tongbao_compared(node, root, as_of, compare)
        .ok_or_else(|| CliError::new(exit::FAILED, "nothing to report"))?;
    let title = format!(
        "{} 干部轮训覆盖情况通报 coverage report, {} (上期 compared with {})",
        report.name, report.as_of, report.compare_as_of
    );
    let table = crate::reports::report_table(&report);
    super::accounts::audit_cli(
        node,
        crate::accounts::Action::Export,
        format!(
            "report of {} on {as_of} to {}",
            node.orgs().code(root),
            args.out
                .as_deref()
                .map_or("stdout".into(), |p| p.display().to_string())
        ),
    )?;
    let format = match args.format {
        ReportFormat::Table => TableFormat::Table,
        ReportFormat::Json => TableFormat::Json,
        ReportFormat::Csv => TableFormat::Csv,
        ReportFormat::Xlsx => TableFormat::Xlsx,
        ReportFormat::Docx => {
            let path = args
                .out
                .as_deref()
                .ok_or_else(|| CliError::new(exit::USAGE, "--format docx needs --out FILE"))?;
            crate::tongbao_docx::write_docx(path, &report)
                .map_err(|e| CliError::new(exit::FAILED, e.to_string()))?;
            writeln!(
                io.out,
                "{}: {} subordinates written to {}",
                crate::tongbao_docx::title(as_of),
                report.rows.len(),
                path.display()
            )?;
            return Ok(());
        }
    };
    emit_table(
        io,
        Destination {
            format,
            out: args.out.as_deref(),
            lang: args.lang,
        },
        &title,
        &crate::reports::REPORT_COLUMNS,
        table,
        || serde_json::to_value(&report).unwrap_or_default(),
    )
}

const OBLIGATION_COLUMNS: [Column; 9] = [
    col("org", "机构代码"),
    col("name", "名称"),
    col("level", "层级"),
    col("study", "专题研究"),
    col("trainee_meeting", "座谈交流"),
    col("annual_plan", "年度计划"),
    col("callup_report", "调训通报"),
    num("met", "已完成"),
    col("last", "最近日期"),
];

pub(super) fn obligations(node: &Node, args: ObligationsArgs, io: &mut Output<'_>) -> CliResult {
    let root = resolve_org(node, args.org.as_deref())?;
    // The years of the dates a record may carry.
    let (year_min, year_max) = (
        crate::model::year_of(crate::model::DATE_MIN),
        crate::model::year_of(crate::model::DATE_MAX),
    );
    let year = match args.year {
        None => crate::model::year_of(node.today()),
        Some(y) if (year_min..=year_max).contains(&y) => y,
        Some(y) => {
            return Err(CliError::new(
                exit::USAGE,
                format!("--year {y} is outside {year_min}..{year_max}"),
            ));
        }
    };
    let report = {
        let view = node.view();
        crate::obligations::obligations(&view, &node.orgs(), root, args.depth, year)
    };
    if args.format == Format::Json {
        render::json(io.out, &report)?;
        return Ok(());
    }
    let table = args.format == Format::Table;
    let rows: Vec<Vec<String>> = report
        .nodes
        .iter()
        .map(|n| {
            let indent = if table {
                "  ".repeat(n.depth as usize)
            } else {
                String::new()
            };
            let mut row = vec![
                n.org.clone(),
                format!("{indent}{}", n.name),
                n.level.to_owned(),
            ];
            row.extend(ObligationKind::ALL.iter().map(|k| {
                let met = n.kinds.get(*k).met;
                if table {
                    if met { "✓" } else { "✗" }.to_owned()
                } else {
                    crate::reports::met_cell(met, args.lang).to_owned()
                }
            }));
            row.push(format!("{}/4", n.met));
            row.push(match n.kinds.last() {
                Some(d) => d.to_string(),
                None if table && !n.reporting => "未报送 silent".into(),
                None => String::new(),
            });
            row
        })
        .collect();
    if table {
        writeln!(
            io.out,
            "{} {year}年 履职事项 obligations ({} of {} nodes met all four)",
            node.orgs().org(root),
            report.nodes.iter().filter(|n| n.met == 4).count(),
            report.nodes.len()
        )?;
        render::table(io.out, &OBLIGATION_COLUMNS, &rows)?;
    } else {
        render::csv(io.out, &OBLIGATION_COLUMNS, &rows, args.lang)?;
    }
    Ok(())
}
