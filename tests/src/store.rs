//! The platform's in-memory state: projects (deleted ones are kept so tests can inspect
//! them), authorization codes, access tokens, injected faults and request counts. Everything
//! is lost when the process stops, and `POST /_emulator/reset` clears it all.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use jiff::Timestamp;

use crate::config::PlatformConfig;

/// Shared by every handler.
#[derive(Clone)]
pub(crate) struct AppState {
    pub config: Arc<PlatformConfig>,
    /// `http://127.0.0.1:PORT`, used to build the `url` fields of resources.
    pub base_url: Arc<str>,
    store: Arc<Mutex<Store>>,
}

impl AppState {
    pub fn new(config: PlatformConfig, base_url: String) -> Self {
        AppState {
            config: Arc::new(config),
            base_url: base_url.into(),
            store: Arc::new(Mutex::new(Store::default())),
        }
    }

    /// Locks the store. No handler panics while holding the lock, but a poisoned lock is
    /// still usable because every update leaves the store consistent.
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[derive(Default)]
pub(crate) struct Store {
    /// Every project ever created, in insertion order.
    pub projects: Vec<Project>,
    next_sequence: u64,
    pub codes: HashMap<String, AuthorizationCode>,
    pub access_tokens: HashMap<String, AccessToken>,
    /// Every access token and authorization code ever issued, expired ones included, so a
    /// test can check that none of them reached a worker's log.
    pub issued_secrets: Vec<String>,
    /// Faults in the order they were added; the first match applies.
    pub faults: Vec<Fault>,
    /// Requests per route pattern, such as `DELETE /v1/projects/{id}`.
    pub request_counts: BTreeMap<String, u64>,
}

impl Store {
    pub fn insert_project(&mut self, mut project: Project) -> &Project {
        project.sequence = self.next_sequence;
        self.next_sequence += 1;
        self.projects.push(project);
        let last = self.projects.len() - 1;
        &self.projects[last]
    }

    pub fn project(&self, project_id: &str) -> Option<&Project> {
        self.projects
            .iter()
            .find(|project| project.id == project_id)
    }

    pub fn project_mut(&mut self, project_id: &str) -> Option<&mut Project> {
        self.projects
            .iter_mut()
            .find(|project| project.id == project_id)
    }

    /// Returns a live (not deleted) project if it belongs to `workspace_id`.
    pub fn visible_project(&self, project_id: &str, workspace_id: &str) -> Option<&Project> {
        self.project(project_id)
            .filter(|project| !project.deleted && project.workspace_id == workspace_id)
    }

    /// Returns all projects, deleted ones included, ordered by `createdAt` and then by
    /// insertion, which is the order that `GET /v1/projects` pages through.
    pub fn projects_by_creation(&self) -> Vec<&Project> {
        let mut projects: Vec<&Project> = self.projects.iter().collect();
        projects.sort_by_key(|project| (project.created_at, project.sequence));
        projects
    }

    /// Returns the access token's grant if the token exists and has not expired.
    pub fn access_token(&mut self, token: &str, now: Instant) -> Option<&AccessToken> {
        self.access_tokens.retain(|_, grant| grant.expires_at > now);
        self.access_tokens.get(token)
    }

    /// Forgets every project, code, token, fault and count.
    pub fn reset(&mut self) {
        *self = Store::default();
    }
}

pub(crate) struct Project {
    pub id: String,
    pub name: String,
    pub region: String,
    pub workspace_id: String,
    pub logical_id: Option<String>,
    pub created_at: Timestamp,
    pub deleted: bool,
    /// `User-Agent` of the request that created the project.
    pub user_agent: Option<String>,
    /// `None` when the project was created with `createDatabase: false`.
    pub database: Option<Database>,
    /// Insertion order, which breaks ties between equal `created_at` values.
    sequence: u64,
}

impl Project {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: String,
        name: String,
        region: String,
        workspace_id: String,
        logical_id: Option<String>,
        created_at: Timestamp,
        user_agent: Option<String>,
        database: Option<Database>,
    ) -> Self {
        Project {
            id,
            name,
            region,
            workspace_id,
            logical_id,
            created_at,
            deleted: false,
            user_agent,
            database,
            sequence: 0,
        }
    }
}

pub(crate) struct Database {
    pub id: String,
    pub name: String,
    pub created_at: Timestamp,
    pub connection: Connection,
}

/// The database's one Postgres connection and its credentials.
pub(crate) struct Connection {
    pub id: String,
    pub name: String,
    pub created_at: Timestamp,
    pub user: String,
    pub password: String,
}

/// What an authorization code was issued for; `/token` checks the exchange against it.
pub(crate) struct AuthorizationCode {
    pub client_id: String,
    pub redirect_uri: String,
    /// BASE64URL-NOPAD(SHA256(code_verifier)), as sent to `/authorize`.
    pub code_challenge: String,
    pub user_id: String,
    pub workspace_id: String,
    pub expires_at: Instant,
}

/// The user and workspace an access token acts for.
pub(crate) struct AccessToken {
    pub user_id: String,
    pub workspace_id: String,
    pub expires_at: Instant,
}

/// A fault injected through `POST /_emulator/faults`.
#[derive(Clone, Debug)]
pub(crate) struct Fault {
    /// Upper-case HTTP method, or `*` for any method.
    pub method: String,
    /// Prefix of the request path (without the query string).
    pub path_prefix: String,
    pub status: Option<StatusCode>,
    pub delay: Option<Duration>,
    pub body: Option<String>,
    pub drop_connection: bool,
    /// How many more matching requests get this fault.
    pub remaining: u32,
}

impl Fault {
    pub fn matches(&self, method: &str, path: &str) -> bool {
        (self.method == "*" || self.method.eq_ignore_ascii_case(method))
            && path.starts_with(&self.path_prefix)
    }
}

/// Formats a timestamp as ISO 8601 in UTC with milliseconds: `2025-01-31T09:30:00.000Z`.
pub(crate) fn format_timestamp(timestamp: Timestamp) -> String {
    timestamp.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_has_milliseconds_and_z() -> Result<(), jiff::Error> {
        let timestamp: Timestamp = "2024-03-05T06:07:08.9+00:00".parse()?;

        assert_eq!(format_timestamp(timestamp), "2024-03-05T06:07:08.900Z");
        Ok(())
    }

    #[test]
    fn fault_matches_method_and_prefix() {
        let fault = Fault {
            method: "DELETE".to_owned(),
            path_prefix: "/v1/projects".to_owned(),
            status: None,
            delay: None,
            body: None,
            drop_connection: true,
            remaining: 1,
        };

        assert!(fault.matches("delete", "/v1/projects/proj_1"));
        assert!(!fault.matches("GET", "/v1/projects/proj_1"));
        assert!(!fault.matches("DELETE", "/v1/regions/postgres"));
    }
}
