//! Native tests of `GET /auth/callback`: the successful claim and every rejection and
//! error mapping, against a scripted Prisma. Each rejection checks that nothing moved:
//! no transfer was sent and the record is still unclaimed.

mod support;

use claim_db_worker::oauth::s256_challenge;
use claim_db_worker::{handle, Context};
use serde_json::{json, Value};
use shared::http::{HttpError, HttpRequest, HttpResponse, Method, ScriptedHttp};
use shared::store::{KeyPage, KeyValueStore, MemoryStore, StoreError};
use shared::web::WebRequest;
use shared::RequestId;
use std::cell::Cell;
use std::rc::Rc;
use shared::time::MINUTE_MS;
use support::*;

fn started() -> (Harness, StartedClaim) {
    let harness = Harness::new();
    harness.seed_unclaimed();
    let claim = harness.started_claim();
    (harness, claim)
}

/// Asserts that the project was not moved or marked, and no transfer was sent.
fn assert_untouched(harness: &Harness) {
    assert!(harness.transfer_requests().is_empty(), "a transfer was sent");
    assert_eq!(harness.record(PROJECT_ID).unwrap()["status"], "unclaimed");
    assert_eq!(harness.store.keys_with_prefix("expiry:").len(), 1, "the expiry key was dropped");
}

#[test]
fn callback_claims_project() {
    let (harness, claim) = started();

    let outcome = harness.finish(&claim);
    let body = body_text(&outcome);

    assert_eq!(outcome.response.status, 200, "{body}");
    assert!(body.contains("Database claimed"), "{body}");
    assert!(body.contains(&format!("https://console.prisma.io/{WORKSPACE_ID}/{PROJECT_ID}/{DATABASE_ID}")), "{body}");
    assert_eq!(harness.record(PROJECT_ID).unwrap()["status"], "claimed");
    assert!(harness.store.keys_with_prefix("expiry:").is_empty(), "the expiry key must go");
    assert_eq!(harness.store.peek(&claim.oauth_key()), None, "the state must be used up");
    let cleared = outcome.response.header("set-cookie").unwrap_or_default();
    assert!(cleared.starts_with(&format!("{COOKIE_NAME}=;")), "{cleared}");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert!(outcome.logs.iter().any(|line| line.contains("\"claim_succeeded\"")), "{:?}", outcome.logs);
    assert_no_secrets(&outcome, Some(&claim));
}

#[test]
fn token_request_carries_pkce_and_client() {
    let (harness, claim) = started();

    harness.finish(&claim);

    let requests = harness.token_requests();
    assert_eq!(requests.len(), 1);
    let token = &requests[0];
    assert_eq!(token.header_value("content-type"), Some("application/x-www-form-urlencoded"));
    assert_eq!(form_value(token, "grant_type").as_deref(), Some("authorization_code"));
    assert_eq!(form_value(token, "code").as_deref(), Some(CODE));
    assert_eq!(form_value(token, "redirect_uri").as_deref(), Some("http://claim.test/auth/callback"));
    assert_eq!(form_value(token, "client_id").as_deref(), Some(CLIENT_ID));
    assert_eq!(form_value(token, "client_secret").as_deref(), Some(CLIENT_SECRET));
    let verifier = form_value(token, "code_verifier").unwrap();
    assert_eq!(s256_challenge(&verifier), claim.code_challenge, "the verifier must match the challenge sent to /authorize");
}

#[test]
fn transfer_uses_integration_token_and_user_token() {
    let (harness, claim) = started();

    harness.finish(&claim);

    let transfers = harness.transfer_requests();
    assert_eq!(transfers.len(), 1);
    let transfer = &transfers[0];
    assert_eq!(transfer.header_value("authorization"), Some(format!("Bearer {INTEGRATION_TOKEN}").as_str()));
    let body: Value = serde_json::from_slice(transfer.body.as_deref().unwrap_or_default()).unwrap();
    assert_eq!(body, json!({"recipientAccessToken": ACCESS_TOKEN}));
    let reads = harness.sent_to(Method::Get, &format!("{API}/v1/projects/{PROJECT_ID}"));
    assert_eq!(reads[0].header_value("authorization"), Some(format!("Bearer {ACCESS_TOKEN}").as_str()));
}

