//! CPU time of a task: the calling thread's CPU clock read around each poll
//! of the task's future, summed. A tokio task may move between threads
//! between polls, so the clock is read on whichever thread polls it; what
//! other tasks do on that thread between polls is not counted. Two
//! `clock_gettime` calls per poll (a vDSO call on Linux, tens of
//! nanoseconds); elsewhere nothing is measured and the figure is `None`.

use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};

/// Whether this platform has a per-thread CPU clock the SDK reads.
pub(crate) const MEASURED: bool = cfg!(target_os = "linux");

/// CPU time the calling thread has used, in nanoseconds (`None` where
/// there is no per-thread clock).
#[cfg(target_os = "linux")]
pub(crate) fn thread_nanos() -> Option<i64> {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec for the call to fill in.
    let done = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &raw mut now) };
    (done == 0).then(|| now.tv_sec * 1_000_000_000 + now.tv_nsec)
}

/// CPU time the calling thread has used (no per-thread clock here).
#[cfg(not(target_os = "linux"))]
pub(crate) fn thread_nanos() -> Option<i64> {
    None
}

/// Runs `future`, adding the CPU time of each of its polls to `total`
/// (nanoseconds). Also when it is dropped unfinished (a timeout), the polls
/// made so far are counted.
pub(crate) async fn measured<F: Future>(future: F, total: &AtomicI64) -> F::Output {
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(move |cx| {
        let start = thread_nanos();
        let poll = future.as_mut().poll(cx);
        if let (Some(start), Some(end)) = (start, thread_nanos()) {
            total.fetch_add(end - start, Ordering::Relaxed);
        }
        poll
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn burn_thread(nanos: i64) {
        let start = thread_nanos().unwrap();
        let mut spins = 0u64;
        while thread_nanos().unwrap() - start < nanos {
            spins = std::hint::black_box(spins.wrapping_add(1));
        }
    }

    #[tokio::test]
    async fn polls_that_burn_cpu_count_and_waits_do_not() {
        if !MEASURED {
            assert_eq!(thread_nanos(), None);
            return;
        }
        let total = AtomicI64::new(0);
        measured(
            async {
                burn_thread(30_000_000);
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                burn_thread(30_000_000);
            },
            &total,
        )
        .await;
        let burnt = total.load(Ordering::Relaxed);
        assert!(burnt >= 60_000_000, "{burnt} ns");
        // The sleep's 100 ms of waiting are not CPU time of the task.
        assert!(burnt < 100_000_000, "{burnt} ns");
    }
}
