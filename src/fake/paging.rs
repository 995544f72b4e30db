//! Paged list responses: `{"data": [...], "meta": {"page", "perPage", "total"}}`.
//!
//! Every `data` list accepts `page` (1-based, default 1) and `per_page` (default 20). The
//! server caps `per_page` and reports the capped value in `meta.perPage`. A page past the end
//! has an empty `data`.

use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::Value;

use super::faults::ListMode;
use super::routes::ApiError;

pub(crate) const DEFAULT_PER_PAGE: u32 = 20;

/// The paging parameters of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PageRequest {
    pub(crate) page: u32,
    pub(crate) per_page: u32,
}

impl PageRequest {
    /// Reads `page` and `per_page` from a raw query string. The error names the parameter.
    pub(crate) fn parse(query: Option<&str>) -> Result<PageRequest, String> {
        let mut request = PageRequest { page: 1, per_page: DEFAULT_PER_PAGE };
        for (name, value) in query_pairs(query) {
            match name.as_str() {
                "page" => request.page = parse_positive(&name, &value)?,
                "per_page" => request.per_page = parse_positive(&name, &value)?,
                _ => {}
            }
        }
        Ok(request)
    }

    /// Returns the requested page number, or `None` when the query has an invalid `page`.
    pub(crate) fn page_of(query: Option<&str>) -> Option<u32> {
        match query_pairs(query).into_iter().find(|(name, _)| name == "page") {
            Some((name, value)) => parse_positive(&name, &value).ok(),
            None => Some(1),
        }
    }
}

fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    let decode = |text: &str| percent_decode_str(&text.replace('+', " ")).decode_utf8_lossy().into_owned();
    query
        .unwrap_or("")
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(name), decode(value))
        })
        .collect()
}

fn parse_positive(name: &str, value: &str) -> Result<u32, String> {
    match value.parse::<u32>() {
        Ok(number) if number >= 1 => Ok(number),
        _ => Err(format!("{name} must be a positive integer, got \"{value}\"")),
    }
}

#[derive(Serialize)]
struct PageBody<'a> {
    data: Vec<Projected<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    meta: Option<Meta>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Meta {
    page: u32,
    per_page: u32,
    total: usize,
}

/// A JSON value serialized without some of its top-level keys.
struct Projected<'a> {
    value: &'a Value,
    omit: &'static [&'static str],
}

impl Serialize for Projected<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.value {
            Value::Object(map) if !self.omit.is_empty() => {
                let mut out = serializer.serialize_map(None)?;
                for (key, value) in map.iter().filter(|(key, _)| !self.omit.contains(&key.as_str())) {
                    out.serialize_entry(key, value)?;
                }
                out.end()
            }
            other => other.serialize(serializer),
        }
    }
}

/// Builds the response for one page of `items`, leaving out the `omit` keys of each item.
pub(crate) fn page_response(
    items: &[Value],
    omit: &'static [&'static str],
    query: Option<&str>,
    per_page_cap: u32,
    mode: ListMode,
) -> Result<Response, ApiError> {
    let request = PageRequest::parse(query).map_err(|message| ApiError::bad_request("invalid_parameter", message))?;
    let per_page = request.per_page.min(per_page_cap.max(1));
    let total = items.len();

    let window = |page: u32| {
        let start = usize::try_from(u64::from(page - 1) * u64::from(per_page)).unwrap_or(usize::MAX);
        let start = start.min(total);
        let end = start.saturating_add(per_page as usize).min(total);
        &items[start..end]
    };
    let page_items = match mode {
        ListMode::Normal | ListMode::NoMeta => window(request.page),
        ListMode::IgnorePage => items,
        ListMode::RepeatFirstPage => window(1),
    };
    let meta = (mode != ListMode::NoMeta).then_some(Meta { page: request.page, per_page, total });

    let body = PageBody { data: page_items.iter().map(|value| Projected { value, omit }).collect(), meta };
    Ok(json_bytes_response(StatusCode::OK, &body))
}

/// Serializes `body` as a JSON response with the given status.
pub(crate) fn json_bytes_response(status: StatusCode, body: &impl Serialize) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (status, [(CONTENT_TYPE, "application/json")], bytes).into_response(),
        Err(error) => {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", format!("serializing failed: {error}"))
                .into_response()
        }
    }
}
