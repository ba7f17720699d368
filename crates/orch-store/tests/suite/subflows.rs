//! Subflow runs: created Running by the parent's process, linked to the
//! parent and its wrapper task run, idempotent per wrapper task run, their
//! states through the one state path, ended with their parent, and never
//! counted as deployment or pool runs.

use orch_core::{RunPolicy, StateType};
use orch_store::{
    Cause, CredentialCheck, FlowRunFilter, FlowRunQuery, NewState, NewSubflowRun, Proposal, State,
    Store, StoreError, TaskRun, TaskRunState,
};

use crate::common::{
    accepted, claim_ids, create_pool, deploy, history_types, move_to, object, pool_and_deployment,
    propose, register, rejected, run_now, spec, start, store,
};

/// Reports a Running task run `name` of run `flow_run_id`; returns its id.
async fn wrapper(store: &Store, flow_run_id: &str, name: &str) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    let state = State {
        kind: StateType::Running,
        name: "Running".into(),
        message: String::new(),
        timestamp: store.now(),
    };
    let task = TaskRun {
        id: id.clone(),
        flow_run_id: flow_run_id.into(),
        name: name.into(),
        tags: vec![],
        state: state.clone(),
        attempt: 1,
        max_retries: 0,
        start_time: Some(state.timestamp),
        end_time: None,
        error: String::new(),
        result: String::new(),
        upstream_ids: vec![],
        history: vec![TaskRunState {
            seq: 1,
            attempt: 1,
            state,
        }],
        created_at: store.now(),
        cpu_micros: None,
    };
    store
        .task_runs()
        .report_task_runs(&[task])
        .await
        .expect("report task");
    id
}

fn child_of(parent: &str, task: Option<&str>, flow: &str) -> NewSubflowRun {
    NewSubflowRun {
        parent_flow_run_id: parent.into(),
        parent_task_run_id: task.map(str::to_owned),
        flow: flow.into(),
        parameters: object(serde_json::json!({ "symbol": "GOOG" })),
        trace_parent: None,
    }
}

/// A Running run of a fresh deployment `etl/nightly`.
async fn running_parent(store: &Store) -> orch_store::FlowRun {
    let deployment = pool_and_deployment(store, "default", "etl", "nightly").await;
    let run = run_now(store, &deployment).await;
    start(store, &run.id).await
}

#[tokio::test]
async fn a_subflow_run_starts_running_linked_to_its_parent_and_its_wrapper_task_run() {
    let store = store().await;
    let parent = running_parent(&store).await;
    let task = wrapper(&store, &parent.id, "data-refresh").await;
    let trace =
        orch_core::TraceParent::parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
            .unwrap();
    let new = NewSubflowRun {
        trace_parent: Some(trace),
        ..child_of(&parent.id, Some(&task), "data-refresh")
    };

    let created = store
        .flow_runs()
        .create_subflow_run(&new, true)
        .await
        .unwrap();

    let child = &created.value.run;
    assert!(created.value.created);
    assert_eq!(child.flow, "data-refresh");
    assert_eq!(
        child.parent_flow_run_id.as_deref(),
        Some(parent.id.as_str())
    );
    assert_eq!(child.parent_task_run_id.as_deref(), Some(task.as_str()));
    assert_eq!(
        (
            child.deployment_id.as_deref(),
            child.work_pool_id.as_deref()
        ),
        (None, None),
        "no deployment, no pool: no claim and no limit ever counts it"
    );
    assert_eq!(child.state.kind, StateType::Running);
    assert_eq!(child.run_count, 1);
    assert!(child.start_time.is_some());
    assert_eq!(child.parameters["symbol"], "GOOG");
    assert_eq!(child.tags, parent.tags);
    assert_eq!(child.trace().trace_id, trace.trace_id, "the parent's trace");
    assert_eq!(child.trace().parent_span_id, Some(trace.span_id));
    assert!(child.is_subflow() && !parent.is_subflow());
    // Its first state came through the state path's rules, as a transition.
    let [transition] = created.transitions.as_slice() else {
        panic!("one transition: {:?}", created.transitions);
    };
    assert_eq!(
        (transition.from, transition.to, transition.cause),
        (None, StateType::Running, Cause::SubflowStarted)
    );
    assert_eq!(&transition.run, child);
    assert_eq!(history_types(&store, &child.id).await, [StateType::Running]);
    assert_eq!(store.flow_runs().flow_run(&child.id).await.unwrap(), *child);
    assert_eq!(
        store.flow_runs().subflow_runs(&parent.id).await.unwrap(),
        std::slice::from_ref(child)
    );
    // Its own credential, for its run only.
    let key = created.value.credential.as_deref().expect("a credential");
    let CredentialCheck::Valid(info) = store.tokens().check_credential(key).await.unwrap() else {
        panic!("the child's credential is valid");
    };
    assert_eq!(info.flow_run_id.as_deref(), Some(child.id.as_str()));
    assert!(
        !format!("{:?}", created.value).contains(key),
        "the credential is not printed"
    );
}

