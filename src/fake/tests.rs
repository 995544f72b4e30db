//! Tests of the fake API over real HTTP on 127.0.0.1, plus checks of the generated data.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::reference;
use super::*;

/// An ed25519 key and the fingerprint that `ssh-keygen -l` (OpenSSH 9) printed for it.
const ED25519_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBBd3It5u+OkLak+K9jT72NCt509ElFMeu0r3ioPXwfX fixture@example.com";
const ED25519_FINGERPRINT: &str = "SHA256:XBApy0Sw9hcf6Lf7T6nu+LZZuMU2ctA6lxeTxSUp4d0";
const ECDSA_KEY: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBGTh2kXTY7+9MWbzi/r6f15V6qR58wd60tb9WJrX3vwN+QFpxJy2GHGZuexqQKO5ikoTGgTTZnOAYYSvTVQ5k+I= e@example.com";
const ECDSA_FINGERPRINT: &str = "SHA256:Dk2qktKlRfJCrwluTnaUlErEWZBylOSas/loevBNKrk";

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().expect("valid address")
}

async fn start_with(config: FakeConfig) -> FakeApi {
    FakeApi::start(config, loopback()).await.expect("fake API starts")
}

async fn start() -> FakeApi {
    start_with(FakeConfig::default()).await
}

/// Builds a client that never uses a proxy, so requests stay on loopback.
fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().expect("client builds")
}

struct Reply {
    status: u16,
    content_type: String,
    text: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|error| panic!("invalid JSON ({error}): {}", self.text))
    }
}

async fn send(request: reqwest::RequestBuilder) -> Reply {
    let response = request.send().await.expect("request succeeds");
    let status = response.status().as_u16();
    let content_type =
        response.headers().get("content-type").map(|value| value.to_str().unwrap_or("").to_owned()).unwrap_or_default();
    let text = response.text().await.expect("body reads");
    Reply { status, content_type, text }
}

async fn get(api: &FakeApi, path: &str) -> Reply {
    send(client().get(format!("{}{path}", api.base_url())).bearer_auth(api.api_key())).await
}

async fn post(api: &FakeApi, path: &str, body: Value) -> Reply {
    send(client().post(format!("{}{path}", api.base_url())).bearer_auth(api.api_key()).json(&body)).await
}

fn ids(page: &Value) -> Vec<String> {
    page["data"].as_array().expect("data array").iter().map(|item| item["id"].as_str().unwrap().to_owned()).collect()
}

fn find_by_id<'a>(items: &'a Value, id: &str) -> &'a Value {
    items.as_array().expect("array").iter().find(|item| item["id"] == id).unwrap_or_else(|| panic!("{id} not listed"))
}

#[tokio::test]
async fn reference_account_is_exact() {
    let api = start().await;

    let reply = get(&api, "/v1/account").await;

    assert_eq!(reply.status, 200);
    assert_eq!(reply.content_type, "application/json");
    assert_eq!(reply.text, reference::account().to_string());
    assert!(reply.text.contains("\"email\":\"jane.smith@example.com\""));
}

#[tokio::test]
async fn reference_examples_are_exact() {
    let api = start().await;

    let keys = get(&api, "/v1/account/ssh-keys").await.json();
    assert_eq!(keys.as_object().unwrap().keys().collect::<Vec<_>>(), ["keys"]);
    assert_eq!(keys["keys"][0].to_string(), reference::ssh_key().to_string());

    let services = get(&api, "/v1/services").await.json();
    assert_eq!(services["data"][0].to_string(), reference::service_summary().to_string());
    let detail = get(&api, "/v1/services/svc_01HY7M3ABCXYZ").await;
    assert_eq!(detail.text, reference::service_detail().to_string());

    let invoices = get(&api, "/v1/billing/invoices?per_page=100").await.json();
    assert_eq!(find_by_id(&invoices["data"], reference::INVOICE_ID).to_string(), reference::invoice().to_string());

    let methods = get(&api, "/v1/billing/payment-methods").await.json();
    assert_eq!(methods["data"][0].to_string(), reference::payment_method().to_string());

    let domains = get(&api, "/v1/domains").await.json();
    assert_eq!(domains["data"][0].to_string(), reference::domain().to_string());

    let records = get(&api, "/v1/domains/example.com/records").await;
    assert_eq!(records.text, json!({ "records": reference::domain_records() }).to_string());

    let tickets = get(&api, "/v1/tickets?per_page=100").await.json();
    assert_eq!(find_by_id(&tickets["data"], reference::TICKET_ID).to_string(), reference::ticket().to_string());
}

#[tokio::test]
async fn services_paging_meta_and_cap() {
    let api = start().await;

    let first = get(&api, "/v1/services?page=1&per_page=5").await.json();
    assert_eq!(first["data"].as_array().unwrap().len(), 5);
    assert_eq!(first["meta"], json!({ "page": 1, "perPage": 5, "total": 12 }));

    let last = get(&api, "/v1/services?page=3&per_page=5").await.json();
    assert_eq!(last["data"].as_array().unwrap().len(), 2);
    assert_eq!(last["meta"], json!({ "page": 3, "perPage": 5, "total": 12 }));

    let past_end = get(&api, "/v1/services?page=4&per_page=5").await.json();
    assert_eq!(past_end["data"], json!([]));
    assert_eq!(past_end["meta"]["total"], 12);

    let default = get(&api, "/v1/services").await.json();
    assert_eq!(default["meta"], json!({ "page": 1, "perPage": 20, "total": 12 }));

    let capped = get(&api, "/v1/services?per_page=500").await.json();
    assert_eq!(capped["meta"]["perPage"], 100);

    api.set_per_page_cap(3);
    let small_cap = get(&api, "/v1/services?per_page=10&page=2").await.json();
    assert_eq!(small_cap["meta"], json!({ "page": 2, "perPage": 3, "total": 12 }));
    assert_eq!(small_cap["data"].as_array().unwrap().len(), 3);

    let all_pages: Vec<String> = {
        let mut all = Vec::new();
        for page in 1..=4 {
            all.extend(ids(&get(&api, &format!("/v1/services?page={page}&per_page=3")).await.json()));
        }
        all
    };
    let unique: std::collections::HashSet<&String> = all_pages.iter().collect();
    assert_eq!(all_pages.len(), 12);
    assert_eq!(unique.len(), 12);
}

#[tokio::test]
async fn invalid_page_parameter_is_400() {
    let api = start().await;

    for query in ["page=0", "page=abc", "per_page=0", "per_page=-1"] {
        let reply = get(&api, &format!("/v1/services?{query}")).await;
        assert_eq!(reply.status, 400, "{query}");
        assert_eq!(reply.json()["error"], "invalid_parameter", "{query}");
    }
}

#[tokio::test]
async fn service_list_omits_detail_fields() {
    let api = start().await;

    let services = get(&api, "/v1/services?per_page=100").await.json();

    for service in services["data"].as_array().unwrap() {
        for field in SERVICE_DETAIL_FIELDS {
            assert!(service.get(field).is_none(), "{field} listed in {service}");
        }
    }
}

