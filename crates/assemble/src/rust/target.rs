//! Which Rust target to build for each image architecture, and how to
//! link: a binary must run on the base image without anything the base
//! lacks.
//!
//! A declared `target` wins. Otherwise a musl-based, empty (`scratch`) or
//! libc-less base gets a static binary: from the `*-linux-musl` target when
//! it is installed, else from the `*-linux-gnu` target with
//! `-C target-feature=+crt-static`. A glibc base gets a dynamically linked
//! `*-linux-gnu` binary. The decision carries its reason so the plan can
//! say why, and a target that is not installed is an error naming the
//! `rustup target add` command — never a silent skip.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::Base;

/// What the Rust toolchain and the image need to know about one APK
/// architecture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arch {
    /// The APK name (`x86_64`, `armv7`, …).
    pub apk: &'static str,
    /// The first component of the Rust target triple.
    pub rust: &'static str,
    /// ABI suffix of the musl target (`musl`, `musleabihf`).
    pub musl_abi: &'static str,
    /// ABI suffix of the glibc target (`gnu`, `gnueabihf`).
    pub gnu_abi: &'static str,
    /// musl's name for the architecture (`ld-musl-<name>.so.1`).
    pub musl_name: &'static str,
    /// The glibc dynamic loader, relative to the root.
    pub glibc_loader: &'static str,
    /// Debian's multiarch directory name (`lib/<name>`).
    pub multiarch: &'static str,
    /// The ELF `e_machine` of its binaries.
    pub elf_machine: u16,
}

/// Every architecture Alpine or Wolfi publishes that Rust can target.
pub const ARCHES: &[Arch] = &[
    Arch {
        apk: "x86_64",
        rust: "x86_64",
        musl_abi: "musl",
        gnu_abi: "gnu",
        musl_name: "x86_64",
        glibc_loader: "lib64/ld-linux-x86-64.so.2",
        multiarch: "x86_64-linux-gnu",
        elf_machine: object::elf::EM_X86_64.0,
    },
    Arch {
        apk: "aarch64",
        rust: "aarch64",
        musl_abi: "musl",
        gnu_abi: "gnu",
        musl_name: "aarch64",
        glibc_loader: "lib/ld-linux-aarch64.so.1",
        multiarch: "aarch64-linux-gnu",
        elf_machine: object::elf::EM_AARCH64.0,
    },
    Arch {
        apk: "armv7",
        rust: "armv7",
        musl_abi: "musleabihf",
        gnu_abi: "gnueabihf",
        musl_name: "armhf",
        glibc_loader: "lib/ld-linux-armhf.so.3",
        multiarch: "arm-linux-gnueabihf",
        elf_machine: object::elf::EM_ARM.0,
    },
    // Alpine's armhf is ARMv6 with hardware floating point.
    Arch {
        apk: "armhf",
        rust: "arm",
        musl_abi: "musleabihf",
        gnu_abi: "gnueabihf",
        musl_name: "armhf",
        glibc_loader: "lib/ld-linux-armhf.so.3",
        multiarch: "arm-linux-gnueabihf",
        elf_machine: object::elf::EM_ARM.0,
    },
    Arch {
        apk: "x86",
        rust: "i686",
        musl_abi: "musl",
        gnu_abi: "gnu",
        musl_name: "i386",
        glibc_loader: "lib/ld-linux.so.2",
        multiarch: "i386-linux-gnu",
        elf_machine: object::elf::EM_386.0,
    },
    Arch {
        apk: "ppc64le",
        rust: "powerpc64le",
        musl_abi: "musl",
        gnu_abi: "gnu",
        musl_name: "powerpc64le",
        glibc_loader: "lib64/ld64.so.2",
        multiarch: "powerpc64le-linux-gnu",
        elf_machine: object::elf::EM_PPC64.0,
    },
    Arch {
        apk: "s390x",
        rust: "s390x",
        musl_abi: "musl",
        gnu_abi: "gnu",
        musl_name: "s390x",
        glibc_loader: "lib/ld64.so.1",
        multiarch: "s390x-linux-gnu",
        elf_machine: object::elf::EM_S390.0,
    },
    Arch {
        apk: "riscv64",
        rust: "riscv64gc",
        musl_abi: "musl",
        gnu_abi: "gnu",
        musl_name: "riscv64",
        glibc_loader: "lib/ld-linux-riscv64-lp64d.so.1",
        multiarch: "riscv64-linux-gnu",
        elf_machine: object::elf::EM_RISCV.0,
    },
    Arch {
        apk: "loongarch64",
        rust: "loongarch64",
        musl_abi: "musl",
        gnu_abi: "gnu",
        musl_name: "loongarch64",
        glibc_loader: "lib64/ld-linux-loongarch-lp64d.so.1",
        multiarch: "loongarch64-linux-gnu",
        elf_machine: object::elf::EM_LOONGARCH.0,
    },
];

