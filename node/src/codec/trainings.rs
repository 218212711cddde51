//! Returned trainings on the wire and in the store: a person's set as a
//! `lunxun.v1.PersonTrainings` (the store keeps the same bytes), the
//! request, and a whole answer as the parent cuts it into chunks
//! ([`answer_chunks`]) and the child reads them back ([`AnswerReader`],
//! for a stream and for an acknowledgement file alike). Decoding trusts
//! nothing: every bound is checked before what it bounds is decoded or
//! kept, every organizer must be a code of the directory, every record
//! passes the checks of [`crate::model::Record::validate`], and errors name
//! the field (ID numbers masked).

use bytes::Bytes;
use lunxun_core::returns::child::{Answer, PersonAnswer};
use lunxun_core::returns::parent::PersonLimits;
use lunxun_core::returns::{DIGEST_LEN, Digest, Returned};
use lunxun_proto::v1 as pb;
use prost::Message;

use super::{attendance_from_pb, attendance_to_pb, class_from_pb, class_to_pb, invalid};
use crate::model::{Invalid, PersonId, mask_ids};
use crate::orgs::{OrgDirectory, is_valid_code};

/// People in one chunk, at most (the parent closes a chunk at this count).
pub const CHUNK_PEOPLE_MAX: usize = 4_096;
/// Bytes of one chunk the parent fills, at most: well under the transport's
/// message bound (`sync::client::MESSAGE_BYTES_MAX`).
pub const CHUNK_BYTES_MAX: usize = 4 * 1024 * 1024;
/// Trainings of one person in an answer, at most (a person attends a few
/// classes a year; a parent holding more for someone leaves them out).
pub const PERSON_ITEMS_MAX: usize = 4_096;
/// People named in one answer, at most (a province's subtree holds a few
/// hundred thousand).
pub const ANSWER_PEOPLE_MAX: usize = 2_000_000;
/// Encoded bytes of one whole answer, at most: what the child holds in
/// memory before it checks the answer.
pub const ANSWER_BYTES_MAX: usize = 512 * 1024 * 1024;
/// Room kept in a chunk for its own fields (flags, the digest, the time).
const CHUNK_OVERHEAD_BYTES: usize = 1024;

/// A person's set as a parent sends it, at most: what fits an otherwise
/// empty chunk. A larger one is left out (and logged).
pub const PERSON_LIMITS: PersonLimits = PersonLimits {
    items_max: PERSON_ITEMS_MAX,
    bytes_max: CHUNK_BYTES_MAX - CHUNK_OVERHEAD_BYTES,
};

/// The request for the trainings the parent returns to `org`, which holds
/// what `digest` sums up.
pub fn trainings_request(org: &str, digest: &Digest) -> pb::TrainingsRequest {
    pb::TrainingsRequest {
        digest: Bytes::copy_from_slice(digest),
        org: org.to_owned(),
    }
}

/// `person`'s set as sent (and stored).
pub fn encode_person_trainings(
    orgs: &OrgDirectory,
    person: PersonId,
    items: &[Returned],
) -> pb::PersonTrainings {
    pb::PersonTrainings {
        person_id: person.to_string(),
        items: items
            .iter()
            .map(|r| pb::ReturnedTraining {
                origin: orgs.code(r.origin).to_owned(),
                class: r.class.as_ref().map(class_to_pb),
                attendance: Some(attendance_to_pb(&r.attendance)),
            })
            .collect(),
    }
}