#[test]
fn replayed_callback_changes_nothing() {
    let (harness, claim) = started();
    harness.finish(&claim);
    let sent_before = harness.http.sent().len();
    let record_before = harness.record(PROJECT_ID);

    let replay = harness.finish(&claim);
    let body = body_text(&replay);

    assert_eq!(replay.response.status, 400, "{body}");
    assert!(body.contains("Sign-in expired"), "{body}");
    assert_eq!(harness.http.sent().len(), sent_before, "a replay must not reach Prisma");
    assert_eq!(harness.record(PROJECT_ID), record_before);
}

#[test]
fn callback_without_code_or_state_is_400() {
    let (harness, claim) = started();

    for query in [
        String::new(),
        format!("state={}", claim.state),
        format!("code={CODE}"),
        format!("code=&state={}", claim.state),
        format!("code={CODE}&code=other&state={}", claim.state),
        format!("code={CODE}&state={}&state={}", claim.state, claim.state),
    ] {
        let outcome = harness.callback(&query, Some(&claim.cookie_header()));

        assert_eq!(outcome.response.status, 400, "{query}");
        assert_no_secrets(&outcome, Some(&claim));
    }
    assert!(harness.store.peek(&claim.oauth_key()).is_some(), "a malformed callback must not use up the state");
    assert!(harness.token_requests().is_empty());
    assert_untouched(&harness);
}

#[test]
fn tampered_or_unknown_state_asks_to_restart() {
    let (harness, claim) = started();
    let mut tampered = claim.state.clone().into_bytes();
    tampered[0] = if tampered[0] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();

    for state in [tampered.as_str(), "short", "%3Cscript%3E", &"a".repeat(43)] {
        let outcome = harness.callback(&format!("code={CODE}&state={state}"), Some(&claim.cookie_header()));
        let body = body_text(&outcome);

        assert_eq!(outcome.response.status, 400, "{state}");
        assert!(body.contains("Start again"), "{state}: {body}");
        assert!(!body.contains("<script>"), "{body}");
    }
    assert!(harness.token_requests().is_empty());
    assert_untouched(&harness);
}

#[test]
fn state_gone_from_kv_after_ttl() {
    let (harness, claim) = started();
    harness.clock.advance(10 * MINUTE_MS + 1);

    let outcome = harness.finish(&claim);

    assert_eq!(outcome.response.status, 400);
    assert!(body_text(&outcome).contains("Sign-in expired"));
    assert!(harness.token_requests().is_empty());
}

#[test]
fn state_older_than_max_age_is_rejected() {
    let (harness, claim) = started();
    // KV expiry is not exact, so the record may outlive its TTL: the age check must hold.
    let mut stored: Value = serde_json::from_str(&harness.store.peek(&claim.oauth_key()).unwrap()).unwrap();
    stored["createdAt"] = json!(NOW - 11 * MINUTE_MS);
    futures::executor::block_on(harness.store.put(&claim.oauth_key(), &stored.to_string(), Some(600))).unwrap();

    let outcome = harness.finish(&claim);
    let body = body_text(&outcome);

    assert_eq!(outcome.response.status, 400, "{body}");
    assert!(body.contains("took longer than 10 minutes"), "{body}");
    assert!(body.contains(&format!("/claim?projectID={PROJECT_ID}&amp;utm_source=create-db&amp;utm_medium=cli")), "{body}");
    assert_eq!(harness.store.peek(&claim.oauth_key()), None);
    assert!(harness.token_requests().is_empty());
    assert_untouched(&harness);
}

#[test]
fn missing_cookie_is_rejected_and_keeps_state() {
    let (harness, claim) = started();
    let query = format!("code={CODE}&state={}", claim.state);

    let without = harness.callback(&query, None);
    let other_cookies = harness.callback(&query, Some("other=1"));
    let wrong = harness.callback(&query, Some(&format!("{COOKIE_NAME}={}", "x".repeat(43))));
    let hash_as_cookie = {
        let stored: Value = serde_json::from_str(&harness.store.peek(&claim.oauth_key()).unwrap()).unwrap();
        harness.callback(&query, Some(&format!("{COOKIE_NAME}={}", stored["cookieHash"].as_str().unwrap())))
    };

    for outcome in [&without, &other_cookies, &wrong, &hash_as_cookie] {
        let body = body_text(outcome);
        assert_eq!(outcome.response.status, 403, "{body}");
        assert!(body.contains("started in another browser"), "{body}");
        assert!(body.contains("Back to the claim page"), "{body}");
        assert_eq!(outcome.response.header("set-cookie"), None, "a rejected callback must not touch the cookie");
        assert_no_secrets(outcome, Some(&claim));
    }
    assert!(harness.token_requests().is_empty());
    assert_untouched(&harness);
    assert!(harness.store.peek(&claim.oauth_key()).is_some(), "the state must survive a rejected cookie");
}

