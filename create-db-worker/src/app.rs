//! Request routing for create-db-worker: one function from a `WebRequest` to an
//! `Outcome` (the response, requests to send after responding, and log lines). Every
//! error goes through `WebResponse::json_error`, so every route reports errors in the same shape.

use crate::regions::RegionCache;
use crate::{analytics, create, regions, status};
use serde_json::json;
use shared::config::ConfigSource;
use shared::http::HttpClient;
use shared::log::LogLine;
use shared::ratelimit::{rate_limited_response, LimitPolicy, RateLimiter};
use shared::store::KeyValueStore;
use shared::time::{format_iso8601, Millis};
use shared::web::{WebRequest, WebResponse};
pub use shared::web::Outcome;
use shared::{Error, RequestId};

/// The general limit per method, client IP and route. Keep it equal to `simple.limit`
/// and `simple.period` of the `GENERAL_LIMITER` binding in wrangler.toml: the binding
/// enforces it, this value only goes into the 429 body.
pub const GENERAL_LIMIT: LimitPolicy = LimitPolicy { max_requests: 100, period_secs: 60 };

/// The limit on `source: "programmatic"` creates per client IP (`PROGRAMMATIC_LIMITER`).
pub const PROGRAMMATIC_LIMIT: LimitPolicy = LimitPolicy { max_requests: 5, period_secs: 60 };

/// Everything a request may use, passed in by the shell (or a test).
pub struct Context<'a, S, H, C, L> {
    pub store: &'a S,
    pub http: &'a H,
    pub config: &'a C,
    pub regions: &'a RegionCache,
    pub general_limiter: &'a L,
    pub programmatic_limiter: &'a L,
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
    let (limited, limiter_log) = check_general_limit(context, request).await;
    let mut outcome = match limited {
        Some(response) => Outcome::new(response),
        None => route(context, request).await,
    };
    outcome.logs.extend(limiter_log);
    outcome.response = with_common_headers(outcome.response, &context.request_id);
    outcome
}

/// Returns the client's address as the edge reports it, or `unknown`.
pub fn client_ip(request: &WebRequest) -> &str {
    request.header("cf-connecting-ip").map(str::trim).filter(|ip| !ip.is_empty() && ip.len() <= 64).unwrap_or("unknown")
}

/// Counts the request against the general limit. Returns the 429 response when over it,
/// and a log line when the limiter failed. A failed limiter lets the request through:
/// refusing all traffic because a counter is down would take the service down with it.
async fn check_general_limit<S, H, C, L>(
    context: &Context<'_, S, H, C, L>,
    request: &WebRequest,
) -> (Option<WebResponse>, Option<String>)
where
    L: RateLimiter,
{
    if request.method == "OPTIONS" {
        return (None, None);
    }
    // The route pattern, not the raw path, so a client cannot make unbounded keys.
    let route = match request.path.as_str() {
        path @ ("/health" | "/regions" | "/create" | "/analytics") => path,
        path if path.starts_with("/projects/") => "/projects/*",
        _ => "other",
    };
    let method: String = request.method.chars().filter(char::is_ascii_alphabetic).take(10).collect();
    let key = format!("{method}:{}:{route}", client_ip(request));

    match context.general_limiter.allow(&key).await {
        Ok(true) => (None, None),
        Ok(false) => (Some(rate_limited_response(GENERAL_LIMIT, &context.request_id)), None),
        Err(error) => {
            let line = LogLine::new("rate_limiter_failed")
                .field("request_id", context.request_id.as_str())
                .field("limiter", "general")
                .field("reason", error.0)
                .to_string();
            (None, Some(line))
        }
    }
}

async fn route<S, H, C, L>(context: &Context<'_, S, H, C, L>, request: &WebRequest) -> Outcome
where
    S: KeyValueStore,
    H: HttpClient,
    C: ConfigSource,
    L: RateLimiter,
{
    let path = request.path.as_str();
    let method = request.method.as_str();
    let request_id = &context.request_id;

    if method == "OPTIONS" {
        return Outcome::new(preflight());
    }
    let result = match (path, method) {
        ("/health", "GET" | "HEAD") => Ok(Outcome::new(health(context.now_ms))),
        ("/regions", "GET" | "HEAD") => regions::handle(context).await,
        ("/create", "POST") => create::handle(context, request).await,
        ("/analytics", "POST") => analytics::handle(context, request),
        (_, "GET" | "HEAD") if path.starts_with("/projects/") => {
            status::handle(context, &path["/projects/".len()..]).await
        }
        ("/health" | "/regions", _) => Err(Error::MethodNotAllowed { allowed: "GET" }),
        ("/create" | "/analytics", _) => Err(Error::MethodNotAllowed { allowed: "POST" }),
        _ if path.starts_with("/projects/") => Err(Error::MethodNotAllowed { allowed: "GET" }),
        _ => Err(Error::NotFound(format!(
            "No route for {method} {}; this service serves GET /health, GET /regions, POST /create, GET /projects/{{projectId}} and POST /analytics.",
            truncate_for_message(path)
        ))),
    };
    result.unwrap_or_else(|error| {
        let mut outcome = Outcome::new(WebResponse::json_error(&error, request_id));
        // The operator needs the variable's name; the shell prints each distinct
        // configuration line once per isolate.
        if let Error::Config { .. } = error {
            outcome.logs.push(LogLine::new("configuration_error").field("message", error.to_string()).to_string());
        }
        outcome.logs.push(
            LogLine::new("request_failed")
                .field("request_id", request_id.as_str())
                .field("code", error.code())
                .field("status", error.status())
                .to_string(),
        );
        outcome
    })
}

/// Keeps a client-sent path short and printable before it goes into a message.
fn truncate_for_message(path: &str) -> String {
    let mut shown: String = path.chars().filter(|character| !character.is_control()).take(100).collect();
    if path.chars().count() > 100 {
        shown.push('…');
    }
    shown
}

fn health(now_ms: Millis) -> WebResponse {
    WebResponse::json(
        200,
        &json!({
            "status": "ok",
            "service": "create-db",
            "version": env!("CARGO_PKG_VERSION"),
            "timestamp": format_iso8601(now_ms),
        }),
    )
}

fn preflight() -> WebResponse {
    WebResponse::empty(204)
        .with_header("access-control-allow-methods", "GET, POST, OPTIONS")
        .with_header("access-control-allow-headers", "content-type")
        .with_header("access-control-max-age", "86400")
}

fn with_common_headers(response: WebResponse, request_id: &RequestId) -> WebResponse {
    response
        .with_header("access-control-allow-origin", "*")
        .with_header("access-control-expose-headers", "retry-after, x-request-id")
        .with_header("x-request-id", request_id.as_str())
        .with_header("x-content-type-options", "nosniff")
        .with_header("cache-control", "no-store")
}
