//! The daily backstop behind the sweep. It pages through every project of the partner
//! workspace (`GET /v1/projects`, every cursor page) and deletes each one created more
//! than `TTL_MAX_MS` plus `STALE_GRACE_MS` ago, which catches projects the sweep never
//! learned about (a create whose response was unreadable, a lost index key). It reads the
//! project's record first and never deletes a project whose record says claimed or whose
//! `expiresAt` is still ahead. A run stops before it would exceed the Workers limits on
//! subrequests and KV operations per invocation, and logs where it stopped.

use crate::regions::retry_after;
use crate::scheduled::whole_number_var;
use shared::api::ProjectPage;
use shared::config::{self, ConfigSource};
use shared::http::{HttpClient, HttpRequest, HttpResponse, Method};
use shared::log::LogLine;
use shared::record::{expiry_key, project_key, save_record, ProjectRecord, ProjectStatus};
use shared::secret::Secret;
use shared::store::{KeyValueStore, StoreError};
use shared::time::{format_iso8601, parse_iso8601, Millis, DAY_MS, HOUR_MS};
use shared::{Error, ProjectId};

/// Projects requested per page, the maximum page size of the list endpoint.
pub const PAGE_SIZE: u64 = 100;

/// Default of `STALE_GRACE_MS`: how long past `TTL_MAX_MS` a project may live before the
/// backstop deletes it, so it never races the sweep for a project just due.
pub const DEFAULT_STALE_GRACE_MS: Millis = HOUR_MS;

/// Largest accepted `STALE_GRACE_MS`.
pub const MAX_STALE_GRACE_MS: Millis = 7 * DAY_MS;

/// Subrequests (list pages and DELETEs) per run: the 1,000 per invocation of the Workers
/// Paid plan (Cloudflare's Workers limits page).
// NOTE: the Workers Free plan allows 50, so there the backstop covers at most 50 calls a day.
pub const MAX_UPSTREAM_CALLS: u64 = 1_000;

/// KV operations per run: Workers KV allows 1,000 per invocation (Cloudflare's KV limits page).
pub const MAX_KV_OPERATIONS: u64 = 1_000;

/// KV operations one stale project may cost: read its record, mark it deleted, drop its key.
const KV_OPERATIONS_PER_PROJECT: u64 = 3;

/// Tries per list page before the run gives up on it until tomorrow.
pub const PAGE_ATTEMPTS: u32 = 3;

#[derive(Debug, Clone)]
pub struct BackstopSettings {
    pub api_url: String,
    pub integration_token: Secret,
    pub ttl_max_ms: Millis,
    pub stale_grace_ms: Millis,
    pub max_upstream_calls: u64,
    pub max_kv_operations: u64,
}

impl BackstopSettings {
    /// Reads `PRISMA_API_URL`, `INTEGRATION_TOKEN`, `TTL_MAX_MS` (with the rest of the TTL
    /// policy, so an invalid policy is reported here too) and `STALE_GRACE_MS`.
    pub fn from_config(config: &impl ConfigSource) -> Result<Self, Error> {
        Ok(BackstopSettings {
            api_url: config::base_url(config, "PRISMA_API_URL", Some(config::DEFAULT_PRISMA_API_URL))?,
            integration_token: config::required_secret(config, "INTEGRATION_TOKEN")?,
            ttl_max_ms: config::ttl_policy(config)?.max_ms,
            stale_grace_ms: whole_number_var(config, "STALE_GRACE_MS", DEFAULT_STALE_GRACE_MS, 0..=MAX_STALE_GRACE_MS)?,
            max_upstream_calls: MAX_UPSTREAM_CALLS,
            max_kv_operations: MAX_KV_OPERATIONS,
        })
    }

    /// Projects created before this time are stale at `now`.
    pub fn stale_before(&self, now: Millis) -> Millis {
        now.saturating_sub(self.ttl_max_ms.saturating_add(self.stale_grace_ms))
    }
}

/// The reason a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackstopStop {
    /// Every page was read.
    #[default]
    Complete,
    UpstreamBudget,
    KvBudget,
    /// A page failed `PAGE_ATTEMPTS` times.
    ListFailed,
    /// A page returned 2xx with a body that is not a project page.
    ListUnreadable,
    /// The API reported more pages but returned no new cursor.
    CursorStuck,
    StoreError,
}

