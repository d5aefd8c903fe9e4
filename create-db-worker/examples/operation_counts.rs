//! KV reads, writes, deletes and lists, and upstream calls, of one request to each
//! create-db-worker route that touches them, counted natively with the in-memory store
//! and a scripted Management API. The figures are call counts, so they do not depend on
//! the machine. Run it with `cargo xtask bench`, or directly with
//! `cargo run -p create-db-worker --example operation_counts -- [--json PATH]`.

use create_db_worker::regions::RegionCache;
use create_db_worker::{handle, Context};
use futures::executor::block_on;
use serde_json::{json, Value};
use shared::config::MapConfig;
use shared::http::{HttpRequest, HttpResponse, Method, ScriptedHttp};
use shared::ratelimit::MemoryRateLimiter;
use shared::store::{ManualClock, MemoryStore};
use shared::web::WebRequest;
use shared::RequestId;
use std::process::ExitCode;

const NOW: u64 = 1_796_412_903_123;

fn platform() -> ScriptedHttp {
    ScriptedHttp::new(|request: &HttpRequest| match request.method {
        Method::Get => Ok(HttpResponse::json(200, &json!({"data": [{"id": "us-east-1", "status": "available"}]}))),
        Method::Post => Ok(HttpResponse::json(201, &json!({"data": {"id": "proj_counted0001", "database": {}}}))),
        Method::Delete => Ok(HttpResponse::new(204, "")),
    })
}

/// Sends `requests` in order and returns the counts of the last one.
fn count(requests: &[WebRequest]) -> Value {
    let store = MemoryStore::new(ManualClock::new(NOW));
    let http = platform();
    let config = MapConfig::new(&[
        ("INTEGRATION_TOKEN", "counted"),
        ("PRISMA_API_URL", "http://127.0.0.1:9"),
        ("CLAIM_PUBLIC_URL", "http://127.0.0.1:8788"),
    ]);
    let regions = RegionCache::default();
    let limiter = MemoryRateLimiter::new(u32::MAX);
    let context = |request_id| Context {
        store: &store,
        http: &http,
        config: &config,
        regions: &regions,
        general_limiter: &limiter,
        programmatic_limiter: &limiter,
        now_ms: NOW,
        request_id,
    };

    let Some((last, warm_up)) = requests.split_last() else {
        return Value::Null;
    };
    for request in warm_up {
        block_on(handle(&context(RequestId::generate()), request));
    }
    store.reset_counts();
    let sent_before = http.sent().len();
    let outcome = block_on(handle(&context(RequestId::generate()), last));
    let counts = store.counts();
    json!({
        "status": outcome.response.status,
        "kv_reads": counts.gets,
        "kv_writes": counts.puts,
        "kv_deletes": counts.deletes,
        "kv_lists": counts.lists,
        "upstream_calls": http.sent().len() - sent_before,
    })
}

fn main() -> ExitCode {
    let create = WebRequest::new("POST", "/create").with_json(&json!({"region": "us-east-1", "name": "counted"}));
    let regions = WebRequest::new("GET", "/regions");
    let status = WebRequest::new("GET", "/projects/proj_counted0001");

    let report = json!({
        "create, region list cached": count(&[regions.clone(), create.clone()]),
        "create, region list not cached": count(std::slice::from_ref(&create)),
        "regions, within the cache window": count(&[regions.clone(), regions.clone()]),
        "project status": count(&[create, status]),
    });

    println!("{:<34} {:>6} {:>8} {:>9} {:>10} {:>8} {:>9}", "operation", "status", "KV reads", "KV writes", "KV deletes", "KV lists", "upstream");
    if let Some(rows) = report.as_object() {
        for (name, row) in rows {
            println!(
                "{name:<34} {:>6} {:>8} {:>9} {:>10} {:>8} {:>9}",
                row["status"].to_string(),
                row["kv_reads"].to_string(),
                row["kv_writes"].to_string(),
                row["kv_deletes"].to_string(),
                row["kv_lists"].to_string(),
                row["upstream_calls"].to_string()
            );
        }
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