impl Arch {
    /// The architecture named `apk` (an APK architecture name).
    pub fn from_apk(apk: &str) -> Result<&'static Arch, TargetError> {
        ARCHES
            .iter()
            .find(|a| a.apk == apk)
            .ok_or_else(|| TargetError::UnknownArch {
                arch: apk.to_owned(),
            })
    }

    /// The musl target (`x86_64-unknown-linux-musl`).
    pub fn musl_target(&self) -> String {
        format!("{}-unknown-linux-{}", self.rust, self.musl_abi)
    }

    /// The glibc target (`x86_64-unknown-linux-gnu`).
    pub fn gnu_target(&self) -> String {
        format!("{}-unknown-linux-{}", self.rust, self.gnu_abi)
    }

    /// musl's dynamic loader, relative to the root.
    pub fn musl_loader(&self) -> String {
        format!("lib/ld-musl-{}.so.1", self.musl_name)
    }

    /// Whether a Rust target triple builds for this architecture (its
    /// first component, with i586/i686 both meaning x86). Only Linux
    /// targets qualify.
    fn accepts(&self, triple: &str) -> bool {
        let mut parts = triple.split('-');
        let cpu = parts.next().unwrap_or("");
        let cpu_ok = cpu == self.rust || (self.apk == "x86" && matches!(cpu, "i586" | "i686"));
        cpu_ok && parts.any(|p| p == "linux")
    }
}

/// The C library of a base image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BaseLibc {
    /// musl (Alpine, or a base with an `ld-musl-*` loader).
    Musl,
    /// glibc (Wolfi, Debian, or a base with glibc's loader).
    Glibc,
    /// Nothing at all: `scratch`.
    Scratch,
    /// Files but no C library (a static-only base).
    None,
}

impl BaseLibc {
    /// Looks at `base` for `arch`: an installed `musl` or `glibc` package
    /// decides first, then the dynamic loaders on disk. musl wins over
    /// glibc's loader, which compatibility packages (gcompat) also install.
    pub fn detect(arch: &Arch, base: &Base<'_>) -> BaseLibc {
        if base.scratch {
            return BaseLibc::Scratch;
        }
        let installed = |names: &[&str]| base.packages.iter().any(|p| names.contains(&&*p.name));
        let exists = |path: &str| base.files.resolve(path).is_some();
        if installed(&["musl"]) {
            BaseLibc::Musl
        } else if installed(&["glibc", "libc6"]) {
            BaseLibc::Glibc
        } else if exists(&arch.musl_loader()) {
            BaseLibc::Musl
        } else if exists(arch.glibc_loader) {
            BaseLibc::Glibc
        } else {
            BaseLibc::None
        }
    }

    fn describe(self) -> &'static str {
        match self {
            BaseLibc::Musl => "the base is musl-based",
            BaseLibc::Glibc => "the base is glibc-based",
            BaseLibc::Scratch => "the base is empty (scratch)",
            BaseLibc::None => "the base has no C library",
        }
    }
}

/// How the binaries are linked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Linkage {
    /// No dynamic loader, no shared libraries.
    Static,
    /// Against the base image's C library.
    Dynamic,
}

impl fmt::Display for Linkage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Linkage::Static => "statically linked",
            Linkage::Dynamic => "dynamically linked",
        })
    }
}

