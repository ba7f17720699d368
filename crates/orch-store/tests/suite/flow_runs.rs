//! Flow runs: creating, finding, listing, their history.

use crate::common::{
    SECOND, create_pool, deploy, history_types, object, pool_and_deployment, run_at, run_now, spec,
    store,
};
use orch_core::{StateType, names};
use orch_store::{FlowRunFilter, JsonObject, NewState, Proposal, StoreError, now_micros};
use serde_json::json;

#[tokio::test]
async fn a_new_run_merges_overrides_over_the_deployment_defaults() {
    let store = store().await;
    create_pool(&store, "default").await;
    let mut declared = spec("etl", "nightly", "default");
    declared.parameters = object(json!({"force": false, "days": 5, "cfg": {"a": 1, "b": 2}}));
    declared.tags = vec!["data".into(), "nightly".into()];
    let deployment = deploy(&store, declared).await;
    let overrides = object(json!({"force": true, "cfg": {"a": 9}, "extra": "x"}));

    let before = now_micros();
    let run = store
        .flow_runs()
        .create_flow_run("etl/nightly", &overrides, None, "")
        .await
        .unwrap()
        .value;
    let after = now_micros();

    assert_eq!(
        run.parameters,
        object(json!({"force": true, "days": 5, "cfg": {"a": 9}, "extra": "x"}))
    );
    assert_eq!(run.flow, "etl");
    assert_eq!(run.deployment, "etl/nightly");
    assert_eq!(run.deployment_id.as_deref(), Some(deployment.id.as_str()));
    assert_eq!(run.work_pool, "default");
    assert_eq!(run.tags, ["data", "nightly"]);
    assert_eq!(run.state.kind, StateType::Scheduled);
    assert_eq!(run.state.name, "Scheduled");
    assert!((before..=after).contains(&run.expected_start));
    assert_eq!(run.run_count, 0);
    assert_eq!(
        (run.start_time, run.end_time, run.worker_id.as_deref()),
        (None, None, None)
    );
    assert_eq!(
        store
            .deployments()
            .deployment("etl/nightly")
            .await
            .unwrap()
            .parameters,
        object(json!({"force": false, "days": 5, "cfg": {"a": 1, "b": 2}})),
        "the deployment's defaults are left alone"
    );
}

#[tokio::test]
async fn a_run_scheduled_for_later_is_due_at_that_time() {
    let store = store().await;
    let deployment = pool_and_deployment(&store, "default", "etl", "nightly").await;
    let at = now_micros() + 3600 * SECOND;

    let run = run_at(&store, &deployment, at).await;

    assert_eq!(run.expected_start, at);
    assert_eq!(run.state.kind, StateType::Scheduled);
    assert_eq!(run.state.message, "scheduled");
}

