//! The harness of the native claim-db-worker tests: `handle` over an in-memory KV with a
//! manual clock, and a scripted Prisma (Auth and Management API) whose responses each
//! test can change. Helpers start a claim the way a browser does and return the state, cookie
//! and challenge it produced.

#![allow(dead_code)]

use claim_db_worker::app::CLAIM_LIMIT;
use claim_db_worker::{handle, Outcome};
use futures::executor::block_on;
use serde_json::{json, Value};
use shared::config::MapConfig;
use shared::http::{HttpError, HttpRequest, HttpResponse, Method, ScriptedHttp};
use shared::ratelimit::MemoryRateLimiter;
use shared::record::{save_record, ProjectRecord, ProjectStatus};
use shared::store::{ManualClock, MemoryStore};
use shared::time::HOUR_MS;
use shared::web::WebRequest;
use shared::{ProjectId, RequestId};
use std::cell::RefCell;
use std::rc::Rc;

pub const NOW: u64 = 1_796_412_903_123;
pub const PROJECT_ID: &str = "proj_cmclaim0001";
pub const INTEGRATION_TOKEN: &str = "test-integration-token-7a1d";
pub const CLIENT_ID: &str = "test-client-id";
pub const CLIENT_SECRET: &str = "test-client-secret-93bf";
pub const ACCESS_TOKEN: &str = "user-access-token-55c0e1";
pub const CODE: &str = "authorization-code-f00d";
pub const API: &str = "http://api.test";
pub const AUTH: &str = "http://auth.test";
pub const CLAIM_URL: &str = "http://claim.test";
pub const WORKSPACE_ID: &str = "wksp_alice01";
pub const DATABASE_ID: &str = "db_first01";
pub const COOKIE_NAME: &str = "__Host-claim_binding";

pub type Answer = Result<HttpResponse, HttpError>;

/// The scripted responses of Prisma. Tests replace any of them before sending a request.
pub struct Answers {
    pub token: Answer,
    pub transfer: Answer,
    pub project: Answer,
    pub databases: Answer,
}

impl Default for Answers {
    fn default() -> Self {
        Answers {
            token: Ok(HttpResponse::json(
                200,
                &json!({"access_token": ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 3600, "scope": "workspace:admin"}),
            )),
            transfer: Ok(HttpResponse::new(204, "")),
            project: Ok(HttpResponse::json(
                200,
                &json!({"data": {"id": PROJECT_ID, "name": "db", "workspace": {"id": WORKSPACE_ID, "name": "Alice"}}}),
            )),
            databases: Ok(HttpResponse::json(200, &json!({"data": [{"id": DATABASE_ID, "name": "db"}]}))),
        }
    }
}

pub fn config() -> MapConfig {
    MapConfig::new(&[
        ("INTEGRATION_TOKEN", INTEGRATION_TOKEN),
        ("CLIENT_ID", CLIENT_ID),
        ("CLIENT_SECRET", CLIENT_SECRET),
        ("CLAIM_PUBLIC_URL", CLAIM_URL),
        ("PRISMA_API_URL", API),
        ("PRISMA_AUTH_URL", AUTH),
    ])
}

pub struct Harness {
    pub clock: ManualClock,
    pub store: MemoryStore,
    pub http: ScriptedHttp,
    pub answers: Rc<RefCell<Answers>>,
    pub config: MapConfig,
    pub limiter: MemoryRateLimiter,
}

impl Harness {
    pub fn new() -> Self {
        let clock = ManualClock::new(NOW);
        let answers = Rc::new(RefCell::new(Answers::default()));
        let script = answers.clone();
        let http = ScriptedHttp::new(move |request: &HttpRequest| {
            let answers = script.borrow();
            let project_url = format!("{API}/v1/projects/{PROJECT_ID}");
            match (request.method, request.url.as_str()) {
                (Method::Post, url) if url == format!("{AUTH}/token") => answers.token.clone(),
                (Method::Post, url) if url == format!("{project_url}/transfer") => answers.transfer.clone(),
                (Method::Get, url) if url == project_url => answers.project.clone(),
                (Method::Get, url) if url == format!("{project_url}/databases") => answers.databases.clone(),
                _ => Ok(HttpResponse::json(404, &json!({"error": {"code": "not_found", "message": "no route"}}))),
            }
        });
        let limiter = MemoryRateLimiter::new(CLAIM_LIMIT.max_requests);
        Harness { store: MemoryStore::new(clock.clone()), clock, http, answers, config: config(), limiter }
    }

    pub fn send(&self, request: WebRequest) -> Outcome {
        let context = claim_db_worker::Context {
            store: &self.store,
            http: &self.http,
            config: &self.config,
            limiter: &self.limiter,
            now_ms: self.clock.now_ms(),
            request_id: RequestId::generate(),
        };
        block_on(handle(&context, &request))
    }

    pub fn get(&self, path: &str) -> Outcome {
        self.send(WebRequest::new("GET", path))
    }

