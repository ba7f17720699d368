-- Big tables (issue 24): the overview's window statistics read hourly totals
-- for the whole hours of their window instead of every run expected or
-- started in it. The same schema exists for the other backend in ../postgres.
--
-- - `flow_run_hours`: runs per hour of their expected start (hour =
--   floor(expected_start / 3,600,000,000), timestamps being microseconds),
--   state type and state name.
-- - `flow_run_start_hours`: runs started per hour of their start time, and the
--   sum of their lateness in microseconds (start − expected start, never
--   negative: what the overview averages).
-- - Both are fed by 0420's `flow_run_count_changes`, which gains the columns
--   they need: each change row of a run now also says its state name, the hour
--   of its expected start, the hour of its start (NULL when not started) and
--   its signed lateness. So a state change still costs one INSERT of two rows
--   (the run as it was, -1; as it is, +1), the count trigger now also firing
--   when the state name, the expected start or the start time changes. The
--   fold (crates/orch-store/src/run_counts.rs) adds the changes into the run
--   counts and both roll-ups, then deletes them; a read sums totals and changes.
-- - Totals that fall to zero stay (a few rows per hour) and are not listed.

-- Changes written before this migration have no hour: fold them first.
INSERT INTO flow_run_counts (deployment_id, state_type, runs)
SELECT deployment_id, state_type, SUM(delta) FROM flow_run_count_changes WHERE TRUE
GROUP BY deployment_id, state_type
ON CONFLICT (deployment_id, state_type) DO UPDATE SET runs = flow_run_counts.runs + excluded.runs;
DELETE FROM flow_run_count_changes;

ALTER TABLE flow_run_count_changes ADD COLUMN state_name TEXT;
ALTER TABLE flow_run_count_changes ADD COLUMN hour BIGINT;
ALTER TABLE flow_run_count_changes ADD COLUMN start_hour BIGINT;
ALTER TABLE flow_run_count_changes ADD COLUMN lateness BIGINT NOT NULL DEFAULT 0;

CREATE TABLE flow_run_hours (
    hour       BIGINT NOT NULL,
    state_type TEXT NOT NULL,
    state_name TEXT NOT NULL,
    runs       BIGINT NOT NULL,
    PRIMARY KEY (hour, state_type, state_name)
) WITHOUT ROWID;

CREATE TABLE flow_run_start_hours (
    hour            BIGINT NOT NULL PRIMARY KEY,
    started         BIGINT NOT NULL,
    lateness_micros BIGINT NOT NULL
) WITHOUT ROWID;

-- The existing runs. SQLite's `/` truncates toward zero: `- (x % H < 0)`
-- makes it the floor for times before 1970 too.
INSERT INTO flow_run_hours (hour, state_type, state_name, runs)
SELECT expected_start / 3600000000 - (expected_start % 3600000000 < 0), state_type, state_name, COUNT(*)
FROM flow_runs WHERE TRUE GROUP BY 1, 2, 3;

INSERT INTO flow_run_start_hours (hour, started, lateness_micros)
SELECT start_time / 3600000000 - (start_time % 3600000000 < 0), COUNT(*),
       SUM(CASE WHEN start_time > expected_start THEN start_time - expected_start ELSE 0 END)
FROM flow_runs WHERE start_time IS NOT NULL GROUP BY 1;

DROP TRIGGER flow_runs_kept_on_insert;
DROP TRIGGER flow_runs_kept_on_delete;
DROP TRIGGER flow_runs_counted_on_state;

CREATE TRIGGER flow_runs_kept_on_insert AFTER INSERT ON flow_runs
BEGIN
    INSERT INTO flow_run_count_changes (deployment_id, state_type, delta, state_name, hour, start_hour, lateness)
    VALUES (COALESCE(NEW.deployment_id, ''), NEW.state_type, 1, NEW.state_name,
            NEW.expected_start / 3600000000 - (NEW.expected_start % 3600000000 < 0),
            NEW.start_time / 3600000000 - (NEW.start_time % 3600000000 < 0),
            CASE WHEN NEW.start_time > NEW.expected_start THEN NEW.start_time - NEW.expected_start ELSE 0 END);
    INSERT INTO flow_run_tags (tag, created_at, flow_run_id)
    SELECT DISTINCT value, NEW.created_at, NEW.id FROM json_each(
        CASE WHEN json_valid(NEW.tags) THEN CASE json_type(NEW.tags) WHEN 'array' THEN NEW.tags ELSE '[]' END ELSE '[]' END);
END;

CREATE TRIGGER flow_runs_kept_on_delete AFTER DELETE ON flow_runs
BEGIN
    INSERT INTO flow_run_count_changes (deployment_id, state_type, delta, state_name, hour, start_hour, lateness)
    VALUES (COALESCE(OLD.deployment_id, ''), OLD.state_type, -1, OLD.state_name,
            OLD.expected_start / 3600000000 - (OLD.expected_start % 3600000000 < 0),
            OLD.start_time / 3600000000 - (OLD.start_time % 3600000000 < 0),
            CASE WHEN OLD.start_time > OLD.expected_start THEN OLD.expected_start - OLD.start_time ELSE 0 END);
    DELETE FROM flow_run_tags WHERE created_at = OLD.created_at AND flow_run_id = OLD.id
        AND tag IN (SELECT value FROM json_each(
            CASE WHEN json_valid(OLD.tags) THEN CASE json_type(OLD.tags) WHEN 'array' THEN OLD.tags ELSE '[]' END ELSE '[]' END));
END;

CREATE TRIGGER flow_runs_counted_on_state
AFTER UPDATE OF state_type, deployment_id, state_name, expected_start, start_time ON flow_runs
WHEN OLD.state_type IS NOT NEW.state_type OR OLD.deployment_id IS NOT NEW.deployment_id
  OR OLD.state_name IS NOT NEW.state_name OR OLD.expected_start IS NOT NEW.expected_start
  OR OLD.start_time IS NOT NEW.start_time
BEGIN
    INSERT INTO flow_run_count_changes (deployment_id, state_type, delta, state_name, hour, start_hour, lateness)
    VALUES (COALESCE(OLD.deployment_id, ''), OLD.state_type, -1, OLD.state_name,
            OLD.expected_start / 3600000000 - (OLD.expected_start % 3600000000 < 0),
            OLD.start_time / 3600000000 - (OLD.start_time % 3600000000 < 0),
            CASE WHEN OLD.start_time > OLD.expected_start THEN OLD.expected_start - OLD.start_time ELSE 0 END),
           (COALESCE(NEW.deployment_id, ''), NEW.state_type, 1, NEW.state_name,
            NEW.expected_start / 3600000000 - (NEW.expected_start % 3600000000 < 0),
            NEW.start_time / 3600000000 - (NEW.start_time % 3600000000 < 0),
            CASE WHEN NEW.start_time > NEW.expected_start THEN NEW.start_time - NEW.expected_start ELSE 0 END);
END;
