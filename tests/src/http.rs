//! Plain HTTP/1.1 requests on a server's port, for tests that check the
//! REST API or the probes without a client library.

/// A plain HTTP/1.1 GET on the server's port, without a credential (the
/// probes are open); returns the status code and body.
pub fn http_get(base_url: &str, path: &str) -> (u16, String) {
    http_request(base_url, "GET", path, "", None)
}

/// [`http_get`] sending `authorization: Bearer KEY` when given one.
pub fn http_get_with(base_url: &str, path: &str, key: Option<&str>) -> (u16, String) {
    http_request(base_url, "GET", path, "", key)
}

/// A plain HTTP/1.1 POST of a JSON `body` on the server's port, sending
/// `authorization: Bearer KEY` when given one; returns the status code and body.
pub fn http_post(base_url: &str, path: &str, body: &str, key: Option<&str>) -> (u16, String) {
    http_request(base_url, "POST", path, body, key)
}

fn http_request(
    base_url: &str,
    method: &str,
    path: &str,
    body: &str,
    key: Option<&str>,
) -> (u16, String) {
    use std::io::{Read, Write};
    let address = base_url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).expect("connect to the server");
    let authorization = key
        .map(|key| format!("Authorization: Bearer {key}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\n{authorization}Connection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("send request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("an HTTP status line");
    let body = response
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    (status, body)
}
