//! Input checks for the write endpoints. Each returns the message of a 422 response on failure,
//! naming the field and the value that failed. Unknown fields are rejected, so a client that
//! sends a misspelled field learns about it.

use std::net::{Ipv4Addr, Ipv6Addr};

use serde_json::{Map, Value};

/// Fields of `PUT /v1/account` and whether each may be set to `null`.
const ACCOUNT_FIELDS: &[(&str, bool)] =
    &[("email", false), ("firstName", false), ("lastName", false), ("company", true), ("phone", true)];
const ACCOUNT_READ_ONLY: &[&str] = &["id", "status", "createdAt", "updatedAt"];

pub(crate) const RECORD_TYPES: &[&str] = &["A", "AAAA", "CNAME", "MX", "NS", "TXT", "SRV", "CAA"];
const RECORD_FIELDS: &[&str] = &["type", "name", "value", "ttl", "priority"];
pub(crate) const TTL_RANGE: std::ops::RangeInclusive<u64> = 60..=86_400;
const DEFAULT_TTL: u64 = 3_600;

pub(crate) const TICKET_PRIORITIES: &[&str] = &["low", "normal", "high", "urgent"];
const TICKET_FIELDS: &[&str] = &["subject", "body", "priority", "serviceId"];
const SSH_KEY_FIELDS: &[&str] = &["label", "publicKey"];

/// Checks a `PUT /v1/account` body: known fields only, each a string (or `null` where allowed).
pub(crate) fn account_update(body: &Map<String, Value>) -> Result<(), String> {
    for (key, value) in body {
        if ACCOUNT_READ_ONLY.contains(&key.as_str()) {
            return Err(format!("{key} is read-only"));
        }
        let Some(&(_, nullable)) = ACCOUNT_FIELDS.iter().find(|(name, _)| name == key) else {
            let known: Vec<&str> = ACCOUNT_FIELDS.iter().map(|(name, _)| *name).collect();
            return Err(format!("Unknown field {key}. Updatable fields are {}", known.join(", ")));
        };
        match value {
            Value::Null if nullable => {}
            Value::String(text) if key == "email" && !is_email(text) => {
                return Err(format!("email must be an e-mail address, got \"{text}\""));
            }
            Value::String(text) if !nullable && text.trim().is_empty() => {
                return Err(format!("{key} must not be empty"));
            }
            Value::String(_) => {}
            other => {
                let allowed = if nullable { "a string or null" } else { "a string" };
                return Err(format!("{key} must be {allowed}, got {}", type_name(other)));
            }
        }
    }
    Ok(())
}

/// A validated `POST /v1/domains/{name}/records` body.
pub(crate) struct NewRecord {
    pub(crate) record_type: String,
    pub(crate) name: String,
    pub(crate) value: String,
    pub(crate) priority: Option<u64>,
    pub(crate) ttl: u64,
}

pub(crate) fn new_record(body: &Map<String, Value>) -> Result<NewRecord, String> {
    reject_unknown(body, RECORD_FIELDS)?;
    let record_type = required_string(body, "type")?;
    if !RECORD_TYPES.contains(&record_type.as_str()) {
        return Err(format!("type must be one of {}, got \"{record_type}\"", RECORD_TYPES.join(", ")));
    }
    let name = required_string(body, "name")?;
    if !is_record_name(&name) {
        return Err(format!("name must be @, * or a host name relative to the domain, got \"{name}\""));
    }
    let value = required_string(body, "value")?;
    check_record_value(&record_type, &value)?;

    let priority = optional_integer(body, "priority")?;
    let needs_priority = matches!(record_type.as_str(), "MX" | "SRV");
    match priority {
        None if needs_priority => return Err(format!("priority is required for {record_type} records")),
        Some(_) if !needs_priority => {
            return Err(format!("priority is only allowed for MX and SRV records, not {record_type}"));
        }
        Some(priority) if priority > u64::from(u16::MAX) => {
            return Err(format!("priority must be from 0 to 65535, got {priority}"));
        }
        _ => {}
    }

    let ttl = optional_integer(body, "ttl")?.unwrap_or(DEFAULT_TTL);
    if !TTL_RANGE.contains(&ttl) {
        return Err(format!("ttl must be from {} to {} seconds, got {ttl}", TTL_RANGE.start(), TTL_RANGE.end()));
    }
    Ok(NewRecord { record_type, name, value, priority, ttl })
}

