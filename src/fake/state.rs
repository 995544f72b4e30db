//! State shared by the server task and the [`FakeApi`](super::FakeApi) handle: the world,
//! the test controls, the request log, the idempotency store and the `Last-Modified` dates.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::ConnectInfo;
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde_json::Value;

use super::faults::{Fault, FaultKind};
use super::world::{World, field_str};
use super::{FakeConfig, RecordedRequest};

pub(crate) struct Shared {
    pub(crate) api_key: String,
    pub(crate) data: Mutex<DataState>,
    pub(crate) controls: Mutex<Controls>,
    pub(crate) log: Mutex<RequestLog>,
    pub(crate) idempotency: Mutex<HashMap<String, IdempotencyEntry>>,
    /// The last body served per request target (path and query), for `Last-Modified`.
    modification_times: Mutex<HashMap<String, ModificationTime>>,
    /// Requests received whose response is not ready yet.
    pub(crate) in_flight: AtomicUsize,
}

impl Shared {
    pub(crate) fn new(config: &FakeConfig, world: World) -> Shared {
        Shared {
            api_key: config.api_key.clone(),
            data: Mutex::new(DataState::new(world)),
            controls: Mutex::new(Controls {
                latency: config.latency,
                per_page_cap: config.per_page_cap,
                faults: Vec::new(),
                after_request: Vec::new(),
                validators: true,
            }),
            log: Mutex::new(RequestLog::default()),
            idempotency: Mutex::new(HashMap::new()),
            modification_times: Mutex::new(HashMap::new()),
            in_flight: AtomicUsize::new(0),
        }
    }

    /// Removes one use of the first fault that matches the request and returns its kind.
    pub(crate) fn take_fault(&self, method: &str, path: &str, page: Option<u32>) -> Option<FaultKind> {
        let mut controls = lock(&self.controls);
        controls.faults.retain(|fault| fault.times != Some(0));
        let position = controls.faults.iter().position(|fault| fault.matches(method, path, page))?;

        let fault = &mut controls.faults[position];
        let kind = fault.kind.clone();
        if let Some(times) = fault.times.as_mut() {
            *times -= 1;
            if *times == 0 {
                controls.faults.remove(position);
            }
        }
        Some(kind)
    }

    /// Runs and removes every after-request action that matches a GET of `path` and `page`, in
    /// the order they were added.
    pub(crate) fn run_after_request_actions(&self, path: &str, page: Option<u32>) {
        let matching: Vec<WorldAction> = {
            let mut controls = lock(&self.controls);
            let (matching, rest) = std::mem::take(&mut controls.after_request)
                .into_iter()
                .partition(|action| action.path == path && action.page.is_none_or(|wanted| page == Some(wanted)));
            controls.after_request = rest;
            matching.into_iter().map(|action| action.action).collect()
        };
        if matching.is_empty() {
            return;
        }

        tracing::debug!(path, ?page, count = matching.len(), "fake API running after-request actions");
        let mut data = lock(&self.data);
        // Marked before the actions run, so a panicking action still leaves listings re-sorted.
        data.mark_changed();
        for action in matching {
            action(&mut data.world);
        }
    }

    /// Returns the `Last-Modified` date of the body with `digest` served for `target`.
    ///
    /// The date is the wall clock, truncated to whole seconds, when this body replaced a
    /// different one (or was first served). Each change gets a date at least one second after
    /// the previous one, so a date can lie up to a few seconds in the future after quick changes.
    pub(crate) fn modification_time(&self, target: &str, digest: [u8; 32]) -> SystemTime {
        let now = whole_seconds(SystemTime::now());
        let mut times = lock(&self.modification_times);
        match times.get_mut(target) {
            Some(entry) if entry.digest == digest => entry.time,
            Some(entry) => {
                entry.time = now.max(entry.time + Duration::from_secs(1));
                entry.digest = digest;
                entry.time
            }
            None => {
                times.insert(target.to_owned(), ModificationTime { digest, time: now });
                now
            }
        }
    }

