//! Adapters from the shared traits to the Workers runtime: Workers KV as a
//! `KeyValueStore`, `fetch` with a deadline as an `HttpClient`, the Worker's `Env` as a
//! `ConfigSource`, and conversions between `worker::Request`/`Response` and the plain
//! `WebRequest`/`WebResponse`. Compiled only for wasm32; the end-to-end tests under
//! workerd are what exercise it.

use crate::config::ConfigSource;
use crate::http::{HttpClient, HttpError, HttpRequest, HttpResponse, Method};
use crate::log::LogLine;
use crate::secret::Secret;
use crate::store::{KeyPage, KeyValueStore, StoreError};
use crate::web::{WebRequest, WebResponse, MAX_BODY_BYTES};
use futures::future::{select, Either};
use std::time::Duration;
use worker::{AbortController, Delay, Env, Fetch, Headers, Request, RequestInit, Response};

/// Default deadline for one upstream call (`UPSTREAM_TIMEOUT_MS`).
pub const DEFAULT_UPSTREAM_TIMEOUT_MS: u64 = 10_000;

/// Workers KV as a `KeyValueStore`.
pub struct WorkersKv(pub worker::kv::KvStore);

impl KeyValueStore for WorkersKv {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.0.get(key).text().await.map_err(|error| StoreError(error.to_string()))
    }

    async fn put(&self, key: &str, value: &str, expiration_ttl_secs: Option<u64>) -> Result<(), StoreError> {
        let mut builder = self.0.put(key, value).map_err(|error| StoreError(error.to_string()))?;
        if let Some(seconds) = expiration_ttl_secs {
            builder = builder.expiration_ttl(seconds);
        }
        builder.execute().await.map_err(|error| StoreError(error.to_string()))
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.0.delete(key).await.map_err(|error| StoreError(error.to_string()))
    }

    async fn list(&self, prefix: &str, cursor: Option<&str>, limit: usize) -> Result<KeyPage, StoreError> {
        let mut builder = self.0.list().prefix(prefix.to_owned()).limit(limit as u64);
        if let Some(cursor) = cursor {
            builder = builder.cursor(cursor.to_owned());
        }
        let page = builder.execute().await.map_err(|error| StoreError(error.to_string()))?;
        let cursor = if page.list_complete { None } else { page.cursor.filter(|cursor| !cursor.is_empty()) };
        Ok(KeyPage { keys: page.keys.into_iter().map(|key| key.name).collect(), cursor })
    }
}

/// `fetch` with a deadline: a request still unanswered after `timeout_ms` is aborted
/// and reported as `HttpError::Timeout`.
pub struct WorkersFetch {
    pub timeout_ms: u64,
}

impl WorkersFetch {
    /// Reads `UPSTREAM_TIMEOUT_MS` from `config`, falling back to the default for an unset
    /// or invalid value.
    pub fn from_config(config: &impl ConfigSource) -> Self {
        let timeout_ms = config
            .var("UPSTREAM_TIMEOUT_MS")
            .and_then(|text| text.trim().parse().ok())
            .filter(|millis| *millis > 0)
            .unwrap_or(DEFAULT_UPSTREAM_TIMEOUT_MS);
        WorkersFetch { timeout_ms }
    }
}

impl HttpClient for WorkersFetch {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let network = |error: worker::Error| HttpError::Network(error.to_string());

        let headers = Headers::new();
        for (name, value) in &request.headers {
            headers.set(name, value).map_err(network)?;
        }
        let mut init = RequestInit::new();
        init.with_method(match request.method {
            Method::Get => worker::Method::Get,
            Method::Post => worker::Method::Post,
            Method::Delete => worker::Method::Delete,
        });
        init.with_headers(headers);
        if let Some(body) = &request.body {
            init.with_body(Some(worker::js_sys::Uint8Array::from(body.as_slice()).into()));
        }
        let outgoing = Request::new_with_init(&request.url, &init).map_err(network)?;

        let controller = AbortController::default();
        let signal = controller.signal();
        let exchange = async {
            let fetch = Fetch::Request(outgoing);
            let mut response = fetch.send_with_signal(&signal).await?;
            let status = response.status_code();
            let headers = response.headers().entries().collect();
            let body = response.bytes().await?;
            Ok::<_, worker::Error>(HttpResponse { status, headers, body })
        };
        let deadline = Delay::from(Duration::from_millis(self.timeout_ms));
        futures::pin_mut!(exchange);
        match select(exchange, deadline).await {
            Either::Left((result, _)) => result.map_err(network),
            Either::Right(((), _)) => {
                controller.abort();
                Err(HttpError::Timeout)
            }
        }
    }
}

/// The Worker's `Env` as a `ConfigSource`.
pub struct WorkersEnv<'a>(pub &'a Env);

