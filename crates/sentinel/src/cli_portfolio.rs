//! `sentinel portfolio` and `sentinel backtest`.

use chrono::{NaiveDate, TimeZone, Utc};
use sentinel::Sentinel;
use sentinel::portfolio::Mark;
use sentinel::portfolio::backtest::BacktestReport;

use crate::cli::{Output, print_table, table, time};

fn pct(v: f64) -> String {
    format!("{:+.2}%", v * 100.0)
}

fn row(m: &Mark, initial: f64) -> Vec<String> {
    let weight = if m.equity > 0.0 {
        m.units * m.price / m.equity
    } else {
        0.0
    };
    vec![
        m.symbol.clone(),
        time(m.at),
        m.action.to_string(),
        format!("{:.2}", m.price),
        format!("{:.4} ({:.0}%)", m.units, weight * 100.0),
        format!("{:.2}", m.equity),
        format!("{:+.2} ({})", m.pnl(initial), pct(m.equity / initial - 1.0)),
        format!("{:.2}%", m.drawdown * 100.0),
        format!("{:.2}%", m.max_drawdown * 100.0),
        m.trades.to_string(),
        format!("{:.2}", m.costs),
        format!(
            "{:.2} ({})",
            m.benchmark_equity,
            pct(m.benchmark_equity / initial - 1.0)
        ),
    ]
}

const HEADERS: [&str; 12] = [
    "symbol",
    "at",
    "action",
    "price",
    "units (weight)",
    "equity",
    "p&l",
    "drawdown",
    "max dd",
    "trades",
    "costs",
    "buy & hold",
];

/// The latest mark per symbol, or one symbol's history.
pub async fn portfolio(
    s: &Sentinel,
    symbol: Option<&str>,
    limit: usize,
    output: Output,
) -> anyhow::Result<()> {
    let marks: Vec<Mark> = match symbol {
        Some(sym) => s.store.marks(Some(sym), limit).await?,
        None => {
            let mut latest = Vec::new();
            for t in s.config.tickers() {
                latest.extend(s.store.marks(Some(&t), 1).await?);
            }
            latest
        }
    };
    let initial = s.config.portfolio.initial_cash;
    if let Output::Json = output {
        println!("{}", serde_json::to_string_pretty(&marks)?);
        return Ok(());
    }
    if marks.is_empty() {
        println!("no paper portfolio yet (run trading-flow)");
        return Ok(());
    }
    println!(
        "paper portfolio: {initial:.0} per symbol, {} bps a trade{}",
        s.config.portfolio.cost_bps,
        if s.config.portfolio.allow_short {
            ", shorts allowed"
        } else {
            ", long or cash"
        }
    );
    let mut t = table(&HEADERS);
    for m in &marks {
        t.add_row(row(m, initial));
    }
    print_table(&t);
    Ok(())
}

/// Runs a backtest and prints its report.
pub async fn backtest(
    s: &Sentinel,
    symbol: Option<String>,
    days: u32,
    from: Option<NaiveDate>,
    output: Output,
) -> anyhow::Result<()> {
    let symbol = symbol
        .or_else(|| s.config.tickers().into_iter().next())
        .unwrap_or_default();
    let from = from.map(|d| Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default()));
    let r: BacktestReport = s.backtest(&symbol, days, from).await?;
    if let Output::Json = output {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    let p = &s.config.portfolio;
    println!(
        "backtest {} {} from {} to {}: {} decisions ({} BUY, {} SELL, {} HOLD); {} bps a trade",
        r.symbol,
        r.interval,
        r.from.date_naive(),
        r.to.date_naive(),
        r.decisions,
        r.buys,
        r.sells,
        r.holds,
        p.cost_bps
    );
    println!("signals: {}", r.signals.join("; "));
    let mut t = table(&[
        "",
        "final equity",
        "return",
        "max drawdown",
        "trades",
        "costs",
    ]);
    t.add_row(vec![
        "strategy".into(),
        format!("{:.2}", r.last.equity),
        pct(r.total_return),
        format!("{:.2}%", r.last.max_drawdown * 100.0),
        r.last.trades.to_string(),
        format!("{:.2}", r.last.costs),
    ]);
    t.add_row(vec![
        "buy & hold".into(),
        format!("{:.2}", r.last.benchmark_equity),
        pct(r.benchmark_return),
        format!("{:.2}%", r.benchmark_max_drawdown * 100.0),
        "1".into(),
        format!("{:.2}", r.initial_cash * p.cost_bps / 10_000.0),
    ]);
    print_table(&t);
    let v = &r.volatility;
    let mut t = table(&["volatility forecast", "rmse", "mae", "qlike", "samples"]);
    for (name, m) in [("har model", v.model)].into_iter().chain(v.baselines()) {
        t.add_row(vec![
            name.to_string(),
            format!("{:.6}", m.rmse),
            format!("{:.6}", m.mae),
            format!("{:.4}", m.qlike),
            m.samples.to_string(),
        ]);
    }
    print_table(&t);
    Ok(())
}
