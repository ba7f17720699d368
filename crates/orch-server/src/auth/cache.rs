//! The token cache: API keys and dashboard sessions already checked, so that
//! a client's calls do not each read its token from the database.
//!
//! Revocation stays immediate:
//! - every revocation made through this server (`orch token revoke`, a
//!   dashboard logout) bumps a generation number once it is committed, and an
//!   entry is used only while the generation it was read under is current
//!   (the generation is read before the database is, so a check racing a
//!   revocation is never cached as valid);
//! - on PostgreSQL, the revoking transaction itself notifies
//!   [`orch_store::CREDENTIALS_CHANNEL`], and every replica bumps its
//!   generation when the notification arrives (at the other replica's commit,
//!   well before its client has its answer). While a replica is not listening
//!   (at start, after its listening connection failed) it caches nothing, and
//!   each reconnection bumps the generation (a notification may have been
//!   missed);
//! - an entry is used at most `--token-cache-seconds` after it was read,
//!   which bounds what a lost notification could cost, and never after its
//!   credential expires.
//!
//! Run credentials are never cached: one stops working when its run ends,
//! which any replica may record.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use orch_core::auth::Principal;
use orch_store::{CredentialKind, TokenInfo};
use sha2::{Digest, Sha256};

use crate::state::AppState;

/// Most entries kept; past it the cache starts over.
const MAX_ENTRIES: usize = 10_000;
/// Wait before listening again after the listening connection failed.
const RELISTEN_DELAY: Duration = Duration::from_secs(1);

/// Who a key stands for: name, principal, credential id.
pub type Resolved = (String, Principal, String);

/// Checked keys, by the SHA-256 of the whole key.
#[derive(Debug)]
pub struct TokenCache {
    /// How long an entry is used; `None`: the cache is off.
    ttl: Option<Duration>,
    /// Bumped by every revocation this replica hears of.
    generation: AtomicU64,
    /// Whether revocations made elsewhere reach this replica now (always
    /// true with SQLite: one server per database).
    listening: AtomicBool,
    entries: Mutex<HashMap<[u8; 32], Entry>>,
}

