//! claim-db-worker: the Worker behind claim links. So far it serves its homepage and a
//! health check; the OAuth claim flow is not built yet, and `/claim` says so plainly
//! instead of pretending. Logic is plain Rust in `pages`; `shell` is the Workers edge.

pub mod pages;

#[cfg(target_arch = "wasm32")]
mod shell;
