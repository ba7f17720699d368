//! Size limits that every part of orch agrees on (see `docs/reliability.md`).
//!
//! A limit is checked where data enters (run creation, log shipping, the
//! REST API) with an error that names it, so nothing too large is stored and
//! then fails later, somewhere else, for someone else. The largest gRPC
//! message (16 MiB) is `orch_proto::MAX_MESSAGE_BYTES`; every response the
//! server builds stays under it because claims and log pages are cut by
//! size ([`MAX_CLAIM_BYTES`], [`MAX_LOG_PAGE_BYTES`]).

/// Largest parameters of one run, as JSON: 1 MiB. Checked when a run is
/// created (CLI, REST, schedules) and when a deployment's defaults are set.
pub const MAX_PARAMETERS_BYTES: usize = 1024 * 1024;

/// Largest log line: 1 MiB. The worker splits longer output lines into
/// pieces of this size; the server refuses a longer line with a message.
pub const MAX_LOG_LINE_BYTES: usize = 1024 * 1024;

/// Most parameter bytes handed out in one claim response: a worker is given
/// fewer runs rather than a response it cannot decode (always at least one).
pub const MAX_CLAIM_BYTES: usize = 4 * 1024 * 1024;

/// Largest page of a run list (REST, gRPC, the dashboard's timeline): more
/// is refused, never cut silently; clients page with the cursor.
pub const MAX_PAGE_SIZE: u32 = 1000;

/// Most message bytes in one page of log lines (always at least one line).
pub const MAX_LOG_PAGE_BYTES: usize = 4 * 1024 * 1024;

/// Largest file orch reads as input (deploy files, calendar files, the
/// config file, TLS files, a secret's value): 4 MiB. Anything larger is
/// refused before it is read whole (a calendar `file = "/dev/zero"` never
/// ends); [`crate::input_file`] reads every such file.
pub const MAX_INPUT_FILE_BYTES: usize = 4 * 1024 * 1024;

/// Checks the size of a run's parameters (`what` names them in the error).
///
/// # Errors
///
/// [`crate::Error::TooLarge`] saying how large they are and what the limit is.
pub fn check_parameters_size(what: &str, json_len: usize) -> crate::Result<()> {
    if json_len > MAX_PARAMETERS_BYTES {
        return Err(crate::Error::TooLarge(format!(
            "{what} are {} as JSON, over the limit of {}: pass large inputs by reference \
             (a path or URL in a parameter) instead",
            human_bytes(json_len),
            human_bytes(MAX_PARAMETERS_BYTES)
        )));
    }
    Ok(())
}

/// `1536` -> `1.5 KiB`.
pub fn human_bytes(bytes: usize) -> String {
    const UNITS: [&str; 4] = ["bytes", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// One replica's share of a limit that must hold across `replicas` servers
/// on one database (bad API keys per key and address, open streams per
/// client): the limit divided evenly, rounded down so that the shares never
/// add up to more than the limit however a client spreads its requests, and
/// at least 1 so that every replica serves a client at all. One replica (or
/// an unknown count, 0) keeps the whole limit.
pub fn replica_share(limit: usize, replicas: usize) -> usize {
    (limit / replicas.max(1)).max(1)
}

/// How many cells of a rate limiter's budget of `limit` one event costs on
/// one of `replicas` servers, so that each replica lets through its
/// [`replica_share`] of the budget and they all together at most the limit
/// (the budget refills at `limit` cells per period: `limit / replicas`
/// events per replica).
pub fn replica_cost(limit: usize, replicas: usize) -> usize {
    replicas.clamp(1, limit.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_at_the_limit_pass_and_over_it_are_refused() {
        check_parameters_size("parameters", MAX_PARAMETERS_BYTES).unwrap();
        let error = check_parameters_size("the run's parameters", 2 * 1024 * 1024 + 5)
            .unwrap_err()
            .to_string();
        assert!(error.contains("2.0 MiB"), "{error}");
        assert!(error.contains("limit of 1.0 MiB"), "{error}");
    }

    #[test]
    fn sizes_read_in_binary_units() {
        assert_eq!(human_bytes(10), "10 bytes");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(16 * 1024 * 1024), "16.0 MiB");
    }

    #[test]
    fn replicas_share_a_limit_without_exceeding_it_together() {
        assert_eq!(replica_share(30, 1), 30);
        assert_eq!(replica_share(30, 0), 30);
        assert_eq!(replica_share(30, 2), 15);
        assert_eq!(replica_share(32, 3), 10);
        assert_eq!(replica_share(2, 3), 1, "every replica serves one");
        for limit in 1..50 {
            for replicas in 1..=limit {
                assert!(replica_share(limit, replicas) * replicas <= limit);
                // What a rate limiter lets through on one replica: its
                // budget over the cost of one event.
                let through = limit / replica_cost(limit, replicas);
                assert_eq!(
                    through,
                    replica_share(limit, replicas),
                    "{limit}/{replicas}"
                );
            }
        }
        assert_eq!(replica_cost(30, 1), 1);
        assert_eq!(replica_cost(30, 2), 2);
        assert_eq!(replica_cost(3, 5), 3, "never more than the whole budget");
        assert_eq!(replica_cost(30, 0), 1);
    }
}
