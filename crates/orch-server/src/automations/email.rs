//! E-mail over SMTP with `lettre`: `smtp://user:password@host:587?tls=required`
//! for STARTTLS (`?tls=opportunistic` to upgrade when offered, no `tls` for
//! a plain local relay), `smtps://...:465` for TLS from the start.

use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use orch_core::automation::Action;
use serde_json::Value;

use super::actions::Outcome;
use super::message;

/// Sends the firing's e-mail to the action's recipients.
pub(super) async fn send(
    action: &Action,
    values: &super::Placeholders,
    context: &Value,
) -> Outcome {
    let resolve = |text: &str| super::actions::resolve(values, text);
    let smtp_url = match resolve(action.smtp_url.as_deref().unwrap_or("${ORCH_SMTP_URL}")) {
        Ok(url) => url,
        Err(skipped) => return skipped,
    };
    let from = match resolve(action.from.as_deref().unwrap_or("${ORCH_SMTP_FROM}")) {
        Ok(from) => from,
        Err(skipped) => return skipped,
    };
    let mut to = Vec::with_capacity(action.to.len());
    for recipient in &action.to {
        match resolve(recipient) {
            Ok(address) => to.push(address),
            Err(skipped) => return skipped,
        }
    }
    let (subject, body) = message::email(context);
    let mut builder = Message::builder()
        .subject(subject)
        .header(ContentType::TEXT_PLAIN);
    match from.parse() {
        Ok(from) => builder = builder.from(from),
        Err(error) => {
            return permanent(format!(
                "the sender {from:?} is not an e-mail address ({error})"
            ));
        }
    }
    for address in &to {
        match address.parse() {
            Ok(mailbox) => builder = builder.to(mailbox),
            Err(error) => {
                return permanent(format!("{address:?} is not an e-mail address ({error})"));
            }
        }
    }
    let email = match builder.body(body) {
        Ok(email) => email,
        Err(error) => return permanent(format!("cannot build the e-mail: {error}")),
    };
    // Never the URL in messages: it carries the password.
    let transport = match AsyncSmtpTransport::<Tokio1Executor>::from_url(&smtp_url) {
        Ok(builder) => builder
            .timeout(Some(super::actions::ATTEMPT_TIMEOUT))
            .build(),
        Err(error) => {
            return permanent(format!(
                "the SMTP URL is not valid ({error}); write smtp://user:password@host:587?tls=required"
            ));
        }
    };
    match transport.send(email).await {
        Ok(response) => Outcome::Delivered {
            status: Some(i64::from(u16::from(response.code()))),
        },
        Err(error) => Outcome::Failed {
            status: error.status().map(|code| i64::from(u16::from(code))),
            error: format!("the SMTP server refused or could not be reached: {error}"),
            permanent: error.is_permanent(),
        },
    }
}

fn permanent(error: String) -> Outcome {
    Outcome::Failed {
        status: None,
        error,
        permanent: true,
    }
}
