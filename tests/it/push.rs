//! Queue and push: every edit kind end to end, dry runs, API errors, lost responses, conflicts
//! and destroy safeguards, checked against the fake API's request log and world.

use std::time::Duration;

use omega_sync::fake::{Fault, FaultKind, sample_ed25519_public_key};
use serde_json::json;

use crate::support::{Env, KEY, count, omega, strings};

/// Runs `omega-sync queue ...` against the test archive.
async fn queue(env: &Env, args: &[&str]) -> crate::support::Run {
    let mut full = vec!["queue", "--db", env.db.to_str().unwrap()];
    full.extend_from_slice(args);
    omega(&full, &[]).await
}

/// Runs `omega-sync push ...` against the fake API and the test archive.
async fn push(env: &Env, args: &[&str]) -> crate::support::Run {
    let url = env.fake.base_url();
    let mut full = vec!["push", "--api-url", &url, "--db", env.db.to_str().unwrap()];
    full.extend_from_slice(args);
    omega(&full, &[("OMEGA_API_KEY", KEY)]).await
}

async fn synced() -> Env {
    let env = Env::start().await;
    env.sync(&[]).await.assert_success();
    env
}

fn mutating_requests(env: &Env) -> Vec<String> {
    env.fake
        .requests()
        .into_iter()
        .filter(|request| request.method != "GET")
        .map(|request| format!("{} {}", request.method, request.path))
        .collect()
}

fn fake_records_named(env: &Env, name: &str) -> usize {
    env.fake.with_world(|world| world.records("example.com").iter().filter(|record| record["name"] == name).count())
}

