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
use crate::model::{
    Attendance, Class, ClassId, Date, Hours, Obligation, ObligationKind, Outcome, PersonId, Record,
    RecordKey, RosterEntry,
};
use crate::orgs::OrgId;
use crate::rules::TrainingFact;

/// Index of a class in [`View::classes`].
type ClassIdx = u32;

/// A class slot: the class (if its record is held and not deleted) and its
/// organizer. Slots are never reused for another (origin, class id), so
/// attendance can point at a class before or after the class record arrives.
#[derive(Debug, Clone)]
struct ClassSlot {
    origin: OrgId,
    class_id: ClassId,
    class: Option<Class>,
}

/// One attendance in the per-person index, kept small: there are millions.
#[derive(Debug, Clone, Copy)]
struct Att {
    class: ClassIdx,
    hours: Hours,
    outcome: Outcome,
}

/// The current state of every record held.
#[derive(Debug, Default)]
pub struct View {
    heads: HashMap<OrgId, Head>,
    rosters: HashMap<OrgId, HashMap<PersonId, RosterEntry>>,
    classes: Vec<ClassSlot>,
    class_index: HashMap<OrgId, HashMap<ClassId, ClassIdx>>,
    attendance: HashMap<PersonId, Vec<Att>>,
    attendance_count: usize,
    /// Names organizers recorded on attendance, only where not empty.
    attendance_names: HashMap<(ClassIdx, PersonId), String>,
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
        self.heads.iter().map(|(o, h)| (*o, h))
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
        });
        self.class_index
            .entry(origin)
            .or_default()
            .insert(class_id.clone(), idx);
        idx
    }

    /// Applies one record of `origin`: the new version replaces the old one.
    pub fn apply(&mut self, origin: OrgId, record: Record) {
        match record {
            Record::Roster(r) => {
                self.rosters.entry(origin).or_default().insert(r.person, r);
            }
            Record::Class(c) => {
                let idx = self.class_slot(origin, &c.class_id);
                self.classes[idx as usize].class = Some(c);
            }
            Record::Attendance(a) => {
                let idx = self.class_slot(origin, &a.class_id);
                let list = self.attendance.entry(a.person).or_default();
                let att = Att {
                    class: idx,
                    hours: a.hours,
                    outcome: a.outcome,
                };
                match list.iter_mut().find(|x| x.class == idx) {
                    Some(existing) => *existing = att,
                    None => {
                        list.push(att);
                        self.attendance_count += 1;
                    }
                }
                if a.name.is_empty() {
                    self.attendance_names.remove(&(idx, a.person));
                } else {
                    self.attendance_names.insert((idx, a.person), a.name);
                }
            }
            Record::Obligation(o) => {
                self.obligations
                    .entry(origin)
                    .or_default()
                    .insert((o.kind, o.date), o);
            }
            Record::Tombstone(key) => self.delete(origin, &key),
        }
    }

    fn delete(&mut self, origin: OrgId, key: &RecordKey) {
        match key {
            RecordKey::Roster(p) => {
                if let Some(r) = self.rosters.get_mut(&origin) {
                    r.remove(p);
                }
            }
            RecordKey::Class(c) => {
                if let Some(idx) = self.class_idx(origin, c.as_str()) {
                    self.classes[idx as usize].class = None;
                }
            }
            RecordKey::Attendance(c, p) => {
                let Some(idx) = self.class_idx(origin, c.as_str()) else {
                    return;
                };
                if let Some(list) = self.attendance.get_mut(p) {
                    let before = list.len();
                    list.retain(|a| a.class != idx);
                    self.attendance_count -= before - list.len();
                    if list.is_empty() {
                        self.attendance.remove(p);
                    }
                }
                self.attendance_names.remove(&(idx, *p));
            }
            RecordKey::Obligation(k, d) => {
                if let Some(o) = self.obligations.get_mut(&origin) {
                    o.remove(&(*k, *d));
                }
            }
        }
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
                let att = self.attendance.get(p)?.iter().find(|a| a.class == idx)?;
                Some(Record::Attendance(Attendance {
                    class_id: c.clone(),
                    person: *p,
                    hours: att.hours,
                    outcome: att.outcome,
                    name: self
                        .attendance_names
                        .get(&(idx, *p))
                        .cloned()
                        .unwrap_or_default(),
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
        self.rosters
            .get(&origin)
            .into_iter()
            .flat_map(|r| r.values())
    }

    /// Number of entries on `origin`'s roster, active or not.
    pub fn roster_len(&self, origin: OrgId) -> usize {
        self.rosters.get(&origin).map_or(0, HashMap::len)
    }

    /// Every roster entry of `person`, on any roster held.
    pub fn roster_entries_of(&self, person: PersonId) -> Vec<(OrgId, &RosterEntry)> {
        let mut out: Vec<(OrgId, &RosterEntry)> = self
            .rosters
            .iter()
            .filter_map(|(o, r)| r.get(&person).map(|e| (*o, e)))
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
        let Some(list) = self.attendance.get(&person) else {
            return;
        };
        for a in list {
            let slot = &self.classes[a.class as usize];
            if let Some(c) = &slot.class {
                out.push(TrainingFact {
                    organizer: slot.origin,
                    mode: c.mode,
                    off_job: c.off_job,
                    start: c.start,
                    end: c.end,
                    days: c.credited_days(),
                    hours: a.hours,
                    outcome: a.outcome,
                });
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

    /// A name for `person`: from a roster entry, else from an attendance.
    pub fn name_of(&self, person: PersonId) -> Option<&str> {
        if let Some((_, e)) = self.roster_entries_of(person).into_iter().next() {
            return Some(&e.name);
        }
        self.attendance.get(&person)?.iter().find_map(|a| {
            self.attendance_names
                .get(&(a.class, person))
                .map(String::as_str)
        })
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

    pub fn counts(&self) -> ViewCounts {
        ViewCounts {
            origins: self.heads.len(),
            changes: self.heads.values().map(|h| h.seq).sum(),
            roster_entries: self.rosters.values().map(HashMap::len).sum(),
            people: {
                let mut people: std::collections::HashSet<PersonId> =
                    self.attendance.keys().copied().collect();
                for r in self.rosters.values() {
                    people.extend(r.keys().copied());
                }
                people.len()
            },
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
