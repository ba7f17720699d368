//! The client crate against a real gRPC server on loopback.

mod credentials;
mod failover;
mod server;
mod shipper;
mod states;

use std::net::SocketAddr;

/// An address on loopback where nothing listens (for now).
pub fn free_address() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}
