//! Automations: when something happens to runs, workers or pools (a
//! trigger, narrowed by a filter), do something (actions: notify a person,
//! call a webhook, run or pause a deployment, cancel a run), at most once per
//! cooldown.
//!
//! Declared as `[[automations]]` in the deploy file (parsed in
//! [`crate::deploy_file`]); the rules here are pure: which run states a
//! trigger matches, whether a cooldown lets a firing through, how long a
//! failed delivery waits before its next attempt, and how `${NAME}`
//! placeholders are read.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::state::{StateType, names};

mod limits;
mod loops;
mod placeholders;
mod receivers;
mod validate;

pub use limits::de::cooldown_seconds as de_cooldown_seconds;
pub use limits::{
    MAX_AUTOMATION_SECONDS, check_float_seconds, check_seconds, cooldown_allows, seconds_to_micros,
};
pub use loops::{
    LOOP_SUPPRESSED_EVENT, LoopStop, MAX_AUTOMATION_CHAIN, RESERVED_EVENT_PREFIX,
    check_emitted_event_name, creates_runs, extend_chain, show_chain,
};
pub use placeholders::{
    ALWAYS_ALLOWED_ENV, check_placeholder_sources, env_allowed, is_placeholder_name,
    parse_placeholders, placeholders, resolve_placeholders,
};
pub use receivers::ORCH_RECEIVER;
pub use validate::{check_action_placeholders, check_trigger_durations, placeholder_names};

/// An automation, validated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutomationSpec {
    /// Unique name; letters, digits, `-`, `_` and `.`.
    pub name: String,
    /// What it is for; `""` when none is given.
    #[serde(default)]
    pub description: String,
    /// When it fires.
    pub trigger: Trigger,
    /// What it does when it fires, in order; never empty.
    pub actions: Vec<Action>,
    /// After a firing, further firings within this many seconds are
    /// suppressed (counted, not delivered); 0 = no cooldown. At most
    /// [`MAX_AUTOMATION_SECONDS`]: any other number is refused when read.
    #[serde(default, deserialize_with = "limits::de::cooldown_seconds")]
    pub cooldown_seconds: u64,
    /// Whether it starts paused (a paused automation does not fire).
    #[serde(default)]
    pub paused: bool,
}

/// The kinds of trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TriggerKind {
    /// A run entered one of `states`.
    RunState,
    /// A run is still Running `seconds` after it started.
    RunDuration,
    /// A scheduled run has not started `late_seconds` after its slot.
    Deadline,
    /// A deployment has had no Completed run for `window_seconds`.
    NoSuccess,
    /// A flow emitted the custom event `name`.
    Event,
    /// A worker stopped heartbeating.
    WorkerOffline,
    /// A pool has runs waiting and no worker online.
    PoolUnattended,
}

impl TriggerKind {
    /// The name written in the file, e.g. `run-state`.
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerKind::RunState => "run-state",
            TriggerKind::RunDuration => "run-duration",
            TriggerKind::Deadline => "deadline",
            TriggerKind::NoSuccess => "no-success",
            TriggerKind::Event => "event",
            TriggerKind::WorkerOffline => "worker-offline",
            TriggerKind::PoolUnattended => "pool-unattended",
        }
    }

    /// Whether the trigger describes a condition that holds for a while and
    /// is reported again ("resolved") when it clears.
    pub fn is_incident(self) -> bool {
        matches!(
            self,
            TriggerKind::Deadline
                | TriggerKind::NoSuccess
                | TriggerKind::WorkerOffline
                | TriggerKind::PoolUnattended
        )
    }
}

