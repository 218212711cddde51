//! The snapshot read back answers every question the view it was taken from
//! answers, after random applies, deletions, renames and re-applies; every
//! truncation and many corruptions of its bytes are errors, never panics.

use proptest::prelude::*;

use super::*;
use crate::changelog::Head;
use crate::model::{Attendance, Date, Record, RecordKey};
use crate::view::Touch;

fn person(i: u32) -> PersonId {
    let first17 = format!("4101021980{:02}{:02}{:03}", 1 + i % 12, 1 + i % 28, i);
    let mut digits = [0u8; 17];
    digits.copy_from_slice(first17.as_bytes());
    format!("{first17}{}", PersonId::check_char(&digits))
        .parse()
        .expect("valid id")
}

fn day(n: u32) -> Date {
    Date::from_ymd_opt(2022, 1, 1).expect("date") + chrono::TimeDelta::days(i64::from(n))
}

fn class_id(i: u32) -> ClassId {
    format!("C{i}").parse().expect("class id")
}

/// One step of a random history, decoded from small numbers.
fn record(kind: u8, a: u32, b: u32, c: u32) -> Record {
    let p = person(a % 40);
    match kind % 8 {
        0 => Record::Roster(RosterEntry {
            person: p,
            name: format!("人{}", a % 40),
            rank: Rank::ALL[(b % 3) as usize],
            since: day(b % 900),
            until: c.is_multiple_of(3).then(|| day(b % 900 + 1 + c % 500)),
            employer: "局".into(),
            position: String::new(),
            group: format!("g{}", c % 4),
        }),
        1 => Record::Class(Class {
            class_id: class_id(b % 30),
            title: format!("班{c}"),
            category: String::new(),
            mode: Mode::ALL[(c % 2) as usize],
            off_job: c.is_multiple_of(2),
            start: day(c % 1000),
            end: day(c % 1000 + b % 5),
            hours: Hours::from_tenths(c % 500),
            days: b.is_multiple_of(4).then_some(b % 7),
        }),
        2..=4 => Record::Attendance(Attendance {
            class_id: class_id(b % 30),
            person: p,
            hours: Hours::from_tenths(c % 400),
            outcome: Outcome::ALL[(c % 4) as usize],
            name: match c % 3 {
                0 => String::new(),
                1 => format!("人{}", a % 40),
                _ => "别名".into(),
            },
        }),
        5 => Record::Tombstone(RecordKey::Attendance(class_id(b % 30), p)),
        6 => Record::Obligation(Obligation {
            kind: ObligationKind::ALL[(b % 4) as usize],
            date: day(c % 700),
            note: "记".into(),
        }),
        _ => Record::Tombstone(match b % 3 {
            0 => RecordKey::Roster(p),
            1 => RecordKey::Class(class_id(c % 30)),
            _ => RecordKey::Obligation(ObligationKind::ALL[(c % 4) as usize], day(c % 700)),
        }),
    }
}

/// Everything a caller can ask of a view, in a comparable form.
fn answers(v: &View, orgs: &[OrgId]) -> String {
    let mut out = format!("{:?}\n", v.counts());
    let mut heads: Vec<_> = v.heads().map(|(o, h)| (o, *h)).collect();
    heads.sort_by_key(|(o, _)| *o);
    out += &format!("{heads:?}\n");
    for i in 0..40 {
        let p = person(i);
        out += &format!(
            "{:?} {:?} {:?} {:?} {:?}\n",
            v.facts(p),
            v.trainings_of(p),
            v.attendance_records_of(p),
            v.roster_entries_of(p),
            v.name_of(p)
        );
        let mut rosters = v.rosters_of(p).to_vec();
        rosters.sort();
        out += &format!("{rosters:?}\n");
    }
    for &o in orgs {
        for c in 0..30 {
            out += &format!(
                "{:?} {:?}\n",
                v.class(o, &class_id(c)),
                v.class_attendees(o, &class_id(c))
            );
        }
        let mut ob: Vec<_> = v.obligations(o).cloned().collect();
        ob.sort_by_key(|o| (o.kind, o.date));
        out += &format!("{ob:?} {}\n", v.roster_len(o));
    }
    let mut attendees: Vec<Vec<PersonId>> = (0..v.classes.len() as u32)
        .map(|c| {
            let mut a: Vec<PersonId> = v.attendees_of(c).collect();
            a.sort();
            a.dedup();
            a
        })
        .collect();
    attendees.sort();
    out + &format!("{attendees:?}")
}

fn round_trip(v: &View, dir: &OrgDirectory) -> View {
    let mut w = crate::bytes::Writer::default();
    v.write_snapshot(&mut w);
    let mut r = Reader::new(&w.out);
    let back = View::read_snapshot(&mut r, dir).expect("reads back");
    assert_eq!(r.remaining(), 0);
    back
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_snapshot_answers_what_its_view_answers(
        steps in proptest::collection::vec((0u8..8, 0u32..1000, 0u32..1000, 0u32..1000, 0usize..3), 0..300),
    ) {
        let dir = OrgDirectory::builtin();
        let orgs = [dir.get("410102").unwrap(), dir.get("410100").unwrap(), dir.get("410000").unwrap()];
        let mut v = View::default();
        for (i, (kind, a, b, c, o)) in steps.iter().enumerate() {
            v.apply(orgs[*o], record(*kind, *a, *b, *c));
            v.set_head(orgs[*o], Head { seq: i as u64 + 1, hash: [*kind; 32], written_at_ms: i as i64, received_at_ms: -1 });
        }
        let mut back = round_trip(&v, &dir);
        prop_assert_eq!(answers(&v, &orgs), answers(&back, &orgs));
        // And both go on the same way.
        for (kind, a, b, c, o) in steps.iter().rev().take(50) {
            let r = record(kind.wrapping_add(3), *c, *a, *b);
            prop_assert_eq!(v.apply(orgs[*o], r.clone()) == Touch::Nothing, back.apply(orgs[*o], r) == Touch::Nothing);
        }
        prop_assert_eq!(answers(&v, &orgs), answers(&back, &orgs));
    }
}

#[test]
fn damaged_bytes_are_errors_not_panics() {
    let dir = OrgDirectory::builtin();
    let orgs = [dir.get("410102").unwrap(), dir.get("410100").unwrap()];
    let mut v = View::default();
    for i in 0..200u32 {
        v.apply(
            orgs[(i % 2) as usize],
            record((i % 7) as u8, i * 7, i * 13, i * 31),
        );
    }
    v.set_head(
        orgs[0],
        Head {
            seq: 200,
            hash: [1; 32],
            written_at_ms: 0,
            received_at_ms: 0,
        },
    );
    let mut w = crate::bytes::Writer::default();
    v.write_snapshot(&mut w);
    let bytes = w.out;
    for cut in 0..bytes.len() {
        let _ = View::read_snapshot(&mut Reader::new(&bytes[..cut]), &dir);
    }
    for i in 0..bytes.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut b = bytes.clone();
            b[i] ^= flip;
            let _ = View::read_snapshot(&mut Reader::new(&b), &dir);
        }
    }
    // An org index past the directory is refused.
    let mut w = crate::bytes::Writer::default();
    w.len(1);
    w.u32(dir.len() as u32);
    w.bytes(&[0; 64]);
    let err = View::read_snapshot(&mut Reader::new(&w.out), &dir).unwrap_err();
    assert!(err.0.contains("not in the directory"), "{err}");
}
