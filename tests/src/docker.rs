//! A Docker engine for the docker-pool tests and bench: whether one answers,
//! and the test image (busybox on `scratch`, built here, never pulled).

use std::path::Path;
use std::process::{Command, Output};

/// The test image: the host's static busybox on `scratch`. Bump the tag
/// when its content changes.
pub const IMAGE: &str = "orch-e2e-busybox:1";

/// Whether a Docker engine answers; prints why the caller skips if not.
pub fn engine() -> bool {
    let answered = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .is_ok_and(|output| output.status.success());
    if !answered {
        eprintln!(
            "SKIPPED: no Docker engine is reachable (`docker version` failed): the docker \
             pool tests need one (start dockerd, or set DOCKER_HOST)"
        );
    }
    answered
}

/// Runs the docker CLI (the tests' own view of the engine; the worker uses its API).
pub fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .output()
        .expect("run docker")
}

/// Builds [`IMAGE`] unless the engine has it (once per process); returns its tag.
pub fn test_image() -> &'static str {
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        if docker(&["image", "inspect", IMAGE]).status.success() {
            return;
        }
        let busybox = Path::new("/bin/busybox");
        assert!(
            busybox.exists(),
            "/bin/busybox is missing: install it with `apt-get install -y busybox-static`"
        );
        let context = tempfile::tempdir().expect("build context");
        std::fs::copy(busybox, context.path().join("busybox")).expect("copy busybox");
        std::fs::write(
            context.path().join("Dockerfile"),
            "FROM scratch\nCOPY busybox /bin/busybox\n\
             RUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n",
        )
        .expect("write the Dockerfile");
        let built = docker(&[
            "build",
            "-q",
            "-t",
            IMAGE,
            &context.path().display().to_string(),
        ]);
        assert!(
            built.status.success(),
            "cannot build the test image: {}",
            String::from_utf8_lossy(&built.stderr)
        );
    });
    IMAGE
}
