//! The effective filesystem of an image: its layers merged bottom to top
//! the way containerd and umoci apply them (formats.md §8.7).
//!
//! We need it to find the base image's APK database wherever the layers
//! put it (e.g. `lib/apk` replaced by a symlink to `../usr/lib/apk`), and to
//! know which paths exist so a new layer can detect clashes. Only metadata
//! is kept per path; the content of the few files a caller asks for (the
//! database, `world`, `repositories`, keys) is captured on the way. Each
//! layer blob is streamed once: decompressed, hashed for its diff_id and
//! parsed as a tar in one pass, never held in memory.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::io::{self, Read};

use assemble_io::bounds;
use assemble_io::escape::{escape, escape_bytes};
use assemble_io::hash::Hashing;
use assemble_io::limit::Limited;
use flate2::read::MultiGzDecoder;
use sha2::Sha256;
use zstd::stream::read::Decoder as ZstdDecoder;

use super::{BlobReader, Digest, OciError, PlatformImage, Source};

/// Symbolic links followed while resolving one path before giving up.
pub const MAX_SYMLINKS: usize = 40;

/// What the layer size limit names in its error.
const LAYER_LIMIT_WHAT: &str =
    "the uncompressed layer (limit set by CARGO_ASSEMBLE_MAX_LAYER_SIZE)";

/// Largest file content captured into memory.
pub const MAX_CAPTURE: u64 = 64 << 20;

/// What a path is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeKind {
    /// Regular file.
    File,
    /// Directory.
    Dir,
    /// Symbolic link with its target as written.
    Symlink(String),
    /// Hard link to the (normalised, resolved) path of a file in the tree.
    Hardlink(String),
    /// Device, FIFO or another special file.
    Other,
}

/// One path of the merged tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// What it is.
    pub kind: NodeKind,
    /// Permission bits (`0o7777` mask).
    pub mode: u32,
    /// Owner.
    pub uid: u64,
    /// Group.
    pub gid: u64,
    /// Content size (regular files and hard links).
    pub size: u64,
    /// Index of the layer that last wrote this path (bottom = 0).
    pub layer: usize,
}

/// The merged tree: normalised relative path (no leading `/`, the root is
/// not stored) → node.
#[derive(Clone, Debug, Default)]
pub struct RootFs {
    nodes: BTreeMap<String, Node>,
}

/// Why a path could not be resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WalkError {
    /// A `..` (or a symbolic link) leads above the root and the walk was
    /// not asked to clamp at the root.
    Escape,
    /// More than [`MAX_SYMLINKS`] symbolic links were followed.
    Loop,
    /// A component before the last is a file (or another non-directory).
    NotDir(String),
}

impl WalkError {
    /// The reason, for a message about the path being resolved.
    pub fn reason(&self) -> String {
        match self {
            WalkError::Escape => "a symbolic link in its path leads outside the root".to_owned(),
            WalkError::Loop => {
                format!("more than {MAX_SYMLINKS} symbolic links in its path (a loop?)")
            }
            WalkError::NotDir(p) => format!("`{}` in its path is not a directory", escape(p)),
        }
    }
}

impl std::fmt::Display for WalkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason())
    }
}

/// What a path is, as far as resolving paths through it goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Nothing there.
    Missing,
    /// A directory: walk on.
    Dir,
    /// A symbolic link with its target as written.
    Symlink(String),
    /// A file or anything else that cannot hold children.
    Other,
}

/// The result of [`walk`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Walked {
    /// The resolved, normalised path (`""` for the root).
    pub path: String,
    /// Whether every component exists (when `false`, the components after
    /// the first missing one are appended as written).
    pub exists: bool,
}

/// Resolves `path` in a tree described by `lookup` (normalised path →
/// what is there) the way a container runtime does inside its root:
/// absolute link targets start at the root, `..` goes up, and at most
/// [`MAX_SYMLINKS`] links are followed. `follow_last` also follows a link
/// in the final component. With `clamp`, `..` at the root stays at the root
/// (what a runtime does); without it, leaving the root is an error.
pub fn walk(
    lookup: &dyn Fn(&str) -> Step,
    path: &str,
    follow_last: bool,
    clamp: bool,
) -> Result<Walked, WalkError> {
    let mut cur: Vec<String> = Vec::new();
    let mut todo: VecDeque<String> = components(path).map(str::to_owned).collect();
    let mut links = 0;
    let mut missing = false;
    while let Some(c) = todo.pop_front() {
        if c == ".." {
            if cur.pop().is_none() && !clamp {
                return Err(WalkError::Escape);
            }
            continue;
        }
        cur.push(c);
        if missing {
            continue;
        }
        let is_last = todo.is_empty();
        let key = cur.join("/");
        match lookup(&key) {
            Step::Missing => missing = true,
            Step::Dir => {}
            Step::Symlink(t) if !is_last || follow_last => {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(WalkError::Loop);
                }
                cur.pop();
                if t.starts_with('/') {
                    cur.clear();
                }
                let mut next: VecDeque<String> = components(&t).map(str::to_owned).collect();
                next.extend(todo.drain(..));
                todo = next;
            }
            Step::Symlink(_) => {}
            Step::Other if !is_last => return Err(WalkError::NotDir(key)),
            Step::Other => {}
        }
    }
    Ok(Walked {
        path: cur.join("/"),
        exists: !missing,
    })
}

