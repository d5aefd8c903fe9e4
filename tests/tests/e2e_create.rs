//! End-to-end tests of create-db-worker in workerd (`wrangler dev`) against the local
//! platform, driven by the published `create-db` CLI and plain HTTP. Run them with
//! `cargo xtask test`, which starts the system first.

mod support;

use serde_json::{json, Value};
use shared::time::{parse_iso8601, HOUR_MS, MINUTE_MS};
use support::{client, fresh_folder, Stack};

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as u64)
        .unwrap_or_default()
}

#[tokio::test]
#[ignore = "needs the running system: run with `cargo xtask test`"]
async fn cli_json_creates_database() {
    let stack = Stack::from_env();
    let client = client();

    let run = stack.run_cli(&["--json", "--region", "us-east-1"]);
    let result = run.json();

    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(result["success"], true, "{result}");
    let project_id = result["projectId"].as_str().unwrap_or_default();
    assert!(project_id.starts_with("proj_"), "{result}");
    let connection = result["connectionString"].as_str().unwrap_or_default();
    assert!(connection.starts_with("postgres://"), "{connection}");
    assert!(connection.contains("@db.prisma.io:5432/postgres"), "{connection}");
    let claim_url = result["claimUrl"].as_str().unwrap_or_default();
    assert_eq!(
        claim_url,
        format!("{}/claim?projectID={project_id}&utm_source=create-db&utm_medium=cli", stack.claim_db_url)
    );
    assert_eq!(result["region"], "us-east-1");

    let project = stack.platform_project(&client, project_id).await.expect("project on the platform");
    assert_eq!(project["deleted"], false);
    assert_eq!(project["region"], "us-east-1");
    let (status, record) = stack.project_status(&client, project_id).await;
    assert_eq!(status, 200, "{record}");
    assert_eq!(record["status"], "unclaimed");
}

#[tokio::test]
#[ignore = "needs the running system: run with `cargo xtask test`"]
async fn cli_regions_json_lists_regions() {
    let stack = Stack::from_env();

    let run = stack.run_cli(&["regions", "--json"]);
    let regions = run.json();

    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let ids: Vec<&str> = regions.as_array().into_iter().flatten().filter_map(|region| region["id"].as_str()).collect();
    for expected in ["us-east-1", "us-west-1", "eu-central-1", "eu-west-3", "ap-southeast-1", "ap-northeast-1"] {
        assert!(ids.contains(&expected), "{expected} missing from {ids:?}");
    }
}

#[tokio::test]
#[ignore = "needs the running system: run with `cargo xtask test`"]
async fn cli_env_file_writes_database_url() {
    let stack = Stack::from_env();
    let folder = fresh_folder("env");

    let run = stack.run_cli_in(&folder, &["--region", "eu-west-3", "--env", "app.env"]);

    assert_eq!(run.code, Some(0), "stdout: {}\nstderr: {}", run.stdout, run.stderr);
    let written = std::fs::read_to_string(folder.join("app.env")).expect("app.env written");
    let database_url = written.lines().find_map(|line| line.strip_prefix("DATABASE_URL=")).expect("DATABASE_URL line");
    assert!(database_url.trim_matches('"').starts_with("postgres://"), "{written}");
    let claim_url = written.lines().find_map(|line| line.strip_prefix("CLAIM_URL=")).expect("CLAIM_URL line");
    assert!(claim_url.trim_matches('"').starts_with(&format!("{}/claim?projectID=proj_", stack.claim_db_url)), "{written}");
}

