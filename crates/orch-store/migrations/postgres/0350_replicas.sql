-- Live server replicas (issue 24): every server process renews its row
-- every few seconds (with its duty leases) and deletes it when it shuts
-- down; a row whose expires_at has passed is a replica that died. Limits
-- that must hold across replicas (bad API keys, open streams per client)
-- give each live replica its share of the budget. id is the replica's id
-- (random per server process, as in duty_leases.holder), name is for people.
-- The same schema exists for the other backend in ../sqlite and ../postgres.

CREATE TABLE replicas (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    renewed_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