fn components(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|c| !c.is_empty() && *c != ".")
}

/// `parent/name` of normalised relative paths (`name` for the root `""`).
pub fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}/{name}")
    }
}

/// A normalised relative path's parent (`""` for the root) and last
/// component.
pub fn split_last(path: &str) -> (&str, &str) {
    path.rsplit_once('/').unwrap_or(("", path))
}

/// Normalises a tar entry name: strips `./` and leading `/`, drops empty
/// and `.` components and a trailing `/`. `None` is the root itself.
pub fn normalise_entry_name(raw: &[u8]) -> Result<Option<String>, &'static str> {
    if raw.contains(&0) {
        return Err("the path contains a NUL byte");
    }
    let s = std::str::from_utf8(raw).map_err(|_| "the path is not valid UTF-8")?;
    let mut parts = Vec::new();
    for c in components(s) {
        if c == ".." {
            return Err("the path contains a '..' component");
        }
        parts.push(c);
    }
    if parts.is_empty() {
        return Ok(None);
    }
    let joined = parts.join("/");
    assemble_io::tarball::check_path(joined.as_bytes())?;
    Ok(Some(joined))
}

enum Compression {
    Plain,
    Gzip,
    Zstd,
}

/// The largest zstd window a layer may ask a decoder for (2^27 = 128 MiB,
/// zstd's own default limit): a frame asking for more is refused before
/// any of that memory is taken.
const ZSTD_WINDOW_LOG_MAX: u32 = 27;

impl Compression {
    fn of(media: &str, digest: &str) -> Result<Compression, OciError> {
        let unsupported = |what| OciError::UnsupportedMediaType {
            digest: digest.to_owned(),
            media_type: media.to_owned(),
            what,
        };
        let layer_like = media.starts_with("application/vnd.oci.image.layer.")
            || media.starts_with("application/vnd.docker.image.rootfs.");
        if !layer_like {
            return Err(unsupported("a layer"));
        }
        if media.ends_with("+gzip") || media.ends_with(".tar.gzip") {
            Ok(Compression::Gzip)
        } else if media.ends_with("+zstd") {
            Ok(Compression::Zstd)
        } else if media.ends_with(".tar") {
            Ok(Compression::Plain)
        } else {
            Err(unsupported("a layer"))
        }
    }
}

enum Decoded {
    Plain(BlobReader),
    Gzip(Box<MultiGzDecoder<BlobReader>>),
    Zstd(Box<ZstdDecoder<'static, io::BufReader<BlobReader>>>),
}

impl Decoded {
    fn new(compression: Compression, blob: BlobReader) -> Result<Decoded, OciError> {
        Ok(match compression {
            Compression::Plain => Decoded::Plain(blob),
            Compression::Gzip => Decoded::Gzip(Box::new(MultiGzDecoder::new(blob))),
            Compression::Zstd => {
                let digest = blob.digest().to_string();
                let err = |source: io::Error| OciError::Io {
                    action: "starting to decompress",
                    path: std::path::PathBuf::from(format!("zstd layer {digest}")),
                    source,
                };
                let mut z = ZstdDecoder::new(blob).map_err(err)?;
                z.window_log_max(ZSTD_WINDOW_LOG_MAX).map_err(err)?;
                Decoded::Zstd(Box::new(z))
            }
        })
    }

    fn into_blob(self) -> BlobReader {
        match self {
            Decoded::Plain(b) => b,
            Decoded::Gzip(g) => (*g).into_inner(),
            Decoded::Zstd(z) => (*z).finish().into_inner(),
        }
    }
}

impl Read for Decoded {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Decoded::Plain(r) => r.read(buf),
            Decoded::Gzip(r) => r.read(buf),
            Decoded::Zstd(r) => r.read(buf),
        }
    }
}

impl RootFs {
    /// An empty tree.
    pub fn new() -> RootFs {
        RootFs::default()
    }

    /// Merges the layers of `image`, verifying each layer blob (digest and
    /// size) and its diff_id, and returns the tree plus the effective
    /// content of every regular file whose normalised path `capture`
    /// accepts (topmost version; absent when deleted).
    pub fn scan(
        source: &Source,
        image: &PlatformImage,
        capture: &dyn Fn(&str) -> bool,
    ) -> Result<(RootFs, BTreeMap<String, Vec<u8>>), OciError> {
        Self::scan_bounded(source, image, capture, bounds::MAX_LAYER_SIZE.get())
    }

