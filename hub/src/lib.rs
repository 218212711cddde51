//! lunxun-hub: a node that also accepts its subordinates' syncs.
//!
//! A prefecture, a province or the national bureau runs `lunxun-hub`; it has
//! every command of `lunxun-node` (this crate reuses the node's library and
//! CLI) plus what a bureau with subordinates needs.
//!
//! # Layout
//!
//! - [`cli`]: the hub's command line, a superset of the node's, and `serve`.
//! - [`service`]: the children-facing sync service (sessions, restore).
//! - [`returns`]: the trainings returned to each child (`Sync.Trainings`).
//! - [`quota`]: per-child quotas (changes and bytes per day, roster entries).
//! - [`dashboard`]: the web dashboard and the HTTP API (`serve --http`).
//! - [`error`]: the service's errors, and the one place they become a `tonic::Status`.
//! - [`identity`]: who a peer is, from its certificate.
//! - [`listener`]: the mutual-TLS listener (handshakes timed, refusals counted).
//! - [`demo`]: the newcomer's first command.

pub mod cli;
pub mod dashboard;
pub mod demo;
pub mod error;
pub mod identity;
pub mod listener;
pub mod quota;
pub mod returns;
pub mod service;
