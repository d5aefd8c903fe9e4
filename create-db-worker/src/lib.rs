//! create-db-worker: the provisioning Worker. It creates a Prisma Postgres project for
//! the `create-db` CLI, responds with the upstream body plus `claimUrl` and `expiresAt`,
//! and schedules the project's deletion in KV before responding, so no database exists
//! that nothing will delete. The logic lives in `app` and its route modules as plain
//! Rust over the `shared` traits; `shell` is the only code that touches the Workers API.

pub mod analytics;
pub mod app;
pub mod backstop;
pub mod create;
pub mod regions;
pub mod scheduled;
#[cfg(not(target_arch = "wasm32"))]
pub mod sim;
pub mod status;
pub mod sweep;

#[cfg(target_arch = "wasm32")]
mod shell;

pub use app::{handle, Context, Outcome};
