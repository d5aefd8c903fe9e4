//! Native tests of the claim worker's pages and of starting a claim: the homepage, every
//! branch of `GET /claim`, `POST /claim/start`, escaping of client-sent text, and the
//! security headers on every page.

mod support;

use claim_db_worker::oauth::{hash_cookie_value, s256_challenge};
use serde_json::Value;
use shared::ratelimit::MemoryRateLimiter;
use shared::record::ProjectStatus;
use shared::store::KeyValueStore;
use shared::time::{HOUR_MS, MINUTE_MS};
use shared::web::WebRequest;
use support::*;

#[test]
fn homepage_explains_create_db() {
    let harness = Harness::new();

    let outcome = harness.get("/");
    let body = body_text(&outcome);

    assert_eq!(outcome.response.status, 200);
    assert!(body.contains("npx create-db"), "{body}");
    assert!(body.starts_with("<!DOCTYPE html>"), "{body}");
    assert_eq!(outcome.response.header("content-type"), Some("text/html; charset=utf-8"));
}

#[test]
fn security_headers_on_every_page() {
    let harness = Harness::new();
    harness.seed_unclaimed();
    let requests = [
        WebRequest::new("GET", "/"),
        WebRequest::new("GET", &format!("/claim?projectID={PROJECT_ID}")),
        WebRequest::new("GET", "/claim?projectID=<b>"),
        WebRequest::new("GET", "/claim?projectID=proj_unknown"),
        WebRequest::new("GET", "/nope"),
        WebRequest::new("DELETE", "/claim"),
        WebRequest::new("GET", "/auth/callback"),
        WebRequest::new("GET", &format!("/auth/callback?code=x&state={}", "a".repeat(43))),
        WebRequest::new("GET", "/auth/callback?error=access_denied"),
        WebRequest::new("POST", "/claim/start").with_header("sec-fetch-site", "cross-site"),
        WebRequest::new("GET", "/style.css"),
        WebRequest::new("GET", "/health"),
    ];

    for request in requests {
        let label = format!("{} {}?{}", request.method, request.path, request.query);
        let outcome = harness.send(request);
        let response = &outcome.response;

        let policy = response.header("content-security-policy").unwrap_or_default();
        assert!(policy.contains("default-src 'none'"), "{label}: {policy}");
        assert!(policy.contains("frame-ancestors 'none'"), "{label}: {policy}");
        assert!(policy.contains("form-action 'self' http://auth.test"), "{label}: {policy}");
        assert!(!policy.contains("unsafe-inline"), "{label}: {policy}");
        assert!(!policy.contains("script-src"), "{label}: {policy}");
        assert_eq!(response.header("x-content-type-options"), Some("nosniff"), "{label}");
        assert_eq!(response.header("referrer-policy"), Some("no-referrer"), "{label}");
        assert_eq!(response.header("x-frame-options"), Some("DENY"), "{label}");
        let request_id = response.header("x-request-id").unwrap_or_default();
        assert_eq!(request_id.len(), 16, "{label}");
        if label.starts_with("GET /style.css") {
            assert_eq!(response.header("cache-control"), Some("public, max-age=3600"), "{label}");
        } else {
            assert_eq!(response.header("cache-control"), Some("no-store"), "{label}");
        }
        let body = body_text(&outcome);
        assert!(!body.contains("<script"), "{label}: {body}");
        assert!(!body.contains("style=\""), "{label}: inline style in {body}");
        if response.status >= 400 {
            assert!(body.contains(request_id), "{label}: error page without the request id: {body}");
        }
    }
}

