//! claim-db-worker: the Worker behind claim links. It shows a temporary database's claim
//! page, sends the user through Prisma's OAuth authorization code flow with PKCE, and
//! calls the Management API to transfer the project into the workspace the user picked.
//! The logic is plain Rust over the `shared` traits in `app` and its route modules;
//! `shell` is the only code that touches the Workers API.

pub mod analytics;
pub mod app;
pub mod callback;
pub mod claim;
pub mod config;
pub mod error;
pub mod management;
pub mod oauth;
pub mod pages;
pub mod params;
pub mod pending;

#[cfg(target_arch = "wasm32")]
mod shell;

pub use app::{handle, Context, Outcome};
pub use error::Error;
