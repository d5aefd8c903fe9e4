//! The Workers entry points of create-db-worker: convert the runtime's request, call
//! `app::handle` with KV, fetch, the rate limiters and the environment, and hand the
//! outcome to `shared::workers::deliver`. They also run the cron jobs. No rules live here.

use crate::app::{handle, Context};
use crate::regions::RegionCache;
use shared::log::LogLine;
use shared::workers::{self, WorkersEnv, WorkersFetch, WorkersKv, WorkersRateLimiter};
use shared::RequestId;
use worker::{event, Env, Request, Response};

thread_local! {
    /// Lives as long as the isolate, so the region list is fetched once per cache window.
    static REGIONS: RegionCache = RegionCache::default();
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
        Err(_) => return missing_kv_binding(&request_id),
    };

    let regions = REGIONS.with(RegionCache::clone);
    let general_limiter = WorkersRateLimiter::from_env(&env, "GENERAL_LIMITER");
    let programmatic_limiter = WorkersRateLimiter::from_env(&env, "PROGRAMMATIC_LIMITER");
    let app_context = Context {
        store: &store,
        http: &http,
        config: &config,
        regions: &regions,
        general_limiter: &general_limiter,
        programmatic_limiter: &programmatic_limiter,
        now_ms: started,
        request_id,
    };
    let outcome = handle(&app_context, &web_request).await;
    workers::deliver(outcome, &web_request, &app_context.request_id, started, &config, &context)
}

fn missing_kv_binding(request_id: &RequestId) -> worker::Result<Response> {
    let error = shared::Error::Config { name: "STATE", reason: "is not bound to a KV namespace".to_owned() };
    workers::log(&LogLine::new("configuration_error").field("message", error.to_string()).to_string());
    workers::write_response(shared::web::WebResponse::json_error(&error, request_id))
}

/// Runs the job of the cron trigger that fired (see `scheduled::ScheduledJob`) and prints
/// its log lines, the run summary last.
#[event(scheduled)]
async fn scheduled(event: worker::ScheduledEvent, env: Env, _context: worker::ScheduleContext) {
    console_error_panic_hook::set_once();
    let config = WorkersEnv(&env);
    let http = WorkersFetch::from_config(&config);
    let store = match env.kv("STATE") {
        Ok(kv) => WorkersKv(kv),
        Err(_) => {
            let error = shared::Error::Config { name: "STATE", reason: "is not bound to a KV namespace".to_owned() };
            workers::log(&LogLine::new("configuration_error").field("message", error.to_string()).to_string());
            return;
        }
    };

    let lines = crate::scheduled::run_scheduled(&event.cron(), &store, &http, &config, &workers::now_ms).await;
    for line in &lines {
        workers::log(line);
    }
}
