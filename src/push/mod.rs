//! Pushing queued edits to the API: validated, planned, sent once with an idempotency key, and
//! reconciled after a lost response so that nothing is created twice.
//!
//! Every edit moves `pending` -> `in_flight` (committed before the request leaves) -> `done`,
//! with its result written into the archive in the same transaction. A 4xx ends it `failed`.
//! A 429 or 5xx returns it to `pending` with a backoff. A lost response leaves it `in_flight`,
//! and the next push looks for its effect before anything is sent again.

pub mod apply;
pub mod jobs;
pub mod outbox;
pub mod plan;
pub mod reconcile;
pub mod validate;

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::Connection;
use serde_json::Value;

use crate::api::{ApiError, Client};
use outbox::Edit;
use plan::Facts;
use reconcile::Found;
use validate::EditKind;

/// Options of one push.
#[derive(Debug, Clone)]
pub struct PushOptions {
    /// Print the plan and send nothing.
    pub dry_run: bool,
    /// Send account updates even when the API's current values differ from the expected ones.
    pub force: bool,
    /// Allow confirmed `service.destroy` edits to be sent.
    pub allow_destroy: bool,
    /// After a reboot, poll its job until it ends or `wait_limit` passes.
    pub wait: bool,
    pub wait_limit: Duration,
}

/// The outcome of one edit in a push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Result {
    Done(Option<String>),
    Failed(String),
    Conflict(String),
    /// Still pending: it waits for a backoff, `--allow-destroy`, or the next run.
    Pending(String),
    /// Sent, but the outcome is unknown; the next push reconciles it.
    Unknown(String),
    /// A dry run's plan for the edit.
    Planned(Vec<String>),
}

/// The outcome of a push, one line per edit.
#[derive(Debug, Default)]
pub struct PushReport {
    pub edits: Vec<(Edit, Result)>,
}

impl PushReport {
    pub fn nothing_to_do(&self) -> bool {
        self.edits.is_empty()
    }

    /// Tells whether every edit of the run ended `done`.
    pub fn all_applied(&self) -> bool {
        self.edits.iter().all(|(_, result)| matches!(result, Result::Done(_) | Result::Planned(_)))
    }
}

/// Applies every open edit in queue order, or with `dry_run` prints what it would do.
pub async fn push(client: &Client, connection: &mut Connection, options: &PushOptions) -> anyhow::Result<PushReport> {
    let edits = outbox::open_edits(connection, options.force)?;
    let mut report = PushReport::default();
    let unfinished_jobs: i64 =
        connection.query_row("SELECT count(*) FROM jobs WHERE finished_at IS NULL", [], |row| row.get(0))?;
    if edits.is_empty() && (options.dry_run || unfinished_jobs == 0) {
        return Ok(report);
    }
    let key_account = if options.dry_run { None } else { Some(account_of_key(client).await?) };
    let mut key_account = key_account;
    for edit in edits {
        let result = match &key_account {
            None => Result::Planned(plan_lines(connection, &edit, options)),
            Some(account) => match apply_edit(client, connection, &edit, account, options).await {
                Ok(result) => result,
                // An error here comes from the archive or the API after the send. The edit stays as
                // recorded (in flight if it was sent), and the other edits still get their turn.
                Err(error) => Result::Unknown(format!("{error:#}")),
            },
        };
        if edit.kind == Some(EditKind::AccountUpdate) && matches!(result, Result::Done(_)) {
            // Later account edits must compare against the account as it is now.
            key_account = Some(account_of_key(client).await?);
        }
        report.edits.push((edit, result));
    }
    if let Some(account) = &key_account {
        match jobs::poll_unfinished(client, connection, &account.id).await {
            Ok(0) => {}
            Ok(running) => tracing::info!(running, "jobs still running; the next push polls them again"),
            Err(error) => tracing::warn!("failed to poll unfinished jobs: {error:#}; the next push tries again"),
        }
    }
    Ok(report)
}

