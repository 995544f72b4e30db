//! Options shared by every command that talks to the API.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::UsageError;
use crate::api::{self, ApiKey, Client, ClientConfig};

#[derive(Debug, Clone, Args)]
pub struct ApiArgs {
    /// The API's base URL. http:// is accepted only for loopback addresses.
    #[arg(long, env = api::BASE_URL_ENV, default_value = api::DEFAULT_BASE_URL, value_name = "URL")]
    pub api_url: String,

    /// Read the API key from the first line of this file instead of OMEGA_API_KEY.
    #[arg(long, value_name = "PATH")]
    pub api_key_file: Option<PathBuf>,

    /// Requests in flight at once. A 429 from the API lowers it by one for the rest of the run.
    // The API documents no rate limit, so the default of 8 is an estimate of what one client may
    // ask: about 30 requests a second at 260 ms. The sync stays within 1.1x of
    // requests x latency / concurrency in the benchmark, so a higher value speeds far regions up
    // almost in proportion. The cap of 64 bounds the load of one run and the pages in memory.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64), value_name = "N")]
    pub concurrency: u16,

    /// Seconds to wait for a connection before the attempt fails.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600), value_name = "SECONDS")]
    pub connect_timeout: u64,

    /// Seconds one attempt may take, from sending the request to the last byte of the response.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600), value_name = "SECONDS")]
    pub timeout: u64,

    /// Attempts per request, the first included, before a transient failure is reported.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=20), value_name = "N")]
    pub max_attempts: u32,

    /// Trust the certificate authorities in this PEM file as well as the system's, for a
    /// corporate proxy that inspects TLS. Verification cannot be turned off.
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,

    /// Responses larger than this many bytes fail instead of filling memory.
    #[arg(long, default_value_t = 32 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(1024..), value_name = "BYTES")]
    pub max_response_bytes: u64,
}

impl ApiArgs {
    /// Builds the client, reading the key from the environment or the key file.
    pub fn client(&self) -> anyhow::Result<Client> {
        let base_url = api::validate_base_url(&self.api_url).map_err(UsageError)?;
        let api_key = ApiKey::load(self.api_key_file.as_deref()).map_err(UsageError)?;
        self.client_with_key(base_url, api_key)
    }

    /// Builds the client for a known URL and key (the demo's fake API).
    pub fn client_with_key(&self, base_url: reqwest::Url, api_key: ApiKey) -> anyhow::Result<Client> {
        let mut config = ClientConfig::new(base_url, api_key);
        config.concurrency = usize::from(self.concurrency);
        config.connect_timeout = Duration::from_secs(self.connect_timeout);
        config.request_timeout = Duration::from_secs(self.timeout);
        config.max_response_bytes = self.max_response_bytes;
        config.retry.max_attempts = self.max_attempts;
        if let Some(path) = &self.ca_cert {
            config.extra_roots = read_certificates(path).map_err(UsageError)?;
        }
        Client::new(config)
    }
}

/// Reads the certificates of a PEM file, rejecting a file that contains none.
fn read_certificates(path: &std::path::Path) -> anyhow::Result<Vec<reqwest::Certificate>> {
    use anyhow::Context;
    let pem =
        std::fs::read(path).with_context(|| format!("failed to read the CA file {} (--ca-cert)", path.display()))?;
    let certificates = reqwest::Certificate::from_pem_bundle(&pem)
        .with_context(|| format!("invalid CA file {} (--ca-cert): expected PEM certificates", path.display()))?;
    if certificates.is_empty() {
        anyhow::bail!(
            "the CA file {} (--ca-cert) contains no PEM certificate; give a file with BEGIN CERTIFICATE blocks",
            path.display()
        );
    }
    Ok(certificates)
}
