//! Conversion between domain values and their wire form (`lunxun.v1`).
//!
//! The only module of this crate, with the sync transport, that sees prost
//! types (the hub's sync service gets its vector, acks and restore batches
//! from here too). Decoding never panics and never trusts its input: every decoded
//! record is validated with [`Record::validate`], so a record from the network
//! passes exactly the checks a record from a spreadsheet does.

use std::collections::BTreeMap;

use bytes::Bytes;
use lunxun_core::session::child::{AckInfo, ParentVector};
use lunxun_proto::v1 as pb;
use prost::Message;

use crate::changelog::{Change, HASH_LEN, Hash};
use crate::model::{
    Attendance, Class, ClassId, Hours, Invalid, Mode, Obligation, ObligationKind, Outcome,
    PersonId, Rank, Record, RecordKey, RosterEntry, check_date, date_to_days, days_to_date,
};
use crate::orgs::is_valid_code;
use lunxun_core::session::parent::Ack;

mod bulletin;
pub mod bundle;
pub use bulletin::{decode_bulletin, decode_sealed, encode_bulletin, encode_sealed};
pub mod trainings;
pub use trainings::{
    AnswerReader, answer_chunks, decode_person_trainings, decode_stored_trainings,
    encode_person_trainings, encode_stored_trainings, trainings_request,
};

/// Largest encoded record accepted (a record is a few hundred bytes at most).
pub const RECORD_BYTES_MAX: usize = 16 * 1024;
/// Largest encoded change accepted: a record plus its header.
pub const CHANGE_BYTES_MAX: usize = RECORD_BYTES_MAX + 256;

fn invalid(msg: impl Into<String>) -> Invalid {
    Invalid(msg.into())
}

// ---------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------

fn rank_to_pb(r: Rank) -> pb::Rank {
    match r {
        Rank::Leading => pb::Rank::Leading,
        Rank::General => pb::Rank::General,
        Rank::Grassroots => pb::Rank::Grassroots,
    }
}

fn rank_from_pb(v: i32) -> Result<Rank, Invalid> {
    match pb::Rank::try_from(v) {
        Ok(pb::Rank::Leading) => Ok(Rank::Leading),
        Ok(pb::Rank::General) => Ok(Rank::General),
        Ok(pb::Rank::Grassroots) => Ok(Rank::Grassroots),
        _ => Err(invalid(format!("unknown rank {v}"))),
    }
}

fn mode_to_pb(m: Mode) -> pb::Mode {
    match m {
        Mode::Centralized => pb::Mode::Centralized,
        Mode::Online => pb::Mode::Online,
    }
}

fn mode_from_pb(v: i32) -> Result<Mode, Invalid> {
    match pb::Mode::try_from(v) {
        Ok(pb::Mode::Centralized) => Ok(Mode::Centralized),
        Ok(pb::Mode::Online) => Ok(Mode::Online),
        _ => Err(invalid(format!("unknown mode {v}"))),
    }
}

fn outcome_to_pb(o: Outcome) -> pb::Outcome {
    match o {
        Outcome::Completed => pb::Outcome::Completed,
        Outcome::Failed => pb::Outcome::Failed,
        Outcome::AbsentJustified => pb::Outcome::AbsentJustified,
        Outcome::AbsentUnjustified => pb::Outcome::AbsentUnjustified,
    }
}

fn outcome_from_pb(v: i32) -> Result<Outcome, Invalid> {
    match pb::Outcome::try_from(v) {
        Ok(pb::Outcome::Completed) => Ok(Outcome::Completed),
        Ok(pb::Outcome::Failed) => Ok(Outcome::Failed),
        Ok(pb::Outcome::AbsentJustified) => Ok(Outcome::AbsentJustified),
        Ok(pb::Outcome::AbsentUnjustified) => Ok(Outcome::AbsentUnjustified),
        _ => Err(invalid(format!("unknown result {v}"))),
    }
}

fn obligation_to_pb(k: ObligationKind) -> pb::ObligationKind {
    match k {
        ObligationKind::Study => pb::ObligationKind::Study,
        ObligationKind::TraineeMeeting => pb::ObligationKind::TraineeMeeting,
        ObligationKind::AnnualPlan => pb::ObligationKind::AnnualPlan,
        ObligationKind::CallupReport => pb::ObligationKind::CallupReport,
    }
}

