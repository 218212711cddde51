//! The view's attendance indexes: each person's attendance findable by class,
//! and each class's attendees, so that applying, replaying and deleting a
//! record, and marking a changed class for the rollups, cost what the record
//! touches, not what the person or the class holds.
//!
//! Both are sized for the national node (tens of millions of attendance rows,
//! a dozen per person): a person's list stays a plain vector, searched
//! linearly while it is short, and gains a hash index only when it grows long;
//! a class's attendees are a vector of ids whose removals are lazy (an entry
//! whose attendance is gone stays until a compaction), so a removal from a
//! class of 100,000 never searches it, and a row costs 8 bytes there.

use std::collections::HashMap;

use crate::model::{Class, Date, Hours, Mode, Outcome, PersonId};
use crate::orgs::OrgId;
use crate::rules::TrainingFact;

/// Index of a class in the view's class slots.
pub(super) type ClassIdx = u32;

/// Marks a removed entry of an indexed [`Trainings`] list. Slot indexes come
/// from a vector of class slots, which would need hundreds of gigabytes to
/// reach it.
const GONE: ClassIdx = ClassIdx::MAX;

/// Lists longer than this get a hash index; shorter ones are searched
/// linearly (a few cache lines, as fast as a hash lookup).
const LONG: usize = 32;

/// One attendance in the per-person index, kept small: there are millions.
#[derive(Debug, Clone, Copy)]
pub(super) struct Att {
    pub class: ClassIdx,
    pub hours: Hours,
    pub outcome: Outcome,
    /// Whether the organizer recorded a name (see `View::attendance_name`).
    pub named: bool,
}

/// What the rules read of a class slot ([`TrainingFact`]'s class fields),
/// kept in a vector beside the slots: 20 bytes, where a slot with its record
/// takes several cache lines' worth of strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ClassFacts {
    /// Whether the class's record is held (else its attendance is no fact).
    held: bool,
    organizer: OrgId,
    mode: Mode,
    off_job: bool,
    start: Date,
    end: Date,
    /// [`Class::credited_days`].
    days: u32,
}

impl ClassFacts {
    /// The facts of a slot of `origin` holding `class`.
    pub fn of(origin: OrgId, class: Option<&Class>) -> ClassFacts {
        match class {
            Some(c) => ClassFacts {
                held: true,
                organizer: origin,
                mode: c.mode,
                off_job: c.off_job,
                start: c.start,
                end: c.end,
                days: c.credited_days(),
            },
            None => ClassFacts {
                held: false,
                organizer: origin,
                mode: Mode::Centralized,
                off_job: false,
                start: Date::MIN,
                end: Date::MIN,
                days: 0,
            },
        }
    }

    /// The fact of attendance `a` of this class, if its record is held.
    pub fn fact(&self, a: &Att) -> Option<TrainingFact> {
        self.held.then_some(TrainingFact {
            organizer: self.organizer,
            mode: self.mode,
            off_job: self.off_job,
            start: self.start,
            end: self.end,
            days: self.days,
            hours: a.hours,
            outcome: a.outcome,
        })
    }
}

/// The index of a long list: class → position, and how many positions are
/// removed entries.
#[derive(Debug, Default)]
struct LongIndex {
    position: HashMap<ClassIdx, u32>,
    gone: u32,
}

/// One person's attendance, in the order it was first applied (a deleted
/// and re-applied attendance goes last), which is the order callers see.
#[derive(Debug, Default)]
pub(super) struct Trainings {
    list: Vec<Att>,
    /// Only for lists longer than [`LONG`]: removals then only mark their
    /// entry [`GONE`], and the list is compacted once half of it is gone, so
    /// both lookups and removals are O(1) and the order is kept.
    index: Option<Box<LongIndex>>,
}

impl Trainings {
    /// The attendance of class slot `class`.
    pub fn find(&self, class: ClassIdx) -> Option<&Att> {
        match &self.index {
            Some(ix) => ix.position.get(&class).map(|&i| &self.list[i as usize]),
            None => self.list.iter().find(|a| a.class == class),
        }
    }

    fn position(&self, class: ClassIdx) -> Option<usize> {
        match &self.index {
            Some(ix) => ix.position.get(&class).map(|&i| i as usize),
            None => self.list.iter().position(|a| a.class == class),
        }
    }