/// Why a target was chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The declaration names it.
    Declared,
    /// The base's C library decided (`musl_missing`: the musl target would
    /// have been preferred but is not installed).
    Base {
        /// The base's C library.
        libc: BaseLibc,
        /// True when the gnu target stands in for a missing musl target.
        musl_missing: bool,
    },
}

/// The target for one image architecture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetChoice {
    /// The APK architecture.
    pub arch: String,
    /// The Rust target triple.
    pub target: String,
    /// How to link.
    pub linkage: Linkage,
    /// Why.
    pub reason: Reason,
}

impl TargetChoice {
    /// The `rustc` flags the linkage needs (every crate of the build must
    /// see them: `crt-static` changes how `libc` and friends link).
    pub fn rustflags(&self) -> Vec<String> {
        match self.linkage {
            Linkage::Static => vec!["-C".into(), "target-feature=+crt-static".into()],
            Linkage::Dynamic => Vec::new(),
        }
    }
}

/// `x86_64: x86_64-unknown-linux-gnu, statically linked (the base is
/// musl-based and the musl target is not installed)`.
impl fmt::Display for TargetChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}, {} (", self.arch, self.target, self.linkage)?;
        match &self.reason {
            Reason::Declared => f.write_str("declared in `target`")?,
            Reason::Base { libc, musl_missing } => {
                f.write_str(libc.describe())?;
                if *musl_missing {
                    f.write_str(" and the musl target is not installed")?;
                }
            }
        }
        f.write_str(")")
    }
}

/// The Rust targets whose standard library is installed: the directories
/// of the toolchain's sysroot `lib/rustlib/<target>/lib` (where rustup
/// installs them, and where rustc looks — so this works without rustup).
#[derive(Clone, Debug)]
pub struct InstalledTargets {
    sysroot: PathBuf,
}

impl InstalledTargets {
    /// The targets of the toolchain cargo would use in `dir` (`$RUSTC`,
    /// else `rustc`; rustup's `rust-toolchain.toml` applies there).
    pub fn detect(dir: &Path) -> Result<InstalledTargets, TargetError> {
        let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
        let failed = |reason: String| TargetError::Sysroot { reason };
        let out = Command::new(&rustc)
            .args(["--print", "sysroot"])
            .current_dir(dir)
            .output()
            .map_err(|e| failed(format!("cannot run {}: {e}", rustc.to_string_lossy())))?;
        if !out.status.success() {
            return Err(failed(
                String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            ));
        }
        let sysroot = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        Ok(InstalledTargets::from_sysroot(sysroot))
    }

    /// The targets installed in `sysroot`.
    pub fn from_sysroot(sysroot: impl Into<PathBuf>) -> InstalledTargets {
        InstalledTargets {
            sysroot: sysroot.into(),
        }
    }

    /// Whether `target`'s standard library is installed.
    pub fn contains(&self, target: &str) -> bool {
        !target.contains(['/', '\\'])
            && self
                .sysroot
                .join("lib/rustlib")
                .join(target)
                .join("lib")
                .is_dir()
    }
}

/// Why no target could be chosen.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum TargetError {
    /// No Rust target for an APK architecture.
    #[error("no Rust target is known for the architecture `{arch}`")]
    #[diagnostic(help(
        "supported architectures: x86_64, aarch64, armv7, armhf, x86, ppc64le, s390x, riscv64, loongarch64"
    ))]
    UnknownArch {
        /// The APK architecture.
        arch: String,
    },
    /// The target is not installed.
    #[error("{arch}: the Rust target {target} is not installed")]
    #[diagnostic(help("run `rustup target add {target}`"))]
    NotInstalled {
        /// The APK architecture.
        arch: String,
        /// The target to install.
        target: String,
    },
    /// A declared target builds for another architecture.
    #[error("{arch}: the declared target `{target}` does not build Linux binaries for {arch}")]
    #[diagnostic(help("declare a {arch} Linux target such as {suggestion}, or drop `target`"))]
    WrongArch {
        /// The APK architecture.
        arch: String,
        /// The declared target.
        target: String,
        /// A target that fits.
        suggestion: String,
    },
    /// The toolchain could not be asked for its sysroot.
    #[error("cannot find the Rust toolchain: {reason}")]
    Sysroot {
        /// What went wrong.
        reason: String,
    },
}

