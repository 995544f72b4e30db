//! `omega-sync demo`: the whole job on the built-in fake API, with nothing to configure.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use super::ApiArgs;
use super::sync::exit_code;
use crate::api::{ApiKey, validate_base_url};
use crate::archive;
use crate::fake::{FakeApi, FakeConfig};
use crate::sync::SyncOptions;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The demo archive file.
    #[arg(long, default_value = "omega-demo.db", value_name = "PATH")]
    pub db: PathBuf,

    #[command(flatten)]
    pub api: DemoApiArgs,
}

/// The client options of `sync`, minus the URL and key, which the demo sets itself.
#[derive(Debug, clap::Args)]
pub struct DemoApiArgs {
    /// Requests in flight at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64), value_name = "N")]
    pub concurrency: u16,
}

pub async fn run(args: Args, quiet: bool) -> anyhow::Result<u8> {
    let config = FakeConfig::default();
    let key = ApiKey::new(config.api_key.clone())?;
    let fake = FakeApi::start(config, SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await?;
    outln!("fake Omega API listening on {}", fake.base_url());

    let api = ApiArgs {
        api_url: fake.base_url(),
        api_key_file: None,
        concurrency: args.api.concurrency,
        connect_timeout: 10,
        timeout: 60,
        max_attempts: 5,
        max_response_bytes: 32 * 1024 * 1024,
        ca_cert: None,
    };
    let client = api.client_with_key(validate_base_url(&fake.base_url())?, key)?;
    let _lock = super::guard::lock(&args.db, "demo", 0)?;
    let connection = archive::open(&args.db)?;
    let progress = crate::sync::Progress::new(!quiet);
    let cancel = tokio_util::sync::CancellationToken::new();
    let mut report = crate::sync::sync(client, connection, SyncOptions::default(), progress, cancel).await?;
    fake.shutdown().await;
    super::sync::report_outcome(&report)?;
    if let Some(error) = report.unrecorded.take() {
        return Err(error);
    }

    let connection = archive::open_read_only(&args.db)?;
    outln!("\narchived into {}:", args.db.display());
    for (table, count) in archive::table_counts(&connection)? {
        outln!("  {table:<20} {count:>6}");
    }
    let db = shell_quote(&args.db.display().to_string());
    outln!("\ntry:");
    outln!(
        "  sqlite3 {db} 'select number, status, total_cents, currency from invoices order by issued_at desc limit 5'"
    );
    outln!(
        "  sqlite3 {db} 'select d.name, r.type, r.name, r.value, r.ttl from dns_records r join domains d on d.id = r.domain_id order by 1, 3'"
    );
    outln!("  sqlite3 {db} 'select label, region, tier, vcpu, ram_gb, status from services order by label'");
    Ok(exit_code(&report))
}

/// Quotes a path for a POSIX shell when it needs quoting.
fn shell_quote(text: &str) -> String {
    if text.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c)) {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}
