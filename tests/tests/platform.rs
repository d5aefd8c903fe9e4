//! Tests of the local Prisma platform over HTTP: each test starts its own platform with
//! `spawn` on a free loopback port and talks to it with reqwest, as the workers do.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use local_platform::{spawn, PlatformConfig, PlatformHandle};
use reqwest::redirect::Policy;
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const TOKEN: &str = "local-integration-token";
const REDIRECT_URI: &str = "http://127.0.0.1:8788/auth/callback";
const VERIFIER: &str = "test-verifier-0123456789-abcdefghijklmnopqrstuvwxyz";

fn client() -> Result<Client, reqwest::Error> {
    Client::builder().redirect(Policy::none()).build()
}

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Returns the value of `key` in the query string of a `Location` header.
fn location_param(response: &Response, key: &str) -> Option<String> {
    let location = response.headers().get("location")?.to_str().ok()?;
    let (_, query) = location.split_once('?')?;
    form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| name == key)
        .map(|(_, value)| value.into_owned())
}

fn location(response: &Response) -> String {
    response
        .headers()
        .get("location")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

async fn create_project(
    client: &Client,
    platform: &PlatformHandle,
    name: &str,
) -> Result<Value, Box<dyn std::error::Error>> {
    let response = client
        .post(format!("{}/v1/projects", platform.url()))
        .bearer_auth(TOKEN)
        .json(&json!({ "name": name, "region": "us-east-1" }))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await?;
    Ok(body["data"].clone())
}

async fn get_project(
    client: &Client,
    platform: &PlatformHandle,
    token: &str,
    id: &str,
) -> Result<Response, reqwest::Error> {
    client
        .get(format!("{}/v1/projects/{id}", platform.url()))
        .bearer_auth(token)
        .send()
        .await
}

async fn state(client: &Client, platform: &PlatformHandle) -> Result<Value, reqwest::Error> {
    client
        .get(format!("{}/_emulator/state", platform.url()))
        .send()
        .await?
        .json()
        .await
}

fn authorize_query(state: &str, verifier: &str) -> Vec<(&'static str, String)> {
    vec![
        ("client_id", "local-client-id".to_owned()),
        ("redirect_uri", REDIRECT_URI.to_owned()),
        ("response_type", "code".to_owned()),
        ("scope", "workspace:admin".to_owned()),
        ("state", state.to_owned()),
        ("code_challenge", challenge(verifier)),
        ("code_challenge_method", "S256".to_owned()),
    ]
}

/// Submits the sign-in form as `user` choosing `workspace_id` and returns the code.
async fn authorization_code(
    client: &Client,
    platform: &PlatformHandle,
    user: &str,
    workspace_id: &str,
) -> Result<String, Box<dyn std::error::Error>> {
    let mut form = authorize_query("state-1", VERIFIER);
    form.push(("user", user.to_owned()));
    form.push(("workspace", workspace_id.to_owned()));
    form.push(("decision", "authorize".to_owned()));

    let response = client
        .post(format!("{}/authorize", platform.url()))
        .form(&form)
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(location(&response).starts_with(REDIRECT_URI));
    assert_eq!(
        location_param(&response, "state").as_deref(),
        Some("state-1")
    );
    location_param(&response, "code").ok_or_else(|| "redirect has no code".into())
}

async fn exchange(
    client: &Client,
    platform: &PlatformHandle,
    code: &str,
    verifier: &str,
) -> Result<Response, reqwest::Error> {
    client
        .post(format!("{}/token", platform.url()))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
            ("client_id", "local-client-id"),
            ("client_secret", "local-client-secret"),
            ("code_verifier", verifier),
        ])
        .send()
        .await
}

