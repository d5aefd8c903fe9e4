//! The emulated Prisma Auth: the authorization endpoint (`GET /authorize` shows the sign-in
//! page, `POST /authorize` handles its form) and the token endpoint (`POST /token`), an
//! OAuth 2.0 authorization code flow with PKCE S256 (RFC 6749, RFC 7636). Requests with an
//! unknown client or an unregistered redirect URI get an error page and are never
//! redirected. Codes and access tokens are never logged or shown on a page.

use std::collections::HashMap;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::header::{
    AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, LOCATION, PRAGMA, WWW_AUTHENTICATE,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::config::PlatformConfig;
use crate::pages::{error_page, sign_in_page, AuthorizationRequest};
use crate::store::{AccessToken, AppState, AuthorizationCode};

/// Scope granted to every access token.
const GRANTED_SCOPE: &str = "workspace:admin";

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/authorize", get(show_sign_in).post(submit_sign_in))
        .route("/token", post(exchange_code))
        // Browsers ask for an icon with the sign-in page; 204 keeps a 404 out of their console.
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
}

/// Query or form parameters. RFC 6749 section 3.1 forbids repeating a parameter, so repeats
/// are recorded and rejected.
struct Params {
    values: HashMap<String, String>,
    repeated: Vec<String>,
}

impl Params {
    fn parse(input: &[u8]) -> Self {
        let mut params = Params {
            values: HashMap::new(),
            repeated: Vec::new(),
        };
        for (key, value) in form_urlencoded::parse(input) {
            if params.values.contains_key(key.as_ref()) {
                params.repeated.push(key.into_owned());
            } else {
                params.values.insert(key.into_owned(), value.into_owned());
            }
        }
        params
    }

    /// Returns a parameter's value; an empty value counts as absent.
    fn get(&self, key: &str) -> Option<&str> {
        self.values
            .get(key)
            .map(String::as_str)
            .filter(|value| !value.is_empty())
    }

    fn is_repeated(&self, key: &str) -> bool {
        self.repeated.iter().any(|repeated| repeated == key)
    }
}

/// Why an authorization request failed.
enum AuthorizeError {
    /// The client or redirect URI cannot be trusted: show a page, never redirect.
    Page(String),
    /// Send the error to the client's registered redirect URI (RFC 6749 section 4.1.2.1).
    Redirect {
        redirect_uri: String,
        error: &'static str,
        description: String,
        state: Option<String>,
    },
}

impl AuthorizeError {
    /// `status` is 302 for `GET /authorize` and 303 for the form's POST.
    fn into_response(self, status: StatusCode) -> Response {
        match self {
            AuthorizeError::Page(message) => error_page(&message),
            AuthorizeError::Redirect {
                redirect_uri,
                error,
                description,
                state,
            } => {
                let mut params = vec![
                    ("error", error),
                    ("error_description", description.as_str()),
                ];
                if let Some(state) = &state {
                    params.push(("state", state.as_str()));
                }
                redirect(status, &redirect_uri, &params)
            }
        }
    }
}

/// Builds a redirect to `uri` with `params` added to its query string.
fn redirect(status: StatusCode, uri: &str, params: &[(&str, &str)]) -> Response {
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    let separator = if uri.contains('?') { '&' } else { '?' };
    let location = format!("{uri}{separator}{query}");

    match HeaderValue::from_str(&location) {
        Ok(location) => (status, [(LOCATION, location)]).into_response(),
        // Registered redirect URIs are valid header values, so this is not expected.
        Err(_) => error_page("The redirect URI cannot be used in a Location header."),
    }
}

/// Checks that `value` is a valid PKCE code verifier or S256 challenge: 43 to 128 characters
/// of `[A-Za-z0-9-._~]` (RFC 7636 section 4.1).
fn is_pkce_value(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Computes the S256 code challenge: BASE64URL-NOPAD(SHA256(ASCII(code_verifier))).
pub(crate) fn s256_challenge(code_verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(code_verifier.as_bytes()))
}