    /// Appends a request to the log with status 0 and returns its sequence number.
    pub(crate) fn record_arrival(&self, parts: &Parts, body: &Bytes, authorized: bool, in_flight: usize) -> u64 {
        let headers = parts
            .headers
            .iter()
            .filter(|(name, _)| *name != axum::http::header::AUTHORIZATION)
            .map(|(name, value)| (name.as_str().to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
            .collect();
        let request = RecordedRequest {
            method: parts.method.as_str().to_owned(),
            version: format!("{:?}", parts.version),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            status: 0,
            headers,
            authorized,
            body: String::from_utf8_lossy(body).into_owned(),
            in_flight,
            peer: parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0),
        };

        let mut log = lock(&self.log);
        let sequence = log.next_sequence;
        log.next_sequence += 1;
        log.entries.push((sequence, request));
        sequence
    }

    /// Sets the status of a logged request, unless the log was cleared since it arrived.
    pub(crate) fn record_status(&self, sequence: u64, status: StatusCode) {
        let mut log = lock(&self.log);
        if let Some((_, request)) = log.entries.iter_mut().rev().find(|(entry, _)| *entry == sequence) {
            request.status = status.as_u16();
        }
    }
}

fn whole_seconds(time: SystemTime) -> SystemTime {
    let seconds = time.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    UNIX_EPOCH + Duration::from_secs(seconds)
}

/// Locks a mutex, recovering the data if a panicking test closure poisoned it.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Settings that tests change while the server runs.
pub(crate) struct Controls {
    pub(crate) latency: Duration,
    pub(crate) per_page_cap: u32,
    /// Faults in the order they were added. The first match fires.
    pub(crate) faults: Vec<Fault>,
    /// Actions that change the world after a matching GET, in the order they were added.
    pub(crate) after_request: Vec<AfterRequest>,
    /// Whether responses get `ETag` or `Last-Modified` and conditional requests get 304.
    pub(crate) validators: bool,
}

pub(crate) type WorldAction = Box<dyn FnOnce(&mut World) + Send>;

/// A change to the world that runs once, after the first GET that matches `path` and `page`.
pub(crate) struct AfterRequest {
    /// Raw request path, matched exactly like [`Fault::path`].
    pub(crate) path: String,
    /// The `page` query parameter to match, where a request without one counts as page 1.
    /// `None` matches every page.
    pub(crate) page: Option<u32>,
    pub(crate) action: WorldAction,
}

/// The digest of the body last served for one request target, and when that body first appeared.
struct ModificationTime {
    digest: [u8; 32],
    time: SystemTime,
}

#[derive(Default)]
pub(crate) struct RequestLog {
    next_sequence: u64,
    pub(crate) entries: Vec<(u64, RecordedRequest)>,
}

/// The remembered outcome of a request that carried an `Idempotency-Key` header.
pub(crate) enum IdempotencyEntry {
    /// The first request with this key is still running.
    InProgress,
    Done {
        signature: RequestSignature,
        response: StoredResponse,
    },
}

/// The parts of a request that a repeat must match to be replayed: method, target and body.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct RequestSignature {
    pub(crate) method: String,
    pub(crate) target: String,
    pub(crate) body: Bytes,
}

#[derive(Clone)]
pub(crate) struct StoredResponse {
    pub(crate) status: StatusCode,
    pub(crate) content_type: Option<axum::http::HeaderValue>,
    pub(crate) body: Bytes,
}

/// The world plus lookup indexes that the handlers keep in step with it.
pub(crate) struct DataState {
    pub(crate) world: World,
    services: PositionIndex,
    domains: PositionIndex,
    invoices: PositionIndex,
    listings_sorted: bool,
}

impl DataState {
    fn new(world: World) -> DataState {
        let mut state = DataState {
            world,
            services: PositionIndex::default(),
            domains: PositionIndex::default(),
            invoices: PositionIndex::default(),
            listings_sorted: false,
        };
        state.mark_changed();
        state
    }

    /// Invalidates the indexes and the sort order after any change made outside the handlers'
    /// bookkeeping, such as a test's `with_world` closure.
    pub(crate) fn mark_changed(&mut self) {
        self.services.stale = true;
        self.domains.stale = true;
        self.invoices.stale = true;
        self.listings_sorted = false;
    }

    /// Sorts invoices and tickets if anything may have changed their order.
    pub(crate) fn sort_listings(&mut self) {
        if !self.listings_sorted {
            self.world.sort_listings();
            self.invoices.stale = true;
            self.listings_sorted = true;
        }
    }

    pub(crate) fn ticket_added(&mut self) {
        self.listings_sorted = false;
    }

    pub(crate) fn service_position(&mut self, id: &str) -> Option<usize> {
        self.services.find(&self.world.services, "id", id)
    }

    pub(crate) fn service_removed(&mut self) {
        self.services.stale = true;
    }

    pub(crate) fn domain_position(&mut self, name: &str) -> Option<usize> {
        self.domains.find(&self.world.domains, "name", name)
    }

    pub(crate) fn invoice_position(&mut self, id: &str) -> Option<usize> {
        self.invoices.find(&self.world.invoices, "id", id)
    }
}

/// Maps a key field's value to the position of the first item that has it. Every hit is
/// checked against the item, so a stale index costs a rebuild but never returns a wrong position.
#[derive(Default)]
struct PositionIndex {
    positions: HashMap<String, usize>,
    stale: bool,
}

impl PositionIndex {
    fn find(&mut self, items: &[Value], field: &str, key: &str) -> Option<usize> {
        if !self.stale {
            match self.positions.get(key) {
                Some(&position) if items.get(position).and_then(|item| field_str(item, field)) == Some(key) => {
                    return Some(position);
                }
                None => return None,
                Some(_) => {}
            }
        }
        self.rebuild(items, field);
        self.positions.get(key).copied()
    }

    fn rebuild(&mut self, items: &[Value], field: &str) {
        self.positions.clear();
        for (position, item) in items.iter().enumerate() {
            if let Some(key) = field_str(item, field) {
                self.positions.entry(key.to_owned()).or_insert(position);
            }
        }
        self.stale = false;
    }
}
