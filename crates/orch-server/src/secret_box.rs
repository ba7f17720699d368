//! Sealing secret values at rest: ChaCha20-Poly1305 (an AEAD, from aws-lc-rs,
//! the crypto library rustls already uses) under a 256-bit key that never
//! enters the database.
//!
//! The key is `ORCH_SECRET_KEY` (64 hex digits) or the file
//! `$ORCH_HOME/secret.key`, created with mode 0600 on first use. A sealed
//! value reads `v1:<key id>:<hex of nonce + ciphertext + tag>`: the key id
//! (the first 8 hex digits of the key's SHA-256) tells a wrong key from a
//! corrupt value, and the secret's name is the associated data, so a sealed
//! value moved to another name does not open.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use aws_lc_rs::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

/// Where the server's secret key comes from.
#[derive(Clone)]
pub enum SecretKeySource {
    /// The key itself, 64 hex digits (from `ORCH_SECRET_KEY`).
    Value(String),
    /// A file holding it, created (mode 0600) on first use if missing.
    File(PathBuf),
}

impl fmt::Debug for SecretKeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Never the key itself: the config is logged at debug level.
            SecretKeySource::Value(_) => f.write_str("Value(<redacted>)"),
            SecretKeySource::File(path) => f.debug_tuple("File").field(path).finish(),
        }
    }
}

/// The key, loaded on first use.
#[derive(Debug, Default)]
pub(crate) struct Keyring {
    source: Option<SecretKeySource>,
    key: OnceLock<Key>,
}

/// A loaded key.
struct Key {
    aead: LessSafeKey,
    id: String,
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({})", self.id)
    }
}

/// Size of a key in bytes.
const KEY_BYTES: usize = 32;

impl Keyring {
    pub(crate) fn new(source: Option<SecretKeySource>) -> Keyring {
        Keyring {
            source,
            key: OnceLock::new(),
        }
    }

    /// Seals `value` of secret `name`.
    pub(crate) fn seal(&self, name: &str, value: &str) -> Result<String, String> {
        let key = self.key()?;
        let mut nonce = [0_u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| "the system random generator failed")?;
        let mut sealed = value.as_bytes().to_vec();
        key.aead
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(name.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| "sealing the secret failed".to_owned())?;
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        Ok(format!("v1:{}:{}", key.id, hex(&bytes)))
    }

    /// Opens a value sealed by [`Keyring::seal`] for secret `name`.
    pub(crate) fn open(&self, name: &str, sealed: &str) -> Result<String, String> {
        let key = self.key()?;
        let corrupt = || {
            format!(
                "the stored value of secret \"{name}\" is corrupt; set it again with `orch secret set {name}`"
            )
        };
        let mut parts = sealed.splitn(3, ':');
        let (Some("v1"), Some(id), Some(text)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(corrupt());
        };
        if id != key.id {
            return Err(format!(
                "secret \"{name}\" was sealed with another key (id {id}; the server's key is {}): \
                 start the server with the key it was set with (ORCH_SECRET_KEY or \
                 $ORCH_HOME/secret.key), or set it again with `orch secret set {name}`",
                key.id
            ));
        }
        let mut bytes = unhex(text).ok_or_else(corrupt)?;
        if bytes.len() < NONCE_LEN {
            return Err(corrupt());
        }
        let mut sealed = bytes.split_off(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(&bytes).map_err(|_| corrupt())?;
        let plain = key
            .aead
            .open_in_place(nonce, Aad::from(name.as_bytes()), &mut sealed)
            .map_err(|_| corrupt())?;
        String::from_utf8(plain.to_vec()).map_err(|_| corrupt())
    }

    fn key(&self) -> Result<&Key, String> {
        if let Some(key) = self.key.get() {
            return Ok(key);
        }
        let bytes = match &self.source {
            None => {
                return Err("this server has no secret key configured: start it with \
                            ORCH_SECRET_KEY set or through `orch server start`, which keeps one in \
                            $ORCH_HOME/secret.key"
                    .to_owned());
            }
            Some(SecretKeySource::Value(text)) => parse_key(text).ok_or_else(|| {
                "ORCH_SECRET_KEY must be 64 hex digits (32 bytes), e.g. from `openssl rand -hex 32`"
                    .to_owned()
            })?,
            Some(SecretKeySource::File(path)) => load_or_create(path)?,
        };
        let unbound = UnboundKey::new(&CHACHA20_POLY1305, &bytes)
            .map_err(|_| "the secret key is not a valid ChaCha20-Poly1305 key".to_owned())?;
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &bytes);
        let key = Key {
            aead: LessSafeKey::new(unbound),
            id: hex(&digest.as_ref()[..4]),
        };
        Ok(self.key.get_or_init(|| key))
    }
}

