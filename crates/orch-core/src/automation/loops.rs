//! Loop protection: the chain of automations that led to a run, and when a
//! firing would make that chain a loop.
//!
//! A run created by an automation's `run-deployment` action carries a
//! *chain*: the automations whose actions led to it, oldest first (kept in
//! each firing's context as `automation_chain`). When a run fires an
//! automation that creates runs, the firing is **loop-suppressed** when
//!
//! - the automation is already in the run's chain: it would fire again on
//!   a run it led to, directly (`a -> a`) or through others (`a -> b -> a`);
//!   however many runs each link makes, a loop ends at its first repeat; or
//! - the chain already holds [`MAX_AUTOMATION_CHAIN`] automations: a long
//!   chain of different automations is bounded too.
//!
//! An automation that creates no run (notifications, pause, resume, cancel)
//! cannot extend a chain and is never loop-suppressed.

use super::{ActionKind, AutomationSpec};

/// The most automations a chain of runs created by `run-deployment` actions
/// may pass through (each one once).
pub const MAX_AUTOMATION_CHAIN: usize = 8;

/// The event written on the triggering run when a firing is loop-suppressed;
/// an `event` trigger may name it (to be told of every loop stopped).
pub const LOOP_SUPPRESSED_EVENT: &str = "orch.automation.loop-suppressed";

/// Event names flows may not emit: orch's own events start with it.
pub const RESERVED_EVENT_PREFIX: &str = "orch.";

/// A firing that would continue a loop, and why it is suppressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoopStop {
    /// The chain it would have made (the run's chain, then the automation).
    pub chain: Vec<String>,
    /// What happened and how to fix it, for the automation's page.
    pub reason: String,
}

/// Whether `spec` creates runs (has a `run-deployment` action): only such an
/// automation can continue a chain.
pub fn creates_runs(spec: &AutomationSpec) -> bool {
    spec.actions
        .iter()
        .any(|action| action.kind == ActionKind::RunDeployment)
}

/// `a -> b -> c`.
pub fn show_chain(chain: &[String]) -> String {
    chain.join(" -> ")
}

/// The chain of a firing of `automation` on a run whose chain is
/// `run_chain` (empty for a run no automation created), or why the firing
/// is suppressed. `creates_runs`: whether the automation has a
/// `run-deployment` action ([`creates_runs`]).
///
/// # Errors
///
/// The [`LoopStop`] when the firing would repeat an automation of the chain
/// or make it longer than [`MAX_AUTOMATION_CHAIN`].
pub fn extend_chain(
    run_chain: &[String],
    automation: &str,
    creates_runs: bool,
) -> Result<Vec<String>, LoopStop> {
    let mut chain = run_chain.to_vec();
    chain.push(automation.to_owned());
    if !creates_runs {
        return Ok(chain);
    }
    let fix = "narrow its trigger (`deployments`, `states`, `tags`) so that the runs its \
               `run-deployment` action creates do not fire it again; to run a deployment \
               repeatedly, give it a schedule";
    if run_chain.iter().any(|link| link == automation) {
        let reason = format!(
            "automation loop stopped: \"{automation}\" would fire again on a run it led to \
             (chain {}); the firing was suppressed and no run was created; {fix}",
            show_chain(&chain)
        );
        return Err(LoopStop { chain, reason });
    }
    if run_chain.len() >= MAX_AUTOMATION_CHAIN {
        let reason = format!(
            "automation chain stopped: the run was created by a chain of {} automations \
             ({}), the most allowed is {MAX_AUTOMATION_CHAIN}; the firing was suppressed and no \
             run was created; {fix}",
            run_chain.len(),
            show_chain(run_chain)
        );
        return Err(LoopStop { chain, reason });
    }
    Ok(chain)
}

/// Checks the name of an event a flow emits: not one of orch's own
/// ([`RESERVED_EVENT_PREFIX`]).
///
/// # Errors
///
/// Why the name is refused and what to use instead.
pub fn check_emitted_event_name(name: &str) -> Result<(), String> {
    if name
        .get(..RESERVED_EVENT_PREFIX.len())
        .is_some_and(|start| start.eq_ignore_ascii_case(RESERVED_EVENT_PREFIX))
    {
        return Err(format!(
            "event names starting with \"{RESERVED_EVENT_PREFIX}\" are orch's own (\"{name}\"); \
             give the event a name of yours, e.g. \"no-data\""
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_run_no_automation_created_starts_a_chain() {
        assert_eq!(extend_chain(&[], "a", true), Ok(names(&["a"])));
        assert_eq!(
            extend_chain(&names(&["a"]), "b", true),
            Ok(names(&["a", "b"]))
        );
    }

    #[test]
    fn an_automation_firing_on_a_run_it_led_to_is_stopped() {
        let direct = extend_chain(&names(&["again"]), "again", true).unwrap_err();
        assert_eq!(direct.chain, names(&["again", "again"]));
        assert!(
            direct.reason.starts_with(
                "automation loop stopped: \"again\" would fire again on a run it led to (chain again -> again)"
            ),
            "{}",
            direct.reason
        );
        assert!(
            direct.reason.contains("narrow its trigger"),
            "{}",
            direct.reason
        );
        let through = extend_chain(&names(&["ping", "pong"]), "ping", true).unwrap_err();
        assert!(
            through.reason.contains("(chain ping -> pong -> ping)"),
            "{}",
            through.reason
        );
    }

    #[test]
    fn a_chain_of_different_automations_is_bounded() {
        let long: Vec<String> = (0..MAX_AUTOMATION_CHAIN).map(|i| format!("a{i}")).collect();
        assert!(extend_chain(&long[..MAX_AUTOMATION_CHAIN - 1], "last", true).is_ok());
        let stop = extend_chain(&long, "next", true).unwrap_err();
        assert!(
            stop.reason.starts_with("automation chain stopped: the run was created by a chain of 8 automations (a0 -> a1"),
            "{}",
            stop.reason
        );
    }

    #[test]
    fn an_automation_that_creates_no_run_is_never_stopped() {
        let long: Vec<String> = (0..20).map(|i| format!("a{i}")).collect();
        let chain = extend_chain(&long, "a3", false).unwrap();
        assert_eq!(chain.len(), 21);
        assert_eq!(chain.last().map(String::as_str), Some("a3"));
    }

    #[test]
    fn which_automations_create_runs() {
        let spec = |action: &str| -> AutomationSpec {
            serde_json::from_value(serde_json::json!({
                "name": "a",
                "trigger": { "type": "run-state", "states": ["Completed"] },
                "actions": [{ "type": "webhook", "url": "http://h/" }, serde_json::from_str::<serde_json::Value>(action).unwrap()],
            }))
            .unwrap()
        };
        assert!(creates_runs(&spec(
            r#"{ "type": "run-deployment", "deployment": "f/d" }"#
        )));
        assert!(!creates_runs(&spec(
            r#"{ "type": "resume-deployment", "deployment": "f/d" }"#
        )));
        assert!(!creates_runs(&spec(r#"{ "type": "cancel-run" }"#)));
    }

    #[test]
    fn flows_may_not_emit_orchs_own_events() {
        assert_eq!(check_emitted_event_name("no-data"), Ok(()));
        assert_eq!(check_emitted_event_name("orch"), Ok(()));
        let error = check_emitted_event_name(LOOP_SUPPRESSED_EVENT).unwrap_err();
        assert!(error.contains("orch's own"), "{error}");
        assert!(check_emitted_event_name("ORCH.x").is_err());
    }
}
