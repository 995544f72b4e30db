//! Building request paths from untrusted values.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::ApiError;

/// Every byte but the RFC 3986 unreserved characters is encoded, so `/`, `?`, `#` and `%`
/// inside a value can never start another segment, a query or an escape of their own.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Encodes `value` as exactly one URL path segment.
///
/// `.` and `..` are rejected: URL parsers (and servers) resolve them as dot segments even when
/// written as `%2E`, so no encoding keeps them inside the intended path.
pub fn segment(value: &str) -> Result<String, ApiError> {
    if value.is_empty() {
        return Err(ApiError::UnsafePathSegment { value: value.to_string(), reason: "it is empty" });
    }
    if value == "." || value == ".." {
        return Err(ApiError::UnsafePathSegment {
            value: value.to_string(),
            reason: "URL parsers resolve it as a dot segment",
        });
    }
    Ok(utf8_percent_encode(value, SEGMENT).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_characters_encoded() {
        assert_eq!(segment("example.com").unwrap(), "example.com");
        assert_eq!(segment("a/b?c#d").unwrap(), "a%2Fb%3Fc%23d");
        assert_eq!(segment("../admin").unwrap(), "..%2Fadmin");
        assert_eq!(segment("100%").unwrap(), "100%25");
        assert_eq!(segment("東京.jp").unwrap(), "%E6%9D%B1%E4%BA%AC.jp");
    }

    #[test]
    fn dot_segments_rejected() {
        assert!(segment("..").is_err());
        assert!(segment(".").is_err());
        assert!(segment("").is_err());
    }
}
