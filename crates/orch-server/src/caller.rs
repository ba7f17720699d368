//! Who made a request, as the rest of the server sees it.
//!
//! The authentication layer (issue 12) inserts a [`Caller`] into every
//! request's extensions before any handler runs; the audit trail, per-run
//! checks and the dashboard read it from there. Until a layer has inserted
//! one, [`Caller::of`] answers an anonymous caller with the client's address.

use std::net::SocketAddr;

use orch_core::auth::{Denied, Principal};

/// The authenticated identity behind a request and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The credential's name (a token's name, `admin`, `run:<id>` for a
    /// flow's per-run credential), or `anonymous` when authentication is off.
    pub name: String,
    /// The client's address, when the connection has one.
    pub address: Option<SocketAddr>,
    /// The id of the credential presented (`None` when authentication is
    /// off): a worker token acts only as the workers it registered.
    pub credential_id: Option<String>,
    /// What the credential may do (its scope, pools, or run).
    pub principal: Principal,
}

impl Caller {
    /// The name of a caller nobody authenticated.
    pub const ANONYMOUS: &'static str = "anonymous";

    /// The caller recorded in `extensions`, or an anonymous one with the
    /// client's address.
    pub fn of(extensions: &axum::http::Extensions) -> Caller {
        if let Some(caller) = extensions.get::<Caller>() {
            return caller.clone();
        }
        let address = extensions
            .get::<axum::extract::ConnectInfo<SocketAddr>>()
            .map(|info| info.0);
        Caller {
            name: Caller::ANONYMOUS.to_owned(),
            address,
            credential_id: None,
            principal: Principal::Unchecked,
        }
    }

    /// May this caller act on run `run_id` of pool `pool`? (A per-run
    /// credential: only its own run; a worker token: runs of its pools.)
    pub fn may_use_run(&self, run_id: &str, pool: Option<&str>) -> Result<(), Denied> {
        self.principal.may_use_run(run_id, pool)
    }

    /// May this caller register for or claim from `pool`?
    pub fn may_use_pool(&self, pool: &str) -> Result<(), Denied> {
        self.principal.may_use_pool(pool)
    }

    /// True for a worker-scoped token.
    pub fn is_worker_token(&self) -> bool {
        matches!(
            self.principal,
            Principal::Token {
                scope: orch_core::auth::Scope::Worker,
                ..
            }
        )
    }

    /// True when a pool or run check is needed at all (worker tokens and run
    /// credentials); lets handlers skip a lookup for everyone else.
    pub fn is_restricted(&self) -> bool {
        matches!(
            self.principal,
            Principal::Run { .. }
                | Principal::Token {
                    scope: orch_core::auth::Scope::Worker,
                    ..
                }
        )
    }
}

/// Handlers take the caller as an argument (`caller: Caller`).
impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Caller, Self::Rejection> {
        Ok(Caller::of(&parts.extensions))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_inserted_caller_wins_over_the_anonymous_default() {
        let mut extensions = axum::http::Extensions::new();
        let address: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        extensions.insert(axum::extract::ConnectInfo(address));
        assert_eq!(
            Caller::of(&extensions),
            Caller {
                name: "anonymous".into(),
                address: Some(address),
                credential_id: None,
                principal: Principal::Unchecked,
            }
        );
        let token = Caller {
            name: "ci-deployer".into(),
            address: Some(address),
            credential_id: Some("t1".into()),
            principal: Principal::scoped(orch_core::auth::Scope::Deploy),
        };
        extensions.insert(token.clone());
        assert_eq!(Caller::of(&extensions), token);
    }
}
