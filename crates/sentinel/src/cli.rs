//! sentinel's own commands: the model registry, decisions, a report, the
//! effective configuration, and recording a replay folder.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use clap::{Parser, Subcommand, ValueEnum};
use comfy_table::presets::NOTHING;
use comfy_table::{Cell, Table};
use sentinel::config::Source;
use sentinel::market::{Window, csv};
use sentinel::{Config, Sentinel};
use serde_json::json;

#[derive(Parser)]
#[command(
    name = "sentinel",
    version,
    about = "Trading signals from prices, news sentiment and an LSTM, run as orch flows",
    after_help = "Flows: `sentinel flows` lists them, `sentinel run FLOW [--param K=V]..` runs one standalone,\n\
                  `sentinel FLOW` is a deployment entrypoint (orch sets ORCH_FLOW_RUN_ID, ORCH_PARAMETERS, ORCH_API_URL).\n\
                  Configuration: $SENTINEL_CONFIG, else sentinel.toml next to the binary, else ./sentinel.toml."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum Output {
    Table,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// The model registry.
    Models {
        #[command(subcommand)]
        command: Models,
    },
    /// Recorded decisions.
    Decisions {
        #[command(subcommand)]
        command: Decisions,
    },
    /// Latest price, sentiment, prediction and decision per symbol.
    Report {
        #[arg(long, value_enum, default_value = "table")]
        output: Output,
    },
    /// The effective configuration (file, defaults and environment overrides).
    Config,
    /// The paper portfolio per symbol: position, P&L, drawdown, buy-and-hold.
    Portfolio {
        /// Only this symbol, with its history.
        #[arg(long)]
        symbol: Option<String>,
        /// Marks of history shown with --symbol.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[arg(long, value_enum, default_value = "table")]
        output: Output,
    },
    /// Replays recorded bars through the decision and paper-portfolio code.
    Backtest {
        /// The symbol (default: the first configured one).
        #[arg(long)]
        symbol: Option<String>,
        /// Days of bars loaded.
        #[arg(long, default_value_t = 3650)]
        days: u32,
        /// First decision (YYYY-MM-DD); bars before it only train. Default: the second half.
        #[arg(long)]
        from: Option<chrono::NaiveDate>,
        #[arg(long, value_enum, default_value = "table")]
        output: Output,
    },
    /// Records the live sources into a replay folder (bars, feeds, NewsAPI answers).
    Record {
        /// The folder to write.
        dir: PathBuf,
        /// Days of bars to record.
        #[arg(long, default_value_t = 5)]
        days: u32,
    },
}

#[derive(Subcommand)]
enum Models {
    /// Every version with its validation metrics; `*` marks active ones.
    Ls {
        #[arg(long, value_enum, default_value = "table")]
        output: Output,
    },
    /// Makes VERSION the active model of its symbol.
    Activate {
        /// e.g. v3
        version: String,
    },
}

#[derive(Subcommand)]
enum Decisions {
    /// The latest decisions, newest first.
    Ls {
        /// Only this symbol.
        #[arg(long)]
        symbol: Option<String>,
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[arg(long, value_enum, default_value = "table")]
        output: Output,
    },
}

pub(crate) fn table(headers: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_style(NOTHING);
    t.force_no_tty();
    t.set_header(headers.iter().map(|h| Cell::new(h.to_uppercase())));
    t
}

pub(crate) fn print_table(t: &Table) {
    for line in t.lines() {
        println!("{}", line.trim_end());
    }
}

pub(crate) fn time(ts: i64) -> String {
    DateTime::from_timestamp(ts, 0).map_or("-".into(), |t| t.format("%Y-%m-%d %H:%M").to_string())
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.digits$}"))
}

/// Runs the command in argv.
pub fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(cli.command))?;
    Ok(ExitCode::SUCCESS)
}

