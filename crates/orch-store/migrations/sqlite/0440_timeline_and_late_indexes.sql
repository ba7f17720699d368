-- Big tables (issue 24), measured at 1,000,000 runs:
-- - The timeline filtered by state (`/api/flow-runs/timeline?state=failed&since=...`)
--   walks (state name, start time) from its newest start: a range of the index,
--   already in the timeline's order, instead of every run in that state sorted
--   by start time (790-1,400 ms; 2 ms with it).
-- - The overview's count of Late runs reads a partial index of the Late runs
--   only (the planner took the state type's index and read every Scheduled
--   run's row: 40-60 ms; 0.2 ms with it). The store names it (`INDEXED BY`).
-- The same schema exists for the other backend in ../postgres.

CREATE INDEX flow_runs_state_name_started ON flow_runs (LOWER(state_name), start_time);
CREATE INDEX flow_runs_late ON flow_runs (created_at)
    WHERE state_type = 'SCHEDULED' AND state_name = 'Late';
