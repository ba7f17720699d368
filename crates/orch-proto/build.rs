//! Compiles `proto/orch/v1/*.proto` with protox, so no system `protoc` is needed.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let files = [
        "orch/v1/common.proto",
        "orch/v1/work_pools.proto",
        "orch/v1/deployments.proto",
        "orch/v1/flow_runs.proto",
        "orch/v1/workers.proto",
        "orch/v1/server.proto",
        "orch/v1/schedules.proto",
        "orch/v1/concurrency.proto",
        "orch/v1/task_runs.proto",
        "orch/v1/artifacts.proto",
        "orch/v1/automations.proto",
    ];
    for file in &files {
        println!("cargo:rerun-if-changed={}", root.join(file).display());
    }
    let descriptors = protox::compile(files, [&root])?;
    tonic_prost_build::configure().compile_fds(descriptors)?;
    Ok(())
}
