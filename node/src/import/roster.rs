//! `import roster FILE`: one row per person on this node's roster.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::Path;

use super::cell::{self, Cell};
use super::table::{Field, Row, Table};
use super::{ImportError, ImportOptions, Problems};
use crate::model::{NAME_CHARS_MAX, PersonId, Rank, RosterEntry, TEXT_CHARS_MAX};

/// One person read from a roster file, with where they came from so the
/// caller can point back at the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterRow {
    pub line: u64,
    pub entry: RosterEntry,
}

const PERSON: usize = 0;
const NAME: usize = 1;
const RANK: usize = 2;
const SINCE: usize = 3;
const EMPLOYER: usize = 4;
const POSITION: usize = 5;
const GROUP: usize = 6;
const UNTIL: usize = 7;

/// The roster columns of the external contract, in the order of the
/// constants above.
const FIELDS: [Field; 8] = [
    Field {
        key: "person_id",
        zh: "身份证号",
        aliases: &["身份证号码", "公民身份号码"],
        required: true,
    },
    Field {
        key: "name",
        zh: "姓名",
        aliases: &[],
        required: true,
    },
    Field {
        key: "rank",
        zh: "职级",
        aliases: &[],
        required: true,
    },
    Field {
        key: "since",
        zh: "列入日期",
        aliases: &[],
        required: true,
    },
    Field {
        key: "employer",
        zh: "工作单位",
        aliases: &[],
        required: false,
    },
    Field {
        key: "position",
        zh: "职务",
        aliases: &[],
        required: false,
    },
    Field {
        key: "group",
        zh: "培训对象类别",
        aliases: &[],
        required: false,
    },
    Field {
        key: "until",
        zh: "移出日期",
        aliases: &[],
        required: false,
    },
];

/// Reads and checks a whole roster file. Returns every person in file order,
/// or every problem found; an identical repeated row is dropped, a
/// conflicting one is a problem.
pub fn read_roster(path: &Path, opts: &ImportOptions) -> Result<Vec<RosterRow>, ImportError> {
    let file = path.display().to_string();
    let table = Table::load(path, &file)?;
    let mut rows: Vec<RosterRow> = Vec::new();
    // Where each person was first seen: index into `rows`.
    let mut seen: HashMap<PersonId, usize> = HashMap::new();
    let mut problems = Problems::default();
    table.for_each_row(&file, &FIELDS, opts, &mut |row| {
        let Some(entry) = read_entry(row, &mut problems) else {
            problems.end_row();
            return;
        };
        match seen.entry(entry.person) {
            Entry::Vacant(slot) => {
                slot.insert(rows.len());
                rows.push(RosterRow {
                    line: row.line,
                    entry,
                });
            }
            Entry::Occupied(slot) => {
                let first = &rows[*slot.get()];
                if first.entry != entry {
                    problems.add(
                        row.line,
                        Some(row.column(PERSON)),
                        format!(
                            "person {} is also on line {} with a different {}",
                            entry.person.masked(),
                            first.line,
                            first_difference(&first.entry, &entry)
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
fn read_entry(row: &Row<'_, '_>, problems: &mut Problems) -> Option<RosterEntry> {
    let p = problems;
    let person = p.cell(row, PERSON, row.required(PERSON).and_then(cell::person_id));
    let name = p.cell(
        row,
        NAME,
        row.required(NAME)
            .and_then(|c| cell::free_text("name", c, NAME_CHARS_MAX)),
    );
    let rank = p.cell(
        row,
        RANK,
        row.required(RANK)
            .and_then(|c| cell::choice::<Rank>("rank", c)),
    );
    let since = p.cell(
        row,
        SINCE,
        row.required(SINCE).and_then(|c| cell::date("since", c)),
    );
    let employer = p.cell(
        row,
        EMPLOYER,
        cell::free_text("employer", row.cell(EMPLOYER), TEXT_CHARS_MAX),
    );
    let position = p.cell(
        row,
        POSITION,
        cell::free_text("position", row.cell(POSITION), TEXT_CHARS_MAX),
    );
    let group = p.cell(
        row,
        GROUP,
        cell::free_text("group", row.cell(GROUP), TEXT_CHARS_MAX),
    );
    let until = match row.cell(UNTIL) {
        Cell::Empty => Some(None),
        c => p.cell(row, UNTIL, cell::date("until", c).map(Some)),
    };
    if let (Some(since), Some(Some(until))) = (since, until)
        && until <= since
    {
        p.add(
            row.line,
            Some(row.column(UNTIL)),
            format!("until {until} is not after since {since}"),
        );
    }
    if p.row_bad {
        return None;
    }
    let entry = RosterEntry {
        person: person?,
        name: name?,
        rank: rank?,
        since: since?,
        until: until?,
        employer: employer?,
        position: position?,
        group: group?,
    };
    // The cell checks above mirror the model's; this keeps an import from
    // ever accepting what a parent would refuse, should they drift apart.
    if let Err(e) = entry.validate() {
        p.add(row.line, None, e.0);
        return None;
    }
    Some(entry)
}

/// The first field two versions of a person differ in, for the message.
fn first_difference(a: &RosterEntry, b: &RosterEntry) -> &'static str {
    if a.name != b.name {
        "name"
    } else if a.rank != b.rank {
        "rank"
    } else if a.since != b.since {
        "since date"
    } else if a.until != b.until {
        "until date"
    } else if a.employer != b.employer {
        "employer"
    } else if a.position != b.position {
        "position"
    } else {
        "group"
    }
}
