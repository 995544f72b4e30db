//! Shared test fixtures: a fake API on loopback, a temporary archive, and the real binary.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Output;

use omega_sync::fake::{FakeApi, FakeConfig};
use rusqlite::Connection;
use tempfile::TempDir;

pub const KEY: &str = "fake-key";

/// A fake API and an empty folder for the archive, removed when dropped.
pub struct Env {
    pub fake: FakeApi,
    pub dir: TempDir,
    pub db: PathBuf,
}

impl Env {
    pub async fn start() -> Env {
        Env::with_config(FakeConfig::default()).await
    }

    pub async fn with_config(config: FakeConfig) -> Env {
        let fake = FakeApi::start(config, SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .await
            .expect("the fake API starts on loopback");
        let dir = tempfile::tempdir().expect("a temporary folder");
        let db = dir.path().join("archive.db");
        Env { fake, dir, db }
    }

    /// Runs `omega-sync sync` against the fake API with extra arguments.
    pub async fn sync(&self, extra: &[&str]) -> Run {
        let url = self.fake.base_url();
        let mut args = vec!["sync", "--api-url", &url, "--db", self.db.to_str().unwrap()];
        args.extend_from_slice(extra);
        omega(&args, &[("OMEGA_API_KEY", KEY)]).await
    }

    pub fn db(&self) -> Connection {
        Connection::open(&self.db).expect("the archive opens")
    }

    /// Returns how many requests the fake API saw for a path, any query.
    pub fn requests_to(&self, path: &str) -> usize {
        self.fake.requests().iter().filter(|request| request.path == path).count()
    }
}

/// The output of one run of the binary.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    #[track_caller]
    pub fn assert_success(&self) {
        assert_eq!(self.code, 0, "expected success:\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
    }
}

impl From<Output> for Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// Runs the binary with a clean environment: only the variables given, plus PATH and HOME.
pub async fn omega(args: &[&str], env: &[(&str, &str)]) -> Run {
    omega_in(args, env, None).await
}

pub async fn omega_in(args: &[&str], env: &[(&str, &str)], dir: Option<&Path>) -> Run {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_omega-sync"));
    command.args(args).env_clear();
    for name in ["PATH", "HOME"] {
        if let Some(value) = std::env::var_os(name) {
            command.env(name, value);
        }
    }
    command.envs(env.iter().copied());
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    command.output().await.expect("the binary runs").into()
}

/// Reads one column of every row of a query as text, for compact comparisons.
pub fn strings(connection: &Connection, sql: &str) -> Vec<String> {
    let mut statement = connection.prepare(sql).unwrap();
    statement.query_map([], |row| row.get::<_, String>(0)).unwrap().map(Result::unwrap).collect()
}

pub fn count(connection: &Connection, sql: &str) -> i64 {
    connection.query_row(sql, [], |row| row.get(0)).unwrap()
}

/// Dumps every entity row as text, so two states of an archive can be compared exactly.
pub fn snapshot(connection: &Connection) -> Vec<String> {
    let mut rows = Vec::new();
    for table in omega_sync::archive::ENTITY_TABLES {
        let mut statement = connection.prepare(&format!("SELECT * FROM {table} ORDER BY 1, 2, 3")).unwrap();
        let columns = statement.column_count();
        let mut query = statement.query([]).unwrap();
        while let Some(row) = query.next().unwrap() {
            let values: Vec<String> = (0..columns)
                .map(|index| format!("{:?}", row.get::<_, rusqlite::types::Value>(index).unwrap()))
                .collect();
            rows.push(format!("{table}: {}", values.join(" | ")));
        }
    }
    rows
}
