//! Injected failures: the faults a test requests ([`Fault`], [`FaultKind`]) and the responses
//! that imitate an overloaded API, a proxy in the way or a broken connection.
//!
//! Faults that replace the API's response ([`FaultKind::Status`], [`FaultKind::RateLimit`],
//! [`FaultKind::HtmlError`], [`FaultKind::Body`], [`FaultKind::Oversize`]) stop the request
//! before authentication, so the handler never runs. The others let the handler run, and so
//! change data, and then delay, reshape or damage its response: the request took effect but
//! the client may not see the result.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::{StreamExt as _, stream};
use serde_json::json;

use super::routes::SkipCompression;

/// Time between the partial body and the abort of a [`FaultKind::DropConnection`].
const DROP_CONNECTION_PAUSE: Duration = Duration::from_millis(50);

/// One injected failure: which requests it matches, what happens, and how often.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// HTTP method to match, compared case-insensitively. `None` matches every method.
    pub method: Option<String>,
    /// Raw request path to match exactly, still percent-encoded, such as `/v1/services`.
    pub path: String,
    /// The `page` query parameter to match, where a request without one counts as page 1.
    /// `None` matches every page.
    pub page: Option<u32>,
    pub kind: FaultKind,
    /// Number of matching requests the fault affects before it is removed. `None` means all.
    pub times: Option<u32>,
}

/// The failure a matching request gets instead of, or on top of, the normal response.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultKind {
    /// This status, body and `Content-Type`.
    Status { status: u16, body: String, content_type: String },
    /// 429 with this `Retry-After` value sent verbatim: seconds, an HTTP date or garbage.
    /// A value that is not a legal header value (a control character) is left out.
    RateLimit { retry_after: String },
    /// 200 with `application/json` and the first half of the normal body.
    MalformedJson,
    /// An HTML error page like nginx sends when the upstream fails.
    HtmlError { status: u16 },
    /// The normal status and body, with `Content-Type: text/plain`.
    WrongContentType,
    /// The normal headers with a `Content-Length` of the full body, then half of the body,
    /// then the server closes the connection (without TCP reset, which axum cannot request).
    /// Sent uncompressed even when the request accepts gzip.
    DropConnection,
    /// The normal response after this extra delay.
    Delay(Duration),
    /// The normal response, sent only after this delay, once the handler has run: the request
    /// takes effect although the client may give up waiting for its response.
    DelayResponse(Duration),
    /// List endpoints: every page returns the whole list, and `meta.total` is its length.
    IgnorePage,
    /// List endpoints: every page returns the items of page 1, with `meta.page` set to the
    /// page requested.
    RepeatFirstPage,
    /// List endpoints: the requested page's items without `meta`.
    NoMeta,
    /// Any raw body with this status and `Content-Type`.
    Body { status: u16, body: String, content_type: String },
    /// 200 with a syntactically valid JSON object of exactly this many bytes (at least 2),
    /// streamed in chunks with a `Content-Length`. Sent uncompressed even when the request
    /// accepts gzip.
    Oversize { bytes: usize },
}

impl Fault {
    /// Creates a fault that matches every request to `path`, every time.
    pub fn new(path: impl Into<String>, kind: FaultKind) -> Fault {
        Fault { method: None, path: path.into(), page: None, kind, times: None }
    }

    /// Creates a fault that returns `status` with a JSON error body such as
    /// `{"error":"service_unavailable","message":"Service Unavailable"}`.
    pub fn status(path: impl Into<String>, status: u16) -> Fault {
        Fault::new(path, FaultKind::json_error(status))
    }

    /// Creates a fault that returns 429 with the given `Retry-After` value.
    pub fn rate_limit(path: impl Into<String>, retry_after: impl Into<String>) -> Fault {
        Fault::new(path, FaultKind::RateLimit { retry_after: retry_after.into() })
    }

    pub fn with_method(mut self, method: impl Into<String>) -> Fault {
        self.method = Some(method.into());
        self
    }

