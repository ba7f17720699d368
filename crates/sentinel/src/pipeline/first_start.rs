//! First start: a fresh install has no model at all, so the first decisions
//! would go without the return and volatility forecasts until the retraining
//! schedule first fires. The trading flow trains the first models itself,
//! once, with the same steps and the same activation rule as
//! `model-retraining-flow`: a model that does not beat the naive baselines is
//! not activated (its forecast is then shown as a shadow, with no weight).

use std::sync::Arc;

use super::retrain::RetrainResult;
use crate::app::Sentinel;
use crate::error::Result;

impl Sentinel {
    /// Whether no return model of `symbol` on the market interval has ever
    /// been trained (active or not).
    pub fn never_trained(&self, symbol: &str) -> Result<bool> {
        Ok(self
            .registry
            .newest(symbol, &self.config.market.interval)?
            .is_none())
    }

    /// Trains the first return and volatility models of `symbol` when
    /// `model.train_at_first_start` is on and none was ever trained; says
    /// what it did and why. A failure is logged, never fatal: the decision
    /// then goes without those signals, as it would have.
    pub async fn train_first_models(self: &Arc<Self>, symbol: &str) -> Option<RetrainResult> {
        let hp = self.config.model.clone();
        let days = hp.default_days;
        tracing::info!(
            symbol,
            "first start: no model of {symbol} has been trained yet; training the first \
             return and volatility models on the last {days} days of bars, once \
             (model-retraining-flow keeps them fresh; set model.train_at_first_start = false to skip)"
        );
        match self.retrain(symbol, days, &hp).await {
            Ok(result) => {
                tracing::info!(
                    symbol,
                    version = %result.version,
                    activated = result.activated,
                    "first return model: {}",
                    result.reason
                );
                if let Some(v) = &result.volatility {
                    tracing::info!(
                        symbol,
                        version = %v.version,
                        activated = v.activated,
                        "first volatility model: {}",
                        v.reason
                    );
                }
                Some(result)
            }
            Err(e) => {
                tracing::warn!(
                    symbol,
                    "first start: training the first models failed ({e}); deciding without them"
                );
                None
            }
        }
    }
}
