//! The Workers entry point of claim-db-worker: converts the runtime's request, calls
//! `app::handle` with KV, fetch, the rate limiter and the environment, and hands the
//! outcome to `shared::workers::deliver`. No rules live here.

use crate::app::{self, handle, Context};
use crate::config::auth_origin;
use crate::error::Error;
use shared::log::LogLine;
use shared::workers::{self, WorkersEnv, WorkersFetch, WorkersKv, WorkersRateLimiter};
use shared::RequestId;
use worker::{event, Env, Request, Response};

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
    workers::deliver(outcome, &web_request, &app_context.request_id, started, &config, &context)
}

fn missing_kv_binding(request_id: &RequestId, config: &WorkersEnv) -> worker::Result<Response> {
    let error = Error::Config { name: "STATE", reason: "is not bound to a KV namespace".to_owned() };
    workers::log(&LogLine::new("configuration_error").field("message", error.message()).to_string());
    let response = app::error_response(request_id, &error);
    workers::write_response(app::with_security_headers(response, request_id, auth_origin(config).as_deref()))
}
