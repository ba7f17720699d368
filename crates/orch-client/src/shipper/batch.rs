//! The reports collected for the next calls, and sending them.

use std::collections::HashMap;
use std::future::Future;

use orch_proto::v1::{LogLine, ReportTaskRunsRequest, TaskRun, WriteLogsRequest};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

use super::{Report, ShipperOptions};
use crate::{Api, attempt, describe, retry};

/// Reports collected for the next `ReportTaskRuns` and `WriteLogs`.
#[derive(Debug)]
pub(super) struct Batch {
    options: ShipperOptions,
    /// Task runs, one entry per id: a later report of the same task run
    /// replaces the entry and adds its history.
    tasks: Vec<TaskRun>,
    task_index: HashMap<String, usize>,
    lines: Vec<LogLine>,
    items: usize,
    bytes: usize,
    /// The reports' room in the queue, given back once they are stored.
    permits: Vec<OwnedSemaphorePermit>,
    /// When the batch must go even if not full: set by its first report.
    deadline: Option<Instant>,
}

impl Batch {
    pub(super) fn new(options: ShipperOptions) -> Self {
        Self {
            options,
            tasks: Vec::new(),
            task_index: HashMap::new(),
            lines: Vec::new(),
            items: 0,
            bytes: 0,
            permits: Vec::new(),
            deadline: None,
        }
    }

    /// When the batch must be sent, if it holds anything.
    pub(super) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Adds a report; true when the batch is full and must be sent now.
    pub(super) fn push(&mut self, report: Report, permit: Option<OwnedSemaphorePermit>) -> bool {
        self.deadline
            .get_or_insert_with(|| Instant::now() + self.options.batch_delay);
        self.items += 1;
        self.bytes += report.weight();
        self.permits.extend(permit);
        match report {
            Report::Log(line) => self.lines.push(line),
            Report::TaskRun(run) => self.add_task(run),
        }
        self.items >= self.options.batch_items || self.bytes >= self.options.batch_bytes
    }

    fn add_task(&mut self, run: TaskRun) {
        match self.task_index.get(&run.id) {
            Some(&index) => {
                let mut history = std::mem::take(&mut self.tasks[index].history);
                history.extend(run.history.iter().cloned());
                self.tasks[index] = TaskRun { history, ..run };
            }
            None => {
                self.task_index.insert(run.id.clone(), self.tasks.len());
                self.tasks.push(run);
            }
        }
    }

    /// Sends the batch, retrying until the server stores it, and empties it:
    /// task runs first (a log line may name one), then log lines.
    pub(super) async fn write(&mut self, api: &Api) {
        self.deadline = None;
        self.items = 0;
        self.bytes = 0;
        let tasks = std::mem::take(&mut self.tasks);
        self.task_index.clear();
        let lines = std::mem::take(&mut self.lines);
        if !tasks.is_empty() {
            let count = tasks.len();
            let request = ReportTaskRunsRequest { task_runs: tasks };
            deliver(count, "task run reports", || {
                let mut client = api.task_runs();
                let request = request.clone();
                async move { attempt(client.report_task_runs(request)).await }
            })
            .await;
        }
        if !lines.is_empty() {
            let count = lines.len();
            let request = WriteLogsRequest { lines };
            deliver(count, "log lines", || {
                let mut client = api.flow_runs();
                let request = request.clone();
                async move { attempt(client.write_logs(request)).await }
            })
            .await;
        }
        self.permits.clear();
    }
}

/// Makes `call` until the server stores the `count` reports (`what`), or
/// refuses them on their merits: then they are dropped with an error log,
/// since resending would be refused again and holding them would block
/// everything queued after.
async fn deliver<T, F, Fut>(count: usize, what: &str, call: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, tonic::Status>>,
{
    if let Err(status) = retry(&format!("sending {count} {what}"), call).await {
        tracing::error!(
            "the server refused {count} {what}, dropping them: {}",
            describe(&status)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(message: &str) -> Report {
        Report::Log(LogLine {
            message: message.to_owned(),
            ..LogLine::default()
        })
    }

    fn options() -> ShipperOptions {
        ShipperOptions {
            batch_items: 10,
            batch_bytes: 1000,
            ..ShipperOptions::default()
        }
    }

    #[test]
    fn a_batch_is_full_at_the_item_limit() {
        let mut batch = Batch::new(options());
        for _ in 1..10 {
            assert!(!batch.push(line("x"), None));
        }
        assert!(batch.deadline().is_some());
        assert!(batch.push(line("x"), None));
    }

    #[test]
    fn a_batch_is_full_at_the_byte_limit() {
        let mut batch = Batch::new(options());
        assert!(!batch.push(line(&"x".repeat(400)), None));
        assert!(batch.push(line(&"x".repeat(600)), None));
    }

    #[test]
    fn reports_of_one_task_run_merge_their_history() {
        let mut batch = Batch::new(options());
        let state = |name: &str| orch_proto::v1::State {
            name: name.to_owned(),
            ..Default::default()
        };
        let report = |seq: u32, name: &str| {
            Report::TaskRun(TaskRun {
                id: "t1".into(),
                state: Some(state(name)),
                history: vec![orch_proto::v1::TaskRunState {
                    seq,
                    state: Some(state(name)),
                    attempt: 1,
                }],
                ..TaskRun::default()
            })
        };
        batch.push(report(1, "Pending"), None);
        batch.push(report(2, "Running"), None);
        assert_eq!(batch.tasks.len(), 1);
        let task = &batch.tasks[0];
        assert_eq!(task.state.as_ref().unwrap().name, "Running");
        let seqs: Vec<u32> = task.history.iter().map(|entry| entry.seq).collect();
        assert_eq!(seqs, [1, 2]);
    }
}
