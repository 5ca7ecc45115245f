//! The application layer: the built binaries (at `/usr/bin/<name>`, or
//! `install_dir`) and the declaration's `files` (local files and
//! directories from any build system), as one deterministic gzip tar on
//! top of the packages layer.
//!
//! Every entry is owned by root with the build time as mtime; binaries are
//! `0755`; files keep only whether they are executable (`0755`/`0644`)
//! unless the entry sets `mode`; directories are `0755`. Entries are
//! sorted, and parent directories the base lacks are added.
//!
//! Paths are judged against the union filesystem a runtime will see:
//! destinations must be absolute and clean; a destination below a symbolic
//! link of the base is written at the link's resolved path (as
//! `/lib/x` goes to `usr/lib/x` on a merged-/usr base); a destination may
//! not replace a base directory with a file, pass through a base file, or
//! lie below a symbolic link this layer adds. Symbolic links inside a
//! `files` directory are kept as links, never followed: their targets are
//! resolved inside the container's root, so whatever they point to, no
//! file of the build machine is read into the image. A `src` that is
//! itself a link is followed (it is what the user named). Devices, FIFOs
//! and sockets are refused.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use assemble_io::tarball::{self, Compression, EntryHeader, EntryKind, LayerTar};

use super::{join, FileKind, ImageFiles};

/// Longest symbolic link target accepted (Linux's `PATH_MAX`).
pub const MAX_LINK: usize = 4096;

/// One source → destination of the layer (a file copied to a destination
/// ending in `/` keeps its name there).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// How errors name it (`bin/server`, `files[0]`).
    pub label: String,
    /// The local file or directory.
    pub src: PathBuf,
    /// The absolute path in the image.
    pub dst: String,
    /// Permission bits for regular files (`None`: `0755` if executable,
    /// else `0644`).
    pub mode: Option<u32>,
}

impl Item {
    /// A built binary `name` at `path`, installed in `install_dir` with mode
    /// `0755`.
    pub fn binary(name: &str, path: &Path, install_dir: &str) -> Item {
        Item {
            label: format!("bin/{name}"),
            src: path.to_owned(),
            dst: format!("{}/{name}", install_dir.trim_end_matches('/')),
            mode: Some(0o755),
        }
    }
}

/// One entry of the layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// File, directory or symbolic link.
    pub kind: EntryKind,
    /// Permission bits.
    pub mode: u32,
    /// Content size (files).
    pub size: u64,
    /// Where the content comes from (files).
    pub src: Option<PathBuf>,
    /// The item that added it.
    pub label: String,
}

/// The layer's entries by path (relative, resolved through the base's
/// links), and what the user should know.
#[derive(Clone, Debug, Default)]
pub struct Contents {
    /// The entries, sorted by path.
    pub entries: BTreeMap<String, Entry>,
    /// Base files or links the layer replaces (`path (label)`).
    pub overwrites: Vec<String>,
}

/// A written layer.
#[derive(Debug)]
pub struct AppLayer {
    /// The compressed layer, a temporary file.
    pub file: tempfile::NamedTempFile,
    /// `sha256:` of the compressed bytes.
    pub digest: String,
    /// `sha256:` of the tar (the diff_id).
    pub diff_id: String,
    /// Compressed size.
    pub size: u64,
}

/// Why the layer cannot be made.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum AppLayerError {
    /// A destination is not a clean absolute path.
    #[error("{label}: destination `{dst}`: {reason}")]
    #[diagnostic(help("write an absolute path without `.` or `..`, like \"/usr/bin/app\""))]
    Destination {
        /// The item.
        label: String,
        /// The destination as written.
        dst: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A source cannot go into an image.
    #[error("{label}: {}: {reason}", .path.display())]
    Source {
        /// The item.
        label: String,
        /// The local path.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Two items write one path.
    #[error("/{path} is written by both {first} and {second}")]
    Collision {
        /// The path.
        path: String,
        /// One item.
        first: String,
        /// The other.
        second: String,
    },
    /// The base (or this layer) has something in the way.
    #[error("{label}: /{path}: {reason}")]
    Conflict {
        /// The item.
        label: String,
        /// The path.
        path: String,
        /// What is in the way.
        reason: String,
    },
    /// I/O while reading sources or writing the layer.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// Cause.
        source: io::Error,
    },
}

