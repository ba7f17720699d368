//! Two server replicas on one PostgreSQL database, one killed with SIGKILL
//! in the middle of delivering: every firing is delivered, each with its
//! own idempotency key, and the receiver can count repeats.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use orch_e2e::receivers::HttpReceiver;
use orch_e2e::{TestServer, deployment_toml, flow_program, http_post};

use super::wait_for_automation;

const FIRINGS: usize = 200;

#[test]
fn two_replicas_with_one_killed_mid_delivery_deliver_every_firing_once() {
    let database = orch_testkit::TestDatabase::postgres();
    // Each request takes 300 ms: the kill lands while deliveries are in flight.
    let receiver = HttpReceiver::slow(Duration::from_millis(300));
    let mut first = TestServer::start_on(database.url(), &[]);
    let second = TestServer::start_on(database.url(), &[]);
    let toml = format!(
        "{}\n[[automations]]\nname = \"events\"\ntrigger = {{ type = \"event\", name = \"tick\" }}\n\
         actions = [ {{ type = \"webhook\", url = \"{}/hook\" }} ]\n",
        deployment_toml("f", "d", "pool", &[&flow_program("echo.sh")], ""),
        receiver.url()
    );
    let _dir = first.deploy("pool", &toml);
    // A run that never starts (no worker) carries the events.
    let run = first.run_deployment("f/d", &[]);
    let keys = [first.admin_key(), second.admin_key()];
    for i in 0..FIRINGS {
        let target = if i % 2 == 0 {
            first.url()
        } else {
            second.url()
        };
        let (status, body) = http_post(
            target,
            &format!("/api/flow-runs/{run}/emit"),
            &format!("{{\"name\": \"tick\", \"payload\": {{\"i\": {i}}}}}"),
            Some(&keys[i % 2]),
        );
        assert_eq!(status, 200, "{body}");
    }
    receiver.wait_for(20, Duration::from_secs(60));
    first.signal("KILL");
    first.stop();

    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let requests = receiver.requests();
        let distinct: BTreeMap<&str, usize> =
            requests.iter().fold(BTreeMap::new(), |mut keys, r| {
                *keys
                    .entry(r.header("idempotency-key").unwrap_or(""))
                    .or_default() += 1;
                keys
            });
        if distinct.len() >= FIRINGS {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {FIRINGS} firings arrived",
            distinct.len()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(2));
    let requests = receiver.requests();
    let mut per_key: BTreeMap<String, usize> = BTreeMap::new();
    let mut per_event: BTreeMap<i64, usize> = BTreeMap::new();
    for request in &requests {
        *per_key
            .entry(request.header("idempotency-key").unwrap_or("").to_owned())
            .or_default() += 1;
        let i = request.json()["event"]["payload"]["i"]
            .as_i64()
            .expect("the event's payload");
        *per_event.entry(i).or_default() += 1;
    }
    let repeated = requests.len() - per_key.len();
    println!(
        "replicas: {} firings, {} distinct idempotency keys, {} requests ({repeated} repeated after the kill)",
        FIRINGS,
        per_key.len(),
        requests.len()
    );
    assert_eq!(
        per_key.len(),
        FIRINGS,
        "each firing has one key, and every one arrived"
    );
    assert_eq!(per_event.len(), FIRINGS, "every event fired");
    // A repeat is only ever a delivery whose success the killed server had
    // not recorded: at most one per delivery it held.
    assert!(per_key.values().all(|&n| n <= 2), "{per_key:?}");
    let automation = wait_for_automation(&second, "events", |a| a["delivered"] == FIRINGS as i64);
    assert_eq!(
        automation["firings"], FIRINGS as i64,
        "one firing per event, whichever replica read it"
    );
}
