//! The deletion sweep, run every minute by the cron trigger. It lists the `expiry:` index
//! in time order, stops at the first key still in the future, and sends
//! `DELETE /v1/projects/{id}` for each due project whose record is not claimed. A failed
//! deletion stays scheduled: its index key moves to a later time with backoff. Every run
//! is bounded in keys examined, DELETEs sent and wall time, so its KV operations and
//! subrequests grow with the projects due, never with all projects. It never sends a
//! DELETE for a project whose record is claimed or whose `expiresAt` is still ahead.

use crate::regions::retry_after;
use crate::scheduled::whole_number_var;
use serde_json::Value;
use shared::config::{self, ConfigSource};
use shared::http::{HttpClient, HttpRequest, Method};
use shared::log::LogLine;
use shared::record::{
    expiry_key, parse_expiry_key, project_key, save_record, ProjectRecord, ProjectStatus, EXPIRY_KEY_PREFIX,
};
use shared::secret::Secret;
use shared::store::{KeyValueStore, StoreError};
use shared::time::{format_iso8601, Millis, HOUR_MS, MINUTE_MS, SECOND_MS};
use shared::{Error, ProjectId};

/// Default of `SWEEP_MAX_DELETES`. It keeps a run under the 50 subrequests per invocation
/// of the Workers Free plan (Cloudflare's Workers limits page).
pub const DEFAULT_MAX_DELETES: u64 = 40;

/// Index keys examined per run, due or not. Each costs at most four KV operations (read
/// the record, write it, put the moved key, delete the old one), so a run stays under the
/// 1,000 KV operations Workers KV allows per invocation: 4 × 200 + `MAX_LIST_CALLS`.
pub const MAX_KEYS_PER_RUN: u64 = 200;

/// List calls per run. One call usually returns every key a run may examine; KV may
/// return short pages, and this bound keeps a run of empty pages finite.
pub const MAX_LIST_CALLS: u64 = 5;

/// No DELETE starts after a run has taken this long, so a run ends (at worst one upstream
/// timeout later) before the next minute's run begins.
// NOTE: that is true while UPSTREAM_TIMEOUT_MS stays under 15 seconds. Overlapping runs
// may send a project two DELETEs, and the second one returns 404.
pub const RUN_TIME_BUDGET_MS: Millis = 45 * SECOND_MS;

/// Maximum wait between two deletion attempts of one project.
pub const MAX_RETRY_DELAY_MS: Millis = HOUR_MS;

/// Wait before a project whose record cannot be parsed is looked at again.
pub const UNREADABLE_RECORD_RETRY_MS: Millis = HOUR_MS;

/// Settings of one sweep run.
#[derive(Debug, Clone)]
pub struct SweepSettings {
    pub api_url: String,
    pub integration_token: Secret,
    /// DELETEs sent per run at most (`SWEEP_MAX_DELETES`); the rest wait for the next run.
    pub max_deletes: u64,
    pub max_keys: u64,
    pub time_budget_ms: Millis,
}

impl SweepSettings {
    /// Reads `PRISMA_API_URL`, `INTEGRATION_TOKEN` and `SWEEP_MAX_DELETES`.
    pub fn from_config(config: &impl ConfigSource) -> Result<Self, Error> {
        Ok(SweepSettings {
            api_url: config::base_url(config, "PRISMA_API_URL", Some(config::DEFAULT_PRISMA_API_URL))?,
            integration_token: config::required_secret(config, "INTEGRATION_TOKEN")?,
            max_deletes: whole_number_var(config, "SWEEP_MAX_DELETES", DEFAULT_MAX_DELETES, 1..=MAX_KEYS_PER_RUN)?,
            max_keys: MAX_KEYS_PER_RUN,
            time_budget_ms: RUN_TIME_BUDGET_MS,
        })
    }
}

/// The reason a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SweepStop {
    /// The index has no more due keys.
    #[default]
    CaughtUp,
    MaxDeletes,
    MaxKeys,
    MaxListCalls,
    TimeBudget,
    /// KV failed; the keys not reached wait for the next run.
    StoreError,
}

impl SweepStop {
    pub fn as_str(self) -> &'static str {
        match self {
            SweepStop::CaughtUp => "caught_up",
            SweepStop::MaxDeletes => "max_deletes",
            SweepStop::MaxKeys => "max_keys",
            SweepStop::MaxListCalls => "max_list_calls",
            SweepStop::TimeBudget => "time_budget",
            SweepStop::StoreError => "store_error",
        }
    }
}

