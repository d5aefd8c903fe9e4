//! Product analytics of the claim flow: PostHog capture requests for a claim page view, a
//! successful claim and a failed one. They are only built when `POSTHOG_API_HOST` and
//! `POSTHOG_API_KEY` are both set, and the shell sends them with `waitUntil`, so they
//! never delay a page. Properties hold ids, tags and error codes, never a token.

use crate::params::Utm;
use serde_json::{json, Map, Value};
use shared::config::{self, ConfigSource};
use shared::http::{HttpRequest, Method};
use shared::ProjectId;

pub const CLAIM_PAGE_VIEWED: &str = "create_db:claim_page_viewed";
pub const CLAIM_SUCCESSFUL: &str = "create_db:claim_successful";
pub const CLAIM_FAILED: &str = "create_db:claim_failed";

/// Builds the capture request for `event`, or `None` when analytics is off or
/// `POSTHOG_API_HOST` is not a valid URL.
pub fn capture(
    config: &impl ConfigSource,
    event: &str,
    project_id: &ProjectId,
    utm: &Utm,
    extra: &[(&str, Value)],
) -> Option<HttpRequest> {
    let key = config.secret("POSTHOG_API_KEY").filter(|key| !key.expose().trim().is_empty())?;
    config.var("POSTHOG_API_HOST").filter(|host| !host.trim().is_empty())?;
    let host = config::base_url(config, "POSTHOG_API_HOST", None).ok()?;

    let mut properties = Map::new();
    properties.insert("project-id".to_owned(), Value::from(project_id.as_str()));
    properties.insert("utm-source".to_owned(), Value::from(utm.source.as_deref().unwrap_or("unknown")));
    properties.insert("utm-medium".to_owned(), Value::from(utm.medium.as_deref().unwrap_or("unknown")));
    for (name, value) in extra {
        properties.insert((*name).to_owned(), value.clone());
    }
    Some(HttpRequest::new(Method::Post, format!("{host}/capture/")).json_body(&json!({
        "api_key": key.expose(),
        "event": event,
        "distinct_id": project_id.as_str(),
        "properties": Value::Object(properties),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::config::MapConfig;

    #[test]
    fn capture_needs_host_and_key() {
        let project_id = ProjectId::parse("proj_a").unwrap();
        let both = MapConfig::new(&[("POSTHOG_API_HOST", "https://ph.example.com"), ("POSTHOG_API_KEY", "phc_key")]);

        let request = capture(&both, CLAIM_FAILED, &project_id, &Utm::default(), &[("reason", Value::from("x"))]);

        let Some(request) = request else { panic!("no capture request") };
        assert_eq!(request.url, "https://ph.example.com/capture/");
        let body: Value = serde_json::from_slice(request.body.as_deref().unwrap_or_default()).unwrap();
        assert_eq!(body["event"], CLAIM_FAILED);
        assert_eq!(body["properties"]["project-id"], "proj_a");
        assert_eq!(body["properties"]["reason"], "x");
        assert!(capture(&both.clone().without("POSTHOG_API_KEY"), CLAIM_FAILED, &project_id, &Utm::default(), &[]).is_none());
        assert!(capture(&both.without("POSTHOG_API_HOST"), CLAIM_FAILED, &project_id, &Utm::default(), &[]).is_none());
    }
}
