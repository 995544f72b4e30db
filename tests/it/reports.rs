//! The shipped reports in `queries/`: each one runs through `omega-sync report run` against a
//! synced fake account, and its CSV rows must equal rows computed from the fake's own data. Every
//! report must also give the same rows through the `sqlite3` shell.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use omega_sync::fake::{Fault, World};
use serde_json::{Value, json};

use crate::support::{Env, omega, strings};

/// Every report that ships, by file name without `.sql`.
const SHIPPED: [&str; 11] = [
    "dns_changes",
    "dns_zone_as_of",
    "domains_expiring",
    "invoice_totals_by_month",
    "open_tickets",
    "payment_methods_expiring",
    "service_changes",
    "service_inventory",
    "spend_per_service",
    "sync_health",
    "unpaid_invoices",
];

/// A CSV result: the header row and the data rows, NULL as an empty field.
#[derive(Debug, PartialEq)]
struct Csv {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

fn parse_csv(bytes: &[u8]) -> Csv {
    let mut reader = csv::ReaderBuilder::new().from_reader(bytes);
    let header = reader.headers().expect("a CSV header row").iter().map(str::to_string).collect();
    let rows = reader.records().map(|record| record.expect("a CSV row").iter().map(str::to_string).collect()).collect();
    Csv { header, rows }
}

/// Runs a built-in report as CSV with `KEY=VALUE` parameters.
async fn report(env: &Env, name: &str, params: &[&str]) -> Csv {
    let mut args = vec!["report", "run", name, "--db", env.db.to_str().unwrap(), "--format", "csv"];
    for param in params {
        args.extend_from_slice(&["--param", param]);
    }
    let run = omega(&args, &[]).await;
    run.assert_success();
    parse_csv(run.stdout.as_bytes())
}

fn queries_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("queries")
}

/// Runs `sqlite3 -csv -header DB < queries/NAME.sql`, with extra `-cmd` commands run first.
async fn sqlite3(db: &Path, name: &str, commands: &[&str]) -> Csv {
    let file = std::fs::File::open(queries_dir().join(format!("{name}.sql"))).expect("the report file opens");
    let mut command = tokio::process::Command::new("sqlite3");
    command.arg("-csv").arg("-header");
    for text in commands {
        command.arg("-cmd").arg(text);
    }
    let output = command
        .arg(db)
        .stdin(Stdio::from(file))
        .output()
        .await
        .expect("sqlite3 runs; install the sqlite3 package (3.40 or newer) if it is missing");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "sqlite3 failed on {name}.sql:\n{stderr}");
    assert!(stderr.is_empty(), "sqlite3 printed errors for {name}.sql:\n{stderr}");
    parse_csv(&output.stdout)
}

/// Builds an expected CSV row, or the header row.
fn row(cells: &[&str]) -> Vec<String> {
    cells.iter().map(|cell| cell.to_string()).collect()
}

/// Formats a JSON value the way the archive stores it and the CSV prints it: booleans as 0 or
/// 1, null or missing as an empty field.
fn cell(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(text)) => text.clone(),
        Some(Value::Bool(flag)) => if *flag { "1" } else { "0" }.to_string(),
        Some(other) => other.to_string(),
    }
}

fn text<'a>(object: &'a Value, key: &str) -> &'a str {
    object[key].as_str().unwrap_or_else(|| panic!("{key} is not a string in {object}"))
}

/// Formats cents as sqlite3 prints `round(cents / 100.0, 2)`: `19.99`, `19.9`, `20.0`.
fn amount(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let (whole, fraction) = (cents.abs() / 100, cents.abs() % 100);
    match fraction {
        0 => format!("{sign}{whole}.0"),
        _ if fraction % 10 == 0 => format!("{sign}{whole}.{}", fraction / 10),
        _ => format!("{sign}{whole}.{fraction:02}"),
    }
}

fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(&text[..10], "%Y-%m-%d").unwrap_or_else(|error| panic!("{text:?}: {error}"))
}

/// Returns the calendar days from the UTC date of `timestamp` to `today`.
fn days_since(timestamp: &str, today: NaiveDate) -> i64 {
    (today - date(timestamp)).num_days()
}

fn instant(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap_or_else(|error| panic!("{text:?}: {error}")).with_timezone(&Utc)
}

#[track_caller]
fn assert_utc_timestamp(text: &str) {
    assert!(text.ends_with('Z'), "{text:?} is not in UTC");
    assert!(DateTime::parse_from_rfc3339(text).is_ok(), "{text:?} is not an RFC 3339 time");
}

