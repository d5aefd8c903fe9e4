//! The Workers entry point of claim-db-worker: converts the runtime's request, calls
//! `app::handle` with KV, fetch and the environment, sends analytics with `waitUntil`,
//! prints the log lines, and returns the response. No rules live here.

use crate::app::{self, handle, Context};
use crate::config::auth_origin;
use crate::error::Error;
use shared::log::LogLine;
use shared::workers::{self, WorkersEnv, WorkersFetch, WorkersKv, WorkersRateLimiter};
use shared::RequestId;
use std::cell::RefCell;
use std::collections::HashSet;
use worker::{event, Env, Request, Response};

thread_local! {
    /// Configuration errors already printed by this isolate; each is logged once.
    static LOGGED_CONFIG_ERRORS: RefCell<HashSet<String>> = RefCell::new(HashSet::new());
}

#[event(fetch)]
async fn fetch(mut request: Request, env: Env, context: worker::Context) -> worker::Result<Response> {
    console_error_panic_hook::set_once();
    let started = workers::now_ms();
    let request_id = RequestId::generate();
    let web_request = workers::read_request(&mut request).await?;

    let config = WorkersEnv(&env);
    let http = WorkersFetch::from_config(&config);
    let store = match env.kv("STATE") {
        Ok(kv) => WorkersKv(kv),
        Err(_) => return missing_kv_binding(&request_id, &config),
    };

    let limiter = WorkersRateLimiter::from_env(&env, "CLAIM_LIMITER");
    let app_context = Context { store: &store, http: &http, config: &config, limiter: &limiter, now_ms: started, request_id };
    let outcome = handle(&app_context, &web_request).await;

    for line in &outcome.logs {
        let first_time = !line.starts_with(r#"{"event":"configuration_error""#)
            || LOGGED_CONFIG_ERRORS.with(|logged| logged.borrow_mut().insert(line.clone()));
        if first_time {
            workers::log(line);
        }
    }
    for background in outcome.background {
        let http = WorkersFetch::from_config(&config);
        context.wait_until(async move {
            if let Err(error) = shared::http::HttpClient::send(&http, background).await {
                workers::log(&LogLine::new("analytics_forward_failed").field("reason", error.to_string()).to_string());
            }
        });
    }
    // The path only: the query of a callback contains the authorization code and state.
    workers::log(
        &LogLine::new("request")
            .field("request_id", app_context.request_id.as_str())
            .field("method", web_request.method.as_str())
            .field("path", web_request.path.as_str())
            .field("status", outcome.response.status)
            .field("duration_ms", workers::now_ms().saturating_sub(started))
            .to_string(),
    );
    workers::write_response(outcome.response)
}

fn missing_kv_binding(request_id: &RequestId, config: &WorkersEnv) -> worker::Result<Response> {
    let error = Error::Config { name: "STATE", reason: "is not bound to a KV namespace".to_owned() };
    workers::log(&LogLine::new("configuration_error").field("message", error.message()).to_string());
    let response = app::error_response(request_id, &error);
    workers::write_response(app::with_security_headers(response, request_id, auth_origin(config).as_deref()))
}
