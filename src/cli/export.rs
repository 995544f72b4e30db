//! `omega-sync export`: one CSV file per table and view, for spreadsheets.

use std::path::PathBuf;

use super::{UsageError, exit};
use crate::archive;
use crate::report::{self, Format, FormatOptions};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The folder to write `<table>.csv` files into; created if missing.
    #[arg(long, short, value_name = "DIR")]
    pub output: PathBuf,

    /// Export only these tables and views (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "NAME,...")]
    pub tables: Vec<String>,

    /// CSV for spreadsheets: a byte order mark, CRLF line ends, formulas neutralized.
    #[arg(long)]
    pub excel: bool,

    /// The archive file. Default: OMEGA_SYNC_DB, else omega.db in the platform data directory.
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let path = args.db.unwrap_or_else(archive::default_path);
    let connection = archive::open_read_only(&path)?;
    let available = report::exportable(&connection)?;
    if let Some(unknown) = args.tables.iter().find(|name| !available.contains(name)) {
        return Err(UsageError(anyhow::anyhow!(
            "unknown table or view {unknown:?} in --tables; valid names: {}",
            available.join(", ")
        ))
        .into());
    }
    let options = FormatOptions { format: Format::Csv, excel: args.excel };
    let written = report::export(&connection, &args.output, &args.tables, options)?;
    for (file, rows) in &written {
        tracing::info!(rows, "wrote {}", file.display());
    }
    outln!("exported {} files to {}", written.len(), args.output.display());
    Ok(exit::SUCCESS)
}
