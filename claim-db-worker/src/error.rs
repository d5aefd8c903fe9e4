//! The one error type of the claim worker. Each variant has its HTTP status, a stable
//! code for logs and analytics, and a title and message a user can act on. `pages`
//! renders every one of them the same way, with the request id. Messages never include
//! upstream bodies, tokens or the OAuth state.

use crate::params::ClaimLink;
use shared::http::HttpError;
use shared::store::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    NotFound,
    MethodNotAllowed { allowed: &'static str },
    PayloadTooLarge,
    UnsupportedMediaType,
    RepeatedParameter(&'static str),
    MissingProjectId,
    /// `shown` is the rejected id, shortened; the page escapes it.
    InvalidProjectId { shown: String, reason: String },
    /// No record, a deleted record, or one past its deletion time.
    ProjectUnavailable,
    AlreadyClaimed,
    /// A claim start posted from another site.
    CrossSiteRequest,
    MissingCallbackParameters,
    /// The callback's state is malformed, unknown, or already used.
    StateUnknown,
    StateExpired { claim_link: ClaimLink },
    /// The callback came without the cookie of the browser that started the claim.
    BrowserMismatch { claim_link: ClaimLink },
    /// Prisma Auth sent the user back with an error other than a cancellation.
    AuthorizationFailed { claim_link: Option<ClaimLink> },
    /// `/token` returned 400: the code expired, was used, or does not match the verifier.
    CodeRejected { claim_link: ClaimLink },
    /// `/token` returned 401: the client id or secret is wrong.
    ClientRejected,
    /// The transfer returned 403: the Management API rejected the integration token.
    IntegrationRejected,
    /// The transfer returned 401: the user's access token was not accepted.
    RecipientRejected { claim_link: ClaimLink },
    /// The transfer returned 404: the partner no longer owns the project.
    ProjectGone,
    /// The transfer returned 409.
    TransferConflict { claim_link: ClaimLink },
    /// Prisma failed, timed out, or could not be reached; the user can try again.
    Upstream { failure: UpstreamFailure, claim_link: Option<ClaimLink> },
    /// A required setting is missing or invalid; `name` is the variable to fix.
    Config { name: &'static str, reason: String },
    Storage,
    RandomUnavailable,
    /// The client's address is over `CLAIM_LIMIT`.
    RateLimited,
}

/// The kind of failure of a call to Prisma.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamFailure {
    Status(u16),
    Unreadable(u16),
    Timeout,
    Unreachable,
}

impl UpstreamFailure {
    pub fn from_http(error: &HttpError) -> Self {
        match error {
            HttpError::Timeout => UpstreamFailure::Timeout,
            HttpError::Network(_) => UpstreamFailure::Unreachable,
        }
    }
}

const START_OVER: &str = "Open the claim link exactly as npx create-db printed it.";
const START_AGAIN: &str = "Start again from the claim link exactly as npx create-db printed it.";

impl Error {
    /// Returns the HTTP status of the error page.
    pub fn status(&self) -> u16 {
        match self {
            Error::NotFound | Error::ProjectUnavailable | Error::ProjectGone => 404,
            Error::MethodNotAllowed { .. } => 405,
            Error::PayloadTooLarge => 413,
            Error::UnsupportedMediaType => 415,
            Error::RepeatedParameter(_)
            | Error::MissingProjectId
            | Error::InvalidProjectId { .. }
            | Error::MissingCallbackParameters
            | Error::StateUnknown
            | Error::StateExpired { .. }
            | Error::AuthorizationFailed { .. }
            | Error::CodeRejected { .. }
            | Error::RecipientRejected { .. } => 400,
            Error::CrossSiteRequest | Error::BrowserMismatch { .. } => 403,
            Error::AlreadyClaimed | Error::TransferConflict { .. } => 409,
            Error::Config { .. } => 500,
            Error::ClientRejected | Error::IntegrationRejected => 502,
            Error::Upstream { failure, .. } => match failure {
                UpstreamFailure::Status(429) => 503,
                UpstreamFailure::Timeout => 504,
                _ => 502,
            },
            Error::Storage | Error::RandomUnavailable => 503,
            Error::RateLimited => 429,
        }
    }

    /// Returns a stable code for logs and analytics.
    pub fn code(&self) -> &'static str {
        match self {
            Error::NotFound => "not_found",
            Error::MethodNotAllowed { .. } => "method_not_allowed",
            Error::PayloadTooLarge => "payload_too_large",
            Error::UnsupportedMediaType => "unsupported_media_type",
            Error::RepeatedParameter(_) => "repeated_parameter",
            Error::MissingProjectId => "missing_project_id",
            Error::InvalidProjectId { .. } => "invalid_project_id",
            Error::ProjectUnavailable => "project_unavailable",
            Error::AlreadyClaimed => "already_claimed",
            Error::CrossSiteRequest => "cross_site_request",
            Error::MissingCallbackParameters => "missing_callback_parameters",
            Error::StateUnknown => "state_unknown",
            Error::StateExpired { .. } => "state_expired",
            Error::BrowserMismatch { .. } => "browser_mismatch",
            Error::AuthorizationFailed { .. } => "authorization_failed",
            Error::CodeRejected { .. } => "code_rejected",
            Error::ClientRejected => "client_rejected",
            Error::IntegrationRejected => "integration_rejected",
            Error::RecipientRejected { .. } => "recipient_rejected",
            Error::ProjectGone => "project_gone",
            Error::TransferConflict { .. } => "transfer_conflict",
            Error::Upstream { failure: UpstreamFailure::Timeout, .. } => "upstream_timeout",
            Error::Upstream { failure: UpstreamFailure::Unreachable, .. } => "upstream_unreachable",
            Error::Upstream { failure: UpstreamFailure::Unreadable(_), .. } => "upstream_invalid_response",
            Error::Upstream { failure: UpstreamFailure::Status(_), .. } => "upstream_error",
            Error::Config { .. } => "configuration_error",
            Error::Storage => "storage_unavailable",
            Error::RandomUnavailable => "random_unavailable",
            Error::RateLimited => "rate_limited",
        }
    }

    /// Returns the page heading.
    pub fn title(&self) -> &'static str {
        match self {
            Error::NotFound => "Page not found",
            Error::MethodNotAllowed { .. } => "Method not allowed",
            Error::PayloadTooLarge => "Request too large",
            Error::UnsupportedMediaType => "Unsupported form",
            Error::RepeatedParameter(_) | Error::MissingProjectId | Error::InvalidProjectId { .. } => {
                "Invalid claim link"
            }
            Error::ProjectUnavailable => "Database not found",
            Error::AlreadyClaimed => "Database already claimed",
            Error::CrossSiteRequest => "Claim rejected",
            Error::MissingCallbackParameters | Error::AuthorizationFailed { .. } => "Sign-in failed",
            Error::StateUnknown | Error::StateExpired { .. } | Error::CodeRejected { .. } => "Sign-in expired",
            Error::BrowserMismatch { .. } => "Sign-in started in another browser",
            Error::RecipientRejected { .. } => "Sign-in not accepted",
            Error::ProjectGone => "Database no longer available",
            Error::TransferConflict { .. } => "Database cannot be claimed right now",
            Error::Upstream { .. } => "Prisma is not responding",
            Error::ClientRejected | Error::IntegrationRejected | Error::Config { .. } => "Service misconfigured",
            Error::Storage | Error::RandomUnavailable => "Temporarily unavailable",
            Error::RateLimited => "Too many requests",
        }
    }

    /// Describes what happened and what to do next, in plain text that the page escapes.
    pub fn message(&self) -> String {
        match self {
            Error::NotFound => format!("There is no page at this address. {START_OVER}"),
            Error::MethodNotAllowed { allowed } => {
                format!("This address does not accept this request method; use {allowed}.")
            }
            Error::PayloadTooLarge => "The form sent is larger than this service accepts. Go back and try again.".to_owned(),
            Error::UnsupportedMediaType => {
                "The claim form must be sent as a regular HTML form. Go back to the claim page and press Claim database."
                    .to_owned()
            }
            Error::RepeatedParameter(name) => format!("The link contains the parameter {name} more than once. {START_OVER}"),
            Error::MissingProjectId => format!("The link has no projectID parameter. {START_OVER}"),
            Error::InvalidProjectId { shown, reason } => {
                format!("“{shown}” is not a valid project id: {reason}. {START_OVER}")
            }
            Error::ProjectUnavailable => {
                "This database has expired and was deleted, or it never existed. Create a new one with npx create-db."
                    .to_owned()
            }
            Error::AlreadyClaimed => {
                "This database has already been claimed into a Prisma workspace. Find it in the Prisma Console.".to_owned()
            }
            Error::CrossSiteRequest => {
                "The claim was not started from this site's claim page, so it was rejected. Open the claim link and press Claim database there."
                    .to_owned()
            }
            Error::MissingCallbackParameters => {
                format!("Prisma sent you back without a sign-in code or state. {START_AGAIN}")
            }
            Error::StateUnknown => format!(
                "This sign-in is unknown: it expired, was already used, or the address was changed. {START_AGAIN}"
            ),
            Error::StateExpired { .. } => {
                "The sign-in took longer than 10 minutes, so it expired. Start the claim again.".to_owned()
            }
            Error::BrowserMismatch { .. } => {
                "This sign-in was started in another browser, another tab, or its cookie is missing, so the claim was rejected. Open the claim link in this browser and press Claim database again."
                    .to_owned()
            }
            Error::AuthorizationFailed { .. } => "Prisma could not complete the sign-in. Start the claim again.".to_owned(),
            Error::CodeRejected { .. } => {
                "Prisma did not accept the sign-in code: it expired or was already used. Start the claim again.".to_owned()
            }
            Error::ClientRejected => {
                "Prisma rejected this service's OAuth client. The operator must check CLIENT_ID and CLIENT_SECRET.".to_owned()
            }
            Error::IntegrationRejected => {
                "Prisma rejected this service's credentials, so the database was not moved. The operator must check INTEGRATION_TOKEN."
                    .to_owned()
            }
            Error::RecipientRejected { .. } => {
                "Prisma did not accept your sign-in for the transfer. Start the claim again.".to_owned()
            }
            Error::ProjectGone => {
                "This database can no longer be claimed: it has expired, was deleted, or was already claimed.".to_owned()
            }
            Error::TransferConflict { .. } => {
                "Prisma cannot move this database right now, for example while another change to it is in progress. Wait a minute and start the claim again."
                    .to_owned()
            }
            Error::Upstream { failure, .. } => {
                let what = match failure {
                    UpstreamFailure::Timeout => "Prisma did not answer in time.".to_owned(),
                    UpstreamFailure::Unreachable => "Prisma could not be reached.".to_owned(),
                    UpstreamFailure::Unreadable(_) => "Prisma sent an answer this service cannot read.".to_owned(),
                    UpstreamFailure::Status(429) => "Prisma is rate limiting requests right now.".to_owned(),
                    UpstreamFailure::Status(status) => format!("Prisma failed (status {status})."),
                };
                format!("{what} Your database was not moved. Try again in a moment; if it keeps failing, quote the request id below.")
            }
            Error::Config { name, reason } => {
                format!("{name} {reason}. The operator must set it in the worker's configuration.")
            }
            Error::Storage => "The service's state store is unavailable. Try again in a moment.".to_owned(),
            Error::RandomUnavailable => {
                "The service could not create a secure sign-in value. Try again in a moment.".to_owned()
            }
            Error::RateLimited => format!(
                "Your address sent more than {} requests in {} seconds. Wait a minute, then reload the page.",
                crate::app::CLAIM_LIMIT.max_requests,
                crate::app::CLAIM_LIMIT.period_secs
            ),
        }
    }

    /// Returns the claim page to start over from, when the error has one.
    pub fn claim_link(&self) -> Option<&ClaimLink> {
        match self {
            Error::StateExpired { claim_link }
            | Error::BrowserMismatch { claim_link }
            | Error::CodeRejected { claim_link }
            | Error::RecipientRejected { claim_link }
            | Error::TransferConflict { claim_link } => Some(claim_link),
            Error::AuthorizationFailed { claim_link } | Error::Upstream { claim_link, .. } => claim_link.as_ref(),
            _ => None,
        }
    }
}

impl From<StoreError> for Error {
    fn from(_: StoreError) -> Self {
        Error::Storage
    }
}

impl From<shared::Error> for Error {
    /// Maps the shared configuration reader's errors; the others do not occur here.
    fn from(error: shared::Error) -> Self {
        match error {
            shared::Error::Config { name, reason } => Error::Config { name, reason },
            _ => Error::Storage,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_failures_map_to_gateway_statuses() {
        let cases = [
            (UpstreamFailure::Status(500), 502),
            (UpstreamFailure::Status(429), 503),
            (UpstreamFailure::Timeout, 504),
            (UpstreamFailure::Unreachable, 502),
            (UpstreamFailure::Unreadable(200), 502),
        ];
        for (failure, status) in cases {
            assert_eq!(Error::Upstream { failure, claim_link: None }.status(), status, "{failure:?}");
        }
    }

    #[test]
    fn config_error_names_the_variable() {
        let error = Error::from(shared::Error::Config { name: "CLIENT_SECRET", reason: "is not set".to_owned() });

        assert_eq!(error.status(), 500);
        assert!(error.message().contains("CLIENT_SECRET is not set"), "{}", error.message());
    }
}
