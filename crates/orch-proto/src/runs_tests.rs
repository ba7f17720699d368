use orch_core::StateType;
use serde_json::json;

use super::*;

fn state(kind: StateType) -> State {
    State {
        kind,
        name: "Late".into(),
        message: "slot missed".into(),
        timestamp: 42,
    }
}

fn wire_run() -> pb::FlowRun {
    pb::FlowRun {
        id: "r1".into(),
        name: "brisk-otter".into(),
        deployment_id: "d1".into(),
        state: Some(state_to_wire(&state(StateType::Scheduled))),
        parameters_json: r#"{"n":3}"#.into(),
        expected_start_micros: 10,
        start_micros: Some(11),
        worker_id: "w1".into(),
        worker_name: "worker-1".into(),
        usage: Some(pb::ResourceUsage {
            cpu_user_micros: 1,
            cpu_system_micros: 2,
            max_rss_bytes: 3,
            wall_micros: 4,
        }),
        schedule_slug: "hourly".into(),
        parent_flow_run_id: "p1".into(),
        ..Default::default()
    }
}

#[test]
fn a_run_comes_from_the_wire_and_goes_back_unchanged() {
    let mut wire = wire_run();
    let run = flow_run_from_wire(&wire).unwrap();
    assert_eq!(run.deployment_id.as_deref(), Some("d1"));
    assert_eq!(run.parent_task_run_id, None, "an empty id is none");
    assert_eq!(run.parameters["n"], 3);
    assert_eq!(run.usage.map(|usage| usage.wall_micros), Some(4));
    wire.trace_id = run.trace().trace_id_hex();
    assert_eq!(flow_run_to_wire(&run), wire);
}

#[test]
fn a_task_run_goes_to_the_wire_and_back_and_a_negative_cpu_time_is_none() {
    let task = TaskRun {
        id: "t1".into(),
        flow_run_id: "r1".into(),
        name: "fetch".into(),
        tags: vec!["db".into()],
        state: state(StateType::Running),
        attempt: 2,
        max_retries: 3,
        start_time: Some(5),
        end_time: None,
        error: String::new(),
        result: "[1]".into(),
        upstream_ids: vec!["t0".into()],
        history: vec![TaskRunState {
            seq: 1,
            attempt: 1,
            state: state(StateType::Failed),
        }],
        created_at: 4,
        cpu_micros: Some(7),
    };
    let mut wire = task_run_to_wire(&task);
    assert_eq!(task_run_from_wire(&wire).unwrap(), task);
    wire.cpu_micros = Some(-1);
    assert_eq!(task_run_from_wire(&wire).unwrap().cpu_micros, None);
    wire.history[0].state = None;
    assert_eq!(
        task_run_from_wire(&wire).unwrap_err().to_string(),
        "task run \"fetch\" (t1): a state is required"
    );
}

#[test]
fn parameters_that_are_not_an_object_stay_visible() {
    let mut wire = wire_run();
    wire.parameters_json = "[1, 2]".into();
    let run = flow_run_from_wire(&wire).unwrap();
    assert_eq!(run.parameters["parameters_unreadable"], json!([1, 2]));
}