/// Signs `user` in with `workspace_id` and returns the access token.
async fn access_token(
    client: &Client,
    platform: &PlatformHandle,
    user: &str,
    workspace_id: &str,
) -> Result<String, Box<dyn std::error::Error>> {
    let code = authorization_code(client, platform, user, workspace_id).await?;
    let response = exchange(client, platform, &code, VERIFIER).await?;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await?;
    body["access_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| "no access_token".into())
}

fn alice_team(config: &PlatformConfig) -> String {
    config.users[0].workspaces[1].id.clone()
}

#[tokio::test]
async fn create_returns_full_project() -> TestResult {
    let platform = spawn(PlatformConfig::default()).await?;
    let client = client()?;

    let response = client
        .post(format!("{}/v1/projects", platform.url()))
        .bearer_auth(TOKEN)
        .header("user-agent", "create-db-test/1.0")
        .json(&json!({ "name": "demo", "region": "eu-central-1", "source": "cli" }))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await?;
    let project = &body["data"];

    let id = project["id"].as_str().unwrap_or_default();
    assert!(id.starts_with("proj_"), "id {id}");
    assert_eq!(id.len(), "proj_".len() + 25);
    assert_eq!(project["type"], "project");
    assert_eq!(project["name"], "demo");
    assert_eq!(
        project["url"],
        format!("{}/v1/projects/{id}", platform.url())
    );
    let created_at = project["createdAt"].as_str().unwrap_or_default();
    assert_eq!(
        created_at.len(),
        "2025-01-01T00:00:00.000Z".len(),
        "createdAt {created_at}"
    );
    assert!(created_at.ends_with('Z'));
    assert_eq!(project["workspace"]["id"], "wksp_partner000000000000000000");
    assert_eq!(project["workspace"]["name"], "Partner workspace");

    let database = &project["database"];
    assert!(database["id"]
        .as_str()
        .unwrap_or_default()
        .starts_with("db_"));
    assert_eq!(database["type"], "database");
    assert_eq!(database["status"], "ready");
    assert_eq!(database["isDefault"], true);
    assert_eq!(
        database["region"],
        json!({ "id": "eu-central-1", "name": "EU Central (Frankfurt)" })
    );

    let connection = &database["connections"][0];
    assert!(connection["id"]
        .as_str()
        .unwrap_or_default()
        .starts_with("con_"));
    assert_eq!(connection["type"], "connection");
    assert_eq!(connection["kind"], "postgres");
    let direct = connection["endpoints"]["direct"]["connectionString"]
        .as_str()
        .unwrap_or_default();
    let pooled = connection["endpoints"]["pooled"]["connectionString"]
        .as_str()
        .unwrap_or_default();
    assert!(direct.starts_with("postgres://"), "direct {direct}");
    assert!(
        direct.ends_with("@db.prisma.io:5432/postgres?sslmode=require"),
        "direct {direct}"
    );
    assert!(pooled.starts_with("postgres://"), "pooled {pooled}");
    assert!(
        pooled.ends_with("@pooled.db.prisma.io:5432/postgres?sslmode=require"),
        "pooled {pooled}"
    );
    assert_eq!(connection["endpoints"]["direct"]["host"], "db.prisma.io");
    assert_eq!(connection["endpoints"]["direct"]["port"], 5432);
    assert_eq!(connection["connectionString"], direct);

    let user = connection["directConnection"]["user"]
        .as_str()
        .unwrap_or_default();
    let pass = connection["directConnection"]["pass"]
        .as_str()
        .unwrap_or_default();
    assert!(!user.is_empty());
    assert!(!pass.is_empty());
    assert_eq!(
        direct,
        format!("postgres://{user}:{pass}@db.prisma.io:5432/postgres?sslmode=require")
    );

    assert_eq!(database["apiKeys"][0]["connectionString"], direct);
    assert_eq!(database["connectionString"], direct);
    assert_eq!(database["directConnection"]["user"], user);

    let state = state(&client, &platform).await?;
    assert_eq!(state["projects"][0]["id"], id);
    assert_eq!(state["projects"][0]["userAgent"], "create-db-test/1.0");
    assert_eq!(state["projects"][0]["region"], "eu-central-1");
    Ok(())
}

#[tokio::test]
async fn get_and_databases_of_project() -> TestResult {
    let platform = spawn(PlatformConfig::default()).await?;
    let client = client()?;
    let created = create_project(&client, &platform, "fetch-me").await?;
    let id = created["id"].as_str().unwrap_or_default();

    let response = get_project(&client, &platform, TOKEN, id).await?;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await?;
    assert_eq!(body["data"]["id"], id);
    assert_eq!(body["data"]["name"], "fetch-me");
    assert_eq!(body["data"]["createdAt"], created["createdAt"]);
    assert_eq!(body["data"]["workspace"]["name"], "Partner workspace");

    let response = client
        .get(format!("{}/v1/projects/{id}/databases", platform.url()))
        .bearer_auth(TOKEN)
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await?;
    assert_eq!(body["data"][0]["id"], created["database"]["id"]);
    assert_eq!(body["data"][0]["project"]["id"], id);
    assert_eq!(
        body["pagination"],
        json!({ "nextCursor": null, "hasMore": false })
    );

    let response = client
        .get(format!(
            "{}/v1/projects/proj_missing/databases",
            platform.url()
        ))
        .bearer_auth(TOKEN)
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    Ok(())
}

#[tokio::test]
async fn create_rejects_invalid_input() -> TestResult {
    let mut config = PlatformConfig::default();
    for region in &mut config.regions {
        if region.id == "ap-northeast-1" {
            region.available = false;
        }
    }
    let platform = spawn(config).await?;
    let client = client()?;

    let cases = [
        (json!({ "region": "us-east-1" }), "missing name"),
        (json!({ "name": "  ", "region": "us-east-1" }), "empty name"),
        (json!({ "name": "x" }), "missing region"),
        (json!({ "name": "x", "region": "" }), "empty region"),
        (
            json!({ "name": "x", "region": "mars-north-1" }),
            "unknown region",
        ),
        (
            json!({ "name": "x", "region": "ap-northeast-1" }),
            "unavailable region",
        ),
        (json!([1, 2]), "not an object"),
    ];
    for (body, case) in cases {
        let response = client
            .post(format!("{}/v1/projects", platform.url()))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await?;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{case}");
        let body: Value = response.json().await?;
        assert_eq!(body["error"]["code"], "validation_error", "{case}");
        assert!(body["error"]["message"].is_string(), "{case}");
    }

    let regions: Value = client
        .get(format!("{}/v1/regions/postgres", platform.url()))
        .bearer_auth(TOKEN)
        .send()
        .await?
        .json()
        .await?;
    let tokyo = regions["data"]
        .as_array()
        .and_then(|list| list.iter().find(|region| region["id"] == "ap-northeast-1"));
    assert_eq!(
        tokyo.map(|region| region["status"].clone()),
        Some(json!("unavailable"))
    );
    assert_eq!(
        regions["data"][0],
        json!({ "id": "us-east-1", "type": "region", "name": "US East (N. Virginia)", "status": "available" })
    );
    assert_eq!(regions["data"].as_array().map(Vec::len), Some(6));

    assert!(state(&client, &platform).await?["projects"]
        .as_array()
        .is_some_and(Vec::is_empty));
    Ok(())
}

#[tokio::test]
async fn list_pages_through_250_projects() -> TestResult {
    let platform = spawn(PlatformConfig::default()).await?;
    let client = client()?;
    let mut created = Vec::new();
    for index in 0..250 {
        let project = create_project(&client, &platform, &format!("p{index}")).await?;
        created.push(project["id"].as_str().unwrap_or_default().to_owned());
    }

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut request = client
            .get(format!("{}/v1/projects", platform.url()))
            .bearer_auth(TOKEN);
        if let Some(cursor) = &cursor {
            request = request.query(&[("cursor", cursor.as_str())]);
        }
        let response = request.send().await?;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await?;
        pages += 1;

        let data = body["data"].as_array().cloned().unwrap_or_default();
        assert!(data.len() <= 100);
        assert!(data.iter().all(|project| project.get("database").is_none()));
        seen.extend(
            data.iter()
                .map(|project| project["id"].as_str().unwrap_or_default().to_owned()),
        );

        if body["pagination"]["hasMore"] == false {
            assert_eq!(body["pagination"]["nextCursor"], Value::Null);
            break;
        }
        cursor = body["pagination"]["nextCursor"].as_str().map(str::to_owned);
        assert!(cursor.is_some(), "hasMore without nextCursor");
        assert!(pages < 10, "pagination does not end");
    }

    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 250);
    assert_eq!(
        seen.iter().collect::<HashSet<_>>().len(),
        250,
        "duplicates across pages"
    );
    assert_eq!(seen, created, "not in creation order");

    let small: Value = client
        .get(format!("{}/v1/projects?limit=7", platform.url()))
        .bearer_auth(TOKEN)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(small["data"].as_array().map(Vec::len), Some(7));
    assert_eq!(small["pagination"]["nextCursor"], json!(created[6]));

    for query in ["cursor=proj_doesnotexist", "limit=0", "limit=abc"] {
        let response = client
            .get(format!("{}/v1/projects?{query}", platform.url()))
            .bearer_auth(TOKEN)
            .send()
            .await?;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
    }
    Ok(())
}

