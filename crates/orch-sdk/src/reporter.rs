//! Sends task run states and log lines to the server in batches, in the
//! background, so reporting never sits on a task's critical path.

use std::collections::HashMap;
use std::time::Duration;

use orch_proto::credentials::AuthChannel as Channel;
use orch_proto::v1 as pb;
use orch_proto::v1::flow_run_service_client::FlowRunServiceClient;
use orch_proto::v1::task_run_service_client::TaskRunServiceClient;
use tokio::sync::{mpsc, oneshot};

/// How long reports may wait to be batched with others.
const BATCH_WINDOW: Duration = Duration::from_millis(50);
/// A batch this large is sent at once.
const BATCH_SIZE: usize = 500;
/// Log lines per WriteLogs call.
const LOG_CHUNK: usize = 1000;

enum Message {
    Task(pb::TaskRun),
    Log(pb::LogLine),
    Flush(oneshot::Sender<()>),
}

/// Handle on the background reporter; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Reporter {
    sender: mpsc::UnboundedSender<Message>,
    channel: Channel,
}

impl Reporter {
    /// Starts reporting to the server at `api_url`.
    pub(crate) fn start(api_url: &str) -> Result<Reporter, tonic::transport::Error> {
        let channel = tonic::transport::Endpoint::from_shared(api_url.to_string())?
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(5))
            .connect_lazy();
        let channel = orch_proto::credentials::with_credentials(channel, api_url, None);
        let (sender, receiver) = mpsc::unbounded_channel();
        tokio::spawn(run(receiver, channel.clone()));
        Ok(Reporter { sender, channel })
    }

    /// The connection to the server, for calls that are not reports.
    pub(crate) fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// Queues a task run snapshot.
    pub(crate) fn task(&self, snapshot: pb::TaskRun) {
        let _ = self.sender.send(Message::Task(snapshot));
    }

    /// Queues a log line.
    pub(crate) fn log(&self, line: pb::LogLine) {
        let _ = self.sender.send(Message::Log(line));
    }

    /// Sends everything queued so far; false if it could not within `within`.
    pub(crate) async fn flush(&self, within: Duration) -> bool {
        let (done, sent) = oneshot::channel();
        if self.sender.send(Message::Flush(done)).is_err() {
            return false;
        }
        matches!(tokio::time::timeout(within, sent).await, Ok(Ok(())))
    }
}

/// Reports not yet acknowledged by the server.
#[derive(Default)]
struct Pending {
    tasks: Vec<pb::TaskRun>,
    task_index: HashMap<String, usize>,
    logs: Vec<pb::LogLine>,
    waiters: Vec<oneshot::Sender<()>>,
}

impl Pending {
    fn add_task(&mut self, snapshot: pb::TaskRun) {
        match self.task_index.get(&snapshot.id) {
            Some(&index) => {
                let mut history = std::mem::take(&mut self.tasks[index].history);
                history.extend(snapshot.history.iter().cloned());
                self.tasks[index] = pb::TaskRun {
                    history,
                    ..snapshot
                };
            }
            None => {
                self.task_index
                    .insert(snapshot.id.clone(), self.tasks.len());
                self.tasks.push(snapshot);
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.tasks.is_empty() && self.logs.is_empty()
    }

    fn len(&self) -> usize {
        self.tasks.len() + self.logs.len()
    }

    async fn send(
        &mut self,
        tasks: &mut TaskRunServiceClient<Channel>,
        logs: &mut FlowRunServiceClient<Channel>,
    ) -> Result<(), tonic::Status> {
        if !self.tasks.is_empty() {
            let task_runs = self.tasks.clone();
            tasks
                .report_task_runs(pb::ReportTaskRunsRequest { task_runs })
                .await?;
            self.tasks.clear();
            self.task_index.clear();
        }
        while !self.logs.is_empty() {
            let chunk: Vec<pb::LogLine> = self.logs.iter().take(LOG_CHUNK).cloned().collect();
            let sent = chunk.len();
            logs.write_logs(pb::WriteLogsRequest { lines: chunk })
                .await?;
            self.logs.drain(..sent);
        }
        for waiter in self.waiters.drain(..) {
            let _ = waiter.send(());
        }
        Ok(())
    }
}

async fn run(mut receiver: mpsc::UnboundedReceiver<Message>, channel: Channel) {
    let mut tasks = TaskRunServiceClient::new(channel.clone())
        .max_decoding_message_size(orch_proto::MAX_MESSAGE_BYTES)
        .max_encoding_message_size(orch_proto::MAX_MESSAGE_BYTES);
    let mut logs = FlowRunServiceClient::new(channel)
        .max_decoding_message_size(orch_proto::MAX_MESSAGE_BYTES)
        .max_encoding_message_size(orch_proto::MAX_MESSAGE_BYTES);
    let mut pending = Pending::default();
    let mut failures = 0u32;
    let mut open = true;
    while open || !pending.is_empty() {
        let wait = if failures == 0 {
            BATCH_WINDOW
        } else {
            Duration::from_millis(100 * u64::from(failures.min(20)))
        };
        let mut send_now = false;
        tokio::select! {
            message = receiver.recv(), if open => match message {
                Some(Message::Task(snapshot)) => pending.add_task(snapshot),
                Some(Message::Log(line)) => pending.logs.push(line),
                Some(Message::Flush(waiter)) => {
                    pending.waiters.push(waiter);
                    send_now = true;
                }
                None => open = false,
            },
            _ = tokio::time::sleep(wait), if !pending.is_empty() || !pending.waiters.is_empty() => send_now = true,
        }
        if send_now || pending.len() >= BATCH_SIZE {
            match pending.send(&mut tasks, &mut logs).await {
                Ok(()) => failures = 0,
                Err(status) => {
                    failures += 1;
                    if failures == 1 || failures.is_multiple_of(50) {
                        eprintln!(
                            "orch-sdk: cannot report to the orch server yet ({}); retrying",
                            status.message()
                        );
                    }
                }
            }
        }
    }
}
