//! KV reads, writes, deletes and lists, and upstream calls, of each step of one claim
//! (claim page, claim start, callback), counted natively with the in-memory store and a
//! scripted Prisma. The figures are call counts, so they do not depend on the machine.
//! Run it with `cargo xtask bench`, or directly with
//! `cargo run -p claim-db-worker --example operation_counts -- [--json PATH]`.

use claim_db_worker::{handle, Context};
use futures::executor::block_on;
use serde_json::{json, Value};
use shared::config::MapConfig;
use shared::http::{HttpRequest, HttpResponse, Method, ScriptedHttp};
use shared::ratelimit::MemoryRateLimiter;
use shared::record::{expiry_key, save_record, ProjectRecord, ProjectStatus};
use shared::store::{KeyValueStore, ManualClock, MemoryStore};
use shared::time::HOUR_MS;
use shared::web::{WebRequest, WebResponse};
use shared::{ProjectId, RequestId};
use std::process::ExitCode;

const NOW: u64 = 1_796_412_903_123;
const PROJECT_ID: &str = "proj_counted0001";

fn prisma() -> ScriptedHttp {
    ScriptedHttp::new(|request: &HttpRequest| match (request.method, request.url.as_str()) {
        (Method::Post, url) if url.ends_with("/token") => {
            Ok(HttpResponse::json(200, &json!({"access_token": "counted", "token_type": "Bearer", "expires_in": 3600})))
        }
        (Method::Post, _) => Ok(HttpResponse::new(204, "")),
        (Method::Get, url) if url.ends_with("/databases") => Ok(HttpResponse::json(200, &json!({"data": [{"id": "db_counted1"}]}))),
        _ => Ok(HttpResponse::json(200, &json!({"data": {"id": PROJECT_ID, "workspace": {"id": "wksp_counted1"}}}))),
    })
}

struct Counter {
    store: MemoryStore,
    http: ScriptedHttp,
    config: MapConfig,
    limiter: MemoryRateLimiter,
}

impl Counter {
    /// Sends `request` and returns its response with the calls it made.
    fn count(&self, request: WebRequest) -> (WebResponse, Value) {
        self.store.reset_counts();
        let sent_before = self.http.sent().len();
        let context = Context {
            store: &self.store,
            http: &self.http,
            config: &self.config,
            limiter: &self.limiter,
            now_ms: NOW,
            request_id: RequestId::generate(),
        };
        let outcome = block_on(handle(&context, &request));
        let counts = self.store.counts();
        let figures = json!({
            "status": outcome.response.status,
            "kv_reads": counts.gets,
            "kv_writes": counts.puts,
            "kv_deletes": counts.deletes,
            "kv_lists": counts.lists,
            "upstream_calls": self.http.sent().len() - sent_before,
        });
        (outcome.response, figures)
    }
}

fn main() -> ExitCode {
    let counter = Counter {
        store: MemoryStore::new(ManualClock::new(NOW)),
        http: prisma(),
        config: MapConfig::new(&[
            ("INTEGRATION_TOKEN", "counted"),
            ("CLIENT_ID", "counted"),
            ("CLIENT_SECRET", "counted"),
            ("CLAIM_PUBLIC_URL", "http://127.0.0.1:8788"),
            ("PRISMA_API_URL", "http://127.0.0.1:9"),
            ("PRISMA_AUTH_URL", "http://127.0.0.1:9"),
        ]),
        limiter: MemoryRateLimiter::new(u32::MAX),
    };
    let Ok(project_id) = ProjectId::parse(PROJECT_ID) else {
        return ExitCode::FAILURE;
    };
    let expires_at = NOW + HOUR_MS;
    let record = ProjectRecord {
        project_id: PROJECT_ID.to_owned(),
        region: "us-east-1".to_owned(),
        created_at: NOW,
        expires_at,
        status: ProjectStatus::Unclaimed,
        delete_attempts: 0,
    };
    let seeded = block_on(save_record(&counter.store, &project_id, &record, NOW))
        .and_then(|()| block_on(counter.store.put(&expiry_key(expires_at, &project_id), "", None)));
    if seeded.is_err() {
        return ExitCode::FAILURE;
    }

    let (_, page) = counter.count(WebRequest::new("GET", &format!("/claim?projectID={PROJECT_ID}")));
    let (started, start) = counter.count(
        WebRequest::new("POST", "/claim/start")
            .with_header("content-type", "application/x-www-form-urlencoded")
            .with_header("sec-fetch-site", "same-origin")
            .with_body(format!("projectID={PROJECT_ID}")),
    );
    let state = started
        .header("location")
        .and_then(|location| location.split_once('?'))
        .and_then(|(_, query)| query.split('&').find_map(|pair| pair.strip_prefix("state=")))
        .unwrap_or_default()
        .to_owned();
    let cookie = started.header("set-cookie").and_then(|value| value.split(';').next()).unwrap_or_default().to_owned();
    let (_, callback) = counter
        .count(WebRequest::new("GET", &format!("/auth/callback?code=counted&state={state}")).with_header("cookie", &cookie));

    let report = json!({ "claim page": page, "claim start": start, "callback": callback });
    println!("{:<34} {:>6} {:>8} {:>9} {:>10} {:>8} {:>9}", "operation", "status", "KV reads", "KV writes", "KV deletes", "KV lists", "upstream");
    for (name, row) in [("claim page", &page), ("claim start", &start), ("callback", &callback)] {
        let cell = |field: &str| row[field].to_string();
        println!(
            "{name:<34} {:>6} {:>8} {:>9} {:>10} {:>8} {:>9}",
            cell("status"),
            cell("kv_reads"),
            cell("kv_writes"),
            cell("kv_deletes"),
            cell("kv_lists"),
            cell("upstream_calls")
        );
    }

    let arguments: Vec<String> = std::env::args().collect();
    if let Some(path) = arguments.iter().position(|argument| argument == "--json").and_then(|index| arguments.get(index + 1)) {
        if let Some(parent) = std::path::Path::new(path).parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        if let Err(error) = std::fs::write(path, report.to_string()) {
            eprintln!("cannot write {path}: {error}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
