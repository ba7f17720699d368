//! The flow's connection to the server: task run states and log lines go
//! through orch-client's shipper, in the background, so reporting never sits
//! on a task's critical path; slots and artifacts are calls on the same
//! connection.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use orch_client::{Api, ClientOptions, ConnectError, Report, Shipper, ShipperOptions};
use orch_proto::v1 as pb;

/// Handle on the connection and the shipper; cheap to clone.
///
/// Every report goes through it with the run's secrets hidden as `***`
/// (each whole value and each line of a multi-line one): log lines, task
/// run state messages, errors and results.
///
/// Public through [`crate::embed`] for SDKs in other languages built on this one.
#[derive(Clone)]
pub struct Reporter {
    api: Api,
    shipper: Shipper,
    /// What to hide: [`orch_core::flow_env::redaction_values`] of the run's secrets.
    secrets: Arc<[String]>,
}

impl std::fmt::Debug for Reporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secrets themselves.
        f.debug_struct("Reporter")
            .field("api", &self.api)
            .field("secrets", &self.secrets.len())
            .finish_non_exhaustive()
    }
}

impl Reporter {
    /// Starts reporting to the server at `api_url` (connecting on first use).
    /// Must be called inside a tokio runtime: the shipper is a task of it.
    ///
    /// # Errors
    ///
    /// The URL, API key (`ORCH_API_KEY`) or CA file (`ORCH_TLS_CA`) is unusable.
    pub fn start(api_url: &str) -> Result<Reporter, ConnectError> {
        let api = Api::connect_lazy(&ClientOptions::new(api_url))?;
        let (shipper, _task) = Shipper::start(&api, ShipperOptions::default());
        let secrets = secret_values(|name| std::env::var(name).ok());
        Ok(Reporter {
            api,
            shipper,
            secrets: orch_core::flow_env::redaction_values(&secrets).into(),
        })
    }

    /// `text` with the run's secrets hidden.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        orch_core::flow_env::redact(text, &self.secrets)
    }

    /// A reporter for another run on the same connection, sending `api_key`
    /// (that run's own credential) with a shipper of its own: a subflow
    /// run's reports go with its credential, not its parent's.
    ///
    /// # Errors
    ///
    /// The key cannot be sent in a request header.
    pub fn for_run(&self, api_key: &str) -> Result<Reporter, ConnectError> {
        let api = self.api.with_api_key(api_key)?;
        let (shipper, _task) = Shipper::start(&api, ShipperOptions::default());
        // The same process, the same secrets to hide.
        Ok(Reporter {
            api,
            shipper,
            secrets: self.secrets.clone(),
        })
    }

    /// The connection, for calls that are not reports.
    pub fn api(&self) -> &Api {
        &self.api
    }

    /// Queues a task run snapshot (always admitted: states are never
    /// dropped), its messages, error and result with the secrets hidden.
    pub fn task(&self, mut snapshot: pb::TaskRun) {
        if !self.secrets.is_empty() {
            redact_snapshot(&mut snapshot, &self.secrets);
        }
        let _ = self.shipper.try_send(Report::TaskRun(snapshot));
    }

    /// Queues a log line. When the queue is full (the server has been
    /// unreachable for a while), the line goes to stderr instead, which the
    /// worker ships as the run's output: it is delayed, never lost.
    pub fn log(&self, line: pb::LogLine) {
        if let Err(Report::Log(line)) = self.shipper.try_send(Report::Log(line)) {
            eprintln!("{} {}", line.level, line.message);
        }
    }

    /// Sends everything queued so far; false if it could not within `within`.
    pub async fn flush(&self, within: Duration) -> bool {
        tokio::time::timeout(within, self.shipper.flush())
            .await
            .is_ok()
    }
}

/// Variable naming the run's secret variables (comma-separated), set by the worker.
pub(crate) const SECRET_NAMES_VAR: &str = orch_client::flow_env::SECRET_NAMES;

/// The values of the variables [`SECRET_NAMES_VAR`] names, read through `var`.
pub(crate) fn secret_values(var: impl Fn(&str) -> Option<String>) -> Vec<String> {
    var(SECRET_NAMES_VAR)
        .unwrap_or_default()
        .split(',')
        .filter(|name| !name.is_empty())
        .filter_map(&var)
        .filter(|value| !value.is_empty())
        .collect()
}

/// Hides `secrets` in everything a task run snapshot says in words: its
/// state messages, its error and its result (inside the result's JSON
/// strings, so that the result stays JSON).
fn redact_snapshot(snapshot: &mut pb::TaskRun, secrets: &[String]) {
    use orch_core::flow_env::{redact, redact_json_text};
    let hide = |text: &mut String| {
        if let Cow::Owned(hidden) = redact(text, secrets) {
            *text = hidden;
        }
    };
    hide(&mut snapshot.error);
    if let Some(state) = snapshot.state.as_mut() {
        hide(&mut state.message);
    }
    for entry in &mut snapshot.history {
        if let Some(state) = entry.state.as_mut() {
            hide(&mut state.message);
        }
    }
    if !snapshot.result_json.is_empty() {
        snapshot.result_json = redact_json_text(&snapshot.result_json, secrets);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_values_of_the_named_secret_variables_are_found() {
        let env = |name: &str| match name {
            "ORCH_SECRET_NAMES" => Some("API_KEY,EMPTY,UNSET".to_owned()),
            "API_KEY" => Some("k-123".to_owned()),
            "EMPTY" => Some(String::new()),
            _ => None,
        };
        assert_eq!(secret_values(env), ["k-123"]);
    }

    #[test]
    fn a_task_run_report_says_no_line_of_a_secret() {
        let pem = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50\n-----END PRIVATE KEY-----";
        let secrets = orch_core::flow_env::redaction_values(&[pem.to_owned()]);
        let state = |message: &str| pb::State {
            message: message.to_owned(),
            ..pb::State::default()
        };
        let mut snapshot = pb::TaskRun {
            error: format!("bad key {pem}"),
            result_json: serde_json::json!({ "key": pem, "line": "MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50", "n": 1 })
                .to_string(),
            state: Some(state("failed: MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50")),
            history: vec![pb::TaskRunState {
                state: Some(state(pem)),
                ..pb::TaskRunState::default()
            }],
            ..pb::TaskRun::default()
        };
        redact_snapshot(&mut snapshot, &secrets);
        assert_eq!(snapshot.error, "bad key ***");
        assert_eq!(snapshot.state.unwrap().message, "failed: ***");
        assert_eq!(snapshot.history[0].state.as_ref().unwrap().message, "***");
        let result: serde_json::Value = serde_json::from_str(&snapshot.result_json).unwrap();
        assert_eq!(
            result,
            serde_json::json!({ "key": "***", "line": "***", "n": 1 })
        );
    }
}
