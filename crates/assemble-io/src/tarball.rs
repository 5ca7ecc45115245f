//! Tar details specific to APK files: path hygiene for entries we read,
//! and a small writer for entries we produce.
//!
//! Our own writer exists because APK needs "cut" tars (entries without the
//! end-of-archive blocks) for the signature and control members, plus PAX
//! records carrying per-file checksums; `tar::Builder` always terminates
//! its archives.

use std::io::{self, BufWriter, Write};

use crate::gzip::{self, ParallelGzip};
use crate::hash::Sha256Writer;

/// Size of a tar block.
pub const BLOCK: usize = 512;

/// What a tar entry is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// Regular file with `size` bytes of content following.
    File,
    /// Directory.
    Directory,
    /// Symbolic link to the target.
    Symlink(String),
    /// Hard link to an earlier entry's path.
    Hardlink(String),
}

/// Header fields of an entry to write.
#[derive(Clone, Debug)]
pub struct EntryHeader {
    /// Relative path without leading `/` or `./`.
    pub path: String,
    /// Entry type.
    pub kind: EntryKind,
    /// Permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u64,
    /// Group.
    pub gid: u64,
    /// Modification time, Unix seconds.
    pub mtime: u64,
    /// Content size (files only).
    pub size: u64,
    /// PAX records written in an `x` header before the entry.
    pub pax: Vec<(String, Vec<u8>)>,
}

impl EntryHeader {
    /// A root-owned entry with no content or PAX records yet.
    pub fn new(path: &str, kind: EntryKind, mode: u32, mtime: u64) -> EntryHeader {
        EntryHeader {
            path: path.to_owned(),
            kind,
            mode,
            uid: 0,
            gid: 0,
            mtime,
            size: 0,
            pax: Vec::new(),
        }
    }
}

/// Encodes one PAX record: `"<len> <key>=<value>\n"`, where `<len>` counts
/// the whole record including its own digits.
pub fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let body = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    let mut rec = format!("{len} {key}=").into_bytes();
    rec.extend_from_slice(value);
    rec.push(b'\n');
    rec
}

fn header_for(
    name: &str,
    kind: tar::EntryType,
    size: u64,
    e: &EntryHeader,
) -> io::Result<tar::Header> {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(e.mode);
    h.set_uid(e.uid);
    h.set_gid(e.gid);
    h.set_mtime(e.mtime);
    let bytes = name.as_bytes();
    // Names that fit go in `name` whole; longer ones are carried by a PAX
    // `path` record and truncated here (readers take the PAX value).
    let cut = &bytes[..bytes.len().min(100)];
    h.as_old_mut().name[..cut.len()].copy_from_slice(cut);
    h.set_cksum();
    Ok(h)
}

/// Writes the PAX header (when needed) and the header of `e`. The caller
/// writes `e.size` content bytes and then [`write_padding`].
pub fn write_header(out: &mut impl Write, e: &EntryHeader) -> io::Result<()> {
    let mut pax = Vec::new();
    if e.path.len() > 100 {
        pax.extend(pax_record("path", e.path.as_bytes()));
    }
    let link = match &e.kind {
        EntryKind::Symlink(t) | EntryKind::Hardlink(t) => Some(t.as_str()),
        _ => None,
    };
    if let Some(t) = link.filter(|t| t.len() > 100) {
        pax.extend(pax_record("linkpath", t.as_bytes()));
    }
    for (k, v) in &e.pax {
        pax.extend(pax_record(k, v));
    }
    if !pax.is_empty() {
        let pax_name = match e.path.rsplit_once('/') {
            Some((dir, base)) => format!("{dir}/PaxHeaders/{base}"),
            None => format!("PaxHeaders/{}", e.path),
        };
        let h = header_for(&pax_name, tar::EntryType::XHeader, pax.len() as u64, e)?;
        out.write_all(h.as_bytes())?;
        out.write_all(&pax)?;
        write_padding(out, pax.len() as u64)?;
    }
    let (kind, size) = match &e.kind {
        EntryKind::File => (tar::EntryType::Regular, e.size),
        EntryKind::Directory => (tar::EntryType::Directory, 0),
        EntryKind::Symlink(_) => (tar::EntryType::Symlink, 0),
        EntryKind::Hardlink(_) => (tar::EntryType::Link, 0),
    };
    let mut h = header_for(&e.path, kind, size, e)?;
    if let Some(t) = link {
        let cut = &t.as_bytes()[..t.len().min(100)];
        h.as_old_mut().linkname[..cut.len()].copy_from_slice(cut);
        h.set_cksum();
    }
    out.write_all(h.as_bytes())
}

