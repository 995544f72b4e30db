//! Listing one resource: paging, the checks that prove a listing complete, incremental early
//! stops, conditional requests, and deletion inference.

use std::collections::{HashMap, HashSet};
use std::hash::Hasher;
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use futures_util::stream::{self, FuturesOrdered};
use indicatif::ProgressBar;
use reqwest::Method;
use serde_json::Value;
use siphasher::sip128::{Hasher128, SipHasher13};
use tokio::sync::mpsc;

use super::decode::{DecodedItem, Meta, decode_child, decode_item, describe, parse_page};
use super::plan::{self, Mode, SettledItem};
use super::resources::{self, Incremental, Resource, Source};
use super::write::{self, PageWrite, ValidatorUpdate};
use crate::api::{Client, Validators, path};
use crate::archive::{self, HistoryContext, IdSet, Outcome, ResourceRun, Writer};

/// A listing that claims more pages than this is treated as broken rather than followed.
const MAX_PAGES: u64 = 100_000;

/// Shared state of one run.
pub(super) struct Run {
    pub client: Client,
    pub writer: Writer,
    pub per_page: u32,
    pub account_id: String,
    pub progress: super::Progress,
    /// Validators stored by earlier runs, by request path and query.
    pub validators: archive::StoredValidators,
}

pub(super) type Figures = Arc<Mutex<ResourceRun>>;

/// Locks a resource's figures. A task that panicked while holding the lock (a bug, logged when
/// the task is joined) may leave one page's counts unfinished. The lock is taken anyway,
/// because the writer thread counts its jobs here too and must not stop over that.
pub(super) fn lock(figures: &Figures) -> std::sync::MutexGuard<'_, ResourceRun> {
    figures.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A written item whose children still need fetching.
#[derive(Debug, Clone)]
pub(super) struct ChildWork {
    pub id: String,
    /// The value placed in the child's path (a domain's name).
    pub key: String,
    pub outcome: Outcome,
}

/// One listing to run: a resource, or the child list of one parent.
pub(super) struct Lister<'a> {
    pub run: &'a Arc<Run>,
    pub resource: &'static Resource,
    pub parent: Option<&'a ChildWork>,
    pub mode: Mode,
    pub history: HistoryContext,
    pub figures: &'a Figures,
    pub bar: &'a ProgressBar,
    pub children: Option<&'a mpsc::Sender<ChildWork>>,
    /// The figures of the child list (DNS records), which count the rows a deleted parent takes
    /// with it.
    pub child_figures: Option<&'a Figures>,
    /// The high-water mark of an activity-ordered resource.
    pub high_water: Option<String>,
    /// The oldest unsettled item of a settled-tail resource.
    pub horizon: Option<String>,
    /// Set during a second, confirming pass over the same listing.
    pub repeating: std::sync::atomic::AtomicBool,
}

/// The result of a listing.
#[derive(Debug, Default)]
pub(super) struct Listing {
    /// Every item was read: all pages succeeded and the distinct ids match the total.
    pub complete: bool,
    /// The newest value of the resource's incremental field among the items read.
    pub newest: Option<String>,
}

/// A page after it was written: what the paging checks and stop rules need.
struct WrittenPage {
    meta: Option<Meta>,
    ids: Vec<String>,
    outcomes: Vec<Outcome>,
    /// The incremental field of each item, in normal form.
    marks: Vec<Option<String>>,
    statuses: Vec<Option<String>>,
    not_modified: bool,
}

impl WrittenPage {
    fn newest(&self) -> Option<String> {
        self.marks.iter().flatten().max().cloned()
    }
}

/// The result of reading every page once.
struct Pass {
    seen: IdSet,
    /// The reason the pass does not prove the listing complete, if it does not.
    gap: Option<String>,
    newest: Option<String>,
}

