//! The gRPC API of orch: messages, clients and server traits for `orch.v1`, the
//! conversions between its state enum and orch-core's, and the JSON shape of each
//! record that the REST API and the CLI's `--output json` both print.

/// Version 1 of the API.
pub mod v1 {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("orch.v1");
}

pub mod credentials;
pub mod deploy;
pub mod json;
pub mod private_files;
pub mod runs;
pub mod state;
pub mod tls;

pub use v1::*;

/// Largest gRPC message the server, the CLI, the worker and the SDK send or
/// accept: 16 MiB (tonic's default is 4 MiB for decoding). The server keeps
/// every response under it: claims and log pages are cut by size
/// (`orch_core::limits`).
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// Most state reports one `SetFlowRunStates` call may carry.
pub const MAX_STATE_REPORTS: usize = 1000;

include!(concat!(env!("OUT_DIR"), "/grpc_methods.rs"));
