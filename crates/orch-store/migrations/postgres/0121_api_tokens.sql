-- Credentials (issue 12): API tokens with a scope, dashboard sessions made
-- from a token, and the per-run credentials handed to flow processes. Only
-- the SHA-256 of each secret is stored; `id` is the key's public part and
-- the lookup key. A per-run credential goes with its run (ON DELETE
-- CASCADE) and stops working once the run is in a terminal state.
-- The same schema exists for the other backend in ../sqlite and ../postgres.

CREATE TABLE api_tokens (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    scope       TEXT NOT NULL,
    pools       TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    flow_run_id TEXT REFERENCES flow_runs (id) ON DELETE CASCADE,
    parent_id   TEXT,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT,
    revoked_at  BIGINT,
    last_used   BIGINT
);
-- One live token per name; a revoked name may be used again.
CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens (name) WHERE kind = 'token' AND revoked_at IS NULL;
CREATE INDEX api_tokens_parent ON api_tokens (parent_id);
CREATE INDEX api_tokens_flow_run ON api_tokens (flow_run_id);
