//! The lunxun wire contract: records, changes, the `Sync` service a child uses
//! to push its subtree upward, and the `Admin` service the CLI uses to reach a
//! running daemon. Generated from `proto/lunxun/v1/lunxun.proto`; nothing else
//! lives in this crate.

#![allow(clippy::all, clippy::pedantic, missing_docs)]

/// Package `lunxun.v1`.
pub mod v1 {
    tonic::include_proto!("lunxun.v1");
}
