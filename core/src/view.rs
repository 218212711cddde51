//! The materialized view: the current version of every record this node
//! holds, in memory, indexed for the rules.
//!
//! The log on disk is the truth; the view is derived from it. It is rebuilt by
//! replaying the log when a node opens, and updated as changes are written or
//! received, so queries never touch the disk. Applying a change is a pure
//! function of the view and the change's (origin, record): replaying the same
//! log always yields the same view.

use std::collections::{BTreeMap, HashMap};

use crate::changelog::Head;
use crate::hashing::PersonMap;
use crate::model::{
    Attendance, Class, ClassId, Date, Hours, Obligation, ObligationKind, Outcome, PersonId, Record,
    RecordKey, RosterEntry,
};
use crate::orgs::OrgId;
use crate::rules::TrainingFact;

mod index;
#[cfg(test)]
mod index_tests;
mod org_table;
mod roster;
pub mod snapshot;

use index::{Att, ClassFacts, ClassIdx, Members, Trainings};
use roster::Roster;

/// A class slot: the class (if its record is held and not deleted) and its
/// organizer. Slots are never reused for another (origin, class id), so
/// attendance can point at a class before or after the class record arrives.
#[derive(Debug, Clone)]
struct ClassSlot {
    origin: OrgId,
    class_id: ClassId,
    class: Option<Class>,
    /// Attendance records pointing at this slot.
    attendees: u32,
    /// Who they are (so a class change marks only them).
    members: Members,
}

/// What applying a record may have changed for the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Touch {
    /// Nothing the rules read (an obligation).
    Nothing,
    /// The statuses of this person, on every roster they are on.
    Person(PersonId),
    /// The statuses of everyone who attended this class.
    Class(u32),
}

/// The current state of every record held.
#[derive(Debug, Default)]
pub struct View {
    heads: org_table::OrgTable<Head>,
    rosters: org_table::OrgTable<Roster>,
    classes: Vec<ClassSlot>,
    /// What the rules read of each slot's class, by slot: kept apart from
    /// the slots so a pass over everyone's trainings reads 20 bytes per class.
    class_facts: Vec<ClassFacts>,
    class_index: HashMap<OrgId, HashMap<ClassId, ClassIdx>>,
    attendance: PersonMap<Trainings>,
    attendance_count: usize,
    /// The rosters each person is on.
    person_rosters: HashMap<PersonId, Vec<OrgId>>,
    /// A person's name as organizers recorded it on attendance: one per
    /// person (millions of attendance rows repeat the same name)...
    person_names: HashMap<PersonId, Box<str>>,
    /// ...and the rare attendance whose recorded name differs from it.
    name_overrides: HashMap<(ClassIdx, PersonId), Box<str>>,
    obligations: HashMap<OrgId, BTreeMap<(ObligationKind, Date), Obligation>>,
}

/// Counts for `status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ViewCounts {
    pub origins: usize,
    pub changes: u64,
    pub roster_entries: usize,
    pub people: usize,
    pub classes: usize,
    pub attendance: usize,
}

impl View {
    /// The head held for `origin`.
    pub fn head(&self, origin: OrgId) -> Option<&Head> {
        self.heads.get(&origin)
    }

    /// Every origin held, with its head.
    pub fn heads(&self) -> impl Iterator<Item = (OrgId, &Head)> {
        self.heads.iter()
    }

    /// Records that `origin`'s log now ends at `head`.
    pub fn set_head(&mut self, origin: OrgId, head: Head) {
        self.heads.insert(origin, head);
    }

    fn class_idx(&self, origin: OrgId, class_id: &str) -> Option<ClassIdx> {
        self.class_index.get(&origin)?.get(class_id).copied()
    }

    fn class_slot(&mut self, origin: OrgId, class_id: &ClassId) -> ClassIdx {
        if let Some(idx) = self.class_idx(origin, class_id.as_str()) {
            return idx;
        }
        let idx = self.classes.len() as ClassIdx;
        self.classes.push(ClassSlot {
            origin,
            class_id: class_id.clone(),
            class: None,
            attendees: 0,
            members: Members::default(),
        });
        self.class_facts.push(ClassFacts::of(origin, None));
        self.class_index
            .entry(origin)
            .or_default()
            .insert(class_id.clone(), idx);
        idx
    }

