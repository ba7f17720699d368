//! A real headless Chromium driven over WebDriver (Debian's `chromium` and
//! `chromium-driver`, installed by `.ci/run`). A missing browser fails the
//! test with instructions; it never skips.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

/// Where screenshots are saved for people to look at.
pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let dir = target.join("screenshots");
    std::fs::create_dir_all(&dir).expect("create target/screenshots");
    dir
}

fn first_existing(candidates: &[&str]) -> Option<PathBuf> {
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|path| path.is_file())
}

/// A chromedriver process and a browser session on it; both end on drop.
pub struct Browser {
    /// The WebDriver session driving the browser.
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver on a free port and opens a headless Chromium session.
    pub async fn start() -> Browser {
        Browser::start_with(&[]).await
    }

    /// [`Browser::start`] with extra Chromium arguments (e.g.
    /// `--ignore-certificate-errors` for a test's self-signed certificate).
    pub async fn start_with(extra_args: &[&str]) -> Browser {
        let driver_path = std::env::var_os("CHROMEDRIVER")
            .map(PathBuf::from)
            .or_else(|| first_existing(&["/usr/bin/chromedriver"]))
            .unwrap_or_else(|| {
                panic!(
                    "chromedriver not found: install Chromium and its driver with \
                     `apt-get update && apt-get install -y chromium chromium-driver` \
                     (.ci/run does it), or set CHROMEDRIVER=/path/to/chromedriver"
                )
            });
        let chromium = std::env::var_os("CHROMIUM")
            .map(PathBuf::from)
            .or_else(|| first_existing(&["/usr/lib/chromium/chromium", "/usr/bin/chromium"]))
            .unwrap_or_else(|| {
                panic!(
                    "chromium not found: install it with \
                     `apt-get update && apt-get install -y chromium chromium-driver` \
                     (.ci/run does it), or set CHROMIUM=/path/to/chromium"
                )
            });
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let driver = Command::new(&driver_path)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", driver_path.display()));
        let profile = tempfile::tempdir().expect("browser profile dir");
        let args = [
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--window-size=1440,1600".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ]
        .into_iter()
        .chain(extra_args.iter().map(|arg| arg.to_string()))
        .collect::<Vec<_>>();
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({ "binary": chromium, "args": args }),
        );
        // Keep the console, for [`Browser::console_errors`].
        capabilities.insert("goog:loggingPrefs".into(), json!({ "browser": "ALL" }));
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(client) => break client,
                Err(error) => {
                    assert!(
                        Instant::now() < deadline,
                        "cannot open a Chromium session through {} ({}): {error}",
                        driver_path.display(),
                        chromium.display()
                    );
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        };
        Browser {
            client,
            driver,
            _profile: profile,
        }
    }

    /// Logs in to the dashboard at `base` with API key `key` (the login
    /// page trades it for a session cookie) and waits for the overview.
    pub async fn login(&self, base: &str, key: &str) {
        self.client
            .goto(&format!("{base}/login"))
            .await
            .expect("open /login");
        self.client
            .find(Locator::Css("#token"))
            .await
            .expect("the token field")
            .send_keys(key)
            .await
            .expect("type the key");
        self.client
            .find(Locator::Css("#login-submit"))
            .await
            .expect("the log-in button")
            .click()
            .await
            .expect("log in");
        self.wait_until(
            "leaving the login page",
            "return location.pathname !== '/login';",
            Duration::from_secs(10),
        )
        .await;
    }

    /// Saves a PNG of the viewport as `target/screenshots/NAME.png`.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("screenshot");
        let path = screenshot_dir().join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }

    /// The page's visible text (for assertion messages).
    pub async fn page_text(&self) -> String {
        match self.client.find(Locator::Css("body")).await {
            Ok(body) => body.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Waits (bounded) until `css` matches an element whose text contains
    /// `text` (any element when `text` is empty); fails with a screenshot.
    pub async fn wait_for_text(&self, css: &str, text: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(elements) = self.client.find_all(Locator::Css(css)).await {
                for element in elements {
                    let content = element.text().await.unwrap_or_default();
                    if content.contains(text) {
                        return content;
                    }
                }
            }
            if Instant::now() >= deadline {
                let shot = self.screenshot("failure").await;
                panic!(
                    "no element {css:?} with text {text:?} within {within:?} (screenshot {}); page text:\n{}",
                    shot.display(),
                    self.page_text().await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Clicks the element `css` finds; `what` names it in the failure.
    pub async fn click(&self, css: &str, what: &str) {
        self.client
            .find(fantoccini::Locator::Css(css))
            .await
            .unwrap_or_else(|error| panic!("{what} ({css}) is not on the page: {error}"))
            .click()
            .await
            .unwrap_or_else(|error| panic!("cannot click {what} ({css}): {error}"));
    }

    /// Waits (bounded) until the script returns true.
    pub async fn wait_until(&self, what: &str, script: &str, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let value = self.client.execute(script, vec![]).await;
            if matches!(value, Ok(serde_json::Value::Bool(true))) {
                return;
            }
            if Instant::now() >= deadline {
                let shot = self.screenshot("failure").await;
                panic!(
                    "{what} did not happen within {within:?} (screenshot {}); page text:\n{}",
                    shot.display(),
                    self.page_text().await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The console's errors (failed loads, uncaught exceptions, `console.error`)
    /// since the last call: chromedriver's browser log, entries at SEVERE.
    pub async fn console_errors(&self) -> Vec<String> {
        let log = self
            .client
            .issue_cmd(BrowserLog)
            .await
            .expect("read the browser's console log");
        log.as_array()
            .map(|entries| {
                entries
                    .iter()
                    .filter(|entry| entry["level"] == "SEVERE")
                    .map(|entry| entry["message"].as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Ends the session and the driver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// chromedriver's `POST /session/{id}/se/log` for the browser's console.
#[derive(Debug)]
struct BrowserLog;

impl fantoccini::wd::WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(r#"{"type": "browser"}"#.to_owned()),
        )
    }
}
