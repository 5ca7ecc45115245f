//! The cargo-assemble engine: the declaration (`assembly.toml`), the lock,
//! the applied state, plans, the layer an image build adds, SBOMs, and the
//! build that ties them to the `apk`, `apk-solve`, `apk-repo` and
//! `oci-image` crates.
//!
//! The library never prints: callers render its reports and errors.

pub mod accounts;
pub mod build;
pub mod certs;
pub mod config;
pub mod cyclonedx;
pub mod github;
pub mod import;
pub mod layer;
pub mod lock;
pub mod overlay;
pub mod plan;
pub mod reserved;
pub mod runtime;
pub mod sbom;
pub mod state;
