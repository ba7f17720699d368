//! Builds the Python SDK (sdks/python) once per test binary and installs it
//! into a virtualenv under target/, for the tests to run flows and pytest with.
//!
//! - The venv: `target/python-sdk/venv`, made with `--system-site-packages` so
//!   that the pytest and maturin installed for the machine (`pip install
//!   maturin pytest`) are seen in it.
//! - The build: `maturin build` (debug) with its own `CARGO_TARGET_DIR`
//!   (`target/python-sdk/cargo`), so it never waits on the outer cargo's lock;
//!   the wheel is then installed with pip, offline. The first build takes a
//!   few minutes (its own copy of tonic, tokio, aws-lc...), later ones seconds.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The venv's interpreter, with the SDK installed (built on first call).
pub fn python() -> &'static Path {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match PYTHON.get_or_init(build) {
        Ok(python) => python,
        Err(message) => panic!("{message}"),
    }
}

/// The repository's root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is in the repository")
        .to_path_buf()
}

/// `target/`, where this test binary was built (`target/debug/deps/python-...`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.ancestors()
        .nth(3)
        .expect("test executables live in target/<profile>/deps")
        .to_path_buf()
}

fn run(what: &str, command: &mut Command) -> Result<String, String> {
    let output = command
        .output()
        .map_err(|error| format!("cannot run {what} ({command:?}): {error}"))?;
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    Err(format!(
        "{what} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    ))
}

fn build() -> Result<PathBuf, String> {
    let system = std::env::var("ORCH_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let install = "install them with `pip install maturin pytest` (.ci/run does it)";
    run(
        "maturin --version",
        Command::new(&system).args(["-m", "maturin", "--version"]),
    )
    .map_err(|error| format!("maturin is needed to build the Python SDK; {install}.\n{error}"))?;
    run(
        "pytest --version",
        Command::new(&system).args(["-m", "pytest", "--version"]),
    )
    .map_err(|error| format!("pytest is needed to test the Python SDK; {install}.\n{error}"))?;

    let base = target_dir().join("python-sdk");
    let venv = base.join("venv");
    let python = venv.join("bin").join("python");
    if !python.exists() {
        run(
            "python3 -m venv",
            Command::new(&system)
                .args(["-m", "venv", "--system-site-packages"])
                .arg(&venv),
        )?;
    }
    let wheels = base.join("wheels");
    let _ = std::fs::remove_dir_all(&wheels);
    let started = std::time::Instant::now();
    run(
        "maturin build",
        Command::new(&system)
            .args(["-m", "maturin", "build", "--manifest-path"])
            .arg(repo().join("sdks/python/Cargo.toml"))
            .arg("--out")
            .arg(&wheels)
            .arg("--interpreter")
            .arg(&python)
            .env("CARGO_TARGET_DIR", base.join("cargo"))
            .env_remove("CARGO_MANIFEST_DIR"),
    )?;
    eprintln!(
        "built the Python SDK in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let wheel = std::fs::read_dir(&wheels)
        .map_err(|error| format!("no wheel in {}: {error}", wheels.display()))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| path.extension().is_some_and(|ext| ext == "whl"))
        .ok_or_else(|| format!("maturin made no wheel in {}", wheels.display()))?;
    run(
        "pip install",
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-index",
                "--no-deps",
                "--force-reinstall",
            ])
            .arg(&wheel),
    )?;
    Ok(python)
}
