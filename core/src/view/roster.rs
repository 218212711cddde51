//! One org's roster in the view: its entries side by side in a vector (a pass
//! over a roster, which every rollup build makes over all of them, reads
//! memory in order), found by person through an index of positions. A hash
//! table of whole entries would keep spare slots of an entry's size (up to
//! half of the table); here a spare slot costs a position.

use crate::hashing::PersonMap;
use crate::model::{PersonId, RosterEntry};

/// Up to this many entries, a roster finds a person by reading its entries
/// (most orgs of a directory of 100,000 hold a handful, each costing a
/// table otherwise); past it, through the index of positions.
const SCANNED_MAX: usize = 8;

/// The entries of one org's roster, each person once.
#[derive(Debug, Default)]
pub(crate) struct Roster {
    entries: Vec<RosterEntry>,
    /// Every entry's position once the roster has grown past
    /// [`SCANNED_MAX`]; empty before.
    position: PersonMap<u32>,
}

impl Roster {
    /// Where `person`'s entry is.
    fn find(&self, person: &PersonId) -> Option<usize> {
        if self.position.is_empty() {
            self.entries.iter().position(|e| e.person == *person)
        } else {
            self.position.get(person).map(|&i| i as usize)
        }
    }

    /// Sets `person`'s entry; true when the person had none.
    pub fn insert(&mut self, entry: RosterEntry) -> bool {
        if let Some(i) = self.find(&entry.person) {
            self.entries[i] = entry;
            return false;
        }
        let at = self.entries.len() as u32;
        if !self.position.is_empty() {
            self.position.insert(entry.person, at);
        } else if self.entries.len() == SCANNED_MAX {
            self.position.reserve(SCANNED_MAX + 1);
            for (i, e) in self.entries.iter().enumerate() {
                self.position.insert(e.person, i as u32);
            }
            self.position.insert(entry.person, at);
        }
        self.entries.push(entry);
        true
    }

    /// Removes `person`'s entry (the last entry takes its place); true when
    /// there was one.
    pub fn remove(&mut self, person: &PersonId) -> bool {
        let Some(i) = self.find(person) else {
            return false;
        };
        self.entries.swap_remove(i);
        if !self.position.is_empty() {
            self.position.remove(person);
            if let Some(moved) = self.entries.get(i) {
                self.position.insert(moved.person, i as u32);
            }
        }
        true
    }

    pub fn get(&self, person: &PersonId) -> Option<&RosterEntry> {
        self.find(person).map(|i| &self.entries[i])
    }

    /// Every entry, in no particular order.
    pub fn iter(&self) -> std::slice::Iter<'_, RosterEntry> {
        self.entries.iter()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Room for `n` more entries.
    pub fn reserve(&mut self, n: usize) {
        self.entries.reserve_exact(n);
        if self.entries.len() + n > SCANNED_MAX {
            self.position.reserve(n);
        }
    }

    /// Gives back the vector's spare capacity.
    pub fn shrink_to_fit(&mut self) {
        self.entries.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Rank;

    fn entry(i: u32, name: &str) -> RosterEntry {
        let first17 = format!("4101021980{:02}{:02}{:03}", 1 + i % 12, 1 + i % 28, i);
        let mut digits = [0u8; 17];
        digits.copy_from_slice(first17.as_bytes());
        RosterEntry {
            person: format!("{first17}{}", PersonId::check_char(&digits))
                .parse()
                .expect("valid id"),
            name: name.into(),
            rank: Rank::ALL[0],
            since: "2020-01-01".parse().unwrap(),
            until: None,
            employer: String::new(),
            position: String::new(),
            group: String::new(),
        }
    }

    #[test]
    fn entries_replace_and_remove_by_person() {
        // Read through (under SCANNED_MAX), then indexed.
        for n in [3, SCANNED_MAX as u32, SCANNED_MAX as u32 + 1, 50] {
            replace_and_remove(n);
        }
    }

    fn replace_and_remove(n: u32) {
        let people: Vec<RosterEntry> = (0..n).map(|i| entry(i * 7, "甲")).collect();
        let mut roster = Roster::default();
        for e in &people {
            assert!(roster.insert(e.clone()));
        }
        assert!(!roster.insert(RosterEntry {
            name: "乙".into(),
            ..people[1].clone()
        }));
        assert_eq!(roster.len(), n as usize);
        assert_eq!(roster.get(&people[1].person).unwrap().name, "乙");
        // Remove every other one, the last and the first among them.
        for e in people.iter().step_by(2).rev() {
            assert!(roster.remove(&e.person));
            assert!(!roster.remove(&e.person));
        }
        assert_eq!(roster.len(), n as usize / 2);
        for (i, e) in people.iter().enumerate() {
            assert_eq!(roster.get(&e.person).is_some(), i % 2 == 1, "{i}");
        }
        let mut left: Vec<PersonId> = roster.iter().map(|e| e.person).collect();
        left.sort_unstable();
        let mut want: Vec<PersonId> = people.iter().skip(1).step_by(2).map(|e| e.person).collect();
        want.sort_unstable();
        assert_eq!(left, want);
    }
}
