//! The store's `meta` tree: every small named value a node keeps besides its
//! log, each behind a typed method. The keys and their encodings live here
//! and nowhere else; they are what existing data dirs hold, so they do not
//! change.
//!
//! | key | value |
//! |---|---|
//! | `lost_tail` | the own-log [`Conflict`]: `lost:SEQ`, `fork:SEQ` or `store-lost:SEQ` (a bare `SEQ` is an old `lost:`) |
//! | `writing` | the own seq before an own write under way (see [`Store::mark_write`]) |
//! | `held/ORIGIN` | a [`Hold`] of that origin, JSON `{seq, reason, at}` |
//! | `upstream` | the [`UpstreamState`], JSON |
//! | `child/CODE` | a child's [`ChildState`], JSON |
//! | `refusals` | refusals of unidentified peers by reason, JSON |
//! | `returned_at` | when the parent's returned trainings last changed here (ms since the epoch) |
//! | `returned_version` | which answer of the parent's is held: `CODE AT_MS` (the parent's clock) |
//! | `quota/CODE` | a child's [`Usage`] of its daily quotas, JSON `{day, changes, bytes}`, written with the append it counts |

use std::collections::BTreeMap;

use lunxun_core::returns::child::Version;
use lunxun_core::session::quota::Usage;
use serde::{Deserialize, Serialize};

use super::{Store, StoreError};

const CONFLICT: &str = "lost_tail";
const WRITING: &str = "writing";
const HELD_PREFIX: &str = "held/";
const UPSTREAM: &str = "upstream";
const CHILD_PREFIX: &str = "child/";
const REFUSALS: &str = "refusals";
const QUOTA_PREFIX: &str = "quota/";
const RETURNED_AT: &str = "returned_at";
const RETURNED_VERSION: &str = "returned_version";

/// Why a node refuses to write: its own log disagrees with its parent's copy,
/// and a new write would fork it (same origin and seq, another hash).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    /// The parent holds our own log up to `parent_seq`, beyond ours: we lost
    /// a tail (a restored backup, a disk failure).
    LostTail { parent_seq: u64 },
    /// The parent holds another change at `seq` of our own log: this node
    /// wrote on an old copy of its data before syncing.
    Forked { seq: u64 },
    /// The store itself lost own changes: this node had written up to
    /// `written_seq` (as its own-head file says), and its log ends before
    /// (a truncated or damaged store file).
    StoreLost { written_seq: u64 },
}

impl Conflict {
    fn encode(self) -> String {
        match self {
            Conflict::LostTail { parent_seq } => format!("lost:{parent_seq}"),
            Conflict::Forked { seq } => format!("fork:{seq}"),
            Conflict::StoreLost { written_seq } => format!("store-lost:{written_seq}"),
        }
    }

    fn parse(text: &str) -> Option<Conflict> {
        if let Some(seq) = text.strip_prefix("fork:") {
            return seq.parse().ok().map(|seq| Conflict::Forked { seq });
        }
        if let Some(seq) = text.strip_prefix("store-lost:") {
            return seq
                .parse()
                .ok()
                .map(|written_seq| Conflict::StoreLost { written_seq });
        }
        let seq = text.strip_prefix("lost:").unwrap_or(text);
        seq.parse()
            .ok()
            .map(|parent_seq| Conflict::LostTail { parent_seq })
    }
}

/// An origin whose changes this node holds back (quarantine, gap, fork).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub origin: String,
    /// The first seq held back.
    pub seq: u64,
    pub reason: String,
    /// When it was held back (ms since the epoch).
    pub at_ms: i64,
}

/// What `status` shows of the upstream link.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamState {
    /// When the last session started (ms since the epoch).
    pub last_attempt: Option<i64>,
    /// When the last complete session ended.
    pub last_success: Option<i64>,
    /// The last failure, if the last attempt failed.
    pub last_error: Option<String>,
    /// Attempts failed in a row.
    pub failures: u32,
    /// The parent's vector for our subtree as of the last session: origin → seq.
    pub parent: BTreeMap<String, u64>,
    /// The parent's store incarnation at the last session (hex).
    pub parent_incarnation: Option<String>,
    /// Changes sent in the last session.
    pub last_sent: u64,
    /// Changes sent in every session, summed.
    #[serde(default)]
    pub sent_total: u64,
    /// Origins the parent holds back: (origin, seq, reason).
    pub held: Vec<(String, u64, String)>,
    /// When the parent's returned trainings were last taken (an answer
    /// checked and applied, changed or not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub returned_at: Option<i64>,
    /// When the parent's last bundle acknowledgement was imported (ms since
    /// the epoch): `parent` is then as of that acknowledgement or of a
    /// later session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_bundle_ack: Option<i64>,
}

