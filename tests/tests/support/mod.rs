//! Shared helpers of the end-to-end tests. `cargo xtask test` starts the local platform
//! and both workers under `wrangler dev` and passes their URLs in `E2E_*` variables.
//! These helpers read them, run the published `create-db` CLI, read the platform's
//! state, set its faults, and read the workers' local KV through wrangler.

#![allow(dead_code)]

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

/// The running system under test.
pub struct Stack {
    pub platform_url: String,
    pub create_db_url: String,
    pub claim_db_url: String,
    pub kv_dir: PathBuf,
    pub log_dir: PathBuf,
    pub root: PathBuf,
}

impl Stack {
    /// Reads the `E2E_*` variables. These tests are `#[ignore]`d because they need the
    /// running system; `cargo xtask test` runs them with `--ignored` after starting it.
    pub fn from_env() -> Stack {
        let read = |name: &str| {
            std::env::var(name).unwrap_or_else(|_| {
                panic!("{name} is not set: end-to-end tests need the running system, so run them with `cargo xtask test`")
            })
        };
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        Stack {
            platform_url: read("E2E_PLATFORM_URL"),
            create_db_url: read("E2E_CREATE_DB_URL"),
            claim_db_url: read("E2E_CLAIM_DB_URL"),
            kv_dir: PathBuf::from(read("E2E_KV_DIR")),
            log_dir: PathBuf::from(read("E2E_LOG_DIR")),
            root,
        }
    }

    /// Runs the published CLI (`node_modules/create-db`) in a fresh folder.
    pub fn run_cli(&self, arguments: &[&str]) -> CliRun {
        let folder = fresh_folder("cli");
        self.run_cli_in(&folder, arguments)
    }

