//! The API key stays secret, plain HTTP is rejected, and hostile names stay in one path segment.

use omega_sync::fake::{FakeConfig, Fault};
use serde_json::json;

use crate::support::{Env, count, omega, strings};

const SECRET: &str = "sk_live_9f8e7d6c5b4a39281706";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_never_in_output_or_archive() {
    let env = Env::with_config(FakeConfig { api_key: SECRET.to_string(), ..FakeConfig::default() }).await;
    env.fake.add_fault(Fault::status("/v1/tickets", 500));
    let url = env.fake.base_url();
    let db = env.db.to_str().unwrap();

    let mut outputs = Vec::new();
    let sync =
        omega(&["-vv", "sync", "--api-url", &url, "--db", db, "--max-attempts", "2"], &[("OMEGA_API_KEY", SECRET)])
            .await;
    assert_eq!(sync.code, 1, "{}", sync.output());
    outputs.push(sync.output());
    let json_logs =
        omega(&["-vv", "--log-format", "json", "sync", "--api-url", &url, "--db", db], &[("OMEGA_API_KEY", SECRET)])
            .await;
    outputs.push(json_logs.output());
    let status = omega(&["-vv", "status", "--db", db], &[("OMEGA_API_KEY", SECRET)]).await;
    outputs.push(status.output());
    let queued = omega(
        &[
            "-vv",
            "queue",
            "--db",
            db,
            "dns-record",
            "example.com",
            "--type",
            "A",
            "--name",
            "x",
            "--value",
            "198.51.100.7",
        ],
        &[],
    )
    .await;
    queued.assert_success();
    env.fake.add_fault(Fault::status("/v1/domains/example.com/records", 500).with_method("POST"));
    let pushed = omega(&["-vv", "push", "--api-url", &url, "--db", db], &[("OMEGA_API_KEY", SECRET)]).await;
    assert_eq!(pushed.code, 1, "{}", pushed.output());
    outputs.push(pushed.output());
    let dry = omega(&["-vv", "push", "--dry-run", "--api-url", &url, "--db", db], &[("OMEGA_API_KEY", SECRET)]).await;
    outputs.push(dry.output());
    let report = omega(&["-vv", "report", "run", "sync_health", "--db", db], &[("OMEGA_API_KEY", SECRET)]).await;
    report.assert_success();
    outputs.push(report.output());
    let export =
        omega(&["-vv", "export", "--db", db, "--output", env.dir.path().join("csv").to_str().unwrap()], &[]).await;
    export.assert_success();
    let wrong_key =
        omega(&["-vv", "sync", "--api-url", &url, "--db", db], &[("OMEGA_API_KEY", "sk_wrong_key_123456")]).await;
    assert_eq!(wrong_key.code, 2);
    assert!(wrong_key.stderr.contains("HTTP 401"), "{}", wrong_key.stderr);
    assert!(!wrong_key.output().contains("sk_wrong_key_123456"));

    for output in &outputs {
        assert!(!output.contains(SECRET), "the key leaked into output:\n{output}");
    }
    let mut files: Vec<std::path::PathBuf> =
        std::fs::read_dir(env.dir.path()).unwrap().map(|e| e.unwrap().path()).collect();
    files.extend(std::fs::read_dir(env.dir.path().join("csv")).unwrap().map(|e| e.unwrap().path()));
    for path in files.into_iter().filter(|path| path.is_file()) {
        let bytes = std::fs::read(&path).unwrap();
        let found = bytes.windows(SECRET.len()).any(|window| window == SECRET.as_bytes());
        assert!(!found, "the key is stored in {}", path.display());
    }
    assert!(env.fake.requests().iter().all(|request| request.authorized || request.path == "/v1/account"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_key_explains_setup() {
    let run = omega(&["sync", "--api-url", "http://127.0.0.1:9", "--db", "/nonexistent/x.db"], &[]).await;

    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no API key: set OMEGA_API_KEY"), "{}", run.stderr);
    assert!(run.stderr.contains("--api-key-file"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_file_read_and_mode_checked() {
    let env = Env::start().await;
    let key_file = env.dir.path().join("omega.key");
    std::fs::write(&key_file, "fake-key\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let url = env.fake.base_url();

    let run = omega(
        &["sync", "--api-url", &url, "--db", env.db.to_str().unwrap(), "--api-key-file", key_file.to_str().unwrap()],
        &[],
    )
    .await;

    run.assert_success();
    #[cfg(unix)]
    assert!(run.stderr.contains("chmod 600"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_to_remote_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");

    // Validation rejects the URL before any connection is attempted.
    let run =
        omega(&["sync", "--api-url", "http://omega.invalid", "--db", db.to_str().unwrap()], &[("OMEGA_API_KEY", "k")])
            .await;

    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("plain http:// to omega.invalid is not allowed"), "{}", run.stderr);
    assert!(!db.exists());
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_created_private() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::start().await;

    env.sync(&["--only", "ssh-keys"]).await.assert_success();

    let mode = std::fs::metadata(&env.db).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_domain_names_stay_one_segment() {
    let env = Env::start().await;
    let names = ["a/b?c", "x..y", "../admin", "50%off#frag"];
    env.fake.with_world(|world| {
        for (index, name) in names.iter().enumerate() {
            world.domains.push(json!({
                "id": format!("dom_hostile_{index}"),
                "name": name,
                "status": "active",
                "autoRenew": false,
                "expiresAt": "2027-01-01T00:00:00Z"
            }));
            world.records.insert(
                name.to_string(),
                vec![json!({"id": format!("rec_h{index}"), "type": "TXT", "name": "@", "value": format!("for {name}"), "ttl": 300})],
            );
        }
    });

    env.sync(&["--only", "dns-records"]).await.assert_success();

    let paths: Vec<String> = env.fake.requests().into_iter().map(|request| request.path).collect();
    for encoded in [
        "/v1/domains/a%2Fb%3Fc/records",
        "/v1/domains/x..y/records",
        "/v1/domains/..%2Fadmin/records",
        "/v1/domains/50%25off%23frag/records",
    ] {
        assert!(paths.iter().any(|path| path == encoded), "{encoded} not requested; got {paths:?}");
    }
    let db = env.db();
    for (index, name) in names.iter().enumerate() {
        let values = strings(&db, &format!("SELECT value FROM dns_records WHERE domain_id = 'dom_hostile_{index}'"));
        assert_eq!(values, vec![format!("for {name}")]);
    }
    assert_eq!(count(&db, "SELECT count(*) FROM sync_run_resources WHERE status <> 'succeeded'"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dot_segment_domain_rejected() {
    let env = Env::start().await;
    env.fake.with_world(|world| {
        world
            .domains
            .push(json!({"id": "dom_dots", "name": "..", "status": "active", "autoRenew": false, "expiresAt": null}));
    });

    let run = env.sync(&["--only", "dns-records"]).await;

    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("cannot request \"..\" as a URL path segment"), "{}", run.stderr);
    assert!(env.fake.requests().iter().all(|request| request.path.starts_with("/v1/")));
    assert_eq!(count(&env.db(), "SELECT count(*) FROM domains WHERE id = 'dom_dots'"), 1);
}
