//! Dashboard sessions: a login page that trades an API token for an
//! HttpOnly, SameSite=Strict cookie (Secure under TLS), logout, and the
//! same-origin check on every state-changing request made with the cookie.

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use orch_core::auth::{Permission, Principal};
use orch_store::{CredentialCheck, CredentialKind};
use serde_json::json;

use super::{Auth, SESSION_COOKIE};
use crate::api::{ApiError, ApiResult};
use crate::caller::Caller;

fn refused(status: StatusCode, message: impl Into<String>) -> ApiError {
    ApiError {
        status,
        message: message.into(),
    }
}

/// How long a dashboard session lasts.
const SESSION_SECONDS: i64 = 12 * 3600;

/// `/login`, `/api/session` (log in, who am I) and `/api/session/logout`.
pub(crate) fn router(auth: Auth, secure_cookies: bool) -> axum::Router {
    axum::Router::new()
        .route("/login", get(login_page))
        .route("/api/session", post(login).get(whoami))
        .route("/api/session/logout", post(logout))
        .with_state((auth, secure_cookies))
}

/// The session key in the request's cookie, if any.
pub(crate) fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim().to_owned())
}

/// A dashboard page (HTML), whose visitors without a session go to /login.
pub(crate) fn is_page(path: &str) -> bool {
    !path.starts_with("/api/") && path != "/metrics" && !path.starts_with("/orch.")
}

/// See other: `/login?next=PATH`.
pub(crate) fn to_login(path: &str) -> Response {
    let next: String = path
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "/-_.".contains(*c))
        .collect();
    Redirect::to(&format!("/login?next={next}")).into_response()
}

async fn login_page() -> Html<&'static str> {
    Html(include_str!("login.html"))
}

#[derive(serde::Deserialize, Default)]
struct Login {
    #[serde(default)]
    token: String,
    /// A one-time login code, from the link `orch up`, `orch server start`
    /// and `orch ui` print.
    #[serde(default)]
    code: String,
}

/// Trades an API token, or a one-time login code, for a session cookie.
async fn login(
    State((auth, secure)): State<(Auth, bool)>,
    extensions: axum::http::Extensions,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let request: Login = crate::api::json_body(&body, r#"{"token": "orch_..."}"#)?;
    if request.token.trim().is_empty() && request.code.trim().is_empty() {
        return Err(ApiError::bad_request(
            r#"send the API token to log in with: {"token": "orch_..."}"#,
        ));
    }
    let ip = extensions
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    let token = if request.token.trim().is_empty() {
        match auth
            .store()
            .tokens()
            .redeem_login_code(&request.code)
            .await?
        {
            Some(token) => token,
            None => {
                // A code has no key id: failures count per address, and a
                // valid code is never refused because of them.
                let status = if auth.failed("", ip) {
                    StatusCode::TOO_MANY_REQUESTS
                } else {
                    StatusCode::UNAUTHORIZED
                };
                return Err(refused(
                    status,
                    "this login link was used already or has expired (links work once, for 10 minutes): run 'orch ui' for a fresh one, or log in with an API token",
                ));
            }
        }
    } else {
        token_login(&auth, &request.token, ip).await?
    };
    // The audit trail names who logged in, not `anonymous`.
    if let Some(pending) = extensions.get::<crate::ops::audit::Pending>() {
        pending.name_caller(&token.name);
    }
    start_session(&auth, secure, &token).await
}

/// The API token `key`, if it may log in to the dashboard.
async fn token_login(
    auth: &Auth,
    key: &str,
    ip: Option<std::net::IpAddr>,
) -> ApiResult<orch_store::TokenInfo> {
    let token = match auth.store().tokens().check_credential(key).await? {
        CredentialCheck::Valid(token) if token.kind == CredentialKind::Token => token,
        CredentialCheck::Valid(_) => {
            return Err(refused(
                StatusCode::UNAUTHORIZED,
                "log in with an API token ('orch token create NAME --scope read'), not a session or run credential",
            ));
        }
        CredentialCheck::Invalid(reason) => {
            if auth.failed(key, ip) {
                return Err(refused(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too many failed logins with this token from this address: wait a minute",
                ));
            }
            return Err(refused(StatusCode::UNAUTHORIZED, reason));
        }
    };
    Ok(token)
}

/// Opens a dashboard session for `token` and sets its cookie.
async fn start_session(
    auth: &Auth,
    secure: bool,
    token: &orch_store::TokenInfo,
) -> ApiResult<Response> {
    if token.principal().allows(Permission::Read).is_err() {
        return Err(refused(
            StatusCode::FORBIDDEN,
            format!(
                "a {} token cannot use the dashboard: log in with a read, operate, deploy or admin token",
                token.scope
            ),
        ));
    }
    let expires = auth.store().now() + SESSION_SECONDS * 1_000_000;
    let key = auth.store().tokens().create_session(token, expires).await?;
    let cookie = format!(
        "{SESSION_COOKIE}={key}; Path=/; HttpOnly; SameSite=Strict; Max-Age={SESSION_SECONDS}{}",
        if secure { "; Secure" } else { "" }
    );
    let mut response =
        axum::Json(json!({ "name": token.name, "scope": token.scope.as_str() })).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).expect("a cookie is header text"),
    );
    Ok(response)
}

/// Who the session (or key) is, and which actions the dashboard may offer.
async fn whoami(request: axum::extract::Request) -> impl IntoResponse {
    let caller = Caller::of(request.extensions());
    let can = |permission| caller.principal.allows(permission).is_ok();
    axum::Json(json!({
        "name": caller.name,
        "scope": caller.principal.scope_name(),
        "authenticated": caller.principal != Principal::Unchecked,
        "can": {
            "operate": can(Permission::Operate),
            "deploy": can(Permission::Deploy),
            "admin": can(Permission::Admin),
        },
    }))
}

/// Ends the session and clears the cookie.
async fn logout(
    State((auth, secure)): State<(Auth, bool)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    if let Some(key) = cookie(&headers) {
        auth.store().tokens().delete_credential(&key).await?;
        auth.cache().revoked();
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    let cookie = format!(
        "{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    );
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).expect("a cookie is header text"),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            "a=1; orch_session=orch_k; b=2".parse().unwrap(),
        );
        assert_eq!(cookie(&headers).as_deref(), Some("orch_k"));
    }
}
