//! The sync engine: fetches every selected resource concurrently, streams each page into the
//! archive as it arrives, and records what happened in `sync_runs` and `sync_state`.
//!
//! Flow: the account comes first (its id keys every other row), then every list starts at once.
//! A list fetches page 1, learns `total` and `perPage` from `meta`, then requests the remaining
//! pages together. Each written page hands its items' children (service details, the DNS
//! records of a domain) to a dispatcher that fetches them concurrently too. The client's
//! semaphore bounds the requests in flight over all of this; the writer's queue bounds the pages
//! waiting for SQLite.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use reqwest::Method;
use rusqlite::Connection;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::decode::decode_item;
use super::listing::{ChildWork, Figures, Lister, Run, count, lock};
use super::plan::{self, Mode, ResourceState};
use super::progress::Progress;
use super::resources::{self, Incremental, Resource, Source};
use super::write::{self, ValidatorUpdate};
use crate::api::{Client, Validators, path};
use crate::archive::{self, HistoryContext, Outcome, ResourceRun, RunStatus, Writer};

/// Options of a sync run.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// The resources to sync besides the account, which is always fetched.
    pub resources: Vec<&'static Resource>,
    /// Items requested per page; the server may return fewer.
    pub per_page: u32,
    /// List every resource in full, whatever its state.
    pub full: bool,
    /// A resource whose last full listing is older than this is listed in full.
    pub full_every: Duration,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            resources: resources::ALL.iter().copied().filter(|r| r.name != "account").collect(),
            per_page: 100,
            full: false,
            full_every: Duration::from_secs(24 * 3600),
        }
    }
}

/// The outcome of a run, as stored in `sync_runs` and `sync_run_resources`.
#[derive(Debug)]
pub struct SyncReport {
    pub run_id: i64,
    pub status: RunStatus,
    pub mode: Mode,
    pub account_id: Option<String>,
    pub resources: Vec<ResourceRun>,
    pub requests: u64,
    pub retries: u64,
    pub duration: Duration,
    /// The reason the run failed as a whole, such as an account that could not be fetched.
    pub error: Option<String>,
    /// The API rejected the key (HTTP 401 or 403 on the account): a configuration problem.
    pub key_rejected: bool,
    /// The failure that kept the run's outcome from being stored, such as a full disk. The
    /// report is still complete, so it can be printed before the error.
    pub unrecorded: Option<anyhow::Error>,
}

impl SyncReport {
    /// Marks the run failed because its outcome could not be stored.
    fn set_unrecorded(&mut self, error: anyhow::Error) {
        self.status = RunStatus::Failed;
        self.unrecorded = Some(error.context("failed to store the outcome of the run in the archive"));
    }

    /// Returns one line with the outcome and totals, for logs and cron mail.
    pub fn summary_line(&self) -> String {
        let sum = |pick: fn(&ResourceRun) -> u64| self.resources.iter().map(pick).sum::<u64>();
        let mut line = format!(
            "sync {} ({}): {} resource(s), {} items ({} inserted, {} updated, {} deleted, {} restored, {} unchanged), \
             {} requests, {} retries, {:.1} s",
            self.status.as_str(),
            self.mode.as_str(),
            self.resources.len(),
            sum(|r| r.items),
            sum(|r| r.inserted),
            sum(|r| r.updated),
            sum(|r| r.deleted),
            sum(|r| r.restored),
            sum(|r| r.unchanged),
            self.requests,
            self.retries,
            self.duration.as_secs_f64()
        );
        let failed: Vec<&str> =
            self.resources.iter().filter(|r| r.status() != RunStatus::Succeeded).map(|r| r.resource).collect();
        if !failed.is_empty() {
            line.push_str(&format!("; not stored in full: {}", failed.join(", ")));
        }
        if self.unrecorded.is_some() {
            line.push_str("; the archive rolled back the last writes, which these counts include");
        }
        line
    }
}

/// The plan of one resource in the run, decided before any list starts.
struct ResourcePlan {
    resource: &'static Resource,
    mode: Mode,
    state: ResourceState,
    figures: Figures,
    /// Set once the listing and every child request of this resource have ended.
    finished: AtomicBool,
}

