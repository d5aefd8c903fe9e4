//! End-to-end tests of the database lifecycle in workerd: the every-minute sweep and the
//! daily backstop, fired through `wrangler dev --test-scheduled` (`/__scheduled?cron=…`),
//! against the local platform and the workers' shared local KV. `cargo xtask test` starts
//! the workers with `TTL_MIN_MS=1000`, so a project created with `"ttlMs": 2000` is due
//! two seconds later. The platform and KV are shared with the other end-to-end tests, so
//! every check is about this file's own project ids.

mod support;

use serde_json::{json, Value};
use shared::time::{format_iso8601, parse_iso8601, DAY_MS};
use std::time::Duration;
use support::{client, Stack};

/// The crons of create-db-worker/wrangler.toml.
const SWEEP_CRON: &str = "* * * * *";
const BACKSTOP_CRON: &str = "17 3 * * *";

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as u64)
        .unwrap_or_default()
}

/// Creates a project with a `ttl_ms` lifetime and returns its id and `expiresAt`.
async fn create_expiring(stack: &Stack, client: &reqwest::Client, ttl_ms: u64) -> (String, u64) {
    let project_id = stack.create_project(client, json!({"name": "lifecycle", "ttlMs": ttl_ms})).await;
    let (status, record) = stack.project_status(client, &project_id).await;
    assert_eq!(status, 200, "{record}");
    assert_eq!(record["status"], "unclaimed", "{record}");
    let expires_at = record["expiresAt"].as_str().and_then(parse_iso8601).expect("expiresAt");
    (project_id, expires_at)
}

/// Sleeps until `expires_at` has passed on this machine's clock, which workerd shares.
async fn wait_until_past(expires_at: u64) {
    let now = now_ms();
    if now <= expires_at {
        tokio::time::sleep(Duration::from_millis(expires_at - now + 200)).await;
    }
}

fn index_keys_of(stack: &Stack, project_id: &str) -> Vec<String> {
    stack.kv_keys("expiry:").into_iter().filter(|key| key.ends_with(&format!(":{project_id}"))).collect()
}

async fn is_deleted_on_platform(stack: &Stack, client: &reqwest::Client, project_id: &str) -> bool {
    let project = stack.platform_project(client, project_id).await.expect("project on the platform");
    project["deleted"] == true
}

/// Seeds a project on the platform as if created at `created_at` and returns its id.
async fn seed_project(stack: &Stack, client: &reqwest::Client, name: &str, created_at: u64) -> String {
    let response = client
        .post(format!("{}/_emulator/projects", stack.platform_url))
        .json(&json!({"name": name, "region": "us-east-1", "createdAt": format_iso8601(created_at)}))
        .send()
        .await
        .expect("seed project");
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 201, "seeding {name} failed: {body}");
    body["data"]["id"].as_str().expect("seeded project id").to_owned()
}

/// Writes a record as create-db-worker or the claim worker would.
fn write_record(stack: &Stack, project_id: &str, created_at: u64, expires_at: u64, status: &str) {
    let record = json!({
        "projectId": project_id,
        "region": "us-east-1",
        "createdAt": created_at,
        "expiresAt": expires_at,
        "status": status,
        "deleteAttempts": 0,
    });
    stack.kv_put(&format!("project:{project_id}"), &record.to_string());
}

#[tokio::test]
#[ignore = "needs the running system: run with `cargo xtask test`"]
async fn sweep_deletes_expired_project() {
    let stack = Stack::from_env();
    let client = client();
    let (project_id, expires_at) = create_expiring(&stack, &client, 2_000).await;
    assert_eq!(index_keys_of(&stack, &project_id).len(), 1);

    wait_until_past(expires_at).await;
    stack.run_scheduled(&client, SWEEP_CRON).await;

    assert!(is_deleted_on_platform(&stack, &client, &project_id).await);
    let (status, record) = stack.project_status(&client, &project_id).await;
    assert_eq!(status, 200, "{record}");
    assert_eq!(record["status"], "deleted", "{record}");
    assert_eq!(index_keys_of(&stack, &project_id), Vec::<String>::new());
}

