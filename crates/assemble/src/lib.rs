//! The cargo-assemble engine. A declaration ([`config`] → [`model`]) goes
//! through the operations in [`ops`] — build, plan, apply, validate,
//! outdated, search, resolve, init and the repository writers — which read
//! and write the [`lock`] and the applied [`state`] and compare them into a
//! [`plan`]. The layer writer and the SBOM are internals of the build.
//!
//! The data path of a build: declaration → source image → resolve (per
//! architecture, `apk-solve`) → fetch (`apk-repo`) → layer → image
//! (`oci-image`) → output, lock and state. The library never prints:
//! callers render its reports, warnings and errors.
#![deny(missing_docs)]

pub mod accounts;
pub mod certs;
pub mod config;
pub mod cyclonedx;
pub mod github;
pub mod image_limits;
pub mod import;
pub(crate) mod layer;
pub mod lock;
pub mod model;
pub mod ops;
pub mod overlay;
pub mod plan;
pub mod purl;
pub mod reserved;
pub mod runtime;
pub mod rust;
pub(crate) mod sbom;
pub mod state;
