//! Signed APK repositories made by our own writer, for tests that need
//! packages: a fresh key, packages built from file lists (or from raw tar
//! entries, for what our writer would never produce), and a signed index per
//! architecture.
//!
//! ```no_run
//! # use testkit::repo::{Pkg, Repo};
//! let dir = tempfile::tempdir().unwrap();
//! let mut repo = Repo::new(dir.path(), "test");
//! repo.add(Pkg::new("hello", "1.0-r0").file("usr/bin/hello", b"#!/bin/sh\necho hi\n", 0o755));
//! repo.write_index();
//! // dir/x86_64/APKINDEX.tar.gz, dir/test.rsa.pub
//! ```

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use apk::checksum::Checksum;
use apk::package::{write_pkginfo, PackageInfo};
use apk::signature::SigningKey;
use flate2::write::GzEncoder;
use sha1::Digest as _;

/// A raw data-tar entry: path (written as is), type, content, link target.
pub type RawEntry<'a> = (&'a str, tar::EntryType, &'a [u8], &'a str);

/// The default time of every entry, index and package (2025-01-01).
pub const MTIME: u64 = 1_735_689_600;

/// A package to build.
#[derive(Clone, Debug)]
pub struct Pkg {
    /// Metadata (`name`, `version`, `arch`, dependencies …).
    pub info: PackageInfo<'static>,
    files: Vec<(String, Vec<u8>, u32)>,
    dirs: Vec<(String, u32)>,
    symlinks: Vec<(String, String)>,
    scripts: Vec<(String, Vec<u8>)>,
}

impl Pkg {
    /// A package `name-version` for x86_64 with no files.
    pub fn new(name: &str, version: &str) -> Pkg {
        Pkg {
            info: PackageInfo {
                name: name.to_owned().into(),
                version: version.to_owned().into(),
                arch: "x86_64".into(),
                description: format!("{name} for tests").into(),
                license: "MIT".into(),
                origin: name.to_owned().into(),
                ..Default::default()
            },
            files: Vec::new(),
            dirs: Vec::new(),
            symlinks: Vec::new(),
            scripts: Vec::new(),
        }
    }

    /// Sets the architecture.
    pub fn arch(mut self, arch: &str) -> Pkg {
        self.info.arch = arch.to_owned().into();
        self
    }

    /// Adds a regular file.
    pub fn file(mut self, path: &str, content: &[u8], mode: u32) -> Pkg {
        self.files.push((path.to_owned(), content.to_vec(), mode));
        self
    }

    /// Adds a directory.
    pub fn dir(mut self, path: &str, mode: u32) -> Pkg {
        self.dirs.push((path.to_owned(), mode));
        self
    }

    /// Adds a symbolic link `path -> target`.
    pub fn symlink(mut self, path: &str, target: &str) -> Pkg {
        self.symlinks.push((path.to_owned(), target.to_owned()));
        self
    }

    /// Adds an install script (`post-install`, …).
    pub fn script(mut self, kind: &str, content: &[u8]) -> Pkg {
        self.scripts.push((kind.to_owned(), content.to_vec()));
        self
    }

    /// Appends a dependency atom.
    pub fn depend(mut self, atom: &str) -> Pkg {
        self.info.depends = join(&self.info.depends, atom).into();
        self
    }

    /// Appends a provided name (`name` or `name=version`).
    pub fn provide(mut self, name: &str) -> Pkg {
        self.info.provides = join(&self.info.provides, name).into();
        self
    }

    /// Appends a `replaces` atom.
    pub fn replace(mut self, atom: &str) -> Pkg {
        self.info.replaces = join(&self.info.replaces, atom).into();
        self
    }

    /// Sets the origin (source package) name.
    pub fn origin(mut self, origin: &str) -> Pkg {
        self.info.origin = origin.to_owned().into();
        self
    }

    /// Appends an `install_if` atom.
    pub fn install_if(mut self, atom: &str) -> Pkg {
        self.info.install_if = join(&self.info.install_if, atom).into();
        self
    }
}

fn join(list: &str, item: &str) -> String {
    if list.is_empty() {
        item.to_owned()
    } else {
        format!("{list} {item}")
    }
}

