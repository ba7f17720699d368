//! A recording on disk that stands in for the live sources (offline runs,
//! demos, backtests). Layout, all parts optional:
//!
//! ```text
//! DIR/replay.toml                 now = "2013-03-04T15:00:00Z"   (the recording's clock)
//! DIR/bars/<SYMBOL>/<interval>.csv bars, see market::csv (e.g. bars/GOOG/1d.csv)
//! DIR/feeds/<name>.xml            RSS 2.0 or Atom documents, market-wide headlines
//! DIR/feeds/<SYMBOL>/<name>.xml   feeds about one symbol
//! DIR/newsapi/<SYMBOL>.json       NewsAPI /v2/everything answers
//! ```
//!
//! Without `now` in `replay.toml`, the clock is the start of the latest bar.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::{Bar, Window, csv};
use crate::error::{Result, SentinelError};

/// One recorded file of news.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedFile {
    /// File stem, used as the source name.
    pub name: String,
    /// The file.
    pub path: PathBuf,
    /// The symbol the file is about, if it sits in a symbol folder.
    pub symbol: Option<String>,
}

/// An opened recording.
#[derive(Debug, Clone)]
pub struct Recording {
    dir: PathBuf,
    now: Option<DateTime<Utc>>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplayToml {
    now: Option<DateTime<Utc>>,
}

impl Recording {
    /// Opens `dir`, which must exist and hold `bars/`, `feeds/` or `newsapi/`.
    pub fn open(dir: &Path) -> Result<Recording> {
        let layout_hint =
            "expected bars/<SYMBOL>/<interval>.csv, feeds/*.xml or newsapi/<SYMBOL>.json inside";
        if !dir.is_dir() {
            return Err(SentinelError::InvalidConfig(format!(
                "replay folder {} does not exist ({layout_hint})",
                dir.display()
            )));
        }
        if !["bars", "feeds", "newsapi"]
            .iter()
            .any(|d| dir.join(d).is_dir())
        {
            return Err(SentinelError::InvalidConfig(format!(
                "replay folder {} is empty: {layout_hint}",
                dir.display()
            )));
        }
        let meta = dir.join("replay.toml");
        let now = if meta.exists() {
            let text = std::fs::read_to_string(&meta).map_err(|e| SentinelError::io(&meta, e))?;
            let parsed: ReplayToml = toml::from_str(&text).map_err(|e| SentinelError::Config {
                path: meta.clone(),
                message: e.to_string(),
            })?;
            parsed.now
        } else {
            None
        };
        Ok(Recording {
            dir: dir.to_path_buf(),
            now,
        })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The recording's clock: `now` from `replay.toml`, else the latest bar's start.
    pub fn clock(&self) -> Result<Option<DateTime<Utc>>> {
        if self.now.is_some() {
            return Ok(self.now);
        }
        let mut latest: Option<i64> = None;
        for (symbol, interval, path) in self.bar_files()? {
            let bars = csv::read_bars(&path, &symbol, &interval)?;
            latest = latest.max(bars.iter().map(|b| b.ts).max());
        }
        Ok(latest.and_then(|ts| DateTime::from_timestamp(ts, 0)))
    }

    /// Every recorded bar file as `(symbol, interval, path)`.
    pub fn bar_files(&self) -> Result<Vec<(String, String, PathBuf)>> {
        let mut out = Vec::new();
        for symbol_dir in list(&self.dir.join("bars"))? {
            if !symbol_dir.is_dir() {
                continue;
            }
            let symbol = file_name(&symbol_dir);
            for f in list(&symbol_dir)? {
                if f.extension().is_some_and(|e| e == "csv") {
                    out.push((symbol.clone(), stem(&f), f));
                }
            }
        }
        Ok(out)
    }

    /// The recording's own `now` from `replay.toml`, if it has one.
    pub fn recorded_now(&self) -> Option<DateTime<Utc>> {
        self.now
    }

    /// Recorded bars of `symbol` at `interval` inside `window` that have
    /// closed by the window's end (bars of a day or less: start + interval
    /// <= end; longer bars are often stamped at their end and are kept as
    /// stamped), so a replay never sees a bar before it is complete.
    pub fn bars(&self, symbol: &str, interval: &str, window: Window) -> Result<Vec<Bar>> {
        let step = crate::validate::interval_seconds(interval)
            .ok()
            .flatten()
            .filter(|s| *s <= 86_400)
            .unwrap_or(0);
        let end = window.end.timestamp();
        Ok(self
            .all_bars(symbol, interval, window)?
            .into_iter()
            .filter(|b| b.ts + step <= end)
            .collect())
    }

    /// Recorded bars of `symbol` at `interval` that start inside `window`. A
    /// symbol that was not recorded has no bars; a recorded symbol without
    /// this interval is an error naming the intervals that are there.
    pub fn all_bars(&self, symbol: &str, interval: &str, window: Window) -> Result<Vec<Bar>> {
        let symbol_dir = self.dir.join("bars").join(super::file_key(symbol));
        if !symbol_dir.is_dir() {
            return Ok(Vec::new());
        }
        let path = symbol_dir.join(format!("{interval}.csv"));
        if !path.exists() {
            let have: Vec<String> = list(&symbol_dir)?.iter().map(|p| stem(p)).collect();
            return Err(SentinelError::InvalidInput(format!(
                "the recording has no {interval} bars of {symbol} (it has: {}); set market.interval to one of them",
                have.join(", ")
            )));
        }
        Ok(csv::read_bars(&path, symbol, interval)?
            .into_iter()
            .filter(|b| window.contains(b.ts))
            .collect())
    }

    /// Recorded RSS/Atom files: `feeds/*.xml` and `feeds/<SYMBOL>/*.xml`.
    pub fn feed_files(&self) -> Result<Vec<RecordedFile>> {
        let mut out = Vec::new();
        for p in list(&self.dir.join("feeds"))? {
            if p.is_dir() {
                let symbol = file_name(&p);
                for f in list(&p)? {
                    if is_feed(&f) {
                        out.push(RecordedFile {
                            name: stem(&f),
                            path: f,
                            symbol: Some(symbol.clone()),
                        });
                    }
                }
            } else if is_feed(&p) {
                out.push(RecordedFile {
                    name: stem(&p),
                    path: p,
                    symbol: None,
                });
            }
        }
        Ok(out)
    }

    /// Recorded NewsAPI answers: `newsapi/<SYMBOL>.json`.
    pub fn newsapi_files(&self) -> Result<Vec<RecordedFile>> {
        Ok(list(&self.dir.join("newsapi"))?
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .map(|p| RecordedFile {
                name: "newsapi".into(),
                symbol: Some(stem(&p)),
                path: p,
            })
            .collect())
    }
}

fn is_feed(p: &Path) -> bool {
    p.is_file()
        && p.extension()
            .is_some_and(|e| e == "xml" || e == "rss" || e == "atom")
}

fn stem(p: &Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The entries of a folder, sorted; a missing folder is empty.
fn list(dir: &Path) -> Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| SentinelError::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_layout_and_clock() {
        let dir = tempfile::tempdir().unwrap();
        let bars = dir.path().join("bars/GOOG");
        std::fs::create_dir_all(&bars).unwrap();
        std::fs::write(bars.join("1d.csv"), "date,open,high,low,close,volume\n2013-02-28,1,2,0.5,1.5,10\n2013-03-01,1.5,2,1,1.8,12\n").unwrap();
        let r = Recording::open(dir.path()).unwrap();
        assert_eq!(
            r.clock().unwrap().unwrap().to_rfc3339(),
            "2013-03-01T00:00:00+00:00"
        );
        let all = Window {
            start: DateTime::from_timestamp(0, 0).unwrap(),
            end: Utc::now(),
        };
        assert_eq!(r.bars("GOOG", "1d", all).unwrap().len(), 2);
        assert!(r.bars("MSFT", "1d", all).unwrap().is_empty());
        let err = r.bars("GOOG", "15m", all).unwrap_err().to_string();
        assert!(err.contains("it has: 1d"), "{err}");
        std::fs::write(
            dir.path().join("replay.toml"),
            "now = \"2013-03-04T15:00:00Z\"\n",
        )
        .unwrap();
        let r = Recording::open(dir.path()).unwrap();
        assert_eq!(
            r.clock().unwrap().unwrap().to_rfc3339(),
            "2013-03-04T15:00:00+00:00"
        );
    }

    #[test]
    fn missing_or_empty_folders_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            Recording::open(&dir.path().join("nope"))
                .unwrap_err()
                .to_string()
                .contains("does not exist")
        );
        assert!(
            Recording::open(dir.path())
                .unwrap_err()
                .to_string()
                .contains("is empty")
        );
    }
}
