-- Scheduling: catch-up and concurrency rules of deployments, which schedule
-- made a run, how far each schedule is filled, and tag concurrency limits.
-- The same schema exists for SQLite in ../sqlite.

ALTER TABLE deployments ADD COLUMN catch_up TEXT NOT NULL DEFAULT 'latest';
ALTER TABLE deployments ADD COLUMN max_lateness_seconds BIGINT;
ALTER TABLE deployments ADD COLUMN concurrency_limit BIGINT;
ALTER TABLE deployments ADD COLUMN collision_strategy TEXT NOT NULL DEFAULT 'enqueue';

-- The last slot (micros) the scheduler has created runs up to; NULL: start from now.
ALTER TABLE deployment_schedules ADD COLUMN filled_until BIGINT;

-- How often the worker said it heartbeats (micros); it is shown offline after
-- missing 3. NULL for workers that did not say.
ALTER TABLE workers ADD COLUMN heartbeat_interval_micros BIGINT;

-- The slug of the schedule that created the run; NULL for runs started by hand.
ALTER TABLE flow_runs ADD COLUMN schedule_slug TEXT;
-- Waiting runs of a schedule (catch-up, clean-up) and in-flight runs of a deployment.
CREATE INDEX flow_runs_deployment_state ON flow_runs (deployment_id, state_type, expected_start);

CREATE TABLE concurrency_limits (
    id         TEXT PRIMARY KEY,
    tag        TEXT NOT NULL UNIQUE,
    slot_limit BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- One row per limit a holder (a task run) holds a slot of.
CREATE TABLE concurrency_slots (
    limit_id      TEXT NOT NULL REFERENCES concurrency_limits (id) ON DELETE CASCADE,
    holder_id     TEXT NOT NULL,
    flow_run_id   TEXT,
    acquired_at   BIGINT NOT NULL,
    lease_expires BIGINT NOT NULL,
    PRIMARY KEY (limit_id, holder_id)
);
CREATE INDEX concurrency_slots_holder ON concurrency_slots (holder_id);
