//! No receiver blocks another: a receiver is the server an action talks
//! to, not its URL. One server that accepts connections and never answers,
//! behind many webhook paths, holds at most its own few attempts; another
//! receiver's delivery goes through while all of them are still pending.

use std::sync::atomic::Ordering;
use std::time::Instant;

use orch_e2e::receivers::HttpReceiver;
use orch_e2e::{TestServer, deployment_toml};

use super::hardening::silent_receiver;
use super::{TESTFLOWS, WAIT, history, inspect};

/// Webhook paths on the hung server: more than the delivery loop's 128
/// attempts in flight over all receivers.
const PATHS: usize = 140;
/// Attempts in flight to one receiver (`deliver::PER_RECEIVER`).
const PER_RECEIVER: usize = 4;

#[test]
fn a_hung_server_behind_many_webhook_paths_delays_no_other_receiver() {
    let (silent, accepted) = silent_receiver();
    let healthy = HttpReceiver::start();
    let server = TestServer::start();
    let emit = |event: &str| {
        deployment_toml(
            "events",
            event,
            "pool",
            &[TESTFLOWS, "emit"],
            &format!("parameters = {{ event = \"{event}\" }}"),
        )
    };
    let paths: Vec<String> = (0..PATHS)
        .map(|i| format!("{{ type = \"webhook\", url = \"{silent}/hook/{i}\" }}"))
        .collect();
    let toml = format!(
        "{}\n{}\n[[automations]]\nname = \"stuck\"\ntrigger = {{ type = \"event\", name = \"first\" }}\nactions = [ {} ]\n\n[[automations]]\nname = \"quick\"\ntrigger = {{ type = \"event\", name = \"second\" }}\nactions = [ {{ type = \"webhook\", url = \"{}/hook\" }} ]\n",
        emit("first"),
        emit("second"),
        paths.join(", "),
        healthy.url()
    );
    let _dir = server.deploy("pool", &toml);
    let _worker = server.start_worker("pool", &[]);

    // One firing, one delivery per path: attempts reach the hung server.
    let first = server.run_deployment("events/first", &[]);
    server.wait_for_state(&first, &["COMPLETED"], WAIT);
    let deadline = Instant::now() + WAIT;
    while accepted.load(Ordering::SeqCst) < PER_RECEIVER {
        assert!(
            Instant::now() < deadline,
            "the hung server was never called"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }

    // The other receiver's delivery goes through while every attempt to the
    // hung server is still in flight (each waits for its 10 s timeout) or
    // waiting its turn.
    let second = server.run_deployment("events/second", &[]);
    server.wait_for_state(&second, &["COMPLETED"], WAIT);
    healthy.wait_for(1, WAIT);
    let connections = accepted.load(Ordering::SeqCst);
    let stuck = inspect(&server, "stuck");
    assert!(
        history(&server, "stuck").is_empty(),
        "the other delivery waited for the hung server's attempts to end: {stuck:#}"
    );
    assert_eq!(stuck["pending"], PATHS as i64, "{stuck:#}");
    assert_eq!(inspect(&server, "quick")["delivered"], 1);
    // One server is one receiver, whatever the path: it held no more than
    // its share of attempts.
    assert!(
        connections <= PER_RECEIVER,
        "{connections} attempts in flight to one server"
    );
}
