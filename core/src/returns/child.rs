//! The child's side of returned trainings: an answer from the parent is
//! checked whole before anything of it is kept ([`stage`]: every person on
//! our own subtree's rosters, every organizer outside our subtree, every
//! class the attendance's own, nothing twice, and the result's digest the
//! one the parent announced), and what is held is kept as [`Held`], which
//! turns a person's new set into the records the view applies. An answer
//! carried in a file, which can come late, twice or after a newer one, is
//! first checked to be newer than the one held ([`fresh`]).

use std::collections::{BTreeMap, HashMap, HashSet};

use super::{Digest, Returned, combined, person_digest, sort, term};
use crate::model::{ClassId, PersonId, Record, RecordKey};
use crate::orgs::{OrgDirectory, OrgId};
use crate::view::View;

/// One person of a parent's answer, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonAnswer {
    pub person: PersonId,
    /// Empty: the person has no training returned any more.
    pub items: Vec<Returned>,
}

/// A parent's whole answer, decoded (every chunk of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The whole set: people held and not named are dropped.
    pub full: bool,
    pub people: Vec<PersonAnswer>,
    /// The parent's combined digest of what it returns to us.
    pub digest: Digest,
}

/// Why an answer is refused. Fields name the answer's people by their
/// position across all its chunks; ID numbers are masked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// A person none of our subtree's rosters holds.
    #[error("people[{index}] ({person}): not on the roster of any org of our subtree")]
    NotOnOurRosters { index: usize, person: String },
    /// A person named twice in one answer.
    #[error("people[{index}] ({person}): named twice")]
    Repeated { index: usize, person: String },
    /// A training organized inside our own subtree: we hold those ourselves.
    #[error("people[{index}].items[{item}].origin {origin}: inside our own subtree")]
    InsideOurSubtree {
        index: usize,
        item: usize,
        origin: String,
    },
    /// An attendance of someone else than the person it is listed under.
    #[error("people[{index}].items[{item}].attendance.person_id: not people[{index}]")]
    OtherPerson { index: usize, item: usize },
    /// A class record that is not the attendance's class.
    #[error("people[{index}].items[{item}].class.class_id: not the attendance's class")]
    ClassMismatch { index: usize, item: usize },
    /// One attendance listed twice for a person.
    #[error("people[{index}].items: class {class} of {origin} listed twice")]
    Duplicate {
        index: usize,
        origin: String,
        class: String,
    },
    /// What the answer leaves us holding is not what the parent announced.
    #[error("digest: the answer does not add up to the digest the parent announced")]
    Digest,
}

/// A checked answer, ready to be stored and applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staged {
    /// Each person whose set changes, in id order, with the new set in
    /// canonical order and its digest (empty and None: dropped).
    pub changes: Vec<(PersonId, Vec<Returned>, Option<Digest>)>,
    /// The combined digest once applied (the parent's).
    pub combined: Digest,
}

