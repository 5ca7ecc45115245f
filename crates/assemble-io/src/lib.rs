//! Files and streams we can trust, shared by every crate of the workspace:
//! atomic file replacement with normal modes ([`atomic`]), hashing writers
//! ([`hash`]), gzip on every core with reproducible bytes ([`gzip`]),
//! deterministic tar headers ([`tarball`]), size limits
//! ([`limit`]) and the user-adjustable bounds on downloads and inflation
//! ([`bounds`]), terminal-safe text ([`escape`]), URLs and secrets that
//! never show credentials ([`url`], [`secret`]).
//!
//! This crate sits at the bottom of the workspace: it knows nothing of APK
//! or OCI, only of bytes, paths and the ways writing them can go wrong.
#![deny(missing_docs)]

pub mod atomic;
pub mod bounds;
pub mod escape;
pub mod gzip;
pub mod hash;
pub mod limit;
pub mod secret;
pub mod tarball;
pub mod url;
