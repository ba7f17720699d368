//! Failing over between several replicas of one orch installation.
//!
//! A client given several URLs ([`crate::urls`]) keeps one channel per URL
//! and sends every call to the *current* one. When a call to it fails at
//! the connection level (refused, reset, timed out, or answered `503` /
//! `UNAVAILABLE` by a server that is draining or a proxy without a live
//! backend), that URL is marked failed and the next one becomes current
//! ([`Rotation`]); the call itself fails as before, so callers that retry
//! ([`crate::retry`], the shipper, the worker's loops, `--watch`) send the
//! next attempt to the next replica. A call refused on its merits (not
//! found, invalid, unauthenticated) never moves the client.
//!
//! **Sticky.** The client stays on a replica that answers: it moves only
//! when the current one fails, never back to the first by itself, so a
//! replica that flaps does not drag its clients along.
//!
//! **Back in rotation.** A replica that failed is skipped for
//! [`SKIP_FAILED_FOR`] when choosing the next one; after that (or when
//! every other one failed more recently) it is tried again in turn, so a
//! replica restarted after a crash takes clients again as soon as the one
//! they use fails.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;
use tonic::codegen::http;
use tonic::codegen::{Future, Service};
use tonic::transport::Channel;

/// How long a replica that failed is passed over while others are fine.
pub const SKIP_FAILED_FOR: Duration = Duration::from_secs(15);

/// Which URL a client uses, and what happened to each: pure bookkeeping,
/// fed by [`Failover`].
#[derive(Debug, Clone)]
pub struct Rotation {
    urls: Vec<String>,
    current: usize,
    /// Per URL: when a call to it last failed, and why (cleared by an answer).
    failures: Vec<Option<(Instant, String)>>,
}

/// A move to another URL, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Switch {
    /// The URL that failed.
    pub from: String,
    /// Why.
    pub error: String,
    /// The URL used from now on.
    pub to: String,
}

impl Rotation {
    /// A rotation over `urls` (at least one), starting with the first.
    pub fn new(urls: Vec<String>) -> Rotation {
        assert!(!urls.is_empty(), "a rotation needs a URL");
        let failures = vec![None; urls.len()];
        Rotation {
            urls,
            current: 0,
            failures,
        }
    }

    /// The URLs, in the order given.
    pub fn urls(&self) -> &[String] {
        &self.urls
    }

    /// The index of the URL calls go to.
    pub fn current(&self) -> usize {
        self.current
    }

    /// Makes `index` current (the URL an eager connection reached).
    pub fn start_at(&mut self, index: usize) {
        self.current = index % self.urls.len();
    }

    /// Records that a call to `index` failed at `now` because of `error`.
    /// When `index` is current, the next URL becomes current: the first
    /// after it (in order, wrapping around) that has not failed within
    /// [`SKIP_FAILED_FOR`], else the one that failed longest ago. A failure
    /// of a URL no longer current (a call sent before the switch) is only
    /// recorded.
    pub fn failed(&mut self, index: usize, error: String, now: Instant) -> Option<Switch> {
        if index >= self.urls.len() {
            return None;
        }
        self.failures[index] = Some((now, error.clone()));
        if index != self.current || self.urls.len() == 1 {
            return None;
        }
        let others: Vec<usize> = (1..self.urls.len())
            .map(|step| (index + step) % self.urls.len())
            .collect();
        let rested = |other: &usize| match &self.failures[*other] {
            None => true,
            Some((at, _)) => now.saturating_duration_since(*at) >= SKIP_FAILED_FOR,
        };
        let next = others.iter().copied().find(rested).unwrap_or_else(|| {
            others
                .iter()
                .copied()
                .min_by_key(|other| self.failures[*other].as_ref().map(|(at, _)| *at))
                .expect("two URLs or more")
        });
        self.current = next;
        Some(Switch {
            from: self.urls[index].clone(),
            error,
            to: self.urls[next].clone(),
        })
    }

    /// Records that `index` answered: it is healthy again.
    pub fn answered(&mut self, index: usize) {
        if let Some(failure) = self.failures.get_mut(index) {
            *failure = None;
        }
    }