/// Runs a sync into `connection` and returns its report. Per-resource failures are recorded in
/// the report; an `Err` means the archive itself could not be written.
pub async fn sync(
    client: Client,
    connection: Connection,
    options: SyncOptions,
    progress: Progress,
    cancel: CancellationToken,
) -> anyhow::Result<SyncReport> {
    let started = Instant::now();
    let (writer, writer_thread) = Writer::spawn(connection, WRITER_QUEUE);
    writer.call(mark_interrupted_runs).await?;
    let api_url = client.base_url().to_string();
    // The mode recorded until the plan shows whether every resource is listed in full.
    let requested = if options.full { Mode::Full } else { Mode::Incremental };
    let mode = requested.as_str();
    let run_started = now();
    let started_at = run_started.clone();
    let run_id = writer.call(move |connection| archive::start_run(connection, &started_at, mode, &api_url)).await?;
    tracing::info!(run_id, "sync started");

    writer.call(move |connection| archive::start_resource(connection, run_id, resources::ACCOUNT.name)).await?;
    let account = sync_account(&client, &writer, run_id).await;
    let (account_id, account_figures) = match account {
        Ok(result) => result,
        Err((error, status)) => {
            let figures = ResourceRun {
                resource: resources::ACCOUNT.name,
                mode: "full",
                requests: 1,
                errors: vec![error.clone()],
                ..Default::default()
            };
            let key_rejected = matches!(status, Some(401 | 403));
            let hint = if key_rejected { "; check the API key in OMEGA_API_KEY or --api-key-file" } else { "" };
            let error = format!("the account could not be fetched, so nothing else was synced: {error}{hint}");
            let mut report =
                finish(&client, &writer, run_id, started, Mode::Full, None, vec![figures], Some(error)).await?;
            report.key_rejected = key_rejected;
            return Ok(close(report, writer, writer_thread).await);
        }
    };

    let selected = expand_selection(&options.resources);
    let planned = async {
        let recorded_for = account_id.clone();
        let (states, validators) = writer
            .call(move |connection| -> rusqlite::Result<_> {
                // Recorded now rather than when the run finishes, so that a killed run still
                // counts as the last run of this account and the next one lists its resources
                // in full.
                connection.execute(
                    "UPDATE sync_runs SET account_id = ?2 WHERE id = ?1",
                    rusqlite::params![run_id, recorded_for],
                )?;
                let validators = archive::StoredValidators::open(connection, &recorded_for, &run_started)?;
                Ok((archive::load_states(connection, &recorded_for)?, validators))
            })
            .await
            .map_err(|error| format!("failed to read the sync state from the archive: {error}"))?;
        let mut plans: HashMap<&'static str, Arc<ResourcePlan>> = HashMap::new();
        for resource in &selected {
            let state = states.get(resource.name).cloned().unwrap_or_default();
            let mode = plan::choose_mode(Some(&state), options.full, options.full_every, Utc::now());
            tracing::debug!("{} will be listed in {} mode", resource.name, mode.as_str());
            let figures = Arc::new(Mutex::new(ResourceRun {
                resource: resource.name,
                mode: mode.as_str(),
                ..Default::default()
            }));
            plans.insert(
                resource.name,
                Arc::new(ResourcePlan { resource, mode, state, figures, finished: AtomicBool::new(false) }),
            );
        }
        let run_mode = if plans.values().all(|plan| plan.mode == Mode::Full) { Mode::Full } else { Mode::Incremental };
        let names: Vec<&'static str> = selected.iter().map(|resource| resource.name).collect();
        writer
            .call(move |connection| -> rusqlite::Result<()> {
                for name in names {
                    archive::start_resource(connection, run_id, name)?;
                }
                // The run was recorded before its plan existed, so its mode is set now for a run
                // killed later.
                connection.execute(
                    "UPDATE sync_runs SET mode = ?2 WHERE id = ?1",
                    rusqlite::params![run_id, run_mode.as_str()],
                )?;
                Ok(())
            })
            .await
            .map_err(|error| format!("failed to record the planned resources in the archive: {error}"))?;
        Ok::<_, String>((validators, plans, run_mode))
    }
    .await;
    let (validators, plans, run_mode) = match planned {
        Ok(planned) => planned,
        Err(error) => {
            let report = finish(
                &client,
                &writer,
                run_id,
                started,
                requested,
                Some(account_id),
                vec![account_figures],
                Some(error),
            )
            .await?;
            return Ok(close(report, writer, writer_thread).await);
        }
    };

    let run = Arc::new(Run {
        client: client.clone(),
        writer: writer.clone(),
        per_page: options.per_page,
        account_id: account_id.clone(),
        progress,
        validators,
    });

    // A resource named in another's `after` signals when its listing ends.
    let listed: HashMap<&'static str, watch::Sender<bool>> =
        selected.iter().map(|resource| (resource.name, watch::channel(false).0)).collect();
    let mut tasks = JoinSet::new();
    for resource in selected.iter().copied() {
        if matches!(resource.source, Source::PerParent { .. }) {
            continue;
        }
        let waits: Vec<watch::Receiver<bool>> =
            resource.after.iter().filter_map(|name| listed.get(name).map(watch::Sender::subscribe)).collect();
        let done = listed[resource.name].clone();
        let own = plans[resource.name].clone();
        let child = write::child_list_of(resource).and_then(|child| plans.get(child.name).cloned());
        let run = run.clone();
        tasks.spawn(async move {
            for mut wait in waits {
                let _ = wait.wait_for(|finished| *finished).await;
            }
            sync_resource(run, run_id, own, child, done).await;
        });
    }
    let cancelled = tokio::select! {
        () = join_all(&mut tasks) => false,
        () = cancel.cancelled() => true,
    };
    if cancelled {
        // Each page is one atomic job on the writer thread: aborting the tasks leaves every
        // stored page in place and starts no new one.
        tasks.abort_all();
        join_all(&mut tasks).await;
    }
    // A task that ended early, on an error or by cancellation, may have left page jobs queued
    // for the writer. Jobs run in order, so once this commit returns they have run and counted
    // their outcomes in the figures read below. A failed commit also fails the next write,
    // which marks the report as not stored.
    let _ = writer.commit().await;
    if cancelled {
        // A resource cut short is recorded as failed, so the next run lists it in full instead
        // of trusting that the unchanged entries it finds had their children stored.
        for plan in plans.values().filter(|plan| !plan.finished.load(Ordering::SeqCst)) {
            lock(&plan.figures).errors.push("the run was cancelled before this resource was finished".to_string());
        }
    }
    for plan in plans.values() {
        let mut figures = lock(&plan.figures);
        if figures.status() != RunStatus::Succeeded {
            // A listing adds its items when it ends, so one cut short counts those of its stored
            // pages instead.
            let stored = figures.inserted + figures.updated + figures.restored + figures.unchanged;
            figures.items = figures.items.max(stored);
        }
    }

    let mut resource_runs = vec![account_figures];
    for resource in &selected {
        resource_runs.push(lock(&plans[resource.name].figures).clone());
    }
    let error =
        cancelled.then(|| "the run was cancelled by a signal; the pages stored until then are kept".to_string());
    let mut report =
        finish(&client, &writer, run_id, started, run_mode, Some(account_id), resource_runs, error).await?;
    if cancelled && report.unrecorded.is_none() {
        report.status = RunStatus::Cancelled;
        let status = report.status;
        let stored = writer
            .call(move |connection| {
                connection.execute(
                    "UPDATE sync_runs SET status = ?2 WHERE id = ?1",
                    rusqlite::params![run_id, status.as_str()],
                )
            })
            .await;
        if let Err(error) = stored {
            report.set_unrecorded(error.into());
        }
    }
    drop(run);
    Ok(close(report, writer, writer_thread).await)
}

