//! The OAuth 2.0 authorization code flow with PKCE as this worker's client side uses it
//! (RFC 6749, RFC 7636): the secret values as their own types, the `/authorize` URL, and
//! the `/token` exchange. Every secret type prints `[redacted]` in `Debug` and has no
//! `Display`, so none of them can reach a log line or a page by accident; `expose` marks
//! each place that sends one.

use crate::config::ClaimConfig;
use crate::params::Utm;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use shared::http::{HttpRequest, HttpResponse, Method};
use shared::secret::Secret;
use std::fmt;

/// Random bytes behind each state, verifier and cookie value: 256 bits, twice the 128
/// bits that make guessing hopeless, encoded as 43 BASE64URL characters.
pub const RANDOM_BYTES: usize = 32;

/// Length of 32 bytes in BASE64URL without padding.
pub const ENCODED_LENGTH: usize = 43;

/// The scope the transfer needs: admin rights on the workspace the user picks.
pub const SCOPE: &str = "workspace:admin";

/// The platform's secure random source failed, so no secret value could be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RandomUnavailable;

fn random_token() -> Result<String, RandomUnavailable> {
    let mut bytes = [0u8; RANDOM_BYTES];
    getrandom::getrandom(&mut bytes).map_err(|_| RandomUnavailable)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// Checks that `text` looks like a value from `random_token`: 43 BASE64URL characters.
fn is_random_token(text: &str) -> bool {
    text.len() == ENCODED_LENGTH && text.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
}

/// The OAuth `state`: a one-time random value that ties the callback to the claim that
/// started it (RFC 6749 section 10.12). It names the `oauth:{state}` key in KV.
#[derive(PartialEq, Eq)]
pub struct OAuthState(String);

impl OAuthState {
    pub fn generate() -> Result<Self, RandomUnavailable> {
        random_token().map(OAuthState)
    }

    /// Accepts only text shaped like a generated state, so a forged value never becomes
    /// a KV key of another shape.
    pub fn parse(text: &str) -> Option<Self> {
        is_random_token(text).then(|| OAuthState(text.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for OAuthState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OAuthState([redacted])")
    }
}

/// The PKCE `code_verifier` (RFC 7636 section 4.1): 43 characters from the unreserved
/// set, kept in KV and sent once, to `/token`.
///
/// Deliberately not `Clone`: the token request takes it by value, so after the exchange
/// no copy is left that a later request or a log line could pick up.
#[derive(PartialEq, Eq)]
pub struct PkceVerifier(String);

impl PkceVerifier {
    pub fn generate() -> Result<Self, RandomUnavailable> {
        random_token().map(PkceVerifier)
    }

    /// Accepts a stored verifier if it satisfies RFC 7636 section 4.1: 43 to 128
    /// characters of `[A-Za-z0-9-._~]`.
    pub fn from_stored(text: String) -> Option<Self> {
        let valid = (43..=128).contains(&text.len())
            && text.bytes().all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~'));
        valid.then_some(PkceVerifier(text))
    }

    /// The S256 `code_challenge` sent to `/authorize`.
    pub fn challenge(&self) -> String {
        s256_challenge(&self.0)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PkceVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PkceVerifier([redacted])")
    }
}

/// Computes BASE64URL-NOPAD(SHA256(ASCII(code_verifier))), RFC 7636 section 4.2.
pub fn s256_challenge(code_verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(code_verifier.as_bytes()))
}

/// The random value in the browser's cookie that binds a pending claim to the browser
/// that started it. KV keeps only its SHA-256, so reading KV is not enough to finish
/// someone else's claim.
#[derive(PartialEq, Eq)]
pub struct BrowserBinding(String);

impl BrowserBinding {
    pub fn generate() -> Result<Self, RandomUnavailable> {
        random_token().map(BrowserBinding)
    }

    /// Lowercase hex SHA-256 of the cookie value, the form stored in KV.
    pub fn hash(&self) -> String {
        hash_cookie_value(&self.0)
    }

    /// The value for the `Set-Cookie` header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for BrowserBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BrowserBinding([redacted])")
    }
}

pub fn hash_cookie_value(value: &str) -> String {
    shared::ids::hex(&Sha256::digest(value.as_bytes()))
}

/// Checks whether any of the cookie values hashes to `stored_hash`. The comparison takes
/// the same time wherever the hashes differ.
pub fn cookie_matches(cookie_values: &[&str], stored_hash: &str) -> bool {
    cookie_values.iter().any(|value| constant_time_eq(hash_cookie_value(value).as_bytes(), stored_hash.as_bytes()))
}

fn constant_time_eq(left: &[u8], right: &[u8]) -> bool {
    if left.len() != right.len() {
        return false;
    }
    left.iter().zip(right).fold(0u8, |difference, (a, b)| difference | (a ^ b)) == 0
}

/// The user's access token from `/token`. It only ever goes into the transfer body and
/// the `Authorization` header of the Console-link reads.
#[derive(Debug)]
pub struct AccessToken(pub Secret);

/// Builds the `/authorize` URL that sends the user to sign in (RFC 6749 section 4.1.1,
/// RFC 7636 section 4.3).
pub fn authorize_url(config: &ClaimConfig, state: &OAuthState, code_challenge: &str, utm: &Utm) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("client_id", &config.client_id)
        .append_pair("redirect_uri", &config.redirect_uri())
        .append_pair("response_type", "code")
        .append_pair("scope", SCOPE)
        .append_pair("state", state.expose())
        .append_pair("code_challenge", code_challenge)
        .append_pair("code_challenge_method", "S256");
    if let Some(source) = &utm.source {
        query.append_pair("utm_source", source);
    }
    if let Some(medium) = &utm.medium {
        query.append_pair("utm_medium", medium);
    }
    format!("{}/authorize?{}", config.auth_url, query.finish())
}

