//! Refused calls in the audit trail (401, 403, 421, 429 and their gRPC
//! codes), recorded so that a flood of them cannot flood the table.
//!
//! Every refusal is counted in the current window ([`WINDOW`]) under its
//! caller (the credential's name, or `key <id>` for a bad key that has an
//! id), address, call and outcome. The first refusal of each such kind in
//! a window is written at once; further ones are only counted, and at the
//! window's end one more record says how many there were. At most
//! [`MAX_KINDS`] kinds are itemized per window; refusals beyond them are
//! summed into one record. So whatever the flood, the trail grows by at
//! most `2 * MAX_KINDS + 1` records per window, and a refusal costs a map
//! update, not a database write.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use orch_store::{NewAuditRecord, Store};

use crate::auth::{CallerName, Refused};

/// How long refusals of one kind are coalesced.
pub const WINDOW: Duration = Duration::from_secs(10);

/// Most kinds of refusal itemized per window.
pub const MAX_KINDS: usize = 64;

/// The `action` of a refusal whose call has no audited action of its own.
pub const REFUSED: &str = "request.refused";

/// Counts refusals and writes their records; cheap to clone.
#[derive(Clone)]
pub struct Refusals {
    window: Arc<Mutex<Window>>,
    store: Store,
}

impl std::fmt::Debug for Refusals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Refusals").finish_non_exhaustive()
    }
}

impl Refusals {
    /// A recorder writing to `store`. In a Tokio runtime, a task writes each
    /// window's counts when it ends (it stops when the recorder is dropped).
    pub fn new(store: Store) -> Refusals {
        let refusals = Refusals {
            window: Arc::new(Mutex::new(Window::new(Instant::now()))),
            store,
        };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let window = Arc::downgrade(&refusals.window);
            let store = refusals.store.clone();
            runtime.spawn(flush_every_window(window, store));
        }
        refusals
    }

    /// Counts a refusal; writes its record when it is the first of its kind
    /// in the window.
    pub fn record(&self, refusal: NewAuditRecord) {
        let (now, ended) = {
            let mut window = self.window.lock().expect("not poisoned");
            let ended = window.roll(Instant::now());
            (window.add(refusal), ended)
        };
        for record in now.into_iter().chain(ended) {
            self.write(record);
        }
    }

    fn write(&self, record: NewAuditRecord) {
        let store = self.store.clone();
        tokio::spawn(async move { write(&store, &record).await });
    }
}

/// The action and target of a refused call the audit layer knows (set on
/// the response by `audit::record`).
#[derive(Debug, Clone)]
pub(crate) struct RefusedAction {
    /// E.g. `deployment.delete`.
    pub action: String,
    /// What it was to be done to.
    pub target: String,
}

/// Whether an outcome (`audit::outcome`) is a refusal of the caller: 401,
/// 403, 421, 429, `unauthenticated`, `permission_denied`. (A gRPC
/// `resource_exhausted` is one only when authentication answered it.)
pub(crate) fn is_refusal(outcome: &str) -> bool {
    matches!(
        outcome,
        "401" | "403" | "421" | "429" | "unauthenticated" | "permission_denied"
    )
}

/// The layer, outermost: records every refused call, whichever layer or
/// handler refused it, with the caller (its name, or `key <id>` for a bad
/// key that has one), the address and the call.
pub(crate) async fn layer(
    State(refusals): State<Refusals>,
    request: Request,
    next: Next,
) -> Response {
    let address = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip().to_string())
        .unwrap_or_default();
    let path = request.uri().path().to_owned();
    let grpc = path.starts_with("/orch.");
    let call = if grpc {
        path
    } else {
        format!("{} {path}", request.method())
    };
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let key = value.trim();
            let key = key.strip_prefix("Bearer ").unwrap_or(key);
            orch_store::key_id(key.trim()).map(str::to_owned)
        });
    let response = next.run(request).await;
    let outcome = crate::audit::outcome(&response);
    let by_auth = response.extensions().get::<Refused>().is_some();
    if !(is_refusal(&outcome) || (by_auth && outcome == "resource_exhausted")) {
        return response;
    }
    let caller = match (response.extensions().get::<CallerName>(), presented) {
        (Some(name), _) => name.0.clone(),
        (None, Some(id)) => format!("key {id}"),
        (None, None) => crate::caller::Caller::ANONYMOUS.to_owned(),
    };
    let (action, target) = match response.extensions().get::<RefusedAction>() {
        Some(known) => (known.action.clone(), known.target.clone()),
        None => (REFUSED.to_owned(), call),
    };
    refusals.record(NewAuditRecord {
        caller,
        address,
        action,
        target,
        outcome,
        transport: if grpc { "grpc" } else { "rest" }.to_owned(),
    });
    response
}

