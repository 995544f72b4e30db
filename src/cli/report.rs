//! `omega-sync report`: list and run the SQL reports.

use std::path::PathBuf;

use anyhow::anyhow;
use clap::Subcommand;

use super::output_args::OutputArgs;
use super::{UsageError, exit};
use crate::archive;
use crate::report::{self, catalog};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A folder of your own `.sql` reports, added to the built-in ones; a file named like a
    /// built-in report replaces it.
    #[arg(long, env = "OMEGA_SYNC_QUERIES", global = true, value_name = "DIR")]
    pub queries: Option<PathBuf>,

    #[command(subcommand)]
    pub command: ReportCommand,
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// List every report with its title and parameters.
    List,
    /// Run a report against the archive.
    Run(RunArgs),
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The report's name, as `report list` shows it.
    pub name: String,

    /// A parameter value, as KEY=VALUE; repeat for several.
    #[arg(long = "param", short, value_name = "KEY=VALUE")]
    pub params: Vec<String>,

    /// The archive file. Default: OMEGA_SYNC_DB, else omega.db in the platform data directory.
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,

    #[command(flatten)]
    pub output: OutputArgs,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let reports = catalog::load(args.queries.as_deref()).map_err(UsageError)?;
    match args.command {
        ReportCommand::List => {
            for report in reports.values() {
                outln!("{:<28} {}", report.name, report.title);
                outln!("{:<28} {}", "", report.description);
                for param in &report.params {
                    outln!("{:<28}   --param {}=<{}>  {}", "", param.name, param.kind.as_str(), param.description);
                }
                if report.origin != "built-in" {
                    outln!("{:<28}   from {}", "", report.origin);
                }
            }
            Ok(exit::SUCCESS)
        }
        ReportCommand::Run(run) => {
            let Some(report) = reports.get(&run.name) else {
                let names: Vec<&str> = reports.keys().map(String::as_str).collect();
                return Err(UsageError(anyhow!(
                    "unknown report {:?}; available reports: {}",
                    run.name,
                    names.join(", ")
                ))
                .into());
            };
            let given =
                run.params.iter().map(|text| report::parse_assignment(text)).collect::<anyhow::Result<Vec<_>>>();
            let values = report::bind_values(report, &given.map_err(UsageError)?).map_err(UsageError)?;
            let options = run.output.options()?;
            let path = run.db.unwrap_or_else(archive::default_path);
            let connection = archive::open_read_only(&path)?;
            let rows = run.output.write(|out| report::run_report(&connection, report, &values, options, out))?;
            tracing::info!(rows, "report {} written", report.name);
            Ok(exit::SUCCESS)
        }
    }
}
