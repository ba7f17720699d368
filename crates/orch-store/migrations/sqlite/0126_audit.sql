-- The audit trail (issue 12): every call that changed something.
-- The same schema exists for the other backend in ../sqlite and ../postgres.
CREATE TABLE audit_log (
    id TEXT PRIMARY KEY,
    at BIGINT NOT NULL,
    caller TEXT NOT NULL,
    address TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    outcome TEXT NOT NULL,
    transport TEXT NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);
