//! `bundle export` and `bundle import`: the offline transport's commands
//! (the work is [`crate::app::bundle`]'s), as text or JSON.

use serde_json::json;

use super::{BundleExportArgs, BundleImportArgs, CliError, CliResult, Output, StatusFormat, exit};
use crate::app::bundle::{self, BundleError, Imported, Since};
use crate::node::{Node, ReturnedTaken};

/// Bundles of fewer changes than this get no progress bar.
const PROGRESS_CHANGES_MIN: u64 = 20_000;

impl From<BundleError> for CliError {
    fn from(e: BundleError) -> CliError {
        let code = match &e {
            BundleError::Malformed { .. } | BundleError::Refused { .. } => exit::REFUSED,
            BundleError::Io { .. } | BundleError::Store { .. } => exit::FAILED,
        };
        CliError::new(code, e.to_string())
    }
}

pub(super) fn export(node: &Node, args: BundleExportArgs, io: &mut Output<'_>) -> CliResult {
    let since = match (&args.since, args.all) {
        (Some(path), _) => Since::Vector(bundle::read_since(path)?),
        (None, true) => Since::All,
        (None, false) => Since::Acked,
    };
    let mut bar: Option<indicatif::ProgressBar> = None;
    let draw = io.progress;
    let mut progress = |done: u64, total: u64| {
        if !draw || total < PROGRESS_CHANGES_MIN {
            return;
        }
        let b = bar.get_or_insert_with(|| {
            let b = indicatif::ProgressBar::new(total);
            b.set_style(
                indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} changes {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            b
        });
        b.set_position(done);
    };
    let written = bundle::export(node, &args.out, since, &mut progress);
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let e = written?;
    match args.format {
        StatusFormat::Json => writeln!(
            io.out,
            "{}",
            json!({
                "file": e.path.display().to_string(),
                "bytes": e.bytes,
                "changes": e.changes,
                "batches": e.batches,
                "origins": e.origins,
                "left": e.left,
            })
        )?,
        StatusFormat::Table => {
            writeln!(
                io.out,
                "{}: {} changes of {} origins in {} batches, {} bytes",
                e.path.display(),
                e.changes,
                e.origins,
                e.batches,
                e.bytes
            )?;
            if e.left > 0 {
                writeln!(
                    io.out,
                    "{} changes left for the next bundle (after this one's acknowledgement)",
                    e.left
                )?;
            }
        }
    }
    Ok(())
}

pub(super) fn import(node: &Node, args: BundleImportArgs, io: &mut Output<'_>) -> CliResult {
    let imported = bundle::import(node, &args.file)?;
    let file = args.file.display().to_string();
    match (imported, args.format) {
        (Imported::Bundle(b), StatusFormat::Json) => writeln!(
            io.out,
            "{}",
            json!({
                "kind": "bundle",
                "file": file,
                "child": b.child,
                "changes": b.changes,
                "applied": b.applied,
                "skipped": b.skipped,
                "held": b.held.iter().map(|(o, s, r)| json!({"origin": o, "seq": s, "reason": r})).collect::<Vec<_>>(),
                "bulletins": b.bulletins,
                "returned": b.returned.map(|r| r.people),
                "returned_full": b.returned.map(|r| r.full),
                "ack": b.ack.display().to_string(),
            })
        )?,
        (Imported::Bundle(b), StatusFormat::Table) => {
            writeln!(
                io.out,
                "{file}: bundle of {}: {} changes, {} applied, {} already held",
                b.child, b.changes, b.applied, b.skipped
            )?;
            for (origin, seq, reason) in &b.held {
                writeln!(io.out, "held back: {origin} from seq {seq}: {reason}")?;
            }
            match b.returned {
                Some(r) => writeln!(
                    io.out,
                    "returned trainings of {} people ({})",
                    r.people,
                    if r.full {
                        "the whole set"
                    } else {
                        "changed since its last acknowledgement or session"
                    }
                )?,
                None => writeln!(
                    io.out,
                    "returned trainings left out: too large for the file (a session brings them)"
                )?,
            }
            writeln!(io.out, "{}", b.ack.display())?;
        }
        (Imported::Ack(a), StatusFormat::Json) => writeln!(
            io.out,
            "{}",
            json!({
                "kind": "ack",
                "file": file,
                "parent": a.parent,
                "vector": a.vector,
                "held": a.held.iter().map(|(o, s, r)| json!({"origin": o, "seq": s, "reason": r})).collect::<Vec<_>>(),
                "bulletins": a.bulletins,
                "returned": returned_json(&a.returned),
            })
        )?,
        (Imported::Ack(a), StatusFormat::Table) => {
            let changes: u64 = a.vector.values().sum();
            writeln!(
                io.out,
                "{file}: acknowledgement of {}: it holds {changes} changes of {} origins; {} new bulletins",
                a.parent,
                a.vector.len(),
                a.bulletins
            )?;
            for (origin, seq, reason) in &a.held {
                writeln!(
                    io.out,
                    "held back by the parent: {origin} from seq {seq}: {reason}"
                )?;
            }
            match &a.returned {
                ReturnedTaken::None => {}
                ReturnedTaken::Taken { named, changed } => writeln!(
                    io.out,
                    "returned trainings of {named} people; {changed} changed here"
                )?,
                ReturnedTaken::Stale { named, why } => writeln!(
                    io.out,
                    "returned trainings of {named} people not taken: {why}"
                )?,
            }
        }
    }
    Ok(())
}

/// An acknowledgement's returned trainings in `bundle import`'s JSON:
/// `returned` people named (0: the file returns none), `changed` here, and
/// `stale`: why they were left (null when taken).
fn returned_json(r: &ReturnedTaken) -> serde_json::Value {
    match r {
        ReturnedTaken::None => json!({"people": 0, "changed": 0, "stale": null}),
        ReturnedTaken::Taken { named, changed } => {
            json!({"people": named, "changed": changed, "stale": null})
        }
        ReturnedTaken::Stale { named, why } => {
            json!({"people": named, "changed": 0, "stale": why.to_string()})
        }
    }
}
