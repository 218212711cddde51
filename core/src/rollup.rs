//! Coverage rollups, maintained incrementally.
//!
//! A [`Rollup`] holds, for one `as_of` date, the figures of every active
//! roster entry the node holds, each org's own figures (its roster), and the
//! sums over every org's subtree. Built once from the view; after that, every
//! append only marks the person it touched as dirty ([`Rollup::touch`]), or
//! the class (its attendees are looked up once, at the next query, in the
//! view's class index: ten thousand edits of one class cost one pass over
//! its attendees), and the next query recomputes just those people — their entries on every
//! roster they are on — and moves the difference up each roster org's
//! ancestry (at most four levels). A query at the national node never rescans
//! the country.
//!
//! The result always equals [`Rollup::build`] from scratch on the same view:
//! a property test checks it over random hierarchies and change orders.

use std::collections::{HashMap, HashSet};

use crate::figures::{OwnFigures, RuleCount, entry_status};
use crate::model::{Date, PersonId, Rank};
use crate::orgs::{OrgDirectory, OrgId};
use crate::policy::Policy;
use crate::rules::{RotationCounts, RotationStatus, TrainingFact};
use crate::view::{Touch, View};

/// What one active roster entry adds to its org's figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct EntryFigures {
    rotation: RotationStatus,
    rank: Rank,
    /// Centralized rule met (None: it does not apply).
    centralized: Option<bool>,
    /// Online rule met (None: it does not apply).
    online: Option<bool>,
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

fn bump_rotation(c: &mut RotationCounts, s: RotationStatus, up: bool) {
    let field = match s {
        RotationStatus::Current => &mut c.current,
        RotationStatus::Due => &mut c.due,
        RotationStatus::New => &mut c.new,
        RotationStatus::Overdue => &mut c.overdue,
    };
    if up {
        *field += 1;
    } else {
        *field -= 1;
    }
}

impl EntryFigures {
    /// Adds (`up`) or removes this entry's contribution.
    fn apply(&self, f: &mut OwnFigures, up: bool) {
        bump_rotation(&mut f.rotation, self.rotation, up);
        match (self.rank, self.centralized) {
            (Rank::Leading, Some(met)) => bump_rule(&mut f.hours.leading, met, up),
            (Rank::General, Some(met)) => bump_rule(&mut f.hours.general, met, up),
            _ => {}
        }
        if let Some(met) = self.online {
            bump_rule(&mut f.hours.online, met, up);
        }
    }
}

/// Which of `parts` parts `person` is counted in by [`Rollup::build_part`].
fn part_of(person: PersonId, parts: u64) -> u64 {
    // Ids are dense in their birth dates and serials: mix before reducing.
    (person.to_u64().wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) % parts
}

/// Rollups for one `as_of`.
#[derive(Debug, Clone)]
pub struct Rollup {
    as_of: Date,
    /// Active entries counted, by roster org and person.
    entries: HashMap<OrgId, HashMap<PersonId, EntryFigures>>,
    /// The orgs each counted person has an entry on (to take them back out).
    counted: HashMap<PersonId, Vec<OrgId>>,
    /// Each org's own figures and its subtree's, by the org's dense index
    /// (grown as orgs are counted).
    own: Vec<OwnFigures>,
    subtree: Vec<OwnFigures>,
    /// People whose figures may have changed since they were counted.
    dirty: HashSet<PersonId>,
    /// Class slots changed since: their attendees' figures may have.
    dirty_classes: HashSet<u32>,
}

impl Rollup {
    /// Every active roster entry of the view, counted from scratch.
    pub fn build(view: &View, orgs: &OrgDirectory, policy: &Policy, as_of: Date) -> Rollup {
        Rollup::build_part(view, orgs, policy, as_of, 0, 1)
    }

    /// The share of [`Rollup::build`] for the people of part `part` of
    /// `parts` (by a hash of their id): the parts of one view and date, built
    /// on as many threads and [merged](Rollup::merge), count what `build`
    /// counts.
    pub fn build_part(
        view: &View,
        orgs: &OrgDirectory,
        policy: &Policy,
        as_of: Date,
        part: usize,
        parts: usize,
    ) -> Rollup {
        let parts = parts.max(1) as u64;
        let mut rollup = Rollup::empty(as_of);
        let mut facts = Vec::new();
        let mut people: Vec<PersonId> = Vec::new();
        for org in view.roster_orgs() {
            people.extend(
                view.roster(org)
                    .map(|e| e.person)
                    .filter(|p| part_of(*p, parts) == part as u64),
            );
        }
        people.sort_unstable();
        people.dedup();
        rollup.counted.reserve(people.len());
        for person in people {
            rollup.count(view, orgs, policy, person, &mut facts);
        }
        rollup
    }