    /// Applies one record of `origin`: the new version replaces the old one.
    /// Returns what the change may have touched for the rules.
    pub fn apply(&mut self, origin: OrgId, record: Record) -> Touch {
        match record {
            Record::Roster(r) => {
                let person = r.person;
                if self.rosters.or_default(origin).insert(r) {
                    self.person_rosters.entry(person).or_default().push(origin);
                }
                Touch::Person(person)
            }
            Record::Class(c) => {
                let idx = self.class_slot(origin, &c.class_id);
                let slot = &mut self.classes[idx as usize];
                self.class_facts[idx as usize] = ClassFacts::of(slot.origin, Some(&c));
                slot.class = Some(c);
                if slot.attendees > 0 {
                    Touch::Class(idx)
                } else {
                    Touch::Nothing
                }
            }
            Record::Attendance(a) => {
                let idx = self.class_slot(origin, &a.class_id);
                let person = a.person;
                let named = !a.name.is_empty();
                let list = self.attendance.entry(person).or_default();
                let att = Att {
                    class: idx,
                    hours: a.hours,
                    outcome: a.outcome,
                    named,
                };
                if list.upsert(att) {
                    self.attendance_count += 1;
                    let slot = &mut self.classes[idx as usize];
                    slot.attendees += 1;
                    slot.members.add(person);
                }
                self.name_overrides.remove(&(idx, person));
                if named {
                    match self.person_names.get(&person) {
                        None => {
                            self.person_names.insert(person, a.name.into_boxed_str());
                        }
                        Some(n) if **n == *a.name => {}
                        Some(_) => {
                            self.name_overrides
                                .insert((idx, person), a.name.into_boxed_str());
                        }
                    }
                }
                Touch::Person(person)
            }
            Record::Obligation(o) => {
                self.obligations
                    .entry(origin)
                    .or_default()
                    .insert((o.kind, o.date), o);
                Touch::Nothing
            }
            Record::Tombstone(key) => self.delete(origin, &key),
        }
    }

    fn delete(&mut self, origin: OrgId, key: &RecordKey) -> Touch {
        match key {
            RecordKey::Roster(p) => {
                if let Some(r) = self.rosters.get_mut(&origin)
                    && r.remove(p)
                    && let Some(orgs) = self.person_rosters.get_mut(p)
                {
                    orgs.retain(|o| *o != origin);
                    if orgs.is_empty() {
                        self.person_rosters.remove(p);
                    }
                }
                Touch::Person(*p)
            }
            RecordKey::Class(c) => {
                let Some(idx) = self.class_idx(origin, c.as_str()) else {
                    return Touch::Nothing;
                };
                let slot = &mut self.classes[idx as usize];
                slot.class = None;
                self.class_facts[idx as usize] = ClassFacts::of(slot.origin, None);
                if slot.attendees > 0 {
                    Touch::Class(idx)
                } else {
                    Touch::Nothing
                }
            }
            RecordKey::Attendance(c, p) => {
                let Some(idx) = self.class_idx(origin, c.as_str()) else {
                    return Touch::Nothing;
                };
                if let Some(list) = self.attendance.get_mut(p)
                    && list.remove(idx)
                {
                    if list.is_empty() {
                        self.attendance.remove(p);
                        self.person_names.remove(p);
                    }
                    self.attendance_count -= 1;
                    let slot = &mut self.classes[idx as usize];
                    slot.attendees -= 1;
                    let attendance = &self.attendance;
                    slot.members.removed(slot.attendees as usize, |q| {
                        attendance.get(&q).is_some_and(|l| l.find(idx).is_some())
                    });
                }
                self.name_overrides.remove(&(idx, *p));
                Touch::Person(*p)
            }
            RecordKey::Obligation(k, d) => {
                if let Some(o) = self.obligations.get_mut(&origin) {
                    o.remove(&(*k, *d));
                }
                Touch::Nothing
            }
        }
    }

