//! The API key, kept out of logs, errors and `Debug` output.

use std::fmt;
use std::fs;
use std::path::Path;

use anyhow::{Context, bail};

/// The environment variable that contains the API key.
pub const API_KEY_ENV: &str = "OMEGA_API_KEY";

/// An Omega API key. `Debug` and `Display` print `[redacted]`; only [`ApiKey::expose`] gives
/// the value, and the only caller is the code that builds the `Authorization` header.
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key, rejecting values that cannot be sent in an HTTP header.
    pub fn new(value: impl Into<String>) -> anyhow::Result<ApiKey> {
        let value = value.into().trim().to_string();
        if value.is_empty() {
            bail!("the API key is empty; set {API_KEY_ENV} or pass --api-key-file with the key on its first line");
        }
        if value.chars().any(|c| c.is_control() || !c.is_ascii()) {
            bail!("the API key contains control or non-ASCII characters; check that it was copied whole");
        }
        Ok(ApiKey(value))
    }

    /// Reads the key from the first line of a file, warning when others can read the file.
    pub fn from_file(path: &Path) -> anyhow::Result<ApiKey> {
        let text =
            fs::read_to_string(path).with_context(|| format!("failed to read the API key file {}", path.display()))?;
        warn_if_shared(path);
        // Editors on some systems start UTF-8 files with a byte order mark; it is not part of the key.
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        let first_line = text.lines().next().unwrap_or("");
        ApiKey::new(first_line).with_context(|| format!("invalid API key file {}", path.display()))
    }

    /// Reads the key from `OMEGA_API_KEY`, or from `key_file` when one is given.
    pub fn load(key_file: Option<&Path>) -> anyhow::Result<ApiKey> {
        if let Some(path) = key_file {
            return ApiKey::from_file(path);
        }
        match std::env::var(API_KEY_ENV) {
            Ok(value) => ApiKey::new(value).with_context(|| format!("invalid {API_KEY_ENV}")),
            Err(_) => bail!(
                "no API key: set {API_KEY_ENV}, or pass --api-key-file PATH with the key on its \
                 first line (keys are created under Account > API Keys in the Omega control panel)"
            ),
        }
    }

    /// Returns the key itself. Call this only to build the `Authorization` header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey([redacted])")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(unix)]
fn warn_if_shared(path: &Path) {
    use std::os::unix::fs::PermissionsExt;

    if let Ok(meta) = fs::metadata(path) {
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(
                "the API key file {} is readable by group or others (mode {:o}); run `chmod 600 {}`",
                path.display(),
                mode & 0o777,
                path.display()
            );
        }
    }
}

#[cfg(not(unix))]
fn warn_if_shared(_path: &Path) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_redact() {
        let key = ApiKey::new("sk_live_secret").unwrap();

        assert_eq!(format!("{key:?}"), "ApiKey([redacted])");
        assert_eq!(key.to_string(), "[redacted]");
        assert_eq!(key.expose(), "sk_live_secret");
    }

    #[test]
    fn empty_key_rejected() {
        let err = ApiKey::new("  \n").unwrap_err().to_string();

        assert!(err.contains(API_KEY_ENV), "{err}");
    }

    #[test]
    fn key_file_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        fs::write(&path, "abc123\nsecond line\n").unwrap();

        assert_eq!(ApiKey::from_file(&path).unwrap().expose(), "abc123");
    }

    #[test]
    fn key_file_byte_order_mark_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        fs::write(&path, "\u{feff}abc123\r\n").unwrap();

        assert_eq!(ApiKey::from_file(&path).unwrap().expose(), "abc123");
    }
}
