//! Property tests with arbitrary JSON. End to end, each endpoint's response is replaced by
//! generated JSON in its envelope, and a real `omega-sync sync` must archive it or report an
//! error, never panic or damage the archive. In process, the page and item decoders must accept
//! any JSON without panicking and keep what they decode faithful to the input.

use std::path::Path;

use omega_sync::fake::{Fault, FaultKind};
use omega_sync::sync::decode::{decode_item, parse_page};
use omega_sync::sync::resources::{self, Field, Kind, Resource, Source};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use rusqlite::types::Value as SqlValue;
use serde_json::Value;

use crate::support::{Env, KEY, omega, strings};

/// Generated bodies per endpoint. Each one costs a run of the binary: 0.1 to 0.2 s in a debug
/// build on 2 cores, as measured with `cargo test` while two endpoints ran at once.
const CASES_PER_ENDPOINT: u32 = 24;

/// Generated bodies for the in-process decoders, which take microseconds each.
const DECODER_CASES: u32 = 3000;

/// A JSON document as text parts, so that it can hold what `serde_json::Value` would normalize
/// or reject: numbers beyond 64 bits, duplicate keys and nesting past the parser's limit.
#[derive(Debug, Clone)]
enum Json {
    Null,
    Bool(bool),
    /// A number exactly as written, such as `1e400` or `-0`.
    Number(String),
    Text(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
    /// This many arrays nested in one another. serde_json 1 rejects more than 128 levels by
    /// default.
    Nested(usize),
}

impl Json {
    fn render(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(flag) => out.push_str(if *flag { "true" } else { "false" }),
            Json::Number(number) => out.push_str(number),
            Json::Text(text) => out.push_str(&Value::String(text.clone()).to_string()),
            Json::Array(items) => {
                out.push('[');
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
            Json::Object(entries) => {
                out.push('{');
                for (index, (key, value)) in entries.iter().enumerate() {
                    if index > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(key.clone()).to_string());
                    out.push(':');
                    value.write(out);
                }
                out.push('}');
            }
            Json::Nested(depth) => {
                out.push_str(&"[".repeat(*depth));
                out.push_str(&"]".repeat(*depth));
            }
        }
    }
}

fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|number| number.to_string()),
        any::<u64>().prop_map(|number| number.to_string()),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |float| float.is_finite())
            .prop_map(|f| format!("{f:e}")),
        prop::sample::select(vec![
            "0",
            "-0",
            "1.0",
            "300.0",
            "0.5",
            "1E2",
            "1e400",
            "-1e400",
            "1e-400",
            "9007199254740993",
            "18446744073709551616",
            "-9223372036854775809",
            "123456789012345678901234567890",
        ])
        .prop_map(String::from),
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => any::<String>(),
        1 => prop::sample::select(vec![
            "",
            " ",
            "..",
            "a/b?c#d%41..e",
            "Zoë · 東京 · 🦀",
            "\u{0}",
            "\u{202e}evil",
            "2026-04-01T02:00:00.500+02:00",
            "2026-13-45T99:99:99Z",
            "hibernating",
        ])
        .prop_map(String::from),
    ]
}

/// Generates object keys: the names the decoders look for, odd names and arbitrary text.
fn key() -> impl Strategy<Value = String> {
    let mut known: Vec<&'static str> =
        vec!["id", "meta", "data", "keys", "records", "lineItems", "specs", "", " ", "ID"];
    for resource in resources::ALL {
        known.extend(resource.fields.iter().map(|field| field.json.split('.').next().unwrap_or(field.json)));
    }
    prop_oneof![3 => prop::sample::select(known).prop_map(String::from), 1 => text()]
}

/// Generates any JSON: scalars, up to 100 nested arrays, and small arrays and objects of those.
fn json() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        2 => Just(Json::Null),
        2 => any::<bool>().prop_map(Json::Bool),
        4 => number().prop_map(Json::Number),
        4 => text().prop_map(Json::Text),
        1 => (0usize..100).prop_map(Json::Nested),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![vec(inner.clone(), 0..6).prop_map(Json::Array), vec((key(), inner), 0..6).prop_map(Json::Object),]
    })
}