/// The account the API key belongs to, as the API returns it now.
struct KeyAccount {
    id: String,
    current: Value,
}

async fn account_of_key(client: &Client) -> anyhow::Result<KeyAccount> {
    let response = client.get_json("/v1/account", &[]).await?;
    let id = response.body.get("id").and_then(Value::as_str).map(str::to_string).ok_or_else(|| {
        anyhow::anyhow!("GET /v1/account: the response has no account id, so edits cannot be matched to it")
    })?;
    Ok(KeyAccount { id, current: response.body })
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Returns the plan of one edit for a dry run: the request, or why it would not be sent.
fn plan_lines(connection: &Connection, edit: &Edit, options: &PushOptions) -> Vec<String> {
    let (kind, payload) = match (&edit.kind, &edit.payload) {
        (Some(kind), Ok(payload)) => (kind, payload),
        (None, _) => return vec![format!("would fail: unknown kind {:?}", edit.kind_name)],
        (_, Err(error)) => return vec![format!("would fail: {error}")],
    };
    if edit.status == "in_flight" {
        return vec!["would first look for the result of the earlier attempt, whose response was lost".to_string()];
    }
    if let Some(wait) = waiting_until(edit) {
        return vec![format!("waits until {wait} after an earlier 429 or server error")];
    }
    let account_id = match edit.account_id.clone().map_or_else(|| plan::only_account(connection), Ok) {
        Ok(id) => id,
        Err(error) => return vec![format!("would fail: {error}")],
    };
    let request = match plan::request_for(kind, edit.target.as_deref(), payload) {
        Ok(request) => request,
        Err(error) => return vec![format!("would fail: {error}")],
    };
    if let Err(error) = plan::check_archive(connection, &account_id, kind, edit.target.as_deref(), payload) {
        return vec![format!("would fail: {error}")];
    }
    if let Some(reason) = destroy_gate(edit, kind, options) {
        return vec![reason.describe()];
    }
    let mut lines = vec![request.describe()];
    if *kind == EditKind::AccountUpdate
        && let Ok(archived) = plan::archived_values(connection, &account_id, payload)
    {
        lines.extend(plan::differences(&archived, payload).into_iter().map(|line| format!("  {line}")));
    }
    lines
}

/// The reason a destroy is held back.
enum Gate {
    Unconfirmed,
    NotAllowed,
}

impl Gate {
    fn describe(&self) -> String {
        match self {
            Gate::Unconfirmed => "would fail: the destroy was not confirmed; queue it with \
                                  `omega-sync queue destroy ID --confirm ID`"
                .to_string(),
            Gate::NotAllowed => "held back: destroying a service needs `push --allow-destroy`".to_string(),
        }
    }
}

fn destroy_gate(edit: &Edit, kind: &EditKind, options: &PushOptions) -> Option<Gate> {
    if *kind != EditKind::ServiceDestroy {
        return None;
    }
    if !edit.confirmed {
        return Some(Gate::Unconfirmed);
    }
    (!options.allow_destroy).then_some(Gate::NotAllowed)
}

fn waiting_until(edit: &Edit) -> Option<String> {
    let at = edit.next_attempt_at.as_deref()?;
    let parsed = DateTime::parse_from_rfc3339(at).ok()?;
    (parsed > Utc::now()).then(|| at.to_string())
}

/// Applies one edit and records the result.
async fn apply_edit(
    client: &Client,
    connection: &mut Connection,
    edit: &Edit,
    key_account: &KeyAccount,
    options: &PushOptions,
) -> anyhow::Result<Result> {
    let fail = |connection: &Connection, message: String| -> anyhow::Result<Result> {
        outbox::set_status(connection, edit.id, "failed", Some(&message), None, &now())?;
        Ok(Result::Failed(message))
    };
    let (kind, payload) = match (&edit.kind, &edit.payload) {
        (Some(kind), Ok(payload)) => (*kind, payload.clone()),
        (None, _) => return fail(connection, format!("kind: unknown kind {:?}", edit.kind_name)),
        (_, Err(error)) => return fail(connection, error.clone()),
    };
    if let Some(account_id) = &edit.account_id
        && *account_id != key_account.id
    {
        return fail(
            connection,
            format!("account_id: the edit is for account {account_id}, but the API key belongs to {}", key_account.id),
        );
    }
    let account_id = key_account.id.as_str();

    // An edit sent before whose outcome is not known for certain: look for its effect first.
    // A create that got 500 or 503 went back to `pending`, but its `first_sent_at` says it
    // was sent, so it is checked too.
    if edit.status != "in_flight"
        && let Some(wait) = waiting_until(edit)
    {
        return Ok(Result::Pending(format!("waits until {wait}")));
    }
    let was_sent = edit.status == "in_flight"
        || (edit.first_sent_at.is_some()
            && matches!(kind, EditKind::DnsRecordCreate | EditKind::SshKeyCreate | EditKind::TicketCreate));
    if was_sent {
        match reconcile::find_effect(client, edit, &kind, &payload).await {
            Ok(Found::Created(object)) => {
                let facts = plan::check_archive(connection, account_id, &kind, edit.target.as_deref(), &payload)
                    .unwrap_or_default();
                let remote_id = apply::store_result(connection, edit, &kind, account_id, &facts, &object, &now())?;
                tracing::info!("edit #{}: adopted the result of the earlier attempt", edit.id);
                return Ok(Result::Done(remote_id));
            }
            Ok(Found::Absent) => tracing::info!("edit #{}: the earlier attempt left no trace; sending again", edit.id),
            Ok(Found::Unknown(reason)) => return fail(connection, format!("outcome unknown: {reason}")),
            Err(error) => {
                let message = format!("could not check the earlier attempt: {error}; the next push tries again");
                outbox::set_status(connection, edit.id, "in_flight", Some(&message), None, &now())?;
                return Ok(Result::Unknown(message));
            }
        }
    }

    let request = match plan::request_for(&kind, edit.target.as_deref(), &payload) {
        Ok(request) => request,
        Err(error) => return fail(connection, error),
    };
    let facts = match plan::check_archive(connection, account_id, &kind, edit.target.as_deref(), &payload) {
        Ok(facts) => facts,
        Err(error) => return fail(connection, error),
    };
    match destroy_gate(edit, &kind, options) {
        Some(Gate::Unconfirmed) => return fail(connection, Gate::Unconfirmed.describe().replace("would fail: ", "")),
        Some(Gate::NotAllowed) => return Ok(Result::Pending(Gate::NotAllowed.describe())),
        None => {}
    }
    if kind == EditKind::AccountUpdate && plan::differences(&payload, &key_account.current).is_empty() {
        // The account already has these values: an earlier attempt went through, or someone made
        // the same change. Sending would change nothing.
        let facts = Facts::default();
        let remote_id = apply::store_result(connection, edit, &kind, account_id, &facts, &key_account.current, &now())?;
        return Ok(Result::Done(remote_id));
    }
    if kind == EditKind::AccountUpdate
        && edit.status != "in_flight"
        && let Some(expected) = &edit.expected
    {
        let changed = plan::differences(expected, &key_account.current);
        if !changed.is_empty() && !options.force {
            let message = format!(
                "the account changed since the edit was queued ({}); it was not sent. Requeue it, or push --force",
                changed.join(", ")
            );
            outbox::set_status(connection, edit.id, "conflict", Some(&message), None, &now())?;
            return Ok(Result::Conflict(message));
        }
    }

    send(client, connection, edit, &kind, account_id, &facts, &request, options).await
}

#[allow(clippy::too_many_arguments)]
async fn send(
    client: &Client,
    connection: &mut Connection,
    edit: &Edit,
    kind: &EditKind,
    account_id: &str,
    facts: &Facts,
    request: &plan::Request,
    options: &PushOptions,
) -> anyhow::Result<Result> {
    if !outbox::mark_in_flight(connection, edit.id, &now())? {
        return Ok(Result::Pending("cancelled while the push ran; not sent".to_string()));
    }
    let mut headers = vec![("idempotency-key", edit.idempotency_key.as_str())];
    if request.confirm_destroy {
        headers.push(("x-confirm-destroy", "yes"));
    }
    tracing::info!("edit #{}: {}", edit.id, request.describe());
    let response = client.request_once(request.method.clone(), &request.path, request.body.as_ref(), &headers).await;
    let response = match response {
        Ok(response) => response,
        Err(error) => return record_failure(connection, edit, error),
    };
    let remote_id = match apply::store_result(connection, edit, kind, account_id, facts, &response.body, &now()) {
        Ok(remote_id) => remote_id,
        Err(error) => {
            let message = format!(
                "the API applied the edit, but storing its result failed: {error:#}; the next push checks again"
            );
            outbox::set_status(connection, edit.id, "in_flight", Some(&message), None, &now())?;
            return Ok(Result::Unknown(message));
        }
    };
    if *kind == EditKind::ServiceReboot
        && options.wait
        && let Some(job_id) = &remote_id
    {
        match jobs::wait(client, connection, account_id, job_id, options.wait_limit).await {
            Ok(status) => tracing::info!("job {job_id} of edit #{}: {status}", edit.id),
            Err(error) => tracing::warn!("failed to poll job {job_id} of edit #{}: {error:#}", edit.id),
        }
    }
    Ok(Result::Done(remote_id))
}

/// Records a failed send: a 4xx fails the edit, a 429 or 5xx or a refused connection leaves it
/// pending with a backoff, and anything after which the API may have acted leaves it in flight.
fn record_failure(connection: &Connection, edit: &Edit, error: ApiError) -> anyhow::Result<Result> {
    let message = error.to_string();
    let retry_later = |wait: Option<Duration>| -> anyhow::Result<Result> {
        let backoff = Duration::from_secs(30u64.saturating_mul(1 << (edit.attempts.clamp(0, 7) as u32)))
            .min(Duration::from_secs(3600));
        let wait = wait.map_or(backoff, |wait| wait.max(backoff));
        let at = (Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default())
            .to_rfc3339_opts(SecondsFormat::Secs, true);
        outbox::set_status(connection, edit.id, "pending", Some(&message), Some(&at), &now())?;
        Ok(Result::Pending(format!("{message}; retried after {at}")))
    };
    match &error {
        ApiError::RateLimited { retry_after, .. } => retry_later(*retry_after),
        // A gateway error can follow an edit the API applied behind the gateway.
        ApiError::Status { status: 502 | 504, .. } => {
            let message = format!(
                "{message}; the API may have applied the edit behind the gateway, so the next push checks before sending again"
            );
            outbox::set_status(connection, edit.id, "in_flight", Some(&message), None, &now())?;
            Ok(Result::Unknown(message))
        }
        ApiError::Status { status, .. } if *status >= 500 => retry_later(None),
        ApiError::Status { .. } | ApiError::UnsafePathSegment { .. } => {
            outbox::set_status(connection, edit.id, "failed", Some(&message), None, &now())?;
            Ok(Result::Failed(message))
        }
        // The request was never sent.
        ApiError::Transport { maybe_received: false, .. } | ApiError::Tls { .. } => retry_later(None),
        ApiError::Transport { .. } | ApiError::Malformed { .. } | ApiError::TooLarge { .. } => {
            let message =
                format!("{message}; the API may have applied the edit, so the next push checks before sending again");
            outbox::set_status(connection, edit.id, "in_flight", Some(&message), None, &now())?;
            Ok(Result::Unknown(message))
        }
    }
}
