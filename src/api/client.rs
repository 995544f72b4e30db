//! The HTTP client: one pooled `reqwest::Client`, a limit on requests in flight, and the retry
//! loop.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, Url};
use serde_json::Value;
use tokio::sync::Semaphore;

use super::error::{ApiError, message_from_body, shorten};
use super::retry::{RetryPolicy, parse_retry_after};
use super::secret::ApiKey;

/// Connection settings and limits of the client.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub base_url: Url,
    pub api_key: ApiKey,
    pub connect_timeout: Duration,
    /// The limit on one attempt, from sending the request to the last byte of the body.
    pub request_timeout: Duration,
    /// Larger bodies fail with [`ApiError::TooLarge`] instead of filling memory.
    pub max_response_bytes: u64,
    /// Requests in flight at once, over all resources.
    pub concurrency: usize,
    pub retry: RetryPolicy,
    /// Extra trusted certificate authorities (a corporate proxy's), on top of the system's.
    /// Certificate verification itself cannot be turned off.
    pub extra_roots: Vec<reqwest::Certificate>,
}

impl ClientConfig {
    /// Returns a configuration with the documented defaults for everything but the URL and key.
    pub fn new(base_url: Url, api_key: ApiKey) -> ClientConfig {
        ClientConfig {
            base_url,
            api_key,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            max_response_bytes: 32 * 1024 * 1024,
            concurrency: 8,
            retry: RetryPolicy::default(),
            extra_roots: Vec::new(),
        }
    }
}

/// Checks a base URL: `https://` anywhere, `http://` only to a loopback host, because the API
/// key would otherwise cross the network in clear text.
pub fn validate_base_url(text: &str) -> anyhow::Result<Url> {
    let url = Url::parse(text.trim())
        .with_context(|| format!("invalid API URL {text:?}; expected something like https://api.example.com"))?;
    if url.host_str().is_none() {
        bail!("invalid API URL {text:?}: it names no host");
    }
    if !url.username().is_empty() || url.password().is_some() {
        bail!("invalid API URL: it contains a user name or password; the API key goes in OMEGA_API_KEY instead");
    }
    if url.query().is_some() || url.fragment().is_some() {
        bail!("invalid API URL {text:?}: remove the query string or fragment; give only scheme, host, port and path");
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback_host(&url) => Ok(url),
        "http" => bail!(
            "plain http:// to {} is not allowed because the API key would travel unencrypted; use https:// \
             (http:// is accepted only for loopback addresses such as 127.0.0.1)",
            url.host_str().unwrap_or_default()
        ),
        other => bail!("invalid API URL {text:?}: scheme {other:?} is not supported; use https://"),
    }
}

fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => {
            name.eq_ignore_ascii_case("localhost") || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
        }
        None => false,
    }
}

/// Counters over every request the client made, retries included.
#[derive(Debug, Default)]
pub struct RequestStats {
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    pub rate_limited: AtomicU64,
    /// The latest end (Unix seconds) of a rate-limit wait the client gave up on because it was
    /// longer than it may sleep; 0 when there was none.
    pub blocked_until: AtomicU64,
}

/// A successful response with a JSON body. A 304 Not Modified, which only a conditional
/// request can receive, has the body `null`.
#[derive(Debug)]
pub struct JsonResponse {
    pub status: u16,
    pub body: Value,
    pub headers: HeaderMap,
}

impl JsonResponse {
    pub fn not_modified(&self) -> bool {
        self.status == 304
    }

    /// Returns the response's validators, if it sent any.
    pub fn validators(&self) -> Option<Validators> {
        let header =
            |name| self.headers.get(name).and_then(|value: &HeaderValue| value.to_str().ok()).map(str::to_string);
        let validators = Validators { etag: header(header::ETAG), last_modified: header(header::LAST_MODIFIED) };
        (validators.etag.is_some() || validators.last_modified.is_some()).then_some(validators)
    }
}

/// The validators of an earlier response, sent back to ask for the body only if it changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

impl Validators {
    /// Returns the conditional request headers: `If-None-Match` takes precedence over
    /// `If-Modified-Since` at the server (RFC 9110, section 13.2.2), but both are sent.
    pub fn request_headers(&self) -> Vec<(&'static str, &str)> {
        let mut headers = Vec::new();
        if let Some(etag) = &self.etag {
            headers.push(("if-none-match", etag.as_str()));
        }
        if let Some(date) = &self.last_modified {
            headers.push(("if-modified-since", date.as_str()));
        }
        headers
    }
}

