//! `cargo xtask`: the project's commands, written in Rust so they run the same on every
//! machine with only cargo and Node installed.
//!
//! - `cargo xtask dev`: install what is missing, build, and run the local Prisma platform
//!   and both workers under `wrangler dev` until Ctrl-C.
//! - `cargo xtask test`: install what is missing and run every test, native and end-to-end.
//! - `cargo xtask build`: build both workers the way `wrangler deploy` does.
//! - `cargo xtask build-worker NAME`: the build command in each `wrangler.toml`.
//! - `cargo xtask setup`: only install the tools.
//! - `cargo xtask bench`: bundle sizes, latency and throughput per route in workerd, and
//!   KV and upstream calls per request and per sweep run; see `bench.rs`.

mod bench;
mod bench_http;
mod build;
mod process;
mod stack;
mod test;
mod tools;

use std::path::PathBuf;
use std::process::ExitCode;

/// A failed step, with a message saying what to do about it.
pub type Result<T = ()> = std::result::Result<T, String>;

pub const WORKERS: [&str; 2] = ["create-db-worker", "claim-db-worker"];

const USAGE: &str = "usage: cargo xtask <command>

commands:
  dev                 build and run the platform and both workers locally until Ctrl-C
  test                run all tests (native unit tests and end-to-end tests)
  test --e2e-only NAME...  run only the named end-to-end test binaries of tests/tests/
  build               build both workers for deployment
  build-worker NAME   build one worker (the build command in its wrangler.toml)
  setup               install the wasm target, wasm-bindgen, worker-build and npm packages
  bench               measure sizes, latency, throughput and call counts (target/bench/latest.json)

dev settings (environment):
  PLATFORM_PORT (8790), CREATE_DB_PORT (8787), CLAIM_DB_PORT (8788)
  TTL_MIN_MS, TTL_MAX_MS, TTL_DEFAULT_MS and UPSTREAM_TIMEOUT_MS are passed through to the workers
  XTASK_TOOLS_DIR moves the build tools from ~/.cache/create-db-workers/tools";

fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let result = match arguments.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["setup"] => tools::setup(tools::Needs::ALL),
        ["build"] => build::build_all(),
        ["build-worker", name] => build::build_worker(name),
        ["dev"] => stack::dev(),
        ["bench"] => bench::all(),
        ["test", ..] => test::run(&arguments[1..]),
        [] | ["help" | "--help" | "-h"] => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(format!("unknown command {arguments:?}\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Returns the checkout's top folder (the parent of `xtask/`).
pub fn root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().map(PathBuf::from).unwrap_or(manifest_dir)
}