/// Parses a `mode` as written in the declaration: octal, `0755`, `755` or
/// `0o755`, at most `07777`.
pub fn parse_mode(text: &str) -> Result<u32, String> {
    let digits = text.strip_prefix("0o").unwrap_or(text);
    match u32::from_str_radix(digits, 8) {
        Ok(m) if m <= 0o7777 && !digits.is_empty() => Ok(m),
        _ => Err(format!("`{text}` is not an octal mode like \"0755\"")),
    }
}

/// Checks a destination against the base and returns where it is written
/// (relative, through the base's links); for the plan, before anything is
/// built. `dir` tells whether a directory goes there.
pub fn check_destination(
    label: &str,
    dst: &str,
    dir: bool,
    base: &dyn ImageFiles,
) -> Result<String, AppLayerError> {
    resolve(label, dst, dir, base, &BTreeMap::new())
}

/// Collects the entries of `items` over `base`, reading only metadata.
pub fn collect(items: &[Item], base: &dyn ImageFiles) -> Result<Contents, AppLayerError> {
    let mut contents = Contents::default();
    for item in items {
        let meta = std::fs::metadata(&item.src).map_err(|e| AppLayerError::Source {
            label: item.label.clone(),
            path: item.src.clone(),
            reason: e.to_string(),
        })?;
        // A file copied to `dir/` keeps its name, as with `cp` and Docker.
        let dst = match item.src.file_name().and_then(|n| n.to_str()) {
            Some(name) if !meta.is_dir() && item.dst.ends_with('/') => {
                format!("{}{name}", item.dst)
            }
            _ => item.dst.clone(),
        };
        let root = resolve(&item.label, &dst, meta.is_dir(), base, &contents.entries)?;
        if meta.is_dir() {
            if !root.is_empty() {
                add(&mut contents, base, &root, dir_entry(&item.label))?;
            }
            walk(item, &item.src, &root, base, &mut contents)?;
        } else {
            let entry = file_entry(item, &item.src, &meta)?;
            add(&mut contents, base, &root, entry)?;
        }
    }
    add_parents(&mut contents.entries, base);
    Ok(contents)
}

/// Adds the contents of the directory `dir` (at `at` in the image).
fn walk(
    item: &Item,
    dir: &Path,
    at: &str,
    base: &dyn ImageFiles,
    contents: &mut Contents,
) -> Result<(), AppLayerError> {
    let io_err = |path: &Path| {
        let path = path.to_owned();
        move |source| AppLayerError::Io { path, source }
    };
    let mut children: Vec<_> = std::fs::read_dir(dir)
        .map_err(io_err(dir))?
        .collect::<Result<_, _>>()
        .map_err(io_err(dir))?;
    children.sort_by_key(|e| e.file_name());
    for child in children {
        let path = child.path();
        let name = child.file_name();
        let name = name
            .to_str()
            .filter(|n| !n.chars().any(char::is_control))
            .ok_or_else(|| AppLayerError::Source {
                label: item.label.clone(),
                path: path.clone(),
                reason: "the name is not UTF-8 or contains control characters".to_owned(),
            })?;
        let target = join(at, name);
        let meta = std::fs::symlink_metadata(&path).map_err(io_err(&path))?;
        let kind = meta.file_type();
        if kind.is_dir() {
            add(contents, base, &target, dir_entry(&item.label))?;
            walk(item, &path, &target, base, contents)?;
        } else if kind.is_symlink() {
            let link = std::fs::read_link(&path).map_err(io_err(&path))?;
            let link = link
                .to_str()
                .filter(|l| !l.is_empty() && l.len() <= MAX_LINK && !l.chars().any(char::is_control))
                .ok_or_else(|| AppLayerError::Source {
                    label: item.label.clone(),
                    path: path.clone(),
                    reason: "the link target is empty, too long, not UTF-8 or contains control characters"
                        .to_owned(),
                })?;
            let entry = Entry {
                kind: EntryKind::Symlink(link.to_owned()),
                mode: 0o777,
                size: 0,
                src: None,
                label: item.label.clone(),
            };
            add(contents, base, &target, entry)?;
        } else {
            let entry = file_entry(item, &path, &meta)?;
            add(contents, base, &target, entry)?;
        }
    }
    Ok(())
}

