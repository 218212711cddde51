//! `import trainings FILE`: one row per person per class, the class's own
//! attributes repeated on each of its rows (that is how organizers keep
//! these lists), folded here into one [`Class`] and its [`Attendance`]s.

use std::borrow::Cow;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt::Display;
use std::path::Path;

use super::cell::{self, Cell};
use super::table::{Field, Row, Table};
use super::{ImportError, ImportOptions, Problems};
use crate::model::{
    Attendance, CLASS_DAYS_MAX, Class, ClassId, Date, Hours, Mode, NAME_CHARS_MAX, Outcome,
    PersonId, Record, TEXT_CHARS_MAX, check_text,
};

/// The classes and attendance of one trainings file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrainingsFile {
    /// In the order of their first row.
    pub classes: Vec<Class>,
    /// In file order, identical repeated rows dropped.
    pub attendance: Vec<Attendance>,
}

const CLASS_ID: usize = 0;
const TITLE: usize = 1;
const MODE: usize = 2;
const START: usize = 3;
const END: usize = 4;
const HOURS: usize = 5;
const PERSON: usize = 6;
const RESULT: usize = 7;
const OFF_JOB: usize = 8;
const DAYS: usize = 9;
const NAME: usize = 10;
const CATEGORY: usize = 11;

/// The trainings columns of the external contract, in the order of the
/// constants above.
const FIELDS: [Field; 12] = [
    Field {
        key: "class_id",
        zh: "培训班编号",
        aliases: &[],
        required: true,
    },
    Field {
        key: "title",
        zh: "培训班名称",
        aliases: &[],
        required: true,
    },
    Field {
        key: "mode",
        zh: "培训方式",
        aliases: &[],
        required: true,
    },
    Field {
        key: "start",
        zh: "开始日期",
        aliases: &[],
        required: true,
    },
    Field {
        key: "end",
        zh: "结束日期",
        aliases: &[],
        required: true,
    },
    Field {
        key: "hours",
        zh: "学时",
        aliases: &[],
        required: true,
    },
    Field {
        key: "person_id",
        zh: "身份证号",
        aliases: &["身份证号码", "公民身份号码"],
        required: true,
    },
    Field {
        key: "result",
        zh: "结果",
        aliases: &[],
        required: true,
    },
    Field {
        key: "off_job",
        zh: "脱产",
        aliases: &[],
        required: false,
    },
    Field {
        key: "days",
        zh: "天数",
        aliases: &[],
        required: false,
    },
    Field {
        key: "name",
        zh: "姓名",
        aliases: &[],
        required: false,
    },
    Field {
        key: "category",
        zh: "类别",
        aliases: &[],
        required: false,
    },
];

/// A class being assembled from its rows.
struct ClassState {
    /// Hours: the most credited on any row so far; `off_job`, `days` and
    /// `category` are filled in at the end from the fields below.
    class: Class,
    /// The line of the class's first row, which set title, mode and dates.
    line: u64,
    /// Optional attributes, with the line that first gave each: an empty
    /// cell means "not stated here", so only stated values must agree.
    off_job: Option<(bool, u64)>,
    days: Option<(u32, u64)>,
    category: Option<(String, u64)>,
}

/// An attendance already read, for the duplicate check.
struct Seen {
    index: usize,
    line: u64,
}

/// Reads and checks a whole trainings file. Returns its classes and
/// attendance, or every problem found.
pub fn read_trainings(path: &Path, opts: &ImportOptions) -> Result<TrainingsFile, ImportError> {
    let file = path.display().to_string();
    let table = Table::load(path, &file)?;
    let mut reader = TrainingsReader::default();
    table.for_each_row(&file, &FIELDS, opts, &mut |row| {
        reader.row(row);
        reader.problems.end_row();
    })?;
    reader.finish(&file)
}

#[derive(Default)]
struct TrainingsReader {
    classes: Vec<ClassState>,
    /// Class id to index in `classes`.
    by_id: HashMap<String, usize>,
    attendance: Vec<Attendance>,
    /// The line of each attendance, for messages.
    attendance_lines: Vec<u64>,
    /// (class index, person) to the attendance already read.
    seen: HashMap<(usize, PersonId), Seen>,
    problems: Problems,
}

/// The cells of one row, each `None` when it was bad (and reported).
struct Cells<'c> {
    class_id: Option<Cow<'c, str>>,
    title: Option<Cow<'c, str>>,
    mode: Option<Mode>,
    start: Option<Date>,
    end: Option<Date>,
    hours: Option<Hours>,
    person: Option<PersonId>,
    outcome: Option<Outcome>,
    off_job: Option<Option<bool>>,
    days: Option<Option<u32>>,
    name: Option<Cow<'c, str>>,
    category: Option<Option<Cow<'c, str>>>,
}

