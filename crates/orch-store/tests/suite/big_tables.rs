//! Big tables (issue 24): the tag table and the run counts kept by triggers
//! stay equal to what the runs say, through creation, state changes,
//! re-tagging, moved creation times, deletion and folding.

use orch_core::StateType;
use orch_store::{DeploymentStateCount, FlowRunQuery, RunCursor, Store};

use crate::common::{
    TestStore, create_pool, deploy, move_to, raw_connection, run_now, spec, start, store, tick,
};

async fn execute(test_store: &TestStore, statement: &str) {
    sqlx::query(sqlx::AssertSqlSafe(statement.to_string()))
        .execute(&mut *raw_connection(test_store).await)
        .await
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
}

/// Counts by a `GROUP BY` over every run (what `/metrics` used to run).
async fn counted(test_store: &TestStore) -> Vec<DeploymentStateCount> {
    let rows: Vec<(Option<String>, String, i64)> = sqlx::query_as(
        "SELECT deployment_id, state_type, COUNT(*) FROM flow_runs \
         GROUP BY deployment_id, state_type ORDER BY deployment_id, state_type",
    )
    .fetch_all(&mut *raw_connection(test_store).await)
    .await
    .unwrap();
    let mut counts: Vec<DeploymentStateCount> = rows
        .into_iter()
        .map(|(deployment_id, kind, count)| DeploymentStateCount {
            deployment_id,
            state_type: kind.parse().unwrap(),
            count,
        })
        .collect();
    counts.sort_by_key(|c| (c.deployment_id.clone(), c.state_type.as_str()));
    counts
}

async fn kept_counts(store: &Store) -> Vec<DeploymentStateCount> {
    let mut counts = store.stats().runs_by_deployment_and_state().await.unwrap();
    counts.sort_by_key(|c| (c.deployment_id.clone(), c.state_type.as_str()));
    counts
}