/// A repository directory being filled: `ROOT/ARCH/*.apk`,
/// `ROOT/ARCH/APKINDEX.tar.gz` and the public key `ROOT/KEY.rsa.pub`.
pub struct Repo {
    root: PathBuf,
    key: SigningKey,
    key_name: String,
    records: BTreeMap<String, Vec<PackageInfo<'static>>>,
}

impl Repo {
    /// A new repository at `root` signed by a fresh 2048-bit key
    /// `KEY_NAME.rsa.pub`, written to `root`.
    pub fn new(root: &Path, key_name: &str) -> Repo {
        let key_name = format!("{key_name}.rsa.pub");
        let key = SigningKey::generate(&key_name, 2048).expect("key generation");
        Repo::with_key(root, key)
    }

    /// A repository signed by `key` (to share one key between repositories
    /// or sign with a key that is not trusted).
    pub fn with_key(root: &Path, key: SigningKey) -> Repo {
        std::fs::create_dir_all(root).expect("repository directory");
        let key_name = key.name.clone();
        std::fs::write(root.join(&key_name), key.public_pem().expect("public key"))
            .expect("writing the public key");
        Repo {
            root: root.to_owned(),
            key,
            key_name,
            records: BTreeMap::new(),
        }
    }

    /// The repository directory (what `repositories = [...]` names).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The public key file.
    pub fn key_path(&self) -> PathBuf {
        self.root.join(&self.key_name)
    }

    /// The signing key.
    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    /// The `.apk` file of `name-version` for `arch`.
    pub fn apk_path(&self, arch: &str, name: &str, version: &str) -> PathBuf {
        self.root.join(arch).join(format!("{name}-{version}.apk"))
    }