impl Lister<'_> {
    /// Lists every page (or, incrementally, the pages that may have changed), writing each as
    /// it arrives. Errors are recorded in the figures.
    pub async fn list(&self) -> Listing {
        match self.try_list().await {
            Ok(listing) => listing,
            Err(error) => {
                self.record_error(error);
                if self.mode == Mode::Full || self.resource.incremental == Incremental::Never {
                    self.warn(format!("no deletions inferred for {} because the listing failed", self.scope_name()));
                }
                Listing::default()
            }
        }
    }

    async fn try_list(&self) -> Result<Listing, String> {
        let path = self.path()?;
        let conditional = self.mode == Mode::Incremental && self.resource.conditional;
        let first = self.fetch_and_write(&path, 1, conditional).await?;
        if first.not_modified {
            return self.not_modified().await;
        }
        let early_stop = self.mode == Mode::Incremental && self.resource.incremental != Incremental::Never;
        if early_stop {
            return self.list_until_stop(&path, first).await;
        }

        let mut pass = self.pass(&path, first).await?;
        let mut reason = pass.gap.take();
        if reason.is_none() && self.has_deletion_candidates(&pass.seen).await? {
            // A delete and an insert during the listing keep the total while moving an item
            // across a page boundary unread. So rows are marked deleted only when a second
            // listing, consistent in itself, does not contain them either.
            reason = Some(format!("some archived {} were not listed", self.resource.noun));
        }
        if let Some(gap) = reason {
            // Items may have moved between pages while they were read. A second pass from page 1
            // picks up what shifted; the union of both is what the archive must not mark deleted.
            tracing::info!("{gap}; listing {} again to confirm", self.scope_name());
            self.repeating.store(true, std::sync::atomic::Ordering::Relaxed);
            let first = self.fetch_and_write(&path, 1, false).await?;
            let second = self.pass(&path, first).await?;
            pass.seen.extend(second.seen);
            pass.newest = pass.newest.max(second.newest);
            if let Some(gap) = second.gap {
                self.warn(format!("{gap}; no deletions inferred for {} in this run", self.scope_name()));
                lock(self.figures).incomplete = true;
                self.add_items(pass.seen.len());
                return Ok(Listing { complete: false, newest: pass.newest });
            }
        }
        self.add_items(pass.seen.len());
        self.infer_deletions(pass.seen).await?;
        Ok(Listing { complete: true, newest: pass.newest })
    }

    /// Reads the pages after `first` concurrently and checks the listing against `meta`.
    async fn pass(&self, path: &str, first: WrittenPage) -> Result<Pass, String> {
        let mut seen: IdSet = first.ids.iter().map(String::as_str).collect();
        let newest = first.newest();
        let Some(meta) = first.meta else {
            return Ok(Pass { seen, gap: None, newest });
        };
        if first.ids.len() as u64 >= meta.total {
            // Everything arrived at once: either one page contains it all, or the server ignores paging.
            let gap = self.count_gap(seen.len() as u64, meta.total, false);
            return Ok(Pass { seen, gap, newest });
        }
        if first.ids.len() as u64 > meta.per_page {
            return Err(format!(
                "GET {path}?page=1: the page has {} items, more than its perPage of {}",
                first.ids.len(),
                meta.per_page
            ));
        }
        let per_page = page_size(&first, meta);
        let last_page = meta.total.div_ceil(per_page);
        if last_page > MAX_PAGES {
            return Err(format!(
                "GET {path}: the API reports {last_page} pages of {}; stopped because the limit is {MAX_PAGES} pages",
                self.resource.noun
            ));
        }
        self.bar.inc_length(meta.total.saturating_sub(first.ids.len() as u64));

        // The remaining pages are requested together; the client's semaphore spaces them out.
        let window = self.run.client.concurrency() * 2;
        let mut pages = stream::iter(2..=last_page)
            .map(|number| async move { (number, self.fetch_and_write(path, number, false).await) })
            .buffer_unordered(window);
        // Page contents by fingerprint, to spot a page that repeats the one before it.
        let mut pages_seen: HashMap<u64, u128> = HashMap::from([(1, list_fingerprint(&first.ids))]);
        let mut totals: HashSet<u64> = HashSet::from([meta.total]);
        let mut newest = newest;
        let mut empty_page = None;
        while let Some((number, result)) = pages.next().await {
            let page = result?;
            if page.ids.is_empty() {
                // The listing ended before the `total` it reported, and the pages after it are empty too.
                empty_page = Some(number);
                break;
            }
            if let Some(page_meta) = page.meta {
                totals.insert(page_meta.total);
            }
            newest = newest.max(page.newest());
            for id in &page.ids {
                seen.insert(id);
            }
            pages_seen.insert(number, list_fingerprint(&page.ids));
            // Pages arrive roughly in order, so a server that ignores `page` is caught after a
            // few requests instead of after every page its total promises.
            if let Some(repeated) = [number, number + 1].into_iter().find(|&n| {
                n >= 2 && matches!((pages_seen.get(&(n - 1)), pages_seen.get(&n)), (Some(a), Some(b)) if a == b)
            }) {
                return Err(format!(
                    "GET {path}: page {repeated} repeats the items of page {}; the API may be ignoring `page`",
                    repeated - 1
                ));
            }
        }
        let total = totals.iter().copied().max().unwrap_or(meta.total);
        let gap = self.count_gap(seen.len() as u64, total, totals.len() > 1);
        let gap = match (gap, empty_page) {
            (Some(gap), Some(number)) => Some(format!("page {number} was empty; {gap}")),
            (gap, _) => gap,
        };
        Ok(Pass { seen, gap, newest })
    }

    /// Reads pages in order until one of them meets the resource's incremental stop rule.
    ///
    /// Pages are requested ahead of the one being checked, so a long listing does not pay one
    /// round trip per page. The number requested ahead starts at one and doubles with each page
    /// that does not stop the listing, up to the client's concurrency, so a listing that stops
    /// at page 2 requests no page beyond it. Pages already requested when the rule is met are
    /// still written and counted.
    async fn list_until_stop(&self, path: &str, first: WrittenPage) -> Result<Listing, String> {
        let per_page = first.meta.map(|meta| page_size(&first, meta));
        let mut page = first;
        let mut number = 1;
        let mut newest = None;
        let mut seen = IdSet::default();
        let mut previous_ids: Vec<String> = Vec::new();
        let mut ahead = FuturesOrdered::new();
        let mut requested = 1;
        let mut window = 1;
        loop {
            if !page.ids.is_empty() && page.ids == previous_ids {
                return Err(format!(
                    "GET {path}: page {number} repeats the items of page {}; the API may be ignoring `page`",
                    number - 1
                ));
            }
            newest = newest.max(page.newest());
            for id in &page.ids {
                seen.insert(id);
            }
            if let Some(reason) = self.stop_reason(&page) {
                tracing::debug!("stopping {} at page {number}: {reason}", self.resource.name);
                break;
            }
            let last_page = page.meta.map(|meta| meta.total.div_ceil(per_page.unwrap_or(meta.per_page))).unwrap_or(1);
            if page.ids.is_empty() || number >= last_page || number >= MAX_PAGES {
                break;
            }
            while ahead.len() < window && requested < last_page.min(MAX_PAGES) {
                requested += 1;
                ahead.push_back(self.fetch_and_write(path, requested, false));
            }
            window = (window * 2).min(self.run.client.concurrency().max(1));
            number += 1;
            previous_ids = std::mem::take(&mut page.ids);
            page = ahead.next().await.expect("the next page was requested")?;
        }
        // The rule no longer needs these pages, but they may be written already, so they are
        // awaited and their items added. A failure among them leaves the listing as it is.
        while let Some(result) = ahead.next().await {
            match result {
                Ok(page) => {
                    newest = newest.max(page.newest());
                    for id in &page.ids {
                        seen.insert(id);
                    }
                }
                Err(error) => tracing::debug!("ignored a {} page requested past the stop: {error}", self.resource.name),
            }
        }
        self.add_items(seen.len());
        Ok(Listing { complete: false, newest })
    }

    fn stop_reason(&self, page: &WrittenPage) -> Option<String> {
        match self.resource.incremental {
            Incremental::Never => None,
            Incremental::ActivityMark { field, .. } => {
                let mark = self.high_water.as_deref()?;
                let oldest = page.marks.iter().flatten().min().map(String::as_str);
                plan::older_than_mark(oldest, mark).then(|| {
                    format!("the page's oldest {field} {} is older than the mark {mark}", oldest.unwrap_or(""))
                })
            }
            Incremental::SettledTail { final_statuses, .. } => {
                let items: Vec<SettledItem<'_>> = (0..page.outcomes.len())
                    .map(|index| SettledItem {
                        outcome: page.outcomes[index],
                        status: page.statuses[index].as_deref(),
                        timestamp: page.marks[index].as_deref(),
                    })
                    .collect();
                plan::settled_page(&items, final_statuses, self.horizon.as_deref())
                    .then(|| "every item on the page is archived, unchanged and settled".to_string())
            }
        }
    }

    /// Handles a 304 on the first page: the stored rows are current and complete.
    async fn not_modified(&self) -> Result<Listing, String> {
        let resource = self.resource;
        let account_id = self.run.account_id.clone();
        let parent = self.parent.map(|parent| parent.id.clone());
        let live = self
            .run
            .writer
            .call(move |connection| {
                let parent_column = match resource.source {
                    Source::PerParent { parent_column, .. } => Some(parent_column),
                    _ => None,
                };
                let parent = parent_column.zip(parent.as_deref());
                archive::count_live(connection, resource.table, &account_id, parent)
            })
            .await
            .map_err(|error| format!("failed to count the stored {}: {error}", resource.noun))?;
        let mut figures = lock(self.figures);
        figures.not_modified += 1;
        figures.unchanged += live;
        figures.items += live;
        self.bar.inc(live);
        Ok(Listing { complete: true, newest: None })
    }

    /// Tells whether the archive has live rows of this listing's scope that `seen` lacks.
    async fn has_deletion_candidates(&self, seen: &IdSet) -> Result<bool, String> {
        let resource = self.resource;
        let account_id = self.run.account_id.clone();
        let parent = self.parent.map(|parent| parent.id.clone());
        let seen = seen.clone();
        self.run
            .writer
            .call(move |connection| {
                let scope = write::scope(resource, &account_id, parent.as_deref());
                archive::missing_ids(connection, &scope, &seen).map(|ids| !ids.is_empty())
            })
            .await
            .map_err(|error| format!("failed to read the stored {}: {error}", resource.noun))
    }

    async fn infer_deletions(&self, seen: IdSet) -> Result<(), String> {
        let resource = self.resource;
        let account_id = self.run.account_id.clone();
        let parent = self.parent.map(|parent| parent.id.clone());
        let history = self.history.clone();
        let deletions = self
            .run
            .writer
            .call(move |connection| {
                write::infer_deletions(connection, resource, &account_id, parent.as_deref(), &seen, &history)
            })
            .await
            .map_err(|error| format!("failed to mark missing {} deleted: {error}", resource.noun))?;
        lock(self.figures).deleted += deletions.own;
        if let Some(child_figures) = self.child_figures {
            lock(child_figures).deleted += deletions.children;
        }
        Ok(())
    }

    async fn fetch_and_write(&self, path: &str, number: u64, conditional: bool) -> Result<WrittenPage, String> {
        let run = self.run;
        if run.writer.is_stopped() {
            return Err(format!("GET {path}: not requested, because an earlier write to the archive failed"));
        }
        let query = [("page", number.to_string()), ("per_page", run.per_page.to_string())];
        let target = format!("{path}?page={number}&per_page={}", run.per_page);
        let sent = if conditional { run.validators.get(&target) } else { None };
        let headers = sent.as_ref().map(Validators::request_headers).unwrap_or_default();
        lock(self.figures).requests += 1;

        let response =
            run.client.request_json(Method::GET, path, &query, None, &headers).await.map_err(|e| e.to_string())?;
        if response.not_modified() {
            if sent.is_none() {
                return Err(format!("GET {target}: unexpected 304 Not Modified to a request without validators"));
            }
            return Ok(WrittenPage {
                meta: None,
                ids: Vec::new(),
                outcomes: Vec::new(),
                marks: Vec::new(),
                statuses: Vec::new(),
                not_modified: true,
            });
        }
        let validators = response.validators();
        let page = decode_page(self.resource, response.body).map_err(|error| format!("GET {target}: {error}"))?;

        // A 304 can only stand for the whole listing when the whole listing fits on page 1.
        let whole = number == 1 && page.meta.is_none_or(|meta| page.items.len() as u64 >= meta.total);
        let validator_update = match validators {
            Some(validators) if self.resource.conditional && whole => {
                ValidatorUpdate::Store(target.clone(), validators)
            }
            _ if self.resource.conditional && run.validators.get(&target).is_some() => {
                ValidatorUpdate::Forget(target.clone())
            }
            _ => ValidatorUpdate::Keep,
        };

        if !page.problems.is_empty() {
            let mut figures = lock(self.figures);
            figures.incomplete = true;
            for problem in &page.problems {
                if figures.warn(format!("GET {target}: {problem}")) {
                    tracing::warn!("GET {target}: {problem}");
                }
            }
        }
        let ids: Vec<String> = page.items.iter().map(|item| item.id.clone()).collect();
        let keys = page.keys;
        let item_count = page.items.len() as u64;
        let write = PageWrite {
            resource: self.resource,
            account_id: run.account_id.clone(),
            parent_id: self.parent.map(|parent| parent.id.clone()),
            items: page.items,
            validators: validator_update,
        };
        let history = self.history.clone();
        let figures = self.figures.clone();
        // A confirming pass reads items already counted, so only its changes count again.
        // NOTE: an item that changes between the two passes is counted twice, while its history
        // keeps one row, because the change is folded into the first pass's row.
        let repeating = self.repeating.load(std::sync::atomic::Ordering::Relaxed);
        let outcomes = run
            .writer
            .call(move |connection| {
                let outcomes = write::write_page(connection, write, &history)?;
                // Counted with the write, so that the figures match what is stored even when
                // this task is dropped before the reply arrives.
                let mut figures = lock(&figures);
                figures.pages += 1;
                for outcome in outcomes.iter().filter(|outcome| !repeating || **outcome != Outcome::Unchanged) {
                    count(&mut figures, *outcome);
                }
                Ok(outcomes)
            })
            .await
            .map_err(|error| format!("GET {target}: failed to store the page: {error}"))?;

        if number == 1 {
            self.bar.inc_length(item_count);
        }
        self.bar.inc(item_count);
        if let Some(children) = self.children {
            for ((id, key), outcome) in ids.iter().cloned().zip(keys).zip(&outcomes) {
                if key.is_empty() && write::child_list_of(self.resource).is_some() {
                    continue;
                }
                // The first pass sent this item's children already, unless it changed since.
                if repeating && *outcome == Outcome::Unchanged {
                    continue;
                }
                // The receiver ends only with this listing's task, so a failed send loses nothing.
                let _ = children.send(ChildWork { id, key, outcome: *outcome }).await;
            }
        }
        Ok(WrittenPage {
            meta: page.meta,
            ids,
            outcomes,
            marks: page.marks,
            statuses: page.statuses,
            not_modified: false,
        })
    }

    /// Compares the distinct ids received with the API's total and describes any gap.
    fn count_gap(&self, received: u64, total: u64, total_changed: bool) -> Option<String> {
        let noun = self.resource.noun;
        let scope = self.parent.map(|parent| format!(" of {:?}", parent.key)).unwrap_or_default();
        if total_changed {
            Some(format!("the total of {noun}{scope} changed during the listing; received {received}"))
        } else if received < total {
            Some(format!("received {received} of {total} {noun}{scope}"))
        } else if received > total {
            Some(format!("received {received} {noun}{scope}, more than the total of {total} the API reported"))
        } else {
            None
        }
    }

    fn path(&self) -> Result<String, String> {
        match (self.resource.source, self.parent) {
            (Source::List { path, .. }, None) => Ok(path.to_string()),
            (Source::PerParent { path, .. }, Some(parent)) => {
                let segment = path::segment(&parent.key).map_err(|error| error.to_string())?;
                Ok(path.replace("{}", &segment))
            }
            _ => Err(format!("{} cannot be listed this way", self.resource.name)),
        }
    }

    fn scope_name(&self) -> String {
        match self.parent {
            Some(parent) => format!("the {} of {:?}", self.resource.noun, parent.key),
            None => self.resource.noun.to_string(),
        }
    }

    fn add_items(&self, items: usize) {
        lock(self.figures).items += items as u64;
    }

    fn warn(&self, warning: String) {
        if lock(self.figures).warn(warning.clone()) {
            tracing::warn!("{warning}");
        }
    }

    fn record_error(&self, error: String) {
        tracing::warn!("{error}");
        lock(self.figures).errors.push(error);
    }
}

