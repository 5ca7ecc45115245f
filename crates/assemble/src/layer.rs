//! The one layer an image build adds: the added packages' files plus the
//! updated apk database, as a deterministic, gzip-compressed tar.
//!
//! Each package is read once, streaming: file contents go to a staging
//! directory on disk (never memory), metadata to a sorted map, and every
//! path is checked for ownership against the base image's database and the
//! packages added before it, with apk's `replaces` rules. Only when every
//! package is in and no conflict was found is the layer written, in sorted
//! path order, from the staging directory — so a conflict never produces
//! output, and the tar's bytes depend only on the packages and the build
//! time.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;

use apk::checksum::Checksum;
use apk::database::{
    Acl, DirEntry, FileEntry, InstalledDb, InstalledRecord, ScriptKind, ScriptsTar, Triggers,
};
use apk::dependency::{Context, Dependency};
use apk::package::read::{
    self, DataEntry, DataVisitor, PackageContents, ReadOptions, SignatureCheck,
};
use apk::package::PackageInfo;
use apk::signature::Keyring;
use assemble_io::hash::Sha256Writer;
use assemble_io::tarball::{self, EntryHeader, EntryKind};

/// What the base image has at a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BaseKind {
    /// A regular file (or hard link).
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
    /// A device node, FIFO or socket.
    Other,
}

/// The base image's filesystem as the layer writer needs it.
pub trait BaseFs {
    /// What is at `path` (the last component not followed).
    fn kind(&self, path: &str) -> Option<BaseKind>;
    /// `path` with symlinked parent directories resolved within the root
    /// (`lib/x` → `usr/lib/x` when `lib` links to `usr/lib`).
    fn resolve_parents(&self, path: &str) -> String;
}

/// An empty base (`scratch`).
pub struct EmptyBase;

impl BaseFs for EmptyBase {
    fn kind(&self, _: &str) -> Option<BaseKind> {
        None
    }
    fn resolve_parents(&self, path: &str) -> String {
        path.to_owned()
    }
}

/// A package to add, fetched to a local file.
#[derive(Clone, Debug)]
pub struct PackageFile {
    /// The `.apk` file.
    pub path: PathBuf,
    /// The identity its index record promises (`C:`).
    pub identity: Checksum,
}

/// The base image's apk state.
#[derive(Clone, Debug, Default)]
pub struct BaseState {
    /// Directory of the database (`lib/apk/db` or `usr/lib/apk/db`).
    pub db_dir: String,
    /// The installed database.
    pub installed: InstalledDb,
    /// `scripts.tar`, if present.
    pub scripts: Option<Vec<u8>>,
    /// `triggers`, if present.
    pub triggers: Option<String>,
    /// `etc/apk/world`, if present.
    pub world: Option<String>,
    /// `etc/apk/repositories`, if present.
    pub repositories: Option<String>,
}

/// Everything the layer needs besides the packages.
#[derive(Clone, Debug, Default)]
pub struct LayerSpec {
    /// World atoms to add (the requested packages).
    pub world: Vec<String>,
    /// Repository lines to add to `etc/apk/repositories`.
    pub repositories: Vec<String>,
    /// Key files to install in `etc/apk/keys` (file name, PEM).
    pub keys: Vec<(String, Vec<u8>)>,
    /// Entry time (`SOURCE_DATE_EPOCH`, else the newest package build time).
    pub mtime: Option<u64>,
}

/// A finished layer.
#[derive(Debug)]
pub struct Layer {
    /// The compressed layer, a temporary file.
    pub file: tempfile::NamedTempFile,
    /// `sha256:` of the compressed bytes (the blob digest).
    pub digest: String,
    /// `sha256:` of the uncompressed tar (the diff_id).
    pub diff_id: String,
    /// Compressed size.
    pub size: u64,
    /// The new installed database (base records unchanged, new appended).
    pub installed: InstalledDb,
    /// Metadata of the added packages, in install order.
    pub added: Vec<PackageInfo<'static>>,
    /// Things the user should know (unowned base files overwritten,
    /// install scripts not run).
    pub warnings: Vec<String>,
    /// The entry time used.
    pub mtime: u64,
}

