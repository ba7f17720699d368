//! One name rule per kind at every entry point: a worker's name, and the
//! names of a deployment sent to the API without a deploy file.

use orch_e2e::TestServer;
use orch_proto::v1 as pb;
use orch_proto::v1::deployment_service_client::DeploymentServiceClient;

use super::{admin_channel, block_on};

const ALLOWED: &str = "use only ASCII letters, digits, '-', '_' and '.'";

#[test]
fn a_worker_named_like_a_path_is_refused_with_the_allowed_characters() {
    let server = TestServer::start();
    server.ok(&["work-pool", "create", "pool", "--type", "process"]);
    let command = server.command(&[
        "worker",
        "start",
        "--pool",
        "pool",
        "--name",
        "../evil worker",
    ]);
    let error = orch_e2e::refused(command, "orch worker start --name '../evil worker'");
    assert!(
        error.contains("invalid worker name \"../evil worker\"") && error.contains(ALLOWED),
        "{error}"
    );
    assert_eq!(server.json(&["worker", "ls"]), serde_json::json!([]));
}

#[test]
fn the_api_refuses_deployment_flow_and_pool_names_the_deploy_file_refuses() {
    let server = TestServer::start();
    server.ok(&["work-pool", "create", "pool", "--type", "process"]);
    let spec = |flow: &str, name: &str| pb::DeploymentSpec {
        flow: flow.into(),
        name: name.into(),
        entrypoint: vec!["true".into()],
        work_pool: "pool".into(),
        ..Default::default()
    };
    for (deployment, shown) in [
        (
            spec("etl", "../evil"),
            "invalid deployment name \"../evil\"",
        ),
        (spec("..", "d"), "invalid flow name \"..\""),
        (spec("a flow", "d"), "invalid flow name \"a flow\""),
    ] {
        let status = block_on(async {
            DeploymentServiceClient::new(admin_channel(&server).await)
                .apply_deployments(pb::ApplyDeploymentsRequest {
                    deployments: vec![deployment],
                })
                .await
                .expect_err("refused")
        });
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
        assert!(
            status.message().contains(shown)
                && (status.message().contains(ALLOWED) || status.message().contains("only dots")),
            "{status:?}"
        );
    }
    assert_eq!(server.json(&["deployment", "ls"]), serde_json::json!([]));
}
