//! Native tests of every create-db-worker route, through `handle` with the in-memory
//! store and a scripted Management API. They pin the wire contract the `create-db` CLI
//! reads and every validation and error-mapping rule.

use create_db_worker::regions::RegionCache;
use create_db_worker::{handle, Context, Outcome};
use futures::executor::block_on;
use serde_json::{json, Value};
use shared::config::MapConfig;
use shared::http::{HttpError, HttpRequest, HttpResponse, Method, ScriptedHttp};
use shared::ratelimit::MemoryRateLimiter;
use shared::store::{ManualClock, MemoryStore};
use shared::web::WebRequest;
use shared::RequestId;
use std::cell::Cell;
use std::rc::Rc;

const NOW: u64 = 1_796_412_903_123;
const TOKEN: &str = "test-integration-token-5f2c";
const PROJECT_ID: &str = "proj_cmtest0001";

fn config() -> MapConfig {
    MapConfig::new(&[
        ("INTEGRATION_TOKEN", TOKEN),
        ("PRISMA_API_URL", "http://127.0.0.1:9/"),
        ("CLAIM_PUBLIC_URL", "http://127.0.0.1:8788"),
    ])
}

fn regions_body() -> Value {
    json!({"data": [
        {"id": "us-east-1", "type": "region", "name": "US East", "status": "available"},
        {"id": "eu-west-3", "type": "region", "name": "EU West", "status": "available"},
        {"id": "ap-northeast-1", "type": "region", "name": "Tokyo", "status": "unavailable"}
    ]})
}

fn project_body() -> Value {
    json!({"data": {
        "id": PROJECT_ID,
        "name": "my-database",
        "createdAt": "2026-12-04T19:35:03.123Z",
        "workspace": {"id": "wksp_partner", "name": "Partner"},
        "database": {
            "id": "db_1",
            "name": "my-database",
            "region": {"id": "us-east-1", "name": "US East"},
            "connections": [{"endpoints": {"direct": {"connectionString": "postgres://u:p@db.prisma.io:5432/postgres"}}}]
        }
    }})
}

/// A scripted Management API: regions succeed, and create returns what `create` returns.
fn platform(create: impl Fn() -> Result<HttpResponse, HttpError> + 'static) -> ScriptedHttp {
    ScriptedHttp::new(move |request: &HttpRequest| match (request.method, request.url.as_str()) {
        (Method::Get, "http://127.0.0.1:9/v1/regions/postgres") => Ok(HttpResponse::json(200, &regions_body())),
        (Method::Post, "http://127.0.0.1:9/v1/projects") => create(),
        (Method::Delete, _) => Ok(HttpResponse::new(204, "")),
        _ => Ok(HttpResponse::json(404, &json!({"error": {"code": "not_found", "message": "no route"}}))),
    })
}

fn healthy_platform() -> ScriptedHttp {
    platform(|| Ok(HttpResponse::json(201, &project_body())))
}

struct Harness {
    store: MemoryStore,
    http: ScriptedHttp,
    config: MapConfig,
    regions: RegionCache,
    general_limiter: MemoryRateLimiter,
    programmatic_limiter: MemoryRateLimiter,
}

impl Harness {
    fn new(http: ScriptedHttp) -> Self {
        Harness {
            store: MemoryStore::new(ManualClock::new(NOW)),
            http,
            config: config(),
            regions: RegionCache::default(),
            general_limiter: MemoryRateLimiter::new(100),
            programmatic_limiter: MemoryRateLimiter::new(5),
        }
    }

    fn send(&self, request: WebRequest) -> Outcome {
        let context = Context {
            store: &self.store,
            http: &self.http,
            config: &self.config,
            regions: &self.regions,
            general_limiter: &self.general_limiter,
            programmatic_limiter: &self.programmatic_limiter,
            now_ms: NOW,
            request_id: RequestId::generate(),
        };
        block_on(handle(&context, &request))
    }

    fn create(&self, body: Value) -> Outcome {
        self.send(WebRequest::new("POST", "/create").with_json(&body))
    }

    fn sent(&self, method: Method, path: &str) -> usize {
        let url = format!("http://127.0.0.1:9{path}");
        self.http.sent().iter().filter(|request| request.method == method && request.url == url).count()
    }
}

