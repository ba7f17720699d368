//! A backtest: the recorded bars replayed through the same decision and
//! portfolio code as the trading flow, bar by bar, with nothing from the future.
//!
//! Before `from`, bars only train: the volatility model is fitted on them;
//! the active LSTM is used only if it was trained and validated on bars
//! before `from` (else it has seen the test period and is left out). Each
//! bar from `from` on: signals from the bars up to it, a decision at its
//! close, the paper portfolio steps. Recorded headlines carry no history, so
//! sentiment is not part of a backtest.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Mark, step};
use crate::app::Sentinel;
use crate::decision::{self, Action, LstmSignal, MomentumSignal, Signals, VolatilitySignal};
use crate::error::{Result, SentinelError};
use crate::features::Series;
use crate::market::Window;
use crate::model::volatility::{self, HAR_LAGS, Har, VolEvaluation};
use crate::pipeline::collect::is_crypto;
use crate::pipeline::trading::periods_per_year;

/// What a backtest found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BacktestReport {
    /// Ticker.
    pub symbol: String,
    /// Bar interval.
    pub interval: String,
    /// First decision.
    pub from: DateTime<Utc>,
    /// Last decision.
    pub to: DateTime<Utc>,
    /// Decisions made (one per bar).
    pub decisions: usize,
    /// BUY, SELL and HOLD counts.
    pub buys: usize,
    /// SELL count.
    pub sells: usize,
    /// HOLD count.
    pub holds: usize,
    /// The signals used, and why others were not.
    pub signals: Vec<String>,
    /// Starting cash.
    pub initial_cash: f64,
    /// The strategy's last mark.
    pub last: Mark,
    /// Strategy return over the period.
    pub total_return: f64,
    /// Buy-and-hold return over the period.
    pub benchmark_return: f64,
    /// Buy-and-hold's largest drawdown.
    pub benchmark_max_drawdown: f64,
    /// The volatility model against its baselines over the period.
    pub volatility: VolEvaluation,
}

impl Sentinel {
    /// Backtests `symbol` over the last `days` of bars, deciding from `from`
    /// (default: the second half of the bars).
    pub async fn backtest(
        &self,
        symbol: &str,
        days: u32,
        from: Option<DateTime<Utc>>,
    ) -> Result<BacktestReport> {
        let interval = self.config.market.interval.clone();
        let bars = self
            .prices
            .bars(symbol, &interval, Window::last_days(self.now(), days))
            .await?;
        let series = Series::from_bars(&bars)?;
        let start = match from {
            Some(f) => bars.partition_point(|b| b.ts < f.timestamp()),
            None => bars.len() / 2,
        };
        let warmup = HAR_LAGS + 32;
        if start < warmup || start + 2 > bars.len() {
            return Err(SentinelError::InsufficientData(format!(
                "{} {interval} bars of {symbol}; a backtest needs {warmup} before its start and 2 after \
                 (give more --days or another --from)",
                bars.len()
            )));
        }
        // series.returns[j] is the return of bar j + 1.
        let har = Har::fit(&series.returns, start - 1)?;
        let from_time = bars[start].time();
        let lstm_model = self
            .registry
            .load_active(symbol)?
            .filter(|m| m.meta.interval == interval && m.meta.validation_window.end < from_time);
        let mut used = vec![
            format!("momentum ({} bars)", self.config.decision.momentum_bars),
            format!(
                "volatility (HAR fitted on the {} bars before {})",
                start,
                from_time.date_naive()
            ),
        ];
        used.push(match &lstm_model {
            Some(m) => format!("lstm {} (trained before the period)", m.meta.version),
            None => "no lstm: no active model trained before the period".into(),
        });
        used.push("no sentiment: recorded headlines have no history".into());
        let d = &self.config.decision;
        let target = d.target_volatility / periods_per_year(&interval, is_crypto(symbol)).sqrt();
        let cfg = &self.config.portfolio;
        let (mut marks, mut counts, mut bench_peak, mut bench_dd) =
            (Vec::<Mark>::new(), [0usize; 3], 0.0f64, 0.0f64);
        for (t, bar) in bars.iter().enumerate().skip(start) {
            let seen = &bars[..=t];
            let lstm = match &lstm_model {
                Some(m) => {
                    let e = &m.meta.evaluation.model;
                    let pred = m.predict_next(seen)?;
                    Some(LstmSignal::new(
                        &m.meta.version,
                        pred,
                        e.rmse,
                        e.direction_accuracy.unwrap_or(0.5),
                    ))
                }
                None => None,
            };
            let volatility = har.forecast(&series.returns[..t]).map(|f| {
                VolatilitySignal::new(
                    "backtest",
                    f,
                    har.typical_abs_return,
                    target,
                    d.max_position,
                )
            });
            let signals = Signals {
                lstm,
                sentiment: None,
                momentum: MomentumSignal::from_bars(seen, d.momentum_bars),
                volatility,
            };
            let close = bar.close;
            let decision = decision::decide(d, symbol, signals, Some(close), bar.ts);
            counts[match decision.action {
                Action::Buy => 0,
                Action::Sell => 1,
                Action::Hold => 2,
            }] += 1;
            let m = step(
                cfg,
                marks.last(),
                symbol,
                bar.ts,
                close,
                decision.action,
                decision.size,
            );
            bench_peak = bench_peak.max(m.benchmark_equity);
            bench_dd = bench_dd.max(1.0 - m.benchmark_equity / bench_peak);
            marks.push(m);
        }
        let last = marks.pop().expect("at least 2 bars");
        let targets: Vec<usize> = (start..series.len()).collect();
        Ok(BacktestReport {
            symbol: symbol.to_string(),
            interval,
            from: from_time,
            to: last_time(&last),
            decisions: bars.len() - start,
            buys: counts[0],
            sells: counts[1],
            holds: counts[2],
            signals: used,
            initial_cash: cfg.initial_cash,
            total_return: last.equity / cfg.initial_cash - 1.0,
            benchmark_return: last.benchmark_equity / cfg.initial_cash - 1.0,
            benchmark_max_drawdown: bench_dd,
            volatility: volatility::evaluate(&har, &series.returns, &targets),
            last,
        })
    }
}

fn last_time(m: &Mark) -> DateTime<Utc> {
    DateTime::from_timestamp(m.at, 0).unwrap_or_default()
}
