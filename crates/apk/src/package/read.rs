//! Reading an `.apk` v2 file in one streaming pass while checking
//! everything that binds it together: the signature over the control
//! member, the identity (`C:`) an index expects, `datahash` over the data
//! member, each file's PAX checksum and each path's hygiene.
//!
//! The data member is never buffered: each file's content is handed to a
//! [`DataVisitor`] as a reader (hashed as it is read) and then discarded, so
//! a package of any size needs only constant memory. Every member is
//! inflated through a size limit (a small gzip bomb must not become
//! gigabytes on disk): the signature and control members by fixed bounds,
//! the data member by `CARGO_ASSEMBLE_MAX_PACKAGE_SIZE` (default 8 GiB).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use sha1::{Digest, Sha1};

use crate::checksum::Checksum;
use crate::package::{parse_pkginfo, PackageInfo, PkgInfoError};
use crate::signature::{Digests, Keyring, SignatureEntry, SignatureError};
use crate::stream::{self, collect_signature, Tap};
use assemble_io::bounds;
use assemble_io::escape::{escape, escape_bytes};
use assemble_io::hash::Hashing;
use assemble_io::limit::{is_limit_error, Limited};
use assemble_io::tarball::{self, EntryKind};

/// Largest control entry (`.PKGINFO`, a script) we accept.
const MAX_CONTROL_ENTRY: u64 = 4 << 20;
/// Largest inflated signature or control member.
const MAX_CONTROL_MEMBER: u64 = 64 << 20;

/// How much each member may inflate to.
#[derive(Clone, Copy, Debug)]
struct Bounds {
    data: u64,
}

/// Which stream of the package a problem is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// The signature member.
    Signature,
    /// The control member (`.PKGINFO`, scripts).
    Control,
    /// The data member (the files).
    Data,
}

impl std::fmt::Display for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stream::Signature => "signature stream",
            Stream::Control => "control stream",
            Stream::Data => "data stream",
        })
    }
}

/// What failed while reading a package.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    /// The file could not be opened or read.
    #[error("{0}")]
    Io(io::Error),
    /// Not an APK v2 file.
    #[error("{0}")]
    NotApk(&'static str),
    /// A gzip member or tar stream is damaged or cut short.
    #[error("{stream}: {message}")]
    Corrupt {
        /// Where.
        stream: Stream,
        /// What.
        message: String,
    },
    /// The control member lacks `.PKGINFO` or holds an APK v1 `.INSTALL`.
    #[error("control stream: {0}")]
    Control(String),
    /// `.PKGINFO` is malformed.
    #[error("control stream: {0}")]
    PkgInfo(#[from] PkgInfoError),
    /// The signature does not verify.
    #[error("signature: {0}")]
    Signature(#[from] SignatureError),
    /// The control member's SHA-1 differs from the index record.
    #[error("checksum: the package identity is {actual} but the index record says {expected}; the file does not match the repository index")]
    Identity {
        /// From the index.
        expected: Checksum,
        /// Computed.
        actual: Checksum,
    },
    /// The data member's SHA-256 differs from `.PKGINFO` `datahash`.
    #[error("datahash: the data stream hashes to {actual} but .PKGINFO says {expected}")]
    DataHash {
        /// From `.PKGINFO`.
        expected: String,
        /// Computed.
        actual: String,
    },
    /// A file's content differs from its PAX checksum.
    #[error("file checksum: {path} hashes to {actual} but its header says {expected}")]
    FileChecksum {
        /// Path in the package.
        path: String,
        /// From the PAX header.
        expected: Checksum,
        /// Computed.
        actual: Checksum,
    },
    /// An entry path that must not be installed.
    #[error("data stream: refusing entry '{path}': {reason}")]
    BadPath {
        /// The path as written.
        path: String,
        /// Why.
        reason: &'static str,
    },
    /// Bytes after the data member.
    #[error("data stream: unexpected data after the last gzip member")]
    TrailingData,
    /// The visitor failed.
    #[error("{0}")]
    Visitor(io::Error),
}

impl Problem {
    /// A short name of the check that failed, for one-line reports.
    pub fn check(&self) -> &'static str {
        match self {
            Problem::Io(_) | Problem::Visitor(_) => "io",
            Problem::NotApk(_) => "format",
            Problem::Corrupt { stream, .. } => match stream {
                Stream::Signature => "signature stream",
                Stream::Control => "control stream",
                Stream::Data => "data stream",
            },
            Problem::Control(_) | Problem::PkgInfo(_) => "control stream",
            Problem::Signature(_) => "signature",
            Problem::Identity { .. } => "checksum",
            Problem::DataHash { .. } => "datahash",
            Problem::FileChecksum { .. } => "file checksum",
            Problem::BadPath { .. } | Problem::TrailingData => "data stream",
        }
    }
}

/// A package that failed to read or verify.
#[derive(Debug, thiserror::Error)]
#[error("{}: {}{problem}", file.display(), package.as_ref().map(|p| format!("{}: ", escape(p))).unwrap_or_default())]
pub struct PackageError {
    /// The `.apk` file.
    pub file: PathBuf,
    /// `name-version`, once `.PKGINFO` was read.
    pub package: Option<String>,
    /// What failed (boxed: errors stay small on the success path).
    pub problem: Box<Problem>,
}

/// Whether the package's own signature must verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignatureCheck {
    /// A signature by a keyring key must verify.
    Required,
    /// Not checked: the caller trusts the package another way (its identity
    /// matches a verified index record, or `--allow-untrusted`).
    Skip,
}

