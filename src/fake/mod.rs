//! An in-process imitation of the Omega Digital Hosting REST API, for tests, the `demo`
//! command and the `fake-api` command.
//!
//! [`FakeApi::start`] binds a loopback port and serves every endpoint of the published
//! reference from a [`World`]: the reference's example objects, field for field, plus
//! deterministic generated data sized by [`DataSize`]. Tests change the data between requests
//! with [`FakeApi::with_world`], or in the middle of a client's request sequence with
//! [`FakeApi::after_request`], which changes the world after a given GET has its response. Tests
//! inject failures with [`Fault`] and read every request back with [`FakeApi::requests`].
//!
//! Where the reference is silent, the fake follows the project's reading of it:
//!
//! - Every `data` list pages with `page` and `per_page` and returns `meta {page, perPage,
//!   total}`. The server caps `per_page` (100 by default). SSH keys and DNS records come whole
//!   under `keys` and `records`.
//! - Errors are a non-2xx status with `{"error": code, "message": sentence}`.
//! - Invoices carry `lineItems` and come most recent `issuedAt` first. Tickets come by
//!   `updatedAt`, newest first, with ties in `id` order.
//! - `GET /v1/jobs/{id}` advances a reboot job one state per poll, up to `succeeded`.
//! - `GET /v1/billing/invoices/{id}/pdf` returns `application/pdf`.
//! - POST, PUT, PATCH and DELETE requests with an `Idempotency-Key` header run once per key, and
//!   a repeat gets the stored response.
//! - `GET /v1/account`, `/v1/account/ssh-keys`, `/v1/domains/{name}/records` and
//!   `/v1/services/{id}` send a strong `ETag`, the quoted SHA-256 hex digest of the body, and
//!   respond to a matching `If-None-Match` (weak comparison, `*` and lists accepted) with 304.
//!   `GET /v1/billing/payment-methods` sends `Last-Modified` instead: the wall-clock second when
//!   the body served for that path and query last changed, at least one second later than the
//!   previous date. `If-Modified-Since` at or after it gets 304. A 304 has an empty body and the
//!   validator header. Faults fire first, a damaged response gets no validator, and
//!   [`FakeApi::set_validators`] turns the feature off.
//! - Responses are gzip-compressed when the request sends `Accept-Encoding: gzip`, except bodies
//!   under 32 bytes, 304 responses and the bodies of the [`FaultKind::Oversize`] and
//!   [`FaultKind::DropConnection`] faults, whose exact bytes on the wire matter. The `ETag` is the
//!   digest of the uncompressed body either way.
//! - The server speaks plain HTTP unless [`FakeConfig::tls`] is set, and then HTTPS only, with
//!   ALPN offering `h2` and `http/1.1`. Each connection is served in the HTTP version the client
//!   starts with (HTTP/2 over plain HTTP needs prior knowledge), and
//!   [`RecordedRequest::version`] records which one each request used.
//!
//! Generated `pdfUrl` values point at the real API host, like the reference example, so a client
//! must build the PDF address from its own base URL instead of following `pdfUrl`.

mod conditional;
mod faults;
mod generate;
mod handlers;
mod paging;
mod pdf;
mod pipeline;
mod reference;
mod routes;
mod ssh;
mod state;
mod tls;
mod validate;
mod world;

#[cfg(test)]
mod tests;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use faults::{Fault, FaultKind};
pub use generate::DataSize;
pub use ssh::{fingerprint as ssh_fingerprint, sample_ed25519_public_key};
pub use world::{SERVICE_DETAIL_FIELDS, World};

use state::{AfterRequest, Shared, lock};

/// How long [`FakeApi::shutdown`] waits for open requests before it aborts the server.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Settings of a fake API server.
#[derive(Debug, Clone)]
pub struct FakeConfig {
    pub size: DataSize,
    /// The key that requests must send as `Authorization: Bearer <key>`.
    pub api_key: String,
    /// Maximum `per_page` the server honours. Larger requests get this many items.
    pub per_page_cap: u32,
    /// Delay before every response, to imitate a distant API.
    pub latency: Duration,
    /// Seed of the data generator.
    pub seed: u64,
    /// Allows binding an address outside the loopback range. The fake has no real security,
    /// so keep it off unless the network around the host is trusted.
    pub allow_non_loopback: bool,
    /// Serves HTTPS with this certificate instead of plain HTTP.
    pub tls: Option<FakeTls>,
}

