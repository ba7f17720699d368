//! W3C `tracestate`: the vendor part of a caller's trace context, kept with
//! the run it created and handed to the flow as `TRACESTATE`.
//!
//! orch does not interpret the members; it checks them against the W3C
//! grammar (so that what it stores and passes on is what a tracer accepts)
//! and keeps them in order. Like an invalid `traceparent`, an invalid
//! `tracestate` is refused with what is wrong, not dropped: the caller
//! learns at once that its context did not travel.

use std::fmt;

use crate::TraceParent;

/// At most this many list members (W3C: 32).
pub const MAX_MEMBERS: usize = 32;
/// At most this many characters in all, members and commas (W3C asks every
/// tracer to pass on at least 512).
pub const MAX_LEN: usize = 512;

/// A checked `tracestate`: `key=value` members joined by commas, empty
/// members dropped.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TraceState(String);

impl TraceState {
    /// Reads a `tracestate` header value. An empty or blank one is `None`.
    ///
    /// # Errors
    ///
    /// What is wrong with `text`, said for a person who sent it.
    pub fn parse(text: &str) -> Result<Option<TraceState>, String> {
        let mut members: Vec<&str> = Vec::new();
        let mut keys: Vec<&str> = Vec::new();
        for member in text.split(',') {
            let member = member.trim_matches([' ', '\t']);
            if member.is_empty() {
                continue;
            }
            let Some((key, value)) = member.split_once('=') else {
                return Err(format!(
                    "invalid tracestate member {member:?}: expected key=value"
                ));
            };
            check_key(key).map_err(|e| format!("invalid tracestate key {key:?}: {e}"))?;
            check_value(value)
                .map_err(|e| format!("invalid tracestate value {value:?} of {key:?}: {e}"))?;
            if keys.contains(&key) {
                return Err(format!(
                    "invalid tracestate: key {key:?} appears twice; each vendor has one member"
                ));
            }
            keys.push(key);
            members.push(member);
        }
        if members.len() > MAX_MEMBERS {
            return Err(format!(
                "invalid tracestate: {} members, at most {MAX_MEMBERS} are allowed",
                members.len()
            ));
        }
        let joined = members.join(",");
        if joined.len() > MAX_LEN {
            return Err(format!(
                "tracestate too long: {} characters, at most {MAX_LEN}; drop members you do not need",
                joined.len()
            ));
        }
        Ok((!joined.is_empty()).then_some(TraceState(joined)))
    }

    /// The header value.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TraceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The trace context a caller sent with a request: its span and, optionally,
/// the vendor part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerTrace {
    /// The caller's span, whose child the run's span is.
    pub parent: TraceParent,
    /// The caller's `tracestate`, passed on unchanged.
    pub state: Option<TraceState>,
}

impl CallerTrace {
    /// The caller's context from its `traceparent` and `tracestate` values
    /// (headers, metadata or variables). Without a `traceparent` there is no
    /// context and the `tracestate` is ignored, as W3C says.
    ///
    /// # Errors
    ///
    /// What is wrong with either value.
    pub fn from_values(
        traceparent: Option<&str>,
        tracestate: Option<&str>,
    ) -> Result<Option<CallerTrace>, String> {
        let Some(parent) = traceparent.filter(|text| !text.trim().is_empty()) else {
            return Ok(None);
        };
        let parent = TraceParent::parse(parent)?;
        let state = match tracestate {
            Some(text) => TraceState::parse(text)?,
            None => None,
        };
        Ok(Some(CallerTrace { parent, state }))
    }
}

/// `simple-key` or `tenant@system` (W3C trace context, section 3.3.1.3.1).
fn check_key(key: &str) -> Result<(), String> {
    let rest = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "_-*/".contains(c);
    let (tenant, system) = match key.split_once('@') {
        Some((tenant, system)) => (Some(tenant), system),
        None => (None, key),
    };
    if let Some(tenant) = tenant {
        let mut chars = tenant.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if !first_ok || tenant.len() > 241 || !chars.all(rest) {
            return Err(
                "a tenant id is 1-241 of a-z 0-9 _ - * / starting with a letter or digit".into(),
            );
        }
        let mut chars = system.chars();
        if !chars.next().is_some_and(|c| c.is_ascii_lowercase())
            || system.len() > 14
            || !chars.all(rest)
        {
            return Err("a system id is 1-14 of a-z 0-9 _ - * / starting with a letter".into());
        }
        return Ok(());
    }
    let mut chars = system.chars();
    if !chars.next().is_some_and(|c| c.is_ascii_lowercase())
        || system.len() > 256
        || !chars.all(rest)
    {
        return Err("a key is 1-256 of a-z 0-9 _ - * / @ starting with a lower-case letter".into());
    }
    Ok(())
}

/// Up to 256 printable ASCII characters but `,` and `=`, not ending in a space.
fn check_value(value: &str) -> Result<(), String> {
    let allowed = |c: char| (' '..='~').contains(&c) && c != ',' && c != '=';
    if value.is_empty() || value.len() > 256 || !value.chars().all(allowed) || value.ends_with(' ')
    {
        return Err(
            "a value is 1-256 printable ASCII characters other than ',' and '=', not ending in a space"
                .into(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_tracestate_keeps_its_members_in_order_without_blanks() {
        let state =
            TraceState::parse(" rojo=00f067aa0ba902b7 ,, congo=t61rcWkgMzE,acme@vendor=x y ")
                .unwrap()
                .unwrap();
        assert_eq!(
            state.as_str(),
            "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE,acme@vendor=x y"
        );
        assert_eq!(TraceState::parse("").unwrap(), None);
        assert_eq!(TraceState::parse(" , ").unwrap(), None);
    }

    #[test]
    fn bad_tracestates_say_what_is_wrong() {
        for (bad, says) in [
            ("rojo", "expected key=value"),
            ("Rojo=1", "invalid tracestate key"),
            ("rojo=a,b", "expected key=value"),
            ("rojo=", "invalid tracestate value"),
            ("rojo=a\u{7f}", "invalid tracestate value"),
            ("rojo=1,rojo=2", "appears twice"),
            ("@vendor=1", "tenant id"),
            ("acme@Vendor=1", "system id"),
        ] {
            let error = TraceState::parse(bad).unwrap_err();
            assert!(error.contains(says), "{bad}: {error}");
        }
        let many: Vec<String> = (0..33).map(|i| format!("k{i}=v")).collect();
        assert!(
            TraceState::parse(&many.join(","))
                .unwrap_err()
                .contains("33 members")
        );
        let long: Vec<String> = (0..3)
            .map(|i| format!("k{i}={}", "v".repeat(200)))
            .collect();
        assert!(
            TraceState::parse(&long.join(","))
                .unwrap_err()
                .contains("too long")
        );
    }

    #[test]
    fn a_callers_context_needs_a_traceparent() {
        assert_eq!(
            CallerTrace::from_values(None, Some("rojo=1")).unwrap(),
            None
        );
        assert_eq!(CallerTrace::from_values(Some(" "), None).unwrap(), None);
        let caller = CallerTrace::from_values(Some(PARENT), Some("rojo=1"))
            .unwrap()
            .unwrap();
        assert_eq!(caller.parent.to_string(), PARENT);
        assert_eq!(caller.state.unwrap().as_str(), "rojo=1");
        assert!(CallerTrace::from_values(Some(PARENT), Some("bad")).is_err());
        assert!(CallerTrace::from_values(Some("00-x"), Some("rojo=1")).is_err());
    }
}
