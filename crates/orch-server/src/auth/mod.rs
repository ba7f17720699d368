//! Authentication and authorization: one layer in front of every route on
//! the port (gRPC, JSON API, dashboard, metrics).
//!
//! It reads `authorization: Bearer <key>` (gRPC metadata is an HTTP/2
//! header, so one layer serves both transports) or the dashboard's session
//! cookie, checks the key against the store or the token cache ([`cache`]:
//! a revocation empties it at once on every replica), looks up what the route needs in [`rules::RULES`],
//! and answers 401/`Unauthenticated` or 403/`PermissionDenied` with a
//! one-line message. Otherwise it puts the [`Caller`] in the request's
//! extensions for handlers and the audit trail.
//!
//! Bad keys are counted per presented key id and client address (keys
//! without an id per address): past `failures_per_minute`, that key id from
//! that address is answered 429. A valid key is never refused because of
//! other requests' bad keys: every key that has an id is checked, and a
//! valid one is let in whatever its counter says. Guessing a secret is not
//! what the counter stops (secrets are 256 random bits); it tells a
//! misconfigured client to stop, and bounds the failures remembered.
//!
//! The budget holds across replicas: with N servers on one database each
//! lets through its share (`failures_per_minute / N`, see
//! [`orch_core::limits::replica_share`]), so a client spreading bad keys
//! over the replicas is refused as soon as one behind one server would be.
//! Each failure costs N cells of a `failures_per_minute` budget, N being the
//! live replicas as of the last renewal ([`crate::duties::LiveReplicas`]).

pub mod bootstrap;
pub mod cache;
pub mod rules;
pub mod session;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use orch_core::auth::{Permission, Principal};
use orch_store::{CredentialCheck, Store};
use serde_json::json;

use crate::caller::Caller;

/// The dashboard's session cookie.
pub const SESSION_COOKIE: &str = "orch_session";

/// How often a credential's `last_used` is written, at most.
const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// The state of the layer; cheap to clone.
#[derive(Clone)]
pub struct Auth {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    enabled: bool,
    /// Failed authentications allowed per presented key id (`None`: a key
    /// without one) and client address.
    failures: DefaultKeyedRateLimiter<FailureKey>,
    /// The budget per minute, which the live replicas share.
    failures_per_minute: u32,
    /// How many replicas share the database (and the budget).
    replicas: crate::duties::LiveReplicas,
    /// When each credential's `last_used` was last written.
    touched: Mutex<HashMap<String, Instant>>,
    /// Keys checked lately.
    cache: Arc<cache::TokenCache>,
}

/// What bad keys are counted under: the presented key's id and the address.
type FailureKey = (Option<String>, IpAddr);

/// Most failure counters kept before idle ones are dropped.
const MAX_FAILURE_KEYS: usize = 10_000;

impl Auth {
    /// The layer's state for `store`; `enabled: false` lets everything through
    /// (`--no-auth`). `failures_per_minute` bad keys per key id and address
    /// are answered 401; more are answered 429 until the budget refills. The
    /// budget is shared by the `replicas` on the database. Checked keys are
    /// kept in `cache`.
    pub fn new(
        store: Store,
        enabled: bool,
        failures_per_minute: u32,
        replicas: crate::duties::LiveReplicas,
        cache: Arc<cache::TokenCache>,
    ) -> Auth {
        let per_minute = NonZeroU32::new(failures_per_minute.max(1)).expect("positive");
        Auth {
            inner: Arc::new(Inner {
                store,
                enabled,
                failures: RateLimiter::keyed(Quota::per_minute(per_minute)),
                failures_per_minute: per_minute.get(),
                replicas,
                touched: Mutex::new(HashMap::new()),
                cache,
            }),
        }
    }

    /// The store credentials are checked against.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The keys checked lately.
    pub fn cache(&self) -> &cache::TokenCache {
        &self.inner.cache
    }

    /// Counts a failed authentication with `key` from `ip`; true when that
    /// key id (or, for a key without one, that address) is over budget.
    fn failed(&self, key: &str, ip: Option<IpAddr>) -> bool {
        // Every connection has an address; a request without one was made
        // in-process.
        let Some(ip) = ip else { return false };
        let failures = &self.inner.failures;
        if failures.len() > MAX_FAILURE_KEYS {
            failures.retain_recent();
        }
        let id = orch_store::key_id(key).map(str::to_owned);
        // This replica's share of the budget: each failure costs one cell per
        // live replica.
        let budget = self.inner.failures_per_minute as usize;
        let cost = orch_core::limits::replica_cost(budget, self.inner.replicas.get());
        let cost = NonZeroU32::new(u32::try_from(cost).unwrap_or(u32::MAX)).expect("at least 1");
        !matches!(failures.check_key_n(&(id, ip), cost), Ok(Ok(())))
    }

    /// Writes `last_used` in the background, at most once per [`TOUCH_EVERY`].
    fn touch(&self, id: &str) {
        {
            let mut touched = self.inner.touched.lock().expect("not poisoned");
            if touched.get(id).is_some_and(|at| at.elapsed() < TOUCH_EVERY) {
                return;
            }
            if touched.len() > 10_000 {
                touched.retain(|_, at| at.elapsed() < TOUCH_EVERY);
            }
            touched.insert(id.to_owned(), Instant::now());
        }
        let store = self.inner.store.clone();
        let id = id.to_owned();
        tokio::spawn(async move {
            if let Err(error) = store.tokens().touch_credential(&id).await {
                tracing::debug!(%error, "cannot record a credential's last use");
            }
        });
    }

