//! Container settings of a run: what a `docker` work pool (and later a
//! Kubernetes one) needs besides the entrypoint. A pool sets defaults, a
//! deployment overrides them field by field ([`ContainerSettings::over`]).
//!
//! The names are those of the deploy file (`image`, `memory`, `cpus`,
//! `volumes`, `network`, `user`, `pull_policy`, `keep_container`), so that
//! deploy files stay portable between pools; they travel as JSON.

use serde::{Deserialize, Serialize};

/// When the worker pulls a run's image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PullPolicy {
    /// Never: the image must already be on the engine.
    Never,
    /// Only when the engine does not have it (the default).
    IfMissing,
}

impl PullPolicy {
    /// Parses `never` or `if-missing`.
    ///
    /// # Errors
    ///
    /// A message naming the value and the accepted ones.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "never" => Ok(Self::Never),
            "if-missing" => Ok(Self::IfMissing),
            other => Err(format!(
                "pull_policy {other:?} is not known: use \"never\" or \"if-missing\""
            )),
        }
    }
}

/// Container settings; every field is optional so that a deployment's
/// settings can be laid over its pool's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerSettings {
    /// The image to run, e.g. `"registry.example/flows:1.4"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Memory limit: bytes, or a number with `k`, `m` or `g` (`"256m"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// CPU limit in cores (`0.5`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<f64>,
    /// Bind mounts and volumes, `"SOURCE:TARGET[:ro]"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<Vec<String>>,
    /// The network to attach the container to (`"host"`, `"bridge"`, a
    /// user-defined network).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// The user to run as inside the container (`"1000"`, `"1000:1000"`, `"nobody"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// When to pull the image; [`PullPolicy::IfMissing`] when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_policy: Option<PullPolicy>,
    /// Keep the container of a run that did not complete, for `docker logs`
    /// and `docker inspect` (default: removed like any other).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_container: Option<bool>,
}

impl ContainerSettings {
    /// Whether no field is set.
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }

    /// `self` (a deployment's settings) laid over `defaults` (its pool's):
    /// each field set here wins, the others come from `defaults`.
    pub fn over(&self, defaults: &ContainerSettings) -> ContainerSettings {
        ContainerSettings {
            image: self.image.clone().or_else(|| defaults.image.clone()),
            memory: self.memory.clone().or_else(|| defaults.memory.clone()),
            cpus: self.cpus.or(defaults.cpus),
            volumes: self.volumes.clone().or_else(|| defaults.volumes.clone()),
            network: self.network.clone().or_else(|| defaults.network.clone()),
            user: self.user.clone().or_else(|| defaults.user.clone()),
            pull_policy: self.pull_policy.or(defaults.pull_policy),
            keep_container: self.keep_container.or(defaults.keep_container),
        }
    }

    /// Checks every field that is set.
    ///
    /// # Errors
    ///
    /// A message naming the field, the bad value and what is expected.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(image) = &self.image
            && (image.trim().is_empty() || image.chars().any(char::is_whitespace))
        {
            return Err(format!(
                "image {image:?} is not an image reference: use e.g. \"flows:1.4\""
            ));
        }
        if let Some(memory) = &self.memory {
            memory_bytes(memory)?;
        }
        if let Some(cpus) = self.cpus
            && !(cpus.is_finite() && cpus > 0.0)
        {
            return Err(format!(
                "cpus {cpus} is not a number of cores: use a positive number such as 0.5 or 2"
            ));
        }
        for volume in self.volumes.iter().flatten() {
            volume_problem(volume)?;
        }
        for (field, value) in [("network", &self.network), ("user", &self.user)] {
            if let Some(value) = value
                && value.trim().is_empty()
            {
                return Err(format!("{field} is empty: remove it or name one"));
            }
        }
        Ok(())
    }

    /// Parses settings stored or sent as JSON; `""` is no settings.
    ///
    /// # Errors
    ///
    /// The text is not a JSON object of the known fields, or a field is invalid.
    pub fn from_json(text: &str) -> Result<Self, String> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        let settings: Self = serde_json::from_str(text)
            .map_err(|error| format!("invalid container settings {text:?}: {error}"))?;
        settings.validate()?;
        Ok(settings)
    }

    /// The settings as JSON; `""` when none is set.
    pub fn to_json(&self) -> String {
        if self.is_empty() {
            return String::new();
        }
        serde_json::to_string(self).expect("container settings serialize")
    }
}

