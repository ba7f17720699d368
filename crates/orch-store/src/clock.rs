//! Where the store, and the server loops built on it, read the time.
//!
//! Production uses [`Clock::system`]; tests inject a [`ManualClock`] so that
//! an hour of schedules, leases and late runs passes in no time at all.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Utc};

/// A source of the current time, in microseconds since the Unix epoch.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> i64 + Send + Sync>);

impl Clock {
    /// The machine's wall clock.
    pub fn system() -> Clock {
        Clock(Arc::new(|| Utc::now().timestamp_micros()))
    }

    /// A clock that asks `now` (microseconds since the epoch).
    pub fn from_fn(now: impl Fn() -> i64 + Send + Sync + 'static) -> Clock {
        Clock(Arc::new(now))
    }

    /// Now, in microseconds since the epoch.
    pub fn now_micros(&self) -> i64 {
        (self.0)()
    }

    /// Now, as a UTC time.
    pub fn now(&self) -> DateTime<Utc> {
        micros_to_utc(self.now_micros())
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Clock({})", self.now_micros())
    }
}

/// A clock that stands still until it is set or advanced.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// A clock showing `start`.
    pub fn new(start: DateTime<Utc>) -> ManualClock {
        ManualClock(Arc::new(AtomicI64::new(start.timestamp_micros())))
    }

    /// The time it shows.
    pub fn now(&self) -> DateTime<Utc> {
        micros_to_utc(self.0.load(Ordering::SeqCst))
    }

    /// Moves it to `time` (backwards too).
    pub fn set(&self, time: DateTime<Utc>) {
        self.0.store(time.timestamp_micros(), Ordering::SeqCst);
    }

    /// Moves it forward by `by`.
    pub fn advance(&self, by: std::time::Duration) {
        self.0.fetch_add(by.as_micros() as i64, Ordering::SeqCst);
    }

    /// A [`Clock`] that reads this one.
    pub fn clock(&self) -> Clock {
        let time = Arc::clone(&self.0);
        Clock::from_fn(move || time.load(Ordering::SeqCst))
    }
}

/// Microseconds since the epoch as a UTC time (clamped to chrono's range).
pub fn micros_to_utc(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let start = DateTime::parse_from_rfc3339("2026-03-06T20:10:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let manual = ManualClock::new(start);
        let clock = manual.clock();
        assert_eq!(clock.now(), start);
        manual.advance(std::time::Duration::from_secs(90));
        assert_eq!(clock.now_micros(), start.timestamp_micros() + 90_000_000);
        manual.set(start);
        assert_eq!(clock.now(), start);
    }
}
