//! Control routes under `/_emulator` (no authentication) and the middleware that counts every
//! other request per route pattern and applies injected faults: a status with an optional
//! raw body, a delay, or a connection closed without any response. Tests and `cargo xtask
//! dev` use these routes to inspect state, seed old projects and break the platform on purpose.

use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::{CONTENT_TYPE, USER_AGENT};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::{ApiError, JsonBody};
use crate::management::checked_region;
use crate::resources::{build_project, created_project, project_state, NewProject};
use crate::server::ConnectionControl;
use crate::store::{AppState, Fault, Store};

/// Longest accepted fault delay, so a unit mix-up (seconds as milliseconds) fails loudly.
const MAX_DELAY_MS: u64 = 300_000;

pub(crate) const CONTROL_PREFIX: &str = "/_emulator";

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/_emulator/state", get(show_state))
        .route(
            "/_emulator/faults",
            get(list_faults).post(add_fault).delete(clear_faults),
        )
        .route("/_emulator/projects", post(seed_project))
        .route("/_emulator/reset", post(reset))
        .route("/_emulator/issued-secrets", get(issued_secrets))
}

async fn show_state(State(state): State<AppState>) -> Json<Value> {
    let mut store = state.store();
    let now = Instant::now();
    store
        .access_tokens
        .retain(|_, grant| grant.expires_at > now);

    let projects: Vec<Value> = store
        .projects_by_creation()
        .into_iter()
        .map(project_state)
        .collect();
    // Grants without the tokens themselves, so a test can see which workspace a sign-in chose.
    let access_tokens: Vec<Value> = store
        .access_tokens
        .values()
        .map(|grant| {
            json!({
                "userId": grant.user_id,
                "workspaceId": grant.workspace_id,
                "expiresInSeconds": grant.expires_at.saturating_duration_since(now).as_secs(),
            })
        })
        .collect();

    Json(json!({
        "projects": projects,
        "requests": store.request_counts,
        "accessTokens": access_tokens,
        "faults": store.faults.iter().map(fault_json).collect::<Vec<_>>(),
    }))
}

/// Lists every access token and authorization code issued so far, for log scans in tests:
/// this emulator's tokens work nowhere else.
async fn issued_secrets(State(state): State<AppState>) -> Json<Value> {
    let store = state.store();
    Json(json!({ "issued": store.issued_secrets }))
}

