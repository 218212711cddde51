//! The parent's side of returned trainings: from its view, each person on
//! the rosters of a child's subtree and their trainings organized outside
//! that subtree ([`person_set`], [`digests`]), and what to send of them
//! ([`plan`]): only the people changed since the answer the child holds, or
//! the whole set when the child holds anything else.

use std::collections::BTreeMap;

use super::{Digest, Returned, combined, person_digest, sort};
use crate::model::PersonId;
use crate::orgs::{OrgDirectory, OrgId};
use crate::view::View;

/// What `child` is returned of `person`: every attendance the view holds of
/// them whose class's organizer is outside the child's subtree, with the
/// class record when held, in canonical order. Whether the person is on the
/// child's subtree's rosters is the caller's business ([`digests`] asks).
pub fn person_set(
    view: &View,
    orgs: &OrgDirectory,
    child: OrgId,
    person: PersonId,
) -> Vec<Returned> {
    let mut items: Vec<Returned> = view
        .attendance_records_of(person)
        .into_iter()
        .filter(|(origin, _, _)| !orgs.is_within(*origin, child))
        .map(|(origin, attendance, class)| Returned {
            origin,
            class: class.cloned(),
            attendance,
        })
        .collect();
    sort(orgs, &mut items);
    items
}

/// Bounds on one person's set as a parent sends it (its child refuses more):
/// a set beyond them is left out, as if empty, and counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PersonLimits {
    pub items_max: usize,
    /// On [`encoded_bytes_bound`].
    pub bytes_max: usize,
}

impl PersonLimits {
    /// No bounds (tests, and what a set is before they apply).
    pub const NONE: PersonLimits = PersonLimits {
        items_max: usize::MAX,
        bytes_max: usize::MAX,
    };
}

/// At least the bytes a person's set takes on the wire (a protobuf
/// `PersonTrainings`): every text, plus a generous allowance per field for
/// tags, lengths and numbers. Cheap: no encoding.
pub fn encoded_bytes_bound(orgs: &OrgDirectory, items: &[Returned]) -> usize {
    const PERSON_BYTES: usize = 32;
    const ITEM_BYTES: usize = 128;
    PERSON_BYTES
        + items
            .iter()
            .map(|r| {
                let a = &r.attendance;
                let class = r.class.as_ref().map_or(0, |c| {
                    c.class_id.as_str().len() + c.title.len() + c.category.len()
                });
                ITEM_BYTES
                    + orgs.code(r.origin).len()
                    + 2 * a.class_id.as_str().len()
                    + a.name.len()
                    + class
            })
            .sum::<usize>()
}

/// The digest of every non-empty set `child` is returned, within `limits`:
/// one per person on the roster of an org inside its subtree with at least
/// one training organized outside it. Also how many people's sets were left
/// out for exceeding the limits.
pub fn digests(
    view: &View,
    orgs: &OrgDirectory,
    child: OrgId,
    limits: &PersonLimits,
) -> (BTreeMap<PersonId, Digest>, usize) {
    let mut left_out = 0;
    let digests = view
        .people_within(orgs, child)
        .into_iter()
        .filter_map(|person| {
            let items = person_set(view, orgs, child, person);
            if items.is_empty() {
                return None;
            }
            if items.len() > limits.items_max
                || encoded_bytes_bound(orgs, &items) > limits.bytes_max
            {
                left_out += 1;
                return None;
            }
            Some((person, person_digest(orgs, &items)))
        })
        .collect();
    (digests, left_out)
}

/// What a parent remembers of its last answer to a child: each person's
/// digest, and their combination.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sent {
    pub digests: BTreeMap<PersonId, Digest>,
    pub combined: Digest,
}

impl Sent {
    pub fn new(digests: BTreeMap<PersonId, Digest>) -> Sent {
        let combined = combined(&digests);
        Sent { digests, combined }
    }
}

/// What to send a child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The whole set: the child drops everyone not named.
    pub full: bool,
    /// Who to send, in id order; those without a set now are sent empty
    /// (the child drops what it holds of them).
    pub people: Vec<PersonId>,
}

/// The people whose set differs between `before` and `now`: changed, new,
/// or gone (empty now), in id order.
pub fn diff(
    before: &BTreeMap<PersonId, Digest>,
    now: &BTreeMap<PersonId, Digest>,
) -> Vec<PersonId> {
    let mut out: Vec<PersonId> = now
        .iter()
        .filter(|(p, d)| before.get(p) != Some(d))
        .map(|(p, _)| *p)
        .chain(before.keys().filter(|p| !now.contains_key(p)).copied())
        .collect();
    out.sort_unstable();
    out
}

/// What to send a child that says it holds `child_digest`: only what
/// changed since `last` when that is what it holds, else everything.
pub fn plan(last: Option<&Sent>, child_digest: &Digest, now: &BTreeMap<PersonId, Digest>) -> Plan {
    match last {
        Some(last) if last.combined == *child_digest => Plan {
            full: false,
            people: diff(&last.digests, now),
        },
        _ => Plan {
            full: true,
            people: now.keys().copied().collect(),
        },
    }
}
