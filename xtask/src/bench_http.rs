//! The HTTP half of `cargo xtask bench`: builds both workers as `wrangler deploy` does,
//! measures their upload size, starts the platform and both workers in workerd, and times
//! each route sequentially and at 16 concurrent requests, with the platform responding
//! after 0 ms and 20 ms. Next to each route it times the same upstream call made directly
//! to the platform, so the difference is what the worker adds. Upstream calls per request
//! come from the platform's own request counts.

use crate::process::{free_port, run};
use crate::stack::{self, Stack, StackSettings, LOCAL_INTEGRATION_TOKEN};
use crate::tools::node_bin;
use crate::{build, root, Result, WORKERS};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const SEQUENTIAL_REQUESTS: usize = 300;
const CONCURRENCY: usize = 16;
const CONCURRENT_REQUESTS: usize = 1_600;
const PLATFORM_DELAYS_MS: [u64; 2] = [0, 20];

/// One request of a benchmark run; `index` makes each one distinct where needed.
#[derive(Clone)]
enum Call {
    Get { url: String, headers: Vec<(String, String)> },
    Post { url: String, headers: Vec<(String, String)>, body: String },
}

/// Latencies and outcome counts of one run.
struct Run {
    latencies: Vec<Duration>,
    wall: Duration,
    statuses: BTreeMap<u16, usize>,
    transport_errors: usize,
}

impl Run {
    fn percentile_ms(&self, percentile: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let mut sorted = self.latencies.clone();
        sorted.sort();
        let rank = ((percentile / 100.0) * sorted.len() as f64).ceil() as usize;
        sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1_000.0
    }

    fn throughput(&self) -> f64 {
        self.latencies.len() as f64 / self.wall.as_secs_f64()
    }

    fn summary(&self) -> Value {
        json!({
            "requests": self.latencies.len(),
            "p50_ms": round(self.percentile_ms(50.0)),
            "p99_ms": round(self.percentile_ms(99.0)),
            "throughput_rps": round(self.throughput()),
            "statuses": self.statuses,
            "transport_errors": self.transport_errors,
        })
    }
}

fn round(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

fn send(agent: &ureq::Agent, call: &Call) -> std::result::Result<u16, ureq::Error> {
    let response = match call {
        Call::Get { url, headers } => {
            let mut request = agent.get(url);
            for (name, value) in headers {
                request = request.header(name, value);
            }
            request.call()?
        }
        Call::Post { url, headers, body } => {
            let mut request = agent.post(url).header("content-type", "application/json");
            for (name, value) in headers {
                request = request.header(name, value);
            }
            request.send(body.as_str())?
        }
    };
    let status = response.status().as_u16();
    // Read the whole body so the connection can be reused.
    let _ = response.into_body().read_to_vec();
    Ok(status)
}

/// Sends `count` requests made by `make`, `concurrency` at a time, each worker thread with
/// its own keep-alive connection.
fn measure(count: usize, concurrency: usize, make: &(dyn Fn(usize) -> Call + Sync)) -> Run {
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    let results: Vec<(Vec<Duration>, BTreeMap<u16, usize>, usize)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..concurrency)
            .map(|_| {
                scope.spawn(|| {
                    let agent = agent();
                    let mut latencies = Vec::new();
                    let mut statuses = BTreeMap::new();
                    let mut errors = 0;
                    loop {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        if index >= count {
                            break;
                        }
                        let call = make(index);
                        let sent = Instant::now();
                        match send(&agent, &call) {
                            Ok(status) => {
                                latencies.push(sent.elapsed());
                                *statuses.entry(status).or_insert(0) += 1;
                            }
                            Err(_) => errors += 1,
                        }
                    }
                    (latencies, statuses, errors)
                })
            })
            .collect();
        handles.into_iter().filter_map(|handle| handle.join().ok()).collect()
    });
    let wall = started.elapsed();

    let mut run = Run { latencies: Vec::new(), wall, statuses: BTreeMap::new(), transport_errors: 0 };
    for (latencies, statuses, errors) in results {
        run.latencies.extend(latencies);
        for (status, count) in statuses {
            *run.statuses.entry(status).or_insert(0) += count;
        }
        run.transport_errors += errors;
    }
    run
}