#[tokio::test]
async fn delete_then_not_found() -> TestResult {
    let platform = spawn(PlatformConfig::default()).await?;
    let client = client()?;
    let keep = create_project(&client, &platform, "keep").await?;
    let deleted_project = create_project(&client, &platform, "gone").await?;
    let gone_id = deleted_project["id"].as_str().unwrap_or_default();
    let delete_url = format!("{}/v1/projects/{gone_id}", platform.url());

    let response = client.delete(&delete_url).bearer_auth(TOKEN).send().await?;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    assert_eq!(
        get_project(&client, &platform, TOKEN, gone_id)
            .await?
            .status(),
        StatusCode::NOT_FOUND
    );
    let response = client.delete(&delete_url).bearer_auth(TOKEN).send().await?;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body: Value = response.json().await?;
    assert_eq!(body["error"]["code"], "not_found");

    let list: Value = client
        .get(format!("{}/v1/projects", platform.url()))
        .bearer_auth(TOKEN)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(list["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(list["data"][0]["id"], keep["id"]);

    let state = state(&client, &platform).await?;
    let deleted: Vec<&Value> = state["projects"]
        .as_array()
        .map(|list| list.iter().filter(|p| p["deleted"] == true).collect())
        .unwrap_or_default();
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0]["id"], gone_id);
    Ok(())
}

