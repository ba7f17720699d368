# orch's image: the `orch` binary (server, worker, CLI) and `orch-sandbox`.
#
# For users, a normal multi-stage build from the workspace:
#   docker build -t orch:latest .
# Where no image can be pulled (this project's machines and CI), build the
# binaries on the host and package them FROM scratch instead:
#   deploy/docker/build-local.sh            # see docs/operations.md
#
# The server keeps its state in /var/lib/orch (ORCH_HOME): mount a volume there.

ARG RUST_IMAGE=rust:1-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${RUST_IMAGE} AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p orch-cli --bin orch --bin orch-sandbox \
    && install -D -m 0755 target/release/orch /out/orch \
    && install -D -m 0755 target/release/orch-sandbox /out/orch-sandbox

FROM ${RUNTIME_IMAGE}
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home-dir /var/lib/orch --create-home --shell /usr/sbin/nologin orch
COPY --from=build /out/ /usr/local/bin/
USER orch
ENV ORCH_HOME=/var/lib/orch
VOLUME /var/lib/orch
EXPOSE 4200
ENTRYPOINT ["orch"]
CMD ["server", "start", "--host", "0.0.0.0", "--allow-plaintext"]
