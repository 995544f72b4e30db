//! Canonical forms used to tell a real change from a different spelling of the same data.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

/// Serializes `value` compactly with object keys sorted at every depth, so two objects that
/// differ only in key order or whitespace give the same text.
pub fn canonical_json(value: &Value) -> String {
    let mut out = Vec::with_capacity(256);
    write_canonical(value, false, &mut out);
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// Returns `canonical_json(&normal_form(value))` without building the normal form as a value.
pub fn normal_json(value: &Value) -> String {
    let mut out = Vec::with_capacity(256);
    write_canonical(value, true, &mut out);
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

fn write_canonical(value: &Value, normalize: bool, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (index, (key, item)) in entries.into_iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                write_scalar(key, out);
                out.push(b':');
                write_canonical(item, normalize, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                write_canonical(item, normalize, out);
            }
            out.push(b']');
        }
        Value::Number(number) if normalize => write_scalar(&normal_number(number), out),
        Value::String(text) if normalize && looks_like_timestamp(text) => match normalize_timestamp(text) {
            Some(normal) => write_scalar(&normal, out),
            None => write_scalar(text, out),
        },
        scalar => write_scalar(scalar, out),
    }
}

fn write_scalar<T: serde::Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) {
    serde_json::to_writer(out, value).expect("writing JSON into memory cannot fail");
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

/// Parses an RFC 3339 timestamp and writes it in UTC with exactly three fractional digits, the
/// form in which text order is time order (`…:00.100Z` sorts after `…:00.000Z`, while
/// `…:00.1Z` sorts before `…:00Z`). SQLite's `strftime('%Y-%m-%dT%H:%M:%fZ', x)` writes the
/// same form.
pub fn sortable_timestamp(text: &str) -> Option<String> {
    let parsed = DateTime::parse_from_rfc3339(text.trim()).ok()?;
    Some(parsed.with_timezone(&Utc).to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// Returns the normal form of a JSON value: the form in which two spellings of the same data
/// are equal. Integral floats become integers (`1.0` is `1`) and strings shaped like RFC 3339
/// timestamps are rewritten in UTC with `Z`; [`canonical_json`] then sorts the keys.
///
/// NOTE: a free-text field whose whole value is a timestamp in another spelling (a label of
/// `2026-01-01T00:00:00+00:00`) compares equal to the `Z` spelling too.
pub fn normal_form(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(map.iter().map(|(key, item)| (key.clone(), normal_form(item))).collect()),
        Value::Array(items) => Value::Array(items.iter().map(normal_form).collect()),
        Value::Number(number) => normal_number(number),
        Value::String(text) if looks_like_timestamp(text) => {
            Value::String(normalize_timestamp(text).unwrap_or_else(|| text.clone()))
        }
        other => other.clone(),
    }
}

/// Writes a number in one spelling: integral values as integers (`1.0`, `-0` and `1e2` become
/// `1`, `0` and `100`), other floats in their shortest form (`1.50` and `15e-1` become `1.5`).
/// Integers beyond 64 bits keep their digits.
fn normal_number(number: &serde_json::Number) -> Value {
    if let Some(integer) = number.as_i64() {
        return Value::from(integer);
    }
    if let Some(integer) = number.as_u64() {
        return Value::from(integer);
    }
    let Some(float) = number.as_f64().filter(|float| float.is_finite()) else {
        return Value::Number(number.clone());
    };
    if float.fract() == 0.0 && float.abs() < 9.0e15 {
        return Value::from(float as i64);
    }
    if float.fract() == 0.0 {
        // A big integral number (beyond 2^53) may not survive f64: keep its own spelling.
        return Value::Number(number.clone());
    }
    serde_json::Number::from_f64(float).map_or_else(|| Value::Number(number.clone()), Value::Number)
}

/// Tells whether `text` has the shape `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`.
fn looks_like_timestamp(text: &str) -> bool {
    let bytes = text.as_bytes();
    if bytes.len() < 20 || bytes.len() > 40 {
        return false;
    }
    let digits = |range: std::ops::Range<usize>| bytes[range].iter().all(u8::is_ascii_digit);
    digits(0..4)
        && bytes[4] == b'-'
        && digits(5..7)
        && bytes[7] == b'-'
        && digits(8..10)
        && matches!(bytes[10], b'T' | b't')
        && digits(11..13)
        && bytes[13] == b':'
        && digits(14..16)
        && bytes[16] == b':'
        && digits(17..19)
}

/// Lists the dotted paths where two objects differ: keys added, removed or changed. Nested
/// objects are compared key by key; arrays and other values as a whole.
pub fn changed_paths(before: &Value, after: &Value) -> Vec<String> {
    let mut paths = Vec::new();
    collect_changes("", before, after, &mut paths);
    paths.sort();
    paths
}

fn collect_changes(prefix: &str, before: &Value, after: &Value, paths: &mut Vec<String>) {
    match (before, after) {
        (Value::Object(old), Value::Object(new)) => {
            for (key, old_value) in old {
                let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                match new.get(key) {
                    Some(new_value) => collect_changes(&path, old_value, new_value, paths),
                    None => paths.push(path),
                }
            }
            for key in new.keys().filter(|key| !old.contains_key(*key)) {
                paths.push(if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") });
            }
        }
        _ if before != after => paths.push(prefix.to_string()),
        _ => {}
    }
}

#[cfg(test)]
mod normal_form_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn equivalent_spellings_equal() {
        let a = json!({"at": "2026-04-01T00:00:00Z", "n": 1, "b": {"x": [1, 2]}});
        let b: Value =
            serde_json::from_str(r#"{"b": {"x": [1.0, 2]}, "n": 1.0, "at": "2026-04-01T00:00:00.000+00:00"}"#).unwrap();

        assert_eq!(canonical_json(&normal_form(&a)), canonical_json(&normal_form(&b)));
    }

    #[test]
    fn number_spellings_equal() {
        for (a, b) in [("1.5", "1.50"), ("0.5", "5e-1"), ("-0", "0"), ("100", "1e2"), ("2.0", "2")] {
            let a: Value = serde_json::from_str(a).unwrap();
            let b: Value = serde_json::from_str(b).unwrap();
            assert_eq!(canonical_json(&normal_form(&a)), canonical_json(&normal_form(&b)), "{a} {b}");
        }
        let big: Value = serde_json::from_str("123456789012345678901234567890").unwrap();
        assert_eq!(canonical_json(&normal_form(&big)), "123456789012345678901234567890");
    }

    #[test]
    fn real_changes_differ() {
        let a = json!({"at": "2026-04-01T00:00:00Z", "n": 1.5});
        let b = json!({"at": "2026-04-01T00:00:01Z", "n": 1.5});

        assert_ne!(normal_form(&a), normal_form(&b));
        assert_eq!(normal_form(&json!(1.5)), json!(1.5));
    }

    #[test]
    fn non_timestamp_strings_kept() {
        for text in ["2026-04-01", "hello", "2026-04-01 00:00:00", "2026-04-01T00:00:00"] {
            assert_eq!(normal_form(&json!(text)), json!(text), "{text}");
        }
    }

    #[test]
    fn changed_paths_nested() {
        let before = json!({"a": 1, "specs": {"vcpu": 2, "ram": 4}, "gone": true, "list": [1]});
        let after = json!({"a": 1, "specs": {"vcpu": 4, "ram": 4}, "new": null, "list": [1, 2]});

        assert_eq!(changed_paths(&before, &after), vec!["gone", "list", "new", "specs.vcpu"]);
    }
}

#[cfg(test)]
mod normal_json_tests {
    use super::*;
    use proptest::prelude::*;

    fn scalar() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
            prop_oneof![
                Just("2026-04-01T02:00:00.000+02:00"),
                Just("2026-04-01T00:00:00Z"),
                Just("2026-13-01T00:00:00Z"),
                Just("x\"\\\n\u{7f}é"),
                Just("1.0"),
            ]
            .prop_map(|text| Value::String(text.to_string())),
            "[a-z0-9:T.+-]{0,24}".prop_map(Value::String),
            prop_oneof![Just("1.0"), Just("-0"), Just("1e2"), Just("15e-1"), Just("123456789012345678901234567890")]
                .prop_map(|text| serde_json::from_str(text).unwrap()),
        ]
    }

    fn json() -> impl Strategy<Value = Value> {
        scalar().prop_recursive(3, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec(("[a-zA-Z_\"]{0,6}", inner), 0..5)
                    .prop_map(|entries| Value::Object(entries.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn normal_json_matches_normal_form(value in json()) {
            prop_assert_eq!(normal_json(&value), canonical_json(&normal_form(&value)));
        }
    }

    #[test]
    fn canonical_json_escapes_like_serde() {
        let value = serde_json::json!({"b\u{1}": "\u{2028}\t", "a": [1.5, -0, null]});

        assert_eq!(canonical_json(&value), format!(r#"{{"a":[1.5,0,null],"b\u0001":"{}\t"}}"#, '\u{2028}'));
    }
}
