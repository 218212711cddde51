//! lunxun-node: everything one petition bureau needs on its own.
//!
//! # Layout
//!
//! - [`model`]: the domain (people, roster entries, classes, attendance), plain Rust.
//! - [`orgs`]: the org directory (the real division tree, extensible).
//! - [`policy`]: the policy document: every number the rules use, defaults from the documents.

pub mod model;
pub mod orgs;
pub mod policy;
