//! `omega-sync query`: ad hoc read-only SQL against the archive.

use std::path::PathBuf;

use super::exit;
use super::output_args::OutputArgs;
use crate::archive;
use crate::report;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// One SQL statement that only reads (SELECT, WITH or EXPLAIN).
    pub sql: String,

    /// The archive file. Default: OMEGA_SYNC_DB, else omega.db in the platform data directory.
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,

    #[command(flatten)]
    pub output: OutputArgs,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let options = args.output.options()?;
    let path = args.db.unwrap_or_else(archive::default_path);
    let connection = archive::open_read_only(&path)?;
    args.output.write(|out| report::run_query(&connection, &args.sql, options, out))?;
    Ok(exit::SUCCESS)
}
