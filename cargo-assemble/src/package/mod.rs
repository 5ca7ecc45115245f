//! `.apk` packages: metadata, reading with verification, and writing.

mod info;

pub use info::{parse_pkginfo, write_pkginfo, FieldProblem, PackageInfo, PkgInfoError};
