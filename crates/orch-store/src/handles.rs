//! The store, split by resource: one small handle per table (or per few
//! tables that only make sense together), each with only its own methods.
//!
//! `store.flow_runs().flow_run(id)`, `store.tokens().check_credential(..)`:
//! a handle borrows the [`Store`] (it is two words, made for each call) and
//! reaches the connections, the clock and the group-commit writers through
//! it. The methods of a resource live in that resource's file
//! (`flow_runs.rs`: `impl FlowRuns<'_>`); the handles themselves are
//! declared here, once.
//!
//! Where one use case writes several resources in ONE transaction, the
//! resources' writing functions take the caller's transaction (`tx: &mut
//! WriteTx` or `&mut AnyConnection`) instead of opening their own, the way a
//! job queue's `enqueue(executor, ..)` joins its caller's transaction; no
//! method writes another resource's tables itself:
//! - a run's creation and its call's audit record: `run_creation` inserts
//!   the runs, then `audit::insert_records(tx, ..)` in the same transaction;
//! - a state change and its history row: `state_change::change_state(tx, ..)`
//!   is called inside the transaction of whichever write causes the change
//!   (claims, cancels, reports, leases, late runs);
//! - deleting runs with their subflows: `retention::with_subflow_runs(tx, ..)`,
//!   `delete_runs(tx, ..)` and `log_partitions::queue_cleanup(tx, ..)`;
//! - applying a deployment file: the deployment, then
//!   `schedules::replace_schedules(tx, ..)`,
//!   `secrets::set_deployment_environment(tx, ..)`,
//!   `retention::set_deployment_retention(tx, ..)` and
//!   `container::set_deployment_container(tx, ..)`;
//! - claiming a run and making its credential:
//!   `tokens::insert_run_credential(tx, ..)`.

use std::ops::Deref;

use crate::Store;

macro_rules! handles {
    ($( $(#[$doc:meta])* $accessor:ident -> $handle:ident; )*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $handle<'a> {
            store: &'a Store,
        }

        impl Deref for $handle<'_> {
            type Target = Store;

            fn deref(&self) -> &Store {
                self.store
            }
        }

        impl Store {
            $(#[$doc])*
            pub fn $accessor(&self) -> $handle<'_> {
                $handle { store: self }
            }
        }
    )*};
}

handles! {
    /// Flow runs: creating, finding, listing and paging them, their state
    /// history, setting and cancelling their state, subflow runs.
    flow_runs -> FlowRuns;
    /// Task runs reported by flows.
    task_runs -> TaskRuns;
    /// Workers claiming a pool's due runs.
    claims -> Claims;
    /// Workers: registration, heartbeats, leases on the runs they hold.
    workers -> Workers;
    /// Work pools.
    work_pools -> WorkPools;
    /// Deployments and the flows they name.
    deployments -> Deployments;
    /// Schedules of deployments and the runs they make.
    schedules -> Schedules;
    /// API keys, per-run credentials, sessions and login codes.
    tokens -> Tokens;
    /// The audit trail.
    audit -> Audit;
    /// Artifacts published by runs.
    artifacts -> Artifacts;
    /// Automations, their firings and the conditions they watch.
    automations -> Automations;
    /// The outbox of run events that automations read.
    outbox -> Outbox;
    /// Deliveries of automations' actions (webhooks), with retries.
    deliveries -> Deliveries;
    /// Log lines of runs.
    logs -> Logs;
    /// Encrypted secrets and the environment they give deployments.
    secrets -> Secrets;
    /// Concurrency limits and their slots.
    concurrency -> Concurrency;
    /// Counts for the dashboard and metrics.
    stats -> Stats;
    /// Server replicas sharing the database and the duties they hold.
    replicas -> Replicas;
    /// Retention, log partitions, backups and the schema version.
    maintenance -> Maintenance;
}
