//! Turning API JSON into rows: envelopes, paging metadata and typed columns.

use rusqlite::types::Value as SqlValue;
use serde_json::{Map, Value};

use super::resources::{Field, Kind};
use crate::archive::{canonical_json, normal_json, normalize_timestamp};

/// Typed column values of one row, in descriptor order.
pub type Columns = Vec<(&'static str, SqlValue)>;

/// One page of a list response.
#[derive(Debug)]
pub struct Page {
    pub items: Vec<Value>,
    pub meta: Option<Meta>,
}

/// The paging metadata of a list response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub page: u64,
    pub per_page: u64,
    pub total: u64,
}

/// An item decoded into typed columns, ready to store.
#[derive(Debug)]
pub struct DecodedItem {
    pub id: String,
    pub columns: Columns,
    /// The item's canonical JSON.
    pub raw: String,
    /// The item's normal form, computed here on a decoding thread so the single writer thread
    /// does not parse `raw` again for the history snapshot. `None` when it equals `raw`, as it
    /// mostly does, so a page waiting for the writer does not hold each item twice.
    pub normal: Option<String>,
    /// Rows embedded in the item (invoice line items); `None` for resources without any.
    pub embedded: Option<Vec<DecodedItem>>,
    /// Fields whose value did not fit their column. The column got NULL while `raw` keeps the
    /// value, so the typed row is incomplete but no data is dropped.
    pub problems: Vec<String>,
}

/// Splits a list response into its items and its `meta`, if any.
pub fn parse_page(body: Value, envelope: &str) -> Result<Page, String> {
    let Value::Object(mut object) = body else {
        return Err(format!("expected a JSON object with an {envelope:?} array, got {}", describe(&body)));
    };
    let items = match object.remove(envelope) {
        Some(Value::Array(items)) => items,
        Some(other) => return Err(format!("expected an array at {envelope:?}, got {}", describe(&other))),
        None => return Err(format!("the response has no {envelope:?} array")),
    };
    let meta = match object.remove("meta") {
        None | Some(Value::Null) => None,
        Some(Value::Object(meta)) => Some(parse_meta(&meta)?),
        Some(other) => return Err(format!("expected an object at \"meta\", got {}", describe(&other))),
    };
    Ok(Page { items, meta })
}

fn parse_meta(meta: &Map<String, Value>) -> Result<Meta, String> {
    let number = |key: &str| match meta.get(key) {
        Some(value) => value
            .as_u64()
            .ok_or_else(|| format!("expected a non-negative integer at \"meta.{key}\", got {}", describe(value))),
        None => Err(format!("\"meta\" has no {key:?}")),
    };
    let meta = Meta { page: number("page")?, per_page: number("perPage")?, total: number("total")? };
    if meta.per_page == 0 {
        return Err("\"meta.perPage\" is 0".to_string());
    }
    Ok(meta)
}

/// Decodes an item into its id, typed columns and canonical JSON. Fails only when the item is
/// not an object or has no usable id, because such an item cannot be stored at all.
///
/// With `fill_absent`, a field missing from the object is stored as NULL; without it the
/// column is left out of the write, so the stored value stays (used where two endpoints fill one
/// row). An explicit `null` is always stored as NULL.
pub fn decode_item(item: &Value, fields: &[Field], fill_absent: bool) -> Result<DecodedItem, String> {
    let Value::Object(object) = item else {
        return Err(format!("expected an object, got {}", describe(item)));
    };
    let id = match object.get("id") {
        Some(Value::String(id)) if !id.is_empty() => id.clone(),
        Some(other) => return Err(format!("field \"id\": expected a non-empty string, got {}", describe(other))),
        None => return Err("the object has no \"id\"".to_string()),
    };
    let (columns, problems) = decode_fields(object, fields, fill_absent);
    let problems = problems.into_iter().map(|problem| format!("item {id:?}: {problem}")).collect();
    let (raw, normal) = raw_and_normal(item);
    Ok(DecodedItem { id, columns, raw, normal, embedded: None, problems })
}

