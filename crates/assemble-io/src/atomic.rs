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
//!
//! Leftovers. A process killed mid-write leaves its temporary files and
//! directories behind. Every temporary we create is `flock`ed for as long
//! as its creator uses it (the kernel drops the lock when the process
//! dies), so [`remove_leftovers`] can tell a leftover (lockable) from a
//! temporary another process is writing right now (locked) and removes
//! only the former.

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
    let file = tempfile::Builder::new()
        .prefix(prefix)
        .permissions(Permissions::from_mode(mode))
        .tempfile_in(dir)?;
    // Held until the file is persisted or dropped: not a leftover.
    file.as_file().lock()?;
    Ok(file)
}

/// A temporary directory in `dir` named `PREFIX…`, created with
/// [`DIR_MODE`] minus the umask (so it can become an output directory),
/// with a `flock` on it that marks it in use while the returned
/// [`LockedTempDir`] lives.
pub fn temp_dir_in(dir: &Path, prefix: &str) -> io::Result<LockedTempDir> {
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .permissions(Permissions::from_mode(DIR_MODE))
        .tempdir_in(dir)?;
    let lock = File::open(dir.path())?;
    lock.lock()?;
    Ok(LockedTempDir { dir, _lock: lock })
}

/// A temporary directory that [`remove_leftovers`] leaves alone while it
/// lives; removed when dropped.
#[derive(Debug)]
pub struct LockedTempDir {
    dir: TempDir,
    _lock: File,
}

impl LockedTempDir {
    /// Its path.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Keeps the directory (it is no longer removed on drop) and returns
    /// its path; the lock goes with `self`.
    pub fn keep(self) -> std::path::PathBuf {
        self.dir.keep()
    }

    /// Removes the directory now, reporting failure.
    pub fn close(self) -> io::Result<()> {
        self.dir.close()
    }
}

/// Removes what interrupted runs left in `dir`: entries named one of
/// `prefixes` followed by six random alphanumerics (a temporary name we
/// create) that no live process holds locked (see the
/// module docs). Symbolic links and entries in use are left alone; a
/// failure to remove one is ignored (the next run tries again). Returns
/// the names removed.
pub fn remove_leftovers(dir: &Path, prefixes: &[&str]) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        // Exactly what `tempfile` makes: the prefix and six random
        // alphanumerics; anything else (a user's own `.tmp-notes`) stays.
        let ours = prefixes.iter().any(|p| {
            name.strip_prefix(p).is_some_and(|rest| {
                rest.len() == 6 && rest.bytes().all(|b| b.is_ascii_alphanumeric())
            })
        });
        if !ours {
            continue;
        }
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if !(kind.is_dir() || kind.is_file()) {
            continue;
        }
        let Ok(handle) = File::open(&path) else {
            continue;
        };
        if handle.try_lock().is_err() {
            continue;
        }
        let gone = if kind.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        if gone.is_ok() {
            removed.push(name);
        }
    }
    removed
}

/// Swaps two paths in one step (`renameat2(RENAME_EXCHANGE)`): at no time
/// is either name missing. Both must exist on the same filesystem.
/// Filesystems without the call get `Unsupported`, and callers fall back.
#[cfg(target_os = "linux")]
pub fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let a = std::ffi::CString::new(a.as_os_str().as_bytes())?;
    let b = std::ffi::CString::new(b.as_os_str().as_bytes())?;
    // SAFETY: both are valid NUL-terminated paths that outlive the call.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINVAL) | Some(libc::ENOSYS) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the filesystem cannot exchange two paths atomically",
            )),
            _ => Err(e),
        }
    }
}

/// Swaps two paths in one step; unsupported on this system (callers fall
/// back).
#[cfg(not(target_os = "linux"))]
pub fn exchange(_a: &Path, _b: &Path) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "no atomic exchange of two paths on this system",
    ))
}

/// Makes `link` a symbolic link to `target`, replacing whatever file or
/// link was there in one rename (never a moment without `link`).
pub fn symlink(target: &Path, link: &Path) -> io::Result<()> {
    if std::fs::read_link(link).is_ok_and(|t| t == target) {
        return Ok(());
    }
    let dir = match link.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = link
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // A unique name beside it; a leftover of a kill is a dangling-or-not
    // link named `.NAME.tmp-…`, removed by `remove_leftovers`.
    for attempt in 0..100u32 {
        let tmp = dir.join(format!(".{name}.tmp-{}-{attempt}", std::process::id()));
        match std::os::unix::fs::symlink(target, &tmp) {
            Ok(()) => {
                std::fs::rename(&tmp, link).inspect_err(|_| {
                    let _ = std::fs::remove_file(&tmp);
                })?;
                sync_dir(dir);
                return Ok(());
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let _ = std::fs::remove_file(&tmp);
            }
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other("cannot create a temporary symbolic link"))
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
    fn leftovers_are_removed_unless_in_use_or_not_ours() {
        let dir = tempfile::tempdir().unwrap();
        let live = temp_file_in(dir.path(), ".tmp-").unwrap();
        let live_dir = temp_dir_in(dir.path(), ".out.tmp-").unwrap();
        let dead = temp_file_in(dir.path(), ".tmp-")
            .unwrap()
            .into_temp_path()
            .keep()
            .unwrap();
        let dead_dir = temp_dir_in(dir.path(), ".out.tmp-").unwrap().keep();
        std::fs::write(dead_dir.join("f"), "x").unwrap();
        std::fs::write(dir.path().join(".tmp-notes"), "mine").unwrap();
        let mut removed = remove_leftovers(dir.path(), &[".tmp-", ".out.tmp-"]);
        removed.sort();
        assert_eq!(removed.len(), 2, "{removed:?}");
        assert!(!dead.exists() && !dead_dir.exists());
        assert!(live.path().exists() && live_dir.path().exists());
        assert!(dir.path().join(".tmp-notes").exists());
    }

    #[test]
    fn exchange_swaps_two_directories() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir(&a).unwrap();
        std::fs::create_dir(&b).unwrap();
        std::fs::write(a.join("x"), "a").unwrap();
        std::fs::write(b.join("x"), "b").unwrap();
        exchange(&a, &b).unwrap();
        assert_eq!(std::fs::read(a.join("x")).unwrap(), b"b");
        assert_eq!(std::fs::read(b.join("x")).unwrap(), b"a");
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