    /// [`RootFs::scan`] with an explicit bound on each inflated layer.
    fn scan_bounded(
        source: &Source,
        image: &PlatformImage,
        capture: &dyn Fn(&str) -> bool,
        max_layer: u64,
    ) -> Result<(RootFs, BTreeMap<String, Vec<u8>>), OciError> {
        let mut fs = RootFs::new();
        let mut captured = BTreeMap::new();
        if image.layers.len() != image.diff_ids.len() {
            return Err(OciError::Invalid {
                what: "config",
                digest: image.config.digest.to_string(),
                location: source.location().to_owned(),
                reason: "the number of diff_ids differs from the number of layers".to_owned(),
            });
        }
        for (i, (layer, diff_id)) in image.layers.iter().zip(&image.diff_ids).enumerate() {
            let expected = Digest::parse(diff_id)?;
            let compression = Compression::of(&layer.media_type, &layer.digest.to_string())?;
            let blob = source.open_descriptor(layer)?;
            let decoded = Decoded::new(compression, blob)?;
            // A layer is inflated in full (to check its diff_id): bound it,
            // so a small gzip or zstd bomb cannot keep a build busy for hours.
            let limited = Limited::new(decoded, max_layer, LAYER_LIMIT_WHAT);
            // Hashes the uncompressed tar: the diff_id.
            let mut hashed: Hashing<_, Sha256> = Hashing::new(limited);
            let applied = fs
                .apply_layer(
                    i,
                    &mut hashed,
                    &layer.digest.to_string(),
                    capture,
                    &mut captured,
                )
                .and_then(|()| {
                    io::copy(&mut hashed, &mut io::sink()).map_err(|e| {
                        OciError::from_io(e, |source| OciError::LayerTar {
                            layer: layer.digest.to_string(),
                            source,
                        })
                    })
                });
            let (inner, hasher, _) = hashed.into_parts();
            let blob = inner.into_inner().into_blob();
            if let Err(e) = applied {
                // A corrupt blob usually surfaces as a gzip or tar error
                // first; report the digest mismatch when that is the cause.
                return Err(match blob.finish() {
                    Err(m @ (OciError::DigestMismatch { .. } | OciError::SizeMismatch { .. })) => m,
                    _ => e,
                });
            }
            blob.finish()?;
            let actual = Digest::from_hasher(hasher);
            if actual != expected {
                return Err(OciError::DiffIdMismatch {
                    digest: layer.digest.to_string(),
                    expected: diff_id.clone(),
                    actual: actual.hex().to_owned(),
                });
            }
        }
        Ok((fs, captured))
    }

