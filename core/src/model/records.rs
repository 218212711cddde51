//! The records a node's log holds: roster entries, classes, attendance,
//! obligation events, and the record key each one is versioned under.

use chrono::Datelike;

use super::choices::{Mode, ObligationKind, Outcome, Rank};
use super::person::PersonId;
use super::quantities::{ClassId, Hours};
use super::values::*;

/// A person on the roster of the responsible node (the record's origin): an
/// assignment, person × node. The person's details are as that node keeps
/// them; the rank band here decides which hour rule applies on this roster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterEntry {
    pub person: PersonId,
    pub name: String,
    pub rank: Rank,
    /// The day the person was put on this roster.
    pub since: Date,
    /// The day the person left it (exclusive: inactive from this day on).
    pub until: Option<Date>,
    pub employer: String,
    pub position: String,
    /// 培训对象类别, free text (e.g. 地市级信访部门正职).
    pub group: String,
}

impl RosterEntry {
    /// Active on `as_of`: `since <= as_of` and no `until` or `until > as_of`.
    pub fn active_on(&self, as_of: Date) -> bool {
        self.since <= as_of && self.until.is_none_or(|u| u > as_of)
    }

    pub fn validate(&self) -> Result<(), Invalid> {
        if self.name.trim().is_empty() {
            return Err(invalid("name is empty"));
        }
        check_text("name", &self.name, NAME_CHARS_MAX)?;
        check_text("employer", &self.employer, TEXT_CHARS_MAX)?;
        check_text("position", &self.position, TEXT_CHARS_MAX)?;
        check_text("group", &self.group, TEXT_CHARS_MAX)?;
        check_date("since", self.since)?;
        if let Some(until) = self.until {
            check_date("until", until)?;
            if until <= self.since {
                return Err(invalid(format!(
                    "until {until} is not after since {}",
                    self.since
                )));
            }
        }
        Ok(())
    }
}

/// A class (培训班) organized by the record's origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Class {
    pub class_id: ClassId,
    pub title: String,
    pub category: String,
    pub mode: Mode,
    /// 脱产: the trainee leaves their post for the class.
    pub off_job: bool,
    pub start: Date,
    pub end: Date,
    /// The class's nominal hours: the most credited to any attendee.
    pub hours: Hours,
    /// Days as stated by the organizer; `None` means `end - start + 1`.
    pub days: Option<u32>,
}

impl Class {
    /// The days this class credits: its stated days, else `end - start + 1`.
    pub fn credited_days(&self) -> u32 {
        self.days
            .unwrap_or_else(|| ((self.end - self.start).num_days() + 1).max(0) as u32)
    }

    pub fn validate(&self) -> Result<(), Invalid> {
        if self.title.trim().is_empty() {
            return Err(invalid("title is empty"));
        }
        check_text("title", &self.title, TEXT_CHARS_MAX)?;
        check_text("category", &self.category, TEXT_CHARS_MAX)?;
        check_date("start", self.start)?;
        check_date("end", self.end)?;
        if self.end < self.start {
            return Err(invalid(format!(
                "end {} is before start {}",
                self.end, self.start
            )));
        }
        let span = (self.end - self.start).num_days() + 1;
        if span > i64::from(CLASS_DAYS_MAX) {
            return Err(invalid(format!(
                "class lasts {span} days, more than {CLASS_DAYS_MAX}"
            )));
        }
        if let Some(days) = self.days {
            if days == 0 || days > CLASS_DAYS_MAX {
                return Err(invalid(format!(
                    "days {days} is not within 1..={CLASS_DAYS_MAX}"
                )));
            }
            if i64::from(days) > span {
                return Err(invalid(format!(
                    "days {days} is more than the {span} days from start to end"
                )));
            }
        }
        if self.hours.tenths() > CLASS_HOURS_MAX_TENTHS {
            return Err(invalid(format!("hours {} is too large", self.hours)));
        }
        Ok(())
    }
}

/// One person's attendance of one class of the record's origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attendance {
    pub class_id: ClassId,
    pub person: PersonId,
    /// Hours credited to this person.
    pub hours: Hours,
    pub outcome: Outcome,
    /// The name as the organizer recorded it (people need not be on its roster).
    pub name: String,
}

impl Attendance {
    pub fn validate(&self) -> Result<(), Invalid> {
        check_text("name", &self.name, NAME_CHARS_MAX)?;
        if self.hours.tenths() > CLASS_HOURS_MAX_TENTHS {
            return Err(invalid(format!("hours {} is too large", self.hours)));
        }
        Ok(())
    }
}

/// A bureau-level obligation event of the record's origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Obligation {
    pub kind: ObligationKind,
    pub date: Date,
    pub note: String,
}

impl Obligation {
    pub fn validate(&self) -> Result<(), Invalid> {
        check_date("date", self.date)?;
        check_text("note", &self.note, TEXT_CHARS_MAX)
    }
}

/// The identity of a record within its origin. Two records of one origin with
/// the same key are versions of one another; the later change wins.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordKey {
    Roster(PersonId),
    Class(ClassId),
    Attendance(ClassId, PersonId),
    Obligation(ObligationKind, Date),
}

/// What one change of an origin's log carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Roster(RosterEntry),
    Class(Class),
    Attendance(Attendance),
    Obligation(Obligation),
    /// Deletes the record with this key.
    Tombstone(RecordKey),
}

impl Record {
    pub fn key(&self) -> RecordKey {
        match self {
            Record::Roster(r) => RecordKey::Roster(r.person),
            Record::Class(c) => RecordKey::Class(c.class_id.clone()),
            Record::Attendance(a) => RecordKey::Attendance(a.class_id.clone(), a.person),
            Record::Obligation(o) => RecordKey::Obligation(o.kind, o.date),
            Record::Tombstone(k) => k.clone(),
        }
    }

    /// Checks every field against the bounds import enforces.
    pub fn validate(&self) -> Result<(), Invalid> {
        match self {
            Record::Roster(r) => r.validate(),
            Record::Class(c) => c.validate(),
            Record::Attendance(a) => a.validate(),
            Record::Obligation(o) => o.validate(),
            Record::Tombstone(RecordKey::Obligation(_, date)) => check_date("date", *date),
            Record::Tombstone(_) => Ok(()),
        }
    }
}

/// Calendar year of a date, as the hour windows use it.
pub fn year_of(date: Date) -> i32 {
    date.year()
}
