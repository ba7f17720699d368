//! The model registry: versions on disk, their metadata and metrics, and
//! one active version per symbol. Layout under `DATA_DIR/models/`:
//!
//! ```text
//! v1/model.safetensors   weights
//! v1/metadata.json       ModelMetadata (written last: a folder without it is incomplete)
//! active.json            {"GOOG": "v3", ...}
//! activations.jsonl      one line per activation, for the audit trail
//! ```
//!
//! Everything is a file, so the registry survives restarts; writes go to a
//! temporary file first and are renamed into place.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::Utc;
use serde::{Deserialize, Serialize};

use crate::error::{Result, SentinelError};
use crate::model::net::{Net, Shape};
use crate::model::{Model, ModelMetadata};

const WEIGHTS: &str = "model.safetensors";
const METADATA: &str = "metadata.json";
const ACTIVE: &str = "active.json";

/// One line of `activations.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Activation {
    /// When.
    pub at: chrono::DateTime<Utc>,
    /// Symbol.
    pub symbol: String,
    /// Version activated.
    pub version: String,
    /// The version it replaced.
    pub previous: Option<String>,
    /// Why.
    pub reason: String,
}

/// The registry folder.
#[derive(Debug, Clone)]
pub struct Registry {
    dir: PathBuf,
}

fn version_number(v: &str) -> Option<u64> {
    v.strip_prefix('v')?.parse().ok()
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(|e| SentinelError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| SentinelError::io(path, e))
}

impl Registry {
    /// Opens (creating) the registry folder.
    pub fn open(dir: &Path) -> Result<Registry> {
        std::fs::create_dir_all(dir).map_err(|e| SentinelError::io(dir, e))?;
        Ok(Registry {
            dir: dir.to_path_buf(),
        })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn versions_on_disk(&self) -> Result<Vec<(u64, PathBuf)>> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(&self.dir).map_err(|e| SentinelError::io(&self.dir, e))? {
            let e = e.map_err(|e| SentinelError::io(&self.dir, e))?;
            if let Some(n) = e.file_name().to_str().and_then(version_number) {
                out.push((n, e.path()));
            }
        }
        out.sort();
        Ok(out)
    }

    /// Saves a trained model under the next free version and returns it.
    /// The model's metadata gets the version.
    pub fn register(&self, model: &mut Model) -> Result<String> {
        let mut n = self.versions_on_disk()?.last().map_or(1, |(n, _)| n + 1);
        let dir = loop {
            let dir = self.dir.join(format!("v{n}"));
            match std::fs::create_dir(&dir) {
                Ok(()) => break dir,
                // Another retraining claimed it a moment ago.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => n += 1,
                Err(e) => return Err(SentinelError::io(&dir, e)),
            }
        };
        model.meta.version = format!("v{n}");
        model.net.save(&dir.join(WEIGHTS))?;
        let json = serde_json::to_vec_pretty(&model.meta)
            .map_err(|e| SentinelError::Model(e.to_string()))?;
        write_atomic(&dir.join(METADATA), &json)?;
        Ok(model.meta.version.clone())
    }

    /// Metadata of one version.
    pub fn metadata(&self, version: &str) -> Result<ModelMetadata> {
        if version_number(version).is_none() {
            return Err(SentinelError::Registry(format!(
                "{version:?} is not a version (expected v1, v2, ...)"
            )));
        }
        let path = self.dir.join(version).join(METADATA);
        let text = std::fs::read_to_string(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => SentinelError::Registry(format!(
                "no model {version} in {} (see `sentinel models ls`)",
                self.dir.display()
            )),
            _ => SentinelError::io(&path, e),
        })?;
        serde_json::from_str(&text).map_err(|e| SentinelError::Parse {
            what: path.display().to_string(),
            message: e.to_string(),
        })
    }

    /// Every complete version, oldest first.
    pub fn list(&self) -> Result<Vec<ModelMetadata>> {
        let mut out = Vec::new();
        for (n, path) in self.versions_on_disk()? {
            if path.join(METADATA).exists() {
                out.push(self.metadata(&format!("v{n}"))?);
            } else {
                tracing::warn!(
                    "{}: no {METADATA}, an interrupted save; ignored",
                    path.display()
                );
            }
        }
        Ok(out)
    }

    /// The newest complete version trained for `symbol` on `interval`,
    /// reading metadata newest first and stopping at the first match (the
    /// trading flow asks on every run; the registry grows with each retraining).
    pub fn newest(&self, symbol: &str, interval: &str) -> Result<Option<ModelMetadata>> {
        for (n, path) in self.versions_on_disk()?.into_iter().rev() {
            if !path.join(METADATA).exists() {
                continue;
            }
            let meta = self.metadata(&format!("v{n}"))?;
            if meta.symbol == symbol && meta.interval == interval {
                return Ok(Some(meta));
            }
        }
        Ok(None)
    }

    /// Loads a version's weights and metadata.
    pub fn load(&self, version: &str) -> Result<Model> {
        let meta = self.metadata(version)?;
        let shape = Shape {
            window: meta.hyper_parameters.window,
            hidden: meta.hyper_parameters.hidden,
        };
        let net = Net::load(shape, &self.dir.join(version).join(WEIGHTS))?;
        Ok(Model { net, meta })
    }

    /// The active version of each symbol.
    pub fn active(&self) -> Result<BTreeMap<String, String>> {
        let path = self.dir.join(ACTIVE);
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| SentinelError::Parse {
                what: path.display().to_string(),
                message: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(SentinelError::io(&path, e)),
        }
    }

    /// The active model of `symbol`, if any.
    pub fn load_active(&self, symbol: &str) -> Result<Option<Model>> {
        match self.active()?.get(symbol) {
            Some(v) => Ok(Some(self.load(v)?)),
            None => Ok(None),
        }
    }

    /// Makes `version` the active model of its symbol; returns its metadata.
    pub fn activate(&self, version: &str, reason: &str) -> Result<ModelMetadata> {
        let meta = self.metadata(version)?;
        let mut active = self.active()?;
        let previous = active.insert(meta.symbol.clone(), version.to_string());
        let json =
            serde_json::to_vec_pretty(&active).map_err(|e| SentinelError::Model(e.to_string()))?;
        write_atomic(&self.dir.join(ACTIVE), &json)?;
        let line = Activation {
            at: Utc::now(),
            symbol: meta.symbol.clone(),
            version: version.to_string(),
            previous,
            reason: reason.to_string(),
        };
        let log = self.dir.join("activations.jsonl");
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(|e| SentinelError::io(&log, e))?;
        let mut text =
            serde_json::to_string(&line).map_err(|e| SentinelError::Model(e.to_string()))?;
        text.push('\n');
        f.write_all(text.as_bytes())
            .map_err(|e| SentinelError::io(&log, e))?;
        Ok(meta)
    }
}
