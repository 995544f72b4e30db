//! `omega-sync fake-api`: serve the fake Omega API by hand, for trying the tool without an
//! account.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};

use super::{UsageError, exit};
use crate::fake::{DataSize, FakeApi, FakeConfig};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The loopback address and port to listen on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:8089", value_name = "ADDR")]
    pub listen: SocketAddr,

    /// The generated data set: small, medium or large.
    #[arg(long, default_value = "small", value_name = "NAME")]
    pub size: String,

    /// Milliseconds to wait before each response, to imitate a distant region.
    #[arg(long, default_value_t = 0, value_name = "MS")]
    pub latency_ms: u64,

    /// The maximum number of items per page the server returns, whatever the client requests.
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub per_page_cap: u32,

    /// The seed of the generated data; the same seed gives the same data.
    #[arg(long, default_value_t = 42, value_name = "N")]
    pub seed: u64,
}

pub async fn run(args: Args) -> anyhow::Result<u8> {
    if !args.listen.ip().is_loopback() {
        return Err(UsageError(anyhow::anyhow!(
            "cannot listen on {}: the fake API serves loopback addresses only (127.0.0.1 or [::1])",
            args.listen
        ))
        .into());
    }
    let Some(size) = DataSize::from_preset(&args.size) else {
        bail!(UsageError(anyhow::anyhow!("unknown --size {:?}; use small, medium or large", args.size)));
    };
    let config = FakeConfig {
        size,
        latency: Duration::from_millis(args.latency_ms),
        per_page_cap: args.per_page_cap,
        seed: args.seed,
        ..FakeConfig::default()
    };
    let key = config.api_key.clone();
    let fake =
        FakeApi::start(config, args.listen).await.with_context(|| format!("failed to listen on {}", args.listen))?;
    outln!("fake Omega API listening on {}", fake.base_url());
    outln!("try: OMEGA_API_KEY={key} omega-sync sync --api-url {} --db fake.db", fake.base_url());
    outln!("press Ctrl-C to stop");
    tokio::signal::ctrl_c().await.context("failed to wait for Ctrl-C")?;
    fake.shutdown().await;
    Ok(exit::SUCCESS)
}
