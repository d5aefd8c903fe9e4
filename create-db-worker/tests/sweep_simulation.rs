//! Simulations of the lifecycle jobs against `MemoryStore`, `ManualClock` and the
//! in-memory platform of `create_db_worker::sim`. The sweep runs minute by minute over
//! 10,000 scheduled projects with claims and upstream faults; the backstop pages through
//! 2,500 projects. Everything is seeded, so a failure reproduces exactly.
//!
//! "Deleted exactly once" means: for each unclaimed project, exactly one DELETE removed
//! it on the platform, the last DELETE it received succeeded (2xx, or 404 after a lost
//! response), and every DELETE before that one failed. A retry after a failed DELETE is
//! therefore part of one deletion, while a DELETE after a successful one is a defect.

use create_db_worker::backstop::{backstop, BackstopSettings, BackstopStop, MAX_KV_OPERATIONS, MAX_UPSTREAM_CALLS};
use create_db_worker::regions::RegionCache;
use create_db_worker::sim::{
    claim_project, due_key_count, run_sweep, schedule_project, sweep_settings, Prng, SimulatedPlatform, SIM_API_URL,
    SIM_TOKEN,
};
use create_db_worker::sweep::{SweepStop, MAX_KEYS_PER_RUN, MAX_LIST_CALLS};
use create_db_worker::{handle, Context};
use futures::executor::block_on;
use serde_json::json;
use shared::config::MapConfig;
use shared::http::{HttpResponse, Method, ScriptedHttp};
use shared::ratelimit::MemoryRateLimiter;
use shared::record::{expiry_key, load_record, ProjectStatus, EXPIRY_KEY_PREFIX};
use shared::secret::Secret;
use shared::store::{KeyValueStore, ManualClock, MemoryStore};
use shared::time::{Millis, DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS};
use shared::web::WebRequest;
use shared::{ProjectId, RequestId};
use std::collections::HashMap;

/// A minute boundary, like the times cron triggers fire at.
const START: Millis = 1_796_412_900_000;
const PROJECTS: usize = 10_000;
const BURST: usize = 800;
const MAX_DELETES: u64 = 40;
const DELETE_FAULT_PERCENT: u64 = 15;
const TIMEOUT_MS: Millis = 10 * SECOND_MS;
/// The most KV operations one examined key may cost (read, record write, key put, key delete).
const KV_CALLS_PER_KEY: u64 = 4;

struct Planned {
    project_id: ProjectId,
    expires_at: Millis,
    has_record: bool,
    claim: Option<(Millis, bool)>,
}

/// Plans the projects: expiries spread over six hours plus a burst of `BURST` in one
/// minute, a tenth claimed before expiry (half of them leaving their index key behind),
/// and 2% whose record write failed.
fn plan(prng: &mut Prng) -> Vec<Planned> {
    (0..PROJECTS)
        .map(|index| {
            let expires_at = if index < BURST {
                START + 90 * MINUTE_MS + prng.below(MINUTE_MS)
            } else {
                START + MINUTE_MS + prng.below(6 * HOUR_MS)
            };
            let has_record = !prng.percent(2);
            // Only a project with a record can be claimed: the claim worker reads it.
            let claim = (has_record && prng.percent(10))
                .then(|| (START + prng.below(expires_at - START), prng.percent(50)));
            Planned {
                project_id: ProjectId::parse(&format!("proj_sim{index:05}")).unwrap(),
                expires_at,
                has_record,
                claim,
            }
        })
        .collect()
}

const MALFORMED_KEYS: [&str; 4] = [
    "expiry:12:proj_short",
    "expiry:1796412960000:not-an-id",
    "expiry:179641296000x:proj_x",
    "expiry:1796413000000",
];

