//! Hardening under careless or hostile input (issue 28): restores that can
//! never lose the database, secrets hidden line by line wherever a flow
//! shows them, one range per setting whatever its source, files read with a
//! size limit, one name rule per kind at every entry point, and why no run
//! is coming. Each test failed on the code before its fix.
//!
//! Earlier tests of the same issue live beside the features they test:
//! `operations/restore.rs`, `bad_input/hardening.rs`, `security.rs`
//! (multi-line secrets in a shell flow's output), `artifacts.rs` (keys of
//! dots, unknown task runs), `scheduling.rs` (upcoming).

use std::time::Duration;

#[path = "hardening/files.rs"]
mod files;
#[path = "hardening/names.rs"]
mod names;
#[path = "hardening/restore.rs"]
mod restore;
#[path = "hardening/secrets.rs"]
mod secrets;
#[path = "hardening/settings.rs"]
mod settings;
#[path = "hardening/upcoming.rs"]
mod upcoming;

const WAIT: Duration = Duration::from_secs(60);

/// The flows of `tests/flows`, written with orch-sdk.
const TESTFLOWS: &str = env!("CARGO_BIN_EXE_orch-testflows");

/// Runs `f` on a fresh tokio runtime (for the tests that speak gRPC).
fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Runtime::new().unwrap().block_on(f)
}

/// A gRPC channel to `server` carrying its admin key.
async fn admin_channel(server: &orch_e2e::TestServer) -> orch_proto::credentials::AuthChannel {
    let url = server.url().to_owned();
    let channel = tonic::transport::Endpoint::from_shared(url.clone())
        .unwrap()
        .connect()
        .await
        .expect("connect");
    orch_proto::credentials::with_credentials(channel, &url, Some(&server.admin_key()))
}