/// What to check while reading.
#[derive(Clone, Copy, Debug)]
pub struct ReadOptions<'a> {
    /// Trusted keys.
    pub keyring: &'a Keyring,
    /// Whether the signature must verify.
    pub signature: SignatureCheck,
    /// The identity (`C:`) of the index record this file should be.
    pub expected_identity: Option<Checksum>,
}

/// One file, directory or link of the data member.
#[derive(Clone, Debug)]
pub struct DataEntry {
    /// Normalised relative path (no trailing `/`).
    pub path: String,
    /// Entry type (with link target).
    pub kind: EntryKind,
    /// Permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u64,
    /// Group.
    pub gid: u64,
    /// Modification time.
    pub mtime: u64,
    /// Content size (regular files).
    pub size: u64,
    /// Extended attributes from `SCHILY.xattr.*` PAX records.
    pub xattrs: Vec<(String, Vec<u8>)>,
    /// The `APK-TOOLS.checksum.SHA1` from the PAX header, if any.
    pub checksum: Option<Checksum>,
}

/// Receives each data entry; `content` yields a regular file's bytes.
pub trait DataVisitor {
    /// Called once `.PKGINFO` is read and checked, before the first entry.
    fn start(&mut self, _info: &PackageInfo<'_>) -> io::Result<()> {
        Ok(())
    }

    /// Called once per entry, in archive order. Unread content is read and
    /// checked by the reader after the call.
    fn entry(&mut self, entry: &DataEntry, content: &mut dyn Read) -> io::Result<()>;
}

/// A visitor that only lets the reader check everything.
pub struct VerifyOnly;

impl DataVisitor for VerifyOnly {
    fn entry(&mut self, _: &DataEntry, _: &mut dyn Read) -> io::Result<()> {
        Ok(())
    }
}

/// A control-member script (`.post-install`, `.trigger`, …).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Script {
    /// Name without the leading dot (`post-install`).
    pub kind: String,
    /// The script.
    pub content: Vec<u8>,
}

/// What reading a package found.
#[derive(Clone, Debug)]
pub struct PackageContents {
    /// Parsed `.PKGINFO`, with `C:` and `S:` filled in.
    pub info: PackageInfo<'static>,
    /// The identity: SHA-1 of the raw control member.
    pub identity: Checksum,
    /// The key whose signature verified.
    pub signer: Option<String>,
    /// Scripts from the control member.
    pub scripts: Vec<Script>,
    /// Number of data entries.
    pub entries: u64,
}

/// Reads and checks the package at `path`, streaming its files to `visitor`.
pub fn read_file(
    path: &Path,
    options: &ReadOptions<'_>,
    visitor: &mut dyn DataVisitor,
) -> Result<PackageContents, PackageError> {
    let file = File::open(path).map_err(|e| PackageError {
        file: path.to_owned(),
        package: None,
        problem: Box::new(Problem::Io(e)),
    })?;
    read(
        BufReader::with_capacity(128 * 1024, file),
        path,
        options,
        visitor,
    )
}

