//! The single writer: one thread owns the read-write connection and runs jobs in arrival order.
//! Async fetch tasks await its replies instead of blocking runtime threads on SQLite, and writes
//! never contend with each other for SQLite's write lock.

use std::thread::JoinHandle;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// A handle to the writer thread. Dropping every handle ends the thread.
#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer thread. `queue` bounds the jobs waiting, so fast fetchers wait for the
    /// database instead of piling pages up in memory.
    pub fn spawn(connection: Connection, queue: usize) -> (Writer, JoinHandle<Connection>) {
        let (jobs, mut receiver) = mpsc::channel::<Job>(queue.max(1));
        let thread = std::thread::Builder::new()
            .name("omega-sync-writer".to_string())
            .spawn(move || {
                let mut connection = connection;
                while let Some(job) = receiver.blocking_recv() {
                    job(&mut connection);
                }
                connection
            })
            .expect("failed to start the writer thread");
        (Writer { jobs }, thread)
    }

    /// Runs `job` on the writer thread and returns its result.
    pub async fn call<T, F>(&self, job: F) -> T
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> T + Send + 'static,
    {
        let (reply, result) = oneshot::channel();
        let job: Job = Box::new(move |connection| {
            let _ = reply.send(job(connection));
        });
        self.jobs.send(job).await.expect("the writer thread ended early");
        result.await.expect("the writer thread dropped a job; it panicked")
    }
}
