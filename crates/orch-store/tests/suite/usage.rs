//! What a run's processes used, as its worker reports it with a final state,
//! and the `traceparent` a run was created with.

use crate::common::{
    accepted, claim_ids, create_pool, deploy, propose_as, register, run_now, spec, store,
};
use orch_core::{CallerTrace, ResourceUsage, StateType, TraceState, names};
use orch_store::{NewState, Proposal, Store};

fn usage(cpu_micros: i64, rss: i64) -> ResourceUsage {
    ResourceUsage {
        cpu_user_micros: cpu_micros,
        cpu_system_micros: 1_000,
        max_rss_bytes: rss,
        wall_micros: 3_000_000,
    }
}

/// The worker's report of `kind` with `usage`.
fn ending(worker: &str, kind: StateType, usage: ResourceUsage) -> Proposal {
    let mut state = NewState::new(kind, "", "");
    state.usage = Some(usage);
    Proposal {
        state,
        transition_id: String::new(),
        worker_id: Some(worker.to_owned()),
    }
}

async fn claim_and_start(store: &Store, worker: &str, run_id: &str) {
    assert_eq!(claim_ids(store, worker, 1).await, [run_id]);
    let running = accepted(
        store
            .flow_runs()
            .set_flow_run_state(run_id, propose_as(worker, StateType::Running))
            .await
            .unwrap(),
    );
    assert_eq!(running.usage, None, "a run starting again has no usage yet");
}

#[tokio::test]
async fn usage_is_kept_per_attempt_and_cleared_when_the_run_starts_again() {
    let store = store().await;
    create_pool(&store, "default").await;
    let mut declared = spec("etl", "nightly", "default");
    declared.retries = 1;
    declared.retry_delay_seconds = 0;
    let deployment = deploy(&store, declared).await;
    let worker = register(&store, "w1", "default", 0).await.id;
    let run = run_now(&store, &deployment).await;
    assert_eq!(run.usage, None);

    claim_and_start(&store, &worker, &run.id).await;
    let first = usage(2_000_000, 300 << 20);
    let retry = accepted(
        store
            .flow_runs()
            .set_flow_run_state(&run.id, ending(&worker, StateType::Failed, first))
            .await
            .unwrap(),
    );
    assert_eq!(retry.state.name, names::AWAITING_RETRY);
    assert_eq!(retry.usage, Some(first), "the failed attempt's usage stays");

    claim_and_start(&store, &worker, &run.id).await;
    let second = usage(500_000, 64 << 20);
    let done = accepted(
        store
            .flow_runs()
            .set_flow_run_state(&run.id, ending(&worker, StateType::Completed, second))
            .await
            .unwrap(),
    );
    assert_eq!(done.usage, Some(second));
    assert_eq!(
        store.flow_runs().flow_run(&run.id).await.unwrap().usage,
        Some(second)
    );
}

#[tokio::test]
async fn a_run_created_with_a_callers_context_joins_its_trace_and_keeps_its_tracestate() {
    let store = store().await;
    create_pool(&store, "default").await;
    deploy(&store, spec("etl", "nightly", "default")).await;
    let caller = CallerTrace::from_values(
        Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
        Some("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"),
    )
    .unwrap()
    .unwrap();
    let parent = caller.parent;
    let (run, _) = store
        .flow_runs()
        .create_flow_run_audited(
            "etl/nightly",
            &Default::default(),
            None,
            "",
            None,
            Some(&caller),
        )
        .await
        .unwrap()
        .value;
    assert_eq!(run.trace_parent, Some(parent));
    let read = store.flow_runs().flow_run(&run.id).await.unwrap();
    assert_eq!(read.trace_parent, Some(parent));
    assert_eq!(
        read.trace_state.as_ref().map(TraceState::as_str),
        Some("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")
    );
    let trace = read.trace();
    assert_eq!(trace.trace_id, parent.trace_id);
    assert_eq!(trace.parent_span_id, Some(parent.span_id));

    let own = store
        .flow_runs()
        .create_flow_run("etl/nightly", &Default::default(), None, "")
        .await
        .unwrap()
        .value;
    let read = store.flow_runs().flow_run(&own.id).await.unwrap();
    assert_eq!(read.trace_parent, None);
    assert_eq!(read.trace_state, None);
    assert_eq!(read.trace().trace_id_hex(), own.id.replace('-', ""));
}
