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