fn dir_entry(label: &str) -> Entry {
    Entry {
        kind: EntryKind::Directory,
        mode: 0o755,
        size: 0,
        src: None,
        label: label.to_owned(),
    }
}

/// A regular file's entry; anything else (device, FIFO, socket) is refused.
fn file_entry(item: &Item, path: &Path, meta: &std::fs::Metadata) -> Result<Entry, AppLayerError> {
    if !meta.is_file() {
        return Err(AppLayerError::Source {
            label: item.label.clone(),
            path: path.to_owned(),
            reason: "not a regular file, directory or symbolic link (devices, FIFOs and sockets \
                     cannot be added)"
                .to_owned(),
        });
    }
    let executable = meta.permissions().mode() & 0o111 != 0;
    Ok(Entry {
        kind: EntryKind::File,
        mode: item.mode.unwrap_or(if executable { 0o755 } else { 0o644 }),
        size: meta.len(),
        src: Some(path.to_owned()),
        label: item.label.clone(),
    })
}

/// Adds `entry` at `path`, refusing what the base or earlier entries make
/// impossible.
fn add(
    contents: &mut Contents,
    base: &dyn ImageFiles,
    path: &str,
    entry: Entry,
) -> Result<(), AppLayerError> {
    let conflict = |reason: String| AppLayerError::Conflict {
        label: entry.label.clone(),
        path: path.to_owned(),
        reason,
    };
    if let Some(old) = contents.entries.get(path) {
        if old.kind == EntryKind::Directory && entry.kind == EntryKind::Directory {
            return Ok(());
        }
        return Err(AppLayerError::Collision {
            path: path.to_owned(),
            first: old.label.clone(),
            second: entry.label.clone(),
        });
    }
    match (base.kind(path), &entry.kind) {
        (Some(FileKind::Dir), EntryKind::Directory) => return Ok(()), // keep the base's
        (Some(FileKind::Dir), _) => {
            return Err(conflict(
                "it would replace a directory of the base image".to_owned(),
            ))
        }
        (Some(FileKind::Symlink), EntryKind::Directory) => {
            return Err(conflict(
                "the base image has a symbolic link there; write below its target instead"
                    .to_owned(),
            ))
        }
        (Some(FileKind::File | FileKind::Other), EntryKind::Directory) => {
            return Err(conflict("the base image has a file there".to_owned()))
        }
        (Some(_), _) => contents
            .overwrites
            .push(format!("/{path} ({})", entry.label)),
        (None, _) => {}
    }
    contents.entries.insert(path.to_owned(), entry);
    Ok(())
}

/// Where `dst` is written: each parent followed through the base's links,
/// refusing parents that are files, dangling links or links this layer
/// adds.
fn resolve(
    label: &str,
    dst: &str,
    dir: bool,
    base: &dyn ImageFiles,
    ours: &BTreeMap<String, Entry>,
) -> Result<String, AppLayerError> {
    let bad = |reason| AppLayerError::Destination {
        label: label.to_owned(),
        dst: dst.to_owned(),
        reason,
    };
    let rel = dst
        .strip_prefix('/')
        .ok_or_else(|| bad("it is not absolute"))?;
    let rel = rel.strip_suffix('/').unwrap_or(rel);
    if dst.chars().any(char::is_control) {
        return Err(bad("it contains a control character"));
    }
    if rel.is_empty() {
        return if dir {
            Ok(String::new())
        } else {
            Err(bad("a file cannot be the root"))
        };
    }
    let parts: Vec<&str> = rel.split('/').collect();
    if parts
        .iter()
        .any(|c| c.is_empty() || *c == "." || *c == "..")
    {
        return Err(bad("it contains `.`, `..` or an empty component"));
    }
    let (last, parents) = parts.split_last().expect("not empty");
    let mut at = String::new();
    for c in parents {
        let next = join(&at, c);
        let conflict = |reason: String| AppLayerError::Conflict {
            label: label.to_owned(),
            path: next.clone(),
            reason,
        };
        if let Some(e) = ours.get(&next) {
            match e.kind {
                EntryKind::Directory => {}
                EntryKind::Symlink(_) => {
                    return Err(conflict(format!(
                        "it is a symbolic link added by {}",
                        e.label
                    )))
                }
                _ => return Err(conflict(format!("it is a file added by {}", e.label))),
            }
            at = next;
            continue;
        }
        at = match base.kind(&next) {
            None | Some(FileKind::Dir) => next,
            Some(FileKind::Symlink) => match base.resolve(&next) {
                Some(r) if base.kind(&r) == Some(FileKind::Dir) || r.is_empty() => r,
                Some(_) => return Err(conflict("it links to a file in the base image".to_owned())),
                None => {
                    return Err(conflict(
                        "it is a dangling symbolic link in the base image".to_owned(),
                    ))
                }
            },
            Some(_) => return Err(conflict("it is a file in the base image".to_owned())),
        };
    }
    Ok(join(&at, last))
}

