//! Returned trainings, the child's transport: after a session, asks the
//! parent (`Sync.Trainings`) for the trainings it returns to us, saying what
//! we hold (our combined digest), reads the whole answer within named
//! bounds — each checked before what it bounds is decoded or kept — and
//! hands it to the node, which checks it whole against our rosters, our
//! subtree and the parent's digest before it stores anything
//! ([`Node::apply_returned`]). A broken stream applies nothing: the next
//! answer is then the whole set, since our digest is not what the parent
//! sent last.

use std::time::Duration;

use lunxun_core::returns::child::Answer;
use lunxun_proto::v1 as pb;
use lunxun_proto::v1::sync_client::SyncClient;
use prost::Message;
use tonic::transport::Channel;
use tracing::{debug, info, instrument};

use super::client::{MESSAGE_BYTES_MAX, SESSION_IDLE_TIMEOUT, SyncError, status_error};
use crate::codec::{self, AnswerReader};
use crate::error::Error;
use crate::node::{Node, ReturnedApplied};

pub use crate::codec::trainings::{
    ANSWER_BYTES_MAX, ANSWER_PEOPLE_MAX, CHUNK_BYTES_MAX, CHUNK_PEOPLE_MAX, PERSON_ITEMS_MAX,
};

/// The answer is refused before it is even complete: a bound or the
/// protocol's shape.
fn refused(url: &str, reason: String) -> SyncError {
    SyncError::Trainings {
        url: url.to_owned(),
        reason,
    }
}

/// Reads the parent's whole answer from `stream`, within the bounds
/// ([`AnswerReader`]), and when the parent computed it.
async fn read_answer(
    url: &str,
    stream: &mut tonic::Streaming<pb::TrainingsChunk>,
    node: &Node,
) -> Result<(Answer, i64), SyncError> {
    let mut reader = AnswerReader::default();
    let orgs = node.orgs();
    loop {
        let chunk_no = reader.chunks();
        let chunk = match tokio::time::timeout(SESSION_IDLE_TIMEOUT, stream.message()).await {
            Err(_) => {
                return Err(SyncError::Link(
                    "the parent stopped sending trainings".into(),
                ));
            }
            Ok(Err(s))
                if matches!(
                    s.code(),
                    tonic::Code::OutOfRange | tonic::Code::ResourceExhausted
                ) =>
            {
                return Err(refused(
                    url,
                    format!("chunks[{chunk_no}]: larger than {MESSAGE_BYTES_MAX} bytes"),
                ));
            }
            Ok(Err(s)) => return Err(status_error(url, &s)),
            Ok(Ok(None)) => {
                return Err(SyncError::Link(
                    "the parent's trainings ended before their last chunk".into(),
                ));
            }
            Ok(Ok(Some(chunk))) => chunk,
        };
        let len = chunk.encoded_len();
        if reader
            .push(&orgs, chunk, len)
            .map_err(|e| refused(url, e.0))?
        {
            return Ok(reader.finish());
        }
    }
}

/// Asks the parent for the trainings it returns to us and applies them when
/// the whole answer checks out. `None` when the parent does not serve them
/// (an older version).
#[instrument(skip_all, fields(org = %node.code()))]
pub async fn fetch(
    node: &Node,
    url: &str,
    client: &mut SyncClient<Channel>,
) -> Result<Option<ReturnedApplied>, SyncError> {
    let request = codec::trainings_request(node.code(), &node.returned_digest());
    let mut stream =
        match tokio::time::timeout(SESSION_IDLE_TIMEOUT, client.trainings(request)).await {
            Err(_) => {
                return Err(SyncError::Link(
                    "the parent did not answer for trainings".into(),
                ));
            }
            Ok(Err(s)) if s.code() == tonic::Code::Unimplemented => {
                debug!("the parent does not return trainings (an older version)");
                return Ok(None);
            }
            Ok(Err(s)) => return Err(status_error(url, &s)),
            Ok(Ok(response)) => response.into_inner(),
        };
    let (answer, at_ms) = read_answer(url, &mut stream, node).await?;
    let named = answer.people.len();
    let full = answer.full;
    let applied = super::blocking(|| node.apply_returned(answer, at_ms)).map_err(|e| match e {
        Error::Returned(r) => refused(url, r.to_string()),
        e => SyncError::Node(e),
    })?;
    // Let the parent close its side (nothing more is expected).
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.message()).await;
    info!(
        named,
        full,
        changed = applied.people,
        "returned trainings received"
    );
    Ok(Some(applied))
}
