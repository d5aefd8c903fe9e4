//! Native simulation of the lifecycle jobs. It has a seeded PRNG and an in-memory
//! Management API (`SimulatedPlatform`) that lists and deletes projects, injects DELETE
//! faults and records every DELETE. Helpers schedule and claim projects in a
//! `MemoryStore` and run the sweep once while counting its KV and upstream calls. The sweep simulation
//! test and `examples/sweep_bench.rs` drive it. Compiled natively only, never into the
//! Worker.

use crate::sweep::{sweep, SweepReport, SweepSettings};
use serde_json::{json, Value};
use shared::http::{HttpClient, HttpError, HttpRequest, HttpResponse, Method};
use shared::record::{expiry_key, load_record, parse_expiry_key, save_record, ProjectRecord, ProjectStatus, EXPIRY_KEY_PREFIX};
use shared::secret::Secret;
use shared::store::{KeyValueStore, ManualClock, MemoryStore, StoreCounts, StoreError};
use shared::time::{format_iso8601, Millis, SECOND_MS};
use shared::ProjectId;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// Base URL of the simulated platform.
pub const SIM_API_URL: &str = "http://platform.sim";

/// The integration token the simulated platform accepts.
pub const SIM_TOKEN: &str = "sim-integration-token";

/// A SplitMix64 generator: small, fast and reproducible from its seed. Not for secrets.
#[derive(Debug, Clone)]
pub struct Prng(u64);

impl Prng {
    pub fn new(seed: u64) -> Self {
        Prng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut mixed = self.0;
        mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        mixed ^ (mixed >> 31)
    }

    /// Returns a number in `0..bound`, or 0 when `bound` is 0.
    pub fn below(&mut self, bound: u64) -> u64 {
        if bound == 0 {
            return 0;
        }
        self.next_u64() % bound
    }

    /// Returns true with a chance of `percent` in 100.
    pub fn percent(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// A way the simulated platform fails a DELETE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteFault {
    Status(u16),
    /// No response in time, and the project was not deleted.
    TimeoutBeforeDelete,
    /// The project was deleted but the response was lost, so the retry gets 404.
    TimeoutAfterDelete,
    Network,
}

const DELETE_FAULTS: [DeleteFault; 8] = [
    DeleteFault::Status(500),
    DeleteFault::Status(502),
    DeleteFault::Status(503),
    DeleteFault::Status(429),
    DeleteFault::TimeoutBeforeDelete,
    DeleteFault::TimeoutAfterDelete,
    DeleteFault::Network,
    DeleteFault::Status(504),
];

/// One DELETE the platform received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteCall {
    pub project_id: String,
    /// Clock time when the request arrived.
    pub at: Millis,
    /// The status returned, `None` for a timeout or network error.
    pub status: Option<u16>,
    /// Whether this call removed a live project.
    pub removed: bool,
}

