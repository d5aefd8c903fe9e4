//! Request rate limits as a small trait over the Workers Rate Limiting binding, plus the
//! 429 response the `create-db` CLI understands:
//! `{"error":"RATE_LIMIT_EXCEEDED","message","rateLimitInfo":{"retryAfterMs","currentCount","maxRequests"}}`
//! with `Retry-After`. `MemoryRateLimiter` counts fixed windows for tests.

use crate::ids::RequestId;
use crate::web::WebResponse;
use serde_json::json;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// The limiter could not decide (binding missing or failing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitError(pub String);

/// A rate limiter keyed by a string, e.g. `POST:203.0.113.9:/create`.
#[allow(async_fn_in_trait)]
pub trait RateLimiter {
    /// Counts one request under `key` and returns whether it is within the limit.
    async fn allow(&self, key: &str) -> Result<bool, RateLimitError>;
}

/// One limit as configured in `wrangler.toml` (`[[ratelimits]]` `simple = {limit, period}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitPolicy {
    pub max_requests: u32,
    pub period_secs: u32,
}

/// A fixed-window limiter in memory: `max_requests` per key until `reset` is called.
/// The window is the test's, not the clock's, which keeps tests deterministic.
#[derive(Debug, Clone)]
pub struct MemoryRateLimiter {
    max_requests: u32,
    counts: Rc<RefCell<HashMap<String, u32>>>,
    failing: Rc<RefCell<bool>>,
}

impl MemoryRateLimiter {
    pub fn new(max_requests: u32) -> Self {
        MemoryRateLimiter { max_requests, counts: Rc::default(), failing: Rc::default() }
    }

    /// Makes every later call fail, as a broken binding would.
    pub fn fail(&self) {
        *self.failing.borrow_mut() = true;
    }

    pub fn reset(&self) {
        self.counts.borrow_mut().clear();
    }
}

impl RateLimiter for MemoryRateLimiter {
    async fn allow(&self, key: &str) -> Result<bool, RateLimitError> {
        if *self.failing.borrow() {
            return Err(RateLimitError("injected limiter failure".to_owned()));
        }
        let mut counts = self.counts.borrow_mut();
        let count = counts.entry(key.to_owned()).or_insert(0);
        *count += 1;
        Ok(*count <= self.max_requests)
    }
}

/// Builds the 429 response. The binding reports only "over the limit", so `currentCount` is the
/// smallest count that is over it: `maxRequests + 1`.
pub fn rate_limited_response(policy: LimitPolicy, request_id: &RequestId) -> WebResponse {
    let retry_after_ms = u64::from(policy.period_secs) * 1_000;
    let body = json!({
        "error": "RATE_LIMIT_EXCEEDED",
        "message": format!(
            "Too many requests: at most {} per {} seconds are allowed. Try again in {} seconds.",
            policy.max_requests, policy.period_secs, policy.period_secs
        ),
        "rateLimitInfo": {
            "retryAfterMs": retry_after_ms,
            "currentCount": policy.max_requests + 1,
            "maxRequests": policy.max_requests,
        },
        "requestId": request_id.as_str(),
    });
    WebResponse::json(429, &body).with_header("retry-after", &policy.period_secs.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;

    #[test]
    fn memory_limiter_counts_per_key() {
        let limiter = MemoryRateLimiter::new(2);

        assert_eq!(block_on(limiter.allow("a")), Ok(true));
        assert_eq!(block_on(limiter.allow("a")), Ok(true));
        assert_eq!(block_on(limiter.allow("a")), Ok(false));
        assert_eq!(block_on(limiter.allow("b")), Ok(true));
        limiter.reset();
        assert_eq!(block_on(limiter.allow("a")), Ok(true));
    }

    #[test]
    fn failing_limiter_reports_error() {
        let limiter = MemoryRateLimiter::new(2);
        limiter.fail();

        assert!(block_on(limiter.allow("a")).is_err());
    }

    #[test]
    fn rate_limited_response_has_cli_shape() {
        let response = rate_limited_response(LimitPolicy { max_requests: 5, period_secs: 60 }, &RequestId::generate());
        let body = response.body_json();

        assert_eq!(response.status, 429);
        assert_eq!(response.header("retry-after"), Some("60"));
        assert_eq!(body["error"], "RATE_LIMIT_EXCEEDED");
        assert_eq!(body["rateLimitInfo"]["retryAfterMs"], 60_000);
        assert_eq!(body["rateLimitInfo"]["maxRequests"], 5);
        assert_eq!(body["rateLimitInfo"]["currentCount"], 6);
        assert!(body["message"].as_str().is_some_and(|message| message.contains("at most 5 per 60 seconds")));
    }
}