/// The counts and log lines of one run. `logs` contains one JSON line per event
/// other than the run summary, which `summary_line` builds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Due index keys examined, malformed ones included.
    pub due: u64,
    /// DELETEs that returned 2xx.
    pub deleted: u64,
    /// DELETEs that returned 404: the project was already deleted or no longer belongs to the partner.
    pub already_gone: u64,
    /// DELETEs that failed (5xx, 429, other statuses, timeouts, network errors) and were rescheduled.
    pub retried: u64,
    pub skipped_claimed: u64,
    /// Keys whose record is already marked deleted.
    pub skipped_deleted: u64,
    /// Keys moved to a later time without a DELETE: the record's `expiresAt` is still ahead,
    /// or the record cannot be parsed.
    pub postponed: u64,
    pub malformed_keys: u64,
    pub stop: SweepStop,
    pub logs: Vec<String>,
}

impl SweepReport {
    /// Builds the one summary line of the run.
    pub fn summary_line(&self, duration_ms: Millis) -> String {
        LogLine::new("sweep")
            .field("due", self.due)
            .field("deleted", self.deleted)
            .field("already_gone", self.already_gone)
            .field("retried", self.retried)
            .field("skipped_claimed", self.skipped_claimed)
            .field("skipped_deleted", self.skipped_deleted)
            .field("postponed", self.postponed)
            .field("malformed_keys", self.malformed_keys)
            .field("stopped", self.stop.as_str())
            .field("duration_ms", duration_ms)
            .to_string()
    }
}

/// Returns how long to wait after the `failed_attempts`-th failed DELETE of a project: no
/// wait after the first (the next run retries), then 1, 2, 4 … minutes, at most an hour.
pub fn retry_delay_ms(failed_attempts: u32) -> Millis {
    if failed_attempts <= 1 {
        return 0;
    }
    let doublings = (failed_attempts - 2).min(6);
    (MINUTE_MS << doublings).min(MAX_RETRY_DELAY_MS)
}

/// Returns the time of the moved index key. It is always after `now`, so the run that
/// moves a key stops when it reaches the key again, and the next run picks it up.
pub fn retry_at(now: Millis, failed_attempts: u32, retry_after_secs: Option<u64>) -> Millis {
    let asked = retry_after_secs.map_or(0, |seconds| seconds.saturating_mul(SECOND_MS)).min(MAX_RETRY_DELAY_MS);
    now + 1 + retry_delay_ms(failed_attempts).max(asked)
}

/// The record of a project as the sweep found it.
enum Found {
    Record(ProjectRecord),
    Missing,
    Unreadable(String),
}

/// The outcome of a DELETE.
enum Deletion {
    Deleted(u16),
    AlreadyGone,
    Failed { status: Option<u16>, reason: String, retry_after_secs: Option<u64> },
}

struct Run<'a, S, H> {
    store: &'a S,
    http: &'a H,
    settings: &'a SweepSettings,
    now: Millis,
    deletes_sent: u64,
    report: SweepReport,
}

/// Runs the sweep once. `clock` returns the current time; the run's `now` is its first
/// reading, later readings only enforce the time budget.
pub async fn sweep<S, H>(store: &S, http: &H, settings: &SweepSettings, clock: &impl Fn() -> Millis) -> SweepReport
where
    S: KeyValueStore,
    H: HttpClient,
{
    let now = clock();
    let mut run = Run { store, http, settings, now, deletes_sent: 0, report: SweepReport::default() };
    run.report.stop = run.walk_index(clock).await;
    run.report
}