fn obligation_from_pb(v: i32) -> Result<ObligationKind, Invalid> {
    match pb::ObligationKind::try_from(v) {
        Ok(pb::ObligationKind::Study) => Ok(ObligationKind::Study),
        Ok(pb::ObligationKind::TraineeMeeting) => Ok(ObligationKind::TraineeMeeting),
        Ok(pb::ObligationKind::AnnualPlan) => Ok(ObligationKind::AnnualPlan),
        Ok(pb::ObligationKind::CallupReport) => Ok(ObligationKind::CallupReport),
        _ => Err(invalid(format!("unknown obligation kind {v}"))),
    }
}

fn date_from_pb(field: &str, days: i32) -> Result<crate::model::Date, Invalid> {
    let date = days_to_date(days).ok_or_else(|| invalid(format!("{field} is not a date")))?;
    check_date(field, date)?;
    Ok(date)
}

fn person_from_pb(text: &str) -> Result<PersonId, Invalid> {
    text.parse()
}

fn class_id_from_pb(text: &str) -> Result<ClassId, Invalid> {
    text.parse()
}

fn hours_from_pb(tenths: u32) -> Hours {
    Hours::from_tenths(tenths)
}

fn key_to_pb(key: &RecordKey) -> pb::RecordKey {
    use pb::record_key::Kind;
    let kind = match key {
        RecordKey::Roster(p) => Kind::Roster(p.to_string()),
        RecordKey::Class(c) => Kind::Class(c.to_string()),
        RecordKey::Attendance(c, p) => Kind::Attendance(pb::AttendanceKey {
            class_id: c.to_string(),
            person_id: p.to_string(),
        }),
        RecordKey::Obligation(k, d) => Kind::Obligation(pb::ObligationKey {
            kind: obligation_to_pb(*k) as i32,
            date: date_to_days(*d),
        }),
    };
    pb::RecordKey { kind: Some(kind) }
}

fn key_from_pb(key: pb::RecordKey) -> Result<RecordKey, Invalid> {
    use pb::record_key::Kind;
    match key.kind {
        Some(Kind::Roster(p)) => Ok(RecordKey::Roster(person_from_pb(&p)?)),
        Some(Kind::Class(c)) => Ok(RecordKey::Class(class_id_from_pb(&c)?)),
        Some(Kind::Attendance(a)) => Ok(RecordKey::Attendance(
            class_id_from_pb(&a.class_id)?,
            person_from_pb(&a.person_id)?,
        )),
        Some(Kind::Obligation(o)) => Ok(RecordKey::Obligation(
            obligation_from_pb(o.kind)?,
            date_from_pb("date", o.date)?,
        )),
        None => Err(invalid("tombstone without a key")),
    }
}

fn class_to_pb(c: &Class) -> pb::Class {
    pb::Class {
        class_id: c.class_id.to_string(),
        title: c.title.clone(),
        category: c.category.clone(),
        mode: mode_to_pb(c.mode) as i32,
        off_job: c.off_job,
        start: date_to_days(c.start),
        end: date_to_days(c.end),
        hours_tenths: c.hours.tenths(),
        days: c.days.unwrap_or(0),
    }
}

/// A class from its wire form, not yet validated.
fn class_from_pb(c: pb::Class) -> Result<Class, Invalid> {
    Ok(Class {
        class_id: class_id_from_pb(&c.class_id)?,
        title: c.title,
        category: c.category,
        mode: mode_from_pb(c.mode)?,
        off_job: c.off_job,
        start: date_from_pb("start", c.start)?,
        end: date_from_pb("end", c.end)?,
        hours: hours_from_pb(c.hours_tenths),
        days: (c.days != 0).then_some(c.days),
    })
}

fn attendance_to_pb(a: &Attendance) -> pb::Attendance {
    pb::Attendance {
        class_id: a.class_id.to_string(),
        person_id: a.person.to_string(),
        hours_tenths: a.hours.tenths(),
        outcome: outcome_to_pb(a.outcome) as i32,
        name: a.name.clone(),
    }
}

