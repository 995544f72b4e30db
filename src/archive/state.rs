//! Incremental sync state: per-resource marks (`sync_state`) and HTTP validators
//! (`http_validators`).

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use crate::api::Validators;
use crate::sync::plan::ResourceState;

/// Loads the state of every resource of an account.
pub fn load_states(connection: &Connection, account_id: &str) -> rusqlite::Result<HashMap<String, ResourceState>> {
    let mut statement = connection.prepare(
        "SELECT s.resource, s.last_full_at, s.last_incremental_at, s.high_water,
                (SELECT r.status FROM sync_run_resources r JOIN sync_runs u ON u.id = r.run_id
                 WHERE u.account_id = s.account_id AND r.resource = s.resource
                 ORDER BY r.run_id DESC LIMIT 1)
         FROM sync_state s WHERE s.account_id = ?1",
    )?;
    let rows = statement.query_map([account_id], |row| {
        let last_status: Option<String> = row.get(4)?;
        Ok((
            row.get::<_, String>(0)?,
            ResourceState {
                last_full_at: row.get(1)?,
                last_incremental_at: row.get(2)?,
                high_water: row.get(3)?,
                last_failed: last_status.is_some_and(|status| status != "succeeded"),
            },
        ))
    })?;
    rows.collect()
}

/// Records the end of a listing. `None` leaves a stored value as it was.
pub fn save_state(
    connection: &Connection,
    account_id: &str,
    resource: &str,
    full_at: Option<&str>,
    incremental_at: Option<&str>,
    high_water: Option<&str>,
) -> rusqlite::Result<()> {
    connection.execute(
        "INSERT INTO sync_state (account_id, resource, last_full_at, last_incremental_at, high_water)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (account_id, resource) DO UPDATE SET
             last_full_at = coalesce(excluded.last_full_at, last_full_at),
             last_incremental_at = coalesce(excluded.last_incremental_at, last_incremental_at),
             high_water = coalesce(excluded.high_water, high_water)",
        params![account_id, resource, full_at, incremental_at, high_water],
    )?;
    Ok(())
}

/// Loads every stored validator of an account, keyed by request path and query.
pub fn load_validators(connection: &Connection, account_id: &str) -> rusqlite::Result<HashMap<String, Validators>> {
    let mut statement =
        connection.prepare("SELECT path, etag, last_modified FROM http_validators WHERE account_id = ?1")?;
    let rows = statement.query_map([account_id], |row| {
        Ok((row.get::<_, String>(0)?, Validators { etag: row.get(1)?, last_modified: row.get(2)? }))
    })?;
    rows.collect()
}

/// Stores the validators of a response in the same writer job as its rows, so a 304 later
/// always refers to rows that were committed.
pub fn store_validators(
    tx: &Connection,
    account_id: &str,
    path: &str,
    validators: &Validators,
    now: &str,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO http_validators (account_id, path, etag, last_modified, stored_at) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (account_id, path) DO UPDATE SET
             etag = excluded.etag, last_modified = excluded.last_modified, stored_at = excluded.stored_at",
    )?
    .execute(params![account_id, path, validators.etag, validators.last_modified, now])?;
    Ok(())
}

/// Forgets the validators of a request, when its response could not be stored.
pub fn forget_validators(tx: &Connection, account_id: &str, path: &str) -> rusqlite::Result<()> {
    tx.prepare_cached("DELETE FROM http_validators WHERE account_id = ?1 AND path = ?2")?
        .execute(params![account_id, path])?;
    Ok(())
}

/// Forgets every validator of requests to `path`, whatever their query, after the rows that a
/// 304 for them would vouch for were changed by something other than that response.
pub fn forget_validators_of_path(tx: &Connection, account_id: &str, path: &str) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "DELETE FROM http_validators WHERE account_id = ?1 AND (path = ?2 OR substr(path, 1, length(?2) + 1) = ?2 || '?')",
    )?
    .execute(params![account_id, path])?;
    Ok(())
}

/// Returns the oldest `column` of the account's live rows whose status is not final (or
/// unknown): the point an incremental listing of a newest-first list must page past.
pub fn oldest_unsettled(
    connection: &Connection,
    table: &str,
    account_id: &str,
    column: &str,
    status_column: &str,
    final_statuses: &[&str],
) -> rusqlite::Result<Option<String>> {
    let placeholders: Vec<String> = (0..final_statuses.len()).map(|index| format!("?{}", index + 2)).collect();
    let sql = format!(
        "SELECT min(strftime('%Y-%m-%dT%H:%M:%fZ', {column})) FROM {table} WHERE account_id = ?1 AND deleted_at IS NULL
         AND ({status_column} IS NULL OR {status_column} NOT IN ({}))",
        placeholders.join(", ")
    );
    let values = std::iter::once(account_id).chain(final_statuses.iter().copied());
    connection.query_row(&sql, params_from_iter(values), |row| row.get(0)).optional().map(Option::flatten)
}

/// Counts the live rows of an account's table, optionally of one parent.
pub fn count_live(
    connection: &Connection,
    table: &str,
    account_id: &str,
    parent: Option<(&str, &str)>,
) -> rusqlite::Result<u64> {
    let count: i64 = match parent {
        Some((column, id)) => connection.query_row(
            &format!("SELECT count(*) FROM {table} WHERE account_id = ?1 AND {column} = ?2 AND deleted_at IS NULL"),
            params![account_id, id],
            |row| row.get(0),
        )?,
        None => connection.query_row(
            &format!("SELECT count(*) FROM {table} WHERE account_id = ?1 AND deleted_at IS NULL"),
            params![account_id],
            |row| row.get(0),
        )?,
    };
    Ok(count as u64)
}
