//! Making `.apk` v2 files from a directory tree, the way abuild and melange
//! do: data member first (its SHA-256 goes into `.PKGINFO` as `datahash`),
//! then the control member, then a signature over the control member.
//!
//! Used for tests, the bundled example repository, and anyone who wants to
//! package a few files without a build system. Output is reproducible:
//! entries sorted, owners root, times fixed to the given build time.

use std::fs::{self, File};
use std::io::{self, BufReader, Seek, Write};
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::checksum::Checksum;
use crate::package::read::Script;
use crate::package::{write_pkginfo, PackageInfo};
use crate::signature::SigningKey;
use crate::stream::{signature_member, WriteError};
use assemble_io::hash::Sha256Writer;
use assemble_io::tarball::{self, EntryHeader, EntryKind};

/// Lists `root`'s tree: every path relative to `root`. Sorting paths
/// component-wise puts parents before their children.
fn walk(root: &Path) -> io::Result<Vec<PathBuf>> {
    fn visit(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
        for e in fs::read_dir(root.join(rel))? {
            let child = rel.join(e?.file_name());
            out.push(child.clone());
            if fs::symlink_metadata(root.join(&child))?.is_dir() {
                visit(root, &child, out)?;
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    visit(root, Path::new(""), &mut out)?;
    out.sort();
    Ok(out)
}

fn sha1_file(path: &Path) -> io::Result<Checksum> {
    let mut h = Sha1::new();
    io::copy(&mut BufReader::new(File::open(path)?), &mut h)?;
    Ok(Checksum::Sha1(h.finalize().into()))
}

fn hex_checksum(c: &Checksum) -> Vec<u8> {
    hex::encode(c.as_bytes()).into_bytes()
}

/// Writes the data tar of `root` into `out`; returns the installed size.
fn write_data(root: &Path, mtime: u64, out: &mut impl Write) -> io::Result<u64> {
    let mut installed = 0u64;
    for rel in walk(root)? {
        let full = root.join(&rel);
        let meta = fs::symlink_metadata(&full)?;
        let path = rel
            .to_str()
            .ok_or_else(|| io::Error::other(format!("{} is not UTF-8", rel.display())))?;
        let mut header = EntryHeader::new(path, EntryKind::Directory, permissions(&meta), mtime);
        if meta.file_type().is_symlink() {
            let target = fs::read_link(&full)?;
            let target = target
                .to_str()
                .ok_or_else(|| io::Error::other("link target is not UTF-8"))?;
            let sum = Checksum::Sha1(Sha1::digest(target.as_bytes()).into());
            header
                .pax
                .push(("APK-TOOLS.checksum.SHA1".into(), hex_checksum(&sum)));
            header.kind = EntryKind::Symlink(target.to_owned());
            header.mode = 0o777;
            tarball::write_header(out, &header)?;
        } else if meta.is_file() {
            header.kind = EntryKind::File;
            header.size = meta.len();
            header.pax.push((
                "APK-TOOLS.checksum.SHA1".into(),
                hex_checksum(&sha1_file(&full)?),
            ));
            tarball::write_header(out, &header)?;
            let copied = io::copy(&mut File::open(&full)?, out)?;
            if copied != meta.len() {
                return Err(io::Error::other(format!(
                    "{} changed while being packaged",
                    full.display()
                )));
            }
            tarball::write_padding(out, copied)?;
            installed += copied;
        } else if meta.is_dir() {
            tarball::write_header(out, &header)?;
        } else {
            return Err(io::Error::other(format!(
                "{}: special files cannot be packaged",
                full.display()
            )));
        }
    }
    tarball::write_end(out)?;
    Ok(installed)
}

#[cfg(unix)]
fn permissions(meta: &fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o7777
}

#[cfg(not(unix))]
fn permissions(meta: &fs::Metadata) -> u32 {
    if meta.is_dir() {
        0o755
    } else {
        0o644
    }
}

fn gzip_best<W: Write>(w: W) -> GzEncoder<W> {
    GzEncoder::new(w, Compression::best())
}

/// Builds a package from the files under `root` and writes it atomically
/// to `out_path`. `info` supplies name, version, dependencies and so on;
/// size, datahash and build time are computed (build time = `mtime`).
/// Returns the metadata as an index record (with `C:` and `S:`).
pub fn build(
    root: &Path,
    info: &PackageInfo<'_>,
    scripts: &[Script],
    key: Option<&SigningKey>,
    mtime: u64,
    out_path: &Path,
) -> Result<PackageInfo<'static>, WriteError> {
    let dir = out_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    // The data member is streamed to a temporary file: it can be large.
    let mut data_file = tempfile::tempfile_in(dir)?;
    let (datahash, data_len, installed) = {
        let mut gz = gzip_best(Sha256Writer::new(io::BufWriter::new(&mut data_file)));
        let installed = write_data(root, mtime, &mut gz)?;
        let mut hw = gz.finish()?;
        hw.flush()?;
        let (hash, len, _) = hw.finish();
        (hash, len, installed)
    };

    let mut meta = info.clone().into_owned();
    meta.datahash = Some(datahash.into());
    meta.installed_size = Some(installed);
    meta.build_time = Some(mtime);
    meta.checksum = None;
    meta.size = None;

    let mut control_tar = Vec::new();
    let file = |path: &str, mode: u32| EntryHeader::new(path, EntryKind::File, mode, mtime);
    tarball::write_file(
        &mut control_tar,
        &file(".PKGINFO", 0o644),
        write_pkginfo(&meta).as_bytes(),
    )?;
    for s in scripts {
        tarball::write_file(
            &mut control_tar,
            &file(&format!(".{}", s.kind), 0o755),
            &s.content,
        )?;
    }
    let mut gz = gzip_best(Vec::new());
    gz.write_all(&control_tar)?;
    let control = gz.finish()?;
    let identity = Checksum::Sha1(Sha1::digest(&control).into());
    let signature = match key {
        Some(k) => Some(signature_member(
            &k.sign_sha256(&Sha256::digest(&control))?,
            mtime,
        )?),
        None => None,
    };

    let total = signature.as_ref().map_or(0, |s| s.len() as u64) + control.len() as u64 + data_len;
    assemble_io::atomic::write_file::<_, WriteError>(out_path, |w| {
        if let Some(s) = &signature {
            w.write_all(s)?;
        }
        w.write_all(&control)?;
        data_file.rewind()?;
        io::copy(&mut data_file, w)?;
        Ok(())
    })?;
    meta.checksum = Some(identity);
    meta.size = Some(total);
    Ok(meta)
}