    pub fn with_page(mut self, page: u32) -> Fault {
        self.page = Some(page);
        self
    }

    pub fn with_times(mut self, times: u32) -> Fault {
        self.times = Some(times);
        self
    }

    pub fn once(self) -> Fault {
        self.with_times(1)
    }

    pub(crate) fn matches(&self, method: &str, path: &str, page: Option<u32>) -> bool {
        let method_matches = self.method.as_ref().is_none_or(|wanted| wanted.eq_ignore_ascii_case(method));
        let page_matches = self.page.is_none() || self.page == page;
        method_matches && page_matches && self.path == path
    }
}

impl FaultKind {
    /// Returns a [`FaultKind::Status`] with a JSON body in the API's error format.
    pub fn json_error(status: u16) -> FaultKind {
        let code = StatusCode::from_u16(status).ok();
        let reason = code.and_then(|code| code.canonical_reason()).unwrap_or("Error");
        let body = json!({ "error": error_code(status, reason), "message": reason }).to_string();
        FaultKind::Status { status, body, content_type: "application/json".to_owned() }
    }
}

/// Returns the short error code for a status, in the `snake_case` style of `"unauthorized"`.
fn error_code(status: u16, reason: &str) -> String {
    let code = match status {
        422 => "validation_failed",
        429 => "rate_limited",
        500 => "internal_error",
        _ => return reason.to_ascii_lowercase().replace([' ', '-'], "_").replace('\'', ""),
    };
    code.to_owned()
}

/// List endpoints' response shape, chosen per request by a list fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum ListMode {
    #[default]
    Normal,
    IgnorePage,
    RepeatFirstPage,
    NoMeta,
}

/// Ways a fault damages a response that the handler produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Damage {
    MalformedJson,
    WrongContentType,
    DropConnection,
}

/// The request pipeline's handling of a fault.
pub(crate) enum FaultAction {
    /// Return this response without running the handler.
    Respond(Response),
    /// Wait, then handle the request normally.
    Delay(Duration),
    /// Handle the request, then wait before sending the response.
    DelayResponse(Duration),
    /// Handle the request with this list shape.
    List(ListMode),
    /// Handle the request, then damage its response.
    Damage(Damage),
}

impl FaultKind {
    pub(crate) fn into_action(self) -> FaultAction {
        match self {
            FaultKind::Status { status, body, content_type } | FaultKind::Body { status, body, content_type } => {
                FaultAction::Respond(raw_response(status, &content_type, body))
            }
            FaultKind::RateLimit { retry_after } => FaultAction::Respond(rate_limited(&retry_after)),
            FaultKind::HtmlError { status } => FaultAction::Respond(html_error(status)),
            FaultKind::Oversize { bytes } => FaultAction::Respond(oversize(bytes)),
            FaultKind::Delay(delay) => FaultAction::Delay(delay),
            FaultKind::DelayResponse(delay) => FaultAction::DelayResponse(delay),
            FaultKind::IgnorePage => FaultAction::List(ListMode::IgnorePage),
            FaultKind::RepeatFirstPage => FaultAction::List(ListMode::RepeatFirstPage),
            FaultKind::NoMeta => FaultAction::List(ListMode::NoMeta),
            FaultKind::MalformedJson => FaultAction::Damage(Damage::MalformedJson),
            FaultKind::WrongContentType => FaultAction::Damage(Damage::WrongContentType),
            FaultKind::DropConnection => FaultAction::Damage(Damage::DropConnection),
        }
    }
}

/// Converts a fault's status number, using 500 for a number outside 100..=999.
fn status_code(status: u16) -> StatusCode {
    StatusCode::from_u16(status).unwrap_or_else(|_| {
        tracing::warn!(status, "fault status is not a valid HTTP status; sending 500");
        StatusCode::INTERNAL_SERVER_ERROR
    })
}