#[test]
fn sweep_deletes_each_unclaimed_project_exactly_once() {
    let clock = ManualClock::new(START - HOUR_MS);
    let store = MemoryStore::new(clock.clone());
    let platform = SimulatedPlatform::new(clock.clone(), 0xFA17).with_delete_faults(DELETE_FAULT_PERCENT, TIMEOUT_MS);
    let settings = sweep_settings(MAX_DELETES);
    let mut prng = Prng::new(0x5EED_2026);
    let planned = plan(&mut prng);
    for project in &planned {
        let created_at = START - HOUR_MS + prng.below(HOUR_MS);
        block_on(schedule_project(&store, &platform, &project.project_id, created_at, project.expires_at, project.has_record))
            .unwrap();
    }
    for key in MALFORMED_KEYS {
        block_on(store.put(key, "", None)).unwrap();
    }
    let mut claims: Vec<(Millis, usize)> =
        planned.iter().enumerate().filter_map(|(index, project)| project.claim.map(|(at, _)| (at, index))).collect();
    claims.sort_unstable();
    let last_expiry = planned.iter().map(|project| project.expires_at).max().unwrap();

    let mut next_claim = 0;
    let mut minute = START;
    let mut runs = Vec::new();
    while minute <= last_expiry || !store.keys_with_prefix(EXPIRY_KEY_PREFIX).is_empty() {
        assert!(minute < last_expiry + 4 * HOUR_MS, "index keys left after 4 hours of runs past the last expiry");
        clock.set(minute.max(clock.now_ms()));
        while next_claim < claims.len() && claims[next_claim].0 <= clock.now_ms() {
            let project = &planned[claims[next_claim].1];
            let keep_index_key = project.claim.is_some_and(|(_, keep)| keep);
            block_on(claim_project(&store, &platform, &project.project_id, clock.now_ms(), keep_index_key)).unwrap();
            next_claim += 1;
        }

        let figures = block_on(run_sweep(&store, &platform, &settings, &clock));

        let examined_bound = figures.due_keys.min(MAX_KEYS_PER_RUN);
        assert!(
            figures.kv_calls() <= KV_CALLS_PER_KEY * examined_bound + MAX_LIST_CALLS,
            "run at {}: {} KV calls for {} due keys",
            figures.started_at,
            figures.kv_calls(),
            figures.due_keys
        );
        assert!(figures.store.lists <= MAX_LIST_CALLS, "run at {}", figures.started_at);
        assert!(
            figures.upstream_calls <= figures.due_keys.min(MAX_DELETES),
            "run at {}: {} upstream calls for {} due keys",
            figures.started_at,
            figures.upstream_calls,
            figures.due_keys
        );
        assert!(figures.report.due <= examined_bound, "run at {}", figures.started_at);
        assert_ne!(figures.report.stop, SweepStop::StoreError, "run at {}", figures.started_at);
        runs.push(figures);
        minute += MINUTE_MS;
    }

    let mut calls_by_project: HashMap<String, Vec<_>> = HashMap::new();
    for call in platform.delete_calls() {
        calls_by_project.entry(call.project_id.clone()).or_default().push(call);
    }
    let mut claimed = 0;
    let mut max_lateness = 0;
    for project in &planned {
        let id = project.project_id.as_str();
        let calls = calls_by_project.remove(id).unwrap_or_default();
        let record = block_on(load_record(&store, &project.project_id)).unwrap();
        if project.claim.is_some() {
            claimed += 1;
            assert!(calls.is_empty(), "claimed {id} received {} DELETEs", calls.len());
            assert_eq!(record.map(|record| record.status), Some(ProjectStatus::Claimed), "{id}");
            continue;
        }

        let removals = calls.iter().filter(|call| call.removed).count();
        assert_eq!(removals, 1, "{id} removed {removals} times: {calls:?}");
        let (last, earlier) = calls.split_last().unwrap();
        assert!(last.succeeded(), "{id}: last DELETE did not succeed: {calls:?}");
        assert!(earlier.iter().all(|call| !call.succeeded()), "{id}: a DELETE followed a successful one: {calls:?}");
        assert!(calls.iter().all(|call| call.at >= project.expires_at), "{id} got a DELETE before {}", project.expires_at);
        assert!(platform.project(id).is_some_and(|state| state.deleted), "{id}");
        if project.has_record {
            assert_eq!(record.map(|record| record.status), Some(ProjectStatus::Deleted), "{id}");
        } else {
            assert!(record.is_none_or(|record| record.status == ProjectStatus::Deleted), "{id}");
        }
        max_lateness = max_lateness.max(last.at - project.expires_at);
    }
    assert!(calls_by_project.is_empty(), "DELETEs for unknown ids: {:?}", calls_by_project.keys());

    let total = |pick: fn(&create_db_worker::sweep::SweepReport) -> u64| runs.iter().map(|run| pick(&run.report)).sum::<u64>();
    assert!((900..1_100).contains(&claimed), "{claimed} claimed");
    assert!(total(|report| report.retried) > 500, "faults must be exercised");
    assert!(total(|report| report.skipped_claimed) > 0, "claims that left their key must be exercised");
    assert_eq!(total(|report| report.malformed_keys), MALFORMED_KEYS.len() as u64);
    assert!(runs.iter().any(|run| run.report.stop == SweepStop::MaxDeletes), "the burst must hit the limit");
    assert!(max_lateness < 2 * HOUR_MS, "a deletion came {max_lateness} ms after expiry");
    assert!(store.keys_with_prefix(EXPIRY_KEY_PREFIX).is_empty());
}

