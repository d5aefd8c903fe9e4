//! The Workers entry point of claim-db-worker: converts the request, calls
//! `pages::handle`, logs one JSON line, and returns the response.

use shared::log::LogLine;
use shared::workers;
use shared::RequestId;
use worker::{event, Env, Request, Response};

#[event(fetch)]
async fn fetch(mut request: Request, _env: Env, _context: worker::Context) -> worker::Result<Response> {
    console_error_panic_hook::set_once();
    let started = workers::now_ms();
    let request_id = RequestId::generate();
    let web_request = workers::read_request(&mut request).await?;

    let response = crate::pages::handle(&web_request, started).with_header("x-request-id", request_id.as_str());

    workers::log(
        &LogLine::new("request")
            .field("request_id", request_id.as_str())
            .field("method", web_request.method.as_str())
            .field("path", web_request.path.as_str())
            .field("status", response.status)
            .field("duration_ms", workers::now_ms().saturating_sub(started))
            .to_string(),
    );
    workers::write_response(response)
}
