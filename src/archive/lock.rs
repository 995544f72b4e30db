//! The writer lock: one `sync` or `push` at a time per archive.
//!
//! The lock is an advisory file lock (`flock`) on `<archive>.lock`, which the kernel releases
//! when the process ends however it ends, so a lock left by a killed process is simply taken
//! over. The file also records the holder (pid, host, command, start time) for the message a
//! second writer prints. Readers (`sqlite3`, `report`, `query`, `status`) never take it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;

/// Another process holds the lock.
#[derive(Debug, thiserror::Error)]
#[error(
    "another omega-sync is writing to {archive} ({holder}); try again later, or pass --wait-lock SECONDS to wait for it"
)]
pub struct LockBusy {
    pub archive: String,
    pub holder: String,
}

/// A held writer lock, released when dropped.
#[derive(Debug)]
pub struct WriterLock {
    _file: File,
    pub path: PathBuf,
}

/// Takes the writer lock of the archive at `archive`, waiting up to `wait` for another writer.
pub fn acquire(archive: &Path, command: &str, wait: Duration) -> anyhow::Result<WriterLock> {
    let path = lock_path(archive);
    if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("failed to create the folder {}", parent.display()))?;
    }
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = match options.open(&path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::PermissionDenied => {
            anyhow::bail!(
                "the archive {} is read-only for this user: its lock file {} cannot be written; sync, push and \
                 queue need to write the archive and its folder, while status, report and query only read",
                archive.display(),
                path.display()
            );
        }
        Err(error) => return Err(error).with_context(|| format!("failed to open the lock file {}", path.display())),
    };
    let started = Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(TryLockError::WouldBlock) if started.elapsed() < wait => std::thread::sleep(Duration::from_millis(200)),
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = describe_holder(holder.trim());
                return Err(LockBusy { archive: archive.display().to_string(), holder }.into());
            }
            Err(TryLockError::Error(error)) => {
                return Err(error).with_context(|| format!("failed to lock {}", path.display()));
            }
        }
    }
    let holder = serde_json::json!({
        "pid": std::process::id(),
        "host": host_name(),
        "command": command,
        "started_at": crate::sync::now(),
    });
    file.set_len(0)?;
    file.rewind()?;
    file.write_all(holder.to_string().as_bytes())?;
    file.flush()?;
    Ok(WriterLock { _file: file, path })
}

/// Returns the lock file of an archive: the archive's path with `.lock` appended.
pub fn lock_path(archive: &Path) -> PathBuf {
    let mut name = archive.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

fn describe_holder(text: &str) -> String {
    let Ok(holder) = serde_json::from_str::<serde_json::Value>(text) else {
        return "holder unknown".to_string();
    };
    let field = |name: &str| holder.get(name).map(|value| value.to_string().trim_matches('"').to_string());
    format!(
        "{} pid {} on {}, started {}",
        field("command").unwrap_or_else(|| "a command".to_string()),
        field("pid").unwrap_or_else(|| "?".to_string()),
        field("host").unwrap_or_else(|| "?".to_string()),
        field("started_at").unwrap_or_else(|| "?".to_string()),
    )
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown host".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_writer_told_who_holds() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("a.db");
        let _held = acquire(&archive, "sync", Duration::ZERO).unwrap();

        let error = acquire(&archive, "push", Duration::ZERO).unwrap_err();

        let busy = error.downcast_ref::<LockBusy>().expect("a LockBusy error");
        assert!(busy.holder.starts_with(&format!("sync pid {} on ", std::process::id())), "{}", busy.holder);
        assert!(error.to_string().contains("--wait-lock"), "{error}");
    }

    #[test]
    fn released_lock_taken_again() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("a.db");
        drop(acquire(&archive, "sync", Duration::ZERO).unwrap());

        assert!(acquire(&archive, "sync", Duration::ZERO).is_ok());
    }
}
