//! End-to-end tests of the claim flow in real headless Chromium. A database made by the
//! published `create-db` CLI is claimed through the claim worker in workerd and the
//! local platform's sign-in page. Each rejected callback is checked to leave the project
//! where it was. `tests/browser/claim-driver.mjs` drives Chromium through
//! playwright-core, one JSON command per line. Run them with `cargo xtask test`, which
//! starts the system and installs Debian's Chromium first.

mod support;

use local_platform::PlatformConfig;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use support::{client, Stack};

const COOKIE_NAME: &str = "__Host-claim_binding";

/// The Chromium driver: a `node` process that takes one command per line.
struct Browser {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
    screenshots: PathBuf,
}

impl Browser {
    fn start(stack: &Stack) -> Browser {
        let mut child = Command::new("node")
            .arg(stack.root.join("tests/browser/claim-driver.mjs"))
            .current_dir(&stack.root)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start node tests/browser/claim-driver.mjs: {error}"));
        let input = child.stdin.take().expect("driver stdin");
        let output = BufReader::new(child.stdout.take().expect("driver stdout"));
        let screenshots = stack.log_dir.join("screenshots");
        std::fs::create_dir_all(&screenshots).expect("create screenshot folder");
        Browser { child, input, output, screenshots }
    }

    /// Sends one command and returns its result; a driver error fails the test.
    fn send(&mut self, command: Value) -> Value {
        writeln!(self.input, "{command}").expect("write to the driver");
        self.input.flush().expect("flush the driver's input");
        let mut line = String::new();
        self.output.read_line(&mut line).expect("read from the driver");
        let result: Value = serde_json::from_str(&line)
            .unwrap_or_else(|error| panic!("the driver printed no JSON for {command} ({error}): {line:?}"));
        assert!(result.get("error").is_none(), "{command} failed: {}", result["error"]);
        result
    }

    fn open(&mut self, context: &str, url: &str) -> Value {
        self.send(json!({"op": "open", "context": context, "url": url}))
    }

    fn click(&mut self, context: &str, button: &str) -> Value {
        self.send(json!({"op": "click", "context": context, "button": button}))
    }

    fn follow(&mut self, context: &str, link: &str) -> Value {
        self.send(json!({"op": "follow", "context": context, "link": link}))
    }

    /// Signs in on the platform page as `user` into `workspace` and presses `decision`.
    fn sign_in(&mut self, context: &str, user: &str, workspace: &str, decision: &str) -> Value {
        self.send(json!({"op": "signIn", "context": context, "user": user, "workspace": workspace, "decision": decision}))
    }

    /// Signs in and authorizes, but does not follow the redirect back; returns its URL.
    fn sign_in_and_hold(&mut self, context: &str, user: &str, workspace: &str) -> String {
        let result = self.send(
            json!({"op": "signIn", "context": context, "user": user, "workspace": workspace, "decision": "Authorize", "hold": true}),
        );
        result["callbackUrl"].as_str().expect("a callback URL from the sign-in").to_owned()
    }

    fn cookies(&mut self, context: &str) -> Vec<Value> {
        self.send(json!({"op": "cookies", "context": context}))["cookies"].as_array().cloned().unwrap_or_default()
    }