/// An attendance from its wire form, not yet validated.
fn attendance_from_pb(a: pb::Attendance) -> Result<Attendance, Invalid> {
    Ok(Attendance {
        class_id: class_id_from_pb(&a.class_id)?,
        person: person_from_pb(&a.person_id)?,
        hours: hours_from_pb(a.hours_tenths),
        outcome: outcome_from_pb(a.outcome)?,
        name: a.name,
    })
}

/// Encodes a record (deterministically: prost writes fields in tag order).
pub fn encode_record(record: &Record) -> Bytes {
    use pb::record::Kind;
    let kind = match record {
        Record::Roster(r) => Kind::Roster(pb::RosterEntry {
            person_id: r.person.to_string(),
            name: r.name.clone(),
            rank: rank_to_pb(r.rank) as i32,
            since: date_to_days(r.since),
            until: r.until.map(date_to_days),
            employer: r.employer.clone(),
            position: r.position.clone(),
            group: r.group.clone(),
        }),
        Record::Class(c) => Kind::Class(class_to_pb(c)),
        Record::Attendance(a) => Kind::Attendance(attendance_to_pb(a)),
        Record::Obligation(o) => Kind::Obligation(pb::Obligation {
            kind: obligation_to_pb(o.kind) as i32,
            date: date_to_days(o.date),
            note: o.note.clone(),
        }),
        Record::Tombstone(k) => Kind::Tombstone(key_to_pb(k)),
    };
    Bytes::from(pb::Record { kind: Some(kind) }.encode_to_vec())
}

/// Decodes and validates a record.
pub fn decode_record(bytes: &[u8]) -> Result<Record, Invalid> {
    use pb::record::Kind;
    if bytes.len() > RECORD_BYTES_MAX {
        return Err(invalid(format!(
            "record of {} bytes exceeds {RECORD_BYTES_MAX}",
            bytes.len()
        )));
    }
    let msg = pb::Record::decode(bytes).map_err(|e| invalid(format!("malformed record: {e}")))?;
    let record = match msg.kind {
        Some(Kind::Roster(r)) => Record::Roster(RosterEntry {
            person: person_from_pb(&r.person_id)?,
            name: r.name,
            rank: rank_from_pb(r.rank)?,
            since: date_from_pb("since", r.since)?,
            until: r.until.map(|u| date_from_pb("until", u)).transpose()?,
            employer: r.employer,
            position: r.position,
            group: r.group,
        }),
        Some(Kind::Class(c)) => Record::Class(class_from_pb(c)?),
        Some(Kind::Attendance(a)) => Record::Attendance(attendance_from_pb(a)?),
        Some(Kind::Obligation(o)) => Record::Obligation(Obligation {
            kind: obligation_from_pb(o.kind)?,
            date: date_from_pb("date", o.date)?,
            note: o.note,
        }),
        Some(Kind::Tombstone(k)) => Record::Tombstone(key_from_pb(k)?),
        None => return Err(invalid("record without content")),
    };
    record.validate()?;
    Ok(record)
}

// ---------------------------------------------------------------------------
// Changes
// ---------------------------------------------------------------------------

/// Encodes a change: the bytes that are stored and forwarded from then on.
pub fn encode_change(change: &Change) -> Bytes {
    Bytes::from(
        pb::Change {
            origin: change.origin.clone(),
            seq: change.seq,
            prev_hash: Bytes::copy_from_slice(&change.prev_hash),
            hash: Bytes::copy_from_slice(&change.hash),
            written_at_ms: change.written_at_ms,
            record: change.record.clone(),
        }
        .encode_to_vec(),
    )
}

fn hash_from(field: &str, bytes: &[u8]) -> Result<Hash, Invalid> {
    bytes.try_into().map_err(|_| {
        invalid(format!(
            "{field} has {} bytes, expected {HASH_LEN}",
            bytes.len()
        ))
    })
}

