//! Loading an index: verified on every use, parsed once.
//!
//! [`IndexLoader::load`] reads the compressed file, hashes it (BLAKE3, the
//! cache key) and checks its signature exactly as [`super::archive`] does —
//! every time. Only then does it look for a parsed copy of *these bytes*
//! in the cache directory (`<blake3>.v<format>`): the entry is
//! memory-mapped and used in place when its header names the same digest
//! and format and its CRC-32 matches; anything else (corrupt, truncated,
//! built from other bytes, another format) is ignored and rebuilt. A miss
//! inflates the body (bounded) and parses it into a [`ParsedIndex`], which
//! is written to the cache (temporary file, then rename) only when its
//! signature was verified. Because an entry is a pure function of the file
//! bytes it was built from, and those bytes are verified before the entry
//! is looked up, no index — hostile or not — can make another index's
//! bytes parse differently.
//!
//! The load comes in two halves for callers that still have to load their
//! keys: [`IndexLoader::open_as`] reads the file and starts hashing the
//! bytes its signature covers on another thread (that needs no keys);
//! [`OpenedIndex::load`] looks up the cache entry meanwhile, checks the
//! signature, and only then uses the entry.
//!
//! A caller that can set work aside until the file verified may go
//! further: [`IndexLoader::recall`] finds the entry last verified for a
//! file the file system says is unchanged (same device, inode, size and
//! modification and change times: a *hint*, `<key>.hint` in the cache
//! directory, naming the entry) without reading the file, so that work
//! on the entry can start while [`Recalled::check_file`] reads, hashes
//! and verifies the file on another thread. [`Recalled::confirm`] then hands
//! the entry over only if the verified file's digest is the one the entry
//! was built from; anything computed from it before must be thrown away
//! otherwise. A hint is only a guess, so a stale or planted one costs time,
//! never correctness.
//!
//! A large index is inflated and parsed at once on two threads (see
//! [`super::parsed`]); that parse is used from memory and written to the
//! cache by a third thread while the caller already uses it (dropping the
//! index waits for the write).

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;

use super::archive::{self, IndexArchiveError, Trust};
use super::parsed::{self, ParsedIndex, Parts};
use crate::signature::Keyring;

/// Entries kept in a cache directory; older ones (by last use) are removed
/// when a new one is written.
pub const MAX_ENTRIES: usize = 32;

/// Hints kept in a cache directory (see [`IndexLoader::recall`]); hints
/// whose entry is gone are removed first, then the oldest.
pub const MAX_HINTS: usize = 4 * MAX_ENTRIES;

/// Loads indexes through an optional cache directory; see the module docs.
#[derive(Clone, Debug)]
pub struct IndexLoader {
    dir: Option<PathBuf>,
    max_size: u64,
}

impl Default for IndexLoader {
    fn default() -> Self {
        IndexLoader::new(None)
    }
}

impl IndexLoader {
    /// A loader caching parsed indexes in `dir` (created when needed), or
    /// not caching at all when `None`. The inflated size bound is
    /// [`archive::max_index_size`].
    pub fn new(dir: Option<PathBuf>) -> Self {
        IndexLoader {
            dir,
            max_size: archive::max_index_size(),
        }
    }

    /// Sets the bound on the inflated (and compressed) index size.
    pub fn with_max_size(mut self, max_size: u64) -> Self {
        self.max_size = max_size;
        self
    }

    /// The cache directory, if any.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Reads, verifies (unless `trust` allows otherwise) and parses the
    /// index file at `path`, using or filling the cache.
    pub fn load(
        &self,
        path: &Path,
        keyring: &Keyring,
        trust: Trust,
    ) -> Result<ParsedIndex, IndexArchiveError> {
        self.open_as(path, path)?.load(keyring, trust)
    }

    /// The first half of [`IndexLoader::load`], which needs no keys: reads
    /// the file (bounded) and starts hashing what its signature covers on
    /// another thread, so that a caller can load its keyring meanwhile.
    /// `name` names the file in errors and warnings (a download's URL
    /// instead of its temporary or cache path). Nothing read is used before
    /// [`OpenedIndex::load`] verified it.
    pub fn open_as(&self, path: &Path, name: &Path) -> Result<OpenedIndex, IndexArchiveError> {
        // Stated before it is read: a hint written from this load then
        // names, at worst, an identity the file no longer has. A file read
        // under another name (a download) gets none: only files named by
        // their path are recalled.
        let identity = (path == name)
            .then(|| fs::metadata(path).ok())
            .flatten()
            .map(|m| identity_key(&m));
        let data = Arc::new(archive::read_bounded(path, name, self.max_size)?);
        let signed = {
            let (data, name) = (Arc::clone(&data), name.to_owned());
            assemble_io::thread::spawn("index-digest", move || archive::hash_signed(&data, &name))
                .ok()
        };
        Ok(OpenedIndex {
            loader: self.clone(),
            name: name.to_owned(),
            identity,
            data,
            signed,
        })
    }

    /// The cache entry last verified for the index file at `path`,
    /// found and mapped without reading the file, when the file system
    /// says the file has not changed since (see the module docs). Nothing
    /// read from it counts until [`Recalled::confirm`] accepted it.
    pub fn recall(&self, path: &Path) -> Option<Recalled> {
        let dir = self.dir.as_deref()?;
        let identity = identity_key(&fs::metadata(path).ok()?);
        let target = fs::read_link(dir.join(hint_name(&identity))).ok()?;
        let digest = entry_digest(target.to_str()?)?;
        // Its checksum is left to `entry_intact`, for another thread.
        let index = map_entry(&entry_path(dir, &digest), &digest, false)?;
        Some(Recalled {
            index,
            intact: OnceLock::new(),
            max_size: self.max_size,
            path: path.to_owned(),
        })
    }
}

