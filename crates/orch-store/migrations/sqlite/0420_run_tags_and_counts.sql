-- Big tables (issue 24): the run list's tag filter, the state-name filter and
-- the `/metrics` run counts read an index or a few rows instead of every run.
-- The same schema exists for the other backend in ../postgres.
--
-- - `flow_run_tags` holds one row per tag of each run, with the run's creation
--   time, so `?tag=` walks (tag, created_at, flow_run_id) newest first, as the
--   list is ordered, instead of matching `LIKE` over every run's JSON tags.
-- - `flow_run_counts` holds the number of runs per deployment ('' for runs
--   without one) and state type; `flow_run_count_changes` the changes to it
--   not yet folded in (+1/-1 rows, appended, never updated, so concurrent
--   state changes never wait on a shared counter row). The sweep pass folds
--   the changes in (crates/orch-store/src/run_counts.rs); a read sums both.
-- - A run's tags that are not a JSON array (never written by orch) give no rows.
-- - Both are kept by triggers in the transaction that inserts, updates or
--   deletes the run, whatever statement does it (run creation, scheduling,
--   subflows, retention, deletion of schedules' runs, tests' SQL), so they
--   cannot drift from `flow_runs`.

CREATE TABLE flow_run_tags (
    tag         TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    flow_run_id TEXT NOT NULL,
    PRIMARY KEY (tag, created_at, flow_run_id)
) WITHOUT ROWID;

CREATE TABLE flow_run_counts (
    deployment_id TEXT NOT NULL,
    state_type    TEXT NOT NULL,
    runs          BIGINT NOT NULL,
    PRIMARY KEY (deployment_id, state_type)
);

CREATE TABLE flow_run_count_changes (
    deployment_id TEXT NOT NULL,
    state_type    TEXT NOT NULL,
    delta         BIGINT NOT NULL
);

-- The existing runs.
INSERT INTO flow_run_tags (tag, created_at, flow_run_id)
SELECT DISTINCT t.value, r.created_at, r.id
FROM flow_runs r, json_each(CASE WHEN json_valid(r.tags) THEN CASE json_type(r.tags) WHEN 'array' THEN r.tags ELSE '[]' END ELSE '[]' END) t;

INSERT INTO flow_run_counts (deployment_id, state_type, runs)
SELECT COALESCE(deployment_id, ''), state_type, COUNT(*) FROM flow_runs
GROUP BY COALESCE(deployment_id, ''), state_type;

CREATE TRIGGER flow_runs_kept_on_insert AFTER INSERT ON flow_runs
BEGIN
    INSERT INTO flow_run_count_changes (deployment_id, state_type, delta)
    VALUES (COALESCE(NEW.deployment_id, ''), NEW.state_type, 1);
    INSERT INTO flow_run_tags (tag, created_at, flow_run_id)
    SELECT DISTINCT value, NEW.created_at, NEW.id FROM json_each(
        CASE WHEN json_valid(NEW.tags) THEN CASE json_type(NEW.tags) WHEN 'array' THEN NEW.tags ELSE '[]' END ELSE '[]' END);
END;

CREATE TRIGGER flow_runs_kept_on_delete AFTER DELETE ON flow_runs
BEGIN
    INSERT INTO flow_run_count_changes (deployment_id, state_type, delta)
    VALUES (COALESCE(OLD.deployment_id, ''), OLD.state_type, -1);
    DELETE FROM flow_run_tags WHERE created_at = OLD.created_at AND flow_run_id = OLD.id
        AND tag IN (SELECT value FROM json_each(
            CASE WHEN json_valid(OLD.tags) THEN CASE json_type(OLD.tags) WHEN 'array' THEN OLD.tags ELSE '[]' END ELSE '[]' END));
END;

CREATE TRIGGER flow_runs_counted_on_state AFTER UPDATE OF state_type, deployment_id ON flow_runs
WHEN OLD.state_type IS NOT NEW.state_type OR OLD.deployment_id IS NOT NEW.deployment_id
BEGIN
    INSERT INTO flow_run_count_changes (deployment_id, state_type, delta)
    VALUES (COALESCE(OLD.deployment_id, ''), OLD.state_type, -1),
           (COALESCE(NEW.deployment_id, ''), NEW.state_type, 1);
END;

CREATE TRIGGER flow_runs_tagged_on_update AFTER UPDATE OF tags, created_at, id ON flow_runs
WHEN OLD.tags IS NOT NEW.tags OR OLD.created_at IS NOT NEW.created_at OR OLD.id IS NOT NEW.id
BEGIN
    DELETE FROM flow_run_tags WHERE created_at = OLD.created_at AND flow_run_id = OLD.id
        AND tag IN (SELECT value FROM json_each(
            CASE WHEN json_valid(OLD.tags) THEN CASE json_type(OLD.tags) WHEN 'array' THEN OLD.tags ELSE '[]' END ELSE '[]' END));
    INSERT INTO flow_run_tags (tag, created_at, flow_run_id)
    SELECT DISTINCT value, NEW.created_at, NEW.id FROM json_each(
        CASE WHEN json_valid(NEW.tags) THEN CASE json_type(NEW.tags) WHEN 'array' THEN NEW.tags ELSE '[]' END ELSE '[]' END);
END;

-- `?state=late`: the state name compared case-insensitively, newest first.
CREATE INDEX flow_runs_state_name_created ON flow_runs (LOWER(state_name), created_at);
