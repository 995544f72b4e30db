//! Query results as files: CSV round trips, spreadsheet-safe CSV, read-only queries, exports and
//! atomic output files.

use serde_json::json;

use crate::support::{Env, count, omega, snapshot};

const AWKWARD: [&str; 7] = ["a, b", "say \"hi\"", "line one\nline two", "Zoë", "東京", "=SUM(1)", "-dash"];

async fn env_with_awkward_text() -> Env {
    let env = Env::start().await;
    env.fake.with_world(|world| {
        for (index, text) in AWKWARD.iter().enumerate() {
            world.tickets[index]["subject"] = json!(text);
            world.services[index]["label"] = json!(text);
        }
    });
    env.sync(&[]).await.assert_success();
    env
}

fn query_rows(env: &Env, sql: &str) -> Vec<Vec<String>> {
    let db = env.db();
    let mut statement = db.prepare(sql).unwrap();
    let columns = statement.column_count();
    statement
        .query_map([], |row| {
            (0..columns)
                .map(|index| {
                    Ok(match row.get::<_, rusqlite::types::Value>(index)? {
                        rusqlite::types::Value::Null => String::new(),
                        rusqlite::types::Value::Integer(number) => number.to_string(),
                        rusqlite::types::Value::Text(text) => text,
                        other => panic!("unexpected value {other:?}"),
                    })
                })
                .collect()
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn parse_csv(bytes: &[u8]) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::ReaderBuilder::new().from_reader(bytes);
    let header = reader.headers().unwrap().iter().map(str::to_string).collect();
    let rows = reader.records().map(|record| record.unwrap().iter().map(str::to_string).collect()).collect();
    (header, rows)
}

const SQL: &str = "SELECT t.id, t.subject, t.service_id, s.label FROM tickets t \
                   LEFT JOIN services s ON s.account_id = t.account_id AND s.id = t.service_id ORDER BY t.id";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_round_trip_exact() {
    let env = env_with_awkward_text().await;
    let file = env.dir.path().join("tickets.csv");

    let run = omega(
        &["query", SQL, "--db", env.db.to_str().unwrap(), "--format", "csv", "--output", file.to_str().unwrap()],
        &[],
    )
    .await;

    run.assert_success();
    let bytes = std::fs::read(&file).unwrap();
    let (header, rows) = parse_csv(&bytes);
    assert_eq!(header, vec!["id", "subject", "service_id", "label"]);
    assert_eq!(rows, query_rows(&env, SQL));
    for text in AWKWARD {
        assert!(rows.iter().any(|row| row[1] == text), "{text:?} missing");
    }
    assert!(!bytes.starts_with("\u{feff}".as_bytes()));
    assert!(!bytes.windows(2).any(|pair| pair == b"\r\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn excel_csv_safe_for_spreadsheets() {
    let env = env_with_awkward_text().await;
    let sql = "SELECT subject, -5 AS negative, 2.5 AS real FROM tickets ORDER BY id";

    let run = omega(&["query", sql, "--db", env.db.to_str().unwrap(), "--excel"], &[]).await;

    run.assert_success();
    let bytes = run.stdout.as_bytes();
    assert!(bytes.starts_with("\u{feff}".as_bytes()));
    let body = &bytes[3..];
    assert!(body.ends_with(b"\r\n"));
    let bare_newlines = body.windows(2).filter(|pair| pair[1] == b'\n' && pair[0] != b'\r').count();
    assert_eq!(bare_newlines, 1, "only the newline inside the quoted subject is bare");
    let (header, rows) = parse_csv(body);
    assert_eq!(header, vec!["subject", "negative", "real"]);
    let subjects: Vec<&str> = rows.iter().map(|row| row[0].as_str()).collect();
    assert!(subjects.contains(&"'=SUM(1)"), "{subjects:?}");
    assert!(subjects.contains(&"'-dash"), "{subjects:?}");
    assert!(subjects.contains(&"Zoë"));
    assert!(subjects.contains(&"東京"));
    assert!(rows.iter().all(|row| row[1] == "-5" && row[2] == "2.5"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_and_ndjson_typed() {
    let env = Env::start().await;
    env.sync(&["--only", "invoices"]).await.assert_success();
    let sql = "SELECT number, total_cents, round(total_cents / 100.0, 2) AS total, paid_at FROM invoices \
               WHERE number = 'INV-2026-0042'";
    let db = env.db.to_str().unwrap();

    let json_run = omega(&["query", sql, "--db", db, "--format", "json"], &[]).await;
    let lines_run = omega(&["query", sql, "--db", db, "--format", "ndjson"], &[]).await;

    let expected =
        json!({"number": "INV-2026-0042", "total_cents": 1999, "total": 19.99, "paid_at": "2026-04-01T00:04:11Z"});
    assert_eq!(serde_json::from_str::<serde_json::Value>(&json_run.stdout).unwrap(), json!([expected.clone()]));
    assert_eq!(serde_json::from_str::<serde_json::Value>(lines_run.stdout.trim()).unwrap(), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_shows_money_as_decimal() {
    let env = Env::start().await;
    env.sync(&["--only", "invoices"]).await.assert_success();

    let run = omega(
        &[
            "query",
            "SELECT number, total_cents FROM invoices WHERE number = 'INV-2026-0042'",
            "--db",
            env.db.to_str().unwrap(),
            "--format",
            "table",
        ],
        &[],
    )
    .await;

    run.assert_success();
    assert!(run.stdout.contains("total"), "{}", run.stdout);
    assert!(run.stdout.contains("19.99"), "{}", run.stdout);
    assert!(!run.stdout.contains("1999 "), "{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writing_query_rejected() {
    let env = Env::start().await;
    env.sync(&[]).await.assert_success();
    let before = snapshot(&env.db());
    let db = env.db.to_str().unwrap();

    for sql in [
        "DELETE FROM invoices",
        "UPDATE tickets SET status = 'closed'",
        "DROP TABLE history",
        "INSERT INTO sync_runs (started_at, status, mode, api_url) VALUES ('x', 'running', 'full', 'x')",
        "SELECT 1; DELETE FROM invoices",
    ] {
        let run = omega(&["query", sql, "--db", db], &[]).await;
        assert_ne!(run.code, 0, "{sql}");
        assert!(run.stderr.contains("error:"), "{sql}: {}", run.stderr);
    }

    assert_eq!(snapshot(&env.db()), before);
    assert_eq!(count(&env.db(), "SELECT count(*) FROM sync_runs"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_query_leaves_no_file() {
    let env = Env::start().await;
    env.sync(&["--only", "ssh-keys"]).await.assert_success();
    let file = env.dir.path().join("report.csv");
    let kept = env.dir.path().join("kept.csv");
    std::fs::write(&kept, "previous report\n").unwrap();
    let db = env.db.to_str().unwrap();

    let missing =
        omega(&["query", "SELECT * FROM no_such_table", "--db", db, "--output", file.to_str().unwrap()], &[]).await;
    // abs() of the minimum integer overflows at run time, after the header row was written.
    let midway = omega(
        &[
            "query",
            "SELECT id, abs(-9223372036854775807 - 1) FROM ssh_keys",
            "--db",
            db,
            "--output",
            kept.to_str().unwrap(),
        ],
        &[],
    )
    .await;

    assert_eq!(missing.code, 1);
    assert!(missing.stderr.contains("no such table"), "{}", missing.stderr);
    assert!(!file.exists());
    assert_eq!(midway.code, 1, "{}", midway.output());
    assert_eq!(std::fs::read_to_string(&kept).unwrap(), "previous report\n");
    let leftovers: Vec<_> = std::fs::read_dir(env.dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_writes_every_table_and_view() {
    let env = Env::start().await;
    env.sync(&[]).await.assert_success();
    let out = env.dir.path().join("export");

    let run = omega(&["export", "--db", env.db.to_str().unwrap(), "--output", out.to_str().unwrap()], &[]).await;

    run.assert_success();
    for name in ["invoices", "dns_records", "history", "dns_record_changes", "service_versions", "sync_runs"] {
        let path = out.join(format!("{name}.csv"));
        assert!(path.exists(), "{name}.csv missing");
    }
    let (header, rows) = parse_csv(&std::fs::read(out.join("invoices.csv")).unwrap());
    assert_eq!(header[0], "account_id");
    assert_eq!(rows.len() as i64, count(&env.db(), "SELECT count(*) FROM invoices"));
    assert!(!out.join("refinery_schema_history.csv").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_unknown_table_rejected() {
    let env = Env::start().await;
    env.sync(&["--only", "ssh-keys"]).await.assert_success();
    let out = env.dir.path().join("export");

    let run = omega(
        &["export", "--db", env.db.to_str().unwrap(), "--output", out.to_str().unwrap(), "--tables", "invoices,nope"],
        &[],
    )
    .await;

    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("unknown table or view \"nope\""), "{}", run.stderr);
    assert!(!out.exists());
}