/// Decodes a change's envelope (not its record) and checks its shape. Does
/// not check the hash: see [`Change::hash_is_valid`].
pub fn decode_change(bytes: Bytes) -> Result<Change, Invalid> {
    if bytes.len() > CHANGE_BYTES_MAX {
        return Err(invalid(format!(
            "change of {} bytes exceeds {CHANGE_BYTES_MAX}",
            bytes.len()
        )));
    }
    let msg = pb::Change::decode(bytes).map_err(|e| invalid(format!("malformed change: {e}")))?;
    if !is_valid_code(&msg.origin) {
        return Err(invalid(format!(
            "change has a malformed origin {:?}",
            msg.origin.chars().take(40).collect::<String>()
        )));
    }
    if msg.seq == 0 {
        return Err(invalid(format!("change of {} has seq 0", msg.origin)));
    }
    Ok(Change {
        prev_hash: hash_from("prev_hash", &msg.prev_hash)?,
        hash: hash_from("hash", &msg.hash)?,
        origin: msg.origin,
        seq: msg.seq,
        written_at_ms: msg.written_at_ms,
        record: msg.record,
    })
}

// ---------------------------------------------------------------------------
// Batches
// ---------------------------------------------------------------------------

/// Most changes in one batch.
pub const BATCH_CHANGES_MAX: usize = 4_096;
/// Most uncompressed bytes in one batch (its encoded `ChangeList`).
pub const BATCH_BYTES_MAX: usize = 4 * 1024 * 1024;
/// zstd level for batches: level 1 keeps compression off the critical path.
const ZSTD_LEVEL: i32 = 1;

/// Most checkpoints in one batch (a sender puts in at most one per origin
/// the batch carries): each costs a signature verification at the receiver.
pub const BATCH_CHECKPOINTS_MAX: usize = 1_024;

/// What a batch carries: encoded changes, and the encoded checkpoints that
/// vouch for them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contents {
    pub changes: Vec<Bytes>,
    pub checkpoints: Vec<Bytes>,
}

impl From<Vec<Bytes>> for Contents {
    /// Changes without checkpoints.
    fn from(changes: Vec<Bytes>) -> Contents {
        Contents {
            changes,
            checkpoints: Vec::new(),
        }
    }
}

/// Compresses encoded changes and their checkpoints into a batch.
pub fn encode_batch(batch_no: u64, contents: Contents) -> Result<pb::Batch, Invalid> {
    let count = contents.changes.len();
    let list = pb::ChangeList {
        changes: contents.changes,
        checkpoints: contents.checkpoints,
    }
    .encode_to_vec();
    let raw_bytes = list.len();
    let zstd = zstd::bulk::compress(&list, ZSTD_LEVEL)
        .map_err(|e| invalid(format!("compressing batch {batch_no}: {e}")))?;
    Ok(pb::Batch {
        batch_no,
        count: count as u32,
        raw_bytes: raw_bytes as u32,
        zstd: Bytes::from(zstd),
    })
}

/// Decompresses a batch and splits it into encoded changes and checkpoints,
/// within the limits: a batch claiming more than [`BATCH_BYTES_MAX`] or
/// [`BATCH_CHANGES_MAX`] is refused before anything is decompressed, and the
/// decompressor never produces more than the claimed size.
pub fn decode_batch(batch: &pb::Batch) -> Result<Contents, Invalid> {
    let raw = batch.raw_bytes as usize;
    if raw > BATCH_BYTES_MAX {
        return Err(invalid(format!(
            "batch {} claims {raw} bytes, more than {BATCH_BYTES_MAX}",
            batch.batch_no
        )));
    }
    if batch.count as usize > BATCH_CHANGES_MAX {
        return Err(invalid(format!(
            "batch {} claims {} changes, more than {BATCH_CHANGES_MAX}",
            batch.batch_no, batch.count
        )));
    }
    let list = zstd::bulk::decompress(&batch.zstd, raw)
        .map_err(|e| invalid(format!("batch {} does not decompress: {e}", batch.batch_no)))?;
    if list.len() != raw {
        return Err(invalid(format!(
            "batch {} decompresses to {} bytes, not the {raw} it claims",
            batch.batch_no,
            list.len()
        )));
    }
    let list = pb::ChangeList::decode(Bytes::from(list))
        .map_err(|e| invalid(format!("batch {} is malformed: {e}", batch.batch_no)))?;
    if list.changes.len() != batch.count as usize {
        return Err(invalid(format!(
            "batch {} holds {} changes, not the {} it claims",
            batch.batch_no,
            list.changes.len(),
            batch.count
        )));
    }
    if list.checkpoints.len() > BATCH_CHECKPOINTS_MAX {
        return Err(invalid(format!(
            "batch {} holds {} checkpoints, more than {BATCH_CHECKPOINTS_MAX}",
            batch.batch_no,
            list.checkpoints.len()
        )));
    }
    Ok(Contents {
        changes: list.changes,
        checkpoints: list.checkpoints,
    })
}

