//! Trading: market-hours gate, the three signals per symbol, fusion, and the
//! recorded decision.

use chrono::Duration;
use serde::{Deserialize, Serialize};

use crate::app::Sentinel;
use crate::decision::{
    self, Decision, LstmSignal, MomentumSignal, SentimentSignal, Signals, VolatilitySignal,
};
use crate::error::Result;
use crate::features::Series;
use crate::market::Bar;
use crate::model::volatility::HAR_LAGS;
use crate::model::{Model, eval};
use crate::pipeline::collect::is_crypto;
use crate::portfolio::Mark;

/// Whether trading runs now, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gate {
    /// The market is open now.
    pub market_open: bool,
    /// Trading proceeds (open, or forced).
    pub proceed: bool,
    /// Why, in words.
    pub reason: String,
}

/// What `trading-flow` returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TradingOutcome {
    /// The market-hours gate.
    pub gate: Gate,
    /// Decisions recorded (empty when skipped).
    pub decisions: Vec<Decision>,
    /// The paper portfolio after each decision that had a price.
    #[serde(default)]
    pub portfolio: Vec<Mark>,
}

/// The forecast of `model` on `bars`, or `None` (logged) when it cannot
/// predict.
fn lstm_signal(symbol: &str, model: &Model, bars: &[Bar]) -> Option<LstmSignal> {
    match model.predict_next(bars) {
        Ok(pred) => {
            let e = &model.meta.evaluation.model;
            Some(LstmSignal::new(
                &model.meta.version,
                pred,
                e.rmse,
                e.direction_accuracy.unwrap_or(0.5),
            ))
        }
        Err(e) => {
            tracing::warn!(symbol, "no LSTM signal: {e}");
            None
        }
    }
}

impl Sentinel {
    /// Without an active model: the newest trained model of `symbol` on
    /// `interval` forecasts as a shadow (recorded, weightless), with the
    /// activation rule's reason for not trusting it.
    async fn shadow_lstm(
        &self,
        symbol: &str,
        interval: &str,
        bars: &[Bar],
    ) -> Result<Option<LstmSignal>> {
        let Some(meta) = self.registry.newest(symbol, interval)? else {
            tracing::warn!(
                symbol,
                "no model trained yet (run model-retraining-flow): deciding without the LSTM"
            );
            return Ok(None);
        };
        let verdict = eval::verdict(&meta.evaluation, None, self.config.model.min_improvement);
        let why = format!("{} not active: {}", meta.version, verdict.reason);
        let model = self.registry.load(&meta.version)?;
        // It needs a window of bars of its own (the caller's may be shorter).
        let own;
        let bars = if bars.len() <= meta.hyper_parameters.window {
            own = self
                .store
                .bars(symbol, interval, Some(meta.hyper_parameters.window + 1))
                .await?;
            &own[..]
        } else {
            bars
        };
        tracing::info!(
            symbol,
            "no active model: {why}; its forecast is recorded as a shadow, with no weight"
        );
        Ok(lstm_signal(symbol, &model, bars).map(|l| l.shadow(why)))
    }

    /// Decides whether to trade now.
    pub fn trading_gate(&self, force: bool) -> Gate {
        let now = self.now();
        let open = self.market_hours.is_open(now);
        let mut hours = self.market_hours.describe();
        if let Some(note) = self.market_hours.calendar_note(now) {
            hours = format!("{hours}; {note}");
        }
        let (proceed, reason) = match (open, force) {
            (true, _) => (true, format!("market open ({hours}) at {now}")),
            (false, true) => (true, format!("market closed ({hours}) at {now}; forced")),
            (false, false) => (
                false,
                format!("market closed ({hours}) at {now}; nothing to do (use force=true)"),
            ),
        };
        Gate {
            market_open: open,
            proceed,
            reason,
        }
    }

