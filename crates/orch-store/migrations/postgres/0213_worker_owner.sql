-- Worker identity (issue 21): the credential that registered each worker.
-- A worker-scoped token may act (heartbeat, claim, subscribe, deregister)
-- only as the workers it registered itself. NULL: registered without
-- authentication or before this migration (only non-worker credentials may
-- then act as it). The same schema exists for the other backend in ../sqlite
-- and ../postgres.

ALTER TABLE workers ADD COLUMN registered_by TEXT;