/// The Omega API client. Cloning is cheap and shares the connection pool, the limit on
/// requests in flight and the counters.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base_url: Url,
    api_key: ApiKey,
    max_response_bytes: u64,
    retry: RetryPolicy,
    in_flight: Arc<Semaphore>,
    /// The current concurrency; lowered by one on each 429, never below one.
    concurrency: Arc<AtomicUsize>,
    stats: Arc<RequestStats>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.base_url.as_str())
            .field("api_key", &self.api_key)
            .finish_non_exhaustive()
    }
}

impl Client {
    pub fn new(config: ClientConfig) -> anyhow::Result<Client> {
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("omega-sync/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_keepalive(Duration::from_secs(30))
            .https_only(!is_loopback_host(&config.base_url));
        if !config.extra_roots.is_empty() {
            builder = builder.tls_certs_merge(config.extra_roots.clone());
        }
        if is_loopback_host(&config.base_url) {
            // A proxy from HTTPS_PROXY must not see requests meant for this machine.
            builder = builder.no_proxy();
        }
        let http = builder.build().context("failed to build the HTTP client")?;
        let concurrency = config.concurrency.max(1);
        Ok(Client {
            http,
            base_url: config.base_url,
            api_key: config.api_key,
            max_response_bytes: config.max_response_bytes,
            retry: config.retry,
            in_flight: Arc::new(Semaphore::new(concurrency)),
            concurrency: Arc::new(AtomicUsize::new(concurrency)),
            stats: Arc::new(RequestStats::default()),
        })
    }

    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    pub fn stats(&self) -> &RequestStats {
        &self.stats
    }

    /// Returns the number of requests allowed in flight now.
    pub fn concurrency(&self) -> usize {
        self.concurrency.load(Ordering::Relaxed)
    }

    /// Returns the longest `Retry-After` the client sleeps through.
    pub fn max_retry_wait(&self) -> Duration {
        self.retry.max_retry_after
    }

    /// Sends `GET path?query` and decodes the JSON body, retrying transient failures.
    /// `path` must already be encoded (see [`super::path::segment`]).
    pub async fn get_json(&self, path: &str, query: &[(&str, String)]) -> Result<JsonResponse, ApiError> {
        self.request_json(Method::GET, path, query, None, &[]).await
    }

    /// Sends a request once, with no retry, for requests whose repetition must be decided by
    /// the caller (edits pushed to the API). A 429 carries the server's requested wait.
    pub async fn request_once(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        extra_headers: &[(&str, &str)],
    ) -> Result<JsonResponse, ApiError> {
        let target = describe_target(path, &[]);
        let url = self.url(path, &[], &method, &target)?;
        self.attempt(&method, &url, &target, body, extra_headers).await.map_err(|failure| failure.error)
    }

    /// Sends a request with an optional JSON body and extra headers, and decodes the JSON
    /// response, retrying transient failures.
    pub async fn request_json(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        extra_headers: &[(&str, &str)],
    ) -> Result<JsonResponse, ApiError> {
        let target = describe_target(path, query);
        let url = self.url(path, query, &method, &target)?;
        let mut attempt = 1;
        loop {
            let result = self.attempt(&method, &url, &target, body, extra_headers).await;
            let error = match result {
                Ok(response) => return Ok(response),
                Err(failure) => failure,
            };
            let Some(delay) = self.retry_delay(&error, attempt) else {
                return Err(error.error);
            };
            self.stats.retries.fetch_add(1, Ordering::Relaxed);
            tracing::info!(
                attempt,
                max_attempts = self.retry.max_attempts,
                delay_ms = delay.as_millis() as u64,
                cause = %error.error,
                "retrying {method} {target}"
            );
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    fn url(&self, path: &str, query: &[(&str, String)], method: &Method, target: &str) -> Result<Url, ApiError> {
        let base = self.base_url.as_str().trim_end_matches('/');
        let mut url = Url::parse(&format!("{base}{path}")).map_err(|error| ApiError::Malformed {
            method: method.to_string(),
            path: target.to_string(),
            detail: format!("cannot build a URL: {error}"),
        })?;
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (name, value) in query {
                pairs.append_pair(name, value);
            }
        }
        Ok(url)
    }

    /// Decides whether to try again after `failure` on attempt number `attempt`, and how long
    /// to wait first.
    fn retry_delay(&self, failure: &Failure, attempt: u32) -> Option<Duration> {
        if !failure.error.is_retryable() || attempt >= self.retry.max_attempts {
            return None;
        }
        match failure.retry_after {
            Some(wait) if wait > self.retry.max_retry_after => {
                let until = SystemTime::now() + wait;
                let seconds = until.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |since| since.as_secs());
                self.stats.blocked_until.fetch_max(seconds, Ordering::Relaxed);
                None
            }
            Some(wait) => Some(wait),
            None => Some(self.retry.backoff(attempt)),
        }
    }

    async fn attempt(
        &self,
        method: &Method,
        url: &Url,
        target: &str,
        body: Option<&Value>,
        extra_headers: &[(&str, &str)],
    ) -> Result<JsonResponse, Failure> {
        let _permit = self.in_flight.acquire().await.expect("the semaphore is never closed");
        self.stats.requests.fetch_add(1, Ordering::Relaxed);

        let mut request = self
            .http
            .request(method.clone(), url.clone())
            .header(header::AUTHORIZATION, self.authorization())
            .header(header::ACCEPT, "application/json");
        for (name, value) in extra_headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(body);
        }

        let transport = |error: reqwest::Error| Failure::from(transport_error(method, target, error));
        let response = request.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = self.read_body(response, method, target).await?;
        tracing::debug!(status, bytes = bytes.len(), "{method} {target}");

        if status == 429 {
            self.lower_concurrency();
            let retry_after = headers
                .get(header::RETRY_AFTER)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| parse_retry_after(value, SystemTime::now()));
            self.stats.rate_limited.fetch_add(1, Ordering::Relaxed);
            return Err(Failure {
                error: ApiError::RateLimited { method: method.to_string(), path: target.to_string(), retry_after },
                retry_after,
            });
        }
        if status == 304 {
            return Ok(JsonResponse { status, body: Value::Null, headers });
        }
        if !(200..300).contains(&status) {
            let message = self.redact(&message_from_body(&bytes));
            let message = if message.is_empty() { "no message".to_string() } else { message };
            return Err(
                ApiError::Status { method: method.to_string(), path: target.to_string(), status, message }.into()
            );
        }
        let body = decode_json(&headers, &bytes, method, target).map_err(|error| match error {
            ApiError::Malformed { method, path, detail } => {
                ApiError::Malformed { method, path, detail: self.redact(&detail) }
            }
            other => other,
        })?;
        Ok(JsonResponse { status, body, headers })
    }

    /// Removes the API key from text the server sent, in case an error page echoes the request.
    fn redact(&self, text: &str) -> String {
        text.replace(self.api_key.expose(), "[redacted]")
    }

    fn authorization(&self) -> HeaderValue {
        let mut value = HeaderValue::from_str(&format!("Bearer {}", self.api_key.expose()))
            .expect("ApiKey::new accepts only visible ASCII");
        value.set_sensitive(true);
        value
    }

    /// Reads the body chunk by chunk, failing as soon as it passes the size limit.
    async fn read_body(
        &self,
        mut response: reqwest::Response,
        method: &Method,
        target: &str,
    ) -> Result<Vec<u8>, Failure> {
        let too_large = || ApiError::TooLarge {
            method: method.to_string(),
            path: target.to_string(),
            limit: self.max_response_bytes,
        };
        if response.content_length().is_some_and(|length| length > self.max_response_bytes) {
            return Err(too_large().into());
        }
        let mut bytes = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if bytes.len() as u64 + chunk.len() as u64 > self.max_response_bytes {
                        return Err(too_large().into());
                    }
                    bytes.extend_from_slice(&chunk);
                }
                Ok(None) => return Ok(bytes),
                Err(error) => return Err(transport_error(method, target, error).into()),
            }
        }
    }

    fn lower_concurrency(&self) {
        let lowered = self
            .concurrency
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |current| (current > 1).then(|| current - 1));
        if let Ok(previous) = lowered {
            // `forget_permits` only removes free permits, and every permit may be in use, so a
            // task takes the next permit returned and never gives it back.
            let in_flight = self.in_flight.clone();
            tokio::spawn(async move {
                if let Ok(permit) = in_flight.acquire_owned().await {
                    permit.forget();
                }
            });
            tracing::info!(from = previous, to = previous - 1, "lowering concurrency after HTTP 429");
        }
    }
}