#[tokio::test]
async fn each_call_makes_its_own_subflow_run_and_a_resent_call_finds_the_first() {
    let store = store().await;
    let parent = running_parent(&store).await;
    let first_call = wrapper(&store, &parent.id, "child").await;
    let second_call = wrapper(&store, &parent.id, "child").await;

    let first = store
        .flow_runs()
        .create_subflow_run(&child_of(&parent.id, Some(&first_call), "child"), false)
        .await
        .unwrap();
    let resent = store
        .flow_runs()
        .create_subflow_run(&child_of(&parent.id, Some(&first_call), "child"), true)
        .await
        .unwrap();
    let second = store
        .flow_runs()
        .create_subflow_run(&child_of(&parent.id, Some(&second_call), "child"), false)
        .await
        .unwrap();

    assert_eq!(resent.value.run.id, first.value.run.id);
    assert!(!resent.value.created);
    assert!(resent.transitions.is_empty(), "nothing changed");
    assert!(resent.value.credential.is_some(), "a fresh credential");
    assert_ne!(second.value.run.id, first.value.run.id);
    assert!(first.value.credential.is_none(), "none asked");
    assert_eq!(
        store
            .flow_runs()
            .subflow_runs(&parent.id)
            .await
            .unwrap()
            .len(),
        2
    );
    // Without a wrapper task run, every call is new.
    let a = store
        .flow_runs()
        .create_subflow_run(&child_of(&parent.id, None, "child"), false)
        .await
        .unwrap();
    let b = store
        .flow_runs()
        .create_subflow_run(&child_of(&parent.id, None, "child"), false)
        .await
        .unwrap();
    assert_ne!(a.value.run.id, b.value.run.id);
}