#[tokio::test]
#[ignore = "needs the running system: run with `cargo xtask test`"]
async fn cli_ttl_one_hour_sets_expiry() {
    let stack = Stack::from_env();
    let client = client();
    let before = now_ms();

    let run = stack.run_cli(&["--json", "--region", "us-east-1", "--ttl", "1h"]);
    let result = run.json();
    let after = now_ms();

    assert_eq!(result["success"], true, "{result}");
    let project_id = result["projectId"].as_str().unwrap_or_default();
    let (status, record) = stack.project_status(&client, project_id).await;
    assert_eq!(status, 200, "{record}");
    let expires_at = record["expiresAt"].as_str().and_then(parse_iso8601).expect("expiresAt");
    assert!(expires_at >= before + HOUR_MS - MINUTE_MS, "{record}");
    assert!(expires_at <= after + HOUR_MS + MINUTE_MS, "{record}");
    let index_keys = stack.kv_keys("expiry:");
    assert!(index_keys.iter().any(|key| key.ends_with(&format!(":{project_id}"))), "{index_keys:?}");
}

#[tokio::test]
#[ignore = "needs the running system: run with `cargo xtask test`"]
async fn cli_reports_upstream_failure() {
    let stack = Stack::from_env();
    let client = client();
    let records_before = stack.kv_keys("project:").len();
    let projects_before = stack.platform_state(&client).await["projects"].as_array().map_or(0, Vec::len);
    stack.add_fault(&client, json!({"method": "POST", "path": "/v1/projects", "status": 500, "times": 1})).await;

    let run = stack.run_cli(&["--json", "--region", "us-east-1"]);
    let result = run.json();

    assert_eq!(run.code, Some(1), "{}", run.stdout);
    assert_eq!(result["success"], false);
    assert_eq!(result["status"], 502);
    let message = result["message"].as_str().unwrap_or_default();
    assert!(message.contains("The Prisma API failed (status 500)"), "{message}");
    assert_eq!(stack.kv_keys("project:").len(), records_before);
    let projects_after = stack.platform_state(&client).await["projects"].as_array().map_or(0, Vec::len);
    assert_eq!(projects_after, projects_before);
}

#[tokio::test]
#[ignore = "needs the running system: run with `cargo xtask test`"]
async fn unreadable_or_dropped_upstream_writes_nothing() {
    let stack = Stack::from_env();
    let client = client();
    let faults = [
        (json!({"method": "POST", "path": "/v1/projects", "status": 201, "body": "{\"data\":", "times": 1}), 502, "upstream_invalid_response"),
        (json!({"method": "POST", "path": "/v1/projects", "drop": true, "times": 1}), 502, "upstream_unreachable"),
        (json!({"method": "POST", "path": "/v1/projects", "status": 429, "times": 1}), 503, "upstream_rate_limited"),
    ];

    for (fault, status, code) in faults {
        let records_before = stack.kv_keys("project:").len();
        stack.add_fault(&client, fault.clone()).await;

        let response = client
            .post(format!("{}/create", stack.create_db_url))
            .json(&json!({"region": "us-east-1", "name": "faulty"}))
            .send()
            .await
            .expect("create");
        let answered = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);

        assert_eq!(answered, status, "{fault}: {body}");
        assert_eq!(body["error"]["code"], code, "{fault}: {body}");
        assert!(body["error"]["requestId"].is_string(), "{body}");
        assert_eq!(stack.kv_keys("project:").len(), records_before, "{fault}");
    }
    stack.clear_faults(&client).await;
}

#[tokio::test]
#[ignore = "needs the running system: run with `cargo xtask test`"]
async fn create_rejects_bad_input_with_400() {
    let stack = Stack::from_env();
    let client = client();
    let creates_before = stack.request_count(&client, "POST /v1/projects").await;
    let cases: Vec<(&str, Option<&str>, &str)> = vec![
        ("{\"region\":", Some("application/json"), "not valid JSON"),
        ("[1,2,3]", Some("application/json"), "JSON object"),
        ("{\"name\":\"db\"}", Some("application/json"), "`region` is missing"),
        ("{\"region\":\"\",\"name\":\"db\"}", Some("application/json"), "`region` is empty"),
        ("{\"region\":\"us-east-1\"}", Some("application/json"), "`name` is missing"),
        ("{\"region\":\"us-east-1\",\"name\":\"\"}", Some("application/json"), "`name` is empty"),
        ("{\"region\":\"mars-north-1\",\"name\":\"db\"}", Some("application/json"), "not available"),
        ("{\"region\":\"us-east-1\",\"name\":\"db\",\"ttlMs\":\"soon\"}", Some("application/json"), "whole number"),
        ("{\"region\":\"us-east-1\",\"name\":\"db\",\"ttlMs\":500}", Some("application/json"), "outside the allowed range"),
        ("{\"region\":\"us-east-1\",\"name\":\"db\",\"ttlMs\":90000000}", Some("application/json"), "outside the allowed range"),
    ];

    for (body, content_type, expected) in cases {
        let mut request = client.post(format!("{}/create", stack.create_db_url)).body(body.to_owned());
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.expect("create");
        let status = response.status().as_u16();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        let message = answer["error"]["message"].as_str().unwrap_or_default();

        assert_eq!(status, 400, "{body}: {answer}");
        assert!(message.contains(expected), "{body}: {message}");
    }
    assert_eq!(stack.request_count(&client, "POST /v1/projects").await, creates_before);
}

