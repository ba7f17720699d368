//! A task attempt's span, recorded cheaply.
//!
//! An SDK's task runs thousands of attempts a second; building an
//! `opentelemetry` SDK span for each (a boxed span, its attribute vector, its
//! name, the sampler, the hand-over to the batch thread) cost about 6 µs of
//! CPU per task in a release build, 18 % of the SDK's own. A [`TaskAttempt`]
//! is a plain struct instead: ids (the span id from a thread-local fast
//! random generator), the parent's, two times, the task's name and run id;
//! ending it queues it ([`crate::batch`]), and the export thread writes it
//! straight into the OTLP request ([`crate::otlp`]) as the span the SDK span
//! was: named `task NAME`, with the attributes `orch.task_run.id`, `.name`,
//! `.attempt`, `.cpu_seconds` (when measured) and `.state`, an error status
//! when the attempt failed.
//!
//! Sampling follows the parent (the run's span, whose sampler decided): an
//! attempt under an unsampled parent has ids (a subflow's run span may be
//! its child) but is not exported; without a parent it starts a sampled trace.

use std::time::SystemTime;

use opentelemetry::Context;
use opentelemetry::trace::{SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState};
use orch_core::TraceParent;

/// The span of one attempt of a task, while traces are exported.
#[derive(Debug)]
pub struct TaskAttempt {
    pub(crate) trace_id: TraceId,
    pub(crate) span_id: SpanId,
    pub(crate) parent_span_id: SpanId,
    pub(crate) parent_is_remote: bool,
    pub(crate) flags: TraceFlags,
    pub(crate) trace_state: TraceState,
    pub(crate) name: String,
    pub(crate) task_run_id: String,
    pub(crate) attempt: u32,
    pub(crate) start: SystemTime,
    pub(crate) end: SystemTime,
    pub(crate) cpu_micros: Option<i64>,
    pub(crate) state: &'static str,
    pub(crate) error: Option<String>,
}

/// A random non-zero span id.
fn new_span_id() -> SpanId {
    SpanId::from(fastrand::u64(1..))
}

impl TaskAttempt {
    /// Starts the span of attempt `attempt` of task run `task_run_id` (of
    /// task `name`), a child of the span `run` holds (its run's span);
    /// `None` while this process exports no traces (nothing is built).
    pub fn start(
        run: &Context,
        name: &str,
        task_run_id: &str,
        attempt: u32,
    ) -> Option<TaskAttempt> {
        crate::enabled().then(|| TaskAttempt::child_of(run, name, task_run_id, attempt))
    }

    /// The attempt's span, a child of the span `run` holds (or a root span).
    pub(crate) fn child_of(
        run: &Context,
        name: &str,
        task_run_id: &str,
        attempt: u32,
    ) -> TaskAttempt {
        let span = run.span();
        let parent = span.span_context();
        let (trace_id, parent_span_id, flags, trace_state) = if parent.is_valid() {
            (
                parent.trace_id(),
                parent.span_id(),
                parent.trace_flags(),
                parent.trace_state().clone(),
            )
        } else {
            (
                TraceId::from(fastrand::u128(1..)),
                SpanId::INVALID,
                TraceFlags::SAMPLED,
                TraceState::default(),
            )
        };
        TaskAttempt {
            trace_id,
            span_id: new_span_id(),
            parent_span_id,
            parent_is_remote: parent.is_valid() && parent.is_remote(),
            flags,
            trace_state,
            name: name.to_owned(),
            task_run_id: task_run_id.to_owned(),
            attempt,
            start: SystemTime::now(),
            end: SystemTime::UNIX_EPOCH,
            cpu_micros: None,
            state: "",
            error: None,
        }
    }

    /// The span's own `traceparent` (a subflow run's span is its child).
    pub fn traceparent(&self) -> TraceParent {
        TraceParent {
            trace_id: self.trace_id.to_bytes(),
            span_id: self.span_id.to_bytes(),
            flags: self.flags.to_u8(),
        }
    }

    /// The CPU time the attempt spent (`orch.task_run.cpu_seconds`), when measured.
    pub fn set_cpu_micros(&mut self, micros: Option<i64>) {
        self.cpu_micros = micros;
    }

    /// Ends the span with the attempt's final state (`Completed`,
    /// `Failed`...), an error status with `error` when it failed, and
    /// queues it for export (unless its trace is not sampled).
    pub fn end(mut self, state: &'static str, error: Option<&str>) {
        if !self.flags.is_sampled() {
            return;
        }
        self.end = SystemTime::now();
        self.state = state;
        self.error = error.map(str::to_owned);
        crate::batch::push_attempt(self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote_parent;

    #[test]
    fn an_attempt_is_a_child_of_its_run_span() {
        let parent =
            TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        let run = remote_parent(&parent, Some("vendor=1"));
        let attempt = TaskAttempt::child_of(&run, "fetch", "0191-run", 2);
        assert!(attempt.flags.is_sampled());
        let own = attempt.traceparent();
        assert_eq!(own.trace_id, parent.trace_id);
        assert_ne!(own.span_id, parent.span_id);
        assert_ne!(own.span_id, [0; 8]);
        assert_eq!(attempt.parent_span_id.to_bytes(), parent.span_id);
        assert!(attempt.parent_is_remote);
        assert_eq!(attempt.trace_state.header(), "vendor=1");
        assert_eq!(
            (attempt.name.as_str(), attempt.task_run_id.as_str()),
            ("fetch", "0191-run")
        );
        assert_eq!(attempt.attempt, 2);
        // What the encoder writes of it: crate::otlp's tests.
    }

    #[test]
    fn without_a_parent_an_attempt_starts_a_sampled_trace() {
        let attempt = TaskAttempt::child_of(&Context::new(), "t", "id", 1);
        assert_ne!(attempt.trace_id, TraceId::INVALID);
        assert_ne!(attempt.span_id, SpanId::INVALID);
        assert!(attempt.flags.is_sampled());
        assert_eq!(attempt.parent_span_id, SpanId::INVALID);
        assert!(!attempt.parent_is_remote);
        assert_eq!(attempt.error, None);
    }

    #[test]
    fn under_an_unsampled_parent_an_attempt_is_not_sampled() {
        let parent =
            TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00").unwrap();
        let attempt = TaskAttempt::child_of(&remote_parent(&parent, None), "t", "id", 1);
        assert!(!attempt.flags.is_sampled());
        assert_eq!(attempt.traceparent().flags, 0);
    }

    #[test]
    fn nothing_is_built_while_no_traces_are_exported() {
        if !crate::enabled() {
            assert!(TaskAttempt::start(&Context::new(), "t", "id", 1).is_none());
        }
    }
}