/// A cache entry found by [`IndexLoader::recall`], not yet confirmed.
#[derive(Debug)]
pub struct Recalled {
    index: ParsedIndex,
    /// Whether its contents match their checksum, once computed.
    intact: OnceLock<bool>,
    /// The index file and the bound on its size.
    path: PathBuf,
    max_size: u64,
}

impl Recalled {
    /// The entry, to work with before it is confirmed: nothing derived
    /// from it may be shown, kept or acted on unless [`Recalled::confirm`]
    /// succeeds.
    pub fn index(&self) -> &ParsedIndex {
        &self.index
    }

    /// Reads the index file (bounded) and checks its signature with
    /// `keyring` as `trust` asks, exactly as [`IndexLoader::load`] does,
    /// without parsing it: what [`Recalled::confirm`] needs, on any thread.
    pub fn check_file(
        &self,
        keyring: &Keyring,
        trust: Trust,
    ) -> Result<Checked, IndexArchiveError> {
        let path = &self.path;
        let data = archive::read_bounded(path, path, self.max_size)?;
        let digest = file_digest(&data);
        let signer = archive::verify(&data, path, keyring, trust)?.signer;
        Ok(Checked { digest, signer })
    }

    /// Whether the entry's contents match their checksum (computed once,
    /// on whichever thread asks first: another than the one using it
    /// saves that one the time).
    pub fn entry_intact(&self) -> bool {
        *self.intact.get_or_init(|| self.index.checksum_matches())
    }

    /// The entry, verified: `Some` only when it is intact and `checked`
    /// (the file's check) found the bytes it was built from.
    pub fn confirm(self, checked: &Checked) -> Option<ParsedIndex> {
        let intact = self.entry_intact();
        let mut index = self.index;
        (intact && index.digest() == &checked.digest).then(|| {
            index.set_signer(checked.signer.clone());
            index
        })
    }
}

/// What [`Recalled::check_file`] found: the file's cache key and who
/// signed it.
#[derive(Clone, Debug)]
pub struct Checked {
    digest: [u8; 32],
    signer: Option<String>,
}

/// An index file read into memory whose signed bytes are being hashed:
/// [`IndexLoader::open_as`].
pub struct OpenedIndex {
    loader: IndexLoader,
    name: PathBuf,
    /// The file's identity when it was read, for its hint.
    identity: Option<String>,
    data: Arc<archive::FileBytes>,
    /// The signature entries and the digests of what they sign; `None`
    /// when no thread could be started (then hashed by [`OpenedIndex::load`]).
    signed: Option<JoinHandle<Result<archive::Signed, IndexArchiveError>>>,
}

impl std::fmt::Debug for OpenedIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenedIndex")
            .field("name", &self.name)
            .field("len", &self.data.len())
            .finish_non_exhaustive()
    }
}

/// The cache key of an index file: the BLAKE3 digest of its bytes. Any
/// collision-resistant hash would do; BLAKE3 hashes the file three times
/// as fast as SHA-256 here, and the key is computed on every use.
pub fn file_digest(data: &[u8]) -> [u8; 32] {
    blake3::hash(data).into()
}

/// Where the entry for the index file with `digest` lives in `dir`.
fn entry_path(dir: &Path, digest: &[u8; 32]) -> PathBuf {
    dir.join(entry_name(digest))
}

/// The file name of the entry for `digest`.
fn entry_name(digest: &[u8; 32]) -> String {
    format!("{}.v{}", hex::encode(digest), parsed::FORMAT_VERSION)
}

