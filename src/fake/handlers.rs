//! One handler per endpoint of the reference. Authentication, faults, latency and idempotency
//! happen before these run, in the request pipeline.
//!
//! Objects created or changed here take their timestamps from the world's fake clock. Handlers
//! that serve a validator mark their response with one, and the pipeline adds it.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::conditional::{Validator, with_validator};
use super::faults::ListMode;
use super::paging::{json_bytes_response, page_response};
use super::pdf;
use super::routes::{ApiError, PathParam, json_object};
use super::state::{Shared, lock};
use super::validate;
use super::world::{SERVICE_DETAIL_FIELDS, field_str};

type SharedState = State<Arc<Shared>>;
type HandlerResult = Result<Response, ApiError>;

/// Fields of the `PUT /v1/account` response, as in the reference example.
const ACCOUNT_UPDATE_RESPONSE_FIELDS: &[&str] = &["id", "email", "firstName", "lastName", "company", "updatedAt"];

/// Job states in the order a poll advances them.
const JOB_PROGRESS: &[(&str, &str)] = &[("queued", "running"), ("running", "succeeded")];

fn per_page_cap(shared: &Shared) -> u32 {
    lock(&shared.controls).per_page_cap
}

fn envelope(key: &'static str, items: &[Value]) -> Response {
    json_bytes_response(StatusCode::OK, &BTreeMap::from([(key, items)]))
}

pub(crate) async fn show_account(State(shared): SharedState) -> Response {
    let data = lock(&shared.data);
    with_validator(json_bytes_response(StatusCode::OK, &data.world.account), Validator::EntityTag)
}

/// Changes only the provided fields, sets `updatedAt` and returns the fields of the reference
/// example's response.
/// `POST /_fake/scripted-changes`: a control endpoint of the fake only, for benchmarks run
/// against `omega-sync fake-api`. It applies [`World::apply_scripted_changes`].
pub(crate) async fn apply_scripted_changes(State(shared): SharedState) -> HandlerResult {
    let mut data = lock(&shared.data);
    let changed = data.world.apply_scripted_changes();
    data.mark_changed();
    Ok((StatusCode::OK, axum::Json(serde_json::json!({ "changed": changed }))).into_response())
}

pub(crate) async fn update_account(State(shared): SharedState, body: Bytes) -> HandlerResult {
    let changes = json_object(&body)?;
    validate::account_update(&changes).map_err(ApiError::validation)?;

    let mut data = lock(&shared.data);
    let world = &mut data.world;
    let updated_at = world.tick();
    if !world.account.is_object() {
        world.account = Value::Object(Map::new());
    }
    let account = world.account.as_object_mut().expect("account is an object");
    account.extend(changes);
    account.insert("updatedAt".to_owned(), updated_at.into());

    let response: Map<String, Value> = ACCOUNT_UPDATE_RESPONSE_FIELDS
        .iter()
        .filter_map(|key| account.get(*key).map(|value| ((*key).to_owned(), value.clone())))
        .collect();
    Ok(json_bytes_response(StatusCode::OK, &response))
}

pub(crate) async fn list_ssh_keys(State(shared): SharedState) -> Response {
    let data = lock(&shared.data);
    with_validator(envelope("keys", &data.world.ssh_keys), Validator::EntityTag)
}

/// Adds a key, or returns 409 when a key with the same fingerprint exists.
pub(crate) async fn create_ssh_key(State(shared): SharedState, body: Bytes) -> HandlerResult {
    let new_key = validate::new_ssh_key(&json_object(&body)?).map_err(ApiError::validation)?;

    let mut data = lock(&shared.data);
    let world = &mut data.world;
    if let Some(existing) =
        world.ssh_keys.iter().find(|key| field_str(key, "fingerprint") == Some(&new_key.fingerprint))
    {
        return Err(ApiError::conflict(format!(
            "An SSH key with fingerprint {} already exists ({})",
            new_key.fingerprint,
            field_str(existing, "id").unwrap_or("unknown id")
        )));
    }
    let key = json!({
        "id": world.next_id("key_"),
        "label": new_key.label,
        "fingerprint": new_key.fingerprint,
        "createdAt": world.tick()
    });
    world.ssh_keys.push(key.clone());
    Ok((StatusCode::CREATED, axum::Json(key)).into_response())
}

pub(crate) async fn list_services(
    State(shared): SharedState,
    RawQuery(query): RawQuery,
    Extension(mode): Extension<ListMode>,
) -> HandlerResult {
    let cap = per_page_cap(&shared);
    let data = lock(&shared.data);
    page_response(&data.world.services, SERVICE_DETAIL_FIELDS, query.as_deref(), cap, mode)
}