impl BackstopStop {
    pub fn as_str(self) -> &'static str {
        match self {
            BackstopStop::Complete => "complete",
            BackstopStop::UpstreamBudget => "upstream_budget",
            BackstopStop::KvBudget => "kv_budget",
            BackstopStop::ListFailed => "list_failed",
            BackstopStop::ListUnreadable => "list_unreadable",
            BackstopStop::CursorStuck => "cursor_stuck",
            BackstopStop::StoreError => "store_error",
        }
    }
}

/// The counts and log lines of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackstopReport {
    pub pages: u64,
    pub listed: u64,
    pub stale: u64,
    /// DELETEs that returned 2xx.
    pub deleted: u64,
    /// DELETEs that returned 404.
    pub already_gone: u64,
    /// DELETEs that failed; the next run tries again.
    pub failed: u64,
    pub kept_claimed: u64,
    /// Stale by `createdAt`, but the record's `expiresAt` is still ahead.
    pub kept_unexpired: u64,
    /// Stale, but the record cannot be parsed.
    pub kept_unreadable: u64,
    /// Listed projects with a missing or invalid `id` or `createdAt`, left alone.
    pub skipped_unreadable: u64,
    pub upstream_calls: u64,
    pub kv_operations: u64,
    pub stop: BackstopStop,
    pub logs: Vec<String>,
}

impl BackstopReport {
    pub fn summary_line(&self, duration_ms: Millis) -> String {
        LogLine::new("backstop")
            .field("pages", self.pages)
            .field("listed", self.listed)
            .field("stale", self.stale)
            .field("deleted", self.deleted)
            .field("already_gone", self.already_gone)
            .field("failed", self.failed)
            .field("kept_claimed", self.kept_claimed)
            .field("kept_unexpired", self.kept_unexpired)
            .field("kept_unreadable", self.kept_unreadable)
            .field("skipped_unreadable", self.skipped_unreadable)
            .field("upstream_calls", self.upstream_calls)
            .field("kv_operations", self.kv_operations)
            .field("stopped", self.stop.as_str())
            .field("duration_ms", duration_ms)
            .to_string()
    }
}

struct Run<'a, S, H> {
    store: &'a S,
    http: &'a H,
    settings: &'a BackstopSettings,
    now: Millis,
    report: BackstopReport,
}

/// Runs the backstop once at `clock()`.
pub async fn backstop<S, H>(store: &S, http: &H, settings: &BackstopSettings, clock: &impl Fn() -> Millis) -> BackstopReport
where
    S: KeyValueStore,
    H: HttpClient,
{
    let mut run = Run { store, http, settings, now: clock(), report: BackstopReport::default() };
    run.report.stop = run.walk_pages().await;
    run.report
}

