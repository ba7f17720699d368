-- Subflow runs (issues 22 and 23): a flow called inside a flow is a flow run
-- of its own, created Running by its parent's process (no deployment, no
-- pool, never claimed). parent_flow_run_id is the run that called it and
-- parent_task_run_id the parent's task run standing for the call (the
-- "wrapper" node of the parent's graph); both NULL for top-level runs.
-- The partial index lists a run's subflow runs (its page, ending them with
-- it) without growing with the top-level runs.
-- The same schema exists for the other backend in ../sqlite and ../postgres.

ALTER TABLE flow_runs ADD COLUMN parent_flow_run_id TEXT;
ALTER TABLE flow_runs ADD COLUMN parent_task_run_id TEXT;
CREATE INDEX flow_runs_parent ON flow_runs (parent_flow_run_id, created_at)
    WHERE parent_flow_run_id IS NOT NULL;
