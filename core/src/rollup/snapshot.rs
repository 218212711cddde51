//! A rollup as bytes, and back, kept in the node's snapshot with the view it
//! counts: only the counted entries and what is waiting to be recounted are
//! written; each org's own and subtree sums and the per-person list of
//! rosters counted are rebuilt from the entries while reading, so they agree
//! with them by construction.

use std::collections::HashMap;

use super::{EntryFigures, Rollup};
use crate::bytes::{Malformed, Reader, Writer};
use crate::model::Rank;
use crate::orgs::OrgDirectory;
use crate::rules::RotationStatus;
use crate::view::snapshot::{code_of, person};

fn rule(w: &mut Writer, met: Option<bool>) {
    w.u8(match met {
        None => 0,
        Some(false) => 1,
        Some(true) => 2,
    });
}

fn read_rule(r: &mut Reader<'_>) -> Result<Option<bool>, Malformed> {
    match r.u8()? {
        0 => Ok(None),
        1 => Ok(Some(false)),
        2 => Ok(Some(true)),
        b => Err(Malformed(format!("{b} is not a rule result"))),
    }
}

impl Rollup {
    /// Appends the rollup to `w`.
    pub fn write_snapshot(&self, w: &mut Writer) {
        w.date(self.as_of);
        w.len(self.dirty.len());
        for p in &self.dirty {
            w.u64(p.to_u64());
        }
        w.len(self.dirty_classes.len());
        for c in &self.dirty_classes {
            w.u32(*c);
        }
        w.len(self.entries.len());
        for (org, entries) in &self.entries {
            w.u32(org.index() as u32);
            w.len(entries.len());
            for (p, f) in entries {
                w.u64(p.to_u64());
                w.u8(code_of(&RotationStatus::ALL, f.rotation) | (code_of(&Rank::ALL, f.rank) << 4));
                rule(w, f.centralized);
                rule(w, f.online);
            }
        }
    }

    /// Reads a rollup written by [`Rollup::write_snapshot`] under a
    /// directory with the same digest.
    pub fn read_snapshot(r: &mut Reader<'_>, orgs: &OrgDirectory) -> Result<Rollup, Malformed> {
        let as_of = r.date()?;
        let mut rollup = Rollup::empty(as_of);
        for _ in 0..r.count(1)? {
            rollup.dirty.insert(person(r)?);
        }
        for _ in 0..r.count(1)? {
            rollup.dirty_classes.insert(r.u32()?);
        }
        for _ in 0..r.count(2)? {
            let i = r.u32()?;
            let org = orgs
                .id_at(i)
                .ok_or_else(|| Malformed(format!("org index {i} is not in the directory")))?;
            let n = r.count(4)?;
            let mut entries = HashMap::with_capacity(n);
            for _ in 0..n {
                let p = person(r)?;
                let b = r.u8()?;
                let rotation = *RotationStatus::ALL
                    .get(usize::from(b & 0x0f))
                    .ok_or_else(|| Malformed(format!("{b} is not a rotation status")))?;
                let rank = *Rank::ALL
                    .get(usize::from(b >> 4))
                    .ok_or_else(|| Malformed(format!("{b} is not a rank")))?;
                let figures = EntryFigures {
                    rotation,
                    rank,
                    centralized: read_rule(r)?,
                    online: read_rule(r)?,
                };
                if entries.insert(p, figures).is_some() {
                    return Err(Malformed("a counted entry is repeated".into()));
                }
                rollup.counted.entry(p).or_default().push(org);
            }
            if rollup.entries.insert(org, entries).is_some() {
                return Err(Malformed("a counted roster is repeated".into()));
            }
        }
        let all: Vec<_> = rollup
            .entries
            .iter()
            .flat_map(|(o, e)| e.values().map(move |f| (*o, *f)))
            .collect();
        for (org, f) in all {
            rollup.shift(orgs, org, &f, true);
        }
        Ok(rollup)
    }
}

impl super::Rollups {
    /// Every rollup kept, least recently used first.
    pub fn kept(&self) -> &[Rollup] {
        &self.kept
    }

    /// Keeps `rollup` (read back from a snapshot) as the most recently used.
    pub fn keep(&mut self, rollup: Rollup) {
        self.kept.retain(|r| r.as_of() != rollup.as_of());
        self.kept.push(rollup);
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::policy::Policy;
    use crate::rollup::tests::{change, date, hierarchy};
    use crate::view::View;

    /// A rollup with people waiting to be recounted, written and read back,
    /// counts what the original counts once both are refreshed: what a
    /// recount from scratch gives.
    #[test]
    fn a_rollup_read_back_counts_the_same_after_its_refresh() {
        for seed in 0..20 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let orgs = OrgDirectory::builtin();
            let policy = Policy::default();
            let nodes = hierarchy(&mut rng, &orgs);
            let as_of = date(1200);
            let mut view = View::default();
            for _ in 0..300 {
                let (org, record) = change(&mut rng, &nodes, 30);
                view.apply(org, record);
            }
            let mut rollup = Rollup::build(&view, &orgs, &policy, as_of);
            for _ in 0..60 {
                let (org, record) = change(&mut rng, &nodes, 30);
                let touch = view.apply(org, record);
                rollup.touch(&view, touch);
            }
            let mut w = Writer::default();
            rollup.write_snapshot(&mut w);
            let mut r = Reader::new(&w.out);
            let mut back = Rollup::read_snapshot(&mut r, &orgs).expect("reads back");
            assert_eq!(r.remaining(), 0);
            assert_eq!(back.as_of(), as_of);
            assert_eq!(back.dirty(), rollup.dirty());
            rollup.same_figures(&back).unwrap();
            back.refresh(&view, &orgs, &policy);
            let scratch = Rollup::build(&view, &orgs, &policy, as_of);
            back.same_figures(&scratch)
                .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
            for cut in 0..w.out.len() {
                assert!(Rollup::read_snapshot(&mut Reader::new(&w.out[..cut]), &orgs).is_err());
            }
        }
    }
}
