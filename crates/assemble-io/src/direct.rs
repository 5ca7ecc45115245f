//! Writing a file past the page cache, so that its first reader gets it in
//! 2 MiB pages.
//!
//! A file written the usual way stays in the page cache in the pieces the
//! writes made (4–64 KiB folios), and every mapping of it then sets up a
//! page-table entry per 4 KiB: a thousand for a 4 MB cache entry, on every
//! run that maps it. Read from disk into a mapping advised `MADV_HUGEPAGE`,
//! the page cache takes whole 2 MiB folios instead where the file system
//! has large folios (ext4 from Linux 6.16, XFS), and every later mapping
//! of the file is two entries, present in microseconds. A file written
//! with `O_DIRECT` leaves nothing in the page cache, so its first reader
//! reads it that way. (Writing in 2 MiB calls makes 2 MiB folios too, but
//! fresh 2 MiB blocks of memory can be slow to come by; direct writes need
//! none.)

use std::fs::File;
use std::io::{self, Seek, Write};

use crate::pages::Region;

/// How much is written per call (and staged in memory).
const CHUNK: usize = 2 << 20;

/// Writes `pieces` one after the other, then zeros up to `len` bytes in
/// all, to the empty file `file`: with direct I/O when `len` is a whole
/// number of 2 MiB pages (nothing smaller gains from it) and the file
/// system takes it, else the usual way, `step` bytes per call. The file
/// ends up `len` bytes long either way, positioned at its end.
///
/// # Panics
/// When the pieces are longer than `len`.
pub fn write_padded(file: &mut File, pieces: &[&[u8]], len: usize, step: usize) -> io::Result<()> {
    let total: usize = pieces.iter().map(|p| p.len()).sum();
    assert!(total <= len, "the pieces fit in the length");
    if len > 0 && len.is_multiple_of(CHUNK) {
        if write_direct(file, pieces, len).is_ok() {
            return Ok(());
        }
        // Start again, buffered: whatever the direct attempt wrote goes.
        set_direct(file, false)?;
        file.set_len(0)?;
        file.rewind()?;
    }
    let zeros = vec![0u8; len - total];
    for piece in pieces.iter().copied().chain([&zeros[..]]) {
        for chunk in piece.chunks(step.max(1)) {
            file.write_all(chunk)?;
        }
    }
    Ok(())
}

/// [`write_padded`] with `O_DIRECT` for `len` a multiple of [`CHUNK`],
/// a chunk at a time through a staging buffer aligned for it (the pieces
/// are anywhere in memory).
fn write_direct(file: &mut File, pieces: &[&[u8]], len: usize) -> io::Result<()> {
    set_direct(file, true)?;
    let mut stage = Region::with_capacity(CHUNK)?;
    let mut rest = pieces.iter().copied();
    let mut pending: &[u8] = &[];
    for _ in 0..len / CHUNK {
        // Fill the stage from the pieces, then zeros.
        stage.set_len(0);
        while stage.len() < CHUNK {
            if pending.is_empty() {
                match rest.next() {
                    Some(piece) => pending = piece,
                    None => break,
                }
            }
            let n = pending.len().min(CHUNK - stage.len());
            let ok = stage.try_extend(&pending[..n]);
            debug_assert!(ok, "within the stage's capacity");
            pending = &pending[n..];
        }
        let filled = stage.len();
        stage.set_len(CHUNK);
        stage[filled..].fill(0);
        file.write_all(&stage)?;
    }
    set_direct(file, false)
}

/// Turns `O_DIRECT` on or off for `file`.
#[cfg(target_os = "linux")]
fn set_direct(file: &File, on: bool) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on a descriptor this `File` owns; no memory involved.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    let new = if on {
        flags | libc::O_DIRECT
    } else {
        flags & !libc::O_DIRECT
    };
    // SAFETY: as above.
    if new != flags && unsafe { libc::fcntl(fd, libc::F_SETFL, new) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn set_direct(_: &File, on: bool) -> io::Result<()> {
    if on {
        Err(io::ErrorKind::Unsupported.into())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(pieces: &[&[u8]], len: usize) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut file = File::create(&path).unwrap();
        write_padded(&mut file, pieces, len, 4096).unwrap();
        assert_eq!(file.stream_position().unwrap(), len as u64);
        drop(file);
        std::fs::read(&path).unwrap()
    }

    #[test]
    fn pieces_then_zeros_whatever_the_alignment() {
        let a: Vec<u8> = (0..3_000_001u32).map(|i| (i % 251) as u8).collect();
        let b = vec![7u8; 13];
        let c: Vec<u8> = (0..1_000_000u32).map(|i| (i % 13) as u8).collect();
        for len in [4 << 20, (4 << 20) + 4096, (6 << 20) + 3] {
            let got = written(&[&a[1..], &b, &c], len);
            let mut want = [&a[1..], &b[..], &c[..]].concat();
            want.resize(len, 0);
            assert_eq!(got.len(), want.len());
            assert!(got == want, "bytes differ at length {len}");
        }
    }

    #[test]
    fn small_and_empty() {
        assert_eq!(written(&[b"abc"], 4096)[..4], *b"abc\0");
        assert_eq!(written(&[b"abc"], 2 << 20)[..4], *b"abc\0");
        assert_eq!(written(&[b"abc"], 5), b"abc\0\0");
        assert!(written(&[], 0).is_empty());
    }
}
