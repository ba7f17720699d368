-- Operations: retention of finished runs and their log lines.
-- The same schema exists for PostgreSQL in ../postgres.

-- When a finished run's log lines were pruned; NULL while it keeps them.
ALTER TABLE flow_runs ADD COLUMN logs_pruned_at BIGINT;

-- A deployment's own retention in days (deploy file); NULL: the server's settings.
ALTER TABLE deployments ADD COLUMN retention_runs_days BIGINT;
ALTER TABLE deployments ADD COLUMN retention_logs_days BIGINT;

-- The pruner's scans: finished runs of a state by when they finished, and
-- among them those that still have their log lines.
CREATE INDEX flow_runs_state_finished ON flow_runs (state_type, state_timestamp);
CREATE INDEX flow_runs_logs_kept ON flow_runs (state_type, state_timestamp) WHERE logs_pruned_at IS NULL;
