//! The claim worker's settings, read once per request from `[vars]` and secrets. A
//! missing or invalid required value becomes an error naming the variable, so the
//! operator sees which one to set; nothing here panics or prints a secret.

use crate::error::Error;
use shared::config::{self, ConfigSource, DEFAULT_PRISMA_API_URL, DEFAULT_PRISMA_AUTH_URL};
use shared::secret::Secret;

/// Everything the claim flow needs to talk to Prisma Auth and the Management API.
#[derive(Debug, Clone)]
pub struct ClaimConfig {
    /// The partner's Management API token; it authorizes the transfer.
    pub integration_token: Secret,
    pub client_id: String,
    pub client_secret: Secret,
    /// This worker's public origin, e.g. `https://create-db.prisma.io`, without a trailing slash.
    pub claim_public_url: String,
    pub api_url: String,
    pub auth_url: String,
}

impl ClaimConfig {
    /// Reads every setting, reporting the first missing or invalid one.
    pub fn load(source: &impl ConfigSource) -> Result<Self, Error> {
        let integration_token = config::required_secret(source, "INTEGRATION_TOKEN")?;
        let client_id = config::required_var(source, "CLIENT_ID")?;
        let client_secret = config::required_secret(source, "CLIENT_SECRET")?;
        let claim_public_url = config::base_url(source, "CLAIM_PUBLIC_URL", None)?;
        let api_url = config::base_url(source, "PRISMA_API_URL", Some(DEFAULT_PRISMA_API_URL))?;
        let auth_url = config::base_url(source, "PRISMA_AUTH_URL", Some(DEFAULT_PRISMA_AUTH_URL))?;
        Ok(ClaimConfig { integration_token, client_id, client_secret, claim_public_url, api_url, auth_url })
    }

    /// The OAuth `redirect_uri`: one fixed URL for every project, built from configuration
    /// and never from the request, so a forged `Host` header cannot move it. It must match
    /// the URI registered for the client exactly.
    pub fn redirect_uri(&self) -> String {
        format!("{}/auth/callback", self.claim_public_url)
    }

    /// This worker's origin (`scheme://host[:port]`), for comparing with a request's `Origin`.
    pub fn claim_origin(&self) -> &str {
        origin_of(&self.claim_public_url)
    }
}

/// Returns the `scheme://host[:port]` part of a validated base URL.
pub fn origin_of(base_url: &str) -> &str {
    let after_scheme = base_url.find("://").map_or(0, |index| index + 3);
    match base_url[after_scheme..].find('/') {
        Some(index) => &base_url[..after_scheme + index],
        None => base_url,
    }
}

/// The origin of Prisma Auth for the `form-action` directive, because the claim form's
/// redirect goes there; `None` when `PRISMA_AUTH_URL` is invalid.
pub fn auth_origin(source: &impl ConfigSource) -> Option<String> {
    config::base_url(source, "PRISMA_AUTH_URL", Some(DEFAULT_PRISMA_AUTH_URL)).ok().map(|url| origin_of(&url).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::config::MapConfig;

    fn complete() -> MapConfig {
        MapConfig::new(&[
            ("INTEGRATION_TOKEN", "token"),
            ("CLIENT_ID", "client"),
            ("CLIENT_SECRET", "secret"),
            ("CLAIM_PUBLIC_URL", "https://claim.example.com/"),
        ])
    }

    #[test]
    fn load_applies_defaults_and_builds_redirect_uri() {
        let loaded = ClaimConfig::load(&complete());

        let Ok(config) = loaded else { panic!("{loaded:?}") };
        assert_eq!(config.api_url, "https://api.prisma.io");
        assert_eq!(config.auth_url, "https://auth.prisma.io");
        assert_eq!(config.redirect_uri(), "https://claim.example.com/auth/callback");
        assert_eq!(config.claim_origin(), "https://claim.example.com");
    }

    #[test]
    fn load_names_each_missing_variable() {
        for name in ["INTEGRATION_TOKEN", "CLIENT_ID", "CLIENT_SECRET", "CLAIM_PUBLIC_URL"] {
            let result = ClaimConfig::load(&complete().without(name));

            assert!(matches!(&result, Err(Error::Config { name: named, .. }) if *named == name), "{name}: {result:?}");
        }
    }

    #[test]
    fn debug_hides_secrets() {
        let loaded = ClaimConfig::load(&complete());

        let printed = format!("{loaded:?}");
        assert!(!printed.contains("\"token\""), "{printed}");
        assert!(!printed.contains("\"secret\""), "{printed}");
    }

    #[test]
    fn origin_of_drops_path() {
        assert_eq!(origin_of("http://127.0.0.1:8790/auth"), "http://127.0.0.1:8790");
        assert_eq!(origin_of("https://auth.prisma.io"), "https://auth.prisma.io");
    }
}
