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

/// `dir/name` for image paths relative to the root (`""` is the root).
pub(crate) fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else {
        format!("{dir}/{name}")
    }
}

#[cfg(test)]
mod tests {
    //! The steps in the order the build runs them, on the real Alpine
    //! image: what phase 2 wires into the build operation.

    use super::build::{BuildRequest, Features};
    use super::layer::Item;
    use super::project::{Selection, Workspace};
    use super::target::{Arch, BaseLibc, InstalledTargets, Linkage};
    use super::*;
    use apk::database::InstalledDb;

    fn require_root() {
        let root = std::fs::metadata("/proc/self")
            .is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0);
        assert!(root, "this test runs the binary in a chroot: it needs root");
    }

    #[test]
    fn a_crate_becomes_a_layer_that_runs_on_the_alpine_image() {
        require_root();
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().join("hello");
        fixture::write(
            &project,
            &[
                (
                    "Cargo.toml",
                    "[package]\nname = \"hello\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\
                     license = \"MIT\"\n\n[package.metadata.image]\nsource = \"oci:alpine\"\n",
                ),
                (
                    "src/main.rs",
                    "fn main() { println!(\"Hello, world!\"); }\n",
                ),
            ],
        );
        let ws = Workspace::load(&project.join("src")).unwrap();
        let package = ws.select(&Selection::Default).unwrap()[0];
        let bins = package.binaries(&[]).unwrap();

        // The base: files and installed packages of the Alpine 3.17.10 image.
        let image = testkit::corpus("images/alpine-3.17.10-x86_64");
        let source = oci_image::layout::open(
            &oci_image::ImageRef::parse(&format!("oci:{}", image.display())).unwrap(),
        )
        .unwrap();
        let (fs, files) = RootFs::scan(&source, &source.images()[0], &|p| {
            p == "lib/apk/db/installed"
        })
        .unwrap();
        let db = InstalledDb::from_bytes(&files["lib/apk/db/installed"], "installed").unwrap();
        let packages: Vec<PackageInfo<'_>> = db.records.iter().map(|r| r.info()).collect();
        let base = Base {
            files: &fs,
            packages: &packages,
            scratch: false,
        };

        let arch = Arch::from_apk("x86_64").unwrap();
        let libc = BaseLibc::detect(arch, &base);
        assert_eq!(libc, BaseLibc::Musl);
        let installed = InstalledTargets::detect(&ws.root).unwrap();
        let choice = target::choose(arch, libc, None, &installed).unwrap();
        assert_eq!(choice.linkage, Linkage::Static, "{choice}");

        let features = Features::default();
        let req = BuildRequest {
            workspace: &ws,
            package,
            bins: &bins,
            target: &choice,
            features: &features,
            offline: true,
            source_date_epoch: Some(1_700_000_000),
        };
        let built = build::build(&req, &mut |_| {}).unwrap();
        let mut binaries = Vec::new();
        for b in &built.binaries {
            let needs = elf::read(&b.path).unwrap();
            elf::check(&format!("bin/{}", b.name), &needs, arch, choice.linkage).unwrap();
            binaries.push(elf::Binary {
                label: format!("bin/{}", b.name),
                path: format!("usr/bin/{}", b.name),
                needs,
            });
        }
        assert!(elf::requirements(arch, &binaries, &base)
            .unwrap()
            .is_empty());

        let items: Vec<Item> = built
            .binaries
            .iter()
            .map(|b| Item::binary(&b.name, &b.path, "/usr/bin"))
            .collect();
        let contents = layer::collect(&items, &fs).unwrap();
        let app = layer::write(&contents, 1_700_000_000, Default::default(), dir.path()).unwrap();

        // The base's files and the layer, unpacked; the binary runs there.
        let rootfs = dir.path().join("rootfs");
        let minirootfs = testkit::corpus("rootfs/alpine-minirootfs-3.17.10-x86_64.tar.gz");
        for layer in [minirootfs.as_path(), app.file.path()] {
            let gz = flate2::read::GzDecoder::new(std::fs::File::open(layer).unwrap());
            tar::Archive::new(gz).unpack(&rootfs).unwrap();
        }
        let ran = std::process::Command::new("chroot")
            .arg(&rootfs)
            .arg("/usr/bin/hello")
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&ran.stdout),
            "Hello, world!\n",
            "{ran:?}"
        );

        let sbom = sbom::collect(&ws, package, &choice.target, &features, true).unwrap();
        assert_eq!(sbom.application.purl, "pkg:cargo/hello@0.1.0");
        assert!(sbom.dependencies.is_empty());
    }
}
