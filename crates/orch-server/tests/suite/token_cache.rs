//! The token cache across replicas: a revoked token is refused at once by
//! every replica, with the cache on or off, and a checked key is served from
//! the cache without reading the database.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Response, StatusCode};
use orch_core::auth::Scope;

use super::auth::{http_request, rule, send, token};
use crate::common::Harness;

#[tokio::test]
async fn without_the_token_cache_a_token_revoked_in_the_database_is_refused_at_once_by_every_replica()
 {
    let harness = Harness::start("2026-01-05T09:00:00Z", "default").await;
    let key = token(&harness, "ci", Scope::Read, &[]).await;
    let one = harness.secured_with_token_cache(Duration::ZERO).await;
    let two = harness.secured_with_token_cache(Duration::ZERO).await;
    let (one, two) = (
        orch_server::router(one.state.clone()),
        orch_server::router(two.state.clone()),
    );
    let list = rule("GET", "/api/flow-runs");
    for app in [&one, &two] {
        assert_eq!(
            send(app, http_request(&list, Some(&key))).await.status(),
            StatusCode::OK
        );
    }
    harness
        .store()
        .tokens()
        .revoke_token("ci")
        .await
        .expect("revoke");
    for app in [&one, &two] {
        assert_revoked(send(app, http_request(&list, Some(&key))).await).await;
    }
}

async fn assert_revoked(response: Response<Body>) {
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body = axum::body::to_bytes(response.into_body(), 4096)
        .await
        .unwrap();
    assert!(
        String::from_utf8_lossy(&body).contains("revoked"),
        "{body:?}"
    );
}

/// With the token cache on: the revoking server refuses the key at once;
/// on PostgreSQL another replica refuses it as soon as the revocation's
/// notification reaches it (sent by the revoking transaction), long before
/// its cache entries would age out. (SQLite has one server per database.)
#[tokio::test]
async fn with_the_token_cache_a_revoked_token_is_refused_at_once_by_every_replica() {
    let harness = Harness::start("2026-01-05T09:00:00Z", "default").await;
    let key = token(&harness, "ci", Scope::Read, &[]).await;
    // An hour: only a revocation can end a cache entry within this test.
    let hour = Duration::from_secs(3600);
    let mut replicas = vec![harness.secured_with_token_cache(hour).await];
    if crate::BACKEND == orch_store::Backend::Postgres {
        replicas.push(harness.secured_with_token_cache(hour).await);
    }
    for replica in &replicas {
        orch_server::auth::cache::listen(&replica.state).await;
    }
    let apps: Vec<_> = replicas
        .iter()
        .map(|replica| orch_server::router(replica.state.clone()))
        .collect();
    let list = rule("GET", "/api/flow-runs");
    for app in &apps {
        assert_eq!(
            send(app, http_request(&list, Some(&key))).await.status(),
            StatusCode::OK
        );
    }
    let generations: Vec<u64> = replicas
        .iter()
        .map(|replica| replica.state.token_cache().generation())
        .collect();
    orch_server::ops::tokens::revoke(&replicas[0].state, "ci", "test")
        .await
        .expect("revoke");
    assert_revoked(send(&apps[0], http_request(&list, Some(&key))).await).await;
    for ((replica, app), generation) in replicas.iter().zip(&apps).zip(generations).skip(1) {
        // The notification is on its way; no sleeping for a cache lifetime.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while replica.state.token_cache().generation() == generation {
            assert!(
                std::time::Instant::now() < deadline,
                "the revocation never reached the other replica"
            );
            tokio::task::yield_now().await;
        }
        assert_revoked(send(app, http_request(&list, Some(&key))).await).await;
    }
}

/// The cache serves a checked key without reading it again: a token whose
/// row changes in the database without a revocation (which no use case
/// does) is still served until its entry ages out or something is revoked.
#[tokio::test]
async fn the_token_cache_serves_a_checked_key_without_reading_the_database() {
    let harness = Harness::start("2026-01-05T09:00:00Z", "default").await;
    let key = token(&harness, "ci", Scope::Read, &[]).await;
    let replica = harness
        .secured_with_token_cache(Duration::from_secs(3600))
        .await;
    orch_server::auth::cache::listen(&replica.state).await;
    let app = orch_server::router(replica.state.clone());
    let list = rule("GET", "/api/flow-runs");
    assert_eq!(
        send(&app, http_request(&list, Some(&key))).await.status(),
        StatusCode::OK
    );
    harness
        .store()
        .tokens()
        .revoke_token("ci")
        .await
        .expect("revoke");
    if crate::BACKEND == orch_store::Backend::Sqlite {
        // Revoked behind the server's back (not through a use case): on
        // SQLite nothing tells the server, and its cache answers.
        assert_eq!(
            send(&app, http_request(&list, Some(&key))).await.status(),
            StatusCode::OK
        );
        replica.state.token_cache().revoked();
    } else {
        // On PostgreSQL the store's revocation notifies every listener.
        let before = std::time::Instant::now();
        while send(&app, http_request(&list, Some(&key))).await.status() == StatusCode::OK {
            assert!(before.elapsed() < Duration::from_secs(10), "never refused");
            tokio::task::yield_now().await;
        }
    }
    assert_revoked(send(&app, http_request(&list, Some(&key))).await).await;
}
