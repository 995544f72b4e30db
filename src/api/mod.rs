//! The Omega API client: authentication, retries with backoff, response size limits, and
//! errors that name the request and the API's own message.

mod client;
mod error;
pub mod path;
mod retry;
mod secret;

pub use client::{Client, ClientConfig, JsonResponse, RequestStats, Validators, validate_base_url};
pub use error::{ApiError, is_retryable_status, message_from_body, shorten};
pub use retry::{RetryPolicy, parse_retry_after};
pub use secret::{API_KEY_ENV, ApiKey};

/// The production API. Tests and the demo point the client at the fake API on loopback instead.
pub const DEFAULT_BASE_URL: &str = "https://api.omegadigitalhosting.com";

/// The environment variable that overrides the base URL.
pub const BASE_URL_ENV: &str = "OMEGA_API_URL";