    /// Each URL with why its last call failed (`None`: it answered, or was
    /// not tried yet), for an error naming every server.
    pub fn report(&self) -> Vec<(String, Option<String>)> {
        self.urls
            .iter()
            .zip(&self.failures)
            .map(|(url, failure)| (url.clone(), failure.as_ref().map(|(_, e)| e.clone())))
            .collect()
    }
}

/// The transport under every service client: one channel per URL, each
/// call sent to the [`Rotation`]'s current one. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Failover {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    channels: Vec<Channel>,
    rotation: Mutex<Rotation>,
}

impl Failover {
    /// Calls go to `channels[i]` for `rotation.urls()[i]`.
    pub(crate) fn new(channels: Vec<Channel>, rotation: Rotation) -> Failover {
        assert_eq!(channels.len(), rotation.urls().len());
        Failover {
            shared: Arc::new(Shared {
                channels,
                rotation: Mutex::new(rotation),
            }),
        }
    }

    fn rotation(&self) -> std::sync::MutexGuard<'_, Rotation> {
        self.shared.rotation.lock().expect("rotation lock")
    }

    /// A copy of the bookkeeping: which URL is current, what failed.
    pub fn snapshot(&self) -> Rotation {
        self.rotation().clone()
    }
}

impl Shared {
    fn failed(&self, index: usize, error: String) {
        let switch =
            self.rotation
                .lock()
                .expect("rotation lock")
                .failed(index, error, Instant::now());
        if let Some(Switch { from, error, to }) = switch {
            tracing::warn!("the orch server at {from} failed ({error}); switching to {to}");
        }
    }

    fn answered(&self, index: usize) {
        self.rotation.lock().expect("rotation lock").answered(index);
    }
}

/// Why an answer means the server behind it cannot serve (draining, or a
/// proxy without a live backend), if it does.
fn unavailable(response: &http::Response<tonic::body::Body>) -> Option<String> {
    let status = response.status();
    if matches!(
        status,
        http::StatusCode::SERVICE_UNAVAILABLE
            | http::StatusCode::BAD_GATEWAY
            | http::StatusCode::GATEWAY_TIMEOUT
    ) {
        return Some(format!("HTTP {status}"));
    }
    // UNAVAILABLE in a trailers-only answer (an error before any message).
    let status = tonic::Status::from_header_map(response.headers())?;
    (status.code() == tonic::Code::Unavailable).then(|| {
        if status.message().is_empty() {
            "unavailable".to_owned()
        } else {
            format!("unavailable: {}", status.message())
        }
    })
}

type ResponseFuture = Pin<
    Box<
        dyn Future<Output = Result<http::Response<tonic::body::Body>, tonic::transport::Error>>
            + Send,
    >,
>;

impl Service<http::Request<tonic::body::Body>> for Failover {
    type Response = http::Response<tonic::body::Body>;
    type Error = tonic::transport::Error;
    type Future = ResponseFuture;

