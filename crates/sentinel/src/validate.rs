//! Validation of a collected bar history: duplicates and impossible bars are
//! removed; gaps and outlier returns are reported (they are real market
//! facts more often than errors, so the clean dataset keeps them).

use chrono::{DateTime, Datelike, Weekday};
use serde::{Deserialize, Serialize};

use crate::error::{Result, SentinelError};
use crate::market::Bar;

/// A hole in the series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gap {
    /// Bar before the gap (RFC 3339).
    pub after: String,
    /// Bar after the gap.
    pub before: String,
    /// Bars missing in between.
    pub missing: i64,
}

/// A return far from the others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outlier {
    /// The bar (RFC 3339).
    pub at: String,
    /// Its log return.
    pub log_return: f64,
    /// Robust z-score (median / MAD).
    pub z: f64,
}

/// What validation found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidationReport {
    /// Ticker.
    pub symbol: String,
    /// Interval.
    pub interval: String,
    /// Bars received.
    pub rows_in: usize,
    /// Bars in the clean dataset.
    pub rows_out: usize,
    /// Duplicate timestamps removed (the last copy is kept).
    pub duplicates: usize,
    /// Bars removed for a non-positive (or non-finite) price.
    pub non_positive: usize,
    /// Bars removed because high < low or the close is outside [low, high].
    pub inconsistent: usize,
    /// Gaps found.
    pub gaps: Vec<Gap>,
    /// Outlier returns found.
    pub outliers: Vec<Outlier>,
    /// First clean bar.
    pub first: Option<String>,
    /// Last clean bar.
    pub last: Option<String>,
}

impl ValidationReport {
    /// True when nothing at all was found.
    pub fn is_clean(&self) -> bool {
        self.duplicates == 0
            && self.non_positive == 0
            && self.inconsistent == 0
            && self.gaps.is_empty()
            && self.outliers.is_empty()
    }
}

fn rfc(ts: i64) -> String {
    DateTime::from_timestamp(ts, 0)
        .map(|t| t.to_rfc3339())
        .unwrap_or_default()
}

/// The fixed step of an interval in seconds, or `None` for months (`1mo`, `3mo`).
pub fn interval_seconds(interval: &str) -> Result<Option<i64>> {
    let split = interval
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(interval.len());
    let (n, unit) = interval.split_at(split);
    let n: i64 = n.parse().map_err(|_| {
        SentinelError::InvalidInput(format!(
            "interval {interval:?}: expected e.g. 15m, 1h, 1d, 1wk, 1mo"
        ))
    })?;
    Ok(match unit {
        "m" => Some(n * 60),
        "h" => Some(n * 3600),
        "d" => Some(n * 86_400),
        "wk" => Some(n * 7 * 86_400),
        "mo" => None,
        _ => {
            return Err(SentinelError::InvalidInput(format!(
                "interval {interval:?}: unknown unit {unit:?}"
            )));
        }
    })
}

