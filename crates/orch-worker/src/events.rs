//! What the server tells the worker: pushed events (`Subscribe`), the
//! cancellations carried by heartbeat answers (the fallback for a missed
//! push), and the runs the worker no longer holds (their lease expired while
//! it could not reach the server).

use std::sync::Arc;
use std::time::Duration;

use backon::BackoffBuilder;
use orch_proto::v1::worker_event::Event;
use orch_proto::v1::{CancelRun, HeartbeatRequest, SubscribeRequest, WorkerEvent};
use tokio::sync::Notify;
use tokio::time::{Instant, MissedTickBehavior};

use crate::outcome::StopReason;
use crate::registry::Registry;
use orch_client::{Api, attempt, backoff, describe};

/// A stream that stayed up this long resets the reconnect backoff.
const STABLE_STREAM: Duration = Duration::from_secs(5);
/// Wait between reconnects once the backoff is spent.
const RECONNECT_DELAY: Duration = Duration::from_secs(2);

/// Follows the worker's event stream forever, reconnecting with backoff.
///
/// `claim` is notified on every `Wake` and on every (re)connect, since a
/// wake-up may have been missed while disconnected. `poll_interval` is how
/// often the worker claims anyway, which it relies on while disconnected.
pub(crate) async fn subscribe(
    api: Api,
    worker_id: String,
    registry: Registry,
    claim: Arc<Notify>,
    poll_interval: Duration,
) {
    let mut delays = backoff().build();
    let mut connected_before = false;
    let mut outage_logged = false;
    loop {
        let request = SubscribeRequest {
            worker_id: worker_id.clone(),
        };
        let why = match attempt(api.workers().subscribe(request)).await {
            Ok(mut stream) => {
                if connected_before {
                    tracing::info!("reconnected to the orch server's event stream");
                }
                connected_before = true;
                outage_logged = false;
                claim.notify_one();
                let connected_at = Instant::now();
                let why = loop {
                    match stream.message().await {
                        Ok(Some(event)) => handle(event, &registry, &claim),
                        Ok(None) => break "the server closed it".to_owned(),
                        Err(status) => break describe(&status),
                    }
                };
                // A stream that breaks right after connecting keeps backing off.
                if connected_at.elapsed() >= STABLE_STREAM {
                    delays = backoff().build();
                }
                why
            }
            Err(status) => describe(&status),
        };
        let delay = delays.next().unwrap_or(RECONNECT_DELAY);
        if outage_logged {
            tracing::debug!("event stream still unavailable: {why}");
        } else {
            tracing::warn!(
                "lost the orch server's event stream ({why}); reconnecting, claiming every {poll_interval:?} meanwhile"
            );
            outage_logged = true;
        }
        tokio::time::sleep(delay).await;
    }
}

/// Acts on one pushed event.
fn handle(event: WorkerEvent, registry: &Registry, claim: &Notify) {
    match event.event {
        Some(Event::Wake(_)) => claim.notify_one(),
        Some(Event::Cancel(CancelRun { flow_run_id }))
            if registry.stop(&flow_run_id, StopReason::Cancelled) =>
        {
            tracing::info!("run {flow_run_id} cancelled by the server");
        }
        Some(Event::Cancel(_)) | None => {}
    }
}

/// Heartbeats every `every` forever, applying the cancellations in answers.
/// A failed heartbeat is only logged: the next one will be on time.
pub(crate) async fn heartbeat(api: Api, worker_id: String, registry: Registry, every: Duration) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // The first tick is immediate, and registering just counted as one.
    ticker.tick().await;
    let mut failing = false;
    loop {
        ticker.tick().await;
        let request = HeartbeatRequest {
            worker_id: worker_id.clone(),
            running_flow_run_ids: registry.own_ids(),
        };
        match attempt(api.workers().heartbeat(request)).await {
            Ok(response) => {
                if std::mem::take(&mut failing) {
                    tracing::info!("heartbeats go through again");
                }
                for flow_run_id in response.cancel_flow_run_ids {
                    if registry.stop(&flow_run_id, StopReason::Cancelled) {
                        tracing::info!("run {flow_run_id} cancelled (heartbeat)");
                    }
                }
                stop_lost(&registry, &response.lost_flow_run_ids);
            }
            Err(status) if failing => {
                tracing::debug!("heartbeat failed again: {}", describe(&status))
            }
            Err(status) => {
                failing = true;
                tracing::warn!(
                    "heartbeat failed: {}; trying again every {}s",
                    describe(&status),
                    every.as_secs_f64()
                );
            }
        }
    }
}

/// Stops the runs the server says this worker no longer holds (their lease
/// expired while its heartbeats could not reach the server): the server has
/// Crashed them and may run them elsewhere, so this copy must not run on,
/// and nothing is reported for it.
pub(crate) fn stop_lost(registry: &Registry, lost: &[String]) {
    for flow_run_id in lost {
        if registry.stop(flow_run_id, StopReason::Lost) {
            tracing::warn!(
                "run {flow_run_id} is no longer this worker's: its lease expired while the \
                 server could not be reached (the server Crashed it, and may retry it \
                 elsewhere); stopping this copy without reporting it"
            );
        }
    }
}