#[tokio::test]
async fn missing_or_wrong_token_is_401() -> TestResult {
    let platform = spawn(PlatformConfig::default()).await?;
    let client = client()?;
    let base = platform.url();

    let requests = [
        client.get(format!("{base}/v1/projects")),
        client
            .post(format!("{base}/v1/projects"))
            .json(&json!({ "name": "x", "region": "us-east-1" })),
        client.get(format!("{base}/v1/projects/proj_x")),
        client.delete(format!("{base}/v1/projects/proj_x")),
        client
            .get(format!("{base}/v1/regions/postgres"))
            .bearer_auth("wrong-token"),
        client
            .get(format!("{base}/v1/projects"))
            .header("authorization", format!("Basic {TOKEN}")),
        client
            .post(format!("{base}/v1/projects/proj_x/transfer"))
            .json(&json!({ "recipientAccessToken": "x" })),
    ];
    for request in requests {
        let response = request.send().await?;
        let url = response.url().to_string();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{url}");
        let body: Value = response.json().await?;
        assert_eq!(body["error"]["code"], "unauthorized", "{url}");
        assert!(body["error"]["message"].is_string(), "{url}");
    }

    assert!(state(&client, &platform).await?["projects"]
        .as_array()
        .is_some_and(Vec::is_empty));
    Ok(())
}

#[tokio::test]
async fn authorize_page_lists_users_and_workspaces() -> TestResult {
    let platform = spawn(PlatformConfig::default()).await?;
    let client = client()?;

    let response = client
        .get(format!("{}/authorize", platform.url()))
        .query(&authorize_query("s<1>", VERIFIER))
        .query(&[("utm_source", "cli"), ("utm_medium", "test")])
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .starts_with("text/html"));
    let page = response.text().await?;

    assert!(page.contains("<select id=\"user\" name=\"user\">"));
    assert!(page.contains("<select id=\"workspace\" name=\"workspace\">"));
    assert!(page.contains(">alice</option>"));
    assert!(page.contains("alice — Alice's team"));
    assert!(page.contains("bob — Bob's workspace"));
    assert!(page.contains(">Authorize</button>"));
    assert!(page.contains(">Cancel</button>"));
    assert!(
        page.contains("value=\"s&lt;1&gt;\""),
        "state is not escaped"
    );
    assert!(!page.contains("<script"));
    Ok(())
}

#[tokio::test]
async fn authorize_rejects_bad_requests() -> TestResult {
    let platform = spawn(PlatformConfig::default()).await?;
    let client = client()?;
    let url = format!("{}/authorize", platform.url());

    // Untrusted client or redirect URI: an error page, never a redirect.
    let replace = |key: &str, value: &str| {
        authorize_query("s1", VERIFIER)
            .into_iter()
            .map(|(k, v)| {
                if k == key {
                    (k, value.to_owned())
                } else {
                    (k, v)
                }
            })
            .collect::<Vec<_>>()
    };
    for query in [
        replace("client_id", "someone-else"),
        replace("redirect_uri", "http://127.0.0.1:8788/auth/callback/"),
        replace("redirect_uri", "http://evil.example/cb"),
    ] {
        let response = client.get(&url).query(&query).send().await?;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(response.headers().get("location").is_none());
    }

    // Trusted redirect URI: the error goes back to the client.
    for (query, has_state) in [
        (replace("response_type", "token"), true),
        (replace("code_challenge_method", "plain"), true),
        (replace("code_challenge", ""), true),
        (replace("state", ""), false),
    ] {
        let response = client.get(&url).query(&query).send().await?;
        assert_eq!(response.status(), StatusCode::FOUND);
        assert!(location(&response).starts_with(REDIRECT_URI));
        assert_eq!(
            location_param(&response, "error").as_deref(),
            Some("invalid_request")
        );
        assert_eq!(location_param(&response, "state").is_some(), has_state);
        assert!(location_param(&response, "code").is_none());
    }
    Ok(())
}

