//! The hub's errors towards its children: one variant per way a session or a
//! restore is refused or ends early, each with its `tonic::Status` code (the
//! one place they are mapped) and, for the child's own faults, the reason it
//! is counted under in `status`.

use lunxun_node::store::StoreError;
use lunxun_node::sync::client::{PROTOCOL_OLDEST_SERVED, PROTOCOL_VERSION, release_of};
use tonic::{Code, Status};

use lunxun_core::session::parent::{CHILD_SESSIONS_MAX, OverBudget};
use lunxun_core::session::quota::Exceeded;
use lunxun_node::sync::children::QUOTA_REASON;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A certificate in the peer's chain is revoked here.
    #[error("certificate serial {serial} is revoked")]
    RevokedSerial { serial: String },
    /// The peer's org is revoked here.
    #[error("org {org} is revoked here")]
    RevokedOrg { org: String },
    /// The peer's certificate chain does not vouch for an org we accept.
    #[error("{0}")]
    Certificate(String),
    /// No client certificate, where one is required.
    #[error("no client certificate carrying a lunxun org (URI SAN lunxun://org/CODE)")]
    NoCertificate,
    /// The peer's org is not in our org directory.
    #[error("org {code} is not in our org directory")]
    UnknownOrg { code: String },
    /// The peer's org is not one of our direct children.
    #[error("{code} is not a direct child of {parent}")]
    NotAChild { code: String, parent: String },
    /// The child already has as many sessions open as it may.
    #[error("{code} already has {open} sessions open (at most {CHILD_SESSIONS_MAX})")]
    TooManySessions { code: String, open: usize },
    /// The child speaks a protocol this parent does not serve: older than
    /// one version before ours, or newer than ours.
    #[error(
        "protocol {spoken} is not served here (this parent speaks {PROTOCOL_VERSION} and serves \
         {PROTOCOL_OLDEST_SERVED} to {PROTOCOL_VERSION}): {}",
        if *spoken > PROTOCOL_VERSION {
            format!("upgrade this parent to {} before its children", release_of(*spoken))
        } else {
            format!("install {} at the child", release_of(PROTOCOL_VERSION))
        }
    )]
    Protocol { spoken: u32 },
    /// The first message of a session is not a Hello.
    #[error("a session starts with Hello")]
    NoHello,
    /// A Hello in the middle of a session.
    #[error("a second Hello")]
    SecondHello,
    /// A message with nothing in it.
    #[error("an empty message")]
    EmptyMessage,
    /// A batch or change that does not decode or does not hash.
    #[error("{0}")]
    Malformed(String),
    /// A change of an origin outside the child's subtree, or unknown.
    #[error("{0}")]
    Outside(String),
    /// More changes than one session may carry.
    #[error("{0}")]
    SessionChanges(OverBudget),
    /// The child is over one of its quotas (per day, or roster entries held).
    #[error("{0}")]
    Quota(Exceeded),
    /// A message above the size limit (tonic's own check).
    #[error("{}", .0.message())]
    TooLarge(Status),
    /// The child's stream failed (tonic's status, passed on as is).
    #[error("{}", .0.message())]
    Stream(Status),
    /// The child sent no Hello in time.
    #[error("the child sent no Hello")]
    HelloTimeout,
    /// The child closed its stream before its Hello.
    #[error("the child closed the stream before its Hello")]
    ClosedBeforeHello,
    /// The child sent nothing for too long.
    #[error("the child sent nothing for too long")]
    Idle,
    /// The child closed its stream before Done.
    #[error("the child closed the stream before Done")]
    ClosedBeforeDone,
    /// The receiving side of the session ended.
    #[error("the session ended")]
    Ended,
    /// The child stopped taking our messages.
    #[error("the child went away")]
    Gone,
    /// The child stopped reading acks.
    #[error("the child stopped reading acks")]
    AcksUnread,
    /// The durable append failed.
    #[error("store: {0}")]
    Store(lunxun_node::error::Error),
    /// Reading our log for a restore failed.
    #[error("{0}")]
    Scan(StoreError),
    /// A restore batch does not encode.
    #[error("{0}")]
    Encode(String),
    /// The server is shutting down.
    #[error("the server is shutting down")]
    ShuttingDown,
}

impl Error {
    /// What tonic's stream reported, classified: a message above the size
    /// limit is the child's fault, the rest the link's.
    pub fn from_stream(status: Status) -> Error {
        match status.code() {
            Code::OutOfRange | Code::ResourceExhausted => Error::TooLarge(status),
            _ => Error::Stream(status),
        }
    }

