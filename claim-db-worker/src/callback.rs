//! `GET /auth/callback`: where Prisma Auth sends the user back. It checks the state and
//! the browser cookie, deletes the pending claim before anything else so each state works
//! once, exchanges the code with the PKCE verifier, calls the Management API to transfer
//! the project, and records the claim. It never shows or logs the code, the state, the
//! access token or an upstream body.

use crate::analytics;
use crate::app::{error_response, Context, Outcome};
use crate::claim::{cleared_cookie, COOKIE_NAME};
use crate::config::ClaimConfig;
use crate::error::{Error, UpstreamFailure};
use crate::management::{self, TransferOutcome};
use crate::oauth::{self, AccessToken, OAuthState, TokenError};
use crate::pages;
use crate::params::{cookie_values, ClaimLink, Params};
use crate::pending::{self, Loaded, PendingClaim};
use serde_json::Value;
use shared::config::ConfigSource;
use shared::http::{HttpClient, HttpRequest, Method};
use shared::log::LogLine;
use shared::record::{expiry_key, load_record, save_record, ProjectStatus};
use shared::store::{KeyValueStore, StoreError};
use shared::time::Millis;
use shared::ProjectId;

/// The `error` value Prisma Auth sends when the user presses Cancel (RFC 6749 section 4.1.2.1).
const ACCESS_DENIED: &str = "access_denied";

