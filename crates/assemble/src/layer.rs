//! The one layer an image build adds: the added packages' files plus the
//! updated apk database, as a deterministic, gzip-compressed tar.
//!
//! Each package is read once, streaming: file contents go to a staging
//! directory on disk (never memory), metadata to a sorted map, and every
//! entry is judged against the filesystem a container runtime will see —
//! the **union** of the source image's layers and this layer as staged so
//! far ([`Union`]):
//!
//! - Paths are resolved through symbolic links of the base and of the
//!   added packages (absolute and relative targets, chains, `..` clamped at
//!   the root), so a file written below `lib/` when the base has
//!   `lib -> usr/lib` lands at `usr/lib/…`, where apk itself would put it,
//!   and a directory entry for a path the base has as a symlink to a
//!   directory is dropped instead of replacing the link. The layer never
//!   holds an entry below a symlink, so applying it (by a runtime, umoci or
//!   a naive `tar -x`) cannot write through one, whatever the entry order.
//! - A directory never replaces a file and a non-directory never replaces a
//!   directory (or a symlink standing for one): such packages are refused,
//!   as apk refuses them.
//! - Ownership and conflicts are decided on the resolved path, for the base
//!   database's paths and the added packages' alike, with apk's `replaces`
//!   rules; the database keeps the paths as the packages wrote them.
//! - Limits a runtime will not accept (long names, huge ids, reserved
//!   whiteout names, overlay xattrs) are refused ([`check_entry`]).
//!
//! Only when every package is in and no problem was found is the layer
//! written, in sorted path order, from the staging directory — so a refused
//! package never produces output, and the tar's bytes depend only on the
//! packages and the build time.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;

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
use assemble_io::escape::escape;
use assemble_io::tarball::{self, Compression, EntryHeader, EntryKind, LayerTar};
use assemble_io::url::strip_credentials;
use oci_image::rootfs::{self, join, split_last, NodeKind, RootFs, Step, WalkError};

/// Longest file name (one path component) Linux filesystems accept.
pub const MAX_NAME: usize = 255;
/// Longest path (and link target) a runtime can create (`PATH_MAX` minus
/// the terminating NUL).
pub const MAX_PATH: usize = 4095;
/// Highest uid/gid an added file may have. Rootless runtimes and Kubernetes
/// user namespaces map 65536 ids, so an image with a higher one fails to
/// unpack there (and `2^32 - 1` is `(uid_t)-1`, invalid everywhere).
pub const MAX_ID: u64 = 65535;
/// Refusals listed in one error before the rest are only counted.
const MAX_LISTED: usize = 50;

/// What the base image has at a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BaseKind {
    /// A regular file (or hard link).
    File,
    /// A directory.
    Dir,
    /// A symbolic link, with its target as written.
    Symlink(String),
    /// A device node, FIFO or socket.
    Other,
}

/// The base image's filesystem as the layer writer needs it: what is at a
/// path. Resolution through symbolic links is the layer writer's job (it
/// must see the base and the new layer together).
pub trait BaseFs {
    /// What is at the normalised relative `path` (the last component not
    /// followed).
    fn kind(&self, path: &str) -> Option<BaseKind>;
}

impl BaseFs for RootFs {
    fn kind(&self, path: &str) -> Option<BaseKind> {
        self.nodes().get(path).map(|n| match &n.kind {
            NodeKind::File | NodeKind::Hardlink(_) => BaseKind::File,
            NodeKind::Dir => BaseKind::Dir,
            NodeKind::Symlink(t) => BaseKind::Symlink(t.clone()),
            NodeKind::Other => BaseKind::Other,
        })
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
    /// Layers to split the packages into ([`split`]); 0 or 1: one.
    pub layers: usize,
    /// How the layers are compressed.
    pub compression: Compression,
    /// Files the declaration generates (accounts, certificates, runtime
    /// keys), each replacing what the base or a package has at its path.
    pub files: Vec<GeneratedFile>,
    /// Directories to create where nothing is (home directories).
    pub dirs: Vec<GeneratedDir>,
}

/// A file of the layer made from the declaration, not from a package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeneratedFile {
    /// Normalised relative path.
    pub path: String,
    /// Content.
    pub content: Vec<u8>,
    /// Permission bits.
    pub mode: u32,
}

/// A directory of the layer made from the declaration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeneratedDir {
    /// Normalised relative path.
    pub path: String,
    /// Owner.
    pub uid: u64,
    /// Group.
    pub gid: u64,
    /// Permission bits.
    pub mode: u32,
}

/// One written layer blob.
#[derive(Debug)]
pub struct LayerPart {
    /// The compressed layer, a temporary file.
    pub file: tempfile::NamedTempFile,
    /// `sha256:` of the compressed bytes (the blob digest).
    pub digest: String,
    /// `sha256:` of the uncompressed tar (the diff_id).
    pub diff_id: String,
    /// Compressed size.
    pub size: u64,
    /// Names of the packages whose files it holds, in install order.
    pub packages: Vec<String>,
    /// Whether it holds the apk database (the last part does).
    pub database: bool,
}

/// What the build adds: one layer, or with [`LayerSpec::layers`] > 1
/// several, bottom first (the last holds the apk database).
#[derive(Debug)]
pub struct Layer {
    /// The layer blobs, bottom first.
    pub parts: Vec<LayerPart>,
    /// The new installed database (base records unchanged, new appended).
    pub installed: InstalledDb,
    /// Metadata of the added packages, in install order.
    pub added: Vec<PackageInfo<'static>>,
    /// Things the user should know.
    pub warnings: Vec<LayerWarning>,
    /// The entry time used.
    pub mtime: u64,
}

/// Something the layer writer did that the user should know (paths and
/// names already escaped for a terminal).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LayerWarning {
    /// Files of the source image that no package owns were overwritten.
    OverwritesUnowned(Vec<String>),
    /// Packages whose install scripts were recorded but not run.
    ScriptsNotRun(Vec<String>),
}

impl std::fmt::Display for LayerWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LayerWarning::OverwritesUnowned(paths) => write!(
                f,
                "overwriting files of the source image that no package owns: {}",
                paths.join(" ")
            ),
            LayerWarning::ScriptsNotRun(packages) => write!(
                f,
                "install scripts were recorded but not run (no container runtime): {}",
                packages.join(" ")
            ),
        }
    }
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
    /// Entries that cannot be written safely (and any conflicts found too).
    #[error("refusing what the packages would do to the image (nothing was written):\n{}{}",
        .refused.join("\n"),
        if .conflicts.is_empty() { String::new() } else { format!("\nfile conflicts:\n{}", .conflicts.join("\n")) })]
    Refused {
        /// One line per refused entry: package, path, reason.
        refused: Vec<String>,
        /// Ownership conflicts found as well.
        conflicts: Vec<String>,
    },
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

    fn label(&self) -> String {
        escape(&format!("{}-{}", self.name, self.version)).into_owned()
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
    /// A parent directory no package declared (created 0755, root-owned).
    implicit: bool,
}

impl Staged {
    fn from_entry(e: &DataEntry, content: Option<PathBuf>) -> Staged {
        Staged {
            kind: e.kind.clone(),
            mode: e.mode,
            uid: e.uid,
            gid: e.gid,
            size: e.size,
            xattrs: e.xattrs.clone(),
            content,
            implicit: false,
        }
    }

