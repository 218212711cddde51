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
//! - [`node`]: a node: store + view + directory + policy, and the write paths.
//! - [`ingest`]: verifying and placing changes written elsewhere (sync, restore).
//! - [`sync`]: upward sync, the child's side: the session machine, transport, worker.
//! - [`import`]: CSV/XLSX rosters, trainings and obligation events into validated records.
//! - [`alerts`]: alerts about the direct subordinates (silent, refused, held back, over a quota).
//! - [`app`]: the application layer the CLI and the daemon call: init, import, sync until done, restore (and its fork policy), status.
//! - [`coverage`]: rotation and hour coverage per node and subtree.
//! - [`rollup`]: coverage rollups maintained incrementally as changes arrive.
//! - [`obligations`]: which bureau obligations each node of a subtree met in a year.
//! - [`reports`]: one person's record, the personnel lists, the 通报, XLSX/CSV export.
//! - [`tongbao_docx`]: the 通报 as a Word document (title, summary, ranking, obligations).
//! - [`archive_xlsx`]: the personal training archive (培训档案) as the workbook a personnel office files.
//! - [`daemon`], [`admin`]: `serve`'s tasks, and the local endpoint other commands use while it runs.
//! - [`command`]: what running a command means (its output, its failure and exit code).
//! - [`cli`], [`render`]: the command line (it parses and renders) and its output formats.
//! - [`tls`], [`certs`]: mutual TLS between nodes, and the certificates for it.
//! - [`config`], [`error`], [`logging`], [`clock`]: configuration, errors, logs, the bureau's day and time zone.

// The pure layer, re-exported under the paths the rest of this crate (and
// its users) name: `lunxun_node::model` is `lunxun_core::model`.
pub use lunxun_core::{
    archive, changelog, checkpoint, coverage, figures, model, obligations, orgs, placement, policy,
    rollup, rules, view,
};

pub mod accounts;
pub mod admin;
pub mod alerts;
pub mod app;
pub mod archive_xlsx;
pub mod certs;
pub mod cli;
pub mod clock;
pub mod codec;
pub mod command;
pub mod config;
pub mod daemon;
pub mod error;
pub mod import;
pub mod imports;
pub mod ingest;
pub mod logging;
pub mod node;
pub mod render;
pub mod reports;
pub mod store;
pub mod sync;
pub mod tls;
pub mod tongbao_docx;