/// Decodes an embedded child, which has no id of its own.
pub fn decode_child(item: &Value, fields: &[Field]) -> Result<(Columns, Vec<String>, String, Option<String>), String> {
    let Value::Object(object) = item else {
        return Err(format!("expected an object, got {}", describe(item)));
    };
    let (columns, problems) = decode_fields(object, fields, true);
    let (raw, normal) = raw_and_normal(item);
    Ok((columns, problems, raw, normal))
}

/// Returns the canonical JSON of `item`, and its normal form where that differs.
fn raw_and_normal(item: &Value) -> (String, Option<String>) {
    let raw = canonical_json(item);
    let normal = normal_json(item);
    let normal = (normal != raw).then_some(normal);
    (raw, normal)
}

/// Decodes the typed columns. A value that does not fit its column becomes NULL and a problem.
fn decode_fields(object: &Map<String, Value>, fields: &[Field], fill_absent: bool) -> (Columns, Vec<String>) {
    let mut columns = Vec::with_capacity(fields.len());
    let mut problems = Vec::new();
    for field in fields {
        match lookup(object, field.json) {
            Some(value) => match decode_value(value, field) {
                Ok(decoded) => columns.push((field.column, decoded)),
                Err(problem) => {
                    problems.push(format!("{problem}; stored NULL in {} and kept the value in the JSON", field.column));
                    columns.push((field.column, SqlValue::Null));
                }
            },
            None if fill_absent => columns.push((field.column, SqlValue::Null)),
            None => {}
        }
    }
    (columns, problems)
}

/// Follows a dotted key (`specs.vcpu`) into nested objects.
fn lookup<'a>(object: &'a Map<String, Value>, dotted: &str) -> Option<&'a Value> {
    let mut parts = dotted.split('.');
    let mut current = object.get(parts.next()?)?;
    for part in parts {
        current = match current {
            Value::Object(inner) => inner.get(part)?,
            Value::Null => return Some(current),
            _ => return None,
        };
    }
    Some(current)
}

fn decode_value(value: &Value, field: &Field) -> Result<SqlValue, String> {
    let wrong = |expected: &str| format!("field {:?}: expected {expected}, got {}", field.json, describe(value));
    if value.is_null() {
        return Ok(SqlValue::Null);
    }
    match field.kind {
        Kind::Text => value.as_str().map(|text| SqlValue::Text(text.to_string())).ok_or_else(|| wrong("a string")),
        Kind::Integer => integer_of(value).map(SqlValue::Integer).ok_or_else(|| wrong("an integer")),
        Kind::Bool => value.as_bool().map(|flag| SqlValue::Integer(flag.into())).ok_or_else(|| wrong("true or false")),
        Kind::Timestamp => {
            let text = value.as_str().ok_or_else(|| wrong("an RFC 3339 timestamp string"))?;
            normalize_timestamp(text)
                .map(SqlValue::Text)
                .ok_or_else(|| wrong("an RFC 3339 timestamp such as 2026-04-01T00:00:00Z"))
        }
    }
}

/// Reads an integer, accepting a float with no fractional part (`300.0`) as the same number.
fn integer_of(value: &Value) -> Option<i64> {
    if let Some(integer) = value.as_i64() {
        return Some(integer);
    }
    let float = value.as_f64()?;
    (float.fract() == 0.0 && float.abs() < 9.0e15).then_some(float as i64)
}

