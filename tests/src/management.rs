//! The Management API routes under `/v1`: regions, projects (create, list, get, delete,
//! transfer) and a project's databases. Every route needs `Authorization: Bearer TOKEN`,
//! either the integration token (the partner workspace) or an access token from `/token`
//! (the workspace the user picked). A caller can reach only the live projects of its own
//! workspace.

use std::collections::HashSet;
use std::time::Instant;

use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::header::{AUTHORIZATION, USER_AGENT};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::{ApiError, JsonBody};
use crate::resources::{
    build_project, created_project, listed_database, project_summary, NewProject,
};
use crate::store::AppState;

/// Page size when `limit` is absent, and the largest accepted (larger values are lowered).
const MAX_PAGE_SIZE: usize = 100;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/regions/postgres", get(list_regions))
        .route("/v1/projects", get(list_projects).post(create_project))
        .route("/v1/projects/{id}", get(get_project).delete(delete_project))
        .route("/v1/projects/{id}/databases", get(list_databases))
        .route("/v1/projects/{id}/transfer", post(transfer_project))
}

/// The workspace a request acts for, taken from its bearer token.
pub(crate) struct Caller {
    pub workspace_id: String,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let hint = "Send `Authorization: Bearer TOKEN` with the integration token or an access token from POST /token.";
        let Some(token) = bearer_token(&parts.headers) else {
            return Err(ApiError::unauthorized(
                "The Authorization header is missing or is not a Bearer token.",
            )
            .with_hint(hint));
        };

        if token == state.config.integration_token {
            return Ok(Caller {
                workspace_id: state.config.partner_workspace.id.clone(),
            });
        }

        let mut store = state.store();
        match store.access_token(token, Instant::now()) {
            Some(grant) => Ok(Caller {
                workspace_id: grant.workspace_id.clone(),
            }),
            None => Err(
                ApiError::unauthorized("The bearer token is invalid or has expired.")
                    .with_hint(hint),
            ),
        }
    }
}

/// Returns the token of an `Authorization: Bearer TOKEN` header; the scheme is case-insensitive.
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn project_id(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    path.map(|Path(id)| id).map_err(|rejection| {
        ApiError::validation(format!(
            "The project id in the path is invalid: {rejection}."
        ))
    })
}

fn project_not_found(project_id: &str) -> ApiError {
    ApiError::not_found(format!("Project {project_id} was not found.")).with_hint(
        "The project may have been deleted, transferred, or belong to another workspace.",
    )
}

/// `cursor` and `limit` of a list request.
struct PageRequest {
    cursor: Option<String>,
    limit: usize,
}

fn parse_page_request(query: Option<&str>) -> Result<PageRequest, ApiError> {
    let mut page = PageRequest {
        cursor: None,
        limit: MAX_PAGE_SIZE,
    };

    for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match key.as_ref() {
            // An empty cursor, as some clients send for the first page, means "from the start".
            "cursor" if !value.is_empty() => page.cursor = Some(value.into_owned()),
            "limit" => {
                let limit: usize = value
                    .parse()
                    .ok()
                    .filter(|&limit| limit >= 1)
                    .ok_or_else(|| ApiError::validation(format!("limit must be a whole number from 1 to {MAX_PAGE_SIZE}, got {value:?}.")))?;
                // NOTE: a limit above the maximum is lowered to it, not rejected.
                page.limit = limit.min(MAX_PAGE_SIZE);
            }
            _ => {}
        }
    }
    Ok(page)
}

/// Takes one page of `items`, which are in the order of `all_ids`. The cursor is the id of the last item
/// of the previous page and must be among `all_ids` (every id the list was ever ordered by,
/// so a cursor stays valid when its item is deleted or transferred).
fn take_page<T>(
    items: Vec<(String, T)>,
    all_ids: &[&str],
    page: &PageRequest,
) -> Result<(Vec<T>, Value), ApiError> {
    let start = match &page.cursor {
        None => 0,
        Some(cursor) => {
            let position = all_ids.iter().position(|id| id == cursor).ok_or_else(|| {
                ApiError::validation(format!("The cursor {cursor:?} is invalid."))
                    .with_hint("Pass the nextCursor value of the previous page unchanged, or omit cursor for the first page.")
            })?;
            position + 1
        }
    };

    let after_cursor: HashSet<&str> = all_ids[start..].iter().copied().collect();
    let mut remaining = items
        .into_iter()
        .filter(|(id, _)| after_cursor.contains(id.as_str()))
        .peekable();

    let mut data = Vec::new();
    let mut last_id = None;
    while data.len() < page.limit {
        let Some((id, item)) = remaining.next() else {
            break;
        };
        last_id = Some(id);
        data.push(item);
    }

    let has_more = remaining.peek().is_some();
    let next_cursor = if has_more { last_id } else { None };
    Ok((
        data,
        json!({ "nextCursor": next_cursor, "hasMore": has_more }),
    ))
}

