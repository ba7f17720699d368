-- Log lines partitioned by day on the line's time (PostgreSQL only: SQLite keeps
-- one plain table). Retention drops a whole day's partition once every run with
-- lines in it has had its lines expire (crates/orch-store/src/log_partitions.rs),
-- instead of deleting rows one by one.
--
-- - `logs` is partitioned by RANGE (timestamp), one partition per UTC day named
--   logs_YYYYMMDD, made ahead by the server (today and 7 days on), and a default
--   partition `logs_default` for any other time (a worker's clock far off, lines
--   from before the partitions existed), so an insert never fails.
-- - A unique constraint of a partitioned table must hold its partition key: a line
--   is unique by (flow_run_id, emitter, seq, timestamp). A batch that is resent
--   carries the same lines with the same times, so it is still dropped as a
--   duplicate.
-- - `log_days` says which runs have lines on which day (one row per run and day,
--   written with the lines), so the pruner finds which runs a partition holds
--   without reading it; `log_cleanup` lists the (day, run) pairs whose lines
--   expired (the run's lines were pruned or the run deleted) and still wait in
--   their day's partition: the pruner drops that partition once no run with
--   lines there keeps them, or deletes those rows once the day is older than
--   every retention (so no more of its runs will expire).
-- - Ids still come from one sequence (`logs_id_seq`), in commit order per run
--   (see crates/orch-store/src/logs.rs), and pages of a run's lines still go by
--   `(flow_run_id, id)`.
--
-- The existing lines are copied into the new table, none lost: a partition is
-- made for every day within the last 10 years that has lines, the rest land in
-- the default partition.

ALTER TABLE logs RENAME TO logs_unpartitioned;
ALTER INDEX logs_pkey RENAME TO logs_unpartitioned_pkey;
ALTER INDEX logs_run RENAME TO logs_unpartitioned_run;
ALTER SEQUENCE logs_id_seq OWNED BY NONE;

CREATE TABLE logs (
    id          BIGINT NOT NULL DEFAULT nextval('logs_id_seq'),
    flow_run_id TEXT NOT NULL,
    emitter     TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    timestamp   BIGINT NOT NULL,
    stream      TEXT NOT NULL,
    level       TEXT NOT NULL,
    message     TEXT NOT NULL,
    task_run_id TEXT NOT NULL DEFAULT '',
    UNIQUE (flow_run_id, emitter, seq, timestamp)
) PARTITION BY RANGE (timestamp);
ALTER SEQUENCE logs_id_seq OWNED BY logs.id;
CREATE INDEX logs_run ON logs (flow_run_id, id);

CREATE TABLE log_days (
    day         BIGINT NOT NULL,
    flow_run_id TEXT NOT NULL,
    PRIMARY KEY (day, flow_run_id)
);
CREATE INDEX log_days_run ON log_days (flow_run_id);

CREATE TABLE log_cleanup (
    day         BIGINT NOT NULL,
    flow_run_id TEXT NOT NULL,
    PRIMARY KEY (day, flow_run_id)
);

DO $$
DECLARE
    day_micros CONSTANT BIGINT := 86400000000;
    today BIGINT := FLOOR(EXTRACT(EPOCH FROM now()) * 1000000 / day_micros)::BIGINT;
    day BIGINT;
BEGIN
    FOR day IN
        SELECT DISTINCT FLOOR(timestamp::NUMERIC / day_micros)::BIGINT AS d
        FROM logs_unpartitioned
        WHERE timestamp >= (today - 3650) * day_micros AND timestamp < (today + 8) * day_micros
        UNION
        SELECT generate_series(today, today + 7)
        ORDER BY 1
    LOOP
        EXECUTE format(
            'CREATE TABLE %I PARTITION OF logs FOR VALUES FROM (%s) TO (%s)',
            'logs_' || to_char(to_timestamp(day * 86400) AT TIME ZONE 'UTC', 'YYYYMMDD'),
            day * day_micros,
            (day + 1) * day_micros
        );
    END LOOP;
END
$$;
CREATE TABLE logs_default PARTITION OF logs DEFAULT;

INSERT INTO logs (id, flow_run_id, emitter, seq, timestamp, stream, level, message, task_run_id)
SELECT id, flow_run_id, emitter, seq, timestamp, stream, level, message, task_run_id
FROM logs_unpartitioned;
INSERT INTO log_days (day, flow_run_id)
SELECT DISTINCT FLOOR(timestamp::NUMERIC / 86400000000)::BIGINT, flow_run_id
FROM logs_unpartitioned;
-- Runs whose lines were pruned before keep none.
DELETE FROM log_days d USING flow_runs r
WHERE r.id = d.flow_run_id AND r.logs_pruned_at IS NOT NULL;
DROP TABLE logs_unpartitioned;
