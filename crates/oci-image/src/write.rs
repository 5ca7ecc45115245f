//! Writing an OCI image layout so that the output is either the complete
//! new image or the untouched old one.
//!
//! [`LayoutWriter`] builds the layout in a temporary directory next to the
//! final path (same filesystem, so renames are atomic), streams blobs into
//! it while hashing, and on [`LayoutWriter::finish`] writes `oci-layout` and
//! `index.json` and swaps the directory into place in one step
//! (`renameat2(RENAME_EXCHANGE)`: the final path always names a complete
//! layout, old or new), then deletes the old one. Where the filesystem
//! cannot exchange, the old output is renamed aside and the new one renamed
//! in. Failing or dropping the writer before the swap removes the temporary
//! directory and leaves the old output as it was; the temporary directory
//! is locked while in use, so a later run can remove what a killed one
//! left (`assemble_io::atomic::remove_leftovers`).
//!
//! [`write_archive`] packs a finished layout into a deterministic
//! `oci-archive` tar (sorted names, mtime 0, uid/gid 0, fixed modes).
//!
//! JSON blobs are serialised compactly by `serde_json`; object keys come
//! out in the map's order, which is sorted (serde_json's default map), so
//! the same document always yields the same bytes and digest.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use assemble_io::atomic::LockedTempDir;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::{media_type, Descriptor, Digest, OciError, Source};

/// Builds a new layout in a temporary directory; see the module docs.
#[derive(Debug)]
pub struct LayoutWriter {
    final_dir: PathBuf,
    parent: PathBuf,
    name: String,
    work: LockedTempDir,
    annotations: BTreeMap<String, String>,
}

fn crash_point(name: &str) {
    assemble_io::crash_point(name);
}

fn io_err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> OciError + 'a {
    move |e| OciError::io(action, path, e)
}

