-- Container settings (JSON object with the deploy file's keys: image, memory,
-- cpus, volumes, network, user, pull_policy, keep_container) of `docker`
-- pools: a pool's defaults, and a deployment's own, laid over them. '' is none.
ALTER TABLE work_pools ADD COLUMN container TEXT NOT NULL DEFAULT '';
ALTER TABLE deployments ADD COLUMN container TEXT NOT NULL DEFAULT '';
