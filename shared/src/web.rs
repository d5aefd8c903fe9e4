//! Incoming requests and outgoing responses as plain data, so request handling is
//! ordinary Rust that tests call directly. The worker crates convert `worker::Request`
//! into `WebRequest` and `WebResponse` back into `worker::Response` at the edge.

use crate::error::Error;
use crate::http::HttpRequest;
use crate::ids::RequestId;
use serde_json::{json, Value};

/// Largest request body either worker reads.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebRequest {
    /// Upper-case method, as sent.
    pub method: String,
    /// The URL path, still percent-encoded.
    pub path: String,
    /// The raw query string without the leading `?`.
    pub query: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl WebRequest {
    pub fn new(method: &str, path: &str) -> Self {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        WebRequest {
            method: method.to_owned(),
            path: path.to_owned(),
            query: query.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.to_owned()));
        self
    }

    pub fn with_json(self, body: &Value) -> Self {
        let mut request = self.with_header("content-type", "application/json");
        request.body = body.to_string().into_bytes();
        request
    }

    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Returns the first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// Checks that the body is declared as JSON and within `MAX_BODY_BYTES`, then parses
    /// it. Each error tells what to send instead.
    pub fn json_body(&self) -> Result<Value, Error> {
        if self.body.len() > MAX_BODY_BYTES {
            return Err(Error::PayloadTooLarge { limit_bytes: MAX_BODY_BYTES });
        }
        let media_type = self
            .header("content-type")
            .map(|value| value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase());
        if media_type.as_deref() != Some("application/json") {
            return Err(Error::UnsupportedMediaType);
        }
        serde_json::from_slice(&self.body).map_err(|error| {
            Error::InvalidRequest(format!(
                "The request body is not valid JSON ({error}); send a JSON object."
            ))
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl WebResponse {
    pub fn json(status: u16, body: &Value) -> Self {
        WebResponse {
            status,
            headers: vec![("content-type".to_owned(), "application/json; charset=utf-8".to_owned())],
            body: body.to_string().into_bytes(),
        }
    }

    pub fn empty(status: u16) -> Self {
        WebResponse { status, headers: Vec::new(), body: Vec::new() }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.retain(|(key, _)| !key.eq_ignore_ascii_case(name));
        self.headers.push((name.to_ascii_lowercase(), value.to_owned()));
        self
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// Parses the body as JSON, for tests.
    pub fn body_json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// Builds the JSON error that every JSON route returns. The `error` object is the shape the
    /// `create-db` CLI reads (`error.message`, `error.status`); the top-level `message`
    /// serves clients that expect `{error, message}`.
    pub fn json_error(error: &Error, request_id: &RequestId) -> Self {
        let mut details = json!({
            "code": error.code(),
            "message": error.to_string(),
            "status": error.status(),
            "requestId": request_id.as_str(),
        });
        if let Some(upstream_status) = error.upstream_status() {
            details["upstreamStatus"] = json!(upstream_status);
        }
        let body = json!({
            "error": details,
            "message": error.to_string(),
            "requestId": request_id.as_str(),
        });
        let mut response = WebResponse::json(error.status(), &body);
        if let Some(seconds) = error.retry_after_secs() {
            response = response.with_header("retry-after", &seconds.to_string());
        }
        if let Error::MethodNotAllowed { allowed } = error {
            response = response.with_header("allow", allowed);
        }
        response
    }
}

/// The result of handling one request in either worker.
#[derive(Debug)]
pub struct Outcome {
    pub response: WebResponse,
    /// Requests to send after the response, without delaying it (`waitUntil`).
    pub background: Vec<HttpRequest>,
    /// JSON log lines, one per event, in order.
    pub logs: Vec<String>,
}

impl Outcome {
    pub fn new(response: WebResponse) -> Self {
        Outcome { response, background: Vec::new(), logs: Vec::new() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_splits_path_and_query() {
        let request = WebRequest::new("GET", "/claim?projectID=proj_a&x=1");

        assert_eq!(request.path, "/claim");
        assert_eq!(request.query, "projectID=proj_a&x=1");
    }

    #[test]
    fn json_body_checks_type_size_and_syntax() {
        let plain = WebRequest::new("POST", "/create").with_header("content-type", "text/plain").with_body("{}");
        let missing_type = WebRequest::new("POST", "/create").with_body("{}");
        let too_large = WebRequest::new("POST", "/create")
            .with_header("content-type", "application/json")
            .with_body(vec![b' '; MAX_BODY_BYTES + 1]);
        let malformed = WebRequest::new("POST", "/create").with_header("content-type", "application/json").with_body("{");
        let with_charset = WebRequest::new("POST", "/create")
            .with_header("content-type", "Application/JSON; charset=utf-8")
            .with_body("{}");

        assert_eq!(plain.json_body(), Err(Error::UnsupportedMediaType));
        assert_eq!(missing_type.json_body(), Err(Error::UnsupportedMediaType));
        assert_eq!(too_large.json_body(), Err(Error::PayloadTooLarge { limit_bytes: MAX_BODY_BYTES }));
        assert!(matches!(malformed.json_body(), Err(Error::InvalidRequest(message)) if message.contains("not valid JSON")));
        assert_eq!(with_charset.json_body(), Ok(json!({})));
    }

    #[test]
    fn json_error_has_cli_and_plain_shapes() {
        let request_id = RequestId::generate();
        let error = Error::Upstream { status: 429, retry_after_secs: Some(9) };

        let response = WebResponse::json_error(&error, &request_id);
        let body = response.body_json();

        assert_eq!(response.status, 503);
        assert_eq!(response.header("retry-after"), Some("9"));
        assert_eq!(body["error"]["code"], "upstream_rate_limited");
        assert_eq!(body["error"]["status"], 503);
        assert_eq!(body["error"]["upstreamStatus"], 429);
        assert_eq!(body["error"]["requestId"], request_id.as_str());
        assert_eq!(body["message"], body["error"]["message"]);
    }
}
