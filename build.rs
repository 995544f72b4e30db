//! Rebuilds the crate when a migration or a report changes: `migrations/` and `queries/` are
//! embedded at compile time by macros, and cargo does not see files that a macro reads.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=queries");
}
