#!/usr/bin/env bash
# The overview's window reads on PostgreSQL before and after migration 0450.
#
# `tests/benches/overview_rollups_pg.sh [RUNS]` (default 1000000) starts a
# scratch PostgreSQL (initdb in a temp folder, as the `postgres` user when run
# as root), applies orch's migrations up to 0440, seeds RUNS runs over the last
# 30 days with the `pages` bench's distribution of states (tests/src/seed_postgres.rs),
# and EXPLAIN ANALYZEs run_stats' two window statements as they were; then
# applies 0450 (timed: it rolls up the existing runs) and EXPLAIN ANALYZEs the
# new statements (crates/orch-store/src/rollups.rs) on the same windows, and
# checks both give the same figures. Figures: docs/benchmarks.md, "Big tables".
set -euo pipefail
RUNS=${1:-1000000}
HERE=$(cd "$(dirname "$0")/../.." && pwd)
MIG=$HERE/crates/orch-store/migrations/postgres
BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
DIR=$(mktemp -d)
PORT=${PORT:-55433}
as_pg() { if [ "$(id -u)" = 0 ]; then chown -R postgres "$DIR"; runuser -u postgres -- "$@"; else "$@"; fi; }
as_pg "$BIN/initdb" -D "$DIR/data" -U orch -A trust >/dev/null
as_pg "$BIN/pg_ctl" -D "$DIR/data" -o "-p $PORT -k $DIR -c shared_buffers=256MB -c fsync=off" -l "$DIR/log" -w start >/dev/null
trap 'as_pg "$BIN/pg_ctl" -D "$DIR/data" -m fast stop >/dev/null; rm -rf "$DIR"' EXIT
PSQL=("$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U orch postgres)
for f in "$MIG"/*.sql; do
  case $(basename "$f") in 0450_*) continue ;; esac
  "${PSQL[@]}" -f "$f"
done
NOW=$(date +%s%6N)
SPACING=$((30 * 86400000000 / RUNS))
echo "seeding $RUNS runs"
"${PSQL[@]}" <<SQL
INSERT INTO flows (id, name, created_at) VALUES ('f', 'etl', 0);
INSERT INTO flow_runs (id, name, flow_id, deployment_id, parameters, tags, state_type, state_name,
  state_message, state_timestamp, expected_start, start_time, run_count, created_at, updated_at)
SELECT 'r' || n, 'bench-' || n, 'f', 'd' || (n % 20), '{}', '[]',
  CASE WHEN m < 850 THEN 'COMPLETED' WHEN m < 930 THEN 'FAILED' WHEN m < 950 THEN 'CRASHED'
       WHEN m < 980 THEN 'CANCELLED' WHEN m < 990 THEN 'RUNNING' ELSE 'SCHEDULED' END,
  CASE WHEN m < 850 THEN 'Completed' WHEN m < 930 THEN 'Failed' WHEN m < 950 THEN 'Crashed'
       WHEN m < 980 THEN 'Cancelled' WHEN m < 990 THEN 'Running' WHEN m < 995 THEN 'Scheduled' ELSE 'Late' END,
  '', created + 1000000,
  CASE WHEN m >= 990 AND m < 995 THEN $NOW + n * 1000000 ELSE created END,
  CASE WHEN m < 990 THEN created + (n * 31) % 2000000 END,
  CASE WHEN m < 990 THEN 1 ELSE 0 END, created, created
FROM (SELECT n, (n * 7919) % 1000 AS m, $NOW - n * $SPACING AS created
      FROM generate_series(0::BIGINT, $RUNS - 1) n) r;
VACUUM ANALYZE;
SQL
# Windows: the overview's last 24 hours, and the last 7 days.
for HOURS in 24 168; do
  SINCE=$((NOW - HOURS * 3600000000)); UNTIL=$NOW
  H=3600000000
  FIRST=$(( (SINCE + H - 1) / H )); LAST=$(( (UNTIL + 1) / H - 1 ))
  HEAD_END=$((FIRST * H - 1)); TAIL_START=$(((LAST + 1) * H))
  echo "== window of $HOURS h: [$SINCE, $UNTIL], whole hours $FIRST..$LAST"
  echo "-- before 0450: runs by state"
  "${PSQL[@]}" -c "EXPLAIN (ANALYZE, BUFFERS) SELECT state_type, state_name, COUNT(*) FROM flow_runs
    WHERE expected_start >= $SINCE AND expected_start <= $UNTIL
    GROUP BY state_type, state_name ORDER BY COUNT(*) DESC, state_name" | grep -E "Execution|Planning|Index|Heap Fetches|Seq"
  echo "-- before 0450: started runs"
  "${PSQL[@]}" -c "EXPLAIN (ANALYZE, BUFFERS) SELECT COUNT(*), AVG(CAST(CASE WHEN start_time > expected_start
    THEN start_time - expected_start ELSE 0 END AS DOUBLE PRECISION))
    FROM flow_runs WHERE start_time >= $SINCE AND start_time <= $UNTIL" | grep -E "Execution|Planning|Index|Heap Fetches|Seq"
  "${PSQL[@]}" -At -c "SELECT state_type, state_name, COUNT(*) FROM flow_runs
    WHERE expected_start >= $SINCE AND expected_start <= $UNTIL GROUP BY 1, 2 ORDER BY 3 DESC, 2" > "$DIR/old_$HOURS"
  "${PSQL[@]}" -At -c "SELECT COUNT(*), SUM(CASE WHEN start_time > expected_start THEN start_time - expected_start ELSE 0 END)
    FROM flow_runs WHERE start_time >= $SINCE AND start_time <= $UNTIL" >> "$DIR/old_$HOURS"
done
echo "== migration 0450"
START=$(date +%s%N)
"${PSQL[@]}" -1 -f "$MIG/0450_overview_rollups.sql"
echo "0450 took $(( ($(date +%s%N) - START) / 1000000 )) ms"
"${PSQL[@]}" -c "VACUUM ANALYZE" -c "SELECT (SELECT COUNT(*) FROM flow_run_hours) AS hour_rows, (SELECT COUNT(*) FROM flow_run_start_hours) AS start_hour_rows"
for HOURS in 24 168; do
  SINCE=$((NOW - HOURS * 3600000000)); UNTIL=$NOW
  H=3600000000
  FIRST=$(( (SINCE + H - 1) / H )); LAST=$(( (UNTIL + 1) / H - 1 ))
  HEAD_END=$((FIRST * H - 1)); TAIL_START=$(((LAST + 1) * H))
  STATES="SELECT state_type, state_name, CAST(SUM(n) AS BIGINT) FROM (
       SELECT state_type, state_name, runs AS n FROM flow_run_hours WHERE hour >= $FIRST AND hour <= $LAST
       UNION ALL SELECT state_type, state_name, delta FROM flow_run_count_changes WHERE hour >= $FIRST AND hour <= $LAST
       UNION ALL SELECT state_type, state_name, COUNT(*) FROM flow_runs
         WHERE expected_start >= $SINCE AND expected_start <= $HEAD_END GROUP BY state_type, state_name
       UNION ALL SELECT state_type, state_name, COUNT(*) FROM flow_runs
         WHERE expected_start >= $TAIL_START AND expected_start <= $UNTIL GROUP BY state_type, state_name) c
     GROUP BY state_type, state_name HAVING SUM(n) > 0 ORDER BY SUM(n) DESC, state_name, state_type"
  STARTS="SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT), CAST(SUM(l) AS BIGINT) FROM (
       SELECT started AS n, lateness_micros AS l FROM flow_run_start_hours WHERE hour >= $FIRST AND hour <= $LAST
       UNION ALL SELECT delta, lateness FROM flow_run_count_changes WHERE start_hour >= $FIRST AND start_hour <= $LAST
       UNION ALL SELECT COUNT(*), SUM(CASE WHEN start_time > expected_start THEN start_time - expected_start ELSE 0 END)
         FROM flow_runs WHERE start_time >= $SINCE AND start_time <= $HEAD_END
       UNION ALL SELECT COUNT(*), SUM(CASE WHEN start_time > expected_start THEN start_time - expected_start ELSE 0 END)
         FROM flow_runs WHERE start_time >= $TAIL_START AND start_time <= $UNTIL) s"
  echo "== window of $HOURS h, after 0450"
  echo "-- after 0450: runs by state"
  "${PSQL[@]}" -c "EXPLAIN (ANALYZE, BUFFERS) $STATES" | grep -E "Execution|Planning|Index|Heap Fetches|Seq"
  echo "-- after 0450: started runs"
  "${PSQL[@]}" -c "EXPLAIN (ANALYZE, BUFFERS) $STARTS" | grep -E "Execution|Planning|Index|Heap Fetches|Seq"
  { "${PSQL[@]}" -At -c "$STATES"; "${PSQL[@]}" -At -c "$STARTS"; } > "$DIR/new_$HOURS"
  if diff "$DIR/old_$HOURS" "$DIR/new_$HOURS" >/dev/null; then echo "same figures: $(tr '\n' ' ' < "$DIR/new_$HOURS")";
  else echo "DIFFERENT:"; diff "$DIR/old_$HOURS" "$DIR/new_$HOURS" || true; exit 1; fi
done
