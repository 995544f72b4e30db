//! Reconciling an edit whose response was lost (a timeout, a reset or a crash after sending):
//! look for what it created before sending it again.

use chrono::{DateTime, Duration as TimeDelta, Utc};
use serde_json::Value;

use super::outbox::Edit;
use super::validate::{self, EditKind};
use crate::api::{Client, path};
use crate::sync::decode::parse_page;

/// Clocks of this machine and the API may disagree by this much; a created object is searched
/// from this long before the first send.
const CLOCK_SKEW: TimeDelta = TimeDelta::minutes(5);

/// Pages of tickets read at most while looking for a created ticket.
const MAX_TICKET_PAGES: u64 = 50;

/// The result of looking for an edit's effect.
#[derive(Debug)]
pub enum Found {
    /// The object exists: adopt it as the edit's result.
    Created(Value),
    /// The API provably has no such object, so sending again cannot duplicate it.
    Absent,
    /// Neither can be proven; the edit must not be resent.
    Unknown(String),
}

/// Looks for the effect of an edit that was sent but whose response was lost.
pub async fn find_effect(client: &Client, edit: &Edit, kind: &EditKind, payload: &Value) -> Result<Found, String> {
    let target = edit.target.as_deref().unwrap_or_default();
    match kind {
        // PUT sets the same values again, which is harmless.
        EditKind::AccountUpdate => Ok(Found::Absent),
        EditKind::DnsRecordCreate => {
            let path = format!("/v1/domains/{}/records", path::segment(target).map_err(|e| e.to_string())?);
            let response = client.get_json(&path, &[]).await.map_err(|error| error.to_string())?;
            let page = parse_page(response.body, "records").map_err(|error| format!("GET {path}: {error}"))?;
            if let Some(meta) = page.meta
                && (page.items.len() as u64) < meta.total
            {
                return Ok(Found::Unknown(format!("GET {path} returned only part of the records")));
            }
            let found = page.items.iter().find(|item| same_record(item, payload));
            Ok(found.cloned().map_or(Found::Absent, Found::Created))
        }
        EditKind::SshKeyCreate => {
            let key = payload.get("publicKey").and_then(Value::as_str).unwrap_or_default();
            let fingerprint = validate::fingerprint(key).map_err(|error| error.to_string())?;
            let response = client.get_json("/v1/account/ssh-keys", &[]).await.map_err(|error| error.to_string())?;
            let page =
                parse_page(response.body, "keys").map_err(|error| format!("GET /v1/account/ssh-keys: {error}"))?;
            let found =
                page.items.iter().find(|item| item.get("fingerprint").and_then(Value::as_str) == Some(&fingerprint));
            Ok(found.cloned().map_or(Found::Absent, Found::Created))
        }
        EditKind::TicketCreate => find_ticket(client, edit, payload).await,
        EditKind::ServiceDestroy => {
            let path = format!("/v1/services/{}", path::segment(target).map_err(|e| e.to_string())?);
            match client.get_json(&path, &[]).await {
                Err(error) if error.status() == Some(404) => {
                    Ok(Found::Created(serde_json::json!({ "deleted": true, "id": target })))
                }
                Err(error) => Err(error.to_string()),
                Ok(_) => Ok(Found::Unknown(format!(
                    "service {target:?} still exists, and the API may have scheduled its deletion; \
                     check it, then queue the destroy again if it is still wanted"
                ))),
            }
        }
        EditKind::ServiceReboot => Ok(Found::Unknown(format!(
            "the reboot of {target:?} may or may not have been queued (its response was lost); check the service, \
             then queue the reboot again if it is still needed"
        ))),
    }
}