/// Why the layer cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    /// A package failed verification or could not be read.
    #[error(transparent)]
    Package(#[from] read::PackageError),
    /// Two packages own one path.
    #[error("file conflicts (nothing was written):\n{}", .0.join("\n"))]
    Conflicts(Vec<String>),
    /// The base database is unusable.
    #[error("{0}")]
    Base(String),
    /// I/O on the staging directory or the layer file.
    #[error("writing the layer: {0}")]
    Io(#[from] io::Error),
}

/// Who owns a path so far.
#[derive(Clone, Debug)]
struct Owner {
    name: String,
    version: String,
    origin: String,
    replaces: Vec<String>,
    replaces_priority: u64,
    /// Index into the added packages, or `None` for a base package.
    added: Option<usize>,
}

impl Owner {
    fn from_info(info: &PackageInfo<'_>, added: Option<usize>) -> Owner {
        Owner {
            name: info.name.to_string(),
            version: info.version.to_string(),
            origin: info.origin.to_string(),
            replaces: info
                .replaces
                .split_ascii_whitespace()
                .map(str::to_owned)
                .collect(),
            replaces_priority: info.replaces_priority.unwrap_or(0),
            added,
        }
    }

    /// True when one of `self`'s `replaces` atoms matches `other`'s own
    /// name and version (provides do not count).
    fn replaces(&self, other: &Owner) -> bool {
        self.replaces.iter().any(|r| {
            Dependency::parse(r, Context::Metadata)
                .is_ok_and(|d| d.name == other.name && d.version_matches(&other.version, None))
        })
    }
}

/// apk's decision when `new` writes a path `old` owns.
enum Decision {
    Overwrite,
    Keep,
    Conflict,
}

fn decide(old: &Owner, new: &Owner) -> Decision {
    if old.name == new.name {
        return Decision::Overwrite;
    }
    let p_old = if old.replaces(new) {
        old.replaces_priority as i64
    } else {
        -1
    };
    let p_new = if new.replaces(old) {
        new.replaces_priority as i64
    } else {
        -1
    };
    if p_old > p_new {
        Decision::Keep
    } else if p_new >= 0 || (!old.origin.is_empty() && old.origin == new.origin) {
        Decision::Overwrite
    } else {
        Decision::Conflict
    }
}

/// One entry of the layer.
#[derive(Clone, Debug)]
struct Staged {
    kind: EntryKind,
    mode: u32,
    uid: u64,
    gid: u64,
    size: u64,
    xattrs: Vec<(String, Vec<u8>)>,
    /// Content in the staging directory (regular files).
    content: Option<PathBuf>,
}

/// Per-package state while reading it.
struct Stager<'s> {
    base: &'s dyn BaseFs,
    staging: &'s Path,
    counter: &'s mut u64,
    entries: &'s mut BTreeMap<String, Staged>,
    owners: &'s mut HashMap<String, Owner>,
    me: Owner,
    /// Files and directories this package ends up owning, as written in
    /// the package (for its database record).
    owned: Vec<DataEntry>,
    conflicts: &'s mut Vec<String>,
    overwritten_unowned: &'s mut BTreeSet<String>,
    /// Owners that lost a path to this package: (added index, path).
    taken: Vec<(usize, String)>,
}