#[tokio::test]
#[ignore = "needs the running system: run with `cargo xtask test`"]
async fn routes_answer_json_errors() {
    let stack = Stack::from_env();
    let client = client();

    let health = client.get(format!("{}/health", stack.create_db_url)).send().await.expect("health");
    let missing = client.get(format!("{}/nope", stack.create_db_url)).send().await.expect("missing");
    let wrong = client.delete(format!("{}/create", stack.create_db_url)).send().await.expect("wrong");
    let text = client
        .post(format!("{}/create", stack.create_db_url))
        .header("content-type", "text/plain")
        .body("region=us-east-1")
        .send()
        .await
        .expect("text");
    let preflight = client
        .request(reqwest::Method::OPTIONS, format!("{}/create", stack.create_db_url))
        .header("origin", "https://example.com")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .expect("preflight");

    assert_eq!(health.status().as_u16(), 200);
    assert_eq!(health.json::<Value>().await.unwrap_or(Value::Null)["status"], "ok");
    assert_eq!(missing.status().as_u16(), 404);
    assert_eq!(missing.json::<Value>().await.unwrap_or(Value::Null)["error"]["code"], "not_found");
    assert_eq!(wrong.status().as_u16(), 405);
    assert_eq!(text.status().as_u16(), 415);
    assert_eq!(preflight.status().as_u16(), 204);
    assert_eq!(preflight.headers().get("access-control-allow-origin").and_then(|value| value.to_str().ok()), Some("*"));
}

#[tokio::test]
#[ignore = "needs the running system: run with `cargo xtask test`"]
async fn wrangler_dry_run_deploy_succeeds() {
    let stack = Stack::from_env();

    for worker in ["create-db-worker", "claim-db-worker"] {
        for environment in [None, Some("staging"), Some("production")] {
            let label = format!("{worker} {}", environment.unwrap_or("top level"));
            let out_dir = fresh_folder(&format!("dry-run-{worker}-{}", environment.unwrap_or("default")));
            let mut command = std::process::Command::new(stack.root.join("node_modules/.bin/wrangler"));
            command.args(["deploy", "--dry-run", "--outdir"]).arg(&out_dir);
            // An empty --env names the top level; without it wrangler warns that the file
            // defines environments.
            command.arg(format!("--env={}", environment.unwrap_or_default()));
            let output = command
                .current_dir(stack.root.join(worker))
                .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
                .env("WRANGLER_SEND_METRICS", "false")
                .env("XTASK_WORKERS_BUILT", "1")
                .output()
                .expect("run wrangler deploy --dry-run");
            let printed = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));

            assert!(output.status.success(), "{label}: {printed}");
            assert!(printed.contains("--dry-run: exiting now"), "{label}: {printed}");
            assert!(!printed.contains("WARNING"), "{label}: wrangler warned about the configuration: {printed}");
            assert!(printed.contains("env.STATE"), "{label}: no KV binding: {printed}");
            assert!(out_dir.join("index.js").exists(), "{label}: no bundle in {}", out_dir.display());
        }
    }
}
