//! `trading-flow` and `full-system-flow`.

use std::sync::Arc;

use orch_sdk::FlowContext;
use serde::{Deserialize, Serialize};

use super::refresh::{DataRefreshParams, data_refresh};
use crate::app::Sentinel;
use crate::pipeline::refresh::RefreshSummary;
use crate::pipeline::trading::{Gate, TradingOutcome};

/// Parameters of `trading-flow`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TradingParams {
    /// Decide even outside market hours.
    pub force: bool,
}

/// Parameters of `full-system-flow` (none).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FullSystemParams {}

/// What `full-system-flow` returns.
#[derive(Debug, Clone, Serialize)]
pub struct FullSystemResult {
    /// The initial full refresh.
    pub refresh: RefreshSummary,
    /// The first (forced) decisions.
    pub trading: TradingOutcome,
}

/// Outside market hours and without `force`: nothing. Otherwise a data
/// refresh (subflow), then a decision per symbol.
pub async fn trading(
    ctx: FlowContext,
    p: TradingParams,
    s: Arc<Sentinel>,
) -> anyhow::Result<TradingOutcome> {
    let gate = s.trading_gate(p.force);
    tracing::info!("{}", gate.reason);
    if !gate.proceed {
        return Ok(TradingOutcome {
            gate,
            decisions: Vec::new(),
            portfolio: Vec::new(),
        });
    }
    ctx.subflow("data-refresh", |c| {
        data_refresh(c, DataRefreshParams::default(), s.clone())
    })
    .await?;
    decide_all(&ctx, &s, gate).await
}

/// A full refresh over the model's history length, then a forced decision.
pub async fn full_system(
    ctx: FlowContext,
    _p: FullSystemParams,
    s: Arc<Sentinel>,
) -> anyhow::Result<FullSystemResult> {
    let full = DataRefreshParams {
        lookback_days: Some(s.config.model.default_days),
    };
    let refresh = ctx
        .subflow("initial-refresh", |c| data_refresh(c, full, s.clone()))
        .await?;
    let gate = s.trading_gate(true);
    tracing::info!("{}", gate.reason);
    let trading = decide_all(&ctx, &s, gate).await?;
    Ok(FullSystemResult { refresh, trading })
}

/// Per symbol: on a fresh install, a task that trains the first models;
/// a task that computes the signals (LSTM prediction, sentiment, momentum,
/// volatility), then one that fuses and records the decision.
async fn decide_all(
    ctx: &FlowContext,
    s: &Arc<Sentinel>,
    gate: Gate,
) -> anyhow::Result<TradingOutcome> {
    let (mut decisions, mut portfolio) = (Vec::new(), Vec::new());
    let run_id = ctx.flow_run_id().to_string();
    for symbol in s.config.tickers() {
        if s.config.model.train_at_first_start && s.never_trained(&symbol)? {
            ctx.task(&format!("first-models-{symbol}"))
                .run(|| async { Ok::<_, anyhow::Error>(s.train_first_models(&symbol).await) })
                .await?;
        }
        let signals = ctx
            .task(&format!("signals-{symbol}"))
            .run(|| s.signals(&symbol))
            .await?;
        let decision = ctx
            .task(&format!("decide-{symbol}"))
            .run(|| async {
                let (sig, price) = (*signals).clone();
                let mut d = crate::decision::decide(
                    &s.config.decision,
                    &symbol,
                    sig,
                    price,
                    s.now().timestamp(),
                );
                d.forced = !gate.market_open;
                d.flow_run_id = Some(run_id.clone());
                d.id = Some(s.store.record_decision(&d).await?);
                tracing::info!(symbol = %symbol, "decided {}: {}", d.action, d.reason);
                Ok::<_, anyhow::Error>(d)
            })
            .await?;
        let mark = ctx
            .task(&format!("portfolio-{symbol}"))
            .run(|| s.follow(&decision))
            .await?;
        portfolio.extend(mark.into_inner());
        decisions.push(decision.into_inner());
    }
    let outcome = TradingOutcome {
        gate,
        decisions,
        portfolio,
    };
    super::artifacts::trading(ctx, &outcome, s.config.portfolio.initial_cash).await;
    Ok(outcome)
}
