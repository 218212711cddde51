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

use std::collections::HashSet;

use crate::figures::{OwnFigures, entry_status};
use crate::model::{Date, PersonId, RosterEntry};
use crate::orgs::{OrgDirectory, OrgId};
use crate::policy::Policy;
use crate::rules::TrainingFact;
use crate::view::{Touch, View};

mod counted;

use crate::hashing::FoldHash;
use counted::{Counted, Figures};

/// Which of `parts` parts `person` is counted in by [`Rollup::build_part`]
/// (and which of a rollup's shards holds them).
fn part_of(person: PersonId, parts: u64) -> u64 {
    // Ids are dense in their birth dates and serials: mix before reducing.
    (person.to_u64().wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) % parts
}

/// The figures of `org`'s roster entry `entry` on `as_of`; `facts` holds
/// the person's trainings.
fn figures_of(
    orgs: &OrgDirectory,
    policy: &Policy,
    org: OrgId,
    entry: &RosterEntry,
    as_of: Date,
    facts: &[TrainingFact],
) -> Figures {
    let s = entry_status(orgs, policy, org, entry, as_of, facts);
    Figures::new(
        s.rotation,
        entry.rank,
        s.hours.centralized.map(|t| t.met),
        s.hours.online.map(|t| t.met),
    )
}

/// Roster entries whose people's trainings are read together
/// ([`View::facts_of_many`]) and then counted.
#[derive(Default)]
struct Batch<'v> {
    entries: Vec<(OrgId, &'v RosterEntry)>,
    people: Vec<PersonId>,
    facts: Vec<TrainingFact>,
    ends: Vec<usize>,
}

impl Batch<'_> {
    const LEN: usize = 64;

    /// Counts the entries gathered into `counted` and `own`, and empties
    /// the batch.
    fn count(
        &mut self,
        view: &View,
        orgs: &OrgDirectory,
        policy: &Policy,
        as_of: Date,
        counted: &mut Counted,
        own: &mut [OwnFigures],
    ) {
        self.people.clear();
        self.people
            .extend(self.entries.iter().map(|(_, e)| e.person));
        view.facts_of_many(&self.people, &mut self.facts, &mut self.ends);
        let mut start = 0;
        for (&(org, entry), &end) in self.entries.iter().zip(&self.ends) {
            let facts = &self.facts[start..end];
            start = end;
            let figures = figures_of(orgs, policy, org, entry, as_of, facts);
            if counted.insert(entry.person, org, figures) {
                figures.apply(&mut own[org.index()], true);
            }
        }
        self.entries.clear();
    }
}

/// Rollups for one `as_of`.
#[derive(Debug, Clone)]
pub struct Rollup {
    as_of: Date,
    /// Active entries counted, by person, in shards: a person is in shard
    /// [`part_of`]`(person, shards)`. A rollup built in parts keeps each
    /// part's shard as it was built, so merging them moves maps instead of
    /// reinserting a million entries.
    counted: Vec<Counted>,
    /// Each org's own figures and its subtree's, by the org's dense index
    /// (grown as orgs are counted).
    own: Vec<OwnFigures>,
    subtree: Vec<OwnFigures>,
    /// People whose figures may have changed since they were counted.
    dirty: HashSet<PersonId, FoldHash>,
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
    ///
    /// One pass over the rosters as the view holds them: each entry comes
    /// with its org, so the only lookup per entry is the person's
    /// trainings, read for a batch of entries at a time; each org's own
    /// figures are summed, and the subtrees once at the end from them.
    pub fn build_part(
        view: &View,
        orgs: &OrgDirectory,
        policy: &Policy,
        as_of: Date,
        part: usize,
        parts: usize,
    ) -> Rollup {
        let parts = parts.max(1);
        let part = part.min(parts - 1);
        let mut rollup = Rollup::empty(as_of);
        rollup.counted = vec![Counted::default(); parts];
        let entries: usize = view.roster_orgs().map(|o| view.roster_len(o)).sum();
        // Hash shares are even: a little over this part's share.
        let mut counted = Counted::with_capacity(entries / parts + entries / parts / 16 + 16);
        let mut own = vec![OwnFigures::default(); orgs.len()];
        let mut batch = Batch::default();
        for org in view.roster_orgs() {
            for entry in view.roster(org) {
                if !entry.active_on(as_of) || part_of(entry.person, parts as u64) != part as u64 {
                    continue;
                }
                batch.entries.push((org, entry));
                if batch.entries.len() == Batch::LEN {
                    batch.count(view, orgs, policy, as_of, &mut counted, &mut own);
                }
            }
        }
        batch.count(view, orgs, policy, as_of, &mut counted, &mut own);
        rollup.counted[part] = counted;
        rollup.sum_subtrees(orgs, own);
        rollup
    }

    /// Sets each org's own figures, and every subtree's as their sums.
    fn sum_subtrees(&mut self, orgs: &OrgDirectory, own: Vec<OwnFigures>) {
        let mut subtree = vec![OwnFigures::default(); own.len()];
        let none = OwnFigures::default();
        for (i, f) in own.iter().enumerate().filter(|(_, f)| **f != none) {
            let mut cur = Some(OrgId::from_index(i as u32));
            while let Some(o) = cur {
                subtree[o.index()].merge(f);
                cur = orgs.parent(o);
            }
        }
        self.own = own;
        self.subtree = subtree;
    }

    /// One rollup from the parts [`Rollup::build_part`] built for one date.
    pub fn merge(parts: Vec<Rollup>) -> Option<Rollup> {
        let mut parts = parts.into_iter();
        let mut all = parts.next()?;
        for part in parts {
            debug_assert_eq!(part.as_of, all.as_of);
            if part.counted.len() == all.counted.len() {
                // Parts of one build: the same shards, each filled by one.
                for (mine, theirs) in all.counted.iter_mut().zip(part.counted) {
                    mine.extend(theirs);
                }
            } else {
                for (p, o, f) in part.counted.iter().flat_map(Counted::iter) {
                    let shard = all.shard_of(p);
                    all.counted[shard].insert(p, o, f);
                }
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
            counted: vec![Counted::default()],
            own: Vec::new(),
            subtree: Vec::new(),
            dirty: HashSet::default(),
            dirty_classes: HashSet::new(),
        }
    }

    fn shard_of(&self, person: PersonId) -> usize {
        part_of(person, self.counted.len() as u64) as usize
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

    fn shift(&mut self, orgs: &OrgDirectory, org: OrgId, figures: Figures, up: bool) {
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
        let shard = self.shard_of(person);
        let mut taken = Vec::new();
        self.counted[shard].remove(person, |org, figures| taken.push((org, figures)));
        for (org, figures) in taken {
            self.shift(orgs, org, figures, false);
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
        let shard = self.shard_of(person);
        for &org in rosters {
            let Some(entry) = view.roster_entry(org, person) else {
                continue;
            };
            if !entry.active_on(self.as_of) {
                continue;
            }
            let figures = figures_of(orgs, policy, org, entry, self.as_of, facts);
            if self.counted[shard].insert(person, org, figures) {
                self.shift(orgs, org, figures, true);
            }
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
/// much memory as today's (a 16-byte slot per counted entry, in maps kept
/// between half and seven eighths full).
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
