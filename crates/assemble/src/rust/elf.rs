//! What a binary needs at run time, read from the binary itself: its
//! dynamic loader (`PT_INTERP`), its shared libraries (`DT_NEEDED`) and
//! their search path (`DT_RUNPATH`/`DT_RPATH`).
//!
//! Each needed library becomes an `so:NAME` atom — the provider name APK
//! packages declare for the libraries they ship — unless the base image
//! already has it (an installed package provides it, or the file is on the
//! loader's search path). A missing loader maps to the package providing
//! it the same way. What is left is resolved with the image policy like
//! any other package, so nobody finds a missing library by running the
//! container.
//!
//! Files are read through a cache of the ranges the parser asks for, with
//! every size checked first: a hostile ELF file costs at most a few
//! bounded reads, never its claimed sizes in memory.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs::File;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};

use object::elf;
use object::read::elf::{Dyn, FileHeader, ProgramHeader};
use object::{Endianness, FileKind, ReadCache, ReadRef};

use super::target::{Arch, Linkage};
use super::{join, Base};

/// Longest loader path read (Linux's `PATH_MAX`).
pub const MAX_INTERP: u64 = 4096;
/// Largest dynamic segment read (real ones are a few hundred bytes).
pub const MAX_DYNAMIC: u64 = 1 << 20;
/// Most program headers accepted.
pub const MAX_PROGRAM_HEADERS: u32 = 4096;
/// Most `DT_NEEDED` and `DT_RUNPATH` strings accepted.
pub const MAX_STRINGS: usize = 1024;

/// The run-time needs of one ELF file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Needs {
    /// `e_machine`.
    pub machine: u16,
    /// The dynamic loader (`/lib/ld-musl-x86_64.so.1`), if any.
    pub interpreter: Option<String>,
    /// `DT_NEEDED` entries, in order.
    pub needed: Vec<String>,
    /// `DT_RUNPATH` (or `DT_RPATH`) directories, in order.
    pub runpath: Vec<String>,
}

impl Needs {
    /// True when the file needs neither a loader nor a shared library.
    pub fn is_static(&self) -> bool {
        self.interpreter.is_none() && self.needed.is_empty()
    }
}

/// Why a binary cannot go into the image as it is.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ElfError {
    /// The file could not be read.
    #[error("reading {}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Not an ELF file.
    #[error("{} is not an ELF file", .path.display())]
    NotElf {
        /// The file.
        path: PathBuf,
    },
    /// A malformed or hostile ELF file.
    #[error("{}: malformed ELF file: {reason}", .path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Built for another architecture.
    #[error("{binary} is built for {}, not for {arch}", object::elf::Machine(*.machine))]
    #[diagnostic(help(
        "build it for the image's architecture, or remove {arch} from `architectures`"
    ))]
    WrongMachine {
        /// The binary (`bin/server`).
        binary: String,
        /// Its `e_machine`.
        machine: u16,
        /// The image architecture.
        arch: String,
    },
    /// A binary that should be static is not.
    #[error("{binary} should be statically linked but needs {needs}")]
    #[diagnostic(help(
        "a `-C target-feature=-crt-static` in RUSTFLAGS or .cargo/config.toml overrides ours; remove it"
    ))]
    NotStatic {
        /// The binary.
        binary: String,
        /// What it needs.
        needs: String,
    },
    /// Nothing provides a requirement.
    #[error("{requirement} is not in the base image and no package of the configured repositories provides it")]
    #[diagnostic(help(
        "add a repository with a package providing {atom}, or link {file} statically"
    ))]
    Unprovided {
        /// The requirement as the plan shows it.
        requirement: String,
        /// Its atom.
        atom: String,
        /// The library or loader.
        file: String,
    },
}

/// Reads the needs of the ELF file at `path`.
pub fn read(path: &Path) -> Result<Needs, ElfError> {
    let file = File::open(path).map_err(|source| ElfError::Io {
        path: path.to_owned(),
        source,
    })?;
    read_from(file, path)
}