/// Like [`read_file`] for any buffered reader; `file` names it in errors.
pub fn read<R: BufRead>(
    reader: R,
    file: &Path,
    options: &ReadOptions<'_>,
    visitor: &mut dyn DataVisitor,
) -> Result<PackageContents, PackageError> {
    let bounds = Bounds {
        data: bounds::MAX_PACKAGE_SIZE.get(),
    };
    read_bounded(reader, file, options, visitor, bounds)
}

fn read_bounded<R: BufRead>(
    reader: R,
    file: &Path,
    options: &ReadOptions<'_>,
    visitor: &mut dyn DataVisitor,
    bounds: Bounds,
) -> Result<PackageContents, PackageError> {
    let mut package = None;
    let result = read_inner(reader, options, visitor, bounds, &mut package);
    result.map_err(|problem| PackageError {
        file: file.to_owned(),
        package,
        problem: Box::new(problem),
    })
}

fn corrupt(stream: Stream) -> impl Fn(io::Error) -> Problem {
    move |e| Problem::Corrupt {
        stream,
        message: if is_limit_error(&e) {
            e.to_string()
        } else if e.kind() == io::ErrorKind::UnexpectedEof {
            "truncated: the file ends inside this stream".to_owned()
        } else {
            format!("corrupt: {e}")
        },
    }
}

#[derive(Default)]
struct Control {
    pkginfo: Option<String>,
    scripts: Vec<Script>,
    v1: bool,
}

impl Control {
    fn take<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>, name: &str) -> Result<(), Problem> {
        let Some(bare) = name.strip_prefix('.').filter(|n| !n.contains('/')) else {
            return Ok(());
        };
        let wanted = matches!(
            bare,
            "PKGINFO"
                | "pre-install"
                | "post-install"
                | "pre-deinstall"
                | "post-deinstall"
                | "pre-upgrade"
                | "post-upgrade"
                | "trigger"
        );
        if bare == "INSTALL" {
            self.v1 = true;
        }
        if !wanted {
            return Ok(());
        }
        if entry.size() > MAX_CONTROL_ENTRY {
            return Err(Problem::Control(format!(
                "{name} is larger than {MAX_CONTROL_ENTRY} bytes"
            )));
        }
        let mut buf = Vec::with_capacity(entry.size() as usize);
        entry
            .read_to_end(&mut buf)
            .map_err(corrupt(Stream::Control))?;
        if bare == "PKGINFO" {
            let text = String::from_utf8(buf)
                .map_err(|_| Problem::Control(".PKGINFO is not UTF-8 text".to_owned()))?;
            self.pkginfo = Some(text);
        } else {
            self.scripts.push(Script {
                kind: bare.to_owned(),
                content: buf,
            });
        }
        Ok(())
    }
}

fn read_inner<R: BufRead>(
    reader: R,
    options: &ReadOptions<'_>,
    visitor: &mut dyn DataVisitor,
    bounds: Bounds,
    package: &mut Option<String>,
) -> Result<PackageContents, Problem> {
    let mut tap = Tap::new(reader);
    stream::check_magic(tap.peek().map_err(Problem::Io)?).map_err(Problem::NotApk)?;

    // Member 0: the signature member when its first entry is `.SIGN.*`,
    // otherwise (unsigned package) already the control member.
    let mut signatures: Vec<SignatureEntry> = Vec::new();
    let mut control = Control::default();
    let signed = read_first_member(&mut tap, &mut signatures, &mut control)?;
    let mut hashes = tap.finish();
    if signed {
        tap.begin(true, false, Some(Digests::for_entries(&signatures)));
        read_tar(
            &mut tap,
            Stream::Control,
            MAX_CONTROL_MEMBER,
            |entry, name| control.take(entry, name),
        )?;
        hashes = tap.finish();
    }
    if control.v1 {
        return Err(Problem::Control(
            "APK v1 packages (.INSTALL) are not supported".to_owned(),
        ));
    }
    let text = control
        .pkginfo
        .ok_or_else(|| Problem::Control("the control stream has no .PKGINFO".to_owned()))?;
    let mut info = parse_pkginfo(&text)?;
    *package = Some(info.name_version());
    let identity = Checksum::Sha1(hashes.sha1.unwrap_or_default());

    let signer = match options.signature {
        SignatureCheck::Required => Some(
            options
                .keyring
                .verify(&signatures, hashes.digests.unwrap_or_default())?,
        ),
        SignatureCheck::Skip => None,
    };
    if let Some(expected) = options.expected_identity {
        if !expected.same_identity(&identity) {
            return Err(Problem::Identity {
                expected,
                actual: identity,
            });
        }
    }
    let datahash = info.datahash.ok_or_else(|| {
        Problem::Control(
            ".PKGINFO has no datahash; packages without it (legacy format) are not supported"
                .to_owned(),
        )
    })?;

    visitor.start(&info).map_err(Problem::Visitor)?;
    tap.begin(false, true, None);
    let mut checker = FileChecker::default();
    read_tar(&mut tap, Stream::Data, bounds.data, |entry, _| {
        checker.entry(entry, visitor)
    })?;
    let data = tap.finish();
    let actual = data.sha256.unwrap_or_default();
    if actual != datahash {
        return Err(Problem::DataHash {
            expected: hex::encode(datahash),
            actual: hex::encode(actual),
        });
    }
    if !tap.at_eof().map_err(Problem::Io)? {
        return Err(Problem::TrailingData);
    }
    info.checksum = Some(identity);
    info.size = Some(tap.offset());
    Ok(PackageContents {
        info,
        identity,
        signer,
        scripts: control.scripts,
        entries: checker.entries,
    })
}

