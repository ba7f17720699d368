//! TLS on the one port (rustls), and the rule that a server reachable from
//! the network serves TLS.
//!
//! Every connection is read before the handshake: one that does not start
//! with a TLS record (a client using `http://`) gets a one-request answer
//! in plaintext saying to use `https://` (a gRPC status for gRPC clients, a
//! JSON 400 otherwise) instead of a dropped connection.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::server::TlsStream;

use crate::ServerError;

/// The certificate chain and key files of `--tls-cert` / `--tls-key` (PEM).
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
}

/// How long a client may take to send its first bytes and finish the handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The first byte of a TLS handshake record.
const TLS_HANDSHAKE: u8 = 0x16;

/// Refuses a plaintext server on an address other machines can reach.
pub(crate) fn check_plaintext(
    host: &str,
    tls: Option<&TlsFiles>,
    allow_plaintext: bool,
) -> Result<(), ServerError> {
    if tls.is_some() || allow_plaintext || is_loopback(host) {
        return Ok(());
    }
    Err(ServerError::Config(format!(
        "refusing to serve without TLS on {host}, which other machines can reach: API keys, \
         secrets sent to workers and everything the API returns would cross the network in \
         clear. Serve TLS with --tls-cert FILE --tls-key FILE (see docs/security.md), or, \
         only if a TLS proxy or a private network you trust protects this port, pass \
         --allow-plaintext"
    )))
}

/// Whether `host` binds only the loopback interface.
fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Loads the certificate and key into an acceptor offering HTTP/2 and HTTP/1.1.
pub(crate) fn acceptor(files: &TlsFiles) -> Result<TlsAcceptor, ServerError> {
    let unreadable = |what: &str, path: &Path, error: &dyn std::fmt::Display| {
        ServerError::Config(format!(
            "cannot read the TLS {what} {}: {error} (expected PEM, as written by certbot, \
             openssl or step)",
            path.display()
        ))
    };
    // Read through the one size-limited reader: `--tls-cert /dev/zero`
    // is refused with a message instead of read until memory runs out.
    let read = |what: &str, path: &Path| {
        orch_core::input_file::read_bytes(path).map_err(|error| unreadable(what, path, &error))
    };
    let cert_pem = read("certificate", &files.cert)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|error| unreadable("certificate", &files.cert, &error))?;
    if certs.is_empty() {
        return Err(unreadable(
            "certificate",
            &files.cert,
            &"no certificate in it",
        ));
    }
    let key_pem = read("key", &files.key)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|error| unreadable("key", &files.key, &error))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|builder| builder.with_no_client_auth().with_single_cert(certs, key))
        .map_err(|error| {
            ServerError::Config(format!(
                "the TLS certificate {} and key {} do not make a usable pair: {error}",
                files.cert.display(),
                files.key.display()
            ))
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// A listener handing out connections whose TLS handshake is done.
/// Handshakes run in their own tasks, so a slow client delays no one.
pub(crate) struct TlsListener {
    connections: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
    accepting: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    pub(crate) fn new(listener: TcpListener, acceptor: TlsAcceptor) -> std::io::Result<Self> {
        let local = listener.local_addr()?;
        let (sender, connections) = mpsc::channel(64);
        let accepting = tokio::spawn(accept_loop(listener, acceptor, sender, local));
        Ok(TlsListener {
            connections,
            local,
            accepting,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.connections.recv().await {
            Some(connection) => connection,
            // The accept loop ended (it never does while the listener lives).
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    sender: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors and the like: wait, as axum does.
                tracing::warn!(%error, "cannot accept a connection");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
        let acceptor = acceptor.clone();
        let sender = sender.clone();
        tokio::spawn(async move {
            let handshake = async {
                let mut first = [0_u8; 1];
                let read = stream.peek(&mut first).await?;
                if read == 1 && first[0] != TLS_HANDSHAKE {
                    return Ok(Err(stream));
                }
                acceptor.accept(stream).await.map(Ok)
            };
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
                Ok(Ok(Ok(tls))) => {
                    let _ = sender.send((tls, peer)).await;
                }
                Ok(Ok(Err(plain))) => refuse_plaintext(plain, local).await,
                Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        });
    }
}

/// Answers a plaintext connection's requests with how to connect instead.
async fn refuse_plaintext(stream: TcpStream, local: SocketAddr) {
    let message = format!(
        "this orch server takes TLS connections only: use https:// in the URL (e.g. \
         https://HOST:{}), and --tls-ca FILE or ORCH_TLS_CA if its certificate is not from a \
         public authority",
        local.port()
    );
    let service =
        hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            let message = message.clone();
            async move {
                let grpc = request
                    .headers()
                    .get(hyper::header::CONTENT_TYPE)
                    .and_then(|value| value.to_str().ok())
                    .is_some_and(|value| value.starts_with("application/grpc"));
                let response = if grpc {
                    tonic::Status::failed_precondition(message).into_http::<axum::body::Body>()
                } else {
                    let body = serde_json::json!({ "error": message }).to_string();
                    hyper::Response::builder()
                        .status(hyper::StatusCode::BAD_REQUEST)
                        .header(hyper::header::CONTENT_TYPE, "application/json")
                        .header(hyper::header::CONNECTION, "close")
                        .body(axum::body::Body::from(body))
                        .expect("a valid response")
                };
                Ok::<_, std::convert::Infallible>(response)
            }
        });
    let builder =
        hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
    let connection = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
    if tokio::time::timeout(HANDSHAKE_TIMEOUT, connection)
        .await
        .is_err()
    {
        tracing::debug!("a plaintext client kept its refused connection open");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_is_refused_off_loopback_unless_allowed() {
        for host in ["127.0.0.1", "::1", "[::1]", "localhost"] {
            assert!(check_plaintext(host, None, false).is_ok(), "{host}");
        }
        let error = check_plaintext("0.0.0.0", None, false)
            .unwrap_err()
            .to_string();
        assert!(error.contains("--tls-cert FILE --tls-key FILE"), "{error}");
        assert!(error.contains("--allow-plaintext"), "{error}");
        assert!(check_plaintext("0.0.0.0", None, true).is_ok());
        let files = TlsFiles {
            cert: "c.pem".into(),
            key: "k.pem".into(),
        };
        assert!(check_plaintext("orch.internal", Some(&files), false).is_ok());
    }
}
