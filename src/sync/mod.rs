//! Syncing the API into the archive: resource descriptors, decoding, and the engine.

pub mod decode;
mod engine;
pub mod progress;
pub mod resources;

pub use engine::{SyncOptions, SyncReport, now, sync};
pub use progress::Progress;