/// The tag table equals every run's tags, and the kept counts equal a count
/// of the runs, before and after folding the changes (which leaves none).
pub async fn assert_derived_tables_match(test_store: &TestStore) {
    let mut conn = raw_connection(test_store).await;
    let runs: Vec<(String, i64, String)> =
        sqlx::query_as("SELECT id, created_at, tags FROM flow_runs")
            .fetch_all(&mut *conn)
            .await
            .unwrap();
    let mut expected: Vec<(String, i64, String)> = Vec::new();
    for (id, created_at, tags) in runs {
        let mut tags: Vec<String> = serde_json::from_str(&tags).unwrap();
        tags.sort();
        tags.dedup();
        expected.extend(tags.into_iter().map(|tag| (tag, created_at, id.clone())));
    }
    expected.sort();
    let mut tagged: Vec<(String, i64, String)> =
        sqlx::query_as("SELECT tag, created_at, flow_run_id FROM flow_run_tags")
            .fetch_all(&mut *conn)
            .await
            .unwrap();
    tagged.sort();
    assert_eq!(tagged, expected, "flow_run_tags against the runs' tags");

    let truth = counted(test_store).await;
    assert_eq!(kept_counts(test_store).await, truth, "before folding");
    test_store.stats().fold_run_counts().await.unwrap();
    assert_eq!(kept_counts(test_store).await, truth, "after folding");
    let (pending,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM flow_run_count_changes")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(pending, 0, "a fold takes every change");
}

/// Ids of a page of runs with `tag` (and the rest of `filter`).
async fn page(
    store: &Store,
    filter: &FlowRunQuery,
    cursor: Option<&RunCursor>,
    limit: u32,
) -> (Vec<String>, Option<RunCursor>, i64) {
    let page = store
        .flow_runs()
        .flow_run_page(filter, cursor, limit)
        .await
        .unwrap();
    let ids = page.runs.into_iter().map(|run| run.id).collect();
    (ids, page.next_cursor, page.total)
}

fn tagged(tag: &str) -> FlowRunQuery {
    FlowRunQuery {
        tag: Some(tag.into()),
        ..FlowRunQuery::default()
    }
}

#[tokio::test]
async fn the_tag_filter_follows_runs_created_retagged_moved_and_deleted() {
    let store = store().await;
    create_pool(&store, "default").await;
    let mut nightly = spec("etl", "nightly", "default");
    nightly.tags = vec!["etl".into(), "nightly".into(), "etl".into()];
    let nightly = deploy(&store, nightly).await;
    let mut daily = spec("reports", "daily", "default");
    daily.tags = vec!["reports".into()];
    let daily = deploy(&store, daily).await;
    let r1 = run_now(&store, &nightly).await;
    tick().await;
    let r2 = run_now(&store, &daily).await;
    tick().await;
    let r3 = run_now(&store, &nightly).await;
    assert_derived_tables_match(&store).await;

    let (ids, next, total) = page(&store, &tagged("etl"), None, 50).await;
    assert_eq!(ids, [r3.id.clone(), r1.id.clone()]);
    assert_eq!((next, total), (None, 2));
    // Page by page through the tag's index.
    let (ids, next, total) = page(&store, &tagged("etl"), None, 1).await;
    assert_eq!((ids, total), (vec![r3.id.clone()], 2));
    let (ids, next, _) = page(&store, &tagged("etl"), next.as_ref(), 1).await;
    assert_eq!((ids, next), (vec![r1.id.clone()], None));
    // With filters on the run itself.
    let of_daily = FlowRunQuery {
        deployment_id: Some(daily.id.clone()),
        ..tagged("etl")
    };
    assert_eq!(page(&store, &of_daily, None, 50).await.2, 0);
    let scheduled_reports = FlowRunQuery {
        state_type: Some(StateType::Scheduled),
        ..tagged("reports")
    };
    assert_eq!(
        page(&store, &scheduled_reports, None, 50).await.0,
        [r2.id.as_str()]
    );
    let since = FlowRunQuery {
        since: Some(r3.created_at),
        ..tagged("etl")
    };
    assert_eq!(page(&store, &since, None, 50).await.0, [r3.id.as_str()]);
    // Whole tags only, compared exactly.
    for other in ["et", "ETL", "%", "\"etl\""] {
        assert_eq!(page(&store, &tagged(other), None, 50).await.2, 0, "{other}");
    }
    // The timeline probes the tag table for each started run.
    start(&store, &r1.id).await;
    let timeline = store
        .flow_runs()
        .flow_run_timeline(&tagged("nightly"), 10)
        .await
        .unwrap();
    assert_eq!(
        timeline.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
        [r1.id.as_str()]
    );

    // Re-tagged, moved back in time, deleted: the table follows each.
    let r1_id = &r1.id;
    execute(
        &store,
        &format!("UPDATE flow_runs SET tags = '[\"moved\"]' WHERE id = '{r1_id}'"),
    )
    .await;
    assert_eq!(
        page(&store, &tagged("etl"), None, 50).await.0,
        [r3.id.as_str()]
    );
    assert_eq!(
        page(&store, &tagged("moved"), None, 50).await.0,
        [r1.id.as_str()]
    );
    let r3_id = &r3.id;
    execute(
        &store,
        &format!("UPDATE flow_runs SET created_at = created_at - 3600000000 WHERE id = '{r3_id}'"),
    )
    .await;
    let moved = FlowRunQuery {
        until: Some(r1.created_at),
        ..tagged("nightly")
    };
    assert_eq!(page(&store, &moved, None, 50).await.0, [r3.id.as_str()]);
    assert_derived_tables_match(&store).await;
    execute(
        &store,
        &format!("DELETE FROM flow_runs WHERE id = '{r3_id}'"),
    )
    .await;
    assert_eq!(page(&store, &tagged("etl"), None, 50).await.2, 0);
    assert_derived_tables_match(&store).await;
}

#[tokio::test]
async fn kept_run_counts_equal_a_count_of_the_runs() {
    let store = store().await;
    create_pool(&store, "default").await;
    let nightly = deploy(&store, spec("etl", "nightly", "default")).await;
    let daily = deploy(&store, spec("reports", "daily", "default")).await;
    let mut runs = Vec::new();
    for deployment in [&nightly, &daily, &nightly, &nightly] {
        runs.push(run_now(&store, deployment).await);
    }
    assert_derived_tables_match(&store).await;
    let mut expected = vec![
        DeploymentStateCount {
            deployment_id: Some(daily.id.clone()),
            state_type: StateType::Scheduled,
            count: 1,
        },
        DeploymentStateCount {
            deployment_id: Some(nightly.id.clone()),
            state_type: StateType::Scheduled,
            count: 3,
        },
    ];
    expected.sort_by_key(|c| (c.deployment_id.clone(), c.state_type.as_str()));
    assert_eq!(kept_counts(&store).await, expected);
    // State changes, with and without a fold between them.
    start(&store, &runs[0].id).await;
    move_to(&store, &runs[0].id, StateType::Completed).await;
    assert_derived_tables_match(&store).await;
    start(&store, &runs[1].id).await;
    move_to(&store, &runs[1].id, StateType::Failed).await;
    let _ = store
        .flow_runs()
        .cancel_flow_run(&runs[2].id)
        .await
        .unwrap();
    assert_derived_tables_match(&store).await;
    // A second fold with nothing pending changes nothing.
    assert_eq!(store.stats().fold_run_counts().await.unwrap(), 0);
    assert_derived_tables_match(&store).await;
    // Deleted runs leave the counts; a pair with no run left is not listed.
    let gone = &runs[1].id;
    execute(
        &store,
        &format!("DELETE FROM flow_runs WHERE id = '{gone}'"),
    )
    .await;
    let counts = kept_counts(&store).await;
    assert!(
        !counts.iter().any(|c| c.state_type == StateType::Failed),
        "{counts:?}"
    );
    assert_derived_tables_match(&store).await;
    // A run moved to another deployment moves between counts.
    let (moved, to) = (&runs[3].id, &daily.id);
    execute(
        &store,
        &format!("UPDATE flow_runs SET deployment_id = '{to}' WHERE id = '{moved}'"),
    )
    .await;
    assert_derived_tables_match(&store).await;
    // Runs without a deployment count under none.
    execute(
        &store,
        &format!("UPDATE flow_runs SET deployment_id = NULL WHERE id = '{moved}'"),
    )
    .await;
    let counts = kept_counts(&store).await;
    assert!(
        counts
            .iter()
            .any(|c| c.deployment_id.is_none() && c.count == 1),
        "{counts:?}"
    );
    assert_derived_tables_match(&store).await;
}

/// Unresolved failures by the `NOT EXISTS` of their definition, over every run.
async fn unresolved_by_definition(test_store: &TestStore, since: i64, limit: i64) -> Vec<String> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT r.id FROM flow_runs r WHERE r.state_type IN ('FAILED', 'CRASHED') \
         AND r.created_at >= $1 AND NOT EXISTS (SELECT 1 FROM flow_runs n \
           WHERE n.deployment_id = r.deployment_id AND n.state_type = 'COMPLETED' \
           AND n.created_at > r.created_at) \
         ORDER BY r.created_at DESC, r.id DESC LIMIT $2",
    )
    .bind(since)
    .bind(limit)
    .fetch_all(&mut *raw_connection(test_store).await)
    .await
    .unwrap();
    rows.into_iter().map(|(id,)| id).collect()
}

