//! The key a worker on the server's machine authenticates with: a
//! worker-scoped token for its pool, never the admin key.
//!
//! `orch worker start` and `orch up` with no key given (`--api-key`,
//! `ORCH_API_KEY`) used to run on the admin key the server writes to
//! `$ORCH_HOME/credentials`. Now they use that key once, to make a worker
//! token for the pool (`local-worker-<pool>-<random>`), keep its key in
//! `$ORCH_HOME/worker-keys/<pool>` (0600, one `URL KEY` line per server like
//! the credentials file) and reuse it while the server accepts it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use orch_proto::credentials::{self, CredentialsFile};
use orch_proto::v1::{CreateTokenRequest, GetStatusRequest};

/// The folder of `$ORCH_HOME` holding the local workers' keys, one file per pool.
pub const FOLDER: &str = "worker-keys";

/// The worker key for `pool` on the server at `url` (or one of several
/// replicas' comma-separated URLs: the key is kept under the first one the
/// credentials file has an admin key for), made with the admin key of the
/// credentials file if needed. `None` when a key was given explicitly
/// or there is no admin key to make one with (the worker then uses what
/// [`credentials::api_key_for`] finds, as before). A key that cannot be made
/// is a warning, not a failure: the worker falls back the same way.
pub async fn for_local_worker(
    home: &Path,
    url: &str,
    pool: &str,
    request_timeout: Duration,
) -> Option<String> {
    if credentials::explicit_api_key().is_some() {
        return None;
    }
    let admins = CredentialsFile::read(&home.join(credentials::CREDENTIALS_FILE));
    let (server, admin) = orch_client::split_urls(url)
        .into_iter()
        .find_map(|server| admins.key_for(&server).map(|admin| (server, admin)))?;
    let file = key_file(home, pool);
    if let Some(key) = CredentialsFile::read(&file).key_for(&server)
        && accepted(url, &key, request_timeout).await
    {
        return Some(key);
    }
    match create(url, &admin, pool, request_timeout).await {
        Ok(key) => {
            let mut keys = CredentialsFile::read(&file);
            keys.set(&server, &key);
            let written = orch_proto::private_files::create_dir(&home.join(FOLDER))
                .and_then(|()| keys.write(&file));
            if let Err(error) = written {
                tracing::warn!(file = %file.display(), %error, "cannot keep the worker key; a new one is made at every start");
            }
            tracing::info!(
                pool,
                "the worker authenticates with a worker token for its pool, not the admin key"
            );
            Some(key)
        }
        Err(message) => {
            tracing::warn!(
                pool,
                "cannot make a worker token for this worker ({message}); it uses the key of {} \
                 instead. Give it one with --api-key (orch token create NAME --scope worker --pool {pool})",
                home.join(credentials::CREDENTIALS_FILE).display()
            );
            None
        }
    }
}

/// `$ORCH_HOME/worker-keys/<pool>`.
fn key_file(home: &Path, pool: &str) -> PathBuf {
    home.join(FOLDER).join(pool)
}

/// A client of `url` sending `key`.
async fn client(
    url: &str,
    key: &str,
    request_timeout: Duration,
) -> Result<orch_client::Api, String> {
    let options = orch_client::ClientOptions::new(url)
        .with_request_timeout(request_timeout)
        .with_api_key(Some(key.to_owned()))
        .with_tls_ca(crate::client::tls_ca().map(Path::to_path_buf));
    orch_client::Api::connect(&options)
        .await
        .map_err(|error| error.to_string())
}

/// Whether the server still takes `key` (any answer but Unauthenticated).
async fn accepted(url: &str, key: &str, request_timeout: Duration) -> bool {
    let Ok(api) = client(url, key, request_timeout).await else {
        return false;
    };
    let answer = api.server().get_status(GetStatusRequest {}).await;
    !matches!(answer, Err(status) if status.code() == tonic::Code::Unauthenticated)
}

/// A new worker token for `pool`, made with `admin`; returns its key.
async fn create(
    url: &str,
    admin: &str,
    pool: &str,
    request_timeout: Duration,
) -> Result<String, String> {
    let api = client(url, admin, request_timeout).await?;
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let request = CreateTokenRequest {
        name: format!("local-worker-{pool}-{}", &suffix[..8]),
        scope: "worker".to_owned(),
        pools: vec![pool.to_owned()],
        expires_in_seconds: 0,
    };
    let reply = api
        .tokens()
        .create_token(request)
        .await
        .map_err(|status| status.message().to_owned())?;
    Ok(reply.into_inner().api_key)
}
