//! Syncing the API into the archive: resource descriptors, decoding, planning, listing and the
//! engine that runs them.

pub mod decode;
mod engine;
mod listing;
pub mod plan;
pub mod progress;
pub mod resources;
pub(crate) mod write;

pub use engine::{SyncOptions, SyncReport, now, sync};
pub use progress::Progress;
