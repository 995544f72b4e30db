//! Fault matrices. The sync matrix injects every fault into every synced endpoint, and the push
//! matrix injects faults into the request of every kind of edit. Each cell runs the real binary
//! against its own fake API and its own copy of a synced archive. One checking function per
//! matrix asserts the documented outcome, and every failure names its cell.

use std::collections::BTreeSet;
use std::time::{Duration, Instant, SystemTime};

use futures_util::{StreamExt, stream};
use omega_sync::fake::{Fault, FaultKind, SERVICE_DETAIL_FIELDS, World, sample_ed25519_public_key};
use rusqlite::Connection;
use serde_json::{Value, json};

use crate::support::{Env, KEY, Run, count, omega, snapshot, strings};

/// Cells that run at once. A cell mostly waits on a timeout, a `Retry-After` or a child process,
/// so running more cells than there are cores keeps the matrix short.
const PARALLEL_CELLS: usize = 12;

const SSH_KEY_ID: &str = "key_01J2RX9ABCDEF";
const SERVICE_ID: &str = "svc_01HY7M3ABCXYZ";
const INVOICE_ID: &str = "inv_01JRXYZ";
const PAYMENT_METHOD_ID: &str = "pm_01JRCARD";
const DOMAIN_ID: &str = "dom_01JRXYZ";
const RECORD_ID: &str = "rec_01";
const TICKET_ID: &str = "tkt_01JRTICKET";

/// A timestamp with an offset and a fraction, and the UTC form the archive must store.
const OFFSET_TIMESTAMP: &str = "2026-04-01T02:00:00.500+02:00";
const UTC_TIMESTAMP: &str = "2026-04-01T00:00:00.500Z";

/// Text outside ASCII: Latin with a diaeresis, CJK, and an emoji outside the Basic Multilingual
/// Plane.
const NON_ASCII_TEXT: &str = "Zoë · 東京 · 🦀";

/// An enum value that the API reference does not list.
const UNKNOWN_ENUM: &str = "hibernating";

/// Characters that would start another path segment, a query, a fragment or an escape if a
/// client put the value into a URL unencoded, and a `..` inside the value.
const PATH_CHARACTERS: &str = "a/b?c#d%41..e";

// ---------------------------------------------------------------------------------------------
// Shared by both matrices
// ---------------------------------------------------------------------------------------------

/// An archive synced once from the default fake data set, which every cell copies. Every fake
/// API generates the same data from the same seed, so a copy matches any cell's fake.
struct Template {
    env: Env,
}

impl Template {
    async fn create() -> Template {
        let env = Env::start().await;
        env.sync(&[]).await.assert_success();
        // The checkpoint moves the write-ahead log into the main file, so copying that file
        // alone copies the whole archive.
        env.db().execute_batch("PRAGMA wal_checkpoint(TRUNCATE)").expect("the checkpoint runs");
        Template { env }
    }

    /// Starts a fresh fake API and copies the synced archive to its folder.
    async fn cell_env(&self) -> Env {
        let env = Env::start().await;
        std::fs::copy(&self.env.db, &env.db).expect("the template archive copies");
        env
    }
}

/// Runs `cells` at most [`PARALLEL_CELLS`] at a time and returns every failure message.
async fn run_cells<C, F>(cells: Vec<C>, run: impl Fn(C) -> F) -> (usize, Vec<String>)
where
    F: Future<Output = Vec<String>>,
{
    let total = cells.len();
    let failures: Vec<Vec<String>> = stream::iter(cells).map(run).buffer_unordered(PARALLEL_CELLS).collect().await;
    (total, failures.into_iter().flatten().collect())
}