impl ConfigSource for WorkersEnv<'_> {
    fn var(&self, name: &str) -> Option<String> {
        self.0.var(name).ok().map(|value| value.to_string())
    }

    fn secret(&self, name: &str) -> Option<Secret> {
        self.0
            .secret(name)
            .ok()
            .map(|value| Secret::new(value.to_string()))
            .or_else(|| self.var(name).map(Secret::new))
    }
}

/// Reads an incoming request into a `WebRequest`. A body declared larger than
/// `MAX_BODY_BYTES` is not read at all. A body without a declared length is read and then
/// checked, because the runtime offers no cheaper way to stop a chunked upload.
pub async fn read_request(request: &mut Request) -> worker::Result<WebRequest> {
    // The query is cut from the raw URL rather than through `Request::url()`, whose URL
    // parser brings Unicode host tables that would make up a tenth of the bundle.
    let raw_url = request.inner().url();
    let query = raw_url.split_once('?').map(|(_, rest)| rest.split('#').next().unwrap_or_default()).unwrap_or_default();
    let headers: Vec<(String, String)> = request
        .headers()
        .entries()
        .map(|(name, value)| (name.to_ascii_lowercase(), value))
        .collect();
    let declared_length = headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .and_then(|(_, value)| value.trim().parse::<usize>().ok());

    let method = request.method().to_string().to_ascii_uppercase();
    let body = match declared_length {
        Some(length) if length > MAX_BODY_BYTES => vec![0; MAX_BODY_BYTES + 1],
        _ if method == "GET" || method == "HEAD" => Vec::new(),
        _ => request.bytes().await.unwrap_or_default(),
    };
    Ok(WebRequest {
        method,
        path: request.path(),
        query: query.to_owned(),
        headers,
        body,
    })
}

/// Converts a `WebResponse` into the runtime's response.
pub fn write_response(response: WebResponse) -> worker::Result<Response> {
    let headers = Headers::new();
    for (name, value) in &response.headers {
        headers.set(name, value)?;
    }
    let body = if response.body.is_empty() { None } else { Some(response.body) };
    let built = match body {
        Some(bytes) => Response::from_bytes(bytes)?,
        None => Response::empty()?,
    };
    Ok(built.with_status(response.status).with_headers(headers))
}

/// Prints a log line through the runtime's console.
pub fn log(line: &str) {
    worker::console_log!("{line}");
}

/// Returns the current time in milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    worker::Date::now().as_millis()
}

/// The Workers Rate Limiting binding as a `RateLimiter`; a missing binding fails every call.
pub struct WorkersRateLimiter(pub Option<worker::RateLimiter>);

impl WorkersRateLimiter {
    pub fn from_env(env: &Env, binding: &str) -> Self {
        WorkersRateLimiter(env.rate_limiter(binding).ok())
    }
}

impl crate::ratelimit::RateLimiter for WorkersRateLimiter {
    async fn allow(&self, key: &str) -> Result<bool, crate::ratelimit::RateLimitError> {
        let Some(limiter) = &self.0 else {
            return Err(crate::ratelimit::RateLimitError("the rate limiting binding is missing".to_owned()));
        };
        limiter
            .limit(key.to_owned())
            .await
            .map(|outcome| outcome.success)
            .map_err(|error| crate::ratelimit::RateLimitError(error.to_string()))
    }
}

thread_local! {
    /// Configuration errors this isolate has printed; each is logged once per isolate.
    static LOGGED_CONFIG_ERRORS: std::cell::RefCell<std::collections::HashSet<String>> =
        std::cell::RefCell::new(std::collections::HashSet::new());
}

/// Finishes a request in either worker: prints the outcome's log lines (each distinct
/// configuration error once per isolate), sends its background requests with
/// `waitUntil`, logs one `request` line and converts the response. The request line has
/// the path only, because a query can contain an authorization code and state.
pub fn deliver(
    outcome: crate::web::Outcome,
    request: &WebRequest,
    request_id: &crate::RequestId,
    started_ms: u64,
    config: &impl ConfigSource,
    context: &worker::Context,
) -> worker::Result<Response> {
    for line in &outcome.logs {
        let first_time = !line.starts_with(r#"{"event":"configuration_error""#)
            || LOGGED_CONFIG_ERRORS.with(|logged| logged.borrow_mut().insert(line.clone()));
        if first_time {
            log(line);
        }
    }
    for background in outcome.background {
        let http = WorkersFetch::from_config(config);
        context.wait_until(async move {
            if let Err(error) = http.send(background).await {
                log(&LogLine::new("background_request_failed").field("reason", error.to_string()).to_string());
            }
        });
    }
    log(&LogLine::new("request")
        .field("request_id", request_id.as_str())
        .field("method", request.method.as_str())
        .field("path", request.path.as_str())
        .field("status", outcome.response.status)
        .field("duration_ms", now_ms().saturating_sub(started_ms))
        .to_string());
    write_response(outcome.response)
}