#[tokio::test]
async fn authorize_form_checks_and_cancel() -> TestResult {
    let config = PlatformConfig::default();
    let bob_workspace = config.users[1].workspaces[0].id.clone();
    let platform = spawn(config).await?;
    let client = client()?;
    let url = format!("{}/authorize", platform.url());

    let mut mismatched = authorize_query("s1", VERIFIER);
    mismatched.push(("user", "alice".to_owned()));
    mismatched.push(("workspace", bob_workspace));
    mismatched.push(("decision", "authorize".to_owned()));
    let response = client.post(&url).form(&mismatched).send().await?;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response
        .text()
        .await?
        .contains("does not belong to user alice"));

    let mut tampered = authorize_query("s1", VERIFIER);
    tampered[1].1 = "http://127.0.0.1:9999/steal".to_owned();
    tampered.push(("decision", "authorize".to_owned()));
    let response = client.post(&url).form(&tampered).send().await?;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.headers().get("location").is_none());

    let mut cancel = authorize_query("s-cancel", VERIFIER);
    cancel.push(("decision", "cancel".to_owned()));
    let response = client.post(&url).form(&cancel).send().await?;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location_param(&response, "error").as_deref(),
        Some("access_denied")
    );
    assert_eq!(
        location_param(&response, "state").as_deref(),
        Some("s-cancel")
    );
    assert!(location_param(&response, "code").is_none());
    Ok(())
}

#[tokio::test]
async fn token_exchange_succeeds_once() -> TestResult {
    let config = PlatformConfig::default();
    let team = alice_team(&config);
    let platform = spawn(config).await?;
    let client = client()?;

    let code = authorization_code(&client, &platform, "alice", &team).await?;
    let response = exchange(&client, &platform, &code, VERIFIER).await?;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response
            .headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    let body: Value = response.json().await?;
    assert!(body["access_token"]
        .as_str()
        .is_some_and(|token| token.len() >= 32));
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "workspace:admin");

    let again = exchange(&client, &platform, &code, VERIFIER).await?;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    let body: Value = again.json().await?;
    assert_eq!(body["error"], "invalid_grant");
    assert!(body["error_description"].is_string());

    let state = state(&client, &platform).await?;
    assert_eq!(state["accessTokens"][0]["workspaceId"], team);
    Ok(())
}

#[tokio::test]
async fn token_rejects_wrong_verifier() -> TestResult {
    let config = PlatformConfig::default();
    let team = alice_team(&config);
    let platform = spawn(config).await?;
    let client = client()?;

    let code = authorization_code(&client, &platform, "alice", &team).await?;
    let wrong = exchange(
        &client,
        &platform,
        &code,
        "another-verifier-0123456789-abcdefghijklmnopqrstu",
    )
    .await?;
    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
    assert_eq!(wrong.json::<Value>().await?["error"], "invalid_grant");

    // The failed attempt consumed the code.
    let right = exchange(&client, &platform, &code, VERIFIER).await?;
    assert_eq!(right.status(), StatusCode::BAD_REQUEST);
    assert_eq!(right.json::<Value>().await?["error"], "invalid_grant");
    Ok(())
}

#[tokio::test]
async fn token_rejects_expired_code() -> TestResult {
    let config = PlatformConfig {
        code_lifetime: Duration::from_millis(100),
        ..PlatformConfig::default()
    };
    let team = alice_team(&config);
    let platform = spawn(config).await?;
    let client = client()?;

    let code = authorization_code(&client, &platform, "alice", &team).await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let response = exchange(&client, &platform, &code, VERIFIER).await?;

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await?;
    assert_eq!(body["error"], "invalid_grant");
    assert!(body["error_description"]
        .as_str()
        .unwrap_or_default()
        .contains("expired"));
    Ok(())
}

#[tokio::test]
async fn token_rejects_bad_client_and_request() -> TestResult {
    let config = PlatformConfig::default();
    let team = alice_team(&config);
    let platform = spawn(config).await?;
    let client = client()?;
    let url = format!("{}/token", platform.url());
    let code = authorization_code(&client, &platform, "alice", &team).await?;

    let base = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT_URI),
        ("client_id", "local-client-id"),
        ("client_secret", "local-client-secret"),
        ("code_verifier", VERIFIER),
    ];
    let with = |key: &str, value: &'static str| {
        base.iter()
            .map(|&(k, v)| if k == key { (k, value) } else { (k, v) })
            .collect::<Vec<_>>()
    };

    let cases = [
        (
            with("client_secret", "wrong"),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            with("client_id", "other"),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            with("grant_type", "client_credentials"),
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        ),
        (
            with("code_verifier", ""),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            with("code", "no-such-code"),
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        ),
    ];
    for (form, status, error) in cases {
        let response = client.post(&url).form(&form).send().await?;
        assert_eq!(response.status(), status, "{error}");
        assert_eq!(response.json::<Value>().await?["error"], error);
    }

    let json_body = client
        .post(&url)
        .json(&json!({ "grant_type": "authorization_code" }))
        .send()
        .await?;
    assert_eq!(json_body.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_body.json::<Value>().await?["error"], "invalid_request");

    // The failures above stopped before the code lookup, so the code is still valid here.
    // A mismatched redirect_uri fails and consumes it.
    let mismatched = with("redirect_uri", "http://localhost:8788/auth/callback");
    let response = client.post(&url).form(&mismatched).send().await?;
    assert_eq!(response.json::<Value>().await?["error"], "invalid_grant");
    let response = exchange(&client, &platform, &code, VERIFIER).await?;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    Ok(())
}