impl<S, H> Run<'_, S, H>
where
    S: KeyValueStore,
    H: HttpClient,
{
    async fn walk_index(&mut self, clock: &impl Fn() -> Millis) -> SweepStop {
        let mut examined = 0;
        let mut list_calls = 0;
        let mut cursor: Option<String> = None;

        loop {
            if examined == self.settings.max_keys {
                return SweepStop::MaxKeys;
            }
            if list_calls == MAX_LIST_CALLS {
                return SweepStop::MaxListCalls;
            }
            let limit = (self.settings.max_keys - examined) as usize;
            let page = match self.store.list(EXPIRY_KEY_PREFIX, cursor.as_deref(), limit).await {
                Ok(page) => page,
                Err(error) => return self.store_failed("list", &error),
            };
            list_calls += 1;

            for key in page.keys {
                if examined == self.settings.max_keys {
                    return SweepStop::MaxKeys;
                }
                let Some((due_at, project_id)) = parse_expiry_key(&key) else {
                    examined += 1;
                    self.report.due += 1;
                    if let Some(stop) = self.drop_malformed_key(&key).await {
                        return stop;
                    }
                    continue;
                };
                if due_at > self.now {
                    return SweepStop::CaughtUp;
                }
                examined += 1;
                self.report.due += 1;
                if let Some(stop) = self.sweep_key(&key, &project_id, clock).await {
                    return stop;
                }
            }

            match page.cursor {
                Some(next) => cursor = Some(next),
                None => return SweepStop::CaughtUp,
            }
        }
    }

    async fn drop_malformed_key(&mut self, key: &str) -> Option<SweepStop> {
        self.report.malformed_keys += 1;
        self.report.logs.push(
            LogLine::new("sweep_malformed_key")
                .field("key", key.chars().take(120).collect::<String>())
                .to_string(),
        );
        match self.store.delete(key).await {
            Ok(()) => None,
            Err(error) => Some(self.store_failed("delete", &error)),
        }
    }

    /// Handles one due index key; `Some` ends the run.
    async fn sweep_key(&mut self, key: &str, project_id: &ProjectId, clock: &impl Fn() -> Millis) -> Option<SweepStop> {
        let found = match self.read_record(project_id).await {
            Ok(found) => found,
            Err(error) => return Some(self.store_failed("get", &error)),
        };

        let record = match found {
            Found::Unreadable(reason) => {
                // A record nothing can read may be a claim this version does not
                // understand, so the project is left alone and looked at again later.
                let later = self.now + UNREADABLE_RECORD_RETRY_MS;
                self.report.postponed += 1;
                self.report.logs.push(
                    LogLine::new("sweep_record_unreadable")
                        .field("project_id", project_id.as_str())
                        .field("reason", reason)
                        .field("retry_at", format_iso8601(later))
                        .to_string(),
                );
                return self.move_key(key, &expiry_key(later, project_id)).await.err();
            }
            Found::Record(record) if record.status == ProjectStatus::Claimed => {
                self.report.skipped_claimed += 1;
                return self.delete_key(key).await.err();
            }
            Found::Record(record) if record.status == ProjectStatus::Deleted => {
                self.report.skipped_deleted += 1;
                return self.delete_key(key).await.err();
            }
            Found::Record(record) if record.expires_at > self.now => {
                // The index key is earlier than the record's expiresAt. The record wins,
                // so nothing is deleted before its expiresAt.
                self.report.postponed += 1;
                return self.move_key(key, &expiry_key(record.expires_at, project_id)).await.err();
            }
            Found::Record(record) => Some(record),
            Found::Missing => None,
        };

        if self.deletes_sent >= self.settings.max_deletes {
            return Some(SweepStop::MaxDeletes);
        }
        if clock().saturating_sub(self.now) >= self.settings.time_budget_ms {
            return Some(SweepStop::TimeBudget);
        }
        self.deletes_sent += 1;
        let deletion = self.send_delete(project_id).await;
        self.settle(key, project_id, record, deletion).await
    }

    async fn read_record(&self, project_id: &ProjectId) -> Result<Found, StoreError> {
        let Some(text) = self.store.get(&project_key(project_id)).await? else {
            return Ok(Found::Missing);
        };
        Ok(match serde_json::from_str::<ProjectRecord>(&text) {
            Ok(record) => Found::Record(record),
            Err(error) => Found::Unreadable(error.to_string()),
        })
    }

    async fn send_delete(&self, project_id: &ProjectId) -> Deletion {
        let request = HttpRequest::new(Method::Delete, format!("{}/v1/projects/{project_id}", self.settings.api_url))
            .header("authorization", format!("Bearer {}", self.settings.integration_token.expose()));
        match self.http.send(request).await {
            Ok(response) if (200..300).contains(&response.status) => Deletion::Deleted(response.status),
            Ok(response) if response.status == 404 => Deletion::AlreadyGone,
            Ok(response) => Deletion::Failed {
                status: Some(response.status),
                reason: format!("status {}", response.status),
                retry_after_secs: retry_after(&response),
            },
            Err(error) => Deletion::Failed { status: None, reason: error.to_string(), retry_after_secs: None },
        }
    }

    /// Records the end of a DELETE: done (mark the record deleted, drop the key) or failed
    /// (count the attempt, move the key to the retry time).
    async fn settle(
        &mut self,
        key: &str,
        project_id: &ProjectId,
        record: Option<ProjectRecord>,
        deletion: Deletion,
    ) -> Option<SweepStop> {
        let (status, retry_after_secs, reason) = match deletion {
            Deletion::Deleted(status) => {
                self.report.deleted += 1;
                return self.finish(key, project_id, record, status).await;
            }
            Deletion::AlreadyGone => {
                self.report.already_gone += 1;
                return self.finish(key, project_id, record, 404).await;
            }
            Deletion::Failed { status, reason, retry_after_secs } => (status, retry_after_secs, reason),
        };

        self.report.retried += 1;
        // Limitation: KV has no compare-and-set, so a claim written between the read above
        // and this write is overwritten with `unclaimed`. The project is safe all the
        // same: after a transfer the partner's DELETE returns 404.
        let mut record = record.unwrap_or_else(|| reconstructed_record(key, project_id));
        record.delete_attempts = record.delete_attempts.saturating_add(1);
        let later = retry_at(self.now, record.delete_attempts, retry_after_secs);
        let mut line = LogLine::new("sweep_delete_failed")
            .field("project_id", project_id.as_str())
            .field("reason", reason)
            .field("attempts", record.delete_attempts)
            .field("retry_at", format_iso8601(later));
        if let Some(status) = status {
            line = line.field("status", status);
        }
        self.report.logs.push(line.to_string());

        if let Err(stop) = self.move_key(key, &expiry_key(later, project_id)).await {
            return Some(stop);
        }
        match save_record(self.store, project_id, &record, self.now).await {
            Ok(()) => None,
            Err(error) => Some(self.store_failed("put", &error)),
        }
    }

    async fn finish(
        &mut self,
        key: &str,
        project_id: &ProjectId,
        record: Option<ProjectRecord>,
        status: u16,
    ) -> Option<SweepStop> {
        let attempts = record.as_ref().map_or(0, |record| record.delete_attempts);
        self.report.logs.push(
            LogLine::new("project_deleted")
                .field("trigger", "sweep")
                .field("project_id", project_id.as_str())
                .field("status", status)
                .field("failed_attempts", attempts)
                .to_string(),
        );
        // The record goes first: if dropping the key then fails, the next run finds the
        // record deleted and only drops the key.
        if let Some(mut record) = record {
            record.status = ProjectStatus::Deleted;
            if let Err(error) = save_record(self.store, project_id, &record, self.now).await {
                return Some(self.store_failed("put", &error));
            }
        }
        self.delete_key(key).await.err()
    }

    /// Moves an index key: the new key first, so a failure in between leaves two keys
    /// (one spare DELETE later) rather than none.
    // NOTE: Workers KV lists are eventually consistent (about a minute), so the next run
    // may still list the old key and retry once more than the backoff sets.
    async fn move_key(&mut self, from: &str, to: &str) -> Result<(), SweepStop> {
        if from == to {
            return Ok(());
        }
        if let Err(error) = self.store.put(to, "", None).await {
            return Err(self.store_failed("put", &error));
        }
        self.delete_key(from).await
    }

    async fn delete_key(&mut self, key: &str) -> Result<(), SweepStop> {
        self.store.delete(key).await.map_err(|error| self.store_failed("delete", &error))
    }

    fn store_failed(&mut self, operation: &str, error: &StoreError) -> SweepStop {
        self.report.logs.push(
            LogLine::new("sweep_store_failed")
                .field("operation", operation)
                .field("reason", Value::from(error.to_string()))
                .to_string(),
        );
        SweepStop::StoreError
    }
}