/// When an automation fires, and for which runs, deployments or pools.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    /// Which kind.
    #[serde(rename = "type")]
    pub kind: TriggerKind,
    /// `run-state`: state names or types (`Failed`, `Crashed`, `Late`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub states: Vec<String>,
    /// `run-state`: only once retries are spent (a failed attempt that will
    /// be retried does not match); `false` matches every failed attempt.
    #[serde(default, skip_serializing_if = "is_false")]
    pub after_retries: bool,
    /// `run-duration`: how long a run may run (1 s to 366 days, checked
    /// when read, as are the other durations).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "limits::de::seconds"
    )]
    pub seconds: Option<u64>,
    /// `deadline`: how long after its slot a run must have started.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "limits::de::late_seconds"
    )]
    pub late_seconds: Option<u64>,
    /// `no-success`: the period in which a run must have Completed.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "limits::de::window_seconds"
    )]
    pub window_seconds: Option<u64>,
    /// `event`: the event's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Only runs of these deployments (`flow/name`); empty = all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deployments: Vec<String>,
    /// Only runs of these flows; empty = all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flows: Vec<String>,
    /// Only runs with at least one of these tags; empty = all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Only runs, workers or queues of these pools; empty = all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pools: Vec<String>,
}

fn is_false(value: &bool) -> bool {
    !value
}

/// The kinds of action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionKind {
    /// A message to a Slack incoming webhook.
    Slack,
    /// A JSON POST, optionally signed with HMAC-SHA256.
    Webhook,
    /// An e-mail over SMTP.
    Email,
    /// Creates a run of a deployment.
    RunDeployment,
    /// Pauses a deployment's schedules.
    PauseDeployment,
    /// Resumes a deployment's schedules.
    ResumeDeployment,
    /// Cancels the triggering run.
    CancelRun,
}

impl ActionKind {
    /// The name written in the file, e.g. `run-deployment`.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Slack => "slack",
            ActionKind::Webhook => "webhook",
            ActionKind::Email => "email",
            ActionKind::RunDeployment => "run-deployment",
            ActionKind::PauseDeployment => "pause-deployment",
            ActionKind::ResumeDeployment => "resume-deployment",
            ActionKind::CancelRun => "cancel-run",
        }
    }
}

/// One thing an automation does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Action {
    /// Which kind.
    #[serde(rename = "type")]
    pub kind: ActionKind,
    /// `slack`: the incoming-webhook URL (usually `${SLACK_WEBHOOK_URL}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    /// `webhook`: where to POST.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `webhook`: key of the `X-Orch-Signature: sha256=<hex>` HMAC header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// `email`: recipients.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<String>,
    /// `email`: the SMTP server, `smtp://user:password@host:587` (STARTTLS)
    /// or `smtps://...`; `${ORCH_SMTP_URL}` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_url: Option<String>,
    /// `email`: the sender; `${ORCH_SMTP_FROM}` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// `run-deployment`, `pause-deployment`, `resume-deployment`: which one
    /// (`flow/name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
    /// `run-deployment`: parameters of the new run, over the triggering
    /// run's parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Map<String, Value>>,
}

/// What is known of a run when a trigger is matched against it.
#[derive(Debug, Clone, Copy)]
pub struct RunFacts<'a> {
    /// Its flow's name.
    pub flow: &'a str,
    /// Its deployment, `flow/name`, if any.
    pub deployment: Option<&'a str>,
    /// Its tags.
    pub tags: &'a [String],
    /// Its pool's name, if any.
    pub pool: Option<&'a str>,
}

impl Trigger {
    /// Whether a run passes the filter (deployments, flows, tags, pools).
    pub fn filter_matches(&self, run: &RunFacts<'_>) -> bool {
        let listed = |list: &[String], value: Option<&str>| {
            list.is_empty() || value.is_some_and(|v| list.iter().any(|item| item == v))
        };
        listed(&self.deployments, run.deployment)
            && listed(&self.flows, Some(run.flow))
            && listed(&self.pools, run.pool)
            && (self.tags.is_empty() || run.tags.iter().any(|tag| self.tags.contains(tag)))
    }

    /// Whether entering the state `kind` named `name` fires a `run-state`
    /// trigger (the filter aside). A state matches by its name or its type,
    /// ignoring case. A Failed or Crashed state is always final: with
    /// retries left the server enters AwaitingRetry instead, which matches
    /// `Failed`/`Crashed` only when `after_retries` is false.
    pub fn state_matches(&self, kind: StateType, name: &str) -> bool {
        if self.kind != TriggerKind::RunState {
            return false;
        }
        let listed = |wanted: &str| self.states.iter().any(|s| s.eq_ignore_ascii_case(wanted));
        if listed(name) || listed(kind.as_str()) {
            return true;
        }
        !self.after_retries
            && name == names::AWAITING_RETRY
            && (listed("Failed") || listed("Crashed"))
    }
}

