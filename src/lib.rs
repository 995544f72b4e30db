//! omega-sync keeps a complete, queryable, offline SQLite archive of an Omega Digital Hosting
//! account.
//!
//! The crate is split by concept:
//!
//! - [`api`]: the HTTP client (authentication, retries, size limits, error messages);
//! - [`archive`]: the SQLite store (migrations, upserts, sync run records);
//! - [`sync`]: the resource descriptors and the engine that walks them;
//! - [`push`]: the queue of local edits and the push that applies them safely;
//! - [`report`]: SQL reports, read-only queries and CSV export over the archive;
//! - [`fake`]: an in-process imitation of the Omega API for tests and the demo;
//! - [`cli`]: the command-line layer, one module per subcommand.

pub mod api;
pub mod archive;
pub mod cli;
pub mod fake;
pub mod push;
pub mod report;
pub mod sync;
