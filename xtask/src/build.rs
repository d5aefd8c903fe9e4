//! Building a worker the way `wrangler deploy` does: `worker-build --release` compiles
//! the crate to wasm32, runs wasm-bindgen and wasm-opt, and bundles `build/index.js`.
//! The tools come from `.tools/` and `node_modules/`, so worker-build downloads nothing.

use crate::process::run;
use crate::tools::{self, Needs};
use crate::{root, Result, WORKERS};
use std::process::Command;

/// Set by `dev` and `test` after they built the workers, so the build command that
/// `wrangler dev` runs on start does not build them a second time.
pub const SKIP_BUILD_VARIABLE: &str = "XTASK_WORKERS_BUILT";

pub fn build_all() -> Result {
    tools::setup(Needs::ALL)?;
    for worker in WORKERS {
        build_one(worker)?;
    }
    Ok(())
}

pub fn build_worker(name: &str) -> Result {
    if !WORKERS.contains(&name) {
        return Err(format!("unknown worker {name:?}; expected one of {WORKERS:?}"));
    }
    if std::env::var_os(SKIP_BUILD_VARIABLE).is_some() && root().join(name).join("build/index.js").exists() {
        return Ok(());
    }
    tools::setup(Needs::ALL)?;
    build_one(name)
}

fn build_one(name: &str) -> Result {
    println!("xtask: building {name}");
    run(Command::new(tools::worker_build_bin())
        .arg("--release")
        .current_dir(root().join(name))
        .env("WASM_BINDGEN_BIN", tools::wasm_bindgen_bin())
        .env("WASM_OPT_BIN", tools::node_bin("wasm-opt")))
}
