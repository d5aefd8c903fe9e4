//! Rules both workers share, written as plain Rust that runs the same natively and in the
//! Workers runtime: Management API types, input validation, the TTL policy, the project
//! record and its `expiry:` index in KV, configuration, and the two traits through which
//! logic reaches the outside (a key-value store and an HTTP client). Nothing in this crate
//! may depend on `worker`; the worker crates adapt these traits to `worker::kv` and
//! `worker::Fetch`, and tests use the in-memory implementations.

pub mod api;
pub mod config;
pub mod error;
pub mod http;
pub mod ids;
pub mod log;
pub mod record;
pub mod secret;
pub mod store;
pub mod time;
pub mod ttl;

pub use error::Error;
pub use ids::{ProjectId, RequestId};