#[track_caller]
fn assert_no_failures(matrix: &str, total: usize, failures: &[String], started: Instant) {
    eprintln!("{matrix}: {total} cells in {:.1} s", started.elapsed().as_secs_f64());
    assert!(
        failures.is_empty(),
        "{} failed checks in {total} cells of the {matrix}:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// Checks that no process panicked: exit code 101 is Rust's panic exit code.
fn check_no_panic(cell: &str, step: &str, run: &Run, failures: &mut Vec<String>) {
    if run.code == 101 || run.stderr.contains("panicked") {
        failures.push(format!("[{cell}] {step} panicked (exit code {}):\n{}", run.code, tail(&run.stderr)));
    }
}

fn check_integrity(cell: &str, db: &Connection, failures: &mut Vec<String>) {
    let result = strings(db, "PRAGMA integrity_check");
    if result != ["ok"] {
        failures.push(format!("[{cell}] PRAGMA integrity_check returned {result:?}"));
    }
}

/// Returns the end of a process's output, enough to see the error without flooding the report.
fn tail(text: &str) -> String {
    const KEPT: usize = 2000;
    match text.char_indices().nth_back(KEPT) {
        Some((start, _)) => format!("…{}", &text[start..]),
        None => text.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// The sync fault matrix
// ---------------------------------------------------------------------------------------------

/// A synced endpoint that faults are injected into.
struct Endpoint {
    name: &'static str,
    /// The raw request path the faults match.
    path: &'static str,
    /// The `--only` selection that requests the path at the least cost.
    only: &'static str,
    /// The list's envelope key, or `None` for an endpoint that returns one object.
    envelope: Option<&'static str>,
    /// Whether the list response carries `meta`.
    paged: bool,
    /// The table of the reference item that data cells change, and its row.
    table: &'static str,
    row: &'static str,
    /// The column that keeps the object as this endpoint sent it.
    raw_column: &'static str,
    /// The reference item in the fake's world.
    item: fn(&mut World) -> &mut Value,
    /// A field that gets a value of the wrong type, that value as JSON, and its column.
    wrong_type: (&'static str, &'static str, &'static str),
    /// A field that gets `null`, and its column.
    null: (&'static str, &'static str),
    /// An enum field, and its column.
    enumerated: Option<(&'static str, &'static str)>,
    /// A timestamp field, and its column.
    timestamp: Option<(&'static str, &'static str)>,
    /// A text field, and its column.
    text: (&'static str, &'static str),
    /// How an item whose id contains [`PATH_CHARACTERS`] is added, if the endpoint lists items.
    odd_id: Option<OddId>,
}

/// An item with path characters in its id (or a domain with them in its name).
struct OddId {
    add: fn(&mut World),
    table: &'static str,
    id: &'static str,
    /// The encoded request path that the odd value must cause, when it goes into a path.
    requested: Option<&'static str>,
    /// A condition the stored row must also meet, such as a column that only a detail fills.
    condition: Option<&'static str>,
}

fn reference_account(world: &mut World) -> &mut Value {
    &mut world.account
}

fn reference_key(world: &mut World) -> &mut Value {
    find(&mut world.ssh_keys, SSH_KEY_ID)
}

fn reference_service(world: &mut World) -> &mut Value {
    find(&mut world.services, SERVICE_ID)
}

fn reference_invoice(world: &mut World) -> &mut Value {
    find(&mut world.invoices, INVOICE_ID)
}

fn reference_payment_method(world: &mut World) -> &mut Value {
    find(&mut world.payment_methods, PAYMENT_METHOD_ID)
}

fn reference_domain(world: &mut World) -> &mut Value {
    find(&mut world.domains, DOMAIN_ID)
}

fn reference_record(world: &mut World) -> &mut Value {
    find(world.records_mut("example.com"), RECORD_ID)
}

fn reference_ticket(world: &mut World) -> &mut Value {
    find(&mut world.tickets, TICKET_ID)
}

fn find<'a>(items: &'a mut [Value], id: &str) -> &'a mut Value {
    items.iter_mut().find(|item| item["id"] == id).unwrap_or_else(|| panic!("the fake's world has {id}"))
}

/// Adds a copy of the item whose id is `source`, with `changes` applied, such as another id.
fn add_copy(items: &mut Vec<Value>, source: &str, changes: Value) {
    let mut copy = items.iter().find(|item| item["id"] == source).expect("the source item exists").clone();
    for (key, value) in changes.as_object().expect("changes are an object") {
        copy[key] = value.clone();
    }
    items.push(copy);
}

fn add_odd_key(world: &mut World) {
    let fingerprint = omega_sync::fake::ssh_fingerprint(&sample_ed25519_public_key(40)).expect("a valid sample key");
    add_copy(&mut world.ssh_keys, SSH_KEY_ID, json!({"id": "key_a/b?c#d%41..e", "fingerprint": fingerprint}));
}

fn add_odd_service(world: &mut World) {
    add_copy(&mut world.services, SERVICE_ID, json!({"id": "svc_a/b?c#d%41..e", "label": "odd-id"}));
}

fn add_odd_invoice(world: &mut World) {
    add_copy(&mut world.invoices, INVOICE_ID, json!({"id": "inv_a/b?c#d%41..e", "number": "INV-ODD-0001"}));
}

fn add_odd_payment_method(world: &mut World) {
    add_copy(&mut world.payment_methods, PAYMENT_METHOD_ID, json!({"id": "pm_a/b?c#d%41..e", "isDefault": false}));
}

fn add_odd_domain(world: &mut World) {
    let name = format!("{PATH_CHARACTERS}.example");
    add_copy(&mut world.domains, DOMAIN_ID, json!({"id": "dom_a/b?c#d%41..e", "name": name}));
    world.records_mut(&name).push(json!({
        "id": "rec_a/b?c#d%41..e", "type": "TXT", "name": "@", "value": "odd", "ttl": 300
    }));
}

fn add_odd_ticket(world: &mut World) {
    add_copy(&mut world.tickets, TICKET_ID, json!({"id": "tkt_a/b?c#d%41..e", "subject": "Odd id"}));
}

const ODD_DOMAIN_RECORDS: &str = "/v1/domains/a%2Fb%3Fc%23d%2541..e.example/records";

fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint {
            name: "account",
            path: "/v1/account",
            only: "ssh-keys",
            envelope: None,
            paged: false,
            table: "accounts",
            row: "id = 'acc_01HX4N9PKBQ3MVZRTA7CGWXE2F'",
            raw_column: "raw_json",
            item: reference_account,
            wrong_type: ("firstName", "42", "first_name"),
            null: ("company", "company"),
            enumerated: Some(("status", "status")),
            timestamp: Some(("createdAt", "created_at")),
            text: ("firstName", "first_name"),
            odd_id: None,
        },
        Endpoint {
            name: "ssh-keys",
            path: "/v1/account/ssh-keys",
            only: "ssh-keys",
            envelope: Some("keys"),
            paged: false,
            table: "ssh_keys",
            row: "id = 'key_01J2RX9ABCDEF'",
            raw_column: "raw_json",
            item: reference_key,
            wrong_type: ("label", "123", "label"),
            null: ("fingerprint", "fingerprint"),
            enumerated: None,
            timestamp: Some(("createdAt", "created_at")),
            text: ("label", "label"),
            odd_id: Some(OddId {
                add: add_odd_key,
                table: "ssh_keys",
                id: "key_a/b?c#d%41..e",
                requested: None,
                condition: None,
            }),
        },
        Endpoint {
            name: "services",
            path: "/v1/services",
            only: "services",
            envelope: Some("data"),
            paged: true,
            table: "services",
            row: "id = 'svc_01HY7M3ABCXYZ'",
            raw_column: "raw_json",
            item: reference_service,
            wrong_type: ("label", "7", "label"),
            null: ("ipv4", "ipv4"),
            enumerated: Some(("status", "status")),
            timestamp: Some(("createdAt", "created_at")),
            text: ("label", "label"),
            odd_id: Some(OddId {
                add: add_odd_service,
                table: "services",
                id: "svc_a/b?c#d%41..e",
                requested: None,
                condition: None,
            }),
        },
        Endpoint {
            name: "service-detail",
            path: "/v1/services/svc_01HY7M3ABCXYZ",
            only: "services",
            envelope: None,
            paged: false,
            table: "services",
            row: "id = 'svc_01HY7M3ABCXYZ'",
            raw_column: "detail_json",
            item: reference_service,
            wrong_type: ("specs.vcpu", "\"4\"", "vcpu"),
            null: ("os", "os"),
            enumerated: Some(("status", "status")),
            timestamp: Some(("createdAt", "created_at")),
            text: ("os", "os"),
            odd_id: Some(OddId {
                add: add_odd_service,
                table: "services",
                id: "svc_a/b?c#d%41..e",
                requested: Some("/v1/services/svc_a%2Fb%3Fc%23d%2541..e"),
                condition: Some("datacenter IS NOT NULL AND detail_json IS NOT NULL"),
            }),
        },
        Endpoint {
            name: "invoices",
            path: "/v1/billing/invoices",
            only: "invoices",
            envelope: Some("data"),
            paged: true,
            table: "invoices",
            row: "id = 'inv_01JRXYZ'",
            raw_column: "raw_json",
            item: reference_invoice,
            wrong_type: ("totalCents", "\"1999\"", "total_cents"),
            null: ("totalCents", "total_cents"),
            enumerated: Some(("status", "status")),
            timestamp: Some(("issuedAt", "issued_at")),
            text: ("number", "number"),
            odd_id: Some(OddId {
                add: add_odd_invoice,
                table: "invoices",
                id: "inv_a/b?c#d%41..e",
                requested: None,
                condition: None,
            }),
        },
        Endpoint {
            name: "payment-methods",
            path: "/v1/billing/payment-methods",
            only: "payment-methods",
            envelope: Some("data"),
            paged: true,
            table: "payment_methods",
            row: "id = 'pm_01JRCARD'",
            raw_column: "raw_json",
            item: reference_payment_method,
            wrong_type: ("isDefault", "\"yes\"", "is_default"),
            null: ("expYear", "exp_year"),
            enumerated: Some(("type", "type")),
            timestamp: None,
            text: ("brand", "brand"),
            odd_id: Some(OddId {
                add: add_odd_payment_method,
                table: "payment_methods",
                id: "pm_a/b?c#d%41..e",
                requested: None,
                condition: None,
            }),
        },
        Endpoint {
            name: "domains",
            path: "/v1/domains",
            only: "domains",
            envelope: Some("data"),
            paged: true,
            table: "domains",
            row: "id = 'dom_01JRXYZ'",
            raw_column: "raw_json",
            item: reference_domain,
            wrong_type: ("autoRenew", "\"yes\"", "auto_renew"),
            null: ("expiresAt", "expires_at"),
            enumerated: Some(("status", "status")),
            timestamp: Some(("expiresAt", "expires_at")),
            text: ("name", "name"),
            odd_id: Some(OddId {
                add: add_odd_domain,
                table: "domains",
                id: "dom_a/b?c#d%41..e",
                requested: None,
                condition: Some("name = 'a/b?c#d%41..e.example'"),
            }),
        },
        Endpoint {
            name: "dns-records",
            path: "/v1/domains/example.com/records",
            only: "dns-records",
            envelope: Some("records"),
            paged: false,
            table: "dns_records",
            row: "domain_id = 'dom_01JRXYZ' AND id = 'rec_01'",
            raw_column: "raw_json",
            item: reference_record,
            wrong_type: ("ttl", "\"300\"", "ttl"),
            null: ("ttl", "ttl"),
            enumerated: Some(("type", "type")),
            timestamp: Some(("createdAt", "created_at")),
            text: ("value", "value"),
            odd_id: Some(OddId {
                add: add_odd_domain,
                table: "dns_records",
                id: "rec_a/b?c#d%41..e",
                requested: Some(ODD_DOMAIN_RECORDS),
                condition: Some("domain_id = 'dom_a/b?c#d%41..e'"),
            }),
        },
        Endpoint {
            name: "tickets",
            path: "/v1/tickets",
            only: "tickets",
            envelope: Some("data"),
            paged: true,
            table: "tickets",
            row: "id = 'tkt_01JRTICKET'",
            raw_column: "raw_json",
            item: reference_ticket,
            wrong_type: ("priority", "3", "priority"),
            null: ("subject", "subject"),
            enumerated: Some(("status", "status")),
            timestamp: Some(("updatedAt", "updated_at")),
            text: ("subject", "subject"),
            odd_id: Some(OddId {
                add: add_odd_ticket,
                table: "tickets",
                id: "tkt_a/b?c#d%41..e",
                requested: None,
                condition: None,
            }),
        },
    ]
}

/// How a sync fault is brought about.
#[derive(Clone, Copy)]
enum Inject {
    /// An error status with a JSON body in the API's format, on the endpoint's path.
    Status(u16, Times),
    /// A fault on the endpoint's path, built when the cell starts, so that an HTTP date in
    /// `Retry-After` is still ahead.
    Kind(fn() -> FaultKind, Times),
    /// The endpoint's normal list with its first item repeated.
    DuplicateItem,
    /// A body with 10 000 nested arrays inside the envelope.
    DeepNesting,
    WrongType,
    Null,
    UnknownEnum,
    OffsetTimestamp,
    NonAsciiText,
    PathCharacters,
}

/// How many requests a fault on a path affects.
#[derive(Clone, Copy)]
enum Times {
    Once,
    Always,
}

/// The documented outcome of a sync cell.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Transient: retried, exit 0, a retry line names the endpoint and the cause (`-v`).
    Retried,
    /// The resource could not be stored in full: exit 1, an error names the endpoint and cause.
    Fails,
    /// Stored with a problem: exit 1, a warning names the endpoint and the cause.
    Incomplete,
    /// Unusual but valid data: exit 0, stored exactly.
    Stored,
    /// The API rejected the key: exit 2 when the account fails, because that is a configuration
    /// error, and 1 for any other endpoint, like another client error.
    KeyRejected,
}

