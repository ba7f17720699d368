//! A Python flow's task runs report the CPU time their thread spent
//! (`time.thread_time()` around a sync task's call, around each step of an
//! async task's coroutine): a task burning 0.5 s of CPU reports about that
//! much, one sleeping as long almost none, also when two async tasks share
//! the event loop's thread.

use serde_json::Value;

use super::{run_to_end, server_with, task};

/// The `cpu_seconds` of task run `name` of a REST run record.
fn cpu(detail: &Value, name: &str) -> f64 {
    let task = task(detail, name);
    task["cpu_seconds"]
        .as_f64()
        .unwrap_or_else(|| panic!("task run {name} has no cpu_seconds: {task:#}"))
}

#[test]
fn a_python_task_reports_the_cpu_time_it_burnt_and_a_sleeping_one_almost_none() {
    let (server, _worker, _dir) = server_with(&["task_cpu", "task_cpu_async"]);
    for (flow, burns, sleeps) in [
        ("task_cpu", "burns-cpu", "sleeps-a-while"),
        ("task_cpu_async", "burns-cpu-async", "sleeps-async"),
    ] {
        let detail = run_to_end(&server, flow, &[]);
        assert_eq!(detail["state"]["type"], "COMPLETED", "{detail:#}");
        let burnt = cpu(&detail, burns);
        assert!((0.3..=1.5).contains(&burnt), "{burns}: {burnt} s");
        let slept = cpu(&detail, sleeps);
        assert!(slept < 0.1, "{sleeps}: {slept} s");
    }
}
