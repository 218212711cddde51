//! The view as bytes, and back: what a node keeps beside its log so that it
//! opens by reading its state instead of replaying every change.
//!
//! Only what cannot be derived is written: the heads, the rosters, the class
//! slots, each person's attendance in its order, the recorded names and the
//! obligations. The indexes (which class is which slot, each class's
//! attendees and count, the rosters each person is on) are rebuilt while
//! reading, so they agree with the data by construction. Dense org ids are
//! written as they are: the caller keeps the directory's
//! [`crate::orgs::OrgDirectory::digest`] with the bytes and reads them back
//! only under the same directory. Reading checks every id, index and count
//! against what exists, so corrupted bytes are an error, never a panic.

use std::collections::{BTreeMap, HashMap};

use super::index::ClassIdx;
use super::index::{Att, Trainings};
use super::{ClassFacts, ClassSlot, View};
use crate::bytes::{Malformed, Reader, Writer};
use crate::changelog::Head;
use crate::model::{
    Class, ClassId, Date, Hours, Mode, Obligation, ObligationKind, Outcome, PersonId, Rank,
    RosterEntry,
};
use crate::orgs::{OrgDirectory, OrgId};

/// The position of `v` in `all` (the enums' `ALL` lists), as one byte.
pub(crate) fn code_of<T: PartialEq + Copy>(all: &[T], v: T) -> u8 {
    all.iter().position(|x| *x == v).unwrap_or(0) as u8
}

fn org(r: &mut Reader<'_>, orgs: &OrgDirectory) -> Result<OrgId, Malformed> {
    let i = r.u32()?;
    orgs.id_at(i)
        .ok_or_else(|| Malformed(format!("org index {i} is not in the directory")))
}

pub(crate) fn person(r: &mut Reader<'_>) -> Result<PersonId, Malformed> {
    let v = r.u64()?;
    PersonId::from_u64(v).ok_or_else(|| Malformed("a person id does not read".into()))
}

fn text(r: &mut Reader<'_>) -> Result<String, Malformed> {
    r.str().map(str::to_owned)
}

/// How the two halves of a snapshot are read: one after the other
/// ([`Serial`]), or at once on two threads (the node's).
pub trait Join {
    fn join<A: Send, B: Send>(
        self,
        a: impl FnOnce() -> A + Send,
        b: impl FnOnce() -> B + Send,
    ) -> (A, B);
}

/// Reads the halves one after the other.
pub struct Serial;

impl Join for Serial {
    fn join<A: Send, B: Send>(
        self,
        a: impl FnOnce() -> A + Send,
        b: impl FnOnce() -> B + Send,
    ) -> (A, B) {
        (a(), b())
    }
}

/// The rosters and obligations, read apart from the rest.
#[derive(Default)]
struct People {
    rosters: super::org_table::OrgTable<super::Roster>,
    person_rosters: HashMap<PersonId, Vec<OrgId>>,
    obligations: HashMap<OrgId, BTreeMap<(ObligationKind, Date), Obligation>>,
}

/// The classes, attendance and names, read apart from the rest.
#[derive(Default)]
struct Taken {
    classes: Vec<ClassSlot>,
    class_index: HashMap<OrgId, HashMap<ClassId, ClassIdx>>,
    attendance: crate::hashing::PersonMap<Trainings>,
    attendance_count: usize,
    person_names: HashMap<PersonId, Box<str>>,
    name_overrides: HashMap<(ClassIdx, PersonId), Box<str>>,
}

/// A length-prefixed part, written in place (its length set once written):
/// a draining writer never holds the part whole.
fn section<'d>(w: &mut Writer<'d>, write: impl FnOnce(&mut Writer<'d>)) {
    let at = w.len_later();
    let start = w.position();
    write(w);
    w.set_len(at, (w.position() - start) as usize);
}

