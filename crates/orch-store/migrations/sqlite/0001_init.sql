-- Times are microseconds since the Unix epoch (BIGINT); JSON is stored as TEXT.
-- The same schema exists for PostgreSQL in ../postgres.

CREATE TABLE work_pools (
    id                TEXT PRIMARY KEY,
    name              TEXT NOT NULL UNIQUE,
    type              TEXT NOT NULL,
    description       TEXT NOT NULL DEFAULT '',
    paused            BIGINT NOT NULL DEFAULT 0,
    concurrency_limit BIGINT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);

CREATE TABLE flows (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE deployments (
    id                  TEXT PRIMARY KEY,
    flow_id             TEXT NOT NULL REFERENCES flows (id),
    name                TEXT NOT NULL,
    entrypoint          TEXT NOT NULL,
    work_pool_id        TEXT NOT NULL REFERENCES work_pools (id),
    parameters          TEXT NOT NULL,
    tags                TEXT NOT NULL,
    description         TEXT NOT NULL,
    retries             BIGINT NOT NULL,
    retry_delay_seconds BIGINT NOT NULL,
    base_dir            TEXT NOT NULL,
    paused              BIGINT NOT NULL DEFAULT 0,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    UNIQUE (flow_id, name)
);

CREATE TABLE deployment_schedules (
    id               TEXT PRIMARY KEY,
    deployment_id    TEXT NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    position         BIGINT NOT NULL,
    slug             TEXT NOT NULL,
    cron             TEXT,
    interval_seconds BIGINT,
    anchor           TEXT,
    rrule            TEXT,
    timezone         TEXT NOT NULL,
    active           BIGINT NOT NULL,
    parameters       TEXT NOT NULL,
    UNIQUE (deployment_id, slug)
);

CREATE TABLE workers (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    work_pool_id   TEXT NOT NULL REFERENCES work_pools (id) ON DELETE CASCADE,
    hostname       TEXT NOT NULL,
    run_limit      BIGINT NOT NULL,
    version        TEXT NOT NULL,
    started_at     BIGINT NOT NULL,
    last_heartbeat BIGINT NOT NULL,
    stopped_at     BIGINT
);

CREATE TABLE flow_runs (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    flow_id         TEXT NOT NULL REFERENCES flows (id),
    deployment_id   TEXT,
    work_pool_id    TEXT,
    parameters      TEXT NOT NULL,
    tags            TEXT NOT NULL,
    state_type      TEXT NOT NULL,
    state_name      TEXT NOT NULL,
    state_message   TEXT NOT NULL,
    state_timestamp BIGINT NOT NULL,
    expected_start  BIGINT NOT NULL,
    start_time      BIGINT,
    end_time        BIGINT,
    run_count       BIGINT NOT NULL DEFAULT 0,
    worker_id       TEXT,
    exit_code       BIGINT,
    idempotency_key TEXT UNIQUE,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

-- Claiming: ready runs of a pool, oldest due first; in-flight counts per pool.
CREATE INDEX flow_runs_pool_state ON flow_runs (work_pool_id, state_type, expected_start);
-- Background passes over all Scheduled runs (late marking, due wake-ups).
CREATE INDEX flow_runs_state_start ON flow_runs (state_type, expected_start);
CREATE INDEX flow_runs_created ON flow_runs (created_at);
CREATE INDEX flow_runs_deployment ON flow_runs (deployment_id, created_at);
CREATE INDEX flow_runs_flow ON flow_runs (flow_id, created_at);
CREATE INDEX flow_runs_worker ON flow_runs (worker_id, state_type);

CREATE TABLE flow_run_states (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    flow_run_id   TEXT NOT NULL REFERENCES flow_runs (id) ON DELETE CASCADE,
    transition_id TEXT UNIQUE,
    type          TEXT NOT NULL,
    name          TEXT NOT NULL,
    message       TEXT NOT NULL,
    timestamp     BIGINT NOT NULL
);
CREATE INDEX flow_run_states_run ON flow_run_states (flow_run_id, id);

CREATE TABLE logs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    flow_run_id TEXT NOT NULL,
    emitter     TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    timestamp   BIGINT NOT NULL,
    stream      TEXT NOT NULL,
    level       TEXT NOT NULL,
    message     TEXT NOT NULL,
    task_run_id TEXT NOT NULL DEFAULT '',
    UNIQUE (flow_run_id, emitter, seq)
);
CREATE INDEX logs_run ON logs (flow_run_id, id);
