//! Claiming: due runs are handed to workers, each exactly once, within limits.

use std::collections::{HashMap, HashSet};

use crate::common::{
    SECOND, claim_ids, create_pool, deploy, move_to, object, pool_and_deployment, register, run_at,
    run_now, spec, store,
};
use orch_core::StateType;
use orch_core::auth::Scope;
use orch_store::{CredentialCheck, WorkPoolUpdate, now_micros};
use serde_json::json;

#[tokio::test]
async fn a_claim_moves_a_due_run_to_pending_for_the_worker_with_what_it_needs_to_run() {
    let store = store().await;
    create_pool(&store, "default").await;
    let mut declared = spec("etl", "nightly", "default");
    declared.entrypoint = vec!["./run.sh".into(), "--fast".into()];
    declared.parameters = object(json!({"a": 1, "b": 2}));
    deploy(&store, declared).await;
    let worker = register(&store, "w1", "default", 0).await;
    let run = store
        .flow_runs()
        .create_flow_run("etl/nightly", &object(json!({"b": 3})), None, "")
        .await
        .unwrap()
        .value;

    let claimed = store
        .claims()
        .claim_runs(&worker.id, 10)
        .await
        .unwrap()
        .value;

    assert_eq!(claimed.len(), 1);
    let claim = &claimed[0];
    assert_eq!(claim.run.id, run.id);
    assert_eq!(claim.entrypoint, ["./run.sh", "--fast"]);
    assert_eq!(claim.base_dir, "/srv/project");
    assert_eq!(claim.run.parameters, object(json!({"a": 1, "b": 3})));
    assert_eq!(claim.run.state.kind, StateType::Pending);
    assert_eq!(claim.run.worker_id.as_deref(), Some(worker.id.as_str()));
    assert_eq!(claim.run.worker_name, "w1");
    assert_eq!(
        store.flow_runs().flow_run(&run.id).await.unwrap(),
        claim.run
    );
    assert!(
        claim_ids(&store, &worker.id, 10).await.is_empty(),
        "claimed once"
    );
}

#[tokio::test]
async fn a_claim_with_credentials_makes_each_run_its_key_and_carries_its_environment() {
    let store = store().await;
    create_pool(&store, "default").await;
    store
        .secrets()
        .set_secret("API_TOKEN", "sealed")
        .await
        .unwrap();
    let mut declared = spec("etl", "nightly", "default");
    declared.environment.env = [("LEVEL".to_owned(), "info".to_owned())].into();
    declared.environment.secrets = vec!["API_TOKEN".into()];
    deploy(&store, declared.clone()).await;
    let worker = register(&store, "w1", "default", 0).await;
    let first = store
        .flow_runs()
        .create_flow_run("etl/nightly", &object(json!({})), None, "")
        .await
        .unwrap()
        .value;
    let second = store
        .flow_runs()
        .create_flow_run("etl/nightly", &object(json!({})), None, "")
        .await
        .unwrap()
        .value;

    let claimed = store
        .claims()
        .claim_runs_with_credentials(&worker.id, 1)
        .await
        .unwrap()
        .value;

    let claim = &claimed[0];
    assert_eq!(claim.run.id, first.id);
    assert_eq!(claim.environment, declared.environment);
    let key = claim.credential.clone().expect("a credential");
    let CredentialCheck::Valid(token) = store.tokens().check_credential(&key).await.unwrap() else {
        panic!("the run's key does not authenticate");
    };
    assert_eq!(token.flow_run_id.as_deref(), Some(first.id.as_str()));
    assert_eq!(token.scope, Scope::Worker);
    let shown = format!("{claim:?}");
    assert!(!shown.contains(&key), "{shown}");

    // Without credentials, none is made.
    let plain = store
        .claims()
        .claim_runs(&worker.id, 1)
        .await
        .unwrap()
        .value;
    assert_eq!(plain[0].run.id, second.id);
    assert_eq!(plain[0].credential, None);
    assert_eq!(plain[0].environment, declared.environment);
}