/// Generates values for a typed field: mostly of the field's type, sometimes anything.
fn field_value(kind: Kind) -> BoxedStrategy<Json> {
    let typed: BoxedStrategy<Json> = match kind {
        Kind::Text => text().prop_map(Json::Text).boxed(),
        Kind::Integer => number().prop_map(Json::Number).boxed(),
        Kind::Bool => any::<bool>().prop_map(Json::Bool).boxed(),
        Kind::Timestamp => prop_oneof![
            Just("2026-04-01T02:00:00.500+02:00".to_string()),
            Just("2026-04-01T00:00:00Z".to_string()),
            Just("2026-04-01t00:00:00z".to_string()),
            Just("+10000-01-01T00:00:00Z".to_string()),
            text(),
        ]
        .prop_map(Json::Text)
        .boxed(),
    };
    prop_oneof![8 => typed, 1 => Just(Json::Null), 1 => json()].boxed()
}

/// Nests a value under a dotted key: `specs.vcpu` becomes `{"specs": {"vcpu": value}}`.
fn entry(dotted: &str, value: Json) -> (String, Json) {
    match dotted.split_once('.') {
        Some((outer, inner)) => (outer.to_string(), Json::Object(vec![entry(inner, value)])),
        None => (dotted.to_string(), value),
    }
}

/// Generates objects shaped like an item of the resource: an id, some of its fields and extra
/// keys. Ids come from a small pool, so that pages repeat ids and match rows already archived.
fn item(
    fields: &'static [Field],
    ids: &'static [&'static str],
    embedded: Option<&'static [Field]>,
) -> BoxedStrategy<Json> {
    let id = prop_oneof![
        6 => prop::sample::select(ids).prop_map(|id| Json::Text(id.to_string())),
        1 => json(),
    ];
    let field = prop::sample::select(fields)
        .prop_flat_map(|field| field_value(field.kind).prop_map(move |value| entry(field.json, value)));
    let children = match embedded {
        Some(child_fields) => {
            let child = vec(
                prop::sample::select(child_fields)
                    .prop_flat_map(|field| field_value(field.kind).prop_map(move |value| entry(field.json, value))),
                0..4,
            )
            .prop_map(Json::Object);
            prop::option::of(prop_oneof![3 => vec(child, 0..3).prop_map(Json::Array), 1 => json()]).boxed()
        }
        None => Just(None).boxed(),
    };
    let object =
        (id, vec(field, 0..8), vec((key(), json()), 0..3), children).prop_map(|(id, fields, extra, children)| {
            let mut entries = vec![("id".to_string(), id)];
            entries.extend(fields);
            entries.extend(extra);
            if let Some(children) = children {
                entries.push(("lineItems".to_string(), children));
            }
            Json::Object(entries)
        });
    prop_oneof![8 => object, 1 => json()].boxed()
}

/// Generates `meta` for a page of `items` items: consistent with the page, absent, `null`,
/// anything, or paging numbers that are small, middling, huge, negative or not integers. The
/// fake repeats the body for every page, which the sync must notice within a few requests.
fn meta(items: usize) -> impl Strategy<Value = Option<Json>> {
    let number = |choices: Vec<&'static str>| prop::sample::select(choices).prop_map(|n| Json::Number(n.to_string()));
    let paging = |page, per_page, total| {
        Json::Object(vec![("page".into(), page), ("perPage".into(), per_page), ("total".into(), total)])
    };
    let consistent = paging(Json::Number("1".into()), Json::Number("100".into()), Json::Number(items.to_string()));
    let odd = (
        number(vec!["1", "0", "2", "-1", "1.5", "99999999999999999999"]),
        number(vec!["1", "5", "100", "0", "-3", "1e3", "18446744073709551615"]),
        number(vec!["0", "1", "2", "3", "5", "8", "50", "5000", "1000000000", "18446744073709551615", "-1", "2.5"]),
    )
        .prop_map(move |(page, per_page, total)| paging(page, per_page, total));
    prop_oneof![
        6 => Just(Some(consistent)),
        2 => Just(None),
        1 => Just(Some(Json::Null)),
        2 => odd.prop_map(Some),
        1 => json().prop_map(Some),
    ]
}