/// Pads content of `size` bytes to a whole block.
pub fn write_padding(out: &mut impl Write, size: u64) -> io::Result<()> {
    let rem = (size % BLOCK as u64) as usize;
    if rem != 0 {
        out.write_all(&[0u8; BLOCK][..BLOCK - rem])?;
    }
    Ok(())
}

/// Writes a whole in-memory file entry (header, content, padding).
pub fn write_file(out: &mut impl Write, e: &EntryHeader, content: &[u8]) -> io::Result<()> {
    let e = EntryHeader {
        size: content.len() as u64,
        ..e.clone()
    };
    write_header(out, &e)?;
    out.write_all(content)?;
    write_padding(out, content.len() as u64)
}

/// Writes the two zero blocks that end an archive.
pub fn write_end(out: &mut impl Write) -> io::Result<()> {
    out.write_all(&[0u8; 2 * BLOCK])
}

/// How an image layer's tar is compressed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Compression {
    /// gzip, level 6: what every runtime reads (the default).
    #[default]
    Gzip,
    /// zstd, level 3: smaller and faster to unpack, read by containerd ≥
    /// 1.5, Docker ≥ 23 and podman ≥ 3.
    Zstd,
}

impl Compression {
    /// The value as declared (`compression = "…"`).
    pub fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }

    /// Every value, in documentation order.
    pub const ALL: [Compression; 2] = [Compression::Gzip, Compression::Zstd];
}

/// The zstd level of [`Compression::Zstd`] layers (zstd's own default).
const ZSTD_LEVEL: i32 = 3;

/// At most this many zstd workers, whatever the number of threads: each
/// holds its own job buffers (peak RSS of a 100 MB build, measured: 54 MB
/// with 1 worker, 62–73 MB with 2, 78–103 MB with 4, 132 MB with 16),
/// and two already compress faster than the rest of a build reads and
/// verifies packages. The bytes do not depend on it.
const ZSTD_MAX_WORKERS: usize = 2;

/// An image layer being written: a tar stream compressed in parallel
/// (gzip: [`ParallelGzip`] on every core, level 6; zstd: up to
/// [`ZSTD_MAX_WORKERS`] libzstd workers, level 3 — both give the same
/// bytes whatever the number of threads), with the
/// SHA-256 of the tar (the OCI `diff_id`) and of the compressed bytes (the
/// blob digest) taken on the way. Write entries with [`write_header`] /
/// content / [`write_padding`], then [`LayerTar::finish`].
pub struct LayerTar<W: Write> {
    tar: Sha256Writer<Compressor<Sha256Writer<BufWriter<W>>>>,
}

/// The compressing stage of a [`LayerTar`].
enum Compressor<W: Write> {
    Gzip(ParallelGzip<W>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

impl<W: Write> Compressor<W> {
    fn new(out: W, compression: Compression, threads: usize) -> io::Result<Self> {
        Ok(match compression {
            Compression::Gzip => Compressor::Gzip(ParallelGzip::new(out, 6, threads)),
            Compression::Zstd => {
                let mut z = zstd::stream::write::Encoder::new(out, ZSTD_LEVEL)?;
                // Always the multithreaded format (at least one worker):
                // its bytes do not depend on the number of workers, while
                // zstd's single-threaded mode writes other bytes.
                z.multithread(threads.clamp(1, ZSTD_MAX_WORKERS) as u32)?;
                z.include_checksum(true)?;
                Compressor::Zstd(z)
            }
        })
    }

    fn finish(self) -> io::Result<W> {
        match self {
            Compressor::Gzip(g) => g.finish(),
            Compressor::Zstd(z) => z.finish(),
        }
    }
}

impl<W: Write> Write for Compressor<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Compressor::Gzip(g) => g.write(buf),
            Compressor::Zstd(z) => z.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Compressor::Gzip(g) => g.flush(),
            Compressor::Zstd(z) => z.flush(),
        }
    }
}