/// Validates the parameters of an authorization request, both on the sign-in page's GET
/// and again on the form's POST, since hidden fields can be edited.
fn validate_authorization(
    config: &PlatformConfig,
    params: &Params,
) -> Result<AuthorizationRequest, AuthorizeError> {
    let page = |message: &str| AuthorizeError::Page(message.to_owned());

    if params.is_repeated("client_id") {
        return Err(page("The client_id parameter is repeated."));
    }
    let Some(client_id) = params.get("client_id") else {
        return Err(page("The client_id parameter is missing."));
    };
    if client_id != config.client_id {
        return Err(AuthorizeError::Page(format!(
            "The client_id {client_id:?} is not a registered client."
        )));
    }

    if params.is_repeated("redirect_uri") {
        return Err(page("The redirect_uri parameter is repeated."));
    }
    let Some(redirect_uri) = params.get("redirect_uri") else {
        return Err(page("The redirect_uri parameter is missing."));
    };
    if !config
        .redirect_uris
        .iter()
        .any(|registered| registered == redirect_uri)
    {
        return Err(AuthorizeError::Page(format!(
            "The redirect_uri {redirect_uri:?} is not registered for this client. It must match a registered URI exactly."
        )));
    }

    // From here on the redirect URI is trusted, so errors go back to the client.
    let state = params.get("state").map(str::to_owned);
    let invalid = |description: String| AuthorizeError::Redirect {
        redirect_uri: redirect_uri.to_owned(),
        error: "invalid_request",
        description,
        state: state.clone(),
    };

    if let Some(repeated) = params.repeated.first() {
        return Err(invalid(format!("The {repeated} parameter is repeated.")));
    }
    if params.get("response_type") != Some("code") {
        return Err(invalid("response_type must be \"code\".".to_owned()));
    }
    let Some(state_value) = state.clone() else {
        return Err(invalid("The state parameter is required.".to_owned()));
    };
    let Some(code_challenge) = params.get("code_challenge") else {
        return Err(invalid(
            "The code_challenge parameter is required (PKCE).".to_owned(),
        ));
    };
    if !is_pkce_value(code_challenge) {
        return Err(invalid(
            "code_challenge must be 43 to 128 characters of [A-Za-z0-9-._~].".to_owned(),
        ));
    }
    if params.get("code_challenge_method") != Some("S256") {
        return Err(invalid(
            "code_challenge_method must be \"S256\".".to_owned(),
        ));
    }

    Ok(AuthorizationRequest {
        client_id: client_id.to_owned(),
        redirect_uri: redirect_uri.to_owned(),
        state: state_value,
        code_challenge: code_challenge.to_owned(),
        scope: params.get("scope").map(str::to_owned),
    })
}

async fn show_sign_in(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let params = Params::parse(query.unwrap_or_default().as_bytes());

    match validate_authorization(&state.config, &params) {
        Ok(request) => sign_in_page(&state.config, &request),
        Err(error) => error.into_response(StatusCode::FOUND),
    }
}

async fn submit_sign_in(State(state): State<AppState>, body: Bytes) -> Response {
    let params = Params::parse(&body);
    let request = match validate_authorization(&state.config, &params) {
        Ok(request) => request,
        Err(error) => return error.into_response(StatusCode::SEE_OTHER),
    };

    // A form posted without the button's name (as a script might) counts as Authorize.
    match params.get("decision").unwrap_or("authorize") {
        "authorize" => {}
        "cancel" => {
            return redirect(
                StatusCode::SEE_OTHER,
                &request.redirect_uri,
                &[
                    ("error", "access_denied"),
                    ("error_description", "The user cancelled the sign-in."),
                    ("state", &request.state),
                ],
            );
        }
        other => {
            return error_page(&format!(
                "The decision {other:?} is invalid. Use Authorize or Cancel."
            ))
        }
    }

    let Some(user) = params.get("user").and_then(|user| state.config.user(user)) else {
        return error_page("Choose one of the listed users.");
    };
    let Some(workspace_id) = params.get("workspace") else {
        return error_page("Choose a workspace.");
    };
    let Some(workspace) = user
        .workspaces
        .iter()
        .find(|workspace| workspace.id == workspace_id)
    else {
        return error_page(&format!(
            "The workspace {workspace_id:?} does not belong to user {}. Choose one of that user's workspaces.",
            user.name
        ));
    };

    let code = match crate::random::new_secret(32) {
        Ok(code) => code,
        Err(error) => {
            return error_page(&format!(
                "Generating the authorization code failed: {error}."
            ))
        }
    };
    let grant = AuthorizationCode {
        client_id: request.client_id.clone(),
        redirect_uri: request.redirect_uri.clone(),
        code_challenge: request.code_challenge.clone(),
        user_id: user.id.clone(),
        workspace_id: workspace.id.clone(),
        expires_at: Instant::now() + state.config.code_lifetime,
    };
    {
        let mut store = state.store();
        let now = Instant::now();
        store.codes.retain(|_, grant| grant.expires_at > now);
        store.issued_secrets.push(code.clone());
        store.codes.insert(code.clone(), grant);
    }

    redirect(
        StatusCode::SEE_OTHER,
        &request.redirect_uri,
        &[("code", &code), ("state", &request.state)],
    )
}

/// Builds an RFC 6749 section 5.2 error response.
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut response = (
        status,
        [(CACHE_CONTROL, "no-store"), (PRAGMA, "no-cache")],
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"local Prisma platform\""),
        );
    }
    response
}

fn invalid_request(description: &str) -> Response {
    oauth_error(StatusCode::BAD_REQUEST, "invalid_request", description)
}

fn invalid_grant(description: &str) -> Response {
    oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", description)
}

