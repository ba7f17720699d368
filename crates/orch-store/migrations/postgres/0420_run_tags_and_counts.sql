-- Big tables (issue 24): the run list's tag filter, the state-name filter and
-- the `/metrics` run counts read an index or a few rows instead of every run.
-- The same schema exists for the other backend in ../sqlite.
--
-- - `flow_run_tags` holds one row per tag of each run, with the run's creation
--   time, so `?tag=` walks (tag, created_at, flow_run_id) newest first, as the
--   list is ordered, instead of matching `LIKE` over every run's JSON tags.
-- - `flow_run_counts` holds the number of runs per deployment ('' for runs
--   without one) and state type; `flow_run_count_changes` the changes to it
--   not yet folded in (+1/-1 rows, appended, never updated, so concurrent
--   state changes never wait on a shared counter row, nor deadlock on two).
--   The sweep pass folds the changes in (crates/orch-store/src/run_counts.rs);
--   a read sums both.
-- - A run's tags that are not a JSON array (never written by orch) give no rows.
-- - Both are kept by triggers in the transaction that inserts, updates or
--   deletes the run, whatever statement does it (run creation, scheduling,
--   subflows, retention, deletion of schedules' runs, tests' SQL), so they
--   cannot drift from `flow_runs`. Inserts and deletes are handled once per
--   statement (bulk seeding and retention batches stay set-based); a state or
--   tag change once per changed row.

CREATE TABLE flow_run_tags (
    tag         TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    flow_run_id TEXT NOT NULL,
    PRIMARY KEY (tag, created_at, flow_run_id)
);

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

-- The distinct tags of a run's `tags` JSON text.
CREATE FUNCTION flow_run_tag_list(tags TEXT) RETURNS SETOF TEXT
LANGUAGE sql IMMUTABLE AS $$
    SELECT DISTINCT t FROM json_array_elements_text(
        CASE WHEN json_typeof(tags::json) = 'array' THEN tags::json ELSE '[]'::json END) AS t
$$;

-- The existing runs.
INSERT INTO flow_run_tags (tag, created_at, flow_run_id)
SELECT t.tag, r.created_at, r.id FROM flow_runs r, LATERAL flow_run_tag_list(r.tags) AS t (tag);

INSERT INTO flow_run_counts (deployment_id, state_type, runs)
SELECT COALESCE(deployment_id, ''), state_type, COUNT(*) FROM flow_runs
GROUP BY COALESCE(deployment_id, ''), state_type;

CREATE FUNCTION flow_runs_kept_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO flow_run_tags (tag, created_at, flow_run_id)
    SELECT t.tag, n.created_at, n.id FROM inserted_runs n, LATERAL flow_run_tag_list(n.tags) AS t (tag);
    INSERT INTO flow_run_count_changes (deployment_id, state_type, delta)
    SELECT COALESCE(deployment_id, ''), state_type, COUNT(*) FROM inserted_runs
    GROUP BY COALESCE(deployment_id, ''), state_type;
    RETURN NULL;
END $$;

CREATE TRIGGER flow_runs_kept_on_insert AFTER INSERT ON flow_runs
REFERENCING NEW TABLE AS inserted_runs
FOR EACH STATEMENT EXECUTE FUNCTION flow_runs_kept_on_insert();

CREATE FUNCTION flow_runs_kept_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM flow_run_tags g USING deleted_runs o, LATERAL flow_run_tag_list(o.tags) AS t (tag)
    WHERE g.tag = t.tag AND g.created_at = o.created_at AND g.flow_run_id = o.id;
    INSERT INTO flow_run_count_changes (deployment_id, state_type, delta)
    SELECT COALESCE(deployment_id, ''), state_type, -COUNT(*) FROM deleted_runs
    GROUP BY COALESCE(deployment_id, ''), state_type;
    RETURN NULL;
END $$;

CREATE TRIGGER flow_runs_kept_on_delete AFTER DELETE ON flow_runs
REFERENCING OLD TABLE AS deleted_runs
FOR EACH STATEMENT EXECUTE FUNCTION flow_runs_kept_on_delete();

CREATE FUNCTION flow_runs_counted_on_state() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO flow_run_count_changes (deployment_id, state_type, delta)
    VALUES (COALESCE(OLD.deployment_id, ''), OLD.state_type, -1),
           (COALESCE(NEW.deployment_id, ''), NEW.state_type, 1);
    RETURN NULL;
END $$;

CREATE TRIGGER flow_runs_counted_on_state AFTER UPDATE OF state_type, deployment_id ON flow_runs
FOR EACH ROW WHEN (OLD.state_type IS DISTINCT FROM NEW.state_type
                   OR OLD.deployment_id IS DISTINCT FROM NEW.deployment_id)
EXECUTE FUNCTION flow_runs_counted_on_state();

CREATE FUNCTION flow_runs_tagged_on_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM flow_run_tags
    WHERE created_at = OLD.created_at AND flow_run_id = OLD.id
      AND tag IN (SELECT flow_run_tag_list(OLD.tags));
    INSERT INTO flow_run_tags (tag, created_at, flow_run_id)
    SELECT t, NEW.created_at, NEW.id FROM flow_run_tag_list(NEW.tags) AS t;
    RETURN NULL;
END $$;

CREATE TRIGGER flow_runs_tagged_on_update AFTER UPDATE OF tags, created_at, id ON flow_runs
FOR EACH ROW WHEN (OLD.tags IS DISTINCT FROM NEW.tags OR OLD.created_at IS DISTINCT FROM NEW.created_at
                   OR OLD.id IS DISTINCT FROM NEW.id)
EXECUTE FUNCTION flow_runs_tagged_on_update();

-- `?state=late`: the state name compared case-insensitively, newest first. The
-- included columns let its count, and the overview's count of Late runs, read
-- the index alone (PostgreSQL does not read `state_name` back out of the
-- expression).
CREATE INDEX flow_runs_state_name_created ON flow_runs (LOWER(state_name), created_at)
    INCLUDE (state_name, state_type);