/// A person's set from the wire: the organizer a known org, each record
/// valid and the class the attendance's. Errors name the field.
pub fn decode_person_trainings(
    orgs: &OrgDirectory,
    msg: pb::PersonTrainings,
) -> Result<PersonAnswer, Invalid> {
    let person: PersonId = msg
        .person_id
        .parse()
        .map_err(|e: Invalid| invalid(format!("person_id: {}", mask_ids(&e.0))))?;
    let mut items = Vec::with_capacity(msg.items.len());
    for (i, item) in msg.items.into_iter().enumerate() {
        let field =
            |name: &str, e: Invalid| invalid(format!("items[{i}].{name}: {}", mask_ids(&e.0)));
        if !is_valid_code(&item.origin) {
            return Err(invalid(format!("items[{i}].origin: not an org code")));
        }
        let origin = orgs
            .get(&item.origin)
            .ok_or_else(|| invalid(format!("items[{i}].origin {}: an unknown org", item.origin)))?;
        let attendance = item
            .attendance
            .ok_or_else(|| invalid(format!("items[{i}].attendance: missing")))?;
        let attendance = attendance_from_pb(attendance).map_err(|e| field("attendance", e))?;
        // What Record::validate checks of an attendance and a class.
        attendance.validate().map_err(|e| field("attendance", e))?;
        let class = match item.class {
            None => None,
            Some(c) => {
                let class = class_from_pb(c).map_err(|e| field("class", e))?;
                class.validate().map_err(|e| field("class", e))?;
                Some(class)
            }
        };
        items.push(Returned {
            origin,
            class,
            attendance,
        });
    }
    Ok(PersonAnswer { person, items })
}

/// A parent's `answer`, computed at `at_ms` on its clock, in chunks of at
/// most [`CHUNK_PEOPLE_MAX`] people and [`CHUNK_BYTES_MAX`] bytes (each
/// person fits an empty chunk: [`PERSON_LIMITS`]), `full` on the first,
/// `last`, `digest` and `at_ms` on the last; one chunk when there is nobody
/// to send.
pub fn answer_chunks(orgs: &OrgDirectory, answer: &Answer, at_ms: i64) -> Vec<pb::TrainingsChunk> {
    let people = answer
        .people
        .iter()
        .map(|p| encode_person_trainings(orgs, p.person, &p.items))
        .collect();
    chunks(people, answer.full, &answer.digest, at_ms)
}

fn chunks(
    people: Vec<pb::PersonTrainings>,
    full: bool,
    digest: &Digest,
    at_ms: i64,
) -> Vec<pb::TrainingsChunk> {
    let mut chunks = Vec::new();
    let mut chunk = pb::TrainingsChunk {
        full,
        ..Default::default()
    };
    let mut bytes = CHUNK_OVERHEAD_BYTES;
    for person in people {
        // The person's bytes and their field's tag and length.
        let size = person.encoded_len() + 8;
        if !chunk.people.is_empty()
            && (chunk.people.len() >= CHUNK_PEOPLE_MAX || bytes + size > CHUNK_BYTES_MAX)
        {
            chunks.push(std::mem::take(&mut chunk));
            bytes = CHUNK_OVERHEAD_BYTES;
        }
        bytes += size;
        chunk.people.push(person);
    }
    chunk.last = true;
    chunk.digest = Bytes::copy_from_slice(digest);
    chunk.at_ms = at_ms;
    chunks.push(chunk);
    chunks
}

/// A parent's answer read chunk by chunk, each checked within the bounds
/// ([`ANSWER_BYTES_MAX`], [`CHUNK_PEOPLE_MAX`], [`ANSWER_PEOPLE_MAX`],
/// [`PERSON_ITEMS_MAX`]) before what it bounds is decoded or kept, and its
/// people decoded against the directory. Errors name the chunk or the
/// person by position (`chunks[2].people`, `people[7].items[0].origin`).
#[derive(Debug)]
pub struct AnswerReader {
    answer: Answer,
    bytes: usize,
    chunks: usize,
    at_ms: i64,
}

impl Default for AnswerReader {
    fn default() -> Self {
        AnswerReader {
            answer: Answer {
                full: false,
                people: Vec::new(),
                digest: [0; DIGEST_LEN],
            },
            bytes: 0,
            chunks: 0,
            at_ms: 0,
        }
    }
}

impl AnswerReader {
    /// Chunks taken so far.
    pub fn chunks(&self) -> usize {
        self.chunks
    }

