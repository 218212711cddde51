//! Reading roster, training and obligations files (CSV or XLSX) into domain
//! records.
//!
//! This is the edge where spreadsheets filled in by hand meet the model, so
//! it is strict and talkative: every row is checked completely against the
//! same bounds [`Record::validate`](crate::model::Record::validate) enforces on
//! a child's batch, every bad row is reported with its file, line and column,
//! and a file with any bad row is rejected as a whole, so an import never
//! leaves half a file behind. Nothing here touches the store: the caller
//! compares what was read with what is stored, which is what makes
//! re-importing an identical file a no-op.
//!
//! # Layout
//!
//! - `table`: bytes to header-mapped rows of cells (encoding detection, CSV,
//!   workbooks, physical line numbers, size limits, the progress bar).
//! - `cell`: one cell to one typed value, with a reason when it cannot be.
//! - `roster`, `trainings`: the two file kinds of the external contract
//!   (DESIGN.md, "External contract"), their columns and cross-row rules.
//! - `obligations`: a bureau's obligation events (DESIGN.md, "Obligations").

mod cell;
mod dense;
mod obligations;
mod roster;
mod table;
mod trainings;
mod workbook;

#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::fmt::Write as _;

pub use obligations::{ObligationRow, read_obligations};
pub use roster::{RosterRow, read_roster};
pub use trainings::{TrainingsFile, read_trainings};

/// How an import runs; what it accepts never depends on these.
#[derive(Debug, Clone, Copy, Default)]
pub struct ImportOptions {
    /// Show a progress bar on stderr for files over [`PROGRESS_ROWS_MIN`] rows
    /// (a national roster takes a while; a county's does not need one).
    pub progress: bool,
}

/// Files with fewer data rows than this finish too quickly for a progress bar.
pub const PROGRESS_ROWS_MIN: usize = 5_000;
/// Largest file read, so a wrong file (a video, a disk image) is refused
/// before it is loaded into memory.
pub const FILE_BYTES_MAX: u64 = 512 * 1024 * 1024;
/// Most data rows in one file: about four times the people the whole
/// hierarchy trains in a year.
pub const ROWS_MAX: usize = 5_000_000;
/// Most problems kept for one file. A file with more is broken as a whole
/// (wrong columns, wrong sheet); the first thousand say how.
pub const PROBLEMS_MAX: usize = 1_000;

/// What is wrong with one row, in the words the person fixing the file needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowProblem {
    /// Physical line (CSV) or spreadsheet row number (XLSX); the header is 1.
    pub line: u64,
    /// The column's header as written in the file, when one column is at fault.
    pub column: Option<String>,
    /// Lowercase, no trailing punctuation, never a full ID number.
    pub reason: String,
}

impl RowProblem {
    /// `{file}:{line}: {column}: {reason}`, the form editors and `--check` use.
    pub fn render(&self, file: &str) -> String {
        let mut out = format!("{}:{}: ", one_line(file), self.line);
        if let Some(column) = &self.column {
            out.push_str(&one_line(column));
            out.push_str(": ");
        }
        out.push_str(&one_line(&self.reason));
        out
    }
}

/// Why a file was not imported. Nothing of a file is returned unless all of
/// it is good.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file could not be opened or read.
    #[error("{file}: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },
    /// Not a readable CSV or workbook: bad encoding, corrupt, too large, empty.
    #[error("{file}: {reason}")]
    Format { file: String, reason: String },
    /// The header row lacks a required column or names one twice.
    #[error("{file}: {reason}")]
    Header { file: String, reason: String },
    /// Some rows are bad: the first [`PROBLEMS_MAX`] problems, and how many rows.
    #[error("{}", rows_summary(.file, .problems, *.bad_rows))]
    Rows {
        file: String,
        problems: Vec<RowProblem>,
        bad_rows: usize,
    },
}

/// One line for the CLI: the first problem and how many rows are bad besides.
fn rows_summary(file: &str, problems: &[RowProblem], bad_rows: usize) -> String {
    let mut out = match problems.first() {
        Some(first) => first.render(file),
        None => format!("{} has bad rows", one_line(file)),
    };
    let more_rows = bad_rows.saturating_sub(1);
    if more_rows > 0 {
        let rows = if more_rows == 1 { "row" } else { "rows" };
        let _ = write!(
            out,
            "; {more_rows} more bad {rows} (run with --check to list them all)"
        );
    } else if problems.len() > 1 {
        let more = problems.len() - 1;
        let what = if more == 1 { "problem" } else { "problems" };
        let _ = write!(
            out,
            "; {more} more {what} in this row (run with --check to list them all)"
        );
    }
    out
}

/// Escapes control characters, so a cell's stray newline cannot break the
/// one-line error the CLI promises.
fn one_line(text: &str) -> Cow<'_, str> {
    if text.chars().any(char::is_control) {
        Cow::Owned(
            text.chars()
                .map(|c| {
                    if c.is_control() {
                        c.escape_debug().to_string()
                    } else {
                        c.to_string()
                    }
                })
                .collect(),
        )
    } else {
        Cow::Borrowed(text)
    }
}

/// The problems of one file, collected row by row.
#[derive(Debug, Default)]
struct Problems {
    list: Vec<RowProblem>,
    bad_rows: usize,
    /// Whether the row being read has a problem yet.
    row_bad: bool,
}

impl Problems {
    fn add(&mut self, line: u64, column: Option<&str>, reason: impl Into<String>) {
        if self.list.len() < PROBLEMS_MAX {
            self.list.push(RowProblem {
                line,
                column: column.map(str::to_owned),
                reason: reason.into(),
            });
        }
        self.row_bad = true;
    }

    /// The value of a cell of `row`, or `None` after reporting why it is bad.
    fn cell<T>(
        &mut self,
        row: &table::Row<'_, '_>,
        field: usize,
        result: Result<T, String>,
    ) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(reason) => {
                self.add(row.line, Some(row.column(field)), reason);
                None
            }
        }
    }

    /// Closes the current row; returns whether it was good.
    fn end_row(&mut self) -> bool {
        let good = !self.row_bad;
        if self.row_bad {
            self.bad_rows += 1;
            self.row_bad = false;
        }
        good
    }

    /// The whole file's verdict.
    fn into_result(mut self, file: &str) -> Result<(), ImportError> {
        self.end_row();
        if self.bad_rows == 0 {
            return Ok(());
        }
        self.list.sort_by_key(|p| p.line);
        Err(ImportError::Rows {
            file: file.to_owned(),
            problems: self.list,
            bad_rows: self.bad_rows,
        })
    }
}
