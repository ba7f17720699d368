//! Reported states (`SetFlowRunState`) through group commit
//! (`crate::group_commit`): the Running and final reports of many runs made
//! at the same moment (a worker draining a backlog) are written in one
//! transaction instead of one each. Each report is still applied alone, in
//! order, through the one state path ([`crate::transitions::set_state_in`],
//! then [`crate::state_change::change_state`]): checked, written with its
//! history row, its transition handed back for its effects. A rejected
//! report writes nothing and does not disturb its neighbours; a report that
//! fails fails the batch, whose reports are then written one by one, so it
//! fails alone.

use orch_core::auth::Principal;

use crate::Backend;
use crate::error::Result;
use crate::group_commit::{Batch, GroupCommit};
use crate::state_change::Changed;
use crate::transitions::{Proposal, TransitionResult, set_state_in};
use crate::write::WriteTx;

/// Most reports written by one transaction: a batch holds the writer (on
/// SQLite, the database) while it is written.
const MAX_BATCH: usize = 64;

/// One report to apply.
#[derive(Debug)]
pub(crate) struct Report {
    /// The run.
    pub run_id: String,
    /// What its reporter proposes.
    pub proposal: Proposal,
    /// Who reports, when the run is checked against them as it is read
    /// (`None`: the caller checked already).
    pub reporter: Option<Principal>,
    /// When it was received (the store's clock).
    pub now: i64,
}

/// Reported states, as a [`Batch`].
#[derive(Debug)]
pub(crate) struct StateReports {
    pub backend: Backend,
}

/// Handle on the task that writes reported states; cheap to clone.
pub(crate) type StateReporter = GroupCommit<StateReports>;

impl Batch for StateReports {
    type Item = Report;
    type Outcome = Changed<TransitionResult>;
    const MAX_BATCH: usize = MAX_BATCH;
    const NAME: &'static str = "state reports";

    async fn write(&self, tx: &mut WriteTx, reports: &[Report]) -> Result<Vec<Self::Outcome>> {
        let mut outcomes = Vec::with_capacity(reports.len());
        for report in reports {
            outcomes.push(
                set_state_in(
                    tx,
                    self.backend,
                    &report.run_id,
                    &report.proposal,
                    report.reporter.as_ref(),
                    report.now,
                )
                .await?,
            );
        }
        Ok(outcomes)
    }
}

#[cfg(test)]
mod tests {
    use orch_core::StateType;

    use super::*;
    use crate::NewState;
    use crate::group_commit::write_together;

    fn report(run_id: &str, kind: StateType, now: i64) -> Report {
        Report {
            run_id: run_id.to_owned(),
            proposal: Proposal {
                state: NewState::new(kind, "", ""),
                transition_id: String::new(),
                worker_id: None,
            },
            reporter: None,
            now,
        }
    }

    /// A store with a deployment and three Scheduled runs of it (their ids).
    async fn store_with_three_runs() -> (crate::Store, Vec<String>, tempfile::TempDir) {
        let (store, _, dir) = crate::test_support::store_with_deployment().await;
        let mut runs = Vec::new();
        for _ in 0..3 {
            let run = store
                .flow_runs()
                .create_flow_run("etl/nightly", &Default::default(), None, "")
                .await
                .unwrap()
                .value;
            runs.push(run.id);
        }
        (store, runs, dir)
    }

    #[tokio::test]
    async fn a_reporter_is_checked_against_the_run_it_reports_on_and_a_refusal_fails_alone() {
        use orch_core::auth::Scope;

        let (store, runs, _dir) = store_with_three_runs().await;
        let worker_of = |pool: &str| Principal::Token {
            scope: Scope::Worker,
            pools: vec![pool.to_owned()],
        };
        let as_reporter = |run: &str, reporter: Principal| Report {
            reporter: Some(reporter),
            ..report(run, StateType::Pending, store.now())
        };
        let outcomes = write_together(
            &store.writer,
            StateReports {
                backend: store.backend,
            },
            vec![
                as_reporter(&runs[0], worker_of("default")),
                // A worker token of another pool, then another run's credential.
                as_reporter(&runs[1], worker_of("gpu")),
                as_reporter(
                    &runs[2],
                    Principal::Run {
                        run_id: runs[0].clone(),
                    },
                ),
            ],
        )
        .await;

        assert!(matches!(
            outcomes[0].as_ref().unwrap().value,
            TransitionResult::Accepted(_)
        ));
        for (outcome, said) in outcomes[1..]
            .iter()
            .zip(["not \"default\"", "may not act on run"])
        {
            match outcome {
                Err(crate::StoreError::Forbidden(message)) => {
                    assert!(message.contains(said), "{message}")
                }
                other => panic!("a refused report: {other:?}"),
            }
        }
        let mut kinds = Vec::new();
        for run in &runs {
            kinds.push(store.flow_runs().flow_run(run).await.unwrap().state.kind);
        }
        // Only the allowed report was written.
        assert_eq!(
            kinds,
            [
                StateType::Pending,
                StateType::Scheduled,
                StateType::Scheduled
            ]
        );
    }

    #[tokio::test]
    async fn a_batch_applies_each_report_and_a_bad_one_fails_alone() {
        let (store, runs, _dir) = store_with_three_runs().await;
        let now = store.now();
        let batch = StateReports {
            backend: store.backend,
        };
        let outcomes = write_together(
            &store.writer,
            batch,
            vec![
                report(&runs[0], StateType::Pending, now),
                // Rejected by the state machine: nothing written, no error.
                report(&runs[1], StateType::Completed, now),
                report(&runs[2], StateType::Pending, now),
                // An unknown run fails the batch; the others are written alone.
                report("no-such-run", StateType::Pending, now),
                // The same run twice in a batch: applied in order.
                report(&runs[0], StateType::Running, now),
            ],
        )
        .await;
        assert!(matches!(
            outcomes[0].as_ref().unwrap().value,
            TransitionResult::Accepted(_)
        ));
        assert!(matches!(
            outcomes[1].as_ref().unwrap().value,
            TransitionResult::Rejected { .. }
        ));
        assert!(matches!(
            outcomes[2].as_ref().unwrap().value,
            TransitionResult::Accepted(_)
        ));
        assert!(outcomes[3].is_err(), "{:?}", outcomes[3]);
        assert_eq!(outcomes[4].as_ref().unwrap().transitions.len(), 1);
        assert_eq!(
            store
                .flow_runs()
                .flow_run(&runs[0])
                .await
                .unwrap()
                .state
                .kind,
            StateType::Running
        );
        assert_eq!(
            store
                .flow_runs()
                .flow_run(&runs[1])
                .await
                .unwrap()
                .state
                .kind,
            StateType::Scheduled
        );
        assert_eq!(
            store
                .flow_runs()
                .flow_run(&runs[2])
                .await
                .unwrap()
                .state
                .kind,
            StateType::Pending
        );
        assert_eq!(
            store
                .flow_runs()
                .flow_run_history(&runs[0])
                .await
                .unwrap()
                .len(),
            3
        );
    }
}
