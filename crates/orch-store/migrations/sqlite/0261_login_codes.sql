-- One-time dashboard login codes (issue 26): `orch up`, `orch server start`
-- and `orch ui` print a link carrying one; opening it logs the browser in as
-- the token it was made for. Only the code's SHA-256 is stored; a code works
-- once (redeeming deletes it) and until expires_at, and goes with its token.
-- The same schema exists for the other backend in ../sqlite and ../postgres.

CREATE TABLE login_codes (
    code_hash  TEXT PRIMARY KEY,
    token_id   TEXT NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
