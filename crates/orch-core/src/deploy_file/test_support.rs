//! Fixtures shared by the deployment file tests.

use crate::deploy_file::parse_deploy_file;
use crate::error::Error;

/// A valid deployment starting on line 1; `extra` lines follow from line 6.
pub(super) fn deployment(extra: &str) -> String {
    format!(
        "[[deployments]]\nflow = \"f\"\nname = \"n\"\nentrypoint = [\"run\"]\nwork_pool = \"p\"\n{extra}"
    )
}

/// A valid deployment with one schedule whose keys start on line 7.
pub(super) fn schedule(keys: &str) -> String {
    deployment(&format!("[[deployments.schedules]]\n{keys}"))
}

/// Parses `text`, expecting an error with a position; returns (line, column, message).
pub(super) fn error(text: &str) -> (usize, usize, String) {
    match parse_deploy_file("f.toml", text) {
        Err(Error::DeployFile {
            line: Some(line),
            column: Some(column),
            message,
            ..
        }) => {
            assert!(!message.contains('\n'), "multi-line message: {message}");
            (line, column, message)
        }
        other => panic!("expected a positioned DeployFile error, got {other:?}"),
    }
}

#[test]
fn the_fixtures_are_valid() {
    assert!(parse_deploy_file("f.toml", &deployment("")).is_ok());
    assert!(parse_deploy_file("f.toml", &schedule("cron = \"* * * * *\"\n")).is_ok());
}
