//! Tasks: tracked steps of a flow with retries, timeouts and recorded edges.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use futures::FutureExt;
use orch_core::{StateType, names};
use serde::Serialize;

use crate::context::FlowContext;
use crate::error::{TaskError, TaskPanicked, TaskTimedOut, humanize, panic_message};
use crate::output::{CURRENT_TASK, Output, TaskScope, Upstream};
use crate::record::{TaskRecord, result_json};
use crate::retry::{Delays, RetryPolicy};
use crate::slots::{self, Acquired, SlotLease};

/// Configures a task; `.run(..)` executes it. Built by [`FlowContext::task`].
#[must_use = "a task does nothing until .run(..) is awaited"]
pub struct TaskBuilder {
    context: FlowContext,
    name: String,
    policy: RetryPolicy,
    timeout: Option<Duration>,
    tags: Vec<String>,
    after: Vec<String>,
}

enum AttemptOutcome<T> {
    Done(T),
    Error(anyhow::Error),
    Cancelled,
}

impl TaskBuilder {
    pub(crate) fn new(context: FlowContext, name: String) -> TaskBuilder {
        TaskBuilder {
            context,
            name,
            policy: RetryPolicy::default(),
            timeout: None,
            tags: Vec::new(),
            after: Vec::new(),
        }
    }

    /// Retries after a failed first attempt.
    pub fn retries(mut self, retries: u32) -> Self {
        self.policy.retries = retries;
        self
    }

    /// A fixed delay between attempts (the first delay, with exponential backoff).
    pub fn retry_delay(mut self, delay: Duration) -> Self {
        self.policy.delays = match self.policy.delays {
            Delays::Exponential { factor, max, .. } => Delays::Exponential {
                initial: delay,
                factor,
                max,
            },
            _ => Delays::Fixed(delay),
        };
        self
    }

    /// Doubles the delay after each failed attempt.
    pub fn exponential_backoff(self) -> Self {
        self.backoff_factor(2.0)
    }

    /// Multiplies the delay by `factor` after each failed attempt.
    pub fn backoff_factor(mut self, factor: f32) -> Self {
        let (initial, max) = match self.policy.delays {
            Delays::Fixed(delay) => (delay, None),
            Delays::Exponential { initial, max, .. } => (initial, max),
            Delays::List(ref list) => (list.first().copied().unwrap_or_default(), None),
        };
        let initial = if initial.is_zero() {
            Duration::from_secs(1)
        } else {
            initial
        };
        self.policy.delays = Delays::Exponential {
            initial,
            factor,
            max,
        };
        self
    }

    /// Caps a single exponential delay.
    pub fn max_retry_delay(mut self, max: Duration) -> Self {
        if let Delays::Exponential {
            initial, factor, ..
        } = self.policy.delays
        {
            self.policy.delays = Delays::Exponential {
                initial,
                factor,
                max: Some(max),
            };
        }
        self
    }

    /// Exactly these delays between attempts (the last repeats); sets `retries` to their count if larger.
    pub fn retry_delays(mut self, delays: Vec<Duration>) -> Self {
        self.policy.retries = self.policy.retries.max(delays.len() as u32);
        self.policy.delays = Delays::List(delays);
        self
    }

    /// Adds up to `fraction` of each delay at random (0.2: up to 20 % longer).
    pub fn jitter(mut self, fraction: f64) -> Self {
        self.policy.jitter = fraction.max(0.0);
        self
    }

    /// Retries only errors for which `condition` returns true.
    pub fn retry_if(
        mut self,
        condition: impl Fn(&anyhow::Error) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.policy.condition = Some(Arc::new(condition));
        self
    }

    /// Fails an attempt that takes longer than this (and retries it if allowed).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// A concurrency tag.
    pub fn tag(mut self, tag: &str) -> Self {
        self.tags.push(tag.to_string());
        self
    }

    /// Records that this task depends on `upstream` even if it reads none of its data.
    pub fn after(mut self, upstream: &impl Upstream) -> Self {
        self.after.push(upstream.upstream_id());
        self
    }

    fn report(&self, snapshot: orch_proto::v1::TaskRun) {
        if let Some(reporter) = self.context.reporter() {
            reporter.task(snapshot);
        }
    }

    /// Runs the task: calls `attempt` until it succeeds, its retries run out or
    /// the flow run is cancelled. Each attempt is a server-visible state change.
    pub async fn run<F, Fut, T, E>(self, mut attempt_fn: F) -> Result<Output<T>, TaskError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Into<anyhow::Error>,
        T: Serialize,
    {
        let flow_run_id = self.context.flow_run_id().to_string();
        let (mut record, created) =
            TaskRecord::new(&flow_run_id, &self.name, &self.tags, self.policy.retries);
        self.report(created);
        let scope = TaskScope::new(
            record.id().to_string(),
            flow_run_id.clone(),
            self.after.clone(),
        );
        let lease = self.take_slots(&mut record, &scope, &flow_run_id).await?;
        let result = self.attempts(&mut attempt_fn, &mut record, &scope).await;
        if let Some(lease) = lease {
            lease.release().await;
        }
        result
    }