#[tokio::test]
async fn fault_fires_times_then_stops() {
    let api = start().await;
    api.add_fault(Fault::status("/v1/services", 503).with_times(2));

    let first = get(&api, "/v1/services").await;
    let second = get(&api, "/v1/services").await;
    let third = get(&api, "/v1/services").await;

    assert_eq!(first.status, 503);
    assert_eq!(first.json(), json!({ "error": "service_unavailable", "message": "Service Unavailable" }));
    assert_eq!(second.status, 503);
    assert_eq!(third.status, 200);
    let statuses: Vec<u16> = api.requests().iter().map(|request| request.status).collect();
    assert_eq!(statuses, [503, 503, 200]);
}

#[tokio::test]
async fn fault_matches_method_and_page() {
    let api = start().await;
    api.add_fault(Fault::status("/v1/services", 500).with_page(2));
    api.add_fault(Fault::status("/v1/tickets", 502).with_method("post"));

    assert_eq!(get(&api, "/v1/services?per_page=5").await.status, 200);
    assert_eq!(get(&api, "/v1/services?per_page=5&page=2").await.status, 500);
    assert_eq!(get(&api, "/v1/services/").await.status, 404);
    assert_eq!(get(&api, "/v1/tickets").await.status, 200);

    let ticket = json!({ "subject": "Help", "body": "Please", "priority": "low" });
    assert_eq!(post(&api, "/v1/tickets", ticket.clone()).await.status, 502);

    api.clear_faults();
    assert_eq!(post(&api, "/v1/tickets", ticket).await.status, 201);
    assert_eq!(get(&api, "/v1/services?per_page=5&page=2").await.status, 200);
}

#[tokio::test]
async fn list_faults_reshape_pages() {
    let api = start().await;
    let page_two = ids(&get(&api, "/v1/services?page=2&per_page=5").await.json());
    let page_one = ids(&get(&api, "/v1/services?page=1&per_page=5").await.json());

    api.add_fault(Fault::new("/v1/services", FaultKind::IgnorePage).once());
    let ignored = get(&api, "/v1/services?page=2&per_page=5").await.json();
    assert_eq!(ignored["data"].as_array().unwrap().len(), 12);
    assert_eq!(ignored["meta"], json!({ "page": 2, "perPage": 5, "total": 12 }));

    api.add_fault(Fault::new("/v1/services", FaultKind::RepeatFirstPage).once());
    let repeated = get(&api, "/v1/services?page=2&per_page=5").await.json();
    assert_eq!(ids(&repeated), page_one);
    assert_eq!(repeated["meta"], json!({ "page": 2, "perPage": 5, "total": 12 }));

    api.add_fault(Fault::new("/v1/services", FaultKind::NoMeta).once());
    let bare = get(&api, "/v1/services?page=2&per_page=5").await.json();
    assert_eq!(ids(&bare), page_two);
    assert!(bare.get("meta").is_none());

    let normal = get(&api, "/v1/services?page=2&per_page=5").await.json();
    assert_eq!(ids(&normal), page_two);
}

#[tokio::test]
async fn drop_connection_fails_client() {
    let api = start().await;
    api.add_fault(Fault::new("/v1/billing/invoices", FaultKind::DropConnection).once());
    let url = format!("{}/v1/billing/invoices", api.base_url());

    let response = client().get(&url).bearer_auth(api.api_key()).send().await.expect("headers arrive");
    assert_eq!(response.status().as_u16(), 200);
    let body = response.bytes().await;

    assert!(body.is_err(), "a dropped connection must fail the body read");
    assert_eq!(get(&api, "/v1/billing/invoices").await.status, 200);
}

