//! The paper portfolio in sentinel's database (`portfolio` table), and the
//! step every trading run takes after its decision.

use std::str::FromStr;

use super::{Mark, step};
use crate::app::Sentinel;
use crate::decision::{Action, Decision};
use crate::error::{Result, SentinelError};
use crate::store::Store;

#[derive(sqlx::FromRow)]
struct MarkRow {
    symbol: String,
    at: i64,
    price: f64,
    action: String,
    target_weight: f64,
    units: f64,
    cash: f64,
    equity: f64,
    peak_equity: f64,
    drawdown: f64,
    max_drawdown: f64,
    trades: i64,
    costs: f64,
    benchmark_units: f64,
    benchmark_equity: f64,
    decision_id: Option<i64>,
    flow_run_id: Option<String>,
}

impl TryFrom<MarkRow> for Mark {
    type Error = SentinelError;
    fn try_from(r: MarkRow) -> Result<Mark> {
        Ok(Mark {
            action: Action::from_str(&r.action).map_err(SentinelError::InvalidInput)?,
            symbol: r.symbol,
            at: r.at,
            price: r.price,
            target_weight: r.target_weight,
            units: r.units,
            cash: r.cash,
            equity: r.equity,
            peak_equity: r.peak_equity,
            drawdown: r.drawdown,
            max_drawdown: r.max_drawdown,
            trades: r.trades.max(0) as u64,
            costs: r.costs,
            benchmark_units: r.benchmark_units,
            benchmark_equity: r.benchmark_equity,
            decision_id: r.decision_id,
            flow_run_id: r.flow_run_id,
        })
    }
}

impl Store {
    /// Records a mark.
    pub async fn record_mark(&self, m: &Mark) -> Result<i64> {
        Ok(sqlx::query(
            "INSERT INTO portfolio (symbol, at, price, action, target_weight, units, cash, equity,
               peak_equity, drawdown, max_drawdown, trades, costs, benchmark_units, benchmark_equity,
               decision_id, flow_run_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
        )
        .bind(&m.symbol)
        .bind(m.at)
        .bind(m.price)
        .bind(m.action.to_string())
        .bind(m.target_weight)
        .bind(m.units)
        .bind(m.cash)
        .bind(m.equity)
        .bind(m.peak_equity)
        .bind(m.drawdown)
        .bind(m.max_drawdown)
        .bind(m.trades as i64)
        .bind(m.costs)
        .bind(m.benchmark_units)
        .bind(m.benchmark_equity)
        .bind(m.decision_id)
        .bind(&m.flow_run_id)
        .execute(&self.pool)
        .await?
        .last_insert_rowid())
    }

    /// The latest `limit` marks of `symbol` (all symbols with `None`), newest first.
    pub async fn marks(&self, symbol: Option<&str>, limit: usize) -> Result<Vec<Mark>> {
        let rows: Vec<MarkRow> = sqlx::query_as(
            "SELECT symbol, at, price, action, target_weight, units, cash, equity, peak_equity,
               drawdown, max_drawdown, trades, costs, benchmark_units, benchmark_equity,
               decision_id, flow_run_id
             FROM portfolio WHERE ($1 IS NULL OR symbol = $1) ORDER BY at DESC, id DESC LIMIT $2",
        )
        .bind(symbol)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(Mark::try_from).collect()
    }
}

impl Sentinel {
    /// Steps the paper portfolio of the decision's symbol and records the
    /// mark; `None` when the decision has no price (no bars yet).
    pub async fn follow(&self, d: &Decision) -> Result<Option<Mark>> {
        let Some(price) = d.price.filter(|p| *p > 0.0) else {
            return Ok(None);
        };
        let previous = self.store.marks(Some(&d.symbol), 1).await?.pop();
        let mut mark = step(
            &self.config.portfolio,
            previous.as_ref(),
            &d.symbol,
            d.decided_at,
            price,
            d.action,
            d.size,
        );
        mark.decision_id = d.id;
        mark.flow_run_id = d.flow_run_id.clone();
        self.store.record_mark(&mark).await?;
        tracing::info!(
            symbol = %d.symbol,
            "paper portfolio: equity {:.2} (P&L {:+.2}), drawdown {:.2}%, buy-and-hold {:.2}",
            mark.equity,
            mark.pnl(self.config.portfolio.initial_cash),
            mark.drawdown * 100.0,
            mark.benchmark_equity
        );
        Ok(Some(mark))
    }
}