impl Staged {
    /// Whether applying it changes nothing.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

/// Checks `answer` from our parent against our view (`me`: our org) and
/// what we hold (`held`: each person's digest), and stages what changes.
/// Nothing is changed here; a refusal names the first bad field.
pub fn stage(
    view: &View,
    orgs: &OrgDirectory,
    me: OrgId,
    held: &BTreeMap<PersonId, Digest>,
    answer: Answer,
) -> Result<Staged, Refused> {
    let mut after = if answer.full {
        BTreeMap::new()
    } else {
        held.clone()
    };
    let mut sets: BTreeMap<PersonId, Vec<Returned>> = BTreeMap::new();
    let mut seen: HashSet<PersonId> = HashSet::with_capacity(answer.people.len());
    for (index, PersonAnswer { person, mut items }) in answer.people.into_iter().enumerate() {
        if !seen.insert(person) {
            return Err(Refused::Repeated {
                index,
                person: person.masked(),
            });
        }
        if items.is_empty() {
            after.remove(&person);
            sets.insert(person, items);
            continue;
        }
        if !view
            .rosters_of(person)
            .iter()
            .any(|o| orgs.is_within(*o, me))
        {
            return Err(Refused::NotOnOurRosters {
                index,
                person: person.masked(),
            });
        }
        for (item, r) in items.iter().enumerate() {
            if orgs.is_within(r.origin, me) {
                return Err(Refused::InsideOurSubtree {
                    index,
                    item,
                    origin: orgs.code(r.origin).to_owned(),
                });
            }
            if r.attendance.person != person {
                return Err(Refused::OtherPerson { index, item });
            }
            if r.class
                .as_ref()
                .is_some_and(|c| c.class_id != r.attendance.class_id)
            {
                return Err(Refused::ClassMismatch { index, item });
            }
        }
        sort(orgs, &mut items);
        if let Some(w) = items.windows(2).find(|w| {
            w[0].origin == w[1].origin && w[0].attendance.class_id == w[1].attendance.class_id
        }) {
            return Err(Refused::Duplicate {
                index,
                origin: orgs.code(w[0].origin).to_owned(),
                class: w[0].attendance.class_id.to_string(),
            });
        }
        after.insert(person, person_digest(orgs, &items));
        sets.insert(person, items);
    }
    let combined = combined(&after);
    if combined != answer.digest {
        return Err(Refused::Digest);
    }
    let mut changed: Vec<PersonId> = after
        .iter()
        .filter(|(p, d)| held.get(p) != Some(d))
        .map(|(p, _)| *p)
        .chain(held.keys().filter(|p| !after.contains_key(p)).copied())
        .collect();
    changed.sort_unstable();
    let changes = changed
        .into_iter()
        .map(|p| {
            let digest = after.get(&p).copied();
            let items = match digest {
                Some(_) => sets.remove(&p).unwrap_or_default(),
                None => Vec::new(),
            };
            (p, items, digest)
        })
        .collect();
    Ok(Staged { changes, combined })
}

/// Which of its parent's answers a child holds: who answered, and when on
/// the parent's clock (ms since the epoch; 0 from a parent too old to say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// The parent's org code.
    pub parent: String,
    pub at_ms: i64,
}

/// Why an answer carried in a file is not taken (the file's other parts
/// still are): what it would leave is not newer than what is held.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Stale {
    /// Computed no later than the answer held: the same file again, or an
    /// older one after a newer answer (a file or a session).
    #[error("computed at {answer_ms}, not after the answer held ({held_ms})")]
    Older { answer_ms: i64, held_ms: i64 },
    /// The changes since a set we no longer hold (or, with no answer of
    /// this parent's time held, any answer but for the set we hold).
    #[error("computed for another set than the one held")]
    OtherBase,
}

/// Whether an answer of `parent` computed at `at_ms` and carried in a file
/// is to be taken, holding `version` and `held` (our combined digest).
/// `base` is what we held when we wrote the file the answer replies to;
/// `full`: the answer is the whole set, not only the changes since `base`.
///
/// Newer than the answer held from the same parent, it is taken when it is
/// whole, or when it holds the changes since what we hold. Without a time
/// of that parent's to compare (none taken yet, another parent), only an
/// answer for exactly what we hold is taken: nothing else proves it newer.
pub fn fresh(
    version: Option<&Version>,
    parent: &str,
    at_ms: i64,
    full: bool,
    base: Option<&Digest>,
    held: &Digest,
) -> Result<(), Stale> {
    let on_base = base == Some(held);
    match version.filter(|v| v.parent == parent) {
        Some(v) if at_ms <= v.at_ms => Err(Stale::Older {
            answer_ms: at_ms,
            held_ms: v.at_ms,
        }),
        Some(_) if full || on_base => Ok(()),
        None if on_base => Ok(()),
        _ => Err(Stale::OtherBase),
    }
}