/// Returns the number of items per page to page by: `meta.perPage`, unless page 1 came back
/// shorter than that while more items exist, which means the server capped the page size
/// without saying so.
fn page_size(first: &WrittenPage, meta: Meta) -> u64 {
    let received = first.ids.len() as u64;
    if received > 0 && received < meta.per_page && received < meta.total {
        tracing::debug!(received, per_page = meta.per_page, "page 1 is short of perPage; paging by its size");
        return received;
    }
    meta.per_page
}

pub(super) fn count(figures: &mut ResourceRun, outcome: Outcome) {
    match outcome {
        Outcome::Inserted => figures.inserted += 1,
        Outcome::Updated => figures.updated += 1,
        Outcome::Restored => figures.restored += 1,
        Outcome::Unchanged => figures.unchanged += 1,
    }
}

/// A fetched and decoded page.
struct FetchedPage {
    meta: Option<Meta>,
    items: Vec<DecodedItem>,
    /// The values children need (domain names), in item order.
    keys: Vec<String>,
    marks: Vec<Option<String>>,
    statuses: Vec<Option<String>>,
    /// Items skipped or stored with NULL columns, for the resource's warnings.
    problems: Vec<String>,
}

/// Decodes a list response: envelope, meta, and every item with its embedded rows.
fn decode_page(resource: &Resource, body: Value) -> Result<FetchedPage, String> {
    let envelope = match resource.source {
        Source::List { envelope, .. } | Source::PerParent { envelope, .. } => envelope,
        Source::Object { .. } => unreachable!("objects are not paged"),
    };
    let page = parse_page(body, envelope)?;
    let fill_absent = !resource.merges_detail();
    let child_key = write::child_list_of(resource).map(|child| match child.source {
        Source::PerParent { parent_key, .. } => parent_key,
        _ => unreachable!("child lists are per parent"),
    });
    let (mark_field, status_field) = match resource.incremental {
        Incremental::Never => (None, None),
        Incremental::ActivityMark { field, .. } => (Some(field), None),
        Incremental::SettledTail { field, status_field, .. } => (Some(field), Some(status_field)),
    };

    let mut decoded = FetchedPage {
        meta: page.meta,
        items: Vec::with_capacity(page.items.len()),
        keys: Vec::with_capacity(page.items.len()),
        marks: Vec::with_capacity(page.items.len()),
        statuses: Vec::with_capacity(page.items.len()),
        problems: Vec::new(),
    };
    let mut ids = HashSet::with_capacity(page.items.len());
    for (index, value) in page.items.iter().enumerate() {
        let mut item = match decode_item(value, resource.fields, fill_absent) {
            Ok(item) => item,
            Err(error) => {
                decoded.problems.push(format!("item {index}: {error}; the item was skipped"));
                continue;
            }
        };
        if !ids.insert(item.id.clone()) {
            decoded.problems.push(format!("the page lists id {:?} twice; the second copy was skipped", item.id));
            continue;
        }
        decoded.problems.append(&mut item.problems);
        if let Some(embedded) = resource.embedded {
            item.embedded = decode_embedded(value, embedded.json, embedded.fields, &item.id, &mut decoded.problems);
        }
        let key = match child_key {
            Some(key) => match value.get(key).and_then(Value::as_str) {
                Some(key) => key.to_string(),
                None => {
                    decoded.problems.push(format!(
                        "item {:?}: field {key:?}: expected a string, so its {} cannot be listed",
                        item.id,
                        write::child_list_of(resource).map_or("children", |child| child.noun)
                    ));
                    String::new()
                }
            },
            None => String::new(),
        };
        decoded.keys.push(key);
        decoded.marks.push(
            mark_field.and_then(|field| value.get(field)).and_then(Value::as_str).and_then(archive::sortable_timestamp),
        );
        decoded
            .statuses
            .push(status_field.and_then(|field| value.get(field)).and_then(Value::as_str).map(str::to_string));
        decoded.items.push(item);
    }
    Ok(decoded)
}