/// Fills batches in order, each within [`BATCH_CHANGES_MAX`],
/// [`BATCH_BYTES_MAX`] and [`BATCH_CHECKPOINTS_MAX`], numbered from 1. A
/// sender that must keep a run of changes together with the checkpoint that
/// vouches for them pushes them with [`BatchFiller::push_run`].
#[derive(Debug, Default)]
pub struct BatchFiller {
    batches: u64,
    contents: Contents,
    bytes: usize,
}

/// A change's or checkpoint's length prefix and tag, within its list.
const ELEMENT_OVERHEAD: usize = 8;

impl BatchFiller {
    /// Adds a run of changes with the checkpoint that vouches for them, in
    /// one batch; returns the batch it closed, if the run did not fit in it.
    /// A run must fit an empty batch (see `sync::outbound`, which makes them).
    pub fn push_run(
        &mut self,
        changes: Vec<Bytes>,
        checkpoint: Option<Bytes>,
    ) -> Option<Result<pb::Batch, Invalid>> {
        let size: usize = changes
            .iter()
            .chain(checkpoint.as_ref())
            .map(|c| c.len() + ELEMENT_OVERHEAD)
            .sum();
        debug_assert!(changes.len() <= BATCH_CHANGES_MAX && size <= BATCH_BYTES_MAX);
        let empty = self.contents.changes.is_empty() && self.contents.checkpoints.is_empty();
        let full = self.contents.changes.len() + changes.len() > BATCH_CHANGES_MAX
            || self.contents.checkpoints.len() + usize::from(checkpoint.is_some())
                > BATCH_CHECKPOINTS_MAX
            || self.bytes + size > BATCH_BYTES_MAX;
        let closed = (full && !empty).then(|| self.close());
        self.bytes += size;
        self.contents.changes.extend(changes);
        self.contents.checkpoints.extend(checkpoint);
        closed
    }

    /// The last batch, if anything is left.
    pub fn finish(&mut self) -> Option<Result<pb::Batch, Invalid>> {
        (!self.contents.changes.is_empty() || !self.contents.checkpoints.is_empty())
            .then(|| self.close())
    }

    /// Batches closed so far.
    pub fn batches(&self) -> u64 {
        self.batches
    }

    fn close(&mut self) -> Result<pb::Batch, Invalid> {
        self.batches += 1;
        self.bytes = 0;
        encode_batch(self.batches, std::mem::take(&mut self.contents))
    }
}

// ---------------------------------------------------------------------------
// The parent's messages
// ---------------------------------------------------------------------------

/// The parent's vector for a child's subtree: its store's incarnation and,
/// per origin, the highest contiguous seq it holds durably and that change's
/// hash.
pub fn vector<'a>(
    incarnation: &[u8],
    entries: impl IntoIterator<Item = (&'a str, u64, &'a Hash)>,
) -> pb::ParentMessage {
    let entries = entries
        .into_iter()
        .map(|(origin, seq, hash)| pb::VectorEntry {
            origin: origin.to_owned(),
            seq,
            hash: Bytes::copy_from_slice(hash),
        })
        .collect();
    pb::ParentMessage {
        kind: Some(pb::parent_message::Kind::Vector(pb::Vector {
            incarnation: Bytes::copy_from_slice(incarnation),
            entries,
            protocol: 0,
            bulletins: Vec::new(),
        })),
    }
}

/// The parent's ack of one batch, after its durable append.
pub fn ack(ack: &Ack) -> pb::ParentMessage {
    let placed = &ack.placed;
    pb::ParentMessage {
        kind: Some(pb::parent_message::Kind::Ack(pb::Ack {
            batch_no: ack.batch_no,
            applied: placed.applied,
            skipped: placed.skipped,
            quarantined: placed.quarantined(),
            entries: placed
                .touched
                .iter()
                .map(|(origin, (seq, hash))| pb::VectorEntry {
                    origin: origin.clone(),
                    seq: *seq,
                    hash: Bytes::copy_from_slice(hash),
                })
                .collect(),
            held: placed
                .held
                .iter()
                .map(|h| pb::Held {
                    origin: h.origin.clone(),
                    seq: h.seq,
                    reason: h.reason.to_string(),
                })
                .collect(),
        })),
    }
}

