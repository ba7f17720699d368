//! Tag concurrency limits: a tagged task takes a slot of each limited tag
//! before it runs, waiting visibly (AwaitingConcurrencySlot) without using
//! up its retries, and gives the slots back when it ends.

use std::time::Duration;

use orch_client::{Api, Transport};
use orch_proto::v1 as pb;
use orch_proto::v1::concurrency_limit_service_client::ConcurrencyLimitServiceClient;
use tokio_util::sync::CancellationToken;

/// How long slots last without renewal; renewed every third of it.
const LEASE_SECONDS: u32 = orch_core::defaults::SLOT_LEASE.as_secs() as u32;

/// How long the server may hold a waiting acquire: well within the request
/// timeout, so a long wait is never cut short as a failed call.
fn wait_seconds(api: &Api) -> u32 {
    u32::try_from(api.request_timeout().as_secs() / 2).unwrap_or(u32::MAX)
}

/// Slots held by one task run; renewed in the background until released.
pub struct SlotLease {
    client: ConcurrencyLimitServiceClient<Transport>,
    holder_id: String,
    renewal: tokio::task::JoinHandle<()>,
}

/// What happened while waiting for slots.
pub enum Acquired {
    /// The slots are held.
    Held(Box<SlotLease>),
    /// The run was cancelled while waiting.
    Cancelled,
}

/// Takes a slot of every limited tag in `tags` for `holder_id`, waiting as long
/// as it takes. `on_wait` is called once, with the full tags, if it has to wait.
pub async fn acquire(
    api: &Api,
    tags: &[String],
    holder_id: &str,
    flow_run_id: &str,
    cancel: &CancellationToken,
    mut on_wait: impl FnMut(&[String]),
) -> Acquired {
    let mut client = api.concurrency_limits();
    let mut request = pb::AcquireConcurrencySlotsRequest {
        tags: tags.to_vec(),
        holder_id: holder_id.to_string(),
        flow_run_id: flow_run_id.to_string(),
        lease_seconds: LEASE_SECONDS,
        wait_seconds: wait_seconds(api),
        // The first try answers at once, so a wait is reported as it begins.
        no_wait: true,
    };
    let mut waited = false;
    loop {
        let attempt = tokio::select! {
            reply = client.acquire_concurrency_slots(request.clone()) => reply,
            _ = cancel.cancelled() => return Acquired::Cancelled,
        };
        match attempt {
            Ok(reply) if reply.get_ref().granted => break,
            Ok(reply) => {
                if !waited {
                    waited = true;
                    on_wait(&reply.get_ref().full_tags);
                }
                request.no_wait = false;
            }
            Err(status) => {
                tracing::warn!(
                    "cannot take concurrency slots yet ({}); retrying",
                    status.message()
                );
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = cancel.cancelled() => return Acquired::Cancelled,
                }
            }
        }
    }
    request.no_wait = true;
    let renewal = tokio::spawn(renew(client.clone(), request));
    Acquired::Held(Box::new(SlotLease {
        client,
        holder_id: holder_id.to_string(),
        renewal,
    }))
}

async fn renew(
    mut client: ConcurrencyLimitServiceClient<Transport>,
    request: pb::AcquireConcurrencySlotsRequest,
) {
    let every = Duration::from_secs(u64::from(LEASE_SECONDS) / 3);
    loop {
        tokio::time::sleep(every).await;
        let _ = client.acquire_concurrency_slots(request.clone()).await;
    }
}

impl SlotLease {
    /// Gives the slots back (the server also frees them when the lease or the run ends).
    pub async fn release(mut self) {
        self.renewal.abort();
        let request = pb::ReleaseConcurrencySlotsRequest {
            holder_id: self.holder_id.clone(),
        };
        if let Err(status) = self.client.release_concurrency_slots(request).await {
            tracing::warn!(
                "cannot release concurrency slots ({}); the server frees them when their lease ends",
                status.message()
            );
        }
    }
}
