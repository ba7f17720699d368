//! Browser safety: one layer in front of every route that keeps web pages
//! from using a browser that can reach the server.
//!
//! - **Host names** (stops DNS rebinding, where a hostile page's own name is
//!   pointed at 127.0.0.1 to read the API as "same origin"): the server answers
//!   only requests whose `Host` is a loopback name, an IP address (a page is
//!   never served from a name that is an address it did not choose), the bind
//!   address, or a name given with `--allowed-host`. Otherwise 421 with a
//!   JSON message saying which flag to add.
//! - **JSON only** for state-changing calls (`POST`, `PUT`, `PATCH`,
//!   `DELETE`): a page can send a cross-origin form or `text/plain` body
//!   without asking, but not `application/json`. Otherwise 415.
//! - **Same origin** for state-changing calls: a browser's `Sec-Fetch-Site`
//!   must be `same-origin` or `none`, and an `Origin` header must name this
//!   server. Otherwise 403. Clients that are not browsers send neither. A
//!   state-changing call made with the dashboard's session cookie (and no
//!   `authorization` header) must carry an `Origin` naming this server:
//!   browsers always send one on such calls.
//!
//! The host name is the request's authority: `:authority` under HTTP/2
//! (the URI's authority), else the `Host` header. Every request is checked,
//! gRPC content types included: under DNS rebinding a page is "same
//! origin" and may send any content type, so `application/grpc` says
//! nothing about who sent it. Workers and the CLI connect with the host of
//! their configured URL: an IP address or a loopback name passes; a remote
//! worker that uses a DNS name needs it in `--allowed-host`. Only the
//! JSON-only rule skips gRPC (its bodies are protobuf).

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The host names the server answers for.
#[derive(Debug, Clone)]
pub(crate) struct AllowedHosts {
    names: Vec<String>,
}

impl AllowedHosts {
    /// Loopback names, `bind_host` when it is a name or an address, and `extra`.
    pub(crate) fn new(bind_host: &str, extra: &[String]) -> AllowedHosts {
        let mut names: Vec<String> = ["localhost"]
            .into_iter()
            .map(str::to_owned)
            .chain(std::iter::once(bind_host.to_owned()))
            .chain(extra.iter().cloned())
            .map(|name| normalize(&name))
            .filter(|name| !name.is_empty())
            .collect();
        names.sort();
        names.dedup();
        AllowedHosts { names }
    }

    /// Whether a request with this `Host` (or authority) is answered.
    fn allows(&self, host: &str) -> bool {
        let name = normalize(strip_port(host));
        name.parse::<IpAddr>().is_ok() || name.ends_with(".localhost") || self.names.contains(&name)
    }
}

/// Lower case, without a trailing dot or IPv6 brackets.
fn normalize(name: &str) -> String {
    name.trim()
        .trim_end_matches('.')
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase()
}

/// `host:port` -> `host`, `[::1]:4200` -> `[::1]`, `::1` stays.
fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host
            .split_once(']')
            .map_or(host, |(name, _)| &host[..name.len() + 1]);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            name
        }
        _ => host,
    }
}

/// The layer: see the module documentation.
pub(crate) async fn guard(
    State(hosts): State<Arc<AllowedHosts>>,
    request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    let host = authority(&request);
    if let Some(host) = &host
        && !hosts.allows(host)
    {
        return refuse(
            StatusCode::MISDIRECTED_REQUEST,
            format!(
                "this orch server does not answer for the host name {:?}; if that is its name, \
                 start it with --allowed-host {} (or ORCH_ALLOWED_HOSTS). Unknown names are \
                 refused so that web pages cannot reach it through DNS rebinding",
                strip_port(host),
                normalize(strip_port(host))
            ),
        );
    }
    if changes_state(request.method()) {
        if !is_grpc(headers) && !is_json(headers) {
            return refuse(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "state-changing API calls take JSON only: send the header Content-Type: \
                 application/json with a JSON body ({} if there is nothing to send), e.g. curl -H \
                 'Content-Type: application/json' -d '{}' URL"
                    .to_owned(),
            );
        }
        if let Some(problem) = cross_origin(headers, host.as_deref()) {
            return refuse(StatusCode::FORBIDDEN, problem);
        }
        if let Some(problem) = cookie_without_origin(headers, host.as_deref()) {
            return refuse(StatusCode::FORBIDDEN, problem);
        }
    }
    next.run(request).await
}

/// The host a request was sent to: the URI's authority (HTTP/2's
/// `:authority`, or an absolute-form HTTP/1.1 target), else `Host`.
fn authority(request: &Request) -> Option<String> {
    request
        .uri()
        .authority()
        .map(|a| a.as_str().to_owned())
        .or_else(|| {
            request
                .headers()
                .get(header::HOST)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        })
}