impl View {
    /// Appends the view's state to `w` (see the module's description): the
    /// heads, then two length-prefixed halves that read apart.
    pub fn write_snapshot(&self, w: &mut Writer) {
        w.len(self.heads.len());
        for (o, h) in self.heads.iter() {
            w.u32(o.index() as u32);
            w.u64(h.seq);
            w.bytes(&h.hash);
            w.i64(h.written_at_ms);
            w.i64(h.received_at_ms);
        }
        section(w, |w| {
            w.len(self.rosters.len());
            for (o, roster) in self.rosters.iter() {
                w.u32(o.index() as u32);
                w.len(roster.len());
                for e in roster.iter() {
                    w.u64(e.person.to_u64());
                    w.str(&e.name);
                    w.u8(code_of(&Rank::ALL, e.rank));
                    w.date(e.since);
                    w.opt_date(e.until);
                    w.str(&e.employer);
                    w.str(&e.position);
                    w.str(&e.group);
                }
            }
            w.len(self.obligations.len());
            for (o, events) in &self.obligations {
                w.u32(o.index() as u32);
                w.len(events.len());
                for ob in events.values() {
                    w.u8(code_of(&ObligationKind::ALL, ob.kind));
                    w.date(ob.date);
                    w.str(&ob.note);
                }
            }
        });
        section(w, |w| {
            w.len(self.classes.len());
            for slot in &self.classes {
                w.u32(slot.origin.index() as u32);
                w.str(slot.class_id.as_str());
                match &slot.class {
                    None => w.u8(0),
                    Some(c) => {
                        w.u8(1);
                        w.str(&c.title);
                        w.str(&c.category);
                        w.u8(code_of(&Mode::ALL, c.mode));
                        w.u8(u8::from(c.off_job));
                        w.date(c.start);
                        w.date(c.end);
                        w.u32(c.hours.tenths());
                        w.u64(c.days.map_or(0, |d| u64::from(d) + 1));
                    }
                }
            }
            w.len(self.attendance.len());
            for (p, list) in &self.attendance {
                w.u64(p.to_u64());
                let atts: Vec<&Att> = list.iter().collect();
                w.len(atts.len());
                for a in atts {
                    w.u32(a.class);
                    w.u32(a.hours.tenths());
                    w.u8(code_of(&Outcome::ALL, a.outcome) | (u8::from(a.named) << 4));
                }
            }
            w.len(self.person_names.len());
            for (p, n) in &self.person_names {
                w.u64(p.to_u64());
                w.str(n);
            }
            w.len(self.name_overrides.len());
            for ((c, p), n) in &self.name_overrides {
                w.u32(*c);
                w.u64(p.to_u64());
                w.str(n);
            }
        });
    }

    /// Reads a view written by [`View::write_snapshot`] under a directory
    /// with the same digest.
    pub fn read_snapshot(r: &mut Reader<'_>, orgs: &OrgDirectory) -> Result<View, Malformed> {
        View::read_snapshot_with(r, orgs, Serial)
    }

    /// [`View::read_snapshot`], its two halves read through `join`.
    pub fn read_snapshot_with(
        r: &mut Reader<'_>,
        orgs: &OrgDirectory,
        join: impl Join,
    ) -> Result<View, Malformed> {
        let mut v = View::default();
        let n = r.count(1 + 1 + 32 + 16)?;
        for _ in 0..n {
            let o = org(r, orgs)?;
            let head = Head {
                seq: r.u64()?,
                hash: r.array()?,
                written_at_ms: r.i64()?,
                received_at_ms: r.i64()?,
            };
            if head.seq == 0 || v.heads.insert(o, head).is_some() {
                return Err(Malformed("a head is empty or repeated".into()));
            }
        }
        let n = r.count(1)?;
        let people = r.take(n)?;
        let n = r.count(1)?;
        let taken = r.take(n)?;
        let (people, taken) = join.join(
            || read_people(&mut Reader::new(people), orgs),
            || read_taken(&mut Reader::new(taken), orgs),
        );
        let (people, taken) = (people?, taken?);
        v.rosters = people.rosters;
        v.person_rosters = people.person_rosters;
        v.obligations = people.obligations;
        v.class_facts = taken
            .classes
            .iter()
            .map(|s| ClassFacts::of(s.origin, s.class.as_ref()))
            .collect();
        v.classes = taken.classes;
        v.class_index = taken.class_index;
        v.attendance = taken.attendance;
        v.attendance_count = taken.attendance_count;
        v.person_names = taken.person_names;
        v.name_overrides = taken.name_overrides;
        Ok(v)
    }
}

