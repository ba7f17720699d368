//! One shape per record: the REST API and the CLI's `--output json` print the
//! same field names with the same values for a run, its detail (history, task
//! runs), its log lines, a deployment and a work pool.

use serde_json::{Map, Value};

use crate::web::{Api, server_with};

/// The object's fields, sorted, for comparing shapes.
fn keys(value: &Value) -> Vec<String> {
    let object = value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value:#}"));
    let mut keys: Vec<String> = object.keys().cloned().collect();
    keys.sort();
    keys
}

/// `value` without `fields`: the parts of a REST answer that are not the record
/// itself (a pool's workers, a deployment's runs).
fn without(value: &Value, fields: &[&str]) -> Value {
    let mut object: Map<String, Value> = value.as_object().cloned().expect("an object");
    for field in fields {
        assert!(
            object.remove(*field).is_some(),
            "REST adds {field}: {value:#}"
        );
    }
    Value::Object(object)
}

#[tokio::test]
async fn rest_and_cli_json_print_one_shape_per_record() {
    let (server, _worker, _dir) = server_with(&[("parallel", "")]);
    let api = Api::new(&server);
    let run_id = server.run_deployment("web/parallel", &[]);
    api.wait_for_state(&run_id, &["COMPLETED"]).await;

    // The run in a list.
    let rest_page = api.ok("/api/flow-runs").await;
    let rest_run = &rest_page["flow_runs"][0];
    let cli_runs = server.json(&["flow-run", "ls"]);
    let cli_run = &cli_runs[0];
    assert_eq!(rest_run["id"], run_id.as_str());
    assert_eq!(keys(rest_run), keys(cli_run));
    assert_eq!(rest_run, cli_run, "a finished run reads the same both ways");
    for field in ["start_time", "end_time", "created_at", "duration_seconds"] {
        assert!(!rest_run[field].is_null(), "{field} is set: {rest_run:#}");
    }

    // Its detail: the run's fields, its history and its task runs with theirs.
    let rest_detail = api.ok(&format!("/api/flow-runs/{run_id}")).await;
    let cli_detail = server.inspect(&run_id);
    assert_eq!(keys(&rest_detail), keys(&cli_detail));
    assert!(
        rest_detail["task_runs"].as_array().unwrap().len() >= 3,
        "{rest_detail:#}"
    );
    assert_eq!(rest_detail, cli_detail);

    // Its log lines.
    let rest_logs = api.ok(&format!("/api/flow-runs/{run_id}/logs")).await;
    let cli_logs = server.json(&["flow-run", "logs", &run_id]);
    let cli_lines = cli_logs
        .as_array()
        .or_else(|| cli_logs["lines"].as_array())
        .expect("log lines");
    assert!(!cli_lines.is_empty());
    assert_eq!(rest_logs["lines"].as_array().unwrap(), cli_lines);

    // A deployment and a pool: the REST API adds runs and workers beside the record.
    let rest_deployments = api.ok("/api/deployments").await;
    let rest_deployment = without(
        &rest_deployments["deployments"][0],
        &["last_runs", "upcoming_runs"],
    );
    let cli_deployment = server.json(&["deployment", "inspect", "web/parallel"]);
    assert_eq!(rest_deployment, cli_deployment);

    let rest_pool = without(&api.ok("/api/work-pools/pool").await, &["workers"]);
    let cli_pool = server.json(&["work-pool", "inspect", "pool"]);
    assert_eq!(keys(&rest_pool), keys(&cli_pool));
    assert_eq!(rest_pool["name"], cli_pool["name"]);
    assert_eq!(rest_pool["created_at"], cli_pool["created_at"]);

    let rest_workers = api.ok("/api/workers").await;
    let cli_workers = server.json(&["worker", "ls"]);
    assert_eq!(keys(&rest_workers["workers"][0]), keys(&cli_workers[0]));
    assert_eq!(rest_workers["workers"][0]["status"], "online");
    assert_eq!(cli_workers[0]["status"], "online");
}