/// `"256m"` as bytes: a whole number, optionally followed by `b`, `k`, `m`
/// or `g` (powers of 1024, as Docker reads them).
///
/// # Errors
///
/// A message saying what is expected; limits under 6 MiB are refused
/// (Docker's own minimum).
pub fn memory_bytes(text: &str) -> Result<i64, String> {
    let trimmed = text.trim().to_ascii_lowercase();
    let (digits, unit) = match trimmed.find(|c: char| !c.is_ascii_digit()) {
        Some(index) => trimmed.split_at(index),
        None => (trimmed.as_str(), ""),
    };
    let unit = unit
        .strip_suffix('b')
        .filter(|u| !u.is_empty())
        .unwrap_or(unit);
    let multiplier: i64 = match unit {
        "" | "b" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        _ => 0,
    };
    let bytes = digits
        .parse::<i64>()
        .ok()
        .filter(|_| multiplier > 0)
        .and_then(|n| n.checked_mul(multiplier));
    match bytes {
        Some(bytes) if bytes >= 6 << 20 => Ok(bytes),
        Some(_) => Err(format!(
            "memory {text:?} is below the engine's minimum of 6m: use e.g. \"256m\""
        )),
        None => Err(format!(
            "memory {text:?} is not a size: use a number of bytes or one ending in k, m or g, \
             e.g. \"256m\" or \"2g\""
        )),
    }
}

/// Why `volume` is not `SOURCE:TARGET[:ro|:rw]` with an absolute target.
fn volume_problem(volume: &str) -> Result<(), String> {
    let parts: Vec<&str> = volume.split(':').collect();
    let ok = match parts.as_slice() {
        [source, target] => !source.is_empty() && target.starts_with('/'),
        [source, target, mode] => {
            !source.is_empty() && target.starts_with('/') && matches!(*mode, "ro" | "rw")
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "volume {volume:?} is not SOURCE:TARGET[:ro]: use e.g. \"/srv/data:/data:ro\" \
             (a host folder or a volume name, then an absolute path in the container)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deployment_overrides_its_pool_field_by_field() {
        let pool = ContainerSettings {
            image: Some("base:1".into()),
            memory: Some("512m".into()),
            network: Some("host".into()),
            pull_policy: Some(PullPolicy::Never),
            ..ContainerSettings::default()
        };
        let deployment = ContainerSettings {
            image: Some("flows:2".into()),
            cpus: Some(0.5),
            ..ContainerSettings::default()
        };
        let merged = deployment.over(&pool);
        assert_eq!(merged.image.as_deref(), Some("flows:2"));
        assert_eq!(merged.memory.as_deref(), Some("512m"));
        assert_eq!(merged.cpus, Some(0.5));
        assert_eq!(merged.network.as_deref(), Some("host"));
        assert_eq!(merged.pull_policy, Some(PullPolicy::Never));
        assert_eq!(ContainerSettings::default().over(&pool), pool);
    }

    #[test]
    fn memory_sizes_parse_like_dockers() {
        assert_eq!(memory_bytes("256m"), Ok(256 << 20));
        assert_eq!(memory_bytes("2g"), Ok(2 << 30));
        assert_eq!(memory_bytes("2GB"), Ok(2 << 30));
        assert_eq!(memory_bytes("8192k"), Ok(8 << 20));
        assert_eq!(memory_bytes("10485760"), Ok(10 << 20));
        for bad in ["", "m", "12x", "-5m", "1.5g", "99999999999999999g"] {
            let error = memory_bytes(bad).unwrap_err();
            assert!(error.contains("is not a size"), "{bad}: {error}");
        }
        assert!(memory_bytes("1m").unwrap_err().contains("minimum"));
    }

    #[test]
    fn settings_round_trip_through_json_and_are_checked() {
        let settings = ContainerSettings {
            image: Some("flows:2".into()),
            volumes: Some(vec!["/srv:/data:ro".into(), "cache:/cache".into()]),
            pull_policy: Some(PullPolicy::IfMissing),
            keep_container: Some(true),
            ..ContainerSettings::default()
        };
        let json = settings.to_json();
        assert!(json.contains("\"pull_policy\":\"if-missing\""), "{json}");
        assert_eq!(ContainerSettings::from_json(&json), Ok(settings));
        assert_eq!(
            ContainerSettings::from_json(""),
            Ok(ContainerSettings::default())
        );
        assert_eq!(ContainerSettings::default().to_json(), "");

        let error = ContainerSettings::from_json(r#"{"imag": "x"}"#).unwrap_err();
        assert!(error.contains("unknown field `imag`"), "{error}");
        let error = ContainerSettings::from_json(r#"{"volumes": ["data"]}"#).unwrap_err();
        assert!(error.contains("is not SOURCE:TARGET"), "{error}");
        let error = ContainerSettings::from_json(r#"{"cpus": 0}"#).unwrap_err();
        assert!(error.contains("cpus 0"), "{error}");
        let error = ContainerSettings::from_json(r#"{"image": "a b"}"#).unwrap_err();
        assert!(error.contains("not an image reference"), "{error}");
        assert!(ContainerSettings::from_json(r#"{"pull_policy": "always"}"#).is_err());
    }

    #[test]
    fn pull_policies_are_never_or_if_missing() {
        assert_eq!(PullPolicy::parse("never"), Ok(PullPolicy::Never));
        assert_eq!(PullPolicy::parse("if-missing"), Ok(PullPolicy::IfMissing));
        let error = PullPolicy::parse("always").unwrap_err();
        assert!(error.contains("\"never\" or \"if-missing\""), "{error}");
    }
}