/// Validates `bars` (any order); returns the clean, sorted series and the report.
/// `weekdays_only` treats weekends as closed (equities); crypto trades every day.
pub fn validate(
    bars: &[Bar],
    interval: &str,
    outlier_z: f64,
    weekdays_only: bool,
) -> Result<(Vec<Bar>, ValidationReport)> {
    let step = interval_seconds(interval)?;
    let symbol = bars.first().map(|b| b.symbol.clone()).unwrap_or_default();
    let mut sorted: Vec<Bar> = bars.to_vec();
    sorted.sort_by_key(|b| b.ts); // stable: copies keep their order
    let mut dedup: Vec<Bar> = Vec::with_capacity(sorted.len());
    let mut duplicates = 0;
    for b in sorted {
        match dedup.last_mut() {
            Some(last) if last.ts == b.ts => {
                *last = b;
                duplicates += 1;
            }
            _ => dedup.push(b),
        }
    }
    let (mut non_positive, mut inconsistent) = (0, 0);
    let clean: Vec<Bar> = dedup
        .into_iter()
        .filter(|b| {
            let prices = [b.open, b.high, b.low, b.close];
            if prices.iter().any(|p| !p.is_finite() || *p <= 0.0) || b.volume < 0.0 {
                non_positive += 1;
                false
            } else if b.high < b.low
                || b.close > b.high * (1.0 + 1e-9)
                || b.close < b.low * (1.0 - 1e-9)
            {
                inconsistent += 1;
                false
            } else {
                true
            }
        })
        .collect();
    let mut gaps = Vec::new();
    for w in clean.windows(2) {
        let missing = match step {
            Some(s) => {
                let mut diff = w[1].ts - w[0].ts;
                if weekdays_only {
                    diff -= weekend_seconds_between(w[0].ts, w[1].ts);
                }
                (diff as f64 / s as f64).round() as i64 - 1
            }
            None => {
                let (a, b) = (w[0].time(), w[1].time());
                i64::from(b.year() - a.year()) * 12 + i64::from(b.month())
                    - i64::from(a.month())
                    - 1
            }
        };
        if missing > 0 {
            gaps.push(Gap {
                after: rfc(w[0].ts),
                before: rfc(w[1].ts),
                missing,
            });
        }
    }
    let returns: Vec<(i64, f64)> = clean
        .windows(2)
        .map(|w| (w[1].ts, (w[1].close / w[0].close).ln()))
        .collect();
    let outliers = robust_outliers(&returns, outlier_z);
    let report = ValidationReport {
        symbol,
        interval: interval.to_string(),
        rows_in: bars.len(),
        rows_out: clean.len(),
        duplicates,
        non_positive,
        inconsistent,
        gaps,
        outliers,
        first: clean.first().map(|b| rfc(b.ts)),
        last: clean.last().map(|b| rfc(b.ts)),
    };
    Ok((clean, report))
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn robust_outliers(returns: &[(i64, f64)], threshold: f64) -> Vec<Outlier> {
    if returns.len() < 5 {
        return Vec::new();
    }
    let mut r: Vec<f64> = returns.iter().map(|x| x.1).collect();
    let med = median(&mut r);
    let mut dev: Vec<f64> = r.iter().map(|x| (x - med).abs()).collect();
    let mad = median(&mut dev).max(1e-12);
    returns
        .iter()
        .filter_map(|&(ts, ret)| {
            let z = 0.6745 * (ret - med) / mad;
            (z.abs() > threshold).then(|| Outlier {
                at: rfc(ts),
                log_return: ret,
                z,
            })
        })
        .collect()
}

/// Seconds of Saturdays and Sundays (UTC days) strictly between two bars.
fn weekend_seconds_between(a: i64, b: i64) -> i64 {
    let mut total = 0;
    let mut day = a.div_euclid(86_400) + 1;
    while day < b.div_euclid(86_400) {
        if let Some(d) = DateTime::from_timestamp(day * 86_400, 0)
            && matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
        {
            total += 86_400;
        }
        day += 1;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(day: i64, close: f64) -> Bar {
        Bar {
            symbol: "BTC-USD".into(),
            interval: "1d".into(),
            ts: day * 86_400,
            open: close,
            high: close * 1.02,
            low: close * 0.98,
            close,
            volume: 5.0,
        }
    }

    #[test]
    fn finds_every_kind_of_problem() {
        let mut bars: Vec<Bar> = (0..30).map(|d| bar(d, 100.0 + (d % 3) as f64)).collect();
        bars.push(bar(4, 101.0)); // duplicate
        bars[10].close = 0.0; // non-positive
        bars[12].high = bars[12].low * 0.5; // inconsistent
        bars.retain(|b| b.ts != 20 * 86_400 && b.ts != 21 * 86_400); // gap of two days
        bars[25].close = 300.0; // outlier
        bars[25].high = 310.0;
        let (clean, r) = validate(&bars, "1d", 8.0, false).unwrap();
        assert_eq!((r.duplicates, r.non_positive, r.inconsistent), (1, 1, 1));
        assert_eq!(r.rows_out, clean.len());
        assert_eq!(r.rows_in, 29);
        // Days 10 and 12 were removed too: each leaves a one-bar gap.
        let missing: Vec<i64> = r.gaps.iter().map(|g| g.missing).collect();
        assert_eq!(missing, [1, 1, 2]);
        assert!(
            !r.outliers.is_empty() && r.outliers.iter().all(|o| o.z.abs() > 8.0),
            "{:?}",
            r.outliers
        );
        assert!(!r.is_clean());
        assert!(clean.windows(2).all(|w| w[0].ts < w[1].ts));
    }

    #[test]
    fn monthly_bars_and_weekends_are_not_gaps() {
        let month_ends = ["2012-01-31", "2012-02-29", "2012-03-31", "2012-05-31"];
        let bars: Vec<Bar> = month_ends
            .iter()
            .map(|d| Bar {
                ts: crate::market::csv::parse_time(d).unwrap(),
                interval: "1mo".into(),
                ..bar(0, 5.0)
            })
            .collect();
        let (_, r) = validate(&bars, "1mo", 8.0, false).unwrap();
        assert_eq!(r.gaps.len(), 1);
        assert_eq!(r.gaps[0].missing, 1);
        // Friday 2024-01-05 to Monday 2024-01-08.
        let fri = crate::market::csv::parse_time("2024-01-05").unwrap() / 86_400;
        let (_, r) = validate(&[bar(fri, 1.0), bar(fri + 3, 1.0)], "1d", 8.0, true).unwrap();
        assert!(r.gaps.is_empty());
        let (_, r) = validate(&[bar(fri, 1.0), bar(fri + 3, 1.0)], "1d", 8.0, false).unwrap();
        assert_eq!(r.gaps[0].missing, 2);
        assert!(validate(&[], "7x", 8.0, false).is_err());
    }
}