async fn run(command: Command) -> anyhow::Result<()> {
    let config = Config::load()?;
    match command {
        Command::Config => {
            match &config.loaded_from {
                Some(p) => println!("# loaded from {}", p.display()),
                None => println!("# no sentinel.toml found: defaults"),
            }
            let mut shown = config.clone();
            if shown.news.newsapi_key.is_some() {
                shown.news.newsapi_key = Some("(set)".into());
            }
            print!(
                "{}",
                toml::to_string_pretty(&shown).context("serialising the configuration")?
            );
            Ok(())
        }
        Command::Record { dir, days } => record(&config, &dir, days).await,
        command => {
            let s = Sentinel::open(config).await?;
            match command {
                Command::Models {
                    command: Models::Ls { output },
                } => models_ls(&s, output),
                Command::Models {
                    command: Models::Activate { version },
                } => {
                    let meta = s
                        .registry
                        .activate(&version, "activated by hand (sentinel models activate)")?;
                    println!(
                        "{} is now the active model of {}",
                        meta.version, meta.symbol
                    );
                    Ok(())
                }
                Command::Decisions {
                    command:
                        Decisions::Ls {
                            symbol,
                            limit,
                            output,
                        },
                } => decisions_ls(&s, symbol.as_deref(), limit, output).await,
                Command::Report { output } => report(&s, output).await,
                Command::Portfolio {
                    symbol,
                    limit,
                    output,
                } => crate::cli_portfolio::portfolio(&s, symbol.as_deref(), limit, output).await,
                Command::Backtest {
                    symbol,
                    days,
                    from,
                    output,
                } => crate::cli_portfolio::backtest(&s, symbol, days, from, output).await,
                Command::Config | Command::Record { .. } => unreachable!("handled above"),
            }
        }
    }
}

