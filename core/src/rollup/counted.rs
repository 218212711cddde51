//! The roster entries a rollup counted, kept small: a national node's rollup
//! holds about a million of them, and a node keeps up to
//! [`super::PAST_DATES_MAX`] + 1 rollups.
//!
//! An entry's figures fit in one byte ([`Figures`]); entries are kept by
//! person (what a recount looks up), the first in a flat map of 16-byte
//! slots and any further one — a person active on several rosters, rare — in
//! a side map, so counting a person allocates nothing. The maps hash ids with
//! a seeded multiply ([`FoldHash`]) rather than SipHash.

use crate::figures::{OwnFigures, RuleCount};
use crate::hashing::{FoldHash, PersonMap};
use crate::model::{PersonId, Rank};
use crate::orgs::OrgId;
use crate::rules::{RotationCounts, RotationStatus};

/// What one active roster entry adds to its org's figures, in one byte:
/// the rotation status in bits 0–1 (its place in [`RotationStatus::ALL`]),
/// the rank in bits 2–3 (in [`Rank::ALL`]), the centralized rule in bits 4–5
/// and the online rule in bits 6–7 (0: does not apply, 1: not met, 2: met).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Figures(u8);

fn rule_code(met: Option<bool>) -> u8 {
    match met {
        None => 0,
        Some(false) => 1,
        Some(true) => 2,
    }
}

fn rule_of(code: u8) -> Option<bool> {
    match code {
        1 => Some(false),
        2 => Some(true),
        _ => None,
    }
}

fn bump_rule(rule: &mut RuleCount, met: bool, up: bool) {
    if up {
        rule.people += 1;
        rule.compliant += u64::from(met);
    } else {
        rule.people -= 1;
        rule.compliant -= u64::from(met);
    }
}

fn bump(field: &mut u64, up: bool) {
    if up {
        *field += 1;
    } else {
        *field -= 1;
    }
}

impl Figures {
    pub fn new(
        rotation: RotationStatus,
        rank: Rank,
        centralized: Option<bool>,
        online: Option<bool>,
    ) -> Figures {
        let rotation = match rotation {
            RotationStatus::Current => 0,
            RotationStatus::Due => 1,
            RotationStatus::New => 2,
            RotationStatus::Overdue => 3,
        };
        let rank = match rank {
            Rank::Leading => 0,
            Rank::General => 1,
            Rank::Grassroots => 2,
        };
        Figures(rotation | rank << 2 | rule_code(centralized) << 4 | rule_code(online) << 6)
    }

    /// The byte of [`Figures::byte`], if it is one.
    pub fn from_byte(b: u8) -> Option<Figures> {
        let valid = usize::from(b >> 2 & 3) < Rank::ALL.len() && b >> 4 & 3 != 3 && b >> 6 != 3;
        valid.then_some(Figures(b))
    }

    pub fn byte(self) -> u8 {
        self.0
    }

    pub fn rotation(self) -> RotationStatus {
        RotationStatus::ALL[usize::from(self.0 & 3)]
    }

    pub fn rank(self) -> Rank {
        Rank::ALL[usize::from(self.0 >> 2 & 3)]
    }

    /// Centralized rule met (None: it does not apply).
    pub fn centralized(self) -> Option<bool> {
        rule_of(self.0 >> 4 & 3)
    }

    /// Online rule met (None: it does not apply).
    pub fn online(self) -> Option<bool> {
        rule_of(self.0 >> 6)
    }

    /// Adds (`up`) or removes this entry's contribution.
    pub fn apply(self, f: &mut OwnFigures, up: bool) {
        let c: &mut RotationCounts = &mut f.rotation;
        bump(
            match self.rotation() {
                RotationStatus::Current => &mut c.current,
                RotationStatus::Due => &mut c.due,
                RotationStatus::New => &mut c.new,
                RotationStatus::Overdue => &mut c.overdue,
            },
            up,
        );
        match (self.rank(), self.centralized()) {
            (Rank::Leading, Some(met)) => bump_rule(&mut f.hours.leading, met, up),
            (Rank::General, Some(met)) => bump_rule(&mut f.hours.general, met, up),
            _ => {}
        }
        if let Some(met) = self.online() {
            bump_rule(&mut f.hours.online, met, up);
        }
    }
}

