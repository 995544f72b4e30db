//! Validators and conditional GET requests.
//!
//! A handler marks its response with a [`Validator`]. When validators are enabled and no fault
//! damages the response, a 200 response to a GET then gets either a strong `ETag`, the quoted
//! SHA-256 hex digest of the body, or a `Last-Modified` date. A request whose `If-None-Match` or
//! `If-Modified-Since` shows that the client has the current body gets `304 Not Modified` with
//! that header and an empty body. The preconditions follow RFC 9110 section 13.

use std::time::SystemTime;

use axum::body::Body;
use axum::http::header::{ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use sha2::{Digest, Sha256};

use super::state::Shared;

/// The validator that a handler requests for its 200 responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Validator {
    /// A strong `ETag` computed from the body.
    EntityTag,
    /// A `Last-Modified` date that the server keeps per request target.
    LastModified,
}

/// Marks `response` for the validator step of the request pipeline.
pub(crate) fn with_validator(mut response: Response, validator: Validator) -> Response {
    response.extensions_mut().insert(validator);
    response
}

/// The conditional headers of one GET request.
#[derive(Debug)]
pub(crate) struct Preconditions {
    /// Raw path and query, the key of the `Last-Modified` dates.
    target: String,
    if_none_match: Option<IfNoneMatch>,
    if_modified_since: Option<SystemTime>,
}

/// A parsed `If-None-Match` field.
#[derive(Debug, PartialEq, Eq)]
enum IfNoneMatch {
    /// `*`, which matches any current representation.
    Any,
    /// Opaque tags without quotes and without the `W/` prefix, which weak comparison ignores.
    Tags(Vec<String>),
}

impl Preconditions {
    pub(crate) fn from_parts(parts: &Parts) -> Preconditions {
        let target = parts.uri.path_and_query().map_or_else(|| parts.uri.path().to_owned(), ToString::to_string);
        let if_none_match = parse_if_none_match(&parts.headers);
        // RFC 9110 section 13.1.3: a recipient ignores If-Modified-Since when If-None-Match is present.
        let if_modified_since = if if_none_match.is_some() { None } else { parse_if_modified_since(&parts.headers) };
        Preconditions { target, if_none_match, if_modified_since }
    }

    /// Returns whether the client's copy is current, so the response can be 304.
    fn not_modified(&self, entity_tag: Option<&str>, last_modified: Option<SystemTime>) -> bool {
        if let Some(condition) = &self.if_none_match {
            return match condition {
                IfNoneMatch::Any => true,
                IfNoneMatch::Tags(tags) => entity_tag.is_some_and(|tag| tags.iter().any(|listed| listed == tag)),
            };
        }
        match (self.if_modified_since, last_modified) {
            (Some(since), Some(modified)) => modified <= since,
            _ => false,
        }
    }
}

/// Adds the validator that the handler requested and turns the response into a 304 when the
/// preconditions show that the client's copy is current. Responses other than 200 and responses
/// without a [`Validator`] pass unchanged.
pub(crate) async fn apply_validator(shared: &Shared, preconditions: &Preconditions, response: Response) -> Response {
    if response.status() != StatusCode::OK {
        return response;
    }
    let Some(&validator) = response.extensions().get::<Validator>() else {
        return response;
    };

    // Handlers build their bodies in memory, so collecting them neither waits nor fails.
    let (mut parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
    let digest: [u8; 32] = Sha256::digest(&body).into();

    let (name, value, not_modified) = match validator {
        Validator::EntityTag => {
            // NOTE: a gzip response carries the same strong tag as the identity one, although RFC
            // 7232 section 2.3.3 asks for distinct tags per content coding. Weak comparison in
            // If-None-Match matches either way.
            let opaque = hex(&digest);
            let value = format!("\"{opaque}\"");
            (ETAG, value, preconditions.not_modified(Some(&opaque), None))
        }
        Validator::LastModified => {
            let modified = shared.modification_time(&preconditions.target, digest);
            (LAST_MODIFIED, httpdate::fmt_http_date(modified), preconditions.not_modified(None, Some(modified)))
        }
    };
    let value = HeaderValue::from_str(&value).expect("a hex digest or HTTP date is a valid header value");

    if not_modified {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        response.headers_mut().insert(name, value);
        return response;
    }
    parts.headers.insert(name, value);
    Response::from_parts(parts, Body::from(body))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;

    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut text, byte| {
        let _ = write!(text, "{byte:02x}");
        text
    })
}