impl<S, H> Run<'_, S, H>
where
    S: KeyValueStore,
    H: HttpClient,
{
    async fn walk_pages(&mut self) -> BackstopStop {
        let stale_before = self.settings.stale_before(self.now);
        let mut cursor: Option<String> = None;

        loop {
            let page = match self.fetch_page(cursor.as_deref()).await {
                Ok(page) => page,
                Err(stop) => return stop,
            };
            self.report.pages += 1;

            for project in &page.data {
                self.report.listed += 1;
                let created_at = project.created_at.as_deref().and_then(parse_iso8601);
                let (Some(created_at), Ok(project_id)) = (created_at, ProjectId::parse(&project.id)) else {
                    self.report.skipped_unreadable += 1;
                    continue;
                };
                if created_at >= stale_before {
                    continue;
                }
                self.report.stale += 1;
                if let Some(stop) = self.remove_stale(&project_id, created_at).await {
                    return stop;
                }
            }

            if !page.pagination.has_more {
                return BackstopStop::Complete;
            }
            match page.pagination.next_cursor {
                Some(next) if !next.is_empty() && cursor.as_deref() != Some(next.as_str()) => cursor = Some(next),
                _ => {
                    self.report.logs.push(
                        LogLine::new("backstop_cursor_stuck").field("pages", self.report.pages).to_string(),
                    );
                    return BackstopStop::CursorStuck;
                }
            }
        }
    }

    /// Reads one page, trying again up to `PAGE_ATTEMPTS` times on failure.
    async fn fetch_page(&mut self, cursor: Option<&str>) -> Result<ProjectPage, BackstopStop> {
        let mut url = format!("{}/v1/projects?limit={PAGE_SIZE}", self.settings.api_url);
        if let Some(cursor) = cursor {
            url.push_str("&cursor=");
            url.push_str(&percent_encode(cursor));
        }

        let mut last_failure = String::new();
        for _ in 0..PAGE_ATTEMPTS {
            if self.report.upstream_calls >= self.settings.max_upstream_calls {
                return Err(self.budget_spent(BackstopStop::UpstreamBudget));
            }
            self.report.upstream_calls += 1;
            let request = HttpRequest::new(Method::Get, url.clone()).header("authorization", self.bearer());
            let response: HttpResponse = match self.http.send(request).await {
                Ok(response) if (200..300).contains(&response.status) => response,
                Ok(response) => {
                    last_failure = format!("status {}", response.status);
                    continue;
                }
                Err(error) => {
                    last_failure = error.to_string();
                    continue;
                }
            };
            return serde_json::from_slice::<ProjectPage>(&response.body).map_err(|error| {
                self.report.logs.push(
                    LogLine::new("backstop_list_failed")
                        .field("pages", self.report.pages)
                        .field("reason", format!("unreadable page: {error}"))
                        .to_string(),
                );
                BackstopStop::ListUnreadable
            });
        }
        self.report.logs.push(
            LogLine::new("backstop_list_failed")
                .field("pages", self.report.pages)
                .field("attempts", PAGE_ATTEMPTS)
                .field("reason", last_failure)
                .to_string(),
        );
        Err(BackstopStop::ListFailed)
    }

    /// Deletes one stale project unless its record forbids it; `Some` ends the run.
    async fn remove_stale(&mut self, project_id: &ProjectId, created_at: Millis) -> Option<BackstopStop> {
        if self.report.upstream_calls >= self.settings.max_upstream_calls {
            return Some(self.budget_spent(BackstopStop::UpstreamBudget));
        }
        if self.report.kv_operations + KV_OPERATIONS_PER_PROJECT > self.settings.max_kv_operations {
            return Some(self.budget_spent(BackstopStop::KvBudget));
        }

        self.report.kv_operations += 1;
        let record = match self.store.get(&project_key(project_id)).await {
            Ok(text) => text.map(|text| serde_json::from_str::<ProjectRecord>(&text)),
            Err(error) => return Some(self.store_failed("get", &error)),
        };
        let record = match record {
            None => None,
            Some(Err(error)) => {
                self.report.kept_unreadable += 1;
                self.report.logs.push(
                    LogLine::new("backstop_record_unreadable")
                        .field("project_id", project_id.as_str())
                        .field("reason", error.to_string())
                        .to_string(),
                );
                return None;
            }
            Some(Ok(record)) if record.status == ProjectStatus::Claimed => {
                self.report.kept_claimed += 1;
                return None;
            }
            Some(Ok(record)) if record.status != ProjectStatus::Deleted && record.expires_at > self.now => {
                self.report.kept_unexpired += 1;
                self.report.logs.push(
                    LogLine::new("backstop_kept_unexpired")
                        .field("project_id", project_id.as_str())
                        .field("created_at", format_iso8601(created_at))
                        .field("expires_at", format_iso8601(record.expires_at))
                        .to_string(),
                );
                return None;
            }
            Some(Ok(record)) => Some(record),
        };

        self.report.upstream_calls += 1;
        let request = HttpRequest::new(Method::Delete, format!("{}/v1/projects/{project_id}", self.settings.api_url))
            .header("authorization", self.bearer());
        let status = match self.http.send(request).await {
            Ok(response) if (200..300).contains(&response.status) => {
                self.report.deleted += 1;
                response.status
            }
            Ok(response) if response.status == 404 => {
                self.report.already_gone += 1;
                404
            }
            failure => {
                self.report.failed += 1;
                let mut line = LogLine::new("backstop_delete_failed").field("project_id", project_id.as_str());
                line = match failure {
                    Ok(response) => line
                        .field("status", response.status)
                        .field("retry_after_secs", retry_after(&response).map_or(serde_json::Value::Null, Into::into)),
                    Err(error) => line.field("reason", error.to_string()),
                };
                self.report.logs.push(line.to_string());
                return None;
            }
        };
        self.report.logs.push(
            LogLine::new("project_deleted")
                .field("trigger", "backstop")
                .field("project_id", project_id.as_str())
                .field("status", status)
                .field("created_at", format_iso8601(created_at))
                .to_string(),
        );

        match record {
            Some(record) if record.status != ProjectStatus::Deleted => self.mark_deleted(project_id, record).await,
            _ => None,
        }
    }

    async fn mark_deleted(&mut self, project_id: &ProjectId, mut record: ProjectRecord) -> Option<BackstopStop> {
        record.status = ProjectStatus::Deleted;
        self.report.kv_operations += 2;
        if let Err(error) = save_record(self.store, project_id, &record, self.now).await {
            return Some(self.store_failed("put", &error));
        }
        // This is the key the project was scheduled under. A key the sweep moved for a
        // retry is unknown here, so the sweep drops it when it finds the record deleted.
        match self.store.delete(&expiry_key(record.expires_at, project_id)).await {
            Ok(()) => None,
            Err(error) => Some(self.store_failed("delete", &error)),
        }
    }

    fn bearer(&self) -> String {
        format!("Bearer {}", self.settings.integration_token.expose())
    }

    fn budget_spent(&mut self, stop: BackstopStop) -> BackstopStop {
        self.report.logs.push(
            LogLine::new("backstop_budget_spent")
                .field("budget", stop.as_str())
                .field("pages", self.report.pages)
                .field("upstream_calls", self.report.upstream_calls)
                .field("kv_operations", self.report.kv_operations)
                .to_string(),
        );
        stop
    }

    fn store_failed(&mut self, operation: &str, error: &StoreError) -> BackstopStop {
        self.report.logs.push(
            LogLine::new("backstop_store_failed")
                .field("operation", operation)
                .field("reason", error.to_string())
                .to_string(),
        );
        BackstopStop::StoreError
    }
}

