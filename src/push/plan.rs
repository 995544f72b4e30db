//! Planning a push: the request each edit sends, and the checks against the archive that
//! happen before anything is sent. Building a request does no I/O.

use reqwest::Method;
use rusqlite::{Connection, OptionalExtension};
use serde_json::{Map, Value};

use super::validate::{self, EditKind};
use crate::api::path;

/// The HTTP request an edit sends.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub method: Method,
    pub path: String,
    pub body: Option<Value>,
    /// `X-Confirm-Destroy: yes`, required by `DELETE /v1/services/:id`.
    pub confirm_destroy: bool,
}

impl Request {
    /// Describes the request on one line, for `push --dry-run` and logs.
    pub fn describe(&self) -> String {
        let mut line = format!("{} {}", self.method, self.path);
        if let Some(body) = &self.body {
            line.push(' ');
            line.push_str(&body.to_string());
        }
        if self.confirm_destroy {
            line.push_str(" (X-Confirm-Destroy: yes)");
        }
        line
    }
}

/// Checks an edit's payload and builds its request.
pub fn request_for(kind: &EditKind, target: Option<&str>, payload: &Value) -> Result<Request, String> {
    validate::validate(kind, target, payload).map_err(|error| error.to_string())?;
    let segment = |value: Option<&str>| -> Result<String, String> {
        path::segment(value.unwrap_or_default()).map_err(|error| format!("target: {error}"))
    };
    let request = match kind {
        EditKind::AccountUpdate => Request {
            method: Method::PUT,
            path: "/v1/account".to_string(),
            body: Some(payload.clone()),
            confirm_destroy: false,
        },
        EditKind::SshKeyCreate => Request {
            method: Method::POST,
            path: "/v1/account/ssh-keys".to_string(),
            body: Some(payload.clone()),
            confirm_destroy: false,
        },
        EditKind::DnsRecordCreate => Request {
            method: Method::POST,
            path: format!("/v1/domains/{}/records", segment(target)?),
            body: Some(payload.clone()),
            confirm_destroy: false,
        },
        EditKind::TicketCreate => Request {
            method: Method::POST,
            path: "/v1/tickets".to_string(),
            body: Some(payload.clone()),
            confirm_destroy: false,
        },
        EditKind::ServiceReboot => Request {
            method: Method::POST,
            path: format!("/v1/services/{}/reboot", segment(target)?),
            body: None,
            confirm_destroy: false,
        },
        EditKind::ServiceDestroy => Request {
            method: Method::DELETE,
            path: format!("/v1/services/{}", segment(target)?),
            body: None,
            confirm_destroy: true,
        },
    };
    Ok(request)
}

/// Archive data that an edit needs.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// The id of the domain a DNS record is created in.
    pub domain_id: Option<String>,
}