/// Generates nesting on both sides of serde_json's limit of 128 levels.
fn deep() -> impl Strategy<Value = Json> {
    (100usize..160).prop_map(Json::Nested)
}

/// Generates list responses: items in the envelope with `meta`, anything in the envelope, or
/// anything at all.
fn list_body(
    envelope: &'static str,
    fields: &'static [Field],
    ids: &'static [&'static str],
    embedded: Option<&'static [Field]>,
) -> BoxedStrategy<Json> {
    let page = vec(item(fields, ids, embedded), 0..6)
        .prop_flat_map(|items| {
            let count = items.len();
            (Just(items), meta(count))
        })
        .prop_map(move |(items, meta)| {
            let mut entries = vec![(envelope.to_string(), Json::Array(items))];
            if let Some(meta) = meta {
                entries.push(("meta".to_string(), meta));
            }
            Json::Object(entries)
        });
    prop_oneof![
        12 => page,
        2 => json().prop_map(move |value| Json::Object(vec![(envelope.to_string(), value)])),
        2 => json(),
        1 => deep().prop_map(move |nested| Json::Object(vec![(envelope.to_string(), Json::Array(vec![nested]))])),
    ]
    .boxed()
}

/// An endpoint whose response the property replaces.
struct Endpoint {
    path: &'static str,
    only: &'static str,
    resource: &'static Resource,
    /// The list's envelope, or `None` for an endpoint that returns one object.
    envelope: Option<&'static str>,
    fields: &'static [Field],
    /// Ids for generated items: archived ones, new ones and odd ones.
    ids: &'static [&'static str],
}

impl Endpoint {
    fn body(&self) -> BoxedStrategy<Json> {
        let embedded = self.resource.embedded.map(|embedded| embedded.fields);
        let id = self.ids[0];
        match self.envelope {
            Some(envelope) => list_body(envelope, self.fields, self.ids, embedded),
            None => prop_oneof![
                12 => item(self.fields, self.ids, None),
                1 => deep().prop_map(move |nested| {
                    Json::Object(vec![("id".into(), Json::Text(id.into())), ("nested".into(), nested)])
                }),
            ]
            .boxed(),
        }
    }
}

/// Runs the property for one endpoint: every generated body, served in place of the endpoint's
/// response, leaves exit code 0 or 1, no panic and an archive that passes `integrity_check`.
fn check_endpoint(endpoint: Endpoint) {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a tokio runtime");
    let env = runtime.block_on(async {
        let env = Env::start().await;
        env.sync(&[]).await.assert_success();
        env.db().execute_batch("PRAGMA wal_checkpoint(TRUNCATE)").expect("the checkpoint runs");
        env
    });
    let config = Config {
        cases: CASES_PER_ENDPOINT,
        // Shrinking reruns the binary for every step, and a few dozen steps already give a
        // readable body.
        max_shrink_iters: 64,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);

    let result = runner.run(&endpoint.body(), |body| {
        let body = body.render();
        runtime.block_on(sync_with_body(&env, &endpoint, body))
    });

    if let Err(error) = result {
        panic!("{} ({}): {error}", endpoint.path, endpoint.only);
    }
}

async fn sync_with_body(env: &Env, endpoint: &Endpoint, body: String) -> Result<(), TestCaseError> {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let db = folder.path().join("archive.db");
    std::fs::copy(&env.db, &db).expect("the template archive copies");
    env.fake.clear_faults();
    env.fake.add_fault(Fault::new(
        endpoint.path,
        FaultKind::Body { status: 200, body: body.clone(), content_type: "application/json".into() },
    ));

    let run = sync(env, &db, endpoint.only).await;

    let excerpt = shorten(&body);
    prop_assert!(run.code == 0 || run.code == 1, "exit code {} for body {excerpt}:\n{}", run.code, run.stderr);
    prop_assert!(!run.stderr.contains("panicked"), "panic for body {excerpt}:\n{}", run.stderr);
    let integrity = strings(&rusqlite::Connection::open(&db).expect("the archive opens"), "PRAGMA integrity_check");
    prop_assert_eq!(integrity, vec!["ok".to_string()], "body {}", excerpt);
    Ok(())
}

