//! HTTPS against a fake API whose certificate comes from the private test CA in
//! `tests/fixtures/tls`: `--ca-cert` makes the sync trust it, and the connection uses HTTP/2.

use omega_sync::fake::{FakeConfig, FakeTls};

use crate::support::{Env, KEY, count, omega, strings};

const CA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls/ca.pem");

/// Starts a fake API that serves HTTPS with the fixture server certificate.
async fn tls_env() -> Env {
    let tls = FakeTls {
        cert_chain_pem: include_bytes!("../fixtures/tls/server.pem").to_vec(),
        private_key_pem: include_bytes!("../fixtures/tls/server.key").to_vec(),
    };
    let env = Env::with_config(FakeConfig { tls: Some(tls), ..FakeConfig::default() }).await;
    let url = env.fake.base_url();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_ca_trusted_over_http2() {
    let env = tls_env().await;

    let run = env.sync(&["--ca-cert", CA]).await;

    run.assert_success();
    let requests = env.fake.requests();
    assert!(requests.iter().any(|request| request.path == "/v1/account"), "{requests:?}");
    for request in &requests {
        assert_eq!(request.version, "HTTP/2.0", "{} {}", request.method, request.path);
    }
    let db = env.db();
    assert_eq!(count(&db, "SELECT count(*) FROM sync_run_resources WHERE status <> 'succeeded'"), 0);
    assert!(count(&db, "SELECT count(*) FROM services") > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_ca_names_ca_cert() {
    let env = tls_env().await;

    let run = env.sync(&[]).await;

    assert_eq!(run.code, 1, "{}", run.output());
    assert!(run.stderr.contains("GET /v1/account: connection failed"), "{}", run.stderr);
    assert!(run.stderr.contains("invalid peer certificate: UnknownIssuer"), "{}", run.stderr);
    assert!(run.stderr.contains("add that CA with --ca-cert FILE (PEM)"), "{}", run.stderr);
    // Another attempt would meet the same certificate.
    assert!(run.stdout.contains("1 requests, 0 retries"), "{}", run.stdout);
    assert!(env.fake.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_push_stays_pending() {
    let env = tls_env().await;
    env.sync(&["--ca-cert", CA]).await.assert_success();
    let db = env.db.to_str().unwrap();
    omega(&["queue", "--db", db, "ticket", "--subject", "Hello", "--body", "World"], &[]).await.assert_success();
    let url = env.fake.base_url();
    env.fake.clear_requests();

    let untrusted = omega(&["push", "--api-url", &url, "--db", db], &[("OMEGA_API_KEY", KEY)]).await;

    // No handshake succeeded, so the ticket was never sent and needs no check before the next push.
    assert_eq!(untrusted.code, 1, "{}", untrusted.output());
    assert!(untrusted.output().contains("add that CA with --ca-cert FILE"), "{}", untrusted.output());
    assert!(env.fake.requests().is_empty());
    assert_eq!(strings(&env.db(), "SELECT status || ' ' || attempts FROM outbox"), vec!["pending 0"]);

    let trusted = omega(&["push", "--api-url", &url, "--db", db, "--ca-cert", CA], &[("OMEGA_API_KEY", KEY)]).await;

    trusted.assert_success();
    assert_eq!(strings(&env.db(), "SELECT status FROM outbox"), vec!["done"]);
    let posts: Vec<_> = env.fake.requests().into_iter().filter(|request| request.method == "POST").collect();
    assert_eq!(posts.len(), 1, "{posts:?}");
}