#[test]
fn first_retry_happens_on_the_next_run() {
    let clock = ManualClock::new(START);
    let store = MemoryStore::new(clock.clone());
    let platform = SimulatedPlatform::new(clock.clone(), 1).with_delete_faults(100, TIMEOUT_MS);
    let project_id = ProjectId::parse("proj_retry").unwrap();
    block_on(schedule_project(&store, &platform, &project_id, START - HOUR_MS, START, true)).unwrap();

    let first = block_on(run_sweep(&store, &platform, &sweep_settings(MAX_DELETES), &clock));
    clock.advance(1);
    let due_next = due_key_count(&store, clock.now_ms());

    assert_eq!(first.report.retried, 1);
    assert_eq!(due_next, 1, "the retry must be due one millisecond later");
}

#[test]
fn status_reports_deleted_after_sweep() {
    let clock = ManualClock::new(START);
    let store = MemoryStore::new(clock.clone());
    let project_id = "proj_status01";
    let http = ScriptedHttp::new(move |request| {
        Ok(match (request.method, request.url.as_str()) {
            (Method::Get, url) if url.ends_with("/v1/regions/postgres") => {
                HttpResponse::json(200, &json!({"data": [{"id": "us-east-1", "status": "available"}]}))
            }
            (Method::Post, _) => HttpResponse::json(201, &json!({"data": {"id": project_id, "name": "n"}})),
            _ => HttpResponse::new(204, ""),
        })
    });
    let config = MapConfig::new(&[
        ("INTEGRATION_TOKEN", SIM_TOKEN),
        ("PRISMA_API_URL", SIM_API_URL),
        ("CLAIM_PUBLIC_URL", "http://127.0.0.1:8788"),
        ("TTL_MIN_MS", "1000"),
    ]);
    let regions = RegionCache::default();
    let limiter = MemoryRateLimiter::new(100);
    let request = |request: WebRequest, now_ms: Millis| {
        let context = Context {
            store: &store,
            http: &http,
            config: &config,
            regions: &regions,
            general_limiter: &limiter,
            programmatic_limiter: &limiter,
            now_ms,
            request_id: RequestId::generate(),
        };
        block_on(handle(&context, &request))
    };

    let created = request(
        WebRequest::new("POST", "/create").with_json(&json!({"region": "us-east-1", "name": "n", "ttlMs": 2_000})),
        START,
    );
    assert_eq!(created.response.status, 201, "{:?}", created.response.body_json());
    let before = request(WebRequest::new("GET", &format!("/projects/{project_id}")), START);
    assert_eq!(before.response.body_json()["status"], "unclaimed");

    clock.set(START + 2_000);
    let report = block_on(create_db_worker::sweep::sweep(&store, &http, &sweep_settings(MAX_DELETES), &|| clock.now_ms()));
    let after = request(WebRequest::new("GET", &format!("/projects/{project_id}")), START + 2_000);

    assert_eq!(report.deleted, 1);
    assert_eq!(after.response.status, 200);
    assert_eq!(after.response.body_json()["status"], "deleted");
}