async fn sync(env: &Env, db: &Path, only: &str) -> crate::support::Run {
    let url = env.fake.base_url();
    let db = db.to_str().expect("a UTF-8 path");
    let args = ["sync", "--api-url", &url, "--db", db, "--full", "--only", only, "--max-attempts", "1"];
    omega(&args, &[("OMEGA_API_KEY", KEY)]).await
}

fn shorten(body: &str) -> String {
    const KEPT: usize = 600;
    match body.char_indices().nth(KEPT) {
        Some((end, _)) => format!("{}… ({} bytes)", &body[..end], body.len()),
        None => body.to_string(),
    }
}

#[test]
fn arbitrary_account_body() {
    check_endpoint(Endpoint {
        path: "/v1/account",
        only: "ssh-keys",
        resource: &resources::ACCOUNT,
        envelope: None,
        fields: resources::ACCOUNT.fields,
        ids: &["acc_01HX4N9PKBQ3MVZRTA7CGWXE2F", "acc_other", "", "a/b?c#d%41..e"],
    });
}

#[test]
fn arbitrary_ssh_keys_body() {
    check_endpoint(Endpoint {
        path: "/v1/account/ssh-keys",
        only: "ssh-keys",
        resource: &resources::SSH_KEYS,
        envelope: Some("keys"),
        fields: resources::SSH_KEYS.fields,
        ids: &["key_01J2RX9ABCDEF", "key_new", "", "a/b?c#d%41..e"],
    });
}

#[test]
fn arbitrary_services_body() {
    check_endpoint(Endpoint {
        path: "/v1/services",
        only: "services",
        resource: &resources::SERVICES,
        envelope: Some("data"),
        fields: resources::SERVICES.fields,
        ids: &["svc_01HY7M3ABCXYZ", "svc_new", "", "a/b?c#d%41..e", ".."],
    });
}

#[test]
fn arbitrary_service_detail_body() {
    let detail = resources::SERVICES.detail.expect("services have a detail endpoint");
    check_endpoint(Endpoint {
        path: "/v1/services/svc_01HY7M3ABCXYZ",
        only: "services",
        resource: &resources::SERVICES,
        envelope: None,
        fields: detail.fields,
        ids: &["svc_01HY7M3ABCXYZ", "svc_other", ""],
    });
}

#[test]
fn arbitrary_invoices_body() {
    check_endpoint(Endpoint {
        path: "/v1/billing/invoices",
        only: "invoices",
        resource: &resources::INVOICES,
        envelope: Some("data"),
        fields: resources::INVOICES.fields,
        ids: &["inv_01JRXYZ", "inv_new", "", "a/b?c#d%41..e"],
    });
}

#[test]
fn arbitrary_payment_methods_body() {
    check_endpoint(Endpoint {
        path: "/v1/billing/payment-methods",
        only: "payment-methods",
        resource: &resources::PAYMENT_METHODS,
        envelope: Some("data"),
        fields: resources::PAYMENT_METHODS.fields,
        ids: &["pm_01JRCARD", "pm_new", ""],
    });
}

#[test]
fn arbitrary_domains_body() {
    check_endpoint(Endpoint {
        path: "/v1/domains",
        only: "domains",
        resource: &resources::DOMAINS,
        envelope: Some("data"),
        fields: resources::DOMAINS.fields,
        ids: &["dom_01JRXYZ", "dom_new", "", "a/b?c#d%41..e"],
    });
}

#[test]
fn arbitrary_dns_records_body() {
    check_endpoint(Endpoint {
        path: "/v1/domains/example.com/records",
        only: "dns-records",
        resource: &resources::DNS_RECORDS,
        envelope: Some("records"),
        fields: resources::DNS_RECORDS.fields,
        ids: &["rec_01", "rec_02", "rec_new", "", "a/b?c#d%41..e"],
    });
}

#[test]
fn arbitrary_tickets_body() {
    check_endpoint(Endpoint {
        path: "/v1/tickets",
        only: "tickets",
        resource: &resources::TICKETS,
        envelope: Some("data"),
        fields: resources::TICKETS.fields,
        ids: &["tkt_01JRTICKET", "tkt_new", "", "a/b?c#d%41..e"],
    });
}

