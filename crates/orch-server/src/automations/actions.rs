//! What each action does. Messages go out over HTTP (Slack, webhooks) or
//! SMTP (e-mail); actions on orch itself go through the application layer
//! ([`crate::ops`]), like a user's request.

use std::time::Duration;

use hmac::{KeyInit, Mac};
use orch_core::automation::{Action, ActionKind, AutomationSpec};
use orch_store::ClaimedDelivery;
use serde_json::{Map, Value};

use super::message;
use crate::ops;
use crate::state::AppState;

/// Longest an attempt may take; shorter than the delivery lease.
pub(super) const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// The header carrying the idempotency key (the delivery's id: one per
/// firing and action; repeated on every attempt).
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";
/// The header carrying the firing's id.
pub const FIRING_HEADER: &str = "X-Orch-Firing-Id";
/// The header carrying a webhook's HMAC-SHA256 signature: `sha256=<hex>`
/// of the body, keyed by the action's `secret`.
pub const SIGNATURE_HEADER: &str = "X-Orch-Signature";

/// How an attempt ended.
#[derive(Debug)]
pub(super) enum Outcome {
    /// Done; the receiver's status when it was an HTTP call.
    Delivered { status: Option<i64> },
    /// Not attempted: the action is not configured (a `${NAME}` has no
    /// value) or has nothing to act on.
    Skipped(String),
    /// Failed; retried with backoff unless `permanent`.
    Failed {
        status: Option<i64>,
        error: String,
        permanent: bool,
    },
}

fn failed(error: impl Into<String>) -> Outcome {
    Outcome::Failed {
        status: None,
        error: error.into(),
        permanent: false,
    }
}

