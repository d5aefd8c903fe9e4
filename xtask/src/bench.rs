//! `cargo xtask bench`: the sweep's cost per run. It runs the `sweep_bench` example of
//! create-db-worker, a native simulation that counts KV reads, lists, writes and upstream
//! calls per run for 10,000 and 100,000 scheduled projects with 1% due, prints its table
//! and writes `target/bench/sweep.json`. Other figures belong in their own functions here.

use crate::process::run;
use crate::{root, Result};
use std::process::Command;

/// Runs the sweep bench. It counts calls rather than timing them, so the debug build is
/// enough and no release build of the native crate is needed.
pub fn sweep() -> Result {
    let json_path = root().join("target/bench/sweep.json");
    run(Command::new("cargo")
        .args(["run", "--quiet", "-p", "create-db-worker", "--example", "sweep_bench", "--", "--json"])
        .arg(&json_path)
        .current_dir(root()))
}