/// Reads the needs of the ELF file in `file` (`path` names it in errors).
pub fn read_from(file: impl Read + Seek, path: &Path) -> Result<Needs, ElfError> {
    let cache = ReadCache::new(file);
    let malformed = |reason: &str| ElfError::Malformed {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    match FileKind::parse(&cache) {
        Ok(FileKind::Elf32) => parse::<elf::FileHeader32<Endianness>, _>(&cache).map_err(malformed),
        Ok(FileKind::Elf64) => parse::<elf::FileHeader64<Endianness>, _>(&cache).map_err(malformed),
        _ => Err(ElfError::NotElf {
            path: path.to_owned(),
        }),
    }
}

fn parse<'a, H: FileHeader<Endian = Endianness>, R: ReadRef<'a>>(
    data: R,
) -> Result<Needs, &'static str> {
    let header = H::parse(data).map_err(|_| "invalid file header")?;
    let endian = header.endian().map_err(|_| "invalid byte order")?;
    let count = header
        .phnum(endian, data)
        .map_err(|_| "invalid program header count")?;
    if count > MAX_PROGRAM_HEADERS {
        return Err("too many program headers");
    }
    let phdrs = header
        .program_headers(endian, data)
        .map_err(|_| "program headers out of bounds")?;
    let mut needs = Needs {
        machine: header.e_machine(endian).0,
        ..Needs::default()
    };
    let mut dynamic = None;
    for ph in phdrs {
        let size: u64 = ph.p_filesz(endian).into();
        match ph.p_type(endian) {
            elf::PT_INTERP => {
                if size > MAX_INTERP {
                    return Err("the loader path is too long");
                }
                let bytes = ph
                    .interpreter(endian, data)
                    .map_err(|_| "invalid loader segment")?
                    .unwrap_or_default();
                needs.interpreter = Some(checked_name(bytes)?.to_owned());
            }
            elf::PT_DYNAMIC => {
                if size > MAX_DYNAMIC {
                    return Err("the dynamic segment is too large");
                }
                dynamic = ph
                    .dynamic(endian, data)
                    .map_err(|_| "invalid dynamic segment")?;
            }
            _ => {}
        }
    }
    let Some(entries) = dynamic else {
        return Ok(needs);
    };
    let (mut strtab, mut strsz) = (None, 0u64);
    for d in entries {
        match d.d_tag(endian) {
            elf::DT_NULL => break,
            elf::DT_STRTAB => strtab = Some(d.d_val(endian).into()),
            elf::DT_STRSZ => strsz = d.d_val(endian).into(),
            _ => {}
        }
    }
    let mut strings = Vec::new();
    for d in entries {
        let tag = d.d_tag(endian);
        match tag {
            elf::DT_NULL => break,
            elf::DT_NEEDED | elf::DT_RUNPATH | elf::DT_RPATH => {
                if strings.len() >= MAX_STRINGS {
                    return Err("too many dynamic entries");
                }
                strings.push((tag, d.d_val(endian).into()));
            }
            _ => {}
        }
    }
    if strings.is_empty() {
        return Ok(needs);
    }
    let table = strtab.ok_or("dynamic strings without a string table")?;
    let (start, end) = file_range::<H>(phdrs, endian, table, strsz)?;
    let mut rpath = Vec::new();
    for (tag, offset) in strings {
        let at = start.checked_add(offset).filter(|a| *a < end);
        let bytes = at
            .and_then(|a| data.read_bytes_at_until(a..end, 0).ok())
            .ok_or("a dynamic string lies outside the string table")?;
        let s = checked_name(bytes)?;
        match tag {
            elf::DT_NEEDED => needs.needed.push(s.to_owned()),
            elf::DT_RUNPATH => needs.runpath.extend(s.split(':').map(str::to_owned)),
            _ => rpath.extend(s.split(':').map(str::to_owned)),
        }
    }
    // The loader ignores DT_RPATH when DT_RUNPATH is present.
    if needs.runpath.is_empty() {
        needs.runpath = rpath;
    }
    needs.runpath.retain(|d| !d.is_empty());
    Ok(needs)
}

