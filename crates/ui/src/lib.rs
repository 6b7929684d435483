//! `harrier ui`: the web UI and HTTP API over the alert store.
//!
//! - Ingest where falcosidekick-ui takes it (`POST /`, `/api/v1/`, `/api/v1/events/add`, body
//!   `{"event": <Falco alert>, "outputs": [...]}` or a bare Falco alert), with a bearer token or
//!   from allowed addresses (loopback by default).
//! - falcosidekick-ui's read API (`/api/v1/healthz`, `/version`, `/events/count`,
//!   `/events/count/{groupby}`, `/events/search`) and Harrier's (`/api/v1/events` with filters,
//!   documented in `openapi.yaml`).
//! - Pages (dashboard, events, event, groups, live tail) behind a login with argon2 hashes,
//!   HttpOnly SameSite cookies, CSRF tokens and a login rate limit.

pub mod assets;
pub mod auth;
pub mod cli;
#[doc(hidden)]
pub mod fuzzing;
pub mod params;
pub mod server;

pub use auth::{ensure_admin, Cidr};
pub use server::{router, serve, AppState, UiConfig};
