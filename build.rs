//! Rebuilds the crate when a migration changes: refinery embeds `migrations/` at compile time,
//! and cargo does not see files that are read by a macro.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
