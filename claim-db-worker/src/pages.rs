//! Routing and pages of the claim worker. Every page is static HTML with no script and a
//! strict Content-Security-Policy; nothing a client sends is echoed into a page.

use serde_json::json;
use shared::time::{format_iso8601, Millis};
use shared::web::{WebRequest, WebResponse};

/// No script, no inline style, no framing, no external fonts.
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;line-height:1.5;color:#1a202c}code{background:#edf2f7;padding:.1rem .3rem;border-radius:4px}";

pub fn handle(request: &WebRequest, now_ms: Millis) -> WebResponse {
    match (request.path.as_str(), request.method.as_str()) {
        ("/health", "GET" | "HEAD") => WebResponse::json(
            200,
            &json!({ "status": "ok", "service": "claim-db", "version": env!("CARGO_PKG_VERSION"), "timestamp": format_iso8601(now_ms) }),
        ),
        ("/style.css", "GET" | "HEAD") => {
            WebResponse { status: 200, headers: Vec::new(), body: STYLE.as_bytes().to_vec() }
                .with_header("content-type", "text/css; charset=utf-8")
        }
        ("/", "GET" | "HEAD") => page(200, "Temporary Prisma Postgres databases", HOME_BODY),
        ("/claim", "GET" | "HEAD") => page(501, "Claiming is not available yet", CLAIM_BODY),
        (_, "GET" | "HEAD") => page(404, "Page not found", NOT_FOUND_BODY),
        _ => page(405, "Method not allowed", METHOD_BODY).with_header("allow", "GET"),
    }
}

const HOME_BODY: &str = "<p>This service lets you claim a temporary Prisma Postgres database into your own Prisma workspace.</p>\
<p>Create a database with <code>npx create-db</code>; it prints a claim link that leads here.</p>";
const CLAIM_BODY: &str = "<p>This deployment cannot claim databases yet. Your database stays available until the deletion time the CLI printed.</p>";
const NOT_FOUND_BODY: &str = "<p>There is no page at this address. Start from the claim link that <code>npx create-db</code> printed.</p>";
const METHOD_BODY: &str = "<p>This page only answers GET requests.</p>";

fn page(status: u16, title: &str, body: &str) -> WebResponse {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{title}</title><link rel=\"stylesheet\" href=\"/style.css\"></head><body><h1>{title}</h1>{body}</body></html>"
    );
    WebResponse { status, headers: Vec::new(), body: html.into_bytes() }
        .with_header("content-type", "text/html; charset=utf-8")
        .with_header("content-security-policy", CONTENT_SECURITY_POLICY)
        .with_header("x-content-type-options", "nosniff")
        .with_header("referrer-policy", "no-referrer")
        .with_header("cache-control", "no-store")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn homepage_has_strict_headers() {
        let response = handle(&WebRequest::new("GET", "/"), 0);

        assert_eq!(response.status, 200);
        let policy = response.header("content-security-policy").unwrap_or_default();
        assert!(policy.contains("default-src 'none'"), "{policy}");
        assert!(!policy.contains("unsafe-inline"), "{policy}");
        assert_eq!(response.header("referrer-policy"), Some("no-referrer"));
        assert!(!String::from_utf8_lossy(&response.body).contains("<script"));
    }

    #[test]
    fn claim_page_is_honest_about_missing_flow() {
        let response = handle(&WebRequest::new("GET", "/claim?projectID=<b>x</b>"), 0);

        assert_eq!(response.status, 501);
        assert!(!String::from_utf8_lossy(&response.body).contains("<b>x</b>"));
    }

    #[test]
    fn unknown_path_and_method() {
        assert_eq!(handle(&WebRequest::new("GET", "/nope"), 0).status, 404);
        assert_eq!(handle(&WebRequest::new("POST", "/"), 0).status, 405);
    }
}