#[tokio::test]
async fn response_faults_shape_responses() {
    let api = start().await;

    api.add_fault(Fault::rate_limit("/v1/domains", "Wed, 21 Oct 2026 07:28:00 GMT").once());
    let response = client().get(format!("{}/v1/domains", api.base_url())).bearer_auth("fake-key").send().await.unwrap();
    assert_eq!(response.status().as_u16(), 429);
    assert_eq!(response.headers()["retry-after"], "Wed, 21 Oct 2026 07:28:00 GMT");

    api.add_fault(Fault::rate_limit("/v1/domains", "soon-ish").once());
    let response = client().get(format!("{}/v1/domains", api.base_url())).bearer_auth("fake-key").send().await.unwrap();
    assert_eq!(response.headers()["retry-after"], "soon-ish");

    api.add_fault(Fault::new("/v1/domains", FaultKind::MalformedJson).once());
    let malformed = get(&api, "/v1/domains").await;
    assert_eq!(malformed.status, 200);
    assert_eq!(malformed.content_type, "application/json");
    assert!(serde_json::from_str::<Value>(&malformed.text).is_err());

    api.add_fault(Fault::new("/v1/domains", FaultKind::HtmlError { status: 502 }).once());
    let html = get(&api, "/v1/domains").await;
    assert_eq!(html.status, 502);
    assert_eq!(html.content_type, "text/html");
    assert!(html.text.contains("<h1>502 Bad Gateway</h1>"));

    api.add_fault(Fault::new("/v1/domains", FaultKind::WrongContentType).once());
    let plain = get(&api, "/v1/domains").await;
    assert_eq!(plain.status, 200);
    assert!(plain.content_type.starts_with("text/plain"));
    assert_eq!(plain.json()["meta"]["total"], 5);

    let raw = FaultKind::Body { status: 418, body: "tea".to_owned(), content_type: "text/x-tea".to_owned() };
    api.add_fault(Fault::new("/v1/domains", raw).once());
    let teapot = get(&api, "/v1/domains").await;
    assert_eq!((teapot.status, teapot.content_type.as_str(), teapot.text.as_str()), (418, "text/x-tea", "tea"));

    api.add_fault(Fault::new("/v1/domains", FaultKind::Oversize { bytes: 200_000 }).once());
    let oversize = get(&api, "/v1/domains").await;
    assert_eq!(oversize.text.len(), 200_000);
    assert!(oversize.json().is_object());

    api.add_fault(Fault::new("/v1/domains", FaultKind::Delay(Duration::from_millis(200))).once());
    let started = Instant::now();
    assert_eq!(get(&api, "/v1/domains").await.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[tokio::test]
async fn latency_delays_every_response() {
    let api = start_with(FakeConfig { latency: Duration::from_millis(150), ..FakeConfig::default() }).await;

    let started = Instant::now();
    assert_eq!(get(&api, "/v1/account").await.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(150));

    api.set_latency(Duration::ZERO);
    let started = Instant::now();
    assert_eq!(get(&api, "/v1/account").await.status, 200);
    assert!(started.elapsed() < Duration::from_millis(150));
}

#[tokio::test]
async fn encoded_domain_name_reaches_records() {
    let api = start().await;
    api.with_world(|world| {
        world.domains.push(json!({ "id": "dom_SLASHED", "name": "a/b?c", "status": "active" }));
        world
            .records_mut("a/b?c")
            .push(json!({ "id": "rec_SLASHED", "type": "TXT", "name": "@", "value": "x", "ttl": 300 }));
    });

    let listed = get(&api, "/v1/domains/a%2Fb%3Fc/records").await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.json()["records"][0]["id"], "rec_SLASHED");

    let created = post(
        &api,
        "/v1/domains/a%2Fb%3Fc/records",
        json!({ "type": "A", "name": "www", "value": "203.0.113.9", "ttl": 300 }),
    )
    .await;
    assert_eq!(created.status, 201);
    assert_eq!(api.with_world(|world| world.records("a/b?c").len()), 2);

    assert_eq!(get(&api, "/v1/domains/a/b%3Fc/records").await.status, 404);
    let paths: Vec<String> = api.requests().into_iter().map(|request| request.path).collect();
    assert_eq!(paths[0], "/v1/domains/a%2Fb%3Fc/records");
}

#[tokio::test]
async fn idempotency_key_replays_single_record() {
    let api = start().await;
    let url = format!("{}/v1/domains/example.com/records", api.base_url());
    let body = json!({ "type": "A", "name": "staging", "value": "198.51.100.99", "ttl": 300 });
    let create = || client().post(&url).bearer_auth("fake-key").header("Idempotency-Key", "push-1").json(&body);

    let first = send(create()).await;
    let replayed = create().send().await.unwrap();
    assert_eq!(replayed.headers()["idempotent-replayed"], "true");
    let second = replayed.text().await.unwrap();

    assert_eq!(first.status, 201);
    assert_eq!(first.text, second);
    assert_eq!(api.with_world(|world| world.records("example.com").len()), 4);

    let other = client().post(&url).bearer_auth("fake-key").header("Idempotency-Key", "push-1").json(&json!({
        "type": "A", "name": "other", "value": "198.51.100.7", "ttl": 300
    }));
    assert_eq!(send(other).await.status, 422);
    assert_eq!(api.with_world(|world| world.records("example.com").len()), 4);
}

#[tokio::test]
async fn idempotency_survives_dropped_response() {
    let api = start().await;
    api.add_fault(Fault::new("/v1/tickets", FaultKind::DropConnection).with_method("POST").once());
    let url = format!("{}/v1/tickets", api.base_url());
    let body = json!({ "subject": "Lost reply", "body": "Retry me", "priority": "normal" });
    let create = || client().post(&url).bearer_auth("fake-key").header("Idempotency-Key", "ticket-1").json(&body);

    let lost = match create().send().await {
        Ok(response) => response.bytes().await.map(|_| ()),
        Err(error) => Err(error),
    };
    let retried = send(create()).await;

    assert!(lost.is_err());
    assert_eq!(retried.status, 201);
    let count = api.with_world(|world| world.tickets.iter().filter(|ticket| ticket["subject"] == "Lost reply").count());
    assert_eq!(count, 1);
}

#[tokio::test]
async fn missing_or_wrong_key_is_unauthorized() {
    let api = start().await;
    let url = format!("{}/v1/account", api.base_url());

    let missing = send(client().get(&url)).await;
    let wrong = send(client().get(&url).bearer_auth("not-the-key")).await;
    let unknown_path = send(client().get(format!("{}/v1/nothing", api.base_url()))).await;

    for reply in [&missing, &wrong, &unknown_path] {
        assert_eq!(reply.status, 401);
        assert_eq!(reply.json()["error"], "unauthorized");
        assert!(reply.json()["message"].is_string());
    }
    let requests = api.requests();
    assert!(requests.iter().all(|request| !request.authorized));
    assert!(requests.iter().all(|request| request.header("authorization").is_none()));
}

#[tokio::test]
async fn unknown_path_is_json_404() {
    let api = start().await;

    let reply = get(&api, "/v1/nothing/here").await;

    assert_eq!(reply.status, 404);
    assert_eq!(reply.json()["error"], "not_found");
    assert!(reply.json()["message"].as_str().unwrap().contains("/v1/nothing/here"));
}

#[tokio::test]
async fn requests_recorded_in_order() {
    let api = start().await;

    get(&api, "/v1/account").await;
    get(&api, "/v1/services?page=2&per_page=3").await;
    post(&api, "/v1/tickets", json!({ "subject": "Hi", "body": "Hello" })).await;

    let requests = api.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!((requests[0].method.as_str(), requests[0].path.as_str()), ("GET", "/v1/account"));
    assert_eq!(requests[1].query.as_deref(), Some("page=2&per_page=3"));
    assert_eq!((requests[2].method.as_str(), requests[2].status), ("POST", 201));
    assert!(requests[2].body.contains("\"subject\":\"Hi\""));
    assert!(requests.iter().all(|request| request.authorized));
    assert!(requests.iter().all(|request| request.version == "HTTP/1.1"));

    api.clear_requests();
    assert!(api.requests().is_empty());
}

#[tokio::test]
async fn account_update_changes_given_fields() {
    let api = start().await;

    let reply = send(
        client()
            .put(format!("{}/v1/account", api.base_url()))
            .bearer_auth("fake-key")
            .json(&json!({ "firstName": "Jane", "company": "New Corp" })),
    )
    .await;

    assert_eq!(reply.status, 200);
    let keys: Vec<String> = reply.json().as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["id", "email", "firstName", "lastName", "company", "updatedAt"]);
    let account = get(&api, "/v1/account").await.json();
    assert_eq!(account["company"], "New Corp");
    assert_eq!(account["phone"], "+1-555-000-0001");
    assert_eq!(account["updatedAt"], reply.json()["updatedAt"]);

    for invalid in
        [json!({ "nickname": "J" }), json!({ "company": 7 }), json!({ "id": "acc_other" }), json!({ "email": "nope" })]
    {
        let rejected =
            send(client().put(format!("{}/v1/account", api.base_url())).bearer_auth("fake-key").json(&invalid)).await;
        assert_eq!(rejected.status, 422, "{invalid}");
        assert_eq!(rejected.json()["error"], "validation_failed", "{invalid}");
    }
}

#[tokio::test]
async fn ssh_key_fingerprint_and_duplicate() {
    let api = start().await;

    let created = post(&api, "/v1/account/ssh-keys", json!({ "label": "Work laptop", "publicKey": ED25519_KEY })).await;
    assert_eq!(created.status, 201);
    assert_eq!(created.json()["fingerprint"], ED25519_FINGERPRINT);
    assert!(created.json()["id"].as_str().unwrap().starts_with("key_"));

    let duplicate = post(&api, "/v1/account/ssh-keys", json!({ "label": "Again", "publicKey": ED25519_KEY })).await;
    assert_eq!(duplicate.status, 409);

    let ecdsa = post(&api, "/v1/account/ssh-keys", json!({ "label": "ECDSA", "publicKey": ECDSA_KEY })).await;
    assert_eq!(ecdsa.json()["fingerprint"], ECDSA_FINGERPRINT);

    for bad in
        ["ssh-dss AAAAB3NzaC1kc3M=", "ssh-ed25519 AAAA...", "ssh-ed25519", "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIBBd"]
    {
        let rejected = post(&api, "/v1/account/ssh-keys", json!({ "label": "Bad", "publicKey": bad })).await;
        assert_eq!(rejected.status, 422, "{bad}");
    }

    let keys = get(&api, "/v1/account/ssh-keys").await.json();
    assert_eq!(keys["keys"].as_array().unwrap().len(), 5);
}

#[test]
fn sample_public_key_is_valid() {
    let key = sample_ed25519_public_key(7);

    assert!(ssh_fingerprint(&key).unwrap().starts_with("SHA256:"));
    assert_ne!(ssh_fingerprint(&key), ssh_fingerprint(&sample_ed25519_public_key(8)));
    assert_eq!(ssh_fingerprint(ED25519_KEY).unwrap(), ED25519_FINGERPRINT);
}