    fn screenshot(&mut self, context: &str, name: &str) -> PathBuf {
        let path = self.screenshots.join(format!("{name}.png"));
        self.send(json!({"op": "screenshot", "context": context, "path": path}));
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = writeln!(self.input, "{}", json!({"op": "close"}));
        let _ = self.input.flush();
        for _ in 0..50 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn text(page: &Value) -> &str {
    page["text"].as_str().unwrap_or_default()
}

fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query.split('&').filter_map(|pair| pair.split_once('=')).find(|(key, _)| *key == name).map(|(_, value)| {
        // The values checked here are plain ASCII apart from the percent-encoded redirect URI.
        value.replace("%3A", ":").replace("%2F", "/")
    })
}

/// Creates a database with the published CLI and returns its project id and claim URL.
fn create_database(stack: &Stack) -> (String, String) {
    let run = stack.run_cli(&["--json", "--region", "us-east-1"]);
    let result = run.json();
    assert_eq!(result["success"], true, "{result}\n{}", run.stderr);
    let project_id = result["projectId"].as_str().expect("projectId").to_owned();
    let claim_url = result["claimUrl"].as_str().expect("claimUrl").to_owned();
    (project_id, claim_url)
}

/// Returns the seeded user who claims in these tests, and the workspace they pick.
fn alice_team() -> (String, String) {
    let config = PlatformConfig::default();
    let alice = config.user("alice").expect("seeded user alice").clone();
    let team = alice.workspaces.iter().find(|workspace| workspace.name == "Alice's team").expect("Alice's team");
    (alice.name, team.id.clone())
}

/// Asserts what must stay true of a project after a rejected callback.
async fn assert_still_unclaimed(stack: &Stack, http: &reqwest::Client, project_id: &str, transfers_before: u64) {
    let project = stack.platform_project(http, project_id).await.expect("project on the platform");
    assert_eq!(project["workspaceId"], PlatformConfig::default().partner_workspace.id, "{project}");
    assert_eq!(project["deleted"], false, "{project}");
    let (status, record) = stack.project_status(http, project_id).await;
    assert_eq!(status, 200, "{record}");
    assert_eq!(record["status"], "unclaimed", "{record}");
    assert_eq!(transfers(stack, http).await, transfers_before, "a transfer was sent");
}

async fn transfers(stack: &Stack, http: &reqwest::Client) -> u64 {
    stack.request_count(http, "POST /v1/projects/{id}/transfer").await
}

fn assert_screenshot(path: &Path) {
    let size = std::fs::metadata(path).map(|metadata| metadata.len()).unwrap_or(0);
    assert!(size > 5_000, "screenshot {} is empty or missing", path.display());
}

#[tokio::test]
#[ignore = "needs the running system: run with `cargo xtask test`"]
async fn browser_claims_database_then_replay_fails() {
    let stack = Stack::from_env();
    let http = client();
    let (user, workspace_id) = alice_team();
    let (project_id, claim_url) = create_database(&stack);
    let mut browser = Browser::start(&stack);

    let claim_page = browser.open("a", &claim_url);
    assert_screenshot(&browser.screenshot("a", "1-claim-page"));
    assert_eq!(claim_page["status"], 200, "{claim_page}");
    assert_eq!(claim_page["heading"], "Claim your database");
    assert!(text(&claim_page).contains(&project_id), "{claim_page}");
    assert!(text(&claim_page).contains("It will be deleted on"), "{claim_page}");
    assert!(text(&claim_page).contains(" UTC"), "{claim_page}");
    let policy = claim_page["headers"]["content-security-policy"].as_str().unwrap_or_default();
    assert!(policy.contains("default-src 'none'"), "{policy}");
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    assert_eq!(claim_page["headers"]["x-frame-options"], "DENY");
    assert_eq!(claim_page["scripts"], 0);

    let sign_in_page = browser.click("a", "Claim database");
    assert_screenshot(&browser.screenshot("a", "2-sign-in-page"));
    let authorize_url = sign_in_page["url"].as_str().unwrap_or_default();
    assert!(authorize_url.starts_with(&format!("{}/authorize?", stack.platform_url)), "{authorize_url}");
    assert_eq!(sign_in_page["status"], 200, "{sign_in_page}");
    assert_eq!(query_param(authorize_url, "client_id").as_deref(), Some("local-client-id"));
    assert_eq!(query_param(authorize_url, "redirect_uri"), Some(format!("{}/auth/callback", stack.claim_db_url)));
    assert_eq!(query_param(authorize_url, "response_type").as_deref(), Some("code"));
    assert_eq!(query_param(authorize_url, "code_challenge_method").as_deref(), Some("S256"));
    assert_eq!(query_param(authorize_url, "utm_source").as_deref(), Some("create-db"));
    assert_eq!(query_param(authorize_url, "utm_medium").as_deref(), Some("cli"));
    let state = query_param(authorize_url, "state").expect("state");
    assert_eq!(state.len(), 43, "{state}");
    let cookies = browser.cookies("a");
    let binding = cookies.iter().find(|cookie| cookie["name"] == COOKIE_NAME).expect("binding cookie");
    assert_eq!(binding["httpOnly"], true, "{binding}");
    assert_eq!(binding["secure"], true, "{binding}");
    assert_eq!(binding["sameSite"], "Lax", "{binding}");
    assert_eq!(binding["path"], "/", "{binding}");
    assert!(stack.kv_keys("oauth:").contains(&format!("oauth:{state}")));

    let success = browser.sign_in("a", &user, &workspace_id, "Authorize");
    assert_screenshot(&browser.screenshot("a", "3-success-page"));
    let callback_url = success["url"].as_str().unwrap_or_default().to_owned();
    assert!(callback_url.starts_with(&format!("{}/auth/callback?", stack.claim_db_url)), "{callback_url}");
    assert_eq!(success["status"], 200, "{success}");
    assert_eq!(success["heading"], "Database claimed", "{success}");
    let console_link = success["links"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|link| link["href"].as_str())
        .find(|href| href.starts_with("https://console.prisma.io/"))
        .unwrap_or_default()
        .to_owned();
    assert!(console_link.starts_with(&format!("https://console.prisma.io/{workspace_id}/{project_id}/db_")), "{console_link}");

    let project = stack.platform_project(&http, &project_id).await.expect("project on the platform");
    assert_eq!(project["workspaceId"], workspace_id.as_str(), "{project}");
    let (status, record) = stack.project_status(&http, &project_id).await;
    assert_eq!(status, 200, "{record}");
    assert_eq!(record["status"], "claimed", "{record}");
    assert!(!stack.kv_keys("expiry:").iter().any(|key| key.ends_with(&format!(":{project_id}"))));
    assert!(!stack.kv_keys("oauth:").contains(&format!("oauth:{state}")));
    assert!(!browser.cookies("a").iter().any(|cookie| cookie["name"] == COOKIE_NAME), "the cookie must be cleared");

    // The same callback again, in the same browser and in a fresh one: both rejected, nothing changes.
    let transfers_before = transfers(&stack, &http).await;
    let replay = browser.open("a", &callback_url);
    let fresh_replay = browser.open("b", &callback_url);
    assert_screenshot(&browser.screenshot("a", "4-replayed-callback"));
    for page in [&replay, &fresh_replay] {
        assert_eq!(page["status"], 400, "{page}");
        assert_eq!(page["heading"], "Sign-in expired", "{page}");
    }
    assert_eq!(transfers(&stack, &http).await, transfers_before);
    let project = stack.platform_project(&http, &project_id).await.expect("project on the platform");
    assert_eq!(project["workspaceId"], workspace_id.as_str(), "{project}");
    assert_eq!(stack.project_status(&http, &project_id).await.1["status"], "claimed");

    // The claim link of a claimed project offers no button any more.
    let claimed_page = browser.open("a", &claim_url);
    assert_screenshot(&browser.screenshot("a", "5-already-claimed"));
    assert_eq!(claimed_page["status"], 409, "{claimed_page}");
    assert_eq!(claimed_page["heading"], "Database already claimed");
    assert_eq!(claimed_page["buttons"].as_array().map(Vec::len), Some(0), "{claimed_page}");
}

#[tokio::test]
#[ignore = "needs the running system: run with `cargo xtask test`"]
async fn cookieless_and_tampered_callbacks_are_rejected() {
    let stack = Stack::from_env();
    let http = client();
    let (user, workspace_id) = alice_team();
    let (project_id, claim_url) = create_database(&stack);
    let transfers_before = transfers(&stack, &http).await;
    let mut browser = Browser::start(&stack);

    browser.open("a", &claim_url);
    browser.click("a", "Claim database");
    let callback_url = browser.sign_in_and_hold("a", &user, &workspace_id);
    let state = query_param(&callback_url, "state").expect("state");

    let cookieless = browser.open("b", &callback_url);
    assert_screenshot(&browser.screenshot("b", "6-cookieless-callback"));
    assert_eq!(cookieless["status"], 403, "{cookieless}");
    assert_eq!(cookieless["heading"], "Sign-in started in another browser", "{cookieless}");
    assert_still_unclaimed(&stack, &http, &project_id, transfers_before).await;

    let mut flipped = state.clone().into_bytes();
    flipped[10] = if flipped[10] == b'A' { b'B' } else { b'A' };
    let tampered_state = String::from_utf8(flipped).expect("ASCII state");
    let tampered = browser.open("a", &callback_url.replace(&state, &tampered_state));
    assert_eq!(tampered["status"], 400, "{tampered}");
    assert_eq!(tampered["heading"], "Sign-in expired", "{tampered}");
    assert_still_unclaimed(&stack, &http, &project_id, transfers_before).await;

    // Neither rejection used up the state, so the browser that started the claim finishes it.
    assert!(stack.kv_keys("oauth:").contains(&format!("oauth:{state}")));
    let finished = browser.open("a", &callback_url);
    assert_eq!(finished["status"], 200, "{finished}");
    assert_eq!(finished["heading"], "Database claimed");
    let project = stack.platform_project(&http, &project_id).await.expect("project on the platform");
    assert_eq!(project["workspaceId"], workspace_id.as_str(), "{project}");
}

#[tokio::test]
#[ignore = "needs the running system: run with `cargo xtask test`"]
async fn expired_state_is_rejected() {
    let stack = Stack::from_env();
    let http = client();
    let (user, workspace_id) = alice_team();
    let (project_id, claim_url) = create_database(&stack);
    let transfers_before = transfers(&stack, &http).await;
    let mut browser = Browser::start(&stack);

    browser.open("a", &claim_url);
    browser.click("a", "Claim database");
    let callback_url = browser.sign_in_and_hold("a", &user, &workspace_id);
    let state = query_param(&callback_url, "state").expect("state");
    // KV's minimum lifetime is 60 seconds, so expiry is simulated: the pending claim is
    // rewritten as if it had been started 11 minutes ago.
    let key = format!("oauth:{state}");
    let mut pending: Value = serde_json::from_str(&stack.kv_get(&key)).expect("pending claim JSON");
    let created_at = pending["createdAt"].as_u64().expect("createdAt");
    pending["createdAt"] = json!(created_at - 11 * 60 * 1000);
    stack.kv_put(&key, &pending.to_string());

    let expired = browser.open("a", &callback_url);
    assert_screenshot(&browser.screenshot("a", "7-expired-state"));
    assert_eq!(expired["status"], 400, "{expired}");
    assert_eq!(expired["heading"], "Sign-in expired", "{expired}");
    assert!(text(&expired).contains("took longer than 10 minutes"), "{expired}");
    assert_still_unclaimed(&stack, &http, &project_id, transfers_before).await;
    assert!(!stack.kv_keys("oauth:").contains(&key), "the expired state must be deleted");

    let restart = browser.follow("a", "Back to the claim page");
    assert_eq!(restart["status"], 200, "{restart}");
    assert_eq!(restart["heading"], "Claim your database");
}

#[tokio::test]
#[ignore = "needs the running system: run with `cargo xtask test`"]
async fn cancel_leads_back_to_claim_page() {
    let stack = Stack::from_env();
    let http = client();
    let (user, workspace_id) = alice_team();
    let (project_id, claim_url) = create_database(&stack);
    let transfers_before = transfers(&stack, &http).await;
    let mut browser = Browser::start(&stack);

    browser.open("a", &claim_url);
    browser.click("a", "Claim database");
    let cancelled = browser.sign_in("a", &user, &workspace_id, "Cancel");
    assert_screenshot(&browser.screenshot("a", "8-cancelled"));

    assert_eq!(cancelled["status"], 200, "{cancelled}");
    assert_eq!(cancelled["heading"], "Claim cancelled", "{cancelled}");
    assert_still_unclaimed(&stack, &http, &project_id, transfers_before).await;
    let back = browser.follow("a", "Back to the claim page");
    assert_eq!(back["status"], 200, "{back}");
    assert_eq!(back["heading"], "Claim your database");
    assert!(back["url"].as_str().unwrap_or_default().contains("utm_source=create-db"), "{back}");
}

#[tokio::test]
#[ignore = "needs the running system: run with `cargo xtask test`"]
async fn unknown_project_has_no_claim_button() {
    let stack = Stack::from_env();
    let mut browser = Browser::start(&stack);

    let unknown = browser.open("a", &format!("{}/claim?projectID=proj_neverexisted0001", stack.claim_db_url));
    assert_screenshot(&browser.screenshot("a", "9-unknown-project"));

    assert_eq!(unknown["status"], 404, "{unknown}");
    assert_eq!(unknown["heading"], "Database not found");
    assert!(text(&unknown).contains("expired and was deleted, or it never existed"), "{unknown}");
    assert_eq!(unknown["buttons"].as_array().map(Vec::len), Some(0), "{unknown}");
    assert!(text(&unknown).contains("Request id:"), "{unknown}");
}

#[tokio::test]
#[ignore = "needs the running system: run with `cargo xtask test`"]
async fn markup_in_project_id_is_escaped() {
    let stack = Stack::from_env();
    let http = client();
    let requests_before = stack.platform_state(&http).await["requests"].clone();
    let mut browser = Browser::start(&stack);
    let hostile = "proj_<b>bold</b><script>alert(1)</script>";
    let url = format!(
        "{}/claim?projectID=proj_%3Cb%3Ebold%3C%2Fb%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E&utm_source=%3Cb%3Ex%3C%2Fb%3E",
        stack.claim_db_url
    );

    let page = browser.open("a", &url);
    assert_screenshot(&browser.screenshot("a", "10-markup-in-id"));

    assert_eq!(page["status"], 400, "{page}");
    assert_eq!(page["heading"], "Invalid claim link");
    assert!(text(&page).contains(hostile), "the id is shown as text: {page}");
    assert_eq!(page["boldElements"], 0, "{page}");
    assert_eq!(page["scripts"], 0, "{page}");
    assert_eq!(page["dialogs"], 0, "{page}");
    let raw = http.get(&url).send().await.expect("claim page").text().await.expect("claim page body");
    assert!(raw.contains("proj_&lt;b&gt;bold&lt;/b&gt;&lt;script&gt;"), "{raw}");
    assert_eq!(stack.platform_state(&http).await["requests"], requests_before, "an invalid id must not reach Prisma");
}
