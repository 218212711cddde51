//! The sync session machines, one per side, as inputs → outputs without I/O.
//!
//! - [`child`]: the child's side — what to send above the parent's vector,
//!   the window, the acks, forks and lost tails, completion.
//! - [`parent`]: the parent's side — the change budget, which verified
//!   batches are appended together, when each may be acknowledged, which
//!   origins are held.
//! - [`quota`]: the parent's per-child quotas — changes and bytes per day,
//!   roster entries held — reserved as batches arrive, settled with the
//!   append.
//!
//! The transports in `lunxun-node` (child) and `lunxun-hub` (parent) only move
//! bytes between the network, the store and these machines.

pub mod child;
pub mod parent;
pub mod quota;

#[cfg(test)]
mod fixtures;