#[tokio::test]
async fn access_token_sees_its_workspace() -> TestResult {
    let config = PlatformConfig::default();
    let team = alice_team(&config);
    let platform = spawn(config).await?;
    let client = client()?;
    let partner_project = create_project(&client, &platform, "partner-only").await?;
    let token = access_token(&client, &platform, "alice", &team).await?;

    let list: Value = client
        .get(format!("{}/v1/projects", platform.url()))
        .bearer_auth(&token)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(list["data"].as_array().map(Vec::len), Some(0));
    let partner_id = partner_project["id"].as_str().unwrap_or_default();
    assert_eq!(
        get_project(&client, &platform, &token, partner_id)
            .await?
            .status(),
        StatusCode::NOT_FOUND
    );

    let response = client
        .post(format!("{}/v1/projects", platform.url()))
        .bearer_auth(&token)
        .json(&json!({ "name": "alice-own", "region": "eu-west-3" }))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await?;
    assert_eq!(body["data"]["workspace"]["id"], team);
    assert_eq!(body["data"]["workspace"]["name"], "Alice's team");
    Ok(())
}

#[tokio::test]
async fn transfer_moves_project_to_user() -> TestResult {
    let config = PlatformConfig::default();
    let team = alice_team(&config);
    let platform = spawn(config).await?;
    let client = client()?;
    let project = create_project(&client, &platform, "to-claim").await?;
    let id = project["id"].as_str().unwrap_or_default();
    let token = access_token(&client, &platform, "alice", &team).await?;
    let transfer_url = format!("{}/v1/projects/{id}/transfer", platform.url());

    let bad_recipient = client
        .post(&transfer_url)
        .bearer_auth(TOKEN)
        .json(&json!({ "recipientAccessToken": "not-a-token" }))
        .send()
        .await?;
    assert_eq!(bad_recipient.status(), StatusCode::UNAUTHORIZED);

    let response = client
        .post(&transfer_url)
        .bearer_auth(TOKEN)
        .json(&json!({ "recipientAccessToken": token }))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    assert_eq!(
        get_project(&client, &platform, TOKEN, id).await?.status(),
        StatusCode::NOT_FOUND
    );
    let delete = client
        .delete(format!("{}/v1/projects/{id}", platform.url()))
        .bearer_auth(TOKEN)
        .send()
        .await?;
    assert_eq!(delete.status(), StatusCode::NOT_FOUND);
    let as_user = get_project(&client, &platform, &token, id).await?;
    assert_eq!(as_user.status(), StatusCode::OK);
    assert_eq!(
        as_user.json::<Value>().await?["data"]["workspace"]["id"],
        team
    );

    let again = client
        .post(&transfer_url)
        .bearer_auth(TOKEN)
        .json(&json!({ "recipientAccessToken": token }))
        .send()
        .await?;
    assert_eq!(again.status(), StatusCode::NOT_FOUND);

    let unknown = client
        .post(format!(
            "{}/v1/projects/proj_unknown/transfer",
            platform.url()
        ))
        .bearer_auth(TOKEN)
        .json(&json!({ "recipientAccessToken": token }))
        .send()
        .await?;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);

    let state = state(&client, &platform).await?;
    assert_eq!(state["projects"][0]["workspaceId"], team);
    assert_eq!(state["projects"][0]["deleted"], false);
    Ok(())
}

