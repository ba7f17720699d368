-- Big tables (issue 24): the overview's window statistics read hourly totals
-- for the whole hours of their window instead of every run expected or
-- started in it. The same schema exists for the other backend in ../sqlite.
--
-- - `flow_run_hours`: runs per hour of their expected start (hour =
--   floor(expected_start / 3,600,000,000), timestamps being microseconds),
--   state type and state name.
-- - `flow_run_start_hours`: runs started per hour of their start time, and the
--   sum of their lateness in microseconds (start − expected start, never
--   negative: what the overview averages).
-- - Both are fed by 0420's `flow_run_count_changes`, which gains the columns
--   they need: each change row now also says the state name, the hour of the
--   expected start, the hour of the start (NULL when not started) and the
--   signed sum of lateness of the runs it counts. So a state change still costs
--   one INSERT of two rows (the run as it was, -1; as it is, +1), the count
--   trigger now also firing when the state name, the expected start or the
--   start time changes; inserts and deletes stay one grouped INSERT per
--   statement. The fold (crates/orch-store/src/run_counts.rs) moves the changes
--   into the run counts and both roll-ups in one statement; a read sums totals
--   and changes in one statement.
-- - Totals that fall to zero stay (a few rows per hour) and are not listed.

-- Changes written before this migration have no hour: fold them first.
INSERT INTO flow_run_counts (deployment_id, state_type, runs)
SELECT deployment_id, state_type, SUM(delta) FROM flow_run_count_changes
GROUP BY deployment_id, state_type
ON CONFLICT (deployment_id, state_type) DO UPDATE SET runs = flow_run_counts.runs + excluded.runs;
DELETE FROM flow_run_count_changes;

ALTER TABLE flow_run_count_changes
    ADD COLUMN state_name TEXT,
    ADD COLUMN hour BIGINT,
    ADD COLUMN start_hour BIGINT,
    ADD COLUMN lateness BIGINT NOT NULL DEFAULT 0;

CREATE TABLE flow_run_hours (
    hour       BIGINT NOT NULL,
    state_type TEXT NOT NULL,
    state_name TEXT NOT NULL,
    runs       BIGINT NOT NULL,
    PRIMARY KEY (hour, state_type, state_name)
);

CREATE TABLE flow_run_start_hours (
    hour            BIGINT NOT NULL PRIMARY KEY,
    started         BIGINT NOT NULL,
    lateness_micros BIGINT NOT NULL
);

-- The hour of a time in microseconds (floor, also before 1970; NULL for NULL).
CREATE FUNCTION flow_run_hour(micros BIGINT) RETURNS BIGINT
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT micros / 3600000000 - CASE WHEN micros % 3600000000 < 0 THEN 1 ELSE 0 END
$$;

-- A run's lateness in microseconds (0 when not started, or started early).
CREATE FUNCTION flow_run_lateness(start_time BIGINT, expected_start BIGINT) RETURNS BIGINT
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN start_time > expected_start THEN start_time - expected_start ELSE 0 END
$$;

-- The existing runs.
INSERT INTO flow_run_hours (hour, state_type, state_name, runs)
SELECT flow_run_hour(expected_start), state_type, state_name, COUNT(*)
FROM flow_runs GROUP BY 1, 2, 3;

INSERT INTO flow_run_start_hours (hour, started, lateness_micros)
SELECT flow_run_hour(start_time), COUNT(*), SUM(flow_run_lateness(start_time, expected_start))
FROM flow_runs WHERE start_time IS NOT NULL GROUP BY 1;

CREATE OR REPLACE FUNCTION flow_runs_kept_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO flow_run_tags (tag, created_at, flow_run_id)
    SELECT t.tag, n.created_at, n.id FROM inserted_runs n, LATERAL flow_run_tag_list(n.tags) AS t (tag);
    INSERT INTO flow_run_count_changes (deployment_id, state_type, delta, state_name, hour, start_hour, lateness)
    SELECT COALESCE(deployment_id, ''), state_type, COUNT(*), state_name, flow_run_hour(expected_start),
           flow_run_hour(start_time), SUM(flow_run_lateness(start_time, expected_start))
    FROM inserted_runs GROUP BY 1, 2, 4, 5, 6;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION flow_runs_kept_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM flow_run_tags g USING deleted_runs o, LATERAL flow_run_tag_list(o.tags) AS t (tag)
    WHERE g.tag = t.tag AND g.created_at = o.created_at AND g.flow_run_id = o.id;
    INSERT INTO flow_run_count_changes (deployment_id, state_type, delta, state_name, hour, start_hour, lateness)
    SELECT COALESCE(deployment_id, ''), state_type, -COUNT(*), state_name, flow_run_hour(expected_start),
           flow_run_hour(start_time), -SUM(flow_run_lateness(start_time, expected_start))
    FROM deleted_runs GROUP BY 1, 2, 4, 5, 6;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION flow_runs_counted_on_state() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO flow_run_count_changes (deployment_id, state_type, delta, state_name, hour, start_hour, lateness)
    VALUES (COALESCE(OLD.deployment_id, ''), OLD.state_type, -1, OLD.state_name,
            flow_run_hour(OLD.expected_start), flow_run_hour(OLD.start_time),
            -flow_run_lateness(OLD.start_time, OLD.expected_start)),
           (COALESCE(NEW.deployment_id, ''), NEW.state_type, 1, NEW.state_name,
            flow_run_hour(NEW.expected_start), flow_run_hour(NEW.start_time),
            flow_run_lateness(NEW.start_time, NEW.expected_start));
    RETURN NULL;
END $$;

DROP TRIGGER flow_runs_counted_on_state ON flow_runs;
CREATE TRIGGER flow_runs_counted_on_state
AFTER UPDATE OF state_type, deployment_id, state_name, expected_start, start_time ON flow_runs
FOR EACH ROW WHEN (OLD.state_type IS DISTINCT FROM NEW.state_type
                   OR OLD.deployment_id IS DISTINCT FROM NEW.deployment_id
                   OR OLD.state_name IS DISTINCT FROM NEW.state_name
                   OR OLD.expected_start IS DISTINCT FROM NEW.expected_start
                   OR OLD.start_time IS DISTINCT FROM NEW.start_time)
EXECUTE FUNCTION flow_runs_counted_on_state();
