//! Options shared by the commands that write query results.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use clap::Args;

use super::UsageError;
use crate::report::{self, Format, FormatOptions};

#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    /// The output format. Default: table on a terminal, csv otherwise (pipes, files, cron).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<Format>,

    /// Write to this file instead of stdout. It is replaced only when the whole output was
    /// written, so a failure leaves the previous file in place.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// CSV for spreadsheets: a UTF-8 byte order mark, CRLF line ends, and text cells that
    /// would run as formulas prefixed with an apostrophe. Implies --format csv.
    #[arg(long)]
    pub excel: bool,
}

impl OutputArgs {
    pub fn options(&self) -> anyhow::Result<FormatOptions> {
        let format = match (self.format, self.excel) {
            (Some(Format::Csv) | None, true) => Format::Csv,
            (Some(other), true) => {
                return Err(UsageError(anyhow::anyhow!(
                    "--excel applies to CSV only, not --format {}; drop one of them",
                    format_name(other)
                ))
                .into());
            }
            (Some(format), false) => format,
            (None, false) if self.output.is_none() && std::io::stdout().is_terminal() => Format::Table,
            (None, false) => Format::Csv,
        };
        Ok(FormatOptions { format, excel: self.excel })
    }

    /// Runs `write` against the output file (atomically) or stdout.
    pub fn write<T>(&self, write: impl FnOnce(&mut dyn Write) -> anyhow::Result<T>) -> anyhow::Result<T> {
        match &self.output {
            Some(path) => report::write_atomically(path, write),
            None => {
                let stdout = std::io::stdout();
                let mut out = std::io::BufWriter::new(stdout.lock());
                let result = write(&mut out)?;
                out.flush()?;
                Ok(result)
            }
        }
    }
}

fn format_name(format: Format) -> &'static str {
    match format {
        Format::Table => "table",
        Format::Csv => "csv",
        Format::Json => "json",
        Format::Ndjson => "ndjson",
    }
}
