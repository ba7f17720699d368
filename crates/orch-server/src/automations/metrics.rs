//! Automation metrics: firings (delivered or suppressed) and delivery
//! attempts by outcome, per automation, as seen by this server.

use orch_store::FiringOutcome;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AutomationOutcome {
    automation: String,
    outcome: String,
}

/// The automation metrics of one server.
#[derive(Default)]
pub(crate) struct AutomationMetrics {
    firings: Family<AutomationOutcome, Counter>,
    deliveries: Family<AutomationOutcome, Counter>,
}

impl AutomationMetrics {
    /// Adds the automation metrics to `registry`.
    pub(crate) fn register(&self, registry: &mut Registry) {
        registry.register(
            "automation_firings",
            "Firings written by this server, by automation and outcome (fired, suppressed by the cooldown, loop-suppressed)",
            self.firings.clone(),
        );
        registry.register(
            "automation_deliveries",
            "Delivery attempts made by this server, by automation and outcome (delivered, retrying, failed, skipped)",
            self.deliveries.clone(),
        );
    }

    /// Counts a firing this server wrote (duplicates are not counted).
    pub(super) fn observe_firing(&self, automation: &str, outcome: &FiringOutcome) {
        let outcome = match outcome {
            FiringOutcome::Created(_) => "fired",
            FiringOutcome::Suppressed => "suppressed",
            FiringOutcome::LoopSuppressed(_) => "loop-suppressed",
            FiringOutcome::Duplicate => return,
        };
        self.firings
            .get_or_create(&AutomationOutcome {
                automation: automation.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// Counts a delivery attempt by its outcome.
    pub(super) fn observe_delivery(&self, automation: &str, outcome: &str) {
        self.deliveries
            .get_or_create(&AutomationOutcome {
                automation: automation.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }
}