    /// Applies one layer tar (already decompressed) as layer number
    /// `layer`; `label` names it in errors. Captured contents are updated
    /// in `captured`.
    pub fn apply_layer(
        &mut self,
        layer: usize,
        tar: impl Read,
        label: &str,
        capture: &dyn Fn(&str) -> bool,
        captured: &mut BTreeMap<String, Vec<u8>>,
    ) -> Result<(), OciError> {
        let tar_err = |e: io::Error| {
            OciError::from_io(e, |source| OciError::LayerTar {
                layer: label.to_owned(),
                source,
            })
        };
        let mut archive = tar::Archive::new(tar);
        for entry in archive.entries().map_err(tar_err)? {
            let mut entry = entry.map_err(tar_err)?;
            let etype = entry.header().entry_type();
            if etype.is_pax_global_extensions()
                || etype.is_pax_local_extensions()
                || etype.is_gnu_longname()
                || etype.is_gnu_longlink()
            {
                continue;
            }
            let raw = entry.path_bytes().into_owned();
            let bad = |reason: String| OciError::LayerEntry {
                layer: label.to_owned(),
                path: escape_bytes(&raw),
                reason,
            };
            let Some(rel) = normalise_entry_name(&raw).map_err(|r| bad(r.to_owned()))? else {
                continue; // the root directory itself
            };
            let (parent, base) = split_last(&rel);
            let (parent, _) = self
                .walk(parent, true, false)
                .map_err(|e| bad(e.reason()))?;
            if let Some(n) = self.nodes.get(&parent) {
                if n.kind != NodeKind::Dir {
                    return Err(bad(format!(
                        "its parent `{}` is not a directory",
                        escape(&parent)
                    )));
                }
            }

            if base == ".wh..wh..opq" {
                self.ensure_dirs(&parent, layer).map_err(bad)?;
                self.remove_lower(&parent, false, layer, captured);
                continue;
            }
            if base.starts_with(".wh..wh.") {
                continue; // AUFS bookkeeping (e.g. `.wh..wh.plnk`), never content
            }
            if let Some(name) = base.strip_prefix(".wh.") {
                if name.is_empty() || name == "." || name == ".." {
                    return Err(bad("invalid whiteout name".to_owned()));
                }
                let target = join(&parent, name);
                if self.nodes.get(&target).is_some_and(|n| n.layer < layer) {
                    self.remove_lower(&target, true, layer, captured);
                }
                continue;
            }

            let target = join(&parent, base);
            let header = entry.header();
            let mode = header.mode().map_err(tar_err)? & 0o7777;
            let uid = header.uid().map_err(tar_err)?;
            let gid = header.gid().map_err(tar_err)?;
            let mut node = Node {
                kind: NodeKind::Other,
                mode,
                uid,
                gid,
                size: 0,
                layer,
            };
            let mut link_content = None;
            let link_name = || -> Result<String, OciError> {
                let t = entry
                    .link_name_bytes()
                    .ok_or_else(|| bad("the link has no target".to_owned()))?;
                if t.contains(&0) {
                    return Err(bad("the link target contains a NUL byte".to_owned()));
                }
                String::from_utf8(t.into_owned())
                    .map_err(|_| bad("the link target is not valid UTF-8".to_owned()))
            };
            match etype {
                tar::EntryType::Regular
                | tar::EntryType::Continuous
                | tar::EntryType::GNUSparse => {
                    node.kind = NodeKind::File;
                    node.size = entry.size();
                }
                tar::EntryType::Directory => node.kind = NodeKind::Dir,
                tar::EntryType::Symlink => node.kind = NodeKind::Symlink(link_name()?),
                tar::EntryType::Link => {
                    let t = link_name()?;
                    let t = normalise_entry_name(t.as_bytes())
                        .map_err(|r| bad(format!("hard link target: {r}")))?
                        .ok_or_else(|| bad("hard link to the root".to_owned()))?;
                    let (tp, tb) = split_last(&t);
                    let (tp, _) = self
                        .walk(tp, true, false)
                        .map_err(|e| bad(format!("hard link target: {}", e.reason())))?;
                    let resolved = join(&tp, tb);
                    let found = self.nodes.get(&resolved).ok_or_else(|| {
                        bad(format!(
                            "hard link target `{}` does not exist",
                            escape(&resolved)
                        ))
                    })?;
                    let (resolved, found) = match &found.kind {
                        NodeKind::Dir => {
                            return Err(bad(format!(
                                "hard link target `{}` is a directory",
                                escape(&resolved)
                            )))
                        }
                        NodeKind::Hardlink(first) => (first.clone(), found.clone()),
                        _ => (resolved, found.clone()),
                    };
                    if capture(&target) {
                        link_content = captured.get(&resolved).cloned();
                    }
                    node = Node {
                        kind: NodeKind::Hardlink(resolved),
                        layer,
                        ..found
                    };
                }
                _ => {}
            }

            self.ensure_dirs(&parent, layer).map_err(bad)?;
            match self.nodes.get_mut(&target) {
                Some(old) if old.kind == NodeKind::Dir && node.kind == NodeKind::Dir => {
                    *old = node;
                    continue;
                }
                Some(_) => self.remove_all(&target, captured),
                None => {}
            }
            if let Some(content) = link_content {
                captured.insert(target.clone(), content);
            } else if node.kind == NodeKind::File && capture(&target) {
                if node.size > MAX_CAPTURE {
                    return Err(bad(format!(
                        "{} bytes is too large to capture (limit {MAX_CAPTURE})",
                        node.size
                    )));
                }
                let mut buf = Vec::with_capacity(node.size as usize);
                entry.read_to_end(&mut buf).map_err(tar_err)?;
                captured.insert(target.clone(), buf);
            } else {
                captured.remove(&target);
            }
            self.nodes.insert(target, node);
        }
        Ok(())
    }

    /// Creates missing directories along `dir` (mode 0755, root-owned).
    fn ensure_dirs(&mut self, dir: &str, layer: usize) -> Result<(), String> {
        let mut cur = String::new();
        for c in components(dir) {
            cur = join(&cur, c);
            match self.nodes.get(&cur) {
                Some(n) if n.kind == NodeKind::Dir => {}
                Some(_) => {
                    return Err(format!("`{}` in its path is not a directory", escape(&cur)))
                }
                None => {
                    self.nodes.insert(
                        cur.clone(),
                        Node {
                            kind: NodeKind::Dir,
                            mode: 0o755,
                            uid: 0,
                            gid: 0,
                            size: 0,
                            layer,
                        },
                    );
                }
            }
        }
        Ok(())
    }

