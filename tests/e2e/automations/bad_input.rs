//! `orch deploy` refuses bad automations with file, line and reason, and
//! registers nothing.

use orch_e2e::{TestServer, deployment_toml, flow_program, write_deploy_file};
use serde_json::json;

fn refused(server: &TestServer, text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = write_deploy_file(dir.path(), "orch.toml", text);
    let output = server.run(&["deploy", path.to_str().unwrap()]);
    assert!(!output.status.success(), "orch deploy accepted: {text}");
    let error = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        error.contains(&format!("{}:", path.display())),
        "no file in: {error}"
    );
    // Nothing was registered: neither the deployment nor any automation.
    assert_eq!(
        server.json(&["deployment", "ls"]),
        json!([]),
        "a deployment was registered"
    );
    assert_eq!(
        server.json(&["automation", "ls"]),
        json!([]),
        "an automation was registered"
    );
    error
}

fn file(automation: &str) -> String {
    let deployment = deployment_toml("f", "d", "pool", &[&flow_program("echo.sh")], "");
    format!("{deployment}\n[[automations]]\nname = \"a\"\n{automation}")
}

#[test]
fn bad_automations_are_refused_with_file_line_and_reason() {
    let server = TestServer::start();
    server.ok(&["work-pool", "create", "pool", "--type", "process"]);
    // The deployment takes lines 1-7; `name` is line 9, `trigger` 10, `actions` 11.
    let cases = [
        (
            "trigger = { type = \"on-fire\" }\nactions = [{ type = \"webhook\", url = \"http://h/\" }]\n",
            ":10:11: trigger: unknown variant `on-fire`",
        ),
        (
            "trigger = { type = \"event\", name = \"x\" }\nactions = [{ type = \"pager\" }]\n",
            ":11:12: action: unknown variant `pager`",
        ),
        (
            "trigger = { type = \"event\", name = \"x\" }\nactions = [{ type = \"webhook\", url = \"localhost:9000/hook\" }]\n",
            ":11:12: webhook action: \"localhost:9000/hook\" is not an http(s) URL",
        ),
        (
            "trigger = { type = \"run-state\", states = [\"Failed\"], deployments = [\"f/nope\"] }\nactions = [{ type = \"webhook\", url = \"http://h/\" }]\n",
            ":10:11: automation \"a\" names deployment \"f/nope\", which is neither declared in this file nor registered",
        ),
    ];
    for (automation, expected) in cases {
        let error = refused(&server, &file(automation));
        assert!(
            error.contains(expected),
            "expected {expected:?} in: {error}"
        );
    }
}

#[test]
fn an_automation_may_name_a_deployment_registered_from_another_file() {
    let server = TestServer::start();
    let _first = server.deploy(
        "pool",
        &deployment_toml("up", "stream", "pool", &[&flow_program("echo.sh")], ""),
    );
    let dir = tempfile::tempdir().unwrap();
    let text = file(
        "trigger = { type = \"run-state\", states = [\"Completed\"], deployments = [\"up/stream\"] }\nactions = [{ type = \"run-deployment\", deployment = \"f/d\" }]\n",
    );
    let path = write_deploy_file(dir.path(), "orch.toml", &text);
    let out = server.ok(&["deploy", path.to_str().unwrap()]);
    assert!(out.contains("automation a  created"), "{out}");
    let again = server.ok(&["deploy", path.to_str().unwrap()]);
    assert!(again.contains("automation a  unchanged"), "{again}");
}

#[test]
fn durations_and_placeholders_are_refused_with_the_key_the_range_and_the_offset() {
    let server = TestServer::start();
    server.ok(&["work-pool", "create", "pool", "--type", "process"]);
    let event = "trigger = { type = \"event\", name = \"x\" }\n";
    let cancel = "actions = [{ type = \"cancel-run\" }]\n";
    // `name` is line 9, `trigger` 10, `actions` 11, `cooldown_seconds` 12.
    let cases = [
        (
            format!("trigger = {{ type = \"run-duration\", seconds = -5 }}\n{cancel}"),
            ":10:11: trigger: `seconds` must be between 1 and 31622400 (366 days), not -5"
                .to_owned(),
        ),
        (
            format!("trigger = {{ type = \"deadline\", late_seconds = 90.5 }}\n{cancel}"),
            ":10:11: trigger: `late_seconds` must be a whole number of seconds between 1 and 31622400"
                .to_owned(),
        ),
        (
            format!("{event}{cancel}cooldown_seconds = 9223372036854775807\n"),
            ":12:20: `cooldown_seconds` must be between 0 and 31622400 (366 days), not 9223372036854775807"
                .to_owned(),
        ),
        (
            format!("{event}{cancel}cooldown_seconds = 0.5\n"),
            ":12:20: `cooldown_seconds` must be a whole number of seconds between 0".to_owned(),
        ),
        (
            format!(
                "{event}actions = [{{ type = \"webhook\", url = \"https://hooks.example/${{HOOK\" }}]\n"
            ),
            ":11:12: automation \"a\": action 1 (webhook), `url`: `${HOOK` at offset 22 opens a \
             placeholder that is never closed; write `${NAME}`, with the closing `}`"
                .to_owned(),
        ),
        (
            format!(
                "{event}actions = [{{ type = \"cancel-run\" }}, {{ type = \"email\", to = [\"ops@example.com\", \"${{}}\"] }}]\n"
            ),
            "automation \"a\": action 2 (email), `to[1]`: `${}` at offset 0 has no name".to_owned(),
        ),
    ];
    for (automation, expected) in cases {
        let error = refused(&server, &file(&automation));
        assert!(
            error.contains(&expected),
            "expected {expected:?} in: {error}"
        );
    }
}

#[test]
fn a_flow_cannot_emit_orchs_own_events() {
    let server = TestServer::start();
    let _dir = server.deploy(
        "pool",
        &deployment_toml("f", "d", "pool", &[&flow_program("echo.sh")], ""),
    );
    let run = server.run_deployment("f/d", &[]);
    let (status, body) = orch_e2e::http_post(
        server.url(),
        &format!("/api/flow-runs/{run}/emit"),
        r#"{"name": "orch.automation.loop-suppressed", "payload": {"automation": "spoofed"}}"#,
        Some(&server.admin_key()),
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("orch's own"), "{body}");
}
