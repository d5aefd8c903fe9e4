//! The whole system on one machine: the local Prisma platform and both workers under
//! `wrangler dev`, wired together on loopback ports and sharing one local KV store
//! (same namespace id, same `--persist-to` folder). `dev` runs it until Ctrl-C; `test`
//! starts it on free ports for the end-to-end tests.

use crate::build::{self, SKIP_BUILD_VARIABLE};
use crate::process::{ensure_port_free, free_port, http_status, run, wait_until_ready, Service};
use crate::tools::{self, node_bin, Needs};
use crate::{root, Result, WORKERS};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

/// Secrets the local platform accepts by default. They only work against it.
pub const LOCAL_INTEGRATION_TOKEN: &str = "local-integration-token";
pub const LOCAL_CLIENT_ID: &str = "local-client-id";
pub const LOCAL_CLIENT_SECRET: &str = "local-client-secret";

/// The `--test-scheduled` URLs of create-db-worker's two cron triggers, as in its
/// wrangler.toml (`* * * * *` and `17 3 * * *`).
pub const SWEEP_TRIGGER: &str = "/__scheduled?cron=*+*+*+*+*";
pub const BACKSTOP_TRIGGER: &str = "/__scheduled?cron=17+3+*+*+*";

/// Variables passed through from xtask's environment to both workers.
const PASSED_THROUGH: [&str; 4] = ["TTL_MIN_MS", "TTL_MAX_MS", "TTL_DEFAULT_MS", "UPSTREAM_TIMEOUT_MS"];

pub struct StackSettings {
    pub platform_port: u16,
    pub create_db_port: u16,
    pub claim_db_port: u16,
    /// Folder for the shared local KV and generated files; emptied on start.
    pub state_dir: PathBuf,
    /// Folder for each service's output; `None` prints it to this terminal.
    pub log_dir: Option<PathBuf>,
    /// Extra variables for both workers, after the passed-through ones.
    pub worker_vars: Vec<(String, String)>,
}

pub struct Stack {
    // Dropped in reverse order: workers stop before the platform.
    pub services: Vec<Service>,
    pub platform_url: String,
    pub create_db_url: String,
    pub claim_db_url: String,
    /// Per worker: time from starting `wrangler dev` to its first 200 on `/health`.
    pub startup: Vec<(String, Duration)>,
}

