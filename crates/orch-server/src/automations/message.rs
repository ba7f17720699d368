//! What a firing says: its context (the JSON a webhook receives), and the
//! Slack and e-mail renderings of it.

use orch_store::OutboxRow;
use serde_json::{Value, json};

/// Where links in messages point.
#[derive(Debug, Clone)]
pub(crate) struct Links {
    /// The dashboard's base URL, e.g. `http://127.0.0.1:4200`.
    pub public_url: String,
}

impl Links {
    /// The dashboard page of a run.
    pub(crate) fn run(&self, run_id: &str) -> String {
        format!(
            "{}/flow-runs/{run_id}",
            self.public_url.trim_end_matches('/')
        )
    }
}

fn rfc3339(micros: i64) -> Value {
    orch_proto::json::rfc3339(micros).map_or(Value::Null, Value::String)
}

/// The run part of a context, from an outbox row.
pub(crate) fn run_of_row(row: &OutboxRow, links: &Links) -> Value {
    let (state_type, state_name, state_message) = if row.kind == "EVENT" {
        (Value::Null, Value::Null, row.state_message.clone())
    } else {
        (json!(row.kind), json!(row.name), row.message.clone())
    };
    // The run's trace: a receiver that traces joins the run's trace with it.
    let parent = row
        .trace_parent
        .as_deref()
        .and_then(|text| orch_core::TraceParent::parse(text).ok());
    let trace = orch_core::RunTrace::of(&row.flow_run_id, parent.as_ref());
    json!({
        "id": row.flow_run_id,
        "name": row.run_name,
        "trace_id": trace.trace_id_hex(),
        "traceparent": trace.traceparent().to_string(),
        "flow": row.flow,
        "deployment": (!row.deployment.is_empty()).then_some(&row.deployment),
        "work_pool": (!row.pool.is_empty()).then_some(&row.pool),
        "state": { "type": state_type, "name": state_name, "message": state_message },
        "parameters": serde_json::from_str::<Value>(&row.parameters).unwrap_or(Value::Null),
        "tags": serde_json::from_str::<Value>(&row.tags).unwrap_or(Value::Null),
        "run_count": row.run_count,
        "url": links.run(&row.flow_run_id),
    })
}

/// The context of a firing: what every action is told.
pub(crate) fn context(
    automation: &str,
    trigger: &str,
    kind: &str,
    summary: String,
    run: Option<Value>,
    extra: Value,
    at: i64,
) -> Value {
    let mut context = json!({
        "automation": automation,
        "trigger": trigger,
        "kind": kind,
        "summary": summary,
        "flow_run": run,
        "at": rfc3339(at),
    });
    if let (Some(object), Value::Object(extra)) = (context.as_object_mut(), extra) {
        object.extend(extra);
    }
    context
}

/// "trading-flow/trading-production run brave-fox is Failed: boom".
pub(crate) fn run_summary(row: &OutboxRow) -> String {
    let what = if row.deployment.is_empty() {
        row.flow.as_str()
    } else {
        row.deployment.as_str()
    };
    if row.kind == "EVENT" {
        return format!("{what} run {} emitted event \"{}\"", row.run_name, row.name);
    }
    let mut summary = format!("{what} run {} is {}", row.run_name, row.name);
    if !row.message.is_empty() {
        summary.push_str(": ");
        summary.push_str(&row.message);
    }
    summary
}

