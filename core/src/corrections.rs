//! Corrections of an origin's own records, as records: what a file that is
//! the whole truth for what it names removes, and what a deletion takes.
//!
//! Pure: the view says what the origin holds; the result is ordinary
//! records (tombstones among them) that the origin writes as changes, so a
//! correction flows up like any edit and every level's figures follow.

use std::collections::HashSet;

use crate::model::{ClassId, PersonId, Record, RecordKey, year_of};
use crate::orgs::OrgId;
use crate::view::View;

/// What a file stands for when it replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The origin's whole roster.
    Roster,
    /// The classes the file names: their attendance is what the file lists.
    Classes,
    /// The calendar years the file's obligation events fall in: the
    /// origin's events of those years are what the file lists.
    ObligationYears,
}

/// The tombstones that make `origin`'s records match `records` within
/// `scope`: roster entries the file leaves out, or attendance of the file's
/// classes the file leaves out. Sorted by key, so the result is
/// deterministic.
pub fn left_out(view: &View, origin: OrgId, scope: Scope, records: &[Record]) -> Vec<Record> {
    let named: HashSet<RecordKey> = records.iter().map(Record::key).collect();
    let mut out: Vec<RecordKey> = match scope {
        Scope::Roster => view
            .roster(origin)
            .map(|e| RecordKey::Roster(e.person))
            .filter(|k| !named.contains(k))
            .collect(),
        Scope::Classes => {
            let classes: Vec<&ClassId> = records
                .iter()
                .filter_map(|r| match r {
                    Record::Class(c) => Some(&c.class_id),
                    _ => None,
                })
                .collect();
            classes
                .into_iter()
                .flat_map(|c| {
                    view.class_attendees(origin, c)
                        .into_iter()
                        .map(move |p| RecordKey::Attendance(c.clone(), p))
                })
                .filter(|k| !named.contains(k))
                .collect()
        }
        Scope::ObligationYears => {
            let years: HashSet<i32> = records
                .iter()
                .filter_map(|r| match r {
                    Record::Obligation(o) => Some(year_of(o.date)),
                    _ => None,
                })
                .collect();
            view.obligations(origin)
                .filter(|o| years.contains(&year_of(o.date)))
                .map(|o| RecordKey::Obligation(o.kind, o.date))
                .filter(|k| !named.contains(k))
                .collect()
        }
    };
    out.sort();
    out.dedup();
    out.into_iter().map(Record::Tombstone).collect()
}

