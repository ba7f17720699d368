#!/bin/sh
# Builds a PostgreSQL image without pulling anything: this host's PostgreSQL
# (Debian's package, /usr/lib/postgresql/N), the shared libraries it loads
# (ldd) and a static busybox for its start script, FROM scratch. On first
# start it makes the cluster as the official image does, from POSTGRES_USER
# (default postgres), POSTGRES_PASSWORD (required) and POSTGRES_DB, with its
# data in the volume /var/lib/postgresql/data (POSTGRES_INITDB_ARGS, e.g.
# --no-sync, go to initdb); arguments are passed on to
# postgres (e.g. -c fsync=off). deploy/compose.yaml runs on it unchanged:
#
#   deploy/docker/build-postgres-local.sh [TAG]          # default: orch-postgres:local
#   POSTGRES_IMAGE=orch-postgres:local docker compose -f deploy/compose.yaml up -d postgres
#
# Needs the packages postgresql (or PG_BIN=the folder of its postgres binary)
# and busybox-static (or BUSYBOX=a static busybox).
set -eu
tag=${1:-orch-postgres:local}
bin=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
if [ ! -x "$bin/postgres" ] || [ ! -x "$bin/initdb" ]; then
    echo "no PostgreSQL here: apt-get install postgresql, or set PG_BIN to the folder of its postgres and initdb" >&2
    exit 1
fi
pgdir=$(dirname "$bin")
version=$(basename "$pgdir")
share=/usr/share/postgresql/$version
busybox=${BUSYBOX:-/bin/busybox}
if [ ! -x "$busybox" ]; then
    echo "$busybox is missing: apt-get install busybox-static, or set BUSYBOX to a static busybox" >&2
    exit 1
fi
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
rootfs=$context/rootfs
mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/tmp" "$rootfs/usr/local/bin" \
    "$rootfs/var/run/postgresql" "$rootfs/var/lib/postgresql/data"
chmod 1777 "$rootfs/tmp"
for dir in "$pgdir" "$share" /usr/share/zoneinfo; do
    if [ -d "$dir" ]; then mkdir -p "$rootfs$dir" && cp -a "$dir/." "$rootfs$dir/"; fi
done
# No JIT (its LLVM alone is over 100 MB): postgres runs without it.
rm -rf "$rootfs$pgdir"/lib/llvmjit* "$rootfs$pgdir/lib/bitcode"
# Every library the programs and the server's modules (plpgsql...) load,
# and the dynamic loader itself.
for file in "$rootfs$pgdir"/bin/* "$rootfs$pgdir"/lib/*.so; do
    ldd "$file" 2>/dev/null | awk '/=>/ { print $3 } /ld-linux/ && !/=>/ { print $1 }' || true
done | sort -u | while read -r library; do
    if [ -n "$library" ] && [ -e "$library" ]; then cp --parents -L -n "$library" "$rootfs/"; fi
done
cp "$busybox" "$rootfs/bin/busybox"
for applet in sh printf rm; do ln -s busybox "$rootfs/bin/$applet"; done
echo "postgres:x:999:999:PostgreSQL:/var/lib/postgresql:/bin/sh" > "$rootfs/etc/passwd"
echo "postgres:x:999:" > "$rootfs/etc/group"
cat > "$rootfs/usr/local/bin/postgres-entrypoint" <<'EOF'
#!/bin/sh
# First start: a cluster owned by POSTGRES_USER with POSTGRES_PASSWORD for
# connections over the network, and the database POSTGRES_DB; then postgres.
set -eu
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    user=${POSTGRES_USER:-postgres}
    if [ -z "${POSTGRES_PASSWORD:-}" ]; then
        echo "set POSTGRES_PASSWORD: the password of the database user $user" >&2
        exit 1
    fi
    pwfile=/tmp/pwfile.$$
    printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
    # shellcheck disable=SC2086
    initdb -D "$PGDATA" -U "$user" --pwfile="$pwfile" -E UTF8 --no-locale ${POSTGRES_INITDB_ARGS:-} \
        --auth-local=trust --auth-host=scram-sha-256 > /dev/null
    rm -f "$pwfile"
    printf 'host all all all scram-sha-256\n' >> "$PGDATA/pg_hba.conf"
    db=${POSTGRES_DB:-$user}
    if [ "$db" != postgres ]; then
        printf 'CREATE DATABASE "%s" OWNER "%s";\n' "$db" "$user" |
            postgres --single -D "$PGDATA" postgres > /dev/null
    fi
    echo "postgres-entrypoint: made the cluster in $PGDATA (user $user, database $db)"
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' "$@"
EOF
chmod 755 "$rootfs/usr/local/bin/postgres-entrypoint"
# Ownership travels in the tar: everything root's but the data and socket folders.
tar -C "$rootfs" --owner=0 --group=0 --exclude=./var/lib/postgresql/data \
    --exclude=./var/run/postgresql -cf "$context/rootfs.tar" .
tar -C "$rootfs" --owner=999 --group=999 --no-recursion -rf "$context/rootfs.tar" \
    ./var/lib/postgresql/data ./var/run/postgresql
rm -rf "$rootfs"
cat > "$context/Dockerfile" <<EOF
FROM scratch
ADD rootfs.tar /
ENV PATH=$bin:/bin PGDATA=/var/lib/postgresql/data
USER 999:999
VOLUME /var/lib/postgresql/data
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["/usr/local/bin/postgres-entrypoint"]
EOF
docker build -q -t "$tag" "$context"
echo "built $tag (PostgreSQL $version)"