fn raw_response(status: u16, content_type: &str, body: String) -> Response {
    let mut response = (status_code(status), body).into_response();
    match HeaderValue::from_str(content_type) {
        Ok(value) => {
            response.headers_mut().insert(CONTENT_TYPE, value);
        }
        Err(_) => {
            response.headers_mut().remove(CONTENT_TYPE);
        }
    }
    response
}

fn rate_limited(retry_after: &str) -> Response {
    let body = json!({
        "error": "rate_limited",
        "message": format!("Too many requests. Retry after {retry_after}.")
    });
    let mut response = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_bytes(retry_after.as_bytes()) {
        response.headers_mut().insert(RETRY_AFTER, value);
    }
    response
}

fn html_error(status: u16) -> Response {
    let code = status_code(status);
    let title = format!("{} {}", code.as_u16(), code.canonical_reason().unwrap_or("Error"));
    let page = format!(
        "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n\
         <hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    );
    raw_response(code.as_u16(), "text/html", page)
}

/// Streams `{"padding":"xxx…"}` padded to exactly `bytes` bytes, without holding it in memory.
fn oversize(bytes: usize) -> Response {
    const OPEN: &[u8] = b"{\"padding\":\"";
    const CLOSE: &[u8] = b"\"}";
    const CHUNK: usize = 64 * 1024;

    let total = bytes.max(2);
    let chunks: Box<dyn Iterator<Item = Bytes> + Send> = if total < OPEN.len() + CLOSE.len() {
        let mut small = vec![b' '; total];
        small[0] = b'{';
        small[total - 1] = b'}';
        Box::new(std::iter::once(Bytes::from(small)))
    } else {
        let padding = total - OPEN.len() - CLOSE.len();
        let filler = Bytes::from(vec![b'x'; CHUNK]);
        let full_chunks = padding / CHUNK;
        let last = filler.slice(..padding % CHUNK);
        Box::new(
            std::iter::once(Bytes::from_static(OPEN))
                .chain(std::iter::repeat_n(filler, full_chunks))
                .chain(std::iter::once(last))
                .chain(std::iter::once(Bytes::from_static(CLOSE))),
        )
    };

    let body = Body::from_stream(stream::iter(chunks.map(Ok::<_, Infallible>)));
    let mut response = (StatusCode::OK, body).into_response();
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response.headers_mut().insert(CONTENT_LENGTH, HeaderValue::from(total));
    // Compression would drop the Content-Length, and gzip shrinks a 200 000-byte body to about
    // 250 bytes on the wire, so a client's size limit would no longer see the size up front.
    response.extensions_mut().insert(SkipCompression);
    response
}

/// Applies `damage` to a response the handler produced.
pub(crate) async fn damage_response(damage: Damage, response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
    parts.headers.remove(CONTENT_LENGTH);

    match damage {
        Damage::WrongContentType => {
            parts.headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
            Response::from_parts(parts, Body::from(body))
        }
        Damage::MalformedJson => {
            let truncated =
                if body.len() > 2 { body.slice(..body.len() / 2) } else { Bytes::from_static(b"{\"data\":[") };
            parts.status = StatusCode::OK;
            parts.headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            Response::from_parts(parts, Body::from(truncated))
        }
        Damage::DropConnection => {
            // Promise the whole body, send half, then fail the stream: hyper aborts the
            // connection, and the client sees an incomplete body. The pause lets hyper flush
            // the headers and the first half, because an immediate error would close the connection
            // before anything was written.
            let declared = body.len().max(64);
            let sent = body.slice(..body.len() / 2);
            let failure = async {
                tokio::time::sleep(DROP_CONNECTION_PAUSE).await;
                Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "fault: connection dropped"))
            };
            let chunks = stream::iter([Ok(sent)]).chain(stream::once(failure));
            parts.headers.insert(CONTENT_LENGTH, HeaderValue::from(declared));
            // Compression would replace the declared Content-Length with chunked encoding and
            // send the half body compressed, so the client would not see the documented bytes.
            parts.extensions.insert(SkipCompression);
            Response::from_parts(parts, Body::from_stream(chunks))
        }
    }
}