impl LayoutWriter {
    /// Starts a layout that [`LayoutWriter::finish`] will place at
    /// `final_dir`. An existing `final_dir` must be an OCI layout (it has
    /// an `oci-layout` file) or empty; anything else is refused rather than
    /// replaced.
    pub fn create(final_dir: &Path) -> Result<LayoutWriter, OciError> {
        let refuse = |reason: &str| OciError::Write {
            path: final_dir.to_owned(),
            reason: reason.to_owned(),
        };
        let name = final_dir
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| refuse("the output path has no usable final component"))?
            .to_owned();
        let parent = match final_dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        match fs::symlink_metadata(final_dir) {
            Ok(m) if m.is_dir() => {
                let is_layout = final_dir.join("oci-layout").is_file();
                let mut entries = fs::read_dir(final_dir).map_err(io_err("reading", final_dir))?;
                if !is_layout && entries.next().is_some() {
                    return Err(refuse(
                        "it exists, is not empty and is not an OCI layout; refusing to replace it",
                    ));
                }
            }
            Ok(_) => return Err(refuse("it exists and is not a directory")),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(OciError::io("inspecting", final_dir, e)),
        }
        fs::create_dir_all(&parent).map_err(io_err("creating directory", &parent))?;
        // Created with the mode of an ordinary directory: it becomes the output.
        let work = assemble_io::atomic::temp_dir_in(&parent, &format!(".{name}.tmp-"))
            .map_err(io_err("creating a temporary directory in", &parent))?;
        let blobs = work.path().join("blobs/sha256");
        fs::create_dir_all(&blobs).map_err(io_err("creating directory", &blobs))?;
        Ok(LayoutWriter {
            final_dir: final_dir.to_owned(),
            parent,
            name,
            work,
            annotations: BTreeMap::new(),
        })
    }

    /// Writes an extra file at the root of the new layout (beside
    /// `index.json`), e.g. the image's SBOM, so that it is swapped in with
    /// the image as one unit. `name` must be a plain file name other than
    /// the layout's own.
    pub fn add_file(&mut self, name: &str, bytes: &[u8]) -> Result<(), OciError> {
        if name.contains('/')
            || matches!(
                name,
                "" | "." | ".." | "blobs" | "index.json" | "oci-layout"
            )
        {
            return Err(OciError::Write {
                path: self.final_dir.clone(),
                reason: format!("'{name}' cannot be an extra file of a layout"),
            });
        }
        let p = self.work.path().join(name);
        let mut f = File::create(&p).map_err(io_err("creating", &p))?;
        f.write_all(bytes).map_err(io_err("writing", &p))?;
        f.sync_all().map_err(io_err("writing", &p))
    }

    /// The path the layout will have once finished.
    pub fn final_dir(&self) -> &Path {
        &self.final_dir
    }

    /// Annotations for `index.json` itself.
    pub fn set_index_annotations(&mut self, annotations: BTreeMap<String, String>) {
        self.annotations = annotations;
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.work.path().join("blobs/sha256").join(digest.hex())
    }

    /// Streams `reader` into a blob, hashing as it goes, and returns its
    /// descriptor. Errors a [`super::BlobReader`] raises (digest or size
    /// mismatch of a source blob) come back as such.
    pub fn add_blob_from_reader(
        &mut self,
        media_type: &str,
        mut reader: impl Read,
    ) -> Result<Descriptor, OciError> {
        let dir = self.work.path().join("blobs");
        let mut tmp = assemble_io::atomic::temp_file_in(&dir, ".blob-")
            .map_err(io_err("creating a temporary file in", &dir))?;
        let tmp_path = tmp.path().to_owned();
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        {
            let mut out = BufWriter::new(tmp.as_file_mut());
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = match reader.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        return Err(OciError::from_io(e, |e| OciError::Write {
                            path: self.final_dir.clone(),
                            reason: format!("reading the content of a {media_type} blob: {e}"),
                        }))
                    }
                };
                hasher.update(&buf[..n]);
                size += n as u64;
                out.write_all(&buf[..n])
                    .map_err(io_err("writing", &tmp_path))?;
            }
            out.flush().map_err(io_err("writing", &tmp_path))?;
        }
        tmp.as_file()
            .sync_all()
            .map_err(io_err("writing", &tmp_path))?;
        let digest = Digest::from_hasher(hasher);
        let dest = self.blob_path(&digest);
        if !dest.exists() {
            tmp.persist(&dest)
                .map_err(|e| OciError::io("writing", &dest, e.error))?;
        }
        Ok(Descriptor::new(media_type, digest, size))
    }

    /// Adds a blob from memory.
    pub fn add_blob_bytes(
        &mut self,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Descriptor, OciError> {
        self.add_blob_from_reader(media_type, bytes)
    }

    /// Serialises `value` compactly (keys in map order, i.e. sorted) and
    /// adds it as a blob.
    pub fn add_json(&mut self, media_type: &str, value: &Value) -> Result<Descriptor, OciError> {
        let bytes = serde_json::to_vec(value).map_err(|e| OciError::Write {
            path: self.final_dir.clone(),
            reason: format!("serialising a {media_type} document: {e}"),
        })?;
        self.add_blob_bytes(media_type, &bytes)
    }

    /// Copies the blob `desc` names from `source` byte for byte, verifying
    /// it on the way, and returns `desc` unchanged.
    pub fn copy_blob(
        &mut self,
        source: &Source,
        desc: &Descriptor,
    ) -> Result<Descriptor, OciError> {
        let reader = source.open_descriptor(desc)?;
        let written = self.add_blob_from_reader(&desc.media_type, reader)?;
        if written.digest != desc.digest || written.size != desc.size {
            // Unreachable: the reader verified both.
            return Err(OciError::DigestMismatch {
                digest: desc.digest.to_string(),
                actual: written.digest.hex().to_owned(),
                location: source.location().to_owned(),
            });
        }
        Ok(desc.clone())
    }

    /// Writes `oci-layout` and `index.json` listing `manifests` (image
    /// manifests or indexes, with their `ref.name` annotations and
    /// platforms) and atomically replaces the final directory.
    pub fn finish(self, manifests: &[Descriptor]) -> Result<(), OciError> {
        let fail = |reason: String| OciError::Write {
            path: self.final_dir.clone(),
            reason,
        };
        for m in manifests {
            let p = self.blob_path(&m.digest);
            let size = fs::metadata(&p).map(|m| m.len()).ok();
            if size != Some(m.size) {
                return Err(fail(format!(
                    "index entry {} ({} bytes) has no matching blob in the layout",
                    m.digest, m.size
                )));
            }
        }
        let mut index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media_type::OCI_INDEX,
            "manifests": manifests,
        });
        if !self.annotations.is_empty() {
            index["annotations"] = serde_json::json!(self.annotations);
        }
        let index = serde_json::to_vec(&index).map_err(|e| fail(format!("index.json: {e}")))?;
        for (name, bytes) in [
            ("oci-layout", &br#"{"imageLayoutVersion":"1.0.0"}"#[..]),
            ("index.json", &index[..]),
        ] {
            let p = self.work.path().join(name);
            let mut f = File::create(&p).map_err(io_err("creating", &p))?;
            f.write_all(bytes).map_err(io_err("writing", &p))?;
            f.sync_all().map_err(io_err("writing", &p))?;
        }
        self.swap()
    }

    fn swap(self) -> Result<(), OciError> {
        let LayoutWriter {
            final_dir,
            parent,
            name,
            work,
            ..
        } = self;
        let old_exists = fs::symlink_metadata(&final_dir).is_ok();
        crash_point("before-swap");
        if old_exists {
            match assemble_io::atomic::exchange(work.path(), &final_dir) {
                Ok(()) => {
                    crash_point("after-swap");
                    // `work` now holds the old layout: dropping it removes it.
                    return work
                        .close()
                        .map_err(io_err("removing the old layout", &final_dir));
                }
                Err(e) if e.kind() == io::ErrorKind::Unsupported => {}
                Err(e) => return Err(OciError::io("swapping in the new layout at", &final_dir, e)),
            }
        }
        if !old_exists {
            let work_path = work.keep();
            return fs::rename(&work_path, &final_dir).map_err(|e| {
                let _ = fs::remove_dir_all(&work_path);
                OciError::io("moving the new layout to", &final_dir, e)
            });
        }
        let aside = tempfile::Builder::new()
            .prefix(&format!(".{name}.old-"))
            .tempdir_in(&parent)
            .map_err(io_err("creating a temporary directory in", &parent))?;
        let old = aside.path().join("layout");
        fs::rename(&final_dir, &old).map_err(io_err("moving the old layout aside:", &final_dir))?;
        let work_path = work.keep();
        if let Err(e) = fs::rename(&work_path, &final_dir) {
            let _ = fs::rename(&old, &final_dir);
            let _ = fs::remove_dir_all(&work_path);
            return Err(OciError::io("moving the new layout to", &final_dir, e));
        }
        aside
            .close()
            .map_err(io_err("removing the old layout", &old))
    }
}

