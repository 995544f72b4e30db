//! `omega-sync status`: where the archive is, how the last runs went, what it holds.

use std::path::PathBuf;

use rusqlite::Connection;

use super::exit;
use crate::archive;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The archive file. Default: OMEGA_SYNC_DB, else omega.db in the platform data directory.
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,

    /// How many recent runs to show.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub runs: u32,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let path = args.db.unwrap_or_else(archive::default_path);
    outln!("archive: {}", path.display());
    let connection = archive::open_read_only(&path)?;
    print_runs(&connection, args.runs)?;
    print_states(&connection)?;
    print_counts(&connection)?;
    Ok(exit::SUCCESS)
}

fn print_runs(connection: &Connection, limit: u32) -> anyhow::Result<()> {
    let mut statement = connection.prepare(
        "SELECT id, started_at, coalesce(finished_at, '-'), status, mode, requests, retries, coalesce(error, '')
         FROM sync_runs ORDER BY id DESC LIMIT ?1",
    )?;
    let runs = statement
        .query_map([limit], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, String>(4)?,
                row.get::<_, i64>(5)?,
                row.get::<_, i64>(6)?,
                row.get::<_, String>(7)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    outln!("\nlast runs:");
    if runs.is_empty() {
        outln!("  none yet");
    }
    for (id, started, finished, status, mode, requests, retries, error) in runs {
        outln!("  #{id:<5} {started}  {finished}  {status:<10} {mode:<11} {requests:>6} requests {retries:>4} retries");
        if !error.is_empty() {
            outln!("         error: {error}");
        }
        print_resources(connection, id)?;
    }
    Ok(())
}

fn print_resources(connection: &Connection, run_id: i64) -> anyhow::Result<()> {
    let mut statement = connection.prepare_cached(
        "SELECT resource, status, items, inserted, updated, unchanged, coalesce(error, '')
         FROM sync_run_resources WHERE run_id = ?1 AND status <> 'succeeded' ORDER BY resource",
    )?;
    let rows = statement.query_map([run_id], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, i64>(2)?, row.get::<_, String>(6)?))
    })?;
    for row in rows {
        let (resource, status, items, error) = row?;
        if error.is_empty() {
            outln!("         {resource}: {status} after {items} items");
        } else {
            outln!("         {resource}: {status} after {items} items: {error}");
        }
    }
    Ok(())
}

/// Prints each resource's last full and incremental listing and its high-water mark.
fn print_states(connection: &Connection) -> anyhow::Result<()> {
    let mut statement = connection.prepare(
        "SELECT account_id, resource, coalesce(last_full_at, 'never'), coalesce(last_incremental_at, 'never'),
                coalesce(high_water, '-')
         FROM sync_state ORDER BY account_id, resource",
    )?;
    let rows = statement
        .query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, String>(4)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    outln!("\nresources:                 last full listing          last incremental listing   high-water mark");
    if rows.is_empty() {
        outln!("  none listed yet");
    }
    let mut account = String::new();
    for (account_id, resource, full, incremental, mark) in rows {
        if account_id != account {
            outln!("  account {account_id}");
            account = account_id;
        }
        outln!("    {resource:<22} {full:<26} {incremental:<26} {mark}");
    }
    Ok(())
}

fn print_counts(connection: &Connection) -> anyhow::Result<()> {
    outln!("\nrows:");
    for (table, count) in archive::table_counts(connection)? {
        outln!("  {table:<20} {count:>8}");
    }
    Ok(())
}
