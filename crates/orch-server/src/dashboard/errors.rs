//! Error answers to a browser asking for a dashboard page (a mistyped link,
//! a page its scope may not see, a fault) are dashboard pages with the
//! reason and a way back, not the API's JSON. API clients (anything not
//! asking for HTML, and every `/api/` path) keep the JSON answer.

use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};

use super::page::{Page, escape};

/// Largest error body read to find its message.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Whether a request is a browser opening a dashboard page.
fn wants_page(method: &Method, path: &str, headers: &HeaderMap) -> bool {
    let accepts_html = headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    matches!(*method, Method::GET | Method::HEAD)
        && accepts_html
        && crate::auth::session::is_page(path)
        && !path.starts_with("/assets/")
}

/// The layer: renders JSON error answers to page requests as pages.
pub(crate) async fn pages(request: Request, next: Next) -> Response {
    let wants = wants_page(request.method(), request.uri().path(), request.headers());
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|kind| kind.starts_with("application/json"));
    if !wants || !is_json || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let body = axum::body::to_bytes(response.into_body(), MAX_ERROR_BODY)
        .await
        .unwrap_or_default();
    let message = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|value| value.get("error")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned());
    (status, Html(render(status, &path, &message))).into_response()
}

/// The page for `status` at `path`.
pub(crate) fn render(status: StatusCode, path: &str, message: &str) -> String {
    let title = match status {
        StatusCode::NOT_FOUND => "Page not found",
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::TOO_MANY_REQUESTS => "Too many requests",
        status if status.is_server_error() => "Something went wrong",
        _ => "Cannot show this page",
    };
    let body = format!(
        r#"<section class="panel empty error-page" data-status="{code}">
<h1>{title}</h1>
<p class="muted">{status_line} · <code>{path}</code></p>
<p>{message}</p>
<p><a href="/">Back to the overview</a> · <a href="/flow-runs">Flow runs</a> · <a href="/deployments">Deployments</a></p>
</section>"#,
        code = status.as_u16(),
        status_line = escape(&status.to_string()),
        path = escape(path),
        message = escape(message),
    );
    Page::plain("error", title).render(&body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_browsers_asking_for_pages_get_html() {
        let mut html = HeaderMap::new();
        html.insert(header::ACCEPT, "text/html,*/*".parse().unwrap());
        assert!(wants_page(&Method::GET, "/nowhere", &html));
        assert!(!wants_page(&Method::GET, "/api/nowhere", &html));
        assert!(!wants_page(&Method::GET, "/assets/x.js", &html));
        assert!(!wants_page(&Method::POST, "/nowhere", &html));
        assert!(!wants_page(&Method::GET, "/nowhere", &HeaderMap::new()));
    }

    #[test]
    fn the_page_escapes_what_it_quotes() {
        let page = render(StatusCode::NOT_FOUND, "/<x>", "no <b>such</b> page");
        assert!(page.contains("Page not found"));
        assert!(page.contains("/&lt;x&gt;"));
        assert!(page.contains("no &lt;b&gt;such&lt;/b&gt; page"));
        assert!(page.contains(r#"<a href="/">Back to the overview</a>"#));
    }
}
