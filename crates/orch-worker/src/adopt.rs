//! Reconciling at start: what a previous worker of this host and pool left
//! running (a container keeps running when its worker dies) is adopted when
//! the server still has the run in flight on that worker, and stopped when
//! it does not (the run ended, or its lease expired and it was retried
//! elsewhere): a run is never executed twice, and never left unreported.
//!
//! An adopted run is reported as its original worker, whose id the server
//! holds as the run's owner: this worker heartbeats for it (keeping the
//! run's lease and receiving its cancellation) until the run ends.

use std::sync::Arc;
use std::time::Duration;

use orch_proto::v1::{GetFlowRunRequest, HeartbeatRequest, StateType};
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;

use orch_client::{Api, attempt, describe};

use crate::outcome::StopReason;
use crate::pool::Leftover;
use crate::registry::Registry;
use crate::supervisor::{self, Context};

/// What the server says of a leftover execution's run.
enum Verdict {
    /// In flight on the worker that started it: watch it to the end.
    Adopt {
        /// Running (else Pending: Running is still to be reported).
        running: bool,
        /// Being cancelled.
        cancelling: bool,
    },
    /// Ended, or taken over by another worker: stop it.
    Stop(String),
}

/// Asks the pool for leftovers and adopts or stops each, adding adopted
/// runs to `registry` and their supervisors to `supervisors`.
pub(crate) async fn reconcile(
    context: &Arc<Context>,
    registry: &Registry,
    supervisors: &mut JoinSet<()>,
    heartbeat: Duration,
) {
    for leftover in context.pool.reconcile().await {
        let Leftover {
            flow_run_id,
            worker_id,
            mut started,
        } = leftover;
        match verdict(&context.api, &flow_run_id, &worker_id).await {
            Verdict::Stop(why) => {
                tracing::warn!(
                    "stopping run {flow_run_id}'s {} left by a previous worker: {why}",
                    started.description
                );
                let _ = started.execution.stop(context.kill_grace).await;
                started.execution.release(true).await;
            }
            Verdict::Adopt {
                running,
                cancelling,
            } => {
                let Some((slot, stop)) = registry.insert_adopted(&flow_run_id) else {
                    continue;
                };
                tracing::warn!(
                    "adopted run {flow_run_id} ({}) left running by a previous worker",
                    started.description
                );
                if cancelling {
                    registry.stop(&flow_run_id, StopReason::Cancelled);
                }
                let mut adopted = (**context).clone();
                adopted.worker_id = worker_id;
                let registry = registry.clone();
                supervisors.spawn(async move {
                    let beat = tokio::spawn(heartbeat_for(
                        adopted.api.clone(),
                        adopted.worker_id.clone(),
                        flow_run_id.clone(),
                        registry,
                        heartbeat,
                    ));
                    let id = slot.flow_run_id();
                    supervisor::supervise_started(&adopted, id, started, Vec::new(), stop, running)
                        .await;
                    beat.abort();
                });
            }
        }
    }
}

/// Whether the run of a leftover execution started by `worker_id` may run on.
async fn verdict(api: &Api, flow_run_id: &str, worker_id: &str) -> Verdict {
    let request = GetFlowRunRequest {
        flow_run: flow_run_id.to_owned(),
    };
    let detail = match attempt(api.flow_runs().get_flow_run(request)).await {
        Ok(detail) => detail,
        Err(status) => {
            return Verdict::Stop(format!(
                "the server cannot say whether it may run on ({})",
                describe(&status)
            ));
        }
    };
    let run = detail.run.unwrap_or_default();
    let state = run.state.as_ref().map(|state| state.r#type());
    if run.worker_id != worker_id {
        return Verdict::Stop(format!(
            "the run belongs to another worker now ({})",
            run.worker_name
        ));
    }
    match state {
        Some(StateType::Running) => Verdict::Adopt {
            running: true,
            cancelling: false,
        },
        Some(StateType::Pending) => Verdict::Adopt {
            running: false,
            cancelling: false,
        },
        Some(StateType::Cancelling) => Verdict::Adopt {
            running: true,
            cancelling: true,
        },
        other => Verdict::Stop(format!("the run is no longer in flight ({other:?})")),
    }
}

/// Heartbeats as the adopted run's original worker until aborted: keeps the
/// run's lease, and stops the run when the answer says it is cancelled.
async fn heartbeat_for(
    api: Api,
    worker_id: String,
    flow_run_id: String,
    registry: Registry,
    every: Duration,
) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let request = HeartbeatRequest {
            worker_id: worker_id.clone(),
            running_flow_run_ids: vec![flow_run_id.clone()],
        };
        match attempt(api.workers().heartbeat(request)).await {
            Ok(response) => {
                if response.cancel_flow_run_ids.contains(&flow_run_id)
                    && registry.stop(&flow_run_id, StopReason::Cancelled)
                {
                    tracing::info!("adopted run {flow_run_id} cancelled (heartbeat)");
                }
                crate::events::stop_lost(&registry, &response.lost_flow_run_ids);
            }
            Err(status) => tracing::debug!(
                "heartbeat for adopted run {flow_run_id} failed: {}",
                describe(&status)
            ),
        }
    }
}
