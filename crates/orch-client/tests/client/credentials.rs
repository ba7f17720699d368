//! The credential hook: what the server sees of the API key.

use orch_client::{Api, ClientOptions, ConnectError, Report, Shipper, ShipperOptions};
use orch_proto::v1::{LogLine, WriteLogsRequest};

use crate::server::TestServer;

#[tokio::test]
async fn an_api_key_reaches_the_server_as_a_bearer_header_on_every_call() {
    let mut server = TestServer::start().await;
    let options = ClientOptions::new(server.url()).with_api_key(Some("orch_k3y-1".into()));
    let api = Api::connect(&options).await.unwrap();
    api.flow_runs()
        .write_logs(WriteLogsRequest::default())
        .await
        .unwrap();
    // The shipper's calls go through the same interceptor.
    let (shipper, task) = Shipper::start(&api, ShipperOptions::default());
    shipper
        .send(Report::Log(LogLine {
            message: "hello".into(),
            ..LogLine::default()
        }))
        .await;
    shipper.flush().await;
    drop(shipper);
    task.await.unwrap();
    let seen = server.recorder.authorization.lock().unwrap().clone();
    assert_eq!(
        seen,
        vec![Some("Bearer orch_k3y-1".to_owned()); 2],
        "every call carries the key"
    );
    server.stop().await;
}

#[tokio::test]
async fn without_an_api_key_no_header_is_sent() {
    let mut server = TestServer::start().await;
    let api = Api::connect(&ClientOptions::new(server.url()).with_api_key(None))
        .await
        .unwrap();
    api.flow_runs()
        .write_logs(WriteLogsRequest::default())
        .await
        .unwrap();
    assert_eq!(*server.recorder.authorization.lock().unwrap(), vec![None]);
    server.stop().await;
}

#[tokio::test]
async fn an_unreachable_server_is_one_actionable_sentence() {
    let url = format!("http://{}", crate::free_address());
    let error = Api::connect(&ClientOptions::new(url.trim_start_matches("http://")))
        .await
        .unwrap_err();
    assert!(
        matches!(error, ConnectError::Unreachable { .. }),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "cannot reach the orch server at {url}: connection refused. \
             Start it with 'orch server start' or set --api-url / ORCH_API_URL"
        )
    );
}
