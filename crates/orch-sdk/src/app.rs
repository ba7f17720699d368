//! The flow binary: a registry of flows and the command line that runs one,
//! orchestrated (as a deployment's entrypoint) or standalone.

use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use orch_client::flow_env;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use crate::context::FlowContext;
use crate::error::{SdkError, panic_message};
use crate::logging;
use crate::reporter::Reporter;

type FlowFuture = Pin<Box<dyn Future<Output = Result<Value, FlowFailure>> + Send>>;
type FlowFn = Arc<dyn Fn(FlowContext, Value) -> FlowFuture + Send + Sync>;

/// How long logs and task states may take to reach the server at exit.
const FINAL_FLUSH: Duration = Duration::from_secs(30);
/// How long in-flight tasks get to wind down after a cancel or flow timeout.
const WIND_DOWN: Duration = Duration::from_secs(10);

/// Why a flow run did not succeed.
#[derive(Debug)]
pub enum FlowFailure {
    /// The parameters did not fit the flow.
    Parameters(SdkError),
    /// The flow returned an error.
    Failed(anyhow::Error),
    /// The flow panicked.
    Panicked(String),
    /// The flow ran past its timeout.
    TimedOut(Duration),
    /// The run was cancelled.
    Cancelled,
}

impl std::fmt::Display for FlowFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FlowFailure::Parameters(error) => write!(f, "{error}"),
            FlowFailure::Failed(error) => write!(f, "{error:#}"),
            FlowFailure::Panicked(message) => write!(f, "panicked: {message}"),
            FlowFailure::TimedOut(after) => {
                write!(f, "timed out after {}", crate::error::humanize(*after))
            }
            FlowFailure::Cancelled => write!(f, "cancelled"),
        }
    }
}

impl FlowFailure {
    fn exit_code(&self) -> ExitCode {
        match self {
            FlowFailure::Parameters(_) => exit_code(flow_env::EXIT_USAGE),
            FlowFailure::Cancelled => exit_code(flow_env::EXIT_CANCELLED),
            _ => exit_code(flow_env::EXIT_FAILED),
        }
    }
}

struct FlowDef {
    name: String,
    run: FlowFn,
    timeout: Option<Duration>,
}

/// A binary's flows. `App::new("sentinel").flow("trading-flow", trading).run()`.
pub struct App {
    name: String,
    flows: Vec<FlowDef>,
}

impl App {
    /// An app named after its binary.
    pub fn new(name: &str) -> App {
        App {
            name: name.to_string(),
            flows: Vec::new(),
        }
    }

    /// Registers a flow: an async fn of a context and typed parameters
    /// (`serde::Deserialize`; unknown or ill-typed ones fail the run clearly).
    pub fn flow<P, R, F, Fut>(mut self, name: &str, flow: F) -> App
    where
        P: DeserializeOwned + Send + 'static,
        R: Serialize + Send + 'static,
        F: Fn(FlowContext, P) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<R>> + Send + 'static,
    {
        let flow = Arc::new(flow);
        let flow_name = name.to_string();
        let run: FlowFn = Arc::new(move |context, parameters| {
            let flow = flow.clone();
            let flow_name = flow_name.clone();
            Box::pin(async move {
                let parameters: P = serde_json::from_value(parameters).map_err(|error| {
                    FlowFailure::Parameters(SdkError::Parameters {
                        flow: flow_name,
                        reason: error.to_string(),
                    })
                })?;
                let output = flow(context, parameters)
                    .await
                    .map_err(FlowFailure::Failed)?;
                Ok(serde_json::to_value(output).unwrap_or(Value::Null))
            })
        });
        self.flows.push(FlowDef {
            name: name.to_string(),
            run,
            timeout: None,
        });
        self
    }

    /// A timeout for the flow registered last: past it, its tasks are cancelled and the run fails.
    pub fn timeout(mut self, timeout: Duration) -> App {
        if let Some(flow) = self.flows.last_mut() {
            flow.timeout = Some(timeout);
        }
        self
    }