    /// The LSTM, sentiment and momentum signals of `symbol`, and its last close.
    pub async fn signals(&self, symbol: &str) -> Result<(Signals, Option<f64>)> {
        let interval = &self.config.market.interval;
        let model = self.registry.load_active(symbol)?;
        let vol_model = self
            .vol_registry
            .load_active(symbol)?
            .filter(|v| v.interval == *interval);
        let need = model
            .as_ref()
            .map_or(0, |m| m.meta.hyper_parameters.window + 1)
            .max(self.config.decision.momentum_bars + 1)
            .max(HAR_LAGS + 1);
        let bars = self.store.bars(symbol, interval, Some(need)).await?;
        let lstm = match &model {
            Some(m) if m.meta.interval != *interval => {
                tracing::warn!(
                    symbol,
                    "active model {} was trained on {} bars, not {interval}: not used",
                    m.meta.version,
                    m.meta.interval
                );
                None
            }
            Some(m) => lstm_signal(symbol, m, &bars),
            None => self.shadow_lstm(symbol, interval, &bars).await?,
        };
        let since =
            (self.now() - Duration::hours(self.config.decision.sentiment_window_hours)).timestamp();
        let own = self.store.sentiment_since(Some(symbol), since).await?;
        let sentiment = if own.is_empty() {
            SentimentSignal::new(&self.store.sentiment_since(None, since).await?, true)
        } else {
            SentimentSignal::new(&own, false)
        };
        let momentum = MomentumSignal::from_bars(&bars, self.config.decision.momentum_bars);
        let d = &self.config.decision;
        let target_per_bar =
            d.target_volatility / periods_per_year(interval, is_crypto(symbol)).sqrt();
        let volatility = vol_model.and_then(|v| {
            let returns = Series::from_bars(&bars).ok()?.returns;
            let forecast = v.har.forecast(&returns)?;
            Some(VolatilitySignal::new(
                &v.version,
                forecast,
                v.har.typical_abs_return,
                target_per_bar,
                d.max_position,
            ))
        });
        Ok((
            Signals {
                lstm,
                sentiment,
                momentum,
                volatility,
            },
            bars.last().map(|b| b.close),
        ))
    }

    /// Decides for `symbol` and records the decision.
    pub async fn decide(
        &self,
        symbol: &str,
        forced: bool,
        flow_run_id: Option<String>,
    ) -> Result<Decision> {
        let (signals, price) = self.signals(symbol).await?;
        let mut d = decision::decide(
            &self.config.decision,
            symbol,
            signals,
            price,
            self.now().timestamp(),
        );
        d.forced = forced;
        d.flow_run_id = flow_run_id;
        d.id = Some(self.store.record_decision(&d).await?);
        tracing::info!(symbol, action = %d.action, score = d.score, confidence = d.confidence, "decided {}: {}", d.action, d.reason);
        Ok(d)
    }

    /// The trading step without the refresh: gate, then a decision per symbol.
    pub async fn trade(&self, force: bool, flow_run_id: Option<String>) -> Result<TradingOutcome> {
        let gate = self.trading_gate(force);
        let (mut decisions, mut portfolio) = (Vec::new(), Vec::new());
        if gate.proceed {
            for symbol in self.config.tickers() {
                let d = self
                    .decide(&symbol, !gate.market_open, flow_run_id.clone())
                    .await?;
                portfolio.extend(self.follow(&d).await?);
                decisions.push(d);
            }
        }
        Ok(TradingOutcome {
            gate,
            decisions,
            portfolio,
        })
    }
}

/// Bars in a year: 252 sessions of 6.5 hours for equities, 365 days of 24
/// hours for crypto; weekly and monthly bars 52 and 12.
pub fn periods_per_year(interval: &str, crypto: bool) -> f64 {
    let (days, hours) = if crypto { (365.0, 24.0) } else { (252.0, 6.5) };
    match crate::validate::interval_seconds(interval) {
        Ok(Some(s)) if s < 86_400 => days * (hours * 3600.0 / s as f64).max(1.0),
        Ok(Some(s)) if s < 7 * 86_400 => days * 86_400.0 / s as f64,
        Ok(Some(s)) => 52.0 * 7.0 * 86_400.0 / s as f64,
        _ => 12.0,
    }
}