/// What deleting one record of `origin` writes, or None when it holds no
/// such record: a class takes its attendance with it.
pub fn delete(view: &View, origin: OrgId, key: &RecordKey) -> Option<Vec<Record>> {
    match key {
        RecordKey::Class(c) => {
            let attendees: Vec<PersonId> = view.class_attendees(origin, c);
            if view.class(origin, c).is_none() && attendees.is_empty() {
                return None;
            }
            let mut out: Vec<Record> = attendees
                .into_iter()
                .filter(|p| {
                    view.current(origin, &RecordKey::Attendance(c.clone(), *p))
                        .is_some()
                })
                .map(|p| Record::Tombstone(RecordKey::Attendance(c.clone(), p)))
                .collect();
            out.sort_by_key(Record::key);
            if view.class(origin, c).is_some() {
                out.push(Record::Tombstone(key.clone()));
            }
            Some(out)
        }
        key => view
            .current(origin, key)
            .map(|_| vec![Record::Tombstone(key.clone())]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Attendance, Class, Date, Hours, Mode, Outcome, Rank, RosterEntry};
    use crate::orgs::OrgDirectory;

    fn d(s: &str) -> Date {
        s.parse().unwrap()
    }

    /// 17 digits and their GB 11643 check character.
    fn person(n: u32) -> PersonId {
        let first17 = format!("41010219800101{n:03}");
        let mut digits = [0u8; 17];
        digits.copy_from_slice(first17.as_bytes());
        format!("{first17}{}", PersonId::check_char(&digits))
            .parse()
            .unwrap()
    }

    fn roster_entry(n: u32) -> RosterEntry {
        RosterEntry {
            person: person(n),
            name: format!("人{n}"),
            rank: Rank::General,
            since: d("2024-01-01"),
            until: None,
            employer: String::new(),
            position: String::new(),
            group: String::new(),
        }
    }

    fn class(id: &str) -> Class {
        Class {
            class_id: id.parse().unwrap(),
            title: "班".into(),
            category: String::new(),
            mode: Mode::Centralized,
            off_job: true,
            start: d("2024-03-01"),
            end: d("2024-03-02"),
            hours: Hours::from_whole(8),
            days: None,
        }
    }

    fn attendance(class: &Class, person: PersonId) -> Attendance {
        Attendance {
            class_id: class.class_id.clone(),
            person,
            hours: Hours::from_whole(8),
            outcome: Outcome::Completed,
            name: String::new(),
        }
    }

    #[test]
    fn a_replacing_file_removes_what_it_leaves_out_within_its_scope() {
        let orgs = OrgDirectory::builtin();
        let me = orgs.get("410102").unwrap();
        let mut view = View::default();
        let (a, b, c) = (roster_entry(1), roster_entry(2), roster_entry(3));
        for r in [&a, &b, &c] {
            view.apply(me, Record::Roster(r.clone()));
        }
        let (k1, k2) = (class("K1"), class("K2"));
        view.apply(me, Record::Class(k1.clone()));
        view.apply(me, Record::Class(k2.clone()));
        for (k, p) in [(&k1, &a), (&k1, &b), (&k2, &c)] {
            view.apply(me, Record::Attendance(attendance(k, p.person)));
        }
        // A roster without b.
        let file = vec![Record::Roster(a.clone()), Record::Roster(c.clone())];
        assert_eq!(
            left_out(&view, me, Scope::Roster, &file),
            vec![Record::Tombstone(RecordKey::Roster(b.person))]
        );
        // K1 with a only: b's attendance of K1 goes; K2 is not in the file.
        let file = vec![
            Record::Class(k1.clone()),
            Record::Attendance(attendance(&k1, a.person)),
        ];
        assert_eq!(
            left_out(&view, me, Scope::Classes, &file),
            vec![Record::Tombstone(RecordKey::Attendance(
                k1.class_id.clone(),
                b.person
            ))]
        );
        // Deleting K1 takes its attendance; a roster entry alone; nothing twice.
        let gone = delete(&view, me, &RecordKey::Class(k1.class_id.clone())).unwrap();
        assert_eq!(gone.len(), 3);
        assert_eq!(
            gone.last(),
            Some(&Record::Tombstone(RecordKey::Class(k1.class_id.clone())))
        );
        for r in gone {
            view.apply(me, r);
        }
        assert!(delete(&view, me, &RecordKey::Class(k1.class_id.clone())).is_none());
        assert!(view.class_attendees(me, &k1.class_id).is_empty());
        assert!(delete(&view, me, &RecordKey::Roster(b.person)).is_some());
        // Another origin's records are not ours to delete.
        let other = orgs.get("410100").unwrap();
        assert!(delete(&view, other, &RecordKey::Roster(a.person)).is_none());
    }

    #[test]
    fn a_replacing_obligations_file_is_the_truth_for_the_years_it_names() {
        use crate::model::{Obligation, ObligationKind};
        let orgs = OrgDirectory::builtin();
        let me = orgs.get("410102").unwrap();
        let other = orgs.get("410100").unwrap();
        let event = |kind, date: &str| {
            Record::Obligation(Obligation {
                kind,
                date: d(date),
                note: String::new(),
            })
        };
        let mut view = View::default();
        for r in [
            event(ObligationKind::Study, "2025-04-01"),
            event(ObligationKind::Study, "2026-04-01"),
            event(ObligationKind::AnnualPlan, "2026-01-05"),
        ] {
            view.apply(me, r);
        }
        view.apply(other, event(ObligationKind::Study, "2026-05-01"));
        // A 2026 file with the plan only: 2026's study goes, 2025's stays,
        // and the prefecture's event is not this origin's.
        let file = vec![event(ObligationKind::AnnualPlan, "2026-01-05")];
        assert_eq!(
            left_out(&view, me, Scope::ObligationYears, &file),
            vec![Record::Tombstone(RecordKey::Obligation(
                ObligationKind::Study,
                d("2026-04-01")
            ))]
        );
        // An empty file names no year and removes nothing.
        assert!(left_out(&view, me, Scope::ObligationYears, &[]).is_empty());
    }
}