impl Stack {
    pub fn stop(&mut self) {
        while let Some(mut service) = self.services.pop() {
            service.stop();
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts the platform and both workers and returns once each responds to a health check.
pub fn start(settings: &StackSettings) -> Result<Stack> {
    let _ = std::fs::remove_dir_all(&settings.state_dir);
    std::fs::create_dir_all(&settings.state_dir).map_err(|error| format!("cannot create {}: {error}", settings.state_dir.display()))?;
    if let Some(log_dir) = &settings.log_dir {
        std::fs::create_dir_all(log_dir).map_err(|error| format!("cannot create {}: {error}", log_dir.display()))?;
    }
    let log_file = |name: &str| settings.log_dir.as_ref().map(|dir| dir.join(format!("{name}.log")));

    run(Command::new("cargo").args(["build", "--quiet", "-p", "local-platform"]).current_dir(root()))?;
    let platform_url = format!("http://127.0.0.1:{}", settings.platform_port);
    let create_db_url = format!("http://127.0.0.1:{}", settings.create_db_port);
    let claim_db_url = format!("http://127.0.0.1:{}", settings.claim_db_port);

    let mut platform = Service::start(
        "local Prisma platform",
        Command::new(root().join("target/debug/local-platform"))
            .args(["--host", "127.0.0.1", "--port", &settings.platform_port.to_string()])
            .args(["--redirect-uri", &format!("{claim_db_url}/auth/callback")])
            .args(["--redirect-uri", &format!("http://localhost:{}/auth/callback", settings.claim_db_port)]),
        log_file("platform").as_deref(),
    )?;
    wait_until_ready(&mut platform, settings.platform_port, "/_emulator/state", Duration::from_secs(30))?;
    let mut stack = Stack { services: vec![platform], platform_url, create_db_url, claim_db_url, startup: Vec::new() };

    let secrets = settings.state_dir.join("secrets.env");
    std::fs::write(
        &secrets,
        format!("INTEGRATION_TOKEN={LOCAL_INTEGRATION_TOKEN}\nCLIENT_SECRET={LOCAL_CLIENT_SECRET}\n"),
    )
    .map_err(|error| format!("cannot write {}: {error}", secrets.display()))?;

    let mut vars = vec![
        ("PRISMA_API_URL".to_owned(), stack.platform_url.clone()),
        ("PRISMA_AUTH_URL".to_owned(), stack.platform_url.clone()),
        ("CLAIM_PUBLIC_URL".to_owned(), stack.claim_db_url.clone()),
        ("CLIENT_ID".to_owned(), LOCAL_CLIENT_ID.to_owned()),
    ];
    for name in PASSED_THROUGH {
        if let Ok(value) = std::env::var(name) {
            vars.push((name.to_owned(), value));
        }
    }
    // wrangler.toml sets a 30-minute minimum, so a shorter default alone (such as
    // TTL_DEFAULT_MS=3000 to watch the sweep) also lowers the minimum to match.
    if let (Ok(default), Err(_)) = (std::env::var("TTL_DEFAULT_MS"), std::env::var("TTL_MIN_MS")) {
        if default.trim().parse::<u64>().is_ok_and(|millis| millis < 30 * 60 * 1_000) {
            vars.push(("TTL_MIN_MS".to_owned(), default.trim().to_owned()));
        }
    }
    vars.extend(settings.worker_vars.iter().cloned());

    for (worker, port) in [(WORKERS[0], settings.create_db_port), (WORKERS[1], settings.claim_db_port)] {
        let started = std::time::Instant::now();
        let mut service = start_worker(worker, port, &vars, &secrets, &settings.state_dir, log_file(worker).as_deref())?;
        let ready = wait_until_ready(&mut service, port, "/health", Duration::from_secs(90));
        stack.services.push(service);
        ready?;
        stack.startup.push((worker.to_owned(), started.elapsed()));
    }
    Ok(stack)
}

fn start_worker(
    worker: &str,
    port: u16,
    vars: &[(String, String)],
    secrets: &Path,
    state_dir: &Path,
    log_file: Option<&Path>,
) -> Result<Service> {
    let mut command = Command::new(node_bin("wrangler"));
    command
        .current_dir(root().join(worker))
        .args(["dev", "--ip", "127.0.0.1", "--port", &port.to_string()])
        .args(["--inspector-port", &free_port()?.to_string()])
        .args(["--persist-to", &state_dir.join("wrangler").to_string_lossy()])
        .args(["--env-file", &secrets.to_string_lossy()])
        .args(["--test-scheduled", "--show-interactive-dev-session=false", "--log-level", "log"])
        .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
        .env("WRANGLER_SEND_METRICS", "false")
        .env(SKIP_BUILD_VARIABLE, "1");
    for (name, value) in vars {
        command.arg("--var").arg(format!("{name}:{value}"));
    }
    Service::start(worker, &mut command, log_file)
}

/// Reads a port setting from the environment, falling back to `default`.
fn port_setting(name: &str, default: u16) -> Result<u16> {
    match std::env::var(name) {
        Ok(text) => text.trim().parse().map_err(|_| format!("{name}={text:?} is not a port number")),
        Err(_) => Ok(default),
    }
}

/// `cargo xtask dev`: runs the stack on the fixed ports until Ctrl-C.
pub fn dev() -> Result {
    let settings = StackSettings {
        platform_port: port_setting("PLATFORM_PORT", 8790)?,
        create_db_port: port_setting("CREATE_DB_PORT", 8787)?,
        claim_db_port: port_setting("CLAIM_DB_PORT", 8788)?,
        state_dir: root().join(".dev"),
        log_dir: None,
        worker_vars: Vec::new(),
    };
    ensure_port_free(settings.platform_port, "PLATFORM_PORT")?;
    ensure_port_free(settings.create_db_port, "CREATE_DB_PORT")?;
    ensure_port_free(settings.claim_db_port, "CLAIM_DB_PORT")?;

    tools::setup(Needs::ALL)?;
    build::build_all()?;

    let (stop_sender, stop_receiver) = mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = stop_sender.send(());
    })
    .map_err(|error| format!("cannot install the Ctrl-C handler: {error}"))?;

    let mut stack = start(&settings)?;
    println!();
    println!("local Prisma platform  {}", stack.platform_url);
    println!("create-db-worker       {}", stack.create_db_url);
    println!("claim-db-worker        {}", stack.claim_db_url);
    println!();
    println!("Create a database with the published CLI (run it in this checkout, where npx finds");
    println!("the create-db 1.2.1 installed in node_modules; elsewhere npx offers to download it):");
    println!(
        "  CREATE_DB_WORKER_URL={} CLAIM_DB_WORKER_URL={} npx create-db --region us-east-1",
        stack.create_db_url, stack.claim_db_url
    );
    println!();
    println!("The deletion sweep runs every minute: wrangler dev fires no cron triggers by itself,");
    println!("so this command calls {}{SWEEP_TRIGGER} each minute. Run the daily backstop by hand:", stack.create_db_url);
    println!("  curl '{}{BACKSTOP_TRIGGER}'", stack.create_db_url);
    println!();
    println!("Press Ctrl-C to stop.");

    let mut next_sweep = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        if stop_receiver.recv_timeout(Duration::from_secs(1)).is_ok() {
            break;
        }
        if std::time::Instant::now() >= next_sweep {
            next_sweep += Duration::from_secs(60);
            if http_status(settings.create_db_port, SWEEP_TRIGGER) != Some(200) {
                println!("xtask: the scheduled sweep did not answer 200; see the worker's log above");
            }
        }
        for service in &mut stack.services {
            if let Err(error) = service.check_running() {
                stack.stop();
                return Err(error);
            }
        }
    }
    println!("xtask: stopping");
    stack.stop();
    Ok(())
}