// ---------------------------------------------------------------------------
// Sync messages, the child's side: what the upstream client says (Hello, its
// vector in a restore request) and reads (the parent's vector, acks).
// ---------------------------------------------------------------------------

/// A hash from the wire, all zeros when it has the wrong length (a vector
/// entry's hash is compared, never trusted: a wrong one reads as a fork).
fn hash_or_zero(bytes: &[u8]) -> Hash {
    let mut h = [0u8; HASH_LEN];
    if bytes.len() == HASH_LEN {
        h.copy_from_slice(bytes);
    }
    h
}

/// The child's Hello, which opens a session.
pub fn encode_hello(protocol: u32, org: &str, incarnation: &[u8], bulletins: u64) -> pb::Hello {
    pb::Hello {
        protocol,
        org: org.to_owned(),
        incarnation: Bytes::copy_from_slice(incarnation),
        bulletins,
    }
}

/// The parent's vector for the child's subtree, as the session machine wants it.
pub fn decode_vector(vector: pb::Vector) -> ParentVector {
    ParentVector {
        incarnation: vector.incarnation.to_vec(),
        entries: vector
            .entries
            .into_iter()
            .map(|e| (e.origin, (e.seq, hash_or_zero(&e.hash))))
            .collect(),
    }
}

/// An ack of the parent, as the session machine wants it.
pub fn decode_ack(ack: pb::Ack) -> AckInfo {
    AckInfo {
        batch_no: ack.batch_no,
        applied: ack.applied,
        skipped: ack.skipped,
        quarantined: ack.quarantined,
        entries: ack
            .entries
            .into_iter()
            .map(|e| (e.origin, e.seq, hash_or_zero(&e.hash)))
            .collect(),
        held: ack
            .held
            .into_iter()
            .map(|h| (h.origin, h.seq, h.reason))
            .collect(),
    }
}

/// A vector (origin → (seq, hash)) as wire entries.
pub fn encode_vector_entries(heads: &BTreeMap<String, (u64, Hash)>) -> Vec<pb::VectorEntry> {
    heads
        .iter()
        .map(|(origin, (seq, hash))| pb::VectorEntry {
            origin: origin.clone(),
            seq: *seq,
            hash: Bytes::copy_from_slice(hash),
        })
        .collect()
}

/// A restore request for `org`'s subtree: everything above `from`, or, with
/// `only`, every change of those origins.
pub fn encode_restore_request(
    org: &str,
    from: &BTreeMap<String, (u64, Hash)>,
    only: Vec<String>,
) -> pb::RestoreRequest {
    pb::RestoreRequest {
        from: encode_vector_entries(from),
        org: org.to_owned(),
        only,
    }
}

#[cfg(test)]
mod sync_message_tests {
    use super::*;

