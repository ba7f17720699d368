//! The environment a flow process receives. Never the worker's whole
//! environment: a worker's own credentials (cloud keys, tokens, a
//! `NEWSAPI_KEY` exported in its shell) would otherwise reach every flow, and
//! through its logs anyone who can read them.
//!
//! A flow gets, later entries winning:
//! 1. the basics of the worker's environment that programs need to run at all
//!    ([`BASICS`] and `LC_*`),
//! 2. the worker's variables its operator allows (`--pass-env NAME`, or
//!    `PREFIX*`),
//! 3. its deployment's `env`,
//! 4. its deployment's secrets,
//! 5. orch's own `ORCH_*` variables (see docs/flow-protocol.md).

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;

/// The worker's variables every flow receives: where programs are, who and
/// where the user is, language and time zone, temporary files, the terminal
/// type, TLS roots, and Rust's backtrace and log switches. None of them is a
/// credential.
pub const BASICS: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "TZ",
    "TMPDIR",
    "TERM",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "RUST_BACKTRACE",
    "RUST_LOG",
];

/// Whether `name` is one of the [`BASICS`] or a locale variable (`LC_*`).
fn is_basic(name: &str) -> bool {
    BASICS.contains(&name) || name.starts_with("LC_")
}

/// Whether `pattern` (`NAME`, or `PREFIX*`) allows the variable `name`.
pub(crate) fn allows(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

/// Checks `--pass-env` patterns: variable names, or a prefix ending in `*`.
///
/// # Errors
///
/// The message naming the first bad pattern and what is expected.
pub fn check_pass_env(patterns: &[String]) -> Result<(), String> {
    for pattern in patterns {
        let name = pattern.strip_suffix('*').unwrap_or(pattern);
        let valid = !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit());
        if !valid {
            return Err(format!(
                "--pass-env {pattern:?} is not a variable name: use e.g. --pass-env AWS_PROFILE, \
                 or a prefix such as --pass-env 'SENTINEL_*'"
            ));
        }
    }
    Ok(())
}

/// What a run adds to the worker's basics.
#[derive(Debug, Default)]
pub(crate) struct RunVariables<'a> {
    /// The deployment's `env`.
    pub env: Option<&'a HashMap<String, String>>,
    /// The deployment's secrets.
    pub secrets: Option<&'a HashMap<String, String>>,
    /// orch's own variables.
    pub orch: Vec<(&'static str, String)>,
}

/// The whole environment of a flow process, from the worker's own
/// (`worker`), the operator's `--pass-env` patterns and the run's variables.
pub(crate) fn flow_environment(
    worker: impl IntoIterator<Item = (OsString, OsString)>,
    pass_env: &[String],
    run: &RunVariables<'_>,
) -> BTreeMap<OsString, OsString> {
    let mut environment: BTreeMap<OsString, OsString> = worker
        .into_iter()
        .filter(|(name, _)| {
            name.to_str().is_some_and(|name| {
                is_basic(name) || pass_env.iter().any(|pattern| allows(pattern, name))
            })
        })
        .collect();
    let added = run
        .env
        .into_iter()
        .chain(run.secrets)
        .flatten()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .chain(run.orch.iter().map(|(name, value)| (*name, value.as_str())));
    for (name, value) in added {
        environment.insert(name.into(), value.into());
    }
    environment
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worker_env() -> Vec<(OsString, OsString)> {
        [
            ("PATH", "/usr/bin"),
            ("HOME", "/home/w"),
            ("LC_TIME", "C"),
            ("AWS_SECRET_ACCESS_KEY", "worker-only"),
            ("SENTINEL_CONFIG", "/etc/s.toml"),
            ("SENTINEL_NOW", "2020-01-01T00:00:00Z"),
            ("LOG_LEVEL", "debug"),
        ]
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect()
    }

    fn names(environment: &BTreeMap<OsString, OsString>) -> Vec<&str> {
        environment.keys().map(|k| k.to_str().unwrap()).collect()
    }

    #[test]
    fn flows_get_the_basics_and_what_the_operator_allows_only() {
        let run = RunVariables::default();
        let environment = flow_environment(worker_env(), &[], &run);
        assert_eq!(names(&environment), ["HOME", "LC_TIME", "PATH"]);
        let allowed = ["SENTINEL_*".to_owned(), "LOG_LEVEL".to_owned()];
        let environment = flow_environment(worker_env(), &allowed, &run);
        assert_eq!(
            names(&environment),
            [
                "HOME",
                "LC_TIME",
                "LOG_LEVEL",
                "PATH",
                "SENTINEL_CONFIG",
                "SENTINEL_NOW"
            ]
        );
    }

    #[test]
    fn the_run_wins_over_the_worker_and_orch_over_the_run() {
        let env = HashMap::from([("LOG_LEVEL".to_owned(), "info".to_owned())]);
        let secrets = HashMap::from([("API_KEY".to_owned(), "k".to_owned())]);
        let run = RunVariables {
            env: Some(&env),
            secrets: Some(&secrets),
            orch: vec![("ORCH_FLOW_RUN_ID", "run-1".to_owned())],
        };
        let environment = flow_environment(worker_env(), &["LOG_LEVEL".to_owned()], &run);
        let get = |name: &str| environment.get(&OsString::from(name)).cloned();
        assert_eq!(get("LOG_LEVEL"), Some("info".into()));
        assert_eq!(get("API_KEY"), Some("k".into()));
        assert_eq!(get("ORCH_FLOW_RUN_ID"), Some("run-1".into()));
        assert_eq!(get("AWS_SECRET_ACCESS_KEY"), None);
    }

    #[test]
    fn pass_env_patterns_are_names_or_prefixes() {
        assert!(check_pass_env(&["AWS_PROFILE".into(), "SENTINEL_*".into()]).is_ok());
        for bad in ["", "*", "A-B", "1X", "A B"] {
            let error = check_pass_env(&[bad.to_owned()]).unwrap_err();
            assert!(error.contains("is not a variable name"), "{error}");
        }
    }
}