#[tokio::test]
async fn record_validation_rejects_bad_input() {
    let api = start().await;
    let cases = [
        json!({ "type": "SPF", "name": "@", "value": "v=spf1", "ttl": 300 }),
        json!({ "type": "A", "name": "@", "value": "2001:db8::1", "ttl": 300 }),
        json!({ "type": "AAAA", "name": "@", "value": "198.51.100.1", "ttl": 300 }),
        json!({ "type": "MX", "name": "@", "value": "mail.example.com", "ttl": 300 }),
        json!({ "type": "A", "name": "@", "value": "198.51.100.1", "ttl": 59 }),
        json!({ "type": "A", "name": "@", "value": "198.51.100.1", "ttl": 86_401 }),
        json!({ "type": "A", "name": "@", "value": "198.51.100.1", "ttl": "300" }),
        json!({ "type": "CNAME", "name": "www", "value": "not a host", "ttl": 300 }),
        json!({ "type": "A", "value": "198.51.100.1" }),
        json!({ "type": "A", "name": "@", "value": "198.51.100.1", "color": "red" }),
    ];

    for case in cases {
        let reply = post(&api, "/v1/domains/example.com/records", case.clone()).await;
        assert_eq!(reply.status, 422, "{case}");
        assert_eq!(reply.json()["error"], "validation_failed", "{case}");
        assert!(reply.json()["message"].as_str().is_some_and(|message| !message.is_empty()), "{case}");
    }
    let unknown =
        post(&api, "/v1/domains/nowhere.example/records", json!({ "type": "A", "name": "@", "value": "198.51.100.1" }))
            .await;
    assert_eq!(unknown.status, 404);
    assert_eq!(api.with_world(|world| world.records("example.com").len()), 3);
}

#[tokio::test]
async fn record_creation_returns_created_at() {
    let api = start().await;

    let mx = post(
        &api,
        "/v1/domains/example.com/records",
        json!({ "type": "MX", "name": "@", "value": "mx2.example.com", "priority": 20, "ttl": 3600 }),
    )
    .await;

    assert_eq!(mx.status, 201);
    let keys: Vec<String> = mx.json().as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["id", "type", "name", "value", "priority", "ttl", "createdAt"]);
    let records = get(&api, "/v1/domains/example.com/records").await.json();
    assert_eq!(records["records"][3], mx.json());
}

#[tokio::test]
async fn reboot_job_advances_per_poll() {
    let api = start().await;

    let accepted = post(&api, "/v1/services/svc_01HY7M3ABCXYZ/reboot", json!({})).await;
    assert_eq!(accepted.status, 202);
    let job_id = accepted.json()["jobId"].as_str().unwrap().to_owned();
    assert_eq!(accepted.json()["status"], "queued");
    assert_eq!(accepted.json()["message"], format!("Reboot queued. Poll /v1/jobs/{job_id} for status."));

    let mut seen = Vec::new();
    for _ in 0..3 {
        let job = get(&api, &format!("/v1/jobs/{job_id}")).await.json();
        assert_eq!(job["id"], job_id);
        assert_eq!(job["jobId"], job_id);
        seen.push(job["status"].as_str().unwrap().to_owned());
    }
    assert_eq!(seen, ["running", "succeeded", "succeeded"]);
    assert_eq!(get(&api, "/v1/jobs/job_missing").await.status, 404);
}

#[tokio::test]
async fn destroy_requires_confirmation() {
    let api = start().await;
    let url = format!("{}/v1/services/svc_01HY7M3ABCXYZ", api.base_url());

    let unconfirmed = send(client().delete(&url).bearer_auth("fake-key")).await;
    assert_eq!(unconfirmed.status, 400);
    assert_eq!(get(&api, "/v1/services/svc_01HY7M3ABCXYZ").await.status, 200);

    let deleted = send(client().delete(&url).bearer_auth("fake-key").header("X-Confirm-Destroy", "yes")).await;
    assert_eq!(deleted.status, 200);
    assert_eq!(deleted.json()["deleted"], true);
    assert_eq!(deleted.json()["id"], "svc_01HY7M3ABCXYZ");

    assert_eq!(get(&api, "/v1/services/svc_01HY7M3ABCXYZ").await.status, 404);
    let listed = get(&api, "/v1/services?per_page=100").await.json();
    assert_eq!(listed["meta"]["total"], 11);
    assert!(!ids(&listed).contains(&"svc_01HY7M3ABCXYZ".to_owned()));
}

#[tokio::test]
async fn invoice_pdf_is_pdf() {
    let api = start().await;

    let response = client()
        .get(format!("{}/v1/billing/invoices/inv_01JRXYZ/pdf", api.base_url()))
        .bearer_auth("fake-key")
        .send()
        .await
        .unwrap();

    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["content-type"], "application/pdf");
    let bytes = response.bytes().await.unwrap();
    assert!(bytes.starts_with(b"%PDF-1.4"));
    assert!(bytes.ends_with(b"%%EOF\n"));
    assert!(bytes.windows(13).any(|window| window == b"INV-2026-0042"));
    assert_eq!(get(&api, "/v1/billing/invoices/inv_missing/pdf").await.status, 404);
}

