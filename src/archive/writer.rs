//! The single writer: one thread owns the read-write connection and runs jobs in arrival order.
//! Async fetch tasks await its replies instead of blocking runtime threads on SQLite, and writes
//! never contend with each other for SQLite's write lock.
//!
//! Jobs are committed in groups. Each job runs inside its own savepoint, so a job that fails
//! undoes only its own writes. Consecutive jobs share one transaction, which is committed when
//! no job is waiting, when the group has been open for [`GROUP_TIME`], or when
//! [`Writer::commit`] requests it. A commit per job would spend most of a fast sync in commits
//! and checkpoints. Because jobs run in order and a group commits whole, a crash leaves the
//! archive as it was after some job, never with part of one.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use rusqlite::ffi;
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{mpsc, oneshot};

/// How long a group of jobs may stay uncommitted while more jobs keep arriving. This bounds the
/// work a crash can lose and the delay before other readers see it.
pub const GROUP_TIME: Duration = Duration::from_millis(1000);

/// A job as the thread runs it: it gets the connection, or the failure that stopped the writer,
/// and returns the error it ended with.
type Job = Box<dyn FnOnce(Result<&Connection, &Failure>) -> Option<Failure> + Send>;

enum Message {
    Job(Job),
    Commit(oneshot::Sender<rusqlite::Result<()>>),
}

/// A handle to the writer thread. Dropping every handle commits what is pending and ends the
/// thread.
#[derive(Clone)]
pub struct Writer {
    messages: mpsc::Sender<Message>,
    /// Set once the writer rejects every job, so callers can stop fetching what it cannot store.
    stopped: Arc<AtomicBool>,
}

impl Writer {
    /// Starts the writer thread. `queue` bounds the jobs waiting, so fast fetchers wait for the
    /// database instead of piling pages up in memory.
    pub fn spawn(connection: Connection, queue: usize) -> (Writer, JoinHandle<Connection>) {
        let (messages, receiver) = mpsc::channel::<Message>(queue.max(1));
        // A savepoint keeps the original of each page its job changes in a statement journal.
        // With temporary storage in memory that costs a copy instead of a file write.
        let _ = connection.pragma_update(None, "temp_store", "MEMORY");
        let stopped = Arc::new(AtomicBool::new(false));
        let flag = stopped.clone();
        let thread = std::thread::Builder::new()
            .name("omega-sync-writer".to_string())
            .spawn(move || serve(connection, receiver, &flag))
            .expect("failed to start the writer thread");
        (Writer { messages, stopped }, thread)
    }

    /// Runs `job` on the writer thread, inside a savepoint, and returns its result. When the job
    /// fails, its writes are undone and the error is returned. The writes of a job that
    /// succeeded are committed with its group: call [`Writer::commit`] before anything that
    /// needs them on disk.
    pub async fn call<T, F>(&self, job: F) -> rusqlite::Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let (reply, result) = oneshot::channel();
        let job: Job = Box::new(move |connection| {
            let (outcome, failure) = match connection {
                Ok(connection) => run_in_savepoint(connection, job),
                Err(failure) => (Err(failure.error()), None),
            };
            let _ = reply.send(outcome);
            failure
        });
        self.send(Message::Job(job)).await;
        result.await.expect("the writer thread dropped a job; it panicked")
    }

    /// Tells whether the writer rejects every job because an earlier write failed.
    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Relaxed)
    }

    /// Commits every job that ran before this call. Returns the error that kept any of them
    /// from being committed.
    pub async fn commit(&self) -> rusqlite::Result<()> {
        let (reply, result) = oneshot::channel();
        self.send(Message::Commit(reply)).await;
        result.await.expect("the writer thread dropped a commit; it panicked")
    }

    async fn send(&self, message: Message) {
        if self.messages.send(message).await.is_err() {
            panic!("the writer thread ended early");
        }
    }
}

/// Why the writer stopped writing: a failed commit, or a failed job after which SQLite rolled
/// back the whole transaction, as it may do when the disk is full. The jobs of the lost group had already
/// replied, so every later job is rejected with this error instead of being written on top of
/// a gap.
#[derive(Debug, Clone)]
struct Failure {
    code: ffi::Error,
    message: String,
}