    /// Always ready: the channel is chosen, and waited for, per call.
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let index = self.rotation().current();
        let mut channel = self.shared.channels[index].clone();
        let shared = self.shared.clone();
        Box::pin(async move {
            let result = match std::future::poll_fn(|cx| channel.poll_ready(cx)).await {
                Ok(()) => channel.call(request).await,
                Err(error) => Err(error),
            };
            match &result {
                Err(error) => shared.failed(index, crate::connect::short_cause(error)),
                Ok(response) => match unavailable(response) {
                    Some(why) => shared.failed(index, why),
                    None => shared.answered(index),
                },
            }
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rotation(count: usize) -> Rotation {
        Rotation::new((0..count).map(|i| format!("http://r{i}:1")).collect())
    }

    #[test]
    fn it_stays_on_a_url_until_that_url_fails() {
        let mut urls = rotation(3);
        assert_eq!(urls.current(), 0);
        urls.answered(0);
        assert_eq!(urls.current(), 0);
        let now = Instant::now();
        let switch = urls.failed(0, "connection refused".into(), now).unwrap();
        assert_eq!(
            switch,
            Switch {
                from: "http://r0:1".into(),
                error: "connection refused".into(),
                to: "http://r1:1".into()
            }
        );
        assert_eq!(urls.current(), 1);
        // r0 comes back: the client stays where it is.
        urls.answered(0);
        urls.answered(1);
        assert_eq!(urls.current(), 1);
    }

    #[test]
    fn a_late_failure_of_a_url_left_already_does_not_move_the_client() {
        let mut urls = rotation(3);
        let now = Instant::now();
        urls.failed(0, "reset".into(), now);
        assert_eq!(urls.current(), 1);
        // Another call sent to r0 before the switch fails too.
        assert_eq!(urls.failed(0, "reset".into(), now), None);
        assert_eq!(urls.current(), 1);
    }

    #[test]
    fn a_url_that_failed_recently_is_skipped_then_tried_again() {
        let mut urls = rotation(3);
        let start = Instant::now();
        urls.failed(0, "refused".into(), start);
        assert_eq!(urls.current(), 1);
        // r1 fails soon after: r2 is next, r0 is still resting.
        urls.failed(1, "refused".into(), start + Duration::from_secs(1));
        assert_eq!(urls.current(), 2);
        // r2 fails within r0's rest and r1's: the one that failed longest ago.
        urls.failed(2, "refused".into(), start + Duration::from_secs(2));
        assert_eq!(urls.current(), 0);
        // Later, past the rest, the next in order is taken again.
        let later = start + SKIP_FAILED_FOR + Duration::from_secs(5);
        urls.failed(0, "refused".into(), later);
        assert_eq!(urls.current(), 1);
    }

    #[test]
    fn a_url_that_answered_is_back_in_rotation_at_once() {
        let mut urls = rotation(3);
        let now = Instant::now();
        urls.failed(0, "refused".into(), now);
        urls.failed(1, "refused".into(), now);
        assert_eq!(urls.current(), 2);
        urls.answered(0);
        urls.failed(2, "refused".into(), now);
        assert_eq!(urls.current(), 0, "r0 answered since, r1 did not");
    }

    #[test]
    fn two_urls_alternate_and_one_url_stays() {
        let mut urls = rotation(2);
        let now = Instant::now();
        urls.failed(0, "refused".into(), now);
        assert_eq!(urls.current(), 1);
        urls.failed(1, "refused".into(), now);
        assert_eq!(urls.current(), 0);
        let mut one = rotation(1);
        assert_eq!(one.failed(0, "refused".into(), now), None);
        assert_eq!(one.current(), 0);
    }

    #[test]
    fn the_report_names_each_url_and_its_last_error() {
        let mut urls = rotation(2);
        urls.failed(0, "connection refused".into(), Instant::now());
        assert_eq!(
            urls.report(),
            [
                (
                    "http://r0:1".to_owned(),
                    Some("connection refused".to_owned())
                ),
                ("http://r1:1".to_owned(), None)
            ]
        );
    }

    #[test]
    fn draining_servers_and_proxies_without_a_backend_count_as_failures() {
        let answer = |status: u16, grpc: Option<&str>| {
            let mut builder = http::Response::builder().status(status);
            if let Some(code) = grpc {
                builder = builder
                    .header("grpc-status", code)
                    .header("grpc-message", "shutting%20down");
            }
            builder.body(tonic::body::Body::empty()).unwrap()
        };
        assert_eq!(
            unavailable(&answer(503, None)).as_deref(),
            Some("HTTP 503 Service Unavailable")
        );
        assert!(unavailable(&answer(502, None)).is_some());
        assert_eq!(
            unavailable(&answer(200, Some("14"))).as_deref(),
            Some("unavailable: shutting down")
        );
        // Refusals on the merits, and answers, do not move the client.
        assert_eq!(unavailable(&answer(200, Some("5"))), None);
        assert_eq!(unavailable(&answer(200, Some("8"))), None);
        assert_eq!(unavailable(&answer(200, None)), None);
        assert_eq!(unavailable(&answer(404, None)), None);
    }
}
