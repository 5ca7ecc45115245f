//! Writing files so that a reader never sees a half-written one: write to a
//! temporary file in the same directory, fsync it, then rename it over the
//! destination. A failure at any point leaves the destination untouched.
//!
//! Modes are part of the contract. Temporary files are usually created
//! `0600` (that is what `tempfile` does), and a rename keeps the mode, so
//! every output would end up private. Here the temporary file is created
//! with the mode the *final* file should have — `0666` minus the umask for
//! ordinary outputs (blobs, layouts, archives, SBOMs, packages, indexes,
//! lock files: `0644` under the usual umask `022`), `0600` for private keys
//! ([`write_private_file`]) — and the same goes for temporary directories
//! that become outputs ([`temp_dir_in`]: `0777` minus the umask). The kernel
//! applies the umask at creation, exactly as for `open(2)` and `mkdir(2)`.

use std::fs::{File, Permissions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use tempfile::{NamedTempFile, TempDir};

/// Mode of ordinary files we write, before the umask.
pub const FILE_MODE: u32 = 0o666;
/// Mode of private files (keys); the umask can only narrow it further.
pub const PRIVATE_MODE: u32 = 0o600;
/// Mode of directories we create, before the umask.
pub const DIR_MODE: u32 = 0o777;

/// A temporary file in `dir` named `PREFIX…`, created with [`FILE_MODE`]
/// minus the umask: once renamed into place it has the mode any other file
/// the user creates would have.
pub fn temp_file_in(dir: &Path, prefix: &str) -> io::Result<NamedTempFile> {
    temp_file_with_mode(dir, prefix, FILE_MODE)
}

/// Like [`temp_file_in`] with an explicit creation mode (the umask still
/// applies).
pub fn temp_file_with_mode(dir: &Path, prefix: &str, mode: u32) -> io::Result<NamedTempFile> {
    tempfile::Builder::new()
        .prefix(prefix)
        .permissions(Permissions::from_mode(mode))
        .tempfile_in(dir)
}

/// A temporary directory in `dir` named `PREFIX…`, created with
/// [`DIR_MODE`] minus the umask (so it can become an output directory).
pub fn temp_dir_in(dir: &Path, prefix: &str) -> io::Result<TempDir> {
    tempfile::Builder::new()
        .prefix(prefix)
        .permissions(Permissions::from_mode(DIR_MODE))
        .tempdir_in(dir)
}

/// Makes a finished temporary file durable and renames it to `dest`: fsync
/// of the content, rename, then fsync of the directory so the new name
/// survives a crash too.
pub fn persist(tmp: NamedTempFile, dest: &Path) -> io::Result<()> {
    tmp.as_file().sync_all()?;
    tmp.persist(dest).map_err(|e| e.error)?;
    sync_dir(dest.parent().unwrap_or(Path::new(".")));
    Ok(())
}

/// Best-effort fsync of a directory (the rename is already atomic; this
/// only makes it durable, and some filesystems refuse it).
fn sync_dir(dir: &Path) {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Writes `path` atomically with the bytes `write` produces; the file gets
/// mode `0666` minus the umask.
pub fn write_file<T, E: From<io::Error>>(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<&mut File>) -> Result<T, E>,
) -> Result<T, E> {
    write_with_mode(path, FILE_MODE, write)
}

/// Writes `path` atomically like [`write_file`], readable by the owner only
/// (`0600`): for private keys.
pub fn write_private_file<T, E: From<io::Error>>(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<&mut File>) -> Result<T, E>,
) -> Result<T, E> {
    write_with_mode(path, PRIVATE_MODE, write)
}

fn write_with_mode<T, E: From<io::Error>>(
    path: &Path,
    mode: u32,
    write: impl FnOnce(&mut BufWriter<&mut File>) -> Result<T, E>,
) -> Result<T, E> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = temp_file_with_mode(dir, ".tmp-", mode)?;
    let value = {
        let mut w = BufWriter::new(tmp.as_file_mut());
        let value = write(&mut w)?;
        w.flush()?;
        value
    };
    persist(tmp, path)?;
    Ok(value)
}

/// The process's umask, read from `/proc/self/status` (Linux); `None` where
/// that is not available. Reading it this way does not change it, unlike
/// `umask(2)`, so it is safe with other threads running.
pub fn current_umask() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("Umask:"))?;
    u32::from_str_radix(line.trim(), 8).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn failure_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        write_file::<_, io::Error>(&p, |w| w.write_all(b"old")).unwrap();
        let r = write_file::<(), io::Error>(&p, |w| {
            w.write_all(b"new")?;
            Err(io::Error::other("boom"))
        });
        assert!(r.is_err());
        assert_eq!(std::fs::read(&p).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn outputs_get_normal_modes_and_keys_private_ones() {
        let umask = current_umask().expect("/proc/self/status has Umask");
        let dir = tempfile::tempdir().unwrap();
        let public = dir.path().join("blob");
        write_file::<_, io::Error>(&public, |w| w.write_all(b"x")).unwrap();
        assert_eq!(mode(&public), 0o666 & !umask);
        let key = dir.path().join("key.rsa");
        write_private_file::<_, io::Error>(&key, |w| w.write_all(b"k")).unwrap();
        assert_eq!(mode(&key), 0o600 & !umask);
        // Replacing a private file with an ordinary one gives the ordinary mode.
        write_file::<_, io::Error>(&key, |w| w.write_all(b"p")).unwrap();
        assert_eq!(mode(&key), 0o666 & !umask);
        let d = temp_dir_in(dir.path(), ".out-").unwrap();
        assert_eq!(mode(d.path()), 0o777 & !umask);
        let t = temp_file_in(dir.path(), ".blob-").unwrap();
        assert_eq!(mode(t.path()), 0o666 & !umask);
        let dest = dir.path().join("persisted");
        persist(t, &dest).unwrap();
        assert_eq!(mode(&dest), 0o666 & !umask);
    }
}
