//! Peers that are not what they should be, and input that makes no sense:
//! refused at once, with a message saying what and how to fix it.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output};
use std::time::Duration;

use orch_e2e::{TestServer, binary, deployment_toml, flow_program, state_type};

use super::http::request;

/// `orch ARGS` against `api_url`, with no server of its own.
fn orch_at(api_url: &str, args: &[&str]) -> Output {
    let home = tempfile::tempdir().unwrap();
    Command::new(binary("orch"))
        .args(args)
        .env("ORCH_HOME", home.path())
        .env("ORCH_API_URL", api_url)
        .env("ORCH_REQUEST_TIMEOUT_SECONDS", "2")
        .env("NO_COLOR", "1")
        .output()
        .expect("run orch")
}

#[test]
fn a_port_that_never_answers_is_reported_with_its_url() {
    // Accepted by the kernel (listen backlog), never answered.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let output = orch_at(&url, &["flow-run", "ls"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&url), "{stderr}");
    assert!(stderr.contains("did not answer within 2s"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
}

#[test]
fn a_server_that_is_not_orch_is_named_as_such() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    // A plain HTTP/1.1 server: it answers every connection with a 400.
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
            let _ = stream.read(&mut [0_u8; 1024]);
            let _ = stream.write_all(
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 11\r\nConnection: close\r\n\r\nbad request",
            );
        }
    });
    let output = orch_at(&url, &["flow-run", "ls"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&url), "{stderr}");
    assert!(stderr.contains("does not speak orch's API"), "{stderr}");
}

#[test]
fn schedules_that_never_fire_and_control_characters_are_refused() {
    let server = TestServer::start();
    server.ok(&["work-pool", "create", "pool", "--type", "process"]);
    let dir = tempfile::tempdir().unwrap();
    let never = orch_e2e::write_deploy_file(
        dir.path(),
        "never.toml",
        &deployment_toml(
            "f",
            "never",
            "pool",
            &["true"],
            "[[deployments.schedules]]\ncron = \"0 0 30 2 *\"",
        ),
    );
    let output = server.run(&["deploy", never.to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("never fires"), "{stderr}");
    assert!(stderr.contains("30 February"), "{stderr}");

    let nul = orch_e2e::write_deploy_file(
        dir.path(),
        "nul.toml",
        "[[deployments]]\nflow = \"f\"\nname = \"nul\"\nwork_pool = \"pool\"\n\
         entrypoint = [\"run\\u0000me\"]\n",
    );
    let output = server.run(&["deploy", nul.to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("control character"), "{stderr}");
    // Nothing was registered.
    assert_eq!(
        server.json(&["deployment", "ls"]).as_array().unwrap().len(),
        0
    );
}

#[test]
fn rest_errors_are_json_and_bodies_must_be_objects() {
    let server = TestServer::start();
    let _dir = server.deploy("pool", &deployment_toml("f", "d", "pool", &["true"], ""));
    let array = request(&server, "POST", "/api/deployments/f/d/runs", b"[1, 2]");
    assert_eq!(array.status, 422, "{}", array.body);
    assert!(
        array.json()["error"]
            .as_str()
            .unwrap()
            .contains("must be a JSON object")
    );
    assert!(
        server
            .json(&["flow-run", "ls"])
            .as_array()
            .unwrap()
            .is_empty()
    );

    let not_json = request(&server, "POST", "/api/deployments/f/d/runs", b"{nope");
    assert_eq!(not_json.status, 400, "{}", not_json.body);
    assert!(not_json.json()["error"].is_string());

    let wrong_method = request(&server, "PUT", "/api/flow-runs", b"");
    assert_eq!(wrong_method.status, 405, "{}", wrong_method.body);
    let error = wrong_method.json()["error"].as_str().unwrap().to_owned();
    assert!(
        error.contains("PUT is not allowed on /api/flow-runs"),
        "{error}"
    );

    let missing = request(&server, "GET", "/api/nothing-here", b"");
    assert_eq!(missing.status, 404, "{}", missing.body);
    assert!(missing.json()["error"].is_string());
}

#[test]
fn terminal_control_sequences_in_logs_are_shown_not_obeyed() {
    let server = TestServer::start();
    let _dir = server.deploy(
        "pool",
        &deployment_toml("f", "ansi", "pool", &[&flow_program("ansi.sh")], ""),
    );
    let _worker = server.start_worker("pool", &[]);
    let run = server.run_deployment("f/ansi", &[]);
    let detail = server.wait_for_state(&run, &["COMPLETED", "FAILED"], Duration::from_secs(60));
    assert_eq!(state_type(&detail), "COMPLETED");
    let text = server.ok(&["flow-run", "logs", &run]);
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{7}'),
        "{text:?}"
    );
    assert!(text.contains(r"before \e[2J\e]0;pwned\x07 after"), "{text}");
    // JSON keeps the text as the flow wrote it.
    assert_eq!(
        server.log_messages(&run),
        ["before \u{1b}[2J\u{1b}]0;pwned\u{7} after"]
    );
}
