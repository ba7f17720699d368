//! Bars as CSV: the replay format and the format of exported datasets.
//!
//! A header line is required. Columns are found by name, case-insensitively:
//! the time column is the first column when its name is empty, or the one
//! named `timestamp`, `date`, `datetime` or `time`; then `open`, `high`,
//! `low`, `close` and (optional) `volume`. A time is `YYYY-MM-DD` (00:00
//! UTC), `YYYY-MM-DD HH:MM:SS` (UTC), RFC 3339 or Unix seconds. This reads
//! the files written by [`write_bars`] and exports such as pandas'
//! `DataFrame.to_csv()` of Yahoo history (`,Open,High,Low,Close,Volume`).

use std::path::Path;

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat};

use super::Bar;
use crate::error::{Result, SentinelError};

/// Parses CSV text into bars of `symbol`/`interval` (`what` names the file in errors).
pub fn parse_bars(text: &str, symbol: &str, interval: &str, what: &str) -> Result<Vec<Bar>> {
    let err = |line: usize, message: String| SentinelError::Parse {
        what: format!("{what}:{line}"),
        message,
    };
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        return Ok(Vec::new());
    };
    let names: Vec<String> = header
        .split(',')
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    let find = |wanted: &[&str]| names.iter().position(|n| wanted.contains(&n.as_str()));
    let time_col = if names.first().is_some_and(|n| n.is_empty()) {
        Some(0)
    } else {
        find(&["timestamp", "date", "datetime", "time"])
    };
    let required = |name: &str| {
        find(&[name]).ok_or_else(|| err(1, format!("header {header:?} has no {name:?} column")))
    };
    let time_col = time_col.ok_or_else(|| {
        err(
            1,
            format!("header {header:?} has no time column (timestamp/date)"),
        )
    })?;
    let (o, h, l, c) = (
        required("open")?,
        required("high")?,
        required("low")?,
        required("close")?,
    );
    let v = find(&["volume"]);
    let mut bars = Vec::new();
    for (i, line) in lines {
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        let cell = |col: usize| cells.get(col).copied().unwrap_or("");
        let num = |col: usize, name: &str| -> Result<f64> {
            cell(col)
                .parse::<f64>()
                .map_err(|_| err(i + 1, format!("{name} {:?} is not a number", cell(col))))
        };
        let ts = parse_time(cell(time_col)).ok_or_else(|| {
            err(
                i + 1,
                format!(
                    "time {:?}: use YYYY-MM-DD, RFC 3339 or Unix seconds",
                    cell(time_col)
                ),
            )
        })?;
        let volume = match v {
            Some(col) if !cell(col).is_empty() => num(col, "volume")?,
            _ => 0.0,
        };
        bars.push(Bar {
            symbol: symbol.to_string(),
            interval: interval.to_string(),
            ts,
            open: num(o, "open")?,
            high: num(h, "high")?,
            low: num(l, "low")?,
            close: num(c, "close")?,
            volume,
        });
    }
    Ok(bars)
}

/// Reads a CSV file of bars.
pub fn read_bars(path: &Path, symbol: &str, interval: &str) -> Result<Vec<Bar>> {
    let text = std::fs::read_to_string(path).map_err(|e| SentinelError::io(path, e))?;
    parse_bars(&text, symbol, interval, &path.display().to_string())
}

/// Writes bars as CSV (`timestamp,open,high,low,close,volume`, RFC 3339 UTC times).
pub fn write_bars(path: &Path, bars: &[Bar]) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| SentinelError::io(dir, e))?;
    }
    let mut out = String::from("timestamp,open,high,low,close,volume\n");
    for b in bars {
        out.push_str(&format!(
            "{},{},{},{},{},{}\n",
            b.time().to_rfc3339_opts(SecondsFormat::Secs, true),
            b.open,
            b.high,
            b.low,
            b.close,
            b.volume
        ));
    }
    std::fs::write(path, out).map_err(|e| SentinelError::io(path, e))
}

/// Parses one time cell into Unix seconds.
pub fn parse_time(s: &str) -> Option<i64> {
    if let Ok(n) = s.parse::<i64>() {
        return Some(n);
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp());
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S") {
        return Some(t.and_utc().timestamp());
    }
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_pandas_exports_and_round_trips() {
        let text = ",Open,High,Low,Close,Volume\n2004-08-19,100,104.06,95.96,100.34,22351900\n";
        let bars = parse_bars(text, "GOOG", "1d", "t").unwrap();
        assert_eq!(bars[0].ts, 1092873600);
        assert_eq!(bars[0].close, 100.34);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x/1d.csv");
        write_bars(&p, &bars).unwrap();
        assert_eq!(read_bars(&p, "GOOG", "1d").unwrap(), bars);
    }

    #[test]
    fn errors_name_file_line_and_cell() {
        let err = parse_bars(
            "date,open,high,low,close\n2020-01-01,1,2,0.5,abc\n",
            "X",
            "1d",
            "f.csv",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("f.csv:2") && err.contains("\"abc\""), "{err}");
        let err = parse_bars("date,open,high,low\n", "X", "1d", "f.csv")
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"close\""), "{err}");
    }
}