    /// With tags and a server: waits for a slot of each limited tag.
    async fn take_slots(
        &self,
        record: &mut TaskRecord,
        scope: &TaskScope,
        flow_run_id: &str,
    ) -> Result<Option<SlotLease>, TaskError> {
        let (Some(reporter), false) = (self.context.reporter(), self.tags.is_empty()) else {
            return Ok(None);
        };
        let holder_id = record.id().to_string();
        let acquired = slots::acquire(
            reporter.api(),
            &self.tags,
            &holder_id,
            flow_run_id,
            self.context.cancel_token(),
            |full| {
                let note = format!(
                    "waiting for a concurrency slot of tag(s) {}",
                    full.join(", ")
                );
                tracing::info!(task = %self.name, "{note}");
                self.report(record.enter(
                    StateType::Scheduled,
                    names::AWAITING_CONCURRENCY_SLOT,
                    &note,
                ));
            },
        )
        .await;
        match acquired {
            Acquired::Held(lease) => Ok(Some(*lease)),
            Acquired::Cancelled => Err(self.cancelled(record, scope)),
        }
    }

    /// Attempts until success, retries run out, or cancellation.
    async fn attempts<F, Fut, T, E>(
        &self,
        attempt_fn: &mut F,
        record: &mut TaskRecord,
        scope: &std::sync::Arc<TaskScope>,
    ) -> Result<Output<T>, TaskError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Into<anyhow::Error>,
        T: Serialize,
    {
        let scope = scope.clone();
        let base_delays = self.policy.base_delays();
        let cancel = self.context.cancel_token().clone();
        let mut attempt = 1;
        loop {
            record.set_attempt(attempt);
            if cancel.is_cancelled() {
                return Err(self.cancelled(record, &scope));
            }
            let running_name = if attempt == 1 {
                "Running"
            } else {
                names::RETRYING
            };
            self.report(record.enter(StateType::Running, running_name, ""));
            tracing::debug!(task = %self.name, attempt, "task running");
            let span = crate::trace::attempt(
                self.context.trace_context(),
                &self.name,
                record.id(),
                attempt,
            );
            let call =
                AssertUnwindSafe(async { attempt_fn().await.map_err(Into::into) }).catch_unwind();
            // The attempt's CPU time: its own polls only (see crate::cpu).
            let cpu_nanos = AtomicI64::new(0);
            let call = crate::cpu::measured(call, &cpu_nanos);
            let scoped = CURRENT_TASK.scope(scope.clone(), call);
            let outcome = tokio::select! {
                result = with_timeout(self.timeout, scoped) => match result {
                    Ok(Ok(Ok(value))) => AttemptOutcome::Done(value),
                    Ok(Ok(Err(error))) => AttemptOutcome::Error(error),
                    Ok(Err(payload)) => AttemptOutcome::Error(TaskPanicked { message: panic_message(payload.as_ref()) }.into()),
                    Err(timed_out) => AttemptOutcome::Error(timed_out.into()),
                },
                _ = cancel.cancelled() => AttemptOutcome::Cancelled,
            };
            let cpu_micros =
                crate::cpu::MEASURED.then(|| cpu_nanos.load(Ordering::Relaxed) / 1_000);
            if let Some(micros) = cpu_micros {
                record.add_cpu_micros(micros);
            }
            if let Some(mut span) = span {
                span.set_cpu_micros(cpu_micros);
                match &outcome {
                    AttemptOutcome::Done(_) => span.end("Completed", None),
                    AttemptOutcome::Cancelled => span.end("Cancelled", None),
                    AttemptOutcome::Error(error) => span.end("Failed", Some(&format!("{error:#}"))),
                }
            }
            let error = match outcome {
                AttemptOutcome::Done(value) => {
                    record.set_upstream(scope.upstream_ids());
                    record.set_result(result_json(&value));
                    self.report(record.enter(StateType::Completed, "Completed", ""));
                    return Ok(Output::new(
                        value,
                        record.id().to_string(),
                        self.context.flow_run_id().to_string(),
                    ));
                }
                AttemptOutcome::Cancelled => return Err(self.cancelled(record, &scope)),
                AttemptOutcome::Error(error) => error,
            };
            let message = format!("{error:#}");
            if self.policy.should_retry(attempt, &error) {
                let delay = self.policy.delay_before(attempt, &base_delays);
                let note = format!(
                    "attempt {attempt} failed: {message}; retrying in {}",
                    humanize(delay)
                );
                tracing::warn!(task = %self.name, "{note}");
                self.report(record.enter(StateType::Scheduled, names::AWAITING_RETRY, &note));
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = cancel.cancelled() => return Err(self.cancelled(record, &scope)),
                }
                attempt += 1;
                continue;
            }
            tracing::error!(task = %self.name, attempt, "task failed: {message}");
            record.set_upstream(scope.upstream_ids());
            record.set_error(message.clone());
            self.report(record.enter(StateType::Failed, "Failed", &message));
            return Err(TaskError::Failed {
                task: self.name.clone(),
                attempts: attempt,
                message,
                source: error.into(),
            });
        }
    }

    fn cancelled(&self, record: &mut TaskRecord, scope: &TaskScope) -> TaskError {
        record.set_upstream(scope.upstream_ids());
        self.report(record.enter(
            StateType::Cancelled,
            "Cancelled",
            "the flow run was cancelled",
        ));
        TaskError::Cancelled {
            task: self.name.clone(),
        }
    }
}

async fn with_timeout<F: Future>(
    timeout: Option<Duration>,
    future: F,
) -> Result<F::Output, TaskTimedOut> {
    match timeout {
        Some(after) => tokio::time::timeout(after, future)
            .await
            .map_err(|_| TaskTimedOut { after }),
        None => Ok(future.await),
    }
}