/// Why a state-changing call made with the session cookie does not come
/// from the dashboard itself, or `None` (also for calls with a bearer key).
fn cookie_without_origin(headers: &HeaderMap, host: Option<&str>) -> Option<String> {
    if headers.contains_key(header::AUTHORIZATION)
        || crate::auth::session::cookie(headers).is_none()
        || headers.contains_key(header::ORIGIN)
    {
        // With an Origin, `cross_origin` has checked it names this host.
        return None;
    }
    Some(format!(
        "cross-site request refused: a request made with the dashboard's session must come from \
         the dashboard (it has no Origin header; host {:?}); API clients send 'authorization: \
         Bearer <key>' instead",
        host.unwrap_or_default()
    ))
}

fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/grpc"))
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Why a browser request comes from another origin, or `None`.
fn cross_origin(headers: &HeaderMap, host: Option<&str>) -> Option<String> {
    let text = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    if let Some(site) = text("sec-fetch-site")
        && !matches!(site, "same-origin" | "none")
    {
        return Some(format!(
            "refused a state-changing request from another site (Sec-Fetch-Site: {site}): \
             only the orch dashboard itself and non-browser clients may change state"
        ));
    }
    let origin = text("origin")?;
    let origin_host = origin
        .split_once("://")
        .map(|(_, rest)| rest.trim_end_matches('/'));
    let same = match (origin_host, host) {
        (Some(origin_host), Some(host)) => origin_host.eq_ignore_ascii_case(host),
        _ => false,
    };
    (!same).then(|| {
        format!(
            "refused a state-changing request from another origin ({origin}): only the orch \
             dashboard itself and non-browser clients may change state"
        )
    })
}

fn refuse(status: StatusCode, message: String) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_addresses_the_bind_name_and_extra_names_are_answered() {
        let hosts = AllowedHosts::new("0.0.0.0", &["orch.example.com".to_owned()]);
        for host in [
            "localhost:4200",
            "127.0.0.1:4200",
            "[::1]:4200",
            "10.1.2.3",
            "app.localhost",
            "ORCH.example.com:443",
            "orch.example.com.",
        ] {
            assert!(hosts.allows(host), "{host}");
        }
        for host in [
            "evil.example",
            "orch.example.com.evil.example:4200",
            "localhost.evil",
        ] {
            assert!(!hosts.allows(host), "{host}");
        }
        assert!(AllowedHosts::new("orch-1", &[]).allows("orch-1:4200"));
    }

    #[test]
    fn other_origins_and_sites_are_cross_origin() {
        let mut headers = HeaderMap::new();
        assert_eq!(cross_origin(&headers, Some("127.0.0.1:4200")), None);
        headers.insert("origin", "http://127.0.0.1:4200".parse().unwrap());
        assert_eq!(cross_origin(&headers, Some("127.0.0.1:4200")), None);
        headers.insert("origin", "http://evil.example".parse().unwrap());
        assert!(cross_origin(&headers, Some("127.0.0.1:4200")).is_some());
        headers.insert("origin", "null".parse().unwrap());
        assert!(cross_origin(&headers, Some("127.0.0.1:4200")).is_some());
        let mut headers = HeaderMap::new();
        headers.insert("sec-fetch-site", "cross-site".parse().unwrap());
        assert!(cross_origin(&headers, None).is_some());
        headers.insert("sec-fetch-site", "same-origin".parse().unwrap());
        assert_eq!(cross_origin(&headers, None), None);
    }

    #[test]
    fn a_cookie_call_needs_an_origin_and_a_bearer_call_does_not() {
        let mut headers = HeaderMap::new();
        assert_eq!(cookie_without_origin(&headers, Some("h")), None);
        headers.insert(header::COOKIE, "orch_session=orch_k".parse().unwrap());
        assert!(cookie_without_origin(&headers, Some("h")).is_some());
        headers.insert(header::ORIGIN, "https://h".parse().unwrap());
        assert_eq!(cookie_without_origin(&headers, Some("h")), None);
        headers.remove(header::ORIGIN);
        headers.insert(header::AUTHORIZATION, "Bearer orch_x".parse().unwrap());
        assert_eq!(cookie_without_origin(&headers, Some("h")), None);
    }

    #[test]
    fn the_authority_wins_over_host_and_host_is_the_fallback() {
        let request = Request::builder()
            .uri("https://127.0.0.1:4200/api/x")
            .header(header::HOST, "evil.example")
            .body(axum::body::Body::empty())
            .unwrap();
        assert_eq!(authority(&request).as_deref(), Some("127.0.0.1:4200"));
        let request = Request::builder()
            .uri("/api/x")
            .header(header::HOST, "evil.example")
            .body(axum::body::Body::empty())
            .unwrap();
        assert_eq!(authority(&request).as_deref(), Some("evil.example"));
    }

    #[test]
    fn json_is_recognised_with_parameters() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            "application/json; charset=utf-8".parse().unwrap(),
        );
        assert!(is_json(&headers));
        headers.insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
        assert!(!is_json(&headers));
    }
}
