//! APK v2, the package format of Alpine and Wolfi: versions and dependency
//! atoms, checksums and signatures, signed indexes, packages, and the
//! installed database an image carries.
//!
//! Everything here reads hostile input: packages and indexes are verified
//! while they stream (see [`stream::Tap`]), never trusted because of where
//! they came from.

#![deny(missing_docs)]

pub mod checksum;
pub mod database;
pub mod dependency;
pub mod index;
pub mod package;
pub mod signature;
pub mod stream;
pub mod version;