/// Builds a record for a scheduled project whose record is missing (its write failed at
/// create), so failed attempts can be counted for the backoff. Region and creation
/// time are unknown: the region stays empty and both times are the index key's.
fn reconstructed_record(key: &str, project_id: &ProjectId) -> ProjectRecord {
    let due_at = parse_expiry_key(key).map_or(0, |(due_at, _)| due_at);
    ProjectRecord {
        project_id: project_id.to_string(),
        region: String::new(),
        created_at: due_at,
        expires_at: due_at,
        status: ProjectStatus::Unclaimed,
        delete_attempts: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;
    use shared::http::{HttpError, HttpResponse, ScriptedHttp};
    use shared::record::load_record;
    use shared::store::{ManualClock, MemoryStore};
    use std::cell::RefCell;
    use std::collections::VecDeque;
    use std::rc::Rc;

    const NOW: Millis = 1_796_412_900_000;
    const API: &str = "http://127.0.0.1:9";
    const TOKEN: &str = "sweep-test-token";

    fn id(text: &str) -> ProjectId {
        ProjectId::parse(text).unwrap()
    }

    fn settings() -> SweepSettings {
        SweepSettings {
            api_url: API.to_owned(),
            integration_token: Secret::new(TOKEN),
            max_deletes: DEFAULT_MAX_DELETES,
            max_keys: MAX_KEYS_PER_RUN,
            time_budget_ms: RUN_TIME_BUDGET_MS,
        }
    }

    /// Builds a store with one scheduled project per entry, each with a record of `status`.
    fn store_with(clock: &ManualClock, projects: &[(&str, Millis, ProjectStatus)]) -> MemoryStore {
        let store = MemoryStore::new(clock.clone());
        for (name, expires_at, status) in projects {
            let project_id = id(name);
            let record = ProjectRecord {
                project_id: project_id.to_string(),
                region: "us-east-1".to_owned(),
                created_at: expires_at - HOUR_MS,
                expires_at: *expires_at,
                status: *status,
                delete_attempts: 0,
            };
            block_on(save_record(&store, &project_id, &record, clock.now_ms())).unwrap();
            block_on(store.put(&expiry_key(*expires_at, &project_id), "", None)).unwrap();
        }
        store.reset_counts();
        store
    }

    /// Responds to DELETEs with `answers` in order, then with 204.
    fn answering(answers: Vec<Result<HttpResponse, HttpError>>) -> ScriptedHttp {
        let answers = Rc::new(RefCell::new(VecDeque::from(answers)));
        ScriptedHttp::new(move |_| answers.borrow_mut().pop_front().unwrap_or_else(|| Ok(HttpResponse::new(204, ""))))
    }

    fn run(store: &MemoryStore, http: &ScriptedHttp, clock: &ManualClock, settings: &SweepSettings) -> SweepReport {
        block_on(sweep(store, http, settings, &|| clock.now_ms()))
    }

    fn status_of(store: &MemoryStore, name: &str) -> Option<(ProjectStatus, u32)> {
        block_on(load_record(store, &id(name))).unwrap().map(|record| (record.status, record.delete_attempts))
    }

    #[test]
    fn retry_delay_backs_off_to_one_hour() {
        let minutes: Vec<Millis> = (1..=10).map(|attempts| retry_delay_ms(attempts) / MINUTE_MS).collect();

        assert_eq!(minutes, vec![0, 1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(retry_delay_ms(0), 0);
        assert_eq!(retry_delay_ms(u32::MAX), MAX_RETRY_DELAY_MS);
    }

    #[test]
    fn retry_at_honours_retry_after() {
        assert_eq!(retry_at(NOW, 1, None), NOW + 1);
        assert_eq!(retry_at(NOW, 3, None), NOW + 1 + 2 * MINUTE_MS);
        assert_eq!(retry_at(NOW, 1, Some(120)), NOW + 1 + 2 * MINUTE_MS);
        assert_eq!(retry_at(NOW, 1, Some(u64::MAX)), NOW + 1 + MAX_RETRY_DELAY_MS);
    }

    #[test]
    fn due_project_is_deleted_and_marked() {
        let clock = ManualClock::new(NOW);
        let store = store_with(&clock, &[("proj_due", NOW - 1, ProjectStatus::Unclaimed)]);
        let http = answering(vec![]);

        let report = run(&store, &http, &clock, &settings());

        assert_eq!(report.deleted, 1);
        assert_eq!(report.due, 1);
        assert_eq!(report.stop, SweepStop::CaughtUp);
        let sent = http.sent();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].method, Method::Delete);
        assert_eq!(sent[0].url, format!("{API}/v1/projects/proj_due"));
        assert_eq!(sent[0].header_value("authorization"), Some(format!("Bearer {TOKEN}").as_str()));
        assert_eq!(status_of(&store, "proj_due"), Some((ProjectStatus::Deleted, 0)));
        assert!(store.keys_with_prefix("expiry:").is_empty());
    }

    #[test]
    fn future_keys_stop_the_run() {
        let clock = ManualClock::new(NOW);
        let store = store_with(
            &clock,
            &[("proj_due", NOW, ProjectStatus::Unclaimed), ("proj_later", NOW + 1, ProjectStatus::Unclaimed)],
        );
        let http = answering(vec![]);

        let report = run(&store, &http, &clock, &settings());

        assert_eq!(report.due, 1);
        assert_eq!(http.sent().len(), 1);
        assert_eq!(store.keys_with_prefix("expiry:"), vec![expiry_key(NOW + 1, &id("proj_later"))]);
        assert_eq!(status_of(&store, "proj_later"), Some((ProjectStatus::Unclaimed, 0)));
    }

    #[test]
    fn claimed_and_deleted_records_drop_the_key_only() {
        let clock = ManualClock::new(NOW);
        let store = store_with(
            &clock,
            &[("proj_claimed", NOW - 5, ProjectStatus::Claimed), ("proj_gone", NOW - 4, ProjectStatus::Deleted)],
        );
        let http = answering(vec![]);

        let report = run(&store, &http, &clock, &settings());

        assert!(http.sent().is_empty());
        assert_eq!(report.skipped_claimed, 1);
        assert_eq!(report.skipped_deleted, 1);
        assert!(store.keys_with_prefix("expiry:").is_empty());
        assert_eq!(status_of(&store, "proj_claimed"), Some((ProjectStatus::Claimed, 0)));
        assert_eq!(store.counts().puts, 0);
    }

    #[test]
    fn missing_record_still_gets_a_delete() {
        let clock = ManualClock::new(NOW);
        let store = MemoryStore::new(clock.clone());
        block_on(store.put(&expiry_key(NOW - 1, &id("proj_norecord")), "", None)).unwrap();
        let http = answering(vec![Ok(HttpResponse::new(404, ""))]);

        let report = run(&store, &http, &clock, &settings());

        assert_eq!(http.sent().len(), 1);
        assert_eq!(report.already_gone, 1);
        assert!(store.keys_with_prefix("expiry:").is_empty());
        assert_eq!(status_of(&store, "proj_norecord"), None);
    }

    #[test]
    fn failed_delete_of_missing_record_counts_attempts() {
        let clock = ManualClock::new(NOW);
        let store = MemoryStore::new(clock.clone());
        block_on(store.put(&expiry_key(NOW - 1, &id("proj_norecord")), "", None)).unwrap();
        let http = answering(vec![Ok(HttpResponse::new(503, ""))]);

        run(&store, &http, &clock, &settings());

        assert_eq!(status_of(&store, "proj_norecord"), Some((ProjectStatus::Unclaimed, 1)));
        assert_eq!(store.keys_with_prefix("expiry:"), vec![expiry_key(NOW + 1, &id("proj_norecord"))]);
    }

    #[test]
    fn failed_delete_retries_then_backs_off() {
        let clock = ManualClock::new(NOW);
        let store = store_with(&clock, &[("proj_flaky", NOW - 1, ProjectStatus::Unclaimed)]);
        let http = answering(vec![
            Ok(HttpResponse::new(500, "")),
            Err(HttpError::Timeout),
            Err(HttpError::Network("reset".to_owned())),
        ]);

        let first = run(&store, &http, &clock, &settings());
        assert_eq!(first.retried, 1);
        assert_eq!(status_of(&store, "proj_flaky"), Some((ProjectStatus::Unclaimed, 1)));
        assert_eq!(store.keys_with_prefix("expiry:"), vec![expiry_key(NOW + 1, &id("proj_flaky"))]);

        clock.set(NOW + 2);
        let second = run(&store, &http, &clock, &settings());
        assert_eq!(second.retried, 1);
        assert_eq!(store.keys_with_prefix("expiry:"), vec![expiry_key(NOW + 3 + MINUTE_MS, &id("proj_flaky"))]);

        clock.set(NOW + 2 + MINUTE_MS);
        let early = run(&store, &http, &clock, &settings());
        assert_eq!(early.due, 0);
        assert_eq!(http.sent().len(), 2);

        clock.set(NOW + 3 + MINUTE_MS);
        run(&store, &http, &clock, &settings());
        assert_eq!(status_of(&store, "proj_flaky"), Some((ProjectStatus::Unclaimed, 3)));
        assert_eq!(
            store.keys_with_prefix("expiry:"),
            vec![expiry_key(NOW + 4 + 3 * MINUTE_MS, &id("proj_flaky"))]
        );

        clock.set(NOW + 4 + 3 * MINUTE_MS);
        let last = run(&store, &http, &clock, &settings());
        assert_eq!(last.deleted, 1);
        assert_eq!(http.sent().len(), 4);
        assert_eq!(status_of(&store, "proj_flaky"), Some((ProjectStatus::Deleted, 3)));
        assert!(store.keys_with_prefix("expiry:").is_empty());
    }

    #[test]
    fn rate_limit_waits_for_retry_after() {
        let clock = ManualClock::new(NOW);
        let store = store_with(&clock, &[("proj_limited", NOW - 1, ProjectStatus::Unclaimed)]);
        let mut limited = HttpResponse::new(429, "");
        limited.headers.push(("Retry-After".to_owned(), "300".to_owned()));
        let http = answering(vec![Ok(limited)]);

        run(&store, &http, &clock, &settings());

        assert_eq!(
            store.keys_with_prefix("expiry:"),
            vec![expiry_key(NOW + 1 + 5 * MINUTE_MS, &id("proj_limited"))]
        );
    }

    #[test]
    fn malformed_keys_are_dropped_and_logged() {
        let clock = ManualClock::new(NOW);
        let store = store_with(&clock, &[("proj_due", NOW - 1, ProjectStatus::Unclaimed)]);
        for key in ["expiry:12:proj_short", "expiry:0000000000001:not-an-id", "expiry:000000000000x:proj_x"] {
            block_on(store.put(key, "", None)).unwrap();
        }
        let http = answering(vec![]);

        let report = run(&store, &http, &clock, &settings());

        assert_eq!(report.malformed_keys, 3);
        assert_eq!(report.deleted, 1);
        assert!(store.keys_with_prefix("expiry:").is_empty());
        let logged = report.logs.iter().filter(|line| line.contains("sweep_malformed_key")).count();
        assert_eq!(logged, 3);
    }

    #[test]
    fn unreadable_record_is_postponed_without_delete() {
        let clock = ManualClock::new(NOW);
        let store = MemoryStore::new(clock.clone());
        block_on(store.put("project:proj_odd", "{not json", None)).unwrap();
        block_on(store.put(&expiry_key(NOW - 1, &id("proj_odd")), "", None)).unwrap();
        let http = answering(vec![]);

        let report = run(&store, &http, &clock, &settings());

        assert!(http.sent().is_empty());
        assert_eq!(report.postponed, 1);
        assert_eq!(
            store.keys_with_prefix("expiry:"),
            vec![expiry_key(NOW + UNREADABLE_RECORD_RETRY_MS, &id("proj_odd"))]
        );
        assert_eq!(store.peek("project:proj_odd").as_deref(), Some("{not json"));
    }

    #[test]
    fn record_expiry_ahead_of_key_prevents_delete() {
        let clock = ManualClock::new(NOW);
        let store = store_with(&clock, &[("proj_early", NOW + HOUR_MS, ProjectStatus::Unclaimed)]);
        block_on(store.put(&expiry_key(NOW - 1, &id("proj_early")), "", None)).unwrap();
        block_on(store.delete(&expiry_key(NOW + HOUR_MS, &id("proj_early")))).unwrap();
        let http = answering(vec![]);

        let report = run(&store, &http, &clock, &settings());

        assert!(http.sent().is_empty());
        assert_eq!(report.postponed, 1);
        assert_eq!(store.keys_with_prefix("expiry:"), vec![expiry_key(NOW + HOUR_MS, &id("proj_early"))]);
    }

    #[test]
    fn max_deletes_defers_the_rest() {
        let clock = ManualClock::new(NOW);
        let names: Vec<String> = (0..10).map(|index| format!("proj_p{index}")).collect();
        let projects: Vec<(&str, Millis, ProjectStatus)> =
            names.iter().enumerate().map(|(index, name)| (name.as_str(), NOW - 100 + index as Millis, ProjectStatus::Unclaimed)).collect();
        let store = store_with(&clock, &projects);
        let http = answering(vec![]);
        let settings = SweepSettings { max_deletes: 3, ..settings() };

        let report = run(&store, &http, &clock, &settings);

        assert_eq!(report.deleted, 3);
        assert_eq!(report.stop, SweepStop::MaxDeletes);
        assert_eq!(store.keys_with_prefix("expiry:").len(), 7);
        let sent: Vec<String> = http.sent().iter().map(|request| request.url.clone()).collect();
        let expected: Vec<String> = names[..3].iter().map(|name| format!("{API}/v1/projects/{name}")).collect();
        assert_eq!(sent, expected, "the earliest keys go first");
    }

    #[test]
    fn max_keys_bounds_claimed_keys_too() {
        let clock = ManualClock::new(NOW);
        let names: Vec<String> = (0..30).map(|index| format!("proj_c{index}")).collect();
        let projects: Vec<(&str, Millis, ProjectStatus)> =
            names.iter().map(|name| (name.as_str(), NOW - 10, ProjectStatus::Claimed)).collect();
        let store = store_with(&clock, &projects);
        let http = answering(vec![]);
        let settings = SweepSettings { max_keys: 12, ..settings() };

        let report = run(&store, &http, &clock, &settings);

        assert_eq!(report.skipped_claimed, 12);
        assert_eq!(report.stop, SweepStop::MaxKeys);
        assert_eq!(store.keys_with_prefix("expiry:").len(), 18);
        assert_eq!(store.counts().lists, 1);
    }

    #[test]
    fn time_budget_stops_new_deletes() {
        let clock = ManualClock::new(NOW);
        let store = store_with(
            &clock,
            &[("proj_slow", NOW - 2, ProjectStatus::Unclaimed), ("proj_next", NOW - 1, ProjectStatus::Unclaimed)],
        );
        let slow_clock = clock.clone();
        let http = ScriptedHttp::new(move |_| {
            slow_clock.advance(RUN_TIME_BUDGET_MS);
            Err(HttpError::Timeout)
        });

        let report = run(&store, &http, &clock, &settings());

        assert_eq!(http.sent().len(), 1);
        assert_eq!(report.retried, 1);
        assert_eq!(report.stop, SweepStop::TimeBudget);
        assert!(store.keys_with_prefix("expiry:").contains(&expiry_key(NOW - 1, &id("proj_next"))));
    }

    #[test]
    fn store_failure_ends_the_run_keeping_the_key() {
        let clock = ManualClock::new(NOW);
        let store = store_with(
            &clock,
            &[("proj_a", NOW - 2, ProjectStatus::Unclaimed), ("proj_b", NOW - 1, ProjectStatus::Unclaimed)],
        );
        store.fail_puts_with_prefix("project:");
        let http = answering(vec![]);

        let report = run(&store, &http, &clock, &settings());

        assert_eq!(report.stop, SweepStop::StoreError);
        assert_eq!(http.sent().len(), 1);
        assert!(store.keys_with_prefix("expiry:").contains(&expiry_key(NOW - 2, &id("proj_a"))));
        assert!(report.logs.iter().any(|line| line.contains("sweep_store_failed")));
    }

    #[test]
    fn summary_line_has_the_counts() {
        let report = SweepReport { due: 3, deleted: 1, already_gone: 1, retried: 1, ..SweepReport::default() };

        let line: Value = serde_json::from_str(&report.summary_line(12)).unwrap();

        assert_eq!(line["event"], "sweep");
        assert_eq!(line["due"], 3);
        assert_eq!(line["deleted"], 1);
        assert_eq!(line["already_gone"], 1);
        assert_eq!(line["retried"], 1);
        assert_eq!(line["skipped_claimed"], 0);
        assert_eq!(line["stopped"], "caught_up");
        assert_eq!(line["duration_ms"], 12);
    }

    #[test]
    fn logs_never_contain_the_token() {
        let clock = ManualClock::new(NOW);
        let store = store_with(&clock, &[("proj_a", NOW - 1, ProjectStatus::Unclaimed)]);
        let http = answering(vec![Ok(HttpResponse::new(401, TOKEN))]);

        let report = run(&store, &http, &clock, &settings());

        assert_eq!(report.retried, 1);
        assert!(report.logs.iter().all(|line| !line.contains(TOKEN)), "{:?}", report.logs);
    }

    #[test]
    fn settings_read_max_deletes() {
        let base = shared::config::MapConfig::new(&[("INTEGRATION_TOKEN", TOKEN), ("PRISMA_API_URL", API)]);

        assert_eq!(SweepSettings::from_config(&base).map(|settings| settings.max_deletes), Ok(DEFAULT_MAX_DELETES));
        let set = base.clone().with("SWEEP_MAX_DELETES", "7");
        assert_eq!(SweepSettings::from_config(&set).map(|settings| settings.max_deletes), Ok(7));
        for invalid in ["0", "-1", "many", "201"] {
            let config = base.clone().with("SWEEP_MAX_DELETES", invalid);
            let result = SweepSettings::from_config(&config).map(|settings| settings.max_deletes);
            assert!(matches!(result, Err(Error::Config { name: "SWEEP_MAX_DELETES", .. })), "{invalid}: {result:?}");
        }
        let missing_token = base.without("INTEGRATION_TOKEN");
        assert!(matches!(
            SweepSettings::from_config(&missing_token),
            Err(Error::Config { name: "INTEGRATION_TOKEN", .. })
        ));
    }
}