pub(crate) async fn show_service(State(shared): SharedState, PathParam(id): PathParam) -> HandlerResult {
    let mut data = lock(&shared.data);
    let position = data.service_position(&id).ok_or_else(|| service_not_found(&id))?;
    let response = json_bytes_response(StatusCode::OK, &data.world.services[position]);
    Ok(with_validator(response, Validator::EntityTag))
}

fn service_not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("Service {id} not found"))
}

/// Queues a reboot job for a running service, or returns 409 for a service in any other state.
pub(crate) async fn reboot_service(State(shared): SharedState, PathParam(id): PathParam) -> HandlerResult {
    let mut data = lock(&shared.data);
    let position = data.service_position(&id).ok_or_else(|| service_not_found(&id))?;
    let status = field_str(&data.world.services[position], "status").unwrap_or("unknown").to_owned();
    if status != "running" {
        return Err(ApiError::conflict(format!(
            "Service {id} is {status}, but only a running service can be rebooted"
        )));
    }

    let world = &mut data.world;
    let job_id = world.next_id("job_");
    let now = world.tick();
    world.jobs.push(json!({
        "id": job_id,
        "jobId": job_id,
        "type": "reboot",
        "serviceId": id,
        "status": "queued",
        "createdAt": now,
        "updatedAt": now
    }));
    let body = json!({
        "jobId": job_id,
        "status": "queued",
        "message": format!("Reboot queued. Poll /v1/jobs/{job_id} for status.")
    });
    Ok((StatusCode::ACCEPTED, axum::Json(body)).into_response())
}

/// Removes a service, or returns 400 unless the request carries `X-Confirm-Destroy: yes`.
pub(crate) async fn destroy_service(
    State(shared): SharedState,
    PathParam(id): PathParam,
    headers: HeaderMap,
) -> HandlerResult {
    let confirmed = headers.get("x-confirm-destroy").is_some_and(|value| value.as_bytes() == b"yes");
    if !confirmed {
        return Err(ApiError::bad_request(
            "confirmation_required",
            format!("Destroying {id} is irreversible. Send the header X-Confirm-Destroy: yes to confirm."),
        ));
    }

    let mut data = lock(&shared.data);
    let position = data.service_position(&id).ok_or_else(|| service_not_found(&id))?;
    data.world.services.remove(position);
    data.service_removed();
    data.world.tick();
    let body = json!({
        "deleted": true,
        "id": id,
        "message": "Service scheduled for deletion. Data will be purged within 1 hour."
    });
    Ok(json_bytes_response(StatusCode::OK, &body))
}

/// Advances a job one state and returns it: the first poll after the reboot request returns
/// `running`, later polls return `succeeded`. A job in any other state, such as `failed` set by a
/// test, stays as it is.
pub(crate) async fn show_job(State(shared): SharedState, PathParam(id): PathParam) -> HandlerResult {
    let mut data = lock(&shared.data);
    let world = &mut data.world;
    let position = world
        .jobs
        .iter()
        .position(|job| field_str(job, "id") == Some(&id))
        .ok_or_else(|| ApiError::not_found(format!("Job {id} not found")))?;

    let current = field_str(&world.jobs[position], "status").unwrap_or("");
    if let Some((_, next)) = JOB_PROGRESS.iter().find(|(from, _)| *from == current) {
        let now = world.tick();
        let job = &mut world.jobs[position];
        job["status"] = (*next).into();
        job["updatedAt"] = now.into();
    }
    Ok(json_bytes_response(StatusCode::OK, &world.jobs[position]))
}

pub(crate) async fn list_invoices(
    State(shared): SharedState,
    RawQuery(query): RawQuery,
    Extension(mode): Extension<ListMode>,
) -> HandlerResult {
    let cap = per_page_cap(&shared);
    let mut data = lock(&shared.data);
    data.sort_listings();
    page_response(&data.world.invoices, &[], query.as_deref(), cap, mode)
}