/// Packs the finished layout at `layout_dir` into the tar `file`
/// (`oci-archive:` form), deterministically: entries sorted by name,
/// directories before their contents, mtime 0, uid/gid 0, modes 0755/0644.
/// The file is replaced atomically.
pub fn write_archive(layout_dir: &Path, file: &Path) -> Result<(), OciError> {
    fn collect(
        root: &Path,
        dir: &Path,
        prefix: &str,
        out: &mut Vec<(String, Option<PathBuf>)>,
    ) -> Result<(), OciError> {
        let mut names = Vec::new();
        for e in fs::read_dir(dir).map_err(io_err("reading", dir))? {
            let e = e.map_err(io_err("reading", dir))?;
            let name = e.file_name().into_string().map_err(|_| OciError::Write {
                path: root.to_owned(),
                reason: format!("a file name in {} is not UTF-8", dir.display()),
            })?;
            let kind = e.file_type().map_err(io_err("reading", &e.path()))?;
            names.push((name, kind, e.path()));
        }
        names.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, kind, path) in names {
            let rel = format!("{prefix}{name}");
            if kind.is_dir() {
                out.push((format!("{rel}/"), None));
                collect(root, &path, &format!("{rel}/"), out)?;
            } else if kind.is_file() {
                out.push((rel, Some(path)));
            } else {
                return Err(OciError::Write {
                    path: root.to_owned(),
                    reason: format!("`{rel}` is neither a file nor a directory"),
                });
            }
        }
        Ok(())
    }
    if !layout_dir.join("oci-layout").is_file() {
        return Err(OciError::Write {
            path: file.to_owned(),
            reason: format!("{} is not an OCI layout", layout_dir.display()),
        });
    }
    let mut entries = Vec::new();
    collect(layout_dir, layout_dir, "", &mut entries)?;
    let mut failed_path = file.to_owned();
    assemble_io::atomic::write_file::<_, io::Error>(file, |w| {
        let mut b = tar::Builder::new(w);
        for (rel, path) in &entries {
            let mut h = tar::Header::new_ustar();
            h.set_mtime(0);
            h.set_uid(0);
            h.set_gid(0);
            match path {
                None => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_mode(0o755);
                    h.set_size(0);
                    b.append_data(&mut h, rel, io::empty())?;
                }
                Some(p) => {
                    failed_path = p.clone();
                    let f = File::open(p)?;
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_mode(0o644);
                    h.set_size(f.metadata()?.len());
                    b.append_data(&mut h, rel, f)?;
                }
            }
        }
        failed_path = file.to_owned();
        b.finish()
    })
    .map_err(|e| OciError::io("writing archive", failed_path, e))
}

