//! A replay clock that moves with wall time: offline runs see new bars,
//! decisions change, retraining has new data.
//!
//! The clock walks the recording bar by bar: `speed` bars per wall-clock
//! minute from `start`. At step `k` it stands just after bar `i = start + k`
//! has closed: at the next bar's start for intraday bars, at the next bar's
//! day plus the recording's time of day for daily and longer bars (for daily
//! equity bars: the next session, market open). Weekends and holidays have no
//! bars, so the clock skips them as a market does. After the last bar it
//! stays at the end, or with `loop = true` restarts at `start`.
//!
//! Every process (one per flow run) derives the same instant from the wall
//! clock and the replay's epoch, the wall instant it began, which sentinel
//! keeps in `DATA_DIR/replay-epoch.json` (delete it to restart the replay).

use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::replay::Recording;
use crate::config::ReplayConfig;
use crate::error::{Result, SentinelError};
use crate::validate::interval_seconds;

/// The replay's timeline and speed.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayClock {
    /// Start of every recorded bar of the traded symbols, ascending.
    pub timeline: Vec<i64>,
    /// Index of the first bar the clock stands after.
    pub start_index: usize,
    /// Length of one bar, seconds.
    pub bar_secs: i64,
    /// For daily and longer bars: seconds after midnight UTC of the next bar's day.
    pub time_of_day_secs: i64,
    /// Bars per wall-clock minute.
    pub speed: f64,
    /// Restart at the end.
    pub looping: bool,
    /// Where the clock stands after the last bar: the recording's own clock
    /// when it is later than the last bar (else one bar length on).
    pub end: Option<i64>,
}

/// Where the replay stands at a wall instant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplayPosition {
    /// The simulated instant.
    pub now: DateTime<Utc>,
    /// Index of the last closed bar.
    pub bar_index: usize,
    /// Times the replay restarted from `start`.
    pub laps: u64,
    /// True once the (non-looping) replay reached its last bar.
    pub at_end: bool,
}

/// The persisted epoch of a moving replay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplayEpoch {
    /// The wall instant the replay began.
    pub started_at: DateTime<Utc>,
    /// The configured start it began from.
    pub start: Option<DateTime<Utc>>,
    /// The speed it began at.
    pub speed: f64,
    /// The lap the replay was last seen on (a new lap forgets the future).
    #[serde(default)]
    pub lap: u64,
}

impl ReplayClock {
    /// Builds the clock over the bars of `symbols` at `interval` in `recording`.
    pub fn new(
        recording: &Recording,
        symbols: &[String],
        interval: &str,
        cfg: &ReplayConfig,
    ) -> Result<ReplayClock> {
        let mut timeline: Vec<i64> = Vec::new();
        for symbol in symbols {
            let all = super::Window {
                start: DateTime::<Utc>::MIN_UTC,
                end: DateTime::<Utc>::MAX_UTC,
            };
            timeline.extend(
                recording
                    .all_bars(symbol, interval, all)?
                    .iter()
                    .map(|b| b.ts),
            );
        }
        timeline.sort_unstable();
        timeline.dedup();
        let (Some(&first), Some(&last)) = (timeline.first(), timeline.last()) else {
            return Err(SentinelError::InvalidConfig(format!(
                "replay.speed is set but {} has no {interval} bars of {} to replay",
                recording.dir().display(),
                symbols.join(", ")
            )));
        };
        let bar_secs = interval_seconds(interval)?.unwrap_or(30 * 86_400);
        let start = cfg.start.map_or(last - 365 * 86_400, |s| s.timestamp());
        let start_index = timeline.partition_point(|&t| t < start.max(first));
        if start_index >= timeline.len() {
            return Err(SentinelError::InvalidConfig(format!(
                "replay.start {} is after the recording's last bar ({})",
                cfg.start.map(|s| s.to_rfc3339()).unwrap_or_default(),
                DateTime::from_timestamp(last, 0).unwrap_or_default()
            )));
        }
        let time_of_day_secs = recording
            .recorded_now()
            .map_or(15 * 3600, |n| n.timestamp().rem_euclid(86_400));
        let end = recording
            .recorded_now()
            .map(|n| n.timestamp())
            .filter(|n| *n >= last + bar_secs);
        Ok(ReplayClock {
            end,
            timeline,
            start_index,
            bar_secs,
            time_of_day_secs,
            speed: cfg.speed,
            looping: cfg.looping,
        })
    }

    /// The simulated instant standing just after bar `i` closed.
    pub fn instant_after(&self, i: usize) -> DateTime<Utc> {
        if let (Some(end), true) = (self.end, i + 1 == self.timeline.len()) {
            return DateTime::from_timestamp(end, 0).unwrap_or_default();
        }
        let next = self
            .timeline
            .get(i + 1)
            .copied()
            .unwrap_or(self.timeline[i] + self.bar_secs);
        let at = if self.bar_secs >= 86_400 {
            next.div_euclid(86_400) * 86_400 + self.time_of_day_secs
        } else {
            next
        };
        DateTime::from_timestamp(at, 0).unwrap_or_default()
    }

