//! `Sync.Trainings`, the parent's side: the trainings this hub returns to a
//! child ([`Node::returning`], `lunxun_core::returns`) — the attendance
//! and class records it holds of the people on the rosters of the child's
//! subtree, of classes organized outside that subtree, including what its
//! own parent returned to it. So a national class reaches a county through
//! the province and the prefecture, one session at a time.
//!
//! The answer is computed under the view's read lock, off the async
//! runtime, and sent in chunks bounded by count and bytes
//! ([`codec::answer_chunks`]). What each child was last sent is the node's
//! (shared with the acknowledgements of bundles imported here): a child
//! whose digest is that answer's gets only the people changed since; any
//! other (a broken stream, a restart of either side) gets the whole set.

use std::sync::Arc;

use lunxun_core::returns::{DIGEST_LEN, Digest};
use lunxun_node::codec;
use lunxun_node::node::{Node, now_ms};
use lunxun_node::orgs::OrgId;
use lunxun_node::sync::blocking;
use lunxun_proto::v1 as pb;
use tokio::sync::{mpsc, watch};
use tonic::Status;
use tracing::{info, warn};

use crate::error::Error;

/// Chunks buffered towards the child.
const TRAININGS_OUTBOUND_MAX: usize = 4;

/// Resolves when the server shuts down; never, if nothing can say so any more.
async fn stopped(mut shutdown: watch::Receiver<bool>) {
    if shutdown.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Serves one `Trainings` request of `child` (already admitted; `slot` is
/// its session slot, held until the answer is sent): the stream of chunks.
/// What it sends is remembered as the child's from now on.
pub fn serve<S: Send + 'static>(
    node: Arc<Node>,
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
        let (returning, chunks) = blocking(|| {
            let returning = node.returning(child, Some(&child_digest));
            let chunks = codec::answer_chunks(&node.orgs(), &returning.answer, now_ms());
            (returning, chunks)
        });
        if returning.left_out > 0 {
            warn!(child = %code, people = returning.left_out, "people whose returned trainings exceed the limits were left out");
        }
        let (full, people) = (returning.answer.full, returning.answer.people.len());
        node.remember_returned(child, returning.sent);
        let count = chunks.len();
        let send_all = async {
            for chunk in chunks {
                if tx.send(Ok(chunk)).await.is_err() {
                    return false;
                }
            }
            true
        };
        tokio::select! {
            sent = send_all => if sent {
                info!(child = %code, full, people, chunks = count, "returned trainings sent");
            },
            () = stopped(shutdown) => {
                let _ = tx.send(Err(Error::ShuttingDown.into())).await;
            }
        }
    });
    Ok(rx)
}