#[cfg(test)]
mod tests {
    use super::super::layout::tests::open_dir;
    use super::super::{open, ImageRef, Platform, RootFs, REF_NAME_ANNOTATION};
    use super::*;

    fn tagged(mut d: Descriptor, tag: &str) -> Descriptor {
        d.annotations
            .insert(REF_NAME_ANNOTATION.to_owned(), tag.to_owned());
        d
    }

    /// Copies `image`'s layers, re-labels its config and writes a
    /// manifest; returns the manifest descriptor with its platform.
    fn rewrite(w: &mut LayoutWriter, s: &Source, idx: usize, label: &str) -> Descriptor {
        let img = &s.images()[idx];
        let layers: Vec<Descriptor> = img
            .layers
            .iter()
            .map(|l| w.copy_blob(s, l).unwrap())
            .collect();
        let mut config = img.config_json.clone();
        config["config"]["Labels"] = serde_json::json!({ "test": label });
        let config = w.add_json(media_type::OCI_CONFIG, &config).unwrap();
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media_type::OCI_MANIFEST,
            "config": config,
            "layers": layers,
        });
        let mut m = w.add_json(media_type::OCI_MANIFEST, &manifest).unwrap();
        m.platform = Some(img.platform.clone());
        m
    }

    fn listing(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn round_trip_replace_and_archive() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let src = open_dir("images/alpine-3.16.9-x86_64", None).unwrap();
        for (round, tag) in ["first", "second"].iter().enumerate() {
            let mut w = LayoutWriter::create(&out).unwrap();
            let m = rewrite(&mut w, &src, 0, tag);
            w.finish(&[tagged(m.clone(), tag)]).unwrap();
            assert_eq!(listing(tmp.path()), ["out"], "round {round}");
            let back =
                open(&ImageRef::parse(&format!("oci:{}:{tag}", out.display())).unwrap()).unwrap();
            let img = &back.images()[0];
            assert_eq!(img.manifest.digest, m.digest);
            assert_eq!(img.layers, src.images()[0].layers);
            assert_eq!(img.config_json["config"]["Labels"]["test"], *tag);
            let (_, cap) =
                RootFs::scan(&back, img, &|p: &str| p == "lib/apk/db/installed").unwrap();
            assert!(cap.contains_key("lib/apk/db/installed"));
        }
        // The second write replaced the first.
        let e =
            open(&ImageRef::parse(&format!("oci:{}:first", out.display())).unwrap()).unwrap_err();
        assert!(e.to_string().contains("available: second"), "{e}");

        // A writer dropped before finishing leaves the old output alone.
        let before = fs::read(out.join("index.json")).unwrap();
        {
            let mut w = LayoutWriter::create(&out).unwrap();
            w.add_blob_bytes("text/plain", b"junk").unwrap();
        }
        assert_eq!(fs::read(out.join("index.json")).unwrap(), before);
        assert_eq!(listing(tmp.path()), ["out"]);
        // finish refuses an index entry without a blob, old output intact.
        let w = LayoutWriter::create(&out).unwrap();
        let ghost = Descriptor {
            digest: Digest::of(b"ghost"),
            ..src.images()[0].manifest.clone()
        };
        assert!(w.finish(&[ghost]).is_err());
        assert_eq!(fs::read(out.join("index.json")).unwrap(), before);
        assert_eq!(listing(tmp.path()), ["out"]);

        // Deterministic archive, readable as oci-archive.
        let a1 = tmp.path().join("a1.tar");
        let a2 = tmp.path().join("a2.tar");
        write_archive(&out, &a1).unwrap();
        write_archive(&out, &a2).unwrap();
        assert_eq!(fs::read(&a1).unwrap(), fs::read(&a2).unwrap());
        let s = open(&ImageRef::parse(&format!("oci-archive:{}:second", a1.display())).unwrap())
            .unwrap();
        RootFs::scan(&s, &s.images()[0], &|_: &str| false).unwrap();
        let names: Vec<String> = tar::Archive::new(File::open(&a1).unwrap())
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                assert_eq!(e.header().mtime().unwrap(), 0);
                e.path().unwrap().display().to_string()
            })
            .collect();
        assert_eq!(names[..2], ["blobs/", "blobs/sha256/"]);
        assert!(names[2].starts_with("blobs/sha256/"));
        assert_eq!(names[names.len() - 2..], ["index.json", "oci-layout"]);

        // Refuses to replace a directory that is not a layout.
        let other = tmp.path().join("other");
        fs::create_dir(&other).unwrap();
        fs::write(other.join("precious"), b"x").unwrap();
        assert!(LayoutWriter::create(&other).is_err());
    }

    #[test]
    fn copy_blob_rejects_corrupt_source() {
        let tmp = tempfile::tempdir().unwrap();
        let src = open_dir("apk/repo-small/top_image", None).unwrap();
        let mut layer = src.images()[0].layers[0].clone();
        layer.digest = src.images()[0].layers[1].digest.clone();
        let mut w = LayoutWriter::create(&tmp.path().join("o")).unwrap();
        let e = w.copy_blob(&src, &layer).unwrap_err();
        assert!(matches!(e, OciError::SizeMismatch { .. }), "{e:?}");
    }

    fn run(cmd: &mut std::process::Command) -> String {
        let o = cmd.output().unwrap();
        assert!(
            o.status.success(),
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    #[test]
    fn skopeo_and_umoci_accept_our_layouts() {
        testkit::require("skopeo");
        testkit::require("umoci");
        let tmp = tempfile::tempdir().unwrap();
        // Single-arch: skopeo inspect and umoci unpack.
        let single = tmp.path().join("single");
        let src = open_dir("images/alpine-3.16.9-x86_64", None).unwrap();
        let mut w = LayoutWriter::create(&single).unwrap();
        let m = rewrite(&mut w, &src, 0, "x");
        w.finish(&[tagged(m, "t1")]).unwrap();
        let out = run(std::process::Command::new("skopeo")
            .arg("inspect")
            .arg(format!("oci:{}:t1", single.display())));
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["Architecture"], "amd64");
        assert_eq!(v["Labels"]["test"], "x");
        let bundle = tmp.path().join("bundle");
        run(std::process::Command::new("umoci")
            .args(["unpack", "--rootless", "--image"])
            .arg(format!("{}:t1", single.display()))
            .arg(&bundle));
        assert!(bundle.join("rootfs/lib/apk/db/installed").is_file());

        // Multi-arch: a nested index tagged in index.json, for skopeo.
        let multi = tmp.path().join("multi");
        let src = open_dir("apk/repo-small/top_image", None).unwrap();
        let mut w = LayoutWriter::create(&multi).unwrap();
        let ms: Vec<Descriptor> = (0..2).map(|i| rewrite(&mut w, &src, i, "m")).collect();
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media_type::OCI_INDEX,
            "manifests": ms,
        });
        let idx = w.add_json(media_type::OCI_INDEX, &index).unwrap();
        w.finish(&[tagged(idx, "multi")]).unwrap();
        let back =
            open(&ImageRef::parse(&format!("oci:{}:multi", multi.display())).unwrap()).unwrap();
        let plats: Vec<&Platform> = back.images().iter().map(|i| &i.platform).collect();
        assert_eq!(plats.len(), 2);
        let raw = run(std::process::Command::new("skopeo")
            .args(["inspect", "--raw"])
            .arg(format!("oci:{}:multi", multi.display())));
        assert!(raw.contains("arm64"), "{raw}");
        let out = run(std::process::Command::new("skopeo")
            .args(["inspect", "--override-arch", "arm64"])
            .arg(format!("oci:{}:multi", multi.display())));
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["Architecture"], "arm64");
    }
}