impl DeleteCall {
    /// Returns whether the sweep counts this DELETE as done: 2xx or 404.
    pub fn succeeded(&self) -> bool {
        matches!(self.status, Some(status) if (200..300).contains(&status) || status == 404)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimProject {
    pub created_at: Millis,
    pub deleted: bool,
    /// Claimed: moved to the user's workspace, so the partner gets 404 for it.
    pub transferred: bool,
}

#[derive(Debug)]
struct PlatformState {
    projects: HashMap<String, SimProject>,
    /// Ids in creation order, the order of the list endpoint.
    order: Vec<String>,
    positions: HashMap<String, usize>,
    deletes: Vec<DeleteCall>,
    list_calls: u64,
    delete_fault_percent: u64,
    timeout_ms: Millis,
    prng: Prng,
}

/// An in-memory Management API for one partner workspace. Clones share one platform.
#[derive(Debug, Clone)]
pub struct SimulatedPlatform {
    state: Rc<RefCell<PlatformState>>,
    clock: ManualClock,
}

impl SimulatedPlatform {
    /// Creates a healthy platform; `seed` drives its faults.
    pub fn new(clock: ManualClock, seed: u64) -> Self {
        let state = PlatformState {
            projects: HashMap::new(),
            order: Vec::new(),
            positions: HashMap::new(),
            deletes: Vec::new(),
            list_calls: 0,
            delete_fault_percent: 0,
            timeout_ms: 10 * SECOND_MS,
            prng: Prng::new(seed),
        };
        SimulatedPlatform { state: Rc::new(RefCell::new(state)), clock }
    }

    /// Fails this share of DELETEs with one of 5xx, 429, a timeout (before or after the
    /// deletion) or a network error. A timeout moves the clock on by `timeout_ms`.
    pub fn with_delete_faults(self, percent: u64, timeout_ms: Millis) -> Self {
        {
            let mut state = self.state.borrow_mut();
            state.delete_fault_percent = percent;
            state.timeout_ms = timeout_ms;
        }
        self
    }

    pub fn add_project(&self, project_id: &str, created_at: Millis) {
        let mut state = self.state.borrow_mut();
        let position = state.order.len();
        state.order.push(project_id.to_owned());
        state.positions.insert(project_id.to_owned(), position);
        state.projects.insert(project_id.to_owned(), SimProject { created_at, deleted: false, transferred: false });
    }

    /// Moves a project to a user's workspace, as a claim does.
    pub fn transfer(&self, project_id: &str) {
        if let Some(project) = self.state.borrow_mut().projects.get_mut(project_id) {
            project.transferred = true;
        }
    }

    pub fn project(&self, project_id: &str) -> Option<SimProject> {
        self.state.borrow().projects.get(project_id).copied()
    }

    /// Returns every DELETE received so far, oldest first.
    pub fn delete_calls(&self) -> Vec<DeleteCall> {
        self.state.borrow().deletes.clone()
    }

    pub fn delete_call_count(&self) -> u64 {
        self.state.borrow().deletes.len() as u64
    }

    pub fn list_calls(&self) -> u64 {
        self.state.borrow().list_calls
    }

    /// Returns the number of requests received so far.
    pub fn upstream_calls(&self) -> u64 {
        self.list_calls() + self.delete_call_count()
    }

    fn list(&self, query: &str) -> HttpResponse {
        let mut guard = self.state.borrow_mut();
        guard.list_calls += 1;
        let state = &*guard;
        let mut limit = 100;
        let mut cursor = None;
        for pair in query.split('&') {
            match pair.split_once('=') {
                Some(("limit", value)) => limit = value.parse::<usize>().unwrap_or(100).clamp(1, 100),
                Some(("cursor", value)) => cursor = Some(value.to_owned()),
                _ => {}
            }
        }
        let start = match cursor {
            None => 0,
            Some(cursor) => match state.positions.get(&cursor) {
                Some(position) => position + 1,
                None => return HttpResponse::json(400, &json!({"error": {"code": "validation_error", "message": "invalid cursor"}})),
            },
        };

        let mut visible = state.order[start..]
            .iter()
            .filter(|id| state.projects.get(*id).is_some_and(|project| !project.deleted && !project.transferred));
        let page: Vec<&String> = visible.by_ref().take(limit).collect();
        let has_more = visible.next().is_some();
        let data: Vec<Value> = page
            .iter()
            .map(|id| {
                let created_at = state.projects.get(*id).map_or(0, |project| project.created_at);
                json!({"id": id, "name": "sim", "createdAt": format_iso8601(created_at)})
            })
            .collect();
        let next_cursor = if has_more { page.last().map(|id| Value::from(id.as_str())) } else { None };
        HttpResponse::json(200, &json!({"data": data, "pagination": {"nextCursor": next_cursor, "hasMore": has_more}}))
    }

    fn delete(&self, project_id: &str) -> Result<HttpResponse, HttpError> {
        let mut guard = self.state.borrow_mut();
        let state = &mut *guard;
        let at = self.clock.now_ms();
        let fault = if state.prng.percent(state.delete_fault_percent) {
            let index = state.prng.below(DELETE_FAULTS.len() as u64) as usize;
            Some(DELETE_FAULTS[index])
        } else {
            None
        };

        let applies = matches!(fault, None | Some(DeleteFault::TimeoutAfterDelete));
        let mut removed = false;
        let mut found = false;
        if let Some(project) = state.projects.get_mut(project_id) {
            found = !project.deleted && !project.transferred;
            if found && applies {
                project.deleted = true;
                removed = true;
            }
        }
        let answer = match fault {
            None if found => Ok(HttpResponse::new(204, "")),
            None => Ok(HttpResponse::json(404, &json!({"error": {"code": "not_found", "message": "no such project"}}))),
            Some(DeleteFault::Status(status)) => Ok(HttpResponse::json(status, &json!({"error": {"code": "fault"}}))),
            Some(DeleteFault::TimeoutBeforeDelete | DeleteFault::TimeoutAfterDelete) => Err(HttpError::Timeout),
            Some(DeleteFault::Network) => Err(HttpError::Network("connection reset".to_owned())),
        };
        if answer == Err(HttpError::Timeout) {
            self.clock.advance(state.timeout_ms);
        }
        let status = answer.as_ref().ok().map(|response| response.status);
        state.deletes.push(DeleteCall { project_id: project_id.to_owned(), at, status, removed });
        answer
    }
}

impl HttpClient for SimulatedPlatform {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        if request.header_value("authorization") != Some(format!("Bearer {SIM_TOKEN}").as_str()) {
            return Ok(HttpResponse::json(401, &json!({"error": {"code": "unauthorized"}})));
        }
        let Some(path) = request.url.strip_prefix(SIM_API_URL) else {
            return Err(HttpError::Network(format!("unknown host in {}", request.url)));
        };
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        match (request.method, path) {
            (Method::Get, "/v1/projects") => Ok(self.list(query)),
            (Method::Delete, _) if path.starts_with("/v1/projects/") => self.delete(&path["/v1/projects/".len()..]),
            _ => Ok(HttpResponse::json(404, &json!({"error": {"code": "not_found"}}))),
        }
    }
}

/// Sweep settings aimed at the simulated platform, with the production bounds.
pub fn sweep_settings(max_deletes: u64) -> SweepSettings {
    SweepSettings {
        api_url: SIM_API_URL.to_owned(),
        integration_token: Secret::new(SIM_TOKEN),
        max_deletes,
        max_keys: crate::sweep::MAX_KEYS_PER_RUN,
        time_budget_ms: crate::sweep::RUN_TIME_BUDGET_MS,
    }
}

/// Creates a project on the platform and schedules it in `store` as `POST /create`
/// does: the index key, then the record unless `with_record` is false (a failed write).
pub async fn schedule_project(
    store: &MemoryStore,
    platform: &SimulatedPlatform,
    project_id: &ProjectId,
    created_at: Millis,
    expires_at: Millis,
    with_record: bool,
) -> Result<(), StoreError> {
    platform.add_project(project_id.as_str(), created_at);
    store.put(&expiry_key(expires_at, project_id), "", None).await?;
    if with_record {
        let record = ProjectRecord {
            project_id: project_id.to_string(),
            region: "us-east-1".to_owned(),
            created_at,
            expires_at,
            status: ProjectStatus::Unclaimed,
            delete_attempts: 0,
        };
        save_record(store, project_id, &record, created_at).await?;
    }
    Ok(())
}

/// Claims a project as the claim worker does: the transfer upstream, the record marked
/// claimed, and the index key dropped unless `keep_index_key` (a claim worker that failed
/// to drop it).
pub async fn claim_project(
    store: &MemoryStore,
    platform: &SimulatedPlatform,
    project_id: &ProjectId,
    now: Millis,
    keep_index_key: bool,
) -> Result<(), StoreError> {
    platform.transfer(project_id.as_str());
    let Some(mut record) = load_record(store, project_id).await? else {
        return Ok(());
    };
    record.status = ProjectStatus::Claimed;
    save_record(store, project_id, &record, now).await?;
    if !keep_index_key {
        store.delete(&expiry_key(record.expires_at, project_id)).await?;
    }
    Ok(())
}

/// Returns how many index keys a run at `now` should examine: every key before the first
/// well-formed key later than `now`, malformed keys included. Counted from the store
/// without the sweep's help.
pub fn due_key_count(store: &MemoryStore, now: Millis) -> u64 {
    store
        .keys_with_prefix(EXPIRY_KEY_PREFIX)
        .iter()
        .take_while(|key| parse_expiry_key(key).is_none_or(|(due_at, _)| due_at <= now))
        .count() as u64
}

/// The cost of one sweep run.
#[derive(Debug, Clone)]
pub struct RunFigures {
    pub started_at: Millis,
    /// Due index keys before the run, from `due_key_count`.
    pub due_keys: u64,
    pub store: StoreCounts,
    pub upstream_calls: u64,
    pub report: SweepReport,
}

impl RunFigures {
    pub fn kv_calls(&self) -> u64 {
        self.store.gets + self.store.puts + self.store.deletes + self.store.lists
    }
}

/// Runs the sweep once at the clock's time and measures it.
pub async fn run_sweep(
    store: &MemoryStore,
    platform: &SimulatedPlatform,
    settings: &SweepSettings,
    clock: &ManualClock,
) -> RunFigures {
    let started_at = clock.now_ms();
    let due_keys = due_key_count(store, started_at);
    let upstream_before = platform.upstream_calls();
    store.reset_counts();

    let report = sweep(store, platform, settings, &|| clock.now_ms()).await;

    RunFigures {
        started_at,
        due_keys,
        store: store.counts(),
        upstream_calls: platform.upstream_calls() - upstream_before,
        report,
    }
}