impl Failure {
    fn from_error(error: &rusqlite::Error) -> Failure {
        let code = error.sqlite_error().copied().unwrap_or_else(|| ffi::Error::new(ffi::SQLITE_ABORT));
        Failure { code, message: error.to_string() }
    }

    fn error(&self) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(
            self.code,
            Some(format!(
                "an earlier write failed and its uncommitted writes were rolled back, so this run writes \
                 nothing more: {}",
                self.message
            )),
        )
    }
}

fn run_in_savepoint<T>(
    connection: &Connection,
    job: impl FnOnce(&Connection) -> rusqlite::Result<T>,
) -> (rusqlite::Result<T>, Option<Failure>) {
    if let Err(error) = connection.prepare_cached("SAVEPOINT job").and_then(|mut statement| statement.execute([])) {
        let failure = Failure::from_error(&error);
        return (Err(error), Some(failure));
    }
    let outcome =
        job(connection).and_then(|value| connection.prepare_cached("RELEASE job")?.execute([]).map(|_| value));
    match outcome {
        Ok(value) => (Ok(value), None),
        Err(error) => {
            // After some errors SQLite has already rolled back the whole transaction, savepoint
            // included. The caller finds that out from the autocommit state.
            if !connection.is_autocommit() && connection.execute_batch("ROLLBACK TO job; RELEASE job").is_err() {
                // The job's writes could not be undone alone, and must never be committed with
                // the group: the whole group goes, which stops the writer.
                let _ = connection.execute_batch("ROLLBACK");
            }
            let failure = Failure::from_error(&error);
            (Err(error), Some(failure))
        }
    }
}

fn serve(connection: Connection, mut receiver: mpsc::Receiver<Message>, halted: &AtomicBool) -> Connection {
    let mut group: Option<Instant> = None;
    let mut stopped: Option<Failure> = None;
    loop {
        let message = match receiver.try_recv() {
            Ok(message) => message,
            Err(TryRecvError::Empty) => {
                end_group(&connection, &mut group, &mut stopped);
                if stopped.is_some() {
                    halted.store(true, Ordering::Relaxed);
                }
                match receiver.blocking_recv() {
                    Some(message) => message,
                    None => break,
                }
            }
            Err(TryRecvError::Disconnected) => break,
        };
        match message {
            Message::Commit(reply) => {
                end_group(&connection, &mut group, &mut stopped);
                let _ = reply.send(stopped.as_ref().map_or(Ok(()), |failure| Err(failure.error())));
            }
            Message::Job(job) => {
                if let Some(failure) = &stopped {
                    job(Err(failure));
                    continue;
                }
                if group.is_none() {
                    if let Err(error) = connection.execute_batch("BEGIN IMMEDIATE") {
                        let failure = Failure::from_error(&error);
                        job(Err(&failure));
                        continue;
                    }
                    group = Some(Instant::now());
                }
                let failure = job(Ok(&connection));
                if connection.is_autocommit() {
                    // SQLite rolled the transaction back, taking earlier jobs of the group with it.
                    group = None;
                    let failure = failure.unwrap_or_else(|| Failure::from_error(&rusqlite::Error::InvalidQuery));
                    tracing::error!("the archive transaction was rolled back: {}", failure.message);
                    stopped = Some(failure);
                } else if group.is_some_and(|started| started.elapsed() >= GROUP_TIME) {
                    end_group(&connection, &mut group, &mut stopped);
                }
            }
        }
        if stopped.is_some() {
            halted.store(true, Ordering::Relaxed);
        }
    }
    end_group(&connection, &mut group, &mut stopped);
    if let Some(failure) = &stopped {
        tracing::debug!("the writer stopped after a failure: {}", failure.message);
    }
    connection
}