/// What [`LayerTar::finish`] measured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerDigests {
    /// `sha256:` of the uncompressed tar.
    pub diff_id: String,
    /// `sha256:` of the compressed blob.
    pub digest: String,
    /// Size of the compressed blob.
    pub size: u64,
}

impl<W: Write> LayerTar<W> {
    /// A layer written to `out`, compressed as `compression` on every core
    /// (zstd: at most [`ZSTD_MAX_WORKERS`]).
    pub fn new(out: W, compression: Compression) -> io::Result<Self> {
        Self::with_threads(out, compression, gzip::default_threads())
    }

    /// A layer written to `out`, compressed on `threads` threads (the
    /// bytes are the same for any number).
    pub fn with_threads(out: W, compression: Compression, threads: usize) -> io::Result<Self> {
        let compressed = Sha256Writer::new(BufWriter::new(out));
        Ok(LayerTar {
            tar: Sha256Writer::new(Compressor::new(compressed, compression, threads)?),
        })
    }

    /// Ends the archive, finishes and flushes the compressed stream.
    pub fn finish(mut self) -> io::Result<LayerDigests> {
        write_end(&mut self.tar)?;
        let (tar_hash, _, compressor) = self.tar.finish();
        let mut compressed = compressor.finish()?;
        compressed.flush()?;
        let (hash, size, _) = compressed.finish();
        Ok(LayerDigests {
            diff_id: format!("sha256:{}", hex::encode(tar_hash)),
            digest: format!("sha256:{}", hex::encode(hash)),
            size,
        })
    }
}

impl<W: Write> Write for LayerTar<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tar.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tar.flush()
    }
}

