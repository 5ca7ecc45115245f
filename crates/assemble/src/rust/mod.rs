//! Rust applications in images, the way `ko` does it for Go: find the
//! crate ([`project`]), choose the Rust target the base image can run
//! ([`target`]), build it with cargo ([`build`]), read what the binaries
//! need at run time ([`elf`]), put them in a layer of their own
//! ([`layer`]) and describe the crate and its dependencies in the SBOM
//! ([`sbom`]).
//!
//! Each step is a library function with typed input and output, so the
//! build and plan operations only call them in order: nothing here prints,
//! reads the declaration or knows about the image model.
#![deny(missing_docs)]

pub mod build;
pub mod elf;
#[cfg(test)]
mod fixture;
pub mod layer;
pub mod project;
pub mod sbom;
pub mod target;

use std::ffi::OsString;
use std::process::Command;

use apk::package::PackageInfo;
use oci_image::rootfs::{NodeKind, RootFs};

/// What is at a path of an image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// A regular file or a hard link to one.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
    /// A device node, FIFO or socket.
    Other,
}

/// The files of an image, as the Rust steps need them. Paths are relative
/// to the root, without a leading `/`; the root itself is `""`.
pub trait ImageFiles {
    /// What is at exactly `path` (a last-component link is not followed).
    fn kind(&self, path: &str) -> Option<FileKind>;
    /// `path` with every symbolic link followed inside the root, when it
    /// exists.
    fn resolve(&self, path: &str) -> Option<String>;
}

impl ImageFiles for RootFs {
    fn kind(&self, path: &str) -> Option<FileKind> {
        self.get(path).map(|n| match n.kind {
            NodeKind::File | NodeKind::Hardlink(_) => FileKind::File,
            NodeKind::Dir => FileKind::Dir,
            NodeKind::Symlink(_) => FileKind::Symlink,
            NodeKind::Other => FileKind::Other,
        })
    }

    fn resolve(&self, path: &str) -> Option<String> {
        RootFs::resolve(self, path)
    }
}

/// The base image as the Rust steps see it.
#[derive(Clone, Copy)]
pub struct Base<'a> {
    /// Its merged filesystem.
    pub files: &'a dyn ImageFiles,
    /// Its installed APK packages (empty when it has no apk database).
    pub packages: &'a [PackageInfo<'a>],
    /// True for `scratch` (no layers at all).
    pub scratch: bool,
}

/// The cargo to run: `$CARGO` (set by cargo when it runs us as
/// `cargo assemble`, and by `cargo test`), else `cargo` from `PATH`.
pub(crate) fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo")))
}
