//! The environment a worker gives a flow process, and that an SDK reads:
//! the contract between them, written once. `docs/flow-protocol.md`
//! describes it in full for authors of SDKs in other languages.
//!
//! Without [`API_URL`] and [`FLOW_RUN_ID`] a flow binary is not
//! orchestrated: the Rust SDK then runs the flow standalone, logging to the
//! console.

/// The version of this contract the worker speaks, e.g. `1`: set on every
/// flow. An SDK refuses to run under a worker speaking a version newer than
/// its own [`PROTOCOL_VERSION`] ([`check_protocol`]), with a message saying
/// to upgrade it, rather than misreading what it is given.
pub const PROTOCOL: &str = orch_core::env_vars::PROTOCOL;

/// The version of the flow protocol (`docs/flow-protocol.md`) this build
/// speaks. Raised when a worker starts giving flows something an older SDK
/// would misread; adding an optional variable does not raise it.
pub const PROTOCOL_VERSION: u32 = 1;

/// Checks the worker's [`PROTOCOL`] value against [`PROTOCOL_VERSION`]:
/// unset or empty (a worker from before the variable existed, or no worker)
/// and versions up to ours are fine.
///
/// # Errors
///
/// A message for the run's logs when the value is not a number or is newer
/// than this SDK's version.
pub fn check_protocol(value: Option<&str>, sdk: &str) -> Result<(), String> {
    let Some(value) = value.map(str::trim).filter(|value| !value.is_empty()) else {
        return Ok(());
    };
    match value.parse::<u32>() {
        Ok(version) if version <= PROTOCOL_VERSION => Ok(()),
        Ok(version) => Err(format!(
            "the worker speaks flow protocol {version} ({PROTOCOL}={value}) but this {sdk} \
             speaks protocol {PROTOCOL_VERSION}: upgrade the {sdk} to the worker's orch version"
        )),
        Err(_) => Err(format!(
            "{PROTOCOL}={value:?} is not a protocol version (a whole number such as 1)"
        )),
    }
}

/// The server's gRPC URL, e.g. `http://127.0.0.1:4200`: where the flow
/// reports task runs, logs, artifacts and takes concurrency slots.
pub const API_URL: &str = orch_core::env_vars::API_URL;

/// Every server URL the flow may report to, comma-separated, starting with
/// [`API_URL`]'s: set when the worker was given several replicas of one
/// installation (`--api-url http://a:4200,http://b:4200`). An SDK that reads
/// it fails over between them as the worker does; one that does not uses
/// [`API_URL`] alone. Optional: the protocol version is unchanged.
pub const API_URLS: &str = orch_core::env_vars::API_URLS;

/// What an SDK connects to, given the values of [`API_URLS`] and
/// [`API_URL`]: the list when set, else the one URL; `None` when neither
/// is set (the flow is not orchestrated).
pub fn server_urls(api_urls: Option<&str>, api_url: Option<&str>) -> Option<String> {
    let set = |value: Option<&str>| {
        value
            .map(str::trim)
            .filter(|value| !value.is_empty())
            .map(str::to_owned)
    };
    set(api_urls).or_else(|| set(api_url))
}

/// The id of the flow run this process executes.
pub const FLOW_RUN_ID: &str = orch_core::env_vars::FLOW_RUN_ID;

/// The flow's name, e.g. `trading-flow`.
pub const FLOW: &str = orch_core::env_vars::FLOW;

/// The deployment's name, e.g. `trading-production`.
pub const DEPLOYMENT: &str = orch_core::env_vars::DEPLOYMENT;

/// The id of the worker that started the process (the `emitter` of the log
/// lines it ships from the process's output).
pub const WORKER_ID: &str = orch_core::env_vars::WORKER_ID;

/// The run's parameters, a JSON object, when at most [`MAX_ENV_PARAMETERS`]
/// bytes long.
pub const PARAMETERS: &str = orch_core::env_vars::PARAMETERS;

/// The run's own credential (valid for this run only, until it ends); the
/// SDK sends it as `authorization: Bearer`. Unset when the server runs
/// without authentication.
pub const API_KEY: &str = orch_core::env_vars::API_KEY;

/// The names (comma-separated) of the variables holding the run's secrets;
/// an SDK replaces their values with `***` in the log lines it ships.
pub const SECRET_NAMES: &str = orch_core::env_vars::SECRET_NAMES;

/// A CA certificate (PEM) to trust for an `https://` [`API_URL`].
pub const TLS_CA: &str = orch_core::env_vars::TLS_CA;

/// The path of a file holding the run's parameters (a JSON object), set
/// instead of [`PARAMETERS`] when they are longer than [`MAX_ENV_PARAMETERS`].
/// The file is readable by the worker's user only and removed after the run.
pub const PARAMETERS_FILE: &str = orch_core::env_vars::PARAMETERS_FILE;

/// Largest parameters passed in [`PARAMETERS`]: 64 KiB. Linux refuses a
/// single environment string over 128 KiB (`Argument list too long`).
pub const MAX_ENV_PARAMETERS: usize = 64 * 1024;

/// The Rust SDK's log filter (`tracing` `EnvFilter` syntax, e.g. `debug`);
/// not set by the worker, which passes its own environment through.
pub const LOG: &str = orch_core::env_vars::LOG;

/// Exit code of a flow that completed: the run becomes Completed.
pub const EXIT_COMPLETED: i32 = 0;

/// Exit code the Rust SDK uses when the flow failed (error, panic, timeout):
/// any non-zero code makes the run Failed.
pub const EXIT_FAILED: i32 = 1;

/// Exit code the Rust SDK uses for bad parameters or usage; the run is Failed.
pub const EXIT_USAGE: i32 = 2;

/// Exit code the Rust SDK uses after SIGTERM (128 + 15). A run the worker
/// stopped because it was cancelled is Cancelled whatever the code.
pub const EXIT_CANCELLED: i32 = 143;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_sdk_prefers_the_list_of_servers_to_the_one_url() {
        assert_eq!(
            server_urls(Some("http://a:1,http://b:2"), Some("http://a:1")).as_deref(),
            Some("http://a:1,http://b:2")
        );
        assert_eq!(
            server_urls(Some(" "), Some("http://a:1")).as_deref(),
            Some("http://a:1")
        );
        assert_eq!(
            server_urls(None, Some("http://a:1")).as_deref(),
            Some("http://a:1")
        );
        assert_eq!(server_urls(None, None), None);
    }

    #[test]
    fn protocol_versions_up_to_ours_are_accepted_and_newer_ones_refused() {
        assert!(check_protocol(None, "Rust SDK").is_ok());
        assert!(check_protocol(Some(""), "Rust SDK").is_ok());
        assert!(check_protocol(Some("1"), "Rust SDK").is_ok());
        let newer = (PROTOCOL_VERSION + 1).to_string();
        let error = check_protocol(Some(&newer), "Python SDK").unwrap_err();
        assert!(error.contains("upgrade the Python SDK"), "{error}");
        let error = check_protocol(Some("v2"), "Rust SDK").unwrap_err();
        assert!(error.contains("not a protocol version"), "{error}");
    }
}
