//! W3C trace context (`traceparent`) and the trace of a flow run.
//!
//! Every run has a trace id and a root span id whether or not tracing is on:
//! both derive from the run's id, unless the run was created with a
//! `traceparent`, whose trace the run joins (its root span then has the
//! caller's span as parent). The worker, the SDK and the server agree on
//! them without storing anything but the caller's `traceparent`.

use std::fmt;

/// The `traceparent` value of a span: version, trace id, span id, flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceParent {
    /// 16 bytes, not all zero.
    pub trace_id: [u8; 16],
    /// 8 bytes, not all zero.
    pub span_id: [u8; 8],
    /// Trace flags; bit 0 is "sampled".
    pub flags: u8,
}

impl TraceParent {
    /// Reads a W3C `traceparent` header value (`00-<32 hex>-<16 hex>-<2 hex>`).
    ///
    /// # Errors
    ///
    /// What is wrong with `text`, said for a person who sent it.
    pub fn parse(text: &str) -> Result<TraceParent, String> {
        let text = text.trim();
        let parts: Vec<&str> = text.split('-').collect();
        let shape =
            "expected 00-<32 hex digits trace id>-<16 hex digits span id>-<2 hex digits flags>";
        let [version, trace, span, flags, ..] = parts.as_slice() else {
            return Err(format!("invalid traceparent {text:?}: {shape}"));
        };
        let version = hex_bytes::<1>(version)
            .map_err(|e| format!("invalid traceparent {text:?}: version {e}; {shape}"))?;
        if version == [0xff] || (version == [0] && parts.len() != 4) {
            return Err(format!("invalid traceparent {text:?}: {shape}"));
        }
        let trace_id = hex_bytes::<16>(trace)
            .map_err(|e| format!("invalid traceparent {text:?}: trace id {e}; {shape}"))?;
        let span_id = hex_bytes::<8>(span)
            .map_err(|e| format!("invalid traceparent {text:?}: span id {e}; {shape}"))?;
        let [flags] = hex_bytes::<1>(flags)
            .map_err(|e| format!("invalid traceparent {text:?}: flags {e}; {shape}"))?;
        if trace_id == [0; 16] || span_id == [0; 8] {
            return Err(format!(
                "invalid traceparent {text:?}: an all-zero trace or span id is not a trace"
            ));
        }
        Ok(TraceParent {
            trace_id,
            span_id,
            flags,
        })
    }

    /// The trace id in lower-case hex (32 digits).
    pub fn trace_id_hex(&self) -> String {
        hex(&self.trace_id)
    }

    /// The span id in lower-case hex (16 digits).
    pub fn span_id_hex(&self) -> String {
        hex(&self.span_id)
    }

    /// Whether the caller sampled the trace.
    pub fn sampled(&self) -> bool {
        self.flags & 1 == 1
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "00-{}-{}-{:02x}",
            self.trace_id_hex(),
            self.span_id_hex(),
            self.flags
        )
    }
}

/// The trace of one flow run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunTrace {
    /// The run's trace: the caller's, or one of its own.
    pub trace_id: [u8; 16],
    /// The run's root span.
    pub span_id: [u8; 8],
    /// The caller's span the run's span is a child of, if it was created with one.
    pub parent_span_id: Option<[u8; 8]>,
}

impl RunTrace {
    /// The trace of run `run_id` (a UUID), created with `parent` if any.
    pub fn of(run_id: &str, parent: Option<&TraceParent>) -> RunTrace {
        let id = run_id_bytes(run_id);
        // The run's span: the random half of its UUIDv7 id.
        let mut span_id = [0u8; 8];
        span_id.copy_from_slice(&id[8..]);
        if span_id == [0; 8] {
            span_id = [0, 0, 0, 0, 0, 0, 0, 1];
        }
        match parent {
            Some(parent) => RunTrace {
                trace_id: parent.trace_id,
                span_id,
                parent_span_id: Some(parent.span_id),
            },
            None => RunTrace {
                trace_id: if id == [0; 16] { [1; 16] } else { id },
                span_id,
                parent_span_id: None,
            },
        }
    }

    /// The `traceparent` naming the run's span (sampled), as the worker gives
    /// it to the flow process.
    pub fn traceparent(&self) -> TraceParent {
        TraceParent {
            trace_id: self.trace_id,
            span_id: self.span_id,
            flags: 1,
        }
    }

    /// The trace id in lower-case hex.
    pub fn trace_id_hex(&self) -> String {
        hex(&self.trace_id)
    }
}

/// The 16 bytes of a UUID's text (hyphens ignored); any other text is
/// hashed (FNV-1a) into 16 bytes, so that every id has a trace.
fn run_id_bytes(run_id: &str) -> [u8; 16] {
    let digits: String = run_id.chars().filter(|c| *c != '-').collect();
    if let Ok(bytes) = hex_bytes::<16>(&digits) {
        return bytes;
    }
    let mut out = [0u8; 16];
    for (half, seed) in [(0, 0xcbf2_9ce4_8422_2325_u64), (8, 0x8422_2325_cbf2_9ce4)] {
        let mut hash = seed;
        for byte in run_id.bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        out[half..half + 8].copy_from_slice(&hash.to_be_bytes());
    }
    out
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `N` bytes from exactly `2N` hex digits.
fn hex_bytes<const N: usize>(text: &str) -> Result<[u8; N], String> {
    if text.len() != 2 * N || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("must be {} hex digits, got {text:?}", 2 * N));
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|e| e.to_string())?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_traceparent_reads_and_writes_back() {
        let parent = TraceParent::parse(HEADER).unwrap();
        assert_eq!(parent.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(parent.span_id_hex(), "00f067aa0ba902b7");
        assert!(parent.sampled());
        assert_eq!(parent.to_string(), HEADER);
        // A later version may append fields.
        assert!(TraceParent::parse(&format!("01{}-extra", &HEADER[2..])).is_ok());
    }

    #[test]
    fn bad_traceparents_say_what_is_wrong() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e47zz-00f067aa0ba902b7-01",
        ] {
            let error = TraceParent::parse(bad).unwrap_err();
            assert!(error.starts_with("invalid traceparent"), "{bad}: {error}");
        }
    }

    #[test]
    fn a_run_has_its_own_trace_or_joins_its_callers() {
        let run = "019ae3b4-5c1d-7e2f-8a9b-0c1d2e3f4a5b";
        let own = RunTrace::of(run, None);
        assert_eq!(own.trace_id_hex(), "019ae3b45c1d7e2f8a9b0c1d2e3f4a5b");
        assert_eq!(hex(&own.span_id), "8a9b0c1d2e3f4a5b");
        assert_eq!(own.parent_span_id, None);
        assert_eq!(RunTrace::of(run, None), own, "the same run, the same trace");

        let parent = TraceParent::parse(HEADER).unwrap();
        let joined = RunTrace::of(run, Some(&parent));
        assert_eq!(joined.trace_id, parent.trace_id);
        assert_eq!(joined.span_id, own.span_id);
        assert_eq!(joined.parent_span_id, Some(parent.span_id));
        assert_eq!(
            joined.traceparent().to_string(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-8a9b0c1d2e3f4a5b-01"
        );
        // Ids that are not UUIDs still get a stable, non-zero trace.
        let odd = RunTrace::of("run-1", None);
        assert_eq!(odd, RunTrace::of("run-1", None));
        assert_ne!(odd.trace_id, [0; 16]);
        assert_ne!(RunTrace::of("run-2", None).trace_id, odd.trace_id);
    }
}
