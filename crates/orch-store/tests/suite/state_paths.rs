//! Every path that changes a flow run's state goes through one function:
//! each reports the transitions it made, with their cause, and none moves a
//! run where orch-core's rules forbid.

use orch_core::{StateType, names};
use orch_store::{Cause, Transition};

use crate::common::{
    SECOND, claim_ids, create_pool, deploy, propose_as, register, rejected, run_at, run_now, spec,
    store, tick,
};

fn causes(transitions: &[Transition], run_id: &str) -> Vec<(Cause, StateType)> {
    transitions
        .iter()
        .filter(|t| t.run.id == run_id)
        .map(|t| (t.cause, t.to))
        .collect()
}

#[tokio::test]
async fn each_path_returns_the_transitions_it_made_with_their_cause() {
    let store = store().await;
    create_pool(&store, "default").await;
    let deployment = deploy(&store, spec("etl", "paths", "default")).await;
    let worker = register(&store, "w1", "default", 0).await;
    let claimed = run_now(&store, &deployment).await;
    let waiting = run_at(&store, &deployment, store.now() + 60 * SECOND).await;

    let claim = store.claims().claim_runs(&worker.id, 1).await.unwrap();
    assert_eq!(
        causes(&claim.transitions, &claimed.id),
        [(Cause::Claim, StateType::Pending)]
    );
    assert_eq!(claim.transitions[0].from, Some(StateType::Scheduled));

    let running = store
        .flow_runs()
        .set_flow_run_state(&claimed.id, propose_as(&worker.id, StateType::Running))
        .await
        .unwrap();
    assert_eq!(
        causes(&running.transitions, &claimed.id),
        [(Cause::Report, StateType::Running)]
    );

    let cancel = store
        .flow_runs()
        .cancel_flow_run(&claimed.id)
        .await
        .unwrap();
    assert_eq!(
        causes(&cancel.transitions, &claimed.id),
        [(Cause::Cancel, StateType::Cancelling)]
    );
    assert_eq!(cancel.value.1.as_deref(), Some(worker.id.as_str()));

    let late = store
        .flow_runs()
        .mark_late_runs(store.now() + 120 * SECOND)
        .await
        .unwrap()
        .transitions;
    assert_eq!(
        causes(&late, &waiting.id),
        [(Cause::Late, StateType::Scheduled)]
    );
    assert_eq!(late[0].run.state.name, names::LATE);

    store.workers().deregister_worker(&worker.id).await.unwrap();
    let reaped = store
        .workers()
        .reap_orphaned_runs(store.now())
        .await
        .unwrap()
        .transitions;
    assert_eq!(
        causes(&reaped, &claimed.id),
        [(Cause::LeaseExpired, StateType::Cancelled)]
    );
    assert_eq!(reaped[0].from, Some(StateType::Cancelling));

    let deleted = store
        .deployments()
        .delete_deployment("etl/paths")
        .await
        .unwrap();
    assert_eq!(
        causes(&deleted.transitions, &waiting.id),
        [(Cause::DeploymentDeleted, StateType::Cancelled)]
    );
    let transition = &deleted.transitions[0];
    assert_eq!(
        (transition.from, transition.from_name.as_str()),
        (Some(StateType::Scheduled), names::LATE)
    );
    assert_eq!(
        transition.run.deployment, "etl/paths",
        "labelled by the deleted deployment"
    );
    assert!(transition.run.end_time.is_some());
}

#[tokio::test]
async fn a_forbidden_transition_is_refused_by_every_path_and_leaves_the_run_unchanged() {
    let store = store().await;
    create_pool(&store, "default").await;
    let mut retried = spec("etl", "finished", "default");
    retried.retries = 3;
    let deployment = deploy(&store, retried).await;
    let worker = register(&store, "w1", "default", 0).await;
    let run = run_now(&store, &deployment).await;
    assert_eq!(claim_ids(&store, &worker.id, 1).await, [run.id.as_str()]);
    for kind in [StateType::Running, StateType::Completed] {
        let _ = store
            .flow_runs()
            .set_flow_run_state(&run.id, propose_as(&worker.id, kind))
            .await
            .unwrap();
    }
    let finished = store.flow_runs().flow_run(&run.id).await.unwrap();
    let history = store.flow_runs().flow_run_history(&run.id).await.unwrap();
    tick().await;

    // A client's report: rejected with the rule's reason, retries or not.
    for kind in [StateType::Running, StateType::Failed, StateType::Crashed] {
        let (unchanged, reason) = rejected(
            store
                .flow_runs()
                .set_flow_run_state(&run.id, propose_as(&worker.id, kind))
                .await
                .unwrap(),
        );
        assert_eq!(unchanged, finished);
        assert!(
            reason.contains("already Completed, a terminal state"),
            "{reason}"
        );
    }
    // Cancel: a conflict saying why.
    let error = store
        .flow_runs()
        .cancel_flow_run(&run.id)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("nothing to cancel"), "{error}");
    // Claims, catch-up, late marking, claim release, lease expiry and
    // deleting the deployment leave it alone.
    let mut made = store
        .claims()
        .claim_runs(&worker.id, 5)
        .await
        .unwrap()
        .transitions;
    made.extend(
        store
            .schedules()
            .apply_catch_up(None)
            .await
            .unwrap()
            .transitions,
    );
    made.extend(
        store
            .flow_runs()
            .mark_late_runs(store.now() + 3600 * SECOND)
            .await
            .unwrap()
            .transitions,
    );
    made.extend(
        store
            .workers()
            .release_unheld_claims(&worker.id, &[], store.now())
            .await
            .unwrap()
            .transitions,
    );
    store.workers().deregister_worker(&worker.id).await.unwrap();
    made.extend(
        store
            .workers()
            .reap_orphaned_runs(store.now())
            .await
            .unwrap()
            .transitions,
    );
    made.extend(
        store
            .deployments()
            .delete_deployment("etl/finished")
            .await
            .unwrap()
            .transitions,
    );
    assert!(causes(&made, &run.id).is_empty(), "{made:?}");

    let after = store.flow_runs().flow_run(&run.id).await.unwrap();
    assert_eq!(after.state, finished.state);
    assert_eq!(after.end_time, finished.end_time);
    assert_eq!(
        store.flow_runs().flow_run_history(&run.id).await.unwrap(),
        history
    );
}