/// Builds the token request (RFC 6749 section 4.1.3) with the client credentials in the
/// form body. It consumes the verifier: each verifier is sent once.
pub fn token_request(config: &ClaimConfig, code: &str, code_verifier: PkceVerifier) -> HttpRequest {
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "authorization_code")
        .append_pair("code", code)
        .append_pair("redirect_uri", &config.redirect_uri())
        .append_pair("client_id", &config.client_id)
        .append_pair("client_secret", config.client_secret.expose())
        .append_pair("code_verifier", code_verifier.expose())
        .finish();
    let mut request = HttpRequest::new(Method::Post, format!("{}/token", config.auth_url))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json");
    request.body = Some(body.into_bytes());
    request
}

/// The reason the token endpoint returned no access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// 400: the code is unknown, used, expired, or does not match the verifier.
    CodeRejected,
    /// 401: Prisma Auth does not accept this worker's client id or secret.
    ClientRejected,
    /// Any other error status.
    Status(u16),
    /// A 2xx response without a usable `access_token`.
    Unreadable(u16),
}

#[derive(Deserialize)]
struct TokenBody {
    access_token: String,
}

/// Reads the access token from a `/token` response. The body is never logged or shown,
/// because a successful one contains the token.
pub fn parse_token_response(response: &HttpResponse) -> Result<AccessToken, TokenError> {
    match response.status {
        200..=299 => {}
        400 => return Err(TokenError::CodeRejected),
        401 => return Err(TokenError::ClientRejected),
        status => return Err(TokenError::Status(status)),
    }
    match serde_json::from_slice::<TokenBody>(&response.body) {
        Ok(body) if !body.access_token.trim().is_empty() => Ok(AccessToken(Secret::new(body.access_token))),
        _ => Err(TokenError::Unreadable(response.status)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn s256_matches_rfc7636_appendix_b() {
        let verifier = PkceVerifier::from_stored("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".to_owned());

        let challenge = verifier.map(|verifier| verifier.challenge());

        assert_eq!(challenge.as_deref(), Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
    }

    #[test]
    fn generated_values_have_43_url_safe_characters() {
        let values = [
            OAuthState::generate().map(|state| state.expose().to_owned()),
            PkceVerifier::generate().map(|verifier| verifier.expose().to_owned()),
            BrowserBinding::generate().map(|binding| binding.expose().to_owned()),
        ];

        for value in values {
            let Ok(value) = value else { panic!("random source failed") };
            assert_eq!(value.len(), ENCODED_LENGTH, "{value}");
            assert!(is_random_token(&value), "{value}");
        }
    }

    #[test]
    fn generated_values_differ() {
        let first = OAuthState::generate().map(|state| state.expose().to_owned());
        let second = OAuthState::generate().map(|state| state.expose().to_owned());

        assert!(first.is_ok());
        assert_ne!(first, second);
    }

    #[test]
    fn generated_verifier_is_valid_per_rfc7636() {
        let Ok(verifier) = PkceVerifier::generate() else { panic!("random source failed") };

        let reparsed = PkceVerifier::from_stored(verifier.expose().to_owned());

        assert_eq!(reparsed.as_ref().map(PkceVerifier::expose), Some(verifier.expose()));
        assert_eq!(verifier.challenge().len(), ENCODED_LENGTH);
    }

    #[test]
    fn verifier_rejects_wrong_length_or_alphabet() {
        assert!(PkceVerifier::from_stored("a".repeat(42)).is_none());
        assert!(PkceVerifier::from_stored("a".repeat(129)).is_none());
        assert!(PkceVerifier::from_stored(format!("{}+", "a".repeat(43))).is_none());
        assert!(PkceVerifier::from_stored("a".repeat(128)).is_some());
        assert!(PkceVerifier::from_stored("A-._~".repeat(10)).is_some());
    }

    #[test]
    fn state_parse_accepts_only_generated_shape() {
        assert!(OAuthState::parse(&"a".repeat(43)).is_some());
        assert!(OAuthState::parse(&"a".repeat(42)).is_none());
        assert!(OAuthState::parse(&format!("{}/", "a".repeat(42))).is_none());
        assert!(OAuthState::parse(&format!("{}=", "a".repeat(42))).is_none());
        assert!(OAuthState::parse("").is_none());
    }

    #[test]
    fn debug_output_is_redacted() {
        let state = OAuthState::parse(&"s".repeat(43));
        let verifier = PkceVerifier::from_stored("v".repeat(43));
        let binding = BrowserBinding("b".repeat(43));

        let printed = format!("{state:?} {verifier:?} {binding:?}");

        assert!(!printed.contains("sss"), "{printed}");
        assert!(!printed.contains("vvv"), "{printed}");
        assert!(!printed.contains("bbb"), "{printed}");
        assert!(printed.contains("[redacted]"), "{printed}");
    }

    #[test]
    fn cookie_binding_matches_only_its_own_value() {
        let Ok(binding) = BrowserBinding::generate() else { panic!("random source failed") };
        let stored_hash = binding.hash();
        let Ok(other) = BrowserBinding::generate() else { panic!("random source failed") };

        assert!(cookie_matches(&[binding.expose()], &stored_hash));
        assert!(cookie_matches(&[other.expose(), binding.expose()], &stored_hash));
        assert!(!cookie_matches(&[other.expose()], &stored_hash));
        assert!(!cookie_matches(&[], &stored_hash));
        assert!(!cookie_matches(&[&stored_hash], &stored_hash), "the hash itself must not pass as the cookie");
        assert_eq!(stored_hash.len(), 64);
    }

    #[test]
    fn token_response_errors_by_status() {
        let ok = HttpResponse::json(200, &json!({"access_token": "tok", "token_type": "Bearer"}));
        let empty = HttpResponse::json(200, &json!({"access_token": ""}));
        let broken = HttpResponse::new(200, "{");

        assert_eq!(parse_token_response(&ok).map(|token| token.0.expose().to_owned()), Ok("tok".to_owned()));
        assert_eq!(parse_token_response(&empty).map(|_| ()), Err(TokenError::Unreadable(200)));
        assert_eq!(parse_token_response(&broken).map(|_| ()), Err(TokenError::Unreadable(200)));
        assert_eq!(parse_token_response(&HttpResponse::new(400, "")).map(|_| ()), Err(TokenError::CodeRejected));
        assert_eq!(parse_token_response(&HttpResponse::new(401, "")).map(|_| ()), Err(TokenError::ClientRejected));
        assert_eq!(parse_token_response(&HttpResponse::new(503, "")).map(|_| ()), Err(TokenError::Status(503)));
    }
}