    /// Keys strictly below `root` (everything for the root `""`).
    fn below(&self, root: &str) -> Vec<String> {
        if root.is_empty() {
            return self.nodes.keys().cloned().collect();
        }
        self.nodes
            .range(format!("{root}/")..format!("{root}0"))
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Removes `root` and everything below it.
    fn remove_all(&mut self, root: &str, captured: &mut BTreeMap<String, Vec<u8>>) {
        for k in self.below(root) {
            self.nodes.remove(&k);
            captured.remove(&k);
        }
        self.nodes.remove(root);
        captured.remove(root);
    }

    /// Whiteout: removes the nodes below `root` (and `root` itself when
    /// `include_root`) that lower layers wrote. Directories that hold
    /// entries of the current layer stay, as if the whiteout had been
    /// applied before those entries.
    fn remove_lower(
        &mut self,
        root: &str,
        include_root: bool,
        layer: usize,
        captured: &mut BTreeMap<String, Vec<u8>>,
    ) {
        let mut keys = self.below(root);
        if include_root && !root.is_empty() {
            keys.push(root.to_owned());
        }
        let mut keep: HashSet<&str> = HashSet::new();
        for k in &keys {
            if self.nodes.get(k).is_some_and(|n| n.layer >= layer) {
                let mut p = k.as_str();
                while let Some((a, _)) = p.rsplit_once('/') {
                    keep.insert(a);
                    p = a;
                }
            }
        }
        let doomed: Vec<String> = keys
            .iter()
            .filter(|k| !keep.contains(k.as_str()))
            .filter(|k| self.nodes.get(*k).is_some_and(|n| n.layer < layer))
            .cloned()
            .collect();
        for k in doomed {
            self.nodes.remove(&k);
            captured.remove(&k);
        }
    }

    /// What `path` is, for [`walk`].
    pub fn step(&self, path: &str) -> Step {
        match self.nodes.get(path).map(|n| &n.kind) {
            None => Step::Missing,
            Some(NodeKind::Dir) => Step::Dir,
            Some(NodeKind::Symlink(t)) => Step::Symlink(t.clone()),
            Some(_) => Step::Other,
        }
    }

    /// [`walk`] in this tree; returns the resolved path and whether it exists.
    fn walk(
        &self,
        path: &str,
        follow_last: bool,
        clamp: bool,
    ) -> Result<(String, bool), WalkError> {
        let w = walk(&|p| self.step(p), path, follow_last, clamp)?;
        Ok((w.path, w.exists))
    }

    /// The node at `path` exactly (normalised lexically; no link
    /// following).
    pub fn get(&self, path: &str) -> Option<&Node> {
        let key: Vec<&str> = components(path).collect();
        self.nodes.get(&key.join("/"))
    }

    /// Follows symbolic links in every component of `path` (absolute
    /// targets are relative to the root, `..` stops at the root, at most
    /// [`MAX_SYMLINKS`] links) and returns the resolved path if it exists.
    /// The root is `""`.
    pub fn resolve(&self, path: &str) -> Option<String> {
        match self.walk(path, true, true) {
            Ok((p, true)) => Some(p),
            _ => None,
        }
    }

    /// Whether `path` resolves to a directory (the root is one).
    pub fn is_dir(&self, path: &str) -> bool {
        match self.resolve(path) {
            Some(p) if p.is_empty() => true,
            Some(p) => self.nodes.get(&p).is_some_and(|n| n.kind == NodeKind::Dir),
            None => false,
        }
    }

    /// All paths in sorted order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.nodes.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The whole map.
    pub fn nodes(&self) -> &BTreeMap<String, Node> {
        &self.nodes
    }

    /// Number of paths (the root is not counted).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the tree is empty.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::super::layout::tests::{copy_dir, corpus, open_dir};
    use super::super::{open, ImageRef};
    use super::*;

    /// A synthetic layer entry.
    enum E<'a> {
        Dir(&'a str, u32),
        File(&'a str, &'a [u8]),
        Link(&'a str, &'a str),
        Hard(&'a str, &'a str),
    }

    fn tar_of(entries: &[E]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for e in entries {
            let mut h = tar::Header::new_gnu();
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(0);
            let (name, data): (&str, &[u8]) = match e {
                E::Dir(n, m) => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_mode(*m);
                    h.set_uid(u64::from(*m == 0o700) * 5);
                    (n, b"")
                }
                E::File(n, d) => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_mode(0o644);
                    (n, d)
                }
                E::Link(n, t) | E::Hard(n, t) => {
                    h.set_entry_type(if matches!(e, E::Link(..)) {
                        tar::EntryType::Symlink
                    } else {
                        tar::EntryType::Link
                    });
                    h.set_mode(0o777);
                    h.as_old_mut().linkname[..t.len()].copy_from_slice(t.as_bytes());
                    (n, b"")
                }
            };
            h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            h.set_size(data.len() as u64);
            h.set_cksum();
            b.append(&h, data).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn all(_: &str) -> bool {
        true
    }

    fn build(layers: &[&[E]]) -> Result<(RootFs, BTreeMap<String, Vec<u8>>), OciError> {
        let mut fs = RootFs::new();
        let mut cap = BTreeMap::new();
        for (i, l) in layers.iter().enumerate() {
            fs.apply_layer(i, &tar_of(l)[..], &format!("L{i}"), &all, &mut cap)?;
        }
        Ok((fs, cap))
    }

    fn paths(fs: &RootFs) -> Vec<&str> {
        fs.iter().map(|(p, _)| p).collect()
    }

    #[test]
    fn file_whiteout_removes_lower_file_only() {
        let (fs, cap) = build(&[
            &[
                E::Dir("a/", 0o755),
                E::File("a/x", b"0"),
                E::File("a/y", b"1"),
            ],
            &[E::File("a/.wh.x", b""), E::File("a/.wh.z", b"")],
        ])
        .unwrap();
        assert_eq!(paths(&fs), ["a", "a/y"]);
        assert_eq!(cap.keys().collect::<Vec<_>>(), ["a/y"]);
        // A whiteout never hits its own layer's entries.
        let (fs, _) = build(&[&[], &[E::File("./b", b"new"), E::File("./.wh.b", b"")]]).unwrap();
        assert_eq!(paths(&fs), ["b"]);
    }

    #[test]
    fn opaque_whiteout_in_either_order() {
        let lower: &[E] = &[
            E::Dir("d/", 0o755),
            E::File("d/old", b"o"),
            E::Dir("d/sub/", 0o755),
            E::File("d/sub/f", b"f"),
            E::File("keep", b"k"),
        ];
        let first: &[E] = &[
            E::Dir("d/", 0o755),
            E::File("d/.wh..wh..opq", b""),
            E::File("d/new", b"n"),
            E::File("d/sub/g", b"g"),
        ];
        let last: &[E] = &[
            E::File("d/new", b"n"),
            E::File("d/sub/g", b"g"),
            E::File("d/.wh..wh..opq", b""),
        ];
        for upper in [first, last] {
            let (fs, cap) = build(&[lower, upper]).unwrap();
            assert_eq!(paths(&fs), ["d", "d/new", "d/sub", "d/sub/g", "keep"]);
            assert_eq!(cap.keys().collect::<Vec<_>>(), ["d/new", "d/sub/g", "keep"]);
        }
    }

    #[test]
    fn dir_over_dir_updates_attributes_and_merges() {
        let (fs, _) = build(&[
            &[E::Dir("e/", 0o755), E::File("e/keep", b"k")],
            &[E::Dir("e/", 0o700), E::File("e/new", b"n")],
        ])
        .unwrap();
        let e = fs.get("e").unwrap();
        assert_eq!((e.mode, e.uid, e.layer), (0o700, 5, 1));
        assert_eq!(fs.get("e/keep").unwrap().layer, 0);
        assert_eq!(paths(&fs), ["e", "e/keep", "e/new"]);
    }

    #[test]
    fn file_over_dir_and_link_over_dir_replace_subtrees() {
        let (fs, cap) = build(&[
            &[
                E::Dir("f/", 0o755),
                E::File("f/child", b"c"),
                E::Dir("g/", 0o755),
                E::File("g/child", b"c"),
                E::File("h", b"h"),
            ],
            &[
                E::File("f", b"file"),
                E::Link("g", "f"),
                E::Dir("h/", 0o755),
            ],
        ])
        .unwrap();
        assert_eq!(paths(&fs), ["f", "g", "h"]);
        assert_eq!(fs.get("f").unwrap().kind, NodeKind::File);
        assert_eq!(fs.get("g").unwrap().kind, NodeKind::Symlink("f".into()));
        assert!(fs.is_dir("h"));
        assert_eq!(cap.keys().collect::<Vec<_>>(), ["f"]);
        assert_eq!(cap["f"], b"file");
    }

    #[test]
    fn symlinked_parents_are_followed_within_the_root() {
        let (fs, cap) = build(&[
            &[
                E::Dir("usr/", 0o755),
                E::Dir("usr/lib/", 0o755),
                E::Link("lib", "usr/lib"),
                E::Link("abs", "/usr"),
            ],
            &[E::File("lib/foo", b"x"), E::File("abs/bin/sh", b"y")],
        ])
        .unwrap();
        assert_eq!(
            paths(&fs),
            [
                "abs",
                "lib",
                "usr",
                "usr/bin",
                "usr/bin/sh",
                "usr/lib",
                "usr/lib/foo"
            ]
        );
        assert!(cap.contains_key("usr/lib/foo"));
        assert_eq!(fs.resolve("/lib/foo").as_deref(), Some("usr/lib/foo"));
        assert_eq!(
            fs.resolve("abs/lib/../bin/sh").as_deref(),
            Some("usr/bin/sh")
        );
        assert!(fs.is_dir("lib") && fs.is_dir("/") && !fs.is_dir("lib/foo"));
        assert_eq!(fs.resolve("lib/missing"), None);
    }

    #[test]
    fn escaping_paths_are_rejected() {
        let e = build(&[
            &[E::Link("evil", "../../..")],
            &[E::File("evil/etc/passwd", b"")],
        ])
        .unwrap_err();
        assert!(matches!(e, OciError::LayerEntry { .. }), "{e:?}");
        assert!(e.to_string().contains("outside the root"), "{e}");
        assert!(e.to_string().contains("evil/etc/passwd"), "{e}");
        // Within one layer too.
        let e = build(&[&[E::Link("up", ".."), E::File("up/x", b"")]]).unwrap_err();
        assert!(e.to_string().contains("outside the root"), "{e}");
        let e = build(&[&[E::File("a/../../x", b"")]]).unwrap_err();
        assert!(e.to_string().contains("'..'"), "{e}");
        let e = build(&[&[E::File("f", b""), E::File("f/x", b"")]]).unwrap_err();
        assert!(e.to_string().contains("not a directory"), "{e}");
        assert!(normalise_entry_name(b"a\0b").unwrap_err().contains("NUL"));
        assert_eq!(normalise_entry_name(b"./").unwrap(), None);
        assert_eq!(
            normalise_entry_name(b"/./a//b/").unwrap().as_deref(),
            Some("a/b")
        );
        // An escaping link is fine to hold, and lookups clamp at the root.
        let (fs, _) = build(&[&[
            E::Dir("usr/", 0o755),
            E::Link("up", "../../usr"),
            E::Link("loop1", "loop2"),
            E::Link("loop2", "loop1"),
        ]])
        .unwrap();
        assert_eq!(fs.resolve("up").as_deref(), Some("usr"));
        assert_eq!(fs.resolve("loop1/x"), None);
    }

    #[test]
    fn hard_links_resolve_in_the_tree() {
        let (fs, cap) = build(&[
            &[
                E::Dir("a/", 0o755),
                E::File("a/f", b"hi"),
                E::Link("l", "a"),
            ],
            &[E::Hard("b", "l/f")],
        ])
        .unwrap();
        let b = fs.get("b").unwrap();
        assert_eq!(b.kind, NodeKind::Hardlink("a/f".into()));
        assert_eq!((b.size, b.layer), (2, 1));
        assert_eq!(cap["b"], b"hi");
        let e = build(&[&[E::Hard("b", "nope")]]).unwrap_err();
        assert!(e.to_string().contains("does not exist"), "{e}");
    }

    fn db_or_etc(p: &str) -> bool {
        p.ends_with("apk/db/installed") || p.starts_with("etc/apk/")
    }

    #[test]
    fn alpine_rootfs() {
        let s = open_dir("images/alpine-3.16.9-x86_64", None).unwrap();
        let (fs, cap) = RootFs::scan(&s, &s.images()[0], &db_or_etc).unwrap();
        assert!(cap["lib/apk/db/installed"].starts_with(b"C:Q1"));
        assert!(cap.contains_key("etc/apk/world"));
        assert_eq!(
            fs.get("bin/sh").unwrap().kind,
            NodeKind::Symlink("/bin/busybox".into())
        );
        assert_eq!(fs.resolve("bin/sh").as_deref(), Some("bin/busybox"));
        assert!(fs.is_dir("etc/apk"));
    }

    #[test]
    fn top_image_rootfs_follows_the_moved_database() {
        let s = open_dir("apk/repo-small/top_image", None).unwrap();
        let img = &s.images()[0];
        assert_eq!(img.platform.architecture, "amd64");
        let (fs, cap) = RootFs::scan(&s, img, &db_or_etc).unwrap();
        assert_eq!(
            fs.get("lib/apk").unwrap().kind,
            NodeKind::Symlink("../usr/lib/apk".into())
        );
        assert_eq!(
            fs.resolve("lib/apk/db/installed").as_deref(),
            Some("usr/lib/apk/db/installed")
        );
        assert!(fs.get("lib/apk/db/installed").is_none());
        assert!(!cap.contains_key("lib/apk/db/installed"));
        let db = String::from_utf8(cap["usr/lib/apk/db/installed"].clone()).unwrap();
        assert!(db.contains("P:replayout"), "{db}");
        // Files of the lower layer that nothing replaced survive.
        assert_eq!(fs.get("y/hello.txt").unwrap().layer, 0);
    }

    #[test]
    fn inflated_layers_are_bounded() {
        let s = open_dir("apk/repo-small/top_image", None).unwrap();
        let img = &s.images()[0];
        RootFs::scan_bounded(&s, img, &all, 1 << 30).unwrap();
        let e = RootFs::scan_bounded(&s, img, &all, 4096).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("CARGO_ASSEMBLE_MAX_LAYER_SIZE") && text.contains("4 KiB"),
            "{text}"
        );
    }