#[test]
fn real_browser_still_finishes_after_cookieless_attempt() {
    let (harness, claim) = started();
    harness.callback(&format!("code={CODE}&state={}", claim.state), None);

    let outcome = harness.finish(&claim);

    assert_eq!(outcome.response.status, 200, "{}", body_text(&outcome));
    assert_eq!(harness.transfer_requests().len(), 1);
}

#[test]
fn cancel_shows_way_back_and_ends_claim() {
    let (harness, claim) = started();

    let outcome = harness.callback(
        &format!("error=access_denied&error_description=The+user+cancelled&state={}", claim.state),
        Some(&claim.cookie_header()),
    );
    let body = body_text(&outcome);

    assert_eq!(outcome.response.status, 200, "{body}");
    assert!(body.contains("Claim cancelled"), "{body}");
    assert!(body.contains(&format!("href=\"/claim?projectID={PROJECT_ID}&amp;utm_source=create-db&amp;utm_medium=cli\"")), "{body}");
    assert!(outcome.response.header("set-cookie").unwrap_or_default().contains("Max-Age=0"));
    assert_eq!(harness.store.peek(&claim.oauth_key()), None);
    assert!(harness.http.sent().is_empty());
    assert_untouched(&harness);
}

#[test]
fn cancel_without_cookie_keeps_state() {
    let (harness, claim) = started();

    let outcome = harness.callback(&format!("error=access_denied&state={}", claim.state), None);

    assert_eq!(outcome.response.status, 200);
    assert_eq!(outcome.response.header("set-cookie"), None);
    assert!(harness.store.peek(&claim.oauth_key()).is_some());
}

#[test]
fn authorization_error_does_not_echo_description() {
    let (harness, claim) = started();

    let outcome = harness.callback(
        &format!(
            "error=server_error&error_description=%3Cb%3EVisit+evil.example.com%3C%2Fb%3E&state={}",
            claim.state
        ),
        Some(&claim.cookie_header()),
    );
    let body = body_text(&outcome);

    assert_eq!(outcome.response.status, 400, "{body}");
    assert!(body.contains("Sign-in failed"), "{body}");
    assert!(!body.contains("evil.example.com"), "{body}");
    assert!(harness.http.sent().is_empty());
    assert_untouched(&harness);
}

/// Runs a claim whose token exchange or transfer gets `answer`, then checks the page.
fn failing_claim(set: impl FnOnce(&mut Answers), status: u16, expected: &str) -> (Harness, StartedClaim, claim_db_worker::Outcome) {
    let (harness, claim) = started();
    set(&mut harness.answers.borrow_mut());

    let outcome = harness.finish(&claim);
    let body = body_text(&outcome);

    assert_eq!(outcome.response.status, status, "{body}");
    assert!(body.contains(expected), "expected {expected:?} in {body}");
    let request_id = outcome.response.header("x-request-id").unwrap_or_default().to_owned();
    assert!(body.contains(&request_id), "{body}");
    assert_eq!(harness.store.peek(&claim.oauth_key()), None, "the state is used up before the exchange");
    assert!(outcome.response.header("set-cookie").unwrap_or_default().contains("Max-Age=0"));
    assert_eq!(harness.record(PROJECT_ID).unwrap()["status"], "unclaimed");
    assert_eq!(harness.store.keys_with_prefix("expiry:").len(), 1);
    assert_no_secrets(&outcome, Some(&claim));
    (harness, claim, outcome)
}

