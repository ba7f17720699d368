//! Zero set-up: on first start the server makes an admin token and writes
//! its key to `$ORCH_HOME/credentials` (mode 0600), keyed by the server's
//! URL, where the CLI, workers and flows on the same machine find it.
//!
//! On later starts a key already in the file that is still a valid admin key
//! of this database is reused (and recorded for the current URL), so the
//! file never fills with keys nobody uses.

use std::path::Path;

use orch_core::auth::Scope;
use orch_proto::credentials::CredentialsFile;
use orch_store::{CredentialCheck, NewToken, Store, StoreError};

/// What [`ensure_admin_key`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminKey {
    /// A new admin token, named so.
    Created(String),
    /// A key from the file, of the admin token so named.
    Reused(String),
}

/// Makes sure `file` holds a valid admin key of `store` for `url`.
pub async fn ensure_admin_key(store: &Store, file: &Path, url: &str) -> Result<AdminKey, String> {
    let mut credentials = CredentialsFile::read(file);
    let mut found = None;
    for (_, key) in &credentials.entries {
        if let Ok(CredentialCheck::Valid(token)) = store.tokens().check_credential(key).await
            && token.scope == Scope::Admin
            && token.kind == orch_store::CredentialKind::Token
        {
            found = Some((key.clone(), token.name));
            break;
        }
    }
    let (key, outcome) = match found {
        Some((key, name)) => (key, AdminKey::Reused(name)),
        None => {
            let (name, key) = create_admin(store).await?;
            (key, AdminKey::Created(name))
        }
    };
    credentials.set(url, &key);
    credentials.write(file).map_err(|error| {
        format!(
            "cannot write the admin API key to {} ({error}); set ORCH_HOME to a writable folder, or start with --no-auth on a loopback address",
            file.display()
        )
    })?;
    Ok(outcome)
}

/// A new admin token: `admin`, or `admin-2`, `admin-3`... when taken.
async fn create_admin(store: &Store) -> Result<(String, String), String> {
    for n in 1..100 {
        let name = if n == 1 {
            "admin".to_owned()
        } else {
            format!("admin-{n}")
        };
        let token = NewToken {
            name: name.clone(),
            scope: Scope::Admin,
            pools: Vec::new(),
            expires_at: None,
        };
        match store.tokens().create_token(&token).await {
            Ok((_, key)) => return Ok((name, key)),
            Err(StoreError::AlreadyExists { .. }) => continue,
            Err(error) => return Err(format!("cannot create the admin API key: {error}")),
        }
    }
    Err("cannot create the admin API key: names admin..admin-99 are all taken; revoke some with 'orch token revoke NAME'".into())
}