#[tokio::test]
async fn the_oldest_due_runs_are_claimed_first_and_future_runs_are_left() {
    let store = store().await;
    let deployment = pool_and_deployment(&store, "default", "etl", "nightly").await;
    let worker = register(&store, "w1", "default", 0).await;
    let now = now_micros();
    let newest = run_at(&store, &deployment, now - SECOND).await;
    let oldest = run_at(&store, &deployment, now - 30 * SECOND).await;
    let middle = run_at(&store, &deployment, now - 20 * SECOND).await;
    let future = run_at(&store, &deployment, now + 3600 * SECOND).await;

    assert_eq!(
        claim_ids(&store, &worker.id, 2).await,
        [oldest.id.as_str(), middle.id.as_str()]
    );
    assert_eq!(claim_ids(&store, &worker.id, 5).await, [newest.id.as_str()]);
    assert!(claim_ids(&store, &worker.id, 5).await.is_empty());
    let waiting = store.flow_runs().flow_run(&future.id).await.unwrap();
    assert_eq!(waiting.state.kind, StateType::Scheduled);
    assert_eq!(waiting.worker_id, None);
}

#[tokio::test]
async fn a_worker_only_claims_runs_of_its_own_pool() {
    let store = store().await;
    let etl = pool_and_deployment(&store, "default", "etl", "nightly").await;
    pool_and_deployment(&store, "gpu", "train", "weekly").await;
    let gpu_worker = register(&store, "g1", "gpu", 0).await;
    let worker = register(&store, "w1", "default", 0).await;
    let run = run_now(&store, &etl).await;

    assert!(claim_ids(&store, &gpu_worker.id, 5).await.is_empty());
    assert_eq!(claim_ids(&store, &worker.id, 5).await, [run.id.as_str()]);
}

#[tokio::test]
async fn a_paused_pool_hands_out_nothing_until_resumed() {
    let store = store().await;
    let deployment = pool_and_deployment(&store, "default", "etl", "nightly").await;
    let worker = register(&store, "w1", "default", 0).await;
    let run = run_now(&store, &deployment).await;
    let pause = |paused| WorkPoolUpdate {
        paused: Some(paused),
        ..Default::default()
    };

    store
        .work_pools()
        .update_work_pool("default", pause(true))
        .await
        .unwrap();
    assert!(claim_ids(&store, &worker.id, 5).await.is_empty());
    assert_eq!(
        store
            .flow_runs()
            .flow_run(&run.id)
            .await
            .unwrap()
            .state
            .kind,
        StateType::Scheduled
    );

    store
        .work_pools()
        .update_work_pool("default", pause(false))
        .await
        .unwrap();
    assert_eq!(claim_ids(&store, &worker.id, 5).await, [run.id.as_str()]);
}

#[tokio::test]
async fn a_paused_deployment_hands_out_nothing_until_resumed() {
    let store = store().await;
    let paused = pool_and_deployment(&store, "default", "etl", "nightly").await;
    let active = deploy(&store, spec("reports", "daily", "default")).await;
    let worker = register(&store, "w1", "default", 0).await;
    let held = run_now(&store, &paused).await;
    let free = run_now(&store, &active).await;

    store
        .deployments()
        .set_deployment_paused("etl/nightly", true)
        .await
        .unwrap();
    assert_eq!(claim_ids(&store, &worker.id, 5).await, [free.id.as_str()]);
    assert!(claim_ids(&store, &worker.id, 5).await.is_empty());

    store
        .deployments()
        .set_deployment_paused("etl/nightly", false)
        .await
        .unwrap();
    assert_eq!(claim_ids(&store, &worker.id, 5).await, [held.id.as_str()]);
}

