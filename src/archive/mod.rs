//! The SQLite archive: opening and migrating the file, writing entity rows, and recording sync
//! runs.
//!
//! The database runs in WAL mode so that `sqlite3`, Datasette and the `report` commands can read
//! while a sync writes. All writes go through one connection owned by the [`Writer`] thread.

mod canonical;
mod ids;
pub mod lock;
mod runs;
mod state;
mod store;
mod writer;

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use rusqlite::{Connection, OpenFlags};

pub use canonical::{canonical_json, changed_paths, normal_form, normal_json, normalize_timestamp, sortable_timestamp};
pub use ids::IdSet;
pub use runs::{ResourceRun, RunStatus, finish_resource, finish_run, start_resource, start_run};
pub use state::{
    StoredValidators, count_live, forget_validators, forget_validators_of_path, load_states, oldest_unsettled,
    save_state, store_validators,
};
pub use store::{HistoryContext, Outcome, RowWrite, Scope, mark_deleted, mark_missing, missing_ids, write_row};
pub use writer::Writer;

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// The environment variable that names the archive file.
pub const DB_ENV: &str = "OMEGA_SYNC_DB";

/// How long a connection waits for another writer's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Returns the archive path: `OMEGA_SYNC_DB`, else `omega.db` in the platform data directory
/// (`~/.local/share/omega-sync` on Linux), else `omega.db` in the current directory.
pub fn default_path() -> PathBuf {
    if let Some(path) = std::env::var_os(DB_ENV).filter(|value| !value.is_empty()) {
        return PathBuf::from(path);
    }
    match dirs::data_dir() {
        Some(dir) => dir.join("omega-sync").join("omega.db"),
        None => PathBuf::from("omega.db"),
    }
}

/// Opens the archive for writing, creating it (mode 0600) and applying pending migrations.
pub fn open(path: &Path) -> anyhow::Result<Connection> {
    create_private_file(path)?;
    let mut connection =
        Connection::open(path).with_context(|| format!("failed to open the archive {}", path.display()))?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    check_is_archive(&connection, path)?;
    if connection.is_readonly("main")? {
        anyhow::bail!(
            "the archive {} is read-only (check the permissions of the file and its folder); sync, push and queue \
             need to write it, while status, report and query can read it",
            path.display()
        );
    }
    configure(&connection).with_context(|| {
        format!("failed to open the archive {}; is it an omega-sync SQLite database?", path.display())
    })?;
    // Write transactions take the write lock when they begin, so a second writer waits for the
    // busy timeout instead of failing midway with "database is locked".
    connection.set_transaction_behavior(rusqlite::TransactionBehavior::Immediate);
    migrate(&mut connection, path)?;
    Ok(connection)
}

/// Applies pending migrations, after refusing a schema newer than this binary's and copying a
/// non-empty archive aside first.
fn migrate(connection: &mut Connection, path: &Path) -> anyhow::Result<()> {
    let runner = embedded::migrations::runner().set_abort_missing(true);
    let known = runner.get_migrations().iter().map(|migration| i64::from(migration.version())).max().unwrap_or(0);
    let applied: Option<i64> = if has_table(connection, "refinery_schema_history")? {
        connection.query_row("SELECT max(version) FROM refinery_schema_history", [], |row| row.get(0))?
    } else {
        None
    };
    if let Some(applied) = applied {
        if applied > known {
            anyhow::bail!(
                "the archive {} was written by a newer omega-sync (schema version {applied}; this one knows up to \
                 {known}); upgrade omega-sync, or open a copy with the newer version",
                path.display()
            );
        }
        if applied < known {
            let backup = backup_before_migration(connection, path, applied)?;
            tracing::warn!(
                "upgrading the archive schema from version {applied} to {known}; a copy is at {}",
                backup.display()
            );
        }
    }
    runner.run(connection).with_context(|| format!("failed to migrate the archive {}", path.display()))?;
    Ok(())
}