#[test]
fn token_errors_map_to_pages() {
    let upstream_body = "{\"error\":\"invalid_grant\",\"detail\":\"secret-upstream-detail\"}";
    let cases: Vec<(Answer, u16, &str)> = vec![
        (Ok(HttpResponse::new(400, upstream_body)), 400, "did not accept the sign-in code"),
        (Ok(HttpResponse::new(401, upstream_body)), 502, "CLIENT_ID and CLIENT_SECRET"),
        (Ok(HttpResponse::new(500, upstream_body)), 502, "Prisma failed (status 500)"),
        (Ok(HttpResponse::new(429, upstream_body)), 503, "rate limiting"),
        (Ok(HttpResponse::new(200, "not json secret-upstream-detail")), 502, "cannot read"),
        (Err(HttpError::Timeout), 504, "did not answer in time"),
        (Err(HttpError::Network("connection reset".into())), 502, "could not be reached"),
    ];

    for (answer, status, expected) in cases {
        let (harness, _, outcome) = failing_claim(|answers| answers.token = answer, status, expected);

        assert!(!body_text(&outcome).contains("secret-upstream-detail"));
        assert!(outcome.logs.iter().all(|line| !line.contains("secret-upstream-detail")));
        assert!(harness.transfer_requests().is_empty(), "{expected}");
    }
}

#[test]
fn transfer_errors_map_to_pages() {
    let cases: Vec<(Answer, u16, &str)> = vec![
        (Ok(HttpResponse::new(409, "secret-upstream-detail")), 409, "cannot move this database right now"),
        (Ok(HttpResponse::new(401, "secret-upstream-detail")), 400, "did not accept your sign-in"),
        (Ok(HttpResponse::new(403, "secret-upstream-detail")), 502, "INTEGRATION_TOKEN"),
        (Ok(HttpResponse::new(500, "secret-upstream-detail")), 502, "Try again in a moment"),
        (Ok(HttpResponse::new(503, "secret-upstream-detail")), 502, "Prisma failed (status 503)"),
        (Err(HttpError::Timeout), 504, "did not answer in time"),
    ];

    for (answer, status, expected) in cases {
        let (harness, _, outcome) = failing_claim(|answers| answers.transfer = answer, status, expected);

        assert!(!body_text(&outcome).contains("secret-upstream-detail"));
        assert_eq!(harness.transfer_requests().len(), 1);
    }
}

#[test]
fn transfer_404_is_expired_or_deleted() {
    let (_, _, outcome) = failing_claim(
        |answers| {
            answers.transfer = Ok(HttpResponse::new(404, ""));
            answers.project = Ok(HttpResponse::new(404, ""));
        },
        404,
        "has expired, was deleted, or was already claimed",
    );

    assert!(!body_text(&outcome).contains("Back to the claim page"));
}

#[test]
fn transfer_404_already_in_users_workspace_is_success() {
    let (harness, claim) = started();
    harness.answers.borrow_mut().transfer = Ok(HttpResponse::new(404, ""));

    let outcome = harness.finish(&claim);

    assert_eq!(outcome.response.status, 200, "{}", body_text(&outcome));
    assert_eq!(harness.record(PROJECT_ID).unwrap()["status"], "claimed");
}

#[test]
fn success_without_console_ids_links_console_home() {
    let (harness, claim) = started();
    harness.answers.borrow_mut().databases = Err(HttpError::Timeout);

    let outcome = harness.finish(&claim);
    let body = body_text(&outcome);

    assert_eq!(outcome.response.status, 200, "{body}");
    assert!(body.contains("href=\"https://console.prisma.io/\""), "{body}");
    assert!(!body.contains(WORKSPACE_ID), "{body}");
    assert_eq!(harness.record(PROJECT_ID).unwrap()["status"], "claimed");
}

#[test]
fn console_link_rejects_odd_ids() {
    let (harness, claim) = started();
    harness.answers.borrow_mut().project =
        Ok(HttpResponse::json(200, &json!({"data": {"workspace": {"id": "wksp_a/../../evil"}}})));

    let outcome = harness.finish(&claim);
    let body = body_text(&outcome);

    assert_eq!(outcome.response.status, 200);
    assert!(!body.contains("evil"), "{body}");
}

#[test]
fn record_update_failure_still_shows_success() {
    let (harness, claim) = started();
    harness.store.fail_puts_with_prefix("project:");

    let outcome = harness.finish(&claim);

    assert_eq!(outcome.response.status, 200, "{}", body_text(&outcome));
    assert!(outcome.logs.iter().any(|line| line.contains("\"claim_record_update_failed\"")), "{:?}", outcome.logs);
    assert_eq!(harness.transfer_requests().len(), 1);
}