fn outbox_status(env: &Env, id: i64) -> String {
    strings(&env.db(), &format!("SELECT status FROM outbox WHERE id = {id}")).remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_applied_and_archived() {
    let env = synced().await;
    let key_file = env.dir.path().join("id.pub");
    std::fs::write(&key_file, format!("{}\n", sample_ed25519_public_key(7))).unwrap();
    let doomed = env.fake.with_world(|world| world.services[3]["id"].as_str().unwrap().to_string());
    let runner = env.fake.with_world(|world| {
        world.services.iter().find(|s| s["status"] == "running").unwrap()["id"].as_str().unwrap().to_string()
    });

    for args in [
        vec![
            "dns-record",
            "example.com",
            "--type",
            "A",
            "--name",
            "staging",
            "--value",
            "198.51.100.99",
            "--ttl",
            "300",
        ],
        vec!["account", "--company", "New Corp"],
        vec!["ssh-key", "--label", "Push test laptop", "--public-key-file", key_file.to_str().unwrap()],
        vec![
            "ticket",
            "--subject",
            "Need help configuring Nginx",
            "--body",
            "502 after deploying",
            "--priority",
            "normal",
        ],
        vec!["reboot", &runner],
        vec!["destroy", &doomed, "--confirm", &doomed],
    ] {
        queue(&env, &args).await.assert_success();
    }

    let run = push(&env, &["--allow-destroy", "--wait"]).await;

    run.assert_success();
    assert_eq!(count(&env.db(), "SELECT count(*) FROM outbox WHERE status = 'done'"), 6, "{}", run.stdout);
    let db = env.db();
    assert_eq!(
        strings(&db, "SELECT value || ' ' || ttl FROM dns_records WHERE name = 'staging'"),
        vec!["198.51.100.99 300"]
    );
    assert_eq!(strings(&db, "SELECT company FROM accounts"), vec!["New Corp"]);
    assert_eq!(count(&db, "SELECT count(*) FROM ssh_keys WHERE label = 'Push test laptop'"), 1);
    assert_eq!(count(&db, "SELECT count(*) FROM tickets WHERE subject = 'Need help configuring Nginx'"), 1);
    assert_eq!(strings(&db, &format!("SELECT status FROM jobs WHERE service_id = '{runner}'")), vec!["succeeded"]);
    assert_eq!(
        count(&db, &format!("SELECT count(*) FROM services WHERE id = '{doomed}' AND deleted_at IS NOT NULL")),
        1
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM history WHERE outbox_id IS NOT NULL AND run_id IS NULL"),
        5,
        "one history row per archived result: record, account, key, ticket, destroyed service"
    );
    assert_eq!(fake_records_named(&env, "staging"), 1);
    env.fake.with_world(|world| {
        assert_eq!(world.account["company"], "New Corp");
        assert!(world.service(&doomed).is_none());
        assert!(world.ssh_keys.iter().any(|key| key["label"] == "Push test laptop"));
    });
    let destroy = env.fake.requests().into_iter().find(|request| request.method == "DELETE").unwrap();
    assert_eq!(destroy.header("x-confirm-destroy"), Some("yes"));
    assert!(env.fake.requests().iter().filter(|r| r.method != "GET").all(|r| r.header("idempotency-key").is_some()));

    // The next sync agrees with what push wrote and does not duplicate anything.
    env.sync(&[]).await.assert_success();
    assert_eq!(count(&env.db(), "SELECT count(*) FROM dns_records WHERE name = 'staging'"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_sends_nothing() {
    let env = synced().await;
    queue(&env, &["dns-record", "example.com", "--type", "A", "--name", "staging", "--value", "198.51.100.99"])
        .await
        .assert_success();
    queue(&env, &["account", "--company", "New Corp"]).await.assert_success();
    env.fake.clear_requests();

    let run = push(&env, &["--dry-run"]).await;

    run.assert_success();
    assert!(env.fake.requests().is_empty(), "{:?}", mutating_requests(&env));
    assert!(
        run.stdout
            .contains(r#"POST /v1/domains/example.com/records {"type":"A","name":"staging","value":"198.51.100.99"}"#),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains(r#"PUT /v1/account {"company":"New Corp"}"#), "{}", run.stdout);
    assert!(run.stdout.contains(r#"company: "Acme Inc." -> "New Corp""#), "{}", run.stdout);
    assert_eq!(count(&env.db(), "SELECT count(*) FROM outbox WHERE status = 'pending'"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_edit_fails_with_api_message() {
    let env = synced().await;
    let body = json!({"error": "validation_failed", "message": "record name staging is reserved"}).to_string();
    env.fake.add_fault(
        Fault::new(
            "/v1/domains/example.com/records",
            FaultKind::Status { status: 422, body, content_type: "application/json".into() },
        )
        .with_method("POST"),
    );
    queue(&env, &["dns-record", "example.com", "--type", "A", "--name", "staging", "--value", "198.51.100.99"])
        .await
        .assert_success();

    let run = push(&env, &[]).await;

    assert_eq!(run.code, 1);
    assert_eq!(outbox_status(&env, 1), "failed");
    let error = strings(&env.db(), "SELECT last_error FROM outbox WHERE id = 1").remove(0);
    assert!(error.contains("HTTP 422: record name staging is reserved"), "{error}");
    assert!(run.stderr.contains("record name staging is reserved"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unavailable_api_retried_next_push() {
    let env = synced().await;
    env.fake.add_fault(Fault::status("/v1/domains/example.com/records", 503).with_method("POST").once());
    queue(&env, &["dns-record", "example.com", "--type", "A", "--name", "staging", "--value", "198.51.100.99"])
        .await
        .assert_success();

    let first = push(&env, &[]).await;
    assert_eq!(first.code, 1);
    assert_eq!(outbox_status(&env, 1), "pending");
    let waits = strings(&env.db(), "SELECT next_attempt_at FROM outbox WHERE id = 1");
    assert_eq!(waits.len(), 1);
    let early = push(&env, &[]).await;
    assert!(early.stdout.contains("pending: waits until"), "{}", early.stdout);
    assert_eq!(fake_records_named(&env, "staging"), 0);

    // Time passes: the backoff is over.
    env.db().execute("UPDATE outbox SET next_attempt_at = '2000-01-01T00:00:00Z'", []).unwrap();
    let second = push(&env, &[]).await;

    second.assert_success();
    assert_eq!(outbox_status(&env, 1), "done");
    assert_eq!(fake_records_named(&env, "staging"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timed_out_create_not_duplicated() {
    let env = synced().await;
    env.fake.add_fault(
        Fault::new("/v1/domains/example.com/records", FaultKind::DelayResponse(Duration::from_secs(3)))
            .with_method("POST")
            .once(),
    );
    queue(&env, &["dns-record", "example.com", "--type", "A", "--name", "staging", "--value", "198.51.100.99"])
        .await
        .assert_success();

    let first = push(&env, &["--timeout", "1"]).await;

    assert_eq!(first.code, 1);
    assert_eq!(outbox_status(&env, 1), "in_flight");
    assert_eq!(fake_records_named(&env, "staging"), 1, "the fake created the record before the timeout");

    let second = push(&env, &[]).await;

    second.assert_success();
    assert_eq!(outbox_status(&env, 1), "done");
    assert_eq!(fake_records_named(&env, "staging"), 1);
    assert_eq!(mutating_requests(&env), vec!["POST /v1/domains/example.com/records"]);
    assert_eq!(count(&env.db(), "SELECT count(*) FROM dns_records WHERE name = 'staging'"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_send_not_duplicated() {
    let env = synced().await;
    env.fake.add_fault(
        Fault::new("/v1/account/ssh-keys", FaultKind::DelayResponse(Duration::from_secs(30)))
            .with_method("POST")
            .once(),
    );
    let key_file = env.dir.path().join("id.pub");
    std::fs::write(&key_file, sample_ed25519_public_key(9)).unwrap();
    queue(&env, &["ssh-key", "--label", "Crash test", "--public-key-file", key_file.to_str().unwrap()])
        .await
        .assert_success();
    let url = env.fake.base_url();

    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_omega-sync"))
        .args(["push", "--api-url", &url, "--db", env.db.to_str().unwrap()])
        .env("OMEGA_API_KEY", KEY)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..200 {
        if env.fake.with_world(|world| world.ssh_keys.iter().any(|key| key["label"] == "Crash test")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // SIGKILL: no chance to record anything after the request.
    child.kill().await.unwrap();
    assert_eq!(outbox_status(&env, 1), "in_flight");

    let second = push(&env, &[]).await;

    second.assert_success();
    let keys = env.fake.with_world(|world| world.ssh_keys.iter().filter(|key| key["label"] == "Crash test").count());
    assert_eq!(keys, 1);
    assert_eq!(mutating_requests(&env), vec!["POST /v1/account/ssh-keys"]);
    assert_eq!(count(&env.db(), "SELECT count(*) FROM ssh_keys WHERE label = 'Crash test'"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicting_account_update_not_sent() {
    let env = synced().await;
    queue(&env, &["account", "--company", "New Corp"]).await.assert_success();
    env.fake.with_world(|world| world.account["company"] = json!("Changed Elsewhere Ltd"));

    let run = push(&env, &[]).await;

    assert_eq!(run.code, 1);
    assert_eq!(outbox_status(&env, 1), "conflict");
    assert!(run.stdout.contains(r#"company: "Acme Inc." -> "Changed Elsewhere Ltd""#), "{}", run.stdout);
    assert!(mutating_requests(&env).is_empty());

    push(&env, &["--force"]).await.assert_success();
    assert_eq!(outbox_status(&env, 1), "done");
    assert_eq!(env.fake.with_world(|world| world.account["company"].clone()), json!("New Corp"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destroy_needs_confirmation_and_flag() {
    let env = synced().await;
    let id = env.fake.with_world(|world| world.services[2]["id"].as_str().unwrap().to_string());
    let mismatch = queue(&env, &["destroy", &id, "--confirm", "svc_other"]).await;
    assert_eq!(mismatch.code, 2);
    queue(&env, &["destroy", &id, "--confirm", &id]).await.assert_success();
    env.db().execute("INSERT INTO outbox (kind, target) VALUES ('service.destroy', ?1)", [&id]).unwrap();

    let without_flag = push(&env, &[]).await;
    assert_eq!(without_flag.code, 1);
    assert!(without_flag.stdout.contains("needs `push --allow-destroy`"), "{}", without_flag.stdout);
    assert!(without_flag.stdout.contains("was not confirmed"), "{}", without_flag.stdout);
    assert_eq!(outbox_status(&env, 1), "pending");
    assert_eq!(outbox_status(&env, 2), "failed", "an unconfirmed destroy inserted by SQL is never sent");
    assert!(mutating_requests(&env).is_empty());

    let with_flag = push(&env, &["--allow-destroy"]).await;

    with_flag.assert_success();
    assert_eq!(outbox_status(&env, 1), "done");
    assert_eq!(mutating_requests(&env), vec![format!("DELETE /v1/services/{id}")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_inserted_bad_payload_fails() {
    let env = synced().await;
    env.db()
        .execute(
            "INSERT INTO outbox (kind, target, payload) VALUES ('dns_record.create', 'example.com', ?1)",
            [json!({"type": "A", "name": "x", "value": "not-an-ip"}).to_string()],
        )
        .unwrap();

    let run = push(&env, &[]).await;

    assert_eq!(run.code, 1);
    assert_eq!(outbox_status(&env, 1), "failed");
    let error = strings(&env.db(), "SELECT last_error FROM outbox").remove(0);
    assert!(error.starts_with("payload.value:"), "{error}");
    assert!(error.contains("not-an-ip"), "{error}");
    assert!(mutating_requests(&env).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_rows_rejected_at_insert() {
    let env = synced().await;
    let db = env.db();

    for (kind, target, payload) in [
        ("dns_record.delete", Some("example.com"), "{}"),
        ("dns_record.create", None, "{}"),
        ("ticket.create", None, "not json"),
        ("ticket.create", None, "[1, 2]"),
        ("account.update", Some("acc"), "{}"),
    ] {
        let result = db.execute(
            "INSERT INTO outbox (kind, target, payload) VALUES (?1, ?2, ?3)",
            rusqlite::params![kind, target, payload],
        );
        assert!(result.is_err(), "{kind} {target:?} {payload} was accepted");
    }
    assert!(db.execute("INSERT INTO outbox (kind, payload, confirmed) VALUES ('ticket.create', '{}', 1)", []).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_edit_rejected_at_queue_time() {
    let env = synced().await;

    let bad_ip =
        queue(&env, &["dns-record", "example.com", "--type", "A", "--name", "x", "--value", "999.1.1.1"]).await;
    let mx =
        queue(&env, &["dns-record", "example.com", "--type", "MX", "--name", "@", "--value", "mail.example.com"]).await;
    let missing_domain =
        queue(&env, &["dns-record", "nope.example", "--type", "A", "--name", "x", "--value", "198.51.100.1"]).await;
    let bad_service = queue(&env, &["reboot", "svc_missing"]).await;

    for run in [&bad_ip, &mx, &missing_domain, &bad_service] {
        assert_eq!(run.code, 2, "{}", run.output());
    }
    assert!(bad_ip.stderr.contains("payload.value"), "{}", bad_ip.stderr);
    assert!(mx.stderr.contains("priority"), "{}", mx.stderr);
    assert!(missing_domain.stderr.contains("not in the archive"), "{}", missing_domain.stderr);
    assert!(bad_service.stderr.contains("service \"svc_missing\" is not in the archive"), "{}", bad_service.stderr);
    assert_eq!(count(&env.db(), "SELECT count(*) FROM outbox"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_to_push_exit_code() {
    let env = synced().await;

    let run = push(&env, &[]).await;

    assert_eq!(run.code, 3);
    assert!(run.stdout.contains("nothing to push"), "{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_list_and_cancel() {
    let env = synced().await;
    queue(&env, &["ticket", "--subject", "Hello", "--body", "World"]).await.assert_success();

    let listed = queue(&env, &["list"]).await;
    let cancelled = queue(&env, &["cancel", "1"]).await;
    let again = queue(&env, &["cancel", "1"]).await;

    assert!(listed.stdout.contains("#1     pending    ticket.create"), "{}", listed.stdout);
    cancelled.assert_success();
    assert_eq!(outbox_status(&env, 1), "cancelled");
    assert_eq!(again.code, 2);
    assert_eq!(push(&env, &[]).await.code, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfinished_job_polled_by_next_push() {
    let env = synced().await;
    let runner = env.fake.with_world(|world| {
        world.services.iter().find(|s| s["status"] == "running").unwrap()["id"].as_str().unwrap().to_string()
    });
    queue(&env, &["reboot", &runner]).await.assert_success();

    push(&env, &[]).await.assert_success();
    let job = strings(&env.db(), "SELECT id || ' ' || status || ' ' || coalesce(finished_at, 'open') FROM jobs");
    assert_eq!(job.len(), 1);
    assert!(job[0].ends_with("open"), "{job:?}");

    let mut statuses = Vec::new();
    for _ in 0..3 {
        assert_eq!(push(&env, &[]).await.code, 3);
        statuses.push(strings(&env.db(), "SELECT status FROM jobs").remove(0));
    }

    assert_eq!(statuses.last().map(String::as_str), Some("succeeded"), "{statuses:?}");
    assert_eq!(count(&env.db(), "SELECT count(*) FROM jobs WHERE finished_at IS NOT NULL"), 1);
    assert_eq!(mutating_requests(&env), vec![format!("POST /v1/services/{runner}/reboot")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_account_edit_sees_first() {
    let env = synced().await;
    queue(&env, &["account", "--company", "New Corp"]).await.assert_success();
    queue(&env, &["account", "--company", "Acme Inc."]).await.assert_success();

    let run = push(&env, &["--force"]).await;

    run.assert_success();
    assert_eq!(mutating_requests(&env), vec!["PUT /v1/account", "PUT /v1/account"]);
    assert_eq!(env.fake.with_world(|world| world.account["company"].clone()), json!("Acme Inc."));
    assert_eq!(strings(&env.db(), "SELECT company FROM accounts"), vec!["Acme Inc."]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_error_reconciled_not_resent() {
    let env = synced().await;
    queue(
        &env,
        &[
            "dns-record",
            "example.com",
            "--type",
            "MX",
            "--name",
            "@",
            "--value",
            "mail.example.com",
            "--priority",
            "20",
        ],
    )
    .await
    .assert_success();
    env.fake.add_fault(Fault::status("/v1/domains/example.com/records", 504).with_method("POST").once());

    let first = push(&env, &[]).await;

    assert_eq!(first.code, 1);
    assert_eq!(outbox_status(&env, 1), "in_flight");
    // The next push finds no MX of priority 20 (the existing one has priority 10), so it sends.
    let second = push(&env, &[]).await;
    second.assert_success();
    let mx = env.fake.with_world(|world| {
        world
            .records("example.com")
            .iter()
            .filter(|record| record["type"] == "MX")
            .map(|r| r["priority"].clone())
            .collect::<Vec<_>>()
    });
    assert_eq!(mx, vec![json!(10), json!(20)]);
}
