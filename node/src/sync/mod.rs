//! Upward sync: the child's side of the protocol.
//!
//! - [`session`]: one session as a state machine without I/O.
//! - [`outbound`]: what is sent of an origin's log: runs ending at a signed checkpoint.
//! - [`client`]: the transport that drives it over `Sync.Session`, and the restore stream.
//! - [`trainings`]: the trainings the parent returns, fetched after a session and checked whole.
//! - [`worker`]: the upstream worker: owns the connection, runs sessions (until done), its background loop (debounce, interval, backoff) and its status.
//! - [`children`]: what a parent records of each child's syncs.

pub mod children;
pub mod client;
pub mod outbound;
/// The child's session machine, from the core.
pub use lunxun_core::session::child as session;
pub mod trainings;
pub mod worker;

/// Runs blocking work (sled, compression) from async code: off the runtime's
/// worker on a multi-thread runtime, inline on a current-thread one (the
/// deterministic simulation runs everything on one thread).
pub fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}
