//! A rollup as bytes, and back, kept in the node's snapshot with the view it
//! counts: only the counted entries (a dozen bytes each) and what is waiting to be
//! recounted are written; each org's own and subtree sums are rebuilt from
//! the entries while reading, so they agree with them by construction.

use super::Rollup;
use super::counted::{Counted, Figures};
use crate::bytes::{Malformed, Reader, Writer};
use crate::figures::OwnFigures;
use crate::orgs::OrgDirectory;
use crate::view::snapshot::person;

impl Rollup {
    /// Appends the rollup to `w`: its date, what waits to be recounted, and
    /// every counted entry as (person, org index, [`Figures`] byte).
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
        w.len(self.counted.iter().map(Counted::len).sum());
        for (p, org, f) in self.counted.iter().flat_map(Counted::iter) {
            w.u64(p.to_u64());
            w.u32(org.index() as u32);
            w.u8(f.byte());
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
        let n = r.count(3)?;
        let mut counted = Counted::with_capacity(n);
        let mut own = vec![OwnFigures::default(); orgs.len()];
        for _ in 0..n {
            let p = person(r)?;
            let i = r.u32()?;
            let org = orgs
                .id_at(i)
                .ok_or_else(|| Malformed(format!("org index {i} is not in the directory")))?;
            let b = r.u8()?;
            let figures = Figures::from_byte(b)
                .ok_or_else(|| Malformed(format!("{b} is not an entry's figures")))?;
            if !counted.insert(p, org, figures) {
                return Err(Malformed("a counted entry is repeated".into()));
            }
            figures.apply(&mut own[org.index()], true);
        }
        rollup.counted = vec![counted];
        rollup.sum_subtrees(orgs, own);
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
