//! Settings, files and names under careless input: one check per setting
//! whatever its source, input files read with a size limit, names checked
//! by one rule per kind.

use orch_e2e::{TestServer, deployment_toml, flow_program, refused_at_start, write_deploy_file};

/// Arguments, environment, config file and the origin the message names.
type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str, &'a str);

const ZERO_DAYS: &str = "must be a positive whole number of days (1 to 36500), not 0";

#[test]
fn retention_of_zero_days_is_refused_from_every_source_with_one_message() {
    let start = ["server", "start", "--port", "0"];
    let with = |extra: &[&'static str]| [&start[..], extra].concat();
    let cases: [Case<'_>; 5] = [
        (
            with(&["--retention-runs-days", "0"]),
            vec![],
            "",
            "`--retention-runs-days`",
        ),
        (
            with(&["--retention-logs-days", "0"]),
            vec![],
            "",
            "`--retention-logs-days`",
        ),
        (
            with(&["--retention-state", "failed=0"]),
            vec![],
            "",
            "`failed runs days`",
        ),
        (
            with(&[]),
            vec![("ORCH_RETENTION_RUNS_DAYS", "0")],
            "",
            "`ORCH_RETENTION_RUNS_DAYS`",
        ),
        (
            with(&[]),
            vec![],
            "[retention]\nruns_days = 0\n",
            "`retention.runs_days`",
        ),
    ];
    for (args, env, config, origin) in cases {
        let error = refused_at_start(&args, &env, config);
        assert!(
            error.contains(&format!("{origin} {ZERO_DAYS}")),
            "{args:?} {env:?} {config:?}: {error}"
        );
    }
    // The deploy file: the same rule, the same words.
    let server = TestServer::start();
    server.ok(&["work-pool", "create", "pool", "--type", "process"]);
    let dir = tempfile::tempdir().unwrap();
    let toml = deployment_toml(
        "f",
        "d",
        "pool",
        &[&flow_program("echo.sh")],
        "retention = { runs_days = 0 }",
    );
    let path = write_deploy_file(dir.path(), "orch.toml", &toml);
    let output = server.run(&["deploy", path.to_str().unwrap()]);
    assert!(!output.status.success());
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(
        error.contains(&format!("`retention.runs_days` {ZERO_DAYS}")),
        "{error}"
    );
}

#[test]
fn a_calendar_file_that_never_ends_is_refused_with_a_size_limit() {
    let server = TestServer::start();
    server.ok(&["work-pool", "create", "pool", "--type", "process"]);
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "[[calendars]]\nname = \"plant\"\nfile = \"/dev/zero\"\n\n{}",
        deployment_toml("f", "d", "pool", &[&flow_program("echo.sh")], "")
    );
    let path = write_deploy_file(dir.path(), "orch.toml", &toml);
    let output = server.run(&["deploy", path.to_str().unwrap()]);
    assert!(!output.status.success());
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(
        error.contains("/dev/zero is larger than 4.0 MiB"),
        "{error}"
    );
    assert_eq!(server.json(&["deployment", "ls"]), serde_json::json!([]));
}

#[test]
fn pools_and_token_names_follow_the_name_rule_with_the_allowed_characters() {
    let server = TestServer::start();
    let cases: [(Vec<&str>, &str); 3] = [
        (
            vec!["token", "create", "w1", "--scope", "worker", "--pool", ""],
            "\"\"",
        ),
        (
            vec![
                "token",
                "create",
                "w2",
                "--scope",
                "worker",
                "--pool",
                "../evil pool",
            ],
            "\"../evil pool\"",
        ),
        (vec!["token", "create", "..", "--scope", "read"], "\"..\""),
    ];
    for (args, shown) in cases {
        let output = server.run(&args);
        assert!(!output.status.success(), "{args:?} was accepted");
        let error = String::from_utf8_lossy(&output.stderr);
        assert!(error.contains(shown), "{args:?}: {error}");
        assert!(
            error.contains("ASCII letters, digits, '-', '_' and '.'")
                || error.contains("must not be empty"),
            "{args:?}: {error}"
        );
    }
    let tokens = server.ok(&["token", "ls"]);
    assert!(!tokens.contains("w1") && !tokens.contains("w2"), "{tokens}");
}
