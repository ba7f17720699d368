//! A client given two servers' URLs, against real gRPC servers on loopback:
//! it moves to the other when the one it uses is down or unavailable,
//! stays there when the first comes back, never moves for a refusal on the
//! merits, and its shipper delivers every line through the move.

use std::sync::Arc;
use std::time::Duration;

use orch_client::{Api, ClientOptions, ConnectError, Report, Shipper, ShipperOptions};
use orch_proto::v1::LogLine;
use tonic::Code;

use crate::server::{Recorder, TestServer};

const PATIENCE: Duration = Duration::from_secs(30);

fn line(index: usize) -> Report {
    Report::Log(LogLine {
        flow_run_id: "run-1".into(),
        emitter: "test".into(),
        seq: index as u64 + 1,
        message: format!("line {index:03}"),
        ..LogLine::default()
    })
}

fn expected(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|index| format!("line {index:03}")).collect()
}

fn both(first: &TestServer, second: &TestServer) -> Api {
    let urls = format!("{},{}", first.url(), second.url());
    Api::connect_lazy(&ClientOptions::new(urls)).unwrap()
}

async fn ship(shipper: &Shipper, range: std::ops::Range<usize>) {
    for index in range {
        shipper.send(line(index)).await;
    }
    tokio::time::timeout(PATIENCE, shipper.flush())
        .await
        .expect("the flush completes");
}

#[tokio::test]
async fn the_shipper_moves_to_the_second_server_when_the_first_stops_and_stays_there() {
    let mut first = TestServer::start().await;
    let second = TestServer::start().await;
    let api = both(&first, &second);
    let (shipper, _task) = Shipper::start(&api, ShipperOptions::default());
    ship(&shipper, 0..20).await;
    assert_eq!(first.recorder.messages(), expected(0..20));
    assert_eq!(api.url(), first.url());

    // The first server goes away: the rest reaches the second, nothing lost.
    let address = first.address;
    first.stop().await;
    ship(&shipper, 20..40).await;
    assert_eq!(second.recorder.messages(), expected(20..40));
    assert_eq!(api.url(), second.url());
    assert_eq!(api.urls_from_current(), [second.url(), first.url()]);

    // The first comes back: the client stays where it is.
    let back = TestServer::start_at(address, Arc::new(Recorder::default())).await;
    ship(&shipper, 40..50).await;
    assert_eq!(second.recorder.messages(), expected(20..50));
    assert!(back.recorder.messages().is_empty());
}

#[tokio::test]
async fn unavailable_moves_the_client_and_a_refusal_on_the_merits_does_not() {
    let first = TestServer::start().await;
    let second = TestServer::start().await;
    let api = both(&first, &second);
    let (shipper, _task) = Shipper::start(&api, ShipperOptions::default());

    // Refused on its merits: dropped, and the client stays.
    first.fail_next([Code::InvalidArgument]);
    ship(&shipper, 0..1).await;
    assert_eq!(api.url(), first.url());
    assert!(second.recorder.messages().is_empty());

    // A draining server answers UNAVAILABLE: the batch goes to the other.
    first.fail_next([Code::Unavailable]);
    ship(&shipper, 1..5).await;
    assert_eq!(api.url(), second.url());
    assert_eq!(second.recorder.messages(), expected(1..5));
    let failures = api.failures();
    assert_eq!(failures[0].0, first.url());
    assert_eq!(
        failures[0].1.as_deref(),
        Some("unavailable: injected by the test server")
    );
    assert_eq!(failures[1], (second.url(), None));
}

#[tokio::test]
async fn connecting_takes_the_first_server_that_answers() {
    let dead = format!("http://{}", crate::free_address());
    let server = TestServer::start().await;
    let urls = format!("{dead},{}", server.url());
    let api = Api::connect(&ClientOptions::new(urls)).await.unwrap();
    assert_eq!(api.url(), server.url());
    assert_eq!(api.urls(), [dead.clone(), server.url()]);
    assert_eq!(api.urls_from_current(), [server.url(), dead]);
}

#[tokio::test]
async fn when_no_server_answers_the_error_names_each_with_its_cause() {
    let first = format!("http://{}", crate::free_address());
    let second = format!("http://{}", crate::free_address());
    let error = Api::connect(&ClientOptions::new(format!("{first}, {second}")))
        .await
        .unwrap_err();
    assert!(
        matches!(error, ConnectError::NoneReachable { .. }),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "cannot reach any of the orch servers: {first}: connection refused; \
             {second}: connection refused. Start one with 'orch server start' or fix \
             --api-url / ORCH_API_URL"
        )
    );
}
