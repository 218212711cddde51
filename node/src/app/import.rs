//! Importing a roster or a training file: reading it into validated records
//! (all or nothing), and writing them as changes of the node's own origin.

use std::path::Path;

use crate::error::Result;
use crate::import::{self, ImportError, ImportOptions};
use crate::model::Record;
use crate::node::{Node, WriteSummary};
use lunxun_core::corrections::{self, Scope};

/// What a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Roster,
    Trainings,
}

/// A file read and validated, not yet written.
#[derive(Debug)]
pub struct Read {
    /// Data rows in the file.
    pub rows: usize,
    /// The records they make (a training file: its classes, then attendance).
    pub records: Vec<Record>,
}

/// Reads and validates `file`; a bad row refuses the whole file.
pub fn read(kind: Kind, file: &Path, opts: &ImportOptions) -> Result<Read, ImportError> {
    match kind {
        Kind::Roster => import::read_roster(file, opts).map(|rows| Read {
            rows: rows.len(),
            records: rows.into_iter().map(|r| Record::Roster(r.entry)).collect(),
        }),
        Kind::Trainings => import::read_trainings(file, opts).map(|t| {
            let rows = t.attendance.len();
            let mut records: Vec<Record> = t.classes.into_iter().map(Record::Class).collect();
            records.extend(t.attendance.into_iter().map(Record::Attendance));
            Read { rows, records }
        }),
    }
}

impl Kind {
    /// What a file of this kind is the whole truth for, with `--replace`.
    pub fn scope(self) -> Scope {
        match self {
            Kind::Roster => Scope::Roster,
            Kind::Trainings => Scope::Classes,
        }
    }
}

/// Writes what was read: one atomic, durable append of what changed.
pub fn write(node: &Node, read: Read) -> Result<WriteSummary> {
    node.write_records(read.records)
}

/// Writes what was read as the whole truth for its scope (`--replace`): the
/// records of this node the file leaves out are deleted in the same append.
pub fn write_replacing(node: &Node, kind: Kind, read: Read) -> Result<WriteSummary> {
    let me = node.me();
    let file = read.records.clone();
    node.write_records_with(read.records, |view| {
        corrections::left_out(view, me, kind.scope(), &file)
    })
}

/// How many records of this node a file of `kind` leaves out within its
/// scope (what `--replace` would delete).
pub fn left_out(node: &Node, kind: Kind, read: &Read) -> usize {
    corrections::left_out(&node.view(), node.me(), kind.scope(), &read.records).len()
}
