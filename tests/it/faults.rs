//! Retries and failures: rate limits, server errors, malformed bodies.

use std::time::Instant;

use omega_sync::fake::{Fault, FaultKind};
use serde_json::Value;

use crate::support::{Env, count, snapshot, strings};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_retried_after_wait() {
    let env = Env::start().await;
    env.fake.add_fault(Fault::rate_limit("/v1/billing/payment-methods", "2").once());
    let started = Instant::now();

    let run = env.sync(&["--only", "payment-methods", "-v"]).await;

    run.assert_success();
    assert!(started.elapsed().as_secs_f64() >= 2.0);
    assert_eq!(env.requests_to("/v1/billing/payment-methods"), 2);
    assert!(run.stderr.contains("retrying GET /v1/billing/payment-methods"), "{}", run.stderr);
    assert!(run.stderr.contains("delay_ms=2000"), "{}", run.stderr);
    assert!(count(&env.db(), "SELECT count(*) FROM payment_methods") > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_unavailable_retried() {
    let env = Env::start().await;
    env.fake.add_fault(Fault::status("/v1/domains", 503).once());

    env.sync(&["--only", "domains"]).await.assert_success();

    assert_eq!(env.requests_to("/v1/domains"), 2);
    assert!(count(&env.db(), "SELECT count(*) FROM domains") > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_error_not_retried() {
    let env = Env::start().await;
    env.fake.add_fault(Fault::status("/v1/domains", 403));

    let run = env.sync(&["--only", "domains"]).await;

    assert_eq!(run.code, 1);
    assert_eq!(env.requests_to("/v1/domains"), 1);
    assert!(run.stderr.contains("GET /v1/domains?page=1&per_page=100: HTTP 403: Forbidden"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_error_fails_one_resource() {
    let env = Env::start().await;
    env.sync(&[]).await.assert_success();
    let invoices_before: Vec<String> =
        snapshot(&env.db()).into_iter().filter(|row| row.starts_with("invoice")).collect();
    env.fake.with_world(|world| {
        world.invoices[0]["status"] = Value::from("void");
        world.ticket_mut("tkt_01JRTICKET").unwrap()["subject"] = Value::from("Solved by rollback");
    });
    env.fake.add_fault(Fault::status("/v1/billing/invoices", 500));
    env.fake.clear_requests();

    let run = env.sync(&["--max-attempts", "2"]).await;

    assert_eq!(run.code, 1, "{}", run.output());
    assert!(run.stderr.contains("GET /v1/billing/invoices?page=1&per_page=100: HTTP 500"), "{}", run.stderr);
    assert!(run.stdout.contains("not stored in full: invoices"), "{}", run.stdout);
    let db = env.db();
    let invoices_after: Vec<String> = snapshot(&db).into_iter().filter(|row| row.starts_with("invoice")).collect();
    assert_eq!(invoices_after, invoices_before);
    assert_eq!(strings(&db, "SELECT subject FROM tickets WHERE id = 'tkt_01JRTICKET'"), vec!["Solved by rollback"]);
    assert_eq!(strings(&db, "SELECT status FROM sync_runs WHERE id = 2"), vec!["partial"]);
    assert_eq!(env.requests_to("/v1/billing/invoices"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_names_endpoint_and_page() {
    let env = Env::start().await;
    env.fake.add_fault(Fault::new("/v1/services", FaultKind::MalformedJson).with_page(2));

    let run = env.sync(&["--only", "services", "--per-page", "5"]).await;

    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("GET /v1/services?page=2&per_page=5: invalid JSON"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_page_with_200_rejected() {
    let env = Env::start().await;
    env.fake.add_fault(Fault::new("/v1/tickets", FaultKind::HtmlError { status: 200 }));

    let run = env.sync(&["--only", "tickets"]).await;

    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("GET /v1/tickets?page=1&per_page=100: expected a JSON response but got text/html"),
        "{}",
        run.stderr
    );
    assert_eq!(count(&env.db(), "SELECT count(*) FROM tickets"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_gateway_error_retried_then_reported() {
    let env = Env::start().await;
    env.fake.add_fault(Fault::new("/v1/tickets", FaultKind::HtmlError { status: 502 }));

    let run = env.sync(&["--only", "tickets", "--max-attempts", "2"]).await;

    assert_eq!(run.code, 1);
    assert_eq!(env.requests_to("/v1/tickets"), 2);
    assert!(run.stderr.contains("GET /v1/tickets?page=1&per_page=100: HTTP 502: "), "{}", run.stderr);
    assert!(run.stderr.contains("Bad Gateway"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connection_retried() {
    let env = Env::start().await;
    env.fake.add_fault(Fault::new("/v1/domains", FaultKind::DropConnection).once());

    env.sync(&["--only", "domains"]).await.assert_success();

    assert_eq!(env.requests_to("/v1/domains"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_body_rejected() {
    let env = Env::start().await;
    env.fake.add_fault(Fault::new("/v1/tickets", FaultKind::Oversize { bytes: 64 * 1024 }));

    let run = env.sync(&["--only", "tickets", "--max-response-bytes", "32768"]).await;

    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("larger than the 32768 byte limit"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_field_type_stored_as_null() {
    let env = Env::start().await;
    env.fake.with_world(|world| {
        world.records.get_mut("example.com").unwrap()[0]["ttl"] = Value::from("300");
    });

    let run = env.sync(&["--only", "dns-records"]).await;

    assert_eq!(run.code, 1, "a value that does not fit its column makes the resource incomplete");
    assert!(run.stderr.contains("GET /v1/domains/example.com/records"), "{}", run.stderr);
    assert!(run.stderr.contains("\"ttl\": expected an integer, got \"300\""), "{}", run.stderr);
    let db = env.db();
    assert_eq!(count(&db, "SELECT count(*) FROM dns_records WHERE domain_id = 'dom_01JRXYZ'"), 3);
    assert_eq!(
        strings(
            &db,
            "SELECT coalesce(ttl, 'NULL') || ' ' || json_extract(raw_json, '$.ttl') FROM dns_records WHERE id = 'rec_01'"
        ),
        vec!["NULL 300"]
    );
    assert_eq!(
        strings(&db, "SELECT status FROM sync_run_resources WHERE resource = 'dns-records'"),
        vec!["incomplete"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_without_id_skipped_others_kept() {
    let env = Env::start().await;
    let tickets = env.fake.with_world(|world| {
        world.tickets[0]["id"] = Value::Null;
        world.tickets.len() as i64
    });

    let run = env.sync(&["--only", "tickets"]).await;

    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("field \"id\": expected a non-empty string, got null; the item was skipped"),
        "{}",
        run.stderr
    );
    assert_eq!(count(&env.db(), "SELECT count(*) FROM tickets"), tickets - 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_failure_fails_run() {
    let env = Env::start().await;
    env.fake.add_fault(Fault::status("/v1/account", 401));

    let run = env.sync(&[]).await;

    assert_eq!(run.code, 2, "a rejected key is a configuration error");
    assert!(run.stderr.contains("the account could not be fetched"), "{}", run.stderr);
    assert!(run.stderr.contains("GET /v1/account: HTTP 401"), "{}", run.stderr);
    assert!(run.stderr.contains("check the API key"), "{}", run.stderr);
    assert_eq!(env.fake.requests().len(), 1);
    let db = env.db();
    assert_eq!(strings(&db, "SELECT status FROM sync_runs"), vec!["failed"]);
    assert_eq!(strings(&db, "SELECT resource || ' ' || status FROM sync_run_resources"), vec!["account failed"]);
}

/// Runs a first invoice listing of one invoice per page, so that pages 2 to 30 are requested
/// together, and returns the most requests the fake had in flight after its response to page 1.
async fn invoice_pages_in_flight(env: &Env) -> usize {
    env.fake.set_latency(std::time::Duration::from_millis(100));
    env.sync(&["--only", "invoices", "--per-page", "1", "--concurrency", "4"]).await.assert_success();
    let requests = env.fake.requests();
    let first_page = requests.iter().position(|request| request.status == 200).expect("the fake served page 1");
    requests[first_page + 1..].iter().map(|request| request.in_flight).max().expect("more pages were requested")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_used_without_rate_limit() {
    let env = Env::start().await;

    assert!(invoice_pages_in_flight(&env).await >= 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_lowers_concurrency() {
    let env = Env::start().await;
    // Three 429s on page 1 take concurrency from 4 to 1 before any other page is requested.
    env.fake.add_fault(Fault::rate_limit("/v1/billing/invoices", "0").with_times(3));

    let in_flight = invoice_pages_in_flight(&env).await;

    assert_eq!(env.fake.requests().iter().filter(|request| request.status == 429).count(), 3);
    assert_eq!(in_flight, 1);
}