/// Chooses the target for `arch` on a base whose C library is `libc`;
/// `declared` is the declaration's `target`, if any.
pub fn choose(
    arch: &Arch,
    libc: BaseLibc,
    declared: Option<&str>,
    installed: &InstalledTargets,
) -> Result<TargetChoice, TargetError> {
    let choice = |target: String, linkage, reason| TargetChoice {
        arch: arch.apk.to_owned(),
        target,
        linkage,
        reason,
    };
    let not_installed = |target: String| TargetError::NotInstalled {
        arch: arch.apk.to_owned(),
        target,
    };
    if let Some(target) = declared {
        if !arch.accepts(target) {
            return Err(TargetError::WrongArch {
                arch: arch.apk.to_owned(),
                target: target.to_owned(),
                suggestion: arch.musl_target(),
            });
        }
        if !installed.contains(target) {
            return Err(not_installed(target.to_owned()));
        }
        // musl targets link statically; a glibc target only runs
        // dynamically on a glibc base.
        let linkage = if libc == BaseLibc::Glibc && !target.contains("musl") {
            Linkage::Dynamic
        } else {
            Linkage::Static
        };
        return Ok(choice(target.to_owned(), linkage, Reason::Declared));
    }
    // (target, linkage, whether it stands in for the missing musl target)
    let (musl, gnu) = (arch.musl_target(), arch.gnu_target());
    let (target, linkage, musl_missing) = if libc == BaseLibc::Glibc {
        if !installed.contains(&gnu) {
            return Err(not_installed(gnu));
        }
        (gnu, Linkage::Dynamic, false)
    } else if installed.contains(&musl) {
        (musl, Linkage::Static, false)
    } else if installed.contains(&gnu) {
        (gnu, Linkage::Static, true)
    } else {
        return Err(not_installed(musl));
    };
    Ok(choice(target, linkage, Reason::Base { libc, musl_missing }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rust::fixture::rootfs;
    use crate::rust::{FileKind, ImageFiles};
    use apk::package::PackageInfo;
    use oci_image::rootfs::RootFs;

    /// A fake sysroot with the standard libraries of `targets`.
    fn sysroot(targets: &[&str]) -> (tempfile::TempDir, InstalledTargets) {
        let dir = tempfile::tempdir().unwrap();
        for t in targets {
            std::fs::create_dir_all(dir.path().join("lib/rustlib").join(t).join("lib")).unwrap();
        }
        let installed = InstalledTargets::from_sysroot(dir.path());
        (dir, installed)
    }

    fn pkg(name: &str) -> PackageInfo<'static> {
        PackageInfo {
            name: name.to_owned().into(),
            version: "1-r0".into(),
            ..Default::default()
        }
    }

    fn x86_64() -> &'static Arch {
        Arch::from_apk("x86_64").unwrap()
    }

    #[test]
    fn every_arch_maps_to_linux_targets() {
        let expect = [
            (
                "x86_64",
                "x86_64-unknown-linux-musl",
                "x86_64-unknown-linux-gnu",
            ),
            (
                "aarch64",
                "aarch64-unknown-linux-musl",
                "aarch64-unknown-linux-gnu",
            ),
            (
                "armv7",
                "armv7-unknown-linux-musleabihf",
                "armv7-unknown-linux-gnueabihf",
            ),
            (
                "armhf",
                "arm-unknown-linux-musleabihf",
                "arm-unknown-linux-gnueabihf",
            ),
            ("x86", "i686-unknown-linux-musl", "i686-unknown-linux-gnu"),
            (
                "ppc64le",
                "powerpc64le-unknown-linux-musl",
                "powerpc64le-unknown-linux-gnu",
            ),
            (
                "s390x",
                "s390x-unknown-linux-musl",
                "s390x-unknown-linux-gnu",
            ),
            (
                "riscv64",
                "riscv64gc-unknown-linux-musl",
                "riscv64gc-unknown-linux-gnu",
            ),
            (
                "loongarch64",
                "loongarch64-unknown-linux-musl",
                "loongarch64-unknown-linux-gnu",
            ),
        ];
        for (apk, musl, gnu) in expect {
            let a = Arch::from_apk(apk).unwrap();
            assert_eq!(
                (a.musl_target().as_str(), a.gnu_target().as_str()),
                (musl, gnu)
            );
            assert!(a.accepts(musl) && a.accepts(gnu), "{apk}");
        }
        assert_eq!(expect.len(), ARCHES.len());
        let err = Arch::from_apk("mips64").unwrap_err();
        assert!(err.to_string().contains("mips64"), "{err}");
    }

    fn detect(fs: &RootFs, packages: &[&str]) -> BaseLibc {
        let packages: Vec<PackageInfo<'_>> = packages.iter().map(|n| pkg(n)).collect();
        let base = Base {
            files: fs,
            packages: &packages,
            scratch: false,
        };
        BaseLibc::detect(x86_64(), &base)
    }

    #[test]
    fn the_base_libc_comes_from_packages_then_loaders() {
        let empty = rootfs(&[]);
        assert_eq!(detect(&empty, &["musl"]), BaseLibc::Musl);
        assert_eq!(detect(&empty, &["glibc"]), BaseLibc::Glibc);
        assert_eq!(detect(&empty, &[]), BaseLibc::None);
        // Loaders on disk, through symbolic links (merged /usr).
        let musl = rootfs(&[("lib/ld-musl-x86_64.so.1", "")]);
        assert_eq!(detect(&musl, &[]), BaseLibc::Musl);
        let glibc = rootfs(&[("lib64", "usr/lib"), ("usr/lib/ld-linux-x86-64.so.2", "")]);
        assert_eq!(glibc.kind("lib64"), Some(FileKind::Symlink));
        assert_eq!(detect(&glibc, &[]), BaseLibc::Glibc);
        // gcompat puts glibc's loader on a musl base: still musl.
        let both = rootfs(&[
            ("lib/ld-musl-x86_64.so.1", ""),
            ("lib64/ld-linux-x86-64.so.2", "/lib/ld-musl-x86_64.so.1"),
        ]);
        assert_eq!(detect(&both, &[]), BaseLibc::Musl);
        // Another architecture's loader does not count.
        let other = rootfs(&[("lib/ld-musl-aarch64.so.1", "")]);
        assert_eq!(detect(&other, &[]), BaseLibc::None);
        let scratch = Base {
            files: &empty,
            packages: &[],
            scratch: true,
        };
        assert_eq!(BaseLibc::detect(x86_64(), &scratch), BaseLibc::Scratch);
    }

    #[test]
    fn the_alpine_image_is_musl_based() {
        let source = oci_image::layout::open(
            &oci_image::ImageRef::parse(&format!(
                "oci:{}",
                testkit::corpus("images/alpine-3.17.10-x86_64").display()
            ))
            .unwrap(),
        )
        .unwrap();
        let (fs, _) = RootFs::scan(&source, &source.images()[0], &|_| false).unwrap();
        let base = Base {
            files: &fs,
            packages: &[],
            scratch: false,
        };
        assert_eq!(BaseLibc::detect(x86_64(), &base), BaseLibc::Musl);
    }

    #[test]
    fn musl_bases_prefer_the_musl_target() {
        let (_d, both) = sysroot(&["x86_64-unknown-linux-musl", "x86_64-unknown-linux-gnu"]);
        let c = choose(x86_64(), BaseLibc::Musl, None, &both).unwrap();
        assert_eq!(
            c.to_string(),
            "x86_64: x86_64-unknown-linux-musl, statically linked (the base is musl-based)"
        );
        assert_eq!(c.rustflags(), ["-C", "target-feature=+crt-static"]);
        let c = choose(x86_64(), BaseLibc::Scratch, None, &both).unwrap();
        assert_eq!(c.target, "x86_64-unknown-linux-musl");
        assert_eq!(c.linkage, Linkage::Static);
    }

    #[test]
    fn without_musl_the_gnu_target_links_statically() {
        let (_d, gnu) = sysroot(&["x86_64-unknown-linux-gnu"]);
        for libc in [BaseLibc::Musl, BaseLibc::Scratch, BaseLibc::None] {
            let c = choose(x86_64(), libc, None, &gnu).unwrap();
            assert_eq!(c.target, "x86_64-unknown-linux-gnu");
            assert_eq!(c.linkage, Linkage::Static);
        }
        assert_eq!(
            choose(x86_64(), BaseLibc::Musl, None, &gnu)
                .unwrap()
                .to_string(),
            "x86_64: x86_64-unknown-linux-gnu, statically linked \
             (the base is musl-based and the musl target is not installed)"
        );
    }

    #[test]
    fn glibc_bases_link_dynamically() {
        let (_d, both) = sysroot(&["x86_64-unknown-linux-musl", "x86_64-unknown-linux-gnu"]);
        let c = choose(x86_64(), BaseLibc::Glibc, None, &both).unwrap();
        assert_eq!(
            c.to_string(),
            "x86_64: x86_64-unknown-linux-gnu, dynamically linked (the base is glibc-based)"
        );
        assert!(c.rustflags().is_empty());
    }

    #[test]
    fn a_missing_target_names_the_rustup_command() {
        let (_d, none) = sysroot(&[]);
        let aarch64 = Arch::from_apk("aarch64").unwrap();
        for (libc, want) in [
            (BaseLibc::Musl, "aarch64-unknown-linux-musl"),
            (BaseLibc::Glibc, "aarch64-unknown-linux-gnu"),
        ] {
            let err = choose(aarch64, libc, None, &none).unwrap_err();
            let help = miette::Diagnostic::help(&err).unwrap().to_string();
            assert_eq!(help, format!("run `rustup target add {want}`"));
            assert!(err.to_string().starts_with("aarch64: "), "{err}");
        }
        let err = choose(
            aarch64,
            BaseLibc::Glibc,
            Some("aarch64-unknown-linux-musl"),
            &none,
        )
        .unwrap_err();
        assert!(matches!(err, TargetError::NotInstalled { .. }), "{err}");
    }

    #[test]
    fn a_declared_target_wins_when_it_fits() {
        let (_d, both) = sysroot(&["x86_64-unknown-linux-musl", "x86_64-unknown-linux-gnu"]);
        let c = choose(
            x86_64(),
            BaseLibc::Glibc,
            Some("x86_64-unknown-linux-musl"),
            &both,
        )
        .unwrap();
        assert_eq!(
            c.to_string(),
            "x86_64: x86_64-unknown-linux-musl, statically linked (declared in `target`)"
        );
        let c = choose(
            x86_64(),
            BaseLibc::Musl,
            Some("x86_64-unknown-linux-gnu"),
            &both,
        )
        .unwrap();
        assert_eq!(
            c.linkage,
            Linkage::Static,
            "a gnu binary on musl must be static"
        );
        let c = choose(
            x86_64(),
            BaseLibc::Glibc,
            Some("x86_64-unknown-linux-gnu"),
            &both,
        )
        .unwrap();
        assert_eq!(c.linkage, Linkage::Dynamic);
        for wrong in [
            "aarch64-unknown-linux-musl",
            "x86_64-pc-windows-msvc",
            "wasm32-wasip1",
        ] {
            let err = choose(x86_64(), BaseLibc::Musl, Some(wrong), &both).unwrap_err();
            assert!(
                matches!(err, TargetError::WrongArch { .. }),
                "{wrong}: {err}"
            );
        }
        let x86 = Arch::from_apk("x86").unwrap();
        assert!(x86.accepts("i586-unknown-linux-musl"));
        // A path is never taken for an installed target.
        assert!(!both.contains("../x86_64-unknown-linux-gnu"));
    }

    #[test]
    fn this_toolchain_has_its_host_target() {
        let installed = InstalledTargets::detect(Path::new(".")).unwrap();
        let host = Command::new("rustc").arg("-vV").output().unwrap();
        let host = String::from_utf8_lossy(&host.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
            .unwrap();
        assert!(installed.contains(&host), "{host} in {installed:?}");
        assert!(!installed.contains("no-such-target"));
    }
}
