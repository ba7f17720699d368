-- Secrets and the variables deployments hand their runs (issue 12).
-- The same schema exists for the other backend in ../sqlite and ../postgres.

-- A secret's value is sealed by the server (an AEAD; the key is never in the
-- database): `ciphertext` is "v1:" then the nonce and the sealed value in hex.
CREATE TABLE secrets (
    name TEXT PRIMARY KEY,
    ciphertext TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- A deployment's `env` table (JSON object) and `secrets` names (JSON array).
ALTER TABLE deployments ADD COLUMN env TEXT NOT NULL DEFAULT '{}';
ALTER TABLE deployments ADD COLUMN secrets TEXT NOT NULL DEFAULT '[]';