#[tokio::test]
async fn tickets_newest_first_after_create() {
    let api = start().await;

    let created = post(
        &api,
        "/v1/tickets",
        json!({
            "subject": "Need help configuring Nginx",
            "body": "I am getting a 502 after deploying...",
            "priority": "normal",
            "serviceId": "svc_01HY7M3ABCXYZ"
        }),
    )
    .await;
    assert_eq!(created.status, 201);
    assert_eq!(created.json()["status"], "open");
    assert_eq!(created.json()["serviceId"], "svc_01HY7M3ABCXYZ");

    let tickets = get(&api, "/v1/tickets?per_page=100").await.json();
    assert_eq!(tickets["data"][0]["id"], created.json()["id"]);
    let times: Vec<(String, String)> = tickets["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|ticket| (ticket["updatedAt"].as_str().unwrap().to_owned(), ticket["id"].as_str().unwrap().to_owned()))
        .collect();
    assert!(times.windows(2).all(|pair| pair[0].0 > pair[1].0 || (pair[0].0 == pair[1].0 && pair[0].1 < pair[1].1)));

    let unknown_service =
        post(&api, "/v1/tickets", json!({ "subject": "x", "body": "y", "serviceId": "svc_gone" })).await;
    assert_eq!(unknown_service.status, 422);
}

#[tokio::test]
async fn with_world_changes_are_served() {
    let api = start().await;

    api.with_world(|world| {
        world.records_mut("example.com")[0]["value"] = json!("203.0.113.5");
        let ticket = world.ticket_mut(reference::TICKET_ID).unwrap();
        ticket["updatedAt"] = json!("2026-11-29T23:59:59Z");
        let service = world.service_mut(reference::SERVICE_ID).unwrap().as_object_mut().unwrap();
        service.insert("newField".to_owned(), json!({ "nested": true }));
        service.shift_remove("id").map(|id| service.insert("id".to_owned(), id));
        world.remove_domain("example.com");
    });

    let tickets = get(&api, "/v1/tickets").await.json();
    assert_eq!(tickets["data"][0]["id"], reference::TICKET_ID);
    let detail = get(&api, "/v1/services/svc_01HY7M3ABCXYZ").await.json();
    assert_eq!(detail["newField"], json!({ "nested": true }));
    let keys: Vec<&String> = detail.as_object().unwrap().keys().collect();
    assert_eq!(keys.last().unwrap().as_str(), "id");
    assert_eq!(get(&api, "/v1/domains/example.com/records").await.status, 404);
    assert_eq!(get(&api, "/v1/domains").await.json()["meta"]["total"], 4);
}

#[tokio::test]
async fn non_loopback_address_rejected() {
    let error = FakeApi::start(FakeConfig::default(), "0.0.0.0:0".parse().unwrap()).await.err().expect("rejected");

    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
    assert!(is_loopback("127.0.0.1:1".parse().unwrap()));
    assert!(is_loopback("127.8.9.10:1".parse().unwrap()));
    assert!(is_loopback("[::1]:1".parse().unwrap()));
    assert!(is_loopback("[::ffff:127.0.0.1]:1".parse().unwrap()));
    assert!(!is_loopback("[::]:1".parse().unwrap()));
    assert!(!is_loopback("192.0.2.1:1".parse().unwrap()));
}

#[tokio::test]
async fn shutdown_stops_server() {
    let api = start().await;
    let url = format!("{}/v1/account", api.base_url());
    assert_eq!(get(&api, "/v1/account").await.status, 200);

    api.shutdown().await;

    let fresh = reqwest::Client::builder().no_proxy().pool_max_idle_per_host(0).build().unwrap();
    assert!(fresh.get(&url).bearer_auth("fake-key").send().await.is_err());
}

const TEST_CA_PEM: &[u8] = include_bytes!("../../tests/fixtures/tls/ca.pem");

/// Returns the certificate that the test CA issued for 127.0.0.1 and localhost, with its key.
fn fixture_tls() -> FakeTls {
    FakeTls {
        cert_chain_pem: include_bytes!("../../tests/fixtures/tls/server.pem").to_vec(),
        private_key_pem: include_bytes!("../../tests/fixtures/tls/server.key").to_vec(),
    }
}

async fn start_tls(latency: Duration) -> FakeApi {
    start_with(FakeConfig { tls: Some(fixture_tls()), latency, ..FakeConfig::default() }).await
}

/// Builds a client that trusts only the test CA and never uses a proxy.
fn tls_client(builder: reqwest::ClientBuilder) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(TEST_CA_PEM).expect("the test CA parses");
    builder.no_proxy().tls_certs_only([ca]).build().expect("client builds")
}

#[tokio::test]
async fn tls_serves_http2_and_http1() {
    let api = start_tls(Duration::ZERO).await;
    let url = format!("{}/v1/account", api.base_url());
    assert_eq!(url, format!("https://{}/v1/account", api.addr()));

    let h2_client = tls_client(reqwest::Client::builder());
    let h1_client = tls_client(reqwest::Client::builder().http1_only());

    let h2 = h2_client.get(&url).bearer_auth(api.api_key()).send().await.unwrap();
    let h1 = h1_client.get(&url).bearer_auth(api.api_key()).send().await.unwrap();

    assert_eq!(h2.version(), reqwest::Version::HTTP_2);
    assert_eq!(h1.version(), reqwest::Version::HTTP_11);
    assert_eq!(h2.text().await.unwrap(), reference::account().to_string());
    assert_eq!(h1.text().await.unwrap(), reference::account().to_string());
    let versions: Vec<String> = api.requests().into_iter().map(|request| request.version).collect();
    assert_eq!(versions, ["HTTP/2.0", "HTTP/1.1"]);
}

#[tokio::test]
async fn tls_shutdown_finishes_open_request() {
    let api = start_tls(Duration::from_secs(1)).await;
    let url = format!("{}/v1/account", api.base_url());
    // A client that connects and never starts the handshake must not hold the shutdown up. The
    // server accepts connections in order, so it has accepted this one once the request arrives.
    let _silent = tokio::net::TcpStream::connect(api.addr()).await.unwrap();
    let open = tokio::spawn(tls_client(reqwest::Client::builder()).get(&url).bearer_auth("fake-key").send());
    let deadline = Instant::now() + Duration::from_secs(10);
    while api.requests().is_empty() {
        assert!(Instant::now() < deadline, "the request never arrived");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let started = Instant::now();
    api.shutdown().await;

    // The request sleeps for the latency after it arrives, and the shutdown waits for it.
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(500), "shutdown took {elapsed:?}");
    assert!(elapsed < SHUTDOWN_GRACE, "shutdown took {elapsed:?}");
    let response = open.await.unwrap().expect("the open request completes");
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), reference::account().to_string());
    let fresh = tls_client(reqwest::Client::builder().pool_max_idle_per_host(0));
    assert!(fresh.get(&url).bearer_auth("fake-key").send().await.is_err());
}

#[tokio::test]
async fn tls_unusable_certificate_rejected() {
    let cases = [
        (FakeTls { cert_chain_pem: b"not a certificate".to_vec(), ..fixture_tls() }, "contains no certificate"),
        (FakeTls { private_key_pem: TEST_CA_PEM.to_vec(), ..fixture_tls() }, "invalid TLS private key PEM"),
        (FakeTls { cert_chain_pem: TEST_CA_PEM.to_vec(), ..fixture_tls() }, "do not form a usable pair"),
    ];

    for (tls, expected) in cases {
        let config = FakeConfig { tls: Some(tls), ..FakeConfig::default() };
        let error = FakeApi::start(config, loopback()).await.err().expect("rejected");

        assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
        assert!(error.to_string().contains(expected), "{error}");
    }
}

fn assert_timestamp_in_range(value: &Value, field: &str) {
    let text = value.as_str().unwrap_or_else(|| panic!("{field} is not a string: {value}"));
    let parsed =
        chrono::DateTime::parse_from_rfc3339(text).unwrap_or_else(|_| panic!("{field} is not RFC 3339: {text}"));
    assert!(text.ends_with('Z'), "{field} is not UTC: {text}");
    assert!(("2025-01-01T00:00:00Z".."2026-11-30T00:00:01Z").contains(&text), "{field} out of range: {text}");
    assert_eq!(parsed.timezone().local_minus_utc(), 0);
}

fn is_documentation_ipv4(text: &str) -> bool {
    text.starts_with("198.51.100.") || text.starts_with("203.0.113.")
}