    /// Names of the registered flows.
    pub fn flow_names(&self) -> Vec<&str> {
        self.flows.iter().map(|f| f.name.as_str()).collect()
    }

    /// Runs the flow command in `args` (the full argv) if it is one:
    /// `BIN FLOW` (a deployment's entrypoint: reads ORCH_FLOW_RUN_ID,
    /// ORCH_PARAMETERS, ORCH_API_URL), `BIN run FLOW [--param K=V].. [--params JSON]`
    /// (standalone, no server), `BIN flows`. Returns None for other commands.
    pub fn try_run(&self, args: Vec<String>) -> Option<ExitCode> {
        let command = args.get(1)?.as_str();
        match command {
            "flows" => {
                for name in self.flow_names() {
                    println!("{name}");
                }
                Some(ExitCode::SUCCESS)
            }
            "run" => Some(self.standalone_command(&args[2..])),
            name => {
                let flow = self.flows.iter().find(|f| f.name == name)?;
                Some(self.entrypoint(flow))
            }
        }
    }

    /// `try_run`, with a usage error for anything else.
    pub fn run(self) -> ExitCode {
        let args: Vec<String> = std::env::args().collect();
        match self.try_run(args) {
            Some(code) => code,
            None => {
                eprintln!(
                    "error: expected a flow command.\nusage: {0} FLOW | {0} run FLOW [--param KEY=VALUE].. [--params JSON] | {0} flows\nflows: {1}",
                    self.name,
                    self.flow_names().join(", ")
                );
                ExitCode::from(2)
            }
        }
    }

    /// Runs a flow in this process without a server, with console logs.
    pub fn run_standalone(
        &self,
        flow: &str,
        parameters: Map<String, Value>,
    ) -> Result<Value, FlowFailure> {
        let flow = self.find(flow).map_err(FlowFailure::Parameters)?;
        logging::init_console();
        runtime().block_on(execute(
            flow,
            format!("local-{}", uuid::Uuid::new_v4()),
            Value::Object(parameters),
            None,
        ))
    }

    fn find(&self, name: &str) -> Result<&FlowDef, SdkError> {
        self.flows.iter().find(|f| f.name == name).ok_or_else(|| {
            let hint = orch_core::did_you_mean(&orch_core::close_matches(name, self.flow_names()));
            SdkError::Usage(format!(
                "no flow named \"{name}\"{hint}; flows: {}",
                self.flow_names().join(", ")
            ))
        })
    }

    fn standalone_command(&self, args: &[String]) -> ExitCode {
        let parsed =
            parse_run_args(args).and_then(|(flow, parameters)| Ok((self.find(&flow)?, parameters)));
        let (flow, parameters) = match parsed {
            Ok(parsed) => parsed,
            Err(error) => {
                eprintln!("error: {error}");
                return ExitCode::from(2);
            }
        };
        logging::init_console();
        let result = runtime().block_on(execute(
            flow,
            format!("local-{}", uuid::Uuid::new_v4()),
            Value::Object(parameters),
            None,
        ));
        report_outcome(&flow.name, result)
    }