#[test]
fn claim_page_shows_exact_deletion_time() {
    let harness = Harness::new();
    harness.seed_project(PROJECT_ID, ProjectStatus::Unclaimed, NOW + 23 * HOUR_MS + 59 * MINUTE_MS);

    let outcome = harness.get(&format!("/claim?projectID={PROJECT_ID}&utm_source=create-db&utm_medium=cli"));
    let body = body_text(&outcome);

    assert_eq!(outcome.response.status, 200, "{body}");
    assert!(body.contains("2026-12-05T19:34:03.123Z"), "{body}");
    assert!(body.contains("Saturday, 5 December 2026, 19:34 UTC"), "{body}");
    assert!(body.contains("in 23 hours 59 minutes"), "{body}");
    assert!(body.contains(r#"<form method="post" action="/claim/start">"#), "{body}");
    assert!(body.contains(&format!(r#"<input type="hidden" name="projectID" value="{PROJECT_ID}">"#)), "{body}");
    assert!(body.contains(r#"<input type="hidden" name="utm_source" value="create-db">"#), "{body}");
    assert!(body.contains(r#"<input type="hidden" name="utm_medium" value="cli">"#), "{body}");
    assert!(body.contains("Claim database</button>"), "{body}");
    assert!(harness.http.sent().is_empty(), "analytics is off, so nothing is sent");
}

#[test]
fn claim_page_rejects_invalid_id_without_lookup() {
    let harness = Harness::new();

    for (query, expected) in [
        ("projectID=%3Cscript%3Ealert(1)%3C%2Fscript%3E", "does not start with &quot;proj_&quot;"),
        ("projectID=proj_%3Cimg%20src%3Dx%3E", "may only contain ASCII letters and digits"),
        ("projectID=proj_..%2F..%2Fv1", "may only contain ASCII letters and digits"),
        ("", "has no projectID parameter"),
        ("projectID=", "has no projectID parameter"),
        ("projectID=proj_a&projectID=proj_b", "more than once"),
    ] {
        harness.store.reset_counts();
        let outcome = harness.get(&format!("/claim?{query}"));
        let body = body_text(&outcome);

        assert_eq!(outcome.response.status, 400, "{query}: {body}");
        assert!(body.contains(expected), "{query}: {body}");
        assert_eq!(harness.store.counts().gets, 0, "{query}: KV was read");
        assert!(!body.contains("<script>"), "{query}: {body}");
        assert!(!body.contains("<img"), "{query}: {body}");
    }
    assert!(harness.http.sent().is_empty());
}

#[test]
fn claim_page_escapes_rejected_id() {
    let harness = Harness::new();

    let outcome = harness.get("/claim?projectID=proj_%22%3E%3Cb%3Ebold%3C%2Fb%3E");
    let body = body_text(&outcome);

    assert_eq!(outcome.response.status, 400);
    assert!(body.contains("proj_&quot;&gt;&lt;b&gt;bold&lt;/b&gt;"), "{body}");
    assert!(!body.contains("<b>bold"), "{body}");
}

#[test]
fn claim_page_escapes_utm_values() {
    let harness = Harness::new();
    harness.seed_unclaimed();

    let outcome = harness.get(&format!(
        "/claim?projectID={PROJECT_ID}&utm_source=%22%3E%3Cscript%3Ex%3C%2Fscript%3E&utm_medium=a%27b%26c"
    ));
    let body = body_text(&outcome);

    assert_eq!(outcome.response.status, 200, "{body}");
    assert!(body.contains(r#"name="utm_source" value="&quot;&gt;&lt;script&gt;x&lt;/script&gt;""#), "{body}");
    assert!(body.contains(r#"name="utm_medium" value="a'b&amp;c""#), "{body}");
    assert!(!body.contains("<script>"), "{body}");
}

#[test]
fn claim_page_for_unknown_deleted_or_expired_project() {
    let harness = Harness::new();
    harness.seed_project("proj_deleted01", ProjectStatus::Deleted, NOW - HOUR_MS);
    harness.seed_project("proj_overdue01", ProjectStatus::Unclaimed, NOW - 1);

    for project_id in ["proj_neverexisted", "proj_deleted01", "proj_overdue01"] {
        let outcome = harness.get(&format!("/claim?projectID={project_id}"));
        let body = body_text(&outcome);

        assert_eq!(outcome.response.status, 404, "{project_id}: {body}");
        assert!(body.contains("has expired and was deleted, or it never existed"), "{project_id}: {body}");
        assert!(!body.contains("<form"), "{project_id}: {body}");
    }
}

#[test]
fn claim_page_for_claimed_project() {
    let harness = Harness::new();
    harness.seed_project(PROJECT_ID, ProjectStatus::Claimed, NOW + HOUR_MS);

    let outcome = harness.get(&format!("/claim?projectID={PROJECT_ID}"));
    let body = body_text(&outcome);

    assert_eq!(outcome.response.status, 409);
    assert!(body.contains("Database already claimed"), "{body}");
    assert!(body.contains("https://console.prisma.io/"), "{body}");
    assert!(!body.contains("<form"), "{body}");
}

#[test]
fn claim_page_storage_failure_is_503() {
    let harness = Harness::new();
    harness.seed_unclaimed();
    block_on_put(&harness, &format!("project:{PROJECT_ID}"), "{not json");

    let outcome = harness.get(&format!("/claim?projectID={PROJECT_ID}"));

    assert_eq!(outcome.response.status, 503);
    assert_eq!(outcome.response.header("retry-after"), Some("5"));
}

fn block_on_put(harness: &Harness, key: &str, value: &str) {
    futures::executor::block_on(harness.store.put(key, value, None)).unwrap();
}

#[test]
fn missing_setting_is_named_and_logged() {
    for name in ["INTEGRATION_TOKEN", "CLIENT_ID", "CLIENT_SECRET", "CLAIM_PUBLIC_URL"] {
        let mut harness = Harness::new();
        harness.seed_unclaimed();
        harness.config = config().without(name);

        let outcome = harness.get(&format!("/claim?projectID={PROJECT_ID}"));
        let body = body_text(&outcome);

        assert_eq!(outcome.response.status, 500, "{name}");
        assert!(body.contains(&format!("{name} is not set")), "{name}: {body}");
        let config_lines = outcome.logs.iter().filter(|line| line.starts_with(r#"{"event":"configuration_error""#)).count();
        assert_eq!(config_lines, 1, "{name}: {:?}", outcome.logs);
    }
}

#[test]
fn invalid_auth_url_is_named() {
    let mut harness = Harness::new();
    harness.seed_unclaimed();
    harness.config = config().with("PRISMA_AUTH_URL", "auth.prisma.io");

    let outcome = harness.get(&format!("/claim?projectID={PROJECT_ID}"));

    assert_eq!(outcome.response.status, 500);
    assert!(body_text(&outcome).contains("PRISMA_AUTH_URL is not a valid URL"), "{}", body_text(&outcome));
}

#[test]
fn claim_page_view_is_sent_to_posthog() {
    let mut harness = Harness::new();
    harness.seed_unclaimed();
    harness.config = config().with("POSTHOG_API_HOST", "https://ph.test").with("POSTHOG_API_KEY", "phc_test");

    let outcome = harness.get(&format!("/claim?projectID={PROJECT_ID}&utm_source=create-db&utm_medium=cli"));

    assert_eq!(outcome.response.status, 200);
    assert_eq!(outcome.background.len(), 1);
    let capture = &outcome.background[0];
    assert_eq!(capture.url, "https://ph.test/capture/");
    let body: Value = serde_json::from_slice(capture.body.as_deref().unwrap_or_default()).unwrap();
    assert_eq!(body["event"], "create_db:claim_page_viewed");
    assert_eq!(body["properties"]["project-id"], PROJECT_ID);
    assert_eq!(body["properties"]["utm-source"], "create-db");
    assert_eq!(body["properties"]["utm-medium"], "cli");
    assert!(harness.http.sent().is_empty(), "the capture is left to waitUntil");
}

#[test]
fn start_redirects_to_authorize_with_pkce() {
    let harness = Harness::new();
    harness.seed_unclaimed();

    let claim = harness.started_claim();

    let (base, query) = claim.location.split_once('?').unwrap();
    assert_eq!(base, "http://auth.test/authorize");
    let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    let param = |name: &str| params.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str());
    assert_eq!(param("client_id"), Some(CLIENT_ID));
    assert_eq!(param("redirect_uri"), Some("http://claim.test/auth/callback"));
    assert_eq!(param("response_type"), Some("code"));
    assert_eq!(param("scope"), Some("workspace:admin"));
    assert_eq!(param("code_challenge_method"), Some("S256"));
    assert_eq!(param("utm_source"), Some("create-db"));
    assert_eq!(param("utm_medium"), Some("cli"));
    assert_eq!(claim.state.len(), 43, "256 random bits in BASE64URL");
    assert_eq!(claim.code_challenge.len(), 43);
    assert!(!query.contains("code_verifier"), "{query}");
}

#[test]
fn start_stores_pending_claim_for_ten_minutes() {
    let harness = Harness::new();
    harness.seed_unclaimed();

    let claim = harness.started_claim();

    let stored: Value = serde_json::from_str(&harness.store.peek(&claim.oauth_key()).unwrap()).unwrap();
    assert_eq!(stored["projectId"], PROJECT_ID);
    assert_eq!(stored["createdAt"], NOW);
    assert_eq!(stored["utmSource"], "create-db");
    let verifier = stored["codeVerifier"].as_str().unwrap();
    assert!((43..=128).contains(&verifier.len()), "{verifier}");
    assert_eq!(s256_challenge(verifier), claim.code_challenge);
    assert_eq!(stored["cookieHash"], hash_cookie_value(&claim.cookie_value));
    assert_ne!(stored["cookieHash"], claim.cookie_value);
    assert_eq!(harness.store.expires_at(&claim.oauth_key()), Some(NOW + 600_000));
}

#[test]
fn start_sets_strict_binding_cookie() {
    let harness = Harness::new();
    harness.seed_unclaimed();

    let claim = harness.started_claim();

    assert!(claim.set_cookie.starts_with(&format!("{COOKIE_NAME}=")), "{}", claim.set_cookie);
    for attribute in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/", "Max-Age=600"] {
        assert!(claim.set_cookie.contains(attribute), "{attribute} missing: {}", claim.set_cookie);
    }
    assert_eq!(claim.cookie_value.len(), 43);
}

#[test]
fn start_makes_fresh_values_each_time() {
    let harness = Harness::new();
    harness.seed_unclaimed();

    let first = harness.started_claim();
    let second = harness.started_claim();

    assert_ne!(first.state, second.state);
    assert_ne!(first.code_challenge, second.code_challenge);
    assert_ne!(first.cookie_value, second.cookie_value);
}

#[test]
fn start_redirect_uri_ignores_request_host() {
    let harness = Harness::new();
    harness.seed_unclaimed();

    let outcome = harness.send(
        WebRequest::new("POST", "/claim/start")
            .with_header("content-type", "application/x-www-form-urlencoded")
            .with_header("host", "evil.example.com")
            .with_header("x-forwarded-host", "evil.example.com")
            .with_body(format!("projectID={PROJECT_ID}")),
    );

    let location = outcome.response.header("location").unwrap_or_default();
    assert_eq!(outcome.response.status, 303);
    assert!(location.contains("redirect_uri=http%3A%2F%2Fclaim.test%2Fauth%2Fcallback"), "{location}");
    assert!(!location.contains("evil"), "{location}");
}

#[test]
fn start_rejects_cross_site_post() {
    let harness = Harness::new();
    harness.seed_unclaimed();

    for (header, value) in [("sec-fetch-site", "cross-site"), ("sec-fetch-site", "same-site"), ("origin", "https://evil.example.com")] {
        let outcome = harness.send(
            WebRequest::new("POST", "/claim/start")
                .with_header("content-type", "application/x-www-form-urlencoded")
                .with_header(header, value)
                .with_body(format!("projectID={PROJECT_ID}")),
        );

        assert_eq!(outcome.response.status, 403, "{header}: {value}");
        assert_eq!(outcome.response.header("set-cookie"), None);
        assert!(harness.store.keys_with_prefix("oauth:").is_empty());
    }
}

#[test]
fn start_rechecks_the_record() {
    let harness = Harness::new();
    harness.seed_project("proj_claimed01", ProjectStatus::Claimed, NOW + HOUR_MS);
    harness.seed_project("proj_overdue01", ProjectStatus::Unclaimed, NOW - 1);

    for (project_id, status) in [("proj_claimed01", 409), ("proj_overdue01", 404), ("proj_unknown01", 404)] {
        let outcome = harness.start(&format!("projectID={project_id}"));

        assert_eq!(outcome.response.status, status, "{project_id}");
        assert_eq!(outcome.response.header("set-cookie"), None, "{project_id}");
    }
    assert!(harness.store.keys_with_prefix("oauth:").is_empty());
}

#[test]
fn start_rejects_bad_forms() {
    let harness = Harness::new();
    harness.seed_unclaimed();

    let json = harness.send(
        WebRequest::new("POST", "/claim/start")
            .with_header("content-type", "application/json")
            .with_body(format!("{{\"projectID\":\"{PROJECT_ID}\"}}")),
    );
    let invalid = harness.start("projectID=%3Cb%3E");
    let missing = harness.start("utm_source=x");
    let oversized = harness.start(&format!("projectID={PROJECT_ID}&pad={}", "x".repeat(20_000)));

    assert_eq!(json.response.status, 415);
    assert_eq!(invalid.response.status, 400);
    assert!(!body_text(&invalid).contains("<b>"));
    assert_eq!(missing.response.status, 400);
    assert_eq!(oversized.response.status, 413);
    assert!(harness.store.keys_with_prefix("oauth:").is_empty());
}

#[test]
fn start_storage_failure_sets_no_cookie() {
    let harness = Harness::new();
    harness.seed_unclaimed();
    harness.store.fail_puts_with_prefix("oauth:");

    let outcome = harness.start(&format!("projectID={PROJECT_ID}"));

    assert_eq!(outcome.response.status, 503);
    assert_eq!(outcome.response.header("set-cookie"), None);
    assert_eq!(outcome.response.header("location"), None);
}

#[test]
fn wrong_methods_and_paths() {
    let harness = Harness::new();

    let cases = [
        (WebRequest::new("GET", "/claim/start"), 405, Some("POST")),
        (WebRequest::new("HEAD", "/auth/callback?code=a&state=b"), 405, Some("GET")),
        (WebRequest::new("POST", "/"), 405, Some("GET")),
        (WebRequest::new("GET", "/robots.txt"), 404, None),
        (WebRequest::new("GET", "/claim/"), 404, None),
    ];
    for (request, status, allow) in cases {
        let label = format!("{} {}", request.method, request.path);
        let outcome = harness.send(request);

        assert_eq!(outcome.response.status, status, "{label}");
        assert_eq!(outcome.response.header("allow"), allow, "{label}");
    }
}

#[test]
fn favicon_is_empty_not_an_error() {
    let harness = Harness::new();

    let outcome = harness.get("/favicon.ico");

    assert_eq!(outcome.response.status, 204);
    assert!(outcome.logs.is_empty(), "{:?}", outcome.logs);
}

#[test]
fn health_reports_ok() {
    let harness = Harness::new();

    let outcome = harness.get("/health");

    assert_eq!(outcome.response.status, 200);
    assert_eq!(outcome.response.body_json()["service"], "claim-db");
}

#[test]
fn claim_pages_are_rate_limited_per_address() {
    let mut harness = Harness::new();
    harness.limiter = MemoryRateLimiter::new(3);
    let home = |ip: &str| harness.send(WebRequest::new("GET", "/").with_header("cf-connecting-ip", ip));

    let statuses: Vec<u16> = (0..4).map(|_| home("198.51.100.40").response.status).collect();
    let limited = home("198.51.100.40");
    let other = home("198.51.100.41");

    assert_eq!(statuses, vec![200, 200, 200, 429]);
    assert_eq!(limited.response.status, 429);
    assert_eq!(limited.response.header("retry-after"), Some("60"));
    assert!(limited.response.header("content-security-policy").is_some());
    assert!(String::from_utf8_lossy(&limited.response.body).contains("Too many requests"));
    assert_eq!(other.response.status, 200);
}

#[test]
fn failed_limiter_lets_pages_through() {
    let harness = Harness::new();
    harness.limiter.fail();

    let outcome = harness.send(WebRequest::new("GET", "/").with_header("cf-connecting-ip", "198.51.100.42"));

    assert_eq!(outcome.response.status, 200);
    assert!(outcome.logs.iter().any(|line| line.contains("rate_limiter_failed")));
}
