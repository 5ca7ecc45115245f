//! cargo-assemble: build customized container images from APK packages.
//!
//! The library holds every concern as its own module; the binary in
//! `main.rs` only parses arguments and renders results and errors. The
//! library never prints.

pub mod atomic;
pub mod build;
pub mod checksum;
pub mod config;
pub mod database;
pub mod dependency;
pub mod fetch;
pub mod index;
pub mod layer;
pub mod lock;
pub mod oci;
pub mod package;
pub mod plan;
pub mod repository;
pub mod sbom;
pub mod signature;
pub mod solve;
pub mod state;
pub mod stream;
pub mod tarball;
#[cfg(test)]
mod testutil;
pub mod version;