/// The file range of `size` bytes at virtual address `address`, inside the
/// `PT_LOAD` segment that maps it.
fn file_range<H: FileHeader<Endian = Endianness>>(
    phdrs: &[H::ProgramHeader],
    endian: Endianness,
    address: u64,
    size: u64,
) -> Result<(u64, u64), &'static str> {
    for ph in phdrs {
        if ph.p_type(endian) != elf::PT_LOAD {
            continue;
        }
        let (vaddr, offset, filesz): (u64, u64, u64) = (
            ph.p_vaddr(endian).into(),
            ph.p_offset(endian).into(),
            ph.p_filesz(endian).into(),
        );
        if address < vaddr || address - vaddr >= filesz {
            continue;
        }
        let start = offset
            .checked_add(address - vaddr)
            .ok_or("string table offset overflows")?;
        let available = filesz - (address - vaddr);
        return Ok((start, start + size.min(available)));
    }
    Err("the string table is not in a loaded segment")
}

/// A loader path or library name: UTF-8, no control characters or spaces.
fn checked_name(bytes: &[u8]) -> Result<&str, &'static str> {
    let s = std::str::from_utf8(bytes).map_err(|_| "a name is not UTF-8")?;
    if s.is_empty() || s.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("a name is empty or contains spaces or control characters");
    }
    Ok(s)
}

/// Checks that `needs` fits `arch` and the linkage that was asked for.
pub fn check(binary: &str, needs: &Needs, arch: &Arch, linkage: Linkage) -> Result<(), ElfError> {
    check_machine(binary, needs, arch)?;
    if linkage == Linkage::Static && !needs.is_static() {
        let what: Vec<&str> = needs
            .interpreter
            .iter()
            .chain(&needs.needed)
            .map(String::as_str)
            .collect();
        return Err(ElfError::NotStatic {
            binary: binary.to_owned(),
            needs: what.join(", "),
        });
    }
    Ok(())
}

fn check_machine(binary: &str, needs: &Needs, arch: &Arch) -> Result<(), ElfError> {
    if needs.machine == arch.elf_machine {
        return Ok(());
    }
    Err(ElfError::WrongMachine {
        binary: binary.to_owned(),
        machine: needs.machine,
        arch: arch.apk.to_owned(),
    })
}

/// A binary going into the image.
#[derive(Clone, Debug)]
pub struct Binary {
    /// How the plan names it (`bin/server`).
    pub label: String,
    /// Where it is installed, relative to the root (`usr/bin/server`).
    pub path: String,
    /// What it needs.
    pub needs: Needs,
}

/// What a requirement is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum RequirementKind {
    /// The dynamic loader.
    Loader,
    /// A shared library.
    Library,
}

/// Something the base image lacks that a package must provide.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    /// The atom to resolve (`so:libssl.so.3`).
    pub atom: String,
    /// The library name or loader path.
    pub file: String,
    /// Loader or library.
    pub kind: RequirementKind,
    /// The binaries needing it (labels), sorted.
    pub needed_by: Vec<String>,
}

impl Requirement {
    /// The error when no package provides it.
    pub fn unprovided(&self) -> ElfError {
        ElfError::Unprovided {
            requirement: self.to_string(),
            atom: self.atom.clone(),
            file: self.file.clone(),
        }
    }
}

/// `so:libssl.so.3 ← bin/server`.
impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ← {}", self.atom, self.needed_by.join(", "))
    }
}

/// The requirements of `binaries` that `base` does not meet, sorted by
/// atom. Each binary must be built for `arch`.
pub fn requirements(
    arch: &Arch,
    binaries: &[Binary],
    base: &Base<'_>,
) -> Result<Vec<Requirement>, ElfError> {
    let provided: BTreeSet<&str> = base
        .packages
        .iter()
        .flat_map(|p| p.provides.split_ascii_whitespace())
        .map(|p| p.split_once('=').map_or(p, |(name, _)| name))
        .collect();
    let mut missing: BTreeMap<String, Requirement> = BTreeMap::new();
    let mut require = |atom: String, file: &str, kind, label: &str| {
        let r = missing.entry(atom.clone()).or_insert_with(|| Requirement {
            atom,
            file: file.to_owned(),
            kind,
            needed_by: Vec::new(),
        });
        if !r.needed_by.iter().any(|l| l == label) {
            r.needed_by.push(label.to_owned());
            r.needed_by.sort();
        }
    };
    for b in binaries {
        check_machine(&b.label, &b.needs, arch)?;
        let musl = b
            .needs
            .interpreter
            .as_deref()
            .is_some_and(|i| i.contains("ld-musl-"));
        if let Some(loader) = &b.needs.interpreter {
            let atom = loader_atom(loader);
            if base.files.resolve(loader.trim_start_matches('/')).is_none()
                && !provided.contains(atom.as_str())
            {
                require(atom, loader, RequirementKind::Loader, &b.label);
            }
        }
        let dirs = search_path(arch, &b.needs.runpath, &b.path, musl);
        for lib in &b.needs.needed {
            let atom = format!("so:{}", lib.rsplit('/').next().unwrap_or(lib));
            let on_disk = if lib.contains('/') {
                base.files.resolve(lib.trim_start_matches('/')).is_some()
            } else {
                dirs.iter()
                    .any(|d| base.files.resolve(&join(d, lib)).is_some())
            };
            if !on_disk && !provided.contains(atom.as_str()) {
                require(atom, lib, RequirementKind::Library, &b.label);
            }
        }
    }
    Ok(missing.into_values().collect())
}

