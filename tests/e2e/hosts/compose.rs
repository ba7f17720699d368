//! `deploy/compose.yaml` as docs/operations.md says to use it, on images
//! built here (orch by `deploy/docker/build-local.sh`, PostgreSQL by
//! `deploy/docker/build-postgres-local.sh`): PostgreSQL and the server come
//! up, the pool and the worker's token are made inside the server's
//! container, the worker starts with that token, and a deployment's run
//! executes in a container of its own on the compose network, reaching the
//! server by its service name.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use orch_e2e::docker::{docker, engine, test_image};
use orch_e2e::hosts::images::{images, workspace_root};

use crate::WAIT;

/// `docker compose` (the plugin), else `docker-compose`.
fn compose_program() -> Vec<&'static str> {
    let works = |program: &[&str]| {
        Command::new(program[0])
            .args(&program[1..])
            .arg("version")
            .output()
            .is_ok_and(|output| output.status.success())
    };
    if works(&["docker", "compose"]) {
        return vec!["docker", "compose"];
    }
    assert!(
        works(&["docker-compose"]),
        "neither `docker compose` nor `docker-compose` runs: install Docker Compose \
         (apt-get install docker-compose-plugin, or docker-compose)"
    );
    vec!["docker-compose"]
}

/// One compose project on deploy/compose.yaml, taken down (volumes too) on drop.
struct Project {
    program: Vec<&'static str>,
    name: String,
    file: PathBuf,
    env: Vec<(&'static str, String)>,
}

impl Project {
    fn run(&self, args: &[&str]) -> Output {
        let mut command = Command::new(self.program[0]);
        command
            .args(&self.program[1..])
            .args(["-p", &self.name, "-f"])
            .arg(&self.file)
            .args(args)
            .envs(self.env.iter().map(|(name, value)| (name, value)));
        command.output().expect("run docker compose")
    }

    fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "docker compose {args:?} failed:\n{}\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            self.logs()
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// `orch ARGS` in the server's container.
    fn orch(&self, args: &[&str]) -> Output {
        let mut all = vec!["exec", "-T", "server", "orch"];
        all.extend_from_slice(args);
        self.run(&all)
    }

    fn orch_json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.extend(["--output", "json"]);
        let output = self.orch(&all);
        assert!(
            output.status.success(),
            "orch {all:?} failed: {}\n{}",
            String::from_utf8_lossy(&output.stderr),
            self.logs()
        );
        serde_json::from_slice(&output.stdout).expect("JSON")
    }

    fn logs(&self) -> String {
        let output = self.run(&["logs", "--no-color", "--tail", "40"]);
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        // The flows' containers are the worker's, not compose's.
        let network = format!("network={}", self.name);
        let left = docker(&["ps", "-aq", "--filter", &network]);
        for id in String::from_utf8_lossy(&left.stdout).lines() {
            docker(&["rm", "-f", id]);
        }
        self.run(&["down", "-v", "--remove-orphans"]);
    }
}

#[test]
fn the_compose_file_runs_a_flow_in_a_container_on_locally_built_images() {
    if !engine() {
        return;
    }
    let _serial = orch_e2e::hosts::serial();
    let images = images();
    let flow_image = test_image();
    let name = format!("orch-e2e-compose-{}", std::process::id());
    let mut project = Project {
        program: compose_program(),
        name: name.clone(),
        file: workspace_root().join("deploy/compose.yaml"),
        env: vec![
            ("ORCH_IMAGE", images.orch.clone()),
            ("POSTGRES_IMAGE", images.postgres.clone()),
            ("ORCH_NETWORK", name.clone()),
            // Any free port: this machine may run other servers.
            ("ORCH_PORT", String::new()),
            ("ORCH_WORKER_KEY", String::new()),
        ],
    };

    // The steps of docs/operations.md (Containers).
    project.ok(&["up", "-d", "postgres", "server"]);
    let deadline = Instant::now() + WAIT;
    while !project.orch(&["work-pool", "ls"]).status.success() {
        assert!(
            Instant::now() < deadline,
            "the server never answered:\n{}",
            project.logs()
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let created = project.orch(&[
        "work-pool",
        "create",
        "containers",
        "--type",
        "docker",
        "--image",
        flow_image,
        "--network",
        &name,
        "--pull-policy",
        "never",
    ]);
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let token = project.orch_json(&[
        "token",
        "create",
        "compose-worker",
        "--scope",
        "worker",
        "--pool",
        "containers",
    ]);
    let key = token["api_key"].as_str().expect("a worker key").to_owned();
    project
        .env
        .retain(|(variable, _)| *variable != "ORCH_WORKER_KEY");
    project.env.push(("ORCH_WORKER_KEY", key));
    project.ok(&["up", "-d", "worker"]);

    // A deploy file, copied into the server's container and deployed there.
    let script = "echo \"hello from $ORCH_FLOW_RUN_ID\"; \
                  wget -q -O /dev/null \"$ORCH_API_URL/readyz\" && echo \"reached $ORCH_API_URL\"";
    let text =
        orch_e2e::deployment_toml("box", "hello", "containers", &["/bin/sh", "-c", script], "");
    let dir = tempfile::tempdir().unwrap();
    let file = orch_e2e::write_deploy_file(dir.path(), "orch.toml", &text);
    let server = project.ok(&["ps", "-q", "server"]).trim().to_owned();
    copy_into(&server, &file, "/tmp/orch.toml");
    let deployed = project.orch(&["deploy", "/tmp/orch.toml"]);
    assert!(
        deployed.status.success(),
        "{}",
        String::from_utf8_lossy(&deployed.stderr)
    );
    let run = project.orch_json(&["deployment", "run", "box/hello"]);
    let run = run["id"].as_str().expect("a run id").to_owned();

    let deadline = Instant::now() + WAIT;
    let detail = loop {
        let detail = project.orch_json(&["flow-run", "inspect", &run]);
        let state = orch_e2e::state_type(&detail);
        if ["COMPLETED", "FAILED", "CRASHED"].contains(&state.as_str()) {
            break detail;
        }
        assert!(
            Instant::now() < deadline,
            "run {run} is still {state}:\n{}",
            project.logs()
        );
        std::thread::sleep(std::time::Duration::from_millis(250));
    };
    assert_eq!(
        orch_e2e::state_type(&detail),
        "COMPLETED",
        "{detail:#}\n{}",
        project.logs()
    );
    let logs = project.orch_json(&["flow-run", "logs", &run]);
    let messages: Vec<&str> = logs
        .as_array()
        .or_else(|| logs["lines"].as_array())
        .into_iter()
        .flatten()
        .filter_map(|line| line["message"].as_str())
        .collect();
    assert!(
        messages.contains(&format!("hello from {run}").as_str()),
        "{messages:?}"
    );
    assert!(
        messages.contains(&"reached http://server:4200"),
        "{messages:?}"
    );
}

/// `docker cp FILE CONTAINER:PATH` (the image has no shell to pipe into).
fn copy_into(container: &str, file: &Path, path: &str) {
    let target = format!("{container}:{path}");
    let copied = docker(&["cp", file.to_str().expect("UTF-8 path"), &target]);
    assert!(
        copied.status.success(),
        "docker cp: {}",
        String::from_utf8_lossy(&copied.stderr)
    );
}
