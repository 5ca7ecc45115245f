//! cargo-assemble: build customized container images from APK packages.
//!
//! The library holds every concern as its own module; the binary in
//! `main.rs` only parses arguments and renders results and errors.

pub mod version;