fn valid_create() -> Value {
    json!({"region": "us-east-1", "name": "2026-12-04T19:35:03.123Z", "utm_source": "create-db", "source": "cli"})
}

#[test]
fn health_reports_ok() {
    let harness = Harness::new(healthy_platform());

    let outcome = harness.send(WebRequest::new("GET", "/health"));

    assert_eq!(outcome.response.status, 200);
    assert_eq!(outcome.response.body_json()["status"], "ok");
    assert_eq!(outcome.response.body_json()["service"], "create-db");
    assert_eq!(outcome.response.header("access-control-allow-origin"), Some("*"));
    assert!(harness.http.sent().is_empty());
}

#[test]
fn regions_pass_through_and_cache() {
    let harness = Harness::new(healthy_platform());

    let first = harness.send(WebRequest::new("GET", "/regions"));
    let second = harness.send(WebRequest::new("GET", "/regions"));

    assert_eq!(first.response.status, 200);
    assert_eq!(first.response.body_json(), regions_body());
    assert_eq!(second.response.body_json(), regions_body());
    assert_eq!(harness.sent(Method::Get, "/v1/regions/postgres"), 1);
    let request = &harness.http.sent()[0];
    assert_eq!(request.header_value("authorization"), Some(format!("Bearer {TOKEN}").as_str()));
}

#[test]
fn regions_upstream_failure_is_bad_gateway() {
    let http = ScriptedHttp::new(|_| Ok(HttpResponse::new(500, "stack trace with secrets")));
    let harness = Harness::new(http);

    let outcome = harness.send(WebRequest::new("GET", "/regions"));

    assert_eq!(outcome.response.status, 502);
    assert_eq!(outcome.response.body_json()["error"]["upstreamStatus"], 500);
    assert!(!String::from_utf8_lossy(&outcome.response.body).contains("stack trace"));
}

#[test]
fn create_answers_upstream_body_with_claim_url() {
    let harness = Harness::new(healthy_platform());

    let outcome = harness.create(valid_create());
    let body = outcome.response.body_json();

    assert_eq!(outcome.response.status, 201);
    assert_eq!(body["data"], project_body()["data"]);
    assert_eq!(body["claimUrl"], format!("http://127.0.0.1:8788/claim?projectID={PROJECT_ID}"));
    assert_eq!(body["expiresAt"], "2026-12-05T19:35:03.123Z");
}

#[test]
fn create_forwards_token_and_user_agent() {
    let harness = Harness::new(healthy_platform());

    harness.create(json!({"region": "us-east-1", "name": "db", "userAgent": "acme/app"}));

    assert_eq!(harness.sent(Method::Post, "/v1/projects"), 1);
    let create = harness.http.sent().into_iter().find(|request| request.method == Method::Post).unwrap();
    assert_eq!(create.header_value("authorization"), Some(format!("Bearer {TOKEN}").as_str()));
    assert_eq!(create.header_value("user-agent"), Some("acme/app"));
    let sent_body: Value = serde_json::from_slice(create.body.as_deref().unwrap_or_default()).unwrap();
    assert_eq!(sent_body, json!({"name": "db", "region": "us-east-1"}));
}

#[test]
fn create_schedules_deletion_before_answering() {
    let harness = Harness::new(healthy_platform());

    harness.create(json!({"region": "us-east-1", "name": "db", "ttlMs": 3_600_000}));

    let expires_at = NOW + 3_600_000;
    let expiry_key = format!("expiry:{expires_at:013}:{PROJECT_ID}");
    assert_eq!(harness.store.keys_with_prefix("expiry:"), vec![expiry_key]);
    let record: Value = serde_json::from_str(&harness.store.peek(&format!("project:{PROJECT_ID}")).unwrap()).unwrap();
    assert_eq!(record["status"], "unclaimed");
    assert_eq!(record["expiresAt"], expires_at);
    assert_eq!(record["region"], "us-east-1");
    assert_eq!(harness.store.counts().puts, 2);
}

