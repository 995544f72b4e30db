//! Records of sync runs (`sync_runs`) and their per-resource figures (`sync_run_resources`).

use rusqlite::{Connection, params};

/// The outcome of a run or a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    Running,
    Succeeded,
    /// Some resources were stored and others failed (runs only).
    Partial,
    /// The listing ended without error but was proven short of the API's total (resources only).
    Incomplete,
    Failed,
    /// Stopped by SIGINT or SIGTERM (runs only).
    Cancelled,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Partial => "partial",
            RunStatus::Incomplete => "incomplete",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }
}

/// The figures of one resource in one run.
#[derive(Debug, Clone, Default)]
pub struct ResourceRun {
    pub resource: &'static str,
    /// `full` or `incremental`.
    pub mode: &'static str,
    /// The listing was proven whole: every page succeeded and the distinct ids match the total.
    pub complete: bool,
    /// The listing was proven short of the API's total, or its parent's was.
    pub incomplete: bool,
    pub pages: u64,
    pub requests: u64,
    pub items: u64,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub deleted: u64,
    pub restored: u64,
    /// Requests that returned 304 Not Modified.
    pub not_modified: u64,
    pub duration_ms: u64,
    /// Every error met, in order; the first one decides the status.
    pub errors: Vec<String>,
    /// Problems that did not stop the listing, such as a short listing; the first
    /// [`MAX_KEPT_WARNINGS`] of them.
    pub warnings: Vec<String>,
    /// Every warning met, kept or not.
    pub warning_count: u64,
}

/// The number of warnings kept per resource and run. The rest are only counted, so a bad field
/// in every item of a large listing cannot flood the log or `sync_run_resources.error`.
pub const MAX_KEPT_WARNINGS: usize = 20;

impl ResourceRun {
    pub fn status(&self) -> RunStatus {
        if !self.errors.is_empty() {
            RunStatus::Failed
        } else if self.incomplete {
            RunStatus::Incomplete
        } else {
            RunStatus::Succeeded
        }
    }

    /// Records a warning and returns whether it was kept (and so should be logged).
    pub fn warn(&mut self, warning: String) -> bool {
        self.warning_count += 1;
        let kept = self.warnings.len() < MAX_KEPT_WARNINGS;
        if kept {
            self.warnings.push(warning);
        }
        kept
    }

    /// Joins errors and warnings into the text stored in `sync_run_resources.error`.
    pub fn message(&self) -> Option<String> {
        let mut all: Vec<String> = self.errors.iter().chain(&self.warnings).cloned().collect();
        let dropped = self.warning_count.saturating_sub(self.warnings.len() as u64);
        if dropped > 0 {
            all.push(format!("and {dropped} more warnings"));
        }
        (!all.is_empty()).then(|| all.join("; "))
    }
}

/// Inserts a `running` row for a new run and returns its id.
pub fn start_run(connection: &Connection, started_at: &str, mode: &str, api_url: &str) -> rusqlite::Result<i64> {
    connection.execute(
        "INSERT INTO sync_runs (started_at, status, mode, api_url) VALUES (?1, 'running', ?2, ?3)",
        params![started_at, mode, api_url],
    )?;
    Ok(connection.last_insert_rowid())
}

/// Records how a run ended.
#[allow(clippy::too_many_arguments)]
pub fn finish_run(
    connection: &Connection,
    run_id: i64,
    finished_at: &str,
    status: RunStatus,
    account_id: Option<&str>,
    requests: u64,
    retries: u64,
    error: Option<&str>,
) -> rusqlite::Result<()> {
    connection.execute(
        "UPDATE sync_runs SET finished_at = ?2, status = ?3, account_id = ?4, requests = ?5,
         retries = ?6, error = ?7 WHERE id = ?1",
        params![run_id, finished_at, status.as_str(), account_id, requests as i64, retries as i64, error],
    )?;
    Ok(())
}

/// Inserts a `running` row for a resource of a run.
pub fn start_resource(connection: &Connection, run_id: i64, resource: &str) -> rusqlite::Result<()> {
    connection.execute(
        "INSERT INTO sync_run_resources (run_id, resource, status) VALUES (?1, ?2, 'running')",
        params![run_id, resource],
    )?;
    Ok(())
}

/// Records the figures and outcome of a resource.
pub fn finish_resource(connection: &Connection, run_id: i64, figures: &ResourceRun) -> rusqlite::Result<()> {
    connection.execute(
        "UPDATE sync_run_resources SET status = ?3, complete = ?4, pages = ?5, requests = ?6,
         items = ?7, inserted = ?8, updated = ?9, unchanged = ?10, duration_ms = ?11, error = ?12,
         mode = ?13, deleted = ?14, restored = ?15, not_modified = ?16
         WHERE run_id = ?1 AND resource = ?2",
        params![
            run_id,
            figures.resource,
            figures.status().as_str(),
            figures.complete,
            figures.pages as i64,
            figures.requests as i64,
            figures.items as i64,
            figures.inserted as i64,
            figures.updated as i64,
            figures.unchanged as i64,
            figures.duration_ms as i64,
            figures.message(),
            (!figures.mode.is_empty()).then_some(figures.mode),
            figures.deleted as i64,
            figures.restored as i64,
            figures.not_modified as i64,
        ],
    )?;
    Ok(())
}