pub(crate) async fn invoice_pdf(State(shared): SharedState, PathParam(id): PathParam) -> HandlerResult {
    let mut data = lock(&shared.data);
    let position = data.invoice_position(&id).ok_or_else(|| ApiError::not_found(format!("Invoice {id} not found")))?;
    let invoice = &data.world.invoices[position];
    let number = field_str(invoice, "number").unwrap_or(&id);
    let total = invoice["totalCents"].as_i64().unwrap_or(0);
    let currency = field_str(invoice, "currency").unwrap_or("USD");

    let bytes = pdf::invoice_pdf(number, total, currency);
    let disposition =
        format!("inline; filename=\"{}.pdf\"", number.replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_"));
    Ok((StatusCode::OK, [(CONTENT_TYPE, "application/pdf".to_owned()), (CONTENT_DISPOSITION, disposition)], bytes)
        .into_response())
}

pub(crate) async fn list_payment_methods(
    State(shared): SharedState,
    RawQuery(query): RawQuery,
    Extension(mode): Extension<ListMode>,
) -> HandlerResult {
    let cap = per_page_cap(&shared);
    let data = lock(&shared.data);
    let response = page_response(&data.world.payment_methods, &[], query.as_deref(), cap, mode)?;
    Ok(with_validator(response, Validator::LastModified))
}

pub(crate) async fn list_domains(
    State(shared): SharedState,
    RawQuery(query): RawQuery,
    Extension(mode): Extension<ListMode>,
) -> HandlerResult {
    let cap = per_page_cap(&shared);
    let data = lock(&shared.data);
    page_response(&data.world.domains, &[], query.as_deref(), cap, mode)
}

fn domain_not_found(name: &str) -> ApiError {
    ApiError::not_found(format!("Domain {name} not found"))
}

/// Lists a domain's records, unpaged, under the `records` key.
pub(crate) async fn list_records(State(shared): SharedState, PathParam(name): PathParam) -> HandlerResult {
    let mut data = lock(&shared.data);
    data.domain_position(&name).ok_or_else(|| domain_not_found(&name))?;
    Ok(with_validator(envelope("records", data.world.records(&name)), Validator::EntityTag))
}

pub(crate) async fn create_record(
    State(shared): SharedState,
    PathParam(name): PathParam,
    body: Bytes,
) -> HandlerResult {
    let mut data = lock(&shared.data);
    data.domain_position(&name).ok_or_else(|| domain_not_found(&name))?;
    let new_record = validate::new_record(&json_object(&body)?).map_err(ApiError::validation)?;

    let world = &mut data.world;
    let mut record = Map::with_capacity(7);
    record.insert("id".to_owned(), world.next_id("rec_").into());
    record.insert("type".to_owned(), new_record.record_type.into());
    record.insert("name".to_owned(), new_record.name.into());
    record.insert("value".to_owned(), new_record.value.into());
    if let Some(priority) = new_record.priority {
        record.insert("priority".to_owned(), priority.into());
    }
    record.insert("ttl".to_owned(), new_record.ttl.into());
    record.insert("createdAt".to_owned(), world.tick().into());

    let record = Value::Object(record);
    world.records_mut(&name).push(record.clone());
    Ok((StatusCode::CREATED, axum::Json(record)).into_response())
}

pub(crate) async fn list_tickets(
    State(shared): SharedState,
    RawQuery(query): RawQuery,
    Extension(mode): Extension<ListMode>,
) -> HandlerResult {
    let cap = per_page_cap(&shared);
    let mut data = lock(&shared.data);
    data.sort_listings();
    page_response(&data.world.tickets, &[], query.as_deref(), cap, mode)
}

/// Opens a ticket, or returns 422 when `serviceId` names no existing service.
pub(crate) async fn create_ticket(State(shared): SharedState, body: Bytes) -> HandlerResult {
    let new_ticket = validate::new_ticket(&json_object(&body)?).map_err(ApiError::validation)?;

    let mut data = lock(&shared.data);
    let unknown_service = new_ticket.service_id.as_deref().filter(|id| data.service_position(id).is_none());
    if let Some(service_id) = unknown_service {
        return Err(ApiError::validation(format!("serviceId {service_id} does not match a service on this account")));
    }

    let world = &mut data.world;
    let now = world.tick();
    let mut ticket = Map::with_capacity(7);
    ticket.insert("id".to_owned(), world.next_id("tkt_").into());
    ticket.insert("subject".to_owned(), new_ticket.subject.into());
    ticket.insert("status".to_owned(), "open".into());
    ticket.insert("priority".to_owned(), new_ticket.priority.into());
    if let Some(service_id) = new_ticket.service_id {
        ticket.insert("serviceId".to_owned(), service_id.into());
    }
    ticket.insert("createdAt".to_owned(), now.clone().into());
    ticket.insert("updatedAt".to_owned(), now.into());

    let ticket = Value::Object(ticket);
    world.tickets.push(ticket.clone());
    data.ticket_added();
    Ok((StatusCode::CREATED, axum::Json(ticket)).into_response())
}
