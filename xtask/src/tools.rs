//! Installs what a fresh machine lacks, and skips each step already done. It installs
//! the wasm32 target, and `worker-build` and a `wasm-bindgen` CLI at exactly the version
//! in `Cargo.lock`, both into a cache folder outside the checkout so that a fresh clone on
//! the same machine reuses them. It installs the npm packages pinned in
//! `package-lock.json` (wrangler, create-db, binaryen's `wasm-opt`), and Debian's
//! Chromium for the end-to-end tests. Nothing comes from anywhere but crates.io, npm and
//! Debian's packages.

use crate::process::{output, run};
use crate::{root, Result};
use std::path::PathBuf;
use std::process::Command;

/// The worker-build release that matches the `worker` crate's 0.8 line.
pub const WORKER_BUILD_VERSION: &str = "0.8.7";

#[derive(Debug, Clone, Copy)]
pub struct Needs {
    pub wasm: bool,
    pub npm: bool,
    /// Debian's `chromium` and `chromium-driver`, which the claim tests drive in a real browser.
    pub chromium: bool,
}

impl Needs {
    /// Everything `build` and `dev` need.
    pub const ALL: Needs = Needs { wasm: true, npm: true, chromium: false };
    /// Everything `test` needs: the build tools and a browser.
    pub const TEST: Needs = Needs { chromium: true, ..Needs::ALL };
}

/// The browser binary that Debian's `chromium` package installs.
pub const CHROMIUM_BIN: &str = "/usr/bin/chromium";

/// Returns the folder `cargo install` puts the build tools in: `XTASK_TOOLS_DIR`, else
/// `~/.cache/create-db-workers/tools`, else `.tools/` in the checkout.
pub fn tools_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("XTASK_TOOLS_DIR") {
        return PathBuf::from(dir);
    }
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(".cache/create-db-workers/tools"),
        None => root().join(".tools"),
    }
}

pub fn worker_build_bin() -> PathBuf {
    tools_dir().join("bin/worker-build")
}

pub fn wasm_bindgen_bin() -> PathBuf {
    tools_dir().join("bin/wasm-bindgen")
}

pub fn node_bin(name: &str) -> PathBuf {
    root().join("node_modules/.bin").join(name)
}

pub fn setup(needs: Needs) -> Result {
    if needs.wasm {
        ensure_wasm_target()?;
        ensure_worker_build()?;
        ensure_wasm_bindgen()?;
    }
    if needs.npm {
        ensure_npm_packages()?;
    }
    if needs.chromium {
        ensure_chromium()?;
    }
    Ok(())
}

/// Installs Debian's Chromium with apt-get when it is missing. This needs root, as on CI.
fn ensure_chromium() -> Result {
    if std::path::Path::new(CHROMIUM_BIN).exists() {
        return Ok(());
    }
    println!("xtask: {CHROMIUM_BIN} is missing; installing Debian's chromium and chromium-driver");
    let apt = |arguments: &[&str]| {
        run(Command::new("apt-get").args(arguments).env("DEBIAN_FRONTEND", "noninteractive")).map_err(|error| {
            format!("{error}\ninstalling Chromium needs apt-get as root; run `apt-get update && apt-get install -y chromium chromium-driver` yourself")
        })
    };
    apt(&["update"])?;
    apt(&["install", "-y", "chromium", "chromium-driver"])
}

fn ensure_wasm_target() -> Result {
    let installed = output(Command::new("rustup").args(["target", "list", "--installed"])).unwrap_or_default();
    if installed.lines().any(|line| line.trim() == "wasm32-unknown-unknown") {
        return Ok(());
    }
    run(Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]))
}

fn ensure_worker_build() -> Result {
    let version = output(Command::new(worker_build_bin()).arg("--version")).unwrap_or_default();
    if version.contains(WORKER_BUILD_VERSION) {
        return Ok(());
    }
    cargo_install("worker-build", WORKER_BUILD_VERSION)
}

fn ensure_wasm_bindgen() -> Result {
    let wanted = locked_version("wasm-bindgen")?;
    let version = output(Command::new(wasm_bindgen_bin()).arg("--version")).unwrap_or_default();
    if version.split_whitespace().any(|word| word == wanted) {
        return Ok(());
    }
    cargo_install("wasm-bindgen-cli", &wanted)
}

/// Installs a crate's binaries into `.tools/`. `--locked` is tried first for a
/// reproducible build and dropped if this registry index cannot satisfy it.
fn cargo_install(name: &str, version: &str) -> Result {
    let tools = tools_dir();
    let tools = tools.to_string_lossy();
    let base = ["install", "--quiet", "--force", "--root", &tools, "--version", version, name];
    // The locked attempt's output is kept back: on a registry index that lacks one of the
    // locked versions it fails at once with an error that would only alarm.
    println!("xtask: installing {name} {version} into {tools}");
    let locked = Command::new("cargo").args(base).arg("--locked").output();
    if locked.is_ok_and(|output| output.status.success()) {
        return Ok(());
    }
    println!("xtask: the versions locked by {name} {version} are not all available; installing with the newest compatible ones");
    run(Command::new("cargo").args(base))
}

/// Returns the version of `package` recorded in Cargo.lock.
pub fn locked_version(package: &str) -> Result<String> {
    let path = root().join("Cargo.lock");
    let lock = std::fs::read_to_string(&path).map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == format!("name = \"{package}\"") {
            if let Some(version) = lines.next().and_then(|line| line.trim().strip_prefix("version = ")) {
                return Ok(version.trim_matches('"').to_owned());
            }
        }
    }
    Err(format!("{package} is not in Cargo.lock; run `cargo generate-lockfile`"))
}

fn ensure_npm_packages() -> Result {
    let root = root();
    let marker = root.join("node_modules/.package-lock.json");
    let lock = root.join("package-lock.json");
    let up_to_date = match (std::fs::metadata(&marker), std::fs::metadata(&lock)) {
        (Ok(installed), Ok(locked)) => match (installed.modified(), locked.modified()) {
            (Ok(installed), Ok(locked)) => installed >= locked,
            _ => false,
        },
        _ => false,
    };
    if up_to_date && node_bin("wrangler").exists() && node_bin("wasm-opt").exists() {
        return Ok(());
    }
    run(Command::new("npm").args(["ci", "--no-audit", "--no-fund"]).current_dir(&root))
}
