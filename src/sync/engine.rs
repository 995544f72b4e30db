//! The sync engine: fetches every selected resource concurrently, streams each page into the
//! archive as it arrives, and records what happened in `sync_runs`.
//!
//! Flow: the account comes first (its id keys every other row), then every list starts at once.
//! A list fetches page 1, learns `total` and `perPage` from `meta`, then requests the remaining
//! pages together. Each written page hands its items' children (service details, the DNS
//! records of a domain) to a dispatcher that fetches them concurrently too. The client's
//! semaphore bounds the requests in flight over all of this; the writer's queue bounds the pages
//! waiting for SQLite.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use futures_util::StreamExt;
use futures_util::stream;
use indicatif::ProgressBar;
use rusqlite::Connection;
use rusqlite::types::Value as SqlValue;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use super::decode::{DecodedItem, Meta, decode_child, decode_item, parse_page};
use super::progress::Progress;
use super::resources::{self, Resource, Source};
use crate::api::{Client, path};
use crate::archive::{self, Outcome, ResourceRun, RowWrite, RunStatus, Writer};

/// A listing that claims more pages than this is treated as broken rather than followed.
const MAX_PAGES: u64 = 100_000;

/// Options of a sync run: the resources and the page size.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// The resources to sync besides the account, which is always fetched.
    pub resources: Vec<&'static Resource>,
    /// Items requested per page; the server may return fewer.
    pub per_page: u32,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            resources: resources::ALL.iter().copied().filter(|r| r.name != "account").collect(),
            per_page: 100,
        }
    }
}

/// The outcome of a run, as stored in `sync_runs` and `sync_run_resources`.
#[derive(Debug)]
pub struct SyncReport {
    pub run_id: i64,
    pub status: RunStatus,
    pub account_id: Option<String>,
    pub resources: Vec<ResourceRun>,
    pub requests: u64,
    pub retries: u64,
    pub duration: Duration,
    /// The reason the run failed as a whole, such as an account that could not be fetched.
    pub error: Option<String>,
}

