//! `POST /analytics`: accepts the CLI's product events and forwards them to PostHog in the
//! background when `POSTHOG_API_HOST` and `POSTHOG_API_KEY` are set; answers 204 when
//! they are not. Forwarding never delays the answer and its failures are only logged.

use crate::app::{Context, Outcome};
use serde_json::{json, Value};
use shared::config::{self, ConfigSource};
use shared::http::{HttpRequest, Method};
use shared::web::{WebRequest, WebResponse};
use shared::Error;

pub const MAX_EVENT_NAME_CHARS: usize = 200;

pub fn handle<S, H, C, L>(context: &Context<'_, S, H, C, L>, request: &WebRequest) -> Result<Outcome, Error>
where
    C: ConfigSource,
{
    let body = request.json_body()?;
    let Value::Object(fields) = &body else {
        return Err(Error::InvalidRequest(
            r#"The request body must be a JSON object, e.g. {"eventName":"create_db:cli_command_ran","properties":{}}."#.to_owned(),
        ));
    };
    let event_name = match fields.get("eventName") {
        Some(Value::String(name)) if !name.trim().is_empty() && name.chars().count() <= MAX_EVENT_NAME_CHARS => name,
        Some(Value::String(_)) => {
            return Err(Error::InvalidRequest(format!(
                "`eventName` must be a non-empty string of at most {MAX_EVENT_NAME_CHARS} characters."
            )))
        }
        Some(_) => return Err(Error::InvalidRequest("`eventName` must be a string.".to_owned())),
        None => return Err(Error::InvalidRequest("`eventName` is missing: send the event's name.".to_owned())),
    };
    let properties = match fields.get("properties") {
        None | Some(Value::Null) => json!({}),
        Some(Value::Object(properties)) => Value::Object(properties.clone()),
        Some(_) => return Err(Error::InvalidRequest("`properties` must be a JSON object when present.".to_owned())),
    };

    let host = context.config.var("POSTHOG_API_HOST").filter(|host| !host.trim().is_empty());
    let key = context.config.secret("POSTHOG_API_KEY").filter(|key| !key.expose().trim().is_empty());
    let (Some(_), Some(key)) = (host, key) else {
        return Ok(Outcome::new(WebResponse::empty(204)));
    };
    let host = config::base_url(context.config, "POSTHOG_API_HOST", None)?;

    let distinct_id = properties.get("distinct_id").cloned().unwrap_or_else(|| Value::from("anonymous"));
    let capture = HttpRequest::new(Method::Post, format!("{host}/capture/")).json_body(&json!({
        "api_key": key.expose(),
        "event": event_name,
        "distinct_id": distinct_id,
        "properties": properties,
    }));
    let mut outcome = Outcome::new(WebResponse::json(202, &json!({ "status": "queued" })));
    outcome.background.push(capture);
    Ok(outcome)
}