#[tokio::test]
async fn the_same_idempotency_key_returns_the_same_run() {
    let store = store().await;
    pool_and_deployment(&store, "default", "etl", "nightly").await;
    let params = object(json!({"n": 1}));

    let first = store
        .flow_runs()
        .create_flow_run("etl/nightly", &params, None, "schedule-0-2026-01-01")
        .await
        .unwrap()
        .value;
    let second = store
        .flow_runs()
        .create_flow_run(
            "etl/nightly",
            &object(json!({"n": 2})),
            None,
            "schedule-0-2026-01-01",
        )
        .await
        .unwrap()
        .value;
    let other = store
        .flow_runs()
        .create_flow_run("etl/nightly", &params, None, "schedule-0-2026-01-02")
        .await
        .unwrap()
        .value;

    assert_eq!(second.id, first.id);
    assert_eq!(second.parameters, object(json!({"n": 1})));
    assert_ne!(other.id, first.id);
    let all = store
        .flow_runs()
        .list_flow_runs(&FlowRunFilter::default())
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(
        history_types(&store, &first.id).await,
        [StateType::Scheduled]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_with_one_idempotency_key_make_one_run() {
    let store = store().await;
    pool_and_deployment(&store, "default", "etl", "nightly").await;

    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.store().clone();
            tokio::spawn(async move {
                store
                    .flow_runs()
                    .create_flow_run("etl/nightly", &JsonObject::new(), None, "once")
                    .await
                    .unwrap()
                    .value
                    .id
            })
        })
        .collect();
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.unwrap());
    }

    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    let all = store
        .flow_runs()
        .list_flow_runs(&FlowRunFilter::default())
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(history_types(&store, &ids[0]).await, [StateType::Scheduled]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn runs_created_at_once_are_each_written_whole() {
    let store = store().await;
    pool_and_deployment(&store, "default", "etl", "nightly").await;
    let mut hourly = spec("etl", "hourly", "default");
    hourly.parameters = object(json!({"source": "yahoo"}));
    deploy(&store, hourly).await;

    // 400 creations from 16 tasks, across two deployments, some sharing an
    // idempotency key: they are written many per transaction.
    let tasks: Vec<_> = (0..16)
        .map(|task| {
            let store = store.store().clone();
            tokio::spawn(async move {
                let mut runs = Vec::new();
                for i in 0..25 {
                    let deployment = if i % 2 == 0 {
                        "etl/nightly"
                    } else {
                        "etl/hourly"
                    };
                    let key = if i == 0 { "shared" } else { "" };
                    let overrides = object(json!({"task": task, "i": i}));
                    let run = store
                        .flow_runs()
                        .create_flow_run(deployment, &overrides, None, key)
                        .await
                        .unwrap()
                        .value;
                    runs.push((deployment, task, i, run));
                }
                runs
            })
        })
        .collect();
    let mut created = Vec::new();
    for task in tasks {
        created.extend(task.await.unwrap());
    }

    let shared: Vec<&str> = created
        .iter()
        .filter(|(_, _, i, _)| *i == 0)
        .map(|(_, _, _, run)| run.id.as_str())
        .collect();
    assert_eq!(shared.len(), 16);
    assert!(shared.iter().all(|id| *id == shared[0]), "{shared:?}");
    for (deployment, task, i, run) in created.iter().filter(|(_, _, i, _)| *i > 0) {
        let stored = store.flow_runs().flow_run(&run.id).await.unwrap();
        assert_eq!(stored.deployment, *deployment);
        assert_eq!(stored.parameters["task"], json!(task));
        assert_eq!(stored.parameters["i"], json!(i));
        assert_eq!(stored.name, run.name);
        assert_eq!(stored.state.kind, StateType::Scheduled);
        assert_eq!(history_types(&store, &run.id).await, [StateType::Scheduled]);
    }
    let (_, _, _, hourly_run) = created
        .iter()
        .find(|(deployment, ..)| *deployment == "etl/hourly")
        .unwrap();
    assert_eq!(hourly_run.parameters["source"], "yahoo");
    let all = store
        .flow_runs()
        .list_flow_runs(&FlowRunFilter {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 16 * 24 + 1);
}

#[tokio::test]
async fn runs_without_an_idempotency_key_are_all_created() {
    let store = store().await;
    let deployment = pool_and_deployment(&store, "default", "etl", "nightly").await;

    let first = run_now(&store, &deployment).await;
    let second = run_now(&store, &deployment).await;

    assert_ne!(first.id, second.id);
    assert_eq!(
        store
            .flow_runs()
            .list_flow_runs(&FlowRunFilter::default())
            .await
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn a_run_of_an_unknown_deployment_is_not_found() {
    let store = store().await;
    pool_and_deployment(&store, "default", "etl", "nightly").await;

    let error = store
        .flow_runs()
        .create_flow_run("etl/nigthly", &JsonObject::new(), None, "")
        .await
        .unwrap_err();

    assert!(matches!(error, StoreError::NotFound { .. }), "{error:?}");
    assert!(
        error.to_string().contains("did you mean \"etl/nightly\""),
        "{error}"
    );
}

/// The ids of the runs that changed.
pub(super) fn run_ids(transitions: Vec<orch_store::Transition>) -> Vec<String> {
    transitions.into_iter().map(|t| t.run.id).collect()
}

/// Length of the common prefix of two ASCII strings.
fn common_prefix_len(a: &str, b: &str) -> usize {
    a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count()
}

#[tokio::test]
async fn a_run_is_found_by_id_and_by_an_unambiguous_id_prefix() {
    let store = store().await;
    let deployment = pool_and_deployment(&store, "default", "etl", "nightly").await;
    let first = run_now(&store, &deployment).await;
    let second = run_now(&store, &deployment).await;
    let shared = common_prefix_len(&first.id, &second.id);

    assert_eq!(store.flow_runs().flow_run(&first.id).await.unwrap(), first);
    assert_eq!(
        store.flow_runs().flow_run(&second.id).await.unwrap(),
        second
    );
    let prefix = &first.id[..(shared + 1).max(4)];
    assert_eq!(
        store.flow_runs().flow_run(prefix).await.unwrap().id,
        first.id
    );
    let prefix = &second.id[..(shared + 1).max(4)];
    assert_eq!(
        store.flow_runs().flow_run(prefix).await.unwrap().id,
        second.id
    );
}

#[tokio::test]
async fn an_ambiguous_reference_is_refused_listing_the_matches() {
    let store = store().await;
    let deployment = pool_and_deployment(&store, "default", "etl", "nightly").await;
    // Friendly names come from 1,024 combinations: two runs soon share one.
    let mut by_name = std::collections::HashMap::new();
    let (first, second) = loop {
        let run = run_now(&store, &deployment).await;
        if let Some(earlier) = by_name.insert(run.name.clone(), run.clone()) {
            break (earlier, run);
        }
        assert!(by_name.len() < 5_000, "names never repeated");
    };

    let error = store.flow_runs().flow_run(&first.name).await.unwrap_err();

    let StoreError::InvalidInput(message) = error else {
        panic!("expected InvalidInput, got {error:?}");
    };
    assert!(message.contains("matches several flow runs"), "{message}");
    assert!(message.contains(&first.id), "{message}");
    assert!(message.contains(&second.id), "{message}");
}

#[tokio::test]
async fn a_run_is_found_by_its_name() {
    let store = store().await;
    let deployment = pool_and_deployment(&store, "default", "etl", "nightly").await;
    let run = run_now(&store, &deployment).await;
    let (adjective, noun) = run.name.split_once('-').expect("adjective-noun");
    assert!(!adjective.is_empty() && !noun.is_empty());

    assert_eq!(
        store.flow_runs().flow_run(&run.name).await.unwrap().id,
        run.id
    );
}

#[tokio::test]
async fn an_unknown_run_is_not_found() {
    let store = store().await;
    let deployment = pool_and_deployment(&store, "default", "etl", "nightly").await;
    run_now(&store, &deployment).await;

    for reference in ["ffffffff", "no-such-run", "abc"] {
        let error = store.flow_runs().flow_run(reference).await.unwrap_err();
        assert!(
            matches!(&error, StoreError::NotFound { kind: "flow run", name, .. } if name == reference),
            "{error:?}"
        );
    }
}

#[tokio::test]
async fn runs_are_listed_newest_first_and_filtered() {
    let store = store().await;
    create_pool(&store, "default").await;
    create_pool(&store, "gpu").await;
    let nightly = deploy(&store, spec("etl", "nightly", "default")).await;
    let hourly = deploy(&store, spec("etl", "hourly", "default")).await;
    let daily = deploy(&store, spec("reports", "daily", "gpu")).await;
    let now = now_micros();
    let r1 = run_at(&store, &nightly, now + 3600 * SECOND).await;
    let r2 = run_at(&store, &hourly, now - 3600 * SECOND).await;
    let r3 = run_now(&store, &daily).await;
    let r4 = run_at(&store, &nightly, now + 7200 * SECOND).await;
    let _ = store.flow_runs().cancel_flow_run(&r3.id).await.unwrap();
    let marked = run_ids(
        store
            .flow_runs()
            .mark_late_runs(now - 1800 * SECOND)
            .await
            .unwrap()
            .transitions,
    );
    assert_eq!(marked, [r2.id.as_str()]);

    let ids = |filter: FlowRunFilter| {
        let store = &store;
        async move {
            store
                .flow_runs()
                .list_flow_runs(&filter)
                .await
                .unwrap()
                .into_iter()
                .map(|run| run.id)
                .collect::<Vec<_>>()
        }
    };

    assert_eq!(
        ids(FlowRunFilter::default()).await,
        [
            r4.id.as_str(),
            r3.id.as_str(),
            r2.id.as_str(),
            r1.id.as_str()
        ]
    );
    let scheduled = FlowRunFilter {
        state_type: Some(StateType::Scheduled),
        ..Default::default()
    };
    assert_eq!(
        ids(scheduled).await,
        [r4.id.as_str(), r2.id.as_str(), r1.id.as_str()]
    );
    let cancelled = FlowRunFilter {
        state_type: Some(StateType::Cancelled),
        ..Default::default()
    };
    assert_eq!(ids(cancelled).await, [r3.id.as_str()]);
    let late = FlowRunFilter {
        state_name: Some("late".into()),
        ..Default::default()
    };
    assert_eq!(ids(late).await, [r2.id.as_str()]);
    let of_flow = FlowRunFilter {
        flow: Some("etl".into()),
        ..Default::default()
    };
    assert_eq!(
        ids(of_flow).await,
        [r4.id.as_str(), r2.id.as_str(), r1.id.as_str()]
    );
    let of_deployment = FlowRunFilter {
        deployment_id: Some(nightly.id.clone()),
        ..Default::default()
    };
    assert_eq!(ids(of_deployment).await, [r4.id.as_str(), r1.id.as_str()]);
    let of_pool = FlowRunFilter {
        work_pool: Some("gpu".into()),
        ..Default::default()
    };
    assert_eq!(ids(of_pool).await, [r3.id.as_str()]);
    let limited = FlowRunFilter {
        limit: 2,
        ..Default::default()
    };
    assert_eq!(ids(limited).await, [r4.id.as_str(), r3.id.as_str()]);
    let combined = FlowRunFilter {
        flow: Some("etl".into()),
        state_type: Some(StateType::Scheduled),
        deployment_id: Some(nightly.id.clone()),
        limit: 1,
        ..Default::default()
    };
    assert_eq!(ids(combined).await, [r4.id.as_str()]);
    let nothing = FlowRunFilter {
        flow: Some("reports".into()),
        state_type: Some(StateType::Scheduled),
        ..Default::default()
    };
    assert!(ids(nothing).await.is_empty());
}

#[tokio::test]
async fn the_default_list_limit_applies_when_none_is_given() {
    let store = store().await;
    let deployment = pool_and_deployment(&store, "default", "etl", "nightly").await;
    for _ in 0..orch_store::DEFAULT_LIST_LIMIT + 1 {
        run_now(&store, &deployment).await;
    }

    let listed = store
        .flow_runs()
        .list_flow_runs(&FlowRunFilter::default())
        .await
        .unwrap();

    assert_eq!(listed.len(), orch_store::DEFAULT_LIST_LIMIT as usize);
}

#[tokio::test]
async fn the_history_records_every_state_in_order() {
    let store = store().await;
    let deployment = pool_and_deployment(&store, "default", "etl", "nightly").await;
    let run = run_now(&store, &deployment).await;
    let steps = [
        (StateType::Pending, "Pending", "picked up"),
        (StateType::Running, "Running", "started"),
        (StateType::Paused, "Paused", "waiting for input"),
        (StateType::Running, names::RETRYING, "resumed"),
        (StateType::Completed, "Completed", "all done"),
    ];
    for (kind, name, message) in steps {
        let proposal = Proposal {
            state: NewState::new(kind, name, message),
            transition_id: String::new(),
            worker_id: None,
        };
        crate::common::accepted(
            store
                .flow_runs()
                .set_flow_run_state(&run.id, proposal)
                .await
                .unwrap(),
        );
    }

    let history = store.flow_runs().flow_run_history(&run.id).await.unwrap();

    let recorded: Vec<(StateType, &str, &str)> = history
        .iter()
        .map(|s| (s.kind, s.name.as_str(), s.message.as_str()))
        .collect();
    let mut expected = vec![(StateType::Scheduled, "Scheduled", "run requested")];
    expected.extend(steps);
    assert_eq!(recorded, expected);
    assert!(history.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));
    let finished = store.flow_runs().flow_run(&run.id).await.unwrap();
    assert_eq!(finished.state, *history.last().unwrap());
    assert_eq!(finished.run_count, 2, "Running was entered twice");
}
