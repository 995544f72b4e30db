//! Running unattended: the writer lock, signals, kills at any moment, remembered rate limits,
//! and archives that cannot be opened for writing.

use std::time::{Duration, Instant};

use omega_sync::fake::{FakeConfig, Fault};
use tokio::process::Child;

use crate::support::{Env, KEY, count, omega, snapshot, strings};

fn integrity(env: &Env) -> String {
    env.db().query_row("PRAGMA integrity_check", [], |row| row.get(0)).unwrap()
}

/// Starts `omega-sync sync` in the background against a slow fake API.
fn spawn_sync(env: &Env, extra: &[&str]) -> Child {
    let url = env.fake.base_url();
    let mut args = vec!["sync", "--api-url", &url, "--db", env.db.to_str().unwrap()];
    args.extend_from_slice(extra);
    tokio::process::Command::new(env!("CARGO_BIN_EXE_omega-sync"))
        .args(&args)
        .env_clear()
        .env("OMEGA_API_KEY", KEY)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

async fn slow_env(latency_ms: u64) -> Env {
    Env::with_config(FakeConfig { latency: Duration::from_millis(latency_ms), ..FakeConfig::default() }).await
}

/// Waits until the fake API has seen `requests` requests.
async fn wait_for_requests(env: &Env, requests: usize) {
    let started = Instant::now();
    while env.fake.requests().len() < requests {
        assert!(started.elapsed() < Duration::from_secs(20), "the sync never got going");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn send_signal(child: &Child, signal: &str) {
    let pid = child.id().expect("the child is running").to_string();
    let status = std::process::Command::new("kill").args([signal, &pid]).status().unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_writer_exits_75() {
    let env = Env::start().await;
    env.sync(&["--only", "ssh-keys"]).await.assert_success();
    let held = omega_sync::archive::lock::acquire(&env.db, "test", Duration::ZERO).unwrap();

    let sync = env.sync(&[]).await;
    let status = omega(&["status", "--db", env.db.to_str().unwrap()], &[]).await;
    let report = omega(&["report", "run", "service_inventory", "--db", env.db.to_str().unwrap()], &[]).await;

    assert_eq!(sync.code, 75, "{}", sync.output());
    assert!(sync.stderr.contains(&format!("test pid {} on ", std::process::id())), "{}", sync.stderr);
    assert!(sync.stderr.contains("--wait-lock"), "{}", sync.stderr);
    status.assert_success();
    report.assert_success();

    let releaser = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(600)).await;
        drop(held);
    });
    let waited = env.sync(&["--wait-lock", "10"]).await;
    releaser.await.unwrap();
    waited.assert_success();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_cancels_cleanly() {
    for (signal, code) in [("-TERM", 143), ("-INT", 130)] {
        let env = slow_env(40).await;
        let child = spawn_sync(&env, &["--per-page", "2", "--concurrency", "2"]);
        wait_for_requests(&env, 6).await;

        send_signal(&child, signal);
        let output = child.wait_with_output().await.unwrap();

        assert_eq!(output.status.code(), Some(code), "{signal}: {}", String::from_utf8_lossy(&output.stderr));
        let stdout = String::from_utf8_lossy(&output.stdout);
        let (items, outcomes) = summary_counts(&stdout);
        assert!(items >= outcomes, "{signal}: {items} items but {outcomes} outcomes in {stdout}");
        assert_eq!(integrity(&env), "ok");
        assert_eq!(strings(&env.db(), "SELECT status FROM sync_runs"), vec!["cancelled"], "{signal}");
        assert!(count(&env.db(), "SELECT count(*) FROM accounts") == 1, "{signal}: the committed account stays");
    }
}

/// Returns the items and the sum of inserted, updated, restored and unchanged from the summary
/// line "sync ... N items (A inserted, B updated, C deleted, D restored, E unchanged), ...".
fn summary_counts(stdout: &str) -> (u64, u64) {
    let line = stdout.lines().find(|line| line.contains(" items (")).expect("a summary line");
    let number_before = |word: &str| -> u64 {
        let end = line.find(word).unwrap_or_else(|| panic!("no {word:?} in {line}"));
        let start = line[..end].trim_end().rfind([' ', '(']).map_or(0, |index| index + 1);
        line[start..end].trim().parse().unwrap_or_else(|_| panic!("no number before {word:?} in {line}"))
    };
    let outcomes =
        ["inserted", "updated", "restored", "unchanged"].iter().map(|word| number_before(&format!(" {word}"))).sum();
    (number_before(" items ("), outcomes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_run_shows_full_mode() {
    let env = slow_env(40).await;
    let mut child = spawn_sync(&env, &["--per-page", "2", "--concurrency", "2"]);
    wait_for_requests(&env, 6).await;

    // Without `--full`, the run only learns from its plan that everything is listed in full.
    let started = Instant::now();
    let run = "SELECT status || ' ' || mode FROM sync_runs";
    while strings(&env.db(), run) != ["running full"] {
        assert!(started.elapsed() < Duration::from_secs(3), "run recorded as {:?}", strings(&env.db(), run));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    child.kill().await.unwrap();
    child.wait().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_anywhere_leaves_consistent_archive() {
    let env = slow_env(15).await;
    env.sync(&["--only", "ssh-keys"]).await.assert_success();
    let mut kept = 0;
    for (attempt, after_requests) in [2usize, 5, 9, 14, 20].into_iter().enumerate() {
        env.fake.clear_requests();
        let before = count(&env.db(), "SELECT count(*) FROM history");
        let mut child = spawn_sync(&env, &["--per-page", "3", "--concurrency", "2", "--full"]);
        wait_for_requests(&env, after_requests).await;

        child.kill().await.unwrap();
        child.wait().await.unwrap();

        assert_eq!(integrity(&env), "ok", "kill {attempt}");
        let after = count(&env.db(), "SELECT count(*) FROM history");
        assert!(after >= before, "kill {attempt}: history shrank");
        kept = after;
    }

    env.fake.set_latency(Duration::ZERO);
    let finished = env.sync(&["--full"]).await;

    finished.assert_success();
    assert!(finished.stderr.contains("was interrupted before it finished"), "{}", finished.stderr);
    let db = env.db();
    assert_eq!(count(&db, "SELECT count(*) FROM sync_runs WHERE status = 'running'"), 0);
    assert_eq!(count(&db, "SELECT count(*) FROM sync_runs WHERE status = 'interrupted'"), 5);
    assert_eq!(count(&db, "SELECT count(*) FROM sync_run_resources WHERE status = 'running'"), 0);
    assert!(count(&db, "SELECT count(*) FROM history") >= kept);
    let services = env.fake.with_world(|world| world.services.len() as i64);
    assert_eq!(count(&db, "SELECT count(*) FROM services"), services);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_rate_limit_remembered() {
    let env = Env::start().await;
    env.fake.add_fault(Fault::rate_limit("/v1/tickets", "3600"));

    let first = env.sync(&[]).await;

    assert_eq!(first.code, 1, "{}", first.output());
    let until = strings(&env.db(), "SELECT until FROM api_backoff");
    assert_eq!(until.len(), 1);
    env.fake.clear_faults();
    env.fake.clear_requests();

    let second = env.sync(&[]).await;

    assert_eq!(second.code, 69, "{}", second.output());
    assert!(second.stderr.contains(&format!("the API asked to wait until {}", until[0])), "{}", second.stderr);
    assert!(env.fake.requests().is_empty());

    // A wait shorter than the retry limit is waited out, then the run proceeds.
    let soon = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    env.db().execute("UPDATE api_backoff SET until = ?1", [soon]).unwrap();
    let started = Instant::now();
    let third = env.sync(&[]).await;
    third.assert_success();
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert_eq!(count(&env.db(), "SELECT count(*) FROM api_backoff"), 0);
}

/// Runs the binary as an unprivileged user when the tests run as root, because root writes
/// through file permissions.
async fn sync_without_root(env: &Env) -> crate::support::Run {
    let url = env.fake.base_url();
    let db = env.db.to_str().unwrap().to_string();
    let binary = env!("CARGO_BIN_EXE_omega-sync");
    let root =
        std::process::Command::new("id").arg("-u").output().map(|out| out.stdout.starts_with(b"0\n")).unwrap_or(false);
    let mut command = if root {
        let mut command = tokio::process::Command::new("setpriv");
        command.args(["--reuid=65534", "--regid=65534", "--clear-groups", binary]);
        command
    } else {
        tokio::process::Command::new(binary)
    };
    command.args(["sync", "--api-url", &url, "--db", &db]).env_clear().env("OMEGA_API_KEY", KEY).env("HOME", "/tmp");
    command.output().await.unwrap().into()
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_archive_left_unchanged() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::start().await;
    env.sync(&["--only", "ssh-keys"]).await.assert_success();
    let before = snapshot(&env.db());
    std::fs::set_permissions(env.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&env.db, std::fs::Permissions::from_mode(0o444)).unwrap();
    let bytes = std::fs::read(&env.db).unwrap();

    let run = sync_without_root(&env).await;

    std::fs::set_permissions(&env.db, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(run.code, 1, "{}", run.output());
    assert!(run.stderr.contains("read-only"), "{}", run.stderr);
    assert_eq!(std::fs::read(&env.db).unwrap(), bytes);
    assert_eq!(snapshot(&env.db()), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newer_schema_refused() {
    let env = Env::start().await;
    env.sync(&["--only", "ssh-keys"]).await.assert_success();
    env.db()
        .execute(
            "INSERT INTO refinery_schema_history (version, name, applied_on, checksum) VALUES (99, 'future', '2030-01-01', '1')",
            [],
        )
        .unwrap();
    let before = snapshot(&env.db());
    env.fake.clear_requests();

    let run = env.sync(&[]).await;

    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("written by a newer omega-sync (schema version 99"), "{}", run.stderr);
    assert_eq!(snapshot(&env.db()), before);
    assert!(env.fake.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migration_backs_up_first() {
    let env = Env::start().await;
    env.sync(&["--only", "ssh-keys"]).await.assert_success();
    // Make the archive look like one written before the newest migration.
    let newest: i64 = env.db().query_row("SELECT max(version) FROM refinery_schema_history", [], |r| r.get(0)).unwrap();
    env.db().execute("DELETE FROM refinery_schema_history WHERE version = ?1", [newest]).unwrap();
    env.db().execute_batch("DROP TABLE api_backoff;").unwrap();

    let run = env.sync(&["--only", "ssh-keys"]).await;

    run.assert_success();
    assert!(
        run.stderr.contains(&format!("upgrading the archive schema from version {}", newest - 1)),
        "{}",
        run.stderr
    );
    let backups: Vec<_> = std::fs::read_dir(env.dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.to_string_lossy().ends_with(".bak"))
        .collect();
    assert_eq!(backups.len(), 1, "{backups:?}");
    let copy = rusqlite::Connection::open(&backups[0]).unwrap();
    let keys: i64 = copy.query_row("SELECT count(*) FROM ssh_keys", [], |r| r.get(0)).unwrap();
    assert!(keys > 0);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&backups[0]).unwrap().permissions().mode() & 0o777, 0o600);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_ca_file_is_usage_error() {
    let env = Env::start().await;
    let pem = env.dir.path().join("ca.pem");
    std::fs::write(&pem, "not a certificate").unwrap();

    let invalid = env.sync(&["--ca-cert", pem.to_str().unwrap()]).await;
    let missing = env.sync(&["--ca-cert", "/nonexistent/ca.pem"]).await;

    assert_eq!(invalid.code, 2, "{}", invalid.output());
    assert!(invalid.stderr.contains("--ca-cert"), "{}", invalid.stderr);
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("failed to read the CA file /nonexistent/ca.pem"), "{}", missing.stderr);
}

/// Mounts a small tmpfs, when the tests run as root, so a sync can run out of disk space.
/// Returns `None` where mounting is not allowed.
fn small_disk(dir: &std::path::Path, bytes: u64) -> Option<std::path::PathBuf> {
    let mount_point = dir.join("small-disk");
    std::fs::create_dir_all(&mount_point).ok()?;
    let status = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs", mount_point.to_str()?])
        .stderr(std::process::Stdio::null())
        .status()
        .ok()?;
    status.success().then_some(mount_point)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_keeps_archive() {
    let env = Env::start().await;
    env.sync(&[]).await.assert_success();
    let size = std::fs::metadata(&env.db).unwrap().len();
    let Some(mount_point) = small_disk(env.dir.path(), size + 96 * 1024) else {
        eprintln!("full_disk_keeps_archive: mounting a tmpfs is not allowed here; this case was not run");
        return;
    };
    let db = mount_point.join("archive.db");
    env.db().execute("VACUUM INTO ?1", [db.to_str().unwrap()]).unwrap();
    let before = snapshot(&rusqlite::Connection::open(&db).unwrap());
    // Every object changes, which needs far more room than the small disk has left.
    env.fake.with_world(|world| {
        let filler = "x".repeat(4000);
        for service in &mut world.services {
            service["notes"] = serde_json::json!(filler);
        }
        for invoice in &mut world.invoices {
            invoice["notes"] = serde_json::json!(filler);
        }
    });
    let url = env.fake.base_url();

    let run =
        omega(&["sync", "--full", "--api-url", &url, "--db", db.to_str().unwrap()], &[("OMEGA_API_KEY", KEY)]).await;

    let connection = rusqlite::Connection::open(&db).unwrap();
    let integrity: String = connection.query_row("PRAGMA integrity_check", [], |row| row.get(0)).unwrap();
    let after = snapshot(&connection);
    drop(connection);
    let _ = std::process::Command::new("umount").arg(&mount_point).status();
    assert_eq!(run.code, 1, "{}", run.output());
    assert!(run.stderr.contains("the disk holding the archive is full"), "{}", run.stderr);
    assert!(run.stdout.contains(" sync failed (full): "), "a summary line: {}", run.output());
    assert!(run.stdout.contains("rolled back the last writes"), "{}", run.output());
    assert_eq!(integrity, "ok");
    let kept = before
        .iter()
        .filter(|row| after.iter().any(|other| other.split(" | ").nth(1) == row.split(" | ").nth(1)))
        .count();
    assert_eq!(kept, before.len(), "rows archived before the run must still be there");
}

/// Stops an incremental run with `signal` after it stored a service's changed list entry and
/// before the slow detail request of that service returned, then checks that the next run
/// stores the detail's change too.
async fn detail_stored_after_stop(signal: &str) {
    const SERVICE: &str = "svc_01HY7M3ABCXYZ";
    let env = Env::start().await;
    env.sync(&[]).await.assert_success();
    env.fake.with_world(|world| {
        let service = world.services.iter_mut().find(|service| service["id"] == SERVICE).unwrap();
        service["label"] = serde_json::json!("relabelled");
        service["os"] = serde_json::json!("plan9-4th");
    });
    let detail = format!("/v1/services/{SERVICE}");
    env.fake.add_fault(Fault::new(detail, omega_sync::fake::FaultKind::Delay(Duration::from_secs(4))).once());
    let mut child = spawn_sync(&env, &[]);
    let label = format!("SELECT label FROM services WHERE id = '{SERVICE}'");
    let started = Instant::now();
    while strings(&env.db(), &label) != ["relabelled"] {
        assert!(started.elapsed() < Duration::from_secs(3), "the changed list entry was not committed in time");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let pid = child.id().unwrap().to_string();
    std::process::Command::new("kill").args([signal, &pid]).status().unwrap();
    child.wait().await.unwrap();
    env.sync(&[]).await.assert_success();

    let os = strings(&env.db(), &format!("SELECT os FROM services WHERE id = '{SERVICE}'"));
    assert_eq!(os, ["plan9-4th"], "after kill {signal}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detail_stored_after_sigterm() {
    detail_stored_after_stop("-TERM").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detail_stored_after_sigkill() {
    detail_stored_after_stop("-KILL").await;
}
