//! lunxun-node: everything one petition bureau needs on its own.
//!
//! # Layout
//!
//! - [`model`]: the domain (people, roster entries, classes, attendance), plain Rust.
//! - [`orgs`]: the org directory (the real division tree, extensible).
//! - [`policy`]: the policy document (cycles, hour thresholds, windows) with the texts' defaults.
//! - [`rules`]: the rules of DOMAIN.md as pure functions over records.
//! - [`changelog`]: the per-origin hash-chained change log (pure).
//! - [`codec`]: domain values to and from the wire contract (the only prost user).
//! - [`store`]: the sled store (the only sled user).
//! - [`view`]: the in-memory materialized view every query reads.
//! - [`node`]: a node: store + view + directory + policy, and the write path.
//! - [`import`]: CSV/XLSX rosters and trainings into validated records.
//! - [`coverage`]: rotation and hour coverage per node and subtree.
//! - [`generate`]: a deterministic generator of realistic rosters and trainings.
//! - [`cli`], [`render`]: the command line and its output formats.
//! - [`config`], [`error`], [`logging`]: configuration, errors, logs.

pub mod changelog;
pub mod cli;
pub mod codec;
pub mod config;
pub mod coverage;
pub mod error;
pub mod generate;
pub mod import;
pub mod logging;
pub mod model;
pub mod node;
pub mod orgs;
pub mod policy;
pub mod render;
pub mod rules;
pub mod store;
pub mod view;
