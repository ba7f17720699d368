-- The W3C `tracestate` a run was created with, beside its `trace_parent`
-- (issue 23): the vendor part of the caller's trace context, handed to the
-- flow as TRACESTATE and kept on the run's span. NULL when the caller sent
-- none. The same schema exists for the other backend in ../sqlite and ../postgres.

ALTER TABLE flow_runs ADD COLUMN trace_state TEXT;