    /// Everyone with an attendance record of class slot `class` (from its
    /// index: O(attendees)). A person whose attendance was deleted and
    /// applied again may come more than once; [`View::class_attendees`] does
    /// not repeat anyone.
    pub fn attendees_of(&self, class: u32) -> impl Iterator<Item = PersonId> + '_ {
        let members = self.classes.get(class as usize).map(|s| &s.members);
        members.into_iter().flat_map(move |m| {
            m.iter(move |p| {
                self.attendance
                    .get(&p)
                    .is_some_and(|l| l.find(class).is_some())
            })
        })
    }

    /// Everyone with an attendance record of `origin`'s class `class_id`,
    /// each once, in id order.
    pub fn class_attendees(&self, origin: OrgId, class_id: &ClassId) -> Vec<PersonId> {
        let mut out: Vec<PersonId> = match self.class_idx(origin, class_id.as_str()) {
            Some(idx) => self.attendees_of(idx).collect(),
            None => Vec::new(),
        };
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The rosters `person` is on.
    pub fn rosters_of(&self, person: PersonId) -> &[OrgId] {
        self.person_rosters.get(&person).map_or(&[], Vec::as_slice)
    }

    /// Every org that has a roster entry, active or not.
    pub fn roster_orgs(&self) -> impl Iterator<Item = OrgId> + '_ {
        self.rosters
            .iter()
            .filter(|(_, r)| !r.is_empty())
            .map(|(o, _)| o)
    }

    /// The entry of `person` on `org`'s roster.
    pub fn roster_entry(&self, org: OrgId, person: PersonId) -> Option<&RosterEntry> {
        self.rosters.get(&org)?.get(&person)
    }

    fn attendance_name(&self, att: &Att, person: PersonId) -> String {
        if !att.named {
            return String::new();
        }
        self.name_overrides
            .get(&(att.class, person))
            .or_else(|| self.person_names.get(&person))
            .map(|n| n.to_string())
            .unwrap_or_default()
    }

    /// The current version of a record of `origin`, if held.
    pub fn current(&self, origin: OrgId, key: &RecordKey) -> Option<Record> {
        match key {
            RecordKey::Roster(p) => self
                .rosters
                .get(&origin)?
                .get(p)
                .cloned()
                .map(Record::Roster),
            RecordKey::Class(c) => self.class(origin, c).cloned().map(Record::Class),
            RecordKey::Attendance(c, p) => {
                let idx = self.class_idx(origin, c.as_str())?;
                let att = self.attendance.get(p)?.find(idx)?;
                Some(Record::Attendance(Attendance {
                    class_id: c.clone(),
                    person: *p,
                    hours: att.hours,
                    outcome: att.outcome,
                    name: self.attendance_name(att, *p),
                }))
            }
            RecordKey::Obligation(k, d) => self
                .obligations
                .get(&origin)?
                .get(&(*k, *d))
                .cloned()
                .map(Record::Obligation),
        }
    }

    /// A class of `origin`.
    pub fn class(&self, origin: OrgId, class_id: &ClassId) -> Option<&Class> {
        let idx = self.class_idx(origin, class_id.as_str())?;
        self.classes[idx as usize].class.as_ref()
    }

    /// The roster of `origin` (empty if none).
    pub fn roster(&self, origin: OrgId) -> impl Iterator<Item = &RosterEntry> {
        self.rosters.get(&origin).into_iter().flat_map(Roster::iter)
    }

    /// Number of entries on `origin`'s roster, active or not.
    pub fn roster_len(&self, origin: OrgId) -> usize {
        self.rosters.get(&origin).map_or(0, Roster::len)
    }

    /// Every roster entry of `person`, on any roster held.
    pub fn roster_entries_of(&self, person: PersonId) -> Vec<(OrgId, &RosterEntry)> {
        let mut out: Vec<(OrgId, &RosterEntry)> = self
            .rosters_of(person)
            .iter()
            .filter_map(|o| self.roster_entry(*o, person).map(|e| (*o, e)))
            .collect();
        out.sort_by_key(|(o, _)| *o);
        out
    }

    /// Every training of `person` the node holds, as the rules see them.
    /// Attendance of a class whose record is not (or no longer) held is left
    /// out: without the class there is no date to place it.
    pub fn facts(&self, person: PersonId) -> Vec<TrainingFact> {
        let mut out = Vec::new();
        self.facts_into(person, &mut out);
        out
    }

    /// Like [`View::facts`], reusing a buffer (coverage calls it per person).
    pub fn facts_into(&self, person: PersonId, out: &mut Vec<TrainingFact>) {
        out.clear();
        if let Some(list) = self.attendance.get(&person) {
            self.push_facts(list, out);
        }
    }

    fn push_facts(&self, list: &Trainings, out: &mut Vec<TrainingFact>) {
        for a in list.iter() {
            let c = &self.class_facts[a.class as usize];
            debug_assert_eq!(
                *c,
                ClassFacts::of(
                    self.classes[a.class as usize].origin,
                    self.classes[a.class as usize].class.as_ref()
                )
            );
            if let Some(fact) = c.fact(a) {
                out.push(fact);
            }
        }
    }

    /// [`View::facts_into`] for several people at once: `people[i]`'s facts
    /// are `out[ends[i - 1]..ends[i]]` (from 0 for the first). The people's
    /// lookups are issued a batch at a time, so their loads from memory
    /// overlap instead of waiting one after another: a rollup's build reads
    /// the trainings of a million people, and would otherwise mostly wait.
    pub fn facts_of_many(
        &self,
        people: &[PersonId],
        out: &mut Vec<TrainingFact>,
        ends: &mut Vec<usize>,
    ) {
        const BATCH: usize = 16;
        out.clear();
        ends.clear();
        for batch in people.chunks(BATCH) {
            let mut lists: [Option<&Trainings>; BATCH] = [None; BATCH];
            for (list, p) in lists.iter_mut().zip(batch) {
                *list = self.attendance.get(p);
            }
            // Each list's first class, read before any is used: the loads
            // are independent, so the processor has them all in flight.
            let mut first = 0;
            for list in lists.iter().flatten() {
                first ^= list.first_class();
            }
            std::hint::black_box(first);
            for list in &lists[..batch.len()] {
                if let Some(list) = list {
                    self.push_facts(list, out);
                }
                ends.push(out.len());
            }
        }
    }

    /// Every attendance of `person` with its class, for person lookups.
    pub fn trainings_of(
        &self,
        person: PersonId,
    ) -> Vec<(OrgId, Option<&Class>, ClassId, Hours, Outcome)> {
        let Some(list) = self.attendance.get(&person) else {
            return Vec::new();
        };
        list.iter()
            .map(|a| {
                let slot = &self.classes[a.class as usize];
                (
                    slot.origin,
                    slot.class.as_ref(),
                    slot.class_id.clone(),
                    a.hours,
                    a.outcome,
                )
            })
            .collect()
    }

    /// Every attendance of `person` as the record its organizer wrote (with
    /// the recorded name), with the organizer and the class if held: what a
    /// parent returns to a child ([`crate::returns`]).
    pub fn attendance_records_of(
        &self,
        person: PersonId,
    ) -> Vec<(OrgId, Attendance, Option<&Class>)> {
        let Some(list) = self.attendance.get(&person) else {
            return Vec::new();
        };
        list.iter()
            .map(|a| {
                let slot = &self.classes[a.class as usize];
                let attendance = Attendance {
                    class_id: slot.class_id.clone(),
                    person,
                    hours: a.hours,
                    outcome: a.outcome,
                    name: self.attendance_name(a, person),
                };
                (slot.origin, attendance, slot.class.as_ref())
            })
            .collect()
    }

    /// Everyone on the roster of an org inside `root`'s subtree (active or
    /// not), each once, in id order.
    pub fn people_within(&self, orgs: &crate::orgs::OrgDirectory, root: OrgId) -> Vec<PersonId> {
        let mut people: Vec<PersonId> = self
            .rosters
            .iter()
            .filter(|(org, _)| orgs.is_within(*org, root))
            .flat_map(|(_, roster)| roster.iter().map(|e| e.person))
            .collect();
        people.sort_unstable();
        people.dedup();
        people
    }

    /// A name for `person`: from a roster entry, else from an attendance.
    pub fn name_of(&self, person: PersonId) -> Option<&str> {
        if let Some((_, e)) = self.roster_entries_of(person).into_iter().next() {
            return Some(&e.name);
        }
        self.person_names.get(&person).map(|n| &**n)
    }

    /// Obligation events of `origin`.
    pub fn obligations(&self, origin: OrgId) -> impl Iterator<Item = &Obligation> {
        self.obligations
            .get(&origin)
            .into_iter()
            .flat_map(|o| o.values())
    }

    /// Classes of `origin`, in no particular order.
    pub fn classes_of(&self, origin: OrgId) -> impl Iterator<Item = &Class> {
        self.classes
            .iter()
            .filter(move |s| s.origin == origin)
            .filter_map(|s| s.class.as_ref())
    }

    /// Gives back what the view's vectors hold beyond their contents: after
    /// a replay or a snapshot read, which grow them item by item, that slack
    /// is a quarter of the attendance's memory at the national node.
    pub fn shrink_to_fit(&mut self) {
        for list in self.attendance.values_mut() {
            list.shrink_to_fit();
        }
        for slot in &mut self.classes {
            slot.members.shrink_to_fit();
        }
        for roster in self.rosters.values_mut() {
            roster.shrink_to_fit();
        }
        self.classes.shrink_to_fit();
        self.class_facts.shrink_to_fit();
    }

    pub fn counts(&self) -> ViewCounts {
        ViewCounts {
            origins: self.heads.len(),
            changes: self.heads.values().map(|h| h.seq).sum(),
            roster_entries: self.rosters.values().map(Roster::len).sum(),
            people: self.attendance.len()
                + self
                    .person_rosters
                    .keys()
                    .filter(|p| !self.attendance.contains_key(p))
                    .count(),
            classes: self.classes.iter().filter(|s| s.class.is_some()).count(),
            attendance: self.attendance_count,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Mode, Rank};
    use crate::orgs::OrgDirectory;

    fn d(s: &str) -> Date {
        s.parse().unwrap()
    }

    #[test]
    fn versions_replace_and_tombstones_delete() {
        let dir = OrgDirectory::builtin();
        let county = dir.get("410102").unwrap();
        let prov = dir.get("410000").unwrap();
        let p: PersonId = "11010519491231002X".parse().unwrap();
        let cid: ClassId = "C1".parse().unwrap();
        let mut v = View::default();
        let entry = RosterEntry {
            person: p,
            name: "甲".into(),
            rank: Rank::General,
            since: d("2024-01-01"),
            until: None,
            employer: String::new(),
            position: String::new(),
            group: String::new(),
        };
        v.apply(county, Record::Roster(entry.clone()));
        // Attendance before its class: kept, but not a fact until the class arrives.
        let att = Attendance {
            class_id: cid.clone(),
            person: p,
            hours: Hours::from_whole(8),
            outcome: Outcome::Completed,
            name: "甲".into(),
        };
        v.apply(county, Record::Attendance(att.clone()));
        assert!(v.facts(p).is_empty());
        let class = Class {
            class_id: cid.clone(),
            title: "班".into(),
            category: String::new(),
            mode: Mode::Centralized,
            off_job: true,
            start: d("2024-03-01"),
            end: d("2024-03-02"),
            hours: Hours::from_whole(8),
            days: None,
        };
        v.apply(county, Record::Class(class.clone()));
        let facts = v.facts(p);
        assert_eq!(facts.len(), 1);
        assert_eq!(facts[0].days, 2);
        assert_eq!(facts[0].organizer, county);
        // Same class id at another origin is another class.
        assert!(v.current(prov, &RecordKey::Class(cid.clone())).is_none());
        assert_eq!(
            v.current(county, &RecordKey::Attendance(cid.clone(), p)),
            Some(Record::Attendance(att.clone()))
        );
        // A new version replaces.
        let mut att2 = att.clone();
        att2.outcome = Outcome::Failed;
        att2.name = String::new();
        v.apply(county, Record::Attendance(att2.clone()));
        assert_eq!(v.counts().attendance, 1);
        assert_eq!(
            v.current(county, &RecordKey::Attendance(cid.clone(), p)),
            Some(Record::Attendance(att2))
        );
        v.apply(
            county,
            Record::Tombstone(RecordKey::Attendance(cid.clone(), p)),
        );
        assert_eq!(v.counts().attendance, 0);
        assert!(v.facts(p).is_empty());
        v.apply(county, Record::Tombstone(RecordKey::Roster(p)));
        assert_eq!(v.roster_len(county), 0);
        assert_eq!(v.name_of(p), None);
    }
}
