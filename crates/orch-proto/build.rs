//! Compiles `proto/orch/v1/*.proto` with protox, so no system `protoc` is needed.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Read when the script runs, not when it is compiled: a build script
    // compiled in another checkout (a copied target/) reads this one's files.
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
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
        "orch/v1/secrets.proto",
        "orch/v1/audit.proto",
        "orch/v1/tokens.proto",
        "orch/v1/automations.proto",
    ];
    for file in &files {
        println!("cargo:rerun-if-changed={}", root.join(file).display());
    }
    let descriptors = protox::compile(files, [&root])?;
    write_method_list(&descriptors)?;
    tonic_prost_build::configure().compile_fds(descriptors)?;
    Ok(())
}

/// Writes `grpc_methods.rs`: every method's path (`/orch.v1.Service/Method`),
/// so the server's authorization test can check each has a rule.
fn write_method_list(
    descriptors: &prost_types::FileDescriptorSet,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut paths = Vec::new();
    for file in &descriptors.file {
        for service in &file.service {
            for method in &service.method {
                paths.push(format!(
                    "/{}.{}/{}",
                    file.package(),
                    service.name(),
                    method.name()
                ));
            }
        }
    }
    let body: String = paths.iter().map(|p| format!("    {p:?},\n")).collect();
    let out = PathBuf::from(std::env::var("OUT_DIR")?).join("grpc_methods.rs");
    std::fs::write(
        out,
        format!(
            "/// Every gRPC method's path, from the compiled descriptors.\npub const GRPC_METHODS: &[&str] = &[\n{body}];\n"
        ),
    )?;
    Ok(())
}