#[test]
fn create_rejects_bad_input_without_creating() {
    let cases: Vec<(Value, &str)> = vec![
        (json!([1, 2]), "JSON object"),
        (json!("text"), "JSON object"),
        (json!(null), "JSON object"),
        (json!({"name": "db"}), "`region` is missing"),
        (json!({"region": "", "name": "db"}), "`region` is empty"),
        (json!({"region": 5, "name": "db"}), "`region` must be a string"),
        (json!({"region": "../v1", "name": "db"}), "not a region id"),
        (json!({"region": "mars-north-1", "name": "db"}), "not available"),
        (json!({"region": "ap-northeast-1", "name": "db"}), "not available"),
        (json!({"region": "us-east-1"}), "`name` is missing"),
        (json!({"region": "us-east-1", "name": "   "}), "`name` is empty"),
        (json!({"region": "us-east-1", "name": {"a": 1}}), "`name` must be a string"),
        (json!({"region": "us-east-1", "name": "x".repeat(129)}), "at most 128"),
        (json!({"region": "us-east-1", "name": "a\u{0}b"}), "control characters"),
        (json!({"region": "us-east-1", "name": "db", "ttlMs": "1h"}), "whole number"),
        (json!({"region": "us-east-1", "name": "db", "ttlMs": 1.5}), "whole number"),
        (json!({"region": "us-east-1", "name": "db", "ttlMs": 60_000}), "outside the allowed range"),
        (json!({"region": "us-east-1", "name": "db", "ttlMs": 90_000_000}), "outside the allowed range"),
        (json!({"region": "us-east-1", "name": "db", "ttlMs": -1}), "outside the allowed range"),
        (json!({"region": "us-east-1", "name": "db", "userAgent": "agent\u{e9}"}), "printable ASCII"),
        (json!({"region": "us-east-1", "name": "db", "userAgent": 7}), "`userAgent` must be a string"),
        (json!({"region": "us-east-1", "name": "db", "source": ["cli"]}), "`source` must be a string"),
        (json!({"region": "us-east-1", "name": "db", "analytics": "yes"}), "`analytics` must be"),
    ];

    for (body, expected) in cases {
        let harness = Harness::new(healthy_platform());
        let outcome = harness.create(body.clone());
        let message = outcome.response.body_json()["error"]["message"].as_str().unwrap_or_default().to_owned();

        assert_eq!(outcome.response.status, 400, "{body}: {message}");
        assert!(message.contains(expected), "{body}: {message}");
        assert_eq!(harness.sent(Method::Post, "/v1/projects"), 0, "{body}");
        assert!(harness.store.keys_with_prefix("").is_empty(), "{body}");
    }
}

#[test]
fn create_rejects_malformed_json_and_media_type() {
    let harness = Harness::new(healthy_platform());
    let malformed = WebRequest::new("POST", "/create").with_header("content-type", "application/json").with_body("{\"region\":");
    let plain = WebRequest::new("POST", "/create").with_header("content-type", "text/plain").with_body("{}");
    let huge = WebRequest::new("POST", "/create")
        .with_header("content-type", "application/json")
        .with_body(format!("{{\"name\":\"{}\"}}", "a".repeat(20_000)));

    assert_eq!(harness.send(malformed).response.status, 400);
    assert_eq!(harness.send(plain).response.status, 415);
    assert_eq!(harness.send(huge).response.status, 413);
    assert!(harness.http.sent().is_empty());
}

