-- The worker whose lease on a run expired (the lease sweep ended the run):
-- its late final report is still accepted while nothing else has started
-- the run. Cleared when the run is claimed again.
ALTER TABLE flow_runs ADD COLUMN lease_expired_worker_id TEXT;
