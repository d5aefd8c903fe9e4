//! The one error type of both workers. Each variant has its HTTP status, a stable
//! machine-readable code and a message a user can act on; the worker crates turn it into
//! a JSON body or an HTML page in one place. Messages never include upstream bodies,
//! tokens or connection strings.

use crate::http::HttpError;
use crate::store::StoreError;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The client sent something invalid. The message tells what to send instead.
    InvalidRequest(String),
    NotFound(String),
    MethodNotAllowed { allowed: &'static str },
    PayloadTooLarge { limit_bytes: usize },
    UnsupportedMediaType,
    /// A required setting is missing or invalid; `name` is the variable to fix.
    Config { name: &'static str, reason: String },
    /// The Management API returned an error status.
    Upstream { status: u16, retry_after_secs: Option<u64> },
    /// The Management API returned 2xx with a body that does not match its contract.
    UpstreamUnreadable { status: u16 },
    UpstreamTimeout,
    UpstreamUnreachable,
    /// The key-value store failed; the state of the request is unknown to the client.
    Storage,
    /// The rate limiter failed, so a request that must be limited was not let through.
    RateLimiterUnavailable,
}

/// Seconds a client is asked to wait after an upstream 429 that gave no usable `Retry-After`.
pub const DEFAULT_RETRY_AFTER_SECS: u64 = 30;

impl Error {
    /// Returns the HTTP status of the response for this error.
    pub fn status(&self) -> u16 {
        match self {
            Error::InvalidRequest(_) => 400,
            Error::NotFound(_) => 404,
            Error::MethodNotAllowed { .. } => 405,
            Error::PayloadTooLarge { .. } => 413,
            Error::UnsupportedMediaType => 415,
            Error::Config { .. } => 500,
            // The worker's own token was rejected: a server problem, not the client's.
            Error::Upstream { status: 401 | 403, .. } => 502,
            Error::Upstream { status: 429, .. } => 503,
            Error::Upstream { status, .. } if (400..500).contains(status) => *status,
            Error::Upstream { .. } | Error::UpstreamUnreadable { .. } | Error::UpstreamUnreachable => 502,
            Error::UpstreamTimeout => 504,
            Error::Storage | Error::RateLimiterUnavailable => 503,
        }
    }

    /// Returns a stable code for programs.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidRequest(_) => "invalid_request",
            Error::NotFound(_) => "not_found",
            Error::MethodNotAllowed { .. } => "method_not_allowed",
            Error::PayloadTooLarge { .. } => "payload_too_large",
            Error::UnsupportedMediaType => "unsupported_media_type",
            Error::Config { .. } => "configuration_error",
            Error::Upstream { status: 429, .. } => "upstream_rate_limited",
            Error::Upstream { .. } => "upstream_error",
            Error::UpstreamUnreadable { .. } => "upstream_invalid_response",
            Error::UpstreamTimeout => "upstream_timeout",
            Error::UpstreamUnreachable => "upstream_unreachable",
            Error::Storage => "storage_unavailable",
            Error::RateLimiterUnavailable => "rate_limiter_unavailable",
        }
    }

    /// Returns the status the Management API returned, where there was one.
    pub fn upstream_status(&self) -> Option<u16> {
        match self {
            Error::Upstream { status, .. } | Error::UpstreamUnreadable { status } => Some(*status),
            _ => None,
        }
    }

    /// Seconds for a `Retry-After` header, for errors worth retrying later.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Error::Upstream { status: 429, retry_after_secs } => {
                Some(retry_after_secs.unwrap_or(DEFAULT_RETRY_AFTER_SECS))
            }
            Error::Storage | Error::RateLimiterUnavailable => Some(5),
            _ => None,
        }
    }

    pub fn from_http(error: &HttpError) -> Error {
        match error {
            HttpError::Timeout => Error::UpstreamTimeout,
            HttpError::Network(_) => Error::UpstreamUnreachable,
        }
    }
}

impl From<StoreError> for Error {
    fn from(_: StoreError) -> Self {
        Error::Storage
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidRequest(message) | Error::NotFound(message) => f.write_str(message),
            Error::MethodNotAllowed { allowed } => {
                write!(f, "This method is not allowed here; use {allowed}.")
            }
            Error::PayloadTooLarge { limit_bytes } => {
                write!(f, "The request body is larger than {limit_bytes} bytes; send a smaller body.")
            }
            Error::UnsupportedMediaType => {
                f.write_str("The request body must be JSON; send it with `Content-Type: application/json`.")
            }
            Error::Config { name, reason } => write!(
                f,
                "The service is misconfigured: {name} {reason}. The operator must set it (see the README's configuration table)."
            ),
            Error::Upstream { status: 401 | 403, .. } => f.write_str(
                "The Prisma API rejected this service's credentials. The operator must check INTEGRATION_TOKEN.",
            ),
            Error::Upstream { status: 429, .. } => {
                f.write_str("The Prisma API is rate limiting requests right now. Try again after the Retry-After delay.")
            }
            Error::Upstream { status: 404, .. } => f.write_str("The Prisma API does not know this resource."),
            Error::Upstream { status, .. } if (400..500).contains(status) => {
                write!(f, "The Prisma API rejected the request (status {status}).")
            }
            Error::Upstream { status, .. } => {
                write!(f, "The Prisma API failed (status {status}). Try again in a moment.")
            }
            Error::UpstreamUnreadable { status } => write!(
                f,
                "The Prisma API answered with status {status} but an unreadable body. Try again in a moment."
            ),
            Error::UpstreamTimeout => f.write_str("The Prisma API did not respond in time. Try again in a moment."),
            Error::UpstreamUnreachable => f.write_str("The Prisma API could not be reached. Try again in a moment."),
            Error::Storage => f.write_str("The state store is unavailable, so nothing was created. Try again in a moment."),
            Error::RateLimiterUnavailable => f.write_str(
                "Programmatic creates are paused because rate limiting is unavailable. Try again in a moment, or use the CLI.",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_statuses_map_to_gateway_statuses() {
        let cases = [
            (400, 400),
            (401, 502),
            (403, 502),
            (404, 404),
            (409, 409),
            (429, 503),
            (500, 502),
            (503, 502),
        ];
        for (upstream, expected) in cases {
            let error = Error::Upstream { status: upstream, retry_after_secs: None };
            assert_eq!(error.status(), expected, "upstream {upstream}");
            assert_eq!(error.upstream_status(), Some(upstream));
        }
    }

    #[test]
    fn transport_errors_map_to_timeout_and_bad_gateway() {
        assert_eq!(Error::from_http(&HttpError::Timeout).status(), 504);
        assert_eq!(Error::from_http(&HttpError::Network("reset".into())).status(), 502);
        assert_eq!(Error::UpstreamUnreadable { status: 201 }.status(), 502);
    }

    #[test]
    fn upstream_rate_limit_has_retry_after() {
        let with_header = Error::Upstream { status: 429, retry_after_secs: Some(7) };
        let without = Error::Upstream { status: 429, retry_after_secs: None };

        assert_eq!(with_header.retry_after_secs(), Some(7));
        assert_eq!(without.retry_after_secs(), Some(DEFAULT_RETRY_AFTER_SECS));
        assert_eq!(Error::UpstreamTimeout.retry_after_secs(), None);
    }

    #[test]
    fn config_error_names_the_variable() {
        let error = Error::Config { name: "INTEGRATION_TOKEN", reason: "is not set".into() };

        assert_eq!(error.status(), 500);
        assert!(error.to_string().contains("INTEGRATION_TOKEN is not set"), "{error}");
    }
}
