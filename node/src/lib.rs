//! lunxun-node: everything one petition bureau needs on its own.
//!
//! # Layout
//!
//! - [`model`]: the domain (people, roster entries, classes, attendance), plain Rust.
//! - [`orgs`]: the org directory (the real division tree, extensible).
//! - [`import`]: roster and training files (CSV in UTF-8 or GBK, XLSX) read and
//!   checked into domain records; the caller decides what to store.

pub mod import;
pub mod model;
pub mod orgs;