fn read_people(r: &mut Reader<'_>, orgs: &OrgDirectory) -> Result<People, Malformed> {
    let mut v = People::default();
    let n = r.count(2)?;
    for _ in 0..n {
        let o = org(r, orgs)?;
        let k = r.count(9)?;
        let mut roster = super::Roster::default();
        roster.reserve(k);
        for _ in 0..k {
            let e = RosterEntry {
                person: person(r)?,
                name: text(r)?,
                rank: r.choice(&Rank::ALL, "rank")?,
                since: r.date()?,
                until: r.opt_date()?,
                employer: text(r)?,
                position: text(r)?,
                group: text(r)?,
            };
            let p = e.person;
            if !roster.insert(e) {
                return Err(Malformed("a roster entry is repeated".into()));
            }
            v.person_rosters.entry(p).or_default().push(o);
        }
        if v.rosters.insert(o, roster).is_some() {
            return Err(Malformed("a roster is repeated".into()));
        }
    }
    let n = r.count(2)?;
    for _ in 0..n {
        let o = org(r, orgs)?;
        let k = r.count(3)?;
        let mut events = BTreeMap::new();
        for _ in 0..k {
            let ob = Obligation {
                kind: r.choice(&ObligationKind::ALL, "obligation kind")?,
                date: r.date()?,
                note: text(r)?,
            };
            events.insert((ob.kind, ob.date), ob);
        }
        v.obligations.insert(o, events);
    }
    end(r)?;
    Ok(v)
}

fn read_taken(r: &mut Reader<'_>, orgs: &OrgDirectory) -> Result<Taken, Malformed> {
    let mut v = Taken::default();
    let n = r.count(3)?;
    v.classes.reserve(n);
    for idx in 0..n {
        let origin = org(r, orgs)?;
        let class_id: ClassId = r
            .str()?
            .parse()
            .map_err(|e| Malformed(format!("a class id: {e}")))?;
        let class = match r.u8()? {
            0 => None,
            1 => Some(Class {
                class_id: class_id.clone(),
                title: text(r)?,
                category: text(r)?,
                mode: r.choice(&Mode::ALL, "mode")?,
                off_job: r.bool()?,
                start: r.date()?,
                end: r.date()?,
                hours: Hours::from_tenths(r.u32()?),
                days: match r.u32()? {
                    0 => None,
                    d => Some(d - 1),
                },
            }),
            b => return Err(Malformed(format!("{b} is not a class flag"))),
        };
        let slots = v.class_index.entry(origin).or_default();
        if slots.insert(class_id.clone(), idx as u32).is_some() {
            return Err(Malformed("a class slot is repeated".into()));
        }
        v.classes.push(ClassSlot {
            origin,
            class_id,
            class,
            attendees: 0,
            members: Default::default(),
        });
    }
    let n = r.count(2)?;
    v.attendance.reserve(n);
    for _ in 0..n {
        let p = person(r)?;
        let k = r.count(3)?;
        if k == 0 {
            return Err(Malformed("a person has an empty attendance list".into()));
        }
        let mut list = Vec::with_capacity(k);
        for _ in 0..k {
            let class = r.u32()?;
            let hours = Hours::from_tenths(r.u32()?);
            let flags = r.u8()?;
            let outcome = *Outcome::ALL
                .get(usize::from(flags & 0x0f))
                .ok_or_else(|| Malformed(format!("{flags} is not an outcome")))?;
            let slot = v
                .classes
                .get_mut(class as usize)
                .ok_or_else(|| Malformed(format!("class slot {class} does not exist")))?;
            let att = Att {
                class,
                hours,
                outcome,
                named: flags & 0x10 != 0,
            };
            list.push(att);
            slot.attendees += 1;
            slot.members.add(p);
        }
        let list = Trainings::from_list(list)
            .ok_or_else(|| Malformed("an attendance is repeated".into()))?;
        v.attendance_count += k;
        if v.attendance.insert(p, list).is_some() {
            return Err(Malformed("a person's attendance is repeated".into()));
        }
    }
    // Each class's attendees grew one by one: give back the spare capacity
    // (the lists above were read at their size).
    for slot in &mut v.classes {
        slot.members.shrink_to_fit();
    }
    let n = r.count(2)?;
    v.person_names.reserve(n);
    for _ in 0..n {
        let p = person(r)?;
        v.person_names.insert(p, r.str()?.into());
    }
    let n = r.count(3)?;
    for _ in 0..n {
        let c = r.u32()?;
        if c as usize >= v.classes.len() {
            return Err(Malformed(format!("class slot {c} does not exist")));
        }
        let p = person(r)?;
        v.name_overrides.insert((c, p), r.str()?.into());
    }
    end(r)?;
    Ok(v)
}

fn end(r: &Reader<'_>) -> Result<(), Malformed> {
    if r.remaining() == 0 {
        Ok(())
    } else {
        Err(Malformed("bytes after a section's end".into()))
    }
}

#[cfg(test)]
mod tests;