/// Checks an entry path the way apk-tools does before installing it, and
/// returns it without a trailing `/`. Refused: absolute paths, `.` or `..`
/// components, empty names and control characters.
pub fn check_path(raw: &[u8]) -> Result<&str, &'static str> {
    let s = std::str::from_utf8(raw).map_err(|_| "the path is not valid UTF-8")?;
    let s = s.strip_suffix('/').unwrap_or(s);
    if s.is_empty() {
        return Err("the path is empty");
    }
    if s.starts_with('/') {
        return Err("absolute paths are not allowed");
    }
    if s.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err("the path contains a control character");
    }
    if s.split('/').any(|c| c == ".." || c == "." || c.is_empty()) {
        return Err("the path contains '.', '..' or an empty component");
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Digest as _;

    #[test]
    fn pax_record_lengths_count_themselves() {
        let r = pax_record(
            "APK-TOOLS.checksum.SHA1",
            b"bdf9356a9516238c8b2468613517749098b17ef6",
        );
        assert_eq!(
            r,
            b"68 APK-TOOLS.checksum.SHA1=bdf9356a9516238c8b2468613517749098b17ef6\n"
        );
        for n in 0..300 {
            let v = vec![b'x'; n];
            let r = pax_record("k", &v);
            let len: usize = std::str::from_utf8(&r)
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(len, r.len());
        }
    }

    #[test]
    fn hostile_paths_are_refused() {
        for bad in [
            &b"/etc/passwd"[..],
            b"../x",
            b"a/../../x",
            b"./a",
            b"a/./b",
            b"a\nb",
            b"",
            b"a//b",
        ] {
            assert!(
                check_path(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(check_path(b"usr/bin/").unwrap(), "usr/bin");
        assert_eq!(check_path(b"etc/os-release").unwrap(), "etc/os-release");
    }

    #[test]
    fn written_entries_read_back_with_the_tar_crate() {
        let mut buf = Vec::new();
        let long = format!("usr/share/{}", "n".repeat(150));
        let e = EntryHeader {
            path: long.clone(),
            kind: EntryKind::File,
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: 1,
            size: 0,
            pax: vec![("APK-TOOLS.checksum.SHA1".into(), b"00".to_vec())],
        };
        write_file(&mut buf, &e, b"hello").unwrap();
        let link = EntryHeader {
            path: "bin/sh".into(),
            kind: EntryKind::Symlink("/bin/busybox".into()),
            pax: vec![],
            ..e.clone()
        };
        write_header(&mut buf, &link).unwrap();
        write_end(&mut buf).unwrap();
        let mut ar = tar::Archive::new(&buf[..]);
        let mut entries = ar.entries().unwrap();
        let mut first = entries.next().unwrap().unwrap();
        assert_eq!(first.path_bytes().as_ref(), long.as_bytes());
        let pax: Vec<_> = first
            .pax_extensions()
            .unwrap()
            .unwrap()
            .map(|p| p.unwrap().key().unwrap().to_owned())
            .collect();
        assert!(pax.contains(&"APK-TOOLS.checksum.SHA1".to_owned()));
        let mut s = String::new();
        std::io::Read::read_to_string(&mut first, &mut s).unwrap();
        assert_eq!(s, "hello");
        let second = entries.next().unwrap().unwrap();
        assert_eq!(second.link_name_bytes().unwrap().as_ref(), b"/bin/busybox");
        assert!(entries.next().is_none());
    }

    /// A layer of `files` (path, content), compressed on `threads` threads.
    fn layer(
        compression: Compression,
        threads: usize,
        files: &[(String, Vec<u8>)],
    ) -> (LayerDigests, Vec<u8>) {
        let mut out = Vec::new();
        let mut tar = LayerTar::with_threads(&mut out, compression, threads).unwrap();
        for (path, content) in files {
            let h = EntryHeader::new(path, EntryKind::File, 0o644, 1);
            write_file(
                &mut tar,
                &EntryHeader {
                    size: content.len() as u64,
                    ..h
                },
                content,
            )
            .unwrap();
        }
        let digests = tar.finish().unwrap();
        (digests, out)
    }

    #[test]
    fn layers_are_the_same_bytes_on_any_number_of_threads() {
        // Large enough for several compression jobs: half noise, half text.
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        let files: Vec<(String, Vec<u8>)> = (0..12)
            .map(|i| {
                let content = (0..1_500_000u32)
                    .map(|j| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        if (i + j as usize / 4096).is_multiple_of(2) {
                            (x >> 56) as u8
                        } else {
                            b"layer text "[j as usize % 11]
                        }
                    })
                    .collect();
                (format!("usr/share/f{i}"), content)
            })
            .collect();
        for compression in Compression::ALL {
            let (one, bytes) = layer(compression, 1, &files);
            for threads in [2, 3, 8] {
                let (n, more) = layer(compression, threads, &files);
                assert_eq!(n, one, "{compression:?} on {threads} threads");
                assert!(more == bytes);
            }
            assert_eq!(one.size, bytes.len() as u64);
            assert_eq!(
                one.digest,
                format!("sha256:{}", hex::encode(sha2::Sha256::digest(&bytes)))
            );
            // It decompresses to the tar whose digest is the diff_id.
            let tar = match compression {
                Compression::Gzip => {
                    let mut t = Vec::new();
                    std::io::Read::read_to_end(
                        &mut flate2::read::MultiGzDecoder::new(&bytes[..]),
                        &mut t,
                    )
                    .unwrap();
                    t
                }
                Compression::Zstd => zstd::stream::decode_all(&bytes[..]).unwrap(),
            };
            assert_eq!(
                one.diff_id,
                format!("sha256:{}", hex::encode(sha2::Sha256::digest(&tar)))
            );
            let magic: &[u8] = match compression {
                Compression::Gzip => &[0x1f, 0x8b],
                Compression::Zstd => &[0x28, 0xb5, 0x2f, 0xfd],
            };
            assert!(bytes.starts_with(magic), "{compression:?}");
            let names: Vec<String> = tar::Archive::new(&tar[..])
                .entries()
                .unwrap()
                .map(|e| e.unwrap().path().unwrap().display().to_string())
                .collect();
            assert_eq!(names.len(), files.len());
        }
    }
}
