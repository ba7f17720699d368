//! Every server integration test, written once and run on each backend.

mod api_version;
mod auth;
mod automations;
mod boundary;
mod calendars;
mod catch_up;
mod concurrency;
mod effects;
mod layers;
mod leases;
mod ops;
mod scheduler;
mod security;
mod state_batches;
mod subflows;
mod token_cache;

#[tokio::test]
async fn every_test_runs_on_the_backend_of_its_binary() {
    let harness = crate::common::Harness::start("2026-01-05T09:00:00Z", "default").await;
    assert_eq!(harness.store().backend(), crate::BACKEND);
}
