//! Every store integration test, written once and run on each backend.

mod artifacts;
mod automation_loops;
mod automations;
mod backup;
mod big_tables;
mod claims;
mod containers;
mod deployments;
mod duties;
mod flow_runs;
mod late_runs;
mod leases;
mod log_partitions;
mod logs;
mod overview_rollups;
mod retention;
mod scheduling;
mod security;
mod state_paths;
mod subflow_deletion;
mod subflows;
mod task_runs;
mod transitions;
mod usage;
mod work_pools;
mod workers;

#[tokio::test]
async fn every_test_runs_on_the_backend_of_its_binary() {
    let store = crate::common::store().await;
    assert_eq!(store.backend(), crate::BACKEND);
}