/// Reads member 0; returns whether it was a signature member.
fn read_first_member<R: BufRead>(
    tap: &mut Tap<R>,
    signatures: &mut Vec<SignatureEntry>,
    control: &mut Control,
) -> Result<bool, Problem> {
    tap.begin(true, false, None);
    let mut signed = None;
    // Unsigned packages start with the control member: bound it as such.
    read_tar(tap, Stream::Signature, MAX_CONTROL_MEMBER, |entry, name| {
        let is_sig = *signed.get_or_insert_with(|| name.starts_with(".SIGN."));
        if is_sig {
            collect_signature(entry, name, signatures).map_err(corrupt(Stream::Signature))
        } else {
            control.take(entry, name)
        }
    })?;
    Ok(signed.unwrap_or(false))
}

/// One member, inflated through its size limit.
type Member<'t, R> = Limited<flate2::bufread::GzDecoder<&'t mut Tap<R>>>;

/// Inflates one member (at most `limit` bytes) as a tar stream, calling `f`
/// for each entry, then reads the member to its end so its trailer is
/// checked.
fn read_tar<R: BufRead>(
    tap: &mut Tap<R>,
    stream: Stream,
    limit: u64,
    mut f: impl FnMut(&mut tar::Entry<'_, Member<'_, R>>, &str) -> Result<(), Problem>,
) -> Result<(), Problem> {
    let what = match stream {
        Stream::Signature => "the inflated signature stream",
        Stream::Control => "the inflated control stream",
        Stream::Data => "the inflated files (limit set by CARGO_ASSEMBLE_MAX_PACKAGE_SIZE)",
    };
    let mut ar = tar::Archive::new(Limited::new(stream::member(tap), limit, what));
    for entry in ar.entries().map_err(corrupt(stream))? {
        let mut entry = entry.map_err(corrupt(stream))?;
        if matches!(entry.header().entry_type(), tar::EntryType::XGlobalHeader) {
            continue;
        }
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        f(&mut entry, &name)?;
    }
    stream::drain(ar.into_inner()).map_err(corrupt(stream))?;
    Ok(())
}

#[derive(Default)]
struct FileChecker {
    entries: u64,
    /// Digests of regular files seen so far, for hard links.
    digests: std::collections::HashMap<String, Checksum>,
}