impl DataVisitor for Stager<'_> {
    fn start(&mut self, info: &PackageInfo<'_>) -> io::Result<()> {
        self.me = Owner::from_info(info, self.me.added);
        Ok(())
    }

    fn entry(&mut self, e: &DataEntry, content: &mut dyn Read) -> io::Result<()> {
        let layer_path = self.base.resolve_parents(&e.path);
        // A path below a symlink a new package created would be written
        // through that link when the layer is unpacked: refuse it.
        let mut parent = layer_path.as_str();
        while let Some((p, _)) = parent.rsplit_once('/') {
            if matches!(
                self.entries.get(p).map(|s| &s.kind),
                Some(EntryKind::Symlink(_))
            ) {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!(
                        "{}: refusing '{}': it lies below the symlink '{p}' of an added package",
                        self.me.name, e.path
                    ),
                ));
            }
            parent = p;
        }
        if e.kind == EntryKind::Directory {
            self.owned.push(e.clone());
            if self.base.kind(&layer_path) != Some(BaseKind::Dir)
                && !self.entries.contains_key(&layer_path)
            {
                self.entries.insert(layer_path, staged(e, None));
            }
            return Ok(());
        }
        match self.owners.get(&e.path) {
            Some(old) => match decide(old, &self.me) {
                Decision::Keep => return Ok(()),
                Decision::Conflict => {
                    self.conflicts.push(format!(
                        "  {}: {}-{} would overwrite it, but it belongs to {}-{}{}; fix: add `replaces = {}` to {}, \
                         or do not install both",
                        e.path,
                        self.me.name,
                        self.me.version,
                        old.name,
                        old.version,
                        if old.added.is_none() { " (in the source image)" } else { "" },
                        old.name,
                        self.me.name
                    ));
                    return Ok(());
                }
                Decision::Overwrite => {
                    if let Some(i) = old.added {
                        self.taken.push((i, e.path.clone()));
                    }
                }
            },
            None => {
                if self.base.kind(&layer_path).is_some() {
                    self.overwritten_unowned.insert(layer_path.clone());
                }
            }
        }
        self.owners.insert(e.path.clone(), self.me.clone());
        self.owned.push(e.clone());
        let file = if e.kind == EntryKind::File {
            *self.counter += 1;
            let p = self.staging.join(self.counter.to_string());
            let mut f = BufWriter::new(File::create(&p)?);
            io::copy(content, &mut f)?;
            f.flush()?;
            Some(p)
        } else {
            None
        };
        let mut s = staged(e, file);
        if let EntryKind::Hardlink(target) = &e.kind {
            s.kind = EntryKind::Hardlink(self.base.resolve_parents(target));
        }
        self.entries.insert(layer_path, s);
        Ok(())
    }
}

fn staged(e: &DataEntry, content: Option<PathBuf>) -> Staged {
    Staged {
        kind: e.kind.clone(),
        mode: e.mode,
        uid: e.uid,
        gid: e.gid,
        size: e.size,
        xattrs: e.xattrs.clone(),
        content,
    }
}

/// The database record of a package from the entries it owns.
fn record_dirs(owned: &[DataEntry]) -> Vec<DirEntry> {
    let mut dirs: BTreeMap<String, DirEntry> = BTreeMap::new();
    let dir_entry = |dirs: &mut BTreeMap<String, DirEntry>, path: &str| {
        dirs.entry(path.to_owned()).or_insert_with(|| DirEntry {
            path: path.to_owned(),
            acl: None,
            files: Vec::new(),
        });
    };
    for e in owned {
        let acl = |default: Acl| {
            let a = Acl {
                uid: e.uid as u32,
                gid: e.gid as u32,
                mode: e.mode,
                xattr_digest: None,
            };
            (a != default).then_some(a)
        };
        if e.kind == EntryKind::Directory {
            dir_entry(&mut dirs, &e.path);
            if let Some(d) = dirs.get_mut(&e.path) {
                d.acl = acl(Acl::DIR_DEFAULT);
            }
            continue;
        }
        let (dir, name) = e.path.rsplit_once('/').unwrap_or(("", &e.path));
        dir_entry(&mut dirs, dir);
        let mode_acl = match e.kind {
            EntryKind::Symlink(_) => {
                let a = Acl {
                    uid: e.uid as u32,
                    gid: e.gid as u32,
                    mode: 0o777,
                    xattr_digest: None,
                };
                Some(a)
            }
            _ => acl(Acl::FILE_DEFAULT),
        };
        if let Some(d) = dirs.get_mut(dir) {
            d.files.push(FileEntry {
                name: name.to_owned(),
                acl: mode_acl,
                digest: e.checksum,
            });
        }
    }
    dirs.into_values().collect()
}

