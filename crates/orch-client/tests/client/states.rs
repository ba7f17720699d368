//! State reports sent together against a real gRPC server on loopback:
//! what is queued while a call is out goes in the next call, each report
//! gets its own answer, failures are retried whole or alone, and an older
//! server without `SetFlowRunStates` gets each report alone.

use std::time::Duration;

use orch_client::{Api, ClientOptions, StateReports};
use orch_proto::v1::{SetFlowRunStateRequest, State, StateType, TransitionOutcome};
use tonic::Code;

use crate::server::{Recorder, TestServer};

/// Long enough for anything that should happen.
const PATIENCE: Duration = Duration::from_secs(30);

fn report(run: &str, kind: StateType) -> SetFlowRunStateRequest {
    SetFlowRunStateRequest {
        flow_run_id: run.to_owned(),
        state: Some(State {
            r#type: kind as i32,
            name: format!("{kind:?}"),
            ..State::default()
        }),
        transition_id: format!("{run}-{kind:?}"),
        worker_id: "worker-1".into(),
        ..SetFlowRunStateRequest::default()
    }
}

fn reporter(server: &TestServer) -> StateReports {
    StateReports::start(Api::connect_lazy(&ClientOptions::new(server.url())).unwrap())
}

/// Sends `report` and returns its answer's state type, or the refusal's code.
async fn send(reports: &StateReports, request: SetFlowRunStateRequest) -> Result<i32, Code> {
    let answer = tokio::time::timeout(PATIENCE, reports.report(request))
        .await
        .expect("the report is answered");
    match answer {
        Ok(response) => {
            assert_eq!(response.outcome(), TransitionOutcome::Accepted);
            Ok(response.state.unwrap().r#type)
        }
        Err(status) => Err(status.code()),
    }
}

/// The transition ids of the reports the server applied, in order.
fn applied(recorder: &Recorder) -> Vec<String> {
    let states = recorder.states.lock().unwrap();
    states.iter().map(|s| s.transition_id.clone()).collect()
}

async fn until(what: &str, condition: impl Fn() -> bool) {
    tokio::time::timeout(PATIENCE, async {
        while !condition() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{what}"));
}

#[tokio::test]
async fn reports_made_while_a_call_is_out_go_together_in_the_next_one() {
    let server = TestServer::start().await;
    let recorder = server.recorder.clone();
    let reports = reporter(&server);
    // The first call is held by the server while five more reports are made.
    let held = recorder.hold_batches.write().await;
    let first = tokio::spawn({
        let reports = reports.clone();
        async move { send(&reports, report("run-0", StateType::Running)).await }
    });
    until("the first call reaches the server", || {
        *recorder.arrived_batches.lock().unwrap() == 1
    })
    .await;
    let mut later = Vec::new();
    for index in 1..=5 {
        let reports = reports.clone();
        let kind = if index % 2 == 0 {
            StateType::Completed
        } else {
            StateType::Failed
        };
        later.push(tokio::spawn(async move {
            (
                kind,
                send(&reports, report(&format!("run-{index}"), kind)).await,
            )
        }));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(held);

    assert_eq!(first.await.unwrap(), Ok(StateType::Running as i32));
    for task in later {
        let (kind, answer) = task.await.unwrap();
        assert_eq!(answer, Ok(kind as i32), "each report gets its own answer");
    }
    assert_eq!(*recorder.report_batches.lock().unwrap(), [1, 5]);
    assert_eq!(*recorder.single_reports.lock().unwrap(), 0);
    let mut ids = applied(&recorder);
    ids[1..].sort();
    assert_eq!(
        ids,
        [
            "run-0-Running",
            "run-1-Failed",
            "run-2-Completed",
            "run-3-Failed",
            "run-4-Completed",
            "run-5-Failed"
        ]
    );
}

#[tokio::test]
async fn a_call_that_fails_for_a_transient_reason_is_sent_again_whole() {
    let server = TestServer::start().await;
    server.fail_next([Code::Unavailable, Code::ResourceExhausted]);
    let reports = reporter(&server);
    let answer = send(&reports, report("run-1", StateType::Running)).await;
    assert_eq!(answer, Ok(StateType::Running as i32));
    assert_eq!(*server.recorder.failed_calls.lock().unwrap(), 2);
    // Applied once, with the transition id it was made with.
    assert_eq!(applied(&server.recorder), ["run-1-Running"]);
}

#[tokio::test]
async fn a_report_failing_alone_is_retried_alone_or_gets_its_refusal() {
    let server = TestServer::start().await;
    let recorder = server.recorder.clone();
    {
        let mut failing = recorder.failing_runs.lock().unwrap();
        failing.insert("busy".into(), [Code::ResourceExhausted].into());
        failing.insert("forbidden".into(), [Code::PermissionDenied].into());
    }
    let reports = reporter(&server);
    let held = recorder.hold_batches.write().await;
    let tasks: Vec<_> = ["first", "busy", "forbidden", "fine"]
        .into_iter()
        .map(|run| {
            let reports = reports.clone();
            tokio::spawn(async move { send(&reports, report(run, StateType::Running)).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(held);
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    let running = Ok(StateType::Running as i32);
    assert_eq!(
        answers,
        [running, running, Err(Code::PermissionDenied), running]
    );
    // The transient failure was sent again alone; the refusal was not.
    assert_eq!(*recorder.single_reports.lock().unwrap(), 1);
    let mut ids = applied(&recorder);
    ids.sort();
    assert_eq!(ids, ["busy-Running", "fine-Running", "first-Running"]);
}

#[tokio::test]
async fn an_older_server_gets_each_report_alone() {
    let server = TestServer::start().await;
    *server.recorder.no_batches.lock().unwrap() = true;
    let reports = reporter(&server);
    for run in ["run-1", "run-2"] {
        let answer = send(&reports, report(run, StateType::Running)).await;
        assert_eq!(answer, Ok(StateType::Running as i32));
    }
    let answers = futures::future::join_all(
        ["run-3", "run-4", "run-5"].map(|run| send(&reports, report(run, StateType::Completed))),
    )
    .await;
    assert!(
        answers
            .iter()
            .all(|a| *a == Ok(StateType::Completed as i32))
    );
    // Asked once, then never again.
    assert_eq!(*server.recorder.refused_batches.lock().unwrap(), 1);
    assert_eq!(*server.recorder.single_reports.lock().unwrap(), 5);
    assert_eq!(applied(&server.recorder).len(), 5);
}