/// Returns `entity_id -> (observed_at, history id)` for the history rows of one entity in a run.
fn observed(env: &Env, entity: &str, run_id: i64) -> HashMap<String, (String, i64)> {
    let db = env.db();
    let mut statement =
        db.prepare("SELECT entity_id, observed_at, id FROM history WHERE entity = ?1 AND run_id = ?2").unwrap();
    statement
        .query_map(rusqlite::params![entity, run_id], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invoice_totals_by_month_rows() {
    let env = Env::start().await;
    env.sync(&[]).await.assert_success();
    let expected: Vec<Vec<String>> = env.fake.with_world(|world| {
        let mut totals: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
        for invoice in world.invoices.iter().filter(|invoice| invoice["status"] != "void") {
            let key = (text(invoice, "issuedAt")[..7].to_string(), text(invoice, "currency").to_string());
            let entry = totals.entry(key).or_default();
            entry.0 += 1;
            entry.1 += invoice["totalCents"].as_i64().unwrap();
        }
        totals
            .into_iter()
            .map(|((month, currency), (count, cents))| {
                vec![month, currency, count.to_string(), cents.to_string(), amount(cents)]
            })
            .collect()
    });

    let all = report(&env, "invoice_totals_by_month", &[]).await;

    assert_eq!(all.header, row(&["month", "currency", "invoice_count", "total_cents", "total"]));
    assert_eq!(all.rows, expected);
    // April 2026 by hand: INV-2026-0042 (1999 cents, issued at midnight on April 1) and
    // INV-2026-0008 (9997) are paid, and the void INV-2026-0007 is left out.
    let april = row(&["2026-04", "USD", "2", "11996", "119.96"]);
    assert!(all.rows.contains(&april), "{:?}", all.rows);

    let window = report(&env, "invoice_totals_by_month", &["since=2026-04-01", "until=2026-05-01"]).await;
    assert_eq!(window.rows, vec![april]);

    let after_midnight = report(&env, "invoice_totals_by_month", &["since=2026-04-02", "until=2026-05-01"]).await;
    assert_eq!(after_midnight.rows, vec![row(&["2026-04", "USD", "1", "9997", "99.97"])]);

    let before_april = report(&env, "invoice_totals_by_month", &["until=2026-04-01"]).await;
    assert_eq!(before_april.rows.last().unwrap()[0], "2026-03");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unpaid_invoices_rows() {
    let env = Env::start().await;
    env.fake.with_world(|world| {
        let mut paid = world.invoices.iter_mut().filter(|invoice| invoice["status"] == "paid");
        paid.next().unwrap()["status"] = json!("refunded");
        paid.next().unwrap()["status"] = json!("disputed");
    });
    env.sync(&[]).await.assert_success();
    let today = date("2026-12-01");
    let expected: Vec<Vec<String>> = env.fake.with_world(|world| {
        let mut unpaid: Vec<&Value> = world
            .invoices
            .iter()
            .filter(|invoice| !["paid", "void", "refunded"].contains(&text(invoice, "status")))
            .collect();
        unpaid.sort_by_key(|invoice| (invoice["status"] != "overdue", text(invoice, "issuedAt"), text(invoice, "id")));
        unpaid
            .into_iter()
            .map(|invoice| {
                let cents = invoice["totalCents"].as_i64().unwrap();
                vec![
                    text(invoice, "number").to_string(),
                    text(invoice, "status").to_string(),
                    text(invoice, "issuedAt").to_string(),
                    days_since(text(invoice, "issuedAt"), today).to_string(),
                    cents.to_string(),
                    amount(cents),
                    text(invoice, "currency").to_string(),
                ]
            })
            .collect()
    });

    let unpaid = report(&env, "unpaid_invoices", &["today=2026-12-01"]).await;

    assert_eq!(unpaid.header, row(&["number", "status", "issued_at", "age_days", "total_cents", "total", "currency"]));
    assert_eq!(unpaid.rows, expected);
    assert!(unpaid.rows.iter().any(|row| row[1] == "disputed"), "an unknown status is unpaid: {:?}", unpaid.rows);
    assert!(unpaid.rows.iter().all(|row| row[1] != "refunded"));
    // By hand: the oldest overdue invoice, issued on 2025-03-06, is 635 days old on 2026-12-01.
    assert_eq!(
        unpaid.rows[0],
        row(&["INV-2025-0003", "overdue", "2025-03-06T03:01:24Z", "635", "13997", "139.97", "USD"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spend_per_service_rows() {
    let env = Env::start().await;
    // A service destroyed before the first sync still has line items, and a support plan line
    // item has no service at all.
    let destroyed = env.fake.with_world(|world| {
        let invoice = world.invoices.iter_mut().find(|invoice| invoice["status"] != "void").unwrap();
        invoice["lineItems"].as_array_mut().unwrap().push(json!({
            "description": "Support plan",
            "amountCents": 500,
            "serviceId": null
        }));
        invoice["totalCents"] = json!(invoice["totalCents"].as_i64().unwrap() + 500);
        let billed = world
            .invoices
            .iter()
            .filter(|invoice| invoice["status"] != "void")
            .flat_map(|invoice| invoice["lineItems"].as_array().unwrap())
            .find_map(|item| item["serviceId"].as_str().filter(|id| *id != "svc_01HY7M3ABCXYZ"))
            .unwrap()
            .to_string();
        world.remove_service(&billed).unwrap();
        billed
    });
    env.sync(&[]).await.assert_success();
    // A service deleted after the archive stored it keeps its label.
    let labels: HashMap<String, String> = env.fake.with_world(|world| {
        let labels = world.services.iter().map(|s| (text(s, "id").to_string(), text(s, "label").to_string())).collect();
        world.remove_service("svc_01HY7M3ABCXYZ").unwrap();
        labels
    });
    env.sync(&[]).await.assert_success();
    let deleted = strings(&env.db(), "SELECT id FROM services WHERE deleted_at IS NOT NULL");
    assert_eq!(deleted, vec!["svc_01HY7M3ABCXYZ"]);
    let expected = |world: &World, since: &str, until: &str| -> Vec<Vec<String>> {
        let mut spend: BTreeMap<(Option<String>, String), (i64, i64)> = BTreeMap::new();
        for invoice in &world.invoices {
            let issued = text(invoice, "issuedAt");
            if invoice["status"] == "void" || issued < since || issued >= until {
                continue;
            }
            for item in invoice["lineItems"].as_array().unwrap() {
                let key = (item["serviceId"].as_str().map(str::to_string), text(invoice, "currency").to_string());
                let entry = spend.entry(key).or_default();
                entry.0 += 1;
                entry.1 += item["amountCents"].as_i64().unwrap();
            }
        }
        let mut rows: Vec<_> = spend.into_iter().collect();
        // Largest amount first, then by service id with no service (NULL) first, then by currency.
        rows.sort_by(|(a_key, a), (b_key, b)| b.1.cmp(&a.1).then_with(|| a_key.cmp(b_key)));
        rows.into_iter()
            .map(|((service_id, currency), (count, cents))| {
                let label = service_id.as_ref().and_then(|id| labels.get(id)).cloned();
                vec![
                    service_id.clone().unwrap_or_default(),
                    label.unwrap_or_default(),
                    currency,
                    count.to_string(),
                    cents.to_string(),
                    amount(cents),
                ]
            })
            .collect()
    };

    let all = report(&env, "spend_per_service", &[]).await;
    let window = report(&env, "spend_per_service", &["since=2026-01-01", "until=2026-07-01"]).await;

    assert_eq!(all.header, row(&["service_id", "label", "currency", "line_item_count", "amount_cents", "amount"]));
    assert_eq!(all.rows, env.fake.with_world(|world| expected(world, "", "9999")));
    assert_eq!(window.rows, env.fake.with_world(|world| expected(world, "2026-01-01", "2026-07-01")));
    let destroyed_row = all.rows.iter().find(|row| row[0] == destroyed).expect("the destroyed service has a row");
    assert_eq!(destroyed_row[1], "", "a service the archive never saw has no label");
    let deleted_row = all.rows.iter().find(|row| row[0] == "svc_01HY7M3ABCXYZ").expect("the deleted service has a row");
    assert_eq!(deleted_row[1], "prod-web-01");
    assert!(all.rows.iter().any(|row| row[0].is_empty() && row[4] == "500"), "{:?}", all.rows);
}

/// Syncs, then changes four records of example.com: a value and TTL, a deletion, an MX
/// priority and a new TXT record, and syncs again.
async fn env_with_dns_changes() -> Env {
    let env = Env::start().await;
    env.sync(&[]).await.assert_success();
    env.fake.with_world(|world| {
        let records = world.records_mut("example.com");
        records[0]["value"] = json!("203.0.113.10");
        records[0]["ttl"] = json!(600);
        records[2]["priority"] = json!(20);
        records.retain(|record| record["id"] != "rec_02");
        records.push(json!({"id": "rec_09", "type": "TXT", "name": "@", "value": "v=spf1 -all", "ttl": 300}));
    });
    env.sync(&[]).await.assert_success();
    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_changes_rows() {
    let env = env_with_dns_changes().await;
    let times = observed(&env, "dns_records", 2);
    // Each change: the record id, then the report's columns after observed_at.
    let changes = [
        ["rec_01", "example.com", "@", "A", "update", "198.51.100.42", "203.0.113.10", "300", "600", "", ""],
        ["rec_02", "example.com", "www", "CNAME", "delete", "example.com", "", "300", "", "", ""],
        [
            "rec_03",
            "example.com",
            "@",
            "MX",
            "update",
            "mail.example.com",
            "mail.example.com",
            "3600",
            "3600",
            "10",
            "20",
        ],
        ["rec_09", "example.com", "@", "TXT", "insert", "", "v=spf1 -all", "", "300", "", ""],
    ];
    let mut keyed: Vec<(DateTime<Utc>, &str, Vec<String>)> = changes
        .iter()
        .map(|change| {
            let at = &times[change[0]].0;
            let mut cells = vec![at.clone()];
            cells.extend(change[1..].iter().map(|cell| cell.to_string()));
            (instant(at), change[0], cells)
        })
        .collect();
    keyed.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    let expected: Vec<Vec<String>> = keyed.into_iter().map(|(_, _, cells)| cells).collect();

    let recent = report(&env, "dns_changes", &[]).await;

    assert_eq!(
        recent.header,
        row(&[
            "observed_at",
            "domain",
            "record_name",
            "type",
            "operation",
            "old_value",
            "new_value",
            "old_ttl",
            "new_ttl",
            "old_priority",
            "new_priority"
        ])
    );
    assert_eq!(recent.rows, expected);
    for row in &recent.rows {
        assert_utc_timestamp(&row[0]);
    }

    let with_import = report(&env, "dns_changes", &["domain=example.com", "include_initial=1"]).await;
    let operations: Vec<&str> = with_import.rows.iter().map(|row| row[4].as_str()).collect();
    assert_eq!(operations[..3], ["insert", "insert", "insert"]);
    assert_eq!(with_import.rows[3..], expected[..]);

    let run_two_start = strings(&env.db(), "SELECT started_at FROM sync_runs WHERE id = 2").remove(0);
    let until = format!("until={run_two_start}");
    let import_only = report(&env, "dns_changes", &["domain=example.com", "include_initial=1", &until]).await;
    assert_eq!(import_only.rows, with_import.rows[..3]);

    let other_domain = report(&env, "dns_changes", &["domain=other.example"]).await;
    assert!(other_domain.rows.is_empty(), "{:?}", other_domain.rows);
    let future = report(&env, "dns_changes", &["since=2999-01-01"]).await;
    assert!(future.rows.is_empty(), "{:?}", future.rows);
    assert_eq!(future.header, recent.header);
}

/// Returns a domain's records as `dns_zone_as_of` rows, sorted like the report.
fn zone_rows(domain: &str, records: &[Value]) -> Vec<Vec<String>> {
    let mut rows: Vec<Vec<String>> = records
        .iter()
        .map(|record| {
            vec![
                domain.to_string(),
                cell(record.get("name")),
                cell(record.get("type")),
                cell(record.get("value")),
                cell(record.get("ttl")),
                cell(record.get("priority")),
                cell(record.get("id")),
            ]
        })
        .collect();
    rows.sort_by(|a, b| (&a[1], &a[2], &a[3], &a[6]).cmp(&(&b[1], &b[2], &b[3], &b[6])));
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_zone_as_of_rows() {
    let env = Env::start().await;
    env.sync(&[]).await.assert_success();
    let before = env.fake.with_world(|world| zone_rows("example.com", world.records("example.com")));
    let between = strings(&env.db(), "SELECT finished_at FROM sync_runs WHERE id = 1").remove(0);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    env.fake.with_world(|world| {
        let records = world.records_mut("example.com");
        records[0]["value"] = json!("203.0.113.10");
        records.retain(|record| record["id"] != "rec_02");
    });
    env.sync(&[]).await.assert_success();
    let (after, every_domain) = env.fake.with_world(|world| {
        let mut every_domain = Vec::new();
        let mut names: Vec<&str> = world.domains.iter().map(|domain| text(domain, "name")).collect();
        names.sort_unstable();
        for name in names {
            every_domain.extend(zone_rows(name, world.records(name)));
        }
        (zone_rows("example.com", world.records("example.com")), every_domain)
    });

    let then = report(&env, "dns_zone_as_of", &["domain=example.com", &format!("as_of={between}")]).await;
    let now = report(&env, "dns_zone_as_of", &["domain=example.com"]).await;
    let everything = report(&env, "dns_zone_as_of", &[]).await;
    let too_early = report(&env, "dns_zone_as_of", &["as_of=2000-01-01"]).await;
    // At the very time of a change, the new version is valid and the old one is not.
    let change_time = observed(&env, "dns_records", 2)["rec_01"].0.clone();
    let at_change = report(&env, "dns_zone_as_of", &["domain=example.com", &format!("as_of={change_time}")]).await;

    assert_eq!(then.header, row(&["domain", "name", "type", "value", "ttl", "priority", "record_id"]));
    assert_eq!(then.rows, before);
    assert!(then.rows.iter().any(|row| row[6] == "rec_02"), "the deleted record was there then");
    assert_eq!(now.rows, after);
    assert_eq!(everything.rows, every_domain);
    assert!(too_early.rows.is_empty(), "{:?}", too_early.rows);
    let rec_01: Vec<&str> = at_change.rows.iter().filter(|row| row[6] == "rec_01").map(|row| row[3].as_str()).collect();
    assert_eq!(rec_01, ["203.0.113.10"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn domains_expiring_rows() {
    let env = Env::start().await;
    env.fake.with_world(|world| world.domains[2]["autoRenew"] = json!(false));
    env.sync(&[]).await.assert_success();
    let today = date("2026-12-01");
    let expected = |days: i64| -> Vec<Vec<String>> {
        env.fake.with_world(|world| {
            let mut expiring: Vec<(bool, &str, &str, i64, &Value)> = world
                .domains
                .iter()
                .map(|domain| {
                    let expires = text(domain, "expiresAt");
                    let left = (date(expires) - today).num_days();
                    (domain["autoRenew"] == true, expires, text(domain, "name"), left, domain)
                })
                .filter(|(.., left, _)| *left <= days)
                .collect();
            expiring.sort_by_key(|(auto_renew, expires, name, ..)| (*auto_renew, *expires, *name));
            expiring
                .into_iter()
                .map(|(_, expires, name, left, domain)| {
                    vec![
                        name.to_string(),
                        expires.to_string(),
                        left.to_string(),
                        cell(domain.get("autoRenew")),
                        cell(domain.get("status")),
                    ]
                })
                .collect()
        })
    };

    let default_days = report(&env, "domains_expiring", &["today=2026-12-01"]).await;
    let through_example = report(&env, "domains_expiring", &["today=2026-12-01", "days=139"]).await;
    let short_of_example = report(&env, "domains_expiring", &["today=2026-12-01", "days=138"]).await;

    assert_eq!(default_days.header, row(&["name", "expires_at", "days_left", "auto_renew", "status"]));
    assert_eq!(default_days.rows, expected(60));
    assert_eq!(default_days.rows[0][3], "0", "auto-renew off comes first");
    assert_eq!(through_example.rows, expected(139));
    // By hand: example.com expires on 2027-04-19, 139 days after 2026-12-01.
    assert_eq!(
        through_example.rows.last().unwrap(),
        &row(&["example.com", "2027-04-19T00:00:00Z", "139", "1", "active"])
    );
    assert_eq!(short_of_example.rows, expected(138));
    assert!(short_of_example.rows.iter().all(|row| row[0] != "example.com"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_inventory_rows() {
    let env = Env::start().await;
    env.sync(&[]).await.assert_success();
    let removed = env.fake.with_world(|world| {
        let id = text(&world.services[4], "id").to_string();
        world.remove_service(&id).unwrap();
        id
    });
    env.sync(&[]).await.assert_success();
    let expected: Vec<Vec<String>> = env.fake.with_world(|world| {
        let mut services: Vec<&Value> = world.services.iter().collect();
        services.sort_by_key(|service| (text(service, "region"), text(service, "label"), text(service, "id")));
        services
            .into_iter()
            .map(|service| {
                let field = |key: &str| cell(service.get(key));
                let spec = |key: &str| cell(service["specs"].get(key));
                vec![
                    field("label"),
                    field("id"),
                    field("type"),
                    field("region"),
                    field("datacenter"),
                    field("tier"),
                    spec("vcpu"),
                    spec("ramGb"),
                    spec("diskGb"),
                    field("ipv4"),
                    field("ipv6"),
                    field("os"),
                    field("status"),
                    field("createdAt"),
                ]
            })
            .collect()
    });

    let inventory = report(&env, "service_inventory", &[]).await;

    assert_eq!(
        inventory.header,
        row(&[
            "label",
            "id",
            "type",
            "region",
            "datacenter",
            "tier",
            "vcpu",
            "ram_gb",
            "disk_gb",
            "ipv4",
            "ipv6",
            "os",
            "status",
            "created_at"
        ])
    );
    assert_eq!(inventory.rows, expected);
    assert!(inventory.rows.iter().all(|row| row[1] != removed), "the deleted service is left out");
}

/// Returns a `service_changes` row after `observed_at`: id, label, operation and the old and
/// new status, tier and label.
fn service_change(
    id: &str,
    label: &str,
    operation: &str,
    before: Option<&Value>,
    after: Option<&Value>,
) -> Vec<String> {
    let field = |snapshot: Option<&Value>, key: &str| cell(snapshot.and_then(|service| service.get(key)));
    vec![
        id.to_string(),
        label.to_string(),
        operation.to_string(),
        field(before, "status"),
        field(after, "status"),
        field(before, "tier"),
        field(after, "tier"),
        field(before, "label"),
        field(after, "label"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_changes_rows() {
    let env = Env::start().await;
    env.sync(&[]).await.assert_success();
    let (changes, initial_imports) = env.fake.with_world(|world| {
        let original: Vec<Value> = world.services.clone();
        let status = if original[1]["status"] == "running" { "stopped" } else { "running" };
        world.services[1]["status"] = json!(status);
        let tier = if original[2]["tier"] == "vps-xl" { "vps-s" } else { "vps-xl" };
        world.services[2]["tier"] = json!(tier);
        world.services[3]["label"] = json!("renamed-03");
        // A field the report does not follow makes history but no report row.
        world.services[5]["maintenanceWindow"] = json!("sun 02:00");
        let removed = world.remove_service(text(&original[4], "id")).unwrap();
        let mut added = original[0].clone();
        added["id"] = json!("svc_01JNEWSERVICE");
        added["label"] = json!("new-service-13");
        added["createdAt"] = json!("2026-12-01T00:00:00Z");
        world.services.push(added.clone());

        let changed = |index: usize| {
            let after = world.service(text(&original[index], "id")).unwrap();
            service_change(text(after, "id"), text(after, "label"), "update", Some(&original[index]), Some(after))
        };
        let changes = vec![
            changed(1),
            changed(2),
            changed(3),
            service_change(text(&removed, "id"), text(&removed, "label"), "delete", Some(&removed), None),
            service_change("svc_01JNEWSERVICE", "new-service-13", "insert", None, Some(&added)),
        ];
        (changes, original.len())
    });
    env.sync(&[]).await.assert_success();
    let times = observed(&env, "services", 2);
    let mut keyed: Vec<(DateTime<Utc>, String, i64, Vec<String>)> = changes
        .into_iter()
        .map(|change| {
            let (at, history_id) = times[&change[0]].clone();
            let mut cells = vec![at.clone()];
            cells.extend(change.iter().cloned());
            (instant(&at), change[0].clone(), history_id, cells)
        })
        .collect();
    keyed.sort_by(|a, b| (a.0, &a.1, a.2).cmp(&(b.0, &b.1, b.2)));
    let expected: Vec<Vec<String>> = keyed.into_iter().map(|(.., cells)| cells).collect();

    let recent = report(&env, "service_changes", &[]).await;
    let with_import = report(&env, "service_changes", &["include_initial=1"]).await;

    assert_eq!(
        recent.header,
        row(&[
            "observed_at",
            "service_id",
            "label",
            "operation",
            "old_status",
            "new_status",
            "old_tier",
            "new_tier",
            "old_label",
            "new_label"
        ])
    );
    assert_eq!(recent.rows, expected);
    assert_eq!(with_import.rows.len(), initial_imports + expected.len());
    assert!(with_import.rows[..initial_imports].iter().all(|row| row[3] == "insert"));
    assert_eq!(with_import.rows[initial_imports..], expected[..]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_tickets_rows() {
    let env = Env::start().await;
    env.fake.with_world(|world| {
        let resolved = world.tickets.iter_mut().find(|t| t["status"] == "open" && t["id"] != "tkt_01JRTICKET");
        resolved.unwrap()["status"] = json!("resolved");
        world.tickets.iter_mut().find(|t| t["status"] == "closed").unwrap()["status"] = json!("waiting");
        world.tickets.iter_mut().find(|t| t["status"] == "pending").unwrap()["priority"] = json!("critical");
    });
    env.sync(&[]).await.assert_success();
    let today = date("2026-12-01");
    let expected: Vec<Vec<String>> = env.fake.with_world(|world| {
        let rank =
            |priority: &str| ["urgent", "high", "normal", "low"].iter().position(|p| *p == priority).unwrap_or(4);
        let mut open: Vec<&Value> =
            world.tickets.iter().filter(|t| !["closed", "resolved"].contains(&text(t, "status"))).collect();
        open.sort_by_key(|t| {
            (rank(text(t, "priority")), std::cmp::Reverse(days_since(text(t, "createdAt"), today)), text(t, "id"))
        });
        open.into_iter()
            .map(|ticket| {
                let service = ticket.get("serviceId").and_then(Value::as_str).and_then(|id| world.service(id));
                vec![
                    text(ticket, "priority").to_string(),
                    days_since(text(ticket, "createdAt"), today).to_string(),
                    days_since(text(ticket, "updatedAt"), today).to_string(),
                    text(ticket, "subject").to_string(),
                    text(ticket, "status").to_string(),
                    service.map(|service| text(service, "label")).unwrap_or_default().to_string(),
                    text(ticket, "id").to_string(),
                ]
            })
            .collect()
    });

    let open = report(&env, "open_tickets", &["today=2026-12-01"]).await;

    assert_eq!(
        open.header,
        row(&["priority", "age_days", "days_since_activity", "subject", "status", "service_label", "id"])
    );
    assert_eq!(open.rows, expected);
    assert_eq!(open.rows.last().unwrap()[0], "critical", "an unknown priority comes last");
    assert!(open.rows.iter().any(|row| row[4] == "waiting"));
    assert!(open.rows.iter().any(|row| !row[5].is_empty()), "some ticket names a service");
    // By hand: created 2026-04-18 and updated 2026-04-19, so 227 and 226 days before 2026-12-01.
    let reference = row(&["high", "227", "226", "VPS not booting after kernel update", "open", "", "tkt_01JRTICKET"]);
    assert!(open.rows.contains(&reference), "{:?}", open.rows);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payment_methods_expiring_rows() {
    let env = Env::start().await;
    env.fake.with_world(|world| {
        let card = |id: &str, month: u32, year: u32| {
            json!({"id": id, "type": "card", "brand": "mastercard", "last4": "5454",
                   "expMonth": month, "expYear": year, "isDefault": false})
        };
        world.payment_methods.push(card("pm_01JLEAPYEAR", 2, 2028));
        world.payment_methods.push(card("pm_01JTHREEMONTHS", 1, 2029));
        world.payment_methods.push(card("pm_01JFOURMONTHS", 2, 2029));
        world.payment_methods.push(json!({"id": "pm_01JPAYPAL", "type": "paypal", "isDefault": false}));
    });
    env.sync(&[]).await.assert_success();
    let today = date("2028-10-15");
    let expected: Vec<Vec<String>> = env.fake.with_world(|world| {
        let mut cards: Vec<(i64, i64, &str, &Value)> = world
            .payment_methods
            .iter()
            .filter_map(|method| {
                Some((method.get("expYear")?.as_i64()?, method.get("expMonth")?.as_i64()?, text(method, "id"), method))
            })
            .collect();
        cards.sort_by_key(|(year, month, id, _)| (*year, *month, *id));
        cards
            .into_iter()
            .filter_map(|(year, month, id, method)| {
                let months_left = year * 12 + month - (i64::from(today.year()) * 12 + i64::from(today.month()));
                let first_of_next =
                    NaiveDate::from_ymd_opt(year as i32, month as u32, 1).unwrap() + chrono::Months::new(1);
                let expires_on = first_of_next.pred_opt().unwrap();
                (months_left <= 3).then(|| {
                    vec![
                        cell(method.get("brand")),
                        cell(method.get("last4")),
                        month.to_string(),
                        year.to_string(),
                        expires_on.to_string(),
                        months_left.to_string(),
                        cell(method.get("isDefault")),
                        id.to_string(),
                    ]
                })
            })
            .collect()
    });

    let expiring = report(&env, "payment_methods_expiring", &["today=2028-10-15"]).await;

    assert_eq!(
        expiring.header,
        row(&["brand", "last4", "exp_month", "exp_year", "expires_on", "months_left", "is_default", "id"])
    );
    assert_eq!(expiring.rows, expected);
    // By hand: the leap-year card ended on 2028-02-29, and the reference card has two months left.
    assert_eq!(expiring.rows[0], row(&["mastercard", "5454", "2", "2028", "2028-02-29", "-8", "0", "pm_01JLEAPYEAR"]));
    assert!(expiring.rows.contains(&row(&["visa", "4242", "12", "2028", "2028-12-31", "2", "1", "pm_01JRCARD"])));
    let ids: Vec<&str> = expiring.rows.iter().map(|row| row[7].as_str()).collect();
    assert!(ids.contains(&"pm_01JTHREEMONTHS"), "three months ahead is included: {ids:?}");
    assert!(!ids.contains(&"pm_01JFOURMONTHS"), "four months ahead is left out: {ids:?}");

    let this_month = report(&env, "payment_methods_expiring", &["today=2028-10-15", "months=0"]).await;
    assert_eq!(this_month.rows, expected[..1]);
}

const SYNC_HEALTH_COLUMNS: [&str; 9] = [
    "account_id",
    "resource",
    "last_run_id",
    "last_status",
    "last_error",
    "last_full_at",
    "hours_since_full",
    "failures_7d",
    "stale",
];

const RESOURCES: [&str; 8] =
    ["account", "dns-records", "domains", "invoices", "payment-methods", "services", "ssh-keys", "tickets"];

const ACCOUNT_ID: &str = "acc_01HX4N9PKBQ3MVZRTA7CGWXE2F";

#[track_caller]
fn assert_fresh_hours(text: &str) {
    let hours: f64 = text.parse().unwrap_or_else(|_| panic!("hours_since_full {text:?} is not a number"));
    assert!((0.0..1.0).contains(&hours), "a listing made seconds ago is {hours} hours old");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_health_failed_resource() {
    let env = Env::start().await;
    env.sync(&[]).await.assert_success();
    env.fake.add_fault(Fault::status("/v1/tickets", 500));
    let run = env.sync(&["--max-attempts", "1"]).await;
    assert_eq!(run.code, 1, "{}", run.output());
    let db = env.db();
    let run_day = strings(&db, "SELECT substr(started_at, 1, 10) FROM sync_runs WHERE id = 2").remove(0);
    let tickets_full = strings(&db, "SELECT last_full_at FROM sync_state WHERE resource = 'tickets'").remove(0);
    let day_after_window = (date(&run_day) + chrono::Days::new(7)).to_string();

    let health = report(&env, "sync_health", &[&format!("today={run_day}")]).await;
    let all_stale = report(&env, "sync_health", &[&format!("today={run_day}"), "max_age_hours=0"]).await;
    let window_over = report(&env, "sync_health", &[&format!("today={day_after_window}")]).await;

    assert_eq!(health.header, row(&SYNC_HEALTH_COLUMNS));
    let resources: Vec<&str> = health.rows.iter().map(|row| row[1].as_str()).collect();
    assert_eq!(resources, RESOURCES);
    for row in &health.rows {
        let resource = row[1].as_str();
        assert_eq!(row[0], ACCOUNT_ID);
        assert_eq!(row[2], "2", "{resource}: last run");
        assert_utc_timestamp(&row[5]);
        assert_fresh_hours(&row[6]);
        assert_eq!(row[8], "0", "{resource}: listed in full seconds ago, so not stale");
        if resource == "tickets" {
            assert_eq!(row[3], "failed");
            assert!(row[4].contains("HTTP 500"), "tickets error: {:?}", row[4]);
            assert_eq!(row[5], tickets_full, "the failed run keeps the last complete listing");
            assert_eq!(row[7], "1");
        } else {
            assert_eq!(row[3], "succeeded", "{resource}");
            assert_eq!(row[4], "", "{resource}");
            assert_eq!(row[7], "0", "{resource}");
        }
    }
    assert!(all_stale.rows.iter().all(|row| row[8] == "1"), "{:?}", all_stale.rows);
    let tickets = window_over.rows.iter().find(|row| row[1] == "tickets").unwrap();
    assert_eq!(tickets[7], "0", "a failure 7 days before today is outside the window");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_health_never_listed_stale() {
    let env = Env::start().await;
    env.fake.add_fault(Fault::status("/v1/tickets", 500));
    let run = env.sync(&["--max-attempts", "1"]).await;
    assert_eq!(run.code, 1, "{}", run.output());
    let run_day = strings(&env.db(), "SELECT substr(started_at, 1, 10) FROM sync_runs WHERE id = 1").remove(0);

    let health = report(&env, "sync_health", &[&format!("today={run_day}")]).await;

    let tickets = health.rows.iter().find(|row| row[1] == "tickets").expect("a tickets row");
    assert_eq!(tickets[2], "1");
    assert_eq!(tickets[3], "failed");
    assert!(tickets[4].contains("HTTP 500"), "tickets error: {:?}", tickets[4]);
    assert_eq!(tickets[5], "", "never listed in full");
    assert_eq!(tickets[6], "");
    assert_eq!(tickets[7], "1");
    assert_eq!(tickets[8], "1", "never listed in full, so stale");
    let others: Vec<&Vec<String>> = health.rows.iter().filter(|row| row[1] != "tickets").collect();
    assert_eq!(others.len(), RESOURCES.len() - 1);
    assert!(others.iter().all(|row| row[8] == "0"), "{others:?}");
}

/// Syncs, then changes DNS records and services, adds a card that expires this month and syncs
/// again, so every report has rows with its default parameters.
async fn env_for_every_report() -> Env {
    let env = env_with_dns_changes().await;
    let now = Utc::now();
    env.fake.with_world(|world| {
        world.services[1]["status"] = json!("suspended");
        world.services[3]["label"] = json!("renamed-03");
        world.payment_methods.push(json!({
            "id": "pm_01JTHISMONTH", "type": "card", "brand": "visa", "last4": "1881",
            "expMonth": now.month(), "expYear": now.year(), "isDefault": false
        }));
    });
    env.sync(&[]).await.assert_success();
    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite3_matches_tool_defaults() {
    let env = env_for_every_report().await;
    let mut files: Vec<String> = std::fs::read_dir(queries_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    let expected_files: Vec<String> = SHIPPED.iter().map(|name| format!("{name}.sql")).collect();
    assert_eq!(files, expected_files, "queries/ holds exactly the reports in SHIPPED, each tested here");

    for name in SHIPPED {
        let tool = report(&env, name, &[]).await;
        let shell = sqlite3(&env.db, name, &[]).await;

        assert_eq!(shell, tool, "{name}: sqlite3 and omega-sync differ");
        assert!(!tool.rows.is_empty(), "{name} has no rows, so the comparison proves little");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite3_param_matches_tool_param() {
    let env = Env::start().await;
    env.sync(&[]).await.assert_success();

    let tool = report(&env, "unpaid_invoices", &["today=2026-12-01"]).await;
    let shell = sqlite3(&env.db, "unpaid_invoices", &[".param set :today \"'2026-12-01'\""]).await;

    assert_eq!(shell, tool);
    assert_eq!(shell.rows[0][3], "635", "the age counts to the pinned day");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fractional_seconds_compared_as_times() {
    let env = Env::start().await;
    env.sync(&[]).await.assert_success();
    env.fake.with_world(|world| {
        world.records_mut("example.com")[0]["value"] = json!("203.0.113.10");
        world.services[1]["status"] = json!("suspended");
    });
    env.sync(&[]).await.assert_success();
    // The archive writes fractional seconds only when they are not zero, so `13:00:00.500Z`
    // sorts before `13:00:00Z` as text although it is half a second later.
    env.db()
        .execute_batch(
            "UPDATE history SET observed_at = '2026-11-30T12:00:00Z' WHERE run_id = 1;
             UPDATE history SET observed_at = '2026-11-30T13:00:00.500Z' WHERE run_id = 2;",
        )
        .unwrap();
    let second = "2026-11-30T13:00:00Z";

    let zone = report(&env, "dns_zone_as_of", &["domain=example.com", &format!("as_of={second}")]).await;
    let dns_since = report(&env, "dns_changes", &[&format!("since={second}")]).await;
    let dns_until = report(&env, "dns_changes", &["since=2026-11-30", &format!("until={second}")]).await;
    let services_since = report(&env, "service_changes", &[&format!("since={second}")]).await;
    let services_until = report(&env, "service_changes", &["since=2026-11-30", &format!("until={second}")]).await;
    let import = report(&env, "dns_zone_as_of", &["domain=example.com", "as_of=2026-11-30T12:00:00Z"]).await;
    let after_import = ["since=2026-11-30T12:00:00.500Z", "include_initial=1"];
    let dns_after_import = report(&env, "dns_changes", &after_import).await;
    let services_after_import = report(&env, "service_changes", &after_import).await;

    let rec_01: Vec<&str> = zone.rows.iter().filter(|row| row[6] == "rec_01").map(|row| row[3].as_str()).collect();
    assert_eq!(rec_01, ["198.51.100.42"], "the change half a second later is not in the zone yet");
    let dns_times: Vec<&str> = dns_since.rows.iter().map(|row| row[0].as_str()).collect();
    assert_eq!(dns_times, ["2026-11-30T13:00:00.500Z"]);
    assert!(dns_until.rows.is_empty(), "{:?}", dns_until.rows);
    let service_times: Vec<&str> = services_since.rows.iter().map(|row| row[0].as_str()).collect();
    assert_eq!(service_times, ["2026-11-30T13:00:00.500Z"]);
    assert!(services_until.rows.is_empty(), "{:?}", services_until.rows);
    assert_eq!(import.rows.len(), 3, "the import is valid from its own second: {:?}", import.rows);
    assert_eq!(dns_after_import.rows, dns_since.rows, "the import at 12:00:00Z is before 12:00:00.500Z");
    assert_eq!(services_after_import.rows, services_since.rows);
}