#[tokio::test]
async fn a_subflow_run_needs_a_running_parent_and_a_wrapper_task_run_of_that_parent() {
    let store = store().await;
    let deployment = pool_and_deployment(&store, "default", "etl", "nightly").await;
    let waiting = run_now(&store, &deployment).await;
    let parent = start(&store, &run_now(&store, &deployment).await.id).await;
    let others = wrapper(&store, &waiting.id, "child").await;

    let error = store
        .flow_runs()
        .create_subflow_run(&child_of(&waiting.id, None, "child"), false)
        .await
        .unwrap_err();
    let StoreError::Conflict(message) = &error else {
        panic!("{error:?}");
    };
    assert!(
        message.contains(&format!("its parent run {} is Scheduled", waiting.name)),
        "{message}"
    );
    let error = store
        .flow_runs()
        .create_subflow_run(&child_of(&parent.id, Some(&others), "child"), false)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, StoreError::InvalidInput(m) if m.contains("is not a task run of the parent run")),
        "{error:?}"
    );
    let error = store
        .flow_runs()
        .create_subflow_run(&child_of("no-such-run", None, "child"), false)
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::NotFound { .. }), "{error:?}");
    let error = store
        .flow_runs()
        .create_subflow_run(&child_of(&parent.id, None, "bad name!"), false)
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::InvalidInput(_)), "{error:?}");
    assert!(
        store
            .flow_runs()
            .subflow_runs(&parent.id)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_subflow_runs_states_go_through_the_state_path_and_it_may_only_run_again_or_end() {
    let store = store().await;
    let parent = running_parent(&store).await;
    let child = store
        .flow_runs()
        .create_subflow_run(&child_of(&parent.id, None, "child"), false)
        .await
        .unwrap()
        .value
        .run;

    let (_, reason) = rejected(
        store
            .flow_runs()
            .set_flow_run_state(&child.id, propose(StateType::Scheduled))
            .await
            .unwrap(),
    );
    assert!(reason.contains("never claimed by a worker"), "{reason}");
    let retrying = Proposal {
        state: NewState::new(StateType::Running, "Retrying", "attempt 1 failed"),
        ..propose(StateType::Running)
    };
    let retried = store
        .flow_runs()
        .set_flow_run_state(&child.id, retrying)
        .await
        .unwrap();
    assert_eq!(accepted(retried).state.name, "Retrying");
    let failed = store
        .flow_runs()
        .set_flow_run_state(&child.id, propose(StateType::Failed))
        .await
        .unwrap();
    assert_eq!(failed.transitions[0].cause, Cause::Report);
    // No deployment, so no flow retries: Failed is final.
    assert_eq!(accepted(failed).state.kind, StateType::Failed);
    assert_eq!(
        history_types(&store, &child.id).await,
        [StateType::Running, StateType::Running, StateType::Failed]
    );
}

#[tokio::test]
async fn a_parent_that_ends_ends_its_unfinished_subflow_runs_and_theirs() {
    let store = store().await;
    let parent = running_parent(&store).await;
    let create = |parent: String| {
        let store = store.store().clone();
        async move {
            store
                .flow_runs()
                .create_subflow_run(&child_of(&parent, None, "child"), false)
                .await
                .unwrap()
                .value
                .run
        }
    };
    let done = create(parent.id.clone()).await;
    move_to(&store, &done.id, StateType::Completed).await;
    let running = create(parent.id.clone()).await;
    let grandchild = create(running.id.clone()).await;

    // Being cancelled, the parent's process still runs them.
    let cancelling = store.flow_runs().cancel_flow_run(&parent.id).await.unwrap();
    assert!(cancelling.transitions[0].subflows.is_empty());
    assert_eq!(
        store
            .flow_runs()
            .flow_run(&running.id)
            .await
            .unwrap()
            .state
            .kind,
        StateType::Running
    );
    let cancelled = store
        .flow_runs()
        .set_flow_run_state(&parent.id, propose(StateType::Cancelled))
        .await
        .unwrap();

    let [ended] = cancelled.transitions[0].subflows.as_slice() else {
        panic!("{:#?}", cancelled.transitions);
    };
    assert_eq!(ended.run.id, running.id);
    assert_eq!(
        (ended.from, ended.to, ended.cause),
        (
            Some(StateType::Running),
            StateType::Cancelled,
            Cause::ParentEnded
        )
    );
    assert!(
        ended.run.state.message.contains(&parent.name),
        "{:?}",
        ended.run.state
    );
    let [nested] = ended.subflows.as_slice() else {
        panic!("{ended:#?}");
    };
    assert_eq!(nested.run.id, grandchild.id);
    assert_eq!(nested.to, StateType::Cancelled);
    assert_eq!(cancelled.transitions[0].with_caused().len(), 3);
    assert_eq!(
        store
            .flow_runs()
            .flow_run(&done.id)
            .await
            .unwrap()
            .state
            .kind,
        StateType::Completed,
        "a finished subflow run stays as it is"
    );
    assert!(
        store
            .flow_runs()
            .flow_run(&grandchild.id)
            .await
            .unwrap()
            .end_time
            .is_some()
    );
}

#[tokio::test]
async fn a_parent_crashed_by_its_workers_lease_crashes_its_subflow_runs() {
    let store = store().await;
    create_pool(&store, "default").await;
    let deployment = deploy(&store, spec("etl", "nightly", "default")).await;
    let worker = register(&store, "w1", "default", 0).await;
    let parent = run_now(&store, &deployment).await;
    claim_ids(&store, &worker.id, 1).await;
    move_to(&store, &parent.id, StateType::Running).await;
    let child = store
        .flow_runs()
        .create_subflow_run(&child_of(&parent.id, None, "child"), false)
        .await
        .unwrap()
        .value
        .run;

    let reaped = store
        .workers()
        .reap_orphaned_runs(store.now() + 1)
        .await
        .unwrap()
        .transitions;

    let transition = reaped.iter().find(|t| t.run.id == parent.id).unwrap();
    assert_eq!(transition.to, StateType::Crashed);
    assert_eq!(transition.subflows.len(), 1);
    let child = store.flow_runs().flow_run(&child.id).await.unwrap();
    assert_eq!(child.state.kind, StateType::Crashed);
    assert!(
        child.state.message.contains("ended (Crashed)"),
        "{:?}",
        child.state
    );
}

#[tokio::test]
async fn subflow_runs_count_in_no_deployment_or_pool_limit_and_can_be_left_out_of_lists() {
    let store = store().await;
    create_pool(&store, "default").await;
    let mut limited = spec("etl", "limited", "default");
    limited.policy = RunPolicy {
        concurrency_limit: Some(2),
        ..RunPolicy::default()
    };
    let deployment = deploy(&store, limited).await;
    let worker = register(&store, "w1", "default", 0).await;
    let parent = run_now(&store, &deployment).await;
    assert_eq!(claim_ids(&store, &worker.id, 1).await, [parent.id.as_str()]);
    move_to(&store, &parent.id, StateType::Running).await;
    let child = store
        .flow_runs()
        .create_subflow_run(&child_of(&parent.id, None, "child"), false)
        .await
        .unwrap()
        .value
        .run;
    let second = run_now(&store, &deployment).await;

    // The parent is the deployment's one run in flight: a second one fits
    // under its limit of 2, subflow run or not.
    assert_eq!(claim_ids(&store, &worker.id, 5).await, [second.id.as_str()]);
    let pool = store.work_pools().work_pool("default", 0).await.unwrap();
    assert_eq!(pool.runs_in_flight, 2, "the parent and the second run");

    let top_level = store
        .flow_runs()
        .list_flow_runs(&FlowRunFilter {
            top_level: true,
            ..FlowRunFilter::default()
        })
        .await
        .unwrap();
    assert!(top_level.iter().all(|run| run.id != child.id));
    assert_eq!(top_level.len(), 2);
    let all = store
        .flow_runs()
        .list_flow_runs(&FlowRunFilter::default())
        .await
        .unwrap();
    assert_eq!(all.len(), 3);
    let page = store
        .flow_runs()
        .flow_run_page(
            &FlowRunQuery {
                parent_flow_run_id: Some(parent.id.clone()),
                ..FlowRunQuery::default()
            },
            None,
            0,
        )
        .await
        .unwrap();
    let ids: Vec<&str> = page.runs.iter().map(|run| run.id.as_str()).collect();
    assert_eq!(ids, [child.id.as_str()]);
    let page = store
        .flow_runs()
        .flow_run_page(
            &FlowRunQuery {
                top_level: true,
                ..FlowRunQuery::default()
            },
            None,
            0,
        )
        .await
        .unwrap();
    assert_eq!(page.total, 2);
}
