-- Big tables (issue 24): the timeline filtered by state walks (state name,
-- start time) from its newest start, in the timeline's order, instead of every
-- run in that state sorted by start time. (The overview's count of Late runs
-- already reads 0420's covering index here; SQLite gets a partial index.)
-- The same schema exists for the other backend in ../sqlite.

CREATE INDEX flow_runs_state_name_started ON flow_runs (LOWER(state_name), start_time);