/// The provider name of a loader: musl's loader is its libc
/// (`ld-musl-x86_64.so.1` is `libc.musl-x86_64.so.1`), glibc's is
/// provided under its own name.
fn loader_atom(loader: &str) -> String {
    let name = loader.rsplit('/').next().unwrap_or(loader);
    match name.strip_prefix("ld-musl-") {
        Some(rest) => format!("so:libc.musl-{rest}"),
        None => format!("so:{name}"),
    }
}

/// Where the loader looks for libraries: the binary's run path (`$ORIGIN`
/// is its directory), then musl's or glibc's default directories.
fn search_path(arch: &Arch, runpath: &[String], installed_at: &str, musl: bool) -> Vec<String> {
    let origin = installed_at.rsplit_once('/').map_or("", |(d, _)| d);
    let mut dirs: Vec<String> = runpath
        .iter()
        .map(|d| {
            d.replace("${ORIGIN}", &format!("/{origin}"))
                .replace("$ORIGIN", &format!("/{origin}"))
        })
        .filter(|d| d.starts_with('/'))
        .map(|d| normalise(&d))
        .collect();
    if musl {
        dirs.extend(["lib", "usr/local/lib", "usr/lib"].map(str::to_owned));
    } else {
        dirs.extend([
            format!("lib/{}", arch.multiarch),
            format!("usr/lib/{}", arch.multiarch),
            "lib64".to_owned(),
            "usr/lib64".to_owned(),
            "lib".to_owned(),
            "usr/lib".to_owned(),
        ]);
    }
    dirs
}

