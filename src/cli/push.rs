//! `omega-sync push`: apply queued edits to the API.

use std::path::PathBuf;
use std::time::Duration;

use super::{ApiArgs, exit};
use crate::archive;
use crate::push::{self, PushOptions, Result as EditResult};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The archive file. Default: OMEGA_SYNC_DB, else omega.db in the platform data directory.
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,

    #[command(flatten)]
    pub api: ApiArgs,

    /// Print each edit and the request it would send, and send nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Send account updates even when the account changed since they were queued.
    #[arg(long)]
    pub force: bool,

    /// Allow confirmed `service.destroy` edits to be sent. Destroying is permanent.
    #[arg(long)]
    pub allow_destroy: bool,

    /// After a reboot, poll its job until it ends.
    #[arg(long)]
    pub wait: bool,

    /// Wait up to this many seconds for another sync or push on the same archive to finish,
    /// instead of exiting with code 75 at once.
    #[arg(long, default_value_t = 0, value_name = "SECONDS")]
    pub wait_lock: u64,

    /// The longest `--wait` polls one job.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub wait_limit: Duration,
}

pub async fn run(args: Args) -> anyhow::Result<u8> {
    let path = args.db.unwrap_or_else(archive::default_path);
    let options = PushOptions {
        dry_run: args.dry_run,
        force: args.force,
        allow_destroy: args.allow_destroy,
        wait: args.wait,
        wait_limit: args.wait_limit,
    };
    let client = args.api.client()?;
    let _lock = super::guard::lock(&path, "push", args.wait_lock)?;
    let mut connection = archive::open(&path)?;
    if !args.dry_run
        && let Some(code) = super::guard::respect_backoff(&connection, &client).await?
    {
        return Ok(code);
    }
    let report = push::push(&client, &mut connection, &options).await;
    super::guard::remember_backoff(&connection, &client)?;
    let report = report?;
    if report.nothing_to_do() {
        outln!("nothing to push");
        return Ok(exit::NOTHING_TO_DO);
    }
    for (edit, result) in &report.edits {
        let target = edit.target.as_deref().map(|target| format!(" {target}")).unwrap_or_default();
        let head = format!("#{} {}{target}", edit.id, edit.kind_name);
        match result {
            EditResult::Planned(lines) => {
                outln!("{head}:");
                for line in lines {
                    outln!("    {line}");
                }
            }
            EditResult::Done(remote) => {
                outln!("{head}: done{}", remote.as_deref().map(|id| format!(" ({id})")).unwrap_or_default())
            }
            EditResult::Pending(reason) => outln!("{head}: pending: {reason}"),
            EditResult::Failed(reason) => {
                outln!("{head}: failed: {reason}");
                tracing::error!("edit #{} failed: {reason}", edit.id);
            }
            EditResult::Conflict(reason) => {
                outln!("{head}: conflict: {reason}");
                tracing::error!("edit #{} is in conflict: {reason}", edit.id);
            }
            EditResult::Unknown(reason) => {
                outln!("{head}: outcome unknown: {reason}");
                tracing::error!("edit #{}: outcome unknown: {reason}", edit.id);
            }
        }
    }
    if args.dry_run {
        outln!("dry run: nothing was sent");
        return Ok(exit::SUCCESS);
    }
    Ok(if report.all_applied() { exit::SUCCESS } else { exit::FAILURE })
}