/// Client credentials from HTTP Basic (RFC 6749 section 2.3.1), if that header is sent.
/// Returns `Err` for a Basic header that cannot be decoded.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, ()> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| ())?;
    let Some((scheme, encoded)) = value.trim().split_once(' ') else {
        return Err(());
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(());
    }
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| ())?;
    let decoded = String::from_utf8(decoded).map_err(|_| ())?;
    let (id, secret) = decoded.split_once(':').ok_or(())?;

    // Both parts are form-urlencoded before Base64 encoding.
    let decode = |part: &str| -> String {
        form_urlencoded::parse(format!("x={part}").as_bytes())
            .next()
            .map(|(_, value)| value.into_owned())
            .unwrap_or_default()
    };
    Ok(Some((decode(id), decode(secret))))
}

async fn exchange_code(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let is_form = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    if !is_form {
        return invalid_request("The body must be application/x-www-form-urlencoded.");
    }

    let params = Params::parse(&body);
    if let Some(repeated) = params.repeated.first() {
        return invalid_request(&format!("The {repeated} parameter is repeated."));
    }
    match params.get("grant_type") {
        None => return invalid_request("The grant_type parameter is missing."),
        Some("authorization_code") => {}
        Some(_) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "Only grant_type=authorization_code is supported.",
            )
        }
    }

    let (client_id, client_secret) = match basic_credentials(&headers) {
        Err(()) => {
            return oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "The Authorization header is not valid HTTP Basic client authentication.",
            )
        }
        Ok(Some(_)) if params.get("client_secret").is_some() => {
            return invalid_request("Send client credentials either in the Authorization header or in the body, not both.");
        }
        Ok(Some(credentials)) => credentials,
        Ok(None) => match (params.get("client_id"), params.get("client_secret")) {
            (Some(id), Some(secret)) => (id.to_owned(), secret.to_owned()),
            _ => {
                return oauth_error(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    "client_id and client_secret are required.",
                )
            }
        },
    };
    if client_id != state.config.client_id || client_secret != state.config.client_secret {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed: unknown client_id or wrong client_secret.",
        );
    }

    let Some(code) = params.get("code") else {
        return invalid_request("The code parameter is missing.");
    };
    let Some(redirect_uri) = params.get("redirect_uri") else {
        return invalid_request("The redirect_uri parameter is missing.");
    };
    let Some(code_verifier) = params.get("code_verifier") else {
        return invalid_request("The code_verifier parameter is missing (PKCE).");
    };
    if !is_pkce_value(code_verifier) {
        return invalid_request("code_verifier must be 43 to 128 characters of [A-Za-z0-9-._~].");
    }

    let now = Instant::now();
    let mut store = state.store();
    // Removing the code before any check makes it single-use even when this exchange fails.
    let Some(grant) = store.codes.remove(code) else {
        return invalid_grant("The authorization code is unknown or was already used.");
    };
    if grant.expires_at <= now {
        return invalid_grant("The authorization code has expired.");
    }
    if grant.client_id != client_id {
        return invalid_grant("The authorization code was issued to another client.");
    }
    if grant.redirect_uri != redirect_uri {
        return invalid_grant("redirect_uri does not match the one of the authorization request.");
    }
    if s256_challenge(code_verifier) != grant.code_challenge {
        return invalid_grant(
            "code_verifier does not match the code_challenge of the authorization request.",
        );
    }

    let access_token = match crate::random::new_secret(43) {
        Ok(token) => token,
        Err(error) => {
            return oauth_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                &format!("Generating the access token failed: {error}."),
            )
        }
    };
    let lifetime = state.config.access_token_lifetime;
    store
        .access_tokens
        .retain(|_, token| token.expires_at > now);
    store.issued_secrets.push(access_token.clone());
    store.access_tokens.insert(
        access_token.clone(),
        AccessToken {
            user_id: grant.user_id,
            workspace_id: grant.workspace_id,
            expires_at: now + lifetime,
        },
    );

    (
        [(CACHE_CONTROL, "no-store"), (PRAGMA, "no-cache")],
        Json(json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": lifetime.as_secs(),
            "scope": GRANTED_SCOPE,
        })),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_matches_rfc7636_example() {
        // The example verifier and challenge of RFC 7636 appendix B.
        assert_eq!(
            s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn pkce_value_length_and_alphabet() {
        assert!(is_pkce_value(&"a".repeat(43)));
        assert!(!is_pkce_value(&"a".repeat(42)));
        assert!(!is_pkce_value(&"a".repeat(129)));
        assert!(!is_pkce_value(&format!("{}+", "a".repeat(43))));
    }

    #[test]
    fn params_record_repeats() {
        let params = Params::parse(b"a=1&b=&a=2");

        assert_eq!(params.get("a"), Some("1"));
        assert_eq!(params.get("b"), None);
        assert!(params.is_repeated("a"));
    }

    #[test]
    fn basic_credentials_decode() {
        let mut headers = HeaderMap::new();
        let encoded = STANDARD.encode("my%20id:s%3Acret");
        let value = HeaderValue::from_str(&format!("Basic {encoded}"));
        assert!(value.is_ok());
        if let Ok(value) = value {
            headers.insert(AUTHORIZATION, value);
        }

        assert_eq!(
            basic_credentials(&headers),
            Ok(Some(("my id".to_owned(), "s:cret".to_owned())))
        );
    }
}
