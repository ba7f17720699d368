//! TLS for the API's clients (the CLI, the worker, the SDK): one function
//! that turns a server URL and an optional CA certificate file into tonic's
//! TLS settings, so every client trusts the same way.
//!
//! `https://` URLs are verified against the system's roots plus, when given,
//! the CA certificate of `--tls-ca FILE` or `ORCH_TLS_CA` (for a private CA or
//! a self-signed server certificate). `http://` URLs get no TLS.

use std::path::{Path, PathBuf};

use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};

/// Environment variable naming a CA certificate (PEM) to trust.
pub const CA_VAR: &str = orch_core::env_vars::TLS_CA;

/// The CA file to trust: `ca_file` if given, else [`CA_VAR`] when set.
pub fn ca_file(ca_file: Option<&Path>) -> Option<PathBuf> {
    ca_file.map(Path::to_path_buf).or_else(|| {
        std::env::var_os(CA_VAR)
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
    })
}

/// The TLS settings for connecting to `url`: `None` for `http://`.
///
/// # Errors
///
/// The CA file cannot be read, with what to do about it.
pub fn client_tls(url: &str, ca: Option<&Path>) -> Result<Option<ClientTlsConfig>, String> {
    if !url.trim().to_ascii_lowercase().starts_with("https://") {
        return Ok(None);
    }
    let mut config = ClientTlsConfig::new().with_native_roots();
    if let Some(path) = ca_file(ca) {
        let pem = orch_core::input_file::read_bytes(&path).map_err(|error| {
            format!("cannot read the CA certificate (from --tls-ca or {CA_VAR}): {error}")
        })?;
        config = config.ca_certificate(Certificate::from_pem(pem));
    }
    Ok(Some(config))
}

/// `endpoint` (made from `url`) with TLS when `url` is `https://`.
///
/// # Errors
///
/// As [`client_tls`], or tonic refuses the settings.
pub fn secure(endpoint: Endpoint, url: &str, ca: Option<&Path>) -> Result<Endpoint, String> {
    match client_tls(url, ca)? {
        Some(config) => endpoint
            .tls_config(config)
            .map_err(|error| format!("cannot set up TLS for {url}: {error}")),
        None => Ok(endpoint),
    }
}

/// A hint for a connection failure that looks like a TLS mismatch, or `None`.
pub fn hint(url: &str, cause: &str) -> Option<&'static str> {
    let cause = cause.to_ascii_lowercase();
    let https = url.trim().to_ascii_lowercase().starts_with("https://");
    if https && (cause.contains("unknownissuer") || cause.contains("invalid peer certificate")) {
        Some(
            "the server's certificate is not signed by a CA this machine trusts: pass its CA \
             certificate with --tls-ca FILE or ORCH_TLS_CA",
        )
    } else if https
        && (cause.contains("invalidcontenttype")
            || cause.contains("corrupt message")
            || cause.contains("wrong version number"))
    {
        Some(
            "the server does not speak TLS: use an http:// URL, or start it with --tls-cert and --tls-key",
        )
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_urls_get_tls_and_a_missing_ca_file_says_where_it_came_from() {
        assert!(client_tls("http://127.0.0.1:4200", None).unwrap().is_none());
        assert!(
            client_tls("https://orch.example:4200", None)
                .unwrap()
                .is_some()
        );
        let error = client_tls("https://h", Some(Path::new("/no/such/ca.pem"))).unwrap_err();
        assert!(
            error.contains("/no/such/ca.pem") && error.contains("--tls-ca"),
            "{error}"
        );
    }
}
