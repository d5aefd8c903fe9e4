//! `POST /create`: validate the request, create the project upstream, schedule its
//! deletion in KV, and respond with the upstream status and body plus `claimUrl` and
//! `expiresAt`. If the schedule cannot be written the new project is deleted again and
//! the client gets 503, so no database exists that nothing will delete.

use crate::app::{client_ip, Context, Outcome, PROGRAMMATIC_LIMIT};
use shared::ratelimit::{rate_limited_response, RateLimiter};
use crate::regions::{self, retry_after};
use serde_json::{json, Map, Value};
use shared::api::ProjectEnvelope;
use shared::config::{self, ConfigSource};
use shared::http::{HttpClient, HttpRequest, Method};
use shared::log::LogLine;
use shared::record::{expiry_key, save_record, ProjectRecord, ProjectStatus};
use shared::store::KeyValueStore;
use shared::time::{format_iso8601, Millis};
use shared::web::{WebRequest, WebResponse};
use shared::{Error, ProjectId};

pub const MAX_NAME_CHARS: usize = 128;
pub const MAX_USER_AGENT_CHARS: usize = 256;
pub const MAX_TAG_CHARS: usize = 128;
const MAX_REGION_CHARS: usize = 32;

/// A validated create request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateRequest {
    pub region: String,
    pub name: String,
    pub ttl_ms: Millis,
    pub source: Option<String>,
    pub user_agent: Option<String>,
}

/// Checks a create body against the contract and the TTL policy, without any I/O.
pub fn validate(body: &Value, policy: &shared::ttl::TtlPolicy) -> Result<CreateRequest, Error> {
    let Value::Object(fields) = body else {
        return Err(Error::InvalidRequest(
            r#"The request body must be a JSON object, e.g. {"region":"us-east-1","name":"my-database"}."#.to_owned(),
        ));
    };

    let region = required_text(fields, "region", "one of the ids from GET /regions, e.g. \"us-east-1\"")?;
    let region_is_well_formed = region.len() <= MAX_REGION_CHARS
        && region.bytes().all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-');
    if !region_is_well_formed {
        return Err(Error::InvalidRequest(
            "`region` is not a region id: send one of the ids from GET /regions, e.g. \"us-east-1\".".to_owned(),
        ));
    }

    let name = required_text(fields, "name", "a name for the database, e.g. \"my-database\"")?;
    if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(Error::InvalidRequest(format!(
            "`name` must be at most {MAX_NAME_CHARS} characters with no control characters."
        )));
    }

    let ttl_ms = policy
        .resolve(fields.get("ttlMs"))
        .map_err(|error| Error::InvalidRequest(format!("{error}.")))?;

    let source = optional_text(fields, "source", MAX_TAG_CHARS)?;
    let user_agent = optional_text(fields, "userAgent", MAX_USER_AGENT_CHARS)?;
    // The user agent is forwarded as a header, so only visible ASCII and spaces fit.
    if user_agent.as_deref().is_some_and(|text| !text.bytes().all(|byte| (0x20..0x7f).contains(&byte))) {
        return Err(Error::InvalidRequest("`userAgent` may only contain printable ASCII characters.".to_owned()));
    }
    optional_text(fields, "utm_source", MAX_TAG_CHARS)?;
    match fields.get("analytics") {
        None | Some(Value::Null | Value::Object(_) | Value::Bool(_)) => {}
        Some(_) => {
            return Err(Error::InvalidRequest("`analytics` must be an object or a boolean when present.".to_owned()))
        }
    }

    Ok(CreateRequest { region, name, ttl_ms, source, user_agent })
}

fn required_text(fields: &Map<String, Value>, field: &str, expected: &str) -> Result<String, Error> {
    match fields.get(field) {
        None | Some(Value::Null) => Err(Error::InvalidRequest(format!("`{field}` is missing: send {expected}."))),
        Some(Value::String(text)) if text.trim().is_empty() => {
            Err(Error::InvalidRequest(format!("`{field}` is empty: send {expected}.")))
        }
        Some(Value::String(text)) => Ok(text.trim().to_owned()),
        Some(_) => Err(Error::InvalidRequest(format!("`{field}` must be a string: send {expected}."))),
    }
}

fn optional_text(fields: &Map<String, Value>, field: &str, max_chars: usize) -> Result<Option<String>, Error> {
    match fields.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.chars().count() <= max_chars && !text.chars().any(char::is_control) => {
            Ok(Some(text.clone()).filter(|text| !text.is_empty()))
        }
        Some(Value::String(_)) => Err(Error::InvalidRequest(format!(
            "`{field}` must be at most {max_chars} characters with no control characters."
        ))),
        Some(_) => Err(Error::InvalidRequest(format!("`{field}` must be a string when present."))),
    }
}