// ---------------------------------------------------------------------------------------------
// In process: the page and item decoders
// ---------------------------------------------------------------------------------------------

/// Returns the envelope of a list resource, or `None` for a single object.
fn envelope_of(resource: &Resource) -> Option<&'static str> {
    match resource.source {
        Source::List { envelope, .. } | Source::PerParent { envelope, .. } => Some(envelope),
        Source::Object { .. } => None,
    }
}

/// Generates a list body of any resource, with the resource's index in [`resources::ALL`].
fn any_resource_body() -> impl Strategy<Value = (usize, String)> {
    (0..resources::ALL.len()).prop_flat_map(|index| {
        let resource = resources::ALL[index];
        let embedded = resource.embedded.map(|embedded| embedded.fields);
        let body = match envelope_of(resource) {
            Some(envelope) => list_body(envelope, resource.fields, &["a", "b", ""], embedded),
            None => item(resource.fields, &["a", "b", ""], None),
        };
        body.prop_map(move |body| (index, body.render()))
    })
}

/// Checks one decoded column against the kind of its field.
fn column_fits(kind: Kind, value: &SqlValue) -> bool {
    match (kind, value) {
        (_, SqlValue::Null) => true,
        (Kind::Text, SqlValue::Text(_)) => true,
        (Kind::Integer, SqlValue::Integer(_)) => true,
        (Kind::Bool, SqlValue::Integer(flag)) => *flag == 0 || *flag == 1,
        (Kind::Timestamp, SqlValue::Text(text)) => {
            text.ends_with('Z') && omega_sync::archive::normalize_timestamp(text).as_deref() == Some(text.as_str())
        }
        _ => false,
    }
}

fn check_item(resource: &Resource, fields: &[Field], item: &Value, fill_absent: bool) -> Result<(), TestCaseError> {
    let usable_id = item.get("id").and_then(Value::as_str).is_some_and(|id| !id.is_empty());
    match decode_item(item, fields, fill_absent) {
        Ok(decoded) => {
            prop_assert!(usable_id, "{}: decoded an item without a usable id: {item}", resource.name);
            prop_assert_eq!(Some(decoded.id.as_str()), item.get("id").and_then(Value::as_str));
            let round_trip: Value = serde_json::from_str(&decoded.raw).expect("raw JSON parses");
            prop_assert_eq!(&round_trip, item, "raw JSON {} differs from the item", decoded.raw);
            if fill_absent {
                prop_assert_eq!(decoded.columns.len(), fields.len());
            }
            for (column, value) in &decoded.columns {
                let field = fields.iter().find(|field| field.column == *column).expect("a column of the resource");
                prop_assert!(column_fits(field.kind, value), "{}.{column} = {value:?} from {item}", resource.name);
            }
            prop_assert!(decoded.problems.len() <= fields.len());
        }
        Err(message) => {
            prop_assert!(!usable_id, "{}: rejected an item with a usable id: {message}: {item}", resource.name);
            prop_assert!(!message.is_empty());
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(Config { cases: DECODER_CASES, failure_persistence: None, ..Config::default() })]

    #[test]
    fn decoders_accept_any_json((index, body) in any_resource_body()) {
        let resource = resources::ALL[index];
        // The parser rejects nesting past 128 levels, so such a body never reaches the decoders.
        let Ok(value) = serde_json::from_str::<Value>(&body) else { return Ok(()) };
        prop_assert_eq!(&serde_json::from_str::<Value>(&omega_sync::archive::canonical_json(&value)).unwrap(), &value);

        let Some(envelope) = envelope_of(resource) else {
            return check_item(resource, resource.fields, &value, true);
        };
        match parse_page(value.clone(), envelope) {
            Ok(page) => {
                prop_assert_eq!(Some(&Value::Array(page.items.clone())), value.get(envelope));
                if let Some(meta) = page.meta {
                    prop_assert!(meta.per_page > 0);
                    prop_assert_eq!(value["meta"]["total"].as_u64(), Some(meta.total));
                }
                for item in &page.items {
                    check_item(resource, resource.fields, item, !resource.merges_detail())?;
                }
            }
            Err(message) => prop_assert!(!message.is_empty()),
        }
    }
}
