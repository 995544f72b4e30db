//! The `outbox` table: reading queued edits and recording what happened to them.

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use super::validate::EditKind;

/// One queued edit, as stored.
#[derive(Debug, Clone)]
pub struct Edit {
    pub id: i64,
    pub account_id: Option<String>,
    /// The stored kind. `kind` is `None` only for a kind omega-sync does not support, which the
    /// table's CHECK constraint prevents.
    pub kind_name: String,
    pub kind: Option<EditKind>,
    pub target: Option<String>,
    /// The payload, or the reason it could not be parsed.
    pub payload: Result<Value, String>,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: Option<String>,
    pub idempotency_key: String,
    pub expected: Option<Value>,
    pub confirmed: bool,
    pub first_sent_at: Option<String>,
    pub remote_id: Option<String>,
    pub last_error: Option<String>,
    pub created_at: String,
}

const COLUMNS: &str = "id, account_id, kind, target, payload, status, attempts, next_attempt_at, idempotency_key,
                       expected, confirmed, first_sent_at, remote_id, last_error, created_at";

fn edit_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Edit> {
    let kind_name: String = row.get(2)?;
    let payload_text: String = row.get(4)?;
    let expected: Option<String> = row.get(9)?;
    Ok(Edit {
        id: row.get(0)?,
        account_id: row.get(1)?,
        kind: EditKind::parse(&kind_name),
        kind_name,
        target: row.get(3)?,
        payload: serde_json::from_str(&payload_text).map_err(|error| format!("payload: invalid JSON ({error})")),
        status: row.get(5)?,
        attempts: row.get(6)?,
        next_attempt_at: row.get(7)?,
        idempotency_key: row.get(8)?,
        expected: expected.and_then(|text| serde_json::from_str(&text).ok()),
        confirmed: row.get(10)?,
        first_sent_at: row.get(11)?,
        remote_id: row.get(12)?,
        last_error: row.get(13)?,
        created_at: row.get(14)?,
    })
}

/// Returns the edits a push works on, pending or in flight, in queue order; with
/// `include_conflicts`, edits in conflict too (`push --force`).
pub fn open_edits(connection: &Connection, include_conflicts: bool) -> rusqlite::Result<Vec<Edit>> {
    let statuses = if include_conflicts { "'pending', 'in_flight', 'conflict'" } else { "'pending', 'in_flight'" };
    let sql = format!("SELECT {COLUMNS} FROM outbox WHERE status IN ({statuses}) ORDER BY id");
    let mut statement = connection.prepare(&sql)?;
    statement.query_map([], edit_from_row)?.collect()
}

/// Returns every edit, or only open ones, for `queue list`.
pub fn all_edits(connection: &Connection, include_finished: bool) -> rusqlite::Result<Vec<Edit>> {
    let filter = if include_finished { "" } else { "WHERE status IN ('pending', 'in_flight', 'failed', 'conflict')" };
    let sql = format!("SELECT {COLUMNS} FROM outbox {filter} ORDER BY id");
    let mut statement = connection.prepare(&sql)?;
    statement.query_map([], edit_from_row)?.collect()
}

pub fn get(connection: &Connection, id: i64) -> rusqlite::Result<Option<Edit>> {
    let sql = format!("SELECT {COLUMNS} FROM outbox WHERE id = ?1");
    connection.query_row(&sql, [id], edit_from_row).optional()
}

/// Queues an edit and returns its id.
pub fn insert(
    connection: &Connection,
    kind: &EditKind,
    target: Option<&str>,
    payload: &Value,
    expected: Option<&Value>,
    confirmed: bool,
    account_id: Option<&str>,
) -> rusqlite::Result<i64> {
    connection.execute(
        "INSERT INTO outbox (account_id, kind, target, payload, expected, confirmed) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![account_id, kind.as_str(), target, payload.to_string(), expected.map(Value::to_string), confirmed],
    )?;
    Ok(connection.last_insert_rowid())
}

/// Marks an edit as sent: `in_flight`, one more attempt, and the time of the first send. It is
/// committed before the request leaves, so a crash during the request leaves it `in_flight`.
/// Returns false, changing nothing, when the edit is no longer open (cancelled meanwhile).
pub fn mark_in_flight(connection: &Connection, id: i64, now: &str) -> rusqlite::Result<bool> {
    let changed = connection.execute(
        "UPDATE outbox SET status = 'in_flight', attempts = attempts + 1, first_sent_at = coalesce(first_sent_at, ?2),
                next_attempt_at = NULL, updated_at = ?2 WHERE id = ?1 AND status IN ('pending', 'in_flight', 'conflict')",
        params![id, now],
    )?;
    Ok(changed == 1)
}

/// Records a final or waiting state with its reason.
pub fn set_status(
    connection: &Connection,
    id: i64,
    status: &str,
    error: Option<&str>,
    next_attempt_at: Option<&str>,
    now: &str,
) -> rusqlite::Result<()> {
    let finished = matches!(status, "done" | "failed" | "conflict" | "cancelled").then_some(now);
    connection.execute(
        "UPDATE outbox SET status = ?2, last_error = ?3, next_attempt_at = ?4, updated_at = ?5,
                finished_at = coalesce(?6, finished_at) WHERE id = ?1",
        params![id, status, error, next_attempt_at, now, finished],
    )?;
    Ok(())
}

/// Records success: the API's response and the id of what it created.
pub fn mark_done(
    connection: &Connection,
    id: i64,
    response: Option<&Value>,
    remote_id: Option<&str>,
    now: &str,
) -> rusqlite::Result<()> {
    connection.execute(
        "UPDATE outbox SET status = 'done', response_json = coalesce(?2, response_json), remote_id = coalesce(?3, remote_id),
                last_error = NULL, next_attempt_at = NULL, updated_at = ?4, finished_at = ?4 WHERE id = ?1",
        params![id, response.map(Value::to_string), remote_id, now],
    )?;
    Ok(())
}

/// Cancels a pending edit. Returns the status it had when it could not be cancelled.
pub fn cancel(connection: &Connection, id: i64, now: &str) -> rusqlite::Result<Result<(), String>> {
    let status: Option<String> =
        connection.query_row("SELECT status FROM outbox WHERE id = ?1", [id], |row| row.get(0)).optional()?;
    match status.as_deref() {
        None => Ok(Err("missing".to_string())),
        Some("pending" | "failed" | "conflict") => {
            set_status(connection, id, "cancelled", None, None, now)?;
            Ok(Ok(()))
        }
        Some(other) => Ok(Err(other.to_string())),
    }
}