fn models_ls(s: &Sentinel, output: Output) -> anyhow::Result<()> {
    let models = s.registry.list()?;
    let active = s.registry.active()?;
    if let Output::Json = output {
        let rows: Vec<_> = models
            .iter()
            .map(|m| json!({"active": active.get(&m.symbol) == Some(&m.version), "model": m}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    let mut t = table(&[
        "",
        "version",
        "symbol",
        "interval",
        "created",
        "validation",
        "rmse",
        "dir acc",
        "persistence rmse",
        "train s",
    ]);
    for m in &models {
        let e = &m.evaluation;
        t.add_row(vec![
            if active.get(&m.symbol) == Some(&m.version) {
                "*".into()
            } else {
                String::new()
            },
            m.version.clone(),
            m.symbol.clone(),
            m.interval.clone(),
            m.created_at.format("%Y-%m-%d %H:%M").to_string(),
            format!(
                "{} .. {}",
                m.validation_window.start.date_naive(),
                m.validation_window.end.date_naive()
            ),
            format!("{:.6}", e.model.rmse),
            e.model
                .direction_accuracy
                .map_or("-".into(), |a| format!("{:.1}%", a * 100.0)),
            format!("{:.6}", e.persistence.rmse),
            format!("{:.1}", m.training.seconds),
        ]);
    }
    if models.is_empty() {
        println!(
            "no models yet in {} (run model-retraining-flow)",
            s.registry.dir().display()
        );
    } else {
        print_table(&t);
    }
    Ok(())
}

async fn decisions_ls(
    s: &Sentinel,
    symbol: Option<&str>,
    limit: usize,
    output: Output,
) -> anyhow::Result<()> {
    let decisions = s.store.decisions(symbol, limit).await?;
    if let Output::Json = output {
        println!("{}", serde_json::to_string_pretty(&decisions)?);
        return Ok(());
    }
    let mut t = table(&[
        "id",
        "decided",
        "symbol",
        "action",
        "score",
        "confidence",
        "price",
        "model",
        "reason",
    ]);
    for d in &decisions {
        t.add_row(vec![
            d.id.map_or("-".into(), |i| i.to_string()),
            time(d.decided_at),
            d.symbol.clone(),
            format!("{}{}", d.action, if d.forced { " (forced)" } else { "" }),
            format!("{:+.3}", d.score),
            format!("{:.2}", d.confidence),
            opt(d.price, 2),
            d.signals
                .lstm
                .as_ref()
                .map_or("-".into(), |l| match l.shadow {
                    None => l.model_version.clone(),
                    Some(_) => format!("{} (shadow)", l.model_version),
                }),
            d.reason.clone(),
        ]);
    }
    if decisions.is_empty() {
        println!("no decisions yet (run trading-flow)");
    } else {
        print_table(&t);
    }
    Ok(())
}

async fn report(s: &Sentinel, output: Output) -> anyhow::Result<()> {
    let since = (s.now() - Duration::hours(s.config.decision.sentiment_window_hours)).timestamp();
    let mut rows = Vec::new();
    for symbol in s.config.tickers() {
        let last = s
            .store
            .bars(&symbol, &s.config.market.interval, Some(1))
            .await?
            .pop();
        let scores = s.store.sentiment_since(Some(&symbol), since).await?;
        let sentiment =
            (!scores.is_empty()).then(|| scores.iter().sum::<f64>() / scores.len() as f64);
        let (signals, _) = s.signals(&symbol).await?;
        let decision = s.store.decisions(Some(&symbol), 1).await?.pop();
        rows.push(json!({
            "symbol": symbol,
            "last_bar": last.as_ref().map(|b| b.time()),
            "price": last.as_ref().map(|b| b.close),
            "sentiment": sentiment,
            "headlines": scores.len(),
            "model": signals.lstm.as_ref().map(|l| l.model_version.clone()),
            "model_shadow": signals.lstm.as_ref().and_then(|l| l.shadow.clone()),
            "predicted_return": signals.lstm.as_ref().map(|l| l.predicted_return),
            "decision": decision,
        }));
    }
    if let Output::Json = output {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    println!(
        "sentinel report at {} ({}; market {})",
        s.now().format("%Y-%m-%d %H:%M UTC"),
        s.prices.describe(),
        if s.market_hours.is_open(s.now()) {
            "open"
        } else {
            "closed"
        }
    );
    let mut t = table(&[
        "symbol",
        "last bar",
        "price",
        "sentiment 24h",
        "model",
        "predicted",
        "decision",
        "score",
        "decided",
    ]);
    for r in &rows {
        let d = &r["decision"];
        t.add_row(vec![
            r["symbol"].as_str().unwrap_or("-").to_string(),
            r["last_bar"].as_str().map_or("-".into(), |t| {
                t.chars().take(16).collect::<String>().replace('T', " ")
            }),
            opt(r["price"].as_f64(), 2),
            match r["sentiment"].as_f64() {
                Some(v) => format!("{v:+.2} ({})", r["headlines"]),
                None => "-".into(),
            },
            r["model"].as_str().unwrap_or("-").to_string(),
            r["predicted_return"]
                .as_f64()
                .map_or("-".into(), |p| format!("{:+.3}%", p * 100.0)),
            d["action"].as_str().unwrap_or("-").to_string(),
            opt(d["score"].as_f64(), 3),
            d["decided_at"].as_i64().map_or("-".into(), time),
        ]);
    }
    print_table(&t);
    Ok(())
}

/// Writes the live sources' current answers in the replay layout.
async fn record(config: &Config, dir: &Path, days: u32) -> anyhow::Result<()> {
    if config.source != Source::Live {
        anyhow::bail!(
            "record reads the live sources: unset SENTINEL_SOURCE or set source = \"live\""
        );
    }
    let s = Sentinel::open(config.clone()).await?;
    let now = Utc::now();
    let interval = &config.market.interval;
    for symbol in config.tickers() {
        let bars = s
            .prices
            .bars(&symbol, interval, Window::last_days(now, days))
            .await?;
        let path = dir
            .join("bars")
            .join(&symbol)
            .join(format!("{interval}.csv"));
        csv::write_bars(&path, &bars)?;
        println!("{}: {} bars", path.display(), bars.len());
    }
    if config.collection.exchange == "binance" {
        let c = &config.collection;
        let bars = s
            .collection
            .bars(&c.symbol, &c.interval, Window::last_days(now, days))
            .await?;
        let path = dir
            .join("bars")
            .join(sentinel::market::file_key(&c.symbol))
            .join(format!("{}.csv", c.interval));
        csv::write_bars(&path, &bars)?;
        println!(
            "{}: {} bars ({})",
            path.display(),
            bars.len(),
            s.collection.describe()
        );
    }
    let http = sentinel::http::client(config.market.timeout_secs, &config.market.user_agent)?;
    for feed in &config.news.feeds {
        let targets: Vec<(String, Option<String>)> = if feed.url.contains("{symbol}") {
            config
                .tickers()
                .into_iter()
                .map(|t| (feed.url.replace("{symbol}", &t), Some(t)))
                .collect()
        } else {
            vec![(feed.url.clone(), None)]
        };
        for (url, symbol) in targets {
            let body = sentinel::http::get_bytes(
                &http,
                &format!("rss:{}", feed.name),
                &url,
                Default::default(),
            )
            .await?;
            let folder = match &symbol {
                Some(sym) => dir.join("feeds").join(sym),
                None => dir.join("feeds"),
            };
            std::fs::create_dir_all(&folder)?;
            let path = folder.join(format!("{}.xml", feed.name));
            std::fs::write(&path, body)?;
            println!("{}", path.display());
        }
    }
    std::fs::write(
        dir.join("replay.toml"),
        format!("now = \"{}\"\n", now.to_rfc3339()),
    )?;
    println!(
        "recorded at {now}; replay with SENTINEL_SOURCE=replay:{}",
        dir.display()
    );
    Ok(())
}
