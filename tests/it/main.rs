//! End-to-end tests: the real `omega-sync` binary against the fake API on 127.0.0.1, writing
//! real SQLite files in temporary folders.

mod cli;
mod faults;
mod full_sync;
mod history;
mod matrix;
mod operations;
mod output;
mod paging;
mod property;
mod push;
mod reports;
mod security;
mod support;
mod tls;
