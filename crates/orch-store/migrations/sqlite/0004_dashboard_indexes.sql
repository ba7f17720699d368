-- Dashboard, REST API and metrics: every list is newest first under one filter,
-- read through an index that also gives the order (no sort over the whole table).

-- Unfiltered listing and its keyset cursor (created_at, id).
CREATE INDEX flow_runs_created_id ON flow_runs (created_at, id);
-- Listing by state; failures needing attention.
CREATE INDEX flow_runs_state_created ON flow_runs (state_type, created_at);
-- Listing by work pool.
CREATE INDEX flow_runs_pool_created ON flow_runs (work_pool_id, created_at);
-- Timeline (start time vs duration) and lateness of started runs.
CREATE INDEX flow_runs_start ON flow_runs (start_time);
-- Runs in a window of expected start (overview counts).
CREATE INDEX flow_runs_expected ON flow_runs (expected_start);
-- A deployment's runs in one state by creation time: "fixed since" (failures needing
-- attention); 0003's flow_runs_deployment_state serves upcoming runs and metrics.
CREATE INDEX flow_runs_deployment_state_created ON flow_runs (deployment_id, state_type, created_at);
