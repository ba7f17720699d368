//! The gRPC API of orch: messages, clients and server traits for `orch.v1`, the
//! conversions between its state enum and orch-core's, and the JSON shape of each
//! record that the REST API and the CLI's `--output json` both print.

/// Version 1 of the API.
pub mod v1 {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("orch.v1");
}

pub mod json;
pub mod state;

pub use v1::*;
