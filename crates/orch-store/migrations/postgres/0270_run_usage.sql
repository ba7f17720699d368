-- What each flow run's processes used (issue 23): CPU time, peak resident
-- memory and wall time of its last attempt, as its worker measured and
-- reported them with the final state. NULL until reported (runs that never
-- ran, older workers); cleared when the run starts again.
-- The same schema exists for the other backend in ../sqlite and ../postgres.

ALTER TABLE flow_runs ADD COLUMN cpu_user_micros BIGINT;
ALTER TABLE flow_runs ADD COLUMN cpu_system_micros BIGINT;
ALTER TABLE flow_runs ADD COLUMN max_rss_bytes BIGINT;
ALTER TABLE flow_runs ADD COLUMN wall_micros BIGINT;