    fn implicit_dir() -> Staged {
        Staged {
            kind: EntryKind::Directory,
            mode: 0o755,
            uid: 0,
            gid: 0,
            size: 0,
            xattrs: Vec::new(),
            content: None,
            implicit: true,
        }
    }

    fn file(content: PathBuf, size: u64) -> Staged {
        Staged {
            kind: EntryKind::File,
            mode: 0o644,
            size,
            content: Some(content),
            ..Staged::implicit_dir()
        }
    }
}

/// What the union has at a path (the last component not followed).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Node {
    Missing,
    Dir,
    Symlink(String),
    /// A file, hard link or special file: nothing can be below it.
    NonDir,
}

/// The image's filesystem as a runtime will see it: the base with the
/// layer staged so far on top (a staged entry hides the base's at its path;
/// the rules below never let a staged non-directory hide base content under
/// it, so no whiteouts are needed).
struct Union<'b> {
    base: &'b dyn BaseFs,
    entries: BTreeMap<String, Staged>,
    /// Parents as written → the existing directories they resolve to. Only
    /// a staged symlink can change such a resolution (nothing replaces a
    /// directory), so staging one clears the map.
    parents: HashMap<String, String>,
}

/// The proper ancestors of `path`, outermost first (`a`, `a/b` for `a/b/c`).
fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/').map(move |(i, _)| &path[..i])
}

impl<'b> Union<'b> {
    fn new(base: &'b dyn BaseFs) -> Union<'b> {
        Union {
            base,
            entries: BTreeMap::new(),
            parents: HashMap::new(),
        }
    }

    fn at(&self, path: &str) -> Node {
        if path.is_empty() {
            return Node::Dir;
        }
        if let Some(s) = self.entries.get(path) {
            return match &s.kind {
                EntryKind::Directory => Node::Dir,
                EntryKind::Symlink(t) => Node::Symlink(t.clone()),
                EntryKind::File | EntryKind::Hardlink(_) => Node::NonDir,
            };
        }
        match self.base.kind(path) {
            None => Node::Missing,
            Some(BaseKind::Dir) => Node::Dir,
            Some(BaseKind::Symlink(t)) => Node::Symlink(t),
            Some(BaseKind::File | BaseKind::Other) => Node::NonDir,
        }
    }

    /// Resolves `path` within the root (clamped at it, as a runtime does).
    fn resolve(&self, path: &str, follow_last: bool) -> Result<rootfs::Walked, WalkError> {
        let step = |p: &str| match self.at(p) {
            Node::Missing => Step::Missing,
            Node::Dir => Step::Dir,
            Node::Symlink(t) => Step::Symlink(t),
            Node::NonDir => Step::Other,
        };
        rootfs::walk(&step, path, follow_last, true)
    }

    /// `path` with its parent directories resolved (the last component as
    /// written): where an entry for `path` is to be written.
    fn place(&mut self, path: &str) -> Result<String, WalkError> {
        let (parent, name) = split_last(path);
        if parent.is_empty() {
            return Ok(name.to_owned());
        }
        let resolved = match self.parents.get(parent) {
            Some(r) => r.clone(),
            None => {
                let w = self.resolve(parent, true)?;
                if w.exists {
                    self.parents.insert(parent.to_owned(), w.path.clone());
                }
                w.path
            }
        };
        // A parent that resolves to a file is reported by the walk only when
        // the file is not the last component; check that case here.
        if self.at(&resolved) == Node::NonDir {
            return Err(WalkError::NotDir(resolved));
        }
        Ok(join(&resolved, name))
    }

    /// Who put what is at `path` there, for messages.
    fn whose(&self, path: &str) -> &'static str {
        if self.entries.contains_key(path) {
            "of an added package"
        } else {
            "of the source image"
        }
    }

    /// Whether `path` (following links) is a directory of the union.
    fn resolves_to_dir(&self, path: &str) -> Option<String> {
        let w = self.resolve(path, true).ok()?;
        (w.exists && self.at(&w.path) == Node::Dir).then_some(w.path)
    }

    /// Stages `s` at the resolved `path`, with implicit directories for
    /// missing parents.
    fn stage(&mut self, path: String, s: Staged) {
        let missing: Vec<String> = ancestors(&path)
            .filter(|a| self.at(a) == Node::Missing)
            .map(str::to_owned)
            .collect();
        for a in missing {
            self.entries.insert(a, Staged::implicit_dir());
        }
        if matches!(s.kind, EntryKind::Symlink(_)) {
            self.parents.clear();
        }
        self.entries.insert(path, s);
    }

    /// The safety property of the finished layer: every ancestor of every
    /// entry is a directory of the union, so unpacking the layer never
    /// follows a symlink. Returns the offending paths.
    fn entries_below_non_directories(&self) -> Vec<String> {
        self.entries
            .keys()
            .filter(|p| ancestors(p).any(|a| self.at(a) != Node::Dir))
            .cloned()
            .collect()
    }

    /// Hard links in a tar must name an entry that comes earlier; entries
    /// are written sorted, so the content goes to the smallest path of each
    /// group of links and the others link to it.
    fn order_hard_links(&mut self) -> Result<(), String> {
        let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (path, s) in &self.entries {
            if let EntryKind::Hardlink(t) = &s.kind {
                groups.entry(t.clone()).or_default().push(path.clone());
            }
        }
        for (target, links) in groups {
            if !matches!(
                self.entries.get(&target).map(|s| &s.kind),
                Some(EntryKind::File)
            ) {
                return Err(format!(
                    "`{}`: the hard link's target `{}` is not a file of the layer",
                    escape(&links[0]),
                    escape(&target)
                ));
            }
            let first = links.iter().min().filter(|l| **l < target).cloned();
            let Some(first) = first else { continue };
            let content = self.entries[&target].clone();
            for l in links.iter().filter(|l| **l != first) {
                if let Some(s) = self.entries.get_mut(l) {
                    s.kind = EntryKind::Hardlink(first.clone());
                }
            }
            if let Some(s) = self.entries.get_mut(&target) {
                *s = Staged {
                    kind: EntryKind::Hardlink(first.clone()),
                    content: None,
                    size: 0,
                    ..content.clone()
                };
            }
            self.entries.insert(first, content);
        }
        Ok(())
    }
}

/// Checks what a runtime (and our tar writer) can represent: name and path
/// lengths, ids, reserved whiteout names and overlay xattrs.
pub fn check_entry(e: &DataEntry) -> Result<(), String> {
    if e.path.len() > MAX_PATH {
        return Err(format!(
            "the path is {} bytes long; at most {MAX_PATH} are allowed",
            e.path.len()
        ));
    }
    for c in e.path.split('/') {
        if c.len() > MAX_NAME {
            return Err(format!(
                "a path component is {} bytes long; at most {MAX_NAME} are allowed",
                c.len()
            ));
        }
        if c.starts_with(".wh.") {
            return Err(
                "names starting with `.wh.` are whiteouts in OCI layers (they would delete files of the image)"
                    .to_owned(),
            );
        }
    }
    if let EntryKind::Symlink(t) | EntryKind::Hardlink(t) = &e.kind {
        if t.is_empty() || t.len() > MAX_PATH || t.contains('\0') {
            return Err(format!(
                "the link target must be 1 to {MAX_PATH} bytes without NUL"
            ));
        }
    }
    for (what, id) in [("uid", e.uid), ("gid", e.gid)] {
        if id > MAX_ID {
            return Err(format!(
                "{what} {id} is above {MAX_ID}; runtimes with user namespaces (rootless, Kubernetes) cannot create it"
            ));
        }
    }
    if let Some((name, _)) = e
        .xattrs
        .iter()
        .find(|(k, _)| k.starts_with("trusted.overlay.") || k.starts_with("user.overlay."))
    {
        return Err(format!(
            "the extended attribute `{}` would change how overlay filesystems merge the layers",
            escape(name)
        ));
    }
    Ok(())
}

