//! One org's roster in the view: its entries side by side in a vector (a pass
//! over a roster, which every rollup build makes over all of them, reads
//! memory in order), found by person through an index of positions. A hash
//! table of whole entries would keep spare slots of an entry's size (up to
//! half of the table); here a spare slot costs a position.

use std::collections::HashMap;

use crate::model::{PersonId, RosterEntry};

/// The entries of one org's roster, each person once.
#[derive(Debug, Default)]
pub(crate) struct Roster {
    entries: Vec<RosterEntry>,
    position: HashMap<PersonId, u32>,
}

impl Roster {
    /// Sets `person`'s entry; true when the person had none.
    pub fn insert(&mut self, entry: RosterEntry) -> bool {
        match self.position.get(&entry.person) {
            Some(&i) => {
                self.entries[i as usize] = entry;
                false
            }
            None => {
                self.position
                    .insert(entry.person, self.entries.len() as u32);
                self.entries.push(entry);
                true
            }
        }
    }

    /// Removes `person`'s entry (the last entry takes its place); true when
    /// there was one.
    pub fn remove(&mut self, person: &PersonId) -> bool {
        let Some(i) = self.position.remove(person) else {
            return false;
        };
        self.entries.swap_remove(i as usize);
        if let Some(moved) = self.entries.get(i as usize) {
            self.position.insert(moved.person, i);
        }
        true
    }

    pub fn get(&self, person: &PersonId) -> Option<&RosterEntry> {
        self.position
            .get(person)
            .map(|&i| &self.entries[i as usize])
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
        self.position.reserve(n);
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
        let people: Vec<RosterEntry> = (0..50).map(|i| entry(i * 7, "甲")).collect();
        let mut roster = Roster::default();
        for e in &people {
            assert!(roster.insert(e.clone()));
        }
        assert!(!roster.insert(RosterEntry {
            name: "乙".into(),
            ..people[3].clone()
        }));
        assert_eq!(roster.len(), 50);
        assert_eq!(roster.get(&people[3].person).unwrap().name, "乙");
        // Remove every other one, the last and the first among them.
        for e in people.iter().step_by(2).rev() {
            assert!(roster.remove(&e.person));
            assert!(!roster.remove(&e.person));
        }
        assert_eq!(roster.len(), 25);
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
