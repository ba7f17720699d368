# Developer shortcuts (https://just.systems); each recipe is a plain cargo command.

# Run the orchestrator locally on SQLite.
server:
    cargo run --release --bin orch -- server start

# A worker on the default pool.
worker pool="sentinel-pool":
    cargo run --release --bin orch -- worker start --pool {{pool}}

# The whole test suite (what CI runs, plus fmt and clippy).
test:
    cargo test --workspace

# Everything CI checks.
ci:
    bash .ci/run

# Core loop figures (see docs/benchmarks.md).
bench:
    cargo build --release -p orch-cli
    cargo bench -p orch-e2e --bench core