#[derive(Debug)]
struct Entry {
    resolved: Resolved,
    expires_at: Option<i64>,
    generation: u64,
    read_at: Instant,
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

impl TokenCache {
    /// A cache whose entries live `ttl` (zero: off). `shared`: other servers
    /// share the database (PostgreSQL), so nothing is cached until
    /// [`listen`] hears their revocations.
    pub fn new(ttl: Duration, shared: bool) -> TokenCache {
        TokenCache {
            ttl: (!ttl.is_zero()).then_some(ttl),
            generation: AtomicU64::new(0),
            listening: AtomicBool::new(!shared),
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Whether the cache is on at all.
    pub fn enabled(&self) -> bool {
        self.ttl.is_some()
    }

    /// The generation to pass to [`TokenCache::put`]: read it before the
    /// database.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// The caller `key` stands for, if it was checked recently, nothing was
    /// revoked since, and it has not expired (`now`: store micros).
    pub fn get(&self, key: &str, now: i64) -> Option<Resolved> {
        let ttl = self.ttl?;
        if !self.listening.load(Ordering::SeqCst) {
            return None;
        }
        let generation = self.generation();
        let entries = self.entries.lock().expect("not poisoned");
        let entry = entries.get(&digest(key))?;
        let fresh = entry.generation == generation
            && entry.read_at.elapsed() < ttl
            && entry.expires_at.is_none_or(|at| at > now);
        fresh.then(|| entry.resolved.clone())
    }

    /// Remembers that `key` is `token`, read from the database under
    /// `generation`. Run credentials are not kept.
    pub fn put(&self, key: &str, token: &TokenInfo, generation: u64) {
        if self.ttl.is_none()
            || token.kind == CredentialKind::Run
            || !self.listening.load(Ordering::SeqCst)
            || generation != self.generation()
        {
            return;
        }
        let mut entries = self.entries.lock().expect("not poisoned");
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(
            digest(key),
            Entry {
                resolved: (token.name.clone(), token.principal(), token.id.clone()),
                expires_at: token.expires_at,
                generation,
                read_at: Instant::now(),
            },
        );
    }

    /// A credential was revoked (here, or on another replica): nothing
    /// cached so far is used again.
    pub fn revoked(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.entries.lock().expect("not poisoned").clear();
    }

    fn set_listening(&self, listening: bool) {
        // Whatever was cached may have missed a revocation either way.
        self.revoked();
        self.listening.store(listening, Ordering::SeqCst);
    }
}

/// On PostgreSQL, with the cache on: hears the other replicas' revocations
/// until the server shuts down. Returns once listening (or failing to, and
/// retrying in the background). `orch server start` calls it; tests that
/// build replicas from [`AppState`]s call it themselves.
pub async fn listen(state: &AppState) {
    let cache = state.token_cache();
    if !cache.enabled() || state.store().backend() != orch_store::Backend::Postgres {
        return;
    }
    let first = match state.store().listen(orch_store::CREDENTIALS_CHANNEL).await {
        Ok(listener) => {
            cache.set_listening(true);
            Some(listener)
        }
        Err(error) => {
            tracing::warn!(%error, "cannot listen for revoked tokens yet; the token cache stays off until then");
            None
        }
    };
    tokio::spawn(receive(state.clone(), first));
}

async fn receive(state: AppState, mut first: Option<orch_store::Listener>) {
    let cache = state.token_cache();
    loop {
        let listener = match first.take() {
            // [`listen`] turned the cache on already.
            Some(listener) => listener,
            None => {
                let listening = tokio::select! {
                    _ = state.shutting_down() => return,
                    listening = state.store().listen(orch_store::CREDENTIALS_CHANNEL) => listening,
                };
                match listening {
                    Ok(listener) => {
                        cache.set_listening(true);
                        listener
                    }
                    Err(error) => {
                        tracing::warn!(%error, "cannot listen for revoked tokens; the token cache stays off");
                        tokio::select! {
                            _ = state.shutting_down() => return,
                            _ = tokio::time::sleep(RELISTEN_DELAY) => continue,
                        }
                    }
                }
            }
        };
        let mut listener = listener;
        loop {
            let received = tokio::select! {
                _ = state.shutting_down() => return,
                received = listener.recv() => received,
            };
            match received {
                Ok(Some(_)) => cache.revoked(),
                // Reconnected: something may have been revoked meanwhile.
                Ok(None) => cache.revoked(),
                Err(error) => {
                    tracing::warn!(%error, "listening for revoked tokens failed; the token cache is off until it listens again");
                    cache.set_listening(false);
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use orch_core::auth::Scope;

    use super::*;

    fn token(kind: CredentialKind, expires_at: Option<i64>) -> TokenInfo {
        TokenInfo {
            id: "0123456789abcdef".into(),
            name: "ci".into(),
            kind,
            scope: Scope::Admin,
            pools: Vec::new(),
            flow_run_id: (kind == CredentialKind::Run).then(|| "run-1".to_owned()),
            created_at: 0,
            expires_at,
            revoked_at: None,
            last_used: None,
        }
    }

    #[test]
    fn a_checked_key_is_used_until_a_revocation() {
        let cache = TokenCache::new(Duration::from_secs(60), false);
        let generation = cache.generation();
        assert_eq!(cache.get("orch_a_b", 0), None);
        cache.put("orch_a_b", &token(CredentialKind::Token, None), generation);
        let (name, _, id) = cache.get("orch_a_b", 0).expect("cached");
        assert_eq!((name.as_str(), id.as_str()), ("ci", "0123456789abcdef"));
        assert_eq!(cache.get("orch_a_c", 0), None, "another secret is not it");
        cache.revoked();
        assert_eq!(cache.get("orch_a_b", 0), None);
    }

    #[test]
    fn a_check_that_raced_a_revocation_is_not_kept() {
        let cache = TokenCache::new(Duration::from_secs(60), false);
        let generation = cache.generation();
        cache.revoked();
        cache.put("orch_a_b", &token(CredentialKind::Token, None), generation);
        assert_eq!(cache.get("orch_a_b", 0), None);
    }

    #[test]
    fn expired_credentials_and_run_credentials_are_not_served() {
        let cache = TokenCache::new(Duration::from_secs(60), false);
        let generation = cache.generation();
        cache.put(
            "orch_a_b",
            &token(CredentialKind::Session, Some(100)),
            generation,
        );
        assert!(cache.get("orch_a_b", 99).is_some());
        assert_eq!(cache.get("orch_a_b", 100), None);
        cache.put("orch_r_s", &token(CredentialKind::Run, None), generation);
        assert_eq!(cache.get("orch_r_s", 0), None);
    }

    #[test]
    fn off_or_not_listening_caches_nothing() {
        let off = TokenCache::new(Duration::ZERO, false);
        off.put(
            "orch_a_b",
            &token(CredentialKind::Token, None),
            off.generation(),
        );
        assert_eq!(off.get("orch_a_b", 0), None);
        let shared = TokenCache::new(Duration::from_secs(60), true);
        shared.put(
            "orch_a_b",
            &token(CredentialKind::Token, None),
            shared.generation(),
        );
        assert_eq!(shared.get("orch_a_b", 0), None, "not listening yet");
        shared.set_listening(true);
        shared.put(
            "orch_a_b",
            &token(CredentialKind::Token, None),
            shared.generation(),
        );
        assert!(shared.get("orch_a_b", 0).is_some());
        shared.set_listening(false);
        assert_eq!(shared.get("orch_a_b", 0), None);
    }
}
