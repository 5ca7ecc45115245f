//! Writing files so that a reader never sees a half-written one: write to a
//! temporary file in the same directory, fsync it, then rename it over the
//! destination. A failure at any point leaves the destination untouched.

use std::io::{self, BufWriter, Write};
use std::path::Path;

/// Writes `path` atomically with the bytes `write` produces.
pub fn write_file<T, E: From<io::Error>>(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<&mut std::fs::File>) -> Result<T, E>,
) -> Result<T, E> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir)?;
    let value = {
        let mut w = BufWriter::new(tmp.as_file_mut());
        let value = write(&mut w)?;
        w.flush()?;
        value
    };
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