    pub fn run_cli_in(&self, folder: &Path, arguments: &[&str]) -> CliRun {
        let cli = self.root.join("node_modules/create-db/dist/cli.mjs");
        let output = Command::new("node")
            .arg(&cli)
            .args(arguments)
            .current_dir(folder)
            .env("CREATE_DB_WORKER_URL", &self.create_db_url)
            .env("CLAIM_DB_WORKER_URL", &self.claim_db_url)
            .env("NO_COLOR", "1")
            .env("CI", "true")
            .output()
            .unwrap_or_else(|error| panic!("cannot run node {}: {error}", cli.display()));
        CliRun {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Lists the keys in the workers' shared local KV that start with `prefix`.
    pub fn kv_keys(&self, prefix: &str) -> Vec<String> {
        let stdout = self.wrangler_kv(&["list", "--prefix", prefix]);
        let keys: Vec<Value> = serde_json::from_str(&stdout)
            .unwrap_or_else(|error| panic!("wrangler kv key list printed no JSON ({error})"));
        keys.iter().filter_map(|key| key["name"].as_str().map(str::to_owned)).collect()
    }

    /// Reads the value under `key` in the workers' shared local KV, as text.
    pub fn kv_get(&self, key: &str) -> String {
        self.wrangler_kv(&["get", key, "--text"])
    }

    /// Writes `value` under `key` in the workers' shared local KV, as another worker would.
    /// The value goes through a file because wrangler rejects an empty value argument.
    pub fn kv_put(&self, key: &str, value: &str) {
        let value_file = fresh_folder("kv-put").join("value");
        std::fs::write(&value_file, value).expect("write the KV value file");
        self.wrangler_kv(&["put", key, "--path", &value_file.to_string_lossy()]);
    }

    /// Runs `wrangler kv key ARGUMENTS` on the workers' local KV and returns its output;
    /// fails the test if wrangler fails.
    fn wrangler_kv(&self, arguments: &[&str]) -> String {
        let output = Command::new(self.root.join("node_modules/.bin/wrangler"))
            .args(["kv", "key"])
            .args(arguments)
            .args(["--binding", "STATE", "--local", "--persist-to"])
            .arg(&self.kv_dir)
            .current_dir(self.root.join("create-db-worker"))
            .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
            .env("WRANGLER_SEND_METRICS", "false")
            .output()
            .unwrap_or_else(|error| panic!("cannot run wrangler kv key {arguments:?}: {error}"));
        assert!(
            output.status.success(),
            "wrangler kv key {arguments:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Fires create-db-worker's cron trigger `cron` through `wrangler dev --test-scheduled`.
    pub async fn run_scheduled(&self, client: &reqwest::Client, cron: &str) {
        let response = client
            .get(format!("{}/__scheduled", self.create_db_url))
            .query(&[("cron", cron)])
            .send()
            .await
            .expect("scheduled trigger");
        let status = response.status().as_u16();
        assert_eq!(status, 200, "cron {cron:?} failed: {}", response.text().await.unwrap_or_default());
    }

    pub async fn platform_state(&self, client: &reqwest::Client) -> Value {
        let response = client.get(format!("{}/_emulator/state", self.platform_url)).send().await.expect("platform state");
        response.json().await.expect("platform state JSON")
    }

    /// Returns how many requests the platform counted for `route` (e.g. `POST /v1/projects`).
    pub async fn request_count(&self, client: &reqwest::Client, route: &str) -> u64 {
        self.platform_state(client).await["requests"][route].as_u64().unwrap_or(0)
    }

    /// Returns the platform's view of project `id`, if it has one.
    pub async fn platform_project(&self, client: &reqwest::Client, id: &str) -> Option<Value> {
        let state = self.platform_state(client).await;
        state["projects"].as_array()?.iter().find(|project| project["id"] == id).cloned()
    }

    /// Makes the next `fault["times"]` matching platform requests fail.
    pub async fn add_fault(&self, client: &reqwest::Client, fault: Value) {
        let response = client.post(format!("{}/_emulator/faults", self.platform_url)).json(&fault).send().await.expect("add fault");
        assert_eq!(response.status().as_u16(), 201, "fault {fault} was not accepted: {}", response.text().await.unwrap_or_default());
    }

    pub async fn clear_faults(&self, client: &reqwest::Client) {
        client.delete(format!("{}/_emulator/faults", self.platform_url)).send().await.expect("clear faults");
    }

    /// Reads `GET /projects/{id}` from create-db-worker.
    pub async fn project_status(&self, client: &reqwest::Client, id: &str) -> (u16, Value) {
        let response = client.get(format!("{}/projects/{id}", self.create_db_url)).send().await.expect("project status");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Creates a database through create-db-worker directly and returns its project id.
    pub async fn create_project(&self, client: &reqwest::Client, extra: Value) -> String {
        let mut body = json!({"region": "us-east-1", "name": "e2e", "source": "e2e"});
        if let (Value::Object(body), Value::Object(extra)) = (&mut body, extra) {
            body.extend(extra);
        }
        let response = client.post(format!("{}/create", self.create_db_url)).json(&body).send().await.expect("create");
        let status = response.status().as_u16();
        let created: Value = response.json().await.expect("create JSON");
        assert_eq!(status, 201, "create failed: {created}");
        created["data"]["id"].as_str().expect("project id").to_owned()
    }
}

pub struct CliRun {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl CliRun {
    /// Parses the CLI's `--json` output.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|error| panic!("CLI printed no JSON ({error}):\nstdout: {}\nstderr: {}", self.stdout, self.stderr))
    }
}

/// Makes an empty folder under `target/e2e/work`, unique within this test run.
pub fn fresh_folder(label: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/e2e/work");
    let folder = root.join(format!("{label}-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed)));
    let _ = std::fs::remove_dir_all(&folder);
    std::fs::create_dir_all(&folder).expect("create work folder");
    folder
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("HTTP client")
}

/// A claim driven over plain HTTP up to the point where Prisma Auth sends the browser
/// back: the callback URL (with code and state) and the cookie the claim set.
pub struct PendingCallback {
    pub callback_url: String,
    pub cookie: String,
}

/// Starts a claim of `project_id` and signs in on the platform as its first user, into
/// that user's first workspace, without following the final redirect.
pub async fn claim_until_callback(stack: &Stack, client: &reqwest::Client, project_id: &str) -> PendingCallback {
    let start = client
        .post(format!("{}/claim/start", stack.claim_db_url))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("sec-fetch-site", "same-origin")
        .body(format!("projectID={project_id}&utm_source=e2e&utm_medium=http"))
        .send()
        .await
        .expect("claim start");
    assert_eq!(start.status().as_u16(), 303, "claim start did not redirect");
    let cookie = start
        .headers()
        .get("set-cookie")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .expect("claim cookie")
        .to_owned();
    let authorize = location(&start);

    let (_, query) = authorize.split_once('?').expect("authorize query");
    let defaults = local_platform::PlatformConfig::default();
    let user = &defaults.users[0];
    let mut form: Vec<(String, String)> =
        form_urlencoded::parse(query.as_bytes()).map(|(key, value)| (key.into_owned(), value.into_owned())).collect();
    form.push(("user".to_owned(), user.id.clone()));
    form.push(("workspace".to_owned(), user.workspaces[0].id.clone()));
    form.push(("decision".to_owned(), "authorize".to_owned()));
    let signed_in = client
        .post(format!("{}/authorize", stack.platform_url))
        .form(&form)
        .send()
        .await
        .expect("platform sign-in");
    assert_eq!(signed_in.status().as_u16(), 303, "the platform did not redirect after sign-in");
    PendingCallback { callback_url: location(&signed_in), cookie }
}

fn location(response: &reqwest::Response) -> String {
    response.headers().get("location").and_then(|value| value.to_str().ok()).expect("Location header").to_owned()
}
