-- Task runs: the steps of a flow run, reported by the SDK.

CREATE TABLE task_runs (
    id              TEXT PRIMARY KEY,
    flow_run_id     TEXT NOT NULL REFERENCES flow_runs (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    tags            TEXT NOT NULL,
    state_type      TEXT NOT NULL,
    state_name      TEXT NOT NULL,
    state_message   TEXT NOT NULL,
    state_timestamp BIGINT NOT NULL,
    attempt         BIGINT NOT NULL,
    max_retries     BIGINT NOT NULL,
    start_time      BIGINT,
    end_time        BIGINT,
    error           TEXT NOT NULL,
    result          TEXT NOT NULL,
    created_at      BIGINT NOT NULL
);
CREATE INDEX task_runs_flow_run ON task_runs (flow_run_id, created_at);

CREATE TABLE task_run_states (
    task_run_id TEXT NOT NULL REFERENCES task_runs (id) ON DELETE CASCADE,
    seq         BIGINT NOT NULL,
    attempt     BIGINT NOT NULL,
    type        TEXT NOT NULL,
    name        TEXT NOT NULL,
    message     TEXT NOT NULL,
    timestamp   BIGINT NOT NULL,
    PRIMARY KEY (task_run_id, seq)
);

CREATE TABLE task_run_edges (
    upstream_id   TEXT NOT NULL,
    downstream_id TEXT NOT NULL REFERENCES task_runs (id) ON DELETE CASCADE,
    PRIMARY KEY (upstream_id, downstream_id)
);
CREATE INDEX task_run_edges_downstream ON task_run_edges (downstream_id);