    /// Takes the next chunk, which took `encoded_len` bytes as received;
    /// `true` when it is the answer's last.
    pub fn push(
        &mut self,
        orgs: &OrgDirectory,
        chunk: pb::TrainingsChunk,
        encoded_len: usize,
    ) -> Result<bool, Invalid> {
        let n = self.chunks;
        self.bytes = self.bytes.saturating_add(encoded_len);
        if self.bytes > ANSWER_BYTES_MAX {
            return Err(invalid(format!(
                "chunks: more than {ANSWER_BYTES_MAX} bytes in all"
            )));
        }
        if chunk.people.len() > CHUNK_PEOPLE_MAX {
            return Err(invalid(format!(
                "chunks[{n}].people: {} people, more than {CHUNK_PEOPLE_MAX}",
                chunk.people.len()
            )));
        }
        if self.answer.people.len() + chunk.people.len() > ANSWER_PEOPLE_MAX {
            return Err(invalid(format!("people: more than {ANSWER_PEOPLE_MAX}")));
        }
        if n == 0 {
            self.answer.full = chunk.full;
        } else if chunk.full {
            return Err(invalid(format!(
                "chunks[{n}].full: set after the first chunk"
            )));
        }
        self.answer.people.reserve(chunk.people.len());
        for person in chunk.people {
            let index = self.answer.people.len();
            if person.items.len() > PERSON_ITEMS_MAX {
                return Err(invalid(format!(
                    "people[{index}].items: {} trainings, more than {PERSON_ITEMS_MAX}",
                    person.items.len()
                )));
            }
            let decoded = decode_person_trainings(orgs, person)
                .map_err(|e| invalid(format!("people[{index}].{}", e.0)))?;
            self.answer.people.push(decoded);
        }
        self.chunks += 1;
        if chunk.last {
            self.answer.digest = Digest::try_from(chunk.digest.as_ref())
                .map_err(|_| invalid(format!("chunks[{n}].digest: not {DIGEST_LEN} bytes")))?;
            self.at_ms = chunk.at_ms;
        }
        Ok(chunk.last)
    }

    /// The answer read, and when the parent computed it (its clock; 0 from
    /// a parent too old to say).
    pub fn finish(self) -> (Answer, i64) {
        (self.answer, self.at_ms)
    }
}

/// A person's set as the store keeps it.
pub fn encode_stored_trainings(
    orgs: &OrgDirectory,
    person: PersonId,
    items: &[Returned],
) -> Vec<u8> {
    encode_person_trainings(orgs, person, items).encode_to_vec()
}

/// A person's set from the store, checked like one from the wire.
pub fn decode_stored_trainings(orgs: &OrgDirectory, bytes: &[u8]) -> Result<PersonAnswer, Invalid> {
    let msg = pb::PersonTrainings::decode(bytes)
        .map_err(|e| invalid(format!("malformed returned trainings: {e}")))?;
    decode_person_trainings(orgs, msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(n: usize, name_bytes: usize) -> pb::PersonTrainings {
        pb::PersonTrainings {
            person_id: format!("{n:018}"),
            items: vec![pb::ReturnedTraining {
                origin: "410100".into(),
                class: None,
                attendance: Some(pb::Attendance {
                    name: "x".repeat(name_bytes),
                    ..Default::default()
                }),
            }],
        }
    }

    #[test]
    fn chunks_are_bounded_by_count_and_bytes_and_flagged_first_and_last() {
        let digest = [7u8; DIGEST_LEN];
        let cases = [
            (0, 10, 1),
            (CHUNK_PEOPLE_MAX, 10, 1),
            (CHUNK_PEOPLE_MAX + 1, 10, 2),
            (3 * CHUNK_PEOPLE_MAX, 10, 3),
            // A quarter of a chunk's bytes each: beside the chunk's own room,
            // three fit, not four.
            (7, CHUNK_BYTES_MAX / 4, 3),
        ];
        for (people, name_bytes, expected) in cases {
            let sent: Vec<_> = (0..people).map(|n| person(n, name_bytes)).collect();
            let out = chunks(sent.clone(), true, &digest, 42);
            assert_eq!(out.len(), expected, "{people} people of {name_bytes} bytes");
            for (i, c) in out.iter().enumerate() {
                assert_eq!(c.full, i == 0);
                assert_eq!(c.last, i + 1 == out.len());
                assert_eq!(c.digest.is_empty(), !c.last);
                assert_eq!(c.at_ms, if c.last { 42 } else { 0 });
                assert!(c.people.len() <= CHUNK_PEOPLE_MAX);
                assert!(c.encoded_len() <= CHUNK_BYTES_MAX, "{}", c.encoded_len());
            }
            let all: Vec<_> = out.into_iter().flat_map(|c| c.people).collect();
            assert_eq!(all, sent, "every person once, in order");
        }
    }
}
