//! Errors from the API client. Each one names the request (method and path with query) and
//! never the API key, which travels only in a header that no error formats.

use std::time::Duration;

/// A failed request, after any retries.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A non-success status from the API.
    #[error("{method} {path}: HTTP {status}: {message}")]
    Status { method: String, path: String, status: u16, message: String },

    /// Repeated 429 responses, or a requested wait longer than the client may sleep.
    #[error("{method} {path}: rate limited by the API (HTTP 429){}", describe_wait(*.retry_after))]
    RateLimited { method: String, path: String, retry_after: Option<Duration> },

    /// The request never got a complete response: connect failure, reset or timeout.
    #[error("{method} {path}: {cause}")]
    Transport {
        method: String,
        path: String,
        cause: String,
        timed_out: bool,
        /// False only when the connection failed, so the server cannot have seen the request.
        maybe_received: bool,
    },

    /// The response body passed the size limit.
    #[error(
        "{method} {path}: response larger than the {limit} byte limit; raise --max-response-bytes if this is expected"
    )]
    TooLarge { method: String, path: String, limit: u64 },

    /// The response arrived but is not the JSON the endpoint documents, or the TLS connection
    /// broke after the request may have been sent.
    #[error("{method} {path}: {detail}")]
    Malformed { method: String, path: String, detail: String },

    /// The TLS handshake failed in a way that another attempt cannot fix, such as an untrusted
    /// certificate. The request itself was never sent.
    #[error("{method} {path}: {detail}")]
    Tls { method: String, path: String, detail: String },

    /// A value could not be placed in a URL path safely.
    #[error("cannot request {value:?} as a URL path segment: {reason}")]
    UnsafePathSegment { value: String, reason: &'static str },
}

impl ApiError {
    /// Tells whether a later attempt could succeed: rate limits, server errors and transport
    /// failures. Other 4xx statuses and malformed bodies are permanent.
    pub fn is_retryable(&self) -> bool {
        match self {
            ApiError::Status { status, .. } => is_retryable_status(*status),
            ApiError::RateLimited { .. } | ApiError::Transport { .. } => true,
            ApiError::TooLarge { .. }
            | ApiError::Malformed { .. }
            | ApiError::Tls { .. }
            | ApiError::UnsafePathSegment { .. } => false,
        }
    }

    /// Returns the HTTP status of the response, where there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Status { status, .. } => Some(*status),
            ApiError::RateLimited { .. } => Some(429),
            _ => None,
        }
    }
}

/// Statuses worth another attempt: rate limiting and the gateway or server errors that a
/// restart, deploy or overload produces.
pub fn is_retryable_status(status: u16) -> bool {
    matches!(status, 429 | 500 | 502 | 503 | 504)
}

fn describe_wait(retry_after: Option<Duration>) -> String {
    match retry_after {
        Some(wait) => format!("; it asked to wait {} s before the next request", wait.as_secs()),
        None => String::new(),
    }
}

/// Extracts the API's own message from an error body: the JSON `message` or `error` field, or
/// the start of the text with HTML tags removed, so a proxy's error page still reads as text.
pub fn message_from_body(body: &[u8]) -> String {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) {
        for field in ["message", "error"] {
            if let Some(text) = value.get(field).and_then(|v| v.as_str()) {
                return shorten(text.trim(), 300);
            }
        }
    }
    let text = String::from_utf8_lossy(body);
    let plain = strip_tags(&text);
    let words: Vec<&str> = plain.split_whitespace().collect();
    if words.is_empty() {
        return "empty response body".to_string();
    }
    shorten(&words.join(" "), 200)
}

fn strip_tags(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                plain.push(' ');
            }
            _ if !in_tag => plain.push(c),
            _ => {}
        }
    }
    plain
}

/// Cuts `text` to at most `max` characters, marking the cut with an ellipsis.
pub fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_from_json_fields() {
        assert_eq!(message_from_body(br#"{"message":"no such domain"}"#), "no such domain");
        assert_eq!(message_from_body(br#"{"error":"unauthorized"}"#), "unauthorized");
    }

    #[test]
    fn message_from_html_page() {
        let page = b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>";

        assert_eq!(message_from_body(page), "502 Bad Gateway 502 Bad Gateway");
    }

    #[test]
    fn long_json_message_is_cut() {
        let body = serde_json::json!({"message": "m".repeat(100_000)}).to_string();

        assert_eq!(message_from_body(body.as_bytes()).chars().count(), 301);
    }

    #[test]
    fn message_from_long_text_is_cut() {
        let body = "x".repeat(1000);

        assert_eq!(message_from_body(body.as_bytes()).chars().count(), 201);
    }

    #[test]
    fn retryable_statuses() {
        for status in [429, 500, 502, 503, 504] {
            assert!(is_retryable_status(status), "{status}");
        }
        for status in [400, 401, 403, 404, 409, 422, 501] {
            assert!(!is_retryable_status(status), "{status}");
        }
    }
}