/// One child's sync record at its parent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildState {
    /// When the child last opened a session (ms since the epoch).
    pub last_session: Option<i64>,
    /// When a session of the child last ended with everything acked.
    pub last_success: Option<i64>,
    /// Why the last session failed, if it did.
    pub last_error: Option<String>,
    /// The child's address at its last session.
    pub peer: Option<String>,
    pub sessions: u64,
    /// Changes received and stored.
    pub applied: u64,
    /// Changes received that were already held (resends, replays).
    pub skipped: u64,
    /// Batches or sessions refused (bad input, authorization, limits).
    pub refused: u64,
    /// What the child still had to send when its last session ended.
    pub pending: Option<u64>,
    /// Refusals by reason (certificate, revoked, not-a-child, outside-subtree,
    /// malformed, limits...).
    #[serde(default)]
    pub refusals: BTreeMap<String, u64>,
    /// Why the child is refused for now (one of its quotas), until a session
    /// of it succeeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused_reason: Option<String>,
    /// Bundles of the child imported (offline transport).
    #[serde(default)]
    pub bundles: u64,
    /// When the child's last bundle was imported (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_bundle: Option<i64>,
    /// What the last bundle covered: per origin, its first and last seq.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub last_bundle_covered: BTreeMap<String, (u64, u64)>,
    /// Sessions that ended with everything acked.
    #[serde(default)]
    pub ok: u64,
    /// Sessions that ended with an error (a refusal or a broken link).
    #[serde(default)]
    pub failed: u64,
    /// When this record was first written: the child has been known here
    /// since (a record older than the field: since its first update after).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<i64>,
    /// When the child was last refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_refusal: Option<i64>,
}

impl Store {
    fn json<T: for<'de> Deserialize<'de> + Default>(&self, key: &str) -> Result<T, StoreError> {
        Ok(self
            .meta(key)?
            .and_then(|v| serde_json::from_slice(&v).ok())
            .unwrap_or_default())
    }

    fn set_json<T: Serialize>(&self, key: &str, value: &T) -> Result<(), StoreError> {
        self.set_meta(key, &serde_json::to_vec(value).unwrap_or_default())
    }

    /// The own-log conflict marker, if set.
    pub fn conflict(&self) -> Result<Option<Conflict>, StoreError> {
        Ok(self
            .meta(CONFLICT)?
            .and_then(|v| String::from_utf8(v).ok())
            .and_then(|t| Conflict::parse(&t)))
    }

    /// Sets the own-log conflict marker durably.
    pub fn set_conflict(&self, conflict: Conflict) -> Result<(), StoreError> {
        self.set_meta(CONFLICT, conflict.encode().as_bytes())
    }

    /// Clears the own-log conflict marker durably.
    pub fn clear_conflict(&self) -> Result<(), StoreError> {
        self.remove_meta(CONFLICT)
    }

    /// Marks an own write as under way, durably: `before` is the own seq
    /// before it. A store opened with the mark set drops what the write left.
    pub fn mark_write(&self, before: u64) -> Result<(), StoreError> {
        self.set_meta(WRITING, before.to_string().as_bytes())
    }

    /// The mark of an own write under way (the own seq before it), if set.
    pub fn unfinished_write(&self) -> Result<Option<u64>, StoreError> {
        let Some(mark) = self.meta(WRITING)? else {
            return Ok(None);
        };
        String::from_utf8(mark)
            .ok()
            .and_then(|s| s.parse().ok())
            .map(Some)
            .ok_or_else(|| self.corrupt("unreadable mark of an unfinished write"))
    }

    /// Clears the mark of an own write, durably: the write is whole.
    pub fn clear_write_mark(&self) -> Result<(), StoreError> {
        self.remove_meta(WRITING)
    }

    /// Records that `hold.origin` is held back, durably.
    pub fn set_hold(&self, hold: &Hold) -> Result<(), StoreError> {
        let value = serde_json::json!({
            "seq": hold.seq,
            "reason": hold.reason,
            "at": hold.at_ms,
        });
        self.set_meta(
            &format!("{HELD_PREFIX}{}", hold.origin),
            value.to_string().as_bytes(),
        )
    }