/// `path` relative to the root with `.` and `..` applied lexically (`..`
/// stops at the root), as the kernel resolves it once the binary's own
/// directory exists.
fn normalise(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rust::fixture::rootfs;
    use apk::package::PackageInfo;
    use oci_image::rootfs::RootFs;
    use proptest::prelude::*;
    use std::io::Cursor;

    /// A minimal little-endian ELF64 x86-64 executable: one PT_LOAD
    /// mapping the whole file at 0x1000, PT_INTERP, PT_DYNAMIC with
    /// DT_NEEDED entries and a DT_RUNPATH.
    pub(crate) fn synthetic(
        interp: Option<&str>,
        needed: &[&str],
        runpath: Option<&str>,
    ) -> Vec<u8> {
        const BASE: u64 = 0x1000;
        let phnum = 3u64;
        let ph_off = 64u64;
        let mut strtab = vec![0u8];
        let mut offsets = Vec::new();
        for s in needed.iter().chain(runpath.iter()) {
            offsets.push(strtab.len() as u64);
            strtab.extend_from_slice(s.as_bytes());
            strtab.push(0);
        }
        let interp_bytes = interp
            .map(|i| [i.as_bytes(), &[0]].concat())
            .unwrap_or_default();
        let interp_off = ph_off + phnum * 56;
        let str_off = interp_off + interp_bytes.len() as u64;
        let dyn_off = (str_off + strtab.len() as u64).next_multiple_of(8);
        let mut dynamic: Vec<(u64, u64)> = Vec::new();
        for (i, _) in needed.iter().enumerate() {
            dynamic.push((elf::DT_NEEDED.0 as u64, offsets[i]));
        }
        if runpath.is_some() {
            dynamic.push((elf::DT_RUNPATH.0 as u64, offsets[needed.len()]));
        }
        dynamic.push((elf::DT_STRTAB.0 as u64, BASE + str_off));
        dynamic.push((elf::DT_STRSZ.0 as u64, strtab.len() as u64));
        dynamic.push((elf::DT_NULL.0 as u64, 0));
        let total = dyn_off + dynamic.len() as u64 * 16;

        let mut f = Vec::new();
        f.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0]);
        f.extend_from_slice(&[0; 8]);
        let u16le = |f: &mut Vec<u8>, v: u16| f.extend_from_slice(&v.to_le_bytes());
        let u32le = |f: &mut Vec<u8>, v: u32| f.extend_from_slice(&v.to_le_bytes());
        let u64le = |f: &mut Vec<u8>, v: u64| f.extend_from_slice(&v.to_le_bytes());
        u16le(&mut f, elf::ET_DYN.0);
        u16le(&mut f, elf::EM_X86_64.0);
        u32le(&mut f, 1);
        u64le(&mut f, BASE); // entry
        u64le(&mut f, ph_off);
        u64le(&mut f, 0); // no section headers
        u32le(&mut f, 0);
        u16le(&mut f, 64);
        u16le(&mut f, 56);
        u16le(&mut f, phnum as u16);
        u16le(&mut f, 64);
        u16le(&mut f, 0);
        u16le(&mut f, 0);
        let phdr = |f: &mut Vec<u8>, ty: elf::ProgramType, off: u64, size: u64| {
            u32le(f, ty.0);
            u32le(f, 4);
            u64le(f, off);
            u64le(f, BASE + off);
            u64le(f, BASE + off);
            u64le(f, size);
            u64le(f, size);
            u64le(f, 8);
        };
        phdr(&mut f, elf::PT_LOAD, 0, total);
        if interp.is_some() {
            phdr(
                &mut f,
                elf::PT_INTERP,
                interp_off,
                interp_bytes.len() as u64,
            );
        } else {
            phdr(&mut f, elf::PT_NULL, 0, 0);
        }
        phdr(&mut f, elf::PT_DYNAMIC, dyn_off, dynamic.len() as u64 * 16);
        f.extend_from_slice(&interp_bytes);
        f.extend_from_slice(&strtab);
        f.resize(dyn_off as usize, 0);
        for (tag, val) in dynamic {
            u64le(&mut f, tag);
            u64le(&mut f, val);
        }
        assert_eq!(f.len() as u64, total);
        f
    }

    fn parse_bytes(bytes: &[u8]) -> Result<Needs, ElfError> {
        read_from(Cursor::new(bytes), Path::new("test.elf"))
    }

    /// A file of the Alpine 3.17.10 minirootfs.
    fn alpine_file(arch: &str, path: &str) -> Vec<u8> {
        let tgz = testkit::corpus(&format!("rootfs/alpine-minirootfs-3.17.10-{arch}.tar.gz"));
        let f = File::open(tgz).unwrap();
        let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(f));
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            if e.path_bytes().as_ref() == format!("./{path}").as_bytes() {
                let mut b = Vec::new();
                e.read_to_end(&mut b).unwrap();
                return b;
            }
        }
        panic!("{path} not in the minirootfs");
    }

    fn x86_64() -> &'static Arch {
        Arch::from_apk("x86_64").unwrap()
    }

    #[test]
    fn reads_alpine_binaries() {
        let busybox = parse_bytes(&alpine_file("x86_64", "bin/busybox")).unwrap();
        assert_eq!(
            busybox.interpreter.as_deref(),
            Some("/lib/ld-musl-x86_64.so.1")
        );
        assert_eq!(busybox.needed, ["libc.musl-x86_64.so.1"]);
        assert_eq!(busybox.machine, elf::EM_X86_64.0);
        // A shared library: no loader, its own needs.
        let ssl = parse_bytes(&alpine_file("x86_64", "lib/libssl.so.3")).unwrap();
        assert_eq!(ssl.interpreter, None);
        assert!(ssl.needed.contains(&"libcrypto.so.3".to_owned()), "{ssl:?}");
        // Another architecture is named as such.
        let arm = parse_bytes(&alpine_file("aarch64", "bin/busybox")).unwrap();
        assert_eq!(arm.machine, elf::EM_AARCH64.0);
        let err = check("bin/busybox", &arm, x86_64(), Linkage::Dynamic).unwrap_err();
        assert!(err.to_string().contains("not for x86_64"), "{err}");
        check("bin/busybox", &busybox, x86_64(), Linkage::Dynamic).unwrap();
        let err = check("bin/busybox", &busybox, x86_64(), Linkage::Static).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("needs /lib/ld-musl-x86_64.so.1, libc.musl-x86_64.so.1"),
            "{err}"
        );
    }

    #[test]
    fn reads_synthetic_files() {
        let bytes = synthetic(
            Some("/lib64/ld-linux-x86-64.so.2"),
            &["libfoo.so.1", "libc.so.6"],
            Some("$ORIGIN/../lib:/opt/x"),
        );
        let needs = parse_bytes(&bytes).unwrap();
        assert_eq!(
            needs,
            Needs {
                machine: elf::EM_X86_64.0,
                interpreter: Some("/lib64/ld-linux-x86-64.so.2".into()),
                needed: vec!["libfoo.so.1".into(), "libc.so.6".into()],
                runpath: vec!["$ORIGIN/../lib".into(), "/opt/x".into()],
            }
        );
        let static_pie = parse_bytes(&synthetic(None, &[], None)).unwrap();
        assert!(static_pie.is_static());
        assert!(matches!(
            parse_bytes(b"#!/bin/sh\necho hi\n"),
            Err(ElfError::NotElf { .. })
        ));
        assert!(matches!(parse_bytes(b""), Err(ElfError::NotElf { .. })));
    }

    #[test]
    fn hostile_sizes_are_refused_before_reading() {
        let mut bytes = synthetic(Some("/lib/ld.so"), &["libx.so"], None);
        // PT_DYNAMIC's p_filesz (third header) claims 1 TiB.
        let filesz = 64 + 2 * 56 + 32;
        bytes[filesz..filesz + 8].copy_from_slice(&(1u64 << 40).to_le_bytes());
        let err = parse_bytes(&bytes).unwrap_err();
        assert!(err.to_string().contains("too large"), "{err}");
        // e_phnum = 0xffff asks for section 0, which does not exist.
        let mut bytes = synthetic(None, &[], None);
        bytes[56..58].copy_from_slice(&0xffffu16.to_le_bytes());
        assert!(matches!(
            parse_bytes(&bytes),
            Err(ElfError::Malformed { .. })
        ));
        // A name with a newline would forge plan lines.
        let bytes = synthetic(None, &["libx.so\nso:evil"], None);
        assert!(matches!(
            parse_bytes(&bytes),
            Err(ElfError::Malformed { .. })
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn truncated_files_never_panic(cut in 0usize..400) {
            let bytes = synthetic(Some("/lib/ld-musl-x86_64.so.1"), &["libfoo.so.1", "libbar.so.2"], Some("/x"));
            let cut = cut.min(bytes.len());
            let _ = parse_bytes(&bytes[..cut]);
        }

        #[test]
        fn corrupted_files_never_panic(changes in proptest::collection::vec((0usize..400, any::<u8>()), 1..8)) {
            let mut bytes = synthetic(Some("/lib/ld-musl-x86_64.so.1"), &["libfoo.so.1", "libbar.so.2"], Some("/x"));
            for (at, value) in changes {
                let at = at % bytes.len();
                bytes[at] = value;
            }
            if let Ok(needs) = parse_bytes(&bytes) {
                prop_assert!(needs.needed.len() <= MAX_STRINGS);
            }
        }

        #[test]
        fn random_headers_never_panic(mut bytes in proptest::collection::vec(any::<u8>(), 0..300), class in 1u8..3) {
            if bytes.len() >= 6 {
                bytes[..6].copy_from_slice(&[0x7f, b'E', b'L', b'F', class, 1]);
            }
            let _ = parse_bytes(&bytes);
        }
    }

    fn binary(label: &str, needs: Needs) -> Binary {
        Binary {
            label: label.to_owned(),
            path: format!("usr/{label}"),
            needs,
        }
    }

    fn needs(interp: &str, needed: &[&str]) -> Needs {
        Needs {
            machine: elf::EM_X86_64.0,
            interpreter: Some(interp.to_owned()),
            needed: needed.iter().map(|s| s.to_string()).collect(),
            runpath: Vec::new(),
        }
    }

    #[test]
    fn the_base_meets_needs_by_provides_or_files() {
        let fs = rootfs(&[
            ("lib/ld-musl-x86_64.so.1", ""),
            ("lib/libc.musl-x86_64.so.1", "ld-musl-x86_64.so.1"),
            ("usr/lib/libz.so.1", ""),
            ("opt/app/lib/libown.so", ""),
        ]);
        let packages = vec![PackageInfo {
            name: "libssl3".into(),
            provides: "so:libssl.so.3=3 so:libcrypto.so.3".into(),
            ..Default::default()
        }];
        let base = Base {
            files: &fs,
            packages: &packages,
            scratch: false,
        };
        let mut server = needs(
            "/lib/ld-musl-x86_64.so.1",
            &[
                "libc.musl-x86_64.so.1",
                "libz.so.1",
                "libssl.so.3",
                "libcrypto.so.3",
                "libfoo.so.1",
                "libown.so",
            ],
        );
        server.runpath = vec!["$ORIGIN/../lib".into()];
        let bins = [
            Binary {
                label: "bin/server".into(),
                path: "opt/app/bin/server".into(),
                needs: server,
            },
            binary(
                "bin/worker",
                needs("/lib/ld-musl-x86_64.so.1", &["libfoo.so.1", "libbar.so.2"]),
            ),
        ];
        let reqs = requirements(x86_64(), &bins, &base).unwrap();
        let lines: Vec<String> = reqs.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                "so:libbar.so.2 ← bin/worker",
                "so:libfoo.so.1 ← bin/server, bin/worker"
            ]
        );
        let err = reqs[1].unprovided();
        assert_eq!(
            err.to_string(),
            "so:libfoo.so.1 ← bin/server, bin/worker is not in the base image and no package of \
             the configured repositories provides it"
        );
    }

    #[test]
    fn a_missing_loader_is_a_requirement_too() {
        let empty = RootFs::new();
        let base = Base {
            files: &empty,
            packages: &[],
            scratch: true,
        };
        let bins = [
            binary(
                "bin/musl",
                needs("/lib/ld-musl-x86_64.so.1", &["libc.musl-x86_64.so.1"]),
            ),
            binary(
                "bin/glibc",
                needs("/lib64/ld-linux-x86-64.so.2", &["libc.so.6"]),
            ),
        ];
        let reqs = requirements(x86_64(), &bins, &base).unwrap();
        let got: Vec<(&str, &str, RequirementKind)> = reqs
            .iter()
            .map(|r| (r.atom.as_str(), r.file.as_str(), r.kind))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "so:ld-linux-x86-64.so.2",
                    "/lib64/ld-linux-x86-64.so.2",
                    RequirementKind::Loader
                ),
                (
                    "so:libc.musl-x86_64.so.1",
                    "/lib/ld-musl-x86_64.so.1",
                    RequirementKind::Loader
                ),
                ("so:libc.so.6", "libc.so.6", RequirementKind::Library),
            ]
        );
        // glibc's directories count for glibc binaries, musl's do not see lib64.
        let fs = rootfs(&[("lib64/ld-linux-x86-64.so.2", ""), ("lib64/libc.so.6", "")]);
        let base = Base {
            files: &fs,
            packages: &[],
            scratch: false,
        };
        assert!(requirements(x86_64(), &bins[1..], &base)
            .unwrap()
            .is_empty());
        let musl_in_lib64 = [binary("bin/m", needs("/lib64/ld-linux-x86-64.so.2", &[]))];
        assert!(requirements(x86_64(), &musl_in_lib64, &base)
            .unwrap()
            .is_empty());
        let arm = [binary(
            "bin/arm",
            Needs {
                machine: elf::EM_AARCH64.0,
                ..Needs::default()
            },
        )];
        assert!(matches!(
            requirements(x86_64(), &arm, &base),
            Err(ElfError::WrongMachine { .. })
        ));
    }
}
