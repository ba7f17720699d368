//! The volatility models' registry, beside the LSTM's:
//! `DATA_DIR/models/volatility/vN.json` (the fitted model, its windows and
//! its evaluation against the baselines) and `active.json` (`{"GOOG": "v2"}`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::DataWindow;
use super::volatility::{Har, VolEvaluation};
use crate::error::{Result, SentinelError};

/// A registered volatility model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VolModel {
    /// Version, e.g. `v2` (empty until registered).
    pub version: String,
    /// Ticker.
    pub symbol: String,
    /// Bar interval.
    pub interval: String,
    /// When it was fitted (sentinel's clock).
    pub created_at: DateTime<Utc>,
    /// The fitted model.
    pub har: Har,
    /// Held-back targets.
    pub validation_window: DataWindow,
    /// The model and the baselines on them.
    pub evaluation: VolEvaluation,
}

/// The folder.
#[derive(Debug, Clone)]
pub struct VolRegistry {
    dir: PathBuf,
}

impl VolRegistry {
    /// Opens `dir` (created on first write).
    pub fn open(dir: &Path) -> VolRegistry {
        VolRegistry {
            dir: dir.to_path_buf(),
        }
    }

    fn write(&self, name: &str, bytes: &[u8]) -> Result<()> {
        std::fs::create_dir_all(&self.dir).map_err(|e| SentinelError::io(&self.dir, e))?;
        let path = self.dir.join(name);
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, bytes).map_err(|e| SentinelError::io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| SentinelError::io(&path, e))
    }

    fn read<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<Option<T>> {
        let path = self.dir.join(name);
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| SentinelError::Registry(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(SentinelError::io(&path, e)),
        }
    }

    /// Every version, oldest first.
    pub fn list(&self) -> Result<Vec<VolModel>> {
        let mut out = Vec::new();
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Ok(out);
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('v') && name.ends_with(".json") {
                out.extend(self.read::<VolModel>(&name)?);
            }
        }
        out.sort_by_key(|m| m.version[1..].parse::<u64>().unwrap_or(0));
        Ok(out)
    }

    /// Saves `model` under the next version and returns it.
    pub fn register(&self, model: &mut VolModel) -> Result<String> {
        let next = self
            .list()?
            .iter()
            .filter_map(|m| m.version[1..].parse::<u64>().ok())
            .max()
            .unwrap_or(0)
            + 1;
        model.version = format!("v{next}");
        let json = serde_json::to_vec_pretty(model).unwrap_or_default();
        self.write(&format!("{}.json", model.version), &json)?;
        Ok(model.version.clone())
    }

    /// One version.
    pub fn load(&self, version: &str) -> Result<VolModel> {
        self.read(&format!("{version}.json"))?.ok_or_else(|| {
            SentinelError::Registry(format!(
                "no volatility model {version} in {}",
                self.dir.display()
            ))
        })
    }

    /// Active version per symbol.
    pub fn active(&self) -> Result<BTreeMap<String, String>> {
        Ok(self.read("active.json")?.unwrap_or_default())
    }

    /// The active model of `symbol`, if any.
    pub fn load_active(&self, symbol: &str) -> Result<Option<VolModel>> {
        match self.active()?.get(symbol) {
            Some(v) => self.load(v).map(Some),
            None => Ok(None),
        }
    }

    /// Makes `version` the active model of its symbol.
    pub fn activate(&self, version: &str) -> Result<VolModel> {
        let model = self.load(version)?;
        let mut active = self.active()?;
        active.insert(model.symbol.clone(), version.to_string());
        self.write(
            "active.json",
            &serde_json::to_vec_pretty(&active).unwrap_or_default(),
        )?;
        Ok(model)
    }
}
