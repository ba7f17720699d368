#!/bin/sh
# Builds the orch image without pulling anything: compiles orch on this host,
# copies the binaries and the shared libraries they load (ldd) into a root
# file system, and builds deploy/docker/Dockerfile.local FROM scratch.
#
#   deploy/docker/build-local.sh [TAG] [PROFILE]     # defaults: orch:local release
#
# PROFILE is a cargo profile (release, or dev for a quick debug image).
# ORCH_BINARIES=DIR skips the build and packages DIR/orch and DIR/orch-sandbox
# (the end-to-end tests package the binaries they were built with).
set -eu
tag=${1:-orch:local}
profile=${2:-release}
root=$(cd "$(dirname "$0")/../.." && pwd)
case $profile in dev) dir=debug ;; *) dir=$profile ;; esac
if [ -n "${ORCH_BINARIES:-}" ]; then
    binaries=$ORCH_BINARIES
else
    cargo build --profile "$profile" -p orch-cli --bin orch --bin orch-sandbox -j "${JOBS:-2}" \
        --manifest-path "$root/Cargo.toml"
    binaries=$root/target/$dir
fi
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
rootfs=$context/rootfs
mkdir -p "$rootfs/usr/local/bin" "$rootfs/etc" "$rootfs/tmp" "$rootfs/var/lib/orch"
chmod 1777 "$rootfs/tmp"
for binary in orch orch-sandbox; do
    cp "$binaries/$binary" "$rootfs/usr/local/bin/"
    # Every library the dynamic loader resolves, and the loader itself.
    ldd "$binaries/$binary" | awk '/=>/ { print $3 } /ld-linux/ && !/=>/ { print $1 }' |
        while read -r library; do
            [ -n "$library" ] && cp --parents -L -n "$library" "$rootfs/"
        done
done
echo "orch:x:10001:10001:orch:/var/lib/orch:/nonexistent" > "$rootfs/etc/passwd"
echo "orch:x:10001:" > "$rootfs/etc/group"
echo "hosts: files dns" > "$rootfs/etc/nsswitch.conf"
if [ -d /etc/ssl/certs ]; then
    mkdir -p "$rootfs/etc/ssl/certs" && cp -L /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/" 2>/dev/null || true
fi
# Ownership travels in the tar: everything root's but the state folder.
tar -C "$rootfs" --owner=0 --group=0 --exclude=./var/lib/orch -cf "$context/rootfs.tar" .
tar -C "$rootfs" --owner=10001 --group=10001 --no-recursion -rf "$context/rootfs.tar" ./var/lib/orch
rm -rf "$rootfs"
cp "$root/deploy/docker/Dockerfile.local" "$context/Dockerfile"
docker build -q -t "$tag" "$context"
echo "built $tag"
