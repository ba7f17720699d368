//! Who made a request, as the rest of the server sees it.
//!
//! The authentication layer (issue 12) inserts a [`Caller`] into every
//! request's extensions before any handler runs; the audit trail, per-run
//! checks and the dashboard read it from there. Until a layer has inserted
//! one, [`Caller::of`] answers an anonymous caller with the client's address.

use std::net::SocketAddr;

/// The authenticated identity behind a request and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The credential's name (a token's name, `admin`, `run:<id>` for a
    /// flow's per-run credential), or `anonymous` when authentication is off.
    pub name: String,
    /// The client's address, when the connection has one.
    pub address: Option<SocketAddr>,
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
        }
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
                address: Some(address)
            }
        );
        let token = Caller {
            name: "ci-deployer".into(),
            address: Some(address),
        };
        extensions.insert(token.clone());
        assert_eq!(Caller::of(&extensions), token);
    }
}