    /// Resolves a key to the caller it stands for, or why not.
    pub async fn resolve(&self, key: &str) -> Result<cache::Resolved, String> {
        let cache = &self.inner.cache;
        if let Some(resolved) = cache.get(key, self.inner.store.now()) {
            self.touch(&resolved.2);
            return Ok(resolved);
        }
        // Read before the database: a revocation committed meanwhile
        // bumps it, and the answer is not kept.
        let generation = cache.generation();
        match self.inner.store.tokens().check_credential(key).await {
            Ok(CredentialCheck::Valid(token)) => {
                self.touch(&token.id);
                cache.put(key, &token, generation);
                Ok((token.name.clone(), token.principal(), token.id))
            }
            Ok(CredentialCheck::Invalid(reason)) => Err(reason),
            Err(error) => {
                tracing::warn!(%error, "cannot check a credential");
                Err(format!("cannot check the API key now ({error}); retry"))
            }
        }
    }
}

/// Where a request's credential came from.
enum Presented {
    Bearer(String),
    Cookie(String),
    Nothing,
}

fn presented(headers: &HeaderMap) -> Presented {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let text = value.to_str().unwrap_or_default().trim();
        let key = text
            .strip_prefix("Bearer ")
            .or_else(|| text.strip_prefix("bearer "))
            .unwrap_or(text);
        return Presented::Bearer(key.trim().to_owned());
    }
    match session::cookie(headers) {
        Some(key) => Presented::Cookie(key),
        None => Presented::Nothing,
    }
}

fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"))
}

/// The layer: checks the credential and the rule, then runs the handler.
pub async fn check(State(auth): State<Auth>, mut request: Request, next: Next) -> Response {
    let address = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0);
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let permission = rules::permission(method.as_str(), &path);
    let grpc = is_grpc(request.headers());
    if !auth.inner.enabled {
        request.extensions_mut().insert(Caller {
            name: Caller::ANONYMOUS.to_owned(),
            address,
            credential_id: None,
            principal: Principal::Unchecked,
        });
        return next.run(request).await;
    }
    let refuse = |status: StatusCode, message: String| refusal(grpc, status, &message);
    let (key, from_cookie) = match presented(request.headers()) {
        Presented::Bearer(key) => (Some(key), false),
        Presented::Cookie(key) => (Some(key), true),
        Presented::Nothing => (None, false),
    };
    let Some(key) = key else {
        if permission == Permission::Open {
            return next.run(request).await;
        }
        if !grpc && method == Method::GET && session::is_page(&path) {
            return session::to_login(&path);
        }
        return refuse(
            StatusCode::UNAUTHORIZED,
            "authentication required: send 'authorization: Bearer <API key>' (the CLI reads --api-key, ORCH_API_KEY or $ORCH_HOME/credentials)".into(),
        );
    };
    let ip = address.map(|a| a.ip());
    let (name, principal, credential_id) = match auth.resolve(&key).await {
        Ok(resolved) => resolved,
        Err(_) if permission == Permission::Open => return next.run(request).await,
        Err(reason) => {
            if from_cookie && !grpc && method == Method::GET && session::is_page(&path) {
                return session::to_login(&path);
            }
            if auth.failed(&key, ip) {
                return refuse(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too many failed authentications with this key from this address: wait a \
                     minute and retry with a valid API key"
                        .into(),
                );
            }
            tracing::info!(?address, %path, %reason, "refused a request with a bad credential");
            return refuse(StatusCode::UNAUTHORIZED, reason);
        }
    };
    if let Err(denied) = principal.allows(permission) {
        let mut response = refuse(
            StatusCode::FORBIDDEN,
            format!("permission denied for {name:?} on {method} {path}: {denied}"),
        );
        response.extensions_mut().insert(CallerName(name));
        return response;
    }
    request.extensions_mut().insert(Caller {
        name: name.clone(),
        address,
        credential_id: Some(credential_id),
        principal,
    });
    let mut response = next.run(request).await;
    response.extensions_mut().insert(CallerName(name));
    response
}

/// The authenticated caller's name, on the response: the refusal recorder
/// ([`crate::refusals`]) names who was refused.
#[derive(Debug, Clone)]
pub(crate) struct CallerName(pub String);

/// Marks a response as this layer's refusal (a gRPC `resource_exhausted`
/// is then the bad-key limit, not a full disk).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Refused;

/// A refusal in the request's transport: a gRPC status, or a JSON error.
fn refusal(grpc: bool, status: StatusCode, message: &str) -> Response {
    let mut response = refusal_in_transport(grpc, status, message);
    response.extensions_mut().insert(Refused);
    response
}

fn refusal_in_transport(grpc: bool, status: StatusCode, message: &str) -> Response {
    if grpc {
        let status = match status {
            StatusCode::UNAUTHORIZED => tonic::Status::unauthenticated(message),
            StatusCode::TOO_MANY_REQUESTS => tonic::Status::resource_exhausted(message),
            _ => tonic::Status::permission_denied(message),
        };
        return status.into_http::<axum::body::Body>();
    }
    let mut response = (status, axum::Json(json!({ "error": message }))).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"orch\""),
        );
    }
    if status == StatusCode::TOO_MANY_REQUESTS {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
    }
    response
}

/// The caller as a gRPC handler sees it.
pub(crate) fn caller<T>(request: &tonic::Request<T>) -> Caller {
    Caller::of(request.extensions())
}