/// Commits what the run wrote and ends the writer thread. The report describes what is on
/// disk, so a failed commit fails the run.
async fn close(
    mut report: SyncReport,
    writer: Writer,
    writer_thread: std::thread::JoinHandle<Connection>,
) -> SyncReport {
    if report.unrecorded.is_none()
        && let Err(error) = writer.commit().await
    {
        report.set_unrecorded(error.into());
    }
    drop(writer);
    let _ = writer_thread.join();
    report
}

async fn join_all(tasks: &mut JoinSet<()>) {
    while let Some(result) = tasks.join_next().await {
        match result {
            Err(error) if error.is_panic() => {
                // A panic in a task is a bug; the other resources have still been written.
                tracing::error!("a sync task failed: {error}");
            }
            _ => {}
        }
    }
}

/// Adds the parents that a selected child resource needs: DNS records are listed per domain.
fn expand_selection(selected: &[&'static Resource]) -> Vec<&'static Resource> {
    let mut names: HashSet<&str> = selected.iter().map(|resource| resource.name).collect();
    for resource in selected {
        if let Source::PerParent { parent, .. } = resource.source
            && names.insert(parent)
        {
            tracing::info!("syncing {parent} as well: {} are listed per item of it", resource.name);
        }
    }
    resources::ALL
        .iter()
        .copied()
        .filter(|resource| resource.name != "account" && names.contains(resource.name))
        .collect()
}

/// Fetches and stores the account. The error carries the HTTP status, if there was one.
async fn sync_account(
    client: &Client,
    writer: &Writer,
    run_id: i64,
) -> Result<(String, ResourceRun), (String, Option<u16>)> {
    let started = Instant::now();
    let Source::Object { path } = resources::ACCOUNT.source else {
        unreachable!("the account is a single object");
    };
    let response = client.get_json(path, &[]).await.map_err(|error| (error.to_string(), error.status()))?;
    let item = decode_item(&response.body, resources::ACCOUNT.fields, true)
        .map_err(|error| (format!("GET {path}: {error}"), None))?;
    let problems: Vec<String> = item.problems.iter().map(|problem| format!("GET {path}: {problem}")).collect();
    let id = item.id.clone();
    // The account row is inserted once, by the first sync of the account: that is the import.
    let history = HistoryContext { run_id: Some(run_id), outbox_id: None, now: now(), initial: true };
    let outcome = writer
        .call(move |connection| {
            let account_id = item.id.clone();
            write::write_item(connection, &resources::ACCOUNT, &account_id, None, item, &history)
        })
        .await
        .map_err(|error| (format!("failed to store the account: {error}"), None))?;
    let mut figures = ResourceRun {
        resource: resources::ACCOUNT.name,
        mode: "full",
        complete: true,
        pages: 1,
        requests: 1,
        items: 1,
        duration_ms: started.elapsed().as_millis() as u64,
        ..Default::default()
    };
    count(&mut figures, outcome);
    if !problems.is_empty() {
        figures.incomplete = true;
        for problem in problems {
            tracing::warn!("{problem}");
            figures.warn(problem);
        }
    }
    Ok((id, figures))
}

/// Lists one top-level resource and, through a dispatcher, its children, then saves its state.
async fn sync_resource(
    run: Arc<Run>,
    run_id: i64,
    plan: Arc<ResourcePlan>,
    child: Option<Arc<ResourcePlan>>,
    done: watch::Sender<bool>,
) {
    let started = Instant::now();
    let resource = plan.resource;
    let bar = run.progress.bar(resource.name);
    let horizon = match horizon(&run, &plan).await {
        Ok(horizon) => horizon,
        Err(error) => {
            tracing::warn!("{error}");
            lock(&plan.figures).errors.push(error);
            done.send_replace(true);
            return;
        }
    };

    // Items whose children are not fetched yet wait in a bounded queue: once it is full, the
    // listing waits for the children instead of queueing a whole large account.
    let (work_sender, work_receiver) = mpsc::channel(CHILD_QUEUE);
    // The dispatcher runs in this task rather than a spawned one, so aborting this task on a
    // cancelled run stops the children too.
    let dispatcher = dispatch_children(run.clone(), run_id, plan.clone(), child.clone(), work_receiver);
    let wants_children = resource.detail.is_some() || child.is_some();
    let sender = wants_children.then_some(work_sender);
    let listing = async {
        let sender = sender;
        let lister = Lister {
            run: &run,
            resource,
            parent: None,
            mode: plan.mode,
            history: history_context(run_id, &plan),
            figures: &plan.figures,
            bar: &bar,
            children: sender.as_ref(),
            child_figures: child.as_ref().map(|child| &child.figures),
            high_water: plan.state.high_water.as_deref().and_then(crate::archive::sortable_timestamp),
            horizon,
            repeating: Default::default(),
        };
        let listing = lister.list().await;
        if resource.name == resources::TICKETS.name {
            let account_id = run.account_id.clone();
            match run.writer.call(move |connection| write::link_ticket_services(connection, &account_id)).await {
                Ok(0) => {}
                Ok(linked) => tracing::info!(linked, "linked tickets to services archived since"),
                Err(error) => tracing::warn!("failed to link tickets to their services: {error}"),
            }
        }
        drop(sender);
        // `send_replace` stores the value even while no task has subscribed yet, so a resource
        // that subscribes after this listing ended still finds it ended. `send` would drop it.
        done.send_replace(true);
        lock(&plan.figures).complete = listing.complete;
        listing
    };
    let (listing, ()) = tokio::join!(listing, dispatcher);

    let elapsed = started.elapsed().as_millis() as u64;
    lock(&plan.figures).duration_ms = elapsed;
    save_state(&run, &plan, listing.newest).await;
    if let Some(child) = child {
        {
            let mut child_figures = lock(&child.figures);
            child_figures.duration_ms = elapsed;
            // An incremental listing that stopped early is not complete, but it is not short either.
            let stopped_early = plan.mode == Mode::Incremental && resource.incremental != Incremental::Never;
            if !listing.complete && !stopped_early {
                child_figures.complete = false;
                child_figures.incomplete = true;
                child_figures.warnings.push(format!(
                    "the {} listing was not complete, so some {} may not have been listed",
                    resource.noun, child.resource.noun
                ));
            }
        }
        save_state(&run, &child, None).await;
        child.finished.store(true, Ordering::SeqCst);
    }
    plan.finished.store(true, Ordering::SeqCst);
    bar.finish_and_clear();
}

/// Returns the oldest archived item that may still change, for a settled-tail resource listed
/// incrementally.
async fn horizon(run: &Arc<Run>, plan: &ResourcePlan) -> Result<Option<String>, String> {
    let Incremental::SettledTail { column, status_column, final_statuses, .. } = plan.resource.incremental else {
        return Ok(None);
    };
    if plan.mode == Mode::Full {
        return Ok(None);
    }
    let table = plan.resource.table;
    let account_id = run.account_id.clone();
    run.writer
        .call(move |connection| {
            archive::oldest_unsettled(connection, table, &account_id, column, status_column, final_statuses)
        })
        .await
        .map_err(|error| format!("failed to read the archived {table}: {error}"))
}

/// Records a resource's listing in `sync_state`: a complete listing in full mode moves
/// `last_full_at`, an incremental one `last_incremental_at`, and the newest item the mark.
async fn save_state(run: &Arc<Run>, plan: &ResourcePlan, newest: Option<String>) {
    let figures = lock(&plan.figures).clone();
    if !figures.errors.is_empty() {
        return;
    }
    let at = now();
    let full_at = (figures.complete && plan.mode == Mode::Full).then(|| at.clone());
    let incremental_at = (plan.mode == Mode::Incremental).then_some(at);
    let high_water = newest.max(plan.state.high_water.as_deref().and_then(crate::archive::sortable_timestamp));
    let account_id = run.account_id.clone();
    let resource = plan.resource.name;
    let result = run
        .writer
        .call(move |connection| {
            archive::save_state(
                connection,
                &account_id,
                resource,
                full_at.as_deref(),
                incremental_at.as_deref(),
                high_water.as_deref(),
            )
        })
        .await;
    if let Err(error) = result {
        let message = format!("failed to save the sync state of {resource}: {error}");
        tracing::warn!("{message}");
        lock(&plan.figures).errors.push(message);
    }
}

fn history_context(run_id: i64, plan: &ResourcePlan) -> HistoryContext {
    HistoryContext { run_id: Some(run_id), outbox_id: None, now: now(), initial: plan.state.last_full_at.is_none() }
}

/// Jobs waiting for the writer thread. A few keep it busy. More would only hold decoded pages,
/// of up to a few hundred KiB each, in memory while the writer is the slowest step.
const WRITER_QUEUE: usize = 8;

/// Items waiting for their children to be fetched, per listing: two pages of the default size.
const CHILD_QUEUE: usize = 200;

/// Fetches the children of written items as they arrive: service details, or the DNS records of
/// each domain. Children run concurrently, bounded by the client's limit on requests in flight.
async fn dispatch_children(
    run: Arc<Run>,
    run_id: i64,
    plan: Arc<ResourcePlan>,
    child: Option<Arc<ResourcePlan>>,
    mut work: mpsc::Receiver<ChildWork>,
) {
    let resource = plan.resource;
    let mut tasks = JoinSet::new();
    let child_bar = child.as_ref().map(|child| run.progress.bar(child.resource.name));
    if let Some(child) = &child {
        // Complete until one parent's listing proves otherwise.
        lock(&child.figures).complete = true;
    }
    // Children wait here rather than as spawned tasks: a task keeps a whole request future, so
    // spawning one per service of a large account would hold memory in proportion to it. Twice
    // the concurrency keeps every request slot busy while one batch finishes.
    let max_tasks = run.client.concurrency().max(1) * 2;
    while let Some(item) = work.recv().await {
        if run.writer.is_stopped() {
            // Nothing fetched now could be stored; the listing reports the failed write once.
            continue;
        }
        while tasks.len() >= max_tasks {
            if let Some(Err(error)) = tasks.join_next().await
                && error.is_panic()
            {
                tracing::error!("a {} child task failed: {error}", resource.name);
            }
        }
        if resource.detail.is_some() {
            // Incremental runs fetch details only where the list entry is new or changed.
            if plan.mode == Mode::Incremental && item.outcome == Outcome::Unchanged {
                continue;
            }
            tasks.spawn(fetch_detail(run.clone(), run_id, plan.clone(), item));
        } else if let Some(child) = &child {
            let run = run.clone();
            let child = child.clone();
            let bar = child_bar.clone().expect("a bar exists for every child resource");
            tasks.spawn(async move {
                let lister = Lister {
                    run: &run,
                    resource: child.resource,
                    parent: Some(&item),
                    mode: child.mode,
                    history: history_context(run_id, &child),
                    figures: &child.figures,
                    bar: &bar,
                    children: None,
                    child_figures: None,
                    high_water: None,
                    horizon: None,
                    repeating: Default::default(),
                };
                if !lister.list().await.complete {
                    lock(&child.figures).complete = false;
                }
            });
        }
    }
    while let Some(result) = tasks.join_next().await {
        if let Err(error) = result {
            tracing::error!("a {} child task failed: {error}", resource.name);
        }
    }
    if let Some(bar) = child_bar {
        bar.finish_and_clear();
    }
}

/// The reason a detail was not stored.
enum DetailError {
    /// The item disappeared between its listing and its detail request: a warning.
    Gone(String),
    Failed(String),
}

impl From<String> for DetailError {
    fn from(error: String) -> Self {
        DetailError::Failed(error)
    }
}

/// Fetches one item's detail endpoint and merges it into the item's row.
async fn fetch_detail(run: Arc<Run>, run_id: i64, plan: Arc<ResourcePlan>, item: ChildWork) {
    let result = fetch_and_write_detail(&run, run_id, &plan, &item).await;

    let mut figures = lock(&plan.figures);
    figures.requests += 1;
    match result {
        Ok((_, true)) => figures.not_modified += 1,
        Ok(_) => {}
        Err(DetailError::Gone(warning)) => {
            if figures.warn(warning.clone()) {
                tracing::warn!("{warning}");
            }
        }
        Err(DetailError::Failed(error)) => {
            tracing::warn!("{error}");
            figures.errors.push(error);
        }
    }
}

/// Returns the detail's outcome and whether the server returned 304 Not Modified.
async fn fetch_and_write_detail(
    run: &Arc<Run>,
    run_id: i64,
    plan: &ResourcePlan,
    item: &ChildWork,
) -> Result<(Outcome, bool), DetailError> {
    let resource = plan.resource;
    let detail = resource.detail.expect("only resources with a detail endpoint get here");
    let path = detail.path.replace("{}", &path::segment(&item.id).map_err(|error| error.to_string())?);
    let sent = if plan.mode == Mode::Incremental && detail.conditional { run.validators.get(&path) } else { None };
    let headers = sent.as_ref().map(Validators::request_headers).unwrap_or_default();
    let response = match run.client.request_json(Method::GET, &path, &[], None, &headers).await {
        Ok(response) => response,
        Err(error) if error.status() == Some(404) => {
            return Err(DetailError::Gone(format!(
                "{} {:?} was listed but its detail is gone (GET {path}: HTTP 404); it was probably deleted meanwhile",
                resource.noun, item.id
            )));
        }
        Err(error) => return Err(error.to_string().into()),
    };
    if response.not_modified() {
        return match sent {
            Some(_) => Ok((Outcome::Unchanged, true)),
            None => Err(format!("GET {path}: unexpected 304 Not Modified to a request without validators").into()),
        };
    }
    let validators = response.validators().filter(|_| detail.conditional);
    let decoded = decode_item(&response.body, detail.fields, false).map_err(|error| format!("GET {path}: {error}"))?;
    if decoded.id != item.id {
        return Err(format!("GET {path}: the response is for id {:?}, not {:?}", decoded.id, item.id).into());
    }
    if !decoded.problems.is_empty() {
        let mut figures = lock(&plan.figures);
        figures.incomplete = true;
        for problem in &decoded.problems {
            if figures.warn(format!("GET {path}: {problem}")) {
                tracing::warn!("GET {path}: {problem}");
            }
        }
    }
    let update = match validators {
        Some(validators) => ValidatorUpdate::Store(path.clone(), validators),
        None => ValidatorUpdate::Keep,
    };
    let account_id = run.account_id.clone();
    let history = history_context(run_id, plan);
    let figures = plan.figures.clone();
    let listed = item.outcome;
    let outcome = run
        .writer
        .call(move |connection| {
            let outcome = write::write_detail(connection, resource, &account_id, decoded, update, &history)?;
            // The list write counted the item once. A detail that changes an unchanged list
            // entry turns that count into an update, counted with the write like the list's.
            if outcome != Outcome::Unchanged && listed == Outcome::Unchanged {
                let mut figures = lock(&figures);
                figures.unchanged = figures.unchanged.saturating_sub(1);
                figures.updated += 1;
            }
            Ok(outcome)
        })
        .await
        .map_err(|error| format!("failed to store the detail of {} {:?}: {error}", resource.noun, item.id))?;
    Ok((outcome, false))
}

#[allow(clippy::too_many_arguments)]
async fn finish(
    client: &Client,
    writer: &Writer,
    run_id: i64,
    started: Instant,
    mode: Mode,
    account_id: Option<String>,
    resources: Vec<ResourceRun>,
    error: Option<String>,
) -> anyhow::Result<SyncReport> {
    let status = if error.is_some() || resources.iter().all(|r| r.status() == RunStatus::Failed) {
        RunStatus::Failed
    } else if resources.iter().all(|r| r.status() == RunStatus::Succeeded) {
        RunStatus::Succeeded
    } else {
        RunStatus::Partial
    };
    let stats = client.stats();
    let requests = stats.requests.load(std::sync::atomic::Ordering::Relaxed);
    let retries = stats.retries.load(std::sync::atomic::Ordering::Relaxed);
    if let Some(error) = &error {
        tracing::error!("{error}");
    }
    let stored = (account_id.clone(), resources.clone(), error.clone());
    let recorded = writer
        .call(move |connection| -> rusqlite::Result<()> {
            let (account_id, resources, error) = stored;
            for figures in &resources {
                archive::finish_resource(connection, run_id, figures)?;
            }
            connection
                .execute("UPDATE sync_runs SET mode = ?2 WHERE id = ?1", rusqlite::params![run_id, mode.as_str()])?;
            archive::finish_run(
                connection,
                run_id,
                &now(),
                status,
                account_id.as_deref(),
                requests,
                retries,
                error.as_deref(),
            )
        })
        .await;
    let mut report = SyncReport {
        run_id,
        status,
        mode,
        account_id,
        resources,
        requests,
        retries,
        duration: started.elapsed(),
        error,
        key_rejected: false,
        unrecorded: None,
    };
    if let Err(error) = recorded {
        report.set_unrecorded(error.into());
    }
    Ok(report)
}

/// Marks runs left `running` by a process that died as `interrupted`. Only the holder of the
/// writer lock runs a sync, so no other run can still be going.
fn mark_interrupted_runs(connection: &Connection) -> rusqlite::Result<()> {
    let at = now();
    let ids: Vec<i64> = {
        let mut statement = connection.prepare("SELECT id FROM sync_runs WHERE status = 'running'")?;
        statement.query_map([], |row| row.get(0))?.collect::<Result<_, _>>()?
    };
    for id in ids {
        tracing::warn!("run #{id} was interrupted before it finished; the pages it stored are kept");
        connection.execute(
            "UPDATE sync_runs SET status = 'interrupted', finished_at = ?2,
                 error = coalesce(error, 'the process ended before the run finished') WHERE id = ?1",
            rusqlite::params![id, at],
        )?;
        connection.execute(
            "UPDATE sync_run_resources SET status = 'failed', error = coalesce(error, 'interrupted')
             WHERE run_id = ?1 AND status = 'running'",
            [id],
        )?;
    }
    Ok(())
}

/// Returns the current time as stored in the archive: UTC RFC 3339 with `Z`.
pub fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}
