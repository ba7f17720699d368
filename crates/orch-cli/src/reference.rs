//! Parsing of deployment references: `FLOW/NAME` (or a deployment id).

use std::fmt;
use std::str::FromStr;

/// A deployment named by `FLOW/NAME`, or by its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeploymentRef {
    /// `flow/name`.
    Name {
        /// The flow's name.
        flow: String,
        /// The deployment's name within the flow.
        name: String,
    },
    /// A deployment id (a UUID).
    Id(uuid::Uuid),
}

impl FromStr for DeploymentRef {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if let Ok(id) = uuid::Uuid::parse_str(text) {
            return Ok(Self::Id(id));
        }
        let Some((flow, name)) = text.split_once('/') else {
            return Err(format!(
                "invalid deployment {text:?}: expected FLOW/NAME, e.g. \"etl/daily\" \
                 (see 'orch deployment ls')"
            ));
        };
        if flow.is_empty() || name.is_empty() || name.contains('/') {
            return Err(format!(
                "invalid deployment {text:?}: expected FLOW/NAME with one '/' between two \
                 non-empty names, e.g. \"etl/daily\""
            ));
        }
        Ok(Self::Name {
            flow: flow.to_owned(),
            name: name.to_owned(),
        })
    }
}

impl fmt::Display for DeploymentRef {
    /// The form the API takes: `flow/name` or the id.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Name { flow, name } => write!(f, "{flow}/{name}"),
            Self::Id(id) => write!(f, "{id}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_and_name_are_split_at_the_slash() {
        let reference: DeploymentRef = "etl/daily".parse().unwrap();
        assert_eq!(
            reference,
            DeploymentRef::Name {
                flow: "etl".into(),
                name: "daily".into()
            }
        );
        assert_eq!(reference.to_string(), "etl/daily");
    }

    #[test]
    fn a_missing_slash_explains_the_expected_form() {
        let error = "etl".parse::<DeploymentRef>().unwrap_err();
        assert!(error.contains("expected FLOW/NAME"), "{error}");
        assert!(error.contains("\"etl\""), "{error}");
    }

    #[test]
    fn empty_parts_and_extra_slashes_are_rejected() {
        for text in ["/daily", "etl/", "a/b/c", "/"] {
            assert!(text.parse::<DeploymentRef>().is_err(), "{text}");
        }
    }

    #[test]
    fn ids_are_accepted_as_they_are() {
        let id = "0199a0b2-7c1d-7e55-9f00-1234567890ab";
        assert_eq!(id.parse::<DeploymentRef>().unwrap().to_string(), id);
    }
}