    /// Forgets the hold of `origin` once its log reached `seq` at or past
    /// the held seq (an unreadable hold is forgotten too).
    pub fn release_hold(&self, origin: &str, seq: u64) -> Result<(), StoreError> {
        let key = format!("{HELD_PREFIX}{origin}");
        if let Some(v) = self.meta(&key)? {
            let held_seq = serde_json::from_slice::<serde_json::Value>(&v)
                .ok()
                .and_then(|j| j["seq"].as_u64())
                .unwrap_or(0);
            if seq >= held_seq {
                self.remove_meta(&key)?;
            }
        }
        Ok(())
    }

    /// Every origin held back, in origin order.
    pub fn holds(&self) -> Result<Vec<Hold>, StoreError> {
        Ok(self
            .meta_with_prefix(HELD_PREFIX)?
            .into_iter()
            .filter_map(|(k, v)| {
                let j: serde_json::Value = serde_json::from_slice(&v).ok()?;
                Some(Hold {
                    origin: k.trim_start_matches(HELD_PREFIX).to_owned(),
                    seq: j["seq"].as_u64()?,
                    reason: j["reason"].as_str()?.to_owned(),
                    at_ms: j["at"].as_i64().unwrap_or(0),
                })
            })
            .collect())
    }

    /// The upstream link's state (the default when none was recorded or it
    /// is unreadable).
    pub fn upstream_state(&self) -> Result<UpstreamState, StoreError> {
        self.json(UPSTREAM)
    }

    /// Records the upstream link's state durably.
    pub fn set_upstream_state(&self, state: &UpstreamState) -> Result<(), StoreError> {
        self.set_json(UPSTREAM, state)
    }

    /// A child's sync record (the default when none was recorded).
    pub fn child_state(&self, code: &str) -> Result<ChildState, StoreError> {
        self.json(&format!("{CHILD_PREFIX}{code}"))
    }

    /// Records a child's sync record durably.
    pub fn set_child_state(&self, code: &str, state: &ChildState) -> Result<(), StoreError> {
        self.set_json(&format!("{CHILD_PREFIX}{code}"), state)
    }

    /// Refusals of peers never identified as a child, by reason.
    pub fn peer_refusals(&self) -> Result<BTreeMap<String, u64>, StoreError> {
        self.json(REFUSALS)
    }

    /// Records the refusals of unidentified peers durably.
    pub fn set_peer_refusals(&self, counts: &BTreeMap<String, u64>) -> Result<(), StoreError> {
        self.set_json(REFUSALS, counts)
    }

    /// A child's usage of its daily quotas, if recorded and readable.
    pub fn quota_usage(&self, code: &str) -> Result<Option<Usage>, StoreError> {
        let Some(v) = self.meta(&format!("{QUOTA_PREFIX}{code}"))? else {
            return Ok(None);
        };
        let j: serde_json::Value = serde_json::from_slice(&v).unwrap_or_default();
        Ok((|| {
            Some(Usage {
                day: j["day"].as_str()?.parse().ok()?,
                changes: j["changes"].as_u64()?,
                bytes: j["bytes"].as_u64()?,
            })
        })())
    }

    /// Writes a child's usage of its daily quotas *without flushing*: it is
    /// part of the append that applied what it counts (written after its
    /// entries) and becomes durable with that append's flush, at no cost of
    /// its own. Only a crash during that very flush can leave a usage that
    /// counts a torn tail the replay then truncates: an over-count of at
    /// most one unacknowledged group, never an under-count.
    pub fn stage_quota_usage(&self, code: &str, usage: &Usage) -> Result<(), StoreError> {
        let value = serde_json::json!({
            "day": usage.day.to_string(),
            "changes": usage.changes,
            "bytes": usage.bytes,
        });
        self.meta
            .insert(
                format!("{QUOTA_PREFIX}{code}").as_bytes(),
                value.to_string().as_bytes(),
            )
            .map(|_| ())
            .map_err(|e| self.engine(e))
    }

    /// When the parent's returned trainings last changed here, if ever.
    pub fn returned_at(&self) -> Result<Option<i64>, StoreError> {
        Ok(self
            .meta(RETURNED_AT)?
            .and_then(|v| String::from_utf8(v).ok())
            .and_then(|t| t.parse().ok()))
    }

