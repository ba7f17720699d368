//! Task outputs, and the dependency edges recorded as they flow into other tasks.

use std::collections::BTreeSet;
use std::ops::Deref;
use std::sync::{Arc, Mutex};

tokio::task_local! {
    /// The task whose code is running now, if any.
    pub(crate) static CURRENT_TASK: Arc<TaskScope>;
}

/// What is known about the running task while its code runs.
#[derive(Debug)]
pub(crate) struct TaskScope {
    /// Its task run id.
    pub task_run_id: String,
    /// The flow run it belongs to (a subflow called inside the task runs
    /// code of another run).
    pub flow_run_id: String,
    /// Task runs whose outputs it has read so far.
    pub upstream: Mutex<BTreeSet<String>>,
}

impl TaskScope {
    pub(crate) fn new(
        task_run_id: String,
        flow_run_id: String,
        declared: impl IntoIterator<Item = String>,
    ) -> Arc<TaskScope> {
        Arc::new(TaskScope {
            task_run_id,
            flow_run_id,
            upstream: Mutex::new(declared.into_iter().collect()),
        })
    }

    pub(crate) fn upstream_ids(&self) -> Vec<String> {
        self.upstream
            .lock()
            .expect("upstream lock")
            .iter()
            .cloned()
            .collect()
    }
}

/// The id of the task run of flow run `flow_run_id` whose code is running
/// now: none outside tasks, and none in a subflow's own code called from a
/// task of its parent (that task is another run's).
pub(crate) fn current_task_run_id(flow_run_id: &str) -> Option<String> {
    CURRENT_TASK
        .try_with(|scope| (scope.flow_run_id == flow_run_id).then(|| scope.task_run_id.clone()))
        .ok()
        .flatten()
}

/// The value a task returned. Reading it (through `Deref`) inside another
/// task records the edge "that task consumed this one", so the dependency
/// graph follows the data without any annotation.
#[derive(Debug, Clone)]
pub struct Output<T> {
    value: T,
    task_run_id: String,
    /// The flow run of that task run: an edge joins task runs of one run.
    flow_run_id: String,
}

impl<T> Output<T> {
    pub(crate) fn new(value: T, task_run_id: String, flow_run_id: String) -> Output<T> {
        Output {
            value,
            task_run_id,
            flow_run_id,
        }
    }

    /// The task run that produced it.
    pub fn task_run_id(&self) -> &str {
        &self.task_run_id
    }

    /// The value, recording the edge if read inside a task.
    pub fn into_inner(self) -> T {
        self.record_read();
        self.value
    }

    fn record_read(&self) {
        let _ = CURRENT_TASK.try_with(|scope| {
            // A subflow's output read by its parent (or the other way round)
            // joins two runs: not an edge of either run's graph.
            if scope.task_run_id != self.task_run_id && scope.flow_run_id == self.flow_run_id {
                scope
                    .upstream
                    .lock()
                    .expect("upstream lock")
                    .insert(self.task_run_id.clone());
            }
        });
    }
}

impl<T> Deref for Output<T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.record_read();
        &self.value
    }
}

/// Anything that names a task run, for explicit edges (`.after(..)`).
pub trait Upstream {
    /// The task run id.
    fn upstream_id(&self) -> String;
}

impl<T> Upstream for Output<T> {
    fn upstream_id(&self) -> String {
        self.task_run_id.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reading_an_output_inside_a_task_records_the_edge() {
        let prices = Output::new(vec![1.0, 2.0], "prices-run".to_string(), "run".into());
        let scope = TaskScope::new("predict-run".into(), "run".into(), []);
        CURRENT_TASK
            .scope(scope.clone(), async {
                let total: f64 = prices.iter().sum();
                assert_eq!(total, 3.0);
            })
            .await;
        assert_eq!(scope.upstream_ids(), vec!["prices-run".to_string()]);
    }

    #[tokio::test]
    async fn reading_an_output_outside_any_task_records_nothing() {
        let prices = Output::new(5, "prices-run".to_string(), "run".into());
        assert_eq!(*prices, 5);
        assert!(current_task_run_id("run").is_none());
    }

    #[tokio::test]
    async fn an_output_of_another_run_read_in_a_task_is_no_edge() {
        let child_output = Output::new(2, "child-step".to_string(), "child".into());
        let parent_call = TaskScope::new("call".into(), "parent".into(), []);
        CURRENT_TASK
            .scope(parent_call.clone(), async {
                assert_eq!(*child_output, 2);
            })
            .await;
        assert!(parent_call.upstream_ids().is_empty());
    }

    #[tokio::test]
    async fn the_running_task_is_of_its_own_flow_run_only() {
        let scope = TaskScope::new("fetch-run".into(), "parent".into(), []);
        CURRENT_TASK
            .scope(scope, async {
                assert_eq!(current_task_run_id("parent").as_deref(), Some("fetch-run"));
                assert_eq!(current_task_run_id("child"), None);
            })
            .await;
    }
}