impl Default for FakeConfig {
    fn default() -> FakeConfig {
        FakeConfig {
            size: DataSize::default(),
            api_key: "fake-key".to_owned(),
            per_page_cap: 100,
            latency: Duration::ZERO,
            seed: 42,
            allow_non_loopback: false,
            tls: None,
        }
    }
}

/// The certificate of a fake API that serves HTTPS.
#[derive(Clone)]
pub struct FakeTls {
    /// The server certificate, then any intermediate certificates, in PEM.
    pub cert_chain_pem: Vec<u8>,
    /// The private key of the server certificate in PEM: PKCS#8, SEC1 or PKCS#1.
    pub private_key_pem: Vec<u8>,
}

impl std::fmt::Debug for FakeTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeTls")
            .field("cert_chain_pem", &format_args!("{} bytes", self.cert_chain_pem.len()))
            .finish_non_exhaustive()
    }
}

/// One request as the fake received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    /// The HTTP version, such as `HTTP/1.1` or `HTTP/2.0`.
    pub version: String,
    /// The raw path, still percent-encoded, such as `/v1/domains/a%2Fb/records`.
    pub path: String,
    /// The raw query string without the `?`.
    pub query: Option<String>,
    /// The response status, or 0 while no response exists, such as when the client went away
    /// before the fake responded.
    pub status: u16,
    /// Every header except `Authorization`, in arrival order, with values decoded lossily.
    pub headers: Vec<(String, String)>,
    /// Whether the request carried `Authorization: Bearer <the configured key>`.
    pub authorized: bool,
    /// The request body, decoded lossily as UTF-8.
    pub body: String,
    /// The requests the fake was handling when this one arrived, itself included.
    pub in_flight: usize,
    /// The client's address and port: one per connection, so it shows connection reuse.
    pub peer: Option<SocketAddr>,
}

impl RecordedRequest {
    /// Returns the first value of a header, matching the name case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }
}

/// A running fake API server. Dropping it stops the server without waiting.
pub struct FakeApi {
    shared: Arc<Shared>,
    addr: SocketAddr,
    /// Whether the server speaks HTTPS.
    tls: bool,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<io::Result<()>>>,
}

