//! Where a client finds its API key, and how it sends it.
//!
//! In order: an explicit key (`--api-key`), then `ORCH_API_KEY`, then the
//! entry for the server's URL in `$ORCH_HOME/credentials`, which the server
//! writes on first start (so the CLI, a worker and flows on the same machine
//! need no flag). The key travels as `authorization: Bearer <key>`, in gRPC
//! metadata and HTTP headers alike.
//!
//! The file holds one `URL KEY` pair per line (mode 0600); `#` starts a comment.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// Environment variable holding an API key.
pub const API_KEY_VAR: &str = orch_core::env_vars::API_KEY;
/// The orch home folder's environment variable (default `~/.orch`).
pub const HOME_VAR: &str = orch_core::env_vars::HOME;
/// The credentials file's name in the orch home folder.
pub const CREDENTIALS_FILE: &str = "credentials";

/// The orch home folder: `ORCH_HOME`, else `~/.orch`.
pub fn home() -> PathBuf {
    match std::env::var_os(HOME_VAR) {
        Some(home) if !home.is_empty() => PathBuf::from(home),
        _ => std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."))
            .join(".orch"),
    }
}

/// `$ORCH_HOME/credentials`.
pub fn credentials_path() -> PathBuf {
    home().join(CREDENTIALS_FILE)
}

/// The key given on the command line (`--api-key`), for the whole process.
static COMMAND_LINE_KEY: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Records the key given on the command line; [`api_key_for`] prefers it.
pub fn use_api_key(key: &str) {
    let _ = COMMAND_LINE_KEY.set(key.trim().to_owned());
}

/// The API key to use for the server at `url`: `explicit`, else the
/// command line's ([`use_api_key`]), else `ORCH_API_KEY`, else the
/// credentials file's entry for that server.
pub fn api_key_for(url: &str, explicit: Option<&str>) -> Option<String> {
    let given = explicit
        .map(|key| key.trim().to_owned())
        .filter(|key| !key.is_empty())
        .or_else(explicit_api_key);
    given.or_else(|| CredentialsFile::read(&credentials_path()).key_for(url))
}

/// The key given to this process rather than found in the credentials
/// file: the command line's ([`use_api_key`]), else `ORCH_API_KEY`.
pub fn explicit_api_key() -> Option<String> {
    COMMAND_LINE_KEY
        .get()
        .cloned()
        .or_else(|| std::env::var(API_KEY_VAR).ok())
        .map(|key| key.trim().to_owned())
        .filter(|key| !key.is_empty())
}

/// The parsed credentials file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CredentialsFile {
    /// `(server URL, key)` pairs, in file order.
    pub entries: Vec<(String, String)>,
}

impl CredentialsFile {
    /// Reads `path`; a missing or unreadable file has no entries.
    pub fn read(path: &Path) -> CredentialsFile {
        let text = orch_core::input_file::read_text(path).unwrap_or_default();
        let entries = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .filter_map(|line| {
                let (url, key) = line.split_once(char::is_whitespace)?;
                Some((url.to_owned(), key.trim().to_owned()))
            })
            .collect();
        CredentialsFile { entries }
    }

    /// The key recorded for the server at `url`.
    pub fn key_for(&self, url: &str) -> Option<String> {
        let wanted = server_identity(url)?;
        self.entries
            .iter()
            .find(|(entry, _)| server_identity(entry).as_ref() == Some(&wanted))
            .map(|(_, key)| key.clone())
    }

    /// Records `key` for `url`, replacing that server's entry.
    pub fn set(&mut self, url: &str, key: &str) {
        let wanted = server_identity(url);
        self.entries
            .retain(|(entry, _)| server_identity(entry) != wanted);
        self.entries.push((url.to_owned(), key.to_owned()));
    }

    /// Writes the file readable by its owner only (mode 0600), atomically.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let temporary = path.with_extension(format!("tmp{}", std::process::id()));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&temporary)?;
        writeln!(
            file,
            "# orch API keys by server, written by 'orch server start'. Keep this file secret (mode 0600)."
        )?;
        for (url, key) in &self.entries {
            writeln!(file, "{url} {key}")?;
        }
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    }
}

/// `(scheme, host, port)` of a server URL, with every loopback name
/// (`localhost`, `127.0.0.1`, `::1`, and `0.0.0.0` for a server bound to all
/// interfaces) counted as one host.
fn server_identity(url: &str) -> Option<(String, String, u16)> {
    let url = url.trim().trim_end_matches('/');
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    let authority = rest.split('/').next()?;
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => (host, port.parse().ok()?),
        _ => (authority, if scheme == "https" { 443 } else { 80 }),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let host = match host.to_ascii_lowercase().as_str() {
        "localhost" | "127.0.0.1" | "::1" | "0.0.0.0" | "::" => "loopback".to_owned(),
        other => other.to_owned(),
    };
    Some((scheme.to_ascii_lowercase(), host, port))
}

/// Adds `authorization: Bearer <key>` to every call (nothing without a key).
#[derive(Debug, Clone, Default)]
pub struct Bearer(Option<MetadataValue<Ascii>>);

impl Bearer {
    /// Sends `key`, if any. A key that is not valid header text is not sent
    /// (the server then answers Unauthenticated, which says what to do).
    pub fn new(key: Option<&str>) -> Bearer {
        Bearer(key.and_then(|key| format!("Bearer {key}").parse().ok()))
    }
}

impl tonic::service::Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// A channel that sends the API key with every call.
pub type AuthChannel = InterceptedService<Channel, Bearer>;

/// Wraps `channel` so that every call carries the key for `url`
/// ([`api_key_for`] with `explicit`).
pub fn with_credentials(channel: Channel, url: &str, explicit: Option<&str>) -> AuthChannel {
    let key = api_key_for(url, explicit);
    InterceptedService::new(channel, Bearer::new(key.as_deref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_finds_a_servers_key_under_any_loopback_name_and_no_other() {
        let mut file = CredentialsFile::default();
        file.set("http://127.0.0.1:4200", "orch_a");
        file.set("http://db.internal:4200", "orch_b");
        assert_eq!(
            file.key_for("http://localhost:4200/").as_deref(),
            Some("orch_a")
        );
        assert_eq!(file.key_for("127.0.0.1:4200").as_deref(), Some("orch_a"));
        assert_eq!(file.key_for("http://[::1]:4200").as_deref(), Some("orch_a"));
        assert_eq!(file.key_for("http://127.0.0.1:4201"), None);
        assert_eq!(file.key_for("https://127.0.0.1:4200"), None);
        assert_eq!(
            file.key_for("http://db.internal:4200").as_deref(),
            Some("orch_b")
        );
        file.set("http://localhost:4200", "orch_c");
        assert_eq!(file.entries.len(), 2, "one entry per server");
    }

    #[test]
    fn the_file_is_written_for_its_owner_only_and_reads_back() {
        let dir = std::env::temp_dir().join(format!("orch-credentials-{}", std::process::id()));
        let path = dir.join("credentials");
        let mut file = CredentialsFile::default();
        file.set("http://127.0.0.1:1", "orch_x");
        file.write(&path).expect("write");
        assert_eq!(CredentialsFile::read(&path), file);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(dir).ok();
    }
}