#[test]
fn generated_data_is_valid() {
    let world = World::generate(&DataSize::medium(), 42);
    let size = DataSize::medium();

    assert_eq!(world.services.len(), size.services);
    assert_eq!(world.domains.len(), size.domains);
    assert_eq!(world.invoices.len(), size.invoices);
    assert_eq!(world.tickets.len(), size.tickets);
    assert_eq!(world.ssh_keys.len(), size.ssh_keys);
    assert_eq!(world.payment_methods.len(), size.payment_methods);

    let service_ids: std::collections::HashSet<&str> =
        world.services.iter().map(|service| service["id"].as_str().unwrap()).collect();
    assert_eq!(service_ids.len(), world.services.len(), "service ids are unique");
    for service in &world.services[1..] {
        assert!(service["id"].as_str().unwrap().starts_with("svc_"));
        assert!(is_documentation_ipv4(service["ipv4"].as_str().unwrap()), "{service}");
        assert!(service["ipv6"].as_str().unwrap().starts_with("2001:db8:"));
        assert!(["vps-s", "vps-m", "vps-l", "vps-xl"].contains(&service["tier"].as_str().unwrap()));
        assert!(["running", "stopped", "suspended"].contains(&service["status"].as_str().unwrap()));
        assert_timestamp_in_range(&service["createdAt"], "service createdAt");
    }
    assert!(world.services.iter().any(|service| service["label"] == "café-東京-01"));

    for invoice in world.invoices.iter().filter(|invoice| invoice["id"] != reference::INVOICE_ID) {
        let items = invoice["lineItems"].as_array().unwrap();
        assert_eq!(items.len(), 3);
        let sum: i64 = items.iter().map(|item| item["amountCents"].as_i64().unwrap()).sum();
        assert_eq!(invoice["totalCents"].as_i64().unwrap(), sum);
        for item in items {
            assert!(service_ids.contains(item["serviceId"].as_str().unwrap()), "{item}");
        }
        assert!(["paid", "open", "overdue", "void"].contains(&invoice["status"].as_str().unwrap()));
        assert_timestamp_in_range(&invoice["issuedAt"], "issuedAt");
        assert_ne!(invoice["number"], "INV-2026-0042");
    }
    let issued: Vec<&str> = world.invoices.iter().map(|invoice| invoice["issuedAt"].as_str().unwrap()).collect();
    assert!(issued.windows(2).all(|pair| pair[0] >= pair[1]), "invoices newest first");
    let numbers: std::collections::HashSet<&str> =
        world.invoices.iter().map(|invoice| invoice["number"].as_str().unwrap()).collect();
    assert_eq!(numbers.len(), world.invoices.len(), "invoice numbers are unique");

    for domain in &world.domains[1..] {
        let name = domain["name"].as_str().unwrap();
        assert!(name.ends_with(".example"));
        assert_eq!(world.records(name).len(), size.records_per_domain);
        for record in world.records(name) {
            let value = record["value"].as_str().unwrap();
            match record["type"].as_str().unwrap() {
                "A" => assert!(is_documentation_ipv4(value), "{record}"),
                "AAAA" => assert!(value.parse::<std::net::Ipv6Addr>().is_ok() && value.starts_with("2001:db8:")),
                "MX" | "SRV" => assert!(record["priority"].is_u64(), "{record}"),
                _ => {}
            }
            let ttl = record["ttl"].as_u64().unwrap();
            assert!((60..=86_400).contains(&ttl));
        }
    }

    let with_service = world.tickets.iter().filter(|ticket| ticket.get("serviceId").is_some()).count();
    assert!(with_service > 0, "some tickets name a service");
    assert!(with_service < world.tickets.len(), "some tickets name no service");
    for ticket in &world.tickets[..] {
        assert!(ticket["updatedAt"].as_str() >= ticket["createdAt"].as_str(), "{ticket}");
        assert!(["open", "pending", "closed"].contains(&ticket["status"].as_str().unwrap()));
        assert!(["low", "normal", "high", "urgent"].contains(&ticket["priority"].as_str().unwrap()));
    }
}

#[test]
fn generated_data_is_deterministic() {
    let first = World::generate(&DataSize::default(), 7);
    let second = World::generate(&DataSize::default(), 7);
    let other = World::generate(&DataSize::default(), 8);

    assert_eq!(first.services, second.services);
    assert_eq!(first.invoices, second.invoices);
    assert_eq!(first.records, second.records);
    assert_ne!(first.services, other.services);
}

#[test]
fn reference_size_holds_only_examples() {
    let world = World::generate(&DataSize::reference(), 42);

    assert_eq!(world.services, [reference::service_detail()]);
    assert_eq!(world.invoices, [reference::invoice()]);
    assert_eq!(world.domains, [reference::domain()]);
    assert_eq!(world.records("example.com"), reference::domain_records());
    assert_eq!(world.tickets, [reference::ticket()]);
}

#[test]
fn medium_generation_sizes() {
    let world = World::generate(&DataSize::medium(), 42);

    assert_eq!(world.services.len(), 2_000);
    assert_eq!(world.domains.len(), 300);
    assert_eq!(world.records.values().map(Vec::len).sum::<usize>(), 3 + 299 * 30);
    assert_eq!(world.invoices.len(), 5_000);
    assert_eq!(world.tickets.len(), 1_000);
}

fn service_ids(world: &mut World) -> Vec<String> {
    world.services.iter().map(|service| service["id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn after_request_changes_later_pages() {
    let api = start().await;
    let before = api.with_world(service_ids);
    api.after_request("/v1/services", Some(1), |world| {
        world.services.insert(0, json!({ "id": "svc_INSERTED", "label": "inserted", "status": "running" }));
    });

    let first = get(&api, "/v1/services?page=1&per_page=5").await.json();
    let second = get(&api, "/v1/services?page=2&per_page=5").await.json();
    let first_again = get(&api, "/v1/services?page=1&per_page=5").await.json();

    assert_eq!(ids(&first), before[..5]);
    assert_eq!(first["meta"]["total"], 12);
    assert_eq!(ids(&second), before[4..9]);
    assert_eq!(second["meta"]["total"], 13);
    assert_eq!(ids(&first_again)[0], "svc_INSERTED");
    assert_eq!(first_again["meta"]["total"], 13, "the action runs only once");
}

#[tokio::test]
async fn after_request_matches_page_and_method() {
    let api = start().await;
    api.after_request("/v1/services", Some(2), |world| {
        world.services.pop();
    });
    api.after_request("/v1/domains", None, |world| {
        world.remove_domain("example.com");
    });
    api.after_request("/v1/tickets", None, |world| {
        world.tickets.clear();
    });

    assert_eq!(get(&api, "/v1/services?per_page=5").await.json()["meta"]["total"], 12);
    assert_eq!(get(&api, "/v1/services?page=2&per_page=5").await.json()["meta"]["total"], 12);
    assert_eq!(get(&api, "/v1/services?page=2&per_page=5").await.json()["meta"]["total"], 11);
    assert_eq!(get(&api, "/v1/services?page=2&per_page=5").await.json()["meta"]["total"], 11);

    assert_eq!(get(&api, "/v1/domains?page=3&per_page=1").await.json()["meta"]["total"], 5);
    assert_eq!(get(&api, "/v1/domains").await.json()["meta"]["total"], 4);

    let created = post(&api, "/v1/tickets", json!({ "subject": "Hi", "body": "Hello" })).await;
    assert_eq!(created.status, 201);
    assert!(api.with_world(|world| world.tickets.len()) > 1, "a POST does not run the action");
    assert!(get(&api, "/v1/tickets").await.json()["meta"]["total"].as_u64().unwrap() > 1);
    assert_eq!(get(&api, "/v1/tickets").await.json()["meta"]["total"], 0);
}

#[tokio::test]
async fn after_request_runs_after_fault_in_order() {
    let api = start().await;
    api.add_fault(Fault::status("/v1/account", 503).once());
    api.after_request("/v1/account", None, |world| world.account["company"] = json!("First"));
    api.after_request("/v1/account", None, |world| world.account["company"] = json!("Second"));

    let failed = get(&api, "/v1/account").await;
    let account = get(&api, "/v1/account").await.json();

    assert_eq!(failed.status, 503);
    assert_eq!(account["company"], "Second");
}

#[tokio::test]
async fn after_request_keeps_invoices_sorted() {
    let api = start().await;
    api.after_request("/v1/billing/invoices", Some(1), |world| {
        world.invoices.push(json!({ "id": "inv_NEWEST", "issuedAt": "2027-01-01T00:00:00Z", "lineItems": [] }));
    });

    let before = get(&api, "/v1/billing/invoices?per_page=5").await.json();
    let after = get(&api, "/v1/billing/invoices?per_page=5").await.json();

    assert!(!ids(&before).contains(&"inv_NEWEST".to_owned()));
    assert_eq!(ids(&after)[0], "inv_NEWEST");
    assert_eq!(after["meta"]["total"].as_u64(), before["meta"]["total"].as_u64().map(|total| total + 1));
}

/// The full response of a GET with extra request headers, which may repeat a name.
struct FullReply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl FullReply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|value| value.to_str().expect("ASCII header"))
    }
}

