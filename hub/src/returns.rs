//! `Sync.Trainings`, the parent's side: the trainings this hub returns to a
//! child (`lunxun_core::returns`) — the attendance and class records it
//! holds of the people on the rosters of the child's subtree, of classes
//! organized outside that subtree, including what its own parent returned
//! to it. So a national class reaches a county through the province and
//! the prefecture, one session at a time.
//!
//! The answer is computed under the view's read lock, off the async
//! runtime, in chunks bounded by count and bytes. Per child, this hub
//! remembers (in memory) each person's digest it last sent: a child whose
//! digest is that answer's gets only the people changed since; any other
//! (a broken stream, a restart of either side) gets the whole set.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use lunxun_core::returns::parent::{PersonLimits, Sent, digests, person_set, plan};
use lunxun_core::returns::{DIGEST_LEN, Digest};
use lunxun_node::codec;
use lunxun_node::node::Node;
use lunxun_node::orgs::OrgId;
use lunxun_node::sync::blocking;
use lunxun_node::sync::trainings::{CHUNK_BYTES_MAX, CHUNK_PEOPLE_MAX, PERSON_ITEMS_MAX};
use lunxun_proto::v1 as pb;
use tokio::sync::{mpsc, watch};
use tonic::Status;
use tracing::{info, warn};

use crate::error::Error;

/// Chunks buffered towards the child.
const TRAININGS_OUTBOUND_MAX: usize = 4;

/// Room kept in a chunk for its own fields (flags, the digest).
const CHUNK_OVERHEAD_BYTES: usize = 1024;

/// A person's set as this hub sends it, at most: what fits an otherwise
/// empty chunk. A larger one is left out (and logged).
const LIMITS: PersonLimits = PersonLimits {
    items_max: PERSON_ITEMS_MAX,
    bytes_max: CHUNK_BYTES_MAX - CHUNK_OVERHEAD_BYTES,
};

/// What this hub last sent each child (in memory: after a restart every
/// child gets its whole set once).
#[derive(Default)]
pub struct Returns {
    sent: Mutex<HashMap<OrgId, Sent>>,
}

/// The chunks of one answer.
struct Answer {
    chunks: Vec<pb::TrainingsChunk>,
    full: bool,
    people: usize,
    left_out: usize,
}

impl Returns {
    /// The answer to `child`, which holds what `child_digest` sums up; what
    /// it sends is remembered as the child's from now on.
    fn answer(&self, node: &Node, child: OrgId, child_digest: &Digest) -> Answer {
        let orgs = node.orgs();
        let view = node.view();
        let (now, left_out) = digests(&view, &orgs, child, &LIMITS);
        let plan = {
            let sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
            plan(sent.get(&child), child_digest, &now)
        };
        let people: Vec<pb::PersonTrainings> = plan
            .people
            .iter()
            .map(|person| {
                let items = if now.contains_key(person) {
                    person_set(&view, &orgs, child, *person)
                } else {
                    Vec::new()
                };
                codec::encode_person_trainings(&orgs, *person, &items)
            })
            .collect();
        drop(view);
        let sent = Sent::new(now);
        let chunks = chunks(people, plan.full, &sent.combined);
        self.sent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(child, sent);
        Answer {
            chunks,
            full: plan.full,
            people: plan.people.len(),
            left_out,
        }
    }
}

/// `people` in chunks of at most [`CHUNK_PEOPLE_MAX`] people and
/// [`CHUNK_BYTES_MAX`] bytes (a person fits an empty chunk: [`LIMITS`]),
/// `full` on the first, `last` and `digest` on the last; one chunk when
/// there is nobody to send.
fn chunks(
    people: Vec<pb::PersonTrainings>,
    full: bool,
    digest: &Digest,
) -> Vec<pb::TrainingsChunk> {
    let mut chunks = Vec::new();
    let mut chunk = pb::TrainingsChunk {
        full,
        ..Default::default()
    };
    let mut bytes = CHUNK_OVERHEAD_BYTES;
    for person in people {
        // The person's bytes and their field's tag and length.
        let size = codec::person_trainings_len(&person) + 8;
        if !chunk.people.is_empty()
            && (chunk.people.len() >= CHUNK_PEOPLE_MAX || bytes + size > CHUNK_BYTES_MAX)
        {
            chunks.push(std::mem::take(&mut chunk));
            bytes = CHUNK_OVERHEAD_BYTES;
        }
        bytes += size;
        chunk.people.push(person);
    }
    chunk.last = true;
    chunk.digest = Bytes::copy_from_slice(digest);
    chunks.push(chunk);
    chunks
}