/// Describes a JSON value briefly for error messages, without dumping large documents.
pub fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::Bool(flag) => flag.to_string(),
        Value::Number(number) => number.to_string(),
        Value::String(text) => format!("{:?}", crate::api::shorten(text, 60)),
        Value::Array(items) => format!("an array of {} items", items.len()),
        Value::Object(_) => "an object".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::resources::{DNS_RECORDS, SERVICES};
    use serde_json::json;

    #[test]
    fn page_with_meta() {
        let page =
            parse_page(json!({"data": [{"id": "a"}], "meta": {"page": 1, "perPage": 20, "total": 1}}), "data").unwrap();

        assert_eq!(page.items.len(), 1);
        assert_eq!(page.meta, Some(Meta { page: 1, per_page: 20, total: 1 }));
    }

    #[test]
    fn page_without_meta() {
        let page = parse_page(json!({"records": []}), "records").unwrap();

        assert!(page.meta.is_none());
    }

    #[test]
    fn page_errors_name_the_problem() {
        assert!(parse_page(json!([]), "data").unwrap_err().contains("expected a JSON object"));
        assert!(parse_page(json!({"items": []}), "data").unwrap_err().contains("no \"data\" array"));
        assert!(parse_page(json!({"data": {}}), "data").unwrap_err().contains("expected an array"));
        let bad_meta = json!({"data": [], "meta": {"page": 1, "perPage": "20", "total": 1}});
        assert!(parse_page(bad_meta, "data").unwrap_err().contains("meta.perPage"));
    }

    #[test]
    fn record_typed_columns() {
        let record = json!({"id": "rec_03", "type": "MX", "name": "@", "value": "mail.example.com", "priority": 10, "ttl": 3600});
        let item = decode_item(&record, DNS_RECORDS.fields, true).unwrap();

        assert_eq!(item.id, "rec_03");
        assert!(item.columns.contains(&("priority", SqlValue::Integer(10))));
        assert!(item.columns.contains(&("ttl", SqlValue::Integer(3600))));
        assert!(item.columns.contains(&("created_at", SqlValue::Null)));
    }

    #[test]
    fn absent_fields_left_out_when_merging() {
        let service = json!({"id": "svc_1", "label": "web"});
        let item = decode_item(&service, SERVICES.fields, false).unwrap();

        assert_eq!(item.columns, vec![("label", SqlValue::Text("web".into()))]);
    }

    #[test]
    fn nested_field_read() {
        let detail = json!({"id": "svc_1", "specs": {"vcpu": 4, "ramGb": 8, "diskGb": 100}});
        let fields = SERVICES.detail.unwrap().fields;
        let item = decode_item(&detail, fields, false).unwrap();

        assert!(item.columns.contains(&("vcpu", SqlValue::Integer(4))));
        assert!(item.columns.contains(&("disk_gb", SqlValue::Integer(100))));
    }

    #[test]
    fn wrong_type_stored_as_null() {
        let record = json!({"id": "rec_1", "ttl": "300", "value": "x"});
        let item = decode_item(&record, DNS_RECORDS.fields, true).unwrap();

        assert!(item.columns.contains(&("ttl", SqlValue::Null)));
        assert!(item.columns.contains(&("value", SqlValue::Text("x".into()))));
        assert_eq!(item.problems.len(), 1);
        assert!(item.problems[0].contains("item \"rec_1\": field \"ttl\": expected an integer"), "{:?}", item.problems);
        assert!(item.raw.contains("\"ttl\":\"300\""));
    }

    #[test]
    fn integral_float_is_integer() {
        let record = json!({"id": "rec_1", "ttl": 300.0, "priority": 1.5});
        let item = decode_item(&record, DNS_RECORDS.fields, true).unwrap();

        assert!(item.columns.contains(&("ttl", SqlValue::Integer(300))));
        assert!(item.columns.contains(&("priority", SqlValue::Null)));
        assert_eq!(item.problems.len(), 1);
    }

    #[test]
    fn missing_id_rejected() {
        assert!(decode_item(&json!({"name": "x"}), DNS_RECORDS.fields, true).is_err());
        assert!(decode_item(&json!({"id": 7}), DNS_RECORDS.fields, true).is_err());
        assert!(decode_item(&json!("x"), DNS_RECORDS.fields, true).is_err());
    }

    #[test]
    fn timestamps_stored_in_utc() {
        let record = json!({"id": "rec_1", "createdAt": "2026-04-19T13:00:00+02:00"});
        let item = decode_item(&record, DNS_RECORDS.fields, true).unwrap();

        assert!(item.columns.contains(&("created_at", SqlValue::Text("2026-04-19T11:00:00Z".into()))));
    }
}
