//! lunxun-node: everything one petition bureau needs on its own.
//!
//! # Layout
//!
//! - [`model`]: the domain (people, roster entries, classes, attendance), plain Rust.
//! - [`orgs`]: the org directory (the real division tree, extensible).
//! - [`policy`]: the policy document: every number the rules use, defaults from the documents.
//! - [`rules`]: rotation status, hour tallies and personnel consequences, as pure functions.

pub mod model;
pub mod orgs;
pub mod policy;
pub mod rules;
