//! The lifecycle state of each temporary project in KV: `project:{id}` contains its record,
//! and `expiry:{expiresAt as 13 digits}:{id}` is an empty index key, so listing the
//! `expiry:` prefix returns projects in the order they are due. Both workers read and
//! write these keys; this module is the only place that knows their layout.

use crate::ids::ProjectId;
use crate::store::{KeyValueStore, StoreError, MIN_EXPIRATION_TTL_SECS};
use crate::time::{Millis, DAY_MS};
use serde::{Deserialize, Serialize};

pub const PROJECT_KEY_PREFIX: &str = "project:";
pub const EXPIRY_KEY_PREFIX: &str = "expiry:";

/// How long a record outlives its project's expiry, so clients can still read that a
/// project was deleted or claimed.
pub const RECORD_RETENTION_MS: Millis = 3 * DAY_MS;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProjectStatus {
    Unclaimed,
    Claimed,
    Deleted,
}

impl ProjectStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ProjectStatus::Unclaimed => "unclaimed",
            ProjectStatus::Claimed => "claimed",
            ProjectStatus::Deleted => "deleted",
        }
    }
}

/// The record under `project:{id}`. Unknown fields are ignored so either worker can be
/// deployed ahead of the other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectRecord {
    pub project_id: String,
    pub region: String,
    pub created_at: Millis,
    pub expires_at: Millis,
    pub status: ProjectStatus,
    /// Failed deletion attempts so far, for the sweep's backoff.
    #[serde(default)]
    pub delete_attempts: u32,
}

pub fn project_key(project_id: &ProjectId) -> String {
    format!("{PROJECT_KEY_PREFIX}{project_id}")
}

/// Builds the index key. Its 13 zero-padded digits keep byte order equal to time order until the
/// year 2286.
pub fn expiry_key(expires_at: Millis, project_id: &ProjectId) -> String {
    format!("{EXPIRY_KEY_PREFIX}{expires_at:013}:{project_id}")
}

/// Splits an `expiry:` key into its time and project id; `None` for a malformed key.
pub fn parse_expiry_key(key: &str) -> Option<(Millis, ProjectId)> {
    let rest = key.strip_prefix(EXPIRY_KEY_PREFIX)?;
    let (time, id) = rest.split_once(':')?;
    if time.len() != 13 || !time.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    Some((time.parse().ok()?, ProjectId::parse(id).ok()?))
}

/// Seconds until a record written at `now` should disappear from KV: its expiry plus the
/// retention period, never below the store's minimum.
pub fn record_expiration_ttl_secs(now: Millis, expires_at: Millis) -> u64 {
    let remaining = expires_at.saturating_sub(now) + RECORD_RETENTION_MS;
    (remaining / 1_000).max(MIN_EXPIRATION_TTL_SECS)
}

/// Reads the record of `project_id`. A value that does not parse is reported as an error
/// rather than treated as absent, so nothing acts on a project it cannot read.
pub async fn load_record(
    store: &impl KeyValueStore,
    project_id: &ProjectId,
) -> Result<Option<ProjectRecord>, StoreError> {
    let Some(text) = store.get(&project_key(project_id)).await? else {
        return Ok(None);
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|error| StoreError(format!("unreadable record for {project_id}: {error}")))
}

/// Writes the record of `project_id`, keeping it for the retention period past expiry.
pub async fn save_record(
    store: &impl KeyValueStore,
    project_id: &ProjectId,
    record: &ProjectRecord,
    now: Millis,
) -> Result<(), StoreError> {
    let text = serde_json::to_string(record)
        .map_err(|error| StoreError(format!("cannot encode record for {project_id}: {error}")))?;
    let expiration = record_expiration_ttl_secs(now, record.expires_at);
    store.put(&project_key(project_id), &text, Some(expiration)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ManualClock, MemoryStore};
    use futures::executor::block_on;

    fn id(text: &str) -> ProjectId {
        ProjectId::parse(text).unwrap()
    }

    #[test]
    fn expiry_keys_sort_by_time() {
        let early = expiry_key(999, &id("proj_zzz"));
        let late = expiry_key(1_000, &id("proj_aaa"));

        assert_eq!(early, "expiry:0000000000999:proj_zzz");
        assert!(early < late);
    }

    #[test]
    fn expiry_key_round_trips() {
        let key = expiry_key(1_796_412_903_123, &id("proj_abc123"));

        assert_eq!(parse_expiry_key(&key), Some((1_796_412_903_123, id("proj_abc123"))));
    }

    #[test]
    fn parse_expiry_key_rejects_malformed_keys() {
        for key in ["expiry:", "expiry:123:proj_a", "expiry:000000000012x:proj_a", "expiry:0000000000123:bad", "project:proj_a"] {
            assert_eq!(parse_expiry_key(key), None, "{key}");
        }
    }

    #[test]
    fn record_ttl_covers_retention_and_minimum() {
        assert_eq!(record_expiration_ttl_secs(0, DAY_MS), 4 * 86_400);
        assert_eq!(record_expiration_ttl_secs(10 * DAY_MS, 0), 3 * 86_400);
        assert_eq!(record_expiration_ttl_secs(0, 0), 3 * 86_400);
    }

    #[test]
    fn record_round_trips_through_store() {
        let store = MemoryStore::new(ManualClock::new(0));
        let project_id = id("proj_abc");
        let record = ProjectRecord {
            project_id: project_id.to_string(),
            region: "us-east-1".to_owned(),
            created_at: 5,
            expires_at: 10,
            status: ProjectStatus::Unclaimed,
            delete_attempts: 0,
        };

        block_on(save_record(&store, &project_id, &record, 5)).unwrap();

        assert_eq!(block_on(load_record(&store, &project_id)), Ok(Some(record)));
        let stored = store.peek("project:proj_abc").unwrap();
        assert!(stored.contains("\"status\":\"unclaimed\""), "{stored}");
        assert!(stored.contains("\"expiresAt\":10"), "{stored}");
    }

    #[test]
    fn unreadable_record_is_an_error() {
        let store = MemoryStore::new(ManualClock::new(0));
        block_on(store.put("project:proj_abc", "{not json", None)).unwrap();

        assert!(block_on(load_record(&store, &id("proj_abc"))).is_err());
    }
}