/// Tells whether an API record is the one a payload asked for, allowing for the spellings an
/// API may normalize: letter case and a trailing dot of names, and IP address notation.
fn same_record(item: &Value, payload: &Value) -> bool {
    let text = |value: &Value, field: &str| value.get(field).and_then(Value::as_str).map(str::to_string);
    let (Some(item_type), Some(requested_type)) = (text(item, "type"), text(payload, "type")) else { return false };
    if !item_type.eq_ignore_ascii_case(&requested_type) {
        return false;
    }
    let host = |name: Option<String>| name.map(|name| name.trim_end_matches('.').to_ascii_lowercase());
    if host(text(item, "name")) != host(text(payload, "name")) {
        return false;
    }
    // Fields the payload sets must match too: an MX record of another priority is another record.
    for field in ["priority", "ttl"] {
        if let Some(requested) = payload.get(field).and_then(Value::as_i64)
            && item.get(field).and_then(Value::as_i64) != Some(requested)
        {
            return false;
        }
    }
    let (Some(item_value), Some(requested_value)) = (text(item, "value"), text(payload, "value")) else { return false };
    match requested_type.to_ascii_uppercase().as_str() {
        "A" | "AAAA" => match (item_value.parse::<std::net::IpAddr>(), requested_value.parse::<std::net::IpAddr>()) {
            (Ok(a), Ok(b)) => a == b,
            _ => item_value == requested_value,
        },
        "CNAME" | "NS" | "MX" => host(Some(item_value)) == host(Some(requested_value)),
        _ => item_value == requested_value,
    }
}

/// Pages through tickets, newest activity first, for one with the edit's subject created after
/// the first send. A ticket created then has an activity time at least as late, so the search
/// can stop at the first page that is entirely older.
async fn find_ticket(client: &Client, edit: &Edit, payload: &Value) -> Result<Found, String> {
    let Some(sent) = edit.first_sent_at.as_deref().and_then(|text| DateTime::parse_from_rfc3339(text).ok()) else {
        return Ok(Found::Unknown("the edit has no first_sent_at, so the search has no starting time".to_string()));
    };
    let since = sent.with_timezone(&Utc) - CLOCK_SKEW;
    let subject = payload.get("subject");
    let parse_time = |item: &Value, field: &str| {
        item.get(field).and_then(Value::as_str).and_then(|text| DateTime::parse_from_rfc3339(text).ok())
    };
    for number in 1..=MAX_TICKET_PAGES {
        let query = [("page", number.to_string()), ("per_page", "100".to_string())];
        let response = client.get_json("/v1/tickets", &query).await.map_err(|error| error.to_string())?;
        let page = parse_page(response.body, "data").map_err(|error| format!("GET /v1/tickets: {error}"))?;
        let found = page.items.iter().find(|item| {
            item.get("subject") == subject && parse_time(item, "createdAt").is_some_and(|created| created >= since)
        });
        if let Some(ticket) = found {
            return Ok(Found::Created(ticket.clone()));
        }
        let oldest = page.items.iter().filter_map(|item| parse_time(item, "updatedAt")).min();
        let last_page =
            page.meta.is_none_or(|meta| number * meta.per_page.max(1) >= meta.total) || page.items.is_empty();
        if last_page || oldest.is_some_and(|oldest| oldest < since) {
            return Ok(Found::Absent);
        }
    }
    Ok(Found::Unknown(format!("no matching ticket in the newest {MAX_TICKET_PAGES} pages")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn record_match_allows_normalized_spellings() {
        let requested = json!({"type": "AAAA", "name": "www", "value": "2001:DB8:0:0::1"});
        let stored = json!({"id": "rec_9", "type": "aaaa", "name": "WWW", "value": "2001:db8::1"});

        assert!(same_record(&stored, &requested));
        assert!(same_record(
            &json!({"type": "CNAME", "name": "a", "value": "Host.Example.com."}),
            &json!({"type": "CNAME", "name": "a", "value": "host.example.com"})
        ));
        assert!(!same_record(
            &json!({"type": "A", "name": "a", "value": "198.51.100.1"}),
            &json!({"type": "A", "name": "a", "value": "198.51.100.2"})
        ));
        assert!(!same_record(
            &json!({"type": "TXT", "name": "a", "value": "X"}),
            &json!({"type": "TXT", "name": "a", "value": "x"})
        ));
    }
}
