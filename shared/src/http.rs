//! Outgoing HTTP as a small trait: send a request, get the status, headers and body back,
//! or a transport error (timeout or network). `worker::Fetch` implements it in the worker
//! crates; `ScriptedHttp` implements it here for tests, responding from a closure and
//! recording every request it was sent.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Delete => "DELETE",
        }
    }
}

/// An outgoing request. Header values may hold tokens, so `Debug` leaves them out.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &format_args!("[{} headers]", self.headers.len()))
            .finish_non_exhaustive()
    }
}

impl HttpRequest {
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        HttpRequest { method, url: url.into(), headers: Vec::new(), body: None }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    pub fn json_body(mut self, body: &serde_json::Value) -> Self {
        self.headers.push(("content-type".to_owned(), "application/json".to_owned()));
        self.body = Some(body.to_string().into_bytes());
        self
    }

    /// Returns the value of header `name` (case-insensitive).
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        HttpResponse { status, headers: Vec::new(), body: body.into() }
    }

    pub fn json(status: u16, body: &serde_json::Value) -> Self {
        HttpResponse {
            status,
            headers: vec![("content-type".to_owned(), "application/json".to_owned())],
            body: body.to_string().into_bytes(),
        }
    }

    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// A request that got no HTTP response at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// No response within the deadline.
    Timeout,
    /// The connection failed or broke; the text is for logs only.
    Network(String),
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Timeout => f.write_str("timed out"),
            HttpError::Network(reason) => write!(f, "network error: {reason}"),
        }
    }
}

/// The HTTP client logic sends upstream requests through. Futures are not `Send`.
#[allow(async_fn_in_trait)]
pub trait HttpClient {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpError>;
}

type Responder = dyn Fn(&HttpRequest) -> Result<HttpResponse, HttpError>;

/// An `HttpClient` for tests that responds to each request from a closure and records it.
#[derive(Clone)]
pub struct ScriptedHttp {
    responder: Rc<Responder>,
    sent: Rc<RefCell<Vec<HttpRequest>>>,
}

impl ScriptedHttp {
    pub fn new(responder: impl Fn(&HttpRequest) -> Result<HttpResponse, HttpError> + 'static) -> Self {
        ScriptedHttp { responder: Rc::new(responder), sent: Rc::default() }
    }

    /// Returns every request sent so far, oldest first.
    pub fn sent(&self) -> Vec<HttpRequest> {
        self.sent.borrow().clone()
    }
}

impl HttpClient for ScriptedHttp {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let response = (self.responder)(&request);
        self.sent.borrow_mut().push(request);
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_debug_hides_header_values() {
        let request = HttpRequest::new(Method::Get, "http://127.0.0.1/v1").header("authorization", "Bearer secret-token");

        let printed = format!("{request:?}");

        assert!(!printed.contains("secret-token"), "{printed}");
        assert!(printed.contains("http://127.0.0.1/v1"), "{printed}");
    }

    #[test]
    fn header_lookup_ignores_case() {
        let response = HttpResponse::new(200, "").clone();
        let request = HttpRequest::new(Method::Get, "u").header("Retry-After", "5");

        assert_eq!(request.header_value("retry-after"), Some("5"));
        assert_eq!(response.header_value("retry-after"), None);
    }
}
