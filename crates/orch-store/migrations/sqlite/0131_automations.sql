-- Automations (issue 13): triggers over run states, custom events and
-- conditions, delivered through an outbox. The run state history
-- (flow_run_states) and flow_run_events are the outbox's sources: every
-- state change and every emitted event is written there in the transaction
-- that makes it; the automation engine reads them in order from a durable
-- cursor and writes each firing once (UNIQUE (automation_id, source_key)).
-- Deliveries are claimed under a lease, retried with backoff, and recorded
-- attempt by attempt. The same schema exists for the other backend.

CREATE TABLE automations (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    description   TEXT NOT NULL,
    spec          TEXT NOT NULL,
    paused        BIGINT NOT NULL DEFAULT 0,
    last_fired_at BIGINT,
    firings       BIGINT NOT NULL DEFAULT 0,
    suppressed    BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

-- How far the engine has read each source (its last id).
CREATE TABLE automation_cursors (
    source   TEXT PRIMARY KEY,
    position BIGINT NOT NULL
);

-- Custom events emitted by flows (ctx.emit).
CREATE TABLE flow_run_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    flow_run_id TEXT NOT NULL REFERENCES flow_runs (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    payload     TEXT NOT NULL,
    timestamp   BIGINT NOT NULL
);

CREATE TABLE automation_firings (
    id            TEXT PRIMARY KEY,
    automation_id TEXT NOT NULL REFERENCES automations (id) ON DELETE CASCADE,
    source_key    TEXT NOT NULL,
    kind          TEXT NOT NULL,
    suppressed    BIGINT NOT NULL,
    flow_run_id   TEXT,
    context       TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    UNIQUE (automation_id, source_key)
);
CREATE INDEX automation_firings_automation ON automation_firings (automation_id, created_at);

CREATE TABLE automation_deliveries (
    id               TEXT PRIMARY KEY,
    firing_id        TEXT NOT NULL REFERENCES automation_firings (id) ON DELETE CASCADE,
    automation_id    TEXT NOT NULL REFERENCES automations (id) ON DELETE CASCADE,
    action_index     BIGINT NOT NULL,
    action_type      TEXT NOT NULL,
    status           TEXT NOT NULL,
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    lease_owner      TEXT,
    lease_until      BIGINT,
    last_status_code BIGINT,
    last_error       TEXT NOT NULL DEFAULT '',
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    delivered_at     BIGINT,
    UNIQUE (firing_id, action_index)
);
CREATE INDEX automation_deliveries_due ON automation_deliveries (status, next_attempt_at);
CREATE INDEX automation_deliveries_automation ON automation_deliveries (automation_id, created_at);

-- Every attempt, for `orch automation history`.
CREATE TABLE automation_attempts (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id    TEXT NOT NULL REFERENCES automation_deliveries (id) ON DELETE CASCADE,
    automation_id  TEXT NOT NULL REFERENCES automations (id) ON DELETE CASCADE,
    attempt        BIGINT NOT NULL,
    outcome        TEXT NOT NULL,
    status_code    BIGINT,
    error          TEXT NOT NULL,
    started_at     BIGINT NOT NULL,
    duration_micros BIGINT NOT NULL
);
CREATE INDEX automation_attempts_automation ON automation_attempts (automation_id, id);

-- Open incidents of condition triggers (deadline, no-success, worker-offline,
-- pool-unattended): one row while the condition holds; "resolved" is sent
-- once when it clears and the row is closed.
CREATE TABLE automation_incidents (
    automation_id TEXT NOT NULL REFERENCES automations (id) ON DELETE CASCADE,
    subject       TEXT NOT NULL,
    opened_at     BIGINT NOT NULL,
    context       TEXT NOT NULL,
    PRIMARY KEY (automation_id, subject)
);