struct SyncFault {
    name: String,
    inject: Inject,
    /// Extra arguments of `omega-sync sync`.
    args: &'static [&'static str],
    expect: Expect,
    /// Text that the message about the endpoint must contain. Data faults compute their own.
    cause: &'static str,
}

impl SyncFault {
    fn new(name: &str, inject: Inject, expect: Expect, cause: &'static str) -> SyncFault {
        SyncFault { name: name.to_string(), inject, args: &[], expect, cause }
    }

    fn with_args(mut self, args: &'static [&'static str]) -> SyncFault {
        self.args = args;
        self
    }
}

fn rate_limit(retry_after: String) -> FaultKind {
    FaultKind::RateLimit { retry_after }
}

fn http_date_in(offset: Duration, ahead: bool) -> String {
    let now = SystemTime::now();
    httpdate::fmt_http_date(if ahead { now + offset } else { now - offset })
}

fn sync_faults() -> Vec<SyncFault> {
    use Expect::{Fails, Incomplete, KeyRejected, Retried, Stored};
    use Times::{Always, Once};

    let mut faults = vec![
        SyncFault::new("429 Retry-After 1 s once", Inject::Kind(|| rate_limit("1".into()), Once), Retried, "HTTP 429"),
        SyncFault::new(
            "429 Retry-After HTTP date 2 s ahead once",
            Inject::Kind(|| rate_limit(http_date_in(Duration::from_secs(2), true)), Once),
            Retried,
            "HTTP 429",
        ),
        SyncFault::new(
            "429 Retry-After HTTP date in the past once",
            Inject::Kind(|| rate_limit(http_date_in(Duration::from_secs(3600), false)), Once),
            Retried,
            "HTTP 429",
        ),
        SyncFault::new(
            "429 Retry-After unparsable once",
            Inject::Kind(|| rate_limit("in a little while".into()), Once),
            Retried,
            "HTTP 429",
        ),
        SyncFault::new(
            "429 Retry-After 1 s persistent",
            Inject::Kind(|| rate_limit("1".into()), Always),
            Fails,
            "HTTP 429",
        ),
    ];
    for (status, cause) in [(500, "HTTP 500"), (502, "HTTP 502"), (503, "HTTP 503"), (504, "HTTP 504")] {
        faults.push(SyncFault::new(&format!("{status} once"), Inject::Status(status, Once), Retried, cause));
        faults.push(SyncFault::new(&format!("{status} persistent"), Inject::Status(status, Always), Fails, cause));
    }
    let dropped = "connection failed while reading the response body";
    let slow = || FaultKind::Delay(Duration::from_millis(1500));
    faults.extend([
        SyncFault::new("401 persistent", Inject::Status(401, Always), KeyRejected, "HTTP 401"),
        SyncFault::new("403 persistent", Inject::Status(403, Always), KeyRejected, "HTTP 403"),
        SyncFault::new("dropped connection once", Inject::Kind(|| FaultKind::DropConnection, Once), Retried, dropped),
        SyncFault::new(
            "dropped connection persistent",
            Inject::Kind(|| FaultKind::DropConnection, Always),
            Fails,
            dropped,
        ),
        SyncFault::new("slower than the timeout once", Inject::Kind(slow, Once), Retried, "timed out")
            .with_args(&["--timeout", "1"]),
        SyncFault::new("slower than the timeout persistent", Inject::Kind(slow, Always), Fails, "timed out")
            .with_args(&["--timeout", "1"]),
        SyncFault::new("truncated JSON", Inject::Kind(|| FaultKind::MalformedJson, Always), Fails, "invalid JSON"),
        SyncFault::new(
            "HTML error page with status 200",
            Inject::Kind(|| FaultKind::HtmlError { status: 200 }, Always),
            Fails,
            "expected a JSON response but got text/html",
        ),
        SyncFault::new(
            "wrong Content-Type",
            Inject::Kind(|| FaultKind::WrongContentType, Always),
            Fails,
            "expected a JSON response but got text/plain",
        ),
        SyncFault::new(
            "body over the size cap",
            Inject::Kind(|| FaultKind::Oversize { bytes: 64 * 1024 }, Always),
            Fails,
            "larger than the 32768 byte limit",
        )
        .with_args(&["--max-response-bytes", "32768"]),
        SyncFault::new("10 000 nested arrays", Inject::DeepNesting, Fails, "recursion limit"),
        SyncFault::new("duplicate id within a page", Inject::DuplicateItem, Incomplete, "twice"),
        SyncFault::new("wrong type", Inject::WrongType, Incomplete, ""),
        SyncFault::new("null value", Inject::Null, Stored, ""),
        SyncFault::new("unknown enum value", Inject::UnknownEnum, Stored, ""),
        SyncFault::new("timestamp with offset and fraction", Inject::OffsetTimestamp, Stored, ""),
        SyncFault::new("non-ASCII text", Inject::NonAsciiText, Stored, ""),
        SyncFault::new("path characters in an id", Inject::PathCharacters, Stored, ""),
    ]);
    faults
}

