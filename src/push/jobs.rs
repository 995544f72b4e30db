//! Jobs started by pushed edits (a reboot): polled until they end, recorded in `jobs`.

use std::time::{Duration, Instant};

use rusqlite::{Connection, params};
use serde_json::Value;

use crate::api::{Client, path};
use crate::archive::canonical_json;

/// Job statuses that mean the job has not ended.
const RUNNING: &[&str] = &["queued", "running"];

/// Polls a job once and records its state. Returns its status.
pub async fn poll(
    client: &Client,
    connection: &Connection,
    account_id: &str,
    job_id: &str,
    now: &str,
) -> anyhow::Result<String> {
    let path = format!("/v1/jobs/{}", path::segment(job_id)?);
    let response = match client.get_json(&path, &[]).await {
        Ok(response) => response,
        Err(error) if error.status() == Some(404) => {
            // The API forgot the job: record that and stop polling it.
            connection.execute(
                "UPDATE jobs SET status = 'unknown', updated_at = ?3, finished_at = ?3 WHERE account_id = ?1 AND id = ?2",
                params![account_id, job_id, now],
            )?;
            tracing::warn!("job {job_id} is no longer known to the API (HTTP 404); it is recorded as unknown");
            return Ok("unknown".to_string());
        }
        Err(error) => return Err(error.into()),
    };
    let status = response.body.get("status").and_then(Value::as_str).unwrap_or("unknown").to_string();
    let finished = (!RUNNING.contains(&status.as_str())).then_some(now);
    connection.execute(
        "UPDATE jobs SET status = ?3, raw_json = ?4, updated_at = ?5, finished_at = coalesce(finished_at, ?6)
         WHERE account_id = ?1 AND id = ?2",
        params![account_id, job_id, status, canonical_json(&response.body), now, finished],
    )?;
    Ok(status)
}

/// Polls every unfinished job of the account once, so cron runs pick up jobs a previous run
/// started. Returns how many are still running.
pub async fn poll_unfinished(client: &Client, connection: &Connection, account_id: &str) -> anyhow::Result<usize> {
    let ids: Vec<String> = {
        let mut statement =
            connection.prepare("SELECT id FROM jobs WHERE account_id = ?1 AND finished_at IS NULL ORDER BY id")?;
        statement.query_map([account_id], |row| row.get(0))?.collect::<Result<_, _>>()?
    };
    let mut running = 0;
    for id in ids {
        let status = poll(client, connection, account_id, &id, &crate::sync::now()).await?;
        tracing::info!("job {id}: {status}");
        if RUNNING.contains(&status.as_str()) {
            running += 1;
        }
    }
    Ok(running)
}

/// Polls a job with growing pauses until it ends or `limit` passes. Returns its last status.
pub async fn wait(
    client: &Client,
    connection: &Connection,
    account_id: &str,
    job_id: &str,
    limit: Duration,
) -> anyhow::Result<String> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(500);
    loop {
        let status = poll(client, connection, account_id, job_id, &crate::sync::now()).await?;
        if !RUNNING.contains(&status.as_str()) {
            return Ok(status);
        }
        if started.elapsed() + pause > limit {
            return Ok(status);
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(10));
    }
}