    /// One rollup from the parts [`Rollup::build_part`] built for one date.
    pub fn merge(mut parts: Vec<Rollup>) -> Option<Rollup> {
        parts.sort_by_key(|r| std::cmp::Reverse(r.counted.len()));
        let mut parts = parts.into_iter();
        let mut all = parts.next()?;
        for part in parts {
            debug_assert_eq!(part.as_of, all.as_of);
            all.counted.extend(part.counted);
            for (org, entries) in part.entries {
                all.entries.entry(org).or_default().extend(entries);
            }
            if all.own.len() < part.own.len() {
                all.own.resize(part.own.len(), OwnFigures::default());
                all.subtree
                    .resize(part.subtree.len(), OwnFigures::default());
            }
            for (i, (own, subtree)) in part.own.iter().zip(&part.subtree).enumerate() {
                all.own[i].merge(own);
                all.subtree[i].merge(subtree);
            }
            all.dirty.extend(part.dirty);
            all.dirty_classes.extend(part.dirty_classes);
        }
        Some(all)
    }

    fn empty(as_of: Date) -> Rollup {
        Rollup {
            as_of,
            entries: HashMap::new(),
            counted: HashMap::new(),
            own: Vec::new(),
            subtree: Vec::new(),
            dirty: HashSet::new(),
            dirty_classes: HashSet::new(),
        }
    }

    pub fn as_of(&self) -> Date {
        self.as_of
    }

    /// Marks what an applied record touched; counted at the next refresh.
    /// O(1): the view is not read here (a class's attendees are looked up at
    /// the refresh), it is taken so callers mark with the view they applied to.
    pub fn touch(&mut self, _view: &View, touch: Touch) {
        match touch {
            Touch::Nothing => {}
            Touch::Person(p) => {
                self.dirty.insert(p);
            }
            // Whoever attends the class when the next query comes: anyone
            // who left or joined it since was touched by that change itself.
            Touch::Class(idx) => {
                self.dirty_classes.insert(idx);
            }
        }
    }

    /// People and classes waiting to be recounted.
    pub fn dirty(&self) -> usize {
        self.dirty.len() + self.dirty_classes.len()
    }

    /// Recounts the dirty people, and everyone attending a dirty class.
    pub fn refresh(&mut self, view: &View, orgs: &OrgDirectory, policy: &Policy) {
        for class in std::mem::take(&mut self.dirty_classes) {
            self.dirty.extend(view.attendees_of(class));
        }
        if self.dirty.is_empty() {
            return;
        }
        let mut facts = Vec::new();
        for person in std::mem::take(&mut self.dirty) {
            self.uncount(orgs, person);
            self.count(view, orgs, policy, person, &mut facts);
        }
    }

    fn shift(&mut self, orgs: &OrgDirectory, org: OrgId, figures: &EntryFigures, up: bool) {
        if self.own.len() < orgs.len() {
            self.own.resize(orgs.len(), OwnFigures::default());
            self.subtree.resize(orgs.len(), OwnFigures::default());
        }
        figures.apply(&mut self.own[org.index()], up);
        let mut cur = Some(org);
        while let Some(o) = cur {
            figures.apply(&mut self.subtree[o.index()], up);
            cur = orgs.parent(o);
        }
    }

    fn uncount(&mut self, orgs: &OrgDirectory, person: PersonId) {
        for org in self.counted.remove(&person).unwrap_or_default() {
            if let Some(figures) = self.entries.get_mut(&org).and_then(|e| e.remove(&person)) {
                self.shift(orgs, org, &figures, false);
            }
        }
    }

