//! `GET /claim` shows a project's claim page, and `POST /claim/start` (its button)
//! starts the OAuth flow: it stores the pending claim under `oauth:{state}`, sets the
//! cookie that binds it to this browser, and redirects to Prisma Auth. The project id is
//! validated before KV is touched, and both routes re-check that the project is still
//! unclaimed.

use crate::analytics;
use crate::app::{error_outcome, Context, Outcome};
use crate::config::ClaimConfig;
use crate::error::Error;
use crate::oauth::{self, BrowserBinding, OAuthState, PkceVerifier};
use crate::pages;
use crate::params::{truncate_for_display, Params, Utm};
use crate::pending::{self, PendingClaim, STATE_TTL_SECS};
use serde_json::Value;
use shared::config::ConfigSource;
use shared::http::HttpClient;
use shared::log::LogLine;
use shared::record::{load_record, ProjectRecord, ProjectStatus};
use shared::store::KeyValueStore;
use shared::web::{WebRequest, WebResponse, MAX_BODY_BYTES};
use shared::ProjectId;

/// The cookie that binds a pending claim to the browser that started it. The `__Host-`
/// prefix makes browsers accept it only with `Secure`, `Path=/` and no `Domain`, so no
/// other host, subdomains included, can set or overwrite it.
pub const COOKIE_NAME: &str = "__Host-claim_binding";

/// Longest rejected project id echoed back on the error page.
const MAX_SHOWN_ID_CHARS: usize = 80;

/// Returns the `Set-Cookie` value that stores `value` for as long as the pending claim lives.
pub fn binding_cookie(value: &str) -> String {
    format!("{COOKIE_NAME}={value}; Max-Age={STATE_TTL_SECS}; Path=/; Secure; HttpOnly; SameSite=Lax")
}

/// Returns the `Set-Cookie` value that removes the binding cookie.
pub fn cleared_cookie() -> String {
    format!("{COOKIE_NAME}=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Lax")
}

/// Reads `projectID` and checks it against the strict project id pattern.
pub fn project_id_param(params: &Params) -> Result<ProjectId, Error> {
    let raw = params.single("projectID").map_err(|repeated| Error::RepeatedParameter(repeated.0))?;
    let Some(raw) = raw else {
        return Err(Error::MissingProjectId);
    };
    ProjectId::parse(raw).map_err(|reason| Error::InvalidProjectId {
        shown: truncate_for_display(raw, MAX_SHOWN_ID_CHARS),
        reason: reason.to_string(),
    })
}

/// Loads the record of `project_id` and returns it if the project can still be claimed.
async fn claimable_record(store: &impl KeyValueStore, project_id: &ProjectId, now: u64) -> Result<ProjectRecord, Error> {
    let record = load_record(store, project_id).await?;
    match record {
        Some(record) if record.status == ProjectStatus::Claimed => Err(Error::AlreadyClaimed),
        // Past its deletion time the sweep may remove the project at any moment, so it is
        // shown as expired even while the record is still marked unclaimed.
        Some(record) if record.status == ProjectStatus::Unclaimed && record.expires_at > now => Ok(record),
        _ => Err(Error::ProjectUnavailable),
    }
}