pub async fn handle<S, H, C, L>(context: &Context<'_, S, H, C, L>, request: &WebRequest) -> Result<Outcome, Error>
where
    S: KeyValueStore,
    H: HttpClient,
    C: ConfigSource,
    L: RateLimiter,
{
    let policy = config::ttl_policy(context.config)?;
    let create = validate(&request.json_body()?, &policy)?;

    // Programmatic creates come from scripts, the likeliest source of abuse, so they have a
    // stricter limit. If the limiter fails they are refused rather than let through
    // unlimited; CLI users are not affected.
    if create.source.as_deref() == Some("programmatic") {
        match context.programmatic_limiter.allow(client_ip(request)).await {
            Ok(true) => {}
            Ok(false) => return Ok(Outcome::new(rate_limited_response(PROGRAMMATIC_LIMIT, &context.request_id))),
            Err(_) => return Err(Error::RateLimiterUnavailable),
        }
    }
    let api_url = config::base_url(context.config, "PRISMA_API_URL", Some(config::DEFAULT_PRISMA_API_URL))?;
    let claim_url = config::base_url(context.config, "CLAIM_PUBLIC_URL", None)?;
    let token = config::required_secret(context.config, "INTEGRATION_TOKEN")?;

    let available = regions::available_ids(context).await?;
    if !available.contains(&create.region) {
        return Err(Error::InvalidRequest(format!(
            "`region` \"{}\" is not available: send one of {}.",
            create.region,
            available.join(", ")
        )));
    }

    let user_agent = create.user_agent.clone().unwrap_or_else(|| format!("create-db-worker/{}", env!("CARGO_PKG_VERSION")));
    let upstream_request = HttpRequest::new(Method::Post, format!("{api_url}/v1/projects"))
        .header("authorization", format!("Bearer {}", token.expose()))
        .header("user-agent", user_agent)
        .json_body(&json!({ "name": create.name, "region": create.region }));
    let upstream = context.http.send(upstream_request).await.map_err(|error| Error::from_http(&error))?;
    if !(200..300).contains(&upstream.status) {
        return Err(Error::Upstream { status: upstream.status, retry_after_secs: retry_after(&upstream) });
    }

    let unreadable = Error::UpstreamUnreadable { status: upstream.status };
    let Ok(Value::Object(mut body)) = serde_json::from_slice::<Value>(&upstream.body) else {
        // Limitation: a project may exist upstream that nothing here can name; the daily
        // backstop deletes it once it is older than TTL_MAX_MS.
        return Err(unreadable);
    };
    let project_id = serde_json::from_value::<ProjectEnvelope>(Value::Object(body.clone()))
        .ok()
        .and_then(|envelope| ProjectId::parse(&envelope.data.id).ok())
        .ok_or(unreadable)?;

    let expires_at = context.now_ms + create.ttl_ms;
    let mut outcome = Outcome::new(WebResponse::empty(upstream.status));
    if let Err(error) = schedule(context, &project_id, &create, expires_at).await {
        outcome.logs.push(
            LogLine::new("schedule_failed")
                .field("request_id", context.request_id.as_str())
                .field("project_id", project_id.as_str())
                .field("reason", error.to_string())
                .to_string(),
        );
        let deleted = delete_project(context, &api_url, token.expose(), &project_id).await;
        outcome.logs.push(
            LogLine::new("unscheduled_project_deleted")
                .field("request_id", context.request_id.as_str())
                .field("project_id", project_id.as_str())
                .field("deleted", deleted)
                .to_string(),
        );
        return Err(Error::Storage);
    }

    body.insert(
        "claimUrl".to_owned(),
        Value::from(format!("{claim_url}/claim?projectID={project_id}")),
    );
    body.insert("expiresAt".to_owned(), Value::from(format_iso8601(expires_at)));
    outcome.response = WebResponse::json(upstream.status, &Value::Object(body));
    outcome.logs.push(
        LogLine::new("project_created")
            .field("request_id", context.request_id.as_str())
            .field("project_id", project_id.as_str())
            .field("region", create.region.as_str())
            .field("source", create.source.as_deref().unwrap_or("unknown"))
            .field("expires_at", format_iso8601(expires_at))
            .to_string(),
    );
    Ok(outcome)
}

/// Writes the `expiry:` index key and the record: two KV writes, sent together so the
/// client waits for one KV round trip instead of two. If either fails, the one that was
/// written is removed again (best effort) and the caller deletes the project.
async fn schedule<S, H, C, L>(
    context: &Context<'_, S, H, C, L>,
    project_id: &ProjectId,
    create: &CreateRequest,
    expires_at: Millis,
) -> Result<(), shared::store::StoreError>
where
    S: KeyValueStore,
{
    let index_key = expiry_key(expires_at, project_id);
    let record = ProjectRecord {
        project_id: project_id.to_string(),
        region: create.region.clone(),
        created_at: context.now_ms,
        expires_at,
        status: ProjectStatus::Unclaimed,
        delete_attempts: 0,
    };

    let (index_written, record_written) = futures::future::join(
        context.store.put(&index_key, "", None),
        save_record(context.store, project_id, &record, context.now_ms),
    )
    .await;
    match (index_written, record_written) {
        (Ok(()), Ok(())) => Ok(()),
        (Ok(()), Err(error)) => {
            // An index key without a record would only make the sweep send one DELETE
            // that returns 404, but the project is deleted now anyway.
            let _ = context.store.delete(&index_key).await;
            Err(error)
        }
        (Err(error), Ok(())) => {
            let _ = context.store.delete(&shared::record::project_key(project_id)).await;
            Err(error)
        }
        (Err(error), Err(_)) => Err(error),
    }
}

/// Deletes a project that could not be scheduled; returns whether it is gone.
async fn delete_project<S, H, C, L>(context: &Context<'_, S, H, C, L>, api_url: &str, token: &str, project_id: &ProjectId) -> bool
where
    H: HttpClient,
{
    let request = HttpRequest::new(Method::Delete, format!("{api_url}/v1/projects/{project_id}"))
        .header("authorization", format!("Bearer {token}"));
    matches!(context.http.send(request).await, Ok(response) if response.status == 204 || response.status == 404)
}
