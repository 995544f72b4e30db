//! The command-line layer: argument parsing, logging setup and exit codes. Each subcommand is a
//! module with its `Args` and a `run` that calls library code.

/// Writes a line to stdout like `println!`, but returns the error instead of panicking, so a
/// closed pipe (`omega-sync status | head`) ends the command quietly.
macro_rules! outln {
    ($($arg:tt)*) => {
        {
            use std::io::Write as _;
            writeln!(std::io::stdout().lock(), $($arg)*)?
        }
    };
}

mod api_args;
mod demo;
mod export;
mod fake_api;
mod guard;
mod output_args;
mod push;
mod query;
mod queue;
mod report;
mod status;
mod sync;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use tracing_subscriber::EnvFilter;

pub use api_args::ApiArgs;

/// Exit codes, decided here and nowhere else.
pub mod exit {
    /// Everything asked for was done.
    pub const SUCCESS: u8 = 0;
    /// The command ran but did not finish its job: a resource failed or was listed incompletely,
    /// or the archive could not be read or written.
    pub const FAILURE: u8 = 1;
    /// Bad usage or configuration: an unknown flag, a missing API key, an invalid URL.
    pub const USAGE: u8 = 2;
    /// `push` found no queued edit to apply.
    pub const NOTHING_TO_DO: u8 = 3;
    /// The API asked for a wait (HTTP 429) that has not ended; nothing was sent. The value is
    /// `EX_UNAVAILABLE` of sysexits.h.
    pub const RATE_LIMITED: u8 = 69;
    /// Another `sync` or `push` holds the archive's writer lock: a temporary failure, so the
    /// value is `EX_TEMPFAIL` of sysexits.h.
    pub const LOCKED: u8 = 75;
    /// Stopped by SIGINT (128 + 2), as shells report it.
    pub const INTERRUPTED: u8 = 130;
    /// Stopped by SIGTERM (128 + 15).
    pub const TERMINATED: u8 = 143;
}

/// An error in the user's input or settings, as opposed to a failure while running.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct UsageError(#[from] anyhow::Error);

/// Keeps a complete, queryable SQLite archive of an Omega Digital Hosting account.
#[derive(Debug, Parser)]
#[command(name = "omega-sync", version, about, max_term_width = 100)]
pub struct Cli {
    /// More log output: -v for progress events, -vv for debugging. RUST_LOG overrides both.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,

    /// Only errors, and the one summary line.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,

    /// The format of log lines on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Fetch every resource from the API into the archive.
    Sync(sync::Args),
    /// Show the archive's path, its last runs and its row counts.
    Status(status::Args),
    /// List and run the SQL reports.
    Report(report::Args),
    /// Run one read-only SQL statement against the archive.
    Query(query::Args),
    /// Write every table and view as a CSV file.
    Export(export::Args),
    /// Queue a local edit (DNS record, account update, SSH key, ticket, reboot, destroy).
    Queue(queue::Args),
    /// Apply queued edits to the API.
    Push(push::Args),
    /// Sync the built-in fake API into ./omega-demo.db and show what was archived.
    Demo(demo::Args),
    /// Serve the fake Omega API on a loopback address, for trying the tool by hand.
    FakeApi(fake_api::Args),
}

/// Parses the command line, runs the command and returns its exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(if error.use_stderr() { exit::USAGE } else { exit::SUCCESS });
        }
    };
    init_logging(&cli);

    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: failed to start the async runtime: {error}");
            return ExitCode::from(exit::FAILURE);
        }
    };
    let quiet = cli.quiet;
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Sync(args) => sync::run(args, quiet).await,
            Command::Status(args) => status::run(args),
            Command::Report(args) => report::run(args),
            Command::Query(args) => query::run(args),
            Command::Export(args) => export::run(args),
            Command::Queue(args) => queue::run(args),
            Command::Push(args) => push::run(args).await,
            Command::Demo(args) => demo::run(args, quiet).await,
            Command::FakeApi(args) => fake_api::run(args).await,
        }
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(error) if is_broken_pipe(&error) => {
            // The reader of stdout went away (`omega-sync report run ... | head`): not an error.
            ExitCode::from(exit::SUCCESS)
        }
        Err(error) => {
            print_error(&error);
            let code = if error.is::<UsageError>() {
                exit::USAGE
            } else if error.is::<crate::archive::lock::LockBusy>() {
                exit::LOCKED
            } else {
                exit::FAILURE
            };
            ExitCode::from(code)
        }
    }
}

fn storage_hint(error: &anyhow::Error) -> Option<&'static str> {
    use rusqlite::ErrorCode;
    let code = error.chain().find_map(|cause| cause.downcast_ref::<rusqlite::Error>()?.sqlite_error_code())?;
    match code {
        ErrorCode::DiskFull => {
            Some("the disk holding the archive is full; free some space and run again (committed pages are kept)")
        }
        ErrorCode::ReadOnly => {
            Some("the archive or its folder is read-only; check the permissions, or copy it somewhere writable")
        }
        ErrorCode::CannotOpen => {
            Some("the archive cannot be opened; check that its folder exists and is readable and writable")
        }
        ErrorCode::NotADatabase => {
            Some("the file is not a SQLite database; pass --db with the path of an omega-sync archive")
        }
        ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
            Some("another program holds a write lock on the archive; close it, or retry later")
        }
        _ => None,
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || cause.downcast_ref::<csv::Error>().is_some_and(
                |csv| matches!(csv.kind(), csv::ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::BrokenPipe),
            )
    })
}

/// Prints an error and its causes, one per line, the way cargo does, with a hint for the
/// storage errors an operator can fix.
fn print_error(error: &anyhow::Error) {
    eprintln!("error: {error}");
    if let Some(hint) = storage_hint(error) {
        eprintln!("hint: {hint}");
    }
    let causes: Vec<String> = error.chain().skip(1).map(ToString::to_string).collect();
    if !causes.is_empty() {
        eprintln!("\nCaused by:");
        for cause in causes {
            eprintln!("  {cause}");
        }
    }
}

fn init_logging(cli: &Cli) {
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, _) => "debug",
    };
    // Dependencies stay at warn unless RUST_LOG sets another level, because their debug output is noise here.
    let default = format!("warn,omega_sync={level}");
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // Colors only on a terminal: cron mail and log files must not receive escape codes.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(ansi);
    let _ = match cli.log_format {
        LogFormat::Text => builder.without_time().try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_valid() {
        Cli::command().debug_assert();
    }
}