async fn write(store: &Store, record: &NewAuditRecord) {
    if let Err(error) = store.audit().record_audit(record).await {
        tracing::warn!(%error, action = %record.action, "cannot record a refused call");
    }
}

async fn flush_every_window(window: Weak<Mutex<Window>>, store: Store) {
    loop {
        tokio::time::sleep(WINDOW).await;
        let Some(window) = window.upgrade() else {
            return;
        };
        let ended = window.lock().expect("not poisoned").roll(Instant::now());
        drop(window);
        for record in ended {
            write(&store, &record).await;
        }
    }
}

/// The refusals of one window.
struct Window {
    started: Instant,
    /// Each kind's first record and how many followed it.
    kinds: HashMap<Kind, (NewAuditRecord, u64)>,
    /// Refusals beyond [`MAX_KINDS`] kinds.
    others: u64,
}

type Kind = (String, String, String, String, String, String);

fn kind(record: &NewAuditRecord) -> Kind {
    (
        record.caller.clone(),
        record.address.clone(),
        record.action.clone(),
        record.target.clone(),
        record.outcome.clone(),
        record.transport.clone(),
    )
}

impl Window {
    fn new(started: Instant) -> Window {
        Window {
            started,
            kinds: HashMap::new(),
            others: 0,
        }
    }

    /// Counts `record`; returns it when it is to be written now.
    fn add(&mut self, record: NewAuditRecord) -> Option<NewAuditRecord> {
        let key = kind(&record);
        if let Some((_, more)) = self.kinds.get_mut(&key) {
            *more += 1;
            return None;
        }
        if self.kinds.len() >= MAX_KINDS {
            self.others += 1;
            return None;
        }
        self.kinds.insert(key, (record.clone(), 0));
        Some(record)
    }

    /// When the window has ended at `now`: starts a new one and returns
    /// the records that sum up the old one.
    fn roll(&mut self, now: Instant) -> Vec<NewAuditRecord> {
        if now.duration_since(self.started) < WINDOW {
            return Vec::new();
        }
        let ended = std::mem::replace(self, Window::new(now));
        let seconds = WINDOW.as_secs();
        let mut records: Vec<NewAuditRecord> = ended
            .kinds
            .into_values()
            .filter(|(_, more)| *more > 0)
            .map(|(first, more)| NewAuditRecord {
                outcome: format!("{} ({more} more like it within {seconds} s)", first.outcome),
                ..first
            })
            .collect();
        if ended.others > 0 {
            records.push(NewAuditRecord {
                caller: "(various)".to_owned(),
                address: String::new(),
                action: REFUSED.to_owned(),
                target: format!(
                    "{} more refusals of other callers, addresses or calls within {seconds} s",
                    ended.others
                ),
                outcome: "coalesced".to_owned(),
                transport: String::new(),
            });
        }
        records
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(caller: &str) -> NewAuditRecord {
        NewAuditRecord {
            caller: caller.to_owned(),
            address: "127.0.0.1".to_owned(),
            action: REFUSED.to_owned(),
            target: "/orch.v1.WorkerService/Heartbeat".to_owned(),
            outcome: "401".to_owned(),
            transport: "grpc".to_owned(),
        }
    }

    #[test]
    fn a_flood_is_written_as_a_bounded_number_of_records() {
        let start = Instant::now();
        let mut window = Window::new(start);
        let mut written = 0;
        for _ in 0..10_000 {
            written += usize::from(window.add(refusal("key aaaa")).is_some());
        }
        for n in 0..10_000 {
            written += usize::from(window.add(refusal(&format!("key {n}"))).is_some());
        }
        assert_eq!(written, MAX_KINDS, "the first of each kind, up to the cap");
        assert!(window.roll(start + WINDOW / 2).is_empty(), "not yet ended");
        let summary = window.roll(start + WINDOW);
        assert_eq!(summary.len(), 2, "{summary:?}");
        assert!(
            summary
                .iter()
                .any(|r| r.caller == "key aaaa"
                    && r.outcome == "401 (9999 more like it within 10 s)")
        );
        let others = MAX_KINDS - 1;
        assert!(summary.iter().any(|r| r.target
            == format!(
                "{} more refusals of other callers, addresses or calls within 10 s",
                10_000 - others
            )));
        assert!(window.add(refusal("key aaaa")).is_some(), "a new window");
    }
}
