//! One range per setting, whatever its source: a value too large to count
//! (it would overflow into its opposite) is refused from the command line,
//! the environment, the config file, the deploy file and the API, with
//! the same words.

use orch_e2e::{TestServer, deployment_toml, flow_program, refused_at_start, write_deploy_file};
use orch_proto::v1 as pb;
use orch_proto::v1::deployment_service_client::DeploymentServiceClient;

use super::{admin_channel, block_on};

/// Arguments, environment, config file and the origin the message names.
type Case<'a> = (&'a [&'a str], Vec<(&'a str, &'a str)>, &'a str, &'a str);

#[test]
fn a_worker_lease_of_years_is_refused_from_every_source_with_one_message() {
    let start = ["server", "start", "--port", "0"];
    let range = "must be a number of seconds (2 to 86400), not 100000000";
    let flag = [&start[..], &["--worker-lease-seconds", "100000000"]].concat();
    let cases: [Case<'_>; 3] = [
        (&flag, vec![], "", "`--worker-lease-seconds`"),
        (
            &start,
            vec![("ORCH_WORKER_LEASE_SECONDS", "100000000")],
            "",
            "`ORCH_WORKER_LEASE_SECONDS`",
        ),
        (
            &start,
            vec![],
            "[server]\nworker_lease_seconds = 100000000\n",
            "`server.worker_lease_seconds`",
        ),
    ];
    for (args, env, config, origin) in cases {
        let error = refused_at_start(args, &env, config);
        assert!(
            error.contains(&format!("{origin} {range}")),
            "{args:?} {env:?} {config:?}: {error}"
        );
    }
    // A worker's heartbeat of a millisecond would flood the server.
    let error = refused_at_start(
        &[
            "worker",
            "start",
            "--pool",
            "p",
            "--heartbeat-seconds",
            "0.001",
        ],
        &[],
        "",
    );
    assert!(
        error
            .contains("`--heartbeat-seconds` must be a number of seconds (0.1 to 3600), not 0.001"),
        "{error}"
    );
}

#[test]
fn a_retry_delay_too_long_to_count_is_refused_by_the_deploy_file_and_the_api_alike() {
    const MESSAGE: &str = "`retry_delay_seconds` must be a whole number of seconds \
                           (0 to 31536000), not 9223372036854775807";
    let server = TestServer::start();
    server.ok(&["work-pool", "create", "pool", "--type", "process"]);
    let dir = tempfile::tempdir().unwrap();
    let toml = deployment_toml(
        "etl",
        "late",
        "pool",
        &[&flow_program("echo.sh")],
        "retry_delay_seconds = 9223372036854775807",
    );
    let path = write_deploy_file(dir.path(), "orch.toml", &toml);
    let output = server.run(&["deploy", path.to_str().unwrap()]);
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "deployed");
    assert!(error.contains(MESSAGE), "{error}");

    let status = block_on(async {
        DeploymentServiceClient::new(admin_channel(&server).await)
            .apply_deployments(pb::ApplyDeploymentsRequest {
                deployments: vec![pb::DeploymentSpec {
                    flow: "etl".into(),
                    name: "late".into(),
                    entrypoint: vec!["true".into()],
                    work_pool: "pool".into(),
                    retries: 1,
                    retry_delay_seconds: i64::MAX as u64,
                    ..Default::default()
                }],
            })
            .await
            .expect_err("the API refuses it too")
    });
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains(MESSAGE), "{status:?}");
    assert_eq!(server.json(&["deployment", "ls"]), serde_json::json!([]));
}
