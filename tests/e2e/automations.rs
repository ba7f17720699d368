//! Automations end to end: real `orch` server and workers, real loopback
//! receivers (an HTTP server recording requests, an SMTP sink).

#[path = "automations/bad_input.rs"]
mod bad_input;
#[path = "automations/conditions.rs"]
mod conditions;
#[path = "automations/delivery.rs"]
mod delivery;
#[path = "automations/hardening.rs"]
mod hardening;
#[path = "automations/receivers.rs"]
mod receivers;
#[path = "automations/replicas.rs"]
mod replicas;
#[path = "automations/storms.rs"]
mod storms;
#[path = "automations/triggers.rs"]
mod triggers;

use std::time::Duration;

use orch_e2e::TestServer;
use serde_json::Value;

/// Bound on every wait.
pub const WAIT: Duration = Duration::from_secs(60);

/// The testflows binary (SDK flows: `emit`, ...).
pub const TESTFLOWS: &str = env!("CARGO_BIN_EXE_orch-testflows");

/// `orch automation inspect NAME --output json`.
pub fn inspect(server: &TestServer, name: &str) -> Value {
    server.json(&["automation", "inspect", name])
}

/// The history entries of an automation, newest first.
pub fn history(server: &TestServer, name: &str) -> Vec<Value> {
    server.json(&["automation", "history", name, "--limit", "100"])["entries"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Waits (bounded) until `check` holds on the automation's inspect JSON.
pub fn wait_for_automation(
    server: &TestServer,
    name: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let found = inspect(server, name);
        if check(&found) {
            return found;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "automation {name} never got there: {found:#}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