/// What a person holds: their set's digest and its keys (organizer, class).
#[derive(Debug, Clone)]
struct HeldPerson {
    digest: Digest,
    keys: Vec<(OrgId, ClassId)>,
}

/// The returned trainings a child holds, as bookkeeping beside the view:
/// each person's digest and keys, how many attendances point at each class
/// (a class record goes when its last one does), and the combined digest.
#[derive(Debug, Clone, Default)]
pub struct Held {
    people: BTreeMap<PersonId, HeldPerson>,
    classes: HashMap<(OrgId, ClassId), u32>,
    records: usize,
    combined: Digest,
}

impl Held {
    /// Each person's digest.
    pub fn digests(&self) -> BTreeMap<PersonId, Digest> {
        self.people.iter().map(|(p, h)| (*p, h.digest)).collect()
    }

    /// The combined digest of everything held ([`super::combined`]).
    pub fn combined(&self) -> Digest {
        self.combined
    }

    /// People with a returned training.
    pub fn people(&self) -> usize {
        self.people.len()
    }

    /// Returned attendance records.
    pub fn records(&self) -> usize {
        self.records
    }

    /// Whether `origin` is the organizer of anything held.
    pub fn holds_origin(&self, origin: OrgId) -> bool {
        self.classes.keys().any(|(o, _)| *o == origin)
    }

    fn toggle(&mut self, person: PersonId, digest: &Digest) {
        for (c, t) in self.combined.iter_mut().zip(term(person, digest)) {
            *c ^= t;
        }
    }

    /// Replaces what `person` holds by `items` (canonical order, digest
    /// `digest`; empty: nothing any more) and returns the records that make
    /// the view follow, in order: tombstones of the attendance gone, the new
    /// classes (or their tombstones, where the parent lacks the class) and
    /// attendance, then tombstones of classes no one holds now.
    pub fn replace(
        &mut self,
        person: PersonId,
        items: Vec<Returned>,
        digest: Digest,
    ) -> Vec<(OrgId, Record)> {
        let old = self.people.remove(&person);
        if let Some(old) = &old {
            self.toggle(person, &old.digest);
        }
        let old_keys = old.map(|o| o.keys).unwrap_or_default();
        let new_keys: Vec<(OrgId, ClassId)> = items
            .iter()
            .map(|r| (r.origin, r.attendance.class_id.clone()))
            .collect();
        let mut out = Vec::with_capacity(old_keys.len() + 2 * items.len());
        let kept: HashSet<&(OrgId, ClassId)> = new_keys.iter().collect();
        for key in old_keys.iter().filter(|k| !kept.contains(k)) {
            out.push((
                key.0,
                Record::Tombstone(RecordKey::Attendance(key.1.clone(), person)),
            ));
        }
        for r in items {
            // An answer is one snapshot of the parent's view: when it lacks
            // a class record, every set naming that class says so, and every
            // one that said otherwise changed and comes in the same answer.
            let class = match r.class {
                Some(class) => Record::Class(class),
                None => Record::Tombstone(RecordKey::Class(r.attendance.class_id.clone())),
            };
            out.push((r.origin, class));
            out.push((r.origin, Record::Attendance(r.attendance)));
        }
        for key in &new_keys {
            *self.classes.entry(key.clone()).or_default() += 1;
        }
        for key in &old_keys {
            if let Some(n) = self.classes.get_mut(key) {
                *n -= 1;
                if *n == 0 {
                    self.classes.remove(key);
                    out.push((key.0, Record::Tombstone(RecordKey::Class(key.1.clone()))));
                }
            }
        }
        self.records = self.records + new_keys.len() - old_keys.len();
        if !new_keys.is_empty() {
            self.toggle(person, &digest);
            self.people.insert(
                person,
                HeldPerson {
                    digest,
                    keys: new_keys,
                },
            );
        }
        out
    }
}