/// Resolves when the server shuts down; never, if nothing can say so any more.
async fn stopped(mut shutdown: watch::Receiver<bool>) {
    if shutdown.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Serves one `Trainings` request of `child` (already admitted; `slot` is
/// its session slot, held until the answer is sent): the stream of chunks.
pub fn serve<S: Send + 'static>(
    node: Arc<Node>,
    returns: Arc<Returns>,
    child: OrgId,
    digest: &[u8],
    slot: S,
    shutdown: watch::Receiver<bool>,
) -> Result<mpsc::Receiver<Result<pb::TrainingsChunk, Status>>, Status> {
    let child_digest = Digest::try_from(digest).map_err(|_| {
        Status::from(Error::Malformed(format!(
            "trainings request: digest of {} bytes, not {DIGEST_LEN}",
            digest.len()
        )))
    })?;
    let (tx, rx) = mpsc::channel(TRAININGS_OUTBOUND_MAX);
    let code = node.orgs().code(child).to_owned();
    tokio::spawn(async move {
        let _slot = slot;
        let answer = blocking(|| returns.answer(&node, child, &child_digest));
        if answer.left_out > 0 {
            warn!(child = %code, people = answer.left_out, "people whose returned trainings exceed the limits were left out");
        }
        let (full, people, chunks) = (answer.full, answer.people, answer.chunks.len());
        let send_all = async {
            for chunk in answer.chunks {
                if tx.send(Ok(chunk)).await.is_err() {
                    return false;
                }
            }
            true
        };
        tokio::select! {
            sent = send_all => if sent {
                info!(child = %code, full, people, chunks, "returned trainings sent");
            },
            () = stopped(shutdown) => {
                let _ = tx.send(Err(Error::ShuttingDown.into())).await;
            }
        }
    });
    Ok(rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(n: usize, name_bytes: usize) -> pb::PersonTrainings {
        pb::PersonTrainings {
            person_id: format!("{n:018}"),
            items: vec![pb::ReturnedTraining {
                origin: "410100".into(),
                class: None,
                attendance: Some(pb::Attendance {
                    name: "x".repeat(name_bytes),
                    ..Default::default()
                }),
            }],
        }
    }

    #[test]
    fn chunks_are_bounded_by_count_and_bytes_and_flagged_first_and_last() {
        let digest = [7u8; DIGEST_LEN];
        let cases = [
            (0, 10, 1),
            (CHUNK_PEOPLE_MAX, 10, 1),
            (CHUNK_PEOPLE_MAX + 1, 10, 2),
            (3 * CHUNK_PEOPLE_MAX, 10, 3),
            // A quarter of a chunk's bytes each: beside the chunk's own room,
            // three fit, not four.
            (7, CHUNK_BYTES_MAX / 4, 3),
        ];
        for (people, name_bytes, expected) in cases {
            let sent: Vec<_> = (0..people).map(|n| person(n, name_bytes)).collect();
            let out = chunks(sent.clone(), true, &digest);
            assert_eq!(out.len(), expected, "{people} people of {name_bytes} bytes");
            for (i, c) in out.iter().enumerate() {
                assert_eq!(c.full, i == 0);
                assert_eq!(c.last, i + 1 == out.len());
                assert_eq!(c.digest.is_empty(), !c.last);
                assert!(c.people.len() <= CHUNK_PEOPLE_MAX);
                let bytes: usize = c.people.iter().map(codec::person_trainings_len).sum();
                assert!(bytes <= CHUNK_BYTES_MAX, "{bytes}");
            }
            let all: Vec<_> = out.into_iter().flat_map(|c| c.people).collect();
            assert_eq!(all, sent, "every person once, in order");
        }
    }
}