/// Returns a documentation-range client address (RFC 5737) per request, so the rate limiter,
/// which counts per address, does not turn the benchmark into a 429 benchmark. These
/// only go into a header; nothing is sent to them.
fn client_address(index: usize) -> String {
    let block = ["192.0.2", "198.51.100", "203.0.113"][index / 250 % 3];
    format!("{block}.{}", index % 250 + 1)
}

fn bearer() -> Vec<(String, String)> {
    vec![("authorization".to_owned(), format!("Bearer {LOCAL_INTEGRATION_TOKEN}"))]
}

/// Returns the platform's request count for each route.
fn platform_counts(stack: &Stack) -> Result<BTreeMap<String, u64>> {
    let agent = agent();
    let mut response = agent
        .get(format!("{}/_emulator/state", stack.platform_url))
        .call()
        .map_err(|error| format!("cannot read the platform state: {error}"))?;
    let state: Value = serde_json::from_slice(&response.body_mut().read_to_vec().map_err(|error| error.to_string())?)
        .map_err(|error| format!("platform state is not JSON: {error}"))?;
    let mut counts = BTreeMap::new();
    if let Some(requests) = state["requests"].as_object() {
        for (route, count) in requests {
            counts.insert(route.clone(), count.as_u64().unwrap_or(0));
        }
    }
    Ok(counts)
}

fn upstream_calls(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>, excluded: &[&str]) -> u64 {
    after
        .iter()
        .filter(|(route, _)| !excluded.contains(&route.as_str()))
        .map(|(route, count)| count - before.get(route).copied().unwrap_or(0))
        .sum()
}

fn set_platform_delay(stack: &Stack, delay_ms: u64) -> Result {
    let agent = agent();
    let _ = agent.delete(format!("{}/_emulator/faults", stack.platform_url)).call();
    if delay_ms == 0 {
        return Ok(());
    }
    let fault = json!({"method": "*", "path": "/v1/", "delay_ms": delay_ms, "times": 1_000_000});
    let response = agent
        .post(format!("{}/_emulator/faults", stack.platform_url))
        .header("content-type", "application/json")
        .send(fault.to_string().as_str())
        .map_err(|error| format!("cannot set the platform delay: {error}"))?;
    if response.status().as_u16() != 201 {
        return Err(format!("the platform refused the delay fault with {}", response.status()));
    }
    Ok(())
}

/// Bundle sizes as `wrangler deploy --dry-run` writes them: raw and gzip, in bytes.
fn bundle_sizes() -> Result<Value> {
    let mut sizes = serde_json::Map::new();
    for worker in WORKERS {
        let out_dir = root().join("target/bench/dry-run").join(worker);
        let _ = std::fs::remove_dir_all(&out_dir);
        run(Command::new(node_bin("wrangler"))
            // `--env=` names the top-level configuration, as `wrangler deploy` uploads it.
            .args(["deploy", "--dry-run", "--env=", "--outdir"])
            .arg(&out_dir)
            .current_dir(root().join(worker))
            .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
            .env("WRANGLER_SEND_METRICS", "false")
            .env(build::SKIP_BUILD_VARIABLE, "1"))?;
        let (mut raw, mut gzip) = (0u64, 0u64);
        let entries = std::fs::read_dir(&out_dir).map_err(|error| format!("cannot read {}: {error}", out_dir.display()))?;
        for entry in entries.flatten() {
            let path = entry.path();
            let uploaded = path.extension().is_some_and(|extension| extension == "js" || extension == "wasm");
            if !uploaded {
                continue;
            }
            raw += entry.metadata().map(|metadata| metadata.len()).unwrap_or(0);
            let compressed = Command::new("gzip")
                .args(["-9", "-c"])
                .arg(&path)
                .output()
                .map_err(|error| format!("cannot run gzip: {error}"))?;
            gzip += compressed.stdout.len() as u64;
        }
        sizes.insert(worker.to_owned(), json!({"raw_bytes": raw, "gzip_bytes": gzip}));
    }
    Ok(Value::Object(sizes))
}

