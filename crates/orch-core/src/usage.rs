//! What a flow run's process tree cost: CPU time, peak memory, wall time.
//!
//! The worker measures it (the rusage of the process and every descendant it
//! reaped) and reports it with the run's final state; the server stores it on
//! the run, shows it and observes it in metrics.

use serde::{Deserialize, Serialize};

/// The resources one attempt of a flow run used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceUsage {
    /// CPU time in user mode, in microseconds, of the process and its reaped descendants.
    pub cpu_user_micros: i64,
    /// CPU time in kernel mode, in microseconds.
    pub cpu_system_micros: i64,
    /// Peak resident set size of the largest single process of the tree, in bytes.
    pub max_rss_bytes: i64,
    /// From the process's start to its exit, in microseconds.
    pub wall_micros: i64,
}

impl ResourceUsage {
    /// Total CPU time (user and system), in seconds.
    pub fn cpu_seconds(&self) -> f64 {
        micros_to_seconds(self.cpu_user_micros.saturating_add(self.cpu_system_micros))
    }

    /// Wall time, in seconds.
    pub fn wall_seconds(&self) -> f64 {
        micros_to_seconds(self.wall_micros)
    }

    /// Whether every figure is plausible (none negative); a report that is not
    /// is refused rather than stored.
    pub fn is_valid(&self) -> bool {
        self.cpu_user_micros >= 0
            && self.cpu_system_micros >= 0
            && self.max_rss_bytes >= 0
            && self.wall_micros >= 0
    }
}

/// Microseconds as seconds.
pub fn micros_to_seconds(micros: i64) -> f64 {
    micros.max(0) as f64 / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_seconds_add_user_and_system() {
        let usage = ResourceUsage {
            cpu_user_micros: 1_500_000,
            cpu_system_micros: 250_000,
            max_rss_bytes: 0,
            wall_micros: 3_000_000,
        };
        assert!((usage.cpu_seconds() - 1.75).abs() < 1e-9);
        assert!((usage.wall_seconds() - 3.0).abs() < 1e-9);
        assert!(usage.is_valid());
        let negative = ResourceUsage {
            max_rss_bytes: -1,
            ..usage
        };
        assert!(!negative.is_valid());
    }
}