    fn entrypoint(&self, flow: &FlowDef) -> ExitCode {
        let protocol = std::env::var(flow_env::PROTOCOL).ok();
        if let Err(message) = flow_env::check_protocol(protocol.as_deref(), "Rust SDK (orch-sdk)") {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
        let parameters = match parameters_from_env() {
            Ok(parameters) => parameters,
            Err(message) => {
                eprintln!("error: {message}");
                return ExitCode::from(2);
            }
        };
        // Every replica the worker knows, so that the flow fails over too.
        let server = flow_env::server_urls(
            std::env::var(flow_env::API_URLS).ok().as_deref(),
            std::env::var(flow_env::API_URL).ok().as_deref(),
        )
        .zip(std::env::var(flow_env::FLOW_RUN_ID).ok());
        let runtime = runtime();
        let result = runtime.block_on(async {
            match server {
                Some((api_url, flow_run_id)) => {
                    let reporter = match Reporter::start(&api_url) {
                        Ok(reporter) => reporter,
                        Err(error) => {
                            return Err(FlowFailure::Parameters(SdkError::Usage(format!(
                                "{} {api_url:?} is not usable: {error}",
                                flow_env::API_URL
                            ))));
                        }
                    };
                    logging::init_server(reporter.clone(), flow_run_id.clone());
                    // Task spans when the worker passed a collector's address;
                    // dropped (flushed) once the flow is done.
                    let telemetry = match orch_telemetry::Telemetry::from_env("orch-flow") {
                        Ok(telemetry) => telemetry,
                        Err(message) => {
                            tracing::warn!("no task spans: {message}");
                            None
                        }
                    };
                    let result =
                        execute(flow, flow_run_id, parameters, Some(reporter.clone())).await;
                    drop(telemetry);
                    if !reporter.flush(FINAL_FLUSH).await {
                        eprintln!(
                            "orch-sdk: some task states or log lines could not reach the server"
                        );
                    }
                    result
                }
                None => {
                    logging::init_console();
                    execute(
                        flow,
                        format!("local-{}", uuid::Uuid::new_v4()),
                        parameters,
                        None,
                    )
                    .await
                }
            }
        });
        report_outcome(&flow.name, result)
    }
}

/// A process exit code from one of [`flow_env`]'s.
fn exit_code(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// `FLOW [--param K=V].. [--params JSON]`.
fn parse_run_args(args: &[String]) -> Result<(String, Map<String, Value>), SdkError> {
    let mut iter = args.iter();
    let flow = iter
        .next()
        .filter(|a| !a.starts_with('-'))
        .ok_or_else(|| {
            SdkError::Usage("`run` needs a flow name: run FLOW [--param KEY=VALUE]..".into())
        })?
        .clone();
    let mut params = Vec::new();
    let mut params_json = None;
    while let Some(arg) = iter.next() {
        let mut value = |flag: &str| {
            iter.next()
                .cloned()
                .ok_or_else(|| SdkError::Usage(format!("{flag} needs a value")))
        };
        match arg.as_str() {
            "--param" => params.push(value("--param")?),
            "--params" => params_json = Some(value("--params")?),
            other => {
                return Err(SdkError::Usage(format!(
                    "unexpected argument \"{other}\": use --param KEY=VALUE or --params JSON"
                )));
            }
        }
    }
    let parameters = orch_core::build_overrides(params_json.as_deref(), &params)
        .map_err(|error| SdkError::Usage(error.to_string()))?;
    Ok((flow, parameters))
}

fn report_outcome(flow: &str, result: Result<Value, FlowFailure>) -> ExitCode {
    match result {
        Ok(value) => {
            if !value.is_null() {
                println!("{value}");
            }
            ExitCode::SUCCESS
        }
        Err(failure) => {
            eprintln!("flow {flow} failed: {failure}");
            failure.exit_code()
        }
    }
}

/// Runs the flow to its end, honouring cancellation (SIGTERM/SIGINT) and its timeout.
async fn execute(
    flow: &FlowDef,
    flow_run_id: String,
    parameters: Value,
    reporter: Option<Reporter>,
) -> Result<Value, FlowFailure> {
    let cancel = CancellationToken::new();
    tokio::spawn(cancel_on_signal(cancel.clone()));
    let context = FlowContext::new(flow_run_id, flow.name.clone(), reporter, cancel.clone());
    let mut handle = tokio::spawn((flow.run)(context, parameters));
    let deadline = async {
        match flow.timeout {
            Some(timeout) => tokio::time::sleep(timeout).await,
            None => std::future::pending().await,
        }
    };
    let interrupted = tokio::select! {
        joined = &mut handle => return joined_result(joined),
        _ = cancel.cancelled() => FlowFailure::Cancelled,
        _ = deadline => FlowFailure::TimedOut(flow.timeout.unwrap_or_default()),
    };
    // Let in-flight tasks record that they were cancelled, then stop waiting.
    cancel.cancel();
    if tokio::time::timeout(WIND_DOWN, &mut handle).await.is_err() {
        handle.abort();
    }
    Err(interrupted)
}

fn joined_result(
    joined: Result<Result<Value, FlowFailure>, tokio::task::JoinError>,
) -> Result<Value, FlowFailure> {
    match joined {
        Ok(result) => result,
        Err(error) if error.is_panic() => Err(FlowFailure::Panicked(panic_message(
            error.into_panic().as_ref(),
        ))),
        Err(_) => Err(FlowFailure::Cancelled),
    }
}

async fn cancel_on_signal(cancel: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut terminate), Ok(mut interrupt)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return;
    };
    tokio::select! {
        _ = terminate.recv() => {}
        _ = interrupt.recv() => {}
    }
    tracing::warn!("cancellation requested: stopping tasks");
    cancel.cancel();
}

