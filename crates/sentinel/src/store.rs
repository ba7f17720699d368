//! sentinel's own SQLite database (`DATA_DIR/sentinel.db`): bars, scored
//! headlines, decisions and collected datasets, de-duplicated by natural keys.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

use crate::decision::{Action, Decision, Signals};
use crate::error::{Result, SentinelError};
use crate::market::Bar;
use crate::news::Headline;

/// A headline with its sentiment score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoredHeadline {
    /// The headline.
    pub headline: Headline,
    /// Score in `[-1, 1]`.
    pub sentiment: f64,
    /// The scorer's name.
    pub scorer: String,
}

/// Counts of one bar upsert.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upserted {
    /// Rows that did not exist.
    pub inserted: u64,
    /// Existing rows whose values changed (an in-progress bar revised).
    pub updated: u64,
    /// Rows already stored as they are.
    pub unchanged: u64,
}

/// Row counts, for reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Bars stored.
    pub bars: i64,
    /// Headlines stored.
    pub headlines: i64,
    /// Decisions recorded.
    pub decisions: i64,
}

/// The database.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) pool: SqlitePool,
}

#[derive(sqlx::FromRow)]
struct BarRow {
    symbol: String,
    interval: String,
    ts: i64,
    open: f64,
    high: f64,
    low: f64,
    close: f64,
    volume: f64,
}

#[derive(sqlx::FromRow)]
struct DecisionRow {
    id: i64,
    decided_at: i64,
    symbol: String,
    action: String,
    score: f64,
    confidence: f64,
    price: Option<f64>,
    inputs: String,
    flow_run_id: Option<String>,
    forced: bool,
}

/// What a decision row keeps in its `inputs` column.
#[derive(Serialize, Deserialize)]
struct DecisionInputs {
    reason: String,
    signals: Signals,
    #[serde(default)]
    size: Option<f64>,
}

