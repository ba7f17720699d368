//! The shipper against a real gRPC server on loopback: batching caps, the
//! queue's bound, retries through outages and refusals, and the final flush.

use std::sync::Arc;
use std::time::Duration;

use orch_client::{Api, ClientOptions, Report, Shipper, ShipperOptions};
use orch_proto::v1::{LogLine, TaskRun};
use tonic::Code;

use crate::server::{Recorder, TestServer};

/// Long enough for anything that should happen; tests wait this long only
/// when something is broken.
const PATIENCE: Duration = Duration::from_secs(30);

fn line(index: usize, message: &str) -> Report {
    Report::Log(LogLine {
        flow_run_id: "run-1".into(),
        emitter: "test".into(),
        seq: index as u64 + 1,
        message: message.to_owned(),
        ..LogLine::default()
    })
}

fn numbered(index: usize) -> Report {
    line(index, &format!("line {index:03}"))
}

fn expected(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|index| format!("line {index:03}")).collect()
}

fn lazy_api(url: &str) -> Api {
    Api::connect_lazy(&ClientOptions::new(url)).unwrap()
}

async fn flushed(shipper: &Shipper) {
    tokio::time::timeout(PATIENCE, shipper.flush())
        .await
        .expect("the flush completes");
}

#[tokio::test]
async fn batches_are_capped_by_count_and_by_bytes() {
    let mut server = TestServer::start().await;
    let options = ShipperOptions {
        batch_items: 10,
        batch_bytes: 10_000,
        ..ShipperOptions::default()
    };
    let (shipper, _task) = Shipper::start(&lazy_api(&server.url()), options);
    for index in 0..25 {
        shipper.send(numbered(index)).await;
    }
    for index in 25..35 {
        shipper.send(line(index, &"x".repeat(3_000))).await;
    }
    flushed(&shipper).await;
    let batches = server.recorder.batches.lock().unwrap().clone();
    assert!(batches.iter().all(|&(lines, _)| lines <= 10), "{batches:?}");
    // A batch is sent as soon as it reaches the cap: at most one line past it.
    assert!(
        batches.iter().all(|&(_, bytes)| bytes < 10_000 + 3_000),
        "{batches:?}"
    );
    let big: Vec<_> = batches
        .iter()
        .filter(|&&(_, bytes)| bytes >= 9_000)
        .collect();
    assert!(big.len() >= 2, "byte-capped batches: {batches:?}");
    let messages = server.recorder.messages();
    assert_eq!(messages.len(), 35);
    assert_eq!(messages[..25], expected(0..25)[..]);
    server.stop().await;
}

#[tokio::test]
async fn resource_exhausted_and_unavailable_are_retried_and_delivery_stays_in_order() {
    let mut server = TestServer::start().await;
    server.fail_next([
        Code::ResourceExhausted,
        Code::Unavailable,
        Code::ResourceExhausted,
    ]);
    let options = ShipperOptions {
        batch_items: 7,
        ..ShipperOptions::default()
    };
    let (shipper, _task) = Shipper::start(&lazy_api(&server.url()), options);
    for index in 0..50 {
        shipper.send(numbered(index)).await;
    }
    flushed(&shipper).await;
    assert_eq!(*server.recorder.failed_calls.lock().unwrap(), 3);
    assert_eq!(server.recorder.messages(), expected(0..50));
    server.stop().await;
}

#[tokio::test]
async fn a_server_down_at_first_gets_everything_once_it_is_up() {
    let address = crate::free_address();
    let (shipper, _task) = Shipper::start(
        &lazy_api(&format!("http://{address}")),
        ShipperOptions::default(),
    );
    for index in 0..20 {
        shipper.send(numbered(index)).await;
    }
    // Several attempts fail with a refused connection meanwhile.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut server = TestServer::start_at(address, Arc::new(Recorder::default())).await;
    flushed(&shipper).await;
    assert_eq!(server.recorder.messages(), expected(0..20));
    server.stop().await;
}

#[tokio::test]
async fn the_queue_is_bounded_by_bytes_and_a_full_queue_hands_log_lines_back() {
    let address = crate::free_address();
    let options = ShipperOptions {
        queue_bytes: 2_000,
        ..ShipperOptions::default()
    };
    let (shipper, _task) = Shipper::start(&lazy_api(&format!("http://{address}")), options);
    let mut accepted = 0;
    let refused = loop {
        match shipper.try_send(numbered(accepted)) {
            Ok(()) => accepted += 1,
            Err(report) => break report,
        }
        assert!(accepted < 1_000, "the queue never filled up");
    };
    // Each line weighs about 50 bytes on the wire.
    assert!(
        (10..=60).contains(&accepted),
        "{accepted} lines fit in 2000 bytes"
    );
    assert_eq!(
        refused,
        numbered(accepted),
        "the refused line is handed back"
    );
    // `send` waits for room rather than growing the queue.
    let waiting = tokio::spawn({
        let shipper = shipper.clone();
        async move { shipper.send(numbered(accepted)).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "send waits while the queue is full");
    // A task run's state is always admitted.
    let task_run = Report::TaskRun(TaskRun {
        id: "task-1".into(),
        flow_run_id: "run-1".into(),
        ..TaskRun::default()
    });
    assert!(shipper.try_send(task_run).is_ok());

    let mut server = TestServer::start_at(address, Arc::new(Recorder::default())).await;
    tokio::time::timeout(PATIENCE, waiting)
        .await
        .expect("send finds room once the server stores the queue")
        .unwrap();
    flushed(&shipper).await;
    assert_eq!(server.recorder.messages(), expected(0..accepted + 1));
    let task_runs = server.recorder.task_runs.lock().unwrap().clone();
    assert_eq!(task_runs.len(), 1);
    assert_eq!(task_runs[0].id, "task-1");
    server.stop().await;
}

#[tokio::test]
async fn a_refused_batch_is_dropped_and_does_not_block_the_next() {
    let mut server = TestServer::start().await;
    server.fail_next([Code::InvalidArgument]);
    let (shipper, _task) = Shipper::start(&lazy_api(&server.url()), ShipperOptions::default());
    shipper.send(line(0, "refused")).await;
    flushed(&shipper).await;
    shipper.send(line(1, "stored")).await;
    flushed(&shipper).await;
    assert_eq!(server.recorder.messages(), ["stored"]);
    server.stop().await;
}

#[tokio::test]
async fn dropping_the_shipper_stores_everything_queued_before_the_task_ends() {
    let mut server = TestServer::start().await;
    server.fail_next([Code::Unavailable]);
    let options = ShipperOptions {
        // Nothing would go on its own before the test ends.
        batch_delay: Duration::from_secs(3_600),
        ..ShipperOptions::default()
    };
    let (shipper, task) = Shipper::start(&lazy_api(&server.url()), options);
    for index in 0..30 {
        shipper.send(numbered(index)).await;
    }
    let task_run = Report::TaskRun(TaskRun {
        id: "task-1".into(),
        ..TaskRun::default()
    });
    shipper.send(task_run).await;
    drop(shipper);
    tokio::time::timeout(PATIENCE, task)
        .await
        .expect("the shipper ends once its queue is stored")
        .unwrap();
    assert_eq!(server.recorder.messages(), expected(0..30));
    assert_eq!(server.recorder.task_runs.lock().unwrap().len(), 1);
    server.stop().await;
}