    /// Writes when the returned trainings changed *without flushing*: part
    /// of the write that changed them ([`Store::replace_returned`]).
    pub(super) fn stage_returned_at(&self, at_ms: i64) -> Result<(), StoreError> {
        self.meta
            .insert(RETURNED_AT.as_bytes(), at_ms.to_string().as_bytes())
            .map(|_| ())
            .map_err(|e| self.engine(e))
    }
}

impl Store {
    /// Which answer of the parent's the returned trainings held are, if
    /// one was ever recorded.
    pub fn returned_version(&self) -> Result<Option<Version>, StoreError> {
        Ok(self
            .meta(RETURNED_VERSION)?
            .and_then(|v| String::from_utf8(v).ok())
            .and_then(|t| {
                let (parent, at_ms) = t.split_once(' ')?;
                Some(Version {
                    parent: parent.to_owned(),
                    at_ms: at_ms.parse().ok()?,
                })
            }))
    }

    /// Writes which answer is held *without flushing*: part of the write
    /// that took it ([`Store::replace_returned`], [`Store::set_returned_version`]).
    pub(super) fn stage_returned_version(&self, version: &Version) -> Result<(), StoreError> {
        self.meta
            .insert(
                RETURNED_VERSION.as_bytes(),
                format!("{} {}", version.parent, version.at_ms).as_bytes(),
            )
            .map(|_| ())
            .map_err(|e| self.engine(e))
    }

    /// Records, durably, that `version` is the answer held (an answer that
    /// changed nothing is still the newest one taken).
    pub fn set_returned_version(&self, version: &Version) -> Result<(), StoreError> {
        self.stage_returned_version(version)?;
        self.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_round_trips_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            assert_eq!(store.conflict().unwrap(), None);
            store.set_conflict(Conflict::Forked { seq: 4 }).unwrap();
            store.mark_write(7).unwrap();
            store
                .set_hold(&Hold {
                    origin: "410102".into(),
                    seq: 9,
                    reason: "gap".into(),
                    at_ms: 5,
                })
                .unwrap();
            let upstream = UpstreamState {
                failures: 2,
                ..Default::default()
            };
            store.set_upstream_state(&upstream).unwrap();
            let child = ChildState {
                applied: 3,
                ..Default::default()
            };
            store.set_child_state("410102", &child).unwrap();
            store
                .set_peer_refusals(&BTreeMap::from([("certificate".to_owned(), 1)]))
                .unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.conflict().unwrap(), Some(Conflict::Forked { seq: 4 }));
        assert_eq!(store.unfinished_write().unwrap(), Some(7));
        let holds = store.holds().unwrap();
        assert_eq!(holds.len(), 1);
        assert_eq!((holds[0].origin.as_str(), holds[0].seq), ("410102", 9));
        assert_eq!(store.upstream_state().unwrap().failures, 2);
        assert_eq!(store.child_state("410102").unwrap().applied, 3);
        assert_eq!(store.child_state("410103").unwrap(), ChildState::default());
        assert_eq!(store.peer_refusals().unwrap()["certificate"], 1);

        store.release_hold("410102", 8).unwrap();
        assert_eq!(store.holds().unwrap().len(), 1, "not reached yet");
        store.release_hold("410102", 9).unwrap();
        assert!(store.holds().unwrap().is_empty());
        store.clear_write_mark().unwrap();
        assert_eq!(store.unfinished_write().unwrap(), None);
        store.clear_conflict().unwrap();
        assert_eq!(store.conflict().unwrap(), None);
    }

    #[test]
    fn quota_usage_is_durable_with_the_next_flush() {
        let dir = tempfile::tempdir().unwrap();
        let usage = Usage {
            day: "2026-12-03".parse().unwrap(),
            changes: 7,
            bytes: 700,
        };
        {
            let store = Store::open(dir.path()).unwrap();
            assert_eq!(store.quota_usage("410102").unwrap(), None);
            store.stage_quota_usage("410102", &usage).unwrap();
            store.append(&[]).unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.quota_usage("410102").unwrap(), Some(usage));
        assert_eq!(store.quota_usage("410103").unwrap(), None);
    }

    #[test]
    fn an_old_conflict_marker_is_a_lost_tail() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.set_meta(CONFLICT, b"12").unwrap();
        assert_eq!(
            store.conflict().unwrap(),
            Some(Conflict::LostTail { parent_seq: 12 })
        );
    }
}
