//! `imports`, `undo` and `history`: the ledger of this node's own writes,
//! and the versions of records through it.

use super::{
    CliError, CliResult, HistoryArgs, HistorySubject, ImportsArgs, Output, StatusFormat, UndoArgs,
    exit,
};
use crate::app::ledger::{self as imports, LedgerError, Subject};
use crate::imports::Draft;
use crate::node::Node;
use crate::render::{self, col, num};

fn failed(e: impl std::fmt::Display) -> CliError {
    CliError::new(exit::FAILED, e.to_string())
}

pub(super) fn list(node: &Node, args: ImportsArgs, io: &mut Output<'_>) -> CliResult {
    let entries = imports::list(node).map_err(failed)?;
    if args.format == StatusFormat::Json {
        render::json(io.out, &serde_json::json!({ "imports": entries }))?;
        return Ok(());
    }
    let zone = node.config().zone();
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            let kind = match (e.replace, e.undoes) {
                (_, Some(id)) => format!("undo of {id}"),
                (true, None) => format!("{} --replace", e.kind),
                (false, None) => e.kind.clone(),
            };
            vec![
                e.id.to_string(),
                crate::clock::local_seconds(zone, e.at_ms),
                kind,
                e.file.clone(),
                e.hash.clone(),
                e.rows.to_string(),
                e.written.to_string(),
                e.removed.to_string(),
                if e.written > 0 {
                    format!("{}–{}", e.from_seq, e.to_seq)
                } else {
                    "-".into()
                },
            ]
        })
        .collect();
    render::table(
        io.out,
        &[
            num("id", "编号"),
            col("time", "时间"),
            col("kind", "类型"),
            col("file", "文件"),
            col("blake3", "校验值"),
            num("rows", "行数"),
            num("changes", "变更"),
            num("removed", "删除"),
            col("seqs", "序号"),
        ],
        &rows,
    )?;
    Ok(())
}

pub(super) fn undo(node: &Node, args: UndoArgs, io: &mut Output<'_>) -> CliResult {
    let refused = |e: LedgerError| match e {
        LedgerError::Unknown(_) | LedgerError::Empty(_) => {
            CliError::new(exit::REFUSED, e.to_string())
        }
        e => failed(e),
    };
    let entry = imports::get(node, args.import_id)
        .map_err(failed)?
        .ok_or(LedgerError::Unknown(args.import_id))
        .map_err(refused)?;
    // An import that wrote nothing has nothing to undo; the plan itself is
    // made under the write lock, against the log as it stands there.
    if entry.written == 0 {
        return Err(refused(LedgerError::Empty(entry.id)));
    }
    let mut left = Vec::new();
    let mut plan_error = None;
    let draft = Draft {
        kind: "undo".into(),
        file: entry.file.clone(),
        undoes: Some(entry.id),
        ..Default::default()
    };
    let (summary, undo) = node.write_import(
        Vec::new(),
        |_| match imports::undo_plan(node, &entry) {
            Ok(plan) => {
                left = plan.left;
                plan.records
            }
            Err(e) => {
                plan_error = Some(e);
                Vec::new()
            }
        },
        draft,
    )?;
    if let Some(e) = plan_error {
        return Err(refused(e));
    }
    writeln!(
        io.out,
        "undid import {}: {} changes written ({} removed), log at seq {}; import {}",
        entry.id, summary.written, summary.removed, summary.seq, undo.id
    )?;
    if !left.is_empty() {
        writeln!(
            io.out,
            "left as they are, since a later change replaced them ({}):",
            left.len()
        )?;
        for key in &left {
            writeln!(io.out, "  {}", describe(key))?;
        }
    }
    Ok(())
}

fn describe(key: &crate::model::RecordKey) -> String {
    use crate::model::RecordKey;
    match key {
        RecordKey::Roster(p) => format!("roster entry of {}", p.masked()),
        RecordKey::Class(c) => format!("class {c}"),
        RecordKey::Attendance(c, p) => format!("attendance of {} in class {c}", p.masked()),
        RecordKey::Obligation(k, d) => format!("obligation {} on {d}", k.as_str()),
    }
}

pub(super) fn history(node: &Node, args: HistoryArgs, io: &mut Output<'_>) -> CliResult {
    let subject = match &args.subject {
        HistorySubject::Person { id } => Subject::Person(
            id.parse()
                .map_err(|e: crate::model::Invalid| CliError::new(exit::USAGE, e.0))?,
        ),
        HistorySubject::Class { class_id } => Subject::Class(
            class_id
                .parse()
                .map_err(|e: crate::model::Invalid| CliError::new(exit::USAGE, e.0))?,
        ),
    };
    let versions = imports::history(node, &subject).map_err(failed)?;
    if args.format == StatusFormat::Json {
        render::json(io.out, &serde_json::json!({ "versions": versions }))?;
        return Ok(());
    }
    let zone = node.config().zone();
    let rows: Vec<Vec<String>> = versions
        .iter()
        .map(|v| {
            vec![
                crate::clock::local_seconds(zone, v.written_at_ms),
                v.origin.clone(),
                v.seq.to_string(),
                v.import.map(|i| i.to_string()).unwrap_or_default(),
                v.record.to_owned(),
                v.summary.clone(),
            ]
        })
        .collect();
    render::table(
        io.out,
        &[
            col("written", "写入时间"),
            col("origin", "来源"),
            num("seq", "序号"),
            col("import", "导入"),
            col("record", "记录"),
            col("version", "内容"),
        ],
        &rows,
    )?;
    Ok(())
}