    fn count(
        &mut self,
        view: &View,
        orgs: &OrgDirectory,
        policy: &Policy,
        person: PersonId,
        facts: &mut Vec<TrainingFact>,
    ) {
        let rosters = view.rosters_of(person);
        if rosters.is_empty() {
            return;
        }
        view.facts_into(person, facts);
        let mut counted = Vec::new();
        for &org in rosters {
            let Some(entry) = view.roster_entry(org, person) else {
                continue;
            };
            if !entry.active_on(self.as_of) {
                continue;
            }
            let s = entry_status(orgs, policy, org, entry, self.as_of, facts);
            let figures = EntryFigures {
                rotation: s.rotation,
                rank: entry.rank,
                centralized: s.hours.centralized.map(|t| t.met),
                online: s.hours.online.map(|t| t.met),
            };
            self.entries.entry(org).or_default().insert(person, figures);
            self.shift(orgs, org, &figures, true);
            counted.push(org);
        }
        if !counted.is_empty() {
            self.counted.insert(person, counted);
        }
    }

    /// `org`'s own figures (its roster). Call [`Rollup::refresh`] first.
    pub fn own(&self, org: OrgId) -> OwnFigures {
        self.own.get(org.index()).copied().unwrap_or_default()
    }

    /// The figures of `org` and all its descendants.
    pub fn subtree(&self, org: OrgId) -> OwnFigures {
        self.subtree.get(org.index()).copied().unwrap_or_default()
    }

    /// Whether two rollups count the same (for tests).
    pub fn same_figures(&self, other: &Rollup) -> Result<(), String> {
        let orgs = self.subtree.len().max(other.subtree.len());
        for org in (0..orgs as u32).map(OrgId::from_index) {
            if self.own(org) != other.own(org) {
                return Err(format!(
                    "own figures of {org:?} differ: {:?} vs {:?}",
                    self.own(org),
                    other.own(org)
                ));
            }
            if self.subtree(org) != other.subtree(org) {
                return Err(format!(
                    "subtree figures of {org:?} differ: {:?} vs {:?}",
                    self.subtree(org),
                    other.subtree(org)
                ));
            }
        }
        Ok(())
    }
}

/// Rollups kept for dates other than today, at most: the dashboard's date
/// picker and last quarter's 通报 are answered from them, each refreshed with
/// only what changed, instead of a recount per query. Each costs about as
/// much memory as today's (a few dozen bytes per roster entry).
pub const PAST_DATES_MAX: usize = 3;

/// The rollups a node keeps: today's, and the [`PAST_DATES_MAX`] other dates
/// asked for most recently. Every append touches all of them.
#[derive(Debug, Default)]
pub struct Rollups {
    /// Least recently used first.
    kept: Vec<Rollup>,
}

impl Rollups {
    /// Forgets every rollup (the view was rebuilt).
    pub fn clear(&mut self) {
        self.kept.clear();
    }

    /// Marks what an applied record touched, in every rollup kept.
    pub fn touch(&mut self, view: &View, touch: Touch) {
        for rollup in &mut self.kept {
            rollup.touch(view, touch);
        }
    }

    /// The dates kept, least recently used first.
    pub fn dates(&self) -> Vec<Date> {
        self.kept.iter().map(Rollup::as_of).collect()
    }

    /// The rollup for `as_of`, refreshed; built at the first query of a date.
    /// Beyond [`PAST_DATES_MAX`] other dates, the least recently used one
    /// other than `today` is dropped.
    pub fn get(
        &mut self,
        view: &View,
        orgs: &OrgDirectory,
        policy: &Policy,
        as_of: Date,
        today: Date,
    ) -> &Rollup {
        self.get_or_build(view, orgs, policy, as_of, today, || {
            Rollup::build(view, orgs, policy, as_of)
        })
    }

    /// [`Rollups::get`], with `build` building a date not kept (the node
    /// builds it in parts on several threads).
    pub fn get_or_build(
        &mut self,
        view: &View,
        orgs: &OrgDirectory,
        policy: &Policy,
        as_of: Date,
        today: Date,
        build: impl FnOnce() -> Rollup,
    ) -> &Rollup {
        let rollup = match self.kept.iter().position(|r| r.as_of() == as_of) {
            Some(i) => self.kept.remove(i),
            None => build(),
        };
        self.kept.push(rollup);
        while self.kept.iter().filter(|r| r.as_of() != today).count() > PAST_DATES_MAX {
            let Some(oldest) = self.kept.iter().position(|r| r.as_of() != today) else {
                break;
            };
            self.kept.remove(oldest);
        }
        let last = self.kept.len() - 1;
        let rollup = &mut self.kept[last];
        rollup.refresh(view, orgs, policy);
        rollup
    }
}

mod snapshot;

#[cfg(test)]
pub(crate) mod tests;