/// Counted entries by person.
#[derive(Debug, Clone, Default)]
pub(crate) struct Counted {
    /// Each person's first entry counted...
    first: PersonMap<(OrgId, Figures)>,
    /// ...and their others, for the few active on several rosters.
    more: PersonMap<Vec<(OrgId, Figures)>>,
}

impl Counted {
    pub fn with_capacity(people: usize) -> Counted {
        Counted {
            first: PersonMap::with_capacity_and_hasher(people, FoldHash::default()),
            more: PersonMap::default(),
        }
    }

    /// Counts `person`'s entry on `org`'s roster; false (and nothing
    /// changed) if one is counted already.
    pub fn insert(&mut self, person: PersonId, org: OrgId, figures: Figures) -> bool {
        use std::collections::hash_map::Entry;
        match self.first.entry(person) {
            Entry::Vacant(v) => {
                v.insert((org, figures));
                true
            }
            Entry::Occupied(o) => {
                let repeated = o.get().0 == org
                    || self
                        .more
                        .get(&person)
                        .is_some_and(|l| l.iter().any(|(g, _)| *g == org));
                if !repeated {
                    self.more.entry(person).or_default().push((org, figures));
                }
                !repeated
            }
        }
    }

    /// Takes `person`'s entries out, calling `f` with each.
    pub fn remove(&mut self, person: PersonId, mut f: impl FnMut(OrgId, Figures)) {
        let Some((org, figures)) = self.first.remove(&person) else {
            return;
        };
        f(org, figures);
        if self.more.is_empty() {
            return;
        }
        for (org, figures) in self.more.remove(&person).unwrap_or_default() {
            f(org, figures);
        }
    }

    /// Entries counted.
    pub fn len(&self) -> usize {
        self.first.len() + self.more.values().map(Vec::len).sum::<usize>()
    }

    pub fn is_empty(&self) -> bool {
        self.first.is_empty()
    }

    /// Every entry, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (PersonId, OrgId, Figures)> + '_ {
        let first = self.first.iter().map(|(p, (o, f))| (*p, *o, *f));
        let more = self
            .more
            .iter()
            .flat_map(|(p, l)| l.iter().map(move |(o, f)| (*p, *o, *f)));
        first.chain(more)
    }

    /// Adds `other`'s entries (of other people).
    pub fn extend(&mut self, other: Counted) {
        if self.is_empty() {
            *self = other;
            return;
        }
        for (p, o, f) in other.iter() {
            self.insert(p, o, f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_figures_byte_round_trips() {
        let rules = [None, Some(false), Some(true)];
        let mut seen = std::collections::HashSet::new();
        for rotation in RotationStatus::ALL {
            for rank in Rank::ALL {
                for centralized in rules {
                    for online in rules {
                        let f = Figures::new(rotation, rank, centralized, online);
                        assert_eq!(f.rotation(), rotation);
                        assert_eq!(f.rank(), rank);
                        assert_eq!(f.centralized(), centralized);
                        assert_eq!(f.online(), online);
                        assert_eq!(Figures::from_byte(f.byte()), Some(f));
                        assert!(seen.insert(f.byte()));
                    }
                }
            }
        }
        let valid = (0..=255u8).filter(|b| Figures::from_byte(*b).is_some());
        assert_eq!(valid.count(), seen.len());
    }

    #[test]
    fn a_person_on_several_rosters_keeps_each_entry_once() {
        let p = crate::rollup::tests::person(1);
        let f = Figures::new(RotationStatus::Due, Rank::General, Some(true), None);
        let (a, b, c) = (
            OrgId::from_index(1),
            OrgId::from_index(2),
            OrgId::from_index(3),
        );
        let mut counted = Counted::default();
        assert!(counted.insert(p, a, f));
        assert!(counted.insert(p, b, f));
        assert!(counted.insert(p, c, f));
        assert!(!counted.insert(p, b, f));
        assert!(!counted.insert(p, a, f));
        assert_eq!(counted.len(), 3);
        let mut out = Vec::new();
        counted.remove(p, |o, _| out.push(o));
        out.sort();
        assert_eq!(out, vec![a, b, c]);
        assert!(counted.is_empty());
        assert_eq!(counted.len(), 0);
    }
}
