//! The route table, response compression, the JSON error format and the extractors shared by
//! the handlers.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap, StatusCode, Version};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};
use tower_http::compression::predicate::DefaultPredicate;
use tower_http::compression::{CompressionLayer, Predicate};

use super::handlers;
use super::pipeline;
use super::state::Shared;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/account", get(handlers::show_account).put(handlers::update_account))
        .route("/v1/account/ssh-keys", get(handlers::list_ssh_keys).post(handlers::create_ssh_key))
        .route("/v1/services", get(handlers::list_services))
        .route("/v1/services/{id}", get(handlers::show_service).delete(handlers::destroy_service))
        .route("/v1/services/{id}/reboot", post(handlers::reboot_service))
        .route("/v1/jobs/{id}", get(handlers::show_job))
        .route("/v1/billing/invoices", get(handlers::list_invoices))
        .route("/v1/billing/invoices/{id}/pdf", get(handlers::invoice_pdf))
        .route("/v1/billing/payment-methods", get(handlers::list_payment_methods))
        .route("/v1/domains", get(handlers::list_domains))
        .route("/v1/domains/{name}/records", get(handlers::list_records).post(handlers::create_record))
        .route("/v1/tickets", get(handlers::list_tickets).post(handlers::create_ticket))
        .route("/_fake/scripted-changes", post(handlers::apply_scripted_changes))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(Arc::clone(&shared), pipeline::handle_request))
        .layer(compression())
        .with_state(shared)
}

/// A response extension that keeps the compression layer off a response whose bytes on the
/// wire matter, such as a fault's exact `Content-Length`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SkipCompression;

/// Builds the layer that compresses responses with gzip when the request sends
/// `Accept-Encoding: gzip`. tower-http 0.6's default predicate leaves out bodies under 32 bytes,
/// gRPC, images and event streams, and responses marked with [`SkipCompression`] stay as they are.
fn compression() -> CompressionLayer<impl Predicate> {
    let unmarked = |_: StatusCode, _: Version, _: &HeaderMap, extensions: &Extensions| {
        extensions.get::<SkipCompression>().is_none()
    };
    // Turning the others off keeps gzip the only encoding even if another crate in the build
    // enables more of tower-http's compression features.
    CompressionLayer::new()
        .gzip(true)
        .no_deflate()
        .no_br()
        .no_zstd()
        .compress_when(DefaultPredicate::new().and(unmarked))
}

async fn not_found(parts: Parts) -> ApiError {
    ApiError::not_found(format!("No endpoint matches {} {}", parts.method, parts.uri.path()))
}

async fn method_not_allowed(parts: Parts) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} is not allowed on {}", parts.method, parts.uri.path()),
    )
}

/// An error in the API's format: a status and `{"error": code, "message": sentence}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into() }
    }

    pub(crate) fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub(crate) fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub(crate) fn validation(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", message)
    }

    pub(crate) fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "conflict", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(json!({ "error": self.code, "message": self.message }))).into_response()
    }
}

/// A single percent-decoded path parameter, with a JSON error when decoding fails.
pub(crate) struct PathParam(pub(crate) String);

impl<S: Send + Sync> FromRequestParts<S> for PathParam {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<PathParam, ApiError> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(PathParam(value)),
            Err(rejection) => Err(ApiError::bad_request("invalid_path", rejection.body_text())),
        }
    }
}

/// Parses a request body as a JSON object. An empty body counts as `{}`.
pub(crate) fn json_object(body: &Bytes) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(ApiError::validation("The request body must be a JSON object")),
        Err(error) => {
            Err(ApiError::bad_request("invalid_json", format!("The request body is not valid JSON: {error}")))
        }
    }
}
