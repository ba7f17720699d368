//! Work pools and their workers.

use serde::Serialize;

use super::rfc3339;
use crate::v1 as pb;

/// A work pool.
#[derive(Debug, Clone, Serialize)]
pub struct WorkPool {
    /// The full id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The kind of worker that serves it: `process` or `docker`.
    #[serde(rename = "type")]
    pub pool_type: String,
    /// What it is for.
    pub description: String,
    /// Whether runs are held back.
    pub paused: bool,
    /// Max runs Pending or Running at once; `null` is unlimited.
    pub concurrency_limit: Option<i64>,
    /// Runs Pending, Running or Cancelling.
    pub runs_in_flight: i64,
    /// Runs Scheduled (incl. Late) waiting for a worker.
    pub runs_waiting: i64,
    /// Workers online in the pool.
    pub workers_online: i64,
    /// When it was created.
    pub created_at: Option<String>,
    /// When it last changed.
    pub updated_at: Option<String>,
    /// Default container settings of a `docker` pool (deploy file keys), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<serde_json::Value>,
    /// Its workers, where the answer includes them (the REST API's pool list).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workers: Option<Vec<Worker>>,
    /// `created_at` in microseconds.
    #[serde(skip)]
    pub created_micros: i64,
    /// `updated_at` in microseconds.
    #[serde(skip)]
    pub updated_micros: i64,
}

impl WorkPool {
    /// The record of `pool`, without its workers.
    pub fn from_proto(pool: &pb::WorkPool) -> WorkPool {
        WorkPool {
            id: pool.id.clone(),
            name: pool.name.clone(),
            pool_type: pool.r#type.clone(),
            description: pool.description.clone(),
            paused: pool.paused,
            concurrency_limit: pool.concurrency_limit,
            runs_in_flight: pool.runs_in_flight,
            runs_waiting: pool.runs_waiting,
            workers_online: pool.workers_online,
            created_at: rfc3339(pool.created_at_micros),
            updated_at: rfc3339(pool.updated_at_micros),
            container: serde_json::from_str(&pool.container_json).ok(),
            workers: None,
            created_micros: pool.created_at_micros,
            updated_micros: pool.updated_at_micros,
        }
    }
}

impl From<&pb::WorkPool> for WorkPool {
    fn from(pool: &pb::WorkPool) -> WorkPool {
        WorkPool::from_proto(pool)
    }
}

/// A worker.
#[derive(Debug, Clone, Serialize)]
pub struct Worker {
    /// The full id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The pool it serves.
    pub work_pool: String,
    /// The host it runs on.
    pub hostname: String,
    /// Max concurrent runs; `null` is unlimited.
    pub limit: Option<u32>,
    /// `online`, `offline` (silent past its lease or 3 heartbeats) or `stopped`.
    pub status: &'static str,
    /// Runs it is executing.
    pub runs_in_flight: i64,
    /// Its orch version.
    pub version: String,
    /// When it registered.
    pub started_at: Option<String>,
    /// Its last heartbeat.
    pub last_heartbeat: Option<String>,
    /// When it stopped cleanly.
    pub stopped_at: Option<String>,
    /// How often it heartbeats; `null` when it did not say.
    pub heartbeat_interval_seconds: Option<f64>,
    /// `last_heartbeat` in microseconds.
    #[serde(skip)]
    pub last_heartbeat_micros: i64,
}

impl Worker {
    /// The record of `worker`.
    pub fn from_proto(worker: &pb::Worker) -> Worker {
        let status = match (worker.stopped_at_micros, worker.online) {
            (Some(_), _) => "stopped",
            (None, true) => "online",
            (None, false) => "offline",
        };
        Worker {
            id: worker.id.clone(),
            name: worker.name.clone(),
            work_pool: worker.work_pool.clone(),
            hostname: worker.hostname.clone(),
            limit: (worker.limit != 0).then_some(worker.limit),
            status,
            runs_in_flight: worker.runs_in_flight,
            version: worker.version.clone(),
            started_at: rfc3339(worker.started_at_micros),
            last_heartbeat: rfc3339(worker.last_heartbeat_micros),
            stopped_at: worker.stopped_at_micros.and_then(rfc3339),
            heartbeat_interval_seconds: (worker.heartbeat_interval_seconds > 0.0)
                .then_some(worker.heartbeat_interval_seconds),
            last_heartbeat_micros: worker.last_heartbeat_micros,
        }
    }

    /// Whether it heartbeats.
    pub fn is_online(&self) -> bool {
        self.status == "online"
    }
}

impl From<&pb::Worker> for Worker {
    fn from(worker: &pb::Worker) -> Worker {
        Worker::from_proto(worker)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stopped_worker_is_stopped_whatever_its_heartbeats_say() {
        let stopped = pb::Worker {
            online: true,
            stopped_at_micros: Some(5),
            ..Default::default()
        };
        assert_eq!(Worker::from_proto(&stopped).status, "stopped");
        let silent = pb::Worker::default();
        assert_eq!(Worker::from_proto(&silent).status, "offline");
        assert_eq!(Worker::from_proto(&silent).limit, None);
    }

    #[test]
    fn pools_list_workers_only_when_given() {
        let pool = WorkPool::from_proto(&pb::WorkPool::default());
        assert!(
            serde_json::to_value(&pool)
                .unwrap()
                .get("workers")
                .is_none()
        );
    }
}