#[test]
fn unreadable_state_is_removed_without_exchange() {
    let (harness, claim) = started();
    futures::executor::block_on(harness.store.put(&claim.oauth_key(), "{broken", Some(600))).unwrap();

    let outcome = harness.finish(&claim);

    assert_eq!(outcome.response.status, 400);
    assert!(harness.token_requests().is_empty());
    assert_eq!(harness.store.peek(&claim.oauth_key()), None);
}

/// A store whose deletes fail, over a `MemoryStore`.
struct FailingDeletes(MemoryStore);

impl KeyValueStore for FailingDeletes {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.0.get(key).await
    }

    async fn put(&self, key: &str, value: &str, expiration_ttl_secs: Option<u64>) -> Result<(), StoreError> {
        self.0.put(key, value, expiration_ttl_secs).await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        Err(StoreError(format!("injected failure deleting {key}")))
    }

    async fn list(&self, prefix: &str, cursor: Option<&str>, limit: usize) -> Result<KeyPage, StoreError> {
        self.0.list(prefix, cursor, limit).await
    }
}

#[test]
fn state_delete_failure_stops_before_exchange() {
    let (harness, claim) = started();
    let store = FailingDeletes(harness.store.clone());
    let context = Context { store: &store, http: &harness.http, config: &harness.config, limiter: &harness.limiter, now_ms: NOW, request_id: RequestId::generate() };
    let request = WebRequest::new("GET", &format!("/auth/callback?code={CODE}&state={}", claim.state))
        .with_header("cookie", &claim.cookie_header());

    let outcome = futures::executor::block_on(handle(&context, &request));

    assert_eq!(outcome.response.status, 503, "{}", body_text(&outcome));
    assert!(harness.token_requests().is_empty(), "no exchange while the state could still be replayed");
    assert_untouched(&harness);
}

#[test]
fn state_is_deleted_before_exchange() {
    let (harness, claim) = started();
    let store = harness.store.clone();
    let key = claim.oauth_key();
    let state_present_at_exchange = Rc::new(Cell::new(None));
    let seen = state_present_at_exchange.clone();
    let http = ScriptedHttp::new(move |request: &HttpRequest| {
        if request.url.ends_with("/token") {
            seen.set(Some(store.peek(&key).is_some()));
        }
        Ok(HttpResponse::new(503, ""))
    });
    let context = Context { store: &harness.store, http: &http, config: &harness.config, limiter: &harness.limiter, now_ms: NOW, request_id: RequestId::generate() };
    let request = WebRequest::new("GET", &format!("/auth/callback?code={CODE}&state={}", claim.state))
        .with_header("cookie", &claim.cookie_header());

    futures::executor::block_on(handle(&context, &request));

    assert_eq!(state_present_at_exchange.get(), Some(false));
}

#[test]
fn analytics_reports_success_and_failure() {
    let (mut harness, claim) = started();
    harness.config = config().with("POSTHOG_API_HOST", "https://ph.test").with("POSTHOG_API_KEY", "phc_test");

    let rejected = harness.callback(&format!("code={CODE}&state={}", claim.state), None);
    let succeeded = harness.finish(&claim);

    let event = |outcome: &claim_db_worker::Outcome| -> Value {
        assert_eq!(outcome.background.len(), 1, "{:?}", outcome.background);
        serde_json::from_slice(outcome.background[0].body.as_deref().unwrap_or_default()).unwrap()
    };
    let rejected_event = event(&rejected);
    let succeeded_event = event(&succeeded);
    assert_eq!(rejected_event["event"], "create_db:claim_failed");
    assert_eq!(rejected_event["properties"]["reason"], "browser_mismatch");
    assert_eq!(succeeded_event["event"], "create_db:claim_successful");
    assert_eq!(succeeded_event["properties"]["utm-source"], "create-db");
    assert!(!succeeded_event.to_string().contains(ACCESS_TOKEN));
}

#[test]
fn callback_needs_configuration() {
    let (mut harness, claim) = started();
    harness.config = config().without("CLIENT_SECRET");

    let outcome = harness.finish(&claim);

    assert_eq!(outcome.response.status, 500);
    assert!(body_text(&outcome).contains("CLIENT_SECRET is not set"));
    assert!(harness.store.peek(&claim.oauth_key()).is_some());
}
