//! The gRPC API of orch: messages, clients and server traits for `orch.v1`.

/// Version 1 of the API.
pub mod v1 {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("orch.v1");
}

pub use v1::*;