    /// Builds `pkg` with our writer into `ROOT/ARCH/` and records it for
    /// the index. Returns its index record.
    pub fn add(&mut self, pkg: Pkg) -> PackageInfo<'static> {
        let tree = tempfile::tempdir().expect("temp dir");
        for (path, mode) in &pkg.dirs {
            let p = tree.path().join(path);
            std::fs::create_dir_all(&p).unwrap();
            set_mode(&p, *mode);
        }
        for (path, content, mode) in &pkg.files {
            let p = tree.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, content).unwrap();
            set_mode(&p, *mode);
        }
        for (path, target) in &pkg.symlinks {
            let p = tree.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::os::unix::fs::symlink(target, &p).unwrap();
        }
        let scripts: Vec<apk::package::read::Script> = pkg
            .scripts
            .iter()
            .map(|(kind, content)| apk::package::read::Script {
                kind: kind.clone(),
                content: content.clone(),
            })
            .collect();
        let arch = pkg.info.arch.to_string();
        let out = self.apk_path(&arch, &pkg.info.name, &pkg.info.version);
        std::fs::create_dir_all(out.parent().unwrap()).unwrap();
        let record = apk::package::write::build(
            tree.path(),
            &pkg.info,
            &scripts,
            Some(&self.key),
            MTIME,
            &out,
        )
        .expect("building the package");
        self.push(arch, record.clone());
        record
    }

    /// Builds a package whose data tar is made by hand from `entries`, so
    /// that it can hold what our writer never writes (`..`, devices,
    /// symlinks followed by files below them …). Signed and indexed like
    /// any other.
    pub fn add_raw(&mut self, pkg: Pkg, entries: &[RawEntry<'_>]) -> PackageInfo<'static> {
        let mut data = Vec::new();
        for (path, kind, content, link) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_size(content.len() as u64);
            h.set_mode(if *kind == tar::EntryType::Directory {
                0o755
            } else {
                0o644
            });
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(MTIME);
            let name = path.as_bytes();
            assert!(name.len() <= 100, "raw entry names are at most 100 bytes");
            h.as_old_mut().name[..name.len()].copy_from_slice(name);
            if !link.is_empty() {
                h.set_link_name(link).unwrap();
            }
            h.set_cksum();
            data.extend_from_slice(h.as_bytes());
            data.extend_from_slice(content);
            data.extend(std::iter::repeat_n(0u8, (512 - content.len() % 512) % 512));
        }
        data.extend([0u8; 1024]);
        self.add_data_tar(pkg, &data)
    }

    /// Builds a package around an uncompressed data tar given as bytes.
    pub fn add_data_tar(&mut self, pkg: Pkg, data_tar: &[u8]) -> PackageInfo<'static> {
        let data_gz = gzip(data_tar);
        let mut info = pkg.info.clone();
        info.datahash = Some(sha2::Sha256::digest(&data_gz).into());
        info.build_time = Some(MTIME);
        let pkginfo = write_pkginfo(&info);
        let mut control = Vec::new();
        let mut h = tar::Header::new_gnu();
        h.set_path(".PKGINFO").unwrap();
        h.set_size(pkginfo.len() as u64);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mode(0o644);
        h.set_mtime(MTIME);
        h.set_cksum();
        control.extend_from_slice(h.as_bytes());
        control.extend_from_slice(pkginfo.as_bytes());
        control.extend(std::iter::repeat_n(0u8, (512 - pkginfo.len() % 512) % 512));
        control.extend([0u8; 1024]);
        let control_gz = gzip(&control);
        let identity = Checksum::Sha1(sha1::Sha1::digest(&control_gz).into());
        let signature = self
            .key
            .sign_sha256(&sha2::Sha256::digest(&control_gz))
            .expect("signing");
        let sig_member = apk::stream::signature_member(&signature, MTIME).unwrap();
        let mut file = sig_member;
        file.extend_from_slice(&control_gz);
        file.extend_from_slice(&data_gz);
        let arch = info.arch.to_string();
        let out = self.apk_path(&arch, &info.name, &info.version);
        std::fs::create_dir_all(out.parent().unwrap()).unwrap();
        std::fs::write(&out, &file).unwrap();
        let record = PackageInfo {
            checksum: Some(identity),
            size: Some(file.len() as u64),
            datahash: None,
            ..info
        };
        self.push(arch, record.clone());
        record
    }

    /// Records an index entry without building a file (for resolver tests
    /// or to make an index promise something the file does not hold).
    pub fn push(&mut self, arch: String, record: PackageInfo<'static>) {
        let list = self.records.entry(arch).or_default();
        list.retain(|r| !(r.name == record.name && r.version == record.version));
        list.push(record);
    }

    /// Removes every version of `name` from the index (the files stay).
    pub fn remove(&mut self, name: &str) {
        for list in self.records.values_mut() {
            list.retain(|r| r.name != name);
        }
    }

    /// Writes `ROOT/ARCH/APKINDEX.tar.gz` for every architecture, signed.
    pub fn write_index(&self) {
        for (arch, records) in &self.records {
            let mut idx = Vec::new();
            apk::index::archive::write(
                &mut idx,
                records,
                "test repository",
                Some(&self.key),
                MTIME,
            )
            .expect("writing the index");
            let dir = self.root.join(arch);
            std::fs::create_dir_all(&dir).unwrap();
            let tmp = dir.join(".APKINDEX.tar.gz.tmp");
            std::fs::write(&tmp, idx).unwrap();
            std::fs::rename(tmp, dir.join("APKINDEX.tar.gz")).unwrap();
        }
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;
    use apk::index::archive::{self, Trust};
    use apk::signature::Keyring;

    #[test]
    fn a_built_repository_verifies_and_lists_its_packages() {
        let dir = tempfile::tempdir().unwrap();
        let mut repo = Repo::new(dir.path(), "kit");
        repo.add(Pkg::new("hello", "1.0-r0").file("usr/bin/hello", b"hi\n", 0o755));
        repo.add_raw(
            Pkg::new("raw", "1-r0"),
            &[("etc/raw", tar::EntryType::Regular, b"x", "")],
        );
        repo.write_index();
        let ring = Keyring::load(&[repo.key_path()]).unwrap();
        let idx = archive::read_file(
            &dir.path().join("x86_64/APKINDEX.tar.gz"),
            &ring,
            Trust::Verify,
        )
        .unwrap();
        assert!(idx.text.contains("P:hello\n") && idx.text.contains("P:raw\n"));
        for (name, version) in [("hello", "1.0-r0"), ("raw", "1-r0")] {
            let path = repo.apk_path("x86_64", name, version);
            let opts = apk::package::read::ReadOptions {
                keyring: &ring,
                signature: apk::package::read::SignatureCheck::Required,
                expected_identity: None,
            };
            apk::package::read::read_file(&path, &opts, &mut apk::package::read::VerifyOnly)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}
