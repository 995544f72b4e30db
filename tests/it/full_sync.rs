//! A full sync stores exactly the fake API's data, field for field.

use std::collections::BTreeSet;

use rusqlite::types::Value as Sql;
use serde_json::Value;

use crate::support::{Env, count, snapshot, strings};

fn row(connection: &rusqlite::Connection, sql: &str) -> Vec<Sql> {
    let mut statement = connection.prepare(sql).unwrap();
    let columns = statement.column_count();
    statement
        .query_row([], |r| (0..columns).map(|index| r.get::<_, Sql>(index)).collect::<Result<Vec<_>, _>>())
        .unwrap_or_else(|error| panic!("{sql}: {error}"))
}

fn text(value: &str) -> Sql {
    Sql::Text(value.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_examples_stored_exactly() {
    let env = Env::start().await;

    env.sync(&[]).await.assert_success();
    let db = env.db();

    assert_eq!(
        row(&db, "SELECT id, email, first_name, last_name, company, phone, status, created_at FROM accounts"),
        vec![
            text("acc_01HX4N9PKBQ3MVZRTA7CGWXE2F"),
            text("jane.smith@example.com"),
            text("Jane"),
            text("Smith"),
            text("Acme Inc."),
            text("+1-555-000-0001"),
            text("active"),
            text("2025-03-12T08:00:00Z"),
        ]
    );
    assert_eq!(
        row(&db, "SELECT account_id, label, fingerprint, created_at FROM ssh_keys WHERE id = 'key_01J2RX9ABCDEF'"),
        vec![
            text("acc_01HX4N9PKBQ3MVZRTA7CGWXE2F"),
            text("MacBook Pro"),
            text("SHA256:abc123xyz..."),
            text("2025-11-20T10:00:00Z")
        ]
    );
    assert_eq!(
        row(
            &db,
            "SELECT type, sku, tier, label, region, datacenter, ipv4, ipv6, status, vcpu, ram_gb, disk_gb, os, created_at
             FROM services WHERE id = 'svc_01HY7M3ABCXYZ'"
        ),
        vec![
            text("vps"),
            text("VH"),
            text("vps-m"),
            text("prod-web-01"),
            text("us-east"),
            text("Ashburn, Virginia"),
            text("198.51.100.42"),
            text("2001:db8::1"),
            text("running"),
            Sql::Integer(4),
            Sql::Integer(8),
            Sql::Integer(100),
            text("Ubuntu 24.04 LTS"),
            text("2025-06-01T00:00:00Z"),
        ]
    );
    assert_eq!(
        row(
            &db,
            "SELECT number, status, total_cents, currency, issued_at, paid_at, pdf_url FROM invoices WHERE id = 'inv_01JRXYZ'"
        ),
        vec![
            text("INV-2026-0042"),
            text("paid"),
            Sql::Integer(1999),
            text("USD"),
            text("2026-04-01T00:00:00Z"),
            text("2026-04-01T00:04:11Z"),
            text("https://api.omegadigitalhosting.com/v1/billing/invoices/inv_01JRXYZ/pdf"),
        ]
    );
    assert_eq!(
        row(
            &db,
            "SELECT position, description, amount_cents, service_id FROM invoice_line_items WHERE invoice_id = 'inv_01JRXYZ'"
        ),
        vec![
            Sql::Integer(0),
            text("VPS vps-m (prod-web-01) April 2026"),
            Sql::Integer(1999),
            text("svc_01HY7M3ABCXYZ")
        ]
    );
    assert_eq!(
        row(
            &db,
            "SELECT type, brand, last4, exp_month, exp_year, is_default FROM payment_methods WHERE id = 'pm_01JRCARD'"
        ),
        vec![text("card"), text("visa"), text("4242"), Sql::Integer(12), Sql::Integer(2028), Sql::Integer(1)]
    );
    assert_eq!(
        row(&db, "SELECT name, status, auto_renew, expires_at FROM domains WHERE id = 'dom_01JRXYZ'"),
        vec![text("example.com"), text("active"), Sql::Integer(1), text("2027-04-19T00:00:00Z")]
    );
    assert_eq!(
        strings(
            &db,
            "SELECT id || ' ' || type || ' ' || name || ' ' || value || ' ' || ttl || ' ' || coalesce(priority, '-')
             FROM dns_records WHERE domain_id = 'dom_01JRXYZ' ORDER BY id"
        ),
        vec![
            "rec_01 A @ 198.51.100.42 300 -",
            "rec_02 CNAME www example.com 300 -",
            "rec_03 MX @ mail.example.com 3600 10",
        ]
    );
    assert_eq!(
        row(
            &db,
            "SELECT subject, status, priority, service_id, created_at, updated_at FROM tickets WHERE id = 'tkt_01JRTICKET'"
        ),
        vec![
            text("VPS not booting after kernel update"),
            text("open"),
            text("high"),
            Sql::Null,
            text("2026-04-18T16:00:00Z"),
            text("2026-04-19T08:00:00Z"),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_data_set_stored() {
    let env = Env::start().await;

    env.sync(&[]).await.assert_success();
    let db = env.db();

    let world = env.fake.with_world(|world| world.clone());
    let ids = |items: &[Value]| -> BTreeSet<String> {
        items.iter().map(|item| item["id"].as_str().unwrap().to_string()).collect()
    };
    let stored = |sql: &str| -> BTreeSet<String> { strings(&db, sql).into_iter().collect() };

    assert_eq!(stored("SELECT id FROM ssh_keys"), ids(&world.ssh_keys));
    assert_eq!(stored("SELECT id FROM services"), ids(&world.services));
    assert_eq!(stored("SELECT id FROM invoices"), ids(&world.invoices));
    assert_eq!(stored("SELECT id FROM payment_methods"), ids(&world.payment_methods));
    assert_eq!(stored("SELECT id FROM domains"), ids(&world.domains));
    assert_eq!(stored("SELECT id FROM tickets"), ids(&world.tickets));
    let records: usize = world.records.values().map(Vec::len).sum();
    assert_eq!(count(&db, "SELECT count(*) FROM dns_records") as usize, records);
    let line_items: usize =
        world.invoices.iter().map(|invoice| invoice["lineItems"].as_array().map_or(0, Vec::len)).sum();
    assert_eq!(count(&db, "SELECT count(*) FROM invoice_line_items") as usize, line_items);
    assert_eq!(count(&db, "SELECT count(*) FROM services WHERE detail_json IS NULL"), 0);

    // Every row keeps the object as received, so no field is lost.
    for invoice in &world.invoices {
        let id = invoice["id"].as_str().unwrap();
        let raw: String = db.query_row("SELECT raw_json FROM invoices WHERE id = ?1", [id], |r| r.get(0)).unwrap();
        assert_eq!(serde_json::from_str::<Value>(&raw).unwrap(), *invoice, "invoice {id}");
    }
    let run = row(&db, "SELECT status, mode, account_id FROM sync_runs");
    assert_eq!(run, vec![text("succeeded"), text("full"), text("acc_01HX4N9PKBQ3MVZRTA7CGWXE2F")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unchanged_resync_writes_nothing() {
    let env = Env::start().await;
    env.sync(&[]).await.assert_success();
    let before = snapshot(&env.db());

    let second = env.sync(&[]).await;

    second.assert_success();
    assert_eq!(snapshot(&env.db()), before);
    let db = env.db();
    assert_eq!(count(&db, "SELECT sum(inserted) + sum(updated) FROM sync_run_resources WHERE run_id = 2"), 0);
    assert!(count(&db, "SELECT sum(unchanged) FROM sync_run_resources WHERE run_id = 2") > 0);
    assert!(second.stdout.contains("0 inserted, 0 updated"), "{}", second.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_field_updates_row() {
    let env = Env::start().await;
    env.sync(&[]).await.assert_success();
    env.fake.with_world(|world| {
        let record = &mut world.records.get_mut("example.com").unwrap()[0];
        record["value"] = Value::from("203.0.113.7");
    });

    env.sync(&[]).await.assert_success();

    let db = env.db();
    assert_eq!(strings(&db, "SELECT value FROM dns_records WHERE id = 'rec_01'"), vec!["203.0.113.7"]);
    assert_eq!(count(&db, "SELECT sum(updated) FROM sync_run_resources WHERE run_id = 2"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_write_keeps_detail_columns() {
    let env = Env::start().await;
    env.sync(&[]).await.assert_success();
    // The list entry changes while the detail endpoint fails: the detail columns must stay.
    env.fake.with_world(|world| {
        world.service_mut("svc_01HY7M3ABCXYZ").unwrap()["label"] = Value::from("prod-web-02");
    });
    env.fake.add_fault(omega_sync::fake::Fault::status("/v1/services/svc_01HY7M3ABCXYZ", 500));

    let run = env.sync(&["--only", "services", "--max-attempts", "1"]).await;

    assert_eq!(run.code, 1, "{}", run.output());
    let db = env.db();
    assert_eq!(
        row(&db, "SELECT label, datacenter, vcpu, os FROM services WHERE id = 'svc_01HY7M3ABCXYZ'"),
        vec![text("prod-web-02"), text("Ashburn, Virginia"), Sql::Integer(4), text("Ubuntu 24.04 LTS")]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explicit_null_clears_detail_column() {
    let env = Env::start().await;
    env.sync(&[]).await.assert_success();
    env.fake.with_world(|world| {
        world.service_mut("svc_01HY7M3ABCXYZ").unwrap()["ipv6"] = Value::Null;
    });

    env.sync(&["--only", "services", "--full"]).await.assert_success();

    let db = env.db();
    assert_eq!(
        row(&db, "SELECT ipv6, datacenter FROM services WHERE id = 'svc_01HY7M3ABCXYZ'"),
        vec![Sql::Null, text("Ashburn, Virginia")]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_limits_resources() {
    let env = Env::start().await;

    env.sync(&["--only", "dns-records"]).await.assert_success();

    let db = env.db();
    assert!(count(&db, "SELECT count(*) FROM dns_records") > 0);
    assert!(count(&db, "SELECT count(*) FROM domains") > 0);
    assert_eq!(count(&db, "SELECT count(*) FROM invoices"), 0);
    assert_eq!(env.requests_to("/v1/billing/invoices"), 0);
    assert_eq!(
        strings(&db, "SELECT resource FROM sync_run_resources ORDER BY resource"),
        vec!["account", "dns-records", "domains"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detail_gone_is_warning() {
    let env = Env::start().await;
    env.fake.add_fault(omega_sync::fake::Fault::status("/v1/services/svc_01HY7M3ABCXYZ", 404));

    let run = env.sync(&["--only", "services"]).await;

    run.assert_success();
    assert!(run.stderr.contains("was listed but its detail is gone"), "{}", run.stderr);
    assert_eq!(
        count(&env.db(), "SELECT count(*) FROM services WHERE id = 'svc_01HY7M3ABCXYZ' AND detail_json IS NULL"),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticket_linked_once_service_arrives() {
    let env = Env::start().await;
    env.fake.with_world(|world| {
        world.ticket_mut("tkt_01JRTICKET").unwrap()["serviceId"] = Value::from("svc_01HY7M3ABCXYZ");
    });
    env.fake.add_fault(omega_sync::fake::Fault::status("/v1/services", 500).once());

    let first = env.sync(&["--max-attempts", "1"]).await;
    assert_eq!(first.code, 1);
    assert_eq!(row(&env.db(), "SELECT service_id FROM tickets WHERE id = 'tkt_01JRTICKET'"), vec![Sql::Null]);

    env.sync(&[]).await.assert_success();

    assert_eq!(
        row(&env.db(), "SELECT service_id FROM tickets WHERE id = 'tkt_01JRTICKET'"),
        vec![text("svc_01HY7M3ABCXYZ")]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn null_line_items_marked_deleted() {
    let env = Env::start().await;
    env.sync(&[]).await.assert_success();
    env.fake.with_world(|world| world.invoice_mut("inv_01JRXYZ").unwrap()["lineItems"] = Value::Null);

    env.sync(&[]).await.assert_success();

    let db = env.db();
    assert_eq!(
        count(&db, "SELECT count(*) FROM invoice_line_items WHERE invoice_id = 'inv_01JRXYZ' AND deleted_at IS NULL"),
        0
    );
    assert_eq!(count(&db, "SELECT count(*) FROM invoice_line_items WHERE invoice_id = 'inv_01JRXYZ'"), 1);
    assert_eq!(
        strings(
            &db,
            "SELECT op FROM history WHERE entity = 'invoice_line_items' AND parent_id = 'inv_01JRXYZ' ORDER BY id"
        ),
        vec!["insert", "delete"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_reused_gzip_requested() {
    let env = Env::start().await;

    env.sync(&["--concurrency", "4", "--per-page", "2"]).await.assert_success();

    let requests = env.fake.requests();
    let peers: std::collections::HashSet<_> = requests.iter().map(|request| request.peer.expect("peer")).collect();
    assert!(requests.len() >= 50, "{} requests", requests.len());
    // A request may start before the connection of the one it follows is back in the pool, so a
    // few more connections than requests in flight are opened, and far fewer than requests.
    assert!(peers.len() <= 8, "{} connections for {} requests", peers.len(), requests.len());
    for request in &requests {
        let accepted = request.header("accept-encoding").unwrap_or_default();
        assert!(
            accepted.split(',').any(|coding| coding.trim() == "gzip"),
            "{} {}: {accepted:?}",
            request.method,
            request.path
        );
    }
    // The fake compressed every body of 32 bytes or more, and the archive contains them decoded.
    assert!(count(&env.db(), "SELECT count(*) FROM invoices") > 0);
}