#[tokio::test]
async fn the_pool_concurrency_limit_counts_pending_running_and_cancelling_runs() {
    let store = store().await;
    store
        .work_pools()
        .create_work_pool("default", "process", "", Some(3))
        .await
        .unwrap();
    let deployment = deploy(&store, spec("etl", "nightly", "default")).await;
    let w1 = register(&store, "w1", "default", 0).await;
    let w2 = register(&store, "w2", "default", 0).await;
    for _ in 0..6 {
        run_now(&store, &deployment).await;
    }

    let first = claim_ids(&store, &w1.id, 10).await;
    assert_eq!(first.len(), 3);
    move_to(&store, &first[0], StateType::Running).await;
    move_to(&store, &first[1], StateType::Running).await;
    let _ = store.flow_runs().cancel_flow_run(&first[1]).await.unwrap();
    let pool = store.work_pools().work_pool("default", 0).await.unwrap();
    assert_eq!((pool.runs_in_flight, pool.runs_waiting), (3, 3));

    assert!(claim_ids(&store, &w1.id, 10).await.is_empty());
    assert!(
        claim_ids(&store, &w2.id, 10).await.is_empty(),
        "the limit is the pool's, not the worker's"
    );

    move_to(&store, &first[0], StateType::Completed).await;
    assert_eq!(claim_ids(&store, &w2.id, 10).await.len(), 1);
    assert!(claim_ids(&store, &w2.id, 10).await.is_empty());

    move_to(&store, &first[1], StateType::Cancelled).await;
    assert_eq!(claim_ids(&store, &w1.id, 10).await.len(), 1);
    assert!(claim_ids(&store, &w1.id, 10).await.is_empty());
}

