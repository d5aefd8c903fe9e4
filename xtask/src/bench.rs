//! `cargo xtask bench`: every figure in one run. Call counts come from native
//! simulations. `sweep_bench` counts the sweep's KV reads, lists, writes and upstream
//! calls per run for 10,000 and 100,000 scheduled projects with 1% due. The
//! `operation_counts` example of each worker counts the same per request for `/create`
//! and `/regions` and per step of a claim. Sizes and timings come from `bench_http`, against both workers in
//! workerd. Everything is printed and written to `target/bench/latest.json`.

use crate::bench_http;
use crate::process::{output, run};
use crate::{root, Result};
use serde_json::{json, Value};
use std::process::Command;

/// Runs every bench and writes the combined report.
pub fn all() -> Result {
    sweep()?;
    let operations_path = root().join("target/bench/operations.json");
    let claim_operations_path = root().join("target/bench/claim-operations.json");
    for (package, path) in [("create-db-worker", &operations_path), ("claim-db-worker", &claim_operations_path)] {
        run(Command::new("cargo")
            .args(["run", "--quiet", "-p", package, "--example", "operation_counts", "--", "--json"])
            .arg(path)
            .current_dir(root()))?;
    }
    let http = bench_http::run_bench()?;
    bench_http::print_report(&http);

    let read_json = |path: std::path::PathBuf| -> Value {
        std::fs::read_to_string(path).ok().and_then(|text| serde_json::from_str(&text).ok()).unwrap_or(Value::Null)
    };
    let report = json!({
        "machine": machine(),
        "http": http,
        "operations": {
            "create-db-worker": read_json(operations_path),
            "claim-db-worker": read_json(claim_operations_path),
        },
        "sweep": read_json(root().join("target/bench/sweep.json")),
    });
    let latest = root().join("target/bench/latest.json");
    std::fs::write(&latest, serde_json::to_string_pretty(&report).unwrap_or_default())
        .map_err(|error| format!("cannot write {}: {error}", latest.display()))?;
    println!("\nxtask: wrote {}", latest.display());
    Ok(())
}

/// Describes the machine the figures were measured on.
fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| text.lines().find_map(|line| line.strip_prefix("model name").map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())));
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| text.lines().next().map(|line| line.split_whitespace().nth(1).unwrap_or_default().to_owned()));
    json!({
        "cpu": cpu,
        "cores": std::thread::available_parallelism().map(usize::from).ok(),
        "memory_kib": memory,
        "date": output(Command::new("date").args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])).map(|text| text.trim().to_owned()),
        "rustc": output(Command::new("rustc").arg("--version")).map(|text| text.trim().to_owned()),
        "node": output(Command::new("node").arg("--version")).map(|text| text.trim().to_owned()),
    })
}

/// Runs the sweep bench. It counts calls rather than timing them, so the debug build is
/// enough and no release build of the native crate is needed.
pub fn sweep() -> Result {
    let json_path = root().join("target/bench/sweep.json");
    run(Command::new("cargo")
        .args(["run", "--quiet", "-p", "create-db-worker", "--example", "sweep_bench", "--", "--json"])
        .arg(&json_path)
        .current_dir(root()))
}