/// The HTTP client of deliveries.
pub(super) fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(ATTEMPT_TIMEOUT)
        .connect_timeout(Duration::from_secs(5))
        .user_agent(concat!("orch/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("the HTTP client builds")
}

/// Resolves the `${NAME}`s of `text`, or says which are unset.
pub(super) fn resolve(values: &super::Placeholders, text: &str) -> Result<String, Outcome> {
    orch_core::automation::resolve_placeholders(text, &|name: &str| values.get(name)).map_err(
        |missing| {
            Outcome::Skipped(format!(
                "not configured: {} not set on the server; set {} with `orch secret set NAME` or in the server's environment to activate this action",
                missing.join(", "),
                if missing.len() == 1 { "it" } else { "them" }
            ))
        },
    )
}

/// Runs the action of `delivery` once.
pub(super) async fn perform(
    state: &AppState,
    client: &reqwest::Client,
    delivery: &ClaimedDelivery,
) -> Outcome {
    let spec: AutomationSpec = match serde_json::from_str(&delivery.spec) {
        Ok(spec) => spec,
        Err(error) => {
            return Outcome::Failed {
                status: None,
                error: format!("unreadable spec: {error}"),
                permanent: true,
            };
        }
    };
    let Some(action) = spec.actions.get(delivery.action_index as usize) else {
        return Outcome::Skipped("the automation no longer has this action".into());
    };
    let context: Value = serde_json::from_str(&delivery.context).unwrap_or_default();
    let values = super::Placeholders::read(state, &super::placeholders_of(&spec)).await;
    let resolve = |text: &str| resolve(&values, text);
    match action.kind {
        ActionKind::Slack => {
            let url = match resolve(action.webhook_url.as_deref().unwrap_or_default()) {
                Ok(url) => url,
                Err(skipped) => return skipped,
            };
            post(client, delivery, &url, message::slack(&context), None).await
        }
        ActionKind::Webhook => {
            let url = match resolve(action.url.as_deref().unwrap_or_default()) {
                Ok(url) => url,
                Err(skipped) => return skipped,
            };
            let secret = match action.secret.as_deref().map(resolve).transpose() {
                Ok(secret) => secret,
                Err(skipped) => return skipped,
            };
            let mut body = context;
            if let Value::Object(object) = &mut body {
                object.insert("firing_id".into(), delivery.firing_id.clone().into());
                object.insert("idempotency_key".into(), delivery.id.clone().into());
            }
            post(client, delivery, &url, body, secret.as_deref()).await
        }
        ActionKind::Email => super::email::send(action, &values, &context).await,
        ActionKind::RunDeployment => run_deployment(state, delivery, action, &context).await,
        ActionKind::PauseDeployment | ActionKind::ResumeDeployment => {
            let deployment = action.deployment.as_deref().unwrap_or_default();
            let paused = action.kind == ActionKind::PauseDeployment;
            match ops::deployments::set_paused(state, deployment, paused).await {
                Ok(_) => Outcome::Delivered { status: None },
                Err(error) => store_failure(error),
            }
        }
        ActionKind::CancelRun => match &delivery.flow_run_id {
            None => Outcome::Skipped("the firing is about no run".into()),
            Some(run) => match ops::flow_runs::cancel(state, run).await {
                Ok(_) => Outcome::Delivered { status: None },
                Err(error) if error.kind() == crate::ops::ErrorKind::Conflict => {
                    Outcome::Skipped(error.to_string())
                }
                Err(error) => store_failure(error),
            },
        },
    }
}

fn store_failure(error: crate::ops::OpsError) -> Outcome {
    use crate::ops::ErrorKind;
    let permanent = matches!(error.kind(), ErrorKind::NotFound | ErrorKind::Invalid);
    Outcome::Failed {
        status: None,
        error: error.to_string(),
        permanent,
    }
}

/// Creates the run, exactly once: the delivery's id is the run's
/// idempotency key, so an attempt repeated after a crash finds the run the
/// first one created. The key (`automation:<delivery id>`) also ties the run
/// to its firing, whose `automation_chain` is the run's chain: loop
/// protection reads it when the run fires an automation
/// (`Automations::record_firing`). Its parameters: the triggering run's
/// parameters the target deployment declares, then the action's
/// `parameters` over them.
async fn run_deployment(
    state: &AppState,
    delivery: &ClaimedDelivery,
    action: &Action,
    context: &Value,
) -> Outcome {
    let reference = action.deployment.as_deref().unwrap_or_default();
    let target = match state.store().deployments().deployment(reference).await {
        Ok(target) => target,
        Err(error) => return store_failure(error.into()),
    };
    let mut overrides = Map::new();
    if let Some(upstream) = context["flow_run"]["parameters"].as_object() {
        for (key, value) in upstream {
            if target.parameters.contains_key(key) {
                overrides.insert(key.clone(), value.clone());
            }
        }
    }
    if let Some(parameters) = &action.parameters {
        overrides.extend(parameters.clone());
    }
    let key = format!("automation:{}", delivery.id);
    match ops::deployments::run(state, reference, &overrides, None, &key, None).await {
        Ok(_) => Outcome::Delivered { status: None },
        Err(error) => store_failure(error),
    }
}

/// POSTs `body` as JSON with the idempotency headers (and a signature when
/// `secret` is set). 2xx is delivered; 408, 429 and 5xx are retried; other
/// statuses are failures that retrying cannot fix.
async fn post(
    client: &reqwest::Client,
    delivery: &ClaimedDelivery,
    url: &str,
    body: Value,
    secret: Option<&str>,
) -> Outcome {
    // The run's trace context, so that a traced receiver joins the run's trace.
    let traceparent = body
        .pointer("/flow_run/traceparent")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let body = body.to_string();
    let mut request = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(IDEMPOTENCY_HEADER, &delivery.id)
        .header(FIRING_HEADER, &delivery.firing_id);
    if let Some(traceparent) = traceparent {
        request = request.header("traceparent", traceparent);
    }
    if let Some(secret) = secret {
        request = request.header(SIGNATURE_HEADER, signature(secret, body.as_bytes()));
    }
    match request.body(body).send().await {
        Ok(response) => {
            let status = response.status();
            let code = Some(i64::from(status.as_u16()));
            if status.is_success() {
                return Outcome::Delivered { status: code };
            }
            let text: String = response
                .text()
                .await
                .unwrap_or_default()
                .chars()
                .take(200)
                .collect();
            let permanent = status.is_client_error() && !matches!(status.as_u16(), 408 | 429);
            Outcome::Failed {
                status: code,
                error: format!("the receiver answered {status}: {text}"),
                permanent,
            }
        }
        // Never the URL itself: it may carry a token.
        Err(error) => failed(format!("cannot reach the receiver: {}", describe(&error))),
    }
}

fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    let mut source = std::error::Error::source(error);
    let mut detail = String::new();
    while let Some(cause) = source {
        detail = cause.to_string();
        source = cause.source();
    }
    if detail.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind} ({detail})")
    }
}

/// `sha256=<hex of HMAC-SHA256(secret, body)>`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes keys of any size");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn signatures_are_hmac_sha256_in_hex() {
        // RFC 4231 test case 2.
        assert_eq!(
            super::signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
