//! Request routing for claim-db-worker: one function from a `WebRequest` to an `Outcome`
//! (the response, requests to send after responding, and log lines). Every error becomes
//! the same HTML error page with the request id, and every response gets the security
//! headers here, in one place.

use crate::config::auth_origin;
use crate::error::Error;
use crate::{callback, claim, pages};
use serde_json::json;
use shared::config::ConfigSource;
use shared::http::HttpClient;
use shared::log::LogLine;
use shared::ratelimit::{LimitPolicy, RateLimiter};
use shared::store::KeyValueStore;
use shared::time::{format_iso8601, Millis};
use shared::web::{WebRequest, WebResponse};
pub use shared::web::Outcome;
use shared::RequestId;

/// The limit per client IP on every page. Keep it equal to `simple.limit` and
/// `simple.period` of the `CLAIM_LIMITER` binding in wrangler.toml: the binding enforces
/// it, this value only goes into the 429 page.
pub const CLAIM_LIMIT: LimitPolicy = LimitPolicy { max_requests: 100, period_secs: 60 };

/// Everything a request may use, passed in by the shell (or a test).
pub struct Context<'a, S, H, C, L> {
    pub store: &'a S,
    pub http: &'a H,
    pub config: &'a C,
    pub limiter: &'a L,
    pub now_ms: Millis,
    pub request_id: RequestId,
}


/// Handles one request and adds the headers every response carries.
pub async fn handle<S, H, C, L>(context: &Context<'_, S, H, C, L>, request: &WebRequest) -> Outcome
where
    S: KeyValueStore,
    H: HttpClient,
    C: ConfigSource,
    L: RateLimiter,
{
    let (allowed, limiter_log) = check_limit(context, request).await;
    let result = if allowed { route(context, request).await } else { Err(Error::RateLimited) };
    let mut outcome = result.unwrap_or_else(|error| error_outcome(&context.request_id, &error));
    outcome.logs.extend(limiter_log);
    outcome.response = with_security_headers(outcome.response, &context.request_id, auth_origin(context.config).as_deref());
    outcome
}

/// Counts the request against `CLAIM_LIMIT` for its client IP. Returns whether it may
/// go on, and a log line when the limiter failed: a failed limiter lets requests through,
/// because refusing every claim while a counter is down would take the service down.
async fn check_limit<S, H, C, L>(context: &Context<'_, S, H, C, L>, request: &WebRequest) -> (bool, Option<String>)
where
    L: RateLimiter,
{
    let client_ip = request.header("cf-connecting-ip").map(str::trim).filter(|ip| !ip.is_empty() && ip.len() <= 64);
    match context.limiter.allow(client_ip.unwrap_or("unknown")).await {
        Ok(allowed) => (allowed, None),
        Err(error) => {
            let line = LogLine::new("rate_limiter_failed")
                .field("request_id", context.request_id.as_str())
                .field("reason", error.0)
                .to_string();
            (true, Some(line))
        }
    }
}

async fn route<S, H, C, L>(context: &Context<'_, S, H, C, L>, request: &WebRequest) -> Result<Outcome, Error>
where
    S: KeyValueStore,
    H: HttpClient,
    C: ConfigSource,
{
    match (request.path.as_str(), request.method.as_str()) {
        ("/", "GET" | "HEAD") => Ok(Outcome::new(pages::html_response(200, pages::home()))),
        ("/health", "GET" | "HEAD") => Ok(Outcome::new(health(context.now_ms))),
        ("/style.css", "GET" | "HEAD") => Ok(Outcome::new(stylesheet())),
        // Browsers ask for an icon on every visit; an empty response keeps those requests
        // out of the error logs.
        ("/favicon.ico", "GET" | "HEAD") => Ok(Outcome::new(WebResponse::empty(204))),
        ("/claim", "GET" | "HEAD") => claim::show(context, request).await,
        ("/claim/start", "POST") => claim::start(context, request).await,
        // GET only: a HEAD from a link checker must not use up the sign-in.
        ("/auth/callback", "GET") => Ok(callback::handle(context, request).await),
        ("/" | "/health" | "/style.css" | "/claim", _) => Err(Error::MethodNotAllowed { allowed: "GET" }),
        ("/claim/start", _) => Err(Error::MethodNotAllowed { allowed: "POST" }),
        ("/auth/callback", _) => Err(Error::MethodNotAllowed { allowed: "GET" }),
        _ => Err(Error::NotFound),
    }
}

/// Renders `error` as its HTML page and logs it; a configuration error also gets its
/// own line, which the shell prints once per isolate.
pub fn error_outcome(request_id: &RequestId, error: &Error) -> Outcome {
    let mut outcome = Outcome::new(error_response(request_id, error));
    if let Error::Config { .. } = error {
        outcome.logs.push(LogLine::new("configuration_error").field("message", error.message()).to_string());
    }
    outcome.logs.push(
        LogLine::new("request_failed")
            .field("request_id", request_id.as_str())
            .field("code", error.code())
            .field("status", error.status())
            .to_string(),
    );
    outcome
}

/// Renders `error` as its HTML page, without logging.
pub fn error_response(request_id: &RequestId, error: &Error) -> WebResponse {
    let mut response = pages::html_response(error.status(), pages::error(error, request_id));
    if let Error::MethodNotAllowed { allowed } = error {
        response = response.with_header("allow", allowed);
    }
    if matches!(error, Error::Storage | Error::RandomUnavailable) {
        response = response.with_header("retry-after", "5");
    }
    if let Error::RateLimited = error {
        response = response.with_header("retry-after", &CLAIM_LIMIT.period_secs.to_string());
    }
    response
}

fn health(now_ms: Millis) -> WebResponse {
    WebResponse::json(
        200,
        &json!({
            "status": "ok",
            "service": "claim-db",
            "version": env!("CARGO_PKG_VERSION"),
            "timestamp": format_iso8601(now_ms),
        }),
    )
}

fn stylesheet() -> WebResponse {
    WebResponse { status: 200, headers: Vec::new(), body: pages::STYLESHEET.as_bytes().to_vec() }
        .with_header("content-type", "text/css; charset=utf-8")
        // The stylesheet contains nothing private, so browsers may keep it for an hour.
        .with_header("cache-control", "public, max-age=3600")
}

/// Builds the Content-Security-Policy: nothing but this worker's own stylesheet loads,
/// no script at all, no framing. `form-action` also names Prisma Auth because the claim
/// form's redirect goes there, and browsers check redirects of a form against it.
pub fn content_security_policy(auth_origin: Option<&str>) -> String {
    let form_action = match auth_origin {
        Some(origin) => format!("'self' {origin}"),
        None => "'self'".to_owned(),
    };
    format!(
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
    )
}

/// Adds the headers every response carries: the security policy, no caching unless the
/// route chose otherwise, and the request id.
pub fn with_security_headers(response: WebResponse, request_id: &RequestId, auth_origin: Option<&str>) -> WebResponse {
    let cache_control = response.header("cache-control").unwrap_or("no-store").to_owned();
    response
        .with_header("content-security-policy", &content_security_policy(auth_origin))
        .with_header("x-content-type-options", "nosniff")
        .with_header("referrer-policy", "no-referrer")
        .with_header("x-frame-options", "DENY")
        .with_header("cross-origin-opener-policy", "same-origin")
        .with_header("cache-control", &cache_control)
        .with_header("x-request-id", request_id.as_str())
}
