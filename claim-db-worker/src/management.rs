//! The Management API calls of a claim: the transfer, sent with the partner's
//! integration token, and the two reads with the user's own token that find where the
//! project landed, for the Console link. Response bodies are read for ids only and are
//! never logged or shown.

use crate::config::ClaimConfig;
use crate::oauth::AccessToken;
use serde::Deserialize;
use serde_json::json;
use shared::http::{HttpClient, HttpError, HttpRequest, Method};
use shared::ProjectId;

/// The result of a transfer request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferOutcome {
    Transferred,
    /// 401: the recipient's access token was not accepted.
    Unauthorized,
    /// 404: the partner no longer owns the project (expired, deleted or already claimed).
    NotFound,
    /// 409: the project cannot move right now.
    Conflict,
    /// Any other status.
    Failed(u16),
}

/// Sends `POST /v1/projects/{id}/transfer` with `{"recipientAccessToken": …}`.
pub async fn transfer(
    http: &impl HttpClient,
    config: &ClaimConfig,
    project_id: &ProjectId,
    access_token: &AccessToken,
) -> Result<TransferOutcome, HttpError> {
    let request = HttpRequest::new(Method::Post, format!("{}/v1/projects/{project_id}/transfer", config.api_url))
        .header("authorization", format!("Bearer {}", config.integration_token.expose()))
        .json_body(&json!({ "recipientAccessToken": access_token.0.expose() }));
    let response = http.send(request).await?;
    Ok(match response.status {
        200..=299 => TransferOutcome::Transferred,
        401 => TransferOutcome::Unauthorized,
        404 => TransferOutcome::NotFound,
        409 => TransferOutcome::Conflict,
        status => TransferOutcome::Failed(status),
    })
}

#[derive(Deserialize)]
struct ProjectEnvelope {
    data: ProjectData,
}

#[derive(Deserialize)]
struct ProjectData {
    workspace: IdOnly,
}

#[derive(Deserialize)]
struct DatabaseList {
    data: Vec<IdOnly>,
}

#[derive(Deserialize)]
struct IdOnly {
    id: String,
}

/// Builds the Console link of a claimed project from its workspace and first database,
/// both read with the user's token. Returns `None` when either read fails or returns an
/// id of an unexpected shape, and the success page then links the Console's home.
///
/// NOTE: the Console's URL layout (`/{workspaceId}/{projectId}/{databaseId}`) is not part
/// of the Management API contract, so a change on Prisma's side can break this link.
pub async fn console_link(
    http: &impl HttpClient,
    config: &ClaimConfig,
    project_id: &ProjectId,
    access_token: &AccessToken,
) -> Option<String> {
    let authorization = format!("Bearer {}", access_token.0.expose());
    let project_request = HttpRequest::new(Method::Get, format!("{}/v1/projects/{project_id}", config.api_url))
        .header("authorization", authorization.clone());
    let project_response = http.send(project_request).await.ok().filter(|response| response.status == 200)?;
    let project: ProjectEnvelope = serde_json::from_slice(&project_response.body).ok()?;

    let databases_request = HttpRequest::new(Method::Get, format!("{}/v1/projects/{project_id}/databases", config.api_url))
        .header("authorization", authorization);
    let databases_response = http.send(databases_request).await.ok().filter(|response| response.status == 200)?;
    let databases: DatabaseList = serde_json::from_slice(&databases_response.body).ok()?;

    let workspace_id = project.data.workspace.id;
    let database_id = databases.data.into_iter().next()?.id;
    // The ids go into a URL path, so only the shape Prisma uses is accepted.
    if !is_resource_id(&workspace_id, "wksp_") || !is_resource_id(&database_id, "db_") {
        return None;
    }
    Some(format!("https://console.prisma.io/{workspace_id}/{project_id}/{database_id}"))
}

/// Checks for `prefix` followed by 1 to 64 ASCII letters and digits.
fn is_resource_id(text: &str, prefix: &str) -> bool {
    text.strip_prefix(prefix)
        .is_some_and(|rest| (1..=64).contains(&rest.len()) && rest.bytes().all(|byte| byte.is_ascii_alphanumeric()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_ids_need_prefix_and_alphanumerics() {
        assert!(is_resource_id("wksp_abc123", "wksp_"));
        assert!(!is_resource_id("wksp_", "wksp_"));
        assert!(!is_resource_id("wksp_a/../b", "wksp_"));
        assert!(!is_resource_id("db_abc", "wksp_"));
        assert!(!is_resource_id(&format!("db_{}", "a".repeat(65)), "db_"));
    }
}
