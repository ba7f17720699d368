//! Following a run live over `WatchFlowRun`: state changes and log lines as they
//! happen, reconnecting (from the last log line seen) when the stream drops.

use std::time::Duration;

use orch_proto::v1::flow_run_event::Event;
use orch_proto::v1::{FlowRun, WatchFlowRunRequest};
use serde::Serialize;
use tonic::{Code, Status};

use crate::client::Api;
use crate::output::{self, Format, time};
use crate::views::flow_run::FlowRunView;
use crate::views::log::LogLineView;
use crate::views::prelude::*;
use crate::views::state::StateView;

/// First wait before reconnecting a dropped stream; it doubles up to [`MAX_RETRY_DELAY`].
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(250);
/// Longest wait between reconnection attempts.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(5);
/// How long the server may stay unreachable before following gives up.
const GIVE_UP_AFTER: Duration = Duration::from_secs(60);

/// What to print while following a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Show {
    /// State changes and log lines (`deployment run --watch`).
    StatesAndLogs,
    /// Log lines only (`flow-run logs --follow`).
    Logs,
}

/// One event in `--output json` mode, printed as one line of JSON.
#[derive(Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum WatchEvent<'a> {
    /// The run was created.
    Created {
        /// The new run.
        run: &'a FlowRunView,
    },
    /// The run entered a state.
    State {
        /// The run's id.
        flow_run_id: &'a str,
        /// The new state.
        state: &'a StateView,
    },
    /// The run wrote a log line.
    Log {
        /// The line.
        log: &'a LogLineView,
    },
    /// The run ended.
    Finished {
        /// The run in its final state.
        run: &'a FlowRunView,
    },
}

/// Prints the run's events as chosen by `show` until it ends and its logs are drained;
/// returns the run in its final state.
pub async fn follow(
    api: &Api,
    flow_run: &str,
    show: Show,
    format: Format,
) -> anyhow::Result<FlowRunView> {
    let mut follower = Follower {
        show,
        format,
        last_log_id: 0,
        last_state: None,
        run: None,
    };
    let mut retry = Retry::default();
    loop {
        match follower.stream(api, flow_run, &mut retry).await? {
            Ok(()) => {
                if let Some(run) = follower.run.as_ref().filter(|run| run.state.is_terminal()) {
                    return Ok(run.clone());
                }
                // The server closed the stream before the run ended (e.g. it restarted).
                retry.wait(api, "the server closed the stream").await?;
            }
            Err(status) if is_transient(&status) => {
                if let Err(error) = retry.wait(api, status.message()).await {
                    return Err(if status.code() == Code::Unavailable {
                        api.error(status)
                    } else {
                        error
                    });
                }
            }
            Err(status) => return Err(api.error(status)),
        }
    }
}

/// Where following stands: what has been printed already.
struct Follower {
    show: Show,
    format: Format,
    /// The id of the last log line printed; a new stream starts after it.
    last_log_id: i64,
    /// The last state printed, as (timestamp, name), so a reconnection does not repeat it.
    last_state: Option<(i64, String)>,
    /// The run as last seen.
    run: Option<FlowRunView>,
}

impl Follower {
    /// Reads one stream to its end: `Ok(Err(status))` when the call failed, `Err` when
    /// printing failed.
    async fn stream(
        &mut self,
        api: &Api,
        flow_run: &str,
        retry: &mut Retry,
    ) -> anyhow::Result<Result<(), Status>> {
        let request = WatchFlowRunRequest {
            flow_run: flow_run.to_owned(),
            after_log_id: self.last_log_id,
        };
        let mut events = match api.flow_runs().watch_flow_run(request).await {
            Ok(response) => response.into_inner(),
            Err(status) => return Ok(Err(status)),
        };
        loop {
            match events.message().await {
                Ok(Some(event)) => {
                    retry.reset();
                    match event.event {
                        Some(Event::Run(run)) => self.on_run(&run)?,
                        Some(Event::Log(line)) => self.on_log(LogLineView::from(&line))?,
                        None => {}
                    }
                }
                Ok(None) => return Ok(Ok(())),
                Err(status) => return Ok(Err(status)),
            }
        }
    }

    /// Prints a state change.
    fn on_run(&mut self, run: &FlowRun) -> anyhow::Result<()> {
        let view = FlowRunView::try_from(run)?;
        let state = (view.state.timestamp, view.state.name.clone());
        let changed = self.last_state.as_ref() != Some(&state);
        self.last_state = Some(state);
        if changed && self.show == Show::StatesAndLogs {
            match self.format {
                Format::Table => output::write_line(format_args!(
                    "{}  State -> {}",
                    time::clock(view.state.timestamp),
                    view.state.painted_summary()
                ))?,
                Format::Json => output::print_json_line(&WatchEvent::State {
                    flow_run_id: &view.id,
                    state: &view.state,
                })?,
            }
        }
        self.run = Some(view);
        Ok(())
    }

    /// Prints a log line not printed yet.
    fn on_log(&mut self, line: LogLineView) -> anyhow::Result<()> {
        if line.id != 0 && line.id <= self.last_log_id {
            return Ok(());
        }
        self.last_log_id = self.last_log_id.max(line.id);
        match self.format {
            Format::Table => output::write_line(line.line())?,
            Format::Json => output::print_json_line(&WatchEvent::Log { log: &line })?,
        }
        Ok(())
    }
}

/// Whether a failed stream may work again when reopened.
fn is_transient(status: &Status) -> bool {
    matches!(
        status.code(),
        Code::Unavailable | Code::Unknown | Code::Aborted | Code::Cancelled
    )
}

/// Waits between reconnections, longer each time, and gives up after [`GIVE_UP_AFTER`]
/// without an event.
#[derive(Debug, Default)]
struct Retry {
    delay: Option<Duration>,
    waited: Duration,
}

impl Retry {
    /// Starts over after an event came through.
    fn reset(&mut self) {
        self.delay = None;
        self.waited = Duration::ZERO;
    }

    /// Waits before the next attempt, or fails once the server stayed away too long.
    async fn wait(&mut self, api: &Api, cause: &str) -> anyhow::Result<()> {
        if self.waited >= GIVE_UP_AFTER {
            if let Some(all) = api.unreachable_servers() {
                anyhow::bail!(
                    "lost the stream of the flow run and could not reconnect for {}: {all}",
                    time::duration(self.waited)
                );
            }
            anyhow::bail!(
                "lost the connection to the orch server at {} and could not reconnect for {}: {cause}",
                api.url(),
                time::duration(self.waited)
            );
        }
        let delay = self
            .delay
            .map_or(FIRST_RETRY_DELAY, |delay| (delay * 2).min(MAX_RETRY_DELAY));
        if self.delay.is_none() {
            tracing::warn!("lost the stream of the flow run ({cause}); reconnecting");
        }
        self.delay = Some(delay);
        self.waited += delay;
        tokio::time::sleep(delay).await;
        Ok(())
    }
}