/// Text checked for length and control characters, borrowed when it can be.
fn checked_text<'c>(field: &str, cell: Cell<'c>, max: usize) -> Result<Cow<'c, str>, String> {
    let text = cell::text(field, cell)?;
    check_text(field, &text, max).map_err(|e| e.0)?;
    Ok(text)
}

/// An optional cell: `Ok(None)` when empty.
fn optional<'c, T>(
    cell: Cell<'c>,
    parse: impl FnOnce(Cell<'c>) -> Result<T, String>,
) -> Result<Option<T>, String> {
    if cell.is_empty() {
        Ok(None)
    } else {
        parse(cell).map(Some)
    }
}

impl TrainingsReader {
    fn row(&mut self, row: &Row<'_, '_>) {
        let Some(cells) = self.cells(row) else {
            return;
        };
        let Some(class) = self.class(row, &cells) else {
            return;
        };
        self.attendance(row, class, &cells);
    }

    /// Parses every cell, reporting each bad one, then the checks between
    /// cells of the row. `None` when the row is bad.
    fn cells<'c>(&mut self, row: &Row<'_, 'c>) -> Option<Cells<'c>> {
        let p = &mut self.problems;
        let cells = Cells {
            class_id: p.cell(
                row,
                CLASS_ID,
                row.required(CLASS_ID)
                    .and_then(|c| cell::text("class id", c)),
            ),
            title: p.cell(
                row,
                TITLE,
                row.required(TITLE)
                    .and_then(|c| checked_text("title", c, TEXT_CHARS_MAX)),
            ),
            mode: p.cell(
                row,
                MODE,
                row.required(MODE).and_then(|c| cell::choice("mode", c)),
            ),
            start: p.cell(
                row,
                START,
                row.required(START).and_then(|c| cell::date("start", c)),
            ),
            end: p.cell(
                row,
                END,
                row.required(END).and_then(|c| cell::date("end", c)),
            ),
            hours: p.cell(
                row,
                HOURS,
                row.required(HOURS).and_then(|c| cell::hours("hours", c)),
            ),
            person: p.cell(row, PERSON, row.required(PERSON).and_then(cell::person_id)),
            outcome: p.cell(
                row,
                RESULT,
                row.required(RESULT).and_then(|c| cell::choice("result", c)),
            ),
            off_job: p.cell(
                row,
                OFF_JOB,
                optional(row.cell(OFF_JOB), |c| cell::yes_no("off_job", c)),
            ),
            days: p.cell(
                row,
                DAYS,
                optional(row.cell(DAYS), |c| cell::days("days", c)),
            ),
            name: p.cell(
                row,
                NAME,
                checked_text("name", row.cell(NAME), NAME_CHARS_MAX),
            ),
            category: p.cell(
                row,
                CATEGORY,
                optional(row.cell(CATEGORY), |c| {
                    checked_text("category", c, TEXT_CHARS_MAX)
                }),
            ),
        };
        if let (Some(start), Some(end)) = (cells.start, cells.end) {
            let span = (end - start).num_days() + 1;
            if end < start {
                p.cell(
                    row,
                    END,
                    Err::<(), _>(format!("end {end} is before start {start}")),
                );
            } else if span > i64::from(CLASS_DAYS_MAX) {
                p.cell(
                    row,
                    END,
                    Err::<(), _>(format!(
                        "class lasts {span} days, more than {CLASS_DAYS_MAX}"
                    )),
                );
            } else if let Some(Some(days)) = cells.days
                && i64::from(days) > span
            {
                p.cell(
                    row,
                    DAYS,
                    Err::<(), _>(format!(
                        "days {days} is more than the {span} days from start to end"
                    )),
                );
            }
        }
        if self.problems.row_bad {
            None
        } else {
            Some(cells)
        }
    }