async fn get_full(client: &reqwest::Client, api: &FakeApi, path: &str, headers: &[(&str, &str)]) -> FullReply {
    let mut request = client.get(format!("{}{path}", api.base_url())).bearer_auth(api.api_key());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("request succeeds");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.bytes().await.expect("body reads").to_vec();
    FullReply { status, headers, body }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;

    sha2::Sha256::digest(bytes).iter().map(|byte| format!("{byte:02x}")).collect()
}

fn http_date(reply: &FullReply) -> std::time::SystemTime {
    let text = reply.header("last-modified").expect("Last-Modified present");
    httpdate::parse_http_date(text).unwrap_or_else(|error| panic!("invalid Last-Modified {text}: {error}"))
}

const ENTITY_TAG_PATHS: &[&str] =
    &["/v1/account", "/v1/account/ssh-keys", "/v1/domains/example.com/records", "/v1/services/svc_01HY7M3ABCXYZ"];

#[tokio::test]
async fn entity_tag_is_body_digest() {
    let api = start().await;
    let client = client();

    for path in ENTITY_TAG_PATHS {
        let reply = get_full(&client, &api, path, &[]).await;
        let tag = format!("\"{}\"", sha256_hex(&reply.body));

        assert_eq!(reply.status, 200, "{path}");
        assert_eq!(reply.header("etag"), Some(tag.as_str()), "{path}");
        assert_eq!(reply.header("last-modified"), None, "{path}");

        let cached = get_full(&client, &api, path, &[("If-None-Match", &tag)]).await;
        assert_eq!(cached.status, 304, "{path}");
        assert!(cached.body.is_empty(), "{path}");
        assert_eq!(cached.header("etag"), Some(tag.as_str()), "{path}");
    }

    let statuses: Vec<u16> = api.requests().iter().map(|request| request.status).collect();
    assert_eq!(statuses, [200, 304, 200, 304, 200, 304, 200, 304]);
}

#[tokio::test]
async fn if_none_match_forms() {
    let api = start().await;
    let client = client();
    let opaque = sha256_hex(&get_full(&client, &api, "/v1/account", &[]).await.body);
    let tag = format!("\"{opaque}\"");

    let matching = [
        tag.clone(),
        format!("W/{tag}"),
        format!("\"other\", W/{tag}"),
        format!("\"a,b\",{tag}"),
        "*".to_owned(),
        format!("  {tag}  "),
    ];
    for value in &matching {
        let reply = get_full(&client, &api, "/v1/account", &[("If-None-Match", value)]).await;
        assert_eq!(reply.status, 304, "If-None-Match: {value}");
    }

    let not_matching = [
        "\"other\"".to_owned(),
        opaque.clone(),
        format!("w/{tag}"),
        format!("\"{}\"", opaque.to_uppercase()),
        format!("bare, {tag}"),
        String::new(),
    ];
    for value in &not_matching {
        let reply = get_full(&client, &api, "/v1/account", &[("If-None-Match", value)]).await;
        assert_eq!(reply.status, 200, "If-None-Match: {value}");
        assert_eq!(reply.header("etag"), Some(tag.as_str()), "If-None-Match: {value}");
    }

    let two_fields = [("If-None-Match", "\"other\""), ("If-None-Match", tag.as_str())];
    assert_eq!(get_full(&client, &api, "/v1/account", &two_fields).await.status, 304);
}

#[tokio::test]
async fn entity_tag_follows_world_changes() {
    let api = start().await;
    let client = client();
    let path = "/v1/domains/example.com/records";
    let old_tag = get_full(&client, &api, path, &[]).await.header("etag").unwrap().to_owned();

    api.with_world(|world| world.records_mut("example.com")[0]["ttl"] = json!(600));
    let changed = get_full(&client, &api, path, &[("If-None-Match", &old_tag)]).await;
    let new_tag = changed.header("etag").unwrap().to_owned();

    assert_eq!(changed.status, 200);
    assert_ne!(new_tag, old_tag);
    assert_eq!(serde_json::from_slice::<Value>(&changed.body).unwrap()["records"][0]["ttl"], 600);
    assert_eq!(get_full(&client, &api, path, &[("If-None-Match", &new_tag)]).await.status, 304);
}

#[tokio::test]
async fn last_modified_on_payment_methods() {
    let api = start().await;
    let client = client();
    let path = "/v1/billing/payment-methods";

    let first = get_full(&client, &api, path, &[]).await;
    let first_date = http_date(&first);
    let first_text = first.header("last-modified").unwrap().to_owned();
    assert_eq!(first.status, 200);
    assert_eq!(first.header("etag"), None);
    assert_eq!(http_date(&get_full(&client, &api, path, &[]).await), first_date);

    let cached = get_full(&client, &api, path, &[("If-Modified-Since", &first_text)]).await;
    assert_eq!(cached.status, 304);
    assert!(cached.body.is_empty());
    assert_eq!(cached.header("last-modified"), Some(first_text.as_str()));

    let later = httpdate::fmt_http_date(first_date + Duration::from_secs(60));
    assert_eq!(get_full(&client, &api, path, &[("If-Modified-Since", &later)]).await.status, 304);
    let earlier = httpdate::fmt_http_date(first_date - Duration::from_secs(1));
    assert_eq!(get_full(&client, &api, path, &[("If-Modified-Since", &earlier)]).await.status, 200);
    assert_eq!(get_full(&client, &api, path, &[("If-Modified-Since", "yesterday")]).await.status, 200);
    let with_tag = [("If-Modified-Since", first_text.as_str()), ("If-None-Match", "\"other\"")];
    assert_eq!(get_full(&client, &api, path, &with_tag).await.status, 200, "If-None-Match takes precedence");
    assert_eq!(get_full(&client, &api, path, &[("If-None-Match", "*")]).await.status, 304);

    api.with_world(|world| world.payment_methods[0]["expMonth"] = json!(1));
    let second = get_full(&client, &api, path, &[("If-Modified-Since", &first_text)]).await;
    api.with_world(|world| world.payment_methods[0]["expMonth"] = json!(2));
    let third = get_full(&client, &api, path, &[]).await;

    assert_eq!(second.status, 200);
    assert!(http_date(&second) > first_date);
    assert!(http_date(&third) > http_date(&second), "two changes within a second get distinct dates");
    let third_text = third.header("last-modified").unwrap();
    assert_eq!(get_full(&client, &api, path, &[("If-Modified-Since", third_text)]).await.status, 304);
}