/// Attempts made to deliver one action before it is given up as failed.
pub const MAX_DELIVERY_ATTEMPTS: u32 = 12;

/// How long to wait after failed attempt number `attempt` (1-based) before
/// the next: 1 s, 2 s, 4 s, ... capped at 5 minutes; `None` once
/// [`MAX_DELIVERY_ATTEMPTS`] have failed (about 27 minutes in all).
pub fn retry_delay(attempt: u32) -> Option<Duration> {
    if attempt >= MAX_DELIVERY_ATTEMPTS {
        return None;
    }
    let seconds = 1u64 << attempt.saturating_sub(1).min(16);
    Some(Duration::from_secs(seconds.min(300)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_state(states: &[&str], after_retries: bool) -> Trigger {
        Trigger {
            kind: TriggerKind::RunState,
            states: states.iter().map(|s| s.to_string()).collect(),
            after_retries,
            seconds: None,
            late_seconds: None,
            window_seconds: None,
            name: None,
            deployments: vec![],
            flows: vec![],
            tags: vec![],
            pools: vec![],
        }
    }

    #[test]
    fn states_match_by_name_or_type_ignoring_case() {
        let trigger = run_state(&["failed", "Late"], true);
        assert!(trigger.state_matches(StateType::Failed, "Failed"));
        assert!(trigger.state_matches(StateType::Scheduled, "Late"));
        assert!(!trigger.state_matches(StateType::Completed, "Completed"));
        assert!(!trigger.state_matches(StateType::Scheduled, "Scheduled"));
        let by_type = run_state(&["SCHEDULED"], true);
        assert!(by_type.state_matches(StateType::Scheduled, "Late"));
    }

    #[test]
    fn after_retries_ignores_attempts_that_will_be_retried() {
        let final_only = run_state(&["Failed", "Crashed"], true);
        assert!(!final_only.state_matches(StateType::Scheduled, names::AWAITING_RETRY));
        assert!(final_only.state_matches(StateType::Crashed, "Crashed"));
        let every_attempt = run_state(&["Failed"], false);
        assert!(every_attempt.state_matches(StateType::Scheduled, names::AWAITING_RETRY));
        assert!(every_attempt.state_matches(StateType::Failed, "Failed"));
    }

    #[test]
    fn the_filter_narrows_by_deployment_flow_tag_and_pool() {
        let mut trigger = run_state(&["Failed"], true);
        let tags = vec!["trading".to_string()];
        let run = RunFacts {
            flow: "trading-flow",
            deployment: Some("trading-flow/prod"),
            tags: &tags,
            pool: Some("p"),
        };
        assert!(trigger.filter_matches(&run));
        trigger.deployments = vec!["trading-flow/prod".into()];
        trigger.tags = vec!["trading".into(), "x".into()];
        assert!(trigger.filter_matches(&run));
        trigger.pools = vec!["other".into()];
        assert!(!trigger.filter_matches(&run));
        trigger.pools = vec![];
        let adhoc = RunFacts {
            deployment: None,
            ..run
        };
        assert!(!trigger.filter_matches(&adhoc));
        trigger.tags = vec!["nightly".into()];
        assert!(!trigger.filter_matches(&run));
    }

    #[test]
    fn delivery_retries_back_off_exponentially_then_give_up() {
        assert_eq!(retry_delay(1), Some(Duration::from_secs(1)));
        assert_eq!(retry_delay(2), Some(Duration::from_secs(2)));
        assert_eq!(retry_delay(5), Some(Duration::from_secs(16)));
        assert_eq!(retry_delay(11), Some(Duration::from_secs(300)));
        assert_eq!(retry_delay(MAX_DELIVERY_ATTEMPTS), None);
    }
}
