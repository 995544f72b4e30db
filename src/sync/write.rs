//! The database side of a sync: jobs that run on the writer thread, which makes each one atomic.

use rusqlite::Connection;
use rusqlite::types::Value as SqlValue;

use super::decode::DecodedItem;
use super::resources::{self, Resource, Source};
use crate::api::Validators;
use crate::archive::{self, HistoryContext, IdSet, Outcome, RowWrite, Scope};

/// Returns the scope of a resource's rows: the account's, or one parent's.
pub fn scope<'a>(resource: &'a Resource, account_id: &'a str, parent_id: Option<&'a str>) -> Scope<'a> {
    let parent = match (resource.source, parent_id) {
        (Source::PerParent { parent_column, .. }, Some(parent_id)) => Some((parent_column, parent_id)),
        _ => None,
    };
    Scope {
        table: resource.table,
        account_id,
        has_account_column: resource.scoped_by_account(),
        parent,
        id_column: "id",
        snapshot_columns: resource.snapshot_columns(),
    }
}

/// The change to the stored validators of a request, by request path and query.
pub enum ValidatorUpdate {
    Keep,
    Store(String, Validators),
    /// The response no longer stands for a whole listing, so a 304 must not stand for it.
    Forget(String),
}

/// A page to store, with the change to its request's validators.
pub struct PageWrite {
    pub resource: &'static Resource,
    pub account_id: String,
    pub parent_id: Option<String>,
    pub items: Vec<DecodedItem>,
    pub validators: ValidatorUpdate,
}

/// Writes one page and returns each item's outcome, in page order.
pub fn write_page(tx: &Connection, page: PageWrite, history: &HistoryContext) -> rusqlite::Result<Vec<Outcome>> {
    let resource = page.resource;
    let mut outcomes = Vec::with_capacity(page.items.len());
    for item in page.items {
        let mut columns = item.columns;
        if resource.name == resources::TICKETS.name {
            clear_unknown_service(tx, &page.account_id, &item.id, &mut columns)?;
        }
        let row = RowWrite {
            scope: scope(resource, &page.account_id, page.parent_id.as_deref()),
            id: SqlValue::Text(item.id.clone()),
            columns,
            raw_column: "raw_json",
            normal: Some(item.normal.unwrap_or_else(|| item.raw.clone())),
            raw: item.raw,
        };
        let outcome = archive::write_row(tx, &row, history)?;
        if let (Some(embedded), Some(children)) = (resource.embedded, item.embedded)
            && outcome != Outcome::Unchanged
        {
            let parent_is_new = outcome == Outcome::Inserted;
            write_embedded(tx, embedded, &page.account_id, &item.id, children, parent_is_new, history)?;
        }
        outcomes.push(outcome);
    }
    apply_validators(tx, &page.account_id, &page.validators, &history.now)?;
    Ok(outcomes)
}

/// Writes one decoded item into its table (no embedded rows), with its history row.
pub fn write_item(
    tx: &Connection,
    resource: &'static Resource,
    account_id: &str,
    parent_id: Option<&str>,
    item: DecodedItem,
    history: &HistoryContext,
) -> rusqlite::Result<Outcome> {
    let row = RowWrite {
        scope: scope(resource, account_id, parent_id),
        id: SqlValue::Text(item.id),
        columns: item.columns,
        raw_column: "raw_json",
        normal: Some(item.normal.unwrap_or_else(|| item.raw.clone())),
        raw: item.raw,
    };
    archive::write_row(tx, &row, history)
}

/// Writes a detail response into its item's row.
pub fn write_detail(
    tx: &Connection,
    resource: &'static Resource,
    account_id: &str,
    item: DecodedItem,
    validators: ValidatorUpdate,
    history: &HistoryContext,
) -> rusqlite::Result<Outcome> {
    let detail = resource.detail.expect("only resources with a detail endpoint have details");
    let row = RowWrite {
        scope: scope(resource, account_id, None),
        id: SqlValue::Text(item.id),
        columns: item.columns,
        raw_column: detail.raw_column,
        raw: item.raw,
        // A service's snapshot merges the detail with the list entry, so it is built on write.
        normal: None,
    };
    let outcome = archive::write_row(tx, &row, history)?;
    apply_validators(tx, account_id, &validators, &history.now)?;
    Ok(outcome)
}

fn apply_validators(tx: &Connection, account_id: &str, update: &ValidatorUpdate, now: &str) -> rusqlite::Result<()> {
    match update {
        ValidatorUpdate::Keep => Ok(()),
        ValidatorUpdate::Store(path, validators) => archive::store_validators(tx, account_id, path, validators, now),
        ValidatorUpdate::Forget(path) => archive::forget_validators(tx, account_id, path),
    }
}

/// Counts of rows marked deleted by one inference.
#[derive(Debug, Default)]
pub struct Deletions {
    pub own: u64,
    /// Rows of a child list (a deleted domain's DNS records) marked with their parent.
    pub children: u64,
}