fn text(value: &Value, path: &[&str]) -> String {
    let mut at = value;
    for key in path {
        at = &at[*key];
    }
    match at {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A Slack incoming-webhook message (`text` as the fallback, `blocks` for
/// the layout): the automation, the flow, deployment, run, state, error and
/// a link to the run.
pub(crate) fn slack(context: &Value) -> Value {
    let resolved = context["kind"] == "resolved";
    let icon = if resolved {
        ":white_check_mark:"
    } else {
        ":rotating_light:"
    };
    let automation = text(context, &["automation"]);
    let title = if resolved {
        format!("{icon} Resolved: {automation}")
    } else {
        format!("{icon} {automation}")
    };
    let summary = text(context, &["summary"]);
    let mut fields = Vec::new();
    let run = &context["flow_run"];
    if run.is_object() {
        for (label, path) in [
            ("Flow", &["flow"][..]),
            ("Deployment", &["deployment"][..]),
            ("Run", &["name"][..]),
            ("State", &["state", "name"][..]),
        ] {
            let value = text(run, path);
            if !value.is_empty() {
                fields.push(json!({ "type": "mrkdwn", "text": format!("*{label}*\n{value}") }));
            }
        }
    }
    let mut blocks = vec![
        json!({ "type": "header", "text": { "type": "plain_text", "text": title } }),
        json!({ "type": "section", "text": { "type": "mrkdwn", "text": summary } }),
    ];
    if !fields.is_empty() {
        blocks.push(json!({ "type": "section", "fields": fields }));
    }
    let error = text(run, &["state", "message"]);
    if !error.is_empty() && !resolved {
        blocks.push(json!({ "type": "section", "text": { "type": "mrkdwn", "text": format!("*Error*\n```{error}```") } }));
    }
    let url = text(run, &["url"]);
    let mut fallback = format!("{title}: {summary}");
    if !url.is_empty() {
        blocks.push(json!({ "type": "section", "text": { "type": "mrkdwn", "text": format!("<{url}|Open the run in orch>") } }));
        fallback.push_str(&format!(" <{url}|open>"));
    }
    json!({ "text": fallback, "blocks": blocks })
}

/// An e-mail's subject and plain-text body.
pub(crate) fn email(context: &Value) -> (String, String) {
    let resolved = context["kind"] == "resolved";
    let automation = text(context, &["automation"]);
    let summary = text(context, &["summary"]);
    let subject = if resolved {
        format!("[orch] Resolved: {automation}")
    } else {
        format!("[orch] {automation}: {summary}")
    };
    let mut body = format!("{summary}\n\n");
    let run = &context["flow_run"];
    for (label, path) in [
        ("Flow", &["flow"][..]),
        ("Deployment", &["deployment"][..]),
        ("Run", &["name"][..]),
        ("State", &["state", "name"][..]),
        ("Message", &["state", "message"][..]),
        ("Link", &["url"][..]),
    ] {
        let value = text(run, path);
        if !value.is_empty() {
            body.push_str(&format!("{label}: {value}\n"));
        }
    }
    if let Some(event) = context.get("event") {
        body.push_str(&format!(
            "Event: {}\nPayload: {}\n",
            text(event, &["name"]),
            event["payload"]
        ));
    }
    body.push_str(&format!(
        "\nAutomation: {automation}\nAt: {}\n",
        text(context, &["at"])
    ));
    (subject.chars().take(200).collect(), body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed() -> Value {
        context(
            "trading-failures",
            "run-state",
            "fired",
            "trading-flow/prod run brave-fox is Failed: boom".into(),
            Some(json!({
                "id": "r1", "name": "brave-fox", "flow": "trading-flow", "deployment": "trading-flow/prod",
                "state": { "type": "FAILED", "name": "Failed", "message": "boom" },
                "url": "http://h/flow-runs/r1",
            })),
            json!({}),
            1,
        )
    }

    #[test]
    fn slack_messages_name_the_flow_deployment_run_state_error_and_link() {
        let message = slack(&failed()).to_string();
        for expected in [
            "trading-flow",
            "trading-flow/prod",
            "brave-fox",
            "Failed",
            "boom",
            "http://h/flow-runs/r1",
        ] {
            assert!(
                message.contains(expected),
                "{expected} missing from {message}"
            );
        }
        assert!(
            slack(&failed())["text"]
                .as_str()
                .unwrap()
                .starts_with(":rotating_light: trading-failures")
        );
    }

    #[test]
    fn emails_have_a_subject_and_the_run_in_their_body() {
        let (subject, body) = email(&failed());
        assert_eq!(
            subject,
            "[orch] trading-failures: trading-flow/prod run brave-fox is Failed: boom"
        );
        assert!(body.contains("Link: http://h/flow-runs/r1"), "{body}");
    }
}
