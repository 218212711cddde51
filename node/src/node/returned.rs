//! The trainings this node's parent returns (`lunxun_core::returns`): kept
//! in the store's `returned` tree, one set per person, never in the log, and
//! shown through the view like any record (so `person`, the archive and the
//! hour figures count them). An answer is checked whole, then stored in one
//! atomic, durable write, and only then applied to the view under its write
//! lock, each touched person marked for the rollups.

use std::collections::BTreeMap;

use lunxun_core::returns::child::{Answer, Held, Staged, Version, stage};
use lunxun_core::returns::{Digest, person_digest, sort};
use tracing::{info, warn};

use super::{Node, now_ms};
use crate::codec;
use crate::error::{Error, Result};
use crate::model::PersonId;
use crate::orgs::{OrgDirectory, OrgId};
use crate::store::Store;
use crate::view::View;

/// What `status` shows of the returned trainings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReturnedCounts {
    /// People with at least one returned training.
    pub people: usize,
    /// Returned attendance records.
    pub records: usize,
    /// When they last changed here (ms since the epoch).
    #[serde(skip)]
    pub changed_at_ms: Option<i64>,
}

/// What applying an answer did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReturnedApplied {
    /// People whose set changed.
    pub people: usize,
}

/// Loads the stored sets into `view` (after the log's replay; `None` when
/// the view came from a snapshot that holds them already) and returns what
/// is held. A stored set that no longer reads, or whose organizer is
/// now inside our own subtree (a directory change), is dropped from the
/// store: the parent then sends the whole set again, as the digests differ.
pub(super) fn load(
    store: &Store,
    orgs: &OrgDirectory,
    me: OrgId,
    mut view: Option<&mut View>,
) -> Result<Held> {
    let mut held = Held::default();
    let mut dropped = Vec::new();
    for (key, bytes) in store.returned()? {
        let person = PersonId::from_u64(key);
        let answer = codec::decode_stored_trainings(orgs, &bytes);
        let usable = match (&person, &answer) {
            (Some(p), Ok(a)) => {
                a.person == *p
                    && a.items
                        .iter()
                        .all(|r| r.attendance.person == *p && !orgs.is_within(r.origin, me))
            }
            _ => false,
        };
        let (Some(person), Ok(answer), true) = (person, answer, usable) else {
            dropped.push(key);
            continue;
        };
        let mut items = answer.items;
        sort(orgs, &mut items);
        let digest = person_digest(orgs, &items);
        for (origin, record) in held.replace(person, items, digest) {
            if let Some(view) = view.as_deref_mut() {
                view.apply(origin, record);
            }
        }
    }
    if !dropped.is_empty() {
        warn!(
            people = dropped.len(),
            "returned trainings that no longer read or belong here were dropped; the parent sends them again"
        );
        store.drop_returned(&dropped)?;
    }
    Ok(held)
}

impl Node {
    pub(super) fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        self.returned.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The combined digest of the returned trainings held: what the parent
    /// is told we hold.
    pub fn returned_digest(&self) -> Digest {
        self.held().combined()
    }

    /// Each person's digest of the returned trainings held.
    pub fn returned_digests(&self) -> BTreeMap<PersonId, Digest> {
        self.held().digests()
    }

    /// How many people and records are held, and when they last changed.
    pub fn returned_counts(&self) -> ReturnedCounts {
        let (people, records) = {
            let held = self.held();
            (held.people(), held.records())
        };
        ReturnedCounts {
            people,
            records,
            changed_at_ms: self.store.returned_at().ok().flatten(),
        }
    }

    /// Which of the parent's answers is held, if one was recorded.
    pub fn returned_version(&self) -> Result<Option<Version>> {
        Ok(self.store.returned_version()?)
    }

    /// Our parent's org code ("" for the national node, which has none).
    pub(super) fn parent_code(&self) -> String {
        let orgs = self.orgs();
        orgs.parent(self.me)
            .map(|p| orgs.code(p).to_owned())
            .unwrap_or_default()
    }

    /// Checks the parent's whole `answer` (computed at `at_ms` on its
    /// clock) against our rosters, our subtree and the digest it announced,
    /// then stores what changes in one durable write, with the answer's
    /// version, and shows it. A refused answer changes nothing
    /// ([`Error::Returned`]); the same answer again writes only its version.
    /// An answer of a session is always the newest there is: it is taken
    /// whatever version is held (files are checked first: `receive_ack`).
    pub fn apply_returned(&self, answer: Answer, at_ms: i64) -> Result<ReturnedApplied> {
        let _writing = self.lock_writes();
        let before = self.held().digests();
        let staged = {
            let view = self.view();
            stage(&view, &self.orgs(), self.me, &before, answer).map_err(Error::Returned)?
        };
        let version = Version {
            parent: self.parent_code(),
            at_ms,
        };
        let people = self.commit_returned(staged, &version)?;
        Ok(ReturnedApplied { people })
    }

    /// Stores a staged answer and `version` in one durable write, then
    /// shows it (the caller holds the write lock); how many people's sets
    /// changed.
    pub(super) fn commit_returned(&self, staged: Staged, version: &Version) -> Result<usize> {
        if staged.is_empty() {
            self.store.set_returned_version(version)?;
            return Ok(0);
        }
        let orgs = self.orgs();
        let rows: Vec<(u64, Option<Vec<u8>>)> = staged
            .changes
            .iter()
            .map(|(person, items, digest)| {
                let value = digest
                    .is_some()
                    .then(|| codec::encode_stored_trainings(&orgs, *person, items));
                (person.to_u64(), value)
            })
            .collect();
        self.store.replace_returned(&rows, now_ms(), version)?;
        let people = staged.changes.len();
        let mut view = self.view.write().unwrap_or_else(|p| p.into_inner());
        let mut held = self.held();
        let mut rollups = self.rollups.lock().unwrap_or_else(|p| p.into_inner());
        for (person, items, digest) in staged.changes {
            let digest = digest.unwrap_or_default();
            for (origin, record) in held.replace(person, items, digest) {
                let touch = view.apply(origin, record);
                rollups.touch(&view, touch);
            }
        }
        debug_assert_eq!(held.combined(), staged.combined);
        self.since_snapshot
            .fetch_add(people as u64, std::sync::atomic::Ordering::Relaxed);
        info!(
            people,
            held_people = held.people(),
            held_records = held.records(),
            "returned trainings applied"
        );
        Ok(people)
    }
}
