//! lunxun-node: everything one petition bureau needs on its own.
//!
//! # Layout
//!
//! - [`model`]: the domain (people, roster entries, classes, attendance), plain Rust.
//! - [`orgs`]: the org directory (the real division tree, extensible).
//! - [`policy`]: the policy document (cycles, hour thresholds, windows) with the texts' defaults.
//! - [`rules`]: the rules of DOMAIN.md as pure functions over records.
//! - [`import`]: CSV/XLSX rosters and trainings into validated records.

pub mod import;
pub mod model;
pub mod orgs;
pub mod policy;
pub mod rules;
