//! Importing a roster, a training or an obligations file: reading it into
//! validated records (all or nothing), and writing them as changes of the
//! node's own origin.

use std::path::Path;

use crate::error::Result;
use crate::import::{self, ImportError, ImportOptions};
use crate::imports::{Draft, Entry};
use crate::model::Record;
use crate::node::{Node, WriteSummary};
use lunxun_core::corrections::{self, Scope};

/// What a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Roster,
    Trainings,
    Obligations,
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
        Kind::Obligations => import::read_obligations(file, opts).map(|rows| Read {
            rows: rows.len(),
            records: rows
                .into_iter()
                .map(|r| Record::Obligation(r.event))
                .collect(),
        }),
    }
}

impl Kind {
    /// What a file of this kind is the whole truth for, with `--replace`.
    pub fn scope(self) -> Scope {
        match self {
            Kind::Roster => Scope::Roster,
            Kind::Trainings => Scope::Classes,
            Kind::Obligations => Scope::ObligationYears,
        }
    }
}

/// Writes what was read — with `replace`, as the whole truth for its
/// scope: the records of this node the file leaves out are deleted in the
/// same append — as one entry of the imports ledger, which names `file` and
/// its BLAKE3 hash.
pub fn write(
    node: &Node,
    kind: Kind,
    read: Read,
    replace: bool,
    file: &Path,
) -> Result<(WriteSummary, Entry)> {
    let me = node.me();
    let draft = Draft {
        kind: match kind {
            Kind::Roster => "roster",
            Kind::Trainings => "trainings",
            Kind::Obligations => "obligations",
        }
        .into(),
        file: file.display().to_string(),
        hash: file_hash(file),
        rows: read.rows,
        replace,
        undoes: None,
    };
    let file_records = if replace {
        read.records.clone()
    } else {
        Vec::new()
    };
    node.write_import(
        read.records,
        |view| {
            if replace {
                corrections::left_out(view, me, kind.scope(), &file_records)
            } else {
                Vec::new()
            }
        },
        draft,
    )
}

/// The BLAKE3 of a file's bytes (hex, the first 16 bytes), or empty when it
/// cannot be read again.
fn file_hash(file: &Path) -> String {
    match std::fs::read(file) {
        Ok(bytes) => blake3::hash(&bytes).to_hex()[..32].to_owned(),
        Err(_) => String::new(),
    }
}

/// How many records of this node a file of `kind` leaves out within its
/// scope (what `--replace` would delete).
pub fn left_out(node: &Node, kind: Kind, read: &Read) -> usize {
    corrections::left_out(&node.view(), node.me(), kind.scope(), &read.records).len()
}