#[test]
fn backstop_reaches_every_page() {
    let now = START;
    let clock = ManualClock::new(now);
    let store = MemoryStore::new(clock.clone());
    let platform = SimulatedPlatform::new(clock.clone(), 7);
    let settings = BackstopSettings {
        api_url: SIM_API_URL.to_owned(),
        integration_token: Secret::new(SIM_TOKEN),
        ttl_max_ms: DAY_MS,
        stale_grace_ms: HOUR_MS,
        max_upstream_calls: MAX_UPSTREAM_CALLS,
        max_kv_operations: MAX_KV_OPERATIONS,
    };
    let stale_before = now - DAY_MS - HOUR_MS;
    let mut prng = Prng::new(0xBAC5);
    let mut expected_kept = Vec::new();
    let mut expected_deleted = Vec::new();
    for index in 0..2_500 {
        let project_id = ProjectId::parse(&format!("proj_bs{index:04}")).unwrap();
        let stale = prng.percent(10);
        let created_at = if stale { stale_before - 1 - prng.below(5 * DAY_MS) } else { stale_before + prng.below(DAY_MS) };
        let expires_at = created_at + prng.below(DAY_MS);
        // A stale project without a record (a lost create response) is what the backstop exists for.
        let with_record = !prng.percent(20);
        block_on(schedule_project(&store, &platform, &project_id, created_at, expires_at, with_record)).unwrap();
        let claimed = with_record && prng.percent(15);
        if claimed {
            // Claimed in KV while still listed: a transfer not yet visible to the list.
            let mut record = block_on(load_record(&store, &project_id)).unwrap().unwrap();
            record.status = ProjectStatus::Claimed;
            block_on(shared::record::save_record(&store, &project_id, &record, now)).unwrap();
        }
        if stale && !claimed {
            expected_deleted.push((project_id, expires_at, with_record));
        } else {
            expected_kept.push(project_id);
        }
    }

    let report = block_on(backstop(&store, &platform, &settings, &|| clock.now_ms()));

    assert_eq!(report.stop, BackstopStop::Complete, "{:?}", report.logs);
    assert_eq!(platform.list_calls(), 25);
    assert_eq!(report.pages, 25);
    assert_eq!(report.listed, 2_500);
    assert_eq!(report.deleted, expected_deleted.len() as u64);
    assert!(report.kept_claimed > 0);
    assert!(report.upstream_calls <= MAX_UPSTREAM_CALLS);
    assert!(report.kv_operations <= MAX_KV_OPERATIONS);
    for (project_id, expires_at, with_record) in &expected_deleted {
        assert!(platform.project(project_id.as_str()).is_some_and(|project| project.deleted), "{project_id}");
        let record = block_on(load_record(&store, project_id)).unwrap();
        if *with_record {
            assert_eq!(record.map(|record| record.status), Some(ProjectStatus::Deleted), "{project_id}");
            assert_eq!(store.peek(&expiry_key(*expires_at, project_id)), None, "{project_id}");
        }
    }
    for project_id in &expected_kept {
        assert!(platform.project(project_id.as_str()).is_some_and(|project| !project.deleted), "{project_id}");
    }
    let deletes_per_project = platform.delete_call_count();
    assert_eq!(deletes_per_project, expected_deleted.len() as u64, "one DELETE per stale project");
}