/// A typed column and the JSON field behind it that a data cell checks after the run.
struct StoredValue {
    column: &'static str,
    /// The column's value as SQLite's `quote()` writes it: `NULL`, `'text'` or `42`.
    quoted: String,
    /// The dotted field path in the endpoint's raw JSON column, and the value it must hold.
    field: &'static str,
    raw: Value,
}

/// A change to the fake's world, made before the run.
type WorldEdit = Box<dyn FnOnce(&mut World) + Send>;

/// Everything a sync cell does and expects, resolved for one fault and one endpoint.
struct SyncPlan {
    faults: Vec<Fault>,
    edit: Option<WorldEdit>,
    code: i32,
    /// The cause that a message naming the endpoint must contain.
    message: Option<String>,
    /// Whether every entity row must end exactly as it was.
    unchanged: bool,
    stored: Option<StoredValue>,
    odd_id: Option<&'static OddId>,
}

/// Sets a dotted field path (`specs.vcpu`) in a JSON object.
fn set_field(item: &mut Value, dotted: &str, value: Value) {
    let mut current = item;
    let mut parts = dotted.split('.').peekable();
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            current[part] = value;
            return;
        }
        current = &mut current[part];
    }
}

fn get_field<'a>(item: &'a Value, dotted: &str) -> Option<&'a Value> {
    dotted.split('.').try_fold(item, |current, part| current.get(part))
}

fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Builds the list body the endpoint normally serves, with its first item repeated.
fn duplicate_body(env: &Env, endpoint: &Endpoint) -> Option<String> {
    let envelope = endpoint.envelope?;
    let mut items: Vec<Value> = env.fake.with_world(|world| match endpoint.name {
        "ssh-keys" => world.ssh_keys.clone(),
        "services" => world.services.clone(),
        "invoices" => world.invoices.clone(),
        "payment-methods" => world.payment_methods.clone(),
        "domains" => world.domains.clone(),
        "dns-records" => world.records("example.com").to_vec(),
        "tickets" => world.tickets.clone(),
        other => panic!("no list for {other}"),
    });
    if endpoint.name == "services" {
        for item in &mut items {
            let object = item.as_object_mut().expect("services are objects");
            for field in SERVICE_DETAIL_FIELDS {
                object.shift_remove(*field);
            }
        }
    }
    let distinct = items.len();
    items.insert(1, items[0].clone());
    let mut body = json!({ envelope: items });
    if endpoint.paged {
        body["meta"] = json!({"page": 1, "perPage": 100, "total": distinct});
    }
    Some(body.to_string())
}

