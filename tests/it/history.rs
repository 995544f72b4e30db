//! Change history, deletions and incremental sync: the fake API's world changes between and
//! during syncs, and the history rows, views and `sync_state` must tell exactly what changed.

use omega_sync::fake::{FakeConfig, Fault};
use serde_json::{Map, Value, json};

use crate::support::{Env, count, omega, snapshot, strings};

fn history_rows(env: &Env) -> i64 {
    count(&env.db(), "SELECT count(*) FROM history")
}

/// Returns the ids of every ticket the fake lists, in the order it lists them.
fn ticket_ids(env: &Env) -> Vec<String> {
    env.fake.with_world(|world| world.tickets.iter().map(|t| t["id"].as_str().unwrap().to_string()).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_changes_three_rows() {
    let env = Env::start().await;
    env.sync(&[]).await.assert_success();
    env.fake.with_world(|world| {
        let records = world.records.get_mut("example.com").unwrap();
        records[0]["value"] = json!("203.0.113.10");
        records[0]["ttl"] = json!(600);
        records.retain(|record| record["id"] != "rec_02");
        records.push(json!({"id": "rec_09", "type": "TXT", "name": "@", "value": "v=spf1 -all", "ttl": 300}));
    });

    env.sync(&[]).await.assert_success();

    let rows = strings(
        &env.db(),
        "SELECT domain || ' ' || record_id || ' ' || type || ' ' || record_name || ' ' || operation || ' '
                || coalesce(old_value, '-') || ' ' || coalesce(new_value, '-') || ' '
                || coalesce(old_ttl, '-') || ' ' || coalesce(new_ttl, '-')
         FROM dns_record_changes WHERE run_id = 2 ORDER BY record_id",
    );
    assert_eq!(
        rows,
        vec![
            "example.com rec_01 A @ update 198.51.100.42 203.0.113.10 300 600",
            "example.com rec_02 CNAME www delete example.com - 300 -",
            "example.com rec_09 TXT @ insert - v=spf1 -all - 300",
        ]
    );
    let db = env.db();
    assert_eq!(
        strings(&db, "SELECT changed_fields FROM history WHERE entity_id = 'rec_01' AND run_id = 2"),
        vec![r#"["ttl","value"]"#]
    );
    assert_eq!(count(&db, "SELECT count(*) FROM dns_records WHERE id = 'rec_02' AND deleted_at IS NOT NULL"), 1);
    assert_eq!(count(&db, "SELECT count(*) FROM dns_record_changes WHERE run_id = 1 AND initial = 0"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zone_as_of_date() {
    let env = Env::start().await;
    env.sync(&[]).await.assert_success();
    let between = strings(&env.db(), "SELECT finished_at FROM sync_runs WHERE id = 1").remove(0);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    env.fake.with_world(|world| {
        world.records.get_mut("example.com").unwrap()[0]["value"] = json!("203.0.113.10");
    });
    env.sync(&[]).await.assert_success();

    let as_of = |at: &str| {
        strings(
            &env.db(),
            &format!(
                "SELECT id || ' ' || value FROM dns_record_versions WHERE domain = 'example.com'
                 AND valid_from <= '{at}' AND (valid_to IS NULL OR valid_to > '{at}') ORDER BY id"
            ),
        )
    };

    assert_eq!(as_of(&between), vec!["rec_01 198.51.100.42", "rec_02 example.com", "rec_03 mail.example.com"]);
    assert_eq!(
        as_of("9999-01-01T00:00:00Z"),
        vec!["rec_01 203.0.113.10", "rec_02 example.com", "rec_03 mail.example.com"]
    );
    assert!(as_of("2000-01-01T00:00:00Z").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invoice_paid_one_status_change() {
    let env = Env::start().await;
    env.sync(&[]).await.assert_success();
    let (id, number, total) = env.fake.with_world(|world| {
        let invoice = world.invoices.iter_mut().find(|invoice| invoice["status"] == "open").expect("an open invoice");
        invoice["status"] = json!("paid");
        invoice["paidAt"] = json!("2026-12-02T10:00:00Z");
        (invoice["id"].as_str().unwrap().to_string(), invoice["number"].clone(), invoice["totalCents"].clone())
    });

    env.sync(&[]).await.assert_success();

    let rows = strings(
        &env.db(),
        "SELECT invoice_id || ' ' || number || ' ' || old_status || ' ' || new_status || ' ' || total_cents
         FROM invoice_status_changes",
    );
    assert_eq!(rows, vec![format!("{id} {} open paid {total}", number.as_str().unwrap())]);
    assert_eq!(strings(&env.db(), &format!("SELECT status FROM invoices WHERE id = '{id}'")), vec!["paid"]);
}

/// Rebuilds an object with its keys reversed and its timestamps spelled with `+00:00` and
/// fractional zeros.
fn respell(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut reversed = Map::new();
            for (key, item) in map.iter().rev() {
                reversed.insert(key.clone(), respell(item));
            }
            Value::Object(reversed)
        }
        Value::Array(items) => Value::Array(items.iter().map(respell).collect()),
        Value::String(text) if text.ends_with('Z') && text.len() == 20 => {
            Value::String(format!("{}.000+00:00", &text[..19]))
        }
        other => other.clone(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn respelled_data_no_history() {
    let env = Env::start().await;
    env.sync(&[]).await.assert_success();
    let before = snapshot(&env.db());
    let history_before = history_rows(&env);
    env.fake.with_world(|world| {
        world.account = respell(&world.account);
        for list in [&mut world.ssh_keys, &mut world.services, &mut world.invoices, &mut world.payment_methods] {
            *list = list.iter().map(respell).collect();
        }
        world.domains = world.domains.iter().map(respell).collect();
        world.tickets = world.tickets.iter().map(respell).collect();
        for records in world.records.values_mut() {
            *records = records.iter().map(respell).collect();
        }
    });

    env.sync(&["--full"]).await.assert_success();

    assert_eq!(history_rows(&env), history_before);
    assert_eq!(snapshot(&env.db()), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_field_one_update_each() {
    let env = Env::start().await;
    env.sync(&[]).await.assert_success();
    let services = env.fake.with_world(|world| {
        for service in &mut world.services {
            service["maintenanceWindow"] = json!("sun 02:00");
        }
        world.services.len() as i64
    });

    env.sync(&["--full"]).await.assert_success();

    let db = env.db();
    assert_eq!(count(&db, "SELECT count(*) FROM history WHERE run_id = 2"), services);
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM history WHERE run_id = 2 AND entity = 'services' AND op = 'update'
                    AND changed_fields = '[\"maintenanceWindow\"]'"
        ),
        services
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM services WHERE json_extract(raw_json, '$.maintenanceWindow') = 'sun 02:00'"),
        services
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_while_paging_not_deleted() {
    let env = Env::start().await;
    env.sync(&[]).await.assert_success();
    let ids = ticket_ids(&env);
    let first_on_page_one = ids[0].clone();
    env.fake.after_request("/v1/tickets", Some(1), move |world| {
        world.tickets.retain(|ticket| ticket["id"] != first_on_page_one.as_str());
    });

    let run = env.sync(&["--full", "--only", "tickets", "--per-page", "5"]).await;

    run.assert_success();
    let db = env.db();
    let remaining = ticket_ids(&env);
    for id in &remaining {
        let deleted = count(&db, &format!("SELECT count(*) FROM tickets WHERE id = '{id}' AND deleted_at IS NOT NULL"));
        assert_eq!(deleted, 0, "{id} exists but was marked deleted");
    }
    assert_eq!(count(&db, "SELECT count(*) FROM history WHERE run_id = 2 AND op = 'delete'"), 0);

    // The next listing is stable again and records the real deletion.
    env.sync(&["--full", "--only", "tickets", "--per-page", "5"]).await.assert_success();
    assert_eq!(
        count(&db, &format!("SELECT count(*) FROM tickets WHERE id = '{}' AND deleted_at IS NOT NULL", ids[0])),
        1
    );
    assert_eq!(count(&db, "SELECT count(*) FROM tickets WHERE deleted_at IS NULL") as usize, remaining.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inserted_while_paging_no_duplicate() {
    let env = Env::start().await;
    env.sync(&[]).await.assert_success();
    env.fake.after_request("/v1/tickets", Some(1), |world| {
        world.tickets.push(json!({
            "id": "tkt_new_head",
            "subject": "Inserted while paging",
            "status": "open",
            "priority": "normal",
            "createdAt": "2026-12-03T00:00:00Z",
            "updatedAt": "2026-12-03T00:00:00Z"
        }));
    });

    let run = env.sync(&["--full", "--only", "tickets", "--per-page", "5"]).await;

    run.assert_success();
    let db = env.db();
    assert_eq!(count(&db, "SELECT count(*) FROM tickets WHERE id = 'tkt_new_head'"), 1);
    assert_eq!(count(&db, "SELECT count(*) FROM tickets WHERE deleted_at IS NOT NULL"), 0);
    assert_eq!(count(&db, "SELECT count(*) FROM history WHERE run_id = 2 AND op = 'insert'"), 1);
    assert_eq!(count(&db, "SELECT count(*) FROM tickets") as usize, ticket_ids(&env).len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_page_infers_no_deletion() {
    let env = Env::start().await;
    env.sync(&[]).await.assert_success();
    env.fake.with_world(|world| world.tickets.truncate(3));
    env.fake.add_fault(Fault::status("/v1/tickets", 500).with_page(2));

    let run = env.sync(&["--full", "--only", "tickets", "--per-page", "2", "--max-attempts", "1"]).await;

    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("no deletions inferred for tickets because the listing failed"), "{}", run.stderr);
    let db = env.db();
    assert_eq!(count(&db, "SELECT count(*) FROM tickets WHERE deleted_at IS NOT NULL"), 0);
    assert_eq!(count(&db, "SELECT count(*) FROM history WHERE op = 'delete'"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn domain_deleted_with_records_then_restored() {
    let env = Env::start().await;
    env.sync(&[]).await.assert_success();
    let (domain, records) = env.fake.with_world(|world| {
        let records = world.records("example.com").to_vec();
        (world.remove_domain("example.com").unwrap(), records)
    });

    env.sync(&[]).await.assert_success();

    let db = env.db();
    assert_eq!(
        strings(&db, "SELECT count(*) || '' FROM domains WHERE name = 'example.com' AND deleted_at IS NOT NULL"),
        vec!["1"]
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM dns_records WHERE domain_id = 'dom_01JRXYZ' AND deleted_at IS NOT NULL"),
        3
    );
    assert_eq!(count(&db, "SELECT count(*) FROM dns_record_changes WHERE run_id = 2 AND operation = 'delete'"), 3);

    env.fake.with_world(|world| {
        world.domains.push(domain);
        world.records.insert("example.com".to_string(), records);
    });
    env.sync(&[]).await.assert_success();

    assert_eq!(count(&db, "SELECT count(*) FROM domains WHERE deleted_at IS NOT NULL"), 0);
    assert_eq!(count(&db, "SELECT count(*) FROM dns_records WHERE deleted_at IS NOT NULL"), 0);
    assert_eq!(strings(&db, "SELECT op FROM history WHERE run_id = 3 AND entity = 'domains'"), vec!["restore"]);
    assert_eq!(count(&db, "SELECT count(*) FROM dns_record_changes WHERE run_id = 3 AND operation = 'restore'"), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_deleted_restored_relabelled() {
    let env = Env::start().await;
    env.sync(&[]).await.assert_success();
    let service = env.fake.with_world(|world| world.remove_service("svc_01HY7M3ABCXYZ").unwrap());

    env.sync(&[]).await.assert_success();
    env.fake.with_world(|world| {
        let mut service = service;
        service["label"] = json!("prod-web-renamed");
        world.services.push(service);
    });
    env.sync(&[]).await.assert_success();

    let db = env.db();
    assert_eq!(
        strings(
            &db,
            "SELECT run_id || ' ' || op || ' ' || coalesce(changed_fields, '-') FROM history
                      WHERE entity = 'services' AND entity_id = 'svc_01HY7M3ABCXYZ' ORDER BY id"
        ),
        vec!["1 insert -", "2 delete -", r#"3 restore ["label"]"#]
    );
    assert_eq!(
        strings(
            &db,
            "SELECT label || ' ' || coalesce(deleted_at, 'live') FROM services WHERE id = 'svc_01HY7M3ABCXYZ'"
        ),
        vec!["prod-web-renamed live"]
    );
    assert_eq!(
        strings(&db, "SELECT label FROM service_versions WHERE id = 'svc_01HY7M3ABCXYZ' ORDER BY valid_from"),
        vec!["prod-web-01", "prod-web-renamed"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unchanged_incremental_run_is_cheap() {
    let env = Env::start().await;
    env.sync(&[]).await.assert_success();
    let full_requests = env.fake.requests().len();
    let before = snapshot(&env.db());
    let history_before = history_rows(&env);
    env.fake.clear_requests();

    let run = env.sync(&[]).await;

    run.assert_success();
    assert!(run.stdout.contains("(incremental)"), "{}", run.stdout);
    assert_eq!(history_rows(&env), history_before);
    assert_eq!(snapshot(&env.db()), before);
    let incremental_requests = env.fake.requests();
    assert!(incremental_requests.len() < full_requests, "{} >= {full_requests}", incremental_requests.len());
    assert!(incremental_requests.iter().all(|request| !request.path.starts_with("/v1/services/")));
    assert!(incremental_requests.iter().any(|request| request.status == 304));
    let records = incremental_requests.iter().find(|r| r.path == "/v1/domains/example.com/records").unwrap();
    assert!(records.header("if-none-match").is_some());
    assert_eq!(records.status, 304);
    assert_eq!(
        count(
            &env.db(),
            "SELECT sum(inserted + updated + deleted + restored) FROM sync_run_resources WHERE run_id = 2"
        ),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickets_stop_after_mark() {
    let env = Env::start().await;
    env.sync(&["--per-page", "5"]).await.assert_success();
    env.fake.clear_requests();

    env.sync(&["--per-page", "5", "--only", "tickets"]).await.assert_success();

    assert_eq!(env.requests_to("/v1/tickets"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invoices_stop_at_settled_tail() {
    let env = Env::start().await;
    let invoices = env.fake.with_world(|world| {
        for (index, invoice) in world.invoices.iter_mut().enumerate() {
            invoice["status"] = json!(if index < 3 { "open" } else { "paid" });
        }
        world.invoices.len()
    });
    assert!(invoices > 10, "the stop must save pages");
    env.sync(&["--per-page", "5"]).await.assert_success();
    env.fake.clear_requests();

    env.sync(&["--per-page", "5", "--only", "invoices"]).await.assert_success();

    // Page 1 contains the three newest invoices, which may still change, so page 2 is read too.
    assert_eq!(env.requests_to("/v1/billing/invoices"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsettled_invoices_read_ahead() {
    let env = Env::start().await;
    let invoices = env.fake.with_world(|world| {
        for invoice in world.invoices.iter_mut() {
            invoice["status"] = json!("open");
        }
        world.invoices.len()
    });
    env.sync(&["--per-page", "1"]).await.assert_success();
    let before = snapshot(&env.db());
    env.fake.clear_requests();
    env.fake.set_latency(std::time::Duration::from_millis(50));

    let run = env.sync(&["--per-page", "1", "--only", "invoices", "--concurrency", "4"]).await;

    // No page settles the listing, so every page is read, each once and several at a time.
    run.assert_success();
    assert!(run.stdout.contains("(incremental)"), "{}", run.stdout);
    let requests: Vec<_> =
        env.fake.requests().into_iter().filter(|request| request.path == "/v1/billing/invoices").collect();
    let mut pages: Vec<String> = requests.iter().map(|request| request.query.clone().unwrap_or_default()).collect();
    pages.sort();
    pages.dedup();
    assert_eq!(pages.len(), invoices);
    assert_eq!(requests.len(), invoices);
    let in_flight = requests.iter().map(|request| request.in_flight).max().unwrap();
    assert!(in_flight >= 3, "at most {in_flight} invoice pages in flight");
    assert_eq!(snapshot(&env.db()), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_page_counts_match_history() {
    let env = Env::start().await;
    env.fake.with_world(|world| {
        for invoice in world.invoices.iter_mut() {
            invoice["status"] = json!("open");
        }
    });
    env.sync(&["--per-page", "1"]).await.assert_success();
    env.fake.with_world(|world| {
        for invoice in world.invoices.iter_mut() {
            let number = invoice["number"].as_str().unwrap().to_string();
            invoice["number"] = json!(format!("{number}-R"));
        }
    });
    env.fake.set_latency(std::time::Duration::from_millis(30));
    env.fake.add_fault(omega_sync::fake::Fault::status("/v1/billing/invoices", 500).with_page(5));

    let run = env.sync(&["--per-page", "1", "--only", "invoices", "--concurrency", "8", "--max-attempts", "1"]).await;

    // Pages requested ahead of the failed one may be stored after the listing gave up on them.
    assert_eq!(run.code, 1, "{}", run.output());
    let db = env.db();
    let updated = count(&db, "SELECT updated FROM sync_run_resources WHERE run_id = 2 AND resource = 'invoices'");
    let history = count(&db, "SELECT count(*) FROM history WHERE run_id = 2 AND entity = 'invoices'");
    assert_eq!(updated, history);
    assert!(history >= 4, "pages 1 to 4 were stored before page 5 failed, {history} history rows");
    let items = count(&db, "SELECT items FROM sync_run_resources WHERE run_id = 2 AND resource = 'invoices'");
    assert!(items >= updated, "{items} items, {updated} updated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirming_pass_lists_children_once() {
    let env = Env::start().await;
    env.sync(&["--full", "--only", "dns-records"]).await.assert_success();
    env.fake.with_world(|world| world.domains.pop());
    let (domains, records) = env.fake.with_world(|world| {
        let names: Vec<String> =
            world.domains.iter().map(|domain| domain["name"].as_str().unwrap().to_string()).collect();
        let records = names.iter().map(|name| world.records(name).len() as i64).sum::<i64>();
        (names.len(), records)
    });
    env.fake.clear_requests();

    // The domain gone from the API makes the full listing read every domain a second time.
    env.sync(&["--full", "--only", "dns-records"]).await.assert_success();

    let record_lists = env.fake.requests().iter().filter(|request| request.path.ends_with("/records")).count();
    assert_eq!(record_lists, domains);
    let db = env.db();
    let items = count(&db, "SELECT items FROM sync_run_resources WHERE run_id = 2 AND resource = 'dns-records'");
    assert_eq!(items, records);
    // The records of the domain that is gone are marked deleted with it, and counted.
    let deleted = count(&db, "SELECT deleted FROM sync_run_resources WHERE run_id = 2 AND resource = 'dns-records'");
    let history =
        count(&db, "SELECT count(*) FROM history WHERE run_id = 2 AND entity = 'dns_records' AND op = 'delete'");
    assert!(history > 0);
    assert_eq!(deleted, history);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticket_sharing_mark_not_lost() {
    let env = Env::start().await;
    let ids = ticket_ids(&env);
    let (first, second) = (ids[ids.len() - 1].clone(), ids[ids.len() - 2].clone());
    let mark = "2026-12-03T12:00:00Z";
    env.fake.with_world(|world| world.ticket_mut(&first).unwrap()["updatedAt"] = json!(mark));
    env.sync(&["--per-page", "5"]).await.assert_success();
    assert_eq!(
        strings(&env.db(), "SELECT high_water FROM sync_state WHERE resource = 'tickets'"),
        vec!["2026-12-03T12:00:00.000Z"]
    );

    env.fake.with_world(|world| {
        let ticket = world.ticket_mut(&second).unwrap();
        ticket["updatedAt"] = json!(mark);
        ticket["status"] = json!("closed");
    });
    let run = env.sync(&["--per-page", "5", "--only", "tickets"]).await;

    run.assert_success();
    let db = env.db();
    assert_eq!(strings(&db, &format!("SELECT status FROM tickets WHERE id = '{second}'")), vec!["closed"]);
    assert_eq!(count(&db, "SELECT count(*) FROM history WHERE run_id = 2"), 1);
    assert_eq!(
        strings(&db, "SELECT mode FROM sync_run_resources WHERE run_id = 2 AND resource = 'tickets'"),
        vec!["incremental"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_other_resource_untouched() {
    let env = Env::start().await;
    env.sync(&[]).await.assert_success();
    env.fake.with_world(|world| world.remove_domain("example.com"));

    env.sync(&["--only", "tickets", "--full"]).await.assert_success();

    assert_eq!(count(&env.db(), "SELECT count(*) FROM domains WHERE deleted_at IS NOT NULL"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn added_column_changes_nothing() {
    let env = Env::start().await;
    env.sync(&[]).await.assert_success();
    let history_before = history_rows(&env);
    env.db().execute_batch("ALTER TABLE services ADD COLUMN backup_policy TEXT;").unwrap();

    env.sync(&["--full"]).await.assert_success();

    assert_eq!(history_rows(&env), history_before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_every_forces_full() {
    let env = Env::start().await;
    env.sync(&[]).await.assert_success();

    let run = env.sync(&["--full-every", "0s"]).await;

    run.assert_success();
    assert!(run.stdout.contains("(full)"), "{}", run.stdout);
    assert!(env.requests_to("/v1/services/svc_01HY7M3ABCXYZ") >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_marks() {
    let env = Env::with_config(FakeConfig::default()).await;
    env.sync(&[]).await.assert_success();
    env.sync(&[]).await.assert_success();

    let run = omega(&["status", "--db", env.db.to_str().unwrap()], &[]).await;

    run.assert_success();
    assert!(run.stdout.contains("resources:"), "{}", run.stdout);
    let tickets = run.stdout.lines().find(|line| line.trim_start().starts_with("tickets ")).expect("a tickets line");
    let mark = strings(&env.db(), "SELECT high_water FROM sync_state WHERE resource = 'tickets'").remove(0);
    assert!(tickets.contains(&mark), "{tickets}");
    let full = strings(&env.db(), "SELECT last_full_at FROM sync_state WHERE resource = 'tickets'").remove(0);
    assert!(tickets.contains(&full), "{tickets}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn constant_total_shift_no_false_deletion() {
    let env = Env::start().await;
    env.sync(&[]).await.assert_success();
    let first = env.fake.with_world(|world| world.services[0]["id"].as_str().unwrap().to_string());
    let gone = first.clone();
    // One delete and one insert during the listing keep the total while shifting the pages.
    env.fake.after_request("/v1/services", Some(1), move |world| {
        world.services.retain(|service| service["id"] != gone.as_str());
        let mut added = world.services[0].clone();
        added["id"] = json!("svc_added_while_paging");
        world.services.push(added);
    });

    env.sync(&["--full", "--only", "services", "--per-page", "4"]).await.assert_success();

    let db = env.db();
    let live_in_api = env.fake.with_world(|world| {
        world.services.iter().map(|service| service["id"].as_str().unwrap().to_string()).collect::<Vec<_>>()
    });
    for id in &live_in_api {
        let deleted =
            count(&db, &format!("SELECT count(*) FROM services WHERE id = '{id}' AND deleted_at IS NOT NULL"));
        assert_eq!(deleted, 0, "{id} is served by the API but was marked deleted");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fractional_activity_not_missed() {
    let env = Env::start().await;
    let ids = ticket_ids(&env);
    env.fake.with_world(|world| {
        for id in &ids[..2] {
            world.ticket_mut(id).unwrap()["updatedAt"] = json!("2026-12-03T12:00:00Z");
        }
    });
    env.sync(&["--per-page", "2"]).await.assert_success();
    env.fake.with_world(|world| {
        for (index, id) in ids[2..8].iter().enumerate() {
            let ticket = world.ticket_mut(id).unwrap();
            ticket["updatedAt"] = json!(format!("2026-12-03T12:00:00.{}00Z", index + 1));
            ticket["status"] = json!("closed");
        }
    });

    env.sync(&["--per-page", "2", "--only", "tickets"]).await.assert_success();

    let db = env.db();
    for id in &ids[2..8] {
        assert_eq!(strings(&db, &format!("SELECT status FROM tickets WHERE id = '{id}'")), vec!["closed"], "{id}");
    }
    assert_eq!(
        strings(&db, "SELECT high_water FROM sync_state WHERE resource = 'tickets'"),
        vec!["2026-12-03T12:00:00.600Z"]
    );
}