    #[test]
    fn vectors_and_acks_decode_and_a_bad_hash_reads_as_zeros() {
        let heads = BTreeMap::from([("410102".to_owned(), (3, [7u8; HASH_LEN]))]);
        let vector = pb::Vector {
            incarnation: Bytes::from_static(b"inc"),
            entries: encode_vector_entries(&heads)
                .into_iter()
                .chain([pb::VectorEntry {
                    origin: "410103".into(),
                    seq: 2,
                    hash: Bytes::from_static(b"short"),
                }])
                .collect(),
            ..Default::default()
        };
        let parent = decode_vector(vector);
        assert_eq!(parent.incarnation, b"inc");
        assert_eq!(parent.entries["410102"], (3, [7u8; HASH_LEN]));
        assert_eq!(parent.entries["410103"], (2, [0u8; HASH_LEN]));
        let ack = decode_ack(pb::Ack {
            batch_no: 4,
            applied: 1,
            entries: encode_vector_entries(&heads),
            held: vec![pb::Held {
                origin: "410103".into(),
                seq: 5,
                reason: "gap".into(),
            }],
            ..Default::default()
        });
        assert_eq!((ack.batch_no, ack.applied), (4, 1));
        assert_eq!(ack.entries, vec![("410102".to_owned(), 3, [7u8; HASH_LEN])]);
        assert_eq!(ack.held, vec![("410103".to_owned(), 5, "gap".to_owned())]);
        let request = encode_restore_request("410100", &heads, vec!["410103".into()]);
        assert_eq!((request.org.as_str(), request.from.len()), ("410100", 1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::changelog::GENESIS;

    fn d(s: &str) -> crate::model::Date {
        s.parse().unwrap()
    }

    fn samples() -> Vec<Record> {
        let person: PersonId = "11010519491231002X".parse().unwrap();
        let class: ClassId = "2024-01".parse().unwrap();
        vec![
            Record::Roster(RosterEntry {
                person,
                name: "张三".into(),
                rank: Rank::General,
                since: d("2023-01-01"),
                until: Some(d("2025-06-30")),
                employer: "中原区信访局".into(),
                position: "科员".into(),
                group: "乡镇（街道）信访工作骨干".into(),
            }),
            Record::Class(Class {
                class_id: class.clone(),
                title: "信访业务培训班".into(),
                category: "履职能力".into(),
                mode: Mode::Centralized,
                off_job: true,
                start: d("2024-03-01"),
                end: d("2024-03-05"),
                hours: Hours::from_tenths(405),
                days: Some(5),
            }),
            Record::Attendance(Attendance {
                class_id: class.clone(),
                person,
                hours: Hours::from_tenths(405),
                outcome: Outcome::Failed,
                name: String::new(),
            }),
            Record::Obligation(Obligation {
                kind: ObligationKind::AnnualPlan,
                date: d("2024-01-15"),
                note: "2024年度计划".into(),
            }),
            Record::Tombstone(RecordKey::Attendance(class, person)),
        ]
    }

    #[test]
    fn records_roundtrip() {
        for r in samples() {
            let bytes = encode_record(&r);
            assert_eq!(decode_record(&bytes).unwrap(), r);
            // Deterministic.
            assert_eq!(encode_record(&r), bytes);
        }
    }

    #[test]
    fn absurd_records_are_refused() {
        use pb::record::Kind;
        let enc = |k: Kind| pb::Record { kind: Some(k) }.encode_to_vec();
        let roster = |f: &dyn Fn(&mut pb::RosterEntry)| {
            let mut r = pb::RosterEntry {
                person_id: "11010519491231002X".into(),
                name: "x".into(),
                rank: 1,
                since: 19_000,
                ..Default::default()
            };
            f(&mut r);
            decode_record(&enc(Kind::Roster(r)))
        };
        assert!(roster(&|_| {}).is_ok());
        assert!(
            roster(&|r| r.rank = 9)
                .unwrap_err()
                .0
                .contains("unknown rank")
        );
        assert!(roster(&|r| r.since = 3_000_000).is_err());
        assert!(roster(&|r| r.since = i32::MIN).is_err());
        assert!(roster(&|r| r.person_id = "110105194912310021".into()).is_err());
        assert!(roster(&|r| r.name = String::new()).is_err());
        assert!(roster(&|r| r.until = Some(18_000)).is_err());
        assert!(decode_record(&[0xff, 0xff, 0xff]).is_err());
        assert!(
            decode_record(&[])
                .unwrap_err()
                .0
                .contains("without content")
        );
        assert!(decode_record(&vec![0u8; RECORD_BYTES_MAX + 1]).is_err());
        let class = pb::Class {
            class_id: "c".into(),
            title: "t".into(),
            mode: 1,
            start: 19_000,
            end: 19_001,
            hours_tenths: u32::MAX,
            ..Default::default()
        };
        assert!(decode_record(&enc(Kind::Class(class))).is_err());
    }

    #[test]
    fn batches_roundtrip_and_refuse_lies() {
        let changes: Vec<Bytes> = (0..100u8).map(|i| Bytes::from(vec![i; 50])).collect();
        let contents = Contents {
            changes: changes.clone(),
            checkpoints: vec![Bytes::from_static(b"signed")],
        };
        let batch = encode_batch(7, contents.clone()).unwrap();
        assert!(batch.zstd.len() < batch.raw_bytes as usize);
        assert_eq!(decode_batch(&batch).unwrap(), contents);
        let too_many = Contents {
            changes: Vec::new(),
            checkpoints: vec![Bytes::from_static(b"c"); BATCH_CHECKPOINTS_MAX + 1],
        };
        let err = decode_batch(&encode_batch(8, too_many).unwrap())
            .unwrap_err()
            .0;
        assert!(err.contains("checkpoints, more than"), "{err}");
        let lie = |f: &dyn Fn(&mut pb::Batch)| {
            let mut b = batch.clone();
            f(&mut b);
            decode_batch(&b).unwrap_err().0
        };
        assert!(lie(&|b| b.raw_bytes = BATCH_BYTES_MAX as u32 + 1).contains("more than"));
        assert!(lie(&|b| b.count = BATCH_CHANGES_MAX as u32 + 1).contains("more than"));
        assert!(lie(&|b| b.count = 99).contains("not the 99"));
        // Claiming fewer bytes than the content: the decompressor stops there.
        assert!(lie(&|b| b.raw_bytes -= 1).contains("decompress"));
        assert!(lie(&|b| b.raw_bytes += 1).contains("not the"));
        assert!(lie(&|b| b.zstd = Bytes::from_static(b"not zstd")).contains("decompress"));
        // A bomb: a tiny frame that expands far beyond the claim is cut off.
        let bomb = zstd::bulk::compress(&vec![0u8; 64 * 1024 * 1024], 3).unwrap();
        assert!(lie(&|b| b.zstd = Bytes::from(bomb.clone())).contains("decompress"));
    }

    #[test]
    fn batch_filler_keeps_the_limits_and_the_order() {
        let mut filler = BatchFiller::default();
        let mut batches = Vec::new();
        for i in 0..(BATCH_CHANGES_MAX + 10) {
            batches.extend(filler.push_run(vec![Bytes::from(vec![(i % 251) as u8; 20])], None));
        }
        batches.extend(filler.finish());
        assert!(filler.finish().is_none());
        let batches: Vec<pb::Batch> = batches.into_iter().map(Result::unwrap).collect();
        assert_eq!(filler.batches(), 2);
        assert_eq!(
            batches
                .iter()
                .map(|b| (b.batch_no, b.count))
                .collect::<Vec<_>>(),
            [(1, BATCH_CHANGES_MAX as u32), (2, 10)]
        );
        let back: Vec<Bytes> = batches
            .iter()
            .flat_map(|b| decode_batch(b).unwrap().changes)
            .collect();
        assert_eq!(back.len(), BATCH_CHANGES_MAX + 10);
        assert_eq!(back[BATCH_CHANGES_MAX][0], (BATCH_CHANGES_MAX % 251) as u8);
        // By bytes: changes of a quarter of the limit, three to a batch.
        let mut filler = BatchFiller::default();
        let big = Bytes::from(vec![0u8; BATCH_BYTES_MAX / 4]);
        let closed: Vec<_> = (0..7)
            .filter_map(|_| filler.push_run(vec![big.clone()], None))
            .collect();
        assert_eq!(closed.len(), 2);
        assert_eq!(closed[0].as_ref().unwrap().count, 3);
    }

    #[test]
    fn changes_roundtrip_and_shape_checks() {
        let c = Change::new(
            "410102".into(),
            1,
            GENESIS,
            1_700_000_000_000,
            encode_record(&samples()[0]),
        );
        let bytes = encode_change(&c);
        let back = decode_change(bytes).unwrap();
        assert_eq!(back, c);
        assert!(back.hash_is_valid());

        let bad = |m: pb::Change| decode_change(Bytes::from(m.encode_to_vec())).unwrap_err().0;
        let base = pb::Change {
            origin: "410102".into(),
            seq: 1,
            prev_hash: Bytes::from(vec![0; 32]),
            hash: Bytes::from(vec![0; 32]),
            written_at_ms: 0,
            record: Bytes::new(),
        };
        assert!(
            bad(pb::Change {
                origin: "bad origin".into(),
                ..base.clone()
            })
            .contains("origin")
        );
        assert!(
            bad(pb::Change {
                seq: 0,
                ..base.clone()
            })
            .contains("seq 0")
        );
        assert!(
            bad(pb::Change {
                hash: Bytes::from(vec![0; 31]),
                ..base.clone()
            })
            .contains("hash")
        );
        assert!(decode_change(Bytes::from_static(&[0x0a, 0xff])).is_err());
    }
}
