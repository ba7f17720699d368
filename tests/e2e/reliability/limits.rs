//! Size limits that fail fast and clearly, and responses that always fit.

use std::time::Duration;

use orch_e2e::{TestServer, deployment_toml, flow_program, state_type};

use super::http::request;

const WAIT: Duration = Duration::from_secs(120);

fn create_run(server: &TestServer, deployment: &str, pad: usize) -> super::http::Answer {
    let body = serde_json::json!({ "parameters": { "pad": "x".repeat(pad) } }).to_string();
    request(
        server,
        "POST",
        &format!("/api/deployments/{deployment}/runs"),
        body.as_bytes(),
    )
}

#[test]
fn parameters_over_the_limit_are_refused_at_creation() {
    let server = TestServer::start();
    let _dir = server.deploy(
        "pool",
        &deployment_toml("f", "p", "pool", &[&flow_program("params_size.sh")], ""),
    );
    // Through the REST API: a JSON 400 naming the limit.
    let answer = create_run(&server, "f/p", 1024 * 1024 + 10);
    assert_eq!(answer.status, 400, "{}", answer.body);
    let error = answer.json()["error"].as_str().unwrap().to_owned();
    assert!(error.contains("limit of 1.0 MiB"), "{error}");
    // A body over the API's own limit is a JSON 413.
    let answer = create_run(&server, "f/p", 3 * 1024 * 1024);
    assert_eq!(answer.status, 413, "{}", answer.body);
    assert!(
        answer.json()["error"]
            .as_str()
            .unwrap()
            .contains("too large")
    );
    // Through the CLI, from a file-sized --params.
    let dir = tempfile::tempdir().unwrap();
    let params = serde_json::json!({ "pad": "y".repeat(100 * 1024) }).to_string();
    let output = server.run(&["deployment", "run", "f/p", "--params", &params]);
    assert!(output.status.success(), "{output:?}");
    drop(dir);
    assert!(server.json(&["flow-run", "ls"]).as_array().unwrap().len() == 1);
}

#[test]
fn large_parameters_reach_the_flow_through_a_file() {
    let server = TestServer::start();
    let _dir = server.deploy(
        "pool",
        &deployment_toml("f", "p", "pool", &[&flow_program("params_size.sh")], ""),
    );
    let _worker = server.start_worker("pool", &[]);
    let big = create_run(&server, "f/p", 500 * 1024);
    assert_eq!(big.status, 201, "{}", big.body);
    let big = big.json()["id"].as_str().unwrap().to_owned();
    let small = create_run(&server, "f/p", 10);
    let small = small.json()["id"].as_str().unwrap().to_owned();
    for run in [&big, &small] {
        let detail = server.wait_for_state(run, &["COMPLETED", "FAILED", "CRASHED"], WAIT);
        assert_eq!(state_type(&detail), "COMPLETED", "{detail:#}");
    }
    let big_size = 500 * 1024 + r#"{"pad":""}"#.len();
    assert_eq!(
        server.log_messages(&big),
        [format!("parameters file: {big_size} bytes")]
    );
    assert_eq!(
        server.log_messages(&small),
        [format!(
            "parameters env: {} bytes",
            10 + r#"{"pad":""}"#.len()
        )]
    );
}

#[test]
fn claims_of_many_large_runs_fit_and_listings_still_answer() {
    let server = TestServer::start();
    let _dir = server.deploy(
        "pool",
        &deployment_toml("f", "p", "pool", &[&flow_program("params_size.sh")], ""),
    );
    // 20 runs of 900 KiB each: 18 MiB, more than one message can carry.
    let runs: Vec<String> = (0..20)
        .map(|_| {
            let answer = create_run(&server, "f/p", 900 * 1024);
            assert_eq!(answer.status, 201, "{}", answer.body);
            answer.json()["id"].as_str().unwrap().to_owned()
        })
        .collect();
    let listed = server.json(&["flow-run", "ls", "--limit", "50"]);
    assert_eq!(listed.as_array().unwrap().len(), 20, "{listed:#}");
    let _worker = server.start_worker("pool", &[]);
    for run in &runs {
        let detail = server.wait_for_state(run, &["COMPLETED", "FAILED", "CRASHED"], WAIT);
        assert_eq!(state_type(&detail), "COMPLETED", "{detail:#}");
    }
}

#[test]
fn a_huge_log_line_is_split_and_the_logs_still_read() {
    let server = TestServer::start();
    // 5 MiB on one line: the worker splits it at the 1 MiB line limit.
    let _dir = server.deploy(
        "pool",
        &deployment_toml(
            "f",
            "wide",
            "pool",
            &[
                "sh",
                "-c",
                "head -c 5242880 /dev/zero | tr '\\0' x; echo; echo done",
            ],
            "",
        ),
    );
    let _worker = server.start_worker("pool", &[]);
    let run = server.run_deployment("f/wide", &[]);
    let detail = server.wait_for_state(&run, &["COMPLETED", "FAILED", "CRASHED"], WAIT);
    assert_eq!(state_type(&detail), "COMPLETED", "{detail:#}");
    let messages = server.log_messages(&run);
    let total: usize = messages
        .iter()
        .filter(|m| m.starts_with('x'))
        .map(String::len)
        .sum();
    assert_eq!(total, 5 * 1024 * 1024);
    assert!(messages.iter().all(|m| m.len() <= 1024 * 1024));
    assert_eq!(messages.last().map(String::as_str), Some("done"));
    // And in the human format too (pages are cut by size, not only by count).
    let text = server.ok(&["flow-run", "logs", &run]);
    assert!(
        text.trim_end().ends_with("done"),
        "{}",
        &text[text.len().saturating_sub(200)..]
    );
}