fn end_group(connection: &Connection, group: &mut Option<Instant>, stopped: &mut Option<Failure>) {
    if group.take().is_none() {
        return;
    }
    if let Err(error) = connection.execute_batch("COMMIT") {
        if !connection.is_autocommit() {
            let _ = connection.execute_batch("ROLLBACK");
        }
        tracing::error!("failed to commit writes to the archive: {error}");
        stopped.get_or_insert_with(|| Failure::from_error(&error));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database(dir: &tempfile::TempDir) -> (std::path::PathBuf, Connection) {
        let path = dir.path().join("writer.db");
        let connection = Connection::open(&path).unwrap();
        connection.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (n INTEGER PRIMARY KEY)").unwrap();
        (path, connection)
    }

    fn count(path: &std::path::Path) -> i64 {
        Connection::open(path).unwrap().query_row("SELECT count(*) FROM t", [], |row| row.get(0)).unwrap()
    }

    #[tokio::test]
    async fn failed_job_undoes_only_itself() {
        let dir = tempfile::tempdir().unwrap();
        let (path, connection) = database(&dir);
        let (writer, thread) = Writer::spawn(connection, 4);

        writer.call(|c| c.execute("INSERT INTO t VALUES (1)", [])).await.unwrap();
        let failed = writer
            .call(|c| {
                c.execute("INSERT INTO t VALUES (2)", [])?;
                c.execute("INSERT INTO t VALUES (1)", [])
            })
            .await;
        writer.call(|c| c.execute("INSERT INTO t VALUES (3)", [])).await.unwrap();
        writer.commit().await.unwrap();

        assert!(failed.is_err());
        let stored: Vec<i64> = {
            let reader = Connection::open(&path).unwrap();
            let mut statement = reader.prepare("SELECT n FROM t ORDER BY n").unwrap();
            statement.query_map([], |row| row.get(0)).unwrap().map(Result::unwrap).collect()
        };
        assert_eq!(stored, vec![1, 3]);
        drop(writer);
        thread.join().unwrap();
    }

    #[tokio::test]
    async fn commit_makes_writes_visible() {
        let dir = tempfile::tempdir().unwrap();
        let (path, connection) = database(&dir);
        let (writer, thread) = Writer::spawn(connection, 4);

        for n in 0..10 {
            writer.call(move |c| c.execute("INSERT INTO t VALUES (?1)", [n])).await.unwrap();
        }
        writer.commit().await.unwrap();

        assert_eq!(count(&path), 10);
        drop(writer);
        thread.join().unwrap();
    }

    #[tokio::test]
    async fn dropping_the_writer_commits() {
        let dir = tempfile::tempdir().unwrap();
        let (path, connection) = database(&dir);
        let (writer, thread) = Writer::spawn(connection, 4);

        writer.call(|c| c.execute("INSERT INTO t VALUES (7)", [])).await.unwrap();
        drop(writer);
        thread.join().unwrap();

        assert_eq!(count(&path), 1);
    }

    #[tokio::test]
    async fn rolled_back_transaction_stops_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let (path, connection) = database(&dir);
        let (writer, thread) = Writer::spawn(connection, 4);
        writer.call(|c| c.execute("INSERT INTO t VALUES (1)", [])).await.unwrap();
        writer.commit().await.unwrap();
        assert!(!writer.is_stopped());

        // The three jobs queue up behind the first, which waits for `release`, so they share
        // one group. On this single-threaded runtime the tasks send in the order spawned.
        let (release, gate) = std::sync::mpsc::channel::<()>();
        type TestJob = Box<dyn FnOnce(&Connection) -> rusqlite::Result<()> + Send>;
        let spawn_call = |job: TestJob| {
            let writer = writer.clone();
            tokio::spawn(async move { writer.call(job).await })
        };
        let inserted = spawn_call(Box::new(move |c| {
            gate.recv().unwrap();
            c.execute("INSERT INTO t VALUES (2)", []).map(drop)
        }));
        // What SQLite may do on its own after a full disk: the whole transaction is gone.
        let rolled_back = spawn_call(Box::new(|c| c.execute_batch("ROLLBACK")));
        let rejected = spawn_call(Box::new(|c| c.execute("INSERT INTO t VALUES (3)", []).map(drop)));
        tokio::time::sleep(Duration::from_millis(100)).await;
        release.send(()).unwrap();
        inserted.await.unwrap().unwrap();
        let _ = rolled_back.await.unwrap();
        let rejected = rejected.await.unwrap();
        let commit = writer.commit().await;

        let rejected = rejected.unwrap_err().to_string();
        assert!(rejected.contains("writes nothing more"), "{rejected}");
        assert!(commit.is_err());
        assert!(writer.is_stopped());
        assert_eq!(count(&path), 1);
        drop(writer);
        thread.join().unwrap();
    }
}
