//! Reading the log through the imports ledger ([`crate::imports`]): the
//! entries, the plan to undo one, and every version of a person's or a
//! class's records.
//!
//! Undo restores every record an import touched to its version before the
//! import (or deletes it, if the import created it), unless a later change
//! of this node already replaced it: then that record is left as it is and
//! reported. The undo is itself an entry, of ordinary changes, so it flows up
//! and can be undone.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::imports::Entry;
use crate::model::{ClassId, PersonId, Record, RecordKey};
use crate::node::Node;
use crate::store::StoreError;

/// Why an undo or a history failed.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("no import {0} at this node (see `imports`)")]
    Unknown(u64),
    #[error("import {0} wrote nothing: there is nothing to undo")]
    Empty(u64),
    #[error("own change {seq} cannot be read: {reason}")]
    Unreadable { seq: u64, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Every entry, oldest first.
pub fn list(node: &Node) -> Result<Vec<Entry>, StoreError> {
    Ok(node
        .store()
        .imports()?
        .into_iter()
        .filter_map(|(_, bytes)| Entry::decode(&bytes))
        .collect())
}

/// Entry `id`.
pub fn get(node: &Node, id: u64) -> Result<Option<Entry>, StoreError> {
    Ok(node.store().import(id)?.and_then(|b| Entry::decode(&b)))
}

/// The own log's records, by seq (decoded once, for an undo's plan).
fn own_records(node: &Node) -> Result<Vec<(u64, Record)>, LedgerError> {
    let mut out = Vec::new();
    for entry in node.store().scan(node.code(), 0) {
        let entry = entry?;
        let change = crate::codec::decode_change(entry.change.clone()).map_err(|e| {
            LedgerError::Unreadable {
                seq: entry.seq,
                reason: e.0,
            }
        })?;
        let record =
            crate::codec::decode_record(&change.record).map_err(|e| LedgerError::Unreadable {
                seq: entry.seq,
                reason: e.0,
            })?;
        out.push((entry.seq, record));
    }
    Ok(out)
}

/// What undoing `import` writes, and the keys it leaves because a later
/// change replaced them.
pub struct Plan {
    pub records: Vec<Record>,
    pub left: Vec<RecordKey>,
}

/// The plan to undo entry `import` against the own log as it stands.
pub fn undo_plan(node: &Node, import: &Entry) -> Result<Plan, LedgerError> {
    if import.written == 0 {
        return Err(LedgerError::Empty(import.id));
    }
    let log = own_records(node)?;
    let touched: BTreeSet<RecordKey> = log
        .iter()
        .filter(|(seq, _)| import.covers(*seq))
        .map(|(_, r)| r.key())
        .collect();
    let mut before: BTreeMap<&RecordKey, &Record> = BTreeMap::new();
    let mut later: BTreeSet<&RecordKey> = BTreeSet::new();
    for (seq, record) in &log {
        let key = record.key();
        let Some(key) = touched.get(&key) else {
            continue;
        };
        if *seq < import.from_seq {
            before.insert(key, record);
        } else if *seq > import.to_seq {
            later.insert(key);
        }
    }
    let mut plan = Plan {
        records: Vec::new(),
        left: Vec::new(),
    };
    for key in &touched {
        if later.contains(key) {
            plan.left.push(key.clone());
            continue;
        }
        plan.records.push(match before.get(key) {
            Some(r) => (*r).clone(),
            None => Record::Tombstone(key.clone()),
        });
    }
    Ok(plan)
}

/// One version of a record in some origin's log, for `history`.
#[derive(Debug, Clone, Serialize)]
pub struct Version {
    pub origin: String,
    pub seq: u64,
    pub written_at_ms: i64,
    /// The import of this node that wrote it (own changes only).
    pub import: Option<u64>,
    /// `roster`, `class` or `attendance`.
    pub record: &'static str,
    pub class_id: Option<String>,
    pub deleted: bool,
    /// The version's main fields, in a line (ID numbers masked).
    pub summary: String,
}

/// What `history` asks for.
#[derive(Debug, Clone)]
pub enum Subject {
    Person(PersonId),
    Class(ClassId),
}

fn concerns(subject: &Subject, key: &RecordKey) -> bool {
    match (subject, key) {
        (Subject::Person(p), RecordKey::Roster(q)) => p == q,
        (Subject::Person(p), RecordKey::Attendance(_, q)) => p == q,
        (Subject::Class(c), RecordKey::Class(d)) => c == d,
        (Subject::Class(c), RecordKey::Attendance(d, _)) => c == d,
        _ => false,
    }
}

fn summary(record: &Record) -> String {
    match record {
        Record::Roster(r) => format!(
            "{} {} {} since {}{}",
            r.person.masked(),
            r.name,
            r.rank.zh(),
            r.since,
            r.until.map(|u| format!(" until {u}")).unwrap_or_default()
        ),
        Record::Class(c) => format!(
            "{} {} {}–{} {} h",
            c.class_id, c.title, c.start, c.end, c.hours
        ),
        Record::Attendance(a) => format!(
            "{} in {}: {} h, {}",
            a.person.masked(),
            a.class_id,
            a.hours,
            a.outcome.zh()
        ),
        Record::Obligation(o) => format!("{} {}", o.kind.as_str(), o.date),
        Record::Tombstone(_) => "deleted".into(),
    }
}

/// Every version this node holds of what concerns `subject`, in every
/// origin's log, oldest first per origin.
pub fn history(node: &Node, subject: &Subject) -> Result<Vec<Version>, LedgerError> {
    let ledger = list(node)?;
    let me = node.code().to_owned();
    let mut out = Vec::new();
    for entry in node.store().scan_all() {
        let entry = entry?;
        let unreadable = |reason: String| LedgerError::Unreadable {
            seq: entry.seq,
            reason,
        };
        let change =
            crate::codec::decode_change(entry.change.clone()).map_err(|e| unreadable(e.0))?;
        let Ok(record) = crate::codec::decode_record(&change.record) else {
            continue;
        };
        let key = record.key();
        if !concerns(subject, &key) {
            continue;
        }
        let (kind, class_id) = match &key {
            RecordKey::Roster(_) => ("roster", None),
            RecordKey::Class(c) => ("class", Some(c.to_string())),
            RecordKey::Attendance(c, _) => ("attendance", Some(c.to_string())),
            RecordKey::Obligation(..) => ("obligation", None),
        };
        out.push(Version {
            import: (entry.origin == me)
                .then(|| ledger.iter().find(|e| e.covers(entry.seq)).map(|e| e.id))
                .flatten(),
            origin: entry.origin,
            seq: entry.seq,
            written_at_ms: change.written_at_ms,
            record: kind,
            class_id,
            deleted: matches!(record, Record::Tombstone(_)),
            summary: summary(&record),
        });
    }
    Ok(out)
}