/// Parses every `If-None-Match` field of a request into one list, or returns `None` when the
/// request has none.
fn parse_if_none_match(headers: &HeaderMap) -> Option<IfNoneMatch> {
    let mut fields = headers.get_all(IF_NONE_MATCH).iter().peekable();
    fields.peek()?;

    let mut tags = Vec::new();
    for field in fields {
        let text = String::from_utf8_lossy(field.as_bytes());
        if parse_entity_tags(&text, &mut tags) {
            return Some(IfNoneMatch::Any);
        }
    }
    Some(IfNoneMatch::Tags(tags))
}

/// Appends the opaque tags of a comma-separated list such as `"a", W/"b"` to `tags`, and
/// returns whether the list contains `*`. Parsing stops at the first malformed member, so the
/// members before it still count. Commas inside quotes belong to the tag.
fn parse_entity_tags(text: &str, tags: &mut Vec<String>) -> bool {
    let mut rest = text;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            return false;
        }
        if let Some(after) = rest.strip_prefix('*') {
            let after = after.trim_start_matches([' ', '\t']);
            return after.is_empty() || after.starts_with(',');
        }

        let unprefixed = rest.strip_prefix("W/").unwrap_or(rest);
        let Some(quoted) = unprefixed.strip_prefix('"') else {
            return false;
        };
        let Some(end) = quoted.find('"') else {
            return false;
        };
        tags.push(quoted[..end].to_owned());
        rest = &quoted[end + 1..];
    }
}

/// Returns the date of a single valid `If-Modified-Since` field. RFC 9110 section 13.1.3 has
/// a recipient ignore the field when it is not a valid HTTP date or has more than one member.
fn parse_if_modified_since(headers: &HeaderMap) -> Option<SystemTime> {
    let mut fields = headers.get_all(IF_MODIFIED_SINCE).iter();
    let field = fields.next()?;
    if fields.next().is_some() {
        return None;
    }
    httpdate::parse_http_date(field.to_str().ok()?.trim()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> (bool, Vec<String>) {
        let mut tags = Vec::new();
        let any = parse_entity_tags(text, &mut tags);
        (any, tags)
    }

    #[test]
    fn entity_tag_list_parsing() {
        assert_eq!(parsed("\"abc\""), (false, vec!["abc".to_owned()]));
        assert_eq!(parsed("W/\"abc\""), (false, vec!["abc".to_owned()]));
        assert_eq!(parsed(" \"a\" ,W/\"b\",  \"c\" "), (false, vec!["a".to_owned(), "b".to_owned(), "c".to_owned()]));
        assert_eq!(parsed("\"a,b\", \"c\""), (false, vec!["a,b".to_owned(), "c".to_owned()]));
        assert_eq!(parsed("*"), (true, Vec::new()));
        assert_eq!(parsed(" * "), (true, Vec::new()));
        assert_eq!(parsed("\"a\", *"), (true, vec!["a".to_owned()]));
        assert_eq!(parsed(""), (false, Vec::new()));
    }

    #[test]
    fn malformed_entity_tags_stop_parsing() {
        assert_eq!(parsed("abc"), (false, Vec::new()));
        assert_eq!(parsed("\"a\", bare, \"b\""), (false, vec!["a".to_owned()]));
        assert_eq!(parsed("\"unterminated"), (false, Vec::new()));
        assert_eq!(parsed("w/\"lowercase-weak\""), (false, Vec::new()));
        assert_eq!(parsed("*abc"), (false, Vec::new()));
    }

    #[test]
    fn if_modified_since_parsing() {
        let mut headers = HeaderMap::new();
        assert_eq!(parse_if_modified_since(&headers), None);

        headers.insert(IF_MODIFIED_SINCE, HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"));
        let expected = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(784_111_777);
        assert_eq!(parse_if_modified_since(&headers), Some(expected));

        headers.insert(IF_MODIFIED_SINCE, HeaderValue::from_static("yesterday"));
        assert_eq!(parse_if_modified_since(&headers), None);

        headers.insert(IF_MODIFIED_SINCE, HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"));
        headers.append(IF_MODIFIED_SINCE, HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"));
        assert_eq!(parse_if_modified_since(&headers), None);
    }
}
