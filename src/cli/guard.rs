//! The steps every writing command takes around its work: the writer lock, a rate limit
//! remembered from an earlier run, and SIGINT / SIGTERM.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::exit;
use crate::api::Client;
use crate::archive::lock::{self, WriterLock};

/// Takes the archive's writer lock, waiting up to `wait_seconds` for another writer.
pub fn lock(path: &Path, command: &str, wait_seconds: u64) -> anyhow::Result<WriterLock> {
    let held = lock::acquire(path, command, Duration::from_secs(wait_seconds))?;
    tracing::debug!("holding the writer lock {}", held.path.display());
    Ok(held)
}

/// Honours a rate limit an earlier run met: waits for it when it ends within the client's
/// longest retry wait, and otherwise returns the exit code to stop with, before any request.
pub async fn respect_backoff(connection: &Connection, client: &Client) -> anyhow::Result<Option<u8>> {
    let api_url = client.base_url().to_string();
    let stored: Option<(String, String)> = connection
        .query_row("SELECT until, reason FROM api_backoff WHERE api_url = ?1", [&api_url], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .optional()?;
    let Some((until, reason)) = stored else { return Ok(None) };
    let wait = DateTime::parse_from_rfc3339(&until)
        .ok()
        .and_then(|until| until.with_timezone(&Utc).signed_duration_since(Utc::now()).to_std().ok())
        .unwrap_or_default();
    if wait > client.max_retry_wait() {
        tracing::error!(
            "the API asked to wait until {until} ({reason}); no request was sent. The next run after that time proceeds"
        );
        return Ok(Some(exit::RATE_LIMITED));
    }
    if !wait.is_zero() {
        tracing::info!("waiting {} s for the API's rate limit ({reason})", wait.as_secs());
        tokio::time::sleep(wait).await;
    }
    connection.execute("DELETE FROM api_backoff WHERE api_url = ?1", [&api_url])?;
    Ok(None)
}

/// Stores a rate limit the run gave up on, so the next run inside it does not hammer the API.
pub fn remember_backoff(connection: &Connection, client: &Client) -> anyhow::Result<()> {
    let seconds = client.stats().blocked_until.load(Ordering::Relaxed);
    if seconds == 0 {
        return Ok(());
    }
    let until: DateTime<Utc> = (SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)).into();
    let until = until.to_rfc3339_opts(SecondsFormat::Secs, true);
    connection.execute(
        "INSERT INTO api_backoff (api_url, until, reason, created_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (api_url) DO UPDATE SET until = max(until, excluded.until), reason = excluded.reason,
             created_at = excluded.created_at",
        params![client.base_url().as_str(), until, "HTTP 429 with a long Retry-After", crate::sync::now()],
    )?;
    tracing::warn!("the API rate-limited this run until {until}; runs before then wait or stop without requests");
    Ok(())
}

/// Cancels `token` on SIGINT or SIGTERM. The handle returns the exit code for the signal.
pub fn cancel_on_signal(token: CancellationToken) -> JoinHandle<Option<u8>> {
    tokio::spawn(async move {
        let code = wait_for_signal().await?;
        tracing::warn!(
            "stopping: the page being written finishes, nothing new starts, and the run is recorded as cancelled"
        );
        token.cancel();
        Some(code)
    })
}

#[cfg(unix)]
async fn wait_for_signal() -> Option<u8> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).ok()?;
    let mut interrupt = signal(SignalKind::interrupt()).ok()?;
    tokio::select! {
        _ = interrupt.recv() => Some(exit::INTERRUPTED),
        _ = terminate.recv() => Some(exit::TERMINATED),
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() -> Option<u8> {
    tokio::signal::ctrl_c().await.ok()?;
    Some(exit::INTERRUPTED)
}

/// Returns the signal's exit code if one arrived, and stops listening either way.
pub async fn signal_code(handle: JoinHandle<Option<u8>>) -> Option<u8> {
    if handle.is_finished() {
        return handle.await.ok().flatten();
    }
    handle.abort();
    None
}