#[tokio::test]
async fn last_modified_per_target_and_first_appearance() {
    let api = start().await;
    let client = client();
    let page_one = "/v1/billing/payment-methods?per_page=1&page=1";
    let page_two = "/v1/billing/payment-methods?per_page=1&page=2";
    let one_before = http_date(&get_full(&client, &api, page_one, &[]).await);
    let two_before = http_date(&get_full(&client, &api, page_two, &[]).await);

    tokio::time::sleep(Duration::from_millis(1_100)).await;
    api.with_world(|world| world.payment_methods[1]["expYear"] = json!(2040));
    let one_after = http_date(&get_full(&client, &api, page_one, &[]).await);
    let two_after = http_date(&get_full(&client, &api, page_two, &[]).await);

    assert_eq!(one_after, one_before, "an unchanged body keeps the date it first appeared");
    assert!(two_after > two_before);
    assert!(two_after >= one_before + Duration::from_secs(1));
}

#[tokio::test]
async fn validators_switch_and_faults() {
    let api = start().await;
    let client = client();
    let any = [("If-None-Match", "*")];

    api.set_validators(false);
    let plain = get_full(&client, &api, "/v1/account", &any).await;
    let methods = get_full(&client, &api, "/v1/billing/payment-methods", &any).await;
    assert_eq!(plain.status, 200);
    assert_eq!(plain.header("etag"), None);
    assert_eq!(methods.status, 200);
    assert_eq!(methods.header("last-modified"), None);

    api.set_validators(true);
    assert_eq!(get_full(&client, &api, "/v1/account", &any).await.status, 304);

    api.add_fault(Fault::status("/v1/account", 503).once());
    assert_eq!(get_full(&client, &api, "/v1/account", &any).await.status, 503);

    api.add_fault(Fault::new("/v1/account", FaultKind::MalformedJson).once());
    let malformed = get_full(&client, &api, "/v1/account", &any).await;
    assert_eq!(malformed.status, 200);
    assert_eq!(malformed.header("etag"), None);
    assert!(serde_json::from_slice::<Value>(&malformed.body).is_err());

    let missing = get_full(&client, &api, "/v1/services/svc_missing", &any).await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.header("etag"), None);
    let unauthorized = client.get(format!("{}/v1/account", api.base_url())).header("If-None-Match", "*");
    assert_eq!(send(unauthorized).await.status, 401);
}

/// Builds a client that neither sends `Accept-Encoding` nor decodes gzip, so tests see the
/// bytes on the wire.
fn raw_client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().no_gzip().build().expect("client builds")
}

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];

#[tokio::test]
async fn gzip_when_accepted() {
    let api = start().await;
    let accept_gzip = [("Accept-Encoding", "gzip")];

    let identity = get_full(&raw_client(), &api, "/v1/domains", &[]).await;
    let compressed = get_full(&raw_client(), &api, "/v1/domains", &accept_gzip).await;
    let other_codings = get_full(&raw_client(), &api, "/v1/domains", &[("Accept-Encoding", "br, deflate")]).await;
    let decoded = get_full(&client(), &api, "/v1/domains", &[]).await;

    assert_eq!(identity.header("content-encoding"), None);
    assert_eq!(compressed.header("content-encoding"), Some("gzip"));
    assert_eq!(compressed.header("vary"), Some("accept-encoding"));
    assert!(compressed.body.starts_with(GZIP_MAGIC));
    assert_ne!(compressed.body, identity.body);
    assert_eq!(other_codings.header("content-encoding"), None);
    assert_eq!(decoded.body, identity.body);
    let sent = api.requests().last().and_then(|request| request.header("accept-encoding").map(str::to_owned));
    assert!(sent.is_some_and(|value| value.contains("gzip")), "reqwest asks for gzip");

    let account = get_full(&raw_client(), &api, "/v1/account", &accept_gzip).await;
    let account_identity = get_full(&raw_client(), &api, "/v1/account", &[]).await;
    assert_eq!(account.header("content-encoding"), Some("gzip"));
    assert_eq!(account.header("etag"), account_identity.header("etag"), "the tag is the digest of the decoded body");
}

#[tokio::test]
async fn body_faults_with_gzip() {
    let api = start().await;
    let accept_gzip = [("Accept-Encoding", "gzip")];

    api.add_fault(Fault::new("/v1/domains", FaultKind::Oversize { bytes: 200_000 }).once());
    let oversize = get_full(&raw_client(), &api, "/v1/domains", &accept_gzip).await;
    assert_eq!(oversize.header("content-encoding"), None);
    assert_eq!(oversize.header("content-length"), Some("200000"));
    assert_eq!(oversize.body.len(), 200_000);

    let full = get_full(&raw_client(), &api, "/v1/domains", &[]).await.body;
    api.add_fault(Fault::new("/v1/domains", FaultKind::MalformedJson).once());
    let malformed = get_full(&raw_client(), &api, "/v1/domains", &accept_gzip).await;
    assert_eq!(malformed.header("content-encoding"), Some("gzip"));
    api.add_fault(Fault::new("/v1/domains", FaultKind::MalformedJson).once());
    let malformed = get_full(&client(), &api, "/v1/domains", &[]).await;
    assert_eq!(malformed.status, 200);
    assert_eq!(malformed.body, full[..full.len() / 2]);

    for client in [raw_client(), client()] {
        api.add_fault(Fault::new("/v1/domains", FaultKind::DropConnection).once());
        let request = client.get(format!("{}/v1/domains", api.base_url())).bearer_auth(api.api_key());
        let mut response = request.header("Accept-Encoding", "gzip").send().await.expect("headers arrive");
        assert_eq!(response.headers().get("content-encoding"), None);
        let declared = response.headers().get("content-length").map(|value| value.to_str().unwrap().to_owned());
        assert_eq!(declared, Some(full.len().to_string()));

        let mut received = Vec::new();
        let failure = loop {
            match response.chunk().await {
                Ok(Some(chunk)) => received.extend_from_slice(&chunk),
                Ok(None) => break None,
                Err(error) => break Some(error),
            }
        };
        assert!(failure.is_some(), "a dropped connection must fail the body read");
        assert_eq!(received, full[..full.len() / 2], "the first half of the body arrives uncompressed");
    }
}

#[test]
fn scripted_records_look_generated() {
    let mut world = World::generate(&DataSize::default(), 7);
    let generated: Vec<Value> = world.records.values().flatten().cloned().collect();

    world.apply_scripted_changes();

    let added: Vec<&Value> = world.records.values().flatten().filter(|record| !generated.contains(record)).collect();
    assert!(added.len() >= 3, "{added:?}");
    for record in added {
        let id = record["id"].as_str().unwrap();
        assert!(id.starts_with("rec_"), "{id}");
    }
}