fn check_record_value(record_type: &str, value: &str) -> Result<(), String> {
    let valid = match record_type {
        "A" => value.parse::<Ipv4Addr>().is_ok(),
        "AAAA" => value.parse::<Ipv6Addr>().is_ok(),
        "CNAME" | "MX" | "NS" => is_host_name(value),
        "TXT" => !value.is_empty() && value.len() <= 4_096,
        "SRV" => is_srv_value(value),
        "CAA" => is_caa_value(value),
        _ => false,
    };
    if valid {
        return Ok(());
    }
    let expected = match record_type {
        "A" => "an IPv4 address",
        "AAAA" => "an IPv6 address",
        "CNAME" | "MX" | "NS" => "a host name",
        "TXT" => "text of 1 to 4096 bytes",
        "SRV" => "\"<weight> <port> <target host>\"",
        _ => "\"<flags> <issue|issuewild|iodef> \\\"<value>\\\"\"",
    };
    Err(format!("value of a {record_type} record must be {expected}, got \"{value}\""))
}

/// A validated `POST /v1/tickets` body.
pub(crate) struct NewTicket {
    pub(crate) subject: String,
    pub(crate) priority: String,
    pub(crate) service_id: Option<String>,
}

/// Checks a ticket body. Whether `serviceId` names an existing service is the caller's check.
pub(crate) fn new_ticket(body: &Map<String, Value>) -> Result<NewTicket, String> {
    reject_unknown(body, TICKET_FIELDS)?;
    let subject = required_string(body, "subject")?;
    if subject.chars().count() > 200 {
        return Err("subject must be at most 200 characters".to_owned());
    }
    required_string(body, "body")?;
    let priority = match body.get("priority") {
        None | Some(Value::Null) => "normal".to_owned(),
        Some(Value::String(priority)) if TICKET_PRIORITIES.contains(&priority.as_str()) => priority.clone(),
        Some(other) => {
            return Err(format!("priority must be one of {}, got {other}", TICKET_PRIORITIES.join(", ")));
        }
    };
    let service_id = match body.get("serviceId") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) => Some(id.clone()),
        Some(other) => return Err(format!("serviceId must be a string, got {}", type_name(other))),
    };
    Ok(NewTicket { subject, priority, service_id })
}

/// A validated `POST /v1/account/ssh-keys` body.
pub(crate) struct NewSshKey {
    pub(crate) label: String,
    pub(crate) fingerprint: String,
}

pub(crate) fn new_ssh_key(body: &Map<String, Value>) -> Result<NewSshKey, String> {
    reject_unknown(body, SSH_KEY_FIELDS)?;
    let label = required_string(body, "label")?;
    if label.chars().count() > 100 {
        return Err("label must be at most 100 characters".to_owned());
    }
    let public_key = required_string(body, "publicKey")?;
    let fingerprint = super::ssh::fingerprint(&public_key)?;
    Ok(NewSshKey { label, fingerprint })
}

fn reject_unknown(body: &Map<String, Value>, known: &[&str]) -> Result<(), String> {
    match body.keys().find(|key| !known.contains(&key.as_str())) {
        Some(key) => Err(format!("Unknown field {key}. Accepted fields are {}", known.join(", "))),
        None => Ok(()),
    }
}

fn required_string(body: &Map<String, Value>, key: &str) -> Result<String, String> {
    match body.get(key) {
        Some(Value::String(text)) if !text.trim().is_empty() => Ok(text.clone()),
        Some(Value::String(_)) => Err(format!("{key} must not be empty")),
        None | Some(Value::Null) => Err(format!("{key} is required")),
        Some(other) => Err(format!("{key} must be a string, got {}", type_name(other))),
    }
}

fn optional_integer(body: &Map<String, Value>, key: &str) -> Result<Option<u64>, String> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(number)) if number.as_u64().is_some() => Ok(number.as_u64()),
        Some(other) => Err(format!("{key} must be a non-negative integer, got {other}")),
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn is_email(text: &str) -> bool {
    match text.split_once('@') {
        Some((local, domain)) => !local.is_empty() && domain.contains('.') && !text.contains(char::is_whitespace),
        None => false,
    }
}

/// Accepts a DNS host name of at most 253 bytes with an optional trailing dot. Labels have 1 to
/// 63 letters, digits, hyphens or underscores.
fn is_host_name(text: &str) -> bool {
    let text = text.strip_suffix('.').unwrap_or(text);
    !text.is_empty()
        && text.len() <= 253
        && text.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
        })
}

fn is_record_name(text: &str) -> bool {
    text == "@" || text == "*" || text.strip_prefix("*.").map_or_else(|| is_host_name(text), is_host_name)
}

fn is_srv_value(text: &str) -> bool {
    let parts: Vec<&str> = text.split_whitespace().collect();
    matches!(parts.as_slice(), [weight, port, target]
        if weight.parse::<u16>().is_ok() && port.parse::<u16>().is_ok() && is_host_name(target))
}

fn is_caa_value(text: &str) -> bool {
    let mut parts = text.splitn(3, ' ');
    let (Some(flags), Some(tag), Some(value)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    flags.parse::<u8>().is_ok()
        && matches!(tag, "issue" | "issuewild" | "iodef")
        && value.len() >= 2
        && value.starts_with('"')
        && value.ends_with('"')
}
