//! The pending claim under `oauth:{state}` in KV: which project the sign-in is for, the
//! PKCE verifier, when it started, the SHA-256 of the browser's cookie, and the claim
//! link's marketing tags. It lives at most ten minutes and is deleted before its code is
//! exchanged, so each state finishes at most one claim.

use crate::oauth::{OAuthState, PkceVerifier};
use crate::params::Utm;
use serde::{Deserialize, Serialize};
use shared::store::{KeyValueStore, StoreError};
use shared::time::{Millis, MINUTE_MS};
use shared::ProjectId;

pub const OAUTH_KEY_PREFIX: &str = "oauth:";

/// How long KV keeps a pending claim. Workers KV accepts 60 seconds at the least.
pub const STATE_TTL_SECS: u64 = 600;

/// The oldest pending claim the callback accepts. KV expiry is not exact, so the age is
/// also checked against `createdAt`.
pub const STATE_MAX_AGE_MS: Millis = 10 * MINUTE_MS;

/// A claim waiting for the user to come back from Prisma Auth.
#[derive(Debug, PartialEq, Eq)]
pub struct PendingClaim {
    pub project_id: ProjectId,
    pub code_verifier: PkceVerifier,
    pub created_at: Millis,
    /// Lowercase hex SHA-256 of the browser cookie's value.
    pub cookie_hash: String,
    pub utm: Utm,
}

/// The stored JSON form.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredClaim {
    project_id: String,
    code_verifier: String,
    created_at: Millis,
    cookie_hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    utm_source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    utm_medium: Option<String>,
}

pub fn oauth_key(state: &OAuthState) -> String {
    format!("{OAUTH_KEY_PREFIX}{}", state.expose())
}

impl PendingClaim {
    /// Checks whether the claim is older than `STATE_MAX_AGE_MS` at `now`.
    pub fn is_expired(&self, now: Millis) -> bool {
        now.saturating_sub(self.created_at) > STATE_MAX_AGE_MS
    }
}

pub async fn save(store: &impl KeyValueStore, state: &OAuthState, claim: &PendingClaim) -> Result<(), StoreError> {
    let stored = StoredClaim {
        project_id: claim.project_id.to_string(),
        code_verifier: claim.code_verifier.expose().to_owned(),
        created_at: claim.created_at,
        cookie_hash: claim.cookie_hash.clone(),
        utm_source: claim.utm.source.clone(),
        utm_medium: claim.utm.medium.clone(),
    };
    let text = serde_json::to_string(&stored).map_err(|error| StoreError(format!("cannot encode a pending claim: {error}")))?;
    store.put(&oauth_key(state), &text, Some(STATE_TTL_SECS)).await
}

/// Reads the pending claim of `state`. A value that does not parse or holds an invalid
/// project id or verifier counts as absent, since nobody can finish it anyway; the
/// caller logs that case through the returned flag.
pub async fn load(store: &impl KeyValueStore, state: &OAuthState) -> Result<Loaded, StoreError> {
    let Some(text) = store.get(&oauth_key(state)).await? else {
        return Ok(Loaded::Missing);
    };
    let Ok(stored) = serde_json::from_str::<StoredClaim>(&text) else {
        return Ok(Loaded::Unreadable);
    };
    let (Ok(project_id), Some(code_verifier)) =
        (ProjectId::parse(&stored.project_id), PkceVerifier::from_stored(stored.code_verifier))
    else {
        return Ok(Loaded::Unreadable);
    };
    Ok(Loaded::Found(PendingClaim {
        project_id,
        code_verifier,
        created_at: stored.created_at,
        cookie_hash: stored.cookie_hash,
        utm: Utm::new(stored.utm_source.as_deref(), stored.utm_medium.as_deref()),
    }))
}

/// The result of `load` for one state.
#[derive(Debug, PartialEq, Eq)]
pub enum Loaded {
    Found(PendingClaim),
    Missing,
    Unreadable,
}

pub async fn delete(store: &impl KeyValueStore, state: &OAuthState) -> Result<(), StoreError> {
    store.delete(&oauth_key(state)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;
    use shared::store::{ManualClock, MemoryStore};

    fn claim(created_at: Millis) -> PendingClaim {
        PendingClaim {
            project_id: ProjectId::parse("proj_abc").unwrap(),
            code_verifier: PkceVerifier::from_stored("v".repeat(43)).unwrap(),
            created_at,
            cookie_hash: "ab".repeat(32),
            utm: Utm::new(Some("create-db"), Some("cli")),
        }
    }

    #[test]
    fn pending_claim_round_trips_with_ttl() {
        let clock = ManualClock::new(1_000);
        let store = MemoryStore::new(clock);
        let state = OAuthState::parse(&"s".repeat(43)).unwrap();

        block_on(save(&store, &state, &claim(1_000))).unwrap();

        assert_eq!(block_on(load(&store, &state)), Ok(Loaded::Found(claim(1_000))));
        let key = format!("oauth:{}", "s".repeat(43));
        assert_eq!(store.expires_at(&key), Some(1_000 + STATE_TTL_SECS * 1_000));
        let stored = store.peek(&key).unwrap();
        assert!(stored.contains("\"createdAt\":1000"), "{stored}");
        assert!(stored.contains("\"cookieHash\""), "{stored}");
    }

    #[test]
    fn unreadable_value_is_reported() {
        let store = MemoryStore::new(ManualClock::new(0));
        let state = OAuthState::parse(&"s".repeat(43)).unwrap();
        block_on(store.put(&oauth_key(&state), "{\"projectId\":\"bad id\"}", None)).unwrap();

        assert_eq!(block_on(load(&store, &state)), Ok(Loaded::Unreadable));
    }

    #[test]
    fn expiry_is_checked_against_created_at() {
        let pending = claim(0);

        assert!(!pending.is_expired(STATE_MAX_AGE_MS));
        assert!(pending.is_expired(STATE_MAX_AGE_MS + 1));
    }
}
