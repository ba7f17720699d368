//! `[telemetry]` of the config file: where a server or worker sends its
//! traces, for operators who keep settings in `config.toml` rather than in
//! the environment.
//!
//! ```toml
//! [telemetry]
//! endpoint = "http://otel-collector:4318"
//! protocol = "http/protobuf"            # or "grpc"
//! service_name = "orch-server-eu"
//! resource_attributes = { "deployment.environment" = "production" }
//! headers = { "x-honeycomb-team" = "..." }
//! ```
//!
//! Each key stands for one of OpenTelemetry's standard variables, which win
//! when set (the order every other setting follows: flag, environment,
//! config file). The keys fill the variables the process has not set, once,
//! before any thread starts; from there everything reads the variables
//! (the exporter, and the worker passing the collector's address to flows),
//! so a setting behaves the same whichever way it was given.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::error::usage;

/// `[telemetry]` of the config file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TelemetryFile {
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`: the collector's base URL.
    pub endpoint: Option<String>,
    /// `OTEL_EXPORTER_OTLP_PROTOCOL`: `http/protobuf` or `grpc`.
    pub protocol: Option<String>,
    /// `OTEL_SERVICE_NAME`.
    pub service_name: Option<String>,
    /// `OTEL_RESOURCE_ATTRIBUTES`, as a table.
    pub resource_attributes: Option<BTreeMap<String, String>>,
    /// `OTEL_EXPORTER_OTLP_HEADERS` (a vendor's key, say), as a table. Not
    /// passed on to flows.
    pub headers: Option<BTreeMap<String, String>>,
}

/// The protocols the exporter speaks.
const PROTOCOLS: [&str; 2] = ["http/protobuf", "grpc"];

impl TelemetryFile {
    /// The variables this table stands for, checked: `(name, value)`.
    ///
    /// # Errors
    ///
    /// A value that cannot be exported, naming the key and how to fix it.
    pub fn variables(&self) -> anyhow::Result<Vec<(&'static str, String)>> {
        let mut variables = Vec::new();
        if let Some(endpoint) = &self.endpoint {
            let host = endpoint
                .trim()
                .strip_prefix("http://")
                .or_else(|| endpoint.trim().strip_prefix("https://"));
            if host.is_none_or(|host| host.is_empty() || host.starts_with('/')) {
                return Err(usage(format!(
                    "config file: telemetry.endpoint {endpoint:?} is not an http(s) URL; \
                     write e.g. \"http://127.0.0.1:4318\""
                )));
            }
            variables.push((orch_telemetry::ENV_ENDPOINT, endpoint.trim().to_owned()));
        }
        if let Some(protocol) = &self.protocol {
            if !PROTOCOLS.contains(&protocol.as_str()) {
                return Err(usage(format!(
                    "config file: telemetry.protocol {protocol:?} is not one of {}",
                    PROTOCOLS.join(", ")
                )));
            }
            variables.push(("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.clone()));
        }
        if let Some(name) = &self.service_name {
            if name.trim().is_empty() {
                return Err(usage(
                    "config file: telemetry.service_name is empty; remove it to keep the default",
                ));
            }
            variables.push((orch_telemetry::ENV_SERVICE_NAME, name.trim().to_owned()));
        }
        for (key, variable, table) in [
            (
                "resource_attributes",
                "OTEL_RESOURCE_ATTRIBUTES",
                &self.resource_attributes,
            ),
            ("headers", "OTEL_EXPORTER_OTLP_HEADERS", &self.headers),
        ] {
            if let Some(table) = table.as_ref().filter(|table| !table.is_empty()) {
                variables.push((variable, key_values(key, table)?));
            }
        }
        Ok(variables)
    }
}

/// `k1=v1,k2=v2` as the variables want it (W3C baggage: values
/// percent-encoded where they hold `,`, `=`, `%` or spaces).
fn key_values(key: &str, table: &BTreeMap<String, String>) -> anyhow::Result<String> {
    let mut pairs = Vec::new();
    for (name, value) in table {
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_graphic() && !",=;%".contains(c))
        {
            return Err(usage(format!(
                "config file: telemetry.{key}: {name:?} is not a valid key; use printable \
                 ASCII without ',', '=', ';' or '%'"
            )));
        }
        let value: String = value
            .chars()
            .map(|c| match c {
                ',' | '=' | '%' | ' ' | ';' | '"' | '\\' => format!("%{:02X}", c as u32),
                c if c.is_ascii() && !c.is_ascii_control() => c.to_string(),
                c => c.to_string().bytes().map(|b| format!("%{b:02X}")).collect(),
            })
            .collect();
        pairs.push(format!("{name}={value}"));
    }
    Ok(pairs.join(","))
}

/// Fills the variables of `file` that `environment` does not set: returns
/// those to set.
pub fn missing_variables(
    file: &TelemetryFile,
    environment: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<Vec<(&'static str, String)>> {
    Ok(file
        .variables()?
        .into_iter()
        .filter(|(name, _)| environment(name).is_none_or(|value| value.trim().is_empty()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> TelemetryFile {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn the_table_stands_for_the_standard_variables() {
        let table = file(
            r#"
            endpoint = "http://collector:4318"
            protocol = "grpc"
            service_name = "orch-eu"
            resource_attributes = { "deployment.environment" = "prod", team = "desk a,b" }
            headers = { "x-key" = "s3cr=t" }
            "#,
        );
        let variables = table.variables().unwrap();
        assert_eq!(
            variables,
            [
                (
                    "OTEL_EXPORTER_OTLP_ENDPOINT",
                    "http://collector:4318".into()
                ),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".into()),
                ("OTEL_SERVICE_NAME", "orch-eu".into()),
                (
                    "OTEL_RESOURCE_ATTRIBUTES",
                    "deployment.environment=prod,team=desk%20a%2Cb".into()
                ),
                ("OTEL_EXPORTER_OTLP_HEADERS", "x-key=s3cr%3Dt".into()),
            ]
        );
    }

    #[test]
    fn a_variable_that_is_set_wins_over_the_file() {
        let table = file(
            r#"endpoint = "http://collector:4318"
protocol = "grpc""#,
        );
        let environment = |name: &str| {
            (name == "OTEL_EXPORTER_OTLP_PROTOCOL").then(|| "http/protobuf".to_owned())
        };
        let missing = missing_variables(&table, &environment).unwrap();
        assert_eq!(
            missing,
            [(
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "http://collector:4318".into()
            )]
        );
    }

    #[test]
    fn bad_values_name_the_key_and_the_fix() {
        for (text, says) in [
            (r#"endpoint = "collector:4318""#, "telemetry.endpoint"),
            (r#"protocol = "http/json""#, "telemetry.protocol"),
            (r#"service_name = " ""#, "telemetry.service_name"),
            (r#"headers = { "a b" = "1" }"#, "telemetry.headers"),
        ] {
            let error = file(text).variables().unwrap_err().to_string();
            assert!(error.contains(says), "{text}: {error}");
        }
        assert!(toml::from_str::<TelemetryFile>("endpont = \"x\"").is_err());
    }
}