/// One failed attempt, with the server's requested wait if it gave one.
struct Failure {
    error: ApiError,
    retry_after: Option<Duration>,
}

impl From<ApiError> for Failure {
    fn from(error: ApiError) -> Self {
        Failure { error, retry_after: None }
    }
}

fn describe_target(path: &str, query: &[(&str, String)]) -> String {
    if query.is_empty() {
        return path.to_string();
    }
    let pairs: Vec<String> = query.iter().map(|(name, value)| format!("{name}={value}")).collect();
    format!("{path}?{}", pairs.join("&"))
}

fn transport_error(method: &Method, target: &str, error: reqwest::Error) -> ApiError {
    let timed_out = error.is_timeout();
    let maybe_received = !error.is_connect();
    let mut cause = if timed_out {
        "timed out".to_string()
    } else if error.is_connect() {
        "connection failed".to_string()
    } else if error.is_body() || error.is_decode() {
        "connection failed while reading the response body".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = std::error::Error::source(&error);
    while let Some(inner) = source {
        cause.push_str(": ");
        cause.push_str(&inner.to_string());
        source = inner.source();
    }
    if let Some(hint) = tls_hint(&cause) {
        // Another attempt meets the same server and the same certificate, so these are permanent.
        let (method, path, detail) = (method.to_string(), target.to_string(), format!("{cause}; {hint}"));
        // A failed handshake is a failed connect: the request was never written.
        return if error.is_connect() {
            ApiError::Tls { method, path, detail }
        } else {
            ApiError::Malformed { method, path, detail }
        };
    }
    ApiError::Transport { method: method.to_string(), path: target.to_string(), cause, timed_out, maybe_received }
}

/// Returns advice for the TLS failures whose fix lies with the user, found in the text of the
/// error chain.
fn tls_hint(cause: &str) -> Option<&'static str> {
    if cause.contains("InvalidContentType") || cause.contains("corrupt message") {
        // rustls reports plain HTTP where it expected a TLS record this way.
        return Some(
            "the server does not seem to speak TLS: use http:// for a loopback test server, https:// otherwise",
        );
    }
    if cause.contains("UnknownIssuer") {
        return Some(
            "the server's certificate is signed by a certificate authority that this machine does not trust; \
             if a proxy that inspects TLS or a private CA signs it, add that CA with --ca-cert FILE (PEM)",
        );
    }
    if cause.contains("invalid peer certificate") {
        // rustls 0.23 formats its Error::InvalidCertificate, for any rejected certificate, this way.
        return Some(
            "the server's certificate was rejected; check the host name in the API URL and the system clock, \
             and add a private CA with --ca-cert FILE (PEM)",
        );
    }
    None
}

