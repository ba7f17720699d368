//! Relays [`Event`]s between servers that share one PostgreSQL database.
//!
//! Each server sends its events on the `orch_events` channel with `NOTIFY` and
//! `LISTEN`s for everyone else's. So a worker connected to one replica is woken
//! when a run is created through another, a watcher sees a run end wherever its
//! worker reports, and a cancel reaches the worker's replica at once.
//! Notifications speed things up; they are not the record. Every waiter also
//! polls (workers claim every 2 s, watchers re-read every second, cancels ride
//! on heartbeat answers), so a lost notification costs latency, never a run.

use std::collections::HashSet;
use std::time::Duration;

use orch_store::Listener;
use tokio::sync::mpsc;

use crate::events::Event;
use crate::state::AppState;

/// The PostgreSQL channel every server sends on and listens to.
const CHANNEL: &str = "orch_events";
/// PostgreSQL refuses payloads of 8,000 bytes or more.
const MAX_PAYLOAD_BYTES: usize = 7_000;
/// Most events taken from the queue per round of notifications.
const MAX_BATCH: usize = 1024;
/// Wait before listening again after the listening connection failed.
const RELISTEN_DELAY: Duration = Duration::from_secs(1);

/// What goes in one notification: who sent it and what happened there.
#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Envelope {
    origin: String,
    events: Vec<Event>,
}

/// Starts relaying `state`'s events. Returns once this server listens (or
/// has failed to and keeps trying in the background), so that nothing the
/// others send after the server starts serving is missed. The tasks end when
/// the server shuts down.
pub(crate) async fn start(state: &AppState) {
    let Some(outgoing) = state.events().start_relay() else {
        return;
    };
    let origin = uuid::Uuid::new_v4().to_string();
    let listener = match state.store().listen(CHANNEL).await {
        Ok(listener) => Some(listener),
        Err(error) => {
            tracing::warn!(%error, "cannot listen for other servers' events yet; retrying");
            None
        }
    };
    tokio::spawn(send(state.clone(), outgoing, origin.clone()));
    tokio::spawn(receive(state.clone(), origin, listener));
}

async fn send(state: AppState, mut outgoing: mpsc::UnboundedReceiver<Event>, origin: String) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        tokio::select! {
            _ = state.shutting_down() => return,
            taken = outgoing.recv_many(&mut batch, MAX_BATCH) => {
                if taken == 0 {
                    return;
                }
            }
        }
        let payloads = pack(&origin, distinct(batch.drain(..)));
        if let Err(error) = state.store().notify(CHANNEL, &payloads).await {
            tracing::warn!(%error, "cannot notify the other servers; they will find the changes by polling");
        }
    }
}

async fn receive(state: AppState, origin: String, mut first: Option<Listener>) {
    loop {
        let listener = match first.take() {
            Some(listener) => Some(listener),
            None => tokio::select! {
                _ = state.shutting_down() => return,
                listening = state.store().listen(CHANNEL) => listening
                    .inspect_err(|error| tracing::warn!(%error, "cannot listen for other servers' events; retrying"))
                    .ok(),
            },
        };
        let Some(mut listener) = listener else {
            tokio::select! {
                _ = state.shutting_down() => return,
                _ = tokio::time::sleep(RELISTEN_DELAY) => continue,
            }
        };
        loop {
            let received = tokio::select! {
                _ = state.shutting_down() => return,
                received = listener.recv() => received,
            };
            match received {
                Ok(Some(payload)) => deliver(&state, &origin, &payload),
                Ok(None) => tracing::info!("lost the listening connection; reconnecting"),
                Err(error) => {
                    tracing::warn!(%error, "listening for other servers' events failed");
                    break;
                }
            }
        }
    }
}

/// Publishes here the events another server sent; ignores this server's own.
fn deliver(state: &AppState, origin: &str, payload: &str) {
    match serde_json::from_str::<Envelope>(payload) {
        Ok(envelope) if envelope.origin == origin => {}
        Ok(envelope) => {
            for event in envelope.events {
                state.events().publish_here(event);
            }
        }
        Err(error) => tracing::debug!(%error, "ignoring a notification that is not an orch event"),
    }
}

/// The events in order of first appearance, each once: a burst of creations
/// wakes a pool once, not once per run.
fn distinct(events: impl Iterator<Item = Event>) -> Vec<Event> {
    let mut seen = HashSet::new();
    events.filter(|event| seen.insert(event.clone())).collect()
}

/// Packs `events` into as few payloads as fit PostgreSQL's limit.
fn pack(origin: &str, events: Vec<Event>) -> Vec<String> {
    let overhead = origin.len() + 32;
    let mut payloads = Vec::new();
    let mut chunk = Vec::new();
    let mut size = overhead;
    for event in events {
        let length = serde_json::to_string(&event).map_or(0, |text| text.len() + 1);
        if !chunk.is_empty() && size + length > MAX_PAYLOAD_BYTES {
            payloads.push(envelope(origin, std::mem::take(&mut chunk)));
            size = overhead;
        }
        size += length;
        chunk.push(event);
    }
    if !chunk.is_empty() {
        payloads.push(envelope(origin, chunk));
    }
    payloads
}

fn envelope(origin: &str, events: Vec<Event>) -> String {
    serde_json::to_string(&Envelope {
        origin: origin.to_string(),
        events,
    })
    .expect("events serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changed(n: usize) -> Event {
        Event::RunChanged {
            run_id: format!("{n:036}"),
        }
    }

    #[test]
    fn many_events_are_packed_under_the_payload_limit_and_none_is_lost() {
        let events: Vec<Event> = (0..1000).map(changed).collect();

        let payloads = pack("origin-1", events.clone());

        assert!(payloads.len() > 1);
        let mut unpacked = Vec::new();
        for payload in &payloads {
            assert!(payload.len() < MAX_PAYLOAD_BYTES, "{}", payload.len());
            let envelope: Envelope = serde_json::from_str(payload).unwrap();
            assert_eq!(envelope.origin, "origin-1");
            unpacked.extend(envelope.events);
        }
        assert_eq!(unpacked, events);
    }

    #[test]
    fn repeated_events_are_sent_once_in_order() {
        let ready = |pool: &str| Event::RunsReady {
            pool_id: pool.into(),
        };
        let events = vec![ready("a"), changed(1), ready("a"), ready("b"), changed(1)];

        assert_eq!(
            distinct(events.into_iter()),
            [ready("a"), changed(1), ready("b")]
        );
    }

    #[test]
    fn an_event_reads_back_as_sent() {
        let cancel = Event::CancelRun {
            worker_id: "w-1".into(),
            run_id: "r-1".into(),
        };
        let text = serde_json::to_string(&cancel).unwrap();
        assert_eq!(
            text,
            r#"{"kind":"cancel_run","worker_id":"w-1","run_id":"r-1"}"#
        );
        assert_eq!(serde_json::from_str::<Event>(&text).unwrap(), cancel);
    }
}
