//! lunxun-core: the pure layer of lunxun — what a reader needs to learn the
//! domain and the protocol, with no I/O at all.
//!
//! Nothing here touches the network, the disk, the clock or a runtime: no
//! tokio, tonic, prost or sled (a test in this crate checks the sources for
//! them). Dates (`as_of`) and times (`now_ms`) are arguments; the node crate
//! supplies them.
//!
//! # Layout, from the bottom up
//!
//! - [`model`]: the domain (people, roster entries, classes, attendance), plain Rust.
//! - [`orgs`]: the org directory (the real division tree, embedded; extensible from text).
//! - [`policy`]: the policy document (cycles, hour thresholds, windows) with the texts' defaults.
//! - [`rules`]: the rules of DOMAIN.md as pure functions over records.
//! - [`changelog`]: the per-origin hash-chained change log.
//! - [`bulletin`]: the national series sent down the tree (policy, directory, revocations) and what is in force on a date.
//! - [`checkpoint`]: an origin's signature over its log up to a seq, and the rule that applies it.
//! - [`placement`]: what each received change is against the heads held (next, duplicate, fork, gap, quarantine).
//! - [`view`]: the in-memory materialized view every query reads, and its snapshot.
//! - [`bytes`]: a bounded compact binary encoding for the snapshot.
//! - [`figures`]: one roster entry's statuses and the counts they add up to.
//! - [`rollup`]: coverage figures maintained incrementally as changes arrive.
//! - [`coverage`]: the contract's coverage report for a subtree.
//! - [`trend`]: a node's coverage and hour compliance at each month end of the plan period.
//! - [`archive`]: one person's training archive (培训档案), year by year.
//! - [`returns`]: trainings a parent returns to a child (people of its rosters, classes held elsewhere).
//! - [`obligations`]: which of the four bureau obligations each node of a subtree met in a year.
//! - [`session`]: the sync session machines, the child's and the parent's.

pub mod archive;
pub mod bulletin;
pub mod bytes;
pub mod changelog;
pub mod checkpoint;
pub mod corrections;
pub mod coverage;
pub mod figures;
pub mod hashing;
pub mod model;
pub mod obligations;
pub mod orgs;
pub mod placement;
pub mod policy;
pub mod returns;
pub mod rollup;
pub mod rules;
pub mod session;
pub mod trend;
pub mod view;
