-- CPU time of each task run (issue 23): what its attempts spent on the
-- threads that ran them, summed, in microseconds, as the SDK measured and
-- reported it. NULL when the SDK does not measure it (older SDKs,
-- platforms without per-thread CPU clocks).
-- The same schema exists for the other backend in ../sqlite and ../postgres.

ALTER TABLE task_runs ADD COLUMN cpu_micros BIGINT;
