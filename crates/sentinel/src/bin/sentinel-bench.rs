//! Measures the LSTM honestly on real recorded data: trains on the older
//! part of a bar history, evaluates on the held-back most recent part, and
//! prints direction accuracy and RMSE against the persistence, last-direction
//! and drift baselines, plus training time on CPU. Several seeds, so the
//! spread is visible.
//!
//! `cargo run --release -p sentinel --bin sentinel-bench -- [CSV] [--seeds N] [--epochs N] [--window N] [--hidden N] [--volatility-only]`
//! (default CSV: tests/fixtures/market/bars/GOOG/1d.csv, real GOOG daily bars 2004-2013).
//!
//! Then the volatility model (HAR on absolute returns) against its three
//! baselines on the same held-back window: RMSE, MAE, QLIKE.

use std::path::PathBuf;

use anyhow::{Context, bail};
use sentinel::config::ModelConfig;
use sentinel::features::{self, Series};
use sentinel::market::Bar;
use sentinel::market::csv;
use sentinel::model::volatility::{self, Har};
use sentinel::model::{self, eval::Metrics};

fn pct(m: &Metrics) -> String {
    m.direction_accuracy
        .map_or("n/a".into(), |a| format!("{:.1}%", a * 100.0))
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut path = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/market/bars/GOOG/1d.csv"
    ));
    let mut hp = ModelConfig::default();
    let mut seeds = 3u64;
    let mut lstm = true;
    while let Some(a) = args.next() {
        let mut num = |name: &str| -> anyhow::Result<String> {
            args.next().with_context(|| format!("{name} needs a value"))
        };
        match a.as_str() {
            "--seeds" => seeds = num("--seeds")?.parse()?,
            "--epochs" => hp.epochs = num("--epochs")?.parse()?,
            "--window" => hp.window = num("--window")?.parse()?,
            "--hidden" => hp.hidden = num("--hidden")?.parse()?,
            "--volatility-only" => lstm = false,
            "-h" | "--help" => {
                println!("sentinel-bench [CSV] [--seeds N] [--epochs N] [--window N] [--hidden N]");
                return Ok(());
            }
            other if other.starts_with("--") => bail!("unknown option {other}"),
            other => path = PathBuf::from(other),
        }
    }
    let symbol = path
        .parent()
        .and_then(|p| p.file_name())
        .map_or("?".into(), |s| s.to_string_lossy().into_owned());
    let interval = path
        .file_stem()
        .map_or("?".into(), |s| s.to_string_lossy().into_owned());
    let bars = csv::read_bars(&path, &symbol, &interval)?;
    println!(
        "data: {} ({} {} bars, {} .. {})",
        path.display(),
        bars.len(),
        interval,
        bars.first()
            .map(|b| b.time().date_naive().to_string())
            .unwrap_or_default(),
        bars.last()
            .map(|b| b.time().date_naive().to_string())
            .unwrap_or_default()
    );
    println!(
        "model: LSTM window={} hidden={} epochs={} batch={} lr={} weight_decay={} validation_fraction={}",
        hp.window,
        hp.hidden,
        hp.epochs,
        hp.batch_size,
        hp.learning_rate,
        hp.weight_decay,
        hp.validation_fraction
    );
    println!(
        "cpu threads available: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    if !lstm {
        return volatility_table(&bars, &hp);
    }
    let mut header_done = false;
    let mut wins = 0;
    for seed in 0..seeds {
        hp.seed = 7 + seed;
        let c = model::train(&bars, &hp, chrono::Utc::now())?;
        let m = &c.model.meta;
        let e = &m.evaluation;
        if !header_done {
            println!(
                "train window: {} .. {} ({} samples); validation window: {} .. {} ({} samples)",
                m.training_window.start.date_naive(),
                m.training_window.end.date_naive(),
                m.training_window.samples,
                m.validation_window.start.date_naive(),
                m.validation_window.end.date_naive(),
                m.validation_window.samples
            );
            println!(
                "\n| forecaster | seed | RMSE (log return) | price RMSE ($) | direction accuracy | train time (s) |"
            );
            println!("| --- | --- | --- | --- | --- | --- |");
            for (name, b) in [
                ("persistence (zero return)", &e.persistence),
                ("last direction (r_t+1 = r_t)", &e.last_direction),
                ("drift (train mean return)", &e.drift),
            ] {
                println!(
                    "| {name} | - | {:.6} | {:.3} | {} | - |",
                    b.rmse,
                    b.price_rmse,
                    pct(b)
                );
            }
            header_done = true;
        }
        let verdict = model::eval::verdict(e, None, 0.0);
        wins += usize::from(verdict.activate);
        println!(
            "| LSTM | {} | {:.6} | {:.3} | {} | {:.2} |",
            hp.seed,
            e.model.rmse,
            e.model.price_rmse,
            pct(&e.model),
            m.training.seconds
        );
    }
    println!(
        "\nLSTM beat the best naive baseline's RMSE (the activation rule) in {wins} of {seeds} seeds."
    );
    volatility_table(&bars, &hp)
}

/// The volatility model and its baselines on the same held-back window.
fn volatility_table(bars: &[Bar], hp: &ModelConfig) -> anyhow::Result<()> {
    let series = Series::from_bars(bars)?;
    let (_, val) = features::split(series.len(), hp.window, hp.validation_fraction)?;
    let targets: Vec<usize> = val.clone().collect();
    let har = Har::fit(&series.returns, val.start)?;
    let e = volatility::evaluate(&har, &series.returns, &targets);
    println!(
        "\nvolatility (next bar's |log return|), fitted on {} returns, evaluated on {} held-back ones:",
        val.start, e.model.samples
    );
    println!("\n| forecaster | RMSE | MAE | QLIKE |");
    println!("| --- | --- | --- | --- |");
    for (name, m) in [("HAR model", e.model)].into_iter().chain(e.baselines()) {
        println!("| {name} | {:.6} | {:.6} | {:.4} |", m.rmse, m.mae, m.qlike);
    }
    let c = &har.coef;
    println!(
        "\nHAR coefficients: b0 {:.6}, b1 {:.3}, b5 {:.3}, b22 {:.3}",
        c[0], c[1], c[2], c[3]
    );
    let verdict = sentinel::pipeline::volatility::volatility_verdict(&e, None, 0.0);
    println!("activation rule: {}", verdict.reason);
    Ok(())
}