#[test]
fn create_maps_upstream_failures_and_writes_nothing() {
    type Responder = Box<dyn Fn() -> Result<HttpResponse, HttpError>>;
    let cases: Vec<(Responder, u16, &str)> = vec![
        (Box::new(|| Ok(HttpResponse::new(500, "boom"))), 502, "upstream_error"),
        (Box::new(|| Ok(HttpResponse::new(503, ""))), 502, "upstream_error"),
        (Box::new(|| Ok(HttpResponse::new(401, ""))), 502, "upstream_error"),
        (Box::new(|| Ok(HttpResponse::json(400, &json!({"error": {"code": "x", "message": "secret detail"}})))), 400, "upstream_error"),
        (Box::new(|| Ok(HttpResponse::new(429, ""))), 503, "upstream_rate_limited"),
        (Box::new(|| Ok(HttpResponse::new(201, "{not json"))), 502, "upstream_invalid_response"),
        (Box::new(|| Ok(HttpResponse::json(201, &json!({"data": {"id": "../etc"}})))), 502, "upstream_invalid_response"),
        (Box::new(|| Err(HttpError::Timeout)), 504, "upstream_timeout"),
        (Box::new(|| Err(HttpError::Network("reset".into()))), 502, "upstream_unreachable"),
    ];

    for (create, status, code) in cases {
        let harness = Harness::new(platform(create));
        let outcome = harness.create(valid_create());
        let body = outcome.response.body_json();

        assert_eq!(outcome.response.status, status, "{code}: {body}");
        assert_eq!(body["error"]["code"], code);
        assert!(body["error"]["message"].as_str().is_some_and(|message| !message.is_empty()));
        assert!(!body.to_string().contains("secret detail"), "{body}");
        assert!(harness.store.keys_with_prefix("").is_empty(), "{code}");
    }
}

#[test]
fn upstream_rate_limit_sets_retry_after() {
    let harness = Harness::new(platform(|| {
        let mut response = HttpResponse::new(429, "");
        response.headers.push(("Retry-After".to_owned(), "12".to_owned()));
        Ok(response)
    }));

    let outcome = harness.create(valid_create());

    assert_eq!(outcome.response.status, 503);
    assert_eq!(outcome.response.header("retry-after"), Some("12"));
}

#[test]
fn failed_expiry_write_deletes_project() {
    let harness = Harness::new(healthy_platform());
    harness.store.fail_puts_with_prefix("expiry:");

    let outcome = harness.create(valid_create());

    assert_eq!(outcome.response.status, 503);
    assert_eq!(outcome.response.body_json()["error"]["code"], "storage_unavailable");
    assert_eq!(harness.sent(Method::Delete, &format!("/v1/projects/{PROJECT_ID}")), 1);
    assert!(harness.store.keys_with_prefix("").is_empty());
}

#[test]
fn failed_record_write_deletes_project_and_index() {
    let harness = Harness::new(healthy_platform());
    harness.store.fail_puts_with_prefix("project:");

    let outcome = harness.create(valid_create());

    assert_eq!(outcome.response.status, 503);
    assert_eq!(harness.sent(Method::Delete, &format!("/v1/projects/{PROJECT_ID}")), 1);
    assert!(harness.store.keys_with_prefix("").is_empty());
}

#[test]
fn missing_configuration_is_named() {
    for name in ["INTEGRATION_TOKEN", "CLAIM_PUBLIC_URL"] {
        let mut harness = Harness::new(healthy_platform());
        harness.config = config().without(name);

        let outcome = harness.create(valid_create());
        let message = outcome.response.body_json()["error"]["message"].as_str().unwrap_or_default().to_owned();

        assert_eq!(outcome.response.status, 500, "{name}");
        assert!(message.contains(name), "{message}");
        assert!(outcome.logs.iter().any(|line| line.contains("configuration_error") && line.contains(name)));
        assert_eq!(harness.sent(Method::Post, "/v1/projects"), 0);
    }
}

#[test]
fn invalid_ttl_configuration_is_named() {
    let mut harness = Harness::new(healthy_platform());
    harness.config = config().with("TTL_MAX_MS", "a day");

    let outcome = harness.create(valid_create());

    assert_eq!(outcome.response.status, 500);
    assert!(outcome.response.body_json()["error"]["message"].as_str().unwrap_or_default().contains("TTL_MAX_MS"));
}

#[test]
fn configured_ttl_policy_applies() {
    let mut harness = Harness::new(healthy_platform());
    harness.config = config().with("TTL_MIN_MS", "1000").with("TTL_DEFAULT_MS", "3000");

    let short = harness.create(json!({"region": "us-east-1", "name": "db", "ttlMs": 2000}));
    let default = harness.create(json!({"region": "us-east-1", "name": "db"}));

    assert_eq!(short.response.body_json()["expiresAt"], "2026-12-04T19:35:05.123Z");
    assert_eq!(default.response.body_json()["expiresAt"], "2026-12-04T19:35:06.123Z");
}

