//! `omega-sync sync`: fetch the API into the archive.

use std::path::PathBuf;

use anyhow::anyhow;

use tokio_util::sync::CancellationToken;

use super::{ApiArgs, UsageError, exit, guard};
use crate::archive;
use crate::archive::RunStatus;
use crate::sync::{self as engine, Progress, SyncOptions, resources};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The archive file. Default: OMEGA_SYNC_DB, else omega.db in the platform data directory.
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,

    #[command(flatten)]
    pub api: ApiArgs,

    /// Sync only these resources (comma-separated). DNS records bring their domains along.
    #[arg(long, value_delimiter = ',', value_name = "RESOURCE,...")]
    pub only: Vec<String>,

    /// List every resource in full: every page, no validators, and deletions inferred for every
    /// resource whose listing proves complete.
    #[arg(long)]
    pub full: bool,

    /// List a resource in full when its last full listing is older than this (for example 24h,
    /// 90m, 7d); other runs are incremental.
    #[arg(long, env = "OMEGA_SYNC_FULL_EVERY", default_value = "24h", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub full_every: std::time::Duration,

    /// Items to request per page; the API may cap it lower.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1000), value_name = "N")]
    pub per_page: u32,

    /// Wait up to this many seconds for another sync or push on the same archive to finish,
    /// instead of exiting with code 75 at once.
    #[arg(long, default_value_t = 0, value_name = "SECONDS")]
    pub wait_lock: u64,
}

pub async fn run(args: Args, quiet: bool) -> anyhow::Result<u8> {
    let options = SyncOptions {
        resources: select(&args.only).map_err(UsageError)?,
        per_page: args.per_page,
        full: args.full,
        full_every: args.full_every,
    };
    let client = args.api.client()?;
    let path = args.db.unwrap_or_else(archive::default_path);
    let _lock = guard::lock(&path, "sync", args.wait_lock)?;
    let connection = archive::open(&path)?;
    if let Some(code) = guard::respect_backoff(&connection, &client).await? {
        return Ok(code);
    }
    let cancel = CancellationToken::new();
    let signals = guard::cancel_on_signal(cancel.clone());
    let mut report = engine::sync(client.clone(), connection, options, Progress::new(!quiet), cancel).await?;
    report_outcome(&report)?;
    if let Some(error) = report.unrecorded.take() {
        return Err(error);
    }
    guard::remember_backoff(&archive::open(&path)?, &client)?;
    if let Some(code) = guard::signal_code(signals).await {
        return Ok(code);
    }
    Ok(exit_code(&report))
}

/// Prints the summary line on stdout, and on stderr one error line per resource that was not
/// stored in full, so `-q` in cron still mails every failure.
pub fn report_outcome(report: &engine::SyncReport) -> anyhow::Result<()> {
    let at = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ");
    outln!("{at} {}", report.summary_line());
    for figures in &report.resources {
        if figures.status() == RunStatus::Succeeded {
            continue;
        }
        let message = figures.message().unwrap_or_default();
        tracing::error!("{} {}: {message}", figures.resource, figures.status().as_str());
    }
    Ok(())
}

pub fn exit_code(report: &engine::SyncReport) -> u8 {
    if report.key_rejected {
        return exit::USAGE;
    }
    match report.status {
        RunStatus::Succeeded => exit::SUCCESS,
        _ => exit::FAILURE,
    }
}

/// Resolves `--only` names; an empty list selects every resource.
fn select(only: &[String]) -> anyhow::Result<Vec<&'static resources::Resource>> {
    if only.is_empty() {
        return Ok(SyncOptions::default().resources);
    }
    let mut selected = Vec::new();
    for name in only {
        let name = name.trim();
        if name.is_empty() {
            continue;
        }
        if name == resources::ACCOUNT.name {
            // The account is fetched on every run; naming it adds nothing.
            continue;
        }
        let resource = resources::by_name(name).ok_or_else(|| {
            anyhow!("unknown resource {name:?} in --only; valid names: {}", resources::names().join(", "))
        })?;
        if !selected.iter().any(|r: &&resources::Resource| r.name == resource.name) {
            selected.push(resource);
        }
    }
    Ok(selected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unknown_name_lists_valid() {
        let error = select(&["servers".to_string()]).unwrap_err().to_string();

        assert!(error.contains("\"servers\""), "{error}");
        assert!(error.contains("dns-records"), "{error}");
    }

    #[test]
    fn only_empty_selects_all() {
        assert_eq!(select(&[]).unwrap().len(), resources::ALL.len() - 1);
    }
}