#[tokio::test]
#[ignore = "needs the running system: run with `cargo xtask test`"]
async fn sweep_retries_failed_delete_next_run() {
    let stack = Stack::from_env();
    let client = client();
    let (project_id, expires_at) = create_expiring(&stack, &client, 2_000).await;
    let project_path = format!("/v1/projects/{project_id}");
    stack.add_fault(&client, json!({"method": "DELETE", "path": project_path, "status": 500, "times": 1})).await;

    wait_until_past(expires_at).await;
    stack.run_scheduled(&client, SWEEP_CRON).await;

    assert!(!is_deleted_on_platform(&stack, &client, &project_id).await, "the DELETE should have failed");
    let faults = stack.platform_state(&client).await["faults"].clone();
    assert!(
        faults.as_array().is_some_and(|faults| faults.iter().all(|fault| fault["path"] != project_path.as_str())),
        "the fault was not used: {faults}"
    );
    let (_, record) = stack.project_status(&client, &project_id).await;
    assert_eq!(record["status"], "unclaimed", "{record}");
    assert_eq!(index_keys_of(&stack, &project_id).len(), 1, "the project must stay scheduled");

    stack.run_scheduled(&client, SWEEP_CRON).await;

    assert!(is_deleted_on_platform(&stack, &client, &project_id).await, "the retry did not delete it");
    let (_, record) = stack.project_status(&client, &project_id).await;
    assert_eq!(record["status"], "deleted", "{record}");
    assert_eq!(index_keys_of(&stack, &project_id), Vec::<String>::new());
}

#[tokio::test]
#[ignore = "needs the running system: run with `cargo xtask test`"]
async fn sweep_never_deletes_claimed_project() {
    let stack = Stack::from_env();
    let client = client();
    let created_at = now_ms();
    let (project_id, expires_at) = create_expiring(&stack, &client, 8_000).await;

    // The claim worker marks the record claimed; its index key is left in place, as when
    // dropping it failed.
    write_record(&stack, &project_id, created_at, expires_at, "claimed");
    assert!(now_ms() < expires_at, "the claim must land before expiry; wrangler kv key put was too slow");
    assert_eq!(index_keys_of(&stack, &project_id).len(), 1);
    wait_until_past(expires_at).await;
    stack.run_scheduled(&client, SWEEP_CRON).await;
    stack.run_scheduled(&client, SWEEP_CRON).await;

    assert!(!is_deleted_on_platform(&stack, &client, &project_id).await, "a claimed project was deleted");
    let (status, record) = stack.project_status(&client, &project_id).await;
    assert_eq!(status, 200, "{record}");
    assert_eq!(record["status"], "claimed", "{record}");
    assert_eq!(index_keys_of(&stack, &project_id), Vec::<String>::new(), "the sweep should drop the key");
}

#[tokio::test]
#[ignore = "needs the running system: run with `cargo xtask test`"]
async fn backstop_deletes_stale_projects_only() {
    let stack = Stack::from_env();
    let client = client();
    let now = now_ms();
    // The stack keeps TTL_MAX_MS at 24 hours and STALE_GRACE_MS at one hour.
    let old = now - 3 * DAY_MS;
    let stale = seed_project(&stack, &client, "stale-unknown", old).await;
    let stale_recorded = seed_project(&stack, &client, "stale-recorded", old).await;
    let stale_claimed = seed_project(&stack, &client, "stale-claimed", old).await;
    let fresh = seed_project(&stack, &client, "fresh", now).await;
    write_record(&stack, &stale_recorded, old, old + DAY_MS, "unclaimed");
    let stale_index_key = format!("expiry:{:013}:{stale_recorded}", old + DAY_MS);
    stack.kv_put(&stale_index_key, "");
    write_record(&stack, &stale_claimed, old, old + DAY_MS, "claimed");

    stack.run_scheduled(&client, BACKSTOP_CRON).await;

    assert!(is_deleted_on_platform(&stack, &client, &stale).await, "stale project without a record kept");
    assert!(is_deleted_on_platform(&stack, &client, &stale_recorded).await, "stale project with a record kept");
    assert!(!is_deleted_on_platform(&stack, &client, &stale_claimed).await, "claimed project deleted");
    assert!(!is_deleted_on_platform(&stack, &client, &fresh).await, "fresh project deleted");
    let (_, recorded) = stack.project_status(&client, &stale_recorded).await;
    assert_eq!(recorded["status"], "deleted", "{recorded}");
    let (_, claimed) = stack.project_status(&client, &stale_claimed).await;
    assert_eq!(claimed["status"], "claimed", "{claimed}");
    let (unknown_status, _) = stack.project_status(&client, &stale).await;
    assert_eq!(unknown_status, 404, "a project create-db-worker never scheduled has no record");
    assert!(!stack.kv_keys("expiry:").contains(&stale_index_key), "the backstop should drop the index key");
}