/// Percent-encodes `text` for a query value: every byte but the RFC 3986 unreserved
/// characters (letters, digits, `-`, `.`, `_`, `~`).
fn percent_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;
    use serde_json::json;
    use shared::config::MapConfig;
    use shared::http::{HttpError, ScriptedHttp};
    use shared::record::load_record;
    use shared::store::{ManualClock, MemoryStore};

    const NOW: Millis = 1_796_412_900_000;
    const API: &str = "http://127.0.0.1:9";

    fn settings() -> BackstopSettings {
        BackstopSettings {
            api_url: API.to_owned(),
            integration_token: Secret::new("token"),
            ttl_max_ms: DAY_MS,
            stale_grace_ms: HOUR_MS,
            max_upstream_calls: MAX_UPSTREAM_CALLS,
            max_kv_operations: MAX_KV_OPERATIONS,
        }
    }

    fn page(projects: &[(&str, Option<&str>)], next_cursor: Option<&str>) -> HttpResponse {
        let data: Vec<_> = projects.iter().map(|(id, created_at)| json!({"id": id, "createdAt": created_at})).collect();
        HttpResponse::json(200, &json!({"data": data, "pagination": {"nextCursor": next_cursor, "hasMore": next_cursor.is_some()}}))
    }

    fn run(store: &MemoryStore, http: &ScriptedHttp, settings: &BackstopSettings) -> BackstopReport {
        block_on(backstop(store, http, settings, &|| NOW))
    }

    #[test]
    fn stale_before_subtracts_ttl_and_grace() {
        assert_eq!(settings().stale_before(NOW), NOW - DAY_MS - HOUR_MS);
        assert_eq!(settings().stale_before(5), 0);
    }

    #[test]
    fn percent_encode_keeps_unreserved_only() {
        assert_eq!(percent_encode("proj_A-1.~"), "proj_A-1.~");
        assert_eq!(percent_encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
    }

    #[test]
    fn cursor_is_encoded_and_followed() {
        let http = ScriptedHttp::new(|request| {
            Ok(if request.url.contains("cursor=") {
                page(&[], None)
            } else {
                page(&[], Some("next page/1"))
            })
        });
        let store = MemoryStore::new(ManualClock::new(NOW));

        let report = run(&store, &http, &settings());

        let urls: Vec<String> = http.sent().iter().map(|request| request.url.clone()).collect();
        assert_eq!(
            urls,
            vec![format!("{API}/v1/projects?limit=100"), format!("{API}/v1/projects?limit=100&cursor=next%20page%2F1")]
        );
        assert_eq!(report.stop, BackstopStop::Complete);
    }

    #[test]
    fn stale_unclaimed_is_deleted_and_record_marked() {
        let clock = ManualClock::new(NOW);
        let store = MemoryStore::new(clock);
        let project_id = ProjectId::parse("proj_old").unwrap();
        let expires_at = NOW - 2 * DAY_MS;
        let record = ProjectRecord {
            project_id: project_id.to_string(),
            region: "us-east-1".to_owned(),
            created_at: expires_at - DAY_MS,
            expires_at,
            status: ProjectStatus::Unclaimed,
            delete_attempts: 2,
        };
        block_on(save_record(&store, &project_id, &record, NOW)).unwrap();
        block_on(store.put(&expiry_key(expires_at, &project_id), "", None)).unwrap();
        let old = format_iso8601(expires_at - DAY_MS);
        let body = page(&[("proj_old", Some(&old))], None);
        let http = ScriptedHttp::new(move |request| match request.method {
            Method::Get => Ok(body.clone()),
            _ => Ok(HttpResponse::new(204, "")),
        });

        let report = run(&store, &http, &settings());

        assert_eq!(report.deleted, 1);
        assert_eq!(http.sent()[1].url, format!("{API}/v1/projects/proj_old"));
        let marked = block_on(load_record(&store, &project_id)).unwrap().unwrap();
        assert_eq!(marked.status, ProjectStatus::Deleted);
        assert!(store.keys_with_prefix("expiry:").is_empty());
        assert_eq!(report.kv_operations, 3);
    }

    #[test]
    fn fresh_claimed_unexpired_and_unreadable_are_kept() {
        let store = MemoryStore::new(ManualClock::new(NOW));
        let old = format_iso8601(NOW - 3 * DAY_MS);
        let fresh = format_iso8601(NOW - DAY_MS);
        for (name, status, expires_at) in
            [("proj_claimed", ProjectStatus::Claimed, NOW - 2 * DAY_MS), ("proj_ahead", ProjectStatus::Unclaimed, NOW + HOUR_MS)]
        {
            let project_id = ProjectId::parse(name).unwrap();
            let record = ProjectRecord {
                project_id: name.to_owned(),
                region: "us-east-1".to_owned(),
                created_at: NOW - 3 * DAY_MS,
                expires_at,
                status,
                delete_attempts: 0,
            };
            block_on(save_record(&store, &project_id, &record, NOW)).unwrap();
        }
        block_on(store.put("project:proj_odd", "{", None)).unwrap();
        let body = page(
            &[
                ("proj_fresh", Some(&fresh)),
                ("proj_claimed", Some(&old)),
                ("proj_ahead", Some(&old)),
                ("proj_odd", Some(&old)),
                ("proj_noage", None),
                ("proj_badage", Some("last week")),
                ("not/an/id", Some(&old)),
            ],
            None,
        );
        let http = ScriptedHttp::new(move |_| Ok(body.clone()));

        let report = run(&store, &http, &settings());

        assert_eq!(http.sent().len(), 1, "only the list call");
        assert_eq!(report.listed, 7);
        assert_eq!(report.stale, 3);
        assert_eq!(report.kept_claimed, 1);
        assert_eq!(report.kept_unexpired, 1);
        assert_eq!(report.kept_unreadable, 1);
        assert_eq!(report.skipped_unreadable, 3);
    }

    #[test]
    fn failed_delete_is_counted_and_run_goes_on() {
        let store = MemoryStore::new(ManualClock::new(NOW));
        let old = format_iso8601(NOW - 3 * DAY_MS);
        let body = page(&[("proj_a", Some(&old)), ("proj_b", Some(&old)), ("proj_c", Some(&old))], None);
        let http = ScriptedHttp::new(move |request| match (request.method, request.url.as_str()) {
            (Method::Get, _) => Ok(body.clone()),
            (_, url) if url.ends_with("proj_a") => Ok(HttpResponse::new(503, "")),
            (_, url) if url.ends_with("proj_b") => Err(HttpError::Timeout),
            _ => Ok(HttpResponse::new(404, "")),
        });

        let report = run(&store, &http, &settings());

        assert_eq!(report.failed, 2);
        assert_eq!(report.already_gone, 1);
        assert_eq!(report.stop, BackstopStop::Complete);
        assert_eq!(report.logs.iter().filter(|line| line.contains("backstop_delete_failed")).count(), 2);
    }

    #[test]
    fn list_failure_is_tried_three_times() {
        let store = MemoryStore::new(ManualClock::new(NOW));
        let http = ScriptedHttp::new(|_| Ok(HttpResponse::new(500, "")));

        let report = run(&store, &http, &settings());

        assert_eq!(http.sent().len(), 3);
        assert_eq!(report.stop, BackstopStop::ListFailed);
        assert!(report.logs.iter().any(|line| line.contains("backstop_list_failed")));
    }

    #[test]
    fn list_recovers_after_one_failure() {
        let store = MemoryStore::new(ManualClock::new(NOW));
        let calls = std::cell::Cell::new(0);
        let http = ScriptedHttp::new(move |_| {
            calls.set(calls.get() + 1);
            Ok(if calls.get() == 1 { HttpResponse::new(502, "") } else { page(&[], None) })
        });

        let report = run(&store, &http, &settings());

        assert_eq!(report.stop, BackstopStop::Complete);
        assert_eq!(report.pages, 1);
        assert_eq!(report.upstream_calls, 2);
    }

    #[test]
    fn unreadable_page_and_stuck_cursor_stop() {
        let store = MemoryStore::new(ManualClock::new(NOW));
        let unreadable = ScriptedHttp::new(|_| Ok(HttpResponse::new(200, "{\"data\":")));
        let stuck = ScriptedHttp::new(|_| Ok(page(&[], Some("same"))));

        assert_eq!(run(&store, &unreadable, &settings()).stop, BackstopStop::ListUnreadable);
        let report = run(&store, &stuck, &settings());
        assert_eq!(report.stop, BackstopStop::CursorStuck);
        assert_eq!(stuck.sent().len(), 2);
    }

    #[test]
    fn budgets_stop_the_run() {
        let store = MemoryStore::new(ManualClock::new(NOW));
        let old = format_iso8601(NOW - 3 * DAY_MS);
        let body = page(&[("proj_a", Some(&old)), ("proj_b", Some(&old)), ("proj_c", Some(&old))], None);
        let http = ScriptedHttp::new(move |request| match request.method {
            Method::Get => Ok(body.clone()),
            _ => Ok(HttpResponse::new(204, "")),
        });

        let upstream = run(&store, &http, &BackstopSettings { max_upstream_calls: 3, ..settings() });
        assert_eq!(upstream.stop, BackstopStop::UpstreamBudget);
        assert_eq!(upstream.deleted, 2);
        assert_eq!(upstream.upstream_calls, 3);

        let kv = run(&store, &http, &BackstopSettings { max_kv_operations: 4, ..settings() });
        assert_eq!(kv.stop, BackstopStop::KvBudget);
        assert!(kv.kv_operations <= 4);
        assert!(kv.logs.iter().any(|line| line.contains("backstop_budget_spent")));
    }

    #[test]
    fn settings_read_grace_and_ttl() {
        let base = MapConfig::new(&[("INTEGRATION_TOKEN", "token"), ("PRISMA_API_URL", API)]);

        let defaults = BackstopSettings::from_config(&base).unwrap();
        assert_eq!(defaults.stale_grace_ms, DEFAULT_STALE_GRACE_MS);
        assert_eq!(defaults.ttl_max_ms, shared::ttl::DEFAULT_TTL_MAX_MS);
        let set = BackstopSettings::from_config(&base.clone().with("STALE_GRACE_MS", "0")).unwrap();
        assert_eq!(set.stale_grace_ms, 0);
        let invalid = BackstopSettings::from_config(&base.with("STALE_GRACE_MS", "1h"));
        assert!(matches!(invalid, Err(Error::Config { name: "STALE_GRACE_MS", .. })));
    }
}