    /// Where the replay stands `elapsed` wall time after its epoch.
    pub fn position(&self, elapsed: Duration) -> ReplayPosition {
        let minutes = elapsed.num_milliseconds().max(0) as f64 / 60_000.0;
        let steps = (minutes * self.speed).floor() as u64;
        let span = (self.timeline.len() - self.start_index) as u64;
        let (offset, laps, at_end) = if self.looping {
            (steps % span, steps / span, false)
        } else {
            (steps.min(span - 1), 0, steps >= span - 1)
        };
        let bar_index = self.start_index + offset as usize;
        ReplayPosition {
            now: self.instant_after(bar_index),
            bar_index,
            laps,
            at_end,
        }
    }
}

/// Reads the replay's epoch from `path`, or starts one at `wall` (also when
/// the configured start or speed changed since).
pub fn load_or_start_epoch(
    path: &Path,
    cfg: &ReplayConfig,
    wall: DateTime<Utc>,
) -> Result<ReplayEpoch> {
    if let Ok(text) = std::fs::read_to_string(path)
        && let Ok(epoch) = serde_json::from_str::<ReplayEpoch>(&text)
        && epoch.start == cfg.start
        && epoch.speed == cfg.speed
    {
        return Ok(epoch);
    }
    let epoch = ReplayEpoch {
        started_at: wall,
        start: cfg.start,
        speed: cfg.speed,
        lap: 0,
    };
    save_epoch(path, &epoch)?;
    Ok(epoch)
}

/// Writes the replay's epoch.
pub fn save_epoch(path: &Path, epoch: &ReplayEpoch) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| SentinelError::io(dir, e))?;
    }
    let text = serde_json::to_string_pretty(epoch).unwrap_or_default();
    std::fs::write(path, text).map_err(|e| SentinelError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clock(days: &[i64], looping: bool) -> ReplayClock {
        ReplayClock {
            timeline: days.iter().map(|d| d * 86_400).collect(),
            start_index: 1,
            bar_secs: 86_400,
            time_of_day_secs: 15 * 3600,
            speed: 2.0,
            looping,
            end: None,
        }
    }

    #[test]
    fn the_clock_walks_bars_at_speed_and_skips_days_without_bars() {
        // Days 0..=4 then 7 (a weekend skipped).
        let c = clock(&[0, 1, 2, 3, 4, 7], false);
        let p = c.position(Duration::zero());
        assert_eq!((p.bar_index, p.now.timestamp()), (1, 2 * 86_400 + 54_000));
        // Two bars a minute: 90 s later, 3 bars on.
        let p = c.position(Duration::seconds(90));
        assert_eq!(p.bar_index, 4);
        assert_eq!(
            p.now.timestamp(),
            7 * 86_400 + 54_000,
            "Friday's bar: Monday"
        );
        let p = c.position(Duration::minutes(60));
        assert_eq!((p.bar_index, p.at_end), (5, true));
        assert_eq!(p.now.timestamp(), 8 * 86_400 + 54_000);
    }

    #[test]
    fn a_looping_replay_restarts_at_start() {
        let c = clock(&[0, 1, 2, 3], true);
        // Span 3 bars (indexes 1..=3); 3 bars = 90 s: back at index 1, lap 1.
        let p = c.position(Duration::seconds(90));
        assert_eq!((p.bar_index, p.laps, p.at_end), (1, 1, false));
        assert_eq!(p.now, c.position(Duration::zero()).now);
        assert_eq!(c.position(Duration::seconds(120)).bar_index, 2);
    }

    #[test]
    fn intraday_bars_stand_at_the_next_bar_start() {
        let c = ReplayClock {
            timeline: vec![0, 900, 1800],
            start_index: 0,
            bar_secs: 900,
            time_of_day_secs: 0,
            speed: 1.0,
            looping: false,
            end: Some(5000),
        };
        assert_eq!(c.instant_after(0).timestamp(), 900);
        assert_eq!(c.instant_after(1).timestamp(), 1800);
        assert_eq!(
            c.instant_after(2).timestamp(),
            5000,
            "the recording's own clock"
        );
    }

    #[test]
    fn the_epoch_is_kept_until_start_or_speed_change() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("replay-epoch.json");
        let mut cfg = ReplayConfig {
            speed: 1.0,
            ..ReplayConfig::default()
        };
        let t0 = DateTime::from_timestamp(1_000, 0).unwrap();
        let t1 = DateTime::from_timestamp(5_000, 0).unwrap();
        assert_eq!(load_or_start_epoch(&path, &cfg, t0).unwrap().started_at, t0);
        assert_eq!(load_or_start_epoch(&path, &cfg, t1).unwrap().started_at, t0);
        cfg.speed = 2.0;
        assert_eq!(load_or_start_epoch(&path, &cfg, t1).unwrap().started_at, t1);
    }
}