pub async fn show<S, H, C, L>(context: &Context<'_, S, H, C, L>, request: &WebRequest) -> Result<Outcome, Error>
where
    S: KeyValueStore,
    H: HttpClient,
    C: ConfigSource,
{
    let params = Params::parse(request.query.as_bytes());
    let project_id = project_id_param(&params)?;
    let utm = Utm::from_params(&params);
    // A page whose button cannot work is worse than an honest error, so the settings the
    // flow needs are checked first.
    ClaimConfig::load(context.config)?;

    let claimable = claimable_record(context.store, &project_id, context.now_ms).await;
    let mut outcome = match &claimable {
        Ok(record) => Outcome::new(pages::html_response(
            200,
            pages::claim(&project_id, &utm, record.expires_at, context.now_ms),
        )),
        Err(error) => error_outcome(&context.request_id, error),
    };
    let status = match &claimable {
        Ok(_) => "unclaimed",
        Err(error) => error.code(),
    };
    outcome.background.extend(analytics::capture(
        context.config,
        analytics::CLAIM_PAGE_VIEWED,
        &project_id,
        &utm,
        &[("status", Value::from(status))],
    ));
    Ok(outcome)
}

/// Rejects a claim start that a browser reports as coming from another site, so no
/// other page can start a claim in the user's name. `Sec-Fetch-Site` is trusted when
/// present. Otherwise `Origin` must be this worker's origin when it is sent, except
/// `null`, which browsers send for same-origin posts under `Referrer-Policy: no-referrer`.
///
/// NOTE: a client that sends neither header, such as curl, is let through: it gains
/// nothing, because the flow still needs a signed-in user at Prisma Auth.
fn check_same_origin(request: &WebRequest, config: &ClaimConfig) -> Result<(), Error> {
    if let Some(site) = request.header("sec-fetch-site") {
        return match site.trim() {
            "same-origin" | "none" => Ok(()),
            _ => Err(Error::CrossSiteRequest),
        };
    }
    match request.header("origin").map(str::trim) {
        None | Some("null") => Ok(()),
        Some(origin) if origin.eq_ignore_ascii_case(config.claim_origin()) => Ok(()),
        Some(_) => Err(Error::CrossSiteRequest),
    }
}

fn form_params(request: &WebRequest) -> Result<Params, Error> {
    if request.body.len() > MAX_BODY_BYTES {
        return Err(Error::PayloadTooLarge);
    }
    let media_type = request
        .header("content-type")
        .map(|value| value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase());
    if media_type.as_deref() != Some("application/x-www-form-urlencoded") {
        return Err(Error::UnsupportedMediaType);
    }
    Ok(Params::parse(&request.body))
}

pub async fn start<S, H, C, L>(context: &Context<'_, S, H, C, L>, request: &WebRequest) -> Result<Outcome, Error>
where
    S: KeyValueStore,
    H: HttpClient,
    C: ConfigSource,
{
    let config = ClaimConfig::load(context.config)?;
    check_same_origin(request, &config)?;
    let params = form_params(request)?;
    let project_id = project_id_param(&params)?;
    let utm = Utm::from_params(&params);

    // The record may have changed since the page was shown: claimed in another tab, or expired.
    claimable_record(context.store, &project_id, context.now_ms).await?;

    let (Ok(state), Ok(code_verifier), Ok(binding)) =
        (OAuthState::generate(), PkceVerifier::generate(), BrowserBinding::generate())
    else {
        return Err(Error::RandomUnavailable);
    };
    let code_challenge = code_verifier.challenge();
    let pending_claim = PendingClaim {
        project_id: project_id.clone(),
        code_verifier,
        created_at: context.now_ms,
        cookie_hash: binding.hash(),
        utm: utm.clone(),
    };
    pending::save(context.store, &state, &pending_claim).await?;

    let location = oauth::authorize_url(&config, &state, &code_challenge, &utm);
    let response = WebResponse::empty(303)
        .with_header("location", &location)
        .with_header("set-cookie", &binding_cookie(binding.expose()));
    let mut outcome = Outcome::new(response);
    outcome.logs.push(
        LogLine::new("claim_started")
            .field("request_id", context.request_id.as_str())
            .field("project_id", project_id.as_str())
            .to_string(),
    );
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ClaimConfig {
        let source = shared::config::MapConfig::new(&[
            ("INTEGRATION_TOKEN", "t"),
            ("CLIENT_ID", "c"),
            ("CLIENT_SECRET", "s"),
            ("CLAIM_PUBLIC_URL", "https://claim.example.com"),
        ]);
        ClaimConfig::load(&source).unwrap()
    }

    #[test]
    fn same_origin_check_uses_fetch_metadata_then_origin() {
        let post = || WebRequest::new("POST", "/claim/start");
        let cases = [
            (post().with_header("sec-fetch-site", "same-origin"), true),
            (post().with_header("sec-fetch-site", "cross-site"), false),
            (post().with_header("sec-fetch-site", "same-site"), false),
            (post().with_header("sec-fetch-site", "cross-site").with_header("origin", "https://claim.example.com"), false),
            (post().with_header("origin", "null"), true),
            (post().with_header("origin", "https://claim.example.com"), true),
            (post().with_header("origin", "https://evil.example.com"), false),
            (post(), true),
        ];

        for (request, allowed) in cases {
            assert_eq!(check_same_origin(&request, &config()).is_ok(), allowed, "{:?}", request.headers);
        }
    }

    #[test]
    fn binding_cookie_has_strict_attributes() {
        let cookie = binding_cookie("abc");

        assert!(cookie.starts_with("__Host-claim_binding=abc;"), "{cookie}");
        for attribute in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/", "Max-Age=600"] {
            assert!(cookie.contains(attribute), "{attribute} missing from {cookie}");
        }
        assert!(cleared_cookie().contains("Max-Age=0"));
    }
}