#[tokio::test]
async fn unresolved_failures_are_those_no_later_success_of_their_deployment_fixed() {
    let store = store().await;
    create_pool(&store, "default").await;
    let a = deploy(&store, spec("etl", "a", "default")).await;
    let b = deploy(&store, spec("etl", "b", "default")).await;
    let gone = deploy(&store, spec("etl", "gone", "default")).await;
    let loose = deploy(&store, spec("etl", "loose", "default")).await;
    let ended = |deployment: orch_store::Deployment, kind: StateType| {
        let store = &store;
        async move {
            let run = run_now(store, &deployment).await;
            start(store, &run.id).await;
            move_to(store, &run.id, kind).await;
            tick().await;
            run.id
        }
    };
    let first = store.now();
    let a_fixed = ended(a.clone(), StateType::Failed).await;
    let b_crashed = ended(b.clone(), StateType::Crashed).await;
    ended(a.clone(), StateType::Completed).await;
    let gone_failed = ended(gone.clone(), StateType::Failed).await;
    let loose_failed = ended(loose.clone(), StateType::Failed).await;
    let a_open = ended(a.clone(), StateType::Failed).await;
    let b_failed = ended(b.clone(), StateType::Failed).await;
    ended(b.clone(), StateType::Completed).await;
    let since_b_fixed = store.now();
    let a_last = ended(a.clone(), StateType::Crashed).await;
    // A deleted deployment keeps its runs; a run may have no deployment at all.
    let _ = store
        .deployments()
        .delete_deployment("etl/gone")
        .await
        .unwrap();
    execute(
        &store,
        &format!("UPDATE flow_runs SET deployment_id = NULL WHERE id = '{loose_failed}'"),
    )
    .await;

    let ids = |since: i64, limit: u32| {
        let store = &store;
        async move {
            let runs = store
                .stats()
                .unresolved_failures(since, limit)
                .await
                .unwrap();
            runs.into_iter().map(|run| run.id).collect::<Vec<_>>()
        }
    };
    let all = ids(first, 10).await;
    assert_eq!(all, [a_last.clone(), a_open, loose_failed, gone_failed]);
    assert!(!all.contains(&a_fixed) && !all.contains(&b_crashed) && !all.contains(&b_failed));
    for (since, limit) in [
        (first, 10),
        (first, 2),
        (first, 1),
        (since_b_fixed, 10),
        (store.now(), 10),
    ] {
        assert_eq!(
            ids(since, limit).await,
            unresolved_by_definition(&store, since, i64::from(limit)).await,
            "since {since}, limit {limit}"
        );
    }
    assert_eq!(ids(since_b_fixed, 10).await, [a_last]);
}