impl Store {
    /// Opens (creating if needed) the database at `path` and migrates it.
    pub async fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| SentinelError::io(dir, e))?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Store { pool })
    }

    /// Inserts new bars and updates revised ones.
    pub async fn upsert_bars(&self, bars: &[Bar], now: i64) -> Result<Upserted> {
        let mut tx = self.pool.begin().await?;
        let mut out = Upserted::default();
        for b in bars {
            let inserted = sqlx::query(
                "INSERT INTO bars (symbol, interval, ts, open, high, low, close, volume, fetched_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (symbol, interval, ts) DO NOTHING",
            )
            .bind(&b.symbol)
            .bind(&b.interval)
            .bind(b.ts)
            .bind(b.open)
            .bind(b.high)
            .bind(b.low)
            .bind(b.close)
            .bind(b.volume)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 1 {
                out.inserted += 1;
                continue;
            }
            let updated = sqlx::query(
                "UPDATE bars SET open = $4, high = $5, low = $6, close = $7, volume = $8, fetched_at = $9
                 WHERE symbol = $1 AND interval = $2 AND ts = $3
                   AND (open <> $4 OR high <> $5 OR low <> $6 OR close <> $7 OR volume <> $8)",
            )
            .bind(&b.symbol)
            .bind(&b.interval)
            .bind(b.ts)
            .bind(b.open)
            .bind(b.high)
            .bind(b.low)
            .bind(b.close)
            .bind(b.volume)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if updated == 1 {
                out.updated += 1;
            } else {
                out.unchanged += 1;
            }
        }
        tx.commit().await?;
        Ok(out)
    }

    /// The last `limit` bars of a series (all with `None`), oldest first.
    pub async fn bars(
        &self,
        symbol: &str,
        interval: &str,
        limit: Option<usize>,
    ) -> Result<Vec<Bar>> {
        let limit = limit.map_or(-1, |l| l as i64);
        let rows: Vec<BarRow> = sqlx::query_as(
            "SELECT * FROM (SELECT symbol, interval, ts, open, high, low, close, volume FROM bars
               WHERE symbol = $1 AND interval = $2 ORDER BY ts DESC LIMIT $3) ORDER BY ts",
        )
        .bind(symbol)
        .bind(interval)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| Bar {
                symbol: r.symbol,
                interval: r.interval,
                ts: r.ts,
                open: r.open,
                high: r.high,
                low: r.low,
                close: r.close,
                volume: r.volume,
            })
            .collect())
    }

    /// Stores headlines not stored yet (by key) and adds new symbol tags to
    /// known ones. Returns how many headlines were new.
    pub async fn insert_headlines(&self, headlines: &[ScoredHeadline], now: i64) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        let mut inserted = 0;
        for s in headlines {
            let h = &s.headline;
            inserted += sqlx::query(
                "INSERT INTO headlines (key, source, title, summary, url, published, fetched_at, sentiment, scorer)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (key) DO NOTHING",
            )
            .bind(&h.key)
            .bind(&h.source)
            .bind(&h.title)
            .bind(&h.summary)
            .bind(&h.url)
            .bind(h.published)
            .bind(now)
            .bind(s.sentiment)
            .bind(&s.scorer)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            for symbol in &h.symbols {
                sqlx::query("INSERT INTO headline_symbols (key, symbol) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                    .bind(&h.key)
                    .bind(symbol)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(inserted)
    }

    /// Sentiment scores of headlines published (or, undated, fetched) at or
    /// after `since`: about `symbol`, or all of them with `None`.
    pub async fn sentiment_since(&self, symbol: Option<&str>, since: i64) -> Result<Vec<f64>> {
        let rows: Vec<(f64,)> = match symbol {
            Some(s) => sqlx::query_as(
                "SELECT h.sentiment FROM headlines h JOIN headline_symbols hs ON hs.key = h.key
                 WHERE hs.symbol = $1 AND COALESCE(h.published, h.fetched_at) >= $2",
            )
            .bind(s)
            .bind(since),
            None => sqlx::query_as(
                "SELECT sentiment FROM headlines WHERE COALESCE(published, fetched_at) >= $1",
            )
            .bind(since),
        }
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|(v,)| v).collect())
    }

    /// Records a decision; returns its id.
    pub async fn record_decision(&self, d: &Decision) -> Result<i64> {
        let inputs = serde_json::to_string(&DecisionInputs {
            reason: d.reason.clone(),
            size: d.size,
            signals: d.signals.clone(),
        })
        .map_err(|e| SentinelError::InvalidInput(format!("decision inputs: {e}")))?;
        let id = sqlx::query(
            "INSERT INTO decisions (decided_at, symbol, action, score, confidence, price, model_version, inputs, flow_run_id, forced)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(d.decided_at)
        .bind(&d.symbol)
        .bind(d.action.to_string())
        .bind(d.score)
        .bind(d.confidence)
        .bind(d.price)
        .bind(
            d.signals
                .lstm
                .as_ref()
                .filter(|l| l.counts())
                .map(|l| l.model_version.clone()),
        )
        .bind(inputs)
        .bind(&d.flow_run_id)
        .bind(d.forced)
        .execute(&self.pool)
        .await?
        .last_insert_rowid();
        Ok(id)
    }

    /// The latest `limit` decisions, newest first, optionally of one symbol.
    pub async fn decisions(&self, symbol: Option<&str>, limit: usize) -> Result<Vec<Decision>> {
        let rows: Vec<DecisionRow> = sqlx::query_as(
            "SELECT id, decided_at, symbol, action, score, confidence, price, inputs, flow_run_id, forced
             FROM decisions WHERE ($1 IS NULL OR symbol = $1) ORDER BY decided_at DESC, id DESC LIMIT $2",
        )
        .bind(symbol)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                let inputs: DecisionInputs =
                    serde_json::from_str(&r.inputs).map_err(|e| SentinelError::Parse {
                        what: format!("decision {}", r.id),
                        message: e.to_string(),
                    })?;
                Ok(Decision {
                    id: Some(r.id),
                    decided_at: r.decided_at,
                    symbol: r.symbol,
                    action: Action::from_str(&r.action).map_err(SentinelError::InvalidInput)?,
                    score: r.score,
                    confidence: r.confidence,
                    reason: inputs.reason,
                    size: inputs.size,
                    price: r.price,
                    signals: inputs.signals,
                    forced: r.forced,
                    flow_run_id: r.flow_run_id,
                })
            })
            .collect()
    }

    /// Records an exported dataset and its validation report (JSON).
    pub async fn record_dataset(
        &self,
        symbol: &str,
        interval: &str,
        path: &Path,
        rows: usize,
        report: &str,
        now: i64,
    ) -> Result<i64> {
        Ok(sqlx::query(
            "INSERT INTO datasets (created_at, symbol, interval, path, rows, report) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(now)
        .bind(symbol)
        .bind(interval)
        .bind(path.display().to_string())
        .bind(rows as i64)
        .bind(report)
        .execute(&self.pool)
        .await?
        .last_insert_rowid())
    }

    /// Removes bars that start after `last_bar`, and decisions and portfolio
    /// rows made after `ts` (a replay that restarted: they are the future
    /// again). Returns the rows removed.
    pub async fn forget_after(&self, ts: i64, last_bar: i64) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        let mut n = 0;
        for (sql, t) in [
            ("DELETE FROM bars WHERE ts > $1", last_bar),
            ("DELETE FROM decisions WHERE decided_at > $1", ts),
            ("DELETE FROM portfolio WHERE at > $1", ts),
        ] {
            n += sqlx::query(sql)
                .bind(t)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        Ok(n)
    }

    /// Row counts.
    pub async fn counts(&self) -> Result<Counts> {
        let (bars, headlines, decisions): (i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM bars), (SELECT COUNT(*) FROM headlines), (SELECT COUNT(*) FROM decisions)",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(Counts {
            bars,
            headlines,
            decisions,
        })
    }

    /// Closes the pool (waits for connections to finish).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
