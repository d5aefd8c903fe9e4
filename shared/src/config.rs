//! Reading the settings both workers share from their `[vars]` and secrets. A missing or
//! invalid required value becomes `Error::Config` naming the variable, never a panic.

use crate::error::Error;
use crate::secret::Secret;
use crate::ttl::TtlPolicy;

pub const DEFAULT_PRISMA_API_URL: &str = "https://api.prisma.io";
pub const DEFAULT_PRISMA_AUTH_URL: &str = "https://auth.prisma.io";

/// Where settings come from: `[vars]` and secrets in the Workers runtime, a map in tests.
pub trait ConfigSource {
    /// Returns the plain variable `name`, if set.
    fn var(&self, name: &str) -> Option<String>;

    /// Returns the secret `name`, if set. Workers also accept a secret given as a var.
    fn secret(&self, name: &str) -> Option<Secret>;
}

/// A `ConfigSource` over a list of pairs, for tests.
#[derive(Debug, Clone, Default)]
pub struct MapConfig(pub Vec<(String, String)>);

impl MapConfig {
    pub fn new(pairs: &[(&str, &str)]) -> Self {
        MapConfig(pairs.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect())
    }

    pub fn with(mut self, name: &str, value: &str) -> Self {
        self.0.retain(|(key, _)| key != name);
        self.0.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn without(mut self, name: &str) -> Self {
        self.0.retain(|(key, _)| key != name);
        self
    }
}

impl ConfigSource for MapConfig {
    fn var(&self, name: &str) -> Option<String> {
        self.0.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone())
    }

    fn secret(&self, name: &str) -> Option<Secret> {
        self.var(name).map(Secret::new)
    }
}

/// Reads a required secret; empty counts as missing.
pub fn required_secret(source: &impl ConfigSource, name: &'static str) -> Result<Secret, Error> {
    match source.secret(name) {
        Some(secret) if !secret.expose().trim().is_empty() => Ok(secret),
        _ => Err(Error::Config { name, reason: "is not set".to_owned() }),
    }
}

/// Reads a required variable; empty counts as missing.
pub fn required_var(source: &impl ConfigSource, name: &'static str) -> Result<String, Error> {
    match source.var(name) {
        Some(value) if !value.trim().is_empty() => Ok(value.trim().to_owned()),
        _ => Err(Error::Config { name, reason: "is not set".to_owned() }),
    }
}

/// Reads a base URL (an origin with an optional path, no query or fragment) and returns
/// it without a trailing slash. Unset means `default`, if there is one.
pub fn base_url(
    source: &impl ConfigSource,
    name: &'static str,
    default: Option<&str>,
) -> Result<String, Error> {
    let value = match (source.var(name).filter(|value| !value.trim().is_empty()), default) {
        (Some(value), _) => value.trim().to_owned(),
        (None, Some(default)) => default.to_owned(),
        (None, None) => return Err(Error::Config { name, reason: "is not set".to_owned() }),
    };
    validate_base_url(&value).map_err(|reason| Error::Config { name, reason })?;
    Ok(value.trim_end_matches('/').to_owned())
}

fn validate_base_url(value: &str) -> Result<(), String> {
    let invalid = |why: &str| Err(format!("is not a valid URL ({why}): expected e.g. https://example.com"));
    let Some(rest) = value.strip_prefix("https://").or_else(|| value.strip_prefix("http://")) else {
        return invalid("it must start with http:// or https://");
    };
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() {
        return invalid("the host is missing");
    }
    if value.chars().any(|character| character.is_whitespace() || character.is_control()) {
        return invalid("it contains whitespace");
    }
    if value.contains(['?', '#', '@']) {
        return invalid("it must not have a query, fragment or credentials");
    }
    Ok(())
}

/// Reads the TTL policy from `TTL_MIN_MS`, `TTL_MAX_MS` and `TTL_DEFAULT_MS`.
pub fn ttl_policy(source: &impl ConfigSource) -> Result<TtlPolicy, Error> {
    TtlPolicy::from_config(
        source.var("TTL_MIN_MS").as_deref(),
        source.var("TTL_MAX_MS").as_deref(),
        source.var("TTL_DEFAULT_MS").as_deref(),
    )
    .map_err(|(name, reason)| Error::Config { name, reason })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_or_blank_secret_is_named() {
        let source = MapConfig::new(&[("INTEGRATION_TOKEN", "  ")]);

        let error = required_secret(&source, "INTEGRATION_TOKEN").map(|_| ());

        assert_eq!(error, Err(Error::Config { name: "INTEGRATION_TOKEN", reason: "is not set".into() }));
    }

    #[test]
    fn base_url_defaults_and_trims_slash() {
        let source = MapConfig::new(&[("CLAIM_PUBLIC_URL", "http://127.0.0.1:8788/")]);

        assert_eq!(base_url(&source, "CLAIM_PUBLIC_URL", None), Ok("http://127.0.0.1:8788".to_owned()));
        assert_eq!(
            base_url(&source, "PRISMA_API_URL", Some(DEFAULT_PRISMA_API_URL)),
            Ok("https://api.prisma.io".to_owned())
        );
    }

    #[test]
    fn base_url_rejects_invalid_values() {
        for value in ["api.prisma.io", "ftp://x", "https://", "https://a b", "https://x?y=1", "https://u:p@x"] {
            let source = MapConfig::new(&[("PRISMA_API_URL", value)]);
            let result = base_url(&source, "PRISMA_API_URL", None);
            assert!(
                matches!(&result, Err(Error::Config { name: "PRISMA_API_URL", reason }) if reason.contains("not a valid URL")),
                "{value}: {result:?}"
            );
        }
    }

    #[test]
    fn ttl_policy_error_names_the_variable() {
        let source = MapConfig::new(&[("TTL_MAX_MS", "soon")]);

        assert!(matches!(ttl_policy(&source), Err(Error::Config { name: "TTL_MAX_MS", .. })));
    }
}
