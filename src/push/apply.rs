//! Storing what the API returned for a pushed edit, in the same transaction that marks the edit
//! done, so the archive shows the new object at once and never without its edit's record.

use rusqlite::Connection;
use serde_json::Value;

use super::outbox::{self, Edit};
use super::plan::Facts;
use super::validate::EditKind;
use crate::archive::{self, HistoryContext, canonical_json};
use crate::sync::decode::decode_item;
use crate::sync::resources::{self, Resource};
use crate::sync::write;

/// Writes the result of `edit` into the archive and marks it done. Returns the remote id.
pub fn store_result(
    connection: &mut Connection,
    edit: &Edit,
    kind: &EditKind,
    account_id: &str,
    facts: &Facts,
    response: &Value,
    now: &str,
) -> anyhow::Result<Option<String>> {
    let history = HistoryContext { run_id: None, outbox_id: Some(edit.id), now: now.to_string(), initial: false };
    let tx = connection.transaction()?;
    let remote_id = match kind {
        EditKind::DnsRecordCreate => {
            let domain_id = facts.domain_id.as_deref();
            store_object(&tx, &resources::DNS_RECORDS, account_id, domain_id, response, &history)?
        }
        EditKind::SshKeyCreate => store_object(&tx, &resources::SSH_KEYS, account_id, None, response, &history)?,
        EditKind::TicketCreate => store_object(&tx, &resources::TICKETS, account_id, None, response, &history)?,
        EditKind::AccountUpdate => {
            let stored: Option<String> =
                tx.query_row("SELECT raw_json FROM accounts WHERE id = ?1", [account_id], |row| row.get(0)).ok();
            // The update's response holds only some fields; the stored profile supplies the rest.
            let mut merged = stored.and_then(|text| serde_json::from_str::<Value>(&text).ok()).unwrap_or(Value::Null);
            match (merged.as_object_mut(), response.as_object()) {
                (Some(merged), Some(response)) => merged.extend(response.clone()),
                _ => merged = response.clone(),
            }
            store_object(&tx, &resources::ACCOUNT, account_id, None, &merged, &history)?
        }
        EditKind::ServiceReboot => {
            let job_id =
                response.get("jobId").or_else(|| response.get("id")).and_then(Value::as_str).map(str::to_string);
            if let Some(job_id) = &job_id {
                tx.execute(
                    "INSERT INTO jobs (account_id, id, service_id, outbox_id, status, raw_json, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)
                     ON CONFLICT (account_id, id) DO UPDATE SET status = excluded.status, raw_json = excluded.raw_json,
                         updated_at = excluded.updated_at",
                    rusqlite::params![
                        account_id,
                        job_id,
                        edit.target,
                        edit.id,
                        response.get("status").and_then(Value::as_str),
                        canonical_json(response),
                        now
                    ],
                )?;
            }
            job_id
        }
        EditKind::ServiceDestroy => {
            let id = edit.target.clone().unwrap_or_default();
            let scope = write::scope(&resources::SERVICES, account_id, None);
            archive::mark_deleted(&tx, &scope, &id, &history)?;
            Some(id)
        }
    };
    outbox::mark_done(&tx, edit.id, Some(response), remote_id.as_deref(), now)?;
    tx.commit()?;
    Ok(remote_id)
}

fn store_object(
    tx: &rusqlite::Transaction<'_>,
    resource: &'static Resource,
    account_id: &str,
    parent_id: Option<&str>,
    object: &Value,
    history: &HistoryContext,
) -> anyhow::Result<Option<String>> {
    let item = decode_item(object, resource.fields, true)
        .map_err(|error| anyhow::anyhow!("the API's response is not a valid {}: {error}", resource.noun))?;
    for problem in &item.problems {
        tracing::warn!("the API's response: {problem}");
    }
    let id = item.id.clone();
    write::write_item(tx, resource, account_id, parent_id, item, history)?;
    Ok(Some(id))
}