impl FakeApi {
    /// Generates the world, binds `addr` (port 0 picks a free port) and serves on the current
    /// tokio runtime.
    ///
    /// Returns an `InvalidInput` error for an address outside the loopback range unless
    /// `config.allow_non_loopback` is set or for a certificate and key that rustls rejects, and
    /// the bind error if binding fails.
    pub async fn start(config: FakeConfig, addr: SocketAddr) -> io::Result<FakeApi> {
        if !config.allow_non_loopback && !is_loopback(addr) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "refusing to serve the fake API on {addr}: it listens only on loopback addresses \
                     (127.0.0.0/8, ::1) unless non-loopback binding is explicitly allowed"
                ),
            ));
        }

        let acceptor = config.tls.as_ref().map(tls::acceptor).transpose()?;
        let size = config.size.clone();
        let seed = config.seed;
        let world = tokio::task::spawn_blocking(move || World::generate(&size, seed))
            .await
            .map_err(|error| io::Error::other(format!("generating the fake data failed: {error}")))?;
        let shared = Arc::new(Shared::new(&config, world));

        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let app = routes::router(Arc::clone(&shared));
        let (shutdown, stopped) = oneshot::channel::<()>();
        let stop = async {
            // A dropped sender stops the server as well.
            let _ = stopped.await;
        };
        let tls = acceptor.is_some();
        let task = match acceptor {
            Some(acceptor) => tokio::spawn(tls::serve(listener, acceptor, app, stop)),
            None => tokio::spawn(async move {
                let app = app.into_make_service_with_connect_info::<SocketAddr>();
                axum::serve(listener, app).with_graceful_shutdown(stop).await
            }),
        };
        tracing::info!(%addr, tls, "fake API started");

        Ok(FakeApi { shared, addr, tls, shutdown: Some(shutdown), task: Some(task) })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Returns the base URL without a trailing slash, such as `http://127.0.0.1:41234`, or
    /// `https://127.0.0.1:41234` when the server speaks HTTPS.
    pub fn base_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    pub fn api_key(&self) -> &str {
        &self.shared.api_key
    }

    /// Adds a fault after the existing ones. The first fault that matches a request fires.
    pub fn add_fault(&self, fault: Fault) {
        lock(&self.shared.controls).faults.push(fault);
    }

    pub fn clear_faults(&self) {
        lock(&self.shared.controls).faults.clear();
    }

    /// Returns every request received since the start or the last [`FakeApi::clear_requests`],
    /// in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.log).entries.iter().map(|(_, request)| request.clone()).collect()
    }

    pub fn clear_requests(&self) {
        lock(&self.shared.log).entries.clear();
    }

    /// Forgets every stored `Idempotency-Key` response.
    pub fn clear_idempotency_keys(&self) {
        lock(&self.shared.idempotency).clear();
    }

    /// Runs `f` on the world while no request is being handled. Afterwards the server re-sorts
    /// invoices and tickets before serving them, and rebuilds its lookup indexes as needed.
    pub fn with_world<R>(&self, f: impl FnOnce(&mut World) -> R) -> R {
        let mut data = lock(&self.shared.data);
        data.mark_changed();
        f(&mut data.world)
    }

    /// Schedules `action` to run once, right after the first GET of the raw `path` (matched like
    /// [`Fault::path`]) and `page` (matched like [`Fault::page`]) that produces its response
    /// after this call, and before the server sends that response. That response contains the
    /// world from before the action, and every request sent after the client received it is
    /// served from the changed world.
    ///
    /// The action runs whatever the response is, a fault's response or a 401 included. Several
    /// actions that match one request run in the order they were added. As with
    /// [`FakeApi::with_world`], the server re-sorts invoices and tickets afterwards.
    pub fn after_request(
        &self,
        path: impl Into<String>,
        page: Option<u32>,
        action: impl FnOnce(&mut World) + Send + 'static,
    ) {
        let action = AfterRequest { path: path.into(), page, action: Box::new(action) };
        lock(&self.shared.controls).after_request.push(action);
    }

    /// Turns validators and conditional GET requests on or off. They start on. While off, no
    /// response carries `ETag` or `Last-Modified` and no request gets 304.
    pub fn set_validators(&self, enabled: bool) {
        lock(&self.shared.controls).validators = enabled;
    }

    pub fn set_latency(&self, latency: Duration) {
        lock(&self.shared.controls).latency = latency;
    }

    pub fn set_per_page_cap(&self, cap: u32) {
        lock(&self.shared.controls).per_page_cap = cap;
    }

    /// Stops accepting connections, waits up to 5 seconds for open requests, then aborts.
    pub async fn shutdown(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        let Some(mut task) = self.task.take() else {
            return;
        };
        match tokio::time::timeout(SHUTDOWN_GRACE, &mut task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(error))) => tracing::warn!(%error, addr = %self.addr, "fake API server failed"),
            Ok(Err(error)) => tracing::warn!(%error, addr = %self.addr, "fake API server task failed"),
            Err(_) => {
                tracing::warn!(addr = %self.addr, "fake API requests still open after 5 s; aborting the server");
                task.abort();
            }
        }
        tracing::info!(addr = %self.addr, "fake API stopped");
    }
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// Returns whether `addr` is a loopback address: 127.0.0.0/8, `::1` or `::ffff:127.x.x.x`.
pub fn is_loopback(addr: SocketAddr) -> bool {
    match addr.ip() {
        std::net::IpAddr::V4(ip) => ip.is_loopback(),
        std::net::IpAddr::V6(ip) => ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|ip| ip.is_loopback()),
    }
}
