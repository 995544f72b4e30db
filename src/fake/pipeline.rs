//! The middleware that every request passes, unknown paths included. In order, it records the
//! request, sleeps for the configured latency, applies the first matching fault, checks the
//! bearer key, replays or remembers requests that carry an `Idempotency-Key` header, adds
//! validators or responds with 304, and finally runs the after-request actions that match a GET.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::conditional::{self, Preconditions};
use super::faults::{self, FaultAction, ListMode};
use super::paging::PageRequest;
use super::routes::ApiError;
use super::state::{IdempotencyEntry, RequestSignature, Shared, StoredResponse, lock};

/// Maximum request body size in bytes. Larger bodies get 413.
const MAX_REQUEST_BYTES: usize = 16 * 1024 * 1024;

const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// Header set on a response replayed for a repeated `Idempotency-Key`.
const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";

pub(crate) async fn handle_request(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let method = parts.method.clone();
    let path = parts.uri.path().to_owned();
    let authorized = is_authorized(&parts.headers, &shared.api_key);
    let (body, too_large) = match axum::body::to_bytes(body, MAX_REQUEST_BYTES).await {
        Ok(body) => (body, false),
        Err(_) => (Bytes::new(), true),
    };
    let in_flight = InFlight::enter(&shared);
    let sequence = shared.record_arrival(&parts, &body, authorized, in_flight.count);
    let page = PageRequest::page_of(parts.uri.query());

    let response = if too_large {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("The request body could not be read or exceeds {MAX_REQUEST_BYTES} bytes"),
        )
        .into_response()
    } else {
        process(&shared, parts, body, authorized, page, next).await
    };

    // Handlers serialize their bodies before they return, and fault bodies never read the
    // world, so this response still shows the world from before the actions.
    if method == Method::GET {
        shared.run_after_request_actions(&path, page);
    }
    shared.record_status(sequence, response.status());
    tracing::debug!(sequence, %method, %path, status = response.status().as_u16(), "fake API responded");
    response
}

async fn process(
    shared: &Shared,
    mut parts: Parts,
    body: Bytes,
    authorized: bool,
    page: Option<u32>,
    next: Next,
) -> Response {
    let latency = lock(&shared.controls).latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }

    let fault = shared.take_fault(parts.method.as_str(), parts.uri.path(), page);
    let mut list_mode = ListMode::Normal;
    let mut damage = None;
    let mut delay_response = None;
    if let Some(kind) = fault {
        tracing::debug!(method = %parts.method, path = parts.uri.path(), ?kind, "fake API fault fired");
        match kind.into_action() {
            FaultAction::Respond(response) => return response,
            FaultAction::Delay(delay) => tokio::time::sleep(delay).await,
            FaultAction::DelayResponse(delay) => delay_response = Some(delay),
            FaultAction::List(mode) => list_mode = mode,
            FaultAction::Damage(kind) => damage = Some(kind),
        }
    }

    if !authorized {
        return unauthorized(&parts.headers);
    }

    parts.extensions.insert(list_mode);
    let validators_enabled = lock(&shared.controls).validators;
    let preconditions = (validators_enabled && parts.method == Method::GET).then(|| Preconditions::from_parts(&parts));
    let key = idempotency_key(&parts);
    let signature = RequestSignature {
        method: parts.method.to_string(),
        target: parts.uri.path_and_query().map_or_else(String::new, ToString::to_string),
        body: body.clone(),
    };
    let request = Request::from_parts(parts, Body::from(body));
    let response = match key {
        Some(key) => run_idempotent(shared, key, signature, next.run(request)).await,
        None => next.run(request).await,
    };
    if let Some(delay) = delay_response {
        tokio::time::sleep(delay).await;
    }

    // A damaged response gets no validator, so a client never stores a tag or date for a body
    // that a fault changed.
    match (damage, preconditions) {
        (Some(kind), _) => faults::damage_response(kind, response).await,
        (None, Some(preconditions)) => conditional::apply_validator(shared, &preconditions, response).await,
        (None, None) => response,
    }
}