/// Copies the archive with `VACUUM INTO` to `<archive>.v<version>-<time>.bak`, readable only by
/// the owner, and returns the copy's path.
fn backup_before_migration(connection: &Connection, path: &Path, version: i64) -> anyhow::Result<PathBuf> {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".v{version}-{stamp}.bak"));
    let backup = PathBuf::from(name);
    // VACUUM INTO accepts an existing empty file, so creating it first fixes its permissions.
    create_private_file(&backup)?;
    let target = backup.to_str().context("the backup path is not valid UTF-8")?;
    connection
        .execute("VACUUM INTO ?1", [target])
        .with_context(|| format!("failed to copy the archive to {} before migrating it", backup.display()))?;
    Ok(backup)
}

/// Opens an existing archive read-only, for reports and status. Never creates or migrates.
pub fn open_read_only(path: &Path) -> anyhow::Result<Connection> {
    if !path.exists() {
        anyhow::bail!("the archive {} does not exist; run `omega-sync sync` first, or pass --db PATH", path.display());
    }
    let connection =
        Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .with_context(|| format!("failed to open the archive {} read-only", path.display()))?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    check_is_archive(&connection, path)?;
    if !has_table(&connection, "refinery_schema_history")? {
        anyhow::bail!(
            "{} is an empty database, not an omega-sync archive yet; run `omega-sync sync` first",
            path.display()
        );
    }
    Ok(connection)
}

/// Rejects a file that is not SQLite, or a SQLite database that has tables but is not an
/// omega-sync archive, so a wrong `--db` never changes someone else's database.
fn check_is_archive(connection: &Connection, path: &Path) -> anyhow::Result<()> {
    let tables: i64 = connection
        .query_row("SELECT count(*) FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%'", [], |row| row.get(0))
        .with_context(|| {
            format!("failed to read the archive {}; is it an omega-sync SQLite database?", path.display())
        })?;
    if tables > 0 && !has_table(connection, "refinery_schema_history")? {
        anyhow::bail!(
            "{} is a SQLite database but not an omega-sync archive (it has no migration history); \
             pass --db with another path",
            path.display()
        );
    }
    Ok(())
}

fn has_table(connection: &Connection, name: &str) -> rusqlite::Result<bool> {
    connection.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?1)",
        [name],
        |row| row.get(0),
    )
}

/// WAL pages after which a commit checkpoints (about 40 MiB), instead of SQLite's 1,000: each
/// checkpoint syncs the file to disk, and a large first sync would otherwise spend a fifth of
/// its writer time in them.
const CHECKPOINT_PAGES: i32 = 10_000;

fn configure(connection: &Connection) -> rusqlite::Result<()> {
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "synchronous", "NORMAL")?;
    connection.pragma_update(None, "foreign_keys", "ON")?;
    connection.pragma_update(None, "wal_autocheckpoint", CHECKPOINT_PAGES)?;
    Ok(())
}

/// Creates the file with owner-only permissions if it does not exist yet, and its folder.
fn create_private_file(path: &Path) -> anyhow::Result<()> {
    if path.exists() {
        return Ok(());
    }
    if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("failed to create the folder {} for the archive", parent.display()))?;
    }
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path).with_context(|| format!("failed to create the archive {}", path.display()))?;
    Ok(())
}

/// Returns the row count of each entity table, in schema order.
pub fn table_counts(connection: &Connection) -> anyhow::Result<Vec<(&'static str, i64)>> {
    ENTITY_TABLES
        .iter()
        .map(|table| {
            let count = connection.query_row(&format!("SELECT count(*) FROM {table}"), [], |row| row.get(0))?;
            Ok((*table, count))
        })
        .collect()
}

/// Every entity table, in the order `status` and the demo list them.
pub const ENTITY_TABLES: &[&str] = &[
    "accounts",
    "ssh_keys",
    "services",
    "invoices",
    "invoice_line_items",
    "payment_methods",
    "domains",
    "dns_records",
    "tickets",
];