    /// The reason this refusal is counted under in `status`, or None when it
    /// is not the child's doing (the link's, or ours).
    pub fn reason(&self) -> Option<&'static str> {
        match self {
            Error::RevokedSerial { .. } | Error::RevokedOrg { .. } => Some("revoked"),
            Error::Certificate(_) | Error::NoCertificate => Some("certificate"),
            Error::UnknownOrg { .. } | Error::NotAChild { .. } => Some("not-a-child"),
            Error::TooManySessions { .. } => Some("too-many-sessions"),
            Error::Protocol { .. } => Some("protocol"),
            Error::NoHello | Error::SecondHello | Error::EmptyMessage | Error::Malformed(_) => {
                Some("malformed")
            }
            Error::Outside(_) => Some("outside-subtree"),
            Error::SessionChanges(_) | Error::TooLarge(_) => Some("limits"),
            Error::Quota(_) => Some(QUOTA_REASON),
            Error::Stream(_)
            | Error::HelloTimeout
            | Error::ClosedBeforeHello
            | Error::Idle
            | Error::ClosedBeforeDone
            | Error::Ended
            | Error::Gone
            | Error::AcksUnread
            | Error::Store(_)
            | Error::Scan(_)
            | Error::Encode(_)
            | Error::ShuttingDown => None,
        }
    }

    fn code(&self) -> Code {
        match self {
            Error::RevokedSerial { .. }
            | Error::RevokedOrg { .. }
            | Error::Certificate(_)
            | Error::UnknownOrg { .. }
            | Error::NotAChild { .. }
            | Error::Outside(_) => Code::PermissionDenied,
            Error::NoCertificate => Code::Unauthenticated,
            Error::TooManySessions { .. } | Error::SessionChanges(_) | Error::Quota(_) => {
                Code::ResourceExhausted
            }
            Error::Protocol { .. } => Code::FailedPrecondition,
            Error::NoHello | Error::SecondHello | Error::EmptyMessage | Error::Malformed(_) => {
                Code::InvalidArgument
            }
            Error::TooLarge(s) | Error::Stream(s) => s.code(),
            Error::HelloTimeout | Error::Idle | Error::AcksUnread => Code::DeadlineExceeded,
            Error::ClosedBeforeHello | Error::ClosedBeforeDone | Error::Ended | Error::Gone => {
                Code::Cancelled
            }
            Error::Store(_) | Error::Scan(_) | Error::Encode(_) => Code::Internal,
            Error::ShuttingDown => Code::Unavailable,
        }
    }
}

impl From<Error> for Status {
    fn from(e: Error) -> Status {
        match e {
            Error::TooLarge(status) | Error::Stream(status) => status,
            e => Status::new(e.code(), e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_the_childs_faults_only() {
        let status = |e: Error| Status::from(e).code();
        assert_eq!(
            status(Error::Outside(
                "change of origin 420102, outside 410100's subtree".into()
            )),
            Code::PermissionDenied
        );
        assert_eq!(
            Error::Outside(String::new()).reason(),
            Some("outside-subtree")
        );
        assert_eq!(
            status(Error::Malformed(String::new())),
            Code::InvalidArgument
        );
        assert_eq!(Error::Malformed(String::new()).reason(), Some("malformed"));
        let too_large = Error::from_stream(Status::out_of_range("too large"));
        assert_eq!(too_large.reason(), Some("limits"));
        assert_eq!(status(too_large), Code::OutOfRange);
        let over = || Error::SessionChanges(OverBudget { max: 10 });
        assert_eq!(over().reason(), Some("limits"));
        assert_eq!(status(over()), Code::ResourceExhausted);
        for link in [
            Error::from_stream(Status::cancelled("gone")),
            Error::from_stream(Status::unknown("?")),
            Error::Idle,
            Error::ClosedBeforeDone,
            Error::Encode("x".into()),
            Error::ShuttingDown,
        ] {
            assert_eq!(link.reason(), None, "{link:?}");
        }
        let unknown = Status::from(Error::from_stream(Status::unknown("?")));
        assert_eq!((unknown.code(), unknown.message()), (Code::Unknown, "?"));
    }

    #[test]
    fn messages_are_what_children_see() {
        let over = OverBudget {
            max: crate::service::SESSION_CHANGES_MAX,
        };
        let s = Status::from(Error::SessionChanges(over));
        assert_eq!(s.message(), "more than 2000000 changes in one session");
        let s = Status::from(Error::TooManySessions {
            code: "410102".into(),
            open: 2,
        });
        assert_eq!(s.code(), Code::ResourceExhausted);
        assert_eq!(
            s.message(),
            "410102 already has 2 sessions open (at most 2)"
        );
        let s = Status::from(Error::Store(lunxun_node::error::Error::Corrupt("x".into())));
        assert_eq!(
            (s.code(), s.message()),
            (Code::Internal, "store: store is corrupt: x")
        );
    }
}