/// Reads the key file, or creates it (mode 0600, a fresh random key).
fn load_or_create(path: &Path) -> Result<[u8; KEY_BYTES], String> {
    match orch_core::input_file::read_text(path) {
        Ok(text) => parse_key(&text).ok_or_else(|| {
            format!(
                "the secret key file {} is not 64 hex digits; restore it from your backup \
                 (secrets sealed with it cannot be opened without it)",
                path.display()
            )
        }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let mut key = [0_u8; KEY_BYTES];
            aws_lc_rs::rand::fill(&mut key).map_err(|_| "the system random generator failed")?;
            match write_new_key(path, &key) {
                Ok(()) => {
                    tracing::info!(file = %path.display(), "created the secret key (back it up: secrets cannot be read without it)");
                    Ok(key)
                }
                // Another server process made it first: use theirs.
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                    load_or_create(path)
                }
                Err(error) => Err(format!(
                    "cannot create the secret key file {}: {error}",
                    path.display()
                )),
            }
        }
        Err(error) => Err(format!(
            "cannot read the secret key file {}: {error}",
            path.display()
        )),
    }
}

fn write_new_key(path: &Path, key: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    writeln!(file, "{}", hex(key))?;
    file.sync_all()
}

fn parse_key(text: &str) -> Option<[u8; KEY_BYTES]> {
    unhex(text.trim())?.try_into().ok()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyring(key: &str) -> Keyring {
        Keyring::new(Some(SecretKeySource::Value(key.to_owned())))
    }

    const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn sealed_values_open_only_under_their_name_and_key() {
        let ring = keyring(KEY);
        let sealed = ring.seal("NEWSAPI_KEY", "hunter2-value").unwrap();
        assert!(!sealed.contains("hunter2"), "{sealed}");
        assert_ne!(
            sealed,
            ring.seal("NEWSAPI_KEY", "hunter2-value").unwrap(),
            "nonces repeat"
        );
        assert_eq!(ring.open("NEWSAPI_KEY", &sealed).unwrap(), "hunter2-value");
        let moved = ring.open("OTHER", &sealed).unwrap_err();
        assert!(moved.contains("corrupt"), "{moved}");
        let other = keyring(&KEY.replace("00", "ff"));
        let wrong = other.open("NEWSAPI_KEY", &sealed).unwrap_err();
        assert!(wrong.contains("sealed with another key"), "{wrong}");
    }

    #[test]
    fn a_key_file_is_created_private_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("home/secret.key");
        let sealed = Keyring::new(Some(SecretKeySource::File(path.clone())))
            .seal("A", "value")
            .unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = Keyring::new(Some(SecretKeySource::File(path)));
        assert_eq!(again.open("A", &sealed).unwrap(), "value");
    }

    #[test]
    fn bad_keys_say_how_to_make_one() {
        let error = keyring("short").seal("A", "v").unwrap_err();
        assert!(error.contains("openssl rand -hex 32"), "{error}");
        let error = Keyring::new(None).seal("A", "v").unwrap_err();
        assert!(error.contains("no secret key"), "{error}");
        let debug = format!("{:?}", SecretKeySource::Value(KEY.to_owned()));
        assert!(!debug.contains("0102"), "{debug}");
    }
}