/// What the packages ended up owning, and what went wrong on the way.
struct Judge<'b> {
    union: Union<'b>,
    staging: PathBuf,
    counter: u64,
    /// Owner of each resolved non-directory path, with the path as its
    /// owner wrote it.
    owners: HashMap<String, (Rc<Owner>, String)>,
    conflicts: Vec<String>,
    refused: Vec<String>,
    refused_more: usize,
    overwritten_unowned: BTreeSet<String>,
}

impl Judge<'_> {
    fn refuse(&mut self, who: &str, path: &str, reason: impl AsRef<str>) {
        if self.refused.len() >= MAX_LISTED {
            self.refused_more += 1;
            return;
        }
        self.refused
            .push(format!("  {who}: `{}`: {}", escape(path), reason.as_ref()));
    }

    fn stage_content(&mut self, content: &mut dyn Read) -> io::Result<PathBuf> {
        self.counter += 1;
        let p = self.staging.join(self.counter.to_string());
        let mut f = BufWriter::new(File::create(&p)?);
        io::copy(content, &mut f)?;
        f.flush()?;
        Ok(p)
    }
}

/// Per-package state while reading it.
struct Stager<'j, 'b> {
    judge: &'j mut Judge<'b>,
    me: Rc<Owner>,
    /// Files and directories this package ends up owning, as written in
    /// the package (for its database record).
    owned: Vec<DataEntry>,
    /// Owners that lost a path to this package: (added index, path as the
    /// earlier owner wrote it).
    taken: Vec<(usize, String)>,
}

impl DataVisitor for Stager<'_, '_> {
    fn start(&mut self, info: &PackageInfo<'_>) -> io::Result<()> {
        self.me = Rc::new(Owner::from_info(info, self.me.added));
        Ok(())
    }

    fn entry(&mut self, e: &DataEntry, content: &mut dyn Read) -> io::Result<()> {
        let who = self.me.label();
        if let Err(reason) = check_entry(e) {
            self.judge.refuse(&who, &e.path, reason);
            return Ok(());
        }
        let target = match self.judge.union.place(&e.path) {
            Ok(t) => t,
            Err(w) => {
                self.judge.refuse(&who, &e.path, w.reason());
                return Ok(());
            }
        };
        let shown = |target: &str| {
            if target == e.path {
                String::new()
            } else {
                format!(" (`{}` in the image)", escape(target))
            }
        };
        if e.kind == EntryKind::Directory {
            return self.directory(e, target, &who, &shown);
        }
        let what = match &e.kind {
            EntryKind::Symlink(_) => "a symbolic link",
            EntryKind::Hardlink(_) => "a hard link",
            _ => "a file",
        };
        match self.judge.union.at(&target) {
            Node::Dir => {
                let reason = format!(
                    "{what} cannot replace the directory{} {}; apk refuses this too",
                    shown(&target),
                    self.judge.union.whose(&target)
                );
                self.judge.refuse(&who, &e.path, reason);
                return Ok(());
            }
            Node::Symlink(t) => {
                if let Some(dir) = self.judge.union.resolves_to_dir(&target) {
                    // Re-declaring the link with the same meaning is fine.
                    let same = match &e.kind {
                        EntryKind::Symlink(new) => {
                            let (parent, _) = split_last(&target);
                            let via = if new.starts_with('/') {
                                new.clone()
                            } else {
                                join(parent, new)
                            };
                            self.judge.union.resolves_to_dir(&via).as_deref() == Some(&dir)
                        }
                        _ => false,
                    };
                    if !same {
                        let reason = format!(
                            "{what} cannot replace the symbolic link{} to the directory `{}` (`-> {}`)",
                            shown(&target),
                            escape(&dir),
                            escape(&t)
                        );
                        self.judge.refuse(&who, &e.path, reason);
                        return Ok(());
                    }
                }
            }
            Node::Missing | Node::NonDir => {}
        }
        let hardlink = match &e.kind {
            EntryKind::Hardlink(t) => match self.judge.union.place(t) {
                Ok(resolved)
                    if matches!(
                        self.judge.union.entries.get(&resolved).map(|s| &s.kind),
                        Some(EntryKind::File)
                    ) =>
                {
                    Some(resolved)
                }
                _ => {
                    let reason = format!(
                        "the hard link's target `{}` is not a file this package wrote",
                        escape(t)
                    );
                    self.judge.refuse(&who, &e.path, reason);
                    return Ok(());
                }
            },
            _ => None,
        };
        match self.judge.owners.get(&target) {
            Some((old, old_path)) => match decide(old, &self.me) {
                Decision::Keep => return Ok(()),
                Decision::Conflict => {
                    let line = format!(
                        "  {}{}: {} would overwrite it, but it belongs to {}{}; fix: add `replaces = {}` to {}, \
                         or do not install both",
                        escape(&e.path),
                        shown(&target),
                        who,
                        old.label(),
                        if old.added.is_none() { " (in the source image)" } else { "" },
                        escape(&old.name),
                        escape(&self.me.name)
                    );
                    self.judge.conflicts.push(line);
                    return Ok(());
                }
                Decision::Overwrite => {
                    if let Some(i) = old.added {
                        self.taken.push((i, old_path.clone()));
                    }
                }
            },
            None => {
                if !self.judge.union.entries.contains_key(&target)
                    && self.judge.union.base.kind(&target).is_some()
                {
                    self.judge.overwritten_unowned.insert(target.clone());
                }
            }
        }
        self.judge
            .owners
            .insert(target.clone(), (self.me.clone(), e.path.clone()));
        self.owned.push(e.clone());
        let file = match e.kind {
            EntryKind::File => Some(self.judge.stage_content(content)?),
            _ => None,
        };
        let mut s = Staged::from_entry(e, file);
        if let Some(resolved) = hardlink {
            s.kind = EntryKind::Hardlink(resolved);
        }
        self.judge.union.stage(target, s);
        Ok(())
    }
}