/// Builds the layer for `packages` (in install order) on top of `base`.
/// `dir` is where temporary files go (staging and the layer itself).
pub fn build(
    packages: &[PackageFile],
    base_fs: &dyn BaseFs,
    base: &BaseState,
    spec: &LayerSpec,
    dir: &Path,
) -> Result<Layer, LayerError> {
    let staging = tempfile::tempdir_in(dir)?;
    let mut counter = 0u64;
    let mut entries: BTreeMap<String, Staged> = BTreeMap::new();
    let mut owners: HashMap<String, Owner> = HashMap::new();
    for rec in &base.installed.records {
        let info = rec.info();
        let owner = Owner::from_info(&info, None);
        for d in rec.dirs() {
            for f in d.files {
                let path = if d.path.is_empty() {
                    f.name
                } else {
                    format!("{}/{}", d.path, f.name)
                };
                owners.insert(path, owner.clone());
            }
        }
    }
    let keyring = Keyring::new();
    let mut conflicts = Vec::new();
    let mut overwritten = BTreeSet::new();
    let mut added: Vec<(PackageContents, Vec<DataEntry>)> = Vec::new();
    for p in packages {
        let options = ReadOptions {
            keyring: &keyring,
            signature: SignatureCheck::Skip,
            expected_identity: Some(p.identity),
        };
        let mut stager = Stager {
            base: base_fs,
            staging: staging.path(),
            counter: &mut counter,
            entries: &mut entries,
            owners: &mut owners,
            // Filled in by `start` once the package's .PKGINFO is read.
            me: Owner::from_info(&PackageInfo::default(), Some(added.len())),
            owned: Vec::new(),
            conflicts: &mut conflicts,
            overwritten_unowned: &mut overwritten,
            taken: Vec::new(),
        };
        let contents = read::read_file(&p.path, &options, &mut stager)?;
        let (owned, taken) = (stager.owned, stager.taken);
        for (i, path) in taken {
            if let Some((_, list)) = added.get_mut(i) {
                list.retain(|e| e.path != path);
            }
        }
        added.push((contents, owned));
    }
    if !conflicts.is_empty() {
        return Err(LayerError::Conflicts(conflicts));
    }

    let mtime = spec.mtime.unwrap_or_else(|| {
        added
            .iter()
            .filter_map(|(c, _)| c.info.build_time)
            .max()
            .unwrap_or(0)
    });
    let mut warnings = Vec::new();
    if !overwritten.is_empty() {
        warnings.push(format!(
            "overwriting files of the source image that no package owns: {}",
            overwritten.iter().cloned().collect::<Vec<_>>().join(" ")
        ));
    }
    let with_scripts: Vec<String> = added
        .iter()
        .filter(|(c, _)| c.scripts.iter().any(|s| s.kind != "trigger"))
        .map(|(c, _)| c.info.name_version())
        .collect();
    if !with_scripts.is_empty() {
        warnings.push(format!(
            "install scripts were recorded but not run (no container runtime): {}",
            with_scripts.join(" ")
        ));
    }

    // The apk database files.
    let mut installed = base.installed.clone();
    let mut scripts = match &base.scripts {
        Some(b) => ScriptsTar::parse(b, &format!("{}/scripts.tar", base.db_dir))
            .map_err(|e| LayerError::Base(e.to_string()))?,
        None => ScriptsTar::new(),
    };
    let mut triggers = match &base.triggers {
        Some(t) => Triggers::parse(t, &format!("{}/triggers", base.db_dir))
            .map_err(|e| LayerError::Base(e.to_string()))?,
        None => Triggers::new(),
    };
    for (contents, owned) in &added {
        let record = InstalledRecord::new(&contents.info, &record_dirs(owned))
            .map_err(|e| LayerError::Base(format!("{}: {e}", contents.info.name_version())))?;
        installed.push(record);
        for s in &contents.scripts {
            if let Some(kind) = ScriptKind::parse(&s.kind) {
                let t = contents.info.build_time.unwrap_or(mtime);
                scripts
                    .push(
                        &contents.info.name_version(),
                        &contents.identity,
                        kind,
                        &s.content,
                        t,
                    )
                    .map_err(|e| LayerError::Base(e.to_string()))?;
            }
        }
        let globs: Vec<&str> = contents.info.triggers.split_ascii_whitespace().collect();
        if !globs.is_empty() && contents.scripts.iter().any(|s| s.kind == "trigger") {
            triggers
                .push(&contents.identity, globs)
                .map_err(|e| LayerError::Base(e.to_string()))?;
        }
    }
    let mut extra: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let db_dir = base_fs.resolve_parents(&base.db_dir);
    extra.insert(format!("{db_dir}/installed"), installed.write());
    extra.insert(format!("{db_dir}/scripts.tar"), scripts.write());
    extra.insert(format!("{db_dir}/triggers"), triggers.write());
    extra.insert(
        "etc/apk/world".into(),
        world_text(base.world.as_deref(), &spec.world).into_bytes(),
    );
    if !spec.repositories.is_empty() || base.repositories.is_some() {
        let mut text = base.repositories.clone().unwrap_or_default();
        for r in &spec.repositories {
            if !text.lines().any(|l| l.trim() == r) {
                if !text.is_empty() && !text.ends_with('\n') {
                    text.push('\n');
                }
                text.push_str(r);
                text.push('\n');
            }
        }
        extra.insert("etc/apk/repositories".into(), text.into_bytes());
    }
    for (name, pem) in &spec.keys {
        extra.insert(format!("etc/apk/keys/{name}"), pem.clone());
    }
    for (path, bytes) in &extra {
        counter += 1;
        let p = staging.path().join(counter.to_string());
        std::fs::write(&p, bytes)?;
        let path = base_fs.resolve_parents(path);
        entries.insert(
            path,
            Staged {
                kind: EntryKind::File,
                mode: 0o644,
                uid: 0,
                gid: 0,
                size: bytes.len() as u64,
                xattrs: Vec::new(),
                content: Some(p),
            },
        );
    }
    add_missing_parents(&mut entries, base_fs);

    let file = assemble_io::atomic::temp_file_in(dir, ".layer-")?;
    let (diff_id, digest, size) = write_tar(&entries, mtime, file.as_file())?;
    Ok(Layer {
        file,
        digest,
        diff_id,
        size,
        installed,
        added: added.into_iter().map(|(c, _)| c.info).collect(),
        warnings,
        mtime,
    })
}

