//! `cargo xtask test`: every test, in order of cost. The native tests of the whole
//! workspace run first. Then both workers are built as for deployment, and the platform
//! and workers start on free loopback ports. The end-to-end tests are marked `#[ignore]`,
//! so a plain `cargo test` skips them. Here they run against the running system one at a
//! time, because they share the platform's fault table.

use crate::build;
use crate::process::{self, free_port};
use crate::stack::{self, StackSettings};
use crate::tools::{self, Needs};
use crate::{root, Result};
use std::process::Command;

/// End-to-end test binaries in `tests/tests/`.
const END_TO_END_TESTS: &[&str] = &["e2e_create", "e2e_lifecycle", "e2e_hostile", "e2e_claim"];

/// Runs after all of the above, over what the workers logged meanwhile.
const LOG_SCAN_TEST: &str = "e2e_log_scan";

/// Runs everything, or with `--e2e-only NAME…` only the named end-to-end test binaries
/// (for working on one of them). `XTASK_E2E_DIR` moves the state and log folder from
/// `target/e2e`, so two runs on one machine do not share it.
pub fn run(arguments: &[String]) -> Result {
    let selected: Vec<&str> = match arguments.split_first() {
        None => END_TO_END_TESTS.to_vec(),
        Some((flag, names)) if flag == "--e2e-only" && !names.is_empty() => {
            if let Some(unknown) = names.iter().find(|name| !END_TO_END_TESTS.contains(&name.as_str())) {
                return Err(format!("unknown end-to-end test {unknown:?}; expected some of {END_TO_END_TESTS:?}"));
            }
            names.iter().map(String::as_str).collect()
        }
        _ => return Err("usage: cargo xtask test [--e2e-only NAME...]".to_owned()),
    };

    tools::setup(Needs::TEST)?;
    if selected.len() == END_TO_END_TESTS.len() {
        run_native()?;
    }
    build::build_all()?;

    let work_dir = std::env::var_os("XTASK_E2E_DIR").map(std::path::PathBuf::from).unwrap_or_else(|| root().join("target/e2e"));
    let settings = StackSettings {
        platform_port: free_port()?,
        create_db_port: free_port()?,
        claim_db_port: free_port()?,
        state_dir: work_dir.join("state"),
        log_dir: Some(work_dir.join("logs")),
        // Seconds-long lifetimes are allowed so lifecycle tests finish quickly; the
        // default and maximum stay as a partner would have them.
        worker_vars: vec![
            ("TTL_MIN_MS".to_owned(), "1000".to_owned()),
            ("UPSTREAM_TIMEOUT_MS".to_owned(), "3000".to_owned()),
            // Every /regions and /create reaches the platform, so its faults apply.
            ("REGION_CACHE_MS".to_owned(), "0".to_owned()),
        ],
    };
    println!("xtask: starting the platform and both workers for the end-to-end tests");
    let mut stack = stack::start(&settings).map_err(|error| {
        format!("{error}\nservice output is in {}", work_dir.join("logs").display())
    })?;

    let kv_dir = settings.state_dir.join("wrangler");
    let log_dir = work_dir.join("logs");
    let cargo_test = |tests: &[&str]| {
        let mut command = Command::new("cargo");
        // `--workspace`, as in the native step, so cargo resolves the same features and
        // reuses those test binaries instead of building them again.
        command.args(["test", "--workspace"]);
        for test in tests {
            command.args(["--test", test]);
        }
        command
            .args(["--", "--ignored", "--test-threads", "1"])
            .current_dir(root())
            .env("E2E_PLATFORM_URL", &stack.platform_url)
            .env("E2E_CREATE_DB_URL", &stack.create_db_url)
            .env("E2E_CLAIM_DB_URL", &stack.claim_db_url)
            .env("E2E_LOG_DIR", &log_dir)
            .env("E2E_KV_DIR", &kv_dir);
        process::run(&mut command)
    };
    let mut result = cargo_test(&selected);
    if result.is_ok() && selected.len() == END_TO_END_TESTS.len() {
        result = cargo_test(&[LOG_SCAN_TEST]);
    }
    stack.stop();
    result.map_err(|error| format!("{error}\nservice output is in {}", work_dir.join("logs").display()))
}

fn run_native() -> Result {
    process::run(Command::new("cargo").args(["test", "--workspace"]).current_dir(root()))
}