fn decode_json(headers: &HeaderMap, bytes: &[u8], method: &Method, target: &str) -> Result<Value, ApiError> {
    let malformed =
        |detail: String| ApiError::Malformed { method: method.to_string(), path: target.to_string(), detail };
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if essence != "application/json" && !essence.ends_with("+json") {
        let shown = if content_type.is_empty() { "no Content-Type" } else { content_type };
        return Err(malformed(format!(
            "expected a JSON response but got {shown} ({}); a proxy or an API error page may be in the way",
            message_from_body(bytes)
        )));
    }
    serde_json::from_slice(bytes).map_err(|error| {
        if error.classify() == serde_json::error::Category::Eof {
            // A body cut short is usually a connection that broke, which another attempt can fix.
            return ApiError::Transport {
                method: method.to_string(),
                path: target.to_string(),
                cause: format!("invalid JSON: the body ends early ({error}); the response was cut short"),
                timed_out: false,
                maybe_received: true,
            };
        }
        let start = String::from_utf8_lossy(&bytes[..bytes.len().min(120)]).into_owned();
        malformed(format!("invalid JSON ({error}); the body starts with {:?}", shorten(&start, 120)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_accepted() {
        assert!(validate_base_url("https://api.example.com").is_ok());
    }

    #[test]
    fn http_to_loopback_accepted() {
        for url in ["http://127.0.0.1:8080", "http://[::1]:9000", "http://localhost:1", "http://127.1.2.3"] {
            assert!(validate_base_url(url).is_ok(), "{url}");
        }
    }

    #[test]
    fn http_to_remote_rejected() {
        let error = validate_base_url("http://api.example.com").unwrap_err().to_string();

        assert!(error.contains("plain http:// to api.example.com is not allowed"), "{error}");
        assert!(validate_base_url("http://10.0.0.1").is_err());
        assert!(validate_base_url("ftp://127.0.0.1").is_err());
        assert!(validate_base_url("not a url").is_err());
        assert!(validate_base_url("https://user:secret@api.example.com").is_err());
        assert!(validate_base_url("https://api.example.com/?x=1").is_err());
        assert!(validate_base_url("https://api.example.com/#top").is_err());
    }

    #[tokio::test]
    async fn rate_limit_lowers_busy_pool() {
        let url = Url::parse("http://127.0.0.1:9").unwrap();
        let mut config = ClientConfig::new(url, ApiKey::new("k").unwrap());
        config.concurrency = 2;
        let client = Client::new(config).unwrap();
        let held = client.in_flight.clone().acquire_many_owned(2).await.unwrap();

        client.lower_concurrency();
        drop(held);
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(20)).await;

        assert_eq!(client.concurrency(), 1);
        assert_eq!(client.in_flight.available_permits(), 1);
    }

    #[test]
    fn target_lists_query() {
        let query = [("page", "2".to_string()), ("per_page", "100".to_string())];

        assert_eq!(describe_target("/v1/services", &query), "/v1/services?page=2&per_page=100");
    }
}
