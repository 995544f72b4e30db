//! Incremental sync state: per-resource marks (`sync_state`) and HTTP validators
//! (`http_validators`).

use std::collections::HashMap;
use std::sync::Mutex;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params, params_from_iter};

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

/// Reads the validators that earlier runs stored, one request at a time, through a read-only
/// connection of its own, so a run does not keep every validator of a large account in memory.
pub struct StoredValidators {
    /// `None` for an archive without a file (in memory): requests are then sent unconditionally.
    connection: Option<Mutex<Connection>>,
    account_id: String,
    /// The start of this run. Validators stored since then belong to this run, and a second
    /// request for the same path must not get a 304 that refers to this run's own response.
    before: String,
}

impl StoredValidators {
    /// Opens a second connection to the archive of `writer`.
    pub fn open(writer: &Connection, account_id: &str, before: &str) -> rusqlite::Result<StoredValidators> {
        let connection = match writer.path().filter(|path| !path.is_empty()) {
            Some(path) => {
                let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
                let reader = Connection::open_with_flags(path, flags)?;
                reader.busy_timeout(std::time::Duration::from_secs(5))?;
                Some(Mutex::new(reader))
            }
            None => None,
        };
        Ok(StoredValidators { connection, account_id: account_id.to_string(), before: before.to_string() })
    }

    /// Returns the validators stored for a request path and query by an earlier run. A failed
    /// read returns `None`, so the request goes out in full.
    pub fn get(&self, path: &str) -> Option<Validators> {
        let connection = self.connection.as_ref()?.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let found = connection
            .prepare_cached(
                "SELECT etag, last_modified FROM http_validators
                 WHERE account_id = ?1 AND path = ?2 AND stored_at < ?3",
            )
            .and_then(|mut statement| {
                statement
                    .query_row(params![self.account_id, path, self.before], |row| {
                        Ok(Validators { etag: row.get(0)?, last_modified: row.get(1)? })
                    })
                    .optional()
            });
        found.unwrap_or_else(|error| {
            tracing::warn!("failed to read the stored validators of {path}: {error}; requesting it in full");
            None
        })
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_validators_earlier_runs_only() {
        let dir = tempfile::tempdir().unwrap();
        let writer = crate::archive::open(&dir.path().join("archive.db")).unwrap();
        writer
            .execute(
                "INSERT INTO accounts (id, raw_json, first_seen_at, last_changed_at) VALUES ('acc', '{}', 'T', 'T')",
                [],
            )
            .unwrap();
        let etag = |tag: &str| Validators { etag: Some(tag.to_string()), last_modified: None };
        store_validators(&writer, "acc", "/v1/old", &etag("\"old\""), "2026-01-01T00:00:00.000Z").unwrap();
        store_validators(&writer, "acc", "/v1/new", &etag("\"new\""), "2026-01-02T00:00:00.000Z").unwrap();

        let stored = StoredValidators::open(&writer, "acc", "2026-01-02T00:00:00.000Z").unwrap();

        assert_eq!(stored.get("/v1/old").and_then(|found| found.etag).as_deref(), Some("\"old\""));
        assert!(stored.get("/v1/new").is_none(), "stored by the current run");
        assert!(stored.get("/v1/missing").is_none());
        assert!(StoredValidators::open(&writer, "other", "2027-01-01T00:00:00.000Z").unwrap().get("/v1/old").is_none());
    }

    #[test]
    fn stored_validators_in_memory_none() {
        let connection = Connection::open_in_memory().unwrap();

        let stored = StoredValidators::open(&connection, "acc", "2027-01-01T00:00:00.000Z").unwrap();

        assert!(stored.get("/v1/account").is_none());
    }
}
