//! Returned trainings on the wire and in the store: a person's set as a
//! `lunxun.v1.PersonTrainings` (the store keeps the same bytes), and the
//! request. Decoding trusts nothing: every organizer must be a code of the
//! directory, every record passes the checks of
//! [`crate::model::Record::validate`], and errors name the
//! field (ID numbers masked).

use bytes::Bytes;
use lunxun_core::returns::child::PersonAnswer;
use lunxun_core::returns::{Digest, Returned};
use lunxun_proto::v1 as pb;
use prost::Message;

use super::{attendance_from_pb, attendance_to_pb, class_from_pb, class_to_pb, invalid};
use crate::model::{Invalid, PersonId, mask_ids};
use crate::orgs::{OrgDirectory, is_valid_code};

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

/// The bytes `msg` takes on the wire (the parent fills chunks by it).
pub fn person_trainings_len(msg: &pb::PersonTrainings) -> usize {
    msg.encoded_len()
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