    #[test]
    fn layer_verification_errors() {
        let s = open_dir("apk/repo-small/top_image", None).unwrap();
        let mut img = s.images()[0].clone();
        img.diff_ids[1] = img.diff_ids[0].clone();
        let e = RootFs::scan(&s, &img, &all).unwrap_err();
        assert!(matches!(e, OciError::DiffIdMismatch { .. }), "{e:?}");
        let mut img = s.images()[0].clone();
        img.layers[0].media_type = "application/vnd.oci.image.layer.v1.tar+bzip2".into();
        let e = RootFs::scan(&s, &img, &all).unwrap_err();
        assert!(matches!(e, OciError::UnsupportedMediaType { .. }), "{e:?}");
        // A gzip blob announced as zstd is a clean error naming the layer.
        let mut img = s.images()[0].clone();
        img.layers[0].media_type = "application/vnd.oci.image.layer.v1.tar+zstd".into();
        let e = RootFs::scan(&s, &img, &all).unwrap_err();
        assert!(
            e.to_string().contains(&img.layers[0].digest.to_string()),
            "{e}"
        );

        // A flipped byte in a layer blob is reported as a digest mismatch.
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("l");
        copy_dir(&corpus("apk/repo-small/top_image"), &dir);
        let layer = &s.images()[0].layers[1];
        let p = dir.join("blobs/sha256").join(layer.digest.hex());
        let mut b = std::fs::read(&p).unwrap();
        b[200] ^= 1;
        std::fs::write(&p, b).unwrap();
        let s2 = open(&ImageRef::Layout {
            path: dir,
            reference: None,
        })
        .unwrap();
        let e = RootFs::scan(&s2, &s2.images()[0], &all).unwrap_err();
        assert!(matches!(e, OciError::DigestMismatch { .. }), "{e:?}");
    }

