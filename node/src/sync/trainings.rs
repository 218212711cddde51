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
use lunxun_core::returns::{DIGEST_LEN, Digest};
use lunxun_proto::v1 as pb;
use lunxun_proto::v1::sync_client::SyncClient;
use prost::Message;
use tonic::transport::Channel;
use tracing::{debug, info, instrument};

use super::client::{MESSAGE_BYTES_MAX, SESSION_IDLE_TIMEOUT, SyncError, status_error};
use crate::codec;
use crate::error::Error;
use crate::node::{Node, ReturnedApplied};

/// People in one chunk, at most (the parent closes a chunk at this count).
pub const CHUNK_PEOPLE_MAX: usize = 4_096;
/// Bytes of one chunk the parent fills, at most: well under
/// [`MESSAGE_BYTES_MAX`], which the transport enforces on every message.
pub const CHUNK_BYTES_MAX: usize = 4 * 1024 * 1024;
/// Trainings of one person in an answer, at most (a person attends a few
/// classes a year; a parent holding more for someone leaves them out).
pub const PERSON_ITEMS_MAX: usize = 4_096;
/// People named in one answer, at most (a province's subtree holds a few
/// hundred thousand).
pub const ANSWER_PEOPLE_MAX: usize = 2_000_000;
/// Encoded bytes of one whole answer, at most: what the child holds in
/// memory before it checks the answer.
pub const ANSWER_BYTES_MAX: usize = 512 * 1024 * 1024;

/// The answer is refused before it is even complete: a bound or the
/// protocol's shape.
fn refused(url: &str, reason: String) -> SyncError {
    SyncError::Trainings {
        url: url.to_owned(),
        reason,
    }
}

/// Reads the parent's whole answer from `stream`, within the bounds.
async fn read_answer(
    url: &str,
    stream: &mut tonic::Streaming<pb::TrainingsChunk>,
    node: &Node,
) -> Result<Answer, SyncError> {
    let mut answer = Answer {
        full: false,
        people: Vec::new(),
        digest: [0; DIGEST_LEN],
    };
    let mut bytes = 0usize;
    let mut chunk_no = 0usize;
    loop {
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
        bytes = bytes.saturating_add(chunk.encoded_len());
        if bytes > ANSWER_BYTES_MAX {
            return Err(refused(
                url,
                format!("chunks: more than {ANSWER_BYTES_MAX} bytes in all"),
            ));
        }
        if chunk.people.len() > CHUNK_PEOPLE_MAX {
            return Err(refused(
                url,
                format!(
                    "chunks[{chunk_no}].people: {} people, more than {CHUNK_PEOPLE_MAX}",
                    chunk.people.len()
                ),
            ));
        }
        if answer.people.len() + chunk.people.len() > ANSWER_PEOPLE_MAX {
            return Err(refused(
                url,
                format!("people: more than {ANSWER_PEOPLE_MAX}"),
            ));
        }
        if chunk_no == 0 {
            answer.full = chunk.full;
        } else if chunk.full {
            return Err(refused(
                url,
                format!("chunks[{chunk_no}].full: set after the first chunk"),
            ));
        }
        answer.people.reserve(chunk.people.len());
        for person in chunk.people {
            let index = answer.people.len();
            if person.items.len() > PERSON_ITEMS_MAX {
                return Err(refused(
                    url,
                    format!(
                        "people[{index}].items: {} trainings, more than {PERSON_ITEMS_MAX}",
                        person.items.len()
                    ),
                ));
            }
            let decoded = codec::decode_person_trainings(&node.orgs(), person)
                .map_err(|e| refused(url, format!("people[{index}].{}", e.0)))?;
            answer.people.push(decoded);
        }
        if chunk.last {
            answer.digest = Digest::try_from(chunk.digest.as_ref()).map_err(|_| {
                refused(
                    url,
                    format!("chunks[{chunk_no}].digest: not {DIGEST_LEN} bytes"),
                )
            })?;
            return Ok(answer);
        }
        chunk_no += 1;
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
    let answer = read_answer(url, &mut stream, node).await?;
    let named = answer.people.len();
    let full = answer.full;
    let applied = super::blocking(|| node.apply_returned(answer)).map_err(|e| match e {
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