/// The run's parameters as the worker passes them: the JSON object in
/// `ORCH_PARAMETERS`, or, when they are too large for the environment, in the
/// file named by `ORCH_PARAMETERS_FILE`. Neither set: no parameters.
///
/// # Errors
///
/// The file cannot be read, or the text is not a JSON object (the message says which).
pub fn parameters_from_env() -> Result<Value, String> {
    let (source, text) = match std::env::var_os(flow_env::PARAMETERS_FILE) {
        Some(path) if !path.is_empty() => {
            let text =
                orch_core::input_file::read_text(std::path::Path::new(&path)).map_err(|error| {
                    format!(
                        "cannot read the run's parameters from {}: {error}",
                        flow_env::PARAMETERS_FILE
                    )
                })?;
            (flow_env::PARAMETERS_FILE, text)
        }
        _ => match std::env::var(flow_env::PARAMETERS) {
            Ok(text) => (flow_env::PARAMETERS, text),
            Err(_) => return Ok(Value::Object(Map::new())),
        },
    };
    if text.trim().is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    match serde_json::from_str::<Value>(&text) {
        Ok(value @ Value::Object(_)) => Ok(value),
        _ => {
            let shown: String = text.chars().take(200).collect();
            Err(format!("{source} is not a JSON object: {shown}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn run_arguments_parse_params_like_the_cli() {
        let (flow, params) = parse_run_args(&strings(&[
            "trading-flow",
            "--params",
            r#"{"a":1}"#,
            "--param",
            "force=true",
        ]))
        .unwrap();
        assert_eq!(flow, "trading-flow");
        assert_eq!(
            Value::Object(params),
            serde_json::json!({"a": 1, "force": true})
        );
    }

    #[test]
    fn bad_run_arguments_are_explained() {
        assert!(
            parse_run_args(&[])
                .unwrap_err()
                .to_string()
                .contains("needs a flow name")
        );
        let error = parse_run_args(&strings(&["f", "--param", "nokey"]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("KEY=VALUE"), "{error}");
        let error = parse_run_args(&strings(&["f", "--bogus"]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("--bogus"), "{error}");
    }

    #[test]
    fn flow_commands_are_recognised_and_others_left_alone() {
        let app = App::new("demo").flow("hello", |_ctx: FlowContext, _p: Value| async { Ok(1) });
        assert!(app.try_run(strings(&["demo", "models"])).is_none());
        assert!(app.try_run(strings(&["demo"])).is_none());
        assert_eq!(app.flow_names(), vec!["hello"]);
    }

    #[test]
    fn a_standalone_run_returns_the_flow_output() {
        let app = App::new("demo").flow(
            "add",
            |ctx: FlowContext, p: Map<String, Value>| async move {
                let n = p.get("n").and_then(Value::as_i64).unwrap_or(0);
                let doubled = ctx
                    .task("double")
                    .run(|| async move { Ok::<_, anyhow::Error>(n * 2) })
                    .await?;
                Ok(*doubled + 1)
            },
        );
        let mut params = Map::new();
        params.insert("n".into(), Value::from(20));
        assert_eq!(app.run_standalone("add", params).unwrap(), Value::from(41));
        assert!(matches!(
            app.run_standalone("nope", Map::new()),
            Err(FlowFailure::Parameters(_))
        ));
    }
}
