-- Big tables (issue 24): the overview's counts read indexes only. The runs of
-- a window are grouped by state from (expected_start, state_type, state_name)
-- and the lateness of started runs is averaged from (start_time,
-- expected_start), without reading each run's row. Each replaces the index on
-- its first column alone (0004), which served the same ranges.
-- The same schema exists for the other backend in ../sqlite and ../postgres.

CREATE INDEX flow_runs_expected_state ON flow_runs (expected_start, state_type, state_name);
DROP INDEX flow_runs_expected;
CREATE INDEX flow_runs_start_expected ON flow_runs (start_time, expected_start);
DROP INDEX flow_runs_start;
