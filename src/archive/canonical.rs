//! Canonical forms used to tell a real change from a different spelling of the same data.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

/// Serializes `value` compactly with object keys sorted at every depth, so two objects that
/// differ only in key order or whitespace give the same text.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (index, (key, item)) in entries.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(item, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// Parses an RFC 3339 timestamp and writes it in UTC with `Z`, keeping only the fractional
/// digits that are not zero: `2026-04-01T02:00:00.000+02:00` becomes `2026-04-01T00:00:00Z`.
pub fn normalize_timestamp(text: &str) -> Option<String> {
    let parsed = DateTime::parse_from_rfc3339(text.trim()).ok()?;
    Some(parsed.with_timezone(&Utc).to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_order_ignored() {
        let a: Value = serde_json::from_str(r#"{"b": 1, "a": {"y": [1, 2], "x": null}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a":{"x":null,"y":[1,2]},"b":1}"#).unwrap();

        assert_eq!(canonical_json(&a), canonical_json(&b));
        assert_eq!(canonical_json(&a), r#"{"a":{"x":null,"y":[1,2]},"b":1}"#);
    }

    #[test]
    fn strings_escaped() {
        assert_eq!(canonical_json(&json!({"k\"": "a\nb"})), r#"{"k\"":"a\nb"}"#);
    }

    #[test]
    fn timestamps_normalized() {
        let cases = [
            ("2026-04-01T00:04:11Z", "2026-04-01T00:04:11Z"),
            ("2026-04-01T00:04:11+00:00", "2026-04-01T00:04:11Z"),
            ("2026-04-01T02:04:11.000+02:00", "2026-04-01T00:04:11Z"),
            ("2026-04-01T00:04:11.250Z", "2026-04-01T00:04:11.250Z"),
            ("2026-04-01t00:04:11z", "2026-04-01T00:04:11Z"),
        ];
        for (input, expected) in cases {
            assert_eq!(normalize_timestamp(input).as_deref(), Some(expected), "{input}");
        }
    }

    #[test]
    fn invalid_timestamp_none() {
        assert_eq!(normalize_timestamp("yesterday"), None);
        assert_eq!(normalize_timestamp("2026-13-01T00:00:00Z"), None);
    }
}