#[test]
fn unknown_path_and_wrong_method() {
    let harness = Harness::new(healthy_platform());

    let missing = harness.send(WebRequest::new("GET", "/nope"));
    let wrong = harness.send(WebRequest::new("GET", "/create"));

    assert_eq!(missing.response.status, 404);
    assert_eq!(missing.response.body_json()["error"]["code"], "not_found");
    assert!(missing.response.body_json()["message"].is_string());
    assert_eq!(wrong.response.status, 405);
    assert_eq!(wrong.response.header("allow"), Some("POST"));
}

#[test]
fn preflight_allows_browsers() {
    let harness = Harness::new(healthy_platform());

    let outcome = harness.send(WebRequest::new("OPTIONS", "/create").with_header("origin", "https://example.com"));

    assert_eq!(outcome.response.status, 204);
    assert_eq!(outcome.response.header("access-control-allow-origin"), Some("*"));
    assert!(outcome.response.header("access-control-allow-methods").unwrap_or_default().contains("POST"));
    assert_eq!(outcome.response.header("access-control-allow-headers"), Some("content-type"));
}

#[test]
fn analytics_is_no_content_when_off() {
    let harness = Harness::new(healthy_platform());

    let outcome = harness.send(
        WebRequest::new("POST", "/analytics").with_json(&json!({"eventName": "create_db:cli_command_ran", "properties": {}})),
    );

    assert_eq!(outcome.response.status, 204);
    assert!(outcome.background.is_empty());
}

#[test]
fn analytics_forwards_in_background_when_on() {
    let mut harness = Harness::new(healthy_platform());
    harness.config = config().with("POSTHOG_API_HOST", "http://127.0.0.1:7").with("POSTHOG_API_KEY", "phc_test");

    let outcome = harness.send(WebRequest::new("POST", "/analytics").with_json(
        &json!({"eventName": "create_db:database_created", "properties": {"distinct_id": "run-1", "region": "us-east-1"}}),
    ));

    assert_eq!(outcome.response.status, 202);
    assert_eq!(outcome.background.len(), 1);
    let capture = &outcome.background[0];
    assert_eq!(capture.url, "http://127.0.0.1:7/capture/");
    let body: Value = serde_json::from_slice(capture.body.as_deref().unwrap_or_default()).unwrap();
    assert_eq!(body["event"], "create_db:database_created");
    assert_eq!(body["distinct_id"], "run-1");
    assert!(harness.http.sent().is_empty());
}

#[test]
fn analytics_rejects_bad_bodies() {
    let harness = Harness::new(healthy_platform());
    for body in [json!([]), json!({}), json!({"eventName": ""}), json!({"eventName": 3}), json!({"eventName": "e", "properties": [1]})] {
        let outcome = harness.send(WebRequest::new("POST", "/analytics").with_json(&body));
        assert_eq!(outcome.response.status, 400, "{body}");
    }
}

#[test]
fn logs_never_contain_the_token() {
    let failures = Rc::new(Cell::new(0));
    let counter = failures.clone();
    let harness = Harness::new(platform(move || {
        counter.set(counter.get() + 1);
        Ok(HttpResponse::new(500, TOKEN))
    }));

    let mut logs = harness.create(valid_create()).logs;
    logs.extend(harness.send(WebRequest::new("GET", "/regions")).logs);

    assert_eq!(failures.get(), 1);
    assert!(!logs.is_empty());
    for line in logs {
        assert!(!line.contains(TOKEN), "{line}");
        assert!(serde_json::from_str::<Value>(&line).is_ok(), "{line}");
    }
}

#[test]
fn project_status_reports_record() {
    let harness = Harness::new(healthy_platform());
    harness.create(json!({"region": "us-east-1", "name": "db", "ttlMs": 3_600_000}));

    let outcome = harness.send(WebRequest::new("GET", &format!("/projects/{PROJECT_ID}")));

    assert_eq!(outcome.response.status, 200);
    assert_eq!(
        outcome.response.body_json(),
        json!({
            "projectId": PROJECT_ID,
            "status": "unclaimed",
            "expiresAt": "2026-12-04T20:35:03.123Z",
            "claimUrl": format!("http://127.0.0.1:8788/claim?projectID={PROJECT_ID}"),
        })
    );
}