fn decode_embedded(
    value: &Value,
    key: &str,
    fields: &'static [resources::Field],
    item_id: &str,
    problems: &mut Vec<String>,
) -> Option<Vec<DecodedItem>> {
    let children = match value.get(key) {
        // An absent or null list means the item has no embedded rows now.
        None | Some(Value::Null) => return Some(Vec::new()),
        Some(Value::Array(children)) => children,
        Some(other) => {
            problems.push(format!(
                "item {item_id:?}: field {key:?}: expected an array, got {}; its rows were left as they were",
                describe(other)
            ));
            return None;
        }
    };
    let mut decoded = Vec::with_capacity(children.len());
    for (position, child) in children.iter().enumerate() {
        match decode_child(child, fields) {
            Ok((columns, child_problems, raw, normal)) => {
                problems.extend(
                    child_problems.into_iter().map(|problem| format!("item {item_id:?}: {key}[{position}]: {problem}")),
                );
                decoded.push(DecodedItem {
                    id: position.to_string(),
                    columns,
                    raw,
                    normal,
                    embedded: None,
                    problems: Vec::new(),
                });
            }
            Err(error) => {
                problems.push(format!("item {item_id:?}: {key}[{position}]: {error}; its rows were left as they were"));
                return None;
            }
        }
    }
    Some(decoded)
}

/// Returns the fingerprint of a list of ids in order, to tell whether two pages list the same
/// items.
fn list_fingerprint(ids: &[String]) -> u128 {
    let mut hasher = SipHasher13::new();
    for id in ids {
        hasher.write(id.as_bytes());
        // A separator that no UTF-8 text contains keeps ["ab", "c"] apart from ["a", "bc"].
        hasher.write_u8(0xff);
    }
    hasher.finish128().as_u128()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_fingerprint_keeps_boundaries() {
        let split = |ids: &[&str]| list_fingerprint(&ids.iter().map(|id| id.to_string()).collect::<Vec<_>>());

        assert_ne!(split(&["ab", "c"]), split(&["a", "bc"]));
        assert_ne!(split(&["a", "b"]), split(&["b", "a"]));
        assert_eq!(split(&["a", "b"]), split(&["a", "b"]));
    }
}