#[tokio::test]
async fn fault_status_body_and_times() -> TestResult {
    let platform = spawn(PlatformConfig::default()).await?;
    let client = client()?;
    let faults_url = format!("{}/_emulator/faults", platform.url());

    let response = client
        .post(&faults_url)
        .json(&json!({ "method": "POST", "path": "/v1/projects", "status": 503, "body": "{\"broken\":", "times": 2 }))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::CREATED);

    for attempt in 0..2 {
        let response = client
            .post(format!("{}/v1/projects", platform.url()))
            .bearer_auth(TOKEN)
            .json(&json!({ "name": "x", "region": "us-east-1" }))
            .send()
            .await?;
        assert_eq!(
            response.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "attempt {attempt}"
        );
        assert_eq!(
            response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/json")
        );
        assert_eq!(response.text().await?, "{\"broken\":");
    }
    create_project(&client, &platform, "after-faults").await?;

    let state = state(&client, &platform).await?;
    assert_eq!(state["requests"]["POST /v1/projects"], 3);
    assert_eq!(state["projects"].as_array().map(Vec::len), Some(1));

    // A fault without a body sends the API's error shape; DELETE clears it before use.
    client
        .post(&faults_url)
        .json(&json!({ "method": "*", "path": "/v1/regions", "status": 500, "times": 5 }))
        .send()
        .await?;
    let response = client
        .get(format!("{}/v1/regions/postgres", platform.url()))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(response.json::<Value>().await?["error"]["code"].is_string());
    assert_eq!(
        client.delete(&faults_url).send().await?.status(),
        StatusCode::NO_CONTENT
    );
    let response = client
        .get(format!("{}/v1/regions/postgres", platform.url()))
        .bearer_auth(TOKEN)
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn fault_delay_then_normal_handling() -> TestResult {
    let platform = spawn(PlatformConfig::default()).await?;
    let client = client()?;
    client
        .post(format!("{}/_emulator/faults", platform.url()))
        .json(&json!({ "method": "GET", "path": "/v1/regions", "delay_ms": 300, "times": 1 }))
        .send()
        .await?;

    let started = Instant::now();
    let response = client
        .get(format!("{}/v1/regions/postgres", platform.url()))
        .bearer_auth(TOKEN)
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "took {:?}",
        started.elapsed()
    );

    let started = Instant::now();
    client
        .get(format!("{}/v1/regions/postgres", platform.url()))
        .bearer_auth(TOKEN)
        .send()
        .await?;
    assert!(
        started.elapsed() < Duration::from_millis(300),
        "second request was delayed too"
    );
    Ok(())
}

#[tokio::test]
async fn fault_drop_closes_connection() -> TestResult {
    let platform = spawn(PlatformConfig::default()).await?;
    let client = client()?;
    client
        .post(format!("{}/_emulator/faults", platform.url()))
        .json(&json!({ "method": "DELETE", "path": "/v1/projects/", "drop": true, "times": 1 }))
        .send()
        .await?;
    let project = create_project(&client, &platform, "survivor").await?;
    let url = format!(
        "{}/v1/projects/{}",
        platform.url(),
        project["id"].as_str().unwrap_or_default()
    );

    let dropped = client.delete(&url).bearer_auth(TOKEN).send().await;
    assert!(
        dropped.is_err(),
        "got a response: {:?}",
        dropped.map(|r| r.status())
    );

    let response = client.delete(&url).bearer_auth(TOKEN).send().await?;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        state(&client, &platform).await?["requests"]["DELETE /v1/projects/{id}"],
        2
    );
    Ok(())
}

#[tokio::test]
async fn fault_conflict_on_transfer() -> TestResult {
    let config = PlatformConfig::default();
    let team = alice_team(&config);
    let platform = spawn(config).await?;
    let client = client()?;
    let project = create_project(&client, &platform, "busy").await?;
    let token = access_token(&client, &platform, "alice", &team).await?;
    client
        .post(format!("{}/_emulator/faults", platform.url()))
        .json(&json!({ "method": "POST", "path": "/v1/projects/", "status": 409, "times": 1 }))
        .send()
        .await?;

    let url = format!(
        "{}/v1/projects/{}/transfer",
        platform.url(),
        project["id"].as_str().unwrap_or_default()
    );
    let conflict = client
        .post(&url)
        .bearer_auth(TOKEN)
        .json(&json!({ "recipientAccessToken": token }))
        .send()
        .await?;
    assert_eq!(conflict.status(), StatusCode::CONFLICT);
    let retry = client
        .post(&url)
        .bearer_auth(TOKEN)
        .json(&json!({ "recipientAccessToken": token }))
        .send()
        .await?;
    assert_eq!(retry.status(), StatusCode::NO_CONTENT);
    Ok(())
}