/// The world file: the base's atoms plus the added ones (same-name atoms
/// replaced), sorted, one per line, as apk writes it.
fn world_text(base: Option<&str>, added: &[String]) -> String {
    let mut atoms: Vec<String> = base
        .map(|b| b.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    let name = |a: &str| {
        a.trim_start_matches('!')
            .split(['<', '>', '=', '~', '@'])
            .next()
            .unwrap_or("")
            .to_owned()
    };
    for a in added {
        atoms.retain(|x| name(x) != name(a));
        atoms.push(a.clone());
    }
    atoms.sort();
    atoms.iter().map(|a| format!("{a}\n")).collect()
}

/// Adds directory entries for parents the layer needs but neither the base
/// nor a package provides.
fn add_missing_parents(entries: &mut BTreeMap<String, Staged>, base: &dyn BaseFs) {
    let mut missing = BTreeSet::new();
    for path in entries.keys() {
        let mut p = path.as_str();
        while let Some((parent, _)) = p.rsplit_once('/') {
            if !entries.contains_key(parent) && base.kind(parent) != Some(BaseKind::Dir) {
                missing.insert(parent.to_owned());
            }
            p = parent;
        }
    }
    for m in missing {
        entries.insert(
            m,
            Staged {
                kind: EntryKind::Directory,
                mode: 0o755,
                uid: 0,
                gid: 0,
                size: 0,
                xattrs: Vec::new(),
                content: None,
            },
        );
    }
}

/// Writes the sorted entries as a gzip tar; returns (diff_id, digest, size).
fn write_tar(
    entries: &BTreeMap<String, Staged>,
    mtime: u64,
    out: &File,
) -> io::Result<(String, String, u64)> {
    let compressed = Sha256Writer::new(BufWriter::new(out));
    let gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(compressed, Compression::new(6));
    let mut tar = Sha256Writer::new(gz);
    for (path, e) in entries {
        let mut h = EntryHeader::new(path, e.kind.clone(), e.mode, mtime);
        h.uid = e.uid;
        h.gid = e.gid;
        for (k, v) in &e.xattrs {
            h.pax.push((format!("SCHILY.xattr.{k}"), v.clone()));
        }
        match &e.content {
            Some(p) => {
                h.size = e.size;
                tarball::write_header(&mut tar, &h)?;
                let copied = io::copy(&mut File::open(p)?, &mut tar)?;
                if copied != e.size {
                    return Err(io::Error::other(format!("{path}: staged size changed")));
                }
                tarball::write_padding(&mut tar, copied)?;
            }
            None => tarball::write_header(&mut tar, &h)?,
        }
    }
    tarball::write_end(&mut tar)?;
    let (tar_hash, _, gz) = tar.finish();
    let mut compressed = gz.finish()?;
    compressed.flush()?;
    let (hash, len, _) = compressed.finish();
    Ok((
        format!("sha256:{}", hex::encode(tar_hash)),
        format!("sha256:{}", hex::encode(hash)),
        len,
    ))
}

/// Convenience for tests and callers: the staged file contents of a layer
/// as `(path, kind)` pairs, reading the finished gzip tar.
pub fn list(layer: &Path) -> io::Result<Vec<(String, tar::EntryType)>> {
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(File::open(layer)?));
    let mut out = Vec::new();
    for e in ar.entries()? {
        let e = e?;
        out.push((
            String::from_utf8_lossy(&e.path_bytes()).into_owned(),
            e.header().entry_type(),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use apk::index::archive::{self, Trust};
    use apk::index::text::{self, Strictness};

    use testkit::corpus;

    /// The Alpine 3.16.9 minirootfs as a base: its tree and apk state.
    struct Minirootfs {
        kinds: HashMap<String, BaseKind>,
    }

    impl BaseFs for Minirootfs {
        fn kind(&self, path: &str) -> Option<BaseKind> {
            self.kinds.get(path).copied()
        }
        fn resolve_parents(&self, path: &str) -> String {
            path.to_owned()
        }
    }

    fn minirootfs() -> (Minirootfs, BaseState) {
        let f = File::open(corpus("rootfs/alpine-minirootfs-3.16.9-x86_64.tar.gz")).unwrap();
        let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(f));
        let mut kinds = HashMap::new();
        let mut state = BaseState {
            db_dir: "lib/apk/db".into(),
            ..Default::default()
        };
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let path = String::from_utf8_lossy(&e.path_bytes())
                .trim_start_matches("./")
                .trim_end_matches('/')
                .to_owned();
            let kind = match e.header().entry_type() {
                tar::EntryType::Directory => BaseKind::Dir,
                tar::EntryType::Symlink => BaseKind::Symlink,
                tar::EntryType::Regular | tar::EntryType::Link => BaseKind::File,
                _ => BaseKind::Other,
            };
            let mut text = || {
                let mut s = String::new();
                e.read_to_string(&mut s).unwrap();
                s
            };
            match path.as_str() {
                "lib/apk/db/installed" => {
                    state.installed = InstalledDb::parse(&text(), "installed").unwrap()
                }
                "lib/apk/db/triggers" => state.triggers = Some(text()),
                "etc/apk/world" => state.world = Some(text()),
                "etc/apk/repositories" => state.repositories = Some(text()),
                "lib/apk/db/scripts.tar" => {
                    let mut b = Vec::new();
                    e.read_to_end(&mut b).unwrap();
                    state.scripts = Some(b);
                }
                _ => {}
            }
            kinds.insert(path, kind);
        }
        (Minirootfs { kinds }, state)
    }

    fn repo_small(names: &[&str]) -> Vec<PackageFile> {
        let dir = corpus("apk/repo-small/packages/x86_64");
        let ring = Keyring::load(&[corpus("apk/repo-small/melange.rsa.pub")]).unwrap();
        let idx = archive::read_file(&dir.join("APKINDEX.tar.gz"), &ring, Trust::Verify).unwrap();
        let parsed = text::parse(&idx.text, "APKINDEX", Strictness::Strict).unwrap();
        names
            .iter()
            .map(|n| {
                let r = parsed.records.iter().find(|r| r.info.name == *n).unwrap();
                PackageFile {
                    path: dir.join(format!("{}.apk", r.info.name_version())),
                    identity: r.info.checksum.unwrap(),
                }
            })
            .collect()
    }

    fn spec() -> LayerSpec {
        LayerSpec {
            world: vec!["custom-ca-certs-1".into(), "replayout".into()],
            mtime: Some(1_700_000_000),
            ..Default::default()
        }
    }

    #[test]
    fn adds_packages_on_the_alpine_base() {
        let (fs, base) = minirootfs();
        let tmp = tempfile::tempdir().unwrap();
        let pkgs = repo_small(&["custom-ca-certs-1", "pretend-baselayout", "replayout"]);
        let layer = build(&pkgs, &fs, &base, &spec(), tmp.path()).unwrap();
        assert_eq!(layer.installed.records.len(), 17);
        let names: Vec<String> = layer
            .installed
            .records
            .iter()
            .map(|r| r.info().name.to_string())
            .collect();
        assert_eq!(
            &names[14..],
            ["custom-ca-certs-1", "pretend-baselayout", "replayout"]
        );
        // replayout took etc/os-release from pretend-baselayout.
        let owns = |i: usize, path: &str| {
            layer.installed.records[i].dirs().iter().any(|d| {
                d.files
                    .iter()
                    .any(|f| format!("{}/{}", d.path, f.name) == path)
            })
        };
        assert!(owns(16, "etc/os-release") && !owns(15, "etc/os-release"));
        assert!(
            layer.warnings[0].contains("etc/os-release"),
            "{:?}",
            layer.warnings
        );
        let listing: Vec<String> = list(layer.file.path())
            .unwrap()
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        for want in [
            "etc/os-release",
            "usr/local/share/ca-certificates/cert-a.crt",
            "lib/apk/db/installed",
            "etc/apk/world",
        ] {
            assert!(
                listing.iter().any(|p| p == want),
                "{want} missing from {listing:?}"
            );
        }
        let mut sorted = listing.clone();
        sorted.sort();
        assert_eq!(listing, sorted, "entries are sorted");
        // Base records are kept byte for byte.
        let text = String::from_utf8(layer.installed.write()).unwrap();
        assert!(text.starts_with(&String::from_utf8(base.installed.write()).unwrap()));

        // Same inputs, same bytes.
        let again = build(&pkgs, &fs, &base, &spec(), tmp.path()).unwrap();
        assert_eq!(
            (&again.digest, &again.diff_id),
            (&layer.digest, &layer.diff_id)
        );
    }

    #[test]
    fn a_file_owned_by_a_base_package_is_a_conflict() {
        let (fs, base) = minirootfs();
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root/etc");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("motd"), "mine\n").unwrap();
        let info = PackageInfo {
            name: "my-motd".into(),
            version: "1-r0".into(),
            arch: "x86_64".into(),
            ..Default::default()
        };
        let out = tmp.path().join("my-motd-1-r0.apk");
        let meta = apk::package::write::build(&tmp.path().join("root"), &info, &[], None, 0, &out)
            .unwrap();
        let pkgs = vec![PackageFile {
            path: out,
            identity: meta.checksum.unwrap(),
        }];
        let err = build(&pkgs, &fs, &base, &spec(), tmp.path()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("etc/motd")
                && text.contains("alpine-baselayout-3.2.0-r23")
                && text.contains("my-motd"),
            "{text}"
        );
    }
}