    /// The top image with its first layer replaced by `blob` (media type
    /// `+zstd`): the layout copied to `dir` with the blob added.
    fn with_zstd_layer(dir: &std::path::Path, blob: &[u8]) -> (Source, PlatformImage) {
        copy_dir(&corpus("apk/repo-small/top_image"), dir);
        let digest = Digest::of(blob);
        std::fs::write(dir.join("blobs/sha256").join(digest.hex()), blob).unwrap();
        let s = open(&ImageRef::Layout {
            path: dir.to_owned(),
            reference: None,
        })
        .unwrap();
        let mut img = s.images()[0].clone();
        img.layers[0].media_type = crate::media_type::OCI_LAYER_ZSTD.into();
        img.layers[0].digest = digest;
        img.layers[0].size = blob.len() as u64;
        (s, img)
    }

    #[test]
    fn zstd_layers_read_as_their_tar_and_big_windows_are_refused() {
        let s = open_dir("apk/repo-small/top_image", None).unwrap();
        let img = &s.images()[0];
        let (gz_fs, gz_cap) = RootFs::scan(&s, img, &all).unwrap();
        let gz = std::fs::read(
            corpus("apk/repo-small/top_image/blobs/sha256").join(img.layers[0].digest.hex()),
        )
        .unwrap();
        let mut tar = Vec::new();
        MultiGzDecoder::new(&gz[..]).read_to_end(&mut tar).unwrap();

        // The same tar as zstd (two frames, as a streaming writer may
        // leave): the same files, the diff_id checked on the tar.
        let tmp = tempfile::tempdir().unwrap();
        let (mid, mut blob) = (
            tar.len() / 2,
            zstd::encode_all(&tar[..tar.len() / 2], 3).unwrap(),
        );
        blob.extend(zstd::encode_all(&tar[mid..], 19).unwrap());
        let (z, zimg) = with_zstd_layer(&tmp.path().join("ok"), &blob);
        let (fs, cap) = RootFs::scan(&z, &zimg, &all).unwrap();
        assert_eq!(cap, gz_cap);
        assert_eq!(fs.get("y/hello.txt"), gz_fs.get("y/hello.txt"));

        // A frame that asks for a 1 GiB window is refused before decoding.
        let mut big = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        big.set_parameter(zstd::stream::raw::CParameter::WindowLog(30))
            .unwrap();
        big.long_distance_matching(true).unwrap();
        std::io::Write::write_all(&mut big, &tar).unwrap();
        let big = big.finish().unwrap();
        assert!(zstd::decode_all(&big[..]).is_err(), "libzstd's own limit");
        let (z, zimg) = with_zstd_layer(&tmp.path().join("big"), &big);
        let e = RootFs::scan(&z, &zimg, &all).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains(&zimg.layers[0].digest.to_string()) && text.contains("too much memory"),
            "{text}"
        );
    }
}
