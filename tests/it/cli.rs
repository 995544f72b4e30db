//! Commands other than `sync`: `status`, `demo`, and usage errors.

use crate::support::{Env, omega, omega_in};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_runs_and_counts() {
    let env = Env::start().await;
    env.sync(&[]).await.assert_success();

    let run = omega(&["status", "--db", env.db.to_str().unwrap()], &[]).await;

    run.assert_success();
    assert!(run.stdout.contains(&format!("archive: {}", env.db.display())), "{}", run.stdout);
    assert!(run.stdout.contains("succeeded"), "{}", run.stdout);
    assert!(run.stdout.contains("dns_records"), "{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_uses_env_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.db");

    let run = omega(&["status"], &[("OMEGA_SYNC_DB", path.to_str().unwrap())]).await;

    assert_eq!(run.code, 1);
    assert!(run.stdout.contains(&format!("archive: {}", path.display())), "{}", run.stdout);
    assert!(run.stderr.contains("does not exist; run `omega-sync sync` first"), "{}", run.stderr);
    assert!(!path.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_archives_fake_account() {
    let dir = tempfile::tempdir().unwrap();

    let run = omega_in(&["demo"], &[], Some(dir.path())).await;

    run.assert_success();
    assert!(run.stdout.contains("sync succeeded"), "{}", run.stdout);
    assert!(run.stdout.contains("sqlite3 omega-demo.db"), "{}", run.stdout);
    let db = rusqlite::Connection::open(dir.path().join("omega-demo.db")).unwrap();
    let total: i64 =
        db.query_row("SELECT total_cents FROM invoices WHERE number = 'INV-2026-0042'", [], |row| row.get(0)).unwrap();
    assert_eq!(total, 1999);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_flag_is_usage_error() {
    let run = omega(&["sync", "--bogus"], &[]).await;

    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--bogus"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_resource_is_usage_error() {
    let run = omega(&["sync", "--only", "servers", "--db", "/nonexistent/x.db"], &[("OMEGA_API_KEY", "k")]).await;

    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("unknown resource \"servers\""), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_a_database_left_untouched() {
    let env = Env::start().await;
    std::fs::write(&env.db, "these are notes, not SQLite\n".repeat(200)).unwrap();
    let before = std::fs::read(&env.db).unwrap();

    let run = env.sync(&[]).await;

    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("is it an omega-sync SQLite database?"), "{}", run.stderr);
    assert_eq!(std::fs::read(&env.db).unwrap(), before);
    assert_eq!(env.fake.requests().len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_sqlite_database_untouched() {
    let env = Env::start().await;
    {
        let other = rusqlite::Connection::open(&env.db).unwrap();
        other.execute_batch("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('keep me');").unwrap();
    }
    let before = std::fs::read(&env.db).unwrap();

    let run = env.sync(&[]).await;
    let status = omega(&["status", "--db", env.db.to_str().unwrap()], &[]).await;

    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("is a SQLite database but not an omega-sync archive"), "{}", run.stderr);
    assert_eq!(status.code, 1);
    assert!(status.stderr.contains("not an omega-sync archive"), "{}", status.stderr);
    assert_eq!(std::fs::read(&env.db).unwrap(), before);
    assert!(!env.dir.path().join("archive.db-wal").exists());
    assert_eq!(env.fake.requests().len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_db_variable_uses_default() {
    let dir = tempfile::tempdir().unwrap();

    let run = omega(&["status"], &[("OMEGA_SYNC_DB", ""), ("HOME", dir.path().to_str().unwrap())]).await;

    assert!(run.stdout.contains("omega.db"), "{}", run.stdout);
    assert!(!run.stderr.contains("a value is required"), "{}", run.stderr);
    assert!(run.stderr.contains(".local/share/omega-sync/omega.db does not exist"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_run_still_reports_failures() {
    let env = Env::start().await;
    env.fake.add_fault(omega_sync::fake::Fault::status("/v1/tickets", 500));

    let run = env.sync(&["-q", "--max-attempts", "1"]).await;

    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("tickets failed: GET /v1/tickets?page=1&per_page=100: HTTP 500"), "{}", run.stderr);
    assert_eq!(run.stdout.lines().count(), 1, "{}", run.stdout);
    assert!(run.stdout.contains("sync partial"), "{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_in_url_rejected() {
    let run = omega(
        &["sync", "--api-url", "http://user:hunter2@127.0.0.1:9", "--db", "/nonexistent/x.db"],
        &[("OMEGA_API_KEY", "k")],
    )
    .await;

    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("contains a user name or password"), "{}", run.stderr);
    assert!(!run.stderr.contains("hunter2"), "{}", run.stderr);
}