/// Returns whether the headers carry `Authorization: Bearer <key>`, with the scheme in any
/// letter case.
fn is_authorized(headers: &HeaderMap, api_key: &str) -> bool {
    let Some(value) = headers.get(AUTHORIZATION).and_then(|value| value.to_str().ok()) else {
        return false;
    };
    match value.split_once(' ') {
        Some((scheme, token)) => scheme.eq_ignore_ascii_case("bearer") && token.trim() == api_key,
        None => false,
    }
}

fn unauthorized(headers: &HeaderMap) -> Response {
    let message = if headers.contains_key(AUTHORIZATION) {
        "The API key is invalid. Send Authorization: Bearer <key> with a key from Account > API Keys."
    } else {
        "The Authorization header is missing. Send Authorization: Bearer <key>."
    };
    let mut response = ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message).into_response();
    response.headers_mut().insert("www-authenticate", HeaderValue::from_static("Bearer"));
    response
}

/// Returns the `Idempotency-Key` of a request whose method changes data.
fn idempotency_key(parts: &Parts) -> Option<String> {
    let changes_data = matches!(parts.method, Method::POST | Method::PUT | Method::PATCH | Method::DELETE);
    if !changes_data {
        return None;
    }
    let value = parts.headers.get(IDEMPOTENCY_KEY)?;
    Some(String::from_utf8_lossy(value.as_bytes()).into_owned())
}

/// Runs the handler once per key. A repeat with the same method, target and body gets the
/// stored response. A repeat that differs gets 422, and a repeat that arrives while the first
/// request is still running gets 409.
async fn run_idempotent(
    shared: &Shared,
    key: String,
    signature: RequestSignature,
    handler: impl Future<Output = Response>,
) -> Response {
    {
        let mut store = lock(&shared.idempotency);
        match store.get(&key) {
            Some(IdempotencyEntry::Done { signature: stored, response }) if *stored == signature => {
                return replay(response.clone());
            }
            Some(IdempotencyEntry::Done { .. }) => {
                return ApiError::validation(format!("Idempotency-Key {key} was already used for a different request"))
                    .into_response();
            }
            Some(IdempotencyEntry::InProgress) => {
                return ApiError::new(
                    StatusCode::CONFLICT,
                    "idempotency_key_in_use",
                    format!("A request with Idempotency-Key {key} is still being processed"),
                )
                .into_response();
            }
            None => {
                store.insert(key.clone(), IdempotencyEntry::InProgress);
            }
        }
    }

    let mut guard = InProgressGuard { shared, key: Some(key) };
    let response = handler.await;
    let (parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
    let stored = StoredResponse {
        status: parts.status,
        content_type: parts.headers.get(CONTENT_TYPE).cloned(),
        body: body.clone(),
    };
    if let Some(key) = guard.key.take() {
        lock(&shared.idempotency).insert(key, IdempotencyEntry::Done { signature, response: stored });
    }
    Response::from_parts(parts, Body::from(body))
}

fn replay(stored: StoredResponse) -> Response {
    let mut response = (stored.status, stored.body).into_response();
    if let Some(content_type) = stored.content_type {
        response.headers_mut().insert(CONTENT_TYPE, content_type);
    }
    response.headers_mut().insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    response
}

/// Counts a request as in flight from its arrival until its response is ready or the client
/// goes away.
struct InFlight<'a> {
    shared: &'a Shared,
    /// The requests in flight when this one arrived, itself included.
    count: usize,
}

impl InFlight<'_> {
    fn enter(shared: &Shared) -> InFlight<'_> {
        let count = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        InFlight { shared, count }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.shared.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Forgets an in-progress key if the handler never finishes, for example because the client
/// went away, so that a retry runs the handler again.
struct InProgressGuard<'a> {
    shared: &'a Shared,
    key: Option<String>,
}

impl Drop for InProgressGuard<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            lock(&self.shared.idempotency).remove(&key);
        }
    }
}