/// The digest an entry's file name of this format carries.
fn entry_digest(name: &str) -> Option<[u8; 32]> {
    let (digest, version) = name.split_once(".v")?;
    if version != parsed::FORMAT_VERSION.to_string() {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(digest, &mut out).ok()?;
    Some(out)
}

/// What the file system says identifies a file's contents: the same
/// device, inode, size and modification and change times, hashed. The
/// change time moves on every write and cannot be set back, so a file
/// with this identity has not been written since (which is all a hint
/// claims; the file is verified on every use anyway).
fn identity_key(meta: &fs::Metadata) -> String {
    use std::os::unix::fs::MetadataExt;
    let fields = [
        meta.dev(),
        meta.ino(),
        meta.size(),
        meta.mtime() as u64,
        meta.mtime_nsec() as u64,
        meta.ctime() as u64,
        meta.ctime_nsec() as u64,
    ];
    let mut hasher = blake3::Hasher::new();
    for field in fields {
        hasher.update(&field.to_le_bytes());
    }
    hex::encode(&hasher.finalize().as_bytes()[..16])
}

/// The hint for a file with `identity`.
fn hint_name(identity: &str) -> String {
    format!("{identity}.hint")
}

/// Makes the hint for `identity` name the entry for `digest` (a symbolic
/// link, replaced atomically) unless it already does, and keeps the
/// directory to [`MAX_HINTS`] hints. Best effort: a hint only saves time.
fn remember(dir: &Path, identity: &str, digest: &[u8; 32]) {
    let hint = dir.join(hint_name(identity));
    let target = entry_name(digest);
    if fs::read_link(&hint).is_ok_and(|t| t.as_os_str() == target.as_str()) {
        return;
    }
    let tmp = dir.join(format!(".tmp-{identity}.{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    if std::os::unix::fs::symlink(&target, &tmp).is_ok() && fs::rename(&tmp, &hint).is_ok() {
        let _ = prune_hints(dir);
    } else {
        let _ = fs::remove_file(&tmp);
    }
}

impl OpenedIndex {
    /// Verifies the file's signature with `keyring` (as `trust` allows)
    /// and yields its index: the cache entry for these bytes, or a fresh
    /// parse (cached once verified).
    pub fn load(self, keyring: &Keyring, trust: Trust) -> Result<ParsedIndex, IndexArchiveError> {
        let OpenedIndex {
            loader,
            name,
            identity,
            data,
            signed,
        } = self;
        let name = name.as_path();
        // The entry is looked up while the other thread hashes the signed
        // bytes, and used only once the signature checked out.
        let digest = file_digest(&data);
        let cached = loader
            .dir
            .as_deref()
            .and_then(|d| open_entry(&entry_path(d, &digest), &digest));
        let signed = match signed.map(JoinHandle::join) {
            Some(Ok(signed)) => signed,
            // No helper, or one that panicked: hashed here.
            _ => archive::hash_signed(&data, name),
        };
        let verified = archive::check_signed(&data, signed?, name, keyring, trust)?;
        // Verified: the next use may recall the entry by the file's
        // identity, once the entry exists.
        let hint = loader
            .dir
            .clone()
            .zip(identity)
            .filter(|_| verified.signer.is_some());
        if let Some(mut index) = cached {
            if let Some((dir, identity)) = &hint {
                remember(dir, identity, &digest);
            }
            index.set_signer(verified.signer);
            return Ok(index);
        }
        // Only what verified is cached; the cache only speeds things up,
        // so a failure to write it is not an error.
        let entry = loader
            .dir
            .as_deref()
            .map(|d| entry_path(d, &digest))
            .filter(|_| verified.signer.is_some());
        let label = format!("{}:APKINDEX", name.display());
        // A large index is parsed while it is inflated, in memory, and
        // written to the cache by another thread while it is being used
        // (dropping the index waits for that). Anything unusual goes the
        // usual way, which reports it.
        let streamed = Parts::stream_buffer(archive::announced_size(&verified), loader.max_size)
            .and_then(|buffer| {
                ParsedIndex::build_streamed(
                    buffer,
                    &verified,
                    name,
                    loader.max_size,
                    &label,
                    digest,
                )
            });
        if let Some(mut index) = streamed {
            if let Some(entry) = entry {
                index.write_in_background(move |bytes| {
                    if store(&entry, |file| write_entry(file, &[bytes])).is_ok() {
                        if let Some((dir, identity)) = &hint {
                            remember(dir, identity, &digest);
                        }
                    }
                });
            }
            index.set_signer(verified.signer);
            return Ok(index);
        }
        let archive = archive::inflate(&verified, name, loader.max_size)?;
        let parts = Parts::build(
            &archive.text,
            &archive.description,
            archive.lossy,
            &label,
            digest,
        )
        .map_err(|e| archive::format_err(name, e.to_string()))?;
        // Written straight to the cache and mapped from there (no second
        // copy in memory).
        if let Some(entry) = &entry {
            if store(entry, |file| write_entry(file, &parts.pieces())).is_ok() {
                if let Some((dir, identity)) = &hint {
                    remember(dir, identity, &digest);
                }
                if let Some(mut index) = open_entry(entry, &digest) {
                    index.set_signer(verified.signer);
                    return Ok(index);
                }
            }
        }
        let mut index = parts.into_index();
        index.set_signer(verified.signer);
        Ok(index)
    }
}

/// Maps a cache entry, or `None` when it is missing or unusable.
fn open_entry(path: &Path, digest: &[u8; 32]) -> Option<ParsedIndex> {
    map_entry(path, digest, true)
}

/// [`open_entry`], its checksum checked only when `summed` (otherwise
/// [`ParsedIndex::checksum_matches`] must be asked before it is trusted).
fn map_entry(path: &Path, digest: &[u8; 32], summed: bool) -> Option<ParsedIndex> {
    let file = File::open(path).ok()?;
    // SAFETY: entries are only ever created whole (temporary file, then
    // rename) and never modified in place, so the mapped bytes do not
    // change while mapped; every read of them is bounds-checked.
    let map = unsafe { memmap2::MmapOptions::new().map(&file) }.ok()?;
    // Made present at once, in 2 MiB pages where the page cache has them
    // (or, reading it again, makes them): a 4 MB entry then takes two
    // page-table entries instead of a thousand, to set up and to tear down.
    let _ = map.advise(memmap2::Advice::HugePage);
    if map.advise(memmap2::Advice::PopulateRead).is_err() {
        // Before Linux 5.14: one access per page instead.
        let mut sum = 0u8;
        for page in map.chunks(4096) {
            sum ^= page[0];
        }
        std::hint::black_box(sum);
    }
    let index = if summed {
        ParsedIndex::from_mmap(map, digest)
    } else {
        ParsedIndex::from_mmap_unsummed(map, digest)
    }
    .ok()?;
    // Last use, for eviction (to the minute: most uses write nothing).
    let now = std::time::SystemTime::now();
    let used = file.metadata().and_then(|m| m.modified());
    if used.map_or(true, |t| {
        now.duration_since(t).unwrap_or_default().as_secs() >= 60
    }) {
        let _ = file.set_modified(now);
    }
    Some(index)
}

/// Writes an entry's `pieces` and its padding ([`parsed::padded_len`]).
/// An entry of whole 2 MiB pages is written past the page cache
/// ([`assemble_io::direct`]), so that the first mapping of it reads it
/// into 2 MiB folios and every later one maps it in two page-table entries
/// ([`open_entry`]); otherwise, and where direct writes are refused, 64 KiB
/// at a time: writes that size take small page-cache folios, which the
/// kernel finds among memory just freed (one call for a whole entry takes
/// 2 MiB folios, and fresh 2 MiB blocks can be slow to come by: on the VM
/// we measure on, which hands free blocks back to its host, the write then
/// took 5-13 ms instead of ~1 ms in a fifth of cold runs).
fn write_entry(file: &mut File, pieces: &[&[u8]]) -> std::io::Result<()> {
    let len: usize = pieces.iter().map(|p| p.len()).sum();
    assemble_io::direct::write_padded(file, pieces, parsed::padded_len(len), 64 << 10)
}

/// Writes an entry atomically (what `write` writes to a temporary file)
/// and keeps the directory to [`MAX_ENTRIES`].
fn store(
    entry: &Path,
    write: impl FnOnce(&mut File) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = entry.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir)?;
    write(tmp.as_file_mut())?;
    tmp.persist(entry).map_err(|e| e.error)?;
    prune(dir)?;
    prune_hints(dir)
}

/// Removes the least recently used entries beyond [`MAX_ENTRIES`], and
/// every entry of another format version (no version reads them).
fn prune(dir: &Path) -> std::io::Result<()> {
    let suffix = format!(".v{}", parsed::FORMAT_VERSION);
    let mut entries: Vec<(std::time::SystemTime, PathBuf)> = Vec::new();
    for e in fs::read_dir(dir)?.filter_map(Result::ok) {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.ends_with(&suffix) {
            if let Some(modified) = e.metadata().ok().and_then(|m| m.modified().ok()) {
                entries.push((modified, e.path()));
            }
        } else if is_entry_of_another_version(&name) {
            let _ = fs::remove_file(e.path());
        }
    }
    if entries.len() > MAX_ENTRIES {
        entries.sort();
        for (_, p) in &entries[..entries.len() - MAX_ENTRIES] {
            let _ = fs::remove_file(p);
        }
    }
    Ok(())
}

/// Removes hints whose entry is gone, then the oldest beyond
/// [`MAX_HINTS`].
fn prune_hints(dir: &Path) -> std::io::Result<()> {
    let mut hints: Vec<(std::time::SystemTime, PathBuf)> = Vec::new();
    for e in fs::read_dir(dir)?.filter_map(Result::ok) {
        let path = e.path();
        if path.extension().is_none_or(|x| x != "hint") {
            continue;
        }
        // `metadata` follows the link: it fails when the entry is gone.
        if fs::metadata(&path).is_err() {
            let _ = fs::remove_file(&path);
        } else if let Some(made) = e.metadata().ok().and_then(|m| m.modified().ok()) {
            hints.push((made, path));
        }
    }
    if hints.len() > MAX_HINTS {
        hints.sort();
        for (_, p) in &hints[..hints.len() - MAX_HINTS] {
            let _ = fs::remove_file(p);
        }
    }
    Ok(())
}

/// `<64 hex digits>.v<number>`, the number not this format's.
fn is_entry_of_another_version(name: &str) -> bool {
    name.split_once(".v").is_some_and(|(digest, version)| {
        digest.len() == 64
            && digest.bytes().all(|b| b.is_ascii_hexdigit())
            && !version.is_empty()
            && version.bytes().all(|b| b.is_ascii_digit())
            && version != parsed::FORMAT_VERSION.to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::package::PackageInfo;
    use crate::signature::SigningKey;
    use sha2::{Digest, Sha256};

    fn index_file(dir: &Path, key: Option<&SigningKey>, names: &[&str]) -> PathBuf {
        let infos: Vec<PackageInfo> = names
            .iter()
            .enumerate()
            .map(|(i, n)| PackageInfo {
                name: (*n).into(),
                version: "1.0-r0".into(),
                checksum: Some(crate::checksum::Checksum::Sha1([i as u8 + 1; 20])),
                ..Default::default()
            })
            .collect();
        let mut buf = Vec::new();
        archive::write(&mut buf, &infos, "test", key, 0).unwrap();
        let path = dir.join(format!("{}.tar.gz", names.join("-")));
        fs::write(&path, buf).unwrap();
        path
    }

    /// The files in a cache directory that are (`true`) or are not hints.
    fn listed(dir: &Path, hints: bool) -> Vec<PathBuf> {
        let mut v: Vec<_> = fs::read_dir(dir)
            .map(|d| d.filter_map(|e| Some(e.ok()?.path())).collect())
            .unwrap_or_default();
        v.retain(|p| p.extension().is_some_and(|x| x == "hint") == hints);
        v.sort();
        v
    }

    /// The files in a cache directory but its hints.
    fn entries(dir: &Path) -> Vec<PathBuf> {
        listed(dir, false)
    }

    /// The hints in a cache directory.
    fn hints(dir: &Path) -> Vec<PathBuf> {
        listed(dir, true)
    }

    #[test]
    fn a_verified_index_is_recalled_by_its_file_and_confirmed_by_its_check() {
        let Signed {
            tmp,
            cache,
            key,
            file,
            loader,
        } = signed(&["a", "b"]);
        let ring = key.keyring();
        // Nothing verified yet: nothing to recall.
        assert!(loader.recall(&file).is_none());
        drop(loader.open_as(&file, &file).unwrap());
        assert!(loader.recall(&file).is_none());
        drop(loader.load(&file, &ring, Trust::Verify).unwrap());
        assert_eq!(hints(&cache).len(), 1);
        let entry = loader.recall(&file).expect("recalled");
        assert!(entry.entry_intact());
        assert_eq!(names(entry.index()), ["a", "b"]);
        let checked = entry.check_file(&ring, Trust::Verify).unwrap();
        let index = entry.confirm(&checked).expect("confirmed");
        assert_eq!(index.signer(), Some("k.rsa.pub"));
        assert_eq!(names(&index), ["a", "b"]);
        // The check is the load's: other keys, another verdict.
        let other = SigningKey::generate("other.rsa.pub", 1024).unwrap();
        let recalled = loader.recall(&file).expect("recalled");
        let e = recalled.check_file(&other.keyring(), Trust::Verify);
        assert!(e.unwrap_err().to_string().contains("not in the keyring"));
        // A file written since is another file: nothing recalled (its
        // identity changed), and the old check no longer confirms.
        let stale = loader.recall(&file).expect("recalled");
        let xy = index_file(tmp.path(), Some(&key), &["x", "y"]);
        std::thread::sleep(std::time::Duration::from_millis(10));
        fs::write(&file, fs::read(&xy).unwrap()).unwrap();
        assert!(loader.recall(&file).is_none());
        let checked = stale.check_file(&ring, Trust::Verify).unwrap();
        assert!(stale.confirm(&checked).is_none());
        // Loaded again, recalled again: the new contents.
        drop(loader.load(&file, &ring, Trust::Verify).unwrap());
        let again = loader.recall(&file).expect("recalled");
        assert_eq!(names(again.index()), ["x", "y"]);
        // Without a cache directory there is nothing to recall.
        assert!(IndexLoader::new(None).recall(&file).is_none());
    }

    #[test]
    fn a_planted_or_stale_hint_costs_a_check_never_a_wrong_index() {
        let Signed {
            tmp,
            cache,
            key,
            file,
            loader,
        } = signed(&["a", "b"]);
        let ring = key.keyring();
        let xy = index_file(tmp.path(), Some(&key), &["x", "y"]);
        drop(loader.load(&file, &ring, Trust::Verify).unwrap());
        drop(loader.load(&xy, &ring, Trust::Verify).unwrap());
        // ab's hint made to name xy's entry.
        let meta = fs::metadata(&file).unwrap();
        let hint = cache.join(hint_name(&identity_key(&meta)));
        fs::remove_file(&hint).unwrap();
        std::os::unix::fs::symlink(entry_name(&key_of(&xy)), &hint).unwrap();
        let wrong = loader.recall(&file).expect("recalled");
        assert_eq!(names(wrong.index()), ["x", "y"]);
        let checked = wrong.check_file(&ring, Trust::Verify).unwrap();
        assert!(wrong.confirm(&checked).is_none());
        // The usual load puts the hint right.
        drop(loader.load(&file, &ring, Trust::Verify).unwrap());
        let right = loader.recall(&file).expect("recalled");
        assert_eq!(names(right.index()), ["a", "b"]);
        // Hints naming garbage, another format or a missing entry recall
        // nothing.
        for target in [
            "garbage".to_owned(),
            format!("{}.v0", hex::encode(key_of(&file))),
            entry_name(&[7; 32]),
        ] {
            fs::remove_file(&hint).unwrap();
            std::os::unix::fs::symlink(&target, &hint).unwrap();
            assert!(loader.recall(&file).is_none(), "{target}");
        }
        // A damaged entry is mapped (it reads safely) but never confirmed.
        drop(loader.load(&file, &ring, Trust::Verify).unwrap());
        let entry = cache.join(entry_name(&key_of(&file)));
        let mut bytes = fs::read(&entry).unwrap();
        let n = bytes.len();
        bytes[n - 300] ^= 0x20;
        fs::write(&entry, &bytes).unwrap();
        let damaged = loader.recall(&file).expect("recalled");
        let checked = damaged.check_file(&ring, Trust::Verify).unwrap();
        assert!(!damaged.entry_intact());
        assert!(damaged.confirm(&checked).is_none());
        // Unverified loads leave no hint.
        let unsigned = index_file(tmp.path(), None, &["u"]);
        let before = hints(&cache);
        drop(loader.load(&unsigned, &Keyring::new(), Trust::AllowUntrusted));
        assert_eq!(hints(&cache), before);
        assert!(loader.recall(&unsigned).is_none());
    }

    #[test]
    fn hints_are_bounded_and_never_outlive_their_entry() {
        let Signed {
            tmp: _tmp,
            cache,
            key,
            file,
            loader,
        } = signed(&["a"]);
        drop(loader.load(&file, &key.keyring(), Trust::Verify).unwrap());
        let entry = entry_name(&key_of(&file));
        // Old hints (a file touched over and over) and dangling ones.
        for i in 0..MAX_HINTS + 10 {
            let identity = format!("{i:032x}");
            std::os::unix::fs::symlink(&entry, cache.join(hint_name(&identity))).unwrap();
        }
        for i in 0..5 {
            let dangling = cache.join(hint_name(&format!("{:032x}", 1000 + i)));
            std::os::unix::fs::symlink(entry_name(&[9; 32]), dangling).unwrap();
        }
        prune_hints(&cache).unwrap();
        let kept = hints(&cache);
        assert_eq!(kept.len(), MAX_HINTS);
        assert!(kept.iter().all(|h| fs::metadata(h).is_ok()));
        // The entry goes: so do its hints, at the next write.
        fs::remove_file(cache.join(&entry)).unwrap();
        prune_hints(&cache).unwrap();
        assert!(hints(&cache).is_empty());
    }

    fn names(index: &ParsedIndex) -> Vec<String> {
        index.records().map(|r| r.info.name.into_owned()).collect()
    }

    /// The cache key of the index file at `path`.
    fn key_of(path: &Path) -> [u8; 32] {
        file_digest(&fs::read(path).unwrap())
    }

    /// An index of `names` signed by `k.rsa.pub`, and a loader caching in
    /// `<tmp>/cache` (the files go with `tmp`: keep it bound).
    struct Signed {
        tmp: tempfile::TempDir,
        cache: PathBuf,
        key: SigningKey,
        file: PathBuf,
        loader: IndexLoader,
    }

    fn signed(names: &[&str]) -> Signed {
        let tmp = tempfile::tempdir().unwrap();
        let cache = tmp.path().join("cache");
        let key = SigningKey::generate("k.rsa.pub", 1024).unwrap();
        let file = index_file(tmp.path(), Some(&key), names);
        let loader = IndexLoader::new(Some(cache.clone()));
        Signed {
            tmp,
            cache,
            key,
            file,
            loader,
        }
    }

    #[test]
    fn a_verified_index_is_cached_and_reused() {
        let Signed {
            tmp: _tmp,
            cache,
            key,
            file,
            loader,
        } = signed(&["a", "b"]);
        let first = loader.load(&file, &key.keyring(), Trust::Verify).unwrap();
        assert_eq!(first.signer(), Some("k.rsa.pub"));
        let stored = entries(&cache);
        assert_eq!(stored.len(), 1);
        let second = loader.load(&file, &key.keyring(), Trust::Verify).unwrap();
        assert_eq!(names(&second), ["a", "b"]);
        assert_eq!(second.signer(), Some("k.rsa.pub"));
        assert_eq!(first.to_bytes(), second.to_bytes());
    }

    #[test]
    fn the_signature_is_checked_on_every_use() {
        let Signed {
            tmp: _tmp,
            key,
            file,
            loader,
            ..
        } = signed(&["a"]);
        loader.load(&file, &key.keyring(), Trust::Verify).unwrap();
        // Cached, but the key is no longer trusted: refused.
        let other = SigningKey::generate("other.rsa.pub", 1024).unwrap();
        let e = loader
            .load(&file, &other.keyring(), Trust::Verify)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not in the keyring"), "{e}");
    }

    #[test]
    fn an_opened_index_is_used_only_once_it_verified() {
        let Signed {
            tmp,
            cache,
            key,
            file,
            loader,
        } = signed(&["a", "b"]);
        // Opened, never verified: nothing is cached.
        drop(loader.open_as(&file, &file).unwrap());
        assert!(entries(&cache).is_empty());
        // Cached, then opened again: the entry found meanwhile is refused
        // with keys that do not sign it, and used with keys that do.
        loader.load(&file, &key.keyring(), Trust::Verify).unwrap();
        let other = SigningKey::generate("other.rsa.pub", 1024).unwrap();
        let opened = loader.open_as(&file, &file).unwrap();
        let e = opened.load(&other.keyring(), Trust::Verify).unwrap_err();
        assert!(e.to_string().contains("not in the keyring"), "{e}");
        let opened = loader.open_as(&file, &file).unwrap();
        let index = opened.load(&key.keyring(), Trust::Verify).unwrap();
        assert_eq!(names(&index), ["a", "b"]);
        assert_eq!(index.signer(), Some("k.rsa.pub"));
        // A file that cannot be read fails at once, naming it.
        let missing = tmp.path().join("missing.tar.gz");
        let e = loader.open_as(&missing, &missing).unwrap_err().to_string();
        assert!(e.contains("missing.tar.gz"), "{e}");
    }

    #[test]
    fn corrupt_foreign_and_untrusted_entries_are_never_used() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = tmp.path().join("cache");
        let key = SigningKey::generate("k.rsa.pub", 1024).unwrap();
        let ring = key.keyring();
        let loader = IndexLoader::new(Some(cache.clone()));
        let ab = index_file(tmp.path(), Some(&key), &["a", "b"]);
        let xy = index_file(tmp.path(), Some(&key), &["x", "y"]);
        loader.load(&ab, &ring, Trust::Verify).unwrap();
        loader.load(&xy, &ring, Trust::Verify).unwrap();
        let stored = entries(&cache);
        assert_eq!(stored.len(), 2);
        let digest_of = |p: &Path| hex::encode(key_of(p));
        let ab_entry = cache.join(format!("{}.v{}", digest_of(&ab), parsed::FORMAT_VERSION));
        let xy_entry = cache.join(format!("{}.v{}", digest_of(&xy), parsed::FORMAT_VERSION));

        // A foreign entry under ab's name (xy's parse): ignored and rebuilt.
        fs::copy(&xy_entry, &ab_entry).unwrap();
        assert_eq!(
            names(&loader.load(&ab, &ring, Trust::Verify).unwrap()),
            ["a", "b"]
        );
        assert_eq!(
            names(&loader.load(&ab, &ring, Trust::Verify).unwrap()),
            ["a", "b"]
        );
        // Flipped bits, truncation, garbage: ignored and rebuilt.
        for damage in [0usize, 1, 2] {
            let mut bytes = fs::read(&ab_entry).unwrap();
            match damage {
                0 => {
                    let n = bytes.len();
                    bytes[n - 300] ^= 0x20;
                }
                1 => bytes.truncate(bytes.len() / 2),
                _ => bytes = b"not an entry".to_vec(),
            }
            fs::write(&ab_entry, &bytes).unwrap();
            assert_eq!(
                names(&loader.load(&ab, &ring, Trust::Verify).unwrap()),
                ["a", "b"]
            );
            let digest = key_of(&ab);
            assert!(ParsedIndex::from_bytes(fs::read(&ab_entry).unwrap(), &digest).is_ok());
        }

        // Unverified loads never write the cache.
        let unsigned = index_file(tmp.path(), None, &["u"]);
        let before = entries(&cache);
        let idx = loader
            .load(&unsigned, &Keyring::new(), Trust::AllowUntrusted)
            .unwrap();
        assert_eq!(names(&idx), ["u"]);
        assert_eq!(entries(&cache), before);
    }

    /// A signed index of raw `text` (any bytes), its APKINDEX entry
    /// `entries` times, its body member's announced size replaced by
    /// `announce` when given.
    fn raw_index(
        dir: &Path,
        key: &SigningKey,
        text: &[u8],
        entries: usize,
        announce: Option<u32>,
    ) -> PathBuf {
        use assemble_io::tarball::{self, EntryHeader, EntryKind};
        let mut tar = Vec::new();
        let file = |path: &str| EntryHeader::new(path, EntryKind::File, 0o644, 0);
        tarball::write_file(&mut tar, &file("DESCRIPTION"), b"raw").unwrap();
        for _ in 0..entries {
            tarball::write_file(&mut tar, &file("APKINDEX"), text).unwrap();
        }
        tarball::write_end(&mut tar).unwrap();
        let mut body = crate::stream::gzip(&tar).unwrap();
        if let Some(size) = announce {
            let n = body.len();
            body[n - 4..].copy_from_slice(&size.to_le_bytes());
        }
        let entry = key.sign_sha256(&Sha256::digest(&body)).unwrap();
        let mut out = crate::stream::signature_member(&entry, 0).unwrap();
        out.extend(body);
        let path = dir.join(format!(
            "raw-{}.tar.gz",
            hex::encode(&Sha256::digest(&out)[..8])
        ));
        fs::write(&path, out).unwrap();
        path
    }

    /// `file`'s index loaded without a cache, and `text` (its APKINDEX)
    /// parsed whole as the loader names it.
    fn loaded_and_whole(file: &Path, ring: &Keyring, text: &str) -> (ParsedIndex, ParsedIndex) {
        let loaded = IndexLoader::new(None)
            .load(file, ring, Trust::Verify)
            .unwrap();
        let digest = key_of(file);
        let label = format!("{}:APKINDEX", file.display());
        let whole = ParsedIndex::build(text, "raw", false, &label, digest).unwrap();
        (loaded, whole)
    }

    /// A text large enough to be parsed while it is inflated: joined list
    /// lines (names only found there), problems, duplicates, skipped
    /// records, across every chunk.
    fn large_text() -> String {
        let mut text = String::new();
        for i in 0..6000 {
            text.push_str(&format!(
                "C:Q1{:026}AAAAAA=\nP:p{i}\nV:{}\nA:{}\nD:so:libc.so.{} p{}\nD:joined{}\np:cmd:p{i}=1 virt{}\ni:p{} docs\n\n",
                i % 4500,
                if i % 97 == 0 { "bad" } else { "1.0-r0" },
                ["x86_64", "aarch64", "noarch"][i % 3],
                i % 7,
                (i + 1) % 6000,
                i % 50,
                i % 11,
                i % 13,
            ));
            if i % 500 == 0 {
                text.push_str("V:1\n\n");
            }
        }
        text
    }

    #[test]
    fn an_index_parsed_while_inflated_is_the_one_parsed_whole() {
        let tmp = tempfile::tempdir().unwrap();
        let key = SigningKey::generate("k.rsa.pub", 1024).unwrap();
        let ring = key.keyring();
        let text = large_text();
        assert!(text.len() > 2 * super::parsed::MIN_PARALLEL);
        let file = raw_index(tmp.path(), &key, text.as_bytes(), 1, None);
        let (loaded, whole) = loaded_and_whole(&file, &ring, &text);
        assert_eq!(loaded.to_bytes(), whole.to_bytes());
        assert_eq!(loaded.description(), "raw");
        // That was the streamed path (given two cores).
        if std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2) {
            let data = fs::read(&file).unwrap();
            let verified = archive::verify(&data, &file, &ring, Trust::Verify).unwrap();
            let size = archive::announced_size(&verified);
            let label = format!("{}:APKINDEX", file.display());
            let buffers = [
                Parts::stream_buffer(size, u64::MAX).expect("large enough to stream"),
                // Without room for the tables: they go to a new buffer.
                crate::index::filling::Filling::new(
                    super::parsed::HEADER_LEN,
                    size as usize,
                    0,
                    Default::default(),
                )
                .unwrap(),
            ];
            for buffer in buffers {
                let index = ParsedIndex::build_streamed(
                    buffer,
                    &verified,
                    &file,
                    u64::MAX,
                    &label,
                    *whole.digest(),
                )
                .expect("streamed");
                assert_eq!(index.to_bytes(), whole.to_bytes());
            }
        }
        // And through the cache, as written and mapped again.
        let cached = IndexLoader::new(Some(tmp.path().join("cache")));
        cached.load(&file, &ring, Trust::Verify).unwrap();
        let again = cached.load(&file, &ring, Trust::Verify).unwrap();
        assert_eq!(again.to_bytes(), whole.to_bytes());
    }

    #[test]
    fn a_large_entry_is_padded_to_whole_huge_pages_and_nothing_else_is_accepted() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = tmp.path().join("cache");
        let key = SigningKey::generate("k.rsa.pub", 1024).unwrap();
        let ring = key.keyring();
        // Some 3.9 MB of text in few records: an entry just under 4 MiB.
        let description = "x".repeat(3900);
        let text: String = (0..1000)
            .map(|i| format!("C:Q1{i:026}AAAAAA=\nP:p{i}\nV:1.0-r0\nT:{description}\n\n"))
            .collect();
        let file = raw_index(tmp.path(), &key, text.as_bytes(), 1, None);
        let (_, whole) = loaded_and_whole(&file, &ring, &text);
        let len = whole.to_bytes().len();
        assert!(len < 4 << 20 && parsed::padded_len(len) == 4 << 20, "{len}");
        let loader = IndexLoader::new(Some(cache.clone()));
        loader.load(&file, &ring, Trust::Verify).unwrap();
        let entry = cache.join(format!(
            "{}.v{}",
            hex::encode(key_of(&file)),
            parsed::FORMAT_VERSION
        ));
        let stored = fs::read(&entry).unwrap();
        assert_eq!(stored.len(), 4 << 20);
        assert_eq!(&stored[..len], whole.to_bytes());
        assert!(stored[len..].iter().all(|&b| b == 0));
        // Mapped again: the index without its padding.
        let again = loader.load(&file, &ring, Trust::Verify).unwrap();
        assert_eq!(again.to_bytes(), whole.to_bytes());
        // Any other length is refused (and the entry rebuilt).
        for bad in [len + 1, (4 << 20) + 1, (4 << 20) - 1] {
            let mut damaged = stored[..len].to_vec();
            damaged.resize(bad, 0);
            assert!(ParsedIndex::from_bytes(damaged.clone(), &key_of(&file)).is_err());
            fs::write(&entry, &damaged).unwrap();
            let rebuilt = loader.load(&file, &ring, Trust::Verify).unwrap();
            assert_eq!(rebuilt.to_bytes(), whole.to_bytes());
            drop(rebuilt);
            assert_eq!(fs::read(&entry).unwrap(), stored);
        }
        // A small entry is not padded.
        assert_eq!(parsed::padded_len(100), 100);
        assert_eq!(
            parsed::padded_len((2 << 20) + (1 << 19)),
            (2 << 20) + (1 << 19)
        );
        assert_eq!(parsed::padded_len(2 << 20), 2 << 20);
    }

    #[test]
    fn records_longer_than_a_parsing_step_and_one_huge_record() {
        let tmp = tempfile::tempdir().unwrap();
        let key = SigningKey::generate("k.rsa.pub", 1024).unwrap();
        let ring = key.keyring();
        let long_deps: Vec<String> = (0..20_000).map(|i| format!("so:libx{i}.so.1")).collect();
        let long_deps = long_deps.join(" ");
        // Records of some 300 KiB between ordinary ones: no record
        // boundary in a whole parsing step.
        let mut text = String::new();
        for i in 0..3000 {
            text.push_str(&format!("C:Q1{i:026}AAAAAA=\nP:p{i}\nV:1.0-r0\n"));
            if i % 700 == 0 {
                text.push_str(&format!("D:{long_deps}\n"));
            }
            text.push('\n');
        }
        // One record, larger than the parallel threshold, without a single
        // blank line.
        let huge = format!(
            "C:Q1{:026}AAAAAA=\nP:huge\nV:1\nD:{long_deps} {long_deps}\n",
            7
        );
        for text in [text, huge] {
            assert!(text.len() > super::parsed::MIN_PARALLEL);
            let file = raw_index(tmp.path(), &key, text.as_bytes(), 1, None);
            let (loaded, whole) = loaded_and_whole(&file, &ring, &text);
            assert_eq!(loaded.to_bytes(), whole.to_bytes());
        }
    }

    #[test]
    fn unusual_large_indexes_are_read_the_usual_way() {
        let tmp = tempfile::tempdir().unwrap();
        let key = SigningKey::generate("k.rsa.pub", 1024).unwrap();
        let ring = key.keyring();
        let text = large_text();
        let usual = |file: &Path| {
            let a = archive::read_file(file, &ring, Trust::Verify).map_err(|e| e.to_string())?;
            let digest = key_of(file);
            let label = format!("{}:APKINDEX", file.display());
            let idx = ParsedIndex::build(&a.text, &a.description, a.lossy, &label, digest).unwrap();
            Ok::<_, String>(idx.to_bytes().to_vec())
        };
        let load = |file: &Path| {
            let idx = IndexLoader::new(None)
                .load(file, &ring, Trust::Verify)
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(idx.to_bytes().to_vec())
        };
        // Not UTF-8 in the middle: repaired, as the whole-text path does.
        let mut bytes = text.clone().into_bytes();
        let mid = bytes.len() / 2;
        bytes[mid] = 0xff;
        let lossy = raw_index(tmp.path(), &key, &bytes, 1, None);
        let idx = IndexLoader::new(None)
            .load(&lossy, &ring, Trust::Verify)
            .unwrap();
        assert!(idx.lossy());
        assert_eq!(Ok(idx.to_bytes().to_vec()), usual(&lossy));
        // A body announcing another size than it holds (its gzip trailer
        // is then wrong too): the same error either way, whether the text
        // fits the buffer made for the announced size or not.
        for announce in [1000u32, 300_000, u32::MAX] {
            let lying = raw_index(tmp.path(), &key, text.as_bytes(), 1, Some(announce));
            let e = load(&lying).unwrap_err();
            assert!(e.contains("checksum"), "{e}");
            assert_eq!(Err(e), usual(&lying));
        }
        // Two APKINDEX entries: the last one counts, as before.
        let twice = raw_index(tmp.path(), &key, text.as_bytes(), 2, None);
        assert!(load(&twice).is_ok());
        assert_eq!(load(&twice), usual(&twice));
        // A size bound smaller than the text: refused with the usual error.
        let plain = raw_index(tmp.path(), &key, text.as_bytes(), 1, None);
        let e = IndexLoader::new(None)
            .with_max_size(text.len() as u64 / 2)
            .load(&plain, &ring, Trust::Verify)
            .unwrap_err();
        let usual_e = archive::read_file_with(&plain, &ring, Trust::Verify, text.len() as u64 / 2)
            .unwrap_err();
        assert_eq!(e.to_string(), usual_e.to_string());
    }

    #[test]
    fn old_entries_are_pruned() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = tmp.path().join("cache");
        fs::create_dir_all(&cache).unwrap();
        let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1000);
        for i in 0..MAX_ENTRIES + 3 {
            let p = cache.join(format!("{i:064}.v{}", parsed::FORMAT_VERSION));
            let f = File::create(&p).unwrap();
            f.set_modified(old + std::time::Duration::from_secs(i as u64))
                .unwrap();
        }
        // Entries of other format versions go; files that only look alike stay.
        let stale = cache.join(format!("{:064}.v{}", 7, parsed::FORMAT_VERSION - 1));
        let unrelated = cache.join("notes.v1");
        fs::write(&stale, b"old").unwrap();
        fs::write(&unrelated, b"mine").unwrap();
        let key = SigningKey::generate("k.rsa.pub", 1024).unwrap();
        let file = index_file(tmp.path(), Some(&key), &["a"]);
        IndexLoader::new(Some(cache.clone()))
            .load(&file, &key.keyring(), Trust::Verify)
            .unwrap();
        assert!(!stale.exists());
        fs::remove_file(&unrelated).unwrap();
        let left = entries(&cache);
        assert_eq!(left.len(), MAX_ENTRIES);
        // The four oldest went, the new one stayed.
        let v = parsed::FORMAT_VERSION;
        let has = |i: usize| left.iter().any(|p| p.ends_with(format!("{i:064}.v{v}")));
        assert!(!has(0) && !has(3) && has(4) && has(MAX_ENTRIES + 2));
        let digest = hex::encode(key_of(&file));
        assert!(left.iter().any(|p| p.ends_with(format!("{digest}.v{v}"))));
    }

    #[test]
    fn without_a_cache_directory_nothing_is_written() {
        let tmp = tempfile::tempdir().unwrap();
        let key = SigningKey::generate("k.rsa.pub", 1024).unwrap();
        let file = index_file(tmp.path(), Some(&key), &["a"]);
        let idx = IndexLoader::new(None)
            .load(&file, &key.keyring(), Trust::Verify)
            .unwrap();
        assert_eq!(names(&idx), ["a"]);
        assert_eq!(entries(tmp.path()).len(), 1);
    }
}