#[tokio::test]
async fn a_pool_limit_of_zero_hands_out_nothing() {
    let store = store().await;
    store
        .work_pools()
        .create_work_pool("default", "process", "", Some(0))
        .await
        .unwrap();
    let deployment = deploy(&store, spec("etl", "nightly", "default")).await;
    let worker = register(&store, "w1", "default", 0).await;
    run_now(&store, &deployment).await;

    assert!(claim_ids(&store, &worker.id, 5).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claims_never_exceed_the_pool_concurrency_limit() {
    let store = store().await;
    store
        .work_pools()
        .create_work_pool("default", "process", "", Some(5))
        .await
        .unwrap();
    let deployment = deploy(&store, spec("etl", "nightly", "default")).await;
    for _ in 0..20 {
        run_now(&store, &deployment).await;
    }
    let mut workers = Vec::new();
    for i in 0..4 {
        workers.push(register(&store, &format!("w{i}"), "default", 0).await.id);
    }

    let tasks: Vec<_> = workers
        .into_iter()
        .map(|worker_id| {
            let store = store.store().clone();
            tokio::spawn(async move {
                let mut total = 0;
                for _ in 0..5 {
                    total += store
                        .claims()
                        .claim_runs(&worker_id, 2)
                        .await
                        .unwrap()
                        .value
                        .len();
                }
                total
            })
        })
        .collect();
    let mut claimed = 0;
    for task in tasks {
        claimed += task.await.unwrap();
    }

    assert_eq!(claimed, 5);
    let pool = store.work_pools().work_pool("default", 0).await.unwrap();
    assert_eq!((pool.runs_in_flight, pool.runs_waiting), (5, 15));
}

#[tokio::test]
async fn the_worker_limit_counts_its_own_runs_in_flight() {
    let store = store().await;
    let deployment = pool_and_deployment(&store, "default", "etl", "nightly").await;
    let limited = register(&store, "small", "default", 2).await;
    let unlimited = register(&store, "big", "default", 0).await;
    for _ in 0..5 {
        run_now(&store, &deployment).await;
    }

    let held = claim_ids(&store, &limited.id, 10).await;
    assert_eq!(held.len(), 2);
    move_to(&store, &held[0], StateType::Running).await;
    let _ = store.flow_runs().cancel_flow_run(&held[0]).await.unwrap();
    assert!(claim_ids(&store, &limited.id, 10).await.is_empty());
    assert_eq!(
        store
            .workers()
            .worker(&limited.id)
            .await
            .unwrap()
            .runs_in_flight,
        2
    );

    move_to(&store, &held[0], StateType::Cancelled).await;
    assert_eq!(claim_ids(&store, &limited.id, 10).await.len(), 1);
    assert!(claim_ids(&store, &limited.id, 10).await.is_empty());

    assert_eq!(claim_ids(&store, &unlimited.id, 10).await.len(), 2);
}

#[tokio::test]
async fn a_stopped_worker_claims_nothing_and_an_unknown_one_is_not_found() {
    let store = store().await;
    let deployment = pool_and_deployment(&store, "default", "etl", "nightly").await;
    let worker = register(&store, "w1", "default", 0).await;
    run_now(&store, &deployment).await;
    store.workers().deregister_worker(&worker.id).await.unwrap();

    assert!(claim_ids(&store, &worker.id, 5).await.is_empty());
    let error = store
        .claims()
        .claim_runs("no-such-worker", 5)
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            orch_store::StoreError::NotFound { kind: "worker", .. }
        ),
        "{error:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_workers_claim_every_run_exactly_once() {
    const RUNS: usize = 200;
    const WORKERS: usize = 4;
    let store = store().await;
    let deployment = pool_and_deployment(&store, "default", "etl", "nightly").await;
    let mut created = HashSet::new();
    for _ in 0..RUNS {
        created.insert(run_now(&store, &deployment).await.id);
    }
    let mut workers = Vec::new();
    for i in 0..WORKERS {
        workers.push(register(&store, &format!("w{i}"), "default", 0).await.id);
    }

    let tasks: Vec<_> = workers
        .iter()
        .map(|worker_id| {
            let store = store.store().clone();
            let worker_id = worker_id.clone();
            tokio::spawn(async move {
                let mut claimed = Vec::new();
                loop {
                    let batch = store
                        .claims()
                        .claim_runs(&worker_id, 3)
                        .await
                        .unwrap()
                        .value;
                    if batch.is_empty() {
                        break;
                    }
                    assert!(batch.len() <= 3);
                    claimed.extend(batch.into_iter().map(|c| (c.run.id, c.run.worker_id)));
                }
                (worker_id, claimed)
            })
        })
        .collect();

    let mut owner: HashMap<String, String> = HashMap::new();
    let mut per_worker = Vec::new();
    for task in tasks {
        let (worker_id, claimed) = task.await.unwrap();
        per_worker.push(claimed.len());
        for (run_id, holder) in claimed {
            assert_eq!(holder.as_deref(), Some(worker_id.as_str()));
            if let Some(previous) = owner.insert(run_id.clone(), worker_id.clone()) {
                panic!("run {run_id} was claimed by {previous} and by {worker_id}");
            }
        }
    }

    assert_eq!(per_worker.iter().sum::<usize>(), RUNS, "{per_worker:?}");
    let claimed: HashSet<String> = owner.keys().cloned().collect();
    assert_eq!(claimed, created, "every run claimed, none twice");
    for (run_id, worker_id) in &owner {
        let run = store.flow_runs().flow_run(run_id).await.unwrap();
        assert_eq!(run.state.kind, StateType::Pending);
        assert_eq!(run.worker_id.as_ref(), Some(worker_id));
        let pendings = crate::common::history_types(&store, run_id)
            .await
            .into_iter()
            .filter(|kind| *kind == StateType::Pending)
            .count();
        assert_eq!(pendings, 1, "run {run_id} entered Pending {pendings} times");
    }
    for worker_id in &workers {
        let held = store
            .workers()
            .worker(worker_id)
            .await
            .unwrap()
            .runs_in_flight;
        let expected = owner.values().filter(|w| *w == worker_id).count();
        assert_eq!(held as usize, expected);
    }
}
