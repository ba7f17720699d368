# Developer shortcuts (https://just.systems); each recipe is a plain cargo command.

# The whole local orchestrator (server, sentinel deployed, workers) in the background.
up:
    cargo run --release --bin orch -- up --background

# Print the dashboard URL and open it in a browser when one is available.
ui:
    #!/usr/bin/env sh
    url="${ORCH_API_URL:-http://127.0.0.1:4200}/"
    echo "orch dashboard: $url"
    if command -v xdg-open >/dev/null 2>&1; then
        xdg-open "$url" >/dev/null 2>&1 || true
    elif command -v open >/dev/null 2>&1; then
        open "$url" || true
    fi

# Stop what `just up` started (gracefully).
stop:
    cargo run --release --bin orch -- down

# Run the orchestrator locally on SQLite (in the foreground).
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

# Pruning under API load (see docs/benchmarks.md).
bench-prune:
    cargo build --release -p orch-cli
    cargo bench -p orch-e2e --bench prune

# Core loop figures (see docs/benchmarks.md).
bench:
    cargo build --release -p orch-cli
    cargo bench -p orch-e2e --bench core