/// Handles the callback. Every path, failures included, ends in a page.
pub async fn handle<S, H, C, L>(context: &Context<'_, S, H, C, L>, request: &shared::web::WebRequest) -> Outcome
where
    S: KeyValueStore,
    H: HttpClient,
    C: ConfigSource,
{
    let config = match ClaimConfig::load(context.config) {
        Ok(config) => config,
        Err(error) => return crate::app::error_outcome(&context.request_id, &error),
    };
    let params = Params::parse(request.query.as_bytes());
    let cookies = cookie_values(request.header("cookie"), COOKIE_NAME);

    if params.contains("error") {
        return authorization_error(context, &params, &cookies).await;
    }

    let pending_claim = match pending_claim(context, &params, &cookies).await {
        Ok(pending_claim) => pending_claim,
        Err(rejection) => return rejection.into_outcome(context),
    };
    let Checked { state, code, pending_claim } = pending_claim;

    // Deleting the pending claim before the exchange makes this state single-use, so a
    // replayed callback finds nothing. KV has no compare-and-delete, so two requests in
    // the same instant could both get here. The authorization code is single-use at
    // Prisma Auth, so at most one of them gets a token.
    if let Err(error) = pending::delete(context.store, &state).await {
        let rejection = Rejection { error: Error::from(error), project: Some(project_of(&pending_claim)), clear_cookie: false };
        return rejection.into_outcome(context);
    }

    let project = project_of(&pending_claim);
    let mut logs = Vec::new();
    let result = finish(context, &config, &code, pending_claim, &mut logs).await;
    let mut outcome = match result {
        Ok(console_link) => succeeded(context, &project, console_link.as_deref()),
        Err(error) => Rejection { error, project: Some(project), clear_cookie: true }.into_outcome(context),
    };
    logs.append(&mut outcome.logs);
    outcome.logs = logs;
    outcome
}

/// A callback's state and code after the checks, with its pending claim.
struct Checked {
    state: OAuthState,
    code: String,
    pending_claim: PendingClaim,
}

/// Checks the parameters, loads the pending claim, and checks its age and the cookie.
async fn pending_claim<S, H, C, L>(
    context: &Context<'_, S, H, C, L>,
    params: &Params,
    cookies: &[&str],
) -> Result<Checked, Rejection>
where
    S: KeyValueStore,
{
    let reject = |error: Error| Rejection { error, project: None, clear_cookie: false };

    let code = params.single("code").map_err(|repeated| reject(Error::RepeatedParameter(repeated.0)))?;
    let state = params.single("state").map_err(|repeated| reject(Error::RepeatedParameter(repeated.0)))?;
    let (Some(code), Some(state)) = (code, state) else {
        return Err(reject(Error::MissingCallbackParameters));
    };
    let Some(state) = OAuthState::parse(state) else {
        return Err(reject(Error::StateUnknown));
    };

    let pending_claim = match pending::load(context.store, &state).await {
        Ok(Loaded::Found(pending_claim)) => pending_claim,
        Ok(Loaded::Missing) => return Err(reject(Error::StateUnknown)),
        Ok(Loaded::Unreadable) => {
            // An unreadable pending claim cannot be finished, so it is deleted and the user starts over.
            let _ = pending::delete(context.store, &state).await;
            return Err(reject(Error::StateUnknown));
        }
        Err(error) => return Err(reject(Error::from(error))),
    };
    let cookie_matches = oauth::cookie_matches(cookies, &pending_claim.cookie_hash);
    let claim_link = ClaimLink { project_id: pending_claim.project_id.clone(), utm: pending_claim.utm.clone() };
    let project = Some(project_of(&pending_claim));

    if pending_claim.is_expired(context.now_ms) {
        // Best effort: an expired claim is rejected by its age whether or not it is deleted.
        let _ = pending::delete(context.store, &state).await;
        return Err(Rejection { error: Error::StateExpired { claim_link }, project, clear_cookie: cookie_matches });
    }

    // A callback without the cookie of the browser that started the claim is rejected,
    // and the pending claim is kept. Consuming it would let anyone who saw the callback
    // URL (on a shared screen, in a proxy log or in browser history) cancel the real
    // user's claim. Keeping it gives them nothing, because without the cookie no request
    // gets past this check, and the code cannot be exchanged without the stored verifier.
    // The cookie is left alone too, since it may belong to a newer claim in this browser.
    if !cookie_matches {
        return Err(Rejection { error: Error::BrowserMismatch { claim_link }, project, clear_cookie: false });
    }
    Ok(Checked { state, code: code.to_owned(), pending_claim })
}

/// A callback that ends in an error page.
struct Rejection {
    error: Error,
    /// The project and tags the callback was for, when known, for analytics.
    project: Option<ClaimLink>,
    clear_cookie: bool,
}

impl Rejection {
    fn into_outcome<S, H, C: ConfigSource, L>(self, context: &Context<'_, S, H, C, L>) -> Outcome {
        let mut response = error_response(&context.request_id, &self.error);
        if self.clear_cookie {
            response = response.with_header("set-cookie", &cleared_cookie());
        }
        let mut outcome = Outcome::new(response);
        if let Error::Config { .. } = self.error {
            outcome.logs.push(LogLine::new("configuration_error").field("message", self.error.message()).to_string());
        }
        let mut line = LogLine::new("claim_failed")
            .field("request_id", context.request_id.as_str())
            .field("code", self.error.code())
            .field("status", self.error.status());
        if let Some(project) = &self.project {
            line = line.field("project_id", project.project_id.as_str());
            outcome.background.extend(analytics::capture(
                context.config,
                analytics::CLAIM_FAILED,
                &project.project_id,
                &project.utm,
                &[("reason", Value::from(self.error.code())), ("status", Value::from(self.error.status()))],
            ));
        }
        outcome.logs.push(line.to_string());
        outcome
    }
}

fn project_of(pending_claim: &PendingClaim) -> ClaimLink {
    ClaimLink { project_id: pending_claim.project_id.clone(), utm: pending_claim.utm.clone() }
}

/// Handles `?error=…`: the user cancelled or Prisma Auth failed. The pending claim is
/// removed only when this browser's cookie matches it, for the same reason a cookieless
/// callback keeps it.
async fn authorization_error<S, H, C, L>(context: &Context<'_, S, H, C, L>, params: &Params, cookies: &[&str]) -> Outcome
where
    S: KeyValueStore,
    C: ConfigSource,
{
    let reported = params.first("error").unwrap_or_default();
    let state = params.first("state").and_then(OAuthState::parse);

    let mut pending_claim = None;
    if let Some(state) = &state {
        if let Ok(Loaded::Found(found)) = pending::load(context.store, state).await {
            pending_claim = Some(found);
        }
    }
    let project = pending_claim.as_ref().map(project_of);
    let cookie_matches = pending_claim.as_ref().is_some_and(|found| oauth::cookie_matches(cookies, &found.cookie_hash));
    if let (Some(state), true) = (&state, cookie_matches) {
        // Best effort: the pending claim expires within minutes anyway.
        let _ = pending::delete(context.store, state).await;
    }

    if reported != ACCESS_DENIED {
        let error = Error::AuthorizationFailed { claim_link: project.clone() };
        return Rejection { error, project, clear_cookie: cookie_matches }.into_outcome(context);
    }

    let mut response = pages::html_response(200, pages::cancelled(project.as_ref()));
    if cookie_matches {
        response = response.with_header("set-cookie", &cleared_cookie());
    }
    let mut outcome = Outcome::new(response);
    let mut line = LogLine::new("claim_cancelled").field("request_id", context.request_id.as_str());
    if let Some(project) = &project {
        line = line.field("project_id", project.project_id.as_str());
        outcome.background.extend(analytics::capture(
            context.config,
            analytics::CLAIM_FAILED,
            &project.project_id,
            &project.utm,
            &[("reason", Value::from("cancelled"))],
        ));
    }
    outcome.logs.push(line.to_string());
    outcome
}

/// Exchanges the code, transfers the project and records the claim. Returns the
/// Console link of the project, if its ids could be read.
async fn finish<S, H, C, L>(
    context: &Context<'_, S, H, C, L>,
    config: &ClaimConfig,
    code: &str,
    pending_claim: PendingClaim,
    logs: &mut Vec<String>,
) -> Result<Option<String>, Error>
where
    S: KeyValueStore,
    H: HttpClient,
{
    let claim_link = project_of(&pending_claim);
    let project_id = pending_claim.project_id;
    let upstream = |failure: UpstreamFailure| Error::Upstream { failure, claim_link: Some(claim_link.clone()) };

    let token_request = oauth::token_request(config, code, pending_claim.code_verifier);
    let token_response = context
        .http
        .send(token_request)
        .await
        .map_err(|error| upstream(UpstreamFailure::from_http(&error)))?;
    let access_token = oauth::parse_token_response(&token_response).map_err(|error| match error {
        TokenError::CodeRejected => Error::CodeRejected { claim_link: claim_link.clone() },
        TokenError::ClientRejected => Error::ClientRejected,
        TokenError::Status(status) => upstream(UpstreamFailure::Status(status)),
        TokenError::Unreadable(status) => upstream(UpstreamFailure::Unreadable(status)),
    })?;

    let transfer = management::transfer(context.http, config, &project_id, &access_token)
        .await
        .map_err(|error| upstream(UpstreamFailure::from_http(&error)))?;
    match transfer {
        TransferOutcome::Transferred => {}
        // An earlier attempt may have moved the project and then timed out before its
        // response arrived. If the user's own token can read the project, it is already in
        // the workspace they chose, which is what the claim asked for.
        TransferOutcome::NotFound if visible_to(context.http, config, &project_id, &access_token).await => {}
        TransferOutcome::NotFound => return Err(Error::ProjectGone),
        TransferOutcome::Unauthorized => return Err(Error::RecipientRejected { claim_link }),
        TransferOutcome::Conflict => return Err(Error::TransferConflict { claim_link }),
        TransferOutcome::Failed(403) => return Err(Error::IntegrationRejected),
        TransferOutcome::Failed(status) => return Err(upstream(UpstreamFailure::Status(status))),
    }

    if let Err(error) = mark_claimed(context.store, &project_id, context.now_ms).await {
        // Limitation: the project has moved but its record is still marked unclaimed. The
        // sweep then sends one DELETE that returns 404, because the partner no longer owns
        // the project, and a claim page for it ends in "no longer available".
        logs.push(
            LogLine::new("claim_record_update_failed")
                .field("request_id", context.request_id.as_str())
                .field("project_id", project_id.as_str())
                .field("reason", error.to_string())
                .to_string(),
        );
    }
    Ok(management::console_link(context.http, config, &project_id, &access_token).await)
}

/// Checks whether the user's token can read the project, i.e. it is in their workspace.
async fn visible_to(http: &impl HttpClient, config: &ClaimConfig, project_id: &ProjectId, access_token: &AccessToken) -> bool {
    let request = HttpRequest::new(Method::Get, format!("{}/v1/projects/{project_id}", config.api_url))
        .header("authorization", format!("Bearer {}", access_token.0.expose()));
    matches!(http.send(request).await, Ok(response) if response.status == 200)
}

/// Marks the record claimed, then drops its `expiry:` key so the sweep leaves it alone.
async fn mark_claimed(store: &impl KeyValueStore, project_id: &ProjectId, now: Millis) -> Result<(), StoreError> {
    let Some(mut record) = load_record(store, project_id).await? else {
        return Ok(());
    };
    let index_key = expiry_key(record.expires_at, project_id);
    record.status = ProjectStatus::Claimed;
    save_record(store, project_id, &record, now).await?;
    store.delete(&index_key).await
}

fn succeeded<S, H, C: ConfigSource, L>(context: &Context<'_, S, H, C, L>, project: &ClaimLink, console_link: Option<&str>) -> Outcome {
    let response =
        pages::html_response(200, pages::success(&project.project_id, console_link)).with_header("set-cookie", &cleared_cookie());
    let mut outcome = Outcome::new(response);
    outcome.logs.push(
        LogLine::new("claim_succeeded")
            .field("request_id", context.request_id.as_str())
            .field("project_id", project.project_id.as_str())
            .field("console_link", console_link.is_some())
            .to_string(),
    );
    outcome.background.extend(analytics::capture(
        context.config,
        analytics::CLAIM_SUCCESSFUL,
        &project.project_id,
        &project.utm,
        &[],
    ));
    outcome
}