impl FileChecker {
    fn entry<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        visitor: &mut dyn DataVisitor,
    ) -> Result<(), Problem> {
        let raw_path = entry.path_bytes().into_owned();
        let path = tarball::check_path(&raw_path)
            .map_err(|reason| Problem::BadPath {
                path: escape_bytes(&raw_path),
                reason,
            })?
            .to_owned();
        let header = entry.header().clone();
        let link = || -> Result<String, Problem> {
            let target = entry.link_name_bytes().unwrap_or_default();
            String::from_utf8(target.into_owned()).map_err(|_| Problem::BadPath {
                path: path.clone(),
                reason: "the link target is not valid UTF-8",
            })
        };
        let kind = match header.entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => EntryKind::File,
            tar::EntryType::Directory => EntryKind::Directory,
            tar::EntryType::Symlink => EntryKind::Symlink(link()?),
            tar::EntryType::Link => {
                let target = link()?;
                let target = tarball::check_path(target.as_bytes())
                    .map_err(|reason| Problem::BadPath {
                        path: path.clone(),
                        reason,
                    })?
                    .to_owned();
                if !self.digests.contains_key(&target) {
                    return Err(Problem::BadPath {
                        path,
                        reason: "a hard link must point to a file earlier in the same package",
                    });
                }
                EntryKind::Hardlink(target)
            }
            _ => {
                return Err(Problem::BadPath {
                    path,
                    reason: "device nodes, FIFOs and other special files are not supported",
                })
            }
        };
        let mut checksum = None;
        let mut xattrs = Vec::new();
        if let Some(pax) = entry.pax_extensions().map_err(corrupt(Stream::Data))? {
            for ext in pax {
                let ext = ext.map_err(corrupt(Stream::Data))?;
                let Ok(key) = ext.key() else { continue };
                if key == "APK-TOOLS.checksum.SHA1" {
                    let value = String::from_utf8_lossy(ext.value_bytes());
                    checksum = Checksum::parse_sha1_field(value.trim()).ok();
                } else if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
                    xattrs.push((name.to_owned(), ext.value_bytes().to_vec()));
                }
            }
        }
        let meta = DataEntry {
            path,
            mode: header.mode().map_err(corrupt(Stream::Data))? & 0o7777,
            uid: header.uid().map_err(corrupt(Stream::Data))?,
            gid: header.gid().map_err(corrupt(Stream::Data))?,
            mtime: header.mtime().map_err(corrupt(Stream::Data))?,
            size: if kind == EntryKind::File {
                entry.size()
            } else {
                0
            },
            kind,
            xattrs,
            checksum,
        };
        self.entries += 1;
        let mut hashing: Hashing<&mut dyn Read, Sha1> = Hashing::new(entry);
        visitor
            .entry(&meta, &mut hashing)
            .map_err(|e| match e.kind() {
                io::ErrorKind::UnexpectedEof | io::ErrorKind::InvalidData => {
                    corrupt(Stream::Data)(e)
                }
                _ if is_limit_error(&e) => corrupt(Stream::Data)(e),
                _ => Problem::Visitor(e),
            })?;
        stream::drain(&mut hashing).map_err(corrupt(Stream::Data))?;
        let content = Checksum::Sha1(hashing.finish().0.into());
        let actual = match &meta.kind {
            EntryKind::File => Some(content),
            EntryKind::Symlink(target) => {
                Some(Checksum::Sha1(Sha1::digest(target.as_bytes()).into()))
            }
            EntryKind::Hardlink(target) => self.digests.get(target).copied(),
            EntryKind::Directory => None,
        };
        if let (Some(expected), Some(actual)) = (meta.checksum, actual) {
            if !expected.same_identity(&actual) {
                return Err(Problem::FileChecksum {
                    path: meta.path,
                    expected,
                    actual,
                });
            }
        }
        if let (EntryKind::File, Some(actual)) = (&meta.kind, actual) {
            self.digests.insert(meta.path, actual);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::archive::{self, Trust};
    use crate::index::text::{self, Strictness};
    use crate::package::write;
    use crate::signature::SigningKey;
    use std::fs;

    use testkit::corpus;

    fn keyring(paths: &[&str]) -> Keyring {
        Keyring::load(&paths.iter().map(|p| corpus(p)).collect::<Vec<_>>()).unwrap()
    }

    fn check(
        path: &Path,
        ring: &Keyring,
        sig: SignatureCheck,
    ) -> Result<PackageContents, PackageError> {
        let opts = ReadOptions {
            keyring: ring,
            signature: sig,
            expected_identity: None,
        };
        read_file(path, &opts, &mut VerifyOnly)
    }

    #[test]
    fn real_alpine_package_verifies() {
        let ring = keyring(&["apk/keys/alpine"]);
        let p = check(
            &corpus("apk/packages/alpine-baselayout-3.2.0-r23.aarch64.apk"),
            &ring,
            SignatureCheck::Required,
        )
        .unwrap();
        assert_eq!(p.identity.to_string(), "Q1LLq2qDNrS/qRnhxQ3hsY/sHbQnc=");
        assert_eq!(p.info.size, Some(11012));
        assert_eq!(p.info.installed_size, Some(339968));
        assert!(p.signer.unwrap().ends_with("616ae350.rsa.pub"));
        let kinds: Vec<&str> = p.scripts.iter().map(|s| s.kind.as_str()).collect();
        assert_eq!(
            kinds,
            ["pre-install", "pre-upgrade", "post-upgrade", "post-install"]
        );
        assert!(p.entries > 10);
    }

    #[test]
    fn repo_small_packages_match_their_index() {
        let ring = keyring(&["apk/repo-small/melange.rsa.pub"]);
        for arch in ["x86_64", "aarch64"] {
            let dir = corpus("apk/repo-small/packages").join(arch);
            let idx =
                archive::read_file(&dir.join("APKINDEX.tar.gz"), &ring, Trust::Verify).unwrap();
            let parsed = text::parse(&idx.text, "APKINDEX", Strictness::Strict).unwrap();
            assert!(parsed.records.len() >= 4);
            for r in &parsed.records {
                let file = dir.join(format!("{}.apk", r.info.name_version()));
                let opts = ReadOptions {
                    keyring: &ring,
                    signature: SignatureCheck::Required,
                    expected_identity: r.info.checksum,
                };
                let p = read_file(&file, &opts, &mut VerifyOnly).unwrap();
                assert_eq!(p.info.size, r.info.size, "{}", file.display());
            }
        }
    }

    #[test]
    fn unknown_key_and_bad_signature_are_told_apart() {
        let ring = keyring(&["apk/repo-small/melange.rsa.pub"]);
        let e = check(
            &corpus("apk/wolfi/hello-2.12-r0.apk"),
            &ring,
            SignatureCheck::Required,
        )
        .unwrap_err();
        assert_eq!(e.problem.check(), "signature");
        assert!(e.to_string().contains("'local-melange.rsa.pub'"), "{e}");
        let e = check(
            &corpus("apk/wolfi/hello-wolfi-2.12.1-r0.apk"),
            &ring,
            SignatureCheck::Required,
        )
        .unwrap_err();
        assert!(
            matches!(
                *e.problem,
                Problem::Signature(SignatureError::BadSignature { .. })
            ),
            "{e}"
        );
        assert!(e.to_string().contains("hello-wolfi-2.12.1-r0"), "{e}");
    }

    #[test]
    fn unsigned_packages() {
        let ring = Keyring::new();
        let path = corpus("apk/misc/replaces-0.0.1-r0.apk");
        let e = check(&path, &ring, SignatureCheck::Required).unwrap_err();
        assert!(matches!(
            *e.problem,
            Problem::Signature(SignatureError::Unsigned)
        ));
        let p = check(&path, &ring, SignatureCheck::Skip).unwrap();
        assert_eq!(p.info.replaces, "foo bar");
        check(
            &corpus("apk/misc/hello-0.1.0-r0.apk"),
            &ring,
            SignatureCheck::Skip,
        )
        .unwrap();
    }

    /// Builds a small signed package with a file, a directory and a symlink.
    fn built(dir: &Path) -> (PathBuf, SigningKey, PackageInfo<'static>) {
        let root = dir.join("root");
        fs::create_dir_all(root.join("usr/bin")).unwrap();
        fs::write(
            root.join("usr/bin/hello"),
            b"#!/bin/sh\necho hello\n".repeat(200),
        )
        .unwrap();
        std::os::unix::fs::symlink("hello", root.join("usr/bin/hi")).unwrap();
        let key = SigningKey::generate("test.rsa.pub", 1024).unwrap();
        let info = PackageInfo {
            name: "hello".into(),
            version: "1.0-r0".into(),
            arch: "x86_64".into(),
            depends: "so:libc.musl-x86_64.so.1".into(),
            ..Default::default()
        };
        let out = dir.join("hello-1.0-r0.apk");
        let scripts = [Script {
            kind: "post-install".into(),
            content: b"#!/bin/sh\n".to_vec(),
        }];
        let meta = write::build(&root, &info, &scripts, Some(&key), 1700000000, &out).unwrap();
        (out, key, meta)
    }

    /// Offsets (start, end) of the three gzip members.
    fn members(bytes: &[u8]) -> Vec<(usize, usize)> {
        let mut tap = Tap::new(bytes);
        let mut out = Vec::new();
        while !tap.at_eof().unwrap() {
            let start = tap.offset() as usize;
            stream::drain(stream::member(&mut tap)).unwrap();
            out.push((start, tap.offset() as usize));
        }
        out
    }

    #[test]
    fn written_package_verifies_and_every_tampering_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        let (path, key, meta) = built(dir.path());
        let ring = key.keyring();
        let p = check(&path, &ring, SignatureCheck::Required).unwrap();
        assert_eq!(Some(p.identity), meta.checksum);
        assert_eq!(p.info.installed_size, Some(21 * 200));
        assert_eq!(p.entries, 4);

        let bytes = fs::read(&path).unwrap();
        let m = members(&bytes);
        assert_eq!(m.len(), 3);
        for (i, (start, end)) in m.iter().enumerate() {
            let mut bad = bytes.clone();
            bad[(start + end) / 2] ^= 0x10;
            let f = dir.path().join(format!("flip{i}.apk"));
            fs::write(&f, &bad).unwrap();
            let e = check(&f, &ring, SignatureCheck::Required).unwrap_err();
            let want: &[&str] = match i {
                0 => &["signature", "signature stream"],
                1 => &["signature", "control stream"],
                _ => &["data stream", "datahash"],
            };
            assert!(want.contains(&e.problem.check()), "member {i}: {e}");
        }
        let f = dir.path().join("short.apk");
        fs::write(&f, &bytes[..bytes.len() - 100]).unwrap();
        let e = check(&f, &ring, SignatureCheck::Required).unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");

        let opts = ReadOptions {
            keyring: &ring,
            signature: SignatureCheck::Required,
            expected_identity: Some(Checksum::Sha1([9; 20])),
        };
        let e = read_file(&path, &opts, &mut VerifyOnly).unwrap_err();
        assert_eq!(e.problem.check(), "checksum");
    }

    #[test]
    fn inflated_data_is_bounded() {
        /// Reads every file's content, as the layer writer does.
        struct ReadAll;
        impl DataVisitor for ReadAll {
            fn entry(&mut self, _: &DataEntry, content: &mut dyn Read) -> io::Result<()> {
                io::copy(content, &mut io::sink()).map(|_| ())
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let (path, key, _) = built(dir.path());
        let opts = ReadOptions {
            keyring: &key.keyring(),
            signature: SignatureCheck::Required,
            expected_identity: None,
        };
        let read = |limit: u64, visitor: &mut dyn DataVisitor| {
            let f = BufReader::new(File::open(&path).unwrap());
            read_bounded(f, &path, &opts, visitor, Bounds { data: limit })
        };
        read(1 << 20, &mut ReadAll).unwrap();
        for visitor in [&mut ReadAll as &mut dyn DataVisitor, &mut VerifyOnly] {
            let e = read(2048, visitor).unwrap_err();
            let text = e.to_string();
            assert_eq!(e.problem.check(), "data stream", "{text}");
            assert!(
                text.contains("CARGO_ASSEMBLE_MAX_PACKAGE_SIZE") && text.contains("2 KiB"),
                "{text}"
            );
        }
    }

    #[test]
    fn visitor_sees_files_in_order_with_content() {
        struct Collect(Vec<(String, usize)>);
        impl DataVisitor for Collect {
            fn entry(&mut self, e: &DataEntry, content: &mut dyn Read) -> io::Result<()> {
                let mut buf = Vec::new();
                content.read_to_end(&mut buf)?;
                self.0.push((e.path.clone(), buf.len()));
                Ok(())
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let (path, key, _) = built(dir.path());
        let mut c = Collect(Vec::new());
        let opts = ReadOptions {
            keyring: &key.keyring(),
            signature: SignatureCheck::Required,
            expected_identity: None,
        };
        read_file(&path, &opts, &mut c).unwrap();
        let names: Vec<&str> = c.0.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["usr", "usr/bin", "usr/bin/hello", "usr/bin/hi"]);
        assert_eq!(c.0[2].1, 4200);
    }
}