    /// A list read back in its order (a snapshot's); `None` if a class
    /// comes twice or an entry is a removed one.
    pub fn from_list(list: Vec<Att>) -> Option<Trainings> {
        let mut classes: Vec<ClassIdx> = list.iter().map(|a| a.class).collect();
        classes.sort_unstable();
        if classes.windows(2).any(|w| w[0] == w[1]) || classes.last() == Some(&GONE) {
            return None;
        }
        let mut t = Trainings { list, index: None };
        if t.list.len() > LONG {
            t.build_index();
        }
        Some(t)
    }

    /// Sets the attendance of `att.class`; true when the person had none.
    pub fn upsert(&mut self, att: Att) -> bool {
        debug_assert_ne!(att.class, GONE);
        if let Some(i) = self.position(att.class) {
            self.list[i] = att;
            return false;
        }
        let at = self.list.len() as u32;
        self.list.push(att);
        match &mut self.index {
            Some(ix) => {
                ix.position.insert(att.class, at);
            }
            None if self.list.len() > LONG => self.build_index(),
            None => {}
        }
        true
    }

    /// Removes the attendance of `class`; true when there was one.
    pub fn remove(&mut self, class: ClassIdx) -> bool {
        let Some(ix) = &mut self.index else {
            return match self.list.iter().position(|a| a.class == class) {
                Some(i) => {
                    self.list.remove(i);
                    true
                }
                None => false,
            };
        };
        let Some(i) = ix.position.remove(&class) else {
            return false;
        };
        self.list[i as usize].class = GONE;
        ix.gone += 1;
        if ix.gone as usize * 2 > self.list.len() {
            // Each compaction follows at least as many removals as it keeps
            // entries: O(1) per removal.
            self.list.retain(|a| a.class != GONE);
            if self.list.capacity() > 2 * self.list.len() {
                self.list.shrink_to_fit();
            }
            if self.list.len() > LONG / 2 {
                self.build_index();
            } else {
                self.index = None;
            }
        }
        true
    }

    fn build_index(&mut self) {
        let position = self
            .list
            .iter()
            .enumerate()
            .map(|(i, a)| (a.class, i as u32))
            .collect();
        self.index = Some(Box::new(LongIndex { position, gone: 0 }));
    }

    /// Gives back the list's spare capacity.
    pub fn shrink_to_fit(&mut self) {
        self.list.shrink_to_fit();
    }

    /// The class of the first entry (or 0): reading it brings the list
    /// into the cache.
    pub fn first_class(&self) -> ClassIdx {
        self.list.first().map_or(0, |a| a.class)
    }

    /// Every attendance, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Att> {
        self.list.iter().filter(|a| a.class != GONE)
    }

    /// Whether no attendance is left.
    pub fn is_empty(&self) -> bool {
        match &self.index {
            Some(ix) => ix.position.is_empty(),
            None => self.list.is_empty(),
        }
    }
}

/// The people who attended one class: every current attendee at least once,
/// in no particular order, plus entries whose attendance has since been
/// deleted (or that repeat a person who was deleted and came back), at most
/// as many as there are attendees (or a handful), which a compaction drops.
#[derive(Debug, Default, Clone)]
pub(super) struct Members {
    people: Vec<PersonId>,
}

/// Below this many stale entries a class is never compacted.
const STALE_SLACK: usize = 8;

impl Members {
    /// A person began attending.
    pub fn add(&mut self, person: PersonId) {
        self.people.push(person);
    }

    /// After a removal, with `live` attendees left (`attends` tells whether a
    /// person still attends): compacts once stale entries outnumber them, so
    /// each removal is amortized O(log n) and memory stays within twice the
    /// attendees.
    pub fn removed(&mut self, live: usize, attends: impl Fn(PersonId) -> bool) {
        let stale = self.people.len().saturating_sub(live);
        if stale <= live.max(STALE_SLACK) {
            return;
        }
        self.people.retain(|p| attends(*p));
        self.people.sort_unstable();
        self.people.dedup();
        if self.people.capacity() > 2 * self.people.len() {
            self.people.shrink_to_fit();
        }
        debug_assert_eq!(self.people.len(), live);
    }

    /// Gives back the spare capacity.
    pub fn shrink_to_fit(&mut self) {
        self.people.shrink_to_fit();
    }

    /// Entries held, stale ones included.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.people.len()
    }

    /// The current attendees (`attends` filters out stale entries); a person
    /// deleted and re-added since the last compaction may come twice.
    pub fn iter<'a>(
        &'a self,
        attends: impl Fn(PersonId) -> bool + 'a,
    ) -> impl Iterator<Item = PersonId> + 'a {
        self.people.iter().copied().filter(move |p| attends(*p))
    }
}
