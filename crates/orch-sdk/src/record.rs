//! The client side of a task run: its state history, as snapshots for the server.

use orch_core::StateType;
use orch_proto::v1 as pb;

/// Microseconds since the Unix epoch.
pub fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// A task run as this process knows it.
#[derive(Debug, Clone)]
pub struct TaskRecord {
    snapshot: pb::TaskRun,
    next_seq: u32,
}

impl TaskRecord {
    /// A new task run, Pending, and the snapshot announcing it.
    pub fn new(
        flow_run_id: &str,
        name: &str,
        tags: &[String],
        max_retries: u32,
    ) -> (TaskRecord, pb::TaskRun) {
        let now = now_micros();
        let mut record = TaskRecord {
            snapshot: pb::TaskRun {
                id: uuid::Uuid::new_v4().to_string(),
                flow_run_id: flow_run_id.to_string(),
                name: name.to_string(),
                tags: tags.to_vec(),
                attempt: 1,
                max_retries,
                created_at_micros: now,
                ..Default::default()
            },
            next_seq: 1,
        };
        let created = record.enter(StateType::Pending, "Pending", "");
        (record, created)
    }

    /// The task run's id (a UUID made here).
    pub fn id(&self) -> &str {
        &self.snapshot.id
    }

    /// Enters a state; returns the snapshot to report (history: just this state).
    pub fn enter(&mut self, kind: StateType, name: &str, message: &str) -> pb::TaskRun {
        let now = now_micros();
        let state = pb::State {
            r#type: orch_proto::state::state_type_value(kind),
            name: name.to_string(),
            message: message.to_string(),
            timestamp_micros: now,
        };
        if kind == StateType::Running && self.snapshot.start_micros.is_none() {
            self.snapshot.start_micros = Some(now);
        }
        if kind.is_terminal() {
            self.snapshot.end_micros = Some(now);
        }
        self.snapshot.state = Some(state.clone());
        let entry = pb::TaskRunState {
            seq: self.next_seq,
            state: Some(state),
            attempt: self.snapshot.attempt,
        };
        self.next_seq += 1;
        let mut report = self.snapshot.clone();
        report.history = vec![entry];
        report
    }

    /// The attempt the next states belong to (1-based).
    pub fn set_attempt(&mut self, attempt: u32) {
        self.snapshot.attempt = attempt;
    }

    /// The error shown for a Failed task run.
    pub fn set_error(&mut self, error: String) {
        self.snapshot.error = error;
    }

    /// The task's result as JSON (small: see [`result_json`]).
    pub fn set_result(&mut self, result_json: String) {
        self.snapshot.result_json = result_json;
    }

    /// The task runs whose output it consumed (the graph's edges).
    pub fn set_upstream(&mut self, upstream_ids: Vec<String>) {
        self.snapshot.upstream_ids = upstream_ids;
    }

    /// Adds CPU time an attempt spent (microseconds) to the task run's sum,
    /// reported with the next states. A task run never given any reports
    /// none (not measured).
    pub fn add_cpu_micros(&mut self, micros: i64) {
        let sum = self.snapshot.cpu_micros.unwrap_or(0) + micros.max(0);
        self.snapshot.cpu_micros = Some(sum);
    }
}

/// Largest result kept verbatim; larger ones are summarised.
pub const MAX_RESULT_BYTES: usize = 16 * 1024;

/// A task's return value as JSON for the server, summarised if large.
pub fn result_json<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_string(value) {
        Ok(json) if json.len() <= MAX_RESULT_BYTES => json,
        Ok(json) => serde_json::json!({ "truncated": true, "bytes": json.len() }).to_string(),
        Err(error) => serde_json::json!({ "unserializable": error.to_string() }).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_state_gets_the_next_sequence_number_and_the_current_attempt() {
        let (mut record, created) = TaskRecord::new("run", "fetch", &[], 2);
        assert_eq!(created.history[0].seq, 1);
        let running = record.enter(StateType::Running, "Running", "");
        assert_eq!(running.history[0].seq, 2);
        assert!(running.start_micros.is_some());
        record.set_attempt(2);
        let failed = record.enter(StateType::Failed, "Failed", "boom");
        assert_eq!(failed.history[0].seq, 3);
        assert_eq!(failed.history[0].attempt, 2);
        assert!(failed.end_micros.is_some());
    }

    #[test]
    fn cpu_time_is_summed_over_attempts_and_unknown_until_given() {
        let (mut record, created) = TaskRecord::new("run", "fetch", &[], 1);
        assert_eq!(created.cpu_micros, None);
        record.add_cpu_micros(1_500);
        let retrying = record.enter(StateType::Scheduled, "AwaitingRetry", "");
        assert_eq!(retrying.cpu_micros, Some(1_500));
        record.add_cpu_micros(500);
        let done = record.enter(StateType::Completed, "Completed", "");
        assert_eq!(done.cpu_micros, Some(2_000));
    }

    #[test]
    fn large_results_are_summarised() {
        assert_eq!(result_json(&vec![1, 2]), "[1,2]");
        let big = "x".repeat(MAX_RESULT_BYTES + 1);
        assert!(result_json(&big).contains("\"truncated\":true"));
    }
}
