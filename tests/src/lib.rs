//! The local Prisma platform: an in-memory server on one loopback port that behaves like the
//! Prisma Management API (`/v1/...`) and Prisma Auth (`/authorize`, `/token`), plus control
//! routes under `/_emulator` to inspect state, seed projects and inject faults. The workers
//! under `wrangler dev`, the end-to-end tests and `cargo xtask dev` use it so that nothing
//! local ever reaches Prisma. It must only listen on loopback addresses.
//!
//! ```no_run
//! # async fn example() -> std::io::Result<()> {
//! let platform = local_platform::spawn(local_platform::PlatformConfig::default()).await?;
//! println!("Management API at {}/v1", platform.url());
//! # Ok(())
//! # }
//! ```

mod auth;
mod config;
mod emulator;
mod error;
mod management;
mod pages;
mod random;
mod resources;
mod server;
mod store;

pub use config::{default_regions, PlatformConfig, Region, User, Workspace};
pub use server::{serve, spawn, PlatformHandle};
