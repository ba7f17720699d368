-- Background duties elected across replicas (issue 24): several servers on
-- one database each run the scheduler, the lease sweep, pruning, automation
-- conditions and backups only while they hold that duty's lease here. A
-- holder renews its lease every few seconds; when it dies, another replica
-- takes the duty over once expires_at has passed. holder is the replica's id
-- (random per server process), named for people in holder_name.
-- The same schema exists for the other backend in ../sqlite and ../postgres.

CREATE TABLE duty_leases (
    duty        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    holder_name TEXT NOT NULL,
    acquired_at BIGINT NOT NULL,
    renewed_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
