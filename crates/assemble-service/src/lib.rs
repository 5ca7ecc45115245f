//! The build service behind `cargo assemble serve`.
//!
//! A customer declares "this source image plus these packages"; a token with
//! `repo.update` submits it; the service checks it against the
//! organization's entitlements, stores it, queues a build, runs it on one of
//! its workers and keeps a report with the log. Modules by concern:
//! [`api`] (the wire types, shared with [`client`]), [`auth`] (tokens, roles,
//! capabilities), [`orgs`] (server configuration and entitlements),
//! [`store`] (the database), [`queue`] (workers, leases, timeouts),
//! [`engine`] (the seam to the image engine, and the real one), [`watch`]
//! (rebuilds when a package or the source image updates), [`notify`]
//! (signed CloudEvents webhooks), [`server`] (HTTP) and [`remote`]
//! (`plan`/`apply --server` over the client).
#![deny(missing_docs)]

pub mod api;
pub mod auth;
pub mod client;
pub mod engine;
#[cfg(feature = "server")]
pub mod notify;
pub mod orgs;
#[cfg(feature = "server")]
pub mod queue;
pub mod remote;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "server")]
pub mod store;
#[cfg(feature = "server")]
pub mod watch;