/// Creates one project through the worker and returns its id, for the claim page.
fn create_one(stack: &Stack) -> Result<String> {
    let agent = agent();
    let mut response = agent
        .post(format!("{}/create", stack.create_db_url))
        .header("content-type", "application/json")
        .send(r#"{"region":"us-east-1","name":"bench-claim-page"}"#)
        .map_err(|error| format!("create for the claim page failed: {error}"))?;
    let body: Value = serde_json::from_slice(&response.body_mut().read_to_vec().map_err(|error| error.to_string())?)
        .map_err(|error| format!("the create response is not JSON: {error}"))?;
    body["data"]["id"].as_str().map(str::to_owned).ok_or_else(|| format!("the create response has no project id: {body}"))
}

/// Runs a claim over HTTP up to Prisma Auth's redirect and returns the callback request
/// the browser would send, cookie included. Only the callback itself is timed.
fn prepare_callback(stack_urls: &(String, String, String), index: usize) -> Call {
    let (create_db_url, claim_db_url, platform_url) = stack_urls;
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .new_agent();
    let address = client_address(index + 500);
    let failed = || Call::Get { url: format!("{claim_db_url}/auth/callback"), headers: Vec::new() };

    let Ok(mut created) = agent
        .post(format!("{create_db_url}/create"))
        .header("content-type", "application/json")
        .header("cf-connecting-ip", &address)
        .send(r#"{"region":"us-east-1","name":"bench-callback"}"#)
    else {
        return failed();
    };
    let body: Value = created
        .body_mut()
        .read_to_vec()
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or(Value::Null);
    let Some(project_id) = body["data"]["id"].as_str() else {
        return failed();
    };
    let Ok(started) = agent
        .post(format!("{claim_db_url}/claim/start"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("sec-fetch-site", "same-origin")
        .header("cf-connecting-ip", &address)
        .send(format!("projectID={project_id}").as_str())
    else {
        return failed();
    };
    let header = |response: &ureq::http::Response<ureq::Body>, name: &str| {
        response.headers().get(name).and_then(|value| value.to_str().ok()).unwrap_or_default().to_owned()
    };
    let cookie = header(&started, "set-cookie").split(';').next().unwrap_or_default().to_owned();
    let authorize = header(&started, "location");
    let query = authorize.split_once('?').map(|(_, query)| query).unwrap_or_default();
    // The first user and workspace offered on the platform's sign-in page.
    let Ok(mut sign_in) = agent.get(&authorize).call() else {
        return failed();
    };
    let page = sign_in.body_mut().read_to_string().unwrap_or_default();
    let first_option = |select: &str| {
        let rest = &page[page.find(&format!("name=\"{select}\""))?..];
        let value = &rest[rest.find("value=\"")? + 7..];
        Some(value[..value.find('"')?].to_owned())
    };
    let (Some(user), Some(workspace)) = (first_option("user"), first_option("workspace")) else {
        return failed();
    };
    let form = format!("{query}&user={user}&workspace={workspace}&decision=authorize");
    let Ok(signed_in) = agent
        .post(format!("{platform_url}/authorize"))
        .header("content-type", "application/x-www-form-urlencoded")
        .send(form.as_str())
    else {
        return failed();
    };
    Call::Get {
        url: header(&signed_in, "location"),
        headers: vec![("cookie".to_owned(), cookie), ("cf-connecting-ip".to_owned(), address)],
    }
}

/// A route under test and, where it makes one, the upstream call it makes.
struct Route {
    name: &'static str,
    worker: Box<dyn Fn(usize) -> Call + Sync>,
    direct: Option<Box<dyn Fn(usize) -> Call + Sync>>,
    /// Fewer requests for routes whose every request needs its own setup.
    requests_divisor: usize,
    /// Platform routes that only the untimed setup calls, left out of the upstream count.
    /// Throughput is not reported for such routes: their wall time includes the setup.
    setup_routes: &'static [&'static str],
}

fn routes(stack: &Stack, claim_project: &str) -> Vec<Route> {
    let create_db = stack.create_db_url.clone();
    let platform = stack.platform_url.clone();
    let claim_page = format!("{}/claim?projectID={claim_project}&utm_source=bench&utm_medium=cli", stack.claim_db_url);
    let create_body = r#"{"region":"us-east-1","name":"bench","source":"cli"}"#;
    let health_url = format!("{create_db}/health");
    let regions_url = format!("{create_db}/regions");
    let create_url = format!("{create_db}/create");
    let direct_regions = format!("{platform}/v1/regions/postgres");
    let direct_create = format!("{platform}/v1/projects");
    let urls = (create_db.clone(), stack.claim_db_url.clone(), platform.clone());
    vec![
        Route {
            name: "/health",
            worker: Box::new(move |index| Call::Get {
                url: health_url.clone(),
                headers: vec![("cf-connecting-ip".to_owned(), client_address(index))],
            }),
            direct: None,
            requests_divisor: 1,
            setup_routes: &[],
        },
        Route {
            name: "/regions",
            worker: Box::new(move |index| Call::Get {
                url: regions_url.clone(),
                headers: vec![("cf-connecting-ip".to_owned(), client_address(index))],
            }),
            direct: Some(Box::new(move |_| Call::Get { url: direct_regions.clone(), headers: bearer() })),
            requests_divisor: 1,
            setup_routes: &[],
        },
        Route {
            name: "/create",
            worker: Box::new(move |index| Call::Post {
                url: create_url.clone(),
                headers: vec![("cf-connecting-ip".to_owned(), client_address(index))],
                body: create_body.to_owned(),
            }),
            direct: Some(Box::new(move |_| Call::Post {
                url: direct_create.clone(),
                headers: bearer(),
                body: r#"{"name":"bench","region":"us-east-1"}"#.to_owned(),
            })),
            requests_divisor: 1,
            setup_routes: &[],
        },
        Route {
            name: "claim page",
            worker: Box::new(move |index| Call::Get {
                url: claim_page.clone(),
                headers: vec![("cf-connecting-ip".to_owned(), client_address(index))],
            }),
            direct: None,
            requests_divisor: 1,
            setup_routes: &[],
        },
        Route {
            name: "callback",
            worker: Box::new(move |index| prepare_callback(&urls, index)),
            direct: None,
            requests_divisor: 10,
            setup_routes: &["POST /v1/projects", "GET /v1/regions/postgres", "GET /authorize", "POST /authorize"],
        },
    ]
}

/// Runs the HTTP benchmark and returns its report.
pub fn run_bench() -> Result<Value> {
    build::build_all()?;
    let sizes = bundle_sizes()?;

    let work_dir = root().join("target/bench");
    let settings = StackSettings {
        platform_port: free_port()?,
        create_db_port: free_port()?,
        claim_db_port: free_port()?,
        state_dir: work_dir.join("state"),
        log_dir: Some(work_dir.join("logs")),
        worker_vars: Vec::new(),
    };
    let mut stack = stack::start(&settings)?;
    let startup: Value = stack
        .startup
        .iter()
        .map(|(worker, elapsed)| (worker.clone(), json!(elapsed.as_millis() as u64)))
        .collect::<serde_json::Map<_, _>>()
        .into();

    // The first request to a just-started worker, then the warm figure for comparison.
    let first_health = measure(1, 1, &|_| Call::Get { url: format!("{}/health", stack.create_db_url), headers: Vec::new() });
    let claim_project = create_one(&stack)?;

    let mut route_reports = Vec::new();
    for delay_ms in PLATFORM_DELAYS_MS {
        set_platform_delay(&stack, delay_ms)?;
        for route in routes(&stack, &claim_project) {
            for (mode, count, concurrency) in [("sequential", SEQUENTIAL_REQUESTS, 1), ("concurrent", CONCURRENT_REQUESTS, CONCURRENCY)] {
                let count = count / route.requests_divisor;
                println!("xtask: bench {} {mode} with the platform delayed {delay_ms} ms", route.name);
                let before = platform_counts(&stack)?;
                let worker = measure(count, concurrency, route.worker.as_ref());
                let after = platform_counts(&stack)?;
                let direct = route.direct.as_ref().map(|make| measure(count, concurrency, make.as_ref()));
                let added_p50 = direct.as_ref().map(|direct| round(worker.percentile_ms(50.0) - direct.percentile_ms(50.0)));
                let added_p99 = direct.as_ref().map(|direct| round(worker.percentile_ms(99.0) - direct.percentile_ms(99.0)));
                route_reports.push(json!({
                    "route": route.name,
                    "mode": mode,
                    "concurrency": concurrency,
                    "platform_delay_ms": delay_ms,
                    "worker": worker.summary(),
                    "direct": direct.as_ref().map(Run::summary),
                    "added_p50_ms": added_p50,
                    "added_p99_ms": added_p99,
                    "upstream_calls_per_request": round(upstream_calls(&before, &after, route.setup_routes) as f64 / count as f64),
                }));
                if !route.setup_routes.is_empty() {
                    if let Some(row) = route_reports.last_mut() {
                        row["worker"]["throughput_rps"] = Value::Null;
                    }
                }
            }
        }
    }
    set_platform_delay(&stack, 0)?;
    let platform_throughput = measure(CONCURRENT_REQUESTS, CONCURRENCY, &|_| Call::Get {
        url: format!("{}/v1/regions/postgres", stack.platform_url),
        headers: bearer(),
    });
    stack.stop();

    Ok(json!({
        "bundle": sizes,
        "startup_ms": startup,
        "first_request_ms": round(first_health.percentile_ms(50.0)),
        "routes": route_reports,
        "platform_regions_throughput_rps": round(platform_throughput.throughput()),
    }))
}

/// Prints the report as tables, with the budgets next to the measured figures.
pub fn print_report(report: &Value) {
    println!();
    println!("bundle size as uploaded (wrangler deploy --dry-run), budget 250 KiB gzip each:");
    for worker in WORKERS {
        let sizes = &report["bundle"][worker];
        let gzip = sizes["gzip_bytes"].as_u64().unwrap_or(0);
        let verdict = if gzip <= 250 * 1024 { "within budget" } else { "OVER BUDGET" };
        println!(
            "  {worker:<18} raw {:>8.1} KiB   gzip {:>7.1} KiB   {verdict}",
            sizes["raw_bytes"].as_u64().unwrap_or(0) as f64 / 1024.0,
            gzip as f64 / 1024.0
        );
    }
    println!();
    println!("start to first response (wrangler dev + workerd):");
    if let Some(startup) = report["startup_ms"].as_object() {
        for (worker, millis) in startup {
            println!("  {worker:<18} {millis} ms");
        }
    }
    println!("  first request after start: {} ms", report["first_request_ms"]);
    println!();
    println!(
        "{:<11} {:<10} {:>5} {:>9} {:>9} {:>9} {:>10} {:>9} {:>9} {:>9} {:>9}",
        "route", "mode", "delay", "p50 ms", "p99 ms", "req/s", "direct p50", "added p50", "added p99", "upstream", "statuses"
    );
    for row in report["routes"].as_array().into_iter().flatten() {
        let statuses = row["worker"]["statuses"].as_object().map(|statuses| {
            statuses.iter().map(|(status, count)| format!("{status}:{count}")).collect::<Vec<_>>().join(",")
        });
        // Strings, because `Value`'s Display ignores the column widths.
        let optional = |value: &Value| if value.is_null() { "-".to_owned() } else { value.to_string() };
        println!(
            "{:<11} {:<10} {:>5} {:>9} {:>9} {:>9} {:>10} {:>9} {:>9} {:>9} {}",
            row["route"].as_str().unwrap_or_default(),
            row["mode"].as_str().unwrap_or_default(),
            optional(&row["platform_delay_ms"]),
            optional(&row["worker"]["p50_ms"]),
            optional(&row["worker"]["p99_ms"]),
            optional(&row["worker"]["throughput_rps"]),
            optional(&row["direct"]["p50_ms"]),
            optional(&row["added_p50_ms"]),
            optional(&row["added_p99_ms"]),
            optional(&row["upstream_calls_per_request"]),
            statuses.unwrap_or_default(),
        );
    }
    println!();
    println!(
        "platform alone (GET /v1/regions/postgres, 16 concurrent): {} req/s",
        report["platform_regions_throughput_rps"]
    );
    println!("budgets: /create added p50 <= 1 ms and p99 <= 5 ms; /create 1 upstream call; cached /regions 0 upstream calls");
}