/// Adds directory entries for parents that neither the base nor the layer
/// has.
fn add_parents(entries: &mut BTreeMap<String, Entry>, base: &dyn ImageFiles) {
    let mut missing = BTreeMap::new();
    for (path, e) in entries.iter() {
        let mut p = path.as_str();
        while let Some((parent, _)) = p.rsplit_once('/') {
            if !entries.contains_key(parent) && base.kind(parent) != Some(FileKind::Dir) {
                missing
                    .entry(parent.to_owned())
                    .or_insert_with(|| dir_entry(&e.label));
            }
            p = parent;
        }
    }
    entries.extend(missing);
}

/// Writes `contents` as a tar compressed as `compression` in `dir`, every
/// entry at `mtime`.
pub fn write(
    contents: &Contents,
    mtime: u64,
    compression: Compression,
    dir: &Path,
) -> Result<AppLayer, AppLayerError> {
    let io_err = |path: &Path| {
        let path = path.to_owned();
        move |source| AppLayerError::Io { path, source }
    };
    let file = tempfile::Builder::new()
        .prefix(".app-layer-")
        .tempfile_in(dir)
        .map_err(io_err(dir))?;
    let mut tar = LayerTar::new(file.as_file(), compression).map_err(io_err(dir))?;
    let out = file.path().to_owned();
    for (path, e) in &contents.entries {
        let mut h = EntryHeader::new(path, e.kind.clone(), e.mode, mtime);
        match &e.src {
            Some(src) => {
                h.size = e.size;
                tarball::write_header(&mut tar, &h).map_err(io_err(&out))?;
                let mut f = File::open(src).map_err(io_err(src))?;
                let copied = io::copy(&mut (&mut f).take(e.size), &mut tar).map_err(io_err(src))?;
                if copied != e.size || f.metadata().map_err(io_err(src))?.len() != e.size {
                    return Err(AppLayerError::Source {
                        label: e.label.clone(),
                        path: src.clone(),
                        reason: "the file changed while the layer was written".to_owned(),
                    });
                }
                tarball::write_padding(&mut tar, copied).map_err(io_err(&out))?;
            }
            None => tarball::write_header(&mut tar, &h).map_err(io_err(&out))?,
        }
    }
    let d = tar.finish().map_err(io_err(&out))?;
    Ok(AppLayer {
        file,
        digest: d.digest,
        diff_id: d.diff_id,
        size: d.size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rust::fixture::{rootfs, write as write_files};
    use oci_image::rootfs::RootFs;

    /// An Alpine-like base: `/usr/bin/busybox`, `/bin/sh` → busybox,
    /// `/lib64` → `lib`, `/etc/motd`, a dangling `/opt/gone` link.
    fn base() -> RootFs {
        rootfs(&[
            ("usr/bin/busybox", ""),
            ("bin/sh", "/usr/bin/busybox"),
            ("lib/ld-musl-x86_64.so.1", ""),
            ("lib64", "lib"),
            ("etc/motd", ""),
            ("opt/gone", "/nowhere"),
        ])
    }

    fn item(label: &str, src: &Path, dst: &str) -> Item {
        Item {
            label: label.to_owned(),
            src: src.to_owned(),
            dst: dst.to_owned(),
            mode: None,
        }
    }

    /// A project with a binary, a file, and a `dist/` directory holding an
    /// executable, a data file, a nested directory and a relative link.
    fn sources(dir: &Path) -> Vec<Item> {
        write_files(
            dir,
            &[
                ("target/hello", "\x7fELF hello"),
                ("motd", "welcome\n"),
                ("dist/run.sh", "#!/bin/sh\n"),
                ("dist/share/data.txt", "data\n"),
            ],
        );
        let exec = std::fs::Permissions::from_mode(0o700);
        std::fs::set_permissions(dir.join("dist/run.sh"), exec).unwrap();
        std::os::unix::fs::symlink("share/data.txt", dir.join("dist/data")).unwrap();
        vec![
            Item::binary("hello", &dir.join("target/hello"), "/usr/bin"),
            item("files[0]", &dir.join("motd"), "/etc/motd"),
            item("files[1]", &dir.join("dist"), "/opt/app/"),
            Item {
                mode: Some(0o600),
                ..item("files[2]", &dir.join("motd"), "/lib64/app/secret")
            },
        ]
    }

    /// (path, type, mode, uid, mtime, link) of every entry of a layer.
    fn listing(layer: &AppLayer) -> Vec<(String, tar::EntryType, u32, u64, u64, String)> {
        let f = File::open(layer.file.path()).unwrap();
        let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(f));
        ar.entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    String::from_utf8_lossy(&e.path_bytes()).into_owned(),
                    h.entry_type(),
                    h.mode().unwrap(),
                    h.uid().unwrap(),
                    h.mtime().unwrap(),
                    e.link_name()
                        .unwrap()
                        .map(|l| l.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                )
            })
            .collect()
    }

    #[test]
    fn binaries_and_files_make_a_sorted_deterministic_layer() {
        let dir = tempfile::tempdir().unwrap();
        let items = sources(dir.path());
        let fs = base();
        let contents = collect(&items, &fs).unwrap();
        assert_eq!(contents.overwrites, ["/etc/motd (files[0])"]);
        let layer = write(&contents, 1_700_000_000, Compression::Gzip, dir.path()).unwrap();
        use tar::EntryType::{Directory as D, Regular as F, Symlink as L};
        let t = 1_700_000_000;
        let got = listing(&layer);
        let want: Vec<(String, tar::EntryType, u32, u64, u64, String)> = [
            ("etc/motd", F, 0o644, ""),
            ("lib/app", D, 0o755, ""),
            ("lib/app/secret", F, 0o600, ""),
            ("opt/app", D, 0o755, ""),
            ("opt/app/data", L, 0o777, "share/data.txt"),
            ("opt/app/run.sh", F, 0o755, ""),
            ("opt/app/share", D, 0o755, ""),
            ("opt/app/share/data.txt", F, 0o644, ""),
            ("usr/bin/hello", F, 0o755, ""),
        ]
        .into_iter()
        .map(|(p, k, m, l)| (p.to_owned(), k, m, 0, t, l.to_owned()))
        .collect();
        assert_eq!(got, want);
        // Content arrives intact.
        let f = File::open(layer.file.path()).unwrap();
        let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(f));
        let mut hello = ar
            .entries()
            .unwrap()
            .map(Result::unwrap)
            .find(|e| e.path_bytes().as_ref() == b"usr/bin/hello")
            .unwrap();
        let mut text = String::new();
        hello.read_to_string(&mut text).unwrap();
        assert_eq!(text, "\x7fELF hello");
        // Same inputs, same bytes; another time, another layer.
        let again = write(
            &collect(&items, &fs).unwrap(),
            t,
            Compression::Gzip,
            dir.path(),
        )
        .unwrap();
        assert_eq!(
            (&again.digest, &again.diff_id),
            (&layer.digest, &layer.diff_id)
        );
        let later = write(&contents, t + 1, Compression::Gzip, dir.path()).unwrap();
        assert_ne!(later.digest, layer.digest);
        assert!(layer.digest.starts_with("sha256:") && layer.size > 0);
    }

    #[test]
    fn on_scratch_every_parent_is_added() {
        let dir = tempfile::tempdir().unwrap();
        write_files(dir.path(), &[("hello", "x")]);
        let items = [Item::binary(
            "hello",
            &dir.path().join("hello"),
            "/usr/local/bin/",
        )];
        let contents = collect(&items, &RootFs::new()).unwrap();
        let paths: Vec<&str> = contents.entries.keys().map(String::as_str).collect();
        assert_eq!(
            paths,
            ["usr", "usr/local", "usr/local/bin", "usr/local/bin/hello"]
        );
        // A file copied into `dir/` keeps its name.
        let items = [item("files[0]", &dir.path().join("hello"), "/srv/")];
        let contents = collect(&items, &RootFs::new()).unwrap();
        assert!(contents.entries.contains_key("srv/hello"), "{contents:?}");
    }

    #[test]
    fn bad_destinations_are_refused() {
        let fs = base();
        for (dst, want) in [
            ("usr/bin/x", "not absolute"),
            ("/usr/../etc/x", "`..`"),
            ("/usr//bin/x", "empty component"),
            ("/usr/./x", "`.`"),
            ("/", "root"),
            ("/usr/bin/x\n", "control"),
        ] {
            let err = check_destination("files[0]", dst, false, &fs).unwrap_err();
            assert!(err.to_string().contains(want), "{dst}: {err}");
        }
        for (dst, want) in [
            ("/usr/bin/busybox/x", "a file in the base image"),
            ("/bin/sh/x", "links to a file"),
            ("/opt/gone/x", "dangling"),
        ] {
            let err = check_destination("files[0]", dst, false, &fs).unwrap_err();
            assert!(
                matches!(err, AppLayerError::Conflict { .. }),
                "{dst}: {err}"
            );
            assert!(err.to_string().contains(want), "{dst}: {err}");
        }
        assert_eq!(
            check_destination("x", "/lib64/a", false, &fs).unwrap(),
            "lib/a"
        );
        assert_eq!(check_destination("x", "/", true, &fs).unwrap(), "");
    }

    #[test]
    fn the_base_and_other_items_get_in_the_way() {
        let dir = tempfile::tempdir().unwrap();
        write_files(dir.path(), &[("a", "a"), ("tree/x", "x")]);
        let fs = base();
        let a = dir.path().join("a");
        let err = collect(&[item("files[0]", &a, "/usr/bin")], &fs).unwrap_err();
        assert!(err.to_string().contains("replace a directory"), "{err}");
        let err = collect(
            &[item("files[0]", &dir.path().join("tree"), "/bin/sh")],
            &fs,
        )
        .unwrap_err();
        assert!(err.to_string().contains("symbolic link there"), "{err}");
        let err = collect(
            &[
                Item::binary("busybox", &a, "/opt"),
                item("files[0]", &a, "/opt/busybox"),
            ],
            &fs,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "/opt/busybox is written by both bin/busybox and files[0]"
        );
        // Writing through a link this layer adds.
        std::os::unix::fs::symlink("/etc", dir.path().join("tree/link")).unwrap();
        let err = collect(
            &[
                item("files[0]", &dir.path().join("tree"), "/srv"),
                item("files[1]", &a, "/srv/link/passwd"),
            ],
            &fs,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("symbolic link added by files[0]"),
            "{err}"
        );
        // A link pointing anywhere is kept as a link, never read through.
        let contents = collect(&[item("files[0]", &dir.path().join("tree"), "/srv")], &fs).unwrap();
        assert_eq!(
            contents.entries["srv/link"].kind,
            EntryKind::Symlink("/etc".into())
        );
    }

    #[test]
    fn special_files_and_missing_sources_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("tree")).unwrap();
        let _socket = std::os::unix::net::UnixListener::bind(dir.path().join("tree/sock")).unwrap();
        let err = collect(
            &[item("files[0]", &dir.path().join("tree"), "/srv")],
            &RootFs::new(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("sockets cannot be added"), "{err}");
        let err = collect(
            &[item("files[3]", &dir.path().join("nope"), "/srv")],
            &RootFs::new(),
        )
        .unwrap_err();
        assert!(
            matches!(err, AppLayerError::Source { .. })
                && err.to_string().starts_with("files[3]: ")
        );
    }

    #[test]
    fn modes_parse_as_octal() {
        assert_eq!(parse_mode("0755"), Ok(0o755));
        assert_eq!(parse_mode("644"), Ok(0o644));
        assert_eq!(parse_mode("0o4755"), Ok(0o4755));
        for bad in ["", "0o", "0999", "rwx", "017777", "-1"] {
            assert!(parse_mode(bad).is_err(), "{bad}");
        }
    }
}
