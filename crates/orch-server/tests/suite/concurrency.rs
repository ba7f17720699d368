//! Deployment concurrency limits with both collision strategies, and tag
//! limits that make task runs of two flows take turns.

use crate::common::Harness;
use orch_core::StateType;
use orch_proto::v1 as pb;
use orch_proto::v1::concurrency_limit_service_client::ConcurrencyLimitServiceClient;
use orch_store::JsonObject;
use tonic::transport::Channel;

fn limited(strategy: &str) -> String {
    format!(
        r#"
[[deployments]]
flow = "trading-flow"
name = "prod"
entrypoint = ["sentinel", "trading-flow"]
work_pool = "pool"
concurrency_limit = 1
collision_strategy = "{strategy}"
"#
    )
}

/// Two runs requested at once of a deployment limited to 1 run at a time.
async fn two_runs(strategy: &str) -> (Harness, String, String) {
    let harness = Harness::start("2026-01-05T10:00:00Z", "pool").await;
    harness.deploy(&limited(strategy)).await;
    let store = harness.store();
    let first = store
        .flow_runs()
        .create_flow_run("trading-flow/prod", &JsonObject::new(), None, "")
        .await
        .unwrap()
        .value;
    harness.advance(std::time::Duration::from_secs(1));
    let second = store
        .flow_runs()
        .create_flow_run("trading-flow/prod", &JsonObject::new(), None, "")
        .await
        .unwrap()
        .value;
    (harness, first.id, second.id)
}

#[tokio::test]
async fn enqueue_holds_the_second_run_until_the_first_ends() {
    let (harness, first, second) = two_runs("enqueue").await;
    let worker = harness.worker("w1", "pool").await;
    let claimed = harness.claim(&worker, 10).await;
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].id, first);
    harness.report(&worker, &first, StateType::Running).await;
    assert!(harness.claim(&worker, 10).await.is_empty(), "at the limit");

    harness.schedule().await;
    let waiting = harness.run(&second).await;
    assert_eq!(waiting.state.kind, StateType::Scheduled);
    assert_eq!(waiting.state.name, "AwaitingConcurrencySlot");
    assert_eq!(
        waiting.state.message,
        "waiting: deployment concurrency limit 1 reached"
    );
    harness.advance(std::time::Duration::from_secs(60));
    harness
        .store()
        .workers()
        .heartbeat(&worker.id)
        .await
        .unwrap();
    harness.sweep().await;
    assert_eq!(
        harness.run(&second).await.state.name,
        "AwaitingConcurrencySlot",
        "it says why it waits rather than Late"
    );

    harness.report(&worker, &first, StateType::Completed).await;
    let claimed = harness.claim(&worker, 10).await;
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].id, second);
}

#[tokio::test]
async fn cancel_new_cancels_a_run_that_falls_due_at_the_limit() {
    let (harness, first, second) = two_runs("cancel-new").await;
    let worker = harness.worker("w1", "pool").await;
    let claimed = harness.claim(&worker, 10).await;
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].id, first);
    let cancelled = harness.run(&second).await;
    assert_eq!(cancelled.state.kind, StateType::Cancelled);
    assert_eq!(
        cancelled.state.message,
        "cancelled: deployment concurrency limit 1 reached (collision strategy cancel-new)"
    );
    // Once the first ends, a new run goes through.
    harness.report(&worker, &first, StateType::Running).await;
    harness.report(&worker, &first, StateType::Completed).await;
    let third = harness
        .store()
        .flow_runs()
        .create_flow_run("trading-flow/prod", &JsonObject::new(), None, "")
        .await
        .unwrap()
        .value;
    assert_eq!(harness.claim(&worker, 10).await[0].id, third.id);
}

#[tokio::test]
async fn other_deployments_of_the_pool_are_not_held_back_by_a_full_one() {
    let harness = Harness::start("2026-01-05T10:00:00Z", "pool").await;
    harness.deploy(&limited("enqueue")).await;
    harness
        .deploy(
            &limited("enqueue")
                .replace("name = \"prod\"", "name = \"other\"")
                .replace("concurrency_limit = 1\n", ""),
        )
        .await;
    let store = harness.store();
    for _ in 0..5 {
        let _ = store
            .flow_runs()
            .create_flow_run("trading-flow/prod", &JsonObject::new(), None, "")
            .await
            .unwrap();
    }
    let other = store
        .flow_runs()
        .create_flow_run("trading-flow/other", &JsonObject::new(), None, "")
        .await
        .unwrap()
        .value;
    let worker = harness.worker("w1", "pool").await;
    let claimed = harness.claim(&worker, 2).await;
    assert_eq!(claimed.len(), 2);
    assert!(claimed.iter().any(|run| run.id == other.id));
}

