//! The paper portfolio: decisions drive a simulated position per symbol, so
//! anyone can see whether following them would have made or lost money.
//!
//! Each decision is filled at its price (the last close the decision saw):
//! BUY moves to `+size` of equity (the decision's volatility-targeted size,
//! else `decision.max_position`), SELL to cash (or to `-size` with
//! `portfolio.allow_short`), HOLD keeps the position. A trade costs
//! `cost_bps` of its value; trades that change the weight by less than
//! `rebalance_threshold` are skipped (an exit to cash never is). Equity,
//! its running peak and drawdown are marked at every decision, beside a
//! buy-and-hold benchmark that bought at the first price (paying the cost once).

pub mod backtest;
pub mod store;

use serde::{Deserialize, Serialize};

use crate::config::PortfolioConfig;
use crate::decision::Action;

/// The state of one symbol's paper position after a decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mark {
    /// Ticker.
    pub symbol: String,
    /// When (the decision's time), Unix seconds.
    pub at: i64,
    /// Fill and mark price.
    pub price: f64,
    /// The decision followed.
    pub action: Action,
    /// Weight the decision asked for.
    pub target_weight: f64,
    /// Units held after the decision.
    pub units: f64,
    /// Cash after the decision.
    pub cash: f64,
    /// `cash + units × price`.
    pub equity: f64,
    /// Highest equity so far.
    pub peak_equity: f64,
    /// `1 − equity / peak`.
    pub drawdown: f64,
    /// Largest drawdown so far.
    pub max_drawdown: f64,
    /// Trades so far.
    pub trades: u64,
    /// Costs paid so far.
    pub costs: f64,
    /// Units of the buy-and-hold benchmark.
    pub benchmark_units: f64,
    /// The benchmark's equity at this price.
    pub benchmark_equity: f64,
    /// The decision's id, when stored.
    pub decision_id: Option<i64>,
    /// The orch flow run, if any.
    pub flow_run_id: Option<String>,
}

impl Mark {
    /// Profit and loss since the start.
    pub fn pnl(&self, initial_cash: f64) -> f64 {
        self.equity - initial_cash
    }
}

/// Steps the portfolio of `symbol` through one decision. `previous` is the
/// last mark (none for the first decision).
pub fn step(
    cfg: &PortfolioConfig,
    previous: Option<&Mark>,
    symbol: &str,
    at: i64,
    price: f64,
    action: Action,
    size: Option<f64>,
) -> Mark {
    let cost_rate = cfg.cost_bps / 10_000.0;
    let (mut units, mut cash, peak, max_dd, mut trades, mut costs, bench_units) = match previous {
        Some(m) => (
            m.units,
            m.cash,
            m.peak_equity,
            m.max_drawdown,
            m.trades,
            m.costs,
            m.benchmark_units,
        ),
        None => (
            0.0,
            cfg.initial_cash,
            cfg.initial_cash,
            0.0,
            0,
            0.0,
            cfg.initial_cash / (price * (1.0 + cost_rate)),
        ),
    };
    let equity_before = cash + units * price;
    let current = if equity_before > 0.0 {
        units * price / equity_before
    } else {
        0.0
    };
    let size = size.unwrap_or(1.0).max(0.0);
    let target = match action {
        Action::Buy => size,
        Action::Sell if cfg.allow_short => -size,
        Action::Sell => 0.0,
        Action::Hold => current,
    };
    let exit = target == 0.0 && units != 0.0;
    if exit || (target - current).abs() >= cfg.rebalance_threshold.max(1e-12) {
        let delta = target * equity_before.max(0.0) / price - units;
        let cost = delta.abs() * price * cost_rate;
        cash -= delta * price + cost;
        units += delta;
        if exit {
            units = 0.0;
        }
        trades += 1;
        costs += cost;
    }
    let equity = cash + units * price;
    let peak_equity = peak.max(equity);
    let drawdown = if peak_equity > 0.0 {
        1.0 - equity / peak_equity
    } else {
        0.0
    };
    Mark {
        symbol: symbol.to_string(),
        at,
        price,
        action,
        target_weight: target,
        units,
        cash,
        equity,
        peak_equity,
        drawdown,
        max_drawdown: max_dd.max(drawdown),
        trades,
        costs,
        benchmark_units: bench_units,
        benchmark_equity: bench_units * price,
        decision_id: None,
        flow_run_id: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn pnl_and_drawdown_equal_hand_computed_values() {
        let cfg = PortfolioConfig {
            initial_cash: 1000.0,
            cost_bps: 10.0,
            allow_short: false,
            rebalance_threshold: 0.05,
        };
        let script = [
            (100.0, Action::Buy, Some(1.0)),
            (110.0, Action::Hold, None),
            (99.0, Action::Sell, Some(1.0)),
            (120.0, Action::Buy, Some(0.5)),
        ];
        let mut marks: Vec<Mark> = Vec::new();
        for (i, (p, a, s)) in script.into_iter().enumerate() {
            let m = step(&cfg, marks.last(), "X", i as i64, p, a, s);
            marks.push(m);
        }
        // t0: buy 10 units at 100, cost 1.00: cash -1, equity 999, 0.1 % below the start.
        assert!(close(marks[0].units, 10.0) && close(marks[0].cash, -1.0));
        assert!(close(marks[0].equity, 999.0) && close(marks[0].drawdown, 0.001));
        // t1: hold; 10 × 110 − 1 = 1099, a new peak.
        assert!(close(marks[1].equity, 1099.0) && marks[1].trades == 1);
        // t2: sell 10 at 99 (cost 0.99): cash = −1 + 990 − 0.99 = 988.01.
        assert!(close(marks[2].cash, 988.01) && close(marks[2].units, 0.0));
        assert!(close(marks[2].drawdown, 1.0 - 988.01 / 1099.0));
        // t3: buy half of 988.01 at 120: 494.005 invested, cost 0.494005.
        let m = &marks[3];
        assert!(close(m.units, 494.005 / 120.0));
        assert!(close(m.equity, 988.01 - 0.494005));
        assert!(close(m.pnl(1000.0), -12.484005));
        assert!(close(m.max_drawdown, 1.0 - 987.515995 / 1099.0));
        assert!(close(m.costs, 1.0 + 0.99 + 0.494005) && m.trades == 3);
        // Buy and hold: 1000 / (100 × 1.001) units, worth that × 120.
        assert!(close(m.benchmark_equity, 1000.0 / 100.1 * 120.0));
    }

    #[test]
    fn shorts_only_when_allowed_and_small_changes_are_skipped() {
        let mut cfg = PortfolioConfig {
            cost_bps: 0.0,
            initial_cash: 100.0,
            ..PortfolioConfig::default()
        };
        let m = step(&cfg, None, "X", 0, 10.0, Action::Sell, Some(1.0));
        assert_eq!((m.units, m.trades), (0.0, 0));
        cfg.allow_short = true;
        let m = step(&cfg, None, "X", 0, 10.0, Action::Sell, Some(1.0));
        assert!(close(m.units, -10.0) && close(m.cash, 200.0));
        // Price doubles against the short: equity 200 − 200 = 0, drawdown 100 %.
        let m2 = step(&cfg, Some(&m), "X", 1, 20.0, Action::Hold, None);
        assert!(close(m2.equity, 0.0) && close(m2.max_drawdown, 1.0));
        let b = step(&cfg, None, "X", 0, 10.0, Action::Buy, Some(1.0));
        let b2 = step(&cfg, Some(&b), "X", 1, 10.0, Action::Buy, Some(0.98));
        assert_eq!(b2.trades, 1, "a 2 % change is below the 5 % threshold");
    }
}
