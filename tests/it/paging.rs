//! Paging: server caps, missing `meta`, endpoints that ignore `page`, repeated pages and short
//! listings.

use omega_sync::fake::{FakeConfig, Fault, FaultKind};
use serde_json::json;

use crate::support::{Env, count};

async fn env_with_cap(cap: u32) -> Env {
    Env::with_config(FakeConfig { per_page_cap: cap, ..FakeConfig::default() }).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_caps_followed() {
    for cap in [1, 7] {
        let env = env_with_cap(cap).await;
        let (services, tickets) = env.fake.with_world(|world| (world.services.len(), world.tickets.len()));

        env.sync(&["--per-page", "100"]).await.assert_success();

        let db = env.db();
        assert_eq!(count(&db, "SELECT count(*) FROM services") as usize, services, "cap {cap}");
        assert_eq!(count(&db, "SELECT count(*) FROM tickets") as usize, tickets, "cap {cap}");
        assert_eq!(env.requests_to("/v1/services"), services.div_ceil(cap as usize), "cap {cap}");
        assert_eq!(env.requests_to("/v1/tickets"), tickets.div_ceil(cap as usize), "cap {cap}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_per_page_one() {
    let env = Env::start().await;
    let invoices = env.fake.with_world(|world| world.invoices.len());

    env.sync(&["--per-page", "1", "--only", "invoices"]).await.assert_success();

    assert_eq!(count(&env.db(), "SELECT count(*) FROM invoices") as usize, invoices);
    assert_eq!(env.requests_to("/v1/billing/invoices"), invoices);
    let queries: Vec<String> = env.fake.requests().into_iter().filter_map(|r| r.query).collect();
    assert!(queries.iter().any(|query| query.contains("per_page=1")), "{queries:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_without_meta_is_one_page() {
    let env = Env::start().await;
    env.fake.add_fault(Fault::new("/v1/domains", FaultKind::NoMeta));
    let domains = env.fake.with_world(|world| world.domains.len());

    env.sync(&["--only", "domains"]).await.assert_success();

    assert_eq!(env.requests_to("/v1/domains"), 1);
    assert_eq!(count(&env.db(), "SELECT count(*) FROM domains") as usize, domains);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignored_page_costs_at_most_two_requests() {
    let env = Env::start().await;
    env.fake.add_fault(Fault::new("/v1/billing/invoices", FaultKind::IgnorePage));
    let invoices = env.fake.with_world(|world| world.invoices.len());

    env.sync(&["--only", "invoices", "--per-page", "7"]).await.assert_success();

    assert!(env.requests_to("/v1/billing/invoices") <= 2);
    assert_eq!(count(&env.db(), "SELECT count(*) FROM invoices") as usize, invoices);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_page_is_an_error() {
    let env = Env::start().await;
    env.fake.add_fault(Fault::new("/v1/tickets", FaultKind::RepeatFirstPage));
    let tickets = env.fake.with_world(|world| world.tickets.len());

    let run = env.sync(&["--only", "tickets", "--per-page", "5"]).await;

    assert_eq!(run.code, 1, "{}", run.output());
    assert!(run.stderr.contains("page 2 repeats the items of page 1"), "{}", run.stderr);
    assert!(env.requests_to("/v1/tickets") <= tickets.div_ceil(5));
    let status: String = env
        .db()
        .query_row("SELECT status FROM sync_run_resources WHERE resource = 'tickets'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(status, "failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_listing_reported_incomplete() {
    let env = Env::start().await;
    let domains = env.fake.with_world(|world| world.domains.clone());
    let body = json!({ "data": domains, "meta": { "page": 1, "perPage": 100, "total": domains.len() + 3 } });
    env.fake.add_fault(
        Fault::new(
            "/v1/domains",
            FaultKind::Body { status: 200, body: body.to_string(), content_type: "application/json".into() },
        )
        .with_page(1),
    );

    let run = env.sync(&["--only", "domains"]).await;

    assert_eq!(run.code, 1, "{}", run.output());
    let expected = format!("page 2 was empty; received {} of {} domains", domains.len(), domains.len() + 3);
    assert!(run.stderr.contains(&expected), "{}", run.stderr);
    assert!(run.stderr.contains("no deletions inferred for domains"), "{}", run.stderr);
    let (status, complete): (String, i64) = env
        .db()
        .query_row("SELECT status, complete FROM sync_run_resources WHERE resource = 'domains'", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(status, "incomplete");
    assert_eq!(complete, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreported_server_cap_followed() {
    let env = Env::start().await;
    let (tickets, ids) = env
        .fake
        .with_world(|world| (world.tickets.clone(), world.tickets.iter().map(|t| t["id"].clone()).collect::<Vec<_>>()));
    // The server returns 5 items per page but reports the requested perPage of 100.
    for (index, chunk) in tickets.chunks(5).enumerate() {
        let body = json!({ "data": chunk, "meta": { "page": index + 1, "perPage": 100, "total": tickets.len() } });
        env.fake.add_fault(
            Fault::new(
                "/v1/tickets",
                FaultKind::Body { status: 200, body: body.to_string(), content_type: "application/json".into() },
            )
            .with_page(index as u32 + 1),
        );
    }

    env.sync(&["--only", "tickets"]).await.assert_success();

    assert_eq!(count(&env.db(), "SELECT count(*) FROM tickets") as usize, ids.len());
    assert_eq!(env.requests_to("/v1/tickets"), tickets.len().div_ceil(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_pages_end_listing() {
    let env = Env::start().await;
    let first = json!({ "data": [{"id": "tkt_only", "subject": "s", "status": "open", "priority": "low"}],
                        "meta": { "page": 1, "perPage": 1, "total": 5000 } });
    let rest = json!({ "data": [], "meta": { "page": 2, "perPage": 1, "total": 5000 } });
    let body = |value: &serde_json::Value| FaultKind::Body {
        status: 200,
        body: value.to_string(),
        content_type: "application/json".into(),
    };
    env.fake.add_fault(Fault::new("/v1/tickets", body(&first)).with_page(1));
    env.fake.add_fault(Fault::new("/v1/tickets", body(&rest)));

    let run = env.sync(&["--only", "tickets", "--per-page", "1"]).await;

    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("was empty; received 1 of 5000 tickets"), "{}", run.stderr);
    assert!(env.requests_to("/v1/tickets") < 100, "{} requests", env.requests_to("/v1/tickets"));
}
