-- Big tables (issue 24), measured at 1,000,000 runs:
-- - The timeline filtered by a state type (`/api/flow-runs/timeline?state=failed&since=...`)
--   walks (state type, start time) from its newest start: a range of the index,
--   already in the timeline's order, instead of every run of that type sorted by
--   start time (p50 790 ms over HTTP). A state name (`late`, ...) still reads
--   0420's name index: those runs are few.
-- - The overview's count of Late runs reads a partial index of the Late runs
--   only (the planner took the state type's index and read every Scheduled
--   run's row: 40-60 ms; 0.2 ms with it). The store names it (`INDEXED BY`).
-- The same schema exists for the other backend in ../postgres.

CREATE INDEX flow_runs_state_started ON flow_runs (state_type, start_time);
CREATE INDEX flow_runs_late ON flow_runs (created_at)
    WHERE state_type = 'SCHEDULED' AND state_name = 'Late';
