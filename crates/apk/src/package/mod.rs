//! `.apk` packages: metadata, reading with verification, and writing.

mod info;
pub mod read;
pub mod write;

pub use info::{parse_pkginfo, write_pkginfo, FieldProblem, PackageInfo, PkgInfoError};
