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
    /// Task runs whose outputs it has read so far.
    pub upstream: Mutex<BTreeSet<String>>,
}

impl TaskScope {
    pub(crate) fn new(
        task_run_id: String,
        declared: impl IntoIterator<Item = String>,
    ) -> Arc<TaskScope> {
        Arc::new(TaskScope {
            task_run_id,
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

/// The id of the task run whose code is running now.
pub(crate) fn current_task_run_id() -> Option<String> {
    CURRENT_TASK
        .try_with(|scope| scope.task_run_id.clone())
        .ok()
}

/// The value a task returned. Reading it (through `Deref`) inside another
/// task records the edge "that task consumed this one", so the dependency
/// graph follows the data without any annotation.
#[derive(Debug, Clone)]
pub struct Output<T> {
    value: T,
    task_run_id: String,
}

impl<T> Output<T> {
    pub(crate) fn new(value: T, task_run_id: String) -> Output<T> {
        Output { value, task_run_id }
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
            if scope.task_run_id != self.task_run_id {
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
        let prices = Output::new(vec![1.0, 2.0], "prices-run".to_string());
        let scope = TaskScope::new("predict-run".into(), []);
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
        let prices = Output::new(5, "prices-run".to_string());
        assert_eq!(*prices, 5);
        assert!(current_task_run_id().is_none());
    }
}
