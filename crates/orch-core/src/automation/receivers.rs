//! Who receives an action's deliveries: the unit deliveries are queued and
//! bounded by, so that a receiver that hangs holds only its own.
//!
//! A receiver is the server an action talks to, not the URL: every path of
//! one host and port is one receiver (one hung server behind many webhooks
//! is still one). Credentials in a URL are never part of it. A host given
//! by a `${NAME}` is known only when the action runs; the placeholder, as
//! written, stands for it.

use super::{Action, ActionKind};

/// The receiver of actions on orch itself (run, pause, resume, cancel).
pub const ORCH_RECEIVER: &str = "orch";

impl Action {
    /// Who receives this action's deliveries: `http://host:port` for Slack
    /// and webhooks, `smtp://host[:port]` for e-mail, [`ORCH_RECEIVER`] for
    /// actions on orch.
    pub fn receiver(&self) -> String {
        let text = match self.kind {
            ActionKind::Slack => self.webhook_url.as_deref(),
            ActionKind::Webhook => self.url.as_deref(),
            ActionKind::Email => Some(self.smtp_url.as_deref().unwrap_or("${ORCH_SMTP_URL}")),
            ActionKind::RunDeployment
            | ActionKind::PauseDeployment
            | ActionKind::ResumeDeployment
            | ActionKind::CancelRun => None,
        };
        match text {
            Some(text) => server_of(text),
            None => ORCH_RECEIVER.to_owned(),
        }
    }
}

/// `scheme://host[:port]` of a URL as written, without credentials; the
/// written start (up to the path) when a placeholder hides the host.
fn server_of(text: &str) -> String {
    let text = text.trim();
    let (scheme, rest) = match text.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, text),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let Some(scheme) = scheme else {
        return host.to_owned();
    };
    if !authority.contains("${")
        && !scheme.contains("${")
        && let Ok(url) = url::Url::parse(&format!("{scheme}://{authority}"))
        && let Some(host) = url.host_str()
    {
        return match url.port_or_known_default() {
            Some(port) => format!("{}://{host}:{port}", url.scheme()),
            None => format!("{}://{host}", url.scheme()),
        };
    }
    format!("{scheme}://{host}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(json: serde_json::Value) -> Action {
        serde_json::from_value(json).unwrap()
    }

    fn webhook(url: &str) -> String {
        action(serde_json::json!({ "type": "webhook", "url": url })).receiver()
    }

    #[test]
    fn every_path_of_one_server_is_one_receiver() {
        assert_eq!(webhook("http://127.0.0.1:9000/a"), "http://127.0.0.1:9000");
        assert_eq!(
            webhook("http://127.0.0.1:9000/b?x=1"),
            "http://127.0.0.1:9000"
        );
        assert_eq!(
            webhook("HTTPS://Hooks.Example.com/x"),
            "https://hooks.example.com:443"
        );
        assert_eq!(
            webhook("https://hooks.example.com:443"),
            "https://hooks.example.com:443"
        );
        assert_ne!(
            webhook("http://127.0.0.1:9000/a"),
            webhook("http://127.0.0.1:9001/a")
        );
        let slack = action(
            serde_json::json!({ "type": "slack", "webhook_url": "http://127.0.0.1:9000/s" }),
        );
        assert_eq!(slack.receiver(), "http://127.0.0.1:9000");
    }

    #[test]
    fn credentials_are_never_part_of_a_receiver() {
        assert_eq!(
            webhook("https://user:pw@h.example/x"),
            "https://h.example:443"
        );
        let email = action(serde_json::json!({
            "type": "email", "to": ["a@b"], "smtp_url": "smtp://user:secret@mail.example:587"
        }));
        assert_eq!(email.receiver(), "smtp://mail.example:587");
        let hidden = action(serde_json::json!({
            "type": "email", "to": ["a@b"], "smtp_url": "smtps://me:${PW}@mail.example"
        }));
        assert_eq!(hidden.receiver(), "smtps://mail.example");
    }

    #[test]
    fn a_placeholder_stands_for_the_server_it_hides() {
        assert_eq!(webhook("${HOOK_URL}"), "${HOOK_URL}");
        assert_eq!(webhook("${BASE}/hook/1"), "${BASE}");
        assert_eq!(webhook("https://${HOST}/x"), "https://${HOST}");
        assert_eq!(webhook("http://h.example/${TOKEN}"), "http://h.example:80");
        let email = action(serde_json::json!({ "type": "email", "to": ["a@b"] }));
        assert_eq!(email.receiver(), "${ORCH_SMTP_URL}");
    }

    #[test]
    fn actions_on_orch_share_one_receiver() {
        let run = action(serde_json::json!({ "type": "run-deployment", "deployment": "f/d" }));
        assert_eq!(run.receiver(), ORCH_RECEIVER);
        assert_eq!(
            action(serde_json::json!({ "type": "cancel-run" })).receiver(),
            ORCH_RECEIVER
        );
    }
}
