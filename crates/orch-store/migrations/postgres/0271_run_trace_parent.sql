-- The W3C `traceparent` a run was created with (issue 23): the run's trace
-- is then the caller's, and its root span a child of the caller's span. NULL
-- for runs created without one, whose trace id derives from their own id.
-- The same schema exists for the other backend in ../sqlite and ../postgres.

ALTER TABLE flow_runs ADD COLUMN trace_parent TEXT;