impl Stager<'_, '_> {
    fn directory(
        &mut self,
        e: &DataEntry,
        target: String,
        who: &str,
        shown: &dyn Fn(&str) -> String,
    ) -> io::Result<()> {
        let union = &mut self.judge.union;
        match union.at(&target) {
            Node::Dir => {
                // A directory no package declared yet takes this one's
                // attributes; the base's and other packages' stay as they are.
                if let Some(s) = union.entries.get_mut(&target).filter(|s| s.implicit) {
                    *s = Staged::from_entry(e, None);
                }
            }
            Node::Missing => union.stage(target, Staged::from_entry(e, None)),
            Node::Symlink(link) => match union.resolve(&target, true) {
                // The link already provides the directory: keep it.
                Ok(w) if w.exists && union.at(&w.path) == Node::Dir => {}
                Ok(w) if !w.exists => union.stage(w.path, Staged::from_entry(e, None)),
                Ok(w) => {
                    let reason = format!(
                        "a directory cannot replace the symbolic link{} `-> {}`, which leads to the file `{}`",
                        shown(&target),
                        escape(&link),
                        escape(&w.path)
                    );
                    self.judge.refuse(who, &e.path, reason);
                    return Ok(());
                }
                Err(w) => {
                    self.judge.refuse(who, &e.path, w.reason());
                    return Ok(());
                }
            },
            Node::NonDir => {
                let reason = format!(
                    "a directory cannot replace the file{} {}; apk refuses this too",
                    shown(&target),
                    self.judge.union.whose(&target)
                );
                self.judge.refuse(who, &e.path, reason);
                return Ok(());
            }
        }
        self.owned.push(e.clone());
        Ok(())
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
    let mut judge = Judge {
        union: Union::new(base_fs),
        staging: staging.path().to_owned(),
        counter: 0,
        owners: HashMap::new(),
        conflicts: Vec::new(),
        refused: Vec::new(),
        refused_more: 0,
        overwritten_unowned: BTreeSet::new(),
    };
    // The base database's paths, resolved through the base's symlinks: a
    // file reached through another spelling is still its package's.
    for rec in &base.installed.records {
        let owner = Rc::new(Owner::from_info(&rec.info(), None));
        for d in rec.dirs() {
            for f in d.files {
                let path = join(&d.path, &f.name);
                let key = judge.union.place(&path).unwrap_or_else(|_| path.clone());
                judge.owners.insert(key, (owner.clone(), path));
            }
        }
    }
    let keyring = Keyring::new();
    let mut added: Vec<(PackageContents, Vec<DataEntry>)> = Vec::new();
    for p in packages {
        let options = ReadOptions {
            keyring: &keyring,
            signature: SignatureCheck::Skip,
            expected_identity: Some(p.identity),
        };
        let mut stager = Stager {
            judge: &mut judge,
            // Filled in by `start` once the package's .PKGINFO is read.
            me: Rc::new(Owner::from_info(&PackageInfo::default(), Some(added.len()))),
            owned: Vec::new(),
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

    let mtime = spec.mtime.unwrap_or_else(|| {
        added
            .iter()
            .filter_map(|(c, _)| c.info.build_time)
            .max()
            .unwrap_or(0)
    });
    let mut warnings = Vec::new();
    if !judge.overwritten_unowned.is_empty() {
        let list: Vec<String> = judge
            .overwritten_unowned
            .iter()
            .map(|p| escape(p).into_owned())
            .collect();
        warnings.push(LayerWarning::OverwritesUnowned(list));
    }
    let with_scripts: Vec<String> = added
        .iter()
        .filter(|(c, _)| c.scripts.iter().any(|s| s.kind != "trigger"))
        .map(|(c, _)| escape(&c.info.name_version()).into_owned())
        .collect();
    if !with_scripts.is_empty() {
        warnings.push(LayerWarning::ScriptsNotRun(with_scripts));
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
    let db_dir = &base.db_dir;
    extra.insert(format!("{db_dir}/installed"), installed.write());
    extra.insert(format!("{db_dir}/scripts.tar"), scripts.write());
    extra.insert(format!("{db_dir}/triggers"), triggers.write());
    extra.insert(
        "etc/apk/world".into(),
        world_text(base.world.as_deref(), &spec.world).into_bytes(),
    );
    if !spec.repositories.is_empty() || base.repositories.is_some() {
        let text = repositories_text(base.repositories.as_deref(), &spec.repositories);
        extra.insert("etc/apk/repositories".into(), text.into_bytes());
    }
    for (name, pem) in &spec.keys {
        extra.insert(format!("etc/apk/keys/{name}"), pem.clone());
    }
    let mut modes: HashMap<&str, u32> = HashMap::new();
    for f in &spec.files {
        extra.insert(f.path.clone(), f.content.clone());
        modes.insert(&f.path, f.mode);
    }
    stage_dirs(&mut judge, &spec.dirs);
    for (path, bytes) in &extra {
        // Written like apk writes them: replacing a file or a link, never
        // a directory (or a link to one).
        let placed =
            judge.union.place(path).ok().filter(|t| {
                judge.union.at(t) != Node::Dir && judge.union.resolves_to_dir(t).is_none()
            });
        let Some(target) = placed else {
            judge.refuse(
                "cargo-assemble",
                path,
                "the packages left no place for this apk database file (a directory or a symbolic link is in the way)",
            );
            continue;
        };
        let content = judge.stage_content(&mut &bytes[..])?;
        let mut staged = Staged::file(content, bytes.len() as u64);
        if let Some(&mode) = modes.get(path.as_str()) {
            staged.mode = mode;
        }
        judge.union.stage(target, staged);
    }
    if let Err(reason) = judge.union.order_hard_links() {
        judge.refuse("cargo-assemble", "", reason);
    }
    // Defence in depth: the rules above keep this empty.
    for p in judge.union.entries_below_non_directories() {
        judge.refuse(
            "cargo-assemble",
            &p,
            "an entry of the layer lies below a symbolic link or file of the image",
        );
    }
    if judge.refused_more > 0 {
        judge
            .refused
            .push(format!("  … and {} more", judge.refused_more));
    }
    if !judge.refused.is_empty() {
        return Err(LayerError::Refused {
            refused: judge.refused,
            conflicts: judge.conflicts,
        });
    }
    if !judge.conflicts.is_empty() {
        return Err(LayerError::Conflicts(judge.conflicts));
    }

    let buckets = split(&added, spec.layers);
    let groups = if buckets.count == 1 {
        vec![std::borrow::Cow::Borrowed(&judge.union.entries)]
    } else {
        partition(&mut judge, &added, &buckets, &extra)
            .into_iter()
            .map(std::borrow::Cow::Owned)
            .collect()
    };
    let mut parts = Vec::new();
    for (b, entries) in groups.iter().enumerate() {
        let file = assemble_io::atomic::temp_file_in(dir, ".layer-")?;
        let (diff_id, digest, size) = write_tar(entries, mtime, spec.compression, file.as_file())?;
        let packages = added
            .iter()
            .zip(&buckets.of)
            .filter(|(_, &at)| at == b)
            .map(|((c, _), _)| c.info.name.to_string())
            .collect();
        parts.push(LayerPart {
            file,
            digest,
            diff_id,
            size,
            packages,
            database: b + 1 == buckets.count,
        });
    }
    Ok(Layer {
        parts,
        installed,
        added: added.into_iter().map(|(c, _)| c.info).collect(),
        warnings,
        mtime,
    })
}

/// Stages the declaration's directories where the union has nothing
/// (one the packages made is kept as they made it); a file or a link in
/// the way is refused.
fn stage_dirs(judge: &mut Judge<'_>, dirs: &[GeneratedDir]) {
    for d in dirs {
        match judge.union.place(&d.path) {
            Ok(target) if judge.union.at(&target) == Node::Missing => judge.union.stage(
                target,
                Staged {
                    kind: EntryKind::Directory,
                    mode: d.mode,
                    uid: d.uid,
                    gid: d.gid,
                    implicit: false,
                    ..Staged::implicit_dir()
                },
            ),
            Ok(target) if judge.union.resolves_to_dir(&target).is_some() => {}
            _ => judge.refuse(
                "cargo-assemble",
                &d.path,
                "a declared directory cannot be created here (a file or a symbolic link is in the way)",
            ),
        }
    }
}

/// Which layer each added package goes to.
#[derive(Debug, PartialEq, Eq)]
struct Buckets {
    /// Per added package (install order), its layer.
    of: Vec<usize>,
    /// How many layers; the last holds the apk database and the packages
    /// of no group of their own.
    count: usize,
}

/// Groups the added packages by origin and gives the `layers - 1` largest
/// groups (installed size, then origin name) a layer each, ordered by
/// origin name; the rest share the last layer with the apk database. The
/// grouping depends only on names and sizes, so upgrading one package
/// changes its group's layer and the database layer, not the others.
fn split(added: &[(PackageContents, Vec<DataEntry>)], layers: usize) -> Buckets {
    if layers <= 1 {
        return Buckets {
            of: vec![0; added.len()],
            count: 1,
        };
    }
    let origin = |c: &PackageContents| {
        if c.info.origin.is_empty() {
            c.info.name.to_string()
        } else {
            c.info.origin.to_string()
        }
    };
    let mut sizes: BTreeMap<String, u64> = BTreeMap::new();
    for (c, _) in added {
        *sizes.entry(origin(c)).or_default() += c.info.installed_size.unwrap_or(0);
    }
    let mut ranked: Vec<(&String, u64)> = sizes.iter().map(|(o, s)| (o, *s)).collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let mut own: Vec<&String> = ranked.iter().take(layers - 1).map(|(o, _)| *o).collect();
    own.sort();
    let count = own.len() + 1;
    let of = added
        .iter()
        .map(|(c, _)| {
            let o = origin(c);
            own.iter().position(|x| **x == o).unwrap_or(count - 1)
        })
        .collect();
    Buckets { of, count }
}

/// The staged entries split into the layers of `buckets`: a package's
/// files, links and directories go to its layer, a hard link to its
/// target's, the apk database files to the last; every layer also carries
/// the directories above its entries that the source does not have, so
/// each one unpacks on its own.
fn partition(
    judge: &mut Judge<'_>,
    added: &[(PackageContents, Vec<DataEntry>)],
    buckets: &Buckets,
    database: &BTreeMap<String, Vec<u8>>,
) -> Vec<BTreeMap<String, Staged>> {
    let top = buckets.count - 1;
    // Resolved path → layer: directories by their first declarer, other
    // entries by their final owner.
    let mut at: HashMap<String, usize> = HashMap::new();
    for ((_, owned), &b) in added.iter().zip(&buckets.of) {
        for e in owned.iter().filter(|e| e.kind == EntryKind::Directory) {
            if let Ok(p) = judge.union.place(&e.path) {
                at.entry(p).or_insert(b);
            }
        }
    }
    for (path, (owner, _)) in &judge.owners {
        if let Some(i) = owner.added {
            at.insert(path.clone(), buckets.of[i]);
        }
    }
    for path in database.keys() {
        if let Ok(p) = judge.union.place(path) {
            at.insert(p, top);
        }
    }
    let entries = &judge.union.entries;
    let layer_of = |path: &str, s: &Staged| match &s.kind {
        EntryKind::Hardlink(t) => at.get(t.as_str()).copied(),
        _ => at.get(path).copied(),
    };
    let mut out: Vec<BTreeMap<String, Staged>> = vec![BTreeMap::new(); buckets.count];
    for (path, s) in entries {
        match layer_of(path, s) {
            Some(b) => {
                out[b].insert(path.clone(), s.clone());
            }
            // An implicit directory: carried by the layers below it, or
            // else by the last.
            None if has_descendants(entries, path) => {}
            None => {
                out[top].insert(path.clone(), s.clone());
            }
        }
    }
    for layer in &mut out {
        let parents: BTreeSet<String> = layer
            .keys()
            .flat_map(|p| ancestors(p).map(str::to_owned))
            .filter(|a| !layer.contains_key(a) && entries.contains_key(a))
            .collect();
        for p in parents {
            layer.insert(p.clone(), entries[&p].clone());
        }
    }
    out
}

/// Whether some key of `entries` lies below `path`.
fn has_descendants(entries: &BTreeMap<String, Staged>, path: &str) -> bool {
    let prefix = format!("{path}/");
    entries
        .range(prefix.clone()..)
        .next()
        .is_some_and(|(p, _)| p.starts_with(&prefix))
}

/// `etc/apk/repositories`: the base's lines, then the added repositories
/// not already listed. Credentials written in URLs are removed (they belong
/// in `HTTP_AUTH` or netrc, never in the image).
fn repositories_text(base: Option<&str>, added: &[String]) -> String {
    let mut text = base.map(strip_credentials).unwrap_or_default();
    for r in added {
        let r = strip_credentials(r);
        if !text.lines().any(|l| l.trim() == r) {
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(&r);
            text.push('\n');
        }
    }
    text
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

/// Writes the sorted entries as a compressed tar; returns (diff_id,
/// digest, size).
fn write_tar(
    entries: &BTreeMap<String, Staged>,
    mtime: u64,
    compression: Compression,
    out: &File,
) -> io::Result<(String, String, u64)> {
    let mut tar = LayerTar::new(out, compression)?;
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
    let d = tar.finish()?;
    Ok((d.diff_id, d.digest, d.size))
}

/// For tests: the staged file contents of a layer as `(path, kind)` pairs,
/// reading the finished gzip tar.
#[cfg(test)]
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
    use testkit::corpus;
    use testkit::repo::{Pkg, Repo};

    /// The Alpine 3.16.9 minirootfs as a base: its tree and apk state.
    struct Minirootfs {
        kinds: HashMap<String, BaseKind>,
    }

    impl BaseFs for Minirootfs {
        fn kind(&self, path: &str) -> Option<BaseKind> {
            self.kinds.get(path).cloned()
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
                tar::EntryType::Symlink => BaseKind::Symlink(
                    String::from_utf8_lossy(&e.link_name_bytes().unwrap()).into_owned(),
                ),
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

    /// The three packages of the replaces scenario (a CA bundle, a
    /// baselayout owning `etc/os-release`, and a package replacing it),
    /// signed by a test key in `dir`.
    fn replaces_scenario(dir: &Path) -> Vec<PackageFile> {
        let mut repo = fresh_repo(dir);
        let pkgs = [
            Pkg::new("custom-ca-certs-1", "1.0.0-r0").file(
                "usr/local/share/ca-certificates/cert-a.crt",
                b"-----BEGIN CERTIFICATE-----\n",
                0o644,
            ),
            Pkg::new("pretend-baselayout", "1.0.0-r0").file(
                "etc/os-release",
                b"ID=pretend\n",
                0o644,
            ),
            Pkg::new("replayout", "1.0.0-r0")
                .replace("pretend-baselayout")
                .file("etc/os-release", b"ID=replaces\n", 0o644),
        ];
        pkgs.into_iter()
            .map(|p| {
                let (name, version) = (p.info.name.to_string(), p.info.version.to_string());
                let rec = repo.add(p);
                PackageFile {
                    path: repo.apk_path("x86_64", &name, &version),
                    identity: rec.checksum.unwrap(),
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

    /// Mode, owner and type of each entry of a layer file.
    fn entries(layer: &Path) -> BTreeMap<String, (u32, u64, tar::EntryType)> {
        let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(File::open(layer).unwrap()));
        ar.entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                let path = String::from_utf8_lossy(&e.path_bytes()).into_owned();
                let (mode, uid, kind) = (h.mode().unwrap(), h.uid().unwrap(), h.entry_type());
                (path, (mode, uid, kind))
            })
            .collect()
    }

    #[test]
    fn generated_files_replace_base_files_and_dirs_are_judged_like_entries() {
        let (fs, base) = minirootfs();
        let tmp = tempfile::tempdir().unwrap();
        let pkgs = replaces_scenario(tmp.path());
        let file = |path: &str, mode| GeneratedFile {
            path: path.into(),
            content: b"merged\n".to_vec(),
            mode,
        };
        let dir = |path: &str| GeneratedDir {
            path: path.into(),
            uid: 10001,
            gid: 10001,
            mode: 0o700,
        };
        let generated = LayerSpec {
            files: vec![file("etc/passwd", 0o644), file("etc/shadow", 0o640)],
            // `home` exists in the base, `var/run` is a link to /run there.
            dirs: vec![dir("home/app"), dir("home"), dir("var/run/app")],
            ..spec()
        };
        let layer = build(&pkgs, &fs, &base, &generated, tmp.path()).unwrap();
        let got = entries(layer.parts[0].file.path());
        assert_eq!(got["etc/passwd"].0, 0o644);
        assert_eq!(got["etc/shadow"].0, 0o640);
        assert_eq!(got["home/app"], (0o700, 10001, tar::EntryType::Directory));
        assert!(
            !got.contains_key("home"),
            "the base's directory stays as it is"
        );
        // Placed through the base's link, as a runtime would see it.
        assert!(got.contains_key("run/app") && !got.contains_key("var/run/app"));

        // A file of the base where a directory is declared: refused.
        let blocked = LayerSpec {
            dirs: vec![dir("etc/passwd/x"), dir("etc/os-release")],
            ..spec()
        };
        let err = build(&pkgs, &fs, &base, &blocked, tmp.path()).unwrap_err();
        let LayerError::Refused { refused, .. } = err else {
            panic!("{err:?}")
        };
        assert_eq!(refused.len(), 2, "{refused:?}");
        assert!(refused
            .iter()
            .all(|r| r.contains("a declared directory cannot be created")));
    }

    #[test]
    fn adds_packages_on_the_alpine_base() {
        let (fs, base) = minirootfs();
        let tmp = tempfile::tempdir().unwrap();
        let pkgs = replaces_scenario(tmp.path());
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
            layer.warnings[0].to_string().contains("etc/os-release"),
            "{:?}",
            layer.warnings
        );
        let listing: Vec<String> = list(layer.parts[0].file.path())
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
            (&again.parts[0].digest, &again.parts[0].diff_id),
            (&layer.parts[0].digest, &layer.parts[0].diff_id)
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

    /// A synthetic base: a usr-merged tree with Alpine's `var/run -> /run`,
    /// and a base package `base-files` owning `run/owned`,
    /// `usr/lib/libbase.so`, `etc/ssl/cert.pem`.
    struct Synthetic(HashMap<String, BaseKind>);

    impl BaseFs for Synthetic {
        fn kind(&self, path: &str) -> Option<BaseKind> {
            self.0.get(path).cloned()
        }
    }

    fn synthetic() -> (Synthetic, BaseState) {
        let link = |t: &str| BaseKind::Symlink(t.to_owned());
        let tree = [
            ("bin", link("usr/bin")),
            ("lib", link("usr/lib")),
            ("sbin", link("/usr/bin")),
            ("etc", BaseKind::Dir),
            ("etc/ssl", BaseKind::Dir),
            ("etc/ssl/cert.pem", BaseKind::File),
            ("etc/ssl1.1", link("ssl")),
            ("run", BaseKind::Dir),
            ("run/owned", BaseKind::File),
            ("usr", BaseKind::Dir),
            ("usr/bin", BaseKind::Dir),
            ("usr/bin/busybox", BaseKind::File),
            ("usr/lib", BaseKind::Dir),
            ("usr/lib/libbase.so", BaseKind::File),
            ("var", BaseKind::Dir),
            ("var/run", link("/run")),
            ("dangling", link("/opt/app")),
            ("to-file", link("usr/bin/busybox")),
        ];
        let info = PackageInfo {
            name: "base-files".into(),
            version: "1-r0".into(),
            arch: "x86_64".into(),
            ..Default::default()
        };
        let file = |name: &str| FileEntry {
            name: name.to_owned(),
            acl: None,
            digest: None,
        };
        let dir = |path: &str, files: Vec<FileEntry>| DirEntry {
            path: path.to_owned(),
            acl: None,
            files,
        };
        let mut installed = InstalledDb::new();
        installed.push(
            InstalledRecord::new(
                &info,
                &[
                    dir("run", vec![file("owned")]),
                    dir("lib", vec![file("libbase.so")]),
                    dir("etc/ssl", vec![file("cert.pem")]),
                ],
            )
            .unwrap(),
        );
        let state = BaseState {
            db_dir: "lib/apk/db".into(),
            installed,
            ..Default::default()
        };
        let tree = tree.into_iter().map(|(p, k)| (p.to_owned(), k)).collect();
        (Synthetic(tree), state)
    }

    /// One raw data-tar entry for [`raw_package`].
    enum R<'a> {
        Dir(&'a str),
        File(&'a str),
        Link(&'a str, &'a str),
        Hard(&'a str, &'a str),
        /// A file with the given uid.
        Owned(&'a str, u64),
        /// A file with an extended attribute.
        Xattr(&'a str, &'a str),
    }

    /// A signed package whose data tar holds exactly `entries` (names of
    /// any length, in this order).
    fn raw_package(repo: &mut Repo, name: &str, entries: &[R], replaces: &str) -> PackageFile {
        let mut b = tar::Builder::new(Vec::new());
        for e in entries {
            let mut h = tar::Header::new_gnu();
            h.set_mtime(0);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mode(0o644);
            h.set_size(0);
            let (path, data): (&str, &[u8]) = match e {
                R::Dir(p) => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_mode(0o755);
                    (p, b"")
                }
                R::File(p) => {
                    h.set_entry_type(tar::EntryType::Regular);
                    (p, b"data")
                }
                R::Owned(p, uid) => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_uid(*uid);
                    (p, b"data")
                }
                R::Xattr(p, key) => {
                    let rec = tarball::pax_record(&format!("SCHILY.xattr.{key}"), b"y");
                    let mut x = tar::Header::new_ustar();
                    x.set_entry_type(tar::EntryType::XHeader);
                    x.set_size(rec.len() as u64);
                    x.set_path("PaxHeader").unwrap();
                    x.set_cksum();
                    b.append(&x, &rec[..]).unwrap();
                    h.set_entry_type(tar::EntryType::Regular);
                    (p, b"data")
                }
                R::Link(p, t) | R::Hard(p, t) => {
                    h.set_entry_type(if matches!(e, R::Link(..)) {
                        tar::EntryType::Symlink
                    } else {
                        tar::EntryType::Link
                    });
                    b.append_link(&mut h, p, t).unwrap();
                    continue;
                }
            };
            h.set_size(data.len() as u64);
            b.append_data(&mut h, path, data).unwrap();
        }
        let data = b.into_inner().unwrap();
        let pkg = match replaces {
            "" => Pkg::new(name, "1-r0"),
            r => Pkg::new(name, "1-r0").replace(r),
        };
        let rec = repo.add_data_tar(pkg, &data);
        PackageFile {
            path: repo.apk_path("x86_64", name, "1-r0"),
            identity: rec.checksum.unwrap(),
        }
    }

    fn fresh_repo(dir: &Path) -> Repo {
        use std::sync::OnceLock;
        static KEY: OnceLock<apk::signature::SigningKey> = OnceLock::new();
        let key = KEY.get_or_init(|| {
            apk::signature::SigningKey::generate("layer-test.rsa.pub", 2048).unwrap()
        });
        Repo::with_key(&dir.join("repo"), key.clone())
    }

    fn layer_paths(layer: &Layer) -> BTreeMap<String, tar::EntryType> {
        list(layer.parts[0].file.path())
            .unwrap()
            .into_iter()
            .collect()
    }

    /// Builds `packages` on the synthetic base.
    fn on_synthetic(tmp: &Path, packages: &[PackageFile]) -> Result<Layer, LayerError> {
        let (fs, base) = synthetic();
        build(packages, &fs, &base, &spec(), tmp)
    }

    #[test]
    fn directories_that_are_symlinks_in_the_base_are_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let mut repo = fresh_repo(tmp.path());
        let p = raw_package(
            &mut repo,
            "plugin",
            &[
                R::Dir("lib/"),
                R::File("lib/plugin.so"),
                R::Dir("bin/"),
                R::File("sbin/tool"),
                R::Dir("var/run/"),
                R::Dir("var/run/d/"),
                R::File("var/run/d/file"),
                R::Dir("dangling/"),
                R::File("dangling/conf"),
            ],
            "",
        );
        let layer = on_synthetic(tmp.path(), &[p]).unwrap();
        let paths = layer_paths(&layer);
        for want in [
            "usr/lib/plugin.so",
            "usr/bin/tool",
            "run/d",
            "run/d/file",
            "opt/app",
            "opt/app/conf",
        ] {
            assert!(paths.contains_key(want), "{want} missing: {paths:?}");
        }
        for link in ["lib", "bin", "sbin", "var/run", "dangling", "var"] {
            assert!(!paths.contains_key(link), "{link} replaced: {paths:?}");
        }
        assert!(paths
            .keys()
            .all(|p| !p.starts_with("lib/") && !p.starts_with("var/run/")));
        // The database records the paths as the package wrote them.
        let rec = layer.installed.records.last().unwrap();
        let dirs: Vec<String> = rec.dirs().into_iter().map(|d| d.path).collect();
        assert!(dirs.contains(&"var/run/d".to_owned()), "{dirs:?}");
        // The apk database goes where the base keeps it (lib -> usr/lib).
        assert!(paths.contains_key("usr/lib/apk/db/installed"), "{paths:?}");
    }

    #[test]
    fn packages_split_into_layers_by_origin() {
        let tmp = tempfile::tempdir().unwrap();
        let mut repo = fresh_repo(tmp.path());
        let mut add = |pkg: testkit::repo::Pkg| {
            let info = repo.add(pkg);
            PackageFile {
                path: repo.apk_path("x86_64", &info.name, &info.version),
                identity: info.checksum.unwrap(),
            }
        };
        let pkgs = [
            add(testkit::repo::Pkg::new("big", "1-r0").file("opt/big/data", &[7; 9000], 0o644)),
            add(testkit::repo::Pkg::new("mid", "1-r0").file("opt/mid/data", &[8; 5000], 0o644)),
            add(testkit::repo::Pkg::new("mid-doc", "1-r0")
                .origin("mid")
                .file("opt/mid/doc/README", b"doc", 0o644)),
            add(testkit::repo::Pkg::new("tiny", "1-r0").file("opt/tiny", b"t", 0o644)),
        ];
        let (fs, base) = synthetic();
        let one = build(&pkgs, &fs, &base, &spec(), tmp.path()).unwrap();
        let split = LayerSpec {
            layers: 3,
            ..spec()
        };
        let three = build(&pkgs, &fs, &base, &split, tmp.path()).unwrap();
        assert_eq!(one.parts.len(), 1);
        assert_eq!(three.parts.len(), 3);
        let names: Vec<&[String]> = three.parts.iter().map(|p| &p.packages[..]).collect();
        assert_eq!(
            names,
            [
                &["big".to_owned()][..],
                &["mid".into(), "mid-doc".into()],
                &["tiny".into()]
            ]
        );
        assert!(three.parts[2].database && !three.parts[0].database);
        let paths = |part: &LayerPart| -> BTreeMap<String, tar::EntryType> {
            list(part.file.path()).unwrap().into_iter().collect()
        };
        let parts: Vec<_> = three.parts.iter().map(paths).collect();
        assert!(parts[0].contains_key("opt/big/data") && parts[0].contains_key("opt"));
        assert!(parts[1].contains_key("opt/mid/doc/README") && parts[1].contains_key("opt/mid"));
        assert!(
            parts[2].contains_key("opt/tiny") && parts[2].contains_key("usr/lib/apk/db/installed")
        );
        // Together they hold exactly the one layer's entries.
        let mut union = BTreeMap::new();
        for p in &parts {
            union.extend(p.clone());
        }
        assert_eq!(union, paths(&one.parts[0]));
        // Deterministic.
        let again = build(&pkgs, &fs, &base, &split, tmp.path()).unwrap();
        let digests = |l: &Layer| l.parts.iter().map(|p| p.digest.clone()).collect::<Vec<_>>();
        assert_eq!(digests(&again), digests(&three));
    }

    #[test]
    fn one_file_spelled_two_ways_is_one_path() {
        let tmp = tempfile::tempdir().unwrap();
        let mut repo = fresh_repo(tmp.path());
        // Base-owned files reached through base symlinks.
        for (i, path) in ["var/run/owned", "lib/libbase.so", "etc/ssl1.1/cert.pem"]
            .into_iter()
            .enumerate()
        {
            let p = raw_package(&mut repo, &format!("spell{i}"), &[R::File(path)], "");
            let e = on_synthetic(tmp.path(), &[p]).unwrap_err().to_string();
            assert!(
                e.contains("file conflicts") && e.contains(path) && e.contains("base-files-1-r0"),
                "{path}: {e}"
            );
        }
        // Two added packages, two spellings.
        let a = raw_package(&mut repo, "writer-a", &[R::File("var/run/pid")], "");
        let b = raw_package(&mut repo, "writer-b", &[R::File("run/pid")], "");
        let e = on_synthetic(tmp.path(), &[a.clone(), b])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("writer-b-1-r0 would overwrite it, but it belongs to writer-a-1-r0"),
            "{e}"
        );
        // With `replaces`, the second one takes it over (and only it owns it).
        let b = raw_package(&mut repo, "writer-c", &[R::File("run/pid")], "writer-a");
        let layer = on_synthetic(tmp.path(), &[a, b]).unwrap();
        let owners: Vec<bool> = layer.installed.records[1..]
            .iter()
            .map(|r| {
                r.dirs()
                    .iter()
                    .any(|d| d.files.iter().any(|f| f.name == "pid"))
            })
            .collect();
        assert_eq!(owners, [false, true]);
    }

    #[test]
    fn kinds_never_replace_each_other() {
        let tmp = tempfile::tempdir().unwrap();
        let mut repo = fresh_repo(tmp.path());
        let cases: Vec<(&str, Vec<R>, &str)> = vec![
            // The entry order trick: a directory, a file in it, then the
            // directory turned into a link.
            (
                "order-etc",
                vec![R::Dir("x/"), R::File("x/f"), R::Link("x", "/etc")],
                "x",
            ),
            (
                "order-up",
                vec![R::Dir("y/"), R::File("y/f"), R::Link("y", "..")],
                "y",
            ),
            ("link-over-dir", vec![R::Link("etc", "/tmp")], "etc"),
            ("file-over-dir", vec![R::File("usr/bin")], "usr/bin"),
            ("dir-over-file", vec![R::Dir("bin/busybox/")], "bin/busybox"),
            (
                "below-file",
                vec![R::File("bin/busybox/x")],
                "bin/busybox/x",
            ),
            ("file-over-dirlink", vec![R::File("lib")], "lib"),
            ("link-retarget", vec![R::Link("lib", "/etc")], "lib"),
            ("dir-via-file-link", vec![R::Dir("to-file/")], "to-file"),
        ];
        for (name, entries, path) in cases {
            let p = raw_package(&mut repo, name, &entries, "");
            let e = on_synthetic(tmp.path(), &[p]).unwrap_err();
            let text = e.to_string();
            assert!(matches!(e, LayerError::Refused { .. }), "{name}: {text}");
            assert!(
                text.contains(&format!("{name}-1-r0: `{path}`")),
                "{name}: {text}"
            );
        }
        // A file over another added package's directory.
        let a = raw_package(
            &mut repo,
            "dir-owner",
            &[R::Dir("opt/"), R::Dir("opt/d/")],
            "",
        );
        let b = raw_package(&mut repo, "file-writer", &[R::File("opt/d")], "");
        let text = on_synthetic(tmp.path(), &[a, b]).unwrap_err().to_string();
        assert!(
            text.contains("file-writer-1-r0: `opt/d`: a file cannot replace the directory"),
            "{text}"
        );
        // Re-declaring a base link with the same meaning is allowed.
        let p = raw_package(&mut repo, "merged", &[R::Link("bin", "/usr/bin")], "");
        on_synthetic(tmp.path(), &[p]).unwrap();
    }

    #[test]
    fn links_of_a_package_are_followed_within_the_root() {
        let tmp = tempfile::tempdir().unwrap();
        let mut repo = fresh_repo(tmp.path());
        let p = raw_package(
            &mut repo,
            "linker",
            &[
                R::Link("escape", "/"),
                R::File("escape/etc/evil"),
                R::Link("up", "../../.."),
                R::File("up/top"),
                R::Dir("opt/"),
                R::Link("opt/app", "../usr/lib/app"),
                R::File("opt/app/x"),
            ],
            "",
        );
        let layer = on_synthetic(tmp.path(), &[p]).unwrap();
        let paths = layer_paths(&layer);
        for want in [
            "escape",
            "etc/evil",
            "up",
            "top",
            "opt/app",
            "usr/lib/app/x",
        ] {
            assert!(paths.contains_key(want), "{want} missing: {paths:?}");
        }
        assert_eq!(paths["escape"], tar::EntryType::Symlink);
        // Nothing below a link: a plain `tar -x` cannot be redirected.
        for p in paths.keys() {
            for a in ancestors(p) {
                assert!(
                    paths.get(a).is_none_or(|k| *k == tar::EntryType::Directory),
                    "{p} below {a}"
                );
            }
        }
    }

    #[test]
    fn limits_a_runtime_would_refuse() {
        let tmp = tempfile::tempdir().unwrap();
        let mut repo = fresh_repo(tmp.path());
        let long = format!("opt/{}", "n".repeat(256));
        let deep = format!("opt/{}", "d/".repeat(2100));
        let cases: Vec<(&str, Vec<R>, &str)> = vec![
            ("long-name", vec![R::File(&long)], "256 bytes"),
            ("long-path", vec![R::File(&deep)], "at most 4095"),
            (
                "big-uid",
                vec![R::Owned("opt/f", 1 << 32)],
                "uid 4294967296",
            ),
            ("ns-uid", vec![R::Owned("opt/f", 65536)], "uid 65536"),
            ("whiteout", vec![R::File("etc/.wh.passwd")], "whiteouts"),
            ("opaque", vec![R::File("usr/.wh..wh..opq")], "whiteouts"),
            (
                "overlay",
                vec![R::Xattr("opt/f", "trusted.overlay.opaque")],
                "overlay",
            ),
        ];
        for (name, entries, why) in cases {
            let p = raw_package(&mut repo, name, &entries, "");
            let text = on_synthetic(tmp.path(), &[p]).unwrap_err().to_string();
            assert!(
                text.contains(&format!("{name}-1-r0")) && text.contains(why),
                "{name}: {text}"
            );
        }
        let p = raw_package(&mut repo, "nobody", &[R::Owned("opt/f", 65534)], "");
        on_synthetic(tmp.path(), &[p]).unwrap();
    }

    #[test]
    fn hard_links_come_after_their_target_in_the_layer() {
        let tmp = tempfile::tempdir().unwrap();
        let mut repo = fresh_repo(tmp.path());
        let p = raw_package(
            &mut repo,
            "linked",
            &[
                R::Dir("z/"),
                R::File("z/data"),
                R::Dir("a/"),
                R::Hard("a/link", "z/data"),
            ],
            "",
        );
        let layer = on_synthetic(tmp.path(), &[p]).unwrap();
        let paths = layer_paths(&layer);
        assert_eq!(paths["a/link"], tar::EntryType::Regular);
        assert_eq!(paths["z/data"], tar::EntryType::Link);
        let out = tmp.path().join("unpacked");
        let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(
            File::open(layer.parts[0].file.path()).unwrap(),
        ));
        ar.unpack(&out).unwrap();
        assert_eq!(std::fs::read(out.join("z/data")).unwrap(), b"data");
    }

    #[test]
    fn credentials_never_reach_the_repositories_file() {
        let text = repositories_text(
            Some("https://u:base-secret@mirror/alpine\n# note"),
            &["https://me:added-secret@repo.example/acme".to_owned()],
        );
        assert_eq!(
            text,
            "https://mirror/alpine\n# note\nhttps://repo.example/acme\n"
        );
    }
}