async fn list_regions(_caller: Caller, State(state): State<AppState>) -> Json<Value> {
    let regions: Vec<Value> = state
        .config
        .regions
        .iter()
        .map(|region| {
            json!({
                "id": region.id,
                "type": "region",
                "name": region.name,
                "status": region.status(),
            })
        })
        .collect();
    Json(json!({ "data": regions }))
}

async fn list_projects(
    caller: Caller,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let page = parse_page_request(query.as_deref())?;
    let store = state.store();
    let ordered = store.projects_by_creation();

    let all_ids: Vec<&str> = ordered.iter().map(|project| project.id.as_str()).collect();
    let visible: Vec<(String, Value)> = ordered
        .iter()
        .filter(|project| !project.deleted && project.workspace_id == caller.workspace_id)
        .map(|project| (project.id.clone(), project_summary(&state, project)))
        .collect();

    let (data, pagination) = take_page(visible, &all_ids, &page)?;
    Ok(Json(json!({ "data": data, "pagination": pagination })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateProjectRequest {
    name: Option<String>,
    region: Option<String>,
    create_database: Option<bool>,
    logical_id: Option<String>,
    workspace_id: Option<String>,
}

async fn create_project(
    caller: Caller,
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(request): JsonBody<CreateProjectRequest>,
) -> Result<Response, ApiError> {
    let name = request.name.as_deref().map(str::trim).unwrap_or("");
    if name.is_empty() {
        return Err(ApiError::validation(
            "name is required and must not be empty.",
        ));
    }
    let region_id = checked_region(&state, request.region.as_deref(), true)?;
    if let Some(workspace_id) = &request.workspace_id {
        if *workspace_id != caller.workspace_id {
            return Err(
                ApiError::not_found(format!("Workspace {workspace_id} was not found."))
                    .with_hint("Omit workspaceId to create the project in the token's workspace."),
            );
        }
    }

    let user_agent = headers
        .get(USER_AGENT)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
    let project = build_project(NewProject {
        name: name.to_owned(),
        region: region_id,
        workspace_id: caller.workspace_id.clone(),
        logical_id: request.logical_id.clone(),
        created_at: Timestamp::now(),
        user_agent,
        create_database: request.create_database.unwrap_or(true),
    })?;

    let mut store = state.store();
    if let Some(logical_id) = &request.logical_id {
        let logical_id_in_use = store.projects.iter().any(|existing| {
            !existing.deleted
                && existing.workspace_id == caller.workspace_id
                && existing.logical_id.as_ref() == Some(logical_id)
        });
        if logical_id_in_use {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!(
                    "A project with logicalId {logical_id:?} already exists in this workspace."
                ),
            ));
        }
    }
    let project = store.insert_project(project);
    let body = json!({ "data": created_project(&state, project) });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// Checks a region id from a request and returns it. `require_available` is false for
/// seeded projects, which may sit in a region that no longer takes new projects.
pub(crate) fn checked_region(
    state: &AppState,
    region_id: Option<&str>,
    require_available: bool,
) -> Result<String, ApiError> {
    let known: Vec<&str> = state
        .config
        .regions
        .iter()
        .map(|region| region.id.as_str())
        .collect();
    let hint = format!("Use one of: {}.", known.join(", "));

    let region_id = region_id.map(str::trim).unwrap_or("");
    if region_id.is_empty() {
        return Err(
            ApiError::validation("region is required and must not be empty.").with_hint(hint),
        );
    }
    let Some(region) = state.config.region(region_id) else {
        return Err(ApiError::validation(format!(
            "region {region_id:?} is not a known Prisma Postgres region."
        ))
        .with_hint(hint));
    };
    if require_available && !region.available {
        let available: Vec<&str> = state
            .config
            .regions
            .iter()
            .filter(|region| region.available)
            .map(|region| region.id.as_str())
            .collect();
        return Err(ApiError::validation(format!(
            "region {region_id:?} is currently unavailable."
        ))
        .with_hint(format!(
            "Use one of the available regions: {}.",
            available.join(", ")
        )));
    }
    Ok(region.id.clone())
}

async fn get_project(
    caller: Caller,
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let project_id = project_id(path)?;
    let store = state.store();

    let project = store
        .visible_project(&project_id, &caller.workspace_id)
        .ok_or_else(|| project_not_found(&project_id))?;
    Ok(Json(json!({ "data": project_summary(&state, project) })))
}

async fn delete_project(
    caller: Caller,
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let project_id = project_id(path)?;
    let mut store = state.store();

    match store.project_mut(&project_id) {
        Some(project) if !project.deleted && project.workspace_id == caller.workspace_id => {
            project.deleted = true;
            Ok(StatusCode::NO_CONTENT)
        }
        _ => Err(project_not_found(&project_id)),
    }
}

async fn list_databases(
    caller: Caller,
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let project_id = project_id(path)?;
    let page = parse_page_request(query.as_deref())?;
    let store = state.store();

    let project = store
        .visible_project(&project_id, &caller.workspace_id)
        .ok_or_else(|| project_not_found(&project_id))?;
    let databases: Vec<(String, Value)> = project
        .database
        .iter()
        .map(|database| {
            (
                database.id.clone(),
                listed_database(&state, project, database),
            )
        })
        .collect();
    let all_ids: Vec<&str> = project
        .database
        .iter()
        .map(|database| database.id.as_str())
        .collect();

    let (data, pagination) = take_page(databases, &all_ids, &page)?;
    Ok(Json(json!({ "data": data, "pagination": pagination })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TransferRequest {
    recipient_access_token: Option<String>,
}

async fn transfer_project(
    caller: Caller,
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    JsonBody(request): JsonBody<TransferRequest>,
) -> Result<StatusCode, ApiError> {
    let project_id = project_id(path)?;
    let recipient_token = request
        .recipient_access_token
        .as_deref()
        .map(str::trim)
        .unwrap_or("");
    if recipient_token.is_empty() {
        return Err(ApiError::validation(
            "recipientAccessToken is required and must not be empty.",
        )
        .with_hint("Pass the access token that the recipient got from POST /token."));
    }

    let mut store = state.store();
    let Some(recipient) = store.access_token(recipient_token, Instant::now()) else {
        return Err(
            ApiError::unauthorized("recipientAccessToken is invalid or has expired.")
                .with_hint("Exchange a fresh authorization code for the recipient at POST /token."),
        );
    };
    let recipient_workspace = recipient.workspace_id.clone();

    match store.project_mut(&project_id) {
        Some(project) if !project.deleted && project.workspace_id == caller.workspace_id => {
            project.workspace_id = recipient_workspace;
            Ok(StatusCode::NO_CONTENT)
        }
        _ => Err(project_not_found(&project_id)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(cursor: Option<&str>, limit: usize) -> PageRequest {
        PageRequest {
            cursor: cursor.map(str::to_owned),
            limit,
        }
    }

    #[test]
    fn page_request_defaults_and_caps() -> Result<(), ApiError> {
        assert_eq!(parse_page_request(None)?.limit, 100);
        assert_eq!(parse_page_request(Some("limit=500"))?.limit, 100);
        assert_eq!(
            parse_page_request(Some("limit=7&cursor=proj_a"))?
                .cursor
                .as_deref(),
            Some("proj_a")
        );
        assert!(parse_page_request(Some("cursor="))?.cursor.is_none());
        assert!(parse_page_request(Some("limit=0")).is_err());
        assert!(parse_page_request(Some("limit=ten")).is_err());
        Ok(())
    }

    #[test]
    fn take_page_walks_all_items() -> Result<(), ApiError> {
        let all = ["a", "b", "c", "d", "e"];
        let items = || {
            all.iter()
                .map(|id| (id.to_string(), id.to_string()))
                .collect::<Vec<_>>()
        };

        let (first, pagination) = take_page(items(), &all, &page(None, 2))?;
        assert_eq!(first, ["a", "b"]);
        assert_eq!(pagination, json!({ "nextCursor": "b", "hasMore": true }));

        let (last, pagination) = take_page(items(), &all, &page(Some("d"), 2))?;
        assert_eq!(last, ["e"]);
        assert_eq!(pagination, json!({ "nextCursor": null, "hasMore": false }));
        Ok(())
    }

    #[test]
    fn take_page_cursor_survives_hidden_item() -> Result<(), ApiError> {
        let all = ["a", "b", "c"];
        // "b" was deleted after it was handed out as a cursor.
        let visible = vec![("a".to_owned(), 1), ("c".to_owned(), 3)];

        let (data, _) = take_page(visible, &all, &page(Some("b"), 10))?;
        assert_eq!(data, [3]);
        Ok(())
    }

    #[test]
    fn take_page_rejects_unknown_cursor() {
        let result = take_page(vec![("a".to_owned(), 1)], &["a"], &page(Some("zzz"), 10));

        assert!(matches!(result, Err(error) if error.status == StatusCode::BAD_REQUEST));
    }

    #[test]
    fn bearer_token_parsing() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer_token(&headers), None);

        headers.insert(
            AUTHORIZATION,
            axum::http::HeaderValue::from_static("bearer abc"),
        );
        assert_eq!(bearer_token(&headers), Some("abc"));

        headers.insert(
            AUTHORIZATION,
            axum::http::HeaderValue::from_static("Basic abc"),
        );
        assert_eq!(bearer_token(&headers), None);

        headers.insert(
            AUTHORIZATION,
            axum::http::HeaderValue::from_static("Bearer "),
        );
        assert_eq!(bearer_token(&headers), None);
    }
}
