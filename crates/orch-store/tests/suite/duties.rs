//! Duty leases: one replica at a time holds a duty, renews it, and another
//! takes it over only once the holder's lease has lapsed or it let go; and
//! the live replicas, which count while they renew.

use chrono::TimeZone;
use orch_store::ManualClock;

use crate::common::store;

const TTL: i64 = 10_000_000;

#[tokio::test]
async fn one_replica_holds_a_duty_until_its_lease_lapses_then_another_takes_it() {
    let test = store().await;
    let clock = ManualClock::new(chrono::Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
    let store = test.store().clone().with_clock(clock.clock());
    let start = store.now();

    let first = store
        .replicas()
        .hold_duty("sweep", "a", "host-a", TTL)
        .await
        .unwrap();
    assert_eq!((first.holder.as_str(), first.acquired_at), ("a", start));
    assert_eq!(first.expires_at, start + TTL);
    // B asks while A's lease runs: A keeps it, untouched.
    clock.advance(std::time::Duration::from_secs(4));
    let asked = store
        .replicas()
        .hold_duty("sweep", "b", "host-b", TTL)
        .await
        .unwrap();
    assert_eq!(asked, first);
    // A renews: same acquisition, later expiry.
    let renewed = store
        .replicas()
        .hold_duty("sweep", "a", "host-a", TTL)
        .await
        .unwrap();
    assert_eq!(renewed.holder, "a");
    assert_eq!(renewed.acquired_at, start);
    assert_eq!(renewed.expires_at, start + 4_000_000 + TTL);
    // Another duty is independent of this one.
    let other = store
        .replicas()
        .hold_duty("prune", "b", "host-b", TTL)
        .await
        .unwrap();
    assert_eq!(other.holder, "b");

    // A stops renewing; once its lease has lapsed, B takes the duty over.
    clock.advance(std::time::Duration::from_secs(9));
    let still = store
        .replicas()
        .hold_duty("sweep", "b", "host-b", TTL)
        .await
        .unwrap();
    assert_eq!(
        still.holder, "a",
        "the lease runs 10 s from the last renewal"
    );
    clock.advance(std::time::Duration::from_secs(1));
    let taken = store
        .replicas()
        .hold_duty("sweep", "b", "host-b", TTL)
        .await
        .unwrap();
    assert_eq!(taken.holder, "b");
    assert_eq!(taken.holder_name, "host-b");
    assert_eq!(taken.acquired_at, store.now());
    // A comes back: it does not get the duty back while B renews.
    let back = store
        .replicas()
        .hold_duty("sweep", "a", "host-a", TTL)
        .await
        .unwrap();
    assert_eq!(back.holder, "b");

    let leases = store.replicas().duty_leases().await.unwrap();
    let holders: Vec<(&str, &str)> = leases
        .iter()
        .map(|l| (l.duty.as_str(), l.holder.as_str()))
        .collect();
    assert_eq!(holders, [("prune", "b"), ("sweep", "b")]);
}

#[tokio::test]
async fn a_released_duty_is_taken_at_once_and_racing_replicas_get_one_holder() {
    let test = store().await;
    let store = test.store().clone();
    store
        .replicas()
        .hold_duty("scheduler", "a", "host-a", TTL)
        .await
        .unwrap();
    store
        .replicas()
        .hold_duty("backup", "a", "host-a", TTL)
        .await
        .unwrap();
    assert_eq!(store.replicas().release_duties("a").await.unwrap(), 2);
    assert_eq!(store.replicas().release_duties("a").await.unwrap(), 0);
    let taken = store
        .replicas()
        .hold_duty("scheduler", "b", "host-b", TTL)
        .await
        .unwrap();
    assert_eq!(taken.holder, "b", "no waiting for a released lease");

    // Eight replicas race for a free duty: exactly one holds it, and every
    // one of them is told the same holder.
    let mut racing = tokio::task::JoinSet::new();
    for i in 0..8 {
        let store = store.clone();
        racing.spawn(async move {
            store
                .replicas()
                .hold_duty("automations", &format!("r{i}"), "host", TTL)
                .await
                .unwrap()
                .holder
        });
    }
    let answers = racing.join_all().await;
    let winner = &answers[0];
    assert!(answers.iter().all(|h| h == winner), "{answers:?}");
    let leases = store.replicas().duty_leases().await.unwrap();
    let automations = leases.iter().find(|l| l.duty == "automations").unwrap();
    assert_eq!(&automations.holder, winner);
}

#[tokio::test]
async fn replicas_count_while_they_renew_and_drop_out_when_they_lapse_or_leave() {
    let test = store().await;
    let clock = ManualClock::new(chrono::Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
    let store = test.store().clone().with_clock(clock.clock());
    let start = store.now();
    let ids = |live: &[orch_store::Replica]| live.iter().map(|r| r.id.clone()).collect::<Vec<_>>();

    let live = store
        .replicas()
        .renew_replica("a", "host-a", TTL)
        .await
        .unwrap();
    assert_eq!(ids(&live), ["a"]);
    assert_eq!(
        (live[0].started_at, live[0].expires_at),
        (start, start + TTL)
    );
    clock.advance(std::time::Duration::from_secs(1));
    let live = store
        .replicas()
        .renew_replica("b", "host-b", TTL)
        .await
        .unwrap();
    assert_eq!(ids(&live), ["a", "b"], "oldest first");
    // A renews: same start, later expiry.
    clock.advance(std::time::Duration::from_secs(4));
    let live = store
        .replicas()
        .renew_replica("a", "host-a", TTL)
        .await
        .unwrap();
    assert_eq!(live[0].started_at, start);
    assert_eq!(live[0].expires_at, start + 5_000_000 + TTL);

    // B dies (stops renewing): it counts until its row lapses, 10 s after
    // its last renewal, then A's next renewal forgets it.
    clock.advance(std::time::Duration::from_secs(5));
    assert_eq!(
        ids(&store.replicas().live_replicas().await.unwrap()),
        ["a", "b"]
    );
    clock.advance(std::time::Duration::from_secs(1));
    assert_eq!(ids(&store.replicas().live_replicas().await.unwrap()), ["a"]);
    let live = store
        .replicas()
        .renew_replica("a", "host-a", TTL)
        .await
        .unwrap();
    assert_eq!(ids(&live), ["a"]);

    // C starts and shuts down cleanly: it stops counting at once.
    store
        .replicas()
        .renew_replica("c", "host-c", TTL)
        .await
        .unwrap();
    assert_eq!(
        ids(&store.replicas().live_replicas().await.unwrap()),
        ["a", "c"]
    );
    store.replicas().remove_replica("c").await.unwrap();
    assert_eq!(ids(&store.replicas().live_replicas().await.unwrap()), ["a"]);
}