impl SyncReport {
    /// Returns one line with the outcome and totals, for logs and cron mail.
    pub fn summary_line(&self) -> String {
        let sum = |pick: fn(&ResourceRun) -> u64| self.resources.iter().map(pick).sum::<u64>();
        let mut line = format!(
            "sync {}: {} resources, {} items ({} inserted, {} updated, {} unchanged), {} requests, {} retries, {:.1} s",
            self.status.as_str(),
            self.resources.len(),
            sum(|r| r.items),
            sum(|r| r.inserted),
            sum(|r| r.updated),
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
        line
    }
}

/// Shared state of one run.
struct Run {
    client: Client,
    writer: Writer,
    per_page: u32,
    account_id: String,
    progress: Progress,
}

type Figures = Arc<Mutex<ResourceRun>>;

/// A written item whose children still need fetching.
struct ChildWork {
    id: String,
    /// The value placed in the child's path (a domain's name).
    key: String,
    inserted: bool,
}

/// Runs a sync into `connection` and returns its report. Per-resource failures are recorded in
/// the report; an `Err` means the archive itself could not be written.
pub async fn sync(
    client: Client,
    connection: Connection,
    options: SyncOptions,
    progress: Progress,
) -> anyhow::Result<SyncReport> {
    let started = Instant::now();
    let (writer, writer_thread) = Writer::spawn(connection, 32);
    let api_url = client.base_url().to_string();
    let run_id = writer.call(move |connection| archive::start_run(connection, &now(), "full", &api_url)).await?;
    tracing::info!(run_id, "sync started");

    writer.call(move |connection| archive::start_resource(connection, run_id, resources::ACCOUNT.name)).await?;
    let account = sync_account(&client, &writer).await;
    let (account_id, account_figures) = match account {
        Ok(result) => result,
        Err(error) => {
            let figures = ResourceRun {
                resource: resources::ACCOUNT.name,
                requests: 1,
                errors: vec![error.clone()],
                ..Default::default()
            };
            let error = format!("the account could not be fetched, so nothing else was synced: {error}");
            let report = finish(&client, &writer, run_id, started, None, vec![figures], Some(error)).await?;
            drop(writer);
            let _ = writer_thread.join();
            return Ok(report);
        }
    };

    let run = Arc::new(Run {
        client: client.clone(),
        writer: writer.clone(),
        per_page: options.per_page,
        account_id: account_id.clone(),
        progress,
    });
    let selected = expand_selection(&options.resources);
    let figures: HashMap<&'static str, Figures> = selected
        .iter()
        .map(|resource| {
            (resource.name, Arc::new(Mutex::new(ResourceRun { resource: resource.name, ..Default::default() })))
        })
        .collect();
    for resource in &selected {
        let name = resource.name;
        writer.call(move |connection| archive::start_resource(connection, run_id, name)).await?;
    }

    // A resource listed in another's `after` signals when its listing ends.
    let mut listed: HashMap<&'static str, (watch::Sender<bool>, watch::Receiver<bool>)> = HashMap::new();
    for resource in &selected {
        listed.insert(resource.name, watch::channel(false));
    }

    let mut tasks = JoinSet::new();
    for resource in selected.iter().copied() {
        if matches!(resource.source, Source::PerParent { .. }) {
            continue;
        }
        let waits: Vec<watch::Receiver<bool>> =
            resource.after.iter().filter_map(|name| listed.get(name).map(|(_, receiver)| receiver.clone())).collect();
        let done = listed[resource.name].0.clone();
        let run = run.clone();
        let own = figures[resource.name].clone();
        let child_figures = children_of(resource, &selected).map(|child| (child, figures[child.name].clone()));
        tasks.spawn(async move {
            for mut wait in waits {
                let _ = wait.wait_for(|finished| *finished).await;
            }
            sync_resource(run, resource, own, child_figures, done).await;
        });
    }
    while let Some(result) = tasks.join_next().await {
        if let Err(error) = result {
            // A panic in a task is a bug; the other resources have still been written.
            tracing::error!("a sync task failed: {error}");
        }
    }

    let mut resource_runs = vec![account_figures];
    for resource in &selected {
        let figures = figures[resource.name].lock().expect("no task panicked holding the lock").clone();
        resource_runs.push(figures);
    }
    let report = finish(&client, &writer, run_id, started, Some(account_id), resource_runs, None).await?;
    drop(run);
    drop(writer);
    let _ = writer_thread.join();
    Ok(report)
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

fn children_of(resource: &Resource, selected: &[&'static Resource]) -> Option<&'static Resource> {
    selected
        .iter()
        .copied()
        .find(|child| matches!(child.source, Source::PerParent { parent, .. } if parent == resource.name))
}

async fn sync_account(client: &Client, writer: &Writer) -> Result<(String, ResourceRun), String> {
    let started = Instant::now();
    let Source::Object { path } = resources::ACCOUNT.source else {
        unreachable!("the account is a single object");
    };
    let response = client.get_json(path, &[]).await.map_err(|error| error.to_string())?;
    let item =
        decode_item(&response.body, resources::ACCOUNT.fields, true).map_err(|error| format!("GET {path}: {error}"))?;
    let id = item.id.clone();
    let outcome = writer
        .call(move |connection| -> rusqlite::Result<Outcome> {
            let tx = connection.transaction()?;
            let row = RowWrite {
                table: resources::ACCOUNT.table,
                key: vec![("id", SqlValue::Text(item.id.clone()))],
                columns: item.columns,
                raw_column: "raw_json",
                raw: item.raw,
            };
            let outcome = archive::write_row(&tx, &row, &now())?;
            tx.commit()?;
            Ok(outcome)
        })
        .await
        .map_err(|error| format!("failed to store the account: {error}"))?;
    let mut figures = ResourceRun {
        resource: resources::ACCOUNT.name,
        complete: true,
        pages: 1,
        requests: 1,
        items: 1,
        duration_ms: started.elapsed().as_millis() as u64,
        ..Default::default()
    };
    count(&mut figures, outcome);
    Ok((id, figures))
}

/// Lists one top-level resource and, through a dispatcher, its children.
async fn sync_resource(
    run: Arc<Run>,
    resource: &'static Resource,
    figures: Figures,
    child: Option<(&'static Resource, Figures)>,
    done: watch::Sender<bool>,
) {
    let started = Instant::now();
    let bar = run.progress.bar(resource.name);
    let (work_sender, work_receiver) = mpsc::unbounded_channel();
    let wants_children = resource.detail.is_some() || child.is_some();

    let dispatcher = {
        let run = run.clone();
        let figures = figures.clone();
        let child = child.clone();
        tokio::spawn(dispatch_children(run, resource, figures, child, work_receiver))
    };

    let sender = wants_children.then_some(work_sender);
    let complete = list(&run, resource, None, &figures, &bar, sender.as_ref()).await;
    drop(sender);
    let _ = done.send(true);
    {
        let mut figures = figures.lock().expect("no task panicked holding the lock");
        figures.complete = complete;
    }
    if let Err(error) = dispatcher.await {
        tracing::error!("the {} child dispatcher failed: {error}", resource.name);
    }

    let elapsed = started.elapsed().as_millis() as u64;
    figures.lock().expect("no task panicked holding the lock").duration_ms = elapsed;
    if let Some((child, child_figures)) = child {
        let mut child_figures = child_figures.lock().expect("no task panicked holding the lock");
        child_figures.duration_ms = elapsed;
        if !complete {
            child_figures.complete = false;
            child_figures.warnings.push(format!(
                "the {} listing was not complete, so some {} were not listed",
                resource.name, child.noun
            ));
        }
    }
    bar.finish_and_clear();
}

/// Fetches the children of written items as they arrive: service details, or the DNS records of
/// each domain. Children run concurrently, bounded by the client's limit on requests in flight.
async fn dispatch_children(
    run: Arc<Run>,
    resource: &'static Resource,
    figures: Figures,
    child: Option<(&'static Resource, Figures)>,
    mut work: mpsc::UnboundedReceiver<ChildWork>,
) {
    let mut tasks = JoinSet::new();
    let child_bar = child.as_ref().map(|(child, _)| run.progress.bar(child.name));
    if let Some((_, child_figures)) = &child {
        // Complete until one parent's listing proves otherwise.
        child_figures.lock().expect("no task panicked holding the lock").complete = true;
    }
    while let Some(item) = work.recv().await {
        if resource.detail.is_some() {
            tasks.spawn(fetch_detail(run.clone(), resource, item, figures.clone()));
        } else if let Some((child, child_figures)) = &child {
            let run = run.clone();
            let child_figures = child_figures.clone();
            let bar = child_bar.clone().expect("a bar exists for every child resource");
            let child = *child;
            tasks.spawn(async move {
                let complete = list(&run, child, Some(&item), &child_figures, &bar, None).await;
                if !complete {
                    child_figures.lock().expect("no task panicked holding the lock").complete = false;
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

/// Fetches one item's detail endpoint and merges it into the item's row.
async fn fetch_detail(run: Arc<Run>, resource: &'static Resource, item: ChildWork, figures: Figures) {
    let detail = resource.detail.expect("only resources with a detail endpoint get here");
    let result = async {
        let path = detail.path.replace("{}", &path::segment(&item.id).map_err(|error| error.to_string())?);
        let response = run.client.get_json(&path, &[]).await.map_err(|error| error.to_string())?;
        let decoded =
            decode_item(&response.body, detail.fields, false).map_err(|error| format!("GET {path}: {error}"))?;
        if decoded.id != item.id {
            return Err(format!("GET {path}: the response is for id {:?}, not {:?}", decoded.id, item.id));
        }
        let account_id = run.account_id.clone();
        run.writer
            .call(move |connection| -> rusqlite::Result<Outcome> {
                let tx = connection.transaction()?;
                let row = RowWrite {
                    table: resource.table,
                    key: vec![("account_id", SqlValue::Text(account_id)), ("id", SqlValue::Text(decoded.id))],
                    columns: decoded.columns,
                    raw_column: detail.raw_column,
                    raw: decoded.raw,
                };
                let outcome = archive::write_row(&tx, &row, &now())?;
                tx.commit()?;
                Ok(outcome)
            })
            .await
            .map_err(|error| format!("failed to store the detail of {} {:?}: {error}", resource.noun, item.id))
    }
    .await;

    let mut figures = figures.lock().expect("no task panicked holding the lock");
    figures.requests += 1;
    match result {
        // The list write already counted a new row; its detail is part of that insert.
        Ok(Outcome::Updated | Outcome::Inserted) if item.inserted => {}
        Ok(outcome) => count(&mut figures, outcome),
        Err(error) => {
            tracing::warn!("{error}");
            figures.errors.push(error);
        }
    }
}

/// A page after it was written: what the paging checks need.
struct WrittenPage {
    number: u64,
    meta: Option<Meta>,
    ids: Vec<String>,
}

/// A fetched and decoded page.
struct FetchedPage {
    number: u64,
    meta: Option<Meta>,
    items: Vec<DecodedItem>,
    /// The values children need (domain names), by item id.
    keys: Vec<String>,
}

/// Lists every page of `resource` (for one parent, if it is a child) and writes each page as
/// it arrives. Returns whether the listing was proven complete.
async fn list(
    run: &Arc<Run>,
    resource: &'static Resource,
    parent: Option<&ChildWork>,
    figures: &Figures,
    bar: &ProgressBar,
    children: Option<&mpsc::UnboundedSender<ChildWork>>,
) -> bool {
    let path = match list_path(resource, parent) {
        Ok(path) => path,
        Err(error) => {
            record_error(figures, error);
            return false;
        }
    };
    let parent_id = parent.map(|parent| parent.id.as_str());

    let first = match fetch_and_write(run, resource, &path, 1, parent_id, figures, bar, children).await {
        Ok(page) => page,
        Err(error) => {
            record_error(figures, error);
            return false;
        }
    };
    let mut seen: HashSet<String> = first.ids.iter().cloned().collect();
    let Some(meta) = first.meta else {
        add_items(figures, seen.len());
        return true;
    };
    bar.inc_length(meta.total.saturating_sub(first.ids.len() as u64));
    if first.ids.len() as u64 >= meta.total {
        // Everything arrived at once: either one page contains it all, or the server ignores paging.
        add_items(figures, seen.len());
        return check_total(resource, parent, figures, seen.len() as u64, meta.total, false);
    }
    if first.ids.len() as u64 > meta.per_page {
        record_error(
            figures,
            format!(
                "GET {path}?page=1: the page holds {} items, more than its perPage of {}",
                first.ids.len(),
                meta.per_page
            ),
        );
        return false;
    }
    let last_page = meta.total.div_ceil(meta.per_page);
    if last_page > MAX_PAGES {
        record_error(
            figures,
            format!(
                "GET {path}: the API reports {last_page} pages of {}; stopped because the limit is {MAX_PAGES} pages",
                resource.noun
            ),
        );
        return false;
    }

    // The remaining pages are all requested at once; the client's semaphore spaces them out.
    let window = run.client.concurrency() * 2;
    let mut pages = stream::iter(2..=last_page)
        .map(|number| fetch_and_write(run, resource, &path, number, parent_id, figures, bar, children))
        .buffer_unordered(window);
    let mut ids_by_page: HashMap<u64, Vec<String>> = HashMap::from([(1, first.ids.clone())]);
    let mut totals: HashSet<u64> = HashSet::from([meta.total]);
    let mut failed = false;
    while let Some(result) = pages.next().await {
        match result {
            Ok(page) => {
                if let Some(page_meta) = page.meta {
                    totals.insert(page_meta.total);
                }
                seen.extend(page.ids.iter().cloned());
                ids_by_page.insert(page.number, page.ids);
            }
            Err(error) => {
                record_error(figures, error);
                failed = true;
                break;
            }
        }
    }
    drop(pages);
    add_items(figures, seen.len());
    if failed {
        return false;
    }
    if let Some(number) = repeated_page(&ids_by_page, last_page) {
        record_error(
            figures,
            format!(
                "GET {path}: page {number} repeats the items of page {}; the API may be ignoring `page`",
                number - 1
            ),
        );
        return false;
    }
    let total_changed = totals.len() > 1;
    let total = totals.iter().copied().max().unwrap_or(meta.total);
    check_total(resource, parent, figures, seen.len() as u64, total, total_changed)
}

/// Returns the first page whose non-empty id list equals the previous page's.
fn repeated_page(ids_by_page: &HashMap<u64, Vec<String>>, last_page: u64) -> Option<u64> {
    (2..=last_page).find(|number| match (ids_by_page.get(&(number - 1)), ids_by_page.get(number)) {
        (Some(previous), Some(current)) => !current.is_empty() && previous == current,
        _ => false,
    })
}

/// Compares the distinct ids received with the API's total, warning when they differ.
fn check_total(
    resource: &Resource,
    parent: Option<&ChildWork>,
    figures: &Figures,
    received: u64,
    total: u64,
    total_changed: bool,
) -> bool {
    let scope = parent.map(|parent| format!(" of {:?}", parent.key)).unwrap_or_default();
    let warning = if total_changed {
        Some(format!("the total of {}{scope} changed during the listing; received {received}", resource.noun))
    } else if received < total {
        Some(format!("received {received} of {total} {}{scope}", resource.noun))
    } else if received > total {
        Some(format!("received {received} {}{scope}, more than the total of {total} the API reported", resource.noun))
    } else {
        None
    };
    match warning {
        Some(warning) => {
            tracing::warn!("{warning}; the listing is incomplete");
            figures.lock().expect("no task panicked holding the lock").warnings.push(warning);
            false
        }
        None => true,
    }
}

fn list_path(resource: &Resource, parent: Option<&ChildWork>) -> Result<String, String> {
    match (resource.source, parent) {
        (Source::List { path, .. }, None) => Ok(path.to_string()),
        (Source::PerParent { path, .. }, Some(parent)) => {
            let segment = path::segment(&parent.key).map_err(|error| error.to_string())?;
            Ok(path.replace("{}", &segment))
        }
        _ => Err(format!("{} cannot be listed this way", resource.name)),
    }
}

#[allow(clippy::too_many_arguments)]
async fn fetch_and_write(
    run: &Arc<Run>,
    resource: &'static Resource,
    path: &str,
    number: u64,
    parent_id: Option<&str>,
    figures: &Figures,
    bar: &ProgressBar,
    children: Option<&mpsc::UnboundedSender<ChildWork>>,
) -> Result<WrittenPage, String> {
    let query = [("page", number.to_string()), ("per_page", run.per_page.to_string())];
    let target = format!("GET {path}?page={number}&per_page={}", run.per_page);
    {
        let mut figures = figures.lock().expect("no task panicked holding the lock");
        figures.requests += 1;
    }
    let response = run.client.get_json(path, &query).await.map_err(|error| error.to_string())?;
    let page = decode_page(resource, response.body, number).map_err(|error| format!("{target}: {error}"))?;

    let items_for_children: Vec<(String, String)> =
        page.items.iter().map(|item| item.id.clone()).zip(page.keys.iter().cloned()).collect();
    let ids: Vec<String> = page.items.iter().map(|item| item.id.clone()).collect();
    let account_id = run.account_id.clone();
    let parent_id = parent_id.map(str::to_string);
    let FetchedPage { number, meta, items, .. } = page;
    let item_count = items.len();
    if number == 1 {
        bar.inc_length(item_count as u64);
    }
    let outcomes = run
        .writer
        .call(move |connection| write_page(connection, resource, &account_id, parent_id.as_deref(), items))
        .await
        .map_err(|error| format!("{target}: failed to store the page: {error}"))?;

    {
        let mut figures = figures.lock().expect("no task panicked holding the lock");
        figures.pages += 1;
        for outcome in &outcomes {
            count(&mut figures, *outcome);
        }
    }
    bar.inc(item_count as u64);
    if let Some(children) = children {
        for ((id, key), outcome) in items_for_children.into_iter().zip(&outcomes) {
            let _ = children.send(ChildWork { id, key, inserted: *outcome == Outcome::Inserted });
        }
    }
    Ok(WrittenPage { number, meta, ids })
}

/// Decodes a list response: envelope, meta, and every item with its embedded rows.
fn decode_page(resource: &Resource, body: serde_json::Value, number: u64) -> Result<FetchedPage, String> {
    let envelope = match resource.source {
        Source::List { envelope, .. } | Source::PerParent { envelope, .. } => envelope,
        Source::Object { .. } => unreachable!("objects are not paged"),
    };
    let page = parse_page(body, envelope)?;
    let fill_absent = !resource.merges_detail();
    let child_key = children_key(resource);
    let mut items = Vec::with_capacity(page.items.len());
    let mut keys = Vec::with_capacity(page.items.len());
    let mut ids = HashSet::with_capacity(page.items.len());
    for (index, value) in page.items.iter().enumerate() {
        let mut item =
            decode_item(value, resource.fields, fill_absent).map_err(|error| format!("item {index}: {error}"))?;
        if !ids.insert(item.id.clone()) {
            return Err(format!("the page lists id {:?} twice", item.id));
        }
        if let Some(embedded) = resource.embedded {
            item.embedded = decode_embedded(value, embedded.json, embedded.fields)
                .map_err(|error| format!("item {:?}: {error}", item.id))?;
        }
        keys.push(match child_key {
            Some(key) => value
                .get(key)
                .and_then(|v| v.as_str())
                .map(str::to_string)
                .ok_or_else(|| format!("item {:?}: field {key:?}: expected a string", item.id))?,
            None => String::new(),
        });
        items.push(item);
    }
    Ok(FetchedPage { number, meta: page.meta, items, keys })
}

/// Returns the field of an item that its child listing's path needs (a domain's `name`).
fn children_key(resource: &Resource) -> Option<&'static str> {
    resources::ALL.iter().find_map(|child| match child.source {
        Source::PerParent { parent, parent_key, .. } if parent == resource.name => Some(parent_key),
        _ => None,
    })
}

fn decode_embedded(
    value: &serde_json::Value,
    key: &str,
    fields: &'static [resources::Field],
) -> Result<Option<Vec<DecodedItem>>, String> {
    match value.get(key) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Array(children)) => children
            .iter()
            .enumerate()
            .map(|(position, child)| {
                let (columns, raw) =
                    decode_child(child, fields).map_err(|error| format!("{key}[{position}]: {error}"))?;
                Ok(DecodedItem { id: position.to_string(), columns, raw, embedded: None })
            })
            .collect::<Result<Vec<_>, String>>()
            .map(Some),
        Some(other) => Err(format!("field {key:?}: expected an array, got {}", super::decode::describe(other))),
    }
}

/// Writes one page in one transaction and returns each item's outcome, in page order.
fn write_page(
    connection: &mut Connection,
    resource: &'static Resource,
    account_id: &str,
    parent_id: Option<&str>,
    items: Vec<DecodedItem>,
) -> rusqlite::Result<Vec<Outcome>> {
    let now = now();
    let tx = connection.transaction()?;
    let mut outcomes = Vec::with_capacity(items.len());
    for item in items {
        let mut key = vec![("account_id", SqlValue::Text(account_id.to_string()))];
        if let (Source::PerParent { parent_column, .. }, Some(parent_id)) = (resource.source, parent_id) {
            key.push((parent_column, SqlValue::Text(parent_id.to_string())));
        }
        key.push(("id", SqlValue::Text(item.id.clone())));
        let mut columns = item.columns;
        if resource.name == resources::TICKETS.name {
            clear_unknown_service(&tx, account_id, &item.id, &mut columns)?;
        }
        let row = RowWrite { table: resource.table, key, columns, raw_column: "raw_json", raw: item.raw };
        let outcome = archive::write_row(&tx, &row, &now)?;
        if let (Some(embedded), Some(children)) = (resource.embedded, item.embedded)
            && outcome != Outcome::Unchanged
        {
            write_embedded(&tx, embedded, account_id, &item.id, children, &now)?;
        }
        outcomes.push(outcome);
    }
    tx.commit()?;
    Ok(outcomes)
}

/// Leaves a ticket's `service_id` empty when the archive has no such service, because the
/// foreign key would reject the row; `raw_json` still contains the API's `serviceId`.
fn clear_unknown_service(
    tx: &rusqlite::Transaction<'_>,
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
            // NOTE: the column stays empty until the ticket itself changes, even once the
            // service is archived; `raw_json` has the id meanwhile.
            tracing::warn!(
                "ticket {ticket_id:?} names service {service_id:?}, which the archive does not have; service_id left empty"
            );
            *value = SqlValue::Null;
        }
    }
    Ok(())
}

/// Replaces the embedded rows of a changed parent: rows are upserted by position, and
/// positions past the new end are removed.
fn write_embedded(
    tx: &rusqlite::Transaction<'_>,
    embedded: resources::Embedded,
    account_id: &str,
    parent_id: &str,
    children: Vec<DecodedItem>,
    now: &str,
) -> rusqlite::Result<()> {
    let count = children.len() as i64;
    for (position, child) in children.into_iter().enumerate() {
        let row = RowWrite {
            table: embedded.table,
            key: vec![
                ("account_id", SqlValue::Text(account_id.to_string())),
                (embedded.parent_column, SqlValue::Text(parent_id.to_string())),
                ("position", SqlValue::Integer(position as i64)),
            ],
            columns: child.columns,
            raw_column: "raw_json",
            raw: child.raw,
        };
        archive::write_row(tx, &row, now)?;
    }
    let delete = format!(
        "DELETE FROM {} WHERE account_id = ?1 AND {} = ?2 AND position >= ?3",
        embedded.table, embedded.parent_column
    );
    tx.prepare_cached(&delete)?.execute(rusqlite::params![account_id, parent_id, count])?;
    Ok(())
}

async fn finish(
    client: &Client,
    writer: &Writer,
    run_id: i64,
    started: Instant,
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
    writer
        .call(move |connection| -> rusqlite::Result<()> {
            let (account_id, resources, error) = stored;
            for figures in &resources {
                archive::finish_resource(connection, run_id, figures)?;
            }
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
        .await?;
    Ok(SyncReport { run_id, status, account_id, resources, requests, retries, duration: started.elapsed(), error })
}

fn record_error(figures: &Figures, error: String) {
    tracing::warn!("{error}");
    figures.lock().expect("no task panicked holding the lock").errors.push(error);
}

fn add_items(figures: &Figures, items: usize) {
    figures.lock().expect("no task panicked holding the lock").items += items as u64;
}

fn count(figures: &mut ResourceRun, outcome: Outcome) {
    match outcome {
        Outcome::Inserted => figures.inserted += 1,
        Outcome::Updated => figures.updated += 1,
        Outcome::Unchanged => figures.unchanged += 1,
    }
}

/// Returns the current time as stored in the archive: UTC RFC 3339 with `Z`.
pub fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}
