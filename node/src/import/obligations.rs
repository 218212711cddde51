//! `import obligations FILE`: one row per bureau-level obligation event of
//! this node (DOMAIN.md §5) — a study session, a meeting with trainees, the
//! year's plan, a call-up report — with its date and an optional note.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::Path;

use super::cell;
use super::table::{Field, Row, Table};
use super::{ImportError, ImportOptions, Problems};
use crate::model::{Date, Obligation, ObligationKind, TEXT_CHARS_MAX};

/// One event read from an obligations file, with its line for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObligationRow {
    pub line: u64,
    pub event: Obligation,
}

const KIND: usize = 0;
const DATE: usize = 1;
const NOTE: usize = 2;

/// The obligations columns (DESIGN.md, "Obligations"), in the order of the
/// constants above.
const FIELDS: [Field; 3] = [
    Field {
        key: "kind",
        zh: "事项",
        aliases: &[],
        required: true,
    },
    Field {
        key: "date",
        zh: "日期",
        aliases: &[],
        required: true,
    },
    Field {
        key: "note",
        zh: "说明",
        aliases: &[],
        required: false,
    },
];

/// Reads and checks a whole obligations file. Returns every event in file
/// order, or every problem found. An event is its kind and date (one study
/// session a day is one record): an identical repeated row is dropped, the
/// same kind and date with another note is a problem.
pub fn read_obligations(
    path: &Path,
    opts: &ImportOptions,
) -> Result<Vec<ObligationRow>, ImportError> {
    let file = path.display().to_string();
    let table = Table::load(path, &file)?;
    let mut rows: Vec<ObligationRow> = Vec::new();
    let mut seen: HashMap<(ObligationKind, Date), usize> = HashMap::new();
    let mut problems = Problems::default();
    table.for_each_row(&file, &FIELDS, opts, &mut |row| {
        let Some(event) = read_event(row, &mut problems) else {
            problems.end_row();
            return;
        };
        match seen.entry((event.kind, event.date)) {
            Entry::Vacant(slot) => {
                slot.insert(rows.len());
                rows.push(ObligationRow {
                    line: row.line,
                    event,
                });
            }
            Entry::Occupied(slot) => {
                let first = &rows[*slot.get()];
                if first.event != event {
                    problems.add(
                        row.line,
                        Some(row.column(NOTE)),
                        format!(
                            "{} on {} is also on line {} with a different note",
                            event.kind, event.date, first.line
                        ),
                    );
                }
            }
        }
        problems.end_row();
    })?;
    problems.into_result(&file)?;
    Ok(rows)
}

/// Parses one row, adding a problem per bad cell; `None` when any was bad.
fn read_event(row: &Row<'_, '_>, problems: &mut Problems) -> Option<Obligation> {
    let p = problems;
    let kind = p.cell(
        row,
        KIND,
        row.required(KIND)
            .and_then(|c| cell::choice::<ObligationKind>("kind", c)),
    );
    let date = p.cell(
        row,
        DATE,
        row.required(DATE).and_then(|c| cell::date("date", c)),
    );
    let note = p.cell(
        row,
        NOTE,
        cell::free_text("note", row.cell(NOTE), TEXT_CHARS_MAX),
    );
    if p.row_bad {
        return None;
    }
    let event = Obligation {
        kind: kind?,
        date: date?,
        note: note?,
    };
    // The cell checks mirror the model's; this keeps an import from ever
    // accepting what a parent would refuse, should they drift apart.
    if let Err(e) = event.validate() {
        p.add(row.line, None, e.0);
        return None;
    }
    Some(event)
}