    /// Finds or starts the row's class, checking the row agrees with the
    /// class's earlier rows. Returns the class's index.
    fn class(&mut self, row: &Row<'_, '_>, cells: &Cells<'_>) -> Option<usize> {
        let (Some(id), Some(title), Some(mode), Some(start), Some(end)) = (
            cells.class_id.as_deref(),
            cells.title.as_deref(),
            cells.mode,
            cells.start,
            cells.end,
        ) else {
            return None;
        };
        let off_job = cells.off_job.flatten();
        let days = cells.days.flatten();
        let category = cells.category.as_ref().and_then(|c| c.as_deref());

        let Some(&index) = self.by_id.get(id) else {
            let class_id = match id.parse::<ClassId>() {
                Ok(class_id) => class_id,
                Err(e) => {
                    self.problems.add(row.line, Some(row.column(CLASS_ID)), e.0);
                    return None;
                }
            };
            let index = self.classes.len();
            self.by_id.insert(id.to_owned(), index);
            self.classes.push(ClassState {
                class: Class {
                    class_id,
                    title: title.to_owned(),
                    category: String::new(),
                    mode,
                    off_job: false,
                    start,
                    end,
                    hours: Hours::ZERO,
                    days: None,
                },
                line: row.line,
                off_job: off_job.map(|v| (v, row.line)),
                days: days.map(|v| (v, row.line)),
                category: category.map(|v| (v.to_owned(), row.line)),
            });
            return Some(index);
        };

        let state = &mut self.classes[index];
        let problems = &mut self.problems;
        let first = state.line;
        let mut disagree =
            |field: usize, what: &str, here: &dyn Display, there: &dyn Display, line: u64| {
                problems.add(
                    row.line,
                    Some(row.column(field)),
                    format!("class {id} has {what} {here} here but {there} on line {line}"),
                );
            };
        if state.class.title != title {
            disagree(
                TITLE,
                "title",
                &format_args!("{title:?}"),
                &format_args!("{:?}", state.class.title),
                first,
            );
        }
        if state.class.mode != mode {
            disagree(MODE, "mode", &mode, &state.class.mode, first);
        }
        if state.class.start != start {
            disagree(START, "start", &start, &state.class.start, first);
        }
        if state.class.end != end {
            disagree(END, "end", &end, &state.class.end, first);
        }
        match (off_job, state.off_job) {
            (Some(here), Some((there, line))) if here != there => {
                disagree(OFF_JOB, "off_job", &yes_no(here), &yes_no(there), line)
            }
            (Some(here), None) => state.off_job = Some((here, row.line)),
            _ => {}
        }
        match (days, state.days) {
            (Some(here), Some((there, line))) if here != there => {
                disagree(DAYS, "days", &here, &there, line)
            }
            (Some(here), None) => state.days = Some((here, row.line)),
            _ => {}
        }
        match (category, &state.category) {
            (Some(here), Some((there, line))) if here != there => disagree(
                CATEGORY,
                "category",
                &format_args!("{here:?}"),
                &format_args!("{there:?}"),
                *line,
            ),
            (Some(here), None) => state.category = Some((here.to_owned(), row.line)),
            _ => {}
        }
        if self.problems.row_bad {
            return None;
        }
        Some(index)
    }

    /// Records the row's attendance, refusing a second, different row for
    /// the same person in the same class.
    fn attendance(&mut self, row: &Row<'_, '_>, class: usize, cells: &Cells<'_>) {
        let (Some(person), Some(hours), Some(outcome), Some(name)) = (
            cells.person,
            cells.hours,
            cells.outcome,
            cells.name.as_deref(),
        ) else {
            return;
        };
        let Some(state) = self.classes.get_mut(class) else {
            return;
        };
        match self.seen.entry((class, person)) {
            Entry::Occupied(seen) => {
                let Some(earlier) = self.attendance.get(seen.get().index) else {
                    return;
                };
                let difference = if earlier.hours != hours {
                    "hours"
                } else if earlier.outcome != outcome {
                    "result"
                } else if earlier.name != name {
                    "name"
                } else {
                    // The same row twice: harmless, dropped.
                    return;
                };
                self.problems.add(
                    row.line,
                    Some(row.column(PERSON)),
                    format!(
                        "person {} is also in class {} on line {} with different {difference}",
                        person.masked(),
                        state.class.class_id,
                        seen.get().line
                    ),
                );
            }
            Entry::Vacant(slot) => {
                slot.insert(Seen {
                    index: self.attendance.len(),
                    line: row.line,
                });
                state.class.hours = state.class.hours.max(hours);
                self.attendance_lines.push(row.line);
                self.attendance.push(Attendance {
                    class_id: state.class.class_id.clone(),
                    person,
                    hours,
                    outcome,
                    name: name.to_owned(),
                });
            }
        }
    }

    /// Completes the classes and returns the file, or all its problems.
    fn finish(mut self, file: &str) -> Result<TrainingsFile, ImportError> {
        let mut classes = Vec::with_capacity(self.classes.len());
        for state in self.classes {
            let mut class = state.class;
            // Centralized classes take people off their posts unless said
            // otherwise; online self-study never does.
            class.off_job = state
                .off_job
                .map_or(class.mode == Mode::Centralized, |(v, _)| v);
            class.days = state.days.map(|(v, _)| v);
            class.category = state.category.map(|(v, _)| v).unwrap_or_default();
            let record = Record::Class(class);
            // The row checks mirror the model's; this keeps an import from
            // ever accepting what a parent would refuse, should they drift.
            if let Err(e) = record.validate() {
                self.problems.add(state.line, None, e.0);
                self.problems.end_row();
            }
            if let Record::Class(class) = record {
                classes.push(class);
            }
        }
        for (attendance, line) in self.attendance.iter().zip(&self.attendance_lines) {
            if let Err(e) = attendance.validate() {
                self.problems.add(*line, None, e.0);
                self.problems.end_row();
            }
        }
        self.problems.into_result(file)?;
        Ok(TrainingsFile {
            classes,
            attendance: self.attendance,
        })
    }
}

fn yes_no(value: bool) -> &'static str {
    if value { "yes" } else { "no" }
}
