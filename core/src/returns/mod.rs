//! Trainings returned down the tree (DESIGN.md "Downward: … a person's
//! trainings"): a parent gives each child the attendance (and class) records
//! it holds of the people on the child's subtree's rosters, of classes
//! organized outside that subtree — what the child cannot see otherwise, so
//! that its hour figures equal its parent's and the national bureau's.
//!
//! They travel as a *snapshot per person*, not as changes: a person's set is
//! a sparse pick from other origins' logs, which the child cannot verify
//! against those origins' checkpoints without the rest of their logs (other
//! people's data). The authenticated parent vouches for it instead, and the
//! child keeps it apart from its log, so it is never sent back up.
//!
//! - this module: [`Returned`] (one training), the canonical digest of a
//!   person's set ([`person_digest`]) and of everything held
//!   ([`combined`]: an XOR, so order does not matter and one person's change
//!   costs one hash).
//! - [`parent`]: what a parent returns to a child from its view, and what to
//!   send of it ([`parent::plan`]: the changes since the last answer, or all).
//! - [`child`]: the checks a child applies to an answer before anything is
//!   stored ([`child::stage`]), and its bookkeeping of what it holds
//!   ([`child::Held`]), which turns a person's new set into view records.

use std::collections::BTreeMap;

use crate::model::{Attendance, Class, PersonId, date_to_days};
use crate::orgs::{OrgDirectory, OrgId};

pub mod child;
pub mod parent;
#[cfg(test)]
mod tests;

/// Bytes of a digest (BLAKE3).
pub const DIGEST_LEN: usize = 32;

/// A digest of a person's set, or of every person's ([`combined`]).
pub type Digest = [u8; DIGEST_LEN];

/// The combined digest of nothing held.
pub const NOTHING: Digest = [0; DIGEST_LEN];

/// Domain separation for a person's digest.
const PERSON_CONTEXT: &[u8] = b"lunxun.returned.person.v1\0";
/// Domain separation for a person's term in the combined digest.
const COMBINED_CONTEXT: &[u8] = b"lunxun.returned.combined.v1\0";

/// One training of a person, held by a parent and returned to a child: the
/// attendance record its organizer (`origin`) wrote, and the class record
/// when the parent holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Returned {
    pub origin: OrgId,
    pub class: Option<Class>,
    pub attendance: Attendance,
}

/// Puts a person's set in its canonical order: by organizer code, then class id.
pub fn sort(orgs: &OrgDirectory, items: &mut [Returned]) {
    items.sort_by(|a, b| {
        (orgs.code(a.origin), a.attendance.class_id.as_str())
            .cmp(&(orgs.code(b.origin), b.attendance.class_id.as_str()))
    });
}

fn put_text(h: &mut blake3::Hasher, text: &str) {
    h.update(&(text.len() as u32).to_be_bytes());
    h.update(text.as_bytes());
}

/// The digest of a person's set, which must be in canonical order
/// ([`sort`]).
///
/// Layout: context ‖ count u32 BE ‖ per item: origin code ‖ class id ‖
/// hours (tenths, u32 BE) ‖ outcome ‖ name ‖ 0x00, or 0x01 ‖ title ‖ category ‖
/// mode ‖ off_job u8 ‖ start, end (days since 1970-01-01, i32 BE) ‖ hours
/// (tenths, u32 BE) ‖ days (u32 BE, 0 when not stated). Every text is
/// len u32 BE ‖ UTF-8; enums are their English names. Codes, not the
/// directory's ids, so parent and child agree whatever their directories.
pub fn person_digest(orgs: &OrgDirectory, items: &[Returned]) -> Digest {
    let mut h = blake3::Hasher::new();
    h.update(PERSON_CONTEXT);
    h.update(&(items.len() as u32).to_be_bytes());
    for item in items {
        let a = &item.attendance;
        put_text(&mut h, orgs.code(item.origin));
        put_text(&mut h, a.class_id.as_str());
        h.update(&a.hours.tenths().to_be_bytes());
        put_text(&mut h, a.outcome.as_str());
        put_text(&mut h, &a.name);
        match &item.class {
            None => {
                h.update(&[0]);
            }
            Some(c) => {
                h.update(&[1]);
                put_text(&mut h, &c.title);
                put_text(&mut h, &c.category);
                put_text(&mut h, c.mode.as_str());
                h.update(&[u8::from(c.off_job)]);
                h.update(&date_to_days(c.start).to_be_bytes());
                h.update(&date_to_days(c.end).to_be_bytes());
                h.update(&c.hours.tenths().to_be_bytes());
                h.update(&c.days.unwrap_or(0).to_be_bytes());
            }
        }
    }
    *h.finalize().as_bytes()
}

/// One person's term of the combined digest.
fn term(person: PersonId, digest: &Digest) -> Digest {
    let mut h = blake3::Hasher::new();
    h.update(COMBINED_CONTEXT);
    h.update(person.to_string().as_bytes());
    h.update(digest);
    *h.finalize().as_bytes()
}

/// The digest of everything held: the XOR of BLAKE3(person ‖ person's
/// digest) over the people with a non-empty set (the map holds only those).
/// [`NOTHING`] when nothing is held.
pub fn combined(digests: &BTreeMap<PersonId, Digest>) -> Digest {
    let mut out = NOTHING;
    for (person, digest) in digests {
        for (o, t) in out.iter_mut().zip(term(*person, digest)) {
            *o ^= t;
        }
    }
    out
}
