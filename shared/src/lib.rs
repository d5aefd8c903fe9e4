//! Rules both workers share, written as plain Rust that runs the same natively and in the
//! Workers runtime: Management API types, input validation, the TTL policy, the project
//! record and its `expiry:` index in KV, configuration, and the two traits through which
//! logic reaches the outside (a key-value store and an HTTP client). Only `workers`,
//! compiled for wasm32 alone, touches the Workers API: it adapts the traits to
//! `worker::kv` and `worker::Fetch`. Tests use the in-memory implementations.

pub mod api;
pub mod config;
pub mod error;
pub mod http;
pub mod ids;
pub mod log;
pub mod ratelimit;
pub mod record;
pub mod secret;
pub mod store;
pub mod time;
pub mod ttl;
pub mod web;

pub use error::Error;
pub use ids::{ProjectId, RequestId};

#[cfg(target_arch = "wasm32")]
pub mod workers;