/// Builds a body with 10 000 nested arrays inside the endpoint's envelope or object.
fn deep_body(endpoint: &Endpoint) -> String {
    const DEPTH: usize = 10_000;
    let nested = format!("{}{}", "[".repeat(DEPTH), "]".repeat(DEPTH));
    match endpoint.envelope {
        Some(envelope) if endpoint.paged => {
            format!(r#"{{"{envelope}": [{nested}], "meta": {{"page": 1, "perPage": 100, "total": 1}}}}"#)
        }
        Some(envelope) => format!(r#"{{"{envelope}": [{nested}]}}"#),
        None => format!(r#"{{"id": "{SERVICE_ID}", "nested": {nested}}}"#),
    }
}

fn limit(fault: Fault, times: Times) -> Fault {
    match times {
        Times::Once => fault.once(),
        Times::Always => fault,
    }
}

fn json_body(body: String) -> FaultKind {
    FaultKind::Body { status: 200, body, content_type: "application/json".into() }
}

/// Tells whether a fault applies to an endpoint: a duplicate needs a list, and the data faults
/// need a field of their kind.
fn applies(fault: &SyncFault, endpoint: &Endpoint) -> bool {
    match fault.inject {
        Inject::DuplicateItem => endpoint.envelope.is_some(),
        Inject::UnknownEnum => endpoint.enumerated.is_some(),
        Inject::OffsetTimestamp => endpoint.timestamp.is_some(),
        Inject::PathCharacters => endpoint.odd_id.is_some(),
        _ => true,
    }
}

/// Resolves one cell, or returns `None` where the fault does not apply to the endpoint.
fn plan_sync_cell(env: &Env, fault: &SyncFault, endpoint: &'static Endpoint) -> Option<SyncPlan> {
    let mut plan = SyncPlan {
        faults: Vec::new(),
        edit: None,
        code: match fault.expect {
            Expect::Retried | Expect::Stored => 0,
            Expect::KeyRejected if endpoint.name == "account" => 2,
            Expect::Fails | Expect::Incomplete | Expect::KeyRejected => 1,
        },
        message: (fault.expect != Expect::Stored).then(|| fault.cause.to_string()),
        unchanged: matches!(
            fault.inject,
            Inject::Status(..) | Inject::Kind(..) | Inject::DuplicateItem | Inject::DeepNesting
        ),
        stored: None,
        odd_id: None,
    };
    let item = endpoint.item;
    let stored = |field: &'static str, column: &'static str, quoted: String, raw: Value| StoredValue {
        column,
        quoted,
        field,
        raw,
    };
    match fault.inject {
        Inject::Status(status, times) => plan.faults = vec![limit(Fault::status(endpoint.path, status), times)],
        Inject::Kind(kind, times) => plan.faults = vec![limit(Fault::new(endpoint.path, kind()), times)],
        Inject::DuplicateItem => {
            let body = duplicate_body(env, endpoint)?;
            plan.faults = vec![Fault::new(endpoint.path, json_body(body))];
        }
        Inject::DeepNesting => plan.faults = vec![Fault::new(endpoint.path, json_body(deep_body(endpoint)))],
        Inject::WrongType => {
            let (field, value, column) = endpoint.wrong_type;
            let value: Value = serde_json::from_str(value).expect("the wrong value is JSON");
            plan.message = Some(format!("field \"{field}\": expected"));
            plan.stored = Some(stored(field, column, "NULL".into(), value.clone()));
            plan.edit = Some(Box::new(move |world| set_field(item(world), field, value)));
        }
        Inject::Null => {
            let (field, column) = endpoint.null;
            plan.stored = Some(stored(field, column, "NULL".into(), Value::Null));
            plan.edit = Some(Box::new(move |world| set_field(item(world), field, Value::Null)));
        }
        Inject::UnknownEnum => {
            let (field, column) = endpoint.enumerated?;
            plan.stored = Some(stored(field, column, quote(UNKNOWN_ENUM), json!(UNKNOWN_ENUM)));
            plan.edit = Some(Box::new(move |world| set_field(item(world), field, json!(UNKNOWN_ENUM))));
        }
        Inject::OffsetTimestamp => {
            let (field, column) = endpoint.timestamp?;
            plan.stored = Some(stored(field, column, quote(UTC_TIMESTAMP), json!(OFFSET_TIMESTAMP)));
            plan.edit = Some(Box::new(move |world| set_field(item(world), field, json!(OFFSET_TIMESTAMP))));
        }
        Inject::NonAsciiText => {
            let (field, column) = endpoint.text;
            plan.stored = Some(stored(field, column, quote(NON_ASCII_TEXT), json!(NON_ASCII_TEXT)));
            plan.edit = Some(Box::new(move |world| set_field(item(world), field, json!(NON_ASCII_TEXT))));
        }
        Inject::PathCharacters => {
            let odd = endpoint.odd_id.as_ref()?;
            plan.odd_id = Some(odd);
            let add = odd.add;
            plan.edit = Some(Box::new(add));
        }
    }
    Some(plan)
}

/// Tells whether one line of stderr names `GET <path>` (followed by its query, a colon or a
/// space, so `/v1/account` does not match `/v1/account/ssh-keys`) together with `cause`.
fn names_endpoint_and_cause(stderr: &str, path: &str, cause: &str) -> bool {
    let request = format!("GET {path}");
    stderr.lines().any(|line| {
        line.contains(cause)
            && line
                .match_indices(&request)
                .any(|(at, _)| matches!(line[at + request.len()..].chars().next(), None | Some('?' | ':' | ' ')))
    })
}

/// Returns the key of every entity row, so rows that disappear show up by name.
fn row_keys(db: &Connection) -> BTreeSet<String> {
    let tables = [
        ("accounts", "id"),
        ("ssh_keys", "account_id || ' ' || id"),
        ("services", "account_id || ' ' || id"),
        ("invoices", "account_id || ' ' || id"),
        ("invoice_line_items", "account_id || ' ' || invoice_id || ' ' || position"),
        ("payment_methods", "account_id || ' ' || id"),
        ("domains", "account_id || ' ' || id"),
        ("dns_records", "account_id || ' ' || domain_id || ' ' || id"),
        ("tickets", "account_id || ' ' || id"),
    ];
    let mut keys = BTreeSet::new();
    for (table, key) in tables {
        keys.extend(strings(db, &format!("SELECT '{table} ' || {key} FROM {table}")));
    }
    keys
}

fn deleted_rows(db: &Connection) -> i64 {
    omega_sync::archive::ENTITY_TABLES
        .iter()
        .map(|table| count(db, &format!("SELECT count(*) FROM {table} WHERE deleted_at IS NOT NULL")))
        .sum()
}

/// Runs one sync cell and returns its failed checks.
async fn run_sync_cell(template: &Template, fault: &SyncFault, endpoint: &'static Endpoint) -> Vec<String> {
    let cell = format!("sync: {} × {}", fault.name, endpoint.name);
    let env = template.cell_env().await;
    let Some(plan) = plan_sync_cell(&env, fault, endpoint) else {
        return vec![format!("[{cell}] the fault does not apply to the endpoint, so the cell should not exist")];
    };
    let before_rows = snapshot(&env.db());
    let before_keys = row_keys(&env.db());
    if let Some(edit) = plan.edit {
        env.fake.with_world(edit);
    }
    for injected in plan.faults {
        env.fake.add_fault(injected);
    }
    let mut args = vec!["--full", "-v", "--only", endpoint.only, "--max-attempts", "2"];
    args.extend_from_slice(fault.args);

    let run = env.sync(&args).await;

    let mut failures = Vec::new();
    let command = format!("omega-sync sync {}", args.join(" "));
    check_no_panic(&cell, &command, &run, &mut failures);
    if run.code != plan.code {
        failures.push(format!(
            "[{cell}] `{command}` exited with {}, expected {}:\n{}",
            run.code,
            plan.code,
            tail(&run.stderr)
        ));
    }
    if let Some(cause) = &plan.message {
        let path = endpoint.path;
        let prefix = if fault.expect == Expect::Retried { "retrying " } else { "" };
        let named = if prefix.is_empty() {
            names_endpoint_and_cause(&run.stderr, path, cause)
        } else {
            run.stderr.lines().any(|line| line.contains("retrying") && names_endpoint_and_cause(line, path, cause))
        };
        if !named {
            failures.push(format!(
                "[{cell}] no {prefix}line on stderr names GET {path} and {cause:?}:\n{}",
                tail(&run.stderr)
            ));
        }
    }
    if let Inject::Status(..) | Inject::Kind(..) = fault.inject {
        let minimum = if fault.expect == Expect::Retried { 2 } else { 1 };
        let requested = env.requests_to(endpoint.path);
        if requested < minimum {
            failures.push(format!(
                "[{cell}] {} was requested {requested} times, expected at least {minimum}",
                endpoint.path
            ));
        }
    }

    let db = env.db();
    check_integrity(&cell, &db, &mut failures);
    let after_keys = row_keys(&db);
    let lost: Vec<&String> = before_keys.difference(&after_keys).collect();
    if !lost.is_empty() {
        failures.push(format!("[{cell}] rows archived before the run are gone: {lost:?}"));
    }
    if plan.unchanged {
        let after_rows = snapshot(&db);
        if after_rows != before_rows {
            let changed: Vec<&String> = after_rows.iter().filter(|row| !before_rows.contains(row)).take(5).collect();
            failures.push(format!("[{cell}] archived rows changed; new or changed rows include {changed:?}"));
        }
    }
    let deleted = deleted_rows(&db);
    if deleted != 0 {
        failures.push(format!("[{cell}] {deleted} rows have deleted_at set"));
    }
    let deletions = count(&db, "SELECT count(*) FROM history WHERE op = 'delete'");
    if deletions != 0 {
        failures.push(format!("[{cell}] history has {deletions} delete rows"));
    }
    if let Some(stored) = &plan.stored {
        check_stored_value(&cell, &db, endpoint, stored, &mut failures);
    }
    if let Some(odd) = plan.odd_id {
        let condition = odd.condition.unwrap_or("1");
        let sql = format!("SELECT count(*) FROM {} WHERE id = ?1 AND {condition}", odd.table);
        let rows: i64 = db.query_row(&sql, [odd.id], |row| row.get(0)).unwrap();
        if rows != 1 {
            failures.push(format!("[{cell}] {rows} rows of {} have the id {:?} and {condition}", odd.table, odd.id));
        }
        if let Some(path) = odd.requested {
            let requested = env.requests_to(path);
            if requested != 1 {
                let paths: Vec<String> = env.fake.requests().into_iter().map(|request| request.path).collect();
                failures.push(format!(
                    "[{cell}] {path} was requested {requested} times, expected once; requests: {paths:?}"
                ));
            }
        }
    }
    failures
}

fn check_stored_value(
    cell: &str,
    db: &Connection,
    endpoint: &Endpoint,
    stored: &StoredValue,
    failures: &mut Vec<String>,
) {
    let sql = format!(
        "SELECT quote({}), {} FROM {} WHERE {}",
        stored.column, endpoint.raw_column, endpoint.table, endpoint.row
    );
    let row: Option<(String, Option<String>)> = db.query_row(&sql, [], |row| Ok((row.get(0)?, row.get(1)?))).ok();
    let Some((column, raw)) = row else {
        failures.push(format!("[{cell}] no row for `{sql}`"));
        return;
    };
    if column != stored.quoted {
        failures.push(format!("[{cell}] {}.{} is {column}, expected {}", endpoint.table, stored.column, stored.quoted));
    }
    let raw: Option<Value> = raw.as_deref().and_then(|text| serde_json::from_str(text).ok());
    let field = raw.as_ref().and_then(|raw| get_field(raw, stored.field));
    if field != Some(&stored.raw) {
        failures.push(format!(
            "[{cell}] {}.{} has {:?} at {:?}, expected {}",
            endpoint.table, endpoint.raw_column, field, stored.field, stored.raw
        ));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_fault_matrix() {
    let started = Instant::now();
    let template = Template::create().await;
    // Leaked so the cells can borrow the endpoints for the rest of the test process.
    let endpoints: &'static [Endpoint] = Vec::leak(endpoints());
    let faults = sync_faults();
    let cells: Vec<(&SyncFault, &'static Endpoint)> = faults
        .iter()
        .flat_map(|fault| endpoints.iter().map(move |endpoint| (fault, endpoint)))
        .filter(|(fault, endpoint)| applies(fault, endpoint))
        .collect();

    let (total, failures) = run_cells(cells, |(fault, endpoint)| run_sync_cell(&template, fault, endpoint)).await;

    assert_no_failures("sync fault matrix", total, &failures, started);
}

// ---------------------------------------------------------------------------------------------
// The push fault matrix
// ---------------------------------------------------------------------------------------------

/// An edit kind: how it is queued, the request it sends and how its effect shows in the world.
struct EditCase {
    kind: &'static str,
    method: &'static str,
    /// Whether an edit whose outcome is unknown may end `failed`, asking the operator to check,
    /// because push cannot always find out what it did (a reboot, or a destroy of a service that
    /// still exists).
    may_end_unchecked: bool,
    /// Whether sending the request again is harmless (a `PUT` of the same values).
    idempotent: bool,
}

const EDIT_CASES: &[EditCase] = &[
    EditCase { kind: "dns_record.create", method: "POST", may_end_unchecked: false, idempotent: false },
    EditCase { kind: "ssh_key.create", method: "POST", may_end_unchecked: false, idempotent: false },
    EditCase { kind: "ticket.create", method: "POST", may_end_unchecked: false, idempotent: false },
    EditCase { kind: "account.update", method: "PUT", may_end_unchecked: false, idempotent: true },
    EditCase { kind: "service.reboot", method: "POST", may_end_unchecked: true, idempotent: false },
    EditCase { kind: "service.destroy", method: "DELETE", may_end_unchecked: true, idempotent: false },
];

const RECORD_NAME: &str = "push-matrix";
const KEY_LABEL: &str = "Push matrix key";
const TICKET_SUBJECT: &str = "Push matrix ticket";
const NEW_COMPANY: &str = "Matrix Corp";

/// A fault on the edit's request.
struct PushFault {
    name: &'static str,
    kind: fn() -> FaultKind,
    /// Whether the fake runs the handler, so the edit takes effect although the response fails.
    handler_runs: bool,
    /// The statuses the edit may have after the faulty push: `pending` when the response proves
    /// the edit was not applied, `in_flight` when the API may have applied it.
    statuses_after: &'static [&'static str],
    args: &'static [&'static str],
}

/// The fault fires before the handler, and its status proves the edit was not applied: a 429, or
/// a 500 or 503 from the API itself.
const NOT_APPLIED: &[&str] = &["pending"];
/// The handler ran and the response was lost or unreadable.
const MAYBE_APPLIED: &[&str] = &["in_flight"];
/// A gateway's error page: the fake's handler did not run, but the client cannot tell whether
/// the API behind a gateway applied the edit.
const GATEWAY: &[&str] = &["pending", "in_flight"];

const PUSH_FAULTS: &[PushFault] = &[
    PushFault {
        name: "429 Retry-After 1 s",
        kind: || FaultKind::RateLimit { retry_after: "1".into() },
        handler_runs: false,
        statuses_after: NOT_APPLIED,
        args: &[],
    },
    PushFault {
        name: "500",
        kind: || FaultKind::json_error(500),
        handler_runs: false,
        statuses_after: NOT_APPLIED,
        args: &[],
    },
    PushFault {
        name: "503",
        kind: || FaultKind::json_error(503),
        handler_runs: false,
        statuses_after: NOT_APPLIED,
        args: &[],
    },
    PushFault {
        name: "dropped connection",
        kind: || FaultKind::DropConnection,
        handler_runs: true,
        statuses_after: MAYBE_APPLIED,
        args: &[],
    },
    PushFault {
        name: "response slower than the timeout",
        kind: || FaultKind::DelayResponse(Duration::from_secs(2)),
        handler_runs: true,
        statuses_after: MAYBE_APPLIED,
        args: &["--timeout", "1"],
    },
    PushFault {
        name: "truncated JSON",
        kind: || FaultKind::MalformedJson,
        handler_runs: true,
        statuses_after: MAYBE_APPLIED,
        args: &[],
    },
    PushFault {
        name: "HTML error page 502",
        kind: || FaultKind::HtmlError { status: 502 },
        handler_runs: false,
        statuses_after: GATEWAY,
        args: &[],
    },
];

/// Runs `omega-sync queue ...` against the cell's archive.
async fn queue(env: &Env, args: &[&str]) -> Run {
    let mut full = vec!["queue", "--db", env.db.to_str().unwrap()];
    full.extend_from_slice(args);
    omega(&full, &[]).await
}

/// Runs `omega-sync push --allow-destroy ...` against the cell's fake API and archive.
async fn push(env: &Env, args: &[&str]) -> Run {
    let url = env.fake.base_url();
    let mut full = vec!["push", "--api-url", &url, "--db", env.db.to_str().unwrap(), "--allow-destroy"];
    full.extend_from_slice(args);
    omega(&full, &[("OMEGA_API_KEY", KEY)]).await
}

/// Returns the service that the destroy removes: the first one that is not the reboot's target.
fn doomed_service(env: &Env) -> String {
    env.fake.with_world(|world| {
        let service = world.services.iter().find(|service| service["id"] != SERVICE_ID).expect("a second service");
        service["id"].as_str().expect("service ids are strings").to_string()
    })
}

/// Returns the `queue` arguments and the request path of an edit kind.
fn edit_request(case: &EditCase, env: &Env, doomed: &str) -> (Vec<String>, String) {
    let owned = |args: &[&str]| args.iter().map(|arg| arg.to_string()).collect::<Vec<String>>();
    match case.kind {
        "dns_record.create" => (
            owned(&["dns-record", "example.com", "--type", "A", "--name", RECORD_NAME, "--value", "198.51.100.77"]),
            "/v1/domains/example.com/records".into(),
        ),
        "ssh_key.create" => {
            let key_file = env.dir.path().join("matrix.pub");
            std::fs::write(&key_file, format!("{}\n", sample_ed25519_public_key(21))).expect("the key file writes");
            let key_file = key_file.to_str().expect("a UTF-8 path").to_string();
            (owned(&["ssh-key", "--label", KEY_LABEL, "--public-key-file", &key_file]), "/v1/account/ssh-keys".into())
        }
        "ticket.create" => (
            owned(&["ticket", "--subject", TICKET_SUBJECT, "--body", "Opened by the push fault matrix"]),
            "/v1/tickets".into(),
        ),
        "account.update" => (owned(&["account", "--company", NEW_COMPANY]), "/v1/account".into()),
        "service.reboot" => (owned(&["reboot", SERVICE_ID]), format!("/v1/services/{SERVICE_ID}/reboot")),
        "service.destroy" => (owned(&["destroy", doomed, "--confirm", doomed]), format!("/v1/services/{doomed}")),
        other => panic!("unknown edit kind {other}"),
    }
}

/// Counts the edit's effects in the fake's world: created objects, a changed account, a queued
/// reboot job or a removed service.
fn effects(case: &EditCase, env: &Env, doomed: &str) -> usize {
    env.fake.with_world(|world| match case.kind {
        "dns_record.create" => {
            world.records("example.com").iter().filter(|record| record["name"] == RECORD_NAME).count()
        }
        "ssh_key.create" => world.ssh_keys.iter().filter(|key| key["label"] == KEY_LABEL).count(),
        "ticket.create" => world.tickets.iter().filter(|ticket| ticket["subject"] == TICKET_SUBJECT).count(),
        "account.update" => usize::from(world.account["company"] == NEW_COMPANY),
        "service.reboot" => world.jobs.iter().filter(|job| job["serviceId"] == SERVICE_ID).count(),
        "service.destroy" => usize::from(world.service(doomed).is_none()),
        other => panic!("unknown edit kind {other}"),
    })
}

fn outbox_row(db: &Connection) -> (String, String) {
    db.query_row("SELECT status, coalesce(last_error, '') FROM outbox WHERE id = 1", [], |row| {
        Ok((row.get(0)?, row.get(1)?))
    })
    .unwrap_or_else(|error| ("<no row>".into(), error.to_string()))
}

/// Runs one push cell and returns its failed checks.
async fn run_push_cell(template: &Template, case: &EditCase, fault: &PushFault) -> Vec<String> {
    let cell = format!("push: {} × {}", fault.name, case.kind);
    let mut failures = Vec::new();
    let env = template.cell_env().await;
    let doomed = doomed_service(&env);
    let (queue_args, path) = edit_request(case, &env, &doomed);
    let queue_args: Vec<&str> = queue_args.iter().map(String::as_str).collect();

    let queued = queue(&env, &queue_args).await;
    check_no_panic(&cell, "`omega-sync queue`", &queued, &mut failures);
    if queued.code != 0 {
        failures.push(format!("[{cell}] `omega-sync queue {}` failed:\n{}", queue_args.join(" "), queued.output()));
        return failures;
    }
    env.fake.add_fault(Fault::new(path.clone(), (fault.kind)()).with_method(case.method));

    let first = push(&env, fault.args).await;

    let first_command = format!("omega-sync push --allow-destroy {}", fault.args.join(" "));
    check_no_panic(&cell, &format!("the first `{first_command}`"), &first, &mut failures);
    if first.code != 1 {
        failures.push(format!("[{cell}] the faulty push exited with {}, expected 1:\n{}", first.code, first.output()));
    }
    let (first_status, _) = outbox_row(&env.db());
    if !fault.statuses_after.contains(&first_status.as_str()) {
        failures.push(format!(
            "[{cell}] after the faulty push the edit is {first_status}, expected one of {:?}",
            fault.statuses_after
        ));
    }
    let applied_first = usize::from(fault.handler_runs);
    let after_first = effects(case, &env, &doomed);
    if after_first != applied_first {
        failures.push(format!(
            "[{cell}] after the faulty push the world shows {after_first} effects, expected {applied_first}"
        ));
    }

    // The fault clears and the backoff is over.
    env.fake.clear_faults();
    env.db().execute("UPDATE outbox SET next_attempt_at = NULL", []).unwrap();
    let second = push(&env, &[]).await;

    check_no_panic(&cell, "the second `omega-sync push --allow-destroy`", &second, &mut failures);
    let (status, last_error) = outbox_row(&env.db());
    let final_effects = effects(case, &env, &doomed);
    let sent: Vec<u16> = env
        .fake
        .requests()
        .into_iter()
        .filter(|request| request.method == case.method && request.path == path)
        .map(|request| request.status)
        .collect();
    let sent_text =
        format!("{} {path} was sent {} times (response statuses {sent:?}, 0 = none)", case.method, sent.len());
    // An edit whose outcome was unknown after the faulty push may end `failed`, asking the
    // operator to check, if push cannot find out what it did. It is then never sent again.
    let unknown_outcome = first_status == "in_flight";
    if status == "failed" && case.may_end_unchecked && unknown_outcome {
        if !last_error.contains("check") {
            failures.push(format!("[{cell}] the edit failed with {last_error:?}, which does not ask to check"));
        }
        if second.code != 1 {
            failures.push(format!("[{cell}] the second push exited with {}, expected 1", second.code));
        }
        if sent.len() != 1 {
            failures.push(format!("[{cell}] {sent_text}, expected once because its outcome was unknown"));
        }
        if final_effects != applied_first {
            failures.push(format!("[{cell}] the world shows {final_effects} effects, expected {applied_first}"));
        }
    } else {
        if status != "done" {
            failures
                .push(format!("[{cell}] the edit ended {status} ({last_error}), expected done:\n{}", second.output()));
        }
        if second.code != 0 {
            failures.push(format!(
                "[{cell}] the second push exited with {}, expected 0:\n{}",
                second.code,
                second.output()
            ));
        }
        if final_effects != 1 {
            failures.push(format!("[{cell}] the world shows {final_effects} effects of the edit, expected exactly 1"));
        }
        // A first request that did not take effect is followed by exactly one more. After one
        // that took effect, only a PUT of the same values may be sent again.
        let expected_sent = if fault.handler_runs { 1 } else { 2 };
        let allowed = if fault.handler_runs && case.idempotent { 1..=2 } else { expected_sent..=expected_sent };
        if !allowed.contains(&sent.len()) {
            let reason = if fault.handler_runs {
                "the first request took effect on the server, so it must not be sent again"
            } else {
                "the first request did not take effect, so it is sent once more"
            };
            failures.push(format!("[{cell}] {sent_text}, expected {expected_sent}: {reason}"));
        }
    }
    check_integrity(&cell, &env.db(), &mut failures);
    failures
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_fault_matrix() {
    let started = Instant::now();
    let template = Template::create().await;
    let cells: Vec<(&EditCase, &PushFault)> =
        EDIT_CASES.iter().flat_map(|case| PUSH_FAULTS.iter().map(move |fault| (case, fault))).collect();

    let (total, failures) = run_cells(cells, |(case, fault)| run_push_cell(&template, case, fault)).await;

    assert_no_failures("push fault matrix", total, &failures, started);
}