    /// Stores the record of `project_id` as create-db-worker would, with its expiry key.
    pub fn seed_project(&self, project_id: &str, status: ProjectStatus, expires_at: u64) {
        let id = ProjectId::parse(project_id).unwrap();
        let record = ProjectRecord {
            project_id: project_id.to_owned(),
            region: "us-east-1".to_owned(),
            created_at: NOW - HOUR_MS,
            expires_at,
            status,
            delete_attempts: 0,
        };
        block_on(save_record(&self.store, &id, &record, NOW)).unwrap();
        block_on(shared::store::KeyValueStore::put(&self.store, &shared::record::expiry_key(expires_at, &id), "", None))
            .unwrap();
    }

    pub fn seed_unclaimed(&self) {
        self.seed_project(PROJECT_ID, ProjectStatus::Unclaimed, NOW + 23 * HOUR_MS);
    }

    pub fn record(&self, project_id: &str) -> Option<Value> {
        self.store.peek(&format!("project:{project_id}")).map(|text| serde_json::from_str(&text).unwrap())
    }

    /// Posts the claim form the way the claim page's button does.
    pub fn start(&self, form: &str) -> Outcome {
        self.send(
            WebRequest::new("POST", "/claim/start")
                .with_header("content-type", "application/x-www-form-urlencoded")
                .with_header("sec-fetch-site", "same-origin")
                .with_header("origin", "null")
                .with_body(form.to_owned()),
        )
    }

    /// Starts a claim of `PROJECT_ID` and returns what the browser would hold afterwards.
    pub fn started_claim(&self) -> StartedClaim {
        let outcome = self.start(&format!("projectID={PROJECT_ID}&utm_source=create-db&utm_medium=cli"));
        assert_eq!(outcome.response.status, 303, "{}", body_text(&outcome));
        let location = outcome.response.header("location").unwrap().to_owned();
        let query = location.split_once('?').unwrap().1.to_owned();
        let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        let param = |name: &str| params.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone()).unwrap();
        let set_cookie = outcome.response.header("set-cookie").unwrap().to_owned();
        let cookie_value =
            set_cookie.strip_prefix(&format!("{COOKIE_NAME}=")).unwrap().split(';').next().unwrap().to_owned();
        StartedClaim { state: param("state"), code_challenge: param("code_challenge"), cookie_value, location, set_cookie }
    }

    /// Sends the callback Prisma Auth would redirect to, with `cookie` as the Cookie header.
    pub fn callback(&self, query: &str, cookie: Option<&str>) -> Outcome {
        let mut request = WebRequest::new("GET", &format!("/auth/callback?{query}"));
        if let Some(cookie) = cookie {
            request = request.with_header("cookie", cookie);
        }
        self.send(request)
    }

    /// Completes a started claim with the right cookie.
    pub fn finish(&self, claim: &StartedClaim) -> Outcome {
        self.callback(&format!("code={CODE}&state={}", claim.state), Some(&claim.cookie_header()))
    }

    pub fn sent_to(&self, method: Method, url: &str) -> Vec<HttpRequest> {
        self.http.sent().into_iter().filter(|request| request.method == method && request.url == url).collect()
    }

    pub fn token_requests(&self) -> Vec<HttpRequest> {
        self.sent_to(Method::Post, &format!("{AUTH}/token"))
    }

    pub fn transfer_requests(&self) -> Vec<HttpRequest> {
        self.sent_to(Method::Post, &format!("{API}/v1/projects/{PROJECT_ID}/transfer"))
    }
}

pub struct StartedClaim {
    pub state: String,
    pub code_challenge: String,
    pub cookie_value: String,
    pub location: String,
    pub set_cookie: String,
}

impl StartedClaim {
    pub fn cookie_header(&self) -> String {
        format!("other=1; {COOKIE_NAME}={}", self.cookie_value)
    }

    pub fn oauth_key(&self) -> String {
        format!("oauth:{}", self.state)
    }
}

pub fn body_text(outcome: &Outcome) -> String {
    String::from_utf8_lossy(&outcome.response.body).into_owned()
}

/// Parses a form-encoded request body into pairs.
pub fn form_pairs(request: &HttpRequest) -> Vec<(String, String)> {
    form_urlencoded::parse(request.body.as_deref().unwrap_or_default()).into_owned().collect()
}

pub fn form_value(request: &HttpRequest, name: &str) -> Option<String> {
    form_pairs(request).into_iter().find(|(key, _)| key == name).map(|(_, value)| value)
}

/// Asserts that nothing secret reached the page, the headers or the logs.
pub fn assert_no_secrets(outcome: &Outcome, claim: Option<&StartedClaim>) {
    let mut exposed = vec![body_text(outcome)];
    exposed.extend(outcome.logs.iter().cloned());
    exposed.extend(outcome.response.headers.iter().filter(|(name, _)| name != "set-cookie").map(|(_, value)| value.clone()));
    let mut secrets = vec![ACCESS_TOKEN, CODE, INTEGRATION_TOKEN, CLIENT_SECRET];
    if let Some(claim) = claim {
        secrets.push(&claim.state);
        secrets.push(&claim.cookie_value);
    }
    for text in &exposed {
        for secret in &secrets {
            assert!(!text.contains(secret), "{secret} leaked into {text}");
        }
    }
}
