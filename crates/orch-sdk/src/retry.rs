//! Retry policies: how many times a task is retried and how long to wait between attempts.

use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ConstantBuilder, ExponentialBuilder};

/// Decides whether an error is worth another attempt.
pub type RetryCondition = Arc<dyn Fn(&anyhow::Error) -> bool + Send + Sync>;

/// How the delay between attempts grows.
#[derive(Debug, Clone, PartialEq)]
pub enum Delays {
    /// The same delay every time.
    Fixed(Duration),
    /// `initial`, then multiplied by `factor` each time (optionally capped).
    Exponential {
        /// First delay.
        initial: Duration,
        /// Growth factor (2.0 doubles).
        factor: f32,
        /// Upper bound of a single delay.
        max: Option<Duration>,
    },
    /// Exactly these delays; the last one repeats if there are more retries.
    List(Vec<Duration>),
}

/// A task's retry policy.
#[derive(Clone)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub retries: u32,
    /// Delays between attempts.
    pub delays: Delays,
    /// Random extra delay, as a fraction of each delay (0.2 adds up to 20 %).
    pub jitter: f64,
    /// Only errors for which this returns true are retried.
    pub condition: Option<RetryCondition>,
}

impl std::fmt::Debug for RetryPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetryPolicy")
            .field("retries", &self.retries)
            .field("delays", &self.delays)
            .field("jitter", &self.jitter)
            .field("condition", &self.condition.as_ref().map(|_| "fn"))
            .finish()
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            retries: 0,
            delays: Delays::Fixed(Duration::ZERO),
            jitter: 0.0,
            condition: None,
        }
    }
}

impl RetryPolicy {
    /// The delay before each retry, without jitter, in order (`retries` of them).
    pub fn base_delays(&self) -> Vec<Duration> {
        let count = self.retries as usize;
        match &self.delays {
            Delays::Fixed(delay) => ConstantBuilder::default()
                .with_delay(*delay)
                .with_max_times(count)
                .build()
                .collect(),
            Delays::Exponential {
                initial,
                factor,
                max,
            } => {
                let builder = ExponentialBuilder::default()
                    .with_min_delay(*initial)
                    .with_factor(*factor)
                    .with_max_times(count);
                let builder = match max {
                    Some(max) => builder.with_max_delay(*max),
                    None => builder.without_max_delay(),
                };
                // backon multiplies in f32: drop the sub-microsecond noise.
                builder
                    .build()
                    .map(|delay| Duration::from_micros(((delay.as_nanos() + 500) / 1000) as u64))
                    .collect()
            }
            Delays::List(list) => {
                let last = list.last().copied().unwrap_or_default();
                (0..count)
                    .map(|i| list.get(i).copied().unwrap_or(last))
                    .collect()
            }
        }
    }

    /// The delay before retry number `retry` (1-based), with jitter applied.
    pub fn delay_before(&self, retry: u32, base_delays: &[Duration]) -> Duration {
        let base = base_delays
            .get(retry.saturating_sub(1) as usize)
            .copied()
            .unwrap_or_default();
        if self.jitter <= 0.0 {
            return base;
        }
        base.mul_f64(1.0 + self.jitter * fastrand::f64())
    }

    /// Whether `error` on attempt `attempt` (1-based) gets another attempt.
    pub fn should_retry(&self, attempt: u32, error: &anyhow::Error) -> bool {
        attempt <= self.retries
            && self
                .condition
                .as_ref()
                .is_none_or(|retry_if| retry_if(error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    #[test]
    fn fixed_delays_repeat_once_per_retry() {
        let policy = RetryPolicy {
            retries: 3,
            delays: Delays::Fixed(ms(30)),
            ..Default::default()
        };
        assert_eq!(policy.base_delays(), vec![ms(30), ms(30), ms(30)]);
    }

    #[test]
    fn exponential_delays_grow_by_the_factor_up_to_the_cap() {
        let policy = RetryPolicy {
            retries: 5,
            delays: Delays::Exponential {
                initial: ms(100),
                factor: 2.0,
                max: Some(ms(500)),
            },
            ..Default::default()
        };
        assert_eq!(
            policy.base_delays(),
            vec![ms(100), ms(200), ms(400), ms(500), ms(500)]
        );
        let uncapped = RetryPolicy {
            delays: Delays::Exponential {
                initial: ms(10),
                factor: 3.0,
                max: None,
            },
            ..policy
        };
        assert_eq!(
            uncapped.base_delays(),
            vec![ms(10), ms(30), ms(90), ms(270), ms(810)]
        );
    }

    #[test]
    fn a_delay_list_is_used_in_order_and_its_last_entry_repeats() {
        let policy = RetryPolicy {
            retries: 4,
            delays: Delays::List(vec![ms(1), ms(5)]),
            ..Default::default()
        };
        assert_eq!(policy.base_delays(), vec![ms(1), ms(5), ms(5), ms(5)]);
    }

    #[test]
    fn jitter_adds_at_most_its_fraction() {
        let policy = RetryPolicy {
            retries: 1,
            delays: Delays::Fixed(ms(1000)),
            jitter: 0.2,
            ..Default::default()
        };
        let base = policy.base_delays();
        for _ in 0..200 {
            let delay = policy.delay_before(1, &base);
            assert!(delay >= ms(1000) && delay <= ms(1200), "{delay:?}");
        }
    }

    #[test]
    fn retries_stop_when_used_up_or_when_the_condition_refuses() {
        let mut policy = RetryPolicy {
            retries: 2,
            ..Default::default()
        };
        let error = anyhow::anyhow!("HTTP 429");
        assert!(policy.should_retry(1, &error));
        assert!(policy.should_retry(2, &error));
        assert!(!policy.should_retry(3, &error));
        policy.condition = Some(Arc::new(|e: &anyhow::Error| e.to_string().contains("429")));
        assert!(policy.should_retry(1, &error));
        assert!(!policy.should_retry(1, &anyhow::anyhow!("HTTP 404")));
    }
}