/// Serves the harness's state over gRPC on a loopback port.
async fn serve(harness: &Harness) -> Channel {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = orch_server::router(harness.state.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    tonic::transport::Endpoint::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

fn acquire(holder: &str, flow_run: &str, wait_seconds: u32) -> pb::AcquireConcurrencySlotsRequest {
    pb::AcquireConcurrencySlotsRequest {
        tags: vec!["database".into(), "untagged-by-any-limit".into()],
        holder_id: holder.into(),
        flow_run_id: flow_run.into(),
        lease_seconds: 60,
        wait_seconds,
        no_wait: false,
    }
}

#[tokio::test]
async fn a_tag_limit_of_one_makes_two_flows_tasks_take_turns() {
    let harness = Harness::start("2026-01-05T10:00:00Z", "pool").await;
    let mut client = ConcurrencyLimitServiceClient::new(serve(&harness).await);
    let created = client
        .create_concurrency_limit(pb::CreateConcurrencyLimitRequest {
            tag: "database".into(),
            limit: 1,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(created.created);

    // Flow A's task takes the slot.
    let granted = client
        .acquire_concurrency_slots(acquire("task-a", "", 1))
        .await
        .unwrap()
        .into_inner();
    assert!(granted.granted);

    // Flow B's task is refused after its (short) wait, naming the full tag.
    let refused = client
        .acquire_concurrency_slots(acquire("task-b", "", 1))
        .await
        .unwrap()
        .into_inner();
    assert!(!refused.granted);
    assert_eq!(refused.full_tags, ["database"]);

    // It asks again and waits; A finishes and releases; B is granted.
    let mut waiting_client = client.clone();
    let waiting = tokio::spawn(async move {
        waiting_client
            .acquire_concurrency_slots(acquire("task-b", "", 30))
            .await
            .unwrap()
            .into_inner()
    });
    let holders = client
        .get_concurrency_limit(pb::GetConcurrencyLimitRequest {
            tag: "database".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .holders;
    assert_eq!(holders.len(), 1);
    assert_eq!(holders[0].holder_id, "task-a");
    let released = client
        .release_concurrency_slots(pb::ReleaseConcurrencySlotsRequest {
            holder_id: "task-a".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(released.released, 1);
    assert!(waiting.await.unwrap().granted);
    let limits = client
        .list_concurrency_limits(pb::ListConcurrencyLimitsRequest {})
        .await
        .unwrap()
        .into_inner()
        .limits;
    assert_eq!(limits.len(), 1);
    let holders: Vec<_> = limits[0]
        .holders
        .iter()
        .map(|h| h.holder_id.as_str())
        .collect();
    assert_eq!(holders, ["task-b"]);
}

#[tokio::test]
async fn slots_of_a_run_that_crashed_are_released_by_the_sweep() {
    let harness = Harness::start("2026-01-05T10:00:00Z", "pool").await;
    harness
        .deploy(&limited("enqueue").replace("concurrency_limit = 1\n", ""))
        .await;
    let store = harness.store();
    store
        .concurrency()
        .set_concurrency_limit("database", 1)
        .await
        .unwrap();
    let run = store
        .flow_runs()
        .create_flow_run("trading-flow/prod", &JsonObject::new(), None, "")
        .await
        .unwrap()
        .value;
    let worker = harness.worker("w1", "pool").await;
    harness.claim(&worker, 1).await;
    harness.report(&worker, &run.id, StateType::Running).await;
    let tags = vec!["database".to_owned()];
    let outcome = store
        .concurrency()
        .acquire_concurrency_slots(&tags, "task-1", Some(&run.id), 3_600_000_000)
        .await
        .unwrap();
    assert!(outcome.granted);
    harness.sweep().await;
    assert_eq!(
        store
            .concurrency()
            .concurrency_limit("database")
            .await
            .unwrap()
            .holders
            .len(),
        1
    );

    // The worker dies: no heartbeat for longer than the lease (30 s).
    harness.advance(std::time::Duration::from_secs(31));
    harness.sweep().await;
    assert_eq!(harness.run(&run.id).await.state.kind, StateType::Crashed);
    assert!(
        store
            .concurrency()
            .concurrency_limit("database")
            .await
            .unwrap()
            .holders
            .is_empty()
    );
    let other = store
        .concurrency()
        .acquire_concurrency_slots(&tags, "task-2", None, 60_000_000)
        .await
        .unwrap();
    assert!(other.granted);
}