fn fault_json(fault: &Fault) -> Value {
    json!({
        "method": fault.method,
        "path": fault.path_prefix,
        "status": fault.status.map(|status| status.as_u16()),
        "delay_ms": fault.delay.map(|delay| u64::try_from(delay.as_millis()).unwrap_or(u64::MAX)),
        "body": fault.body,
        "drop": fault.drop_connection,
        "times": fault.remaining,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultRequest {
    method: Option<String>,
    path: Option<String>,
    status: Option<u16>,
    delay_ms: Option<u64>,
    body: Option<String>,
    drop: Option<bool>,
    times: Option<u32>,
}

/// Checks a fault request. A fault needs a status, a delay or `drop`; `body` needs a status,
/// and `drop` excludes both.
fn parse_fault(request: FaultRequest) -> Result<Fault, ApiError> {
    let method = request.method.as_deref().map(str::trim).unwrap_or("");
    if method.is_empty() || !(method == "*" || method.bytes().all(|b| b.is_ascii_alphabetic())) {
        return Err(ApiError::validation(
            "method is required: an HTTP method such as \"POST\", or \"*\" for any.",
        ));
    }
    let path = request.path.unwrap_or_default();
    if !path.starts_with('/') {
        return Err(ApiError::validation(format!(
            "path must be a path prefix starting with \"/\", got {path:?}."
        )));
    }
    if path.starts_with(CONTROL_PREFIX) {
        return Err(ApiError::validation(
            "Faults cannot target the /_emulator routes.",
        ));
    }
    let times = match request.times {
        Some(times) if times >= 1 => times,
        _ => {
            return Err(ApiError::validation(
                "times is required: how many matching requests get the fault (at least 1).",
            ))
        }
    };

    let status = match request.status {
        None => None,
        Some(code) => match StatusCode::from_u16(code) {
            Ok(status) if (200..=599).contains(&code) => Some(status),
            _ => {
                return Err(ApiError::validation(format!(
                    "status must be an HTTP status from 200 to 599, got {code}."
                )))
            }
        },
    };
    let delay = match request.delay_ms {
        Some(ms) if ms > MAX_DELAY_MS => {
            return Err(ApiError::validation(format!(
                "delay_ms must be at most {MAX_DELAY_MS}, got {ms}."
            )))
        }
        other => other.map(Duration::from_millis),
    };
    let drop_connection = request.drop.unwrap_or(false);

    if drop_connection && (status.is_some() || request.body.is_some()) {
        return Err(ApiError::validation(
            "drop closes the connection without a response, so it cannot have a status or body.",
        ));
    }
    if request.body.is_some() && status.is_none() {
        return Err(ApiError::validation("body needs a status to be sent with."));
    }
    if status.is_none() && delay.is_none() && !drop_connection {
        return Err(ApiError::validation(
            "A fault needs at least one of status, delay_ms or drop.",
        ));
    }

    Ok(Fault {
        method: method.to_ascii_uppercase(),
        path_prefix: path,
        status,
        delay,
        body: request.body,
        drop_connection,
        remaining: times,
    })
}

async fn add_fault(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<FaultRequest>,
) -> Result<Response, ApiError> {
    let fault = parse_fault(request)?;
    let body = json!({ "data": fault_json(&fault) });

    state.store().faults.push(fault);
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

async fn list_faults(State(state): State<AppState>) -> Json<Value> {
    let store = state.store();
    Json(json!({ "data": store.faults.iter().map(fault_json).collect::<Vec<_>>() }))
}

async fn clear_faults(State(state): State<AppState>) -> StatusCode {
    state.store().faults.clear();
    StatusCode::NO_CONTENT
}

async fn reset(State(state): State<AppState>) -> StatusCode {
    state.store().reset();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SeedProjectRequest {
    name: Option<String>,
    region: Option<String>,
    created_at: Option<String>,
    workspace_id: Option<String>,
}

/// Parses an ISO 8601 instant. Values without an offset, such as `2024-01-31T10:00:00` or
/// `2024-01-31`, are taken as UTC.
fn parse_instant(text: &str) -> Option<Timestamp> {
    if let Ok(timestamp) = text.parse::<Timestamp>() {
        return Some(timestamp);
    }
    let civil: jiff::civil::DateTime = text.parse().ok()?;
    jiff::tz::TimeZone::UTC.to_timestamp(civil).ok()
}

/// Creates a project as if it had been created at `createdAt`, in the partner workspace
/// unless `workspaceId` names another known workspace.
async fn seed_project(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(request): JsonBody<SeedProjectRequest>,
) -> Result<Response, ApiError> {
    let name = request.name.as_deref().map(str::trim).unwrap_or("");
    if name.is_empty() {
        return Err(ApiError::validation(
            "name is required and must not be empty.",
        ));
    }
    let region = checked_region(&state, request.region.as_deref(), false)?;
    let created_at = match request.created_at.as_deref() {
        None => Timestamp::now(),
        Some(text) => parse_instant(text).ok_or_else(|| {
            ApiError::validation(format!(
                "createdAt {text:?} is not an ISO 8601 date-time such as 2024-01-31T10:00:00Z."
            ))
        })?,
    };
    let workspace_id = match request.workspace_id {
        None => state.config.partner_workspace.id.clone(),
        Some(id) if state.config.workspace(&id).is_some() => id,
        Some(id) => {
            return Err(ApiError::validation(format!(
                "workspaceId {id:?} is not a known workspace."
            )))
        }
    };

    let project = build_project(NewProject {
        name: name.to_owned(),
        region,
        workspace_id,
        logical_id: None,
        created_at,
        user_agent: headers
            .get(USER_AGENT)
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned()),
        create_database: true,
    })?;

    let mut store = state.store();
    let project = store.insert_project(project);
    let body = json!({ "data": created_project(&state, project) });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// Takes the first fault that matches, counting it down and removing it when used up.
fn take_fault(store: &mut Store, method: &str, path: &str) -> Option<Fault> {
    let index = store
        .faults
        .iter()
        .position(|fault| fault.matches(method, path))?;
    let fault = &mut store.faults[index];
    fault.remaining -= 1;
    let applied = fault.clone();
    if fault.remaining == 0 {
        store.faults.remove(index);
    }
    Some(applied)
}

fn fault_response(status: StatusCode, body: Option<String>) -> Response {
    let body = body.unwrap_or_else(|| {
        json!({ "error": { "code": "injected_fault", "message": format!("Fault injected by the local Prisma platform (status {}).", status.as_u16()) } })
            .to_string()
    });
    (
        status,
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        body,
    )
        .into_response()
}

/// Writes one JSON line per request to stderr when `log_requests` is on. The path is
/// written without its query string, which may carry OAuth values.
fn log_request(
    state: &AppState,
    method: &str,
    path: &str,
    status: Option<u16>,
    started: Instant,
    fault: Option<&Fault>,
) {
    if !state.config.log_requests {
        return;
    }
    let fault_kind = fault.map(|fault| {
        if fault.drop_connection {
            "drop"
        } else if fault.status.is_some() {
            "status"
        } else {
            "delay"
        }
    });
    let line = json!({
        "event": "request",
        "method": method,
        "path": path,
        "status": status,
        "duration_ms": u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "fault": fault_kind,
    });
    eprintln!("{line}");
}

/// Counts the request, then applies the first matching fault or runs the route.
pub(crate) async fn count_and_apply_faults(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();

    if path.starts_with(CONTROL_PREFIX) {
        let response = next.run(request).await;
        log_request(
            &state,
            &method,
            &path,
            Some(response.status().as_u16()),
            started,
            None,
        );
        return response;
    }

    // Requests that match no route are counted under their literal path.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| path.clone(), |matched| matched.as_str().to_owned());
    let fault = {
        let mut store = state.store();
        *store
            .request_counts
            .entry(format!("{method} {route}"))
            .or_insert(0) += 1;
        take_fault(&mut store, &method, &path)
    };

    let Some(fault) = fault else {
        let response = next.run(request).await;
        log_request(
            &state,
            &method,
            &path,
            Some(response.status().as_u16()),
            started,
            None,
        );
        return response;
    };

    if let Some(delay) = fault.delay {
        tokio::time::sleep(delay).await;
    }

    if fault.drop_connection {
        log_request(&state, &method, &path, None, started, Some(&fault));
        return match request.extensions().get::<ConnectionControl>() {
            Some(control) => {
                control.close();
                // The connection task drops this future together with the connection.
                std::future::pending::<Response>().await
            }
            None => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "A drop fault needs the platform's own connection handling; serve it with local_platform::serve.",
            )
            .into_response(),
        };
    }

    let response = match fault.status {
        Some(status) => fault_response(status, fault.body.clone()),
        None => next.run(request).await,
    };
    log_request(
        &state,
        &method,
        &path,
        Some(response.status().as_u16()),
        started,
        Some(&fault),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(json: Value) -> Result<FaultRequest, serde_json::Error> {
        serde_json::from_value(json)
    }

    #[test]
    fn fault_request_accepts_each_kind() -> Result<(), Box<dyn std::error::Error>> {
        let status = parse_fault(request(
            json!({"method":"post","path":"/v1/projects","status":503,"times":2}),
        )?)
        .map_err(|error| error.message)?;
        let delay = parse_fault(request(
            json!({"method":"GET","path":"/v1","delay_ms":50,"times":1}),
        )?)
        .map_err(|error| error.message)?;
        let dropped = parse_fault(request(
            json!({"method":"*","path":"/","drop":true,"times":1}),
        )?)
        .map_err(|error| error.message)?;

        assert_eq!(status.method, "POST");
        assert_eq!(status.remaining, 2);
        assert_eq!(status.status, Some(StatusCode::SERVICE_UNAVAILABLE));
        assert_eq!(delay.delay, Some(Duration::from_millis(50)));
        assert_eq!(delay.status, None);
        assert!(dropped.drop_connection);
        assert_eq!(dropped.method, "*");
        Ok(())
    }

    #[test]
    fn fault_request_rejects_bad_combinations() -> Result<(), serde_json::Error> {
        let cases = [
            json!({"path":"/v1","status":500,"times":1}),
            json!({"method":"GET","path":"v1","status":500,"times":1}),
            json!({"method":"GET","path":"/v1","status":500}),
            json!({"method":"GET","path":"/v1","status":500,"times":0}),
            json!({"method":"GET","path":"/v1","status":99,"times":1}),
            json!({"method":"GET","path":"/v1","body":"{}","times":1}),
            json!({"method":"GET","path":"/v1","drop":true,"status":500,"times":1}),
            json!({"method":"GET","path":"/v1","times":1}),
            json!({"method":"GET","path":"/_emulator/state","status":500,"times":1}),
            json!({"method":"GET","path":"/v1","delay_ms":300001,"times":1}),
        ];
        for case in cases {
            assert!(
                parse_fault(request(case.clone())?).is_err(),
                "accepted {case}"
            );
        }
        Ok(())
    }

    #[test]
    fn fault_request_rejects_unknown_field() {
        assert!(request(json!({"method":"GET","path":"/","delayMs":5,"times":1})).is_err());
    }

    #[test]
    fn parse_instant_forms() {
        assert!(parse_instant("2024-01-31T10:00:00Z").is_some());
        assert!(parse_instant("2024-01-31T10:00:00.123+02:00").is_some());
        assert_eq!(
            parse_instant("2024-01-31").map(|t| t.to_string()),
            Some("2024-01-31T00:00:00Z".to_owned())
        );
        assert!(parse_instant("last tuesday").is_none());
    }
}
