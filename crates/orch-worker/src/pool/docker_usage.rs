//! What a run's container used, reported like a process run's usage: CPU
//! time in user and kernel mode and the peak memory of the container's
//! cgroup, from the engine's stats stream (a sample a second while it runs),
//! and its wall time, from the start and finish times the engine records.
//!
//! The cgroup goes away with the container, so the last sample stands for
//! the end: CPU used in the last second before the exit may be missing. The
//! peak is the cgroup's own high-water mark on cgroup v1 (exact, whenever a
//! sample follows it) and the highest sampled usage on cgroup v2; it counts
//! every process of the container and its page cache.

use std::sync::{Arc, Mutex, PoisonError};

use bollard::Docker;
use bollard::models::{ContainerState, ContainerStatsResponse};
use bollard::query_parameters::StatsOptions;
use futures::StreamExt;
use orch_core::ResourceUsage;
use tokio::task::JoinHandle;

/// The running totals of a container's stats samples.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Totals {
    /// Samples seen.
    samples: u32,
    user_nanos: u64,
    system_nanos: u64,
    peak_bytes: u64,
}

impl Totals {
    /// Folds one sample in: CPU counters only grow, the peak is the highest.
    fn record(&mut self, stats: &ContainerStatsResponse) {
        let cpu = stats
            .cpu_stats
            .as_ref()
            .and_then(|cpu| cpu.cpu_usage.as_ref());
        let memory = stats.memory_stats.as_ref();
        let peak = memory.and_then(|memory| memory.max_usage.or(memory.usage));
        // A stopped container's sample is all zeros: nothing to learn.
        if cpu.and_then(|cpu| cpu.total_usage).unwrap_or(0) == 0 && peak.unwrap_or(0) == 0 {
            return;
        }
        self.samples += 1;
        if let Some(cpu) = cpu {
            self.user_nanos = self.user_nanos.max(cpu.usage_in_usermode.unwrap_or(0));
            self.system_nanos = self.system_nanos.max(cpu.usage_in_kernelmode.unwrap_or(0));
        }
        self.peak_bytes = self.peak_bytes.max(peak.unwrap_or(0));
    }

    /// The usage to report for a container that ended in `state`; `None`
    /// when no sample came in (a container quicker than the first one).
    fn usage(&self, state: &ContainerState) -> Option<ResourceUsage> {
        if self.samples == 0 {
            return None;
        }
        let micros = |nanos: u64| i64::try_from(nanos / 1_000).unwrap_or(i64::MAX);
        Some(ResourceUsage {
            cpu_user_micros: micros(self.user_nanos),
            cpu_system_micros: micros(self.system_nanos),
            max_rss_bytes: i64::try_from(self.peak_bytes).unwrap_or(i64::MAX),
            wall_micros: wall_micros(state).unwrap_or(0),
        })
    }
}

/// From the container's start to its finish, as the engine recorded them.
fn wall_micros(state: &ContainerState) -> Option<i64> {
    let parse = |time: &Option<String>| {
        chrono::DateTime::parse_from_rfc3339(time.as_deref()?)
            .ok()
            .map(|time| time.timestamp_micros())
    };
    let (started, finished) = (parse(&state.started_at)?, parse(&state.finished_at)?);
    (finished >= started).then_some(finished - started)
}

/// Follows a container's stats stream until the container stops (or the
/// watch is dropped).
#[derive(Debug)]
pub(super) struct UsageWatch {
    totals: Arc<Mutex<Totals>>,
    task: JoinHandle<()>,
}

impl UsageWatch {
    /// Starts following container `id`'s stats.
    pub(super) fn start(docker: &Docker, id: &str) -> Self {
        let totals = Arc::new(Mutex::new(Totals::default()));
        let options = StatsOptions {
            stream: true,
            one_shot: false,
        };
        let stream = docker.stats(id, Some(options));
        let shared = totals.clone();
        let task = tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            while let Some(Ok(stats)) = stream.next().await {
                shared
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .record(&stats);
            }
        });
        Self { totals, task }
    }

    /// What the container used, now that it ended in `state`.
    pub(super) fn usage(&self, state: &ContainerState) -> Option<ResourceUsage> {
        self.totals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .usage(state)
    }
}

impl Drop for UsageWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use bollard::models::{ContainerCpuStats, ContainerCpuUsage, ContainerMemoryStats};

    use super::*;

    fn sample(
        user: u64,
        system: u64,
        usage: u64,
        max_usage: Option<u64>,
    ) -> ContainerStatsResponse {
        ContainerStatsResponse {
            cpu_stats: Some(ContainerCpuStats {
                cpu_usage: Some(ContainerCpuUsage {
                    total_usage: Some(user + system),
                    usage_in_usermode: Some(user),
                    usage_in_kernelmode: Some(system),
                    ..ContainerCpuUsage::default()
                }),
                ..ContainerCpuStats::default()
            }),
            memory_stats: Some(ContainerMemoryStats {
                usage: Some(usage),
                max_usage,
                ..ContainerMemoryStats::default()
            }),
            ..ContainerStatsResponse::default()
        }
    }

    fn ended(started: &str, finished: &str) -> ContainerState {
        ContainerState {
            started_at: Some(started.to_owned()),
            finished_at: Some(finished.to_owned()),
            ..ContainerState::default()
        }
    }

    #[test]
    fn cgroup_v1_samples_give_the_last_cpu_times_and_the_high_water_mark() {
        let mut totals = Totals::default();
        totals.record(&sample(
            1_000_000_000,
            200_000_000,
            50 << 20,
            Some(80 << 20),
        ));
        totals.record(&sample(
            2_500_000_000,
            300_000_000,
            10 << 20,
            Some(80 << 20),
        ));
        // The zeros of a stopped container's last sample change nothing.
        totals.record(&sample(0, 0, 0, Some(0)));
        let usage = totals
            .usage(&ended("2026-01-05T10:00:00.25Z", "2026-01-05T10:00:04.75Z"))
            .unwrap();
        assert_eq!(usage.cpu_user_micros, 2_500_000);
        assert_eq!(usage.cpu_system_micros, 300_000);
        assert_eq!(usage.max_rss_bytes, 80 << 20);
        assert_eq!(usage.wall_micros, 4_500_000);
    }

    #[test]
    fn cgroup_v2_samples_give_the_highest_usage_seen() {
        let mut totals = Totals::default();
        totals.record(&sample(10, 0, 30 << 20, None));
        totals.record(&sample(20, 0, 70 << 20, None));
        totals.record(&sample(30, 0, 20 << 20, None));
        let usage = totals.usage(&ContainerState::default()).unwrap();
        assert_eq!(usage.max_rss_bytes, 70 << 20);
        assert_eq!(usage.wall_micros, 0, "no times recorded");
    }

    #[test]
    fn no_sample_means_no_usage() {
        let state = ended("2026-01-05T10:00:00Z", "2026-01-05T10:00:00.1Z");
        assert_eq!(Totals::default().usage(&state), None);
        assert_eq!(
            wall_micros(&ended("2026-01-05T10:00:01Z", "0001-01-01T00:00:00Z")),
            None,
            "a container that never finished"
        );
    }
}
