//! Building a worker the way `wrangler deploy` does: `worker-build --release` compiles
//! the crate to wasm32, runs wasm-bindgen and wasm-opt, and bundles `build/index.js`.
//! The tools come from `.tools/` and `node_modules/`, so worker-build downloads nothing.

use crate::process::run;
use crate::tools::{self, Needs};
use crate::{root, Result, WORKERS};
use std::path::Path;
use std::process::Command;
use std::time::SystemTime;

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
    if is_up_to_date(name) {
        println!("xtask: {name} is up to date");
        return Ok(());
    }
    println!("xtask: building {name}");
    run(Command::new(tools::worker_build_bin())
        .arg("--release")
        .current_dir(root().join(name))
        .env("WASM_BINDGEN_BIN", tools::wasm_bindgen_bin())
        .env("WASM_OPT_BIN", tools::node_bin("wasm-opt")))
}

/// Returns whether `{name}/build/index.js` is newer than every file it is built from: the
/// worker's and the shared crate's sources and manifests, and the lock file. wasm-opt
/// alone takes seconds per worker, so unchanged workers are not built again.
fn is_up_to_date(name: &str) -> bool {
    let root = root();
    let Some(built) = modified(&root.join(name).join("build/index.js")) else {
        return false;
    };
    let inputs = [
        root.join(name).join("src"),
        root.join(name).join("Cargo.toml"),
        root.join("shared/src"),
        root.join("shared/Cargo.toml"),
        root.join("Cargo.toml"),
        root.join("Cargo.lock"),
    ];
    inputs.iter().all(|input| newest(input).is_some_and(|newest| newest <= built))
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|metadata| metadata.modified()).ok()
}

/// Returns the newest modification time of `path` or, for a folder, of any file in it.
fn newest(path: &Path) -> Option<SystemTime> {
    if !path.is_dir() {
        return modified(path);
    }
    let mut newest = modified(path)?;
    for entry in std::fs::read_dir(path).ok()?.flatten() {
        newest = newest.max(self::newest(&entry.path())?);
    }
    Some(newest)
}