#[tokio::test]
async fn fault_rejects_bad_bodies() -> TestResult {
    let platform = spawn(PlatformConfig::default()).await?;
    let client = client()?;
    let url = format!("{}/_emulator/faults", platform.url());

    let bodies = [
        json!({ "method": "GET", "path": "/v1", "times": 1 }),
        json!({ "method": "GET", "path": "/v1", "status": 500 }),
        json!({ "method": "GET", "path": "/v1", "status": 42, "times": 1 }),
        json!({ "method": "GET", "path": "/v1", "drop": true, "status": 500, "times": 1 }),
        json!({ "method": "GET", "path": "/v1", "delayMs": 10, "times": 1 }),
        json!("not an object"),
    ];
    for body in bodies {
        let response = client.post(&url).json(&body).send().await?;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(
            response.json::<Value>().await?["error"]["code"],
            "validation_error",
            "{body}"
        );
    }
    let response = client.post(&url).body("{").send().await?;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    let faults: Value = client.get(&url).send().await?.json().await?;
    assert_eq!(faults["data"].as_array().map(Vec::len), Some(0));
    Ok(())
}

#[tokio::test]
async fn seeded_old_project_lists_first() -> TestResult {
    let platform = spawn(PlatformConfig::default()).await?;
    let client = client()?;
    let recent = create_project(&client, &platform, "recent").await?;

    let response = client
        .post(format!("{}/_emulator/projects", platform.url()))
        .json(&json!({ "name": "ancient", "region": "eu-west-3", "createdAt": "2020-01-02T03:04:05Z" }))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::CREATED);
    let seeded: Value = response.json().await?;
    let seeded = &seeded["data"];
    assert!(seeded["id"]
        .as_str()
        .unwrap_or_default()
        .starts_with("proj_"));
    assert_eq!(seeded["createdAt"], "2020-01-02T03:04:05.000Z");
    assert_eq!(seeded["workspace"]["name"], "Partner workspace");
    assert!(
        seeded["database"]["connections"][0]["endpoints"]["direct"]["connectionString"].is_string()
    );

    let list: Value = client
        .get(format!("{}/v1/projects", platform.url()))
        .bearer_auth(TOKEN)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(list["data"][0]["id"], seeded["id"]);
    assert_eq!(list["data"][1]["id"], recent["id"]);

    let bad = client
        .post(format!("{}/_emulator/projects", platform.url()))
        .json(&json!({ "name": "bad", "region": "eu-west-3", "createdAt": "yesterday" }))
        .send()
        .await?;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);

    let state = state(&client, &platform).await?;
    assert_eq!(
        state["projects"][0]["createdAt"],
        "2020-01-02T03:04:05.000Z"
    );
    assert_eq!(state["requests"].get("POST /_emulator/projects"), None);
    Ok(())
}

#[tokio::test]
async fn state_counts_requests_per_route() -> TestResult {
    let config = PlatformConfig::default();
    let team = alice_team(&config);
    let platform = spawn(config).await?;
    let client = client()?;

    let project = create_project(&client, &platform, "one").await?;
    create_project(&client, &platform, "two").await?;
    let id = project["id"].as_str().unwrap_or_default();
    get_project(&client, &platform, TOKEN, id).await?;
    get_project(&client, &platform, TOKEN, "proj_other").await?;
    client
        .delete(format!("{}/v1/projects/{id}", platform.url()))
        .bearer_auth(TOKEN)
        .send()
        .await?;
    client
        .get(format!("{}/authorize", platform.url()))
        .query(&authorize_query("s", VERIFIER))
        .send()
        .await?;
    access_token(&client, &platform, "alice", &team).await?;
    client
        .get(format!("{}/no/such/route", platform.url()))
        .send()
        .await?;

    let state = state(&client, &platform).await?;
    let requests = &state["requests"];
    assert_eq!(requests["POST /v1/projects"], 2);
    assert_eq!(requests["GET /v1/projects/{id}"], 2);
    assert_eq!(requests["DELETE /v1/projects/{id}"], 1);
    assert_eq!(requests["GET /authorize"], 1);
    assert_eq!(requests["POST /authorize"], 1);
    assert_eq!(requests["POST /token"], 1);
    assert_eq!(requests["GET /no/such/route"], 1);
    assert!(requests
        .as_object()
        .is_some_and(|counts| counts.keys().all(|key| !key.contains("/_emulator"))));

    let reset = client
        .post(format!("{}/_emulator/reset", platform.url()))
        .send()
        .await?;
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
    let state = self::state(&client, &platform).await?;
    assert_eq!(state["projects"], json!([]));
    assert_eq!(state["requests"], json!({}));
    Ok(())
}

#[tokio::test]
async fn handle_drop_stops_server() -> TestResult {
    let platform = spawn(PlatformConfig::default()).await?;
    let url = format!("{}/_emulator/state", platform.url());
    let client = client()?;
    assert_eq!(client.get(&url).send().await?.status(), StatusCode::OK);

    platform.shutdown().await?;

    let fresh = Client::builder().build()?;
    assert!(fresh.get(&url).send().await.is_err());
    Ok(())
}
