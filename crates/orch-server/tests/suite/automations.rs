//! Automations are checked by the application layer whatever the way in
//! (deploy file, CLI, REST, gRPC): durations in range, placeholders well
//! formed and naming only secrets or allowed server variables.

use orch_server::ops::{self, ErrorKind};

use crate::common::Harness;

fn spec(cooldown: u64, url: &str) -> String {
    serde_json::json!({
        "name": "hook",
        "trigger": { "type": "worker-offline" },
        "actions": [{ "type": "webhook", "url": url }],
        "cooldown_seconds": cooldown,
    })
    .to_string()
}

async fn refused(harness: &Harness, spec: String) -> String {
    let error = ops::automations::apply(&harness.state, &[spec])
        .await
        .expect_err("the automation is refused");
    assert_eq!(error.kind(), ErrorKind::Invalid, "{error}");
    assert!(
        harness
            .store()
            .automations()
            .automations()
            .await
            .unwrap()
            .is_empty(),
        "nothing was registered"
    );
    error.to_string()
}

#[tokio::test]
async fn automations_from_any_way_in_get_the_same_checks() {
    let harness = Harness::start("2026-01-05T09:00:00Z", "default").await;

    let error = refused(&harness, spec(i64::MAX as u64, "http://127.0.0.1:9/hook")).await;
    assert!(
        error.contains("`cooldown_seconds` must be between 0 and 31622400"),
        "{error}"
    );
    let error = refused(&harness, spec(0, "http://127.0.0.1:9/${TOKEN")).await;
    assert!(
        error.contains(
            "automation \"hook\": action 1 (webhook), `url`: `${TOKEN` at offset 19 opens a \
             placeholder that is never closed"
        ),
        "{error}"
    );
    // Numbers no `u64` holds get the range message too, not a type error.
    for (key, value, wanted) in [
        (
            "cooldown_seconds",
            "-1",
            "`cooldown_seconds` must be between 0 and 31622400 (366 days), not -1",
        ),
        (
            "cooldown_seconds",
            "1e30",
            "`cooldown_seconds` must be a whole number of seconds between 0",
        ),
        (
            "seconds",
            "2.5",
            "`seconds` must be a whole number of seconds between 1",
        ),
    ] {
        let text = if key == "seconds" {
            format!(
                r#"{{"name": "hook", "trigger": {{"type": "run-duration", "seconds": {value}}}, "actions": [{{"type": "cancel-run"}}]}}"#
            )
        } else {
            format!(
                r#"{{"name": "hook", "trigger": {{"type": "worker-offline"}}, "actions": [{{"type": "webhook", "url": "http://h/"}}], "{key}": {value}}}"#
            )
        };
        let error = refused(&harness, text).await;
        assert!(
            error.starts_with(&format!("automation \"hook\" is not valid: {wanted}")),
            "{error}"
        );
        assert!(!error.contains("at line 1"), "{error}");
    }
    // PATH is in every server's environment and not allowed.
    let error = refused(&harness, spec(0, "http://127.0.0.1:9/?p=${PATH}")).await;
    assert!(
        error.contains("`${PATH}`") && error.contains("--automation-env PATH"),
        "{error}"
    );

    // A name set nowhere is a secret to be set later; a secret of that
    // name may be read whatever the environment holds.
    ops::automations::apply(
        &harness.state,
        &[spec(60, "http://h/${HOOK_NEVER_SET_I28}")],
    )
    .await
    .expect("a name set nowhere is accepted");
    ops::secrets::set(&harness.state, "PATH", "http://127.0.0.1:9/hook")
        .await
        .unwrap();
    ops::automations::apply(&harness.state, &[spec(60, "${PATH}")])
        .await
        .expect("a secret is accepted");
}