/// Checks an edit against the archive: the service it names exists and is not deleted, and the
/// domain of a DNS record is archived. Returns the facts the push needs, or the reason to fail.
pub fn check_archive(
    connection: &Connection,
    account_id: &str,
    kind: &EditKind,
    target: Option<&str>,
    payload: &Value,
) -> Result<Facts, String> {
    let service = match kind {
        EditKind::ServiceReboot | EditKind::ServiceDestroy => target.map(|id| ("target", id)),
        EditKind::TicketCreate => payload.get("serviceId").and_then(Value::as_str).map(|id| ("payload.serviceId", id)),
        _ => None,
    };
    if let Some((field, id)) = service {
        let deleted: Option<Option<String>> = connection
            .query_row("SELECT deleted_at FROM services WHERE account_id = ?1 AND id = ?2", [account_id, id], |row| {
                row.get(0)
            })
            .optional()
            .map_err(|error| format!("failed to read the archive: {error}"))?;
        match deleted {
            None => {
                return Err(format!(
                    "{field}: service {id:?} is not in the archive; run `omega-sync sync` or check the id"
                ));
            }
            Some(Some(at)) => {
                return Err(format!("{field}: service {id:?} was deleted (gone from the API since {at})"));
            }
            Some(None) => {}
        }
    }
    let mut facts = Facts::default();
    if *kind == EditKind::DnsRecordCreate {
        let name = target.unwrap_or_default();
        let domain: Option<(String, Option<String>)> = connection
            .query_row(
                "SELECT id, deleted_at FROM domains WHERE account_id = ?1 AND name = ?2 ORDER BY deleted_at IS NOT NULL LIMIT 1",
                [account_id, name],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
            .map_err(|error| format!("failed to read the archive: {error}"))?;
        match domain {
            None => {
                return Err(format!(
                    "target: domain {name:?} is not in the archive; run `omega-sync sync` or check the name"
                ));
            }
            Some((_, Some(at))) => {
                return Err(format!("target: domain {name:?} was deleted (gone from the API since {at})"));
            }
            Some((id, None)) => facts.domain_id = Some(id),
        }
    }
    Ok(facts)
}

/// Returns the archived account's values of the fields an update changes, for `expected`.
pub fn archived_values(connection: &Connection, account_id: &str, payload: &Value) -> Result<Value, String> {
    let raw: Option<String> = connection
        .query_row("SELECT raw_json FROM accounts WHERE id = ?1", [account_id], |row| row.get(0))
        .optional()
        .map_err(|error| format!("failed to read the archive: {error}"))?;
    let Some(raw) = raw else {
        return Err(format!("account {account_id:?} is not in the archive; run `omega-sync sync` first"));
    };
    let archived: Value =
        serde_json::from_str(&raw).map_err(|error| format!("the archived account is not JSON: {error}"))?;
    let fields = payload.as_object().map(|object| object.keys().cloned().collect::<Vec<_>>()).unwrap_or_default();
    let values: Map<String, Value> =
        fields.into_iter().map(|field| (field.clone(), archived.get(&field).cloned().unwrap_or(Value::Null))).collect();
    Ok(Value::Object(values))
}

/// Lists the fields whose `current` value differs from `expected`, as `field: expected -> current`.
pub fn differences(expected: &Value, current: &Value) -> Vec<String> {
    let Some(expected) = expected.as_object() else { return Vec::new() };
    expected
        .iter()
        .filter_map(|(field, value)| {
            let now = current.get(field).unwrap_or(&Value::Null);
            (now != value).then(|| format!("{field}: {value} -> {now}"))
        })
        .collect()
}

/// Returns the one account in the archive, for edits queued without one.
pub fn only_account(connection: &Connection) -> Result<String, String> {
    let mut statement = connection
        .prepare("SELECT id FROM accounts ORDER BY id LIMIT 2")
        .map_err(|error| format!("failed to read the archive: {error}"))?;
    let ids: Vec<String> = statement
        .query_map([], |row| row.get(0))
        .and_then(|rows| rows.collect())
        .map_err(|error| format!("failed to read the archive: {error}"))?;
    match ids.as_slice() {
        [id] => Ok(id.clone()),
        [] => Err("the archive has no account yet; run `omega-sync sync` first".to_string()),
        _ => Err("the archive holds several accounts; set outbox.account_id on the edit".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn record_request_encodes_domain() {
        let payload = json!({"type": "A", "name": "staging", "value": "198.51.100.99", "ttl": 300});

        let request = request_for(&EditKind::DnsRecordCreate, Some("example.com"), &payload).unwrap();

        assert_eq!(request.method, Method::POST);
        assert_eq!(request.path, "/v1/domains/example.com/records");
        assert_eq!(request.body, Some(payload));
    }

    #[test]
    fn destroy_request_confirms() {
        let request = request_for(&EditKind::ServiceDestroy, Some("svc_1"), &json!({})).unwrap();

        assert_eq!(request.describe(), "DELETE /v1/services/svc_1 (X-Confirm-Destroy: yes)");
    }

    #[test]
    fn invalid_payload_names_field() {
        let payload = json!({"type": "A", "name": "staging", "value": "300.1.1.1"});

        let error = request_for(&EditKind::DnsRecordCreate, Some("example.com"), &payload).unwrap_err();

        assert!(error.starts_with("payload.value"), "{error}");
    }

    #[test]
    fn differences_listed() {
        let expected = json!({"company": "Acme Inc.", "phone": null});
        let current = json!({"company": "Other Corp", "phone": null, "email": "x@example.com"});

        assert_eq!(differences(&expected, &current), vec![r#"company: "Acme Inc." -> "Other Corp""#]);
    }
}
