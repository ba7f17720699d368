//! Real loopback receivers for automation tests: an HTTP server that
//! records every request (and can answer 503 to the first ones, as a
//! receiver that is down), and an SMTP sink that speaks SMTP and records
//! every message.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A request the HTTP receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    /// `POST`, ...
    pub method: String,
    /// The path and query.
    pub path: String,
    /// Headers, names lower-cased.
    pub headers: BTreeMap<String, String>,
    /// The body as text.
    pub body: String,
    /// When it arrived.
    pub at: Instant,
    /// When it arrived, by the system clock (to compare with server times).
    pub at_system: std::time::SystemTime,
    /// The status it was answered with.
    pub status: u16,
}

impl Received {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// An HTTP receiver on an ephemeral loopback port.
#[derive(Clone)]
pub struct HttpReceiver {
    url: String,
    requests: Arc<Mutex<Vec<Received>>>,
    /// Requests still to refuse with 503.
    refuse: Arc<AtomicUsize>,
    /// How long it takes to answer.
    delay: Duration,
}

impl HttpReceiver {
    /// Starts a receiver answering 200 to everything.
    pub fn start() -> HttpReceiver {
        Self::refusing_first(0)
    }

    /// Starts a receiver that answers 503 to its first `n` requests.
    pub fn refusing_first(n: usize) -> HttpReceiver {
        Self::spawn(n, Duration::ZERO)
    }

    /// Starts a receiver that takes `delay` to answer each request (200).
    pub fn slow(delay: Duration) -> HttpReceiver {
        Self::spawn(0, delay)
    }

    fn spawn(n: usize, delay: Duration) -> HttpReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the receiver");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let receiver = HttpReceiver {
            url,
            requests: Arc::default(),
            refuse: Arc::new(AtomicUsize::new(n)),
            delay,
        };
        let shared = receiver.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = shared.clone();
                std::thread::spawn(move || shared.serve(stream));
            }
        });
        receiver
    }

    /// Its base URL, e.g. `http://127.0.0.1:4567`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Received> {
        self.requests.lock().unwrap().clone()
    }

    /// Waits (bounded) until at least `n` requests arrived; returns them all.
    pub fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let requests = self.requests();
            if requests.len() >= n {
                return requests;
            }
            assert!(
                Instant::now() < deadline,
                "the receiver got {} request(s) within {within:?}, expected {n}: {requests:#?}",
                requests.len()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn serve(&self, stream: TcpStream) {
        let mut reader = BufReader::new(stream.try_clone().expect("clone the stream"));
        let mut stream = stream;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let mut parts = line.split_whitespace();
            let method = parts.next().unwrap_or_default().to_owned();
            let path = parts.next().unwrap_or_default().to_owned();
            let mut headers = BTreeMap::new();
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or(0) == 0 {
                    return;
                }
                let header = header.trim_end();
                if header.is_empty() {
                    break;
                }
                if let Some((name, value)) = header.split_once(':') {
                    headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
                }
            }
            let length: usize = headers
                .get("content-length")
                .and_then(|l| l.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                return;
            }
            let (arrived, arrived_system) = (Instant::now(), std::time::SystemTime::now());
            let refused = self
                .refuse
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            let status = if refused { 503 } else { 200 };
            std::thread::sleep(self.delay);
            self.requests.lock().unwrap().push(Received {
                method,
                path,
                headers,
                body: String::from_utf8_lossy(&body).into_owned(),
                at: arrived,
                at_system: arrived_system,
                status,
            });
            let reason = if refused { "Service Unavailable" } else { "OK" };
            let text = if refused { "down" } else { "ok" };
            let response = format!(
                "HTTP/1.1 {status} {reason}\r\ncontent-length: {}\r\ncontent-type: text/plain\r\n\r\n{text}",
                text.len()
            );
            if stream.write_all(response.as_bytes()).is_err() {
                return;
            }
        }
    }
}

/// A message the SMTP sink got.
#[derive(Debug, Clone)]
pub struct Mail {
    /// `MAIL FROM` address.
    pub from: String,
    /// `RCPT TO` addresses.
    pub to: Vec<String>,
    /// The message as sent (headers and body).
    pub data: String,
}

/// An SMTP server on an ephemeral loopback port that accepts every message.
#[derive(Clone)]
pub struct SmtpSink {
    port: u16,
    mails: Arc<Mutex<Vec<Mail>>>,
}

impl SmtpSink {
    /// Starts the sink.
    pub fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the SMTP sink");
        let sink = SmtpSink {
            port: listener.local_addr().expect("address").port(),
            mails: Arc::default(),
        };
        let shared = sink.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = shared.clone();
                std::thread::spawn(move || {
                    let _ = shared.serve(stream);
                });
            }
        });
        sink
    }

    /// `smtp://127.0.0.1:PORT`, for `ORCH_SMTP_URL`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Waits (bounded) until at least `n` messages arrived; returns them all.
    pub fn wait_for(&self, n: usize, within: Duration) -> Vec<Mail> {
        let deadline = Instant::now() + within;
        loop {
            let mails = self.mails.lock().unwrap().clone();
            if mails.len() >= n {
                return mails;
            }
            assert!(
                Instant::now() < deadline,
                "the SMTP sink got {} message(s) within {within:?}, expected {n}",
                mails.len()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn serve(&self, stream: TcpStream) -> std::io::Result<()> {
        let mut reader = BufReader::new(stream.try_clone()?);
        let mut stream = stream;
        stream.write_all(b"220 sink.test ESMTP ready\r\n")?;
        let mut mail = Mail {
            from: String::new(),
            to: Vec::new(),
            data: String::new(),
        };
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let command = line.trim_end().to_owned();
            let upper = command.to_ascii_uppercase();
            if upper.starts_with("EHLO") {
                stream.write_all(b"250-sink.test\r\n250-8BITMIME\r\n250 SIZE 10485760\r\n")?;
            } else if upper.starts_with("HELO") {
                stream.write_all(b"250 sink.test\r\n")?;
            } else if upper.starts_with("MAIL FROM:") {
                mail.from = address(&command[10..]);
                stream.write_all(b"250 OK\r\n")?;
            } else if upper.starts_with("RCPT TO:") {
                mail.to.push(address(&command[8..]));
                stream.write_all(b"250 OK\r\n")?;
            } else if upper == "DATA" {
                stream.write_all(b"354 end with <CRLF>.<CRLF>\r\n")?;
                let mut data = String::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line)? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" || line == ".\n" {
                        break;
                    }
                    data.push_str(
                        line.strip_prefix('.')
                            .filter(|_| line.starts_with(".."))
                            .unwrap_or(&line),
                    );
                }
                mail.data = data;
                self.mails.lock().unwrap().push(mail.clone());
                mail = Mail {
                    from: String::new(),
                    to: Vec::new(),
                    data: String::new(),
                };
                stream.write_all(b"250 OK queued\r\n")?;
            } else if upper == "RSET" || upper == "NOOP" {
                stream.write_all(b"250 OK\r\n")?;
            } else if upper == "QUIT" {
                stream.write_all(b"221 bye\r\n")?;
                return Ok(());
            } else {
                stream.write_all(b"502 not implemented\r\n")?;
            }
        }
    }
}

fn address(text: &str) -> String {
    let text = text.trim();
    let inner = text.split('>').next().unwrap_or(text);
    inner
        .trim_start_matches('<')
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}
