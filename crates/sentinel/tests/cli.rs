//! The `sentinel` binary, one process per command, on the replay recording
//! in tests/fixtures/market: flows run standalone, then the commands read
//! what they left (database, registry) from disk.

mod common;

use std::path::Path;
use std::process::Command;

fn sentinel(config: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sentinel"))
        .args(args)
        .env("SENTINEL_CONFIG", config)
        .env_remove("SENTINEL_SOURCE")
        .env_remove("SENTINEL_DATA_DIR")
        .env_remove("SENTINEL_NOW")
        .env_remove("NEWSAPI_KEY")
        .env_remove("ORCH_API_URL")
        .env_remove("ORCH_FLOW_RUN_ID")
        .output()
        .expect("run sentinel");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn write_config(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("sentinel.toml");
    let text = format!(
        r#"data_dir = "data"
source = "replay:{}"
symbols = [{{ ticker = "GOOG", names = ["Google", "Alphabet"] }}]

[market]
interval = "1d"

[model]
window = 10
hidden = 16
epochs = 20
batch_size = 32
"#,
        common::fixtures().display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn flows_and_commands_share_state_across_processes() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());

    let (ok, out, _) = sentinel(&config, &["flows"]);
    assert!(ok);
    assert_eq!(out.lines().collect::<Vec<_>>(), sentinel::flows::FLOWS);

    let (ok, _, err) = sentinel(&config, &["run", "data-refresh-flow"]);
    assert!(ok, "{err}");
    let (ok, _, err) = sentinel(
        &config,
        &[
            "run",
            "model-retraining-flow",
            "--param",
            "symbol=GOOG",
            "--param",
            "days=1000",
        ],
    );
    assert!(ok, "{err}");
    let (ok, _, err) = sentinel(&config, &["run", "trading-flow"]);
    assert!(ok, "{err}");

    // A new process sees the model registry and the decisions on disk.
    let (ok, out, err) = sentinel(&config, &["models", "ls", "--output", "json"]);
    assert!(ok, "{err}");
    let models: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(models[0]["model"]["version"], "v1");
    let (ok, out, _) = sentinel(&config, &["models", "ls"]);
    assert!(
        ok && out.contains("VERSION") && out.contains("DIR ACC"),
        "{out}"
    );
    assert!(out.contains("v1") && out.contains("GOOG"), "{out}");

    let (ok, out, err) = sentinel(&config, &["decisions", "ls", "--output", "json"]);
    assert!(ok, "{err}");
    let decisions: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(decisions.as_array().unwrap().len(), 1);
    assert_eq!(decisions[0]["symbol"], "GOOG");
    assert_eq!(
        decisions[0]["forced"], false,
        "the replay clock is Monday 10:00 New York: market open"
    );

    let (ok, out, err) = sentinel(&config, &["report"]);
    assert!(ok, "{err}");
    assert!(out.contains("GOOG") && out.contains("806.19"), "{out}");

    let (ok, _, err) = sentinel(&config, &["models", "activate", "v9"]);
    assert!(!ok && err.contains("no model v9"), "{err}");
    let (ok, out, err) = sentinel(&config, &["models", "activate", "v1"]);
    assert!(
        ok && out.contains("v1 is now the active model of GOOG"),
        "{err}"
    );
}

#[test]
fn a_bad_config_is_refused_with_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sentinel.toml");
    std::fs::write(&path, "[market]\nintervall = \"1d\"\n").unwrap();
    let (ok, _, err) = sentinel(&path, &["report"]);
    assert!(!ok);
    assert!(
        err.contains("sentinel.toml") && err.contains("intervall"),
        "{err}"
    );
    let (ok, _, err) = sentinel(&path, &["run", "trading-flow"]);
    assert!(!ok && err.contains("intervall"), "{err}");
}
