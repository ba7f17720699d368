//! Per-client limits on long-lived streams (`WatchFlowRun`, server-sent events).
//!
//! A stream costs the server a task, a broadcast subscription and buffered
//! output for as long as its client keeps it open, whether or not the client
//! reads. Each client address may hold at most
//! [`crate::ServerConfig::max_streams_per_client`] at once; one more is
//! refused with a message saying so, and closing a stream frees its place.
//!
//! The limit holds across replicas: with N servers on one database, each
//! allows a client its share ([`orch_core::limits::replica_share`], the
//! limit divided by N, rounded down), so a client cannot hold more by
//! spreading its streams over the replicas. A stream open on a replica that
//! dies goes with it, and its client reopens it on another.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

/// Open streams per client address.
#[derive(Debug, Default)]
pub(crate) struct StreamCounts {
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// A place held by one open stream; dropping it frees the place.
#[derive(Debug)]
pub(crate) struct StreamPermit {
    counts: Arc<StreamCounts>,
    client: IpAddr,
}

impl Drop for StreamPermit {
    fn drop(&mut self) {
        let mut open = self.counts.open.lock().expect("stream counts lock");
        if let Some(count) = open.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.client);
            }
        }
    }
}

/// Takes a place for a stream of `client`, or says why not: at most this
/// replica's share of `limit`, which `replicas` servers share. A request
/// whose address is unknown (served without connection info, e.g.
/// in-process tests) is not limited.
pub(crate) fn open(
    counts: &Arc<StreamCounts>,
    client: Option<SocketAddr>,
    limit: usize,
    replicas: usize,
) -> Result<Option<StreamPermit>, String> {
    let Some(client) = client.map(|address| address.ip()) else {
        return Ok(None);
    };
    let share = orch_core::limits::replica_share(limit, replicas);
    let mut open = counts.open.lock().expect("stream counts lock");
    let count = open.entry(client).or_default();
    if *count >= share {
        let across = if replicas > 1 {
            format!(" on this server ({limit} across the {replicas} servers sharing the database)")
        } else {
            String::new()
        };
        return Err(format!(
            "too many open streams from {client}: at most {share} at once{across} (logs --follow, \
             --watch, live pages); close one and retry, or raise the server's \
             --max-streams-per-client"
        ));
    }
    *count += 1;
    Ok(Some(StreamPermit {
        counts: counts.clone(),
        client,
    }))
}

/// The client address of a request (HTTP or gRPC) served by [`crate::Server`].
pub(crate) fn client_of(extensions: &axum::http::Extensions) -> Option<SocketAddr> {
    extensions
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|info| info.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_its_limit_and_closing_frees_a_place() {
        let counts = Arc::new(StreamCounts::default());
        let client = Some("127.0.0.1:5000".parse().unwrap());
        let other = Some("127.0.0.2:5000".parse().unwrap());
        let first = open(&counts, client, 2, 1).unwrap();
        let _second = open(&counts, client, 2, 1).unwrap();
        let refused = open(&counts, client, 2, 1).unwrap_err();
        assert!(refused.contains("at most 2 at once (logs"), "{refused}");
        assert!(open(&counts, other, 2, 1).unwrap().is_some());
        drop(first);
        assert!(open(&counts, client, 2, 1).unwrap().is_some());
        assert!(open(&counts, None, 0, 1).unwrap().is_none());
    }

    #[test]
    fn with_several_replicas_a_client_gets_this_ones_share() {
        let counts = Arc::new(StreamCounts::default());
        let client = Some("127.0.0.1:5000".parse().unwrap());
        let _first = open(&counts, client, 4, 2).unwrap();
        let _second = open(&counts, client, 4, 2).unwrap();
        let refused = open(&counts, client, 4, 2).unwrap_err();
        assert!(
            refused.contains("at most 2 at once on this server (4 across the 2 servers"),
            "{refused}"
        );
        // The other replica died: this one allows the whole limit again.
        assert!(open(&counts, client, 4, 1).unwrap().is_some());
    }
}
