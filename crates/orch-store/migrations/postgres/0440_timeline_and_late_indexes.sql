-- Big tables (issue 24): the timeline filtered by a state type walks (state
-- type, start time) from its newest start, in the timeline's order, instead of
-- every run of that type sorted by start time. (The overview's count of Late runs
-- already reads 0420's covering index here; SQLite gets a partial index.)
-- The same schema exists for the other backend in ../sqlite.

CREATE INDEX flow_runs_state_started ON flow_runs (state_type, start_time);