/// Marks the live rows of a completely listed scope that the listing did not contain as
/// deleted, together with their child rows.
pub fn infer_deletions(
    tx: &Connection,
    resource: &'static Resource,
    account_id: &str,
    parent_id: Option<&str>,
    seen: &IdSet,
    history: &HistoryContext,
) -> rusqlite::Result<Deletions> {
    let marked = archive::mark_missing(tx, &scope(resource, account_id, parent_id), seen, history)?;
    let mut deletions = Deletions { own: marked.len() as u64, children: 0 };
    let nothing = IdSet::default();
    for id in &marked {
        tracing::info!("{} {id:?} is gone from the API; marked deleted", resource.noun);
        if let Some(child) = child_list_of(resource) {
            deletions.children +=
                archive::mark_missing(tx, &scope(child, account_id, Some(id)), &nothing, history)?.len() as u64;
            // A 304 for the child list would now vouch for rows this cascade marked deleted.
            if let Some(path) = child_path(tx, resource, child, account_id, id)? {
                archive::forget_validators_of_path(tx, account_id, &path)?;
            }
        }
        if let Some(embedded) = resource.embedded {
            archive::mark_missing(tx, &embedded_scope(embedded, account_id, id), &nothing, history)?;
        }
    }
    Ok(deletions)
}

/// Returns the request path of a parent's child list, such as a domain's records.
fn child_path(
    tx: &Connection,
    parent: &Resource,
    child: &Resource,
    account_id: &str,
    parent_id: &str,
) -> rusqlite::Result<Option<String>> {
    let Source::PerParent { parent_key, path, .. } = child.source else {
        return Ok(None);
    };
    let Some(field) = parent.fields.iter().find(|field| field.json == parent_key) else {
        return Ok(None);
    };
    let sql = format!("SELECT {} FROM {} WHERE account_id = ?1 AND id = ?2", field.column, parent.table);
    let key: Option<String> = tx.prepare_cached(&sql)?.query_row([account_id, parent_id], |row| row.get(0))?;
    Ok(key.and_then(|key| crate::api::path::segment(&key).ok()).map(|segment| path.replace("{}", &segment)))
}

/// Returns the resource listed per item of `resource` (DNS records of a domain).
pub fn child_list_of(resource: &Resource) -> Option<&'static Resource> {
    resources::ALL
        .iter()
        .copied()
        .find(|child| matches!(child.source, Source::PerParent { parent, .. } if parent == resource.name))
}

fn embedded_scope<'a>(embedded: resources::Embedded, account_id: &'a str, parent_id: &'a str) -> Scope<'a> {
    Scope {
        table: embedded.table,
        account_id,
        has_account_column: true,
        parent: Some((embedded.parent_column, parent_id)),
        id_column: "position",
        snapshot_columns: &["raw_json"],
    }
}

/// Leaves a ticket's `service_id` empty when the archive has no such service, because the
/// foreign key would reject the row. `raw_json` still contains the API's `serviceId`.
fn clear_unknown_service(
    tx: &Connection,
    account_id: &str,
    ticket_id: &str,
    columns: &mut [(&'static str, SqlValue)],
) -> rusqlite::Result<()> {
    for (column, value) in columns.iter_mut() {
        if *column != "service_id" {
            continue;
        }
        let SqlValue::Text(service_id) = value else { continue };
        let known: bool = tx
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM services WHERE account_id = ?1 AND id = ?2)")?
            .query_row([account_id, service_id.as_str()], |row| row.get(0))?;
        if !known {
            // `link_ticket_services` fills the column once the service is archived.
            tracing::warn!(
                "ticket {ticket_id:?} names service {service_id:?}, which the archive does not have; service_id left empty"
            );
            *value = SqlValue::Null;
        }
    }
    Ok(())
}

/// Fills `tickets.service_id` from `raw_json` where it was left empty because the service was
/// not archived yet and now is. Returns the number of tickets linked. This derives a column from
/// data already stored, so it records no history.
pub fn link_ticket_services(connection: &Connection, account_id: &str) -> rusqlite::Result<usize> {
    connection.execute(
        "UPDATE tickets SET service_id = json_extract(raw_json, '$.serviceId')
         WHERE account_id = ?1 AND service_id IS NULL
           AND EXISTS (SELECT 1 FROM services s
                       WHERE s.account_id = tickets.account_id AND s.id = json_extract(tickets.raw_json, '$.serviceId'))",
        [account_id],
    )
}

/// Stores the embedded rows of a changed parent by position; positions past the new end are
/// marked deleted. The search for them is skipped for a parent inserted just now, because the
/// foreign key to the parent admits no stored rows for it.
fn write_embedded(
    tx: &Connection,
    embedded: resources::Embedded,
    account_id: &str,
    parent_id: &str,
    children: Vec<DecodedItem>,
    parent_is_new: bool,
    history: &HistoryContext,
) -> rusqlite::Result<()> {
    let mut seen = IdSet::default();
    for (position, child) in children.into_iter().enumerate() {
        let row = RowWrite {
            scope: embedded_scope(embedded, account_id, parent_id),
            id: SqlValue::Integer(position as i64),
            columns: child.columns,
            raw_column: "raw_json",
            normal: Some(child.normal.unwrap_or_else(|| child.raw.clone())),
            raw: child.raw,
        };
        archive::write_row(tx, &row, history)?;
        if !parent_is_new {
            seen.insert(&position.to_string());
        }
    }
    if !parent_is_new {
        archive::mark_missing(tx, &embedded_scope(embedded, account_id, parent_id), &seen, history)?;
    }
    Ok(())
}
