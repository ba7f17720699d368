-- Artifacts (issue 15): what flow runs publish (markdown, tables, links,
-- metrics), attached to a run and optionally a task run. Artifacts with the
-- same key form a series across runs, in publishing order (seq). They go
-- with their run (ON DELETE CASCADE), so run retention removes them too.
-- The same schema exists for the other backend in ../sqlite and ../postgres.

CREATE TABLE artifacts (
    seq         BIGSERIAL PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    flow_run_id TEXT NOT NULL REFERENCES flow_runs (id) ON DELETE CASCADE,
    task_run_id TEXT,
    key         TEXT,
    kind        TEXT NOT NULL,
    description TEXT NOT NULL,
    data        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX artifacts_flow_run ON artifacts (flow_run_id, seq);
CREATE INDEX artifacts_key ON artifacts (key, seq);