#[test]
fn project_status_rejects_bad_and_unknown_ids() {
    let harness = Harness::new(healthy_platform());

    let unknown = harness.send(WebRequest::new("GET", "/projects/proj_unknown1"));
    let traversal = harness.send(WebRequest::new("GET", "/projects/..%2F..%2Fv1"));
    let long = harness.send(WebRequest::new("GET", &format!("/projects/proj_{}", "a".repeat(5000))));
    let wrong_method = harness.send(WebRequest::new("DELETE", "/projects/proj_unknown1"));

    assert_eq!(unknown.response.status, 404);
    assert_eq!(unknown.response.body_json()["error"]["code"], "not_found");
    assert_eq!(traversal.response.status, 400);
    assert_eq!(long.response.status, 400);
    assert_eq!(wrong_method.response.status, 405);
    assert_eq!(harness.store.counts().gets, 1);
}

fn create_from(harness: &Harness, ip: &str, source: &str) -> Outcome {
    harness.send(
        WebRequest::new("POST", "/create")
            .with_header("cf-connecting-ip", ip)
            .with_json(&json!({"region": "us-east-1", "name": "db", "source": source})),
    )
}

#[test]
fn sixth_programmatic_create_is_rate_limited() {
    let harness = Harness::new(healthy_platform());

    let statuses: Vec<u16> = (0..6).map(|_| create_from(&harness, "203.0.113.7", "programmatic").response.status).collect();
    let sixth = create_from(&harness, "203.0.113.7", "programmatic");
    let other_ip = create_from(&harness, "203.0.113.8", "programmatic");
    let cli = create_from(&harness, "203.0.113.7", "cli");

    assert_eq!(statuses, vec![201, 201, 201, 201, 201, 429]);
    let body = sixth.response.body_json();
    assert_eq!(sixth.response.status, 429);
    assert_eq!(body["error"], "RATE_LIMIT_EXCEEDED");
    assert_eq!(body["rateLimitInfo"]["maxRequests"], 5);
    assert_eq!(body["rateLimitInfo"]["retryAfterMs"], 60_000);
    assert_eq!(sixth.response.header("retry-after"), Some("60"));
    assert_eq!(other_ip.response.status, 201);
    assert_eq!(cli.response.status, 201);
    assert_eq!(harness.sent(Method::Post, "/v1/projects"), 7);
}

#[test]
fn general_limit_applies_per_route_and_ip() {
    let mut harness = Harness::new(healthy_platform());
    harness.general_limiter = MemoryRateLimiter::new(3);
    let health = |ip: &str| harness.send(WebRequest::new("GET", "/health").with_header("cf-connecting-ip", ip)).response.status;

    let statuses: Vec<u16> = (0..4).map(|_| health("198.51.100.1")).collect();
    let regions = harness.send(WebRequest::new("GET", "/regions").with_header("cf-connecting-ip", "198.51.100.1"));

    assert_eq!(statuses, vec![200, 200, 200, 429]);
    assert_eq!(health("198.51.100.2"), 200);
    assert_eq!(regions.response.status, 200);
}

#[test]
fn failed_limiter_passes_cli_and_refuses_programmatic() {
    let harness = Harness::new(healthy_platform());
    harness.general_limiter.fail();
    harness.programmatic_limiter.fail();

    let cli = create_from(&harness, "203.0.113.9", "cli");
    let programmatic = create_from(&harness, "203.0.113.9", "programmatic");

    assert_eq!(cli.response.status, 201);
    assert!(cli.logs.iter().any(|line| line.contains("rate_limiter_failed")));
    assert_eq!(programmatic.response.status, 503);
    assert_eq!(programmatic.response.body_json()["error"]["code"], "rate_limiter_unavailable");
    assert_eq!(harness.sent(Method::Post, "/v1/projects"), 1);
}

#[test]
fn region_cache_can_be_turned_off() {
    let mut harness = Harness::new(healthy_platform());
    harness.config = config().with("REGION_CACHE_MS", "0");

    harness.send(WebRequest::new("GET", "/regions"));
    harness.send(WebRequest::new("GET", "/regions"));

    assert_eq!(harness.sent(Method::Get, "/v1/regions/postgres"), 2);
}
