//! A parsed index in one position-independent byte buffer, built once from
//! the verified text and then read in place — from memory right after
//! parsing, or memory-mapped from the cache ([`super::cache`]) on every
//! later use, without parsing or copying anything.
//!
//! Everything a consumer needs is precomputed: each record's fields as
//! spans into the text, its numbers and checksum, every dependency atom of
//! `D:`, `p:` and `i:` already parsed with its name interned, a hash table
//! to look names up, and the problems and warnings the text parser and the
//! atom checks found (records are fully validated, as [`super::text::parse`]
//! does). Integers are little-endian and read with bounds checks, so a
//! damaged buffer can give wrong strings but never a panic; the cache also
//! checks a CRC-32 and the source digest before using one.
//!
//! Layout (format [`FORMAT_VERSION`]; sections start on 8-byte boundaries,
//! their sizes follow from the counts in the header):
//!
//! ```text
//! header (128 B) | strings: APKINDEX text, then joined lists, messages,
//! description | records (216 B each) | names (off, len) | name slots (u32,
//! open addressing) | atoms (16 B) | problems (12 B) | warnings (20 B) |
//! packages (32 B: record, name, atoms, architecture, flags) | per name:
//! providers, reverse dependencies, reverse install_if (offset table +
//! items) | distinct architectures
//! ```
//!
//! A large buffer may be followed by zeros up to a multiple of 2 MiB
//! ([`padded_len`]).
//!
//! The last sections are the resolver's universe for this index alone:
//! packages are the records minus later duplicates of an identity (with a
//! copy of what the resolver reads of each record most, so that one cache
//! line serves), and the per-name lists are those `apk_solve::Db::finish`
//! would build, so a resolver can run on a mapped index without building
//! anything.

use std::borrow::Cow;
use std::ops::Range;

use rustc_hash::{FxHashMap, FxHashSet};

use super::archive;
use super::filling::Filling;
use super::text::{self, IndexRecord, IndexText, IndexTextError, IndexWarning, Strictness};
use crate::checksum::Checksum;
use crate::dependency::{self, Constraint, Context, Dependency};
use crate::package::{FieldProblem, PackageInfo};
use crate::version::{self, Op};
use assemble_io::pages::Region;

/// Version of the byte layout; a buffer of another version is refused (the
/// cache then rebuilds it). Version 6: a large buffer may be padded (see
/// [`padded_len`]).
pub const FORMAT_VERSION: u32 = 6;

const MAGIC: [u8; 8] = *b"CAIDX\0\r\n";
pub(crate) const HEADER_LEN: usize = 128;
const RECORD_LEN: usize = 216;
const _: () = assert!(RECORD_LEN.is_multiple_of(8));
const NAME_LEN: usize = 8;
const SLOT_LEN: usize = 4;
const ATOM_LEN: usize = 16;
const PROBLEM_LEN: usize = 12;
const WARNING_LEN: usize = 20;
const PROVIDER_LEN: usize = 12;
/// A package of the resolver's universe: its record, then what the
/// resolver reads of it most (so that one cache line serves): name id,
/// first atom and the three atom counts, architecture id, flags.
const PKG_LEN: usize = 32;
const P_NAME: usize = 4;
const P_ATOMS: usize = 8;
const P_ARCH: usize = 24;
const P_FLAGS: usize = 28;
/// [`P_FLAGS`]: the record has problems.
const PF_PROBLEMS: u32 = 1;
/// [`P_FLAGS`]: `I:` is absent or 0.
const PF_ZERO_SIZE: u32 = 2;

/// The text fields of a record, in storage order.
const FIELDS: usize = 13;
const F_NAME: usize = 0;
const F_VERSION: usize = 1;
const F_ARCH: usize = 2;
const F_DEPENDS: usize = 9;
const F_PROVIDES: usize = 10;
const F_INSTALL_IF: usize = 11;

// Record field offsets.
const R_NUMBERS: usize = FIELDS * 8; // 5 × u64: S I t k q
/// The `I:` (installed size) and `k:` (provider priority) numbers.
const N_INSTALLED_SIZE: usize = 1;
const N_PROVIDER_PRIORITY: usize = 3;
const R_PRESENT: usize = R_NUMBERS + 40;
const R_CHECKSUM_KIND: usize = R_PRESENT + 1;
const R_FLAGS: usize = R_PRESENT + 2;
const R_LINE: usize = R_PRESENT + 4;
const R_NAME_ID: usize = R_LINE + 4;
const R_ATOMS: usize = R_NAME_ID + 4; // start, n_depends, n_provides, n_install_if
const R_PROBLEMS: usize = R_ATOMS + 16; // start, count
const R_CHECKSUM: usize = R_PROBLEMS + 8;
/// Index of the record's `A:` among the index's distinct architectures.
const R_ARCH_ID: usize = R_CHECKSUM + 32;
const _: () = assert!(R_ARCH_ID + 4 <= RECORD_LEN);

/// Record flag: an earlier record has the same identity (apk keeps one).
const FLAG_DUPLICATE: u8 = 1;
/// Atom flags.
const ATOM_CONFLICT: u8 = 1;
const ATOM_CHECKSUM: u8 = 2;
/// A span meaning "none".
const NONE: u32 = u32::MAX;

/// Why bytes are not a usable parsed index.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a usable parsed index: {0}")]
pub struct InvalidParsedIndex(pub &'static str);

/// The bytes, owned or mapped from a file.
enum Buf {
    Owned(Vec<u8>),
    /// Owned, in memory of its own (an index parsed as it was inflated).
    Region(Region),
    /// Owned, and being written to the cache by another thread.
    Shared(std::sync::Arc<dyn AsRef<[u8]> + Send + Sync>),
    Mapped(memmap2::Mmap),
}

impl Buf {
    #[inline]
    fn bytes(&self) -> &[u8] {
        match self {
            Buf::Owned(v) => v,
            Buf::Region(r) => r,
            Buf::Shared(v) => v.as_ref().as_ref(),
            Buf::Mapped(m) => m,
        }
    }
}

/// Section positions, derived from the header's counts.
#[derive(Clone, Copy, Debug, Default)]
struct Layout {
    text_len: u32,
    strings_len: u32,
    records: usize,
    n_records: u32,
    names: usize,
    n_names: u32,
    slots: usize,
    n_slots: u32,
    atoms: usize,
    n_atoms: u32,
    problems: usize,
    n_problems: u32,
    warnings: usize,
    n_warnings: u32,
    pkgs: usize,
    n_pkgs: u32,
    prov_start: usize,
    prov: usize,
    n_prov: u32,
    rdep_start: usize,
    rdep: usize,
    n_rdep: u32,
    riif_start: usize,
    riif: usize,
    n_riif: u32,
    arches: usize,
    n_arches: u32,
    total: usize,
}

/// How long a buffer of `total` bytes may be with its padding: a large
/// one may be followed by zeros up to a multiple of 2 MiB (when that adds
/// at most an eighth), so that a mapping of a cache entry can use whole
/// 2 MiB pages of the page cache; the padding is never read.
pub(crate) fn padded_len(total: usize) -> usize {
    const HUGE: usize = 2 << 20;
    let padded = total.next_multiple_of(HUGE);
    if total >= HUGE && padded - total <= total / 8 {
        padded
    } else {
        total
    }
}

fn align8(n: usize) -> usize {
    (n + 7) & !7
}

impl Layout {
    fn compute(mut self) -> Option<Layout> {
        let mut at = HEADER_LEN.checked_add(self.strings_len as usize)?;
        let mut section = |count: u32, size: usize| -> Option<usize> {
            let start = align8(at);
            at = start.checked_add((count as usize).checked_mul(size)?)?;
            Some(start)
        };
        self.records = section(self.n_records, RECORD_LEN)?;
        self.names = section(self.n_names, NAME_LEN)?;
        self.slots = section(self.n_slots, SLOT_LEN)?;
        self.atoms = section(self.n_atoms, ATOM_LEN)?;
        self.problems = section(self.n_problems, PROBLEM_LEN)?;
        self.warnings = section(self.n_warnings, WARNING_LEN)?;
        self.pkgs = section(self.n_pkgs, PKG_LEN)?;
        let lists = self.n_names.checked_add(1)?;
        self.prov_start = section(lists, 4)?;
        self.prov = section(self.n_prov, PROVIDER_LEN)?;
        self.rdep_start = section(lists, 4)?;
        self.rdep = section(self.n_rdep, 4)?;
        self.riif_start = section(lists, 4)?;
        self.riif = section(self.n_riif, 4)?;
        self.arches = section(self.n_arches, NAME_LEN)?;
        self.total = align8(at);
        Some(self)
    }
}

/// A parsed index; see the module documentation.
pub struct ParsedIndex {
    buf: Buf,
    /// `buf`'s bytes, read without looking at which kind of buffer it is
    /// (every read of a solve starts here): a heap buffer or a mapping,
    /// which stays where it is however `buf` moves, and is never written.
    bytes: *const [u8],
    layout: Layout,
    lossy: bool,
    description: (u32, u32),
    digest: [u8; 32],
    signer: Option<String>,
    /// The thread writing these bytes to the cache; joined on drop.
    storing: Option<std::thread::JoinHandle<()>>,
}

/// Whether the serialized index `b` (without padding) has the contents
/// its header's checksum says.
fn sum_matches(b: &[u8]) -> bool {
    crc32fast::hash(&b[HEADER_LEN..]) == read_u32(b, 48)
}

/// What [`ParsedIndex::from_buf_checking`] checks beyond the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Checks {
    /// Nothing: bytes this process built.
    Header,
    /// The strings' UTF-8, which reading them relies on; the checksum is
    /// left to [`ParsedIndex::checksum_matches`].
    Strings,
    /// The checksum and the strings: bytes from elsewhere.
    All,
}

// SAFETY: `bytes` only points into `buf`, which is `Send` and `Sync`, and
// is only ever read.
unsafe impl Send for ParsedIndex {}
// SAFETY: as above.
unsafe impl Sync for ParsedIndex {}

impl Drop for ParsedIndex {
    fn drop(&mut self) {
        if let Some(storing) = self.storing.take() {
            let _ = storing.join();
        }
    }
}

impl std::fmt::Debug for ParsedIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParsedIndex")
            .field("records", &self.layout.n_records)
            .field("names", &self.layout.n_names)
            .field("signer", &self.signer)
            .finish_non_exhaustive()
    }
}

/// One record as the resolver sees it.
#[derive(Clone, Copy, Debug)]
pub struct Row<'a> {
    /// Interned name id of `P:` (see [`ParsedIndex::name`]).
    pub name: u32,
    /// `V:`.
    pub version: &'a str,
    /// `A:`.
    pub arch: &'a str,
    /// `I:`.
    pub installed_size: Option<u64>,
    /// `k:`.
    pub provider_priority: Option<u64>,
    /// `C:`.
    pub checksum: Option<Checksum>,
    /// An earlier record has the same identity; apk keeps only the first.
    pub duplicate: bool,
    /// Whether the record has problems (it cannot be installed).
    pub has_problems: bool,
}

/// A dependency atom with its name interned.
#[derive(Clone, Copy, Debug)]
pub struct Atom<'a> {
    /// Interned name id.
    pub name: u32,
    /// The atom (no tag: tags never appear in package metadata).
    pub dep: Dependency<'a>,
}

#[inline]
fn read_u32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map_or(0, |s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// Number `n` of the record at `rec` (see [`R_NUMBERS`]), if present.
#[inline]
fn read_number(b: &[u8], rec: usize, n: usize) -> Option<u64> {
    let present = read_u8(b, rec + R_PRESENT) & (1 << n) != 0;
    present.then(|| read_u64(b, rec + R_NUMBERS + n * 8))
}

#[inline]
fn read_u64(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8).map_or(0, |s| {
        u64::from_le_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]])
    })
}

#[inline]
fn read_u8(b: &[u8], at: usize) -> u8 {
    b.get(at).copied().unwrap_or(0)
}

/// FNV-1a: stable across runs and versions (the table is stored).
fn name_hash(name: &[u8]) -> u64 {
    name.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

impl ParsedIndex {
    /// Inflates and parses a verified index at once (see
    /// [`Parts::parse_streamed`]) into `buffer`, which then is the index's.
    pub(crate) fn build_streamed(
        buffer: TextBuffer,
        verified: &archive::Verified<'_>,
        file: &std::path::Path,
        max_size: u64,
        label: &str,
        digest: [u8; 32],
    ) -> Option<ParsedIndex> {
        let parts = Parts::parse_streamed(&buffer, verified, file, max_size, label, digest)?;
        // The parts' text is the buffer's: keep only what the index needs
        // of the parts, then take the buffer over.
        let (header, text_len, sections) = (parts.header, parts.text.len(), parts.sections);
        let mut bytes = buffer.into_region();
        bytes.set_len(HEADER_LEN + text_len);
        bytes[..HEADER_LEN].copy_from_slice(&header);
        let tables: usize = sections.iter().map(Vec::len).sum();
        if bytes.capacity() - bytes.len() < tables {
            // More tables than the buffer was given room for: a region
            // that holds them.
            let mut bigger = Region::with_capacity(bytes.len() + tables).ok()?;
            if !bigger.try_extend(&bytes) {
                return None;
            }
            bytes = bigger;
        }
        if !sections.iter().all(|s| bytes.try_extend(s)) {
            return None;
        }
        Some(ParsedIndex::from_built(Buf::Region(bytes), &digest))
    }

    /// Hands the bytes to `write` on another thread (writing them to the
    /// cache); dropping the index waits for it. Bytes mapped from a file
    /// are not handed over.
    pub(crate) fn write_in_background(&mut self, write: impl FnOnce(&[u8]) + Send + 'static) {
        let bytes: std::sync::Arc<dyn AsRef<[u8]> + Send + Sync> =
            match std::mem::replace(&mut self.buf, Buf::Owned(Vec::new())) {
                Buf::Owned(v) => std::sync::Arc::new(v),
                Buf::Region(r) => std::sync::Arc::new(r),
                Buf::Shared(v) => v,
                mapped @ Buf::Mapped(_) => {
                    // Mapped from a file: the cache has it already.
                    self.buf = mapped;
                    return;
                }
            };
        self.buf = Buf::Shared(bytes.clone());
        let spawned = assemble_io::thread::spawn("index-cache", {
            let bytes = bytes.clone();
            move || write(bytes.as_ref().as_ref())
        });
        // No thread to be had: not cached this time.
        self.storing = spawned.ok();
    }

    /// Parses an index's text into a buffer; see [`Parts::build`].
    pub fn build(
        text: &str,
        description: &str,
        lossy: bool,
        file: &str,
        digest: [u8; 32],
    ) -> Result<ParsedIndex, IndexTextError> {
        Ok(Parts::build(text, description, lossy, file, digest)?.into_index())
    }

    /// Uses bytes made by [`ParsedIndex::to_bytes`] (or a file holding
    /// them) for the index whose compressed file has digest `digest`
    /// ([`super::cache::file_digest`]).
    pub fn from_bytes(bytes: Vec<u8>, digest: &[u8; 32]) -> Result<Self, InvalidParsedIndex> {
        Self::from_buf(Buf::Owned(bytes), digest)
    }

    /// Like [`ParsedIndex::from_bytes`] over a memory-mapped file.
    pub fn from_mmap(map: memmap2::Mmap, digest: &[u8; 32]) -> Result<Self, InvalidParsedIndex> {
        Self::from_buf(Buf::Mapped(map), digest)
    }

    /// Like [`ParsedIndex::from_mmap`] without the checksum over the
    /// contents (everything else is checked: it is as safe to read), for
    /// a caller that trusts nothing read from it before
    /// [`ParsedIndex::checksum_matches`] said yes.
    pub(crate) fn from_mmap_unsummed(
        map: memmap2::Mmap,
        digest: &[u8; 32],
    ) -> Result<Self, InvalidParsedIndex> {
        Self::from_buf_checking(Buf::Mapped(map), digest, Checks::Strings)
    }

    /// Whether the contents match the checksum in the header.
    pub(crate) fn checksum_matches(&self) -> bool {
        sum_matches(self.bytes())
    }

    /// Bytes this process built: their contents are not checked again.
    fn from_built(buf: Buf, digest: &[u8; 32]) -> Self {
        Self::from_buf_checking(buf, digest, Checks::Header)
            .expect("a buffer just built is consistent")
    }

    fn from_buf(buf: Buf, digest: &[u8; 32]) -> Result<Self, InvalidParsedIndex> {
        Self::from_buf_checking(buf, digest, Checks::All)
    }

    /// The header is always checked, the rest as `checks` says.
    fn from_buf_checking(
        buf: Buf,
        digest: &[u8; 32],
        checks: Checks,
    ) -> Result<Self, InvalidParsedIndex> {
        let b = buf.bytes();
        let bad = InvalidParsedIndex;
        if b.len() < HEADER_LEN || b[..8] != MAGIC {
            return Err(bad("wrong magic"));
        }
        if read_u32(b, 8) != FORMAT_VERSION {
            return Err(bad("another format version"));
        }
        if b[16..48] != digest[..] {
            return Err(bad("built from another index file"));
        }
        let layout = Layout {
            text_len: read_u32(b, 56),
            strings_len: read_u32(b, 60),
            n_records: read_u32(b, 64),
            n_names: read_u32(b, 68),
            n_slots: read_u32(b, 72),
            n_atoms: read_u32(b, 76),
            n_problems: read_u32(b, 80),
            n_warnings: read_u32(b, 84),
            n_pkgs: read_u32(b, 96),
            n_prov: read_u32(b, 100),
            n_rdep: read_u32(b, 104),
            n_riif: read_u32(b, 108),
            n_arches: read_u32(b, 112),
            ..Layout::default()
        }
        .compute()
        .ok_or(bad("sizes overflow"))?;
        if read_u32(b, 52) as usize != layout.total
            || (b.len() != layout.total && b.len() != padded_len(layout.total))
        {
            return Err(bad("truncated or padded"));
        }
        if layout.text_len > layout.strings_len
            || !layout.n_slots.is_power_of_two()
            || layout.n_slots <= layout.n_names
        {
            return Err(bad("inconsistent header"));
        }
        if checks == Checks::All && !sum_matches(&b[..layout.total]) {
            return Err(bad("checksum mismatch"));
        }
        if checks != Checks::Header {
            // Validated once here; `str_at` relies on it. (Built strings
            // are a `str` and `String`s.)
            let strings = &b[HEADER_LEN..HEADER_LEN + layout.strings_len as usize];
            if std::str::from_utf8(strings).is_err() {
                return Err(bad("strings are not UTF-8"));
            }
        }
        let lossy = read_u32(b, 12) & 1 != 0;
        let description = (read_u32(b, 88), read_u32(b, 92));
        Ok(ParsedIndex {
            lossy,
            description,
            digest: *digest,
            layout,
            bytes: &buf.bytes()[..layout.total] as *const [u8],
            buf,
            signer: None,
            storing: None,
        })
    }

    /// Reads once, in order, the sections a resolver then reads at random
    /// (names through the per-name lists: 1.1 MB of the Alpine v3.17
    /// aarch64 index; not the text and the records). The bytes of a mapped
    /// cache entry are in memory but not in the processor's caches: read
    /// in order, the hardware prefetcher brings them in within a fraction
    /// of a millisecond, where a solver's scattered reads would each wait
    /// for memory (a warm `resolve` of 200 packages is ~1 ms faster). An
    /// index built in this process was just written, so it is in the
    /// caches already and is left alone.
    pub fn prefetch_universe(&self) {
        if !matches!(self.buf, Buf::Mapped(_)) {
            return;
        }
        let b = self.bytes();
        let lines = b.get(self.layout.names..).unwrap_or_default();
        let sum = lines.iter().step_by(64).fold(0u8, |a, &x| a ^ x);
        std::hint::black_box(sum);
    }

    /// The serialized form (what the cache stores, without its padding).
    pub fn to_bytes(&self) -> &[u8] {
        self.bytes()
    }

    /// The digest of the compressed index file this was built from
    /// ([`super::cache::file_digest`]).
    pub fn digest(&self) -> &[u8; 32] {
        &self.digest
    }

    /// The key whose signature verified, `None` when not checked.
    pub fn signer(&self) -> Option<&str> {
        self.signer.as_deref()
    }

    /// Records who signed the file (set by the loader on every use; it is
    /// not part of the stored bytes).
    pub fn set_signer(&mut self, signer: Option<String>) {
        self.signer = signer;
    }

    /// Whether the text was not valid UTF-8 and was repaired lossily.
    pub fn lossy(&self) -> bool {
        self.lossy
    }

    #[inline]
    fn bytes(&self) -> &[u8] {
        // SAFETY: see the field.
        unsafe { &*self.bytes }
    }

    #[inline]
    fn strings(&self) -> &[u8] {
        let b = self.bytes();
        &b[HEADER_LEN..HEADER_LEN + self.layout.strings_len as usize]
    }

    /// The strings section, validated as UTF-8 when the buffer was
    /// accepted.
    #[inline]
    fn all_strings(&self) -> &str {
        // SAFETY: `from_buf` checked that these bytes are UTF-8, and they
        // never change: an owned buffer is never written after that, and a
        // mapped cache entry is only ever created whole (temporary file,
        // then rename) and never modified in place (see `cache`).
        unsafe { std::str::from_utf8_unchecked(self.strings()) }
    }

    #[inline]
    fn str_at(&self, off: u32, len: u32) -> &str {
        let (off, len) = (off as usize, len as usize);
        self.all_strings()
            .get(off..off.saturating_add(len))
            .unwrap_or("")
    }

    /// The `APKINDEX` text (repaired when [`ParsedIndex::lossy`]).
    pub fn text(&self) -> &str {
        self.str_at(0, self.layout.text_len)
    }

    /// The `DESCRIPTION` text.
    pub fn description(&self) -> &str {
        self.str_at(self.description.0, self.description.1)
    }

    /// Number of records (packages listed, including ones with problems).
    pub fn len(&self) -> usize {
        self.layout.n_records as usize
    }

    /// True when the index lists no package.
    pub fn is_empty(&self) -> bool {
        self.layout.n_records == 0
    }

    /// Number of interned names (package and provided names, dependency
    /// targets).
    #[inline]
    pub fn name_count(&self) -> usize {
        self.layout.n_names as usize
    }

    /// The interned name `id`.
    #[inline]
    pub fn name(&self, id: u32) -> &str {
        let at = self.layout.names + id as usize * NAME_LEN;
        let b = self.bytes();
        if id >= self.layout.n_names {
            return "";
        }
        self.str_at(read_u32(b, at), read_u32(b, at + 4))
    }

    /// The id of `name`, if the index mentions it.
    pub fn lookup(&self, name: &str) -> Option<u32> {
        let mask = self.layout.n_slots as usize - 1;
        let b = self.bytes();
        let mut slot = name_hash(name.as_bytes()) as usize & mask;
        for _ in 0..self.layout.n_slots {
            let v = read_u32(b, self.layout.slots + slot * SLOT_LEN);
            if v == 0 {
                return None;
            }
            if self.name(v - 1) == name {
                return Some(v - 1);
            }
            slot = (slot + 1) & mask;
        }
        None
    }

    #[inline]
    fn record_at(&self, i: usize) -> usize {
        self.layout.records + i * RECORD_LEN
    }

    #[inline]
    fn field(&self, rec: usize, f: usize) -> &str {
        let b = self.bytes();
        self.str_at(read_u32(b, rec + f * 8), read_u32(b, rec + f * 8 + 4))
    }

    #[inline]
    fn number(&self, rec: usize, n: usize) -> Option<u64> {
        read_number(self.bytes(), rec, n)
    }

    #[inline]
    fn checksum(&self, rec: usize) -> Option<Checksum> {
        let b = self.bytes();
        let sum = b.get(rec + R_CHECKSUM..rec + R_CHECKSUM + 32)?;
        match read_u8(b, rec + R_CHECKSUM_KIND) {
            1 => Some(Checksum::Sha1(sum[..20].try_into().ok()?)),
            2 => Some(Checksum::Sha256(sum.try_into().ok()?)),
            _ => None,
        }
    }

    /// The resolver's view of record `i` (`i < len()`).
    #[inline]
    pub fn row(&self, i: usize) -> Row<'_> {
        let rec = self.record_at(i);
        let b = self.bytes();
        Row {
            name: read_u32(b, rec + R_NAME_ID),
            version: self.field(rec, F_VERSION),
            arch: self.field(rec, F_ARCH),
            installed_size: self.number(rec, 1),
            provider_priority: self.number(rec, 3),
            checksum: self.checksum(rec),
            duplicate: read_u8(b, rec + R_FLAGS) & FLAG_DUPLICATE != 0,
            has_problems: read_u32(b, rec + R_PROBLEMS + 4) != 0,
        }
    }

    /// Atom ranges of record `i`: `D:`, `p:` and `i:` (see
    /// [`ParsedIndex::atom`]).
    #[inline]
    pub fn atom_ranges(&self, i: usize) -> [Range<u32>; 3] {
        self.ranges_at(self.record_at(i) + R_ATOMS)
    }

    /// The atom ranges stored at `at`: first atom, then the three counts.
    #[inline]
    fn ranges_at(&self, at: usize) -> [Range<u32>; 3] {
        let b = self.bytes();
        let n_atoms = self.layout.n_atoms;
        let count = |k: usize| read_u32(b, at + 4 + 4 * k);
        let start = read_u32(b, at).min(n_atoms);
        let d = start.saturating_add(count(0)).min(n_atoms);
        let p = d.saturating_add(count(1)).min(n_atoms);
        let i = p.saturating_add(count(2)).min(n_atoms);
        [start..d, d..p, p..i]
    }

    /// Atom `i` without its name string: name id, conflict, constraint.
    #[inline]
    pub fn atom_parts(&self, i: u32) -> (u32, bool, Constraint<'_>) {
        let at = self.layout.atoms + i as usize * ATOM_LEN;
        let b = self.bytes();
        let op = read_u8(b, at + 12);
        let flags = read_u8(b, at + 13);
        let constraint = if flags & ATOM_CHECKSUM != 0 {
            let operand = self.str_at(read_u32(b, at + 4), read_u32(b, at + 8));
            Checksum::parse(operand).map_or(Constraint::Any, Constraint::Checksum)
        } else {
            match Op::from_bits(op) {
                Some(op) => {
                    Constraint::Version(op, self.str_at(read_u32(b, at + 4), read_u32(b, at + 8)))
                }
                None => Constraint::Any,
            }
        };
        (read_u32(b, at), flags & ATOM_CONFLICT != 0, constraint)
    }

    /// Atom `i` (of a `D:` or `i:` range).
    #[inline]
    pub fn atom(&self, i: u32) -> Atom<'_> {
        let at = self.layout.atoms + i as usize * ATOM_LEN;
        let b = self.bytes();
        let name = read_u32(b, at);
        let operand = self.str_at(read_u32(b, at + 4), read_u32(b, at + 8));
        let op = read_u8(b, at + 12);
        let flags = read_u8(b, at + 13);
        let constraint = if flags & ATOM_CHECKSUM != 0 {
            Checksum::parse(operand).map_or(Constraint::Any, Constraint::Checksum)
        } else {
            match Op::from_bits(op) {
                Some(op) => Constraint::Version(op, operand),
                None => Constraint::Any,
            }
        };
        Atom {
            name,
            dep: Dependency {
                name: self.name(name),
                tag: None,
                conflict: flags & ATOM_CONFLICT != 0,
                constraint,
            },
        }
    }

    /// The valid atoms of `D:` of record `i` (invalid ones are listed as
    /// problems instead).
    pub fn depends(&self, i: usize) -> impl Iterator<Item = Atom<'_>> + '_ {
        let [d, _, _] = self.atom_ranges(i);
        d.map(move |a| self.atom(a))
    }

    /// The valid entries of `p:` of record `i`: name id and version (`None`
    /// for a virtual provide).
    pub fn provides(&self, i: usize) -> impl Iterator<Item = (u32, Option<&str>)> + '_ {
        let [_, p, _] = self.atom_ranges(i);
        p.map(move |a| self.provide(a))
    }

    /// Atom `i` of a `p:` range: name id and version (`None` = virtual).
    #[inline]
    pub fn provide(&self, i: u32) -> (u32, Option<&str>) {
        let at = self.layout.atoms + i as usize * ATOM_LEN;
        let b = self.bytes();
        let version = (read_u8(b, at + 12) != 0)
            .then(|| self.str_at(read_u32(b, at + 4), read_u32(b, at + 8)));
        (read_u32(b, at), version)
    }

    /// The interned name of record `i`'s `P:`.
    #[inline]
    pub fn record_name(&self, i: usize) -> u32 {
        read_u32(self.bytes(), self.record_at(i) + R_NAME_ID)
    }

    /// The version of record `i`.
    #[inline]
    pub fn record_version(&self, i: usize) -> &str {
        self.field(self.record_at(i), F_VERSION)
    }

    /// The name id of atom `i` of a `p:` (or any) range.
    #[inline]
    pub fn atom_name(&self, i: u32) -> u32 {
        read_u32(self.bytes(), self.layout.atoms + i as usize * ATOM_LEN)
    }

    /// Number of distinct architectures (`A:`) the records name.
    pub fn arch_count(&self) -> usize {
        self.layout.n_arches as usize
    }

    /// Distinct architecture `id` (see [`ParsedIndex::package_arch`]).
    pub fn arch(&self, id: u32) -> &str {
        if id >= self.layout.n_arches {
            return "";
        }
        let at = self.layout.arches + id as usize * NAME_LEN;
        let b = self.bytes();
        self.str_at(read_u32(b, at), read_u32(b, at + 4))
    }

    /// `I:` and `k:` of record `i`.
    #[inline]
    pub fn record_sizes(&self, i: usize) -> (Option<u64>, Option<u64>) {
        let rec = self.record_at(i);
        (
            self.number(rec, N_INSTALLED_SIZE),
            self.number(rec, N_PROVIDER_PRIORITY),
        )
    }

    /// `C:` of record `i`.
    #[inline]
    pub fn record_checksum(&self, i: usize) -> Option<Checksum> {
        self.checksum(self.record_at(i))
    }

    /// Number of packages in the resolver's universe of this index alone:
    /// the records minus later duplicates of an identity.
    #[inline]
    pub fn package_count(&self) -> usize {
        self.layout.n_pkgs as usize
    }

    /// The record of package `pkg`.
    #[inline]
    pub fn package_record(&self, pkg: u32) -> usize {
        read_u32(self.bytes(), self.package_at(pkg)) as usize
    }

    #[inline]
    fn package_at(&self, pkg: u32) -> usize {
        self.layout.pkgs + pkg as usize * PKG_LEN
    }

    /// The name id of package `pkg` (its record's).
    #[inline]
    pub fn package_name(&self, pkg: u32) -> u32 {
        read_u32(self.bytes(), self.package_at(pkg) + P_NAME)
    }

    /// The atom ranges of package `pkg` (its record's, see
    /// [`ParsedIndex::atom_ranges`]).
    #[inline]
    pub fn package_atom_ranges(&self, pkg: u32) -> [Range<u32>; 3] {
        self.ranges_at(self.package_at(pkg) + P_ATOMS)
    }

    /// The architecture id of package `pkg` (its name:
    /// [`ParsedIndex::arch`]).
    #[inline]
    pub fn package_arch(&self, pkg: u32) -> u32 {
        read_u32(self.bytes(), self.package_at(pkg) + P_ARCH)
    }

    /// Whether package `pkg`'s record has problems.
    #[inline]
    pub fn package_has_problems(&self, pkg: u32) -> bool {
        read_u32(self.bytes(), self.package_at(pkg) + P_FLAGS) & PF_PROBLEMS != 0
    }

    /// Whether package `pkg` has no `I:` or `I:0`.
    #[inline]
    pub fn package_zero_size(&self, pkg: u32) -> bool {
        read_u32(self.bytes(), self.package_at(pkg) + P_FLAGS) & PF_ZERO_SIZE != 0
    }

    /// Items `start[name]..start[name + 1]` of a per-name list, clamped.
    #[inline]
    fn list(&self, start: usize, name: u32, items: u32) -> Range<u32> {
        if name >= self.layout.n_names {
            return 0..0;
        }
        let b = self.bytes();
        let at = start + name as usize * 4;
        let (a, z) = (read_u32(b, at).min(items), read_u32(b, at + 4).min(items));
        a..z.max(a)
    }

    /// Providers of name `name` (items for [`ParsedIndex::provider`]), in
    /// package order: each package under its own name, then its provides.
    #[inline]
    pub fn provider_range(&self, name: u32) -> Range<u32> {
        self.list(self.layout.prov_start, name, self.layout.n_prov)
    }

    /// The package of provider item `i`.
    #[inline]
    pub fn provider_pkg(&self, i: u32) -> u32 {
        read_u32(self.bytes(), self.layout.prov + i as usize * PROVIDER_LEN)
    }

    /// Provider item `i`: package and version (`None` = virtual provide).
    #[inline]
    pub fn provider(&self, i: u32) -> (u32, Option<&str>) {
        let at = self.layout.prov + i as usize * PROVIDER_LEN;
        let b = self.bytes();
        let off = read_u32(b, at + 4);
        let version = (off != NONE).then(|| self.str_at(off, read_u32(b, at + 8)));
        (read_u32(b, at), version)
    }

    /// Packages depending on name `name` (items for
    /// [`ParsedIndex::rdepend`]), each once, in package order.
    #[inline]
    pub fn rdepend_range(&self, name: u32) -> Range<u32> {
        self.list(self.layout.rdep_start, name, self.layout.n_rdep)
    }

    /// Reverse-dependency item `i`: a package.
    #[inline]
    pub fn rdepend(&self, i: u32) -> u32 {
        read_u32(self.bytes(), self.layout.rdep + i as usize * 4)
    }

    /// Names (own or provided) of packages whose `i:` mentions `name`
    /// (items for [`ParsedIndex::rinstall_if`]), first occurrences.
    #[inline]
    pub fn rinstall_if_range(&self, name: u32) -> Range<u32> {
        self.list(self.layout.riif_start, name, self.layout.n_riif)
    }

    /// Reverse-install_if item `i`: a name.
    #[inline]
    pub fn rinstall_if(&self, i: u32) -> u32 {
        read_u32(self.bytes(), self.layout.riif + i as usize * 4)
    }

    /// The valid atoms of `i:` of record `i`.
    pub fn install_if(&self, i: usize) -> impl Iterator<Item = Atom<'_>> + '_ {
        let [_, _, ii] = self.atom_ranges(i);
        ii.map(move |a| self.atom(a))
    }

    /// The problems of record `i` (empty for an installable package).
    pub fn problems(&self, i: usize) -> Vec<FieldProblem> {
        let rec = self.record_at(i);
        let b = self.bytes();
        let (start, count) = (
            read_u32(b, rec + R_PROBLEMS),
            read_u32(b, rec + R_PROBLEMS + 4),
        );
        let end = start.saturating_add(count).min(self.layout.n_problems);
        (start..end)
            .map(|p| {
                let at = self.layout.problems + p as usize * PROBLEM_LEN;
                FieldProblem {
                    field: char::from_u32(read_u32(b, at)).unwrap_or('?'),
                    message: self
                        .str_at(read_u32(b, at + 4), read_u32(b, at + 8))
                        .to_owned(),
                }
            })
            .collect()
    }

    /// Record `i` with every field, as [`super::text::parse`] gives it.
    pub fn record(&self, i: usize) -> IndexRecord<'_> {
        let rec = self.record_at(i);
        let f = |n: usize| Cow::Borrowed(self.field(rec, n));
        IndexRecord {
            info: PackageInfo {
                name: f(F_NAME),
                version: f(F_VERSION),
                arch: f(F_ARCH),
                description: f(3),
                url: f(4),
                license: f(5),
                origin: f(6),
                maintainer: f(7),
                commit: f(8),
                depends: f(F_DEPENDS),
                provides: f(F_PROVIDES),
                install_if: f(F_INSTALL_IF),
                replaces: f(12),
                size: self.number(rec, 0),
                installed_size: self.number(rec, 1),
                build_time: self.number(rec, 2),
                provider_priority: self.number(rec, 3),
                replaces_priority: self.number(rec, 4),
                checksum: self.checksum(rec),
                ..Default::default()
            },
            line: read_u32(self.bytes(), rec + R_LINE) as usize,
            problems: self.problems(i),
            checked: true,
        }
    }

    /// Every record, in file order.
    pub fn records(&self) -> impl Iterator<Item = IndexRecord<'_>> + '_ {
        (0..self.len()).map(move |i| self.record(i))
    }

    /// Records skipped or marked uninstallable, and why.
    pub fn warnings(&self) -> Vec<IndexWarning> {
        let b = self.bytes();
        (0..self.layout.n_warnings as usize)
            .map(|w| {
                let at = self.layout.warnings + w * WARNING_LEN;
                let pkg_off = read_u32(b, at + 4);
                IndexWarning {
                    line: read_u32(b, at) as usize,
                    package: (pkg_off != NONE)
                        .then(|| self.str_at(pkg_off, read_u32(b, at + 8)).to_owned()),
                    message: self
                        .str_at(read_u32(b, at + 12), read_u32(b, at + 16))
                        .to_owned(),
                }
            })
            .collect()
    }

    /// The records and warnings as [`super::text::parse`] returns them
    /// (lenient, fully validated).
    pub fn to_text(&self) -> IndexText<'_> {
        IndexText {
            records: self.records().collect(),
            warnings: self.warnings(),
        }
    }
}

/// The bytes at `span` of the strings: `text` (of which `text_len` bytes
/// there will be) followed by `extra`.
fn spanned<'s>(text: &'s str, extra: &'s str, text_len: usize, span: (u32, u32)) -> &'s [u8] {
    let (start, len) = (span.0 as usize, span.1 as usize);
    match start.checked_sub(text_len) {
        None => &text.as_bytes()[start..start + len],
        Some(at) => &extra.as_bytes()[at..at + len],
    }
}

/// The hash of a name in [`Builder`]'s table.
fn name_key(name: &[u8]) -> u64 {
    use std::hash::BuildHasher;
    rustc_hash::FxBuildHasher.hash_one(name)
}

/// Writes the buffer: strings grow as joined lists and messages are
/// appended after the text.
struct Builder<'t> {
    /// The text parsed so far (all of it, once parsing is over).
    text: &'t str,
    /// The whole text's length: appended strings start there.
    text_len: usize,
    extra: String,
    names: Vec<(u32, u32)>,
    /// Ids into `names`, found by the name's bytes. Four bytes a slot: the
    /// table is written all over, so every page of it is a page fault, and
    /// a slot holding the name (a `&str` and its id, 24 bytes) made it six
    /// times as many.
    name_ids: hashbrown::HashTable<u32>,
    records: Vec<u8>,
    /// Records [`Builder::absorb`] took over from another builder (they
    /// follow `records`; kept apart rather than copied after them).
    absorbed_records: Vec<u8>,
    atoms: Vec<u8>,
    problems: Vec<u8>,
    warnings: Vec<(usize, Vec<u8>)>,
    identities: FxHashSet<[u8; 20]>,
    /// Distinct `A:` values and their spans.
    arch_ids: FxHashMap<String, u32>,
    arches: Vec<(u32, u32)>,
    /// Per package (record not a duplicate): record, name, version span,
    /// first atom and the three atom counts.
    packages: Vec<PackageRow>,
}

#[derive(Clone, Copy)]
struct PackageRow {
    record: u32,
    name: u32,
    version: (u32, u32),
    atoms: u32,
    counts: [u32; 3],
}

impl<'t> Builder<'t> {
    /// A builder for records of `text`, `len` bytes of which it will parse.
    fn new(text: &'t str, len: usize) -> Self {
        Self::growing(text, text.len(), len)
    }

    /// A builder for a text of `text_len` bytes of which `text` is there
    /// so far (see [`Builder::grow`]).
    fn growing(text: &'t str, text_len: usize, len: usize) -> Self {
        Builder {
            text,
            text_len,
            extra: String::new(),
            names: Vec::new(),
            name_ids: hashbrown::HashTable::with_capacity(len / 128),
            // Generous: pages never written are never faulted in.
            records: Vec::with_capacity(len / 200 * RECORD_LEN),
            absorbed_records: Vec::new(),
            atoms: Vec::with_capacity(len / 2),
            problems: Vec::new(),
            warnings: Vec::new(),
            identities: FxHashSet::with_capacity_and_hasher(len / 300, Default::default()),
            packages: Vec::with_capacity(len / 300),
            arch_ids: FxHashMap::default(),
            arches: Vec::new(),
        }
    }

    /// The span of `s`: in the text when it points into it, else appended.
    fn span(&mut self, s: &str) -> (u32, u32) {
        let base = self.text.as_ptr() as usize;
        let p = s.as_ptr() as usize;
        if p >= base && p + s.len() <= base + self.text.len() {
            ((p - base) as u32, s.len() as u32)
        } else {
            self.appended(s)
        }
    }

    /// Parses `part` (whole records of the text, its first line being line
    /// `line_offset` of the text) leniently, validating every record: adds
    /// the kept records and the lines they start on, and the parser's
    /// warnings.
    fn parse_part(
        &mut self,
        part: &str,
        file: &str,
        line_offset: usize,
        kept: &mut Vec<usize>,
        warnings: &mut Vec<IndexWarning>,
    ) -> Result<(), IndexTextError> {
        text::parse_each(
            part,
            file,
            Strictness::Lenient,
            text::Validation::Deferred,
            line_offset,
            warnings,
            &mut |r| kept.push(self.add(&r)),
        )
    }

    /// More of the text is there: `text` starts where the old one did.
    fn grow(&mut self, text: &'t str) {
        debug_assert!(text.as_ptr() == self.text.as_ptr() && text.len() <= self.text_len);
        self.text = text;
    }

    fn appended(&mut self, s: &str) -> (u32, u32) {
        let off = (self.text_len + self.extra.len()) as u32;
        self.extra.push_str(s);
        (off, s.len() as u32)
    }

    /// Span of `inner`, a substring of `outer` whose span is `outer_span`.
    fn sub_span(outer: &str, outer_span: (u32, u32), inner: &str) -> (u32, u32) {
        let delta = inner.as_ptr() as usize - outer.as_ptr() as usize;
        (outer_span.0 + delta as u32, inner.len() as u32)
    }

    /// The id of `name` (whose bytes are at `span`), interning it when new.
    fn intern(&mut self, name: &str, span: (u32, u32)) -> u32 {
        let (text, extra, text_len, names) = (self.text, &self.extra, self.text_len, &self.names);
        let at = |id: &u32| spanned(text, extra, text_len, names[*id as usize]);
        let entry = self.name_ids.entry(
            name_key(name.as_bytes()),
            |id| at(id) == name.as_bytes(),
            |id| name_key(at(id)),
        );
        match entry {
            hashbrown::hash_table::Entry::Occupied(e) => *e.get(),
            hashbrown::hash_table::Entry::Vacant(e) => {
                let id = self.names.len() as u32;
                e.insert(id);
                self.names.push(span);
                id
            }
        }
    }

    fn push_atom(&mut self, name: u32, operand: (u32, u32), op: u8, flags: u8) {
        self.atoms.extend_from_slice(&name.to_le_bytes());
        self.atoms.extend_from_slice(&operand.0.to_le_bytes());
        self.atoms.extend_from_slice(&operand.1.to_le_bytes());
        self.atoms.extend_from_slice(&[op, flags, 0, 0]);
    }

    /// Parses and stores the atoms of one list field; invalid atoms become
    /// problems. Returns how many were stored.
    fn atoms_of(
        &mut self,
        list: &str,
        span: (u32, u32),
        letter: char,
        provides: bool,
        problems: &mut Vec<FieldProblem>,
    ) -> u32 {
        let mut n = 0;
        for atom in list.split_ascii_whitespace() {
            let parsed = if provides {
                dependency::Provide::parse(atom).map(|p| Dependency {
                    name: p.name,
                    tag: None,
                    conflict: false,
                    constraint: p
                        .version
                        .map_or(Constraint::Any, |v| Constraint::Version(Op::EQUAL, v)),
                })
            } else {
                Dependency::parse(atom, Context::Metadata)
            };
            let dep = match parsed {
                Ok(d) => d,
                Err(e) => {
                    problems.push(FieldProblem {
                        field: letter,
                        message: e.to_string(),
                    });
                    continue;
                }
            };
            let atom_span = Self::sub_span(list, span, atom);
            let name_span = Self::sub_span(atom, atom_span, dep.name);
            let name = self.intern(dep.name, name_span);
            let conflict = if dep.conflict { ATOM_CONFLICT } else { 0 };
            match dep.constraint {
                Constraint::Any => self.push_atom(name, (0, 0), 0, conflict),
                Constraint::Version(op, v) => {
                    let vs = Self::sub_span(atom, atom_span, v);
                    self.push_atom(name, vs, op.bits(), conflict);
                }
                Constraint::Checksum(_) => {
                    // The operand is what follows the operator.
                    let at = atom.rfind(['<', '>', '=', '~']).map_or(0, |i| i + 1);
                    let vs = Self::sub_span(atom, atom_span, &atom[at..]);
                    self.push_atom(name, vs, 0, conflict | ATOM_CHECKSUM);
                }
            }
            n += 1;
        }
        n
    }

    fn add(&mut self, r: &IndexRecord<'_>) -> usize {
        let info = &r.info;
        let fields: [&str; FIELDS] = [
            &info.name,
            &info.version,
            &info.arch,
            &info.description,
            &info.url,
            &info.license,
            &info.origin,
            &info.maintainer,
            &info.commit,
            &info.depends,
            &info.provides,
            &info.install_if,
            &info.replaces,
        ];
        let mut spans = [(0u32, 0u32); FIELDS];
        for (i, f) in fields.iter().enumerate() {
            spans[i] = self.span(f);
        }
        let name_id = self.intern(&info.name, spans[F_NAME]);

        // Full validation, in the order `PackageInfo::problems` reports.
        let mut problems = r.problems.clone();
        if !dependency::is_valid_package_name(&info.name) {
            problems.push(FieldProblem {
                field: 'P',
                message: format!("'{}' is not a valid package name", info.name),
            });
        }
        if let Err(e) = version::Version::parse(&info.version) {
            problems.push(FieldProblem {
                field: 'V',
                message: e.to_string(),
            });
        }
        let atoms_start = (self.atoms.len() / ATOM_LEN) as u32;
        let nd = self.atoms_of(
            fields[F_DEPENDS],
            spans[F_DEPENDS],
            'D',
            false,
            &mut problems,
        );
        let np = self.atoms_of(
            fields[F_PROVIDES],
            spans[F_PROVIDES],
            'p',
            true,
            &mut problems,
        );
        let ni = self.atoms_of(
            fields[F_INSTALL_IF],
            spans[F_INSTALL_IF],
            'i',
            false,
            &mut problems,
        );
        for e in dependency::parse_list(&info.replaces, Context::Metadata).filter_map(Result::err) {
            problems.push(FieldProblem {
                field: 'r',
                message: e.to_string(),
            });
        }

        let problems_start = (self.problems.len() / PROBLEM_LEN) as u32;
        let package = (!problems.is_empty()).then(|| info.name_version());
        for p in &problems {
            let msg = self.appended(&p.message);
            self.problems
                .extend_from_slice(&u32::from(p.field).to_le_bytes());
            self.problems.extend_from_slice(&msg.0.to_le_bytes());
            self.problems.extend_from_slice(&msg.1.to_le_bytes());
            let pkg = self.appended(package.as_deref().unwrap_or_default());
            let text = self.appended(&format!("{p}; package is not installable"));
            self.warnings
                .push((r.line, warning(r.line, Some(pkg), text)));
        }

        let mut flags = 0;
        if let Some(c) = info.checksum {
            if !self.identities.insert(c.identity()) {
                flags |= FLAG_DUPLICATE;
            }
        }
        if flags & FLAG_DUPLICATE == 0 {
            self.packages.push(PackageRow {
                record: self.record_count(),
                name: name_id,
                version: spans[F_VERSION],
                atoms: atoms_start,
                counts: [nd, np, ni],
            });
        }
        debug_assert!(
            self.absorbed_records.is_empty(),
            "records follow absorbed ones"
        );
        let rec = &mut self.records;
        let start = rec.len();
        rec.resize(start + RECORD_LEN, 0);
        let row = &mut rec[start..];
        for (i, (off, len)) in spans.iter().enumerate() {
            row[i * 8..i * 8 + 4].copy_from_slice(&off.to_le_bytes());
            row[i * 8 + 4..i * 8 + 8].copy_from_slice(&len.to_le_bytes());
        }
        let numbers = [
            info.size,
            info.installed_size,
            info.build_time,
            info.provider_priority,
            info.replaces_priority,
        ];
        let mut present = 0u8;
        for (i, n) in numbers.iter().enumerate() {
            if let Some(n) = n {
                present |= 1 << i;
                row[R_NUMBERS + i * 8..R_NUMBERS + i * 8 + 8].copy_from_slice(&n.to_le_bytes());
            }
        }
        row[R_PRESENT] = present;
        let (kind, sum): (u8, &[u8]) = match &info.checksum {
            Some(Checksum::Sha1(s)) => (1, s),
            Some(Checksum::Sha256(s)) => (2, s),
            None => (0, &[]),
        };
        row[R_CHECKSUM_KIND] = kind;
        row[R_CHECKSUM..R_CHECKSUM + sum.len()].copy_from_slice(sum);
        row[R_FLAGS] = flags;
        let arch_id = match self.arch_ids.get(&*info.arch) {
            Some(&id) => id,
            None => {
                let id = self.arches.len() as u32;
                self.arches.push(spans[F_ARCH]);
                self.arch_ids.insert(info.arch.to_string(), id);
                id
            }
        };
        let row = &mut self.records[start..];
        let put =
            |row: &mut [u8], at: usize, v: u32| row[at..at + 4].copy_from_slice(&v.to_le_bytes());
        put(row, R_LINE, r.line as u32);
        put(row, R_NAME_ID, name_id);
        put(row, R_ATOMS, atoms_start);
        put(row, R_ATOMS + 4, nd);
        put(row, R_ATOMS + 8, np);
        put(row, R_ATOMS + 12, ni);
        put(row, R_PROBLEMS, problems_start);
        put(row, R_PROBLEMS + 4, problems.len() as u32);
        put(row, R_ARCH_ID, arch_id);
        r.line
    }

    /// How many records there are so far.
    fn record_count(&self) -> u32 {
        ((self.records.len() + self.absorbed_records.len()) / RECORD_LEN) as u32
    }

    /// Record `i`.
    fn record(&self, i: u32) -> &[u8] {
        let at = i as usize * RECORD_LEN;
        match at.checked_sub(self.records.len()) {
            None => &self.records[at..][..RECORD_LEN],
            Some(at) => &self.absorbed_records[at..][..RECORD_LEN],
        }
    }

    /// The packages section: per package, its record and what the
    /// resolver reads of the record most (see [`PKG_LEN`]).
    fn package_table(&self) -> Vec<u8> {
        u32s(self.packages.iter().flat_map(|p| {
            let row = self.record(p.record);
            let sized = read_number(row, 0, N_INSTALLED_SIZE).is_some_and(|n| n != 0);
            let mut flags = 0;
            if read_u32(row, R_PROBLEMS + 4) != 0 {
                flags |= PF_PROBLEMS;
            }
            if !sized {
                flags |= PF_ZERO_SIZE;
            }
            [
                p.record,
                read_u32(row, R_NAME_ID),
                read_u32(row, R_ATOMS),
                read_u32(row, R_ATOMS + 4),
                read_u32(row, R_ATOMS + 8),
                read_u32(row, R_ATOMS + 12),
                read_u32(row, R_ARCH_ID),
                flags,
            ]
        }))
    }

    /// Appends what `other` built from the text after ours, as if one
    /// builder had read both parts in order.
    fn absorb(&mut self, other: Builder<'t>) {
        let text_len = self.text.len() as u32;
        let extra_shift = self.extra.len() as u32;
        let shift = |off: u32| {
            if off != NONE && off >= text_len {
                off + extra_shift
            } else {
                off
            }
        };
        self.extra.push_str(&other.extra);
        let string = |this: &Self, (off, len): (u32, u32)| -> String {
            let (off, len) = (off as usize, len as usize);
            match off.checked_sub(this.text.len()) {
                Some(x) => this.extra[x..x + len].to_owned(),
                None => this.text[off..off + len].to_owned(),
            }
        };
        let text = self.text;
        let names: Vec<u32> = other
            .names
            .iter()
            .map(|&(off, len)| {
                let span = (shift(off), len);
                if span.0 < text_len {
                    self.intern(&text[span.0 as usize..(span.0 + len) as usize], span)
                } else {
                    let name = string(self, span);
                    self.intern(&name, span)
                }
            })
            .collect();
        let arches: Vec<u32> = other
            .arches
            .iter()
            .map(|&(off, len)| {
                let span = (shift(off), len);
                let arch = string(self, span);
                match self.arch_ids.get(&arch) {
                    Some(&id) => id,
                    None => {
                        let id = self.arches.len() as u32;
                        self.arches.push(span);
                        self.arch_ids.insert(arch, id);
                        id
                    }
                }
            })
            .collect();
        let atom_base = (self.atoms.len() / ATOM_LEN) as u32;
        for a in other.atoms.chunks_exact(ATOM_LEN) {
            let name = names[read_u32(a, 0) as usize];
            self.atoms.extend_from_slice(&name.to_le_bytes());
            self.atoms
                .extend_from_slice(&shift(read_u32(a, 4)).to_le_bytes());
            self.atoms.extend_from_slice(&a[8..]);
        }
        let problem_base = (self.problems.len() / PROBLEM_LEN) as u32;
        for p in other.problems.chunks_exact(PROBLEM_LEN) {
            self.problems.extend_from_slice(&p[..4]);
            self.problems
                .extend_from_slice(&shift(read_u32(p, 4)).to_le_bytes());
            self.problems.extend_from_slice(&p[8..]);
        }
        for (line, mut w) in other.warnings {
            for at in [4, 12] {
                let v = shift(read_u32(&w, at));
                w[at..at + 4].copy_from_slice(&v.to_le_bytes());
            }
            self.warnings.push((line, w));
        }
        let record_base = self.record_count();
        // The other builder's records are renumbered where they are, then
        // kept as they are.
        let mut records = other.records;
        for (i, row) in records.chunks_exact_mut(RECORD_LEN).enumerate() {
            let put = |row: &mut [u8], at: usize, v: u32| {
                row[at..at + 4].copy_from_slice(&v.to_le_bytes())
            };
            for f in 0..FIELDS {
                let v = shift(read_u32(row, f * 8));
                put(row, f * 8, v);
            }
            let name = names[read_u32(row, R_NAME_ID) as usize];
            put(row, R_NAME_ID, name);
            let atoms = read_u32(row, R_ATOMS) + atom_base;
            put(row, R_ATOMS, atoms);
            let problems = read_u32(row, R_PROBLEMS) + problem_base;
            put(row, R_PROBLEMS, problems);
            let arch = arches[read_u32(row, R_ARCH_ID) as usize];
            put(row, R_ARCH_ID, arch);
            // Duplicates are judged against everything before, ours too.
            let mut duplicate = false;
            if row[R_CHECKSUM_KIND] != 0 {
                let mut identity = [0u8; 20];
                identity.copy_from_slice(&row[R_CHECKSUM..R_CHECKSUM + 20]);
                duplicate = !self.identities.insert(identity);
            }
            row[R_FLAGS] = if duplicate { FLAG_DUPLICATE } else { 0 };
            if !duplicate {
                let counts = [
                    read_u32(row, R_ATOMS + 4),
                    read_u32(row, R_ATOMS + 8),
                    read_u32(row, R_ATOMS + 12),
                ];
                self.packages.push(PackageRow {
                    record: record_base + i as u32,
                    name,
                    version: (
                        shift(read_u32(row, F_VERSION * 8)),
                        read_u32(row, F_VERSION * 8 + 4),
                    ),
                    atoms,
                    counts,
                });
            }
        }
        if self.absorbed_records.is_empty() {
            self.absorbed_records = records;
        } else {
            self.absorbed_records.extend_from_slice(&records);
        }
    }

    /// Atom `i` as stored: name, operand span, operator, flags.
    fn raw_atom(&self, i: u32) -> (u32, (u32, u32), u8) {
        let at = i as usize * ATOM_LEN;
        let a = &self.atoms;
        (
            read_u32(a, at),
            (read_u32(a, at + 4), read_u32(a, at + 8)),
            a[at + 12],
        )
    }

    /// The name lookup table (open addressing, `n_slots` a power of two).
    fn slots(&self, n_slots: u32) -> Vec<u32> {
        let (strings, text) = (&self.extra, self.text);
        let name_at = |off: u32, len: u32| -> &[u8] {
            let (off, len) = (off as usize, len as usize);
            if off >= text.len() {
                &strings.as_bytes()[off - text.len()..off - text.len() + len]
            } else {
                &text.as_bytes()[off..off + len]
            }
        };
        let mask = n_slots as usize - 1;
        let mut slots = vec![0u32; n_slots as usize];
        for (i, (off, len)) in self.names.iter().enumerate() {
            let mut slot = name_hash(name_at(*off, *len)) as usize & mask;
            while slots[slot] != 0 {
                slot = (slot + 1) & mask;
            }
            slots[slot] = i as u32 + 1;
        }
        slots
    }

    /// The per-name lists of the resolver's universe (see `apk_solve::Db`):
    /// providers (package, version span or none), reverse dependencies
    /// (each package once per name) and reverse install_if (each name
    /// once, first occurrence first).
    fn universe(&self) -> Universe {
        let names = self.names.len();
        let mut providers = Vec::new();
        let mut rdepends = Vec::new();
        let mut rinstall_if = Vec::new();
        let mut last = vec![u32::MAX; names];
        for (pkg, p) in self.packages.iter().enumerate() {
            let pkg = pkg as u32;
            let [nd, np, ni] = p.counts;
            providers.push((p.name, [pkg, p.version.0, p.version.1]));
            let provides = p.atoms + nd..p.atoms + nd + np;
            for a in provides.clone() {
                let (name, span, op) = self.raw_atom(a);
                let (off, len) = if op != 0 { span } else { (NONE, 0) };
                providers.push((name, [pkg, off, len]));
            }
            for a in p.atoms..p.atoms + nd {
                let name = self.raw_atom(a).0;
                if last[name as usize] != pkg {
                    last[name as usize] = pkg;
                    rdepends.push((name, pkg));
                }
            }
            for a in p.atoms + nd + np..p.atoms + nd + np + ni {
                let target = self.raw_atom(a).0;
                rinstall_if.push((target, p.name));
                for b in provides.clone() {
                    rinstall_if.push((target, self.raw_atom(b).0));
                }
            }
        }
        let mut rinstall_if = offset_table(names, &rinstall_if);
        // Keep each name's first occurrence in each list.
        let mut seen = vec![false; names];
        let (start, items) = &mut rinstall_if;
        let mut kept = Vec::with_capacity(items.len());
        let mut new_start = vec![0u32; names + 1];
        for n in 0..names {
            let list = &items[start[n] as usize..start[n + 1] as usize];
            for &r in list {
                if !std::mem::replace(&mut seen[r as usize], true) {
                    kept.push(r);
                }
            }
            for &r in list {
                seen[r as usize] = false;
            }
            new_start[n + 1] = kept.len() as u32;
        }
        let (providers_start, providers) = offset_table(names, &providers);
        let (rdepends_start, rdepends) = offset_table(names, &rdepends);
        Universe {
            n_prov: providers.len(),
            n_rdep: rdepends.len(),
            n_riif: kept.len(),
            sections: [
                u32s(providers_start),
                u32s(providers.into_iter().flatten()),
                u32s(rdepends_start),
                u32s(rdepends),
                u32s(new_start),
                u32s(kept),
            ],
        }
    }

    /// Assembles the buffer; `None` when it would not fit 32-bit offsets.
    /// Assembles the header and sections; `None` when they would not fit
    /// 32-bit offsets.
    fn finish(
        mut self,
        kept_lines: &[usize],
        parse_warnings: &[IndexWarning],
        description: &str,
        lossy: bool,
        digest: [u8; 32],
        text_crc: Option<crc32fast::Hasher>,
    ) -> Option<Parts<'t>> {
        // The parser's own warnings about kept records were regenerated
        // from the full problem lists; keep those about skipped records.
        let mut warnings = std::mem::take(&mut self.warnings);
        for w in parse_warnings {
            if kept_lines.binary_search(&w.line).is_err() {
                let pkg = w.package.as_deref().map(|p| self.appended(p));
                let msg = self.appended(&w.message);
                warnings.push((w.line, warning(w.line, pkg, msg)));
            }
        }
        warnings.sort_by_key(|(line, _)| *line);
        let description = self.appended(description);

        let strings_len = u32::try_from(self.text.len() + self.extra.len()).ok()?;
        let n_names = u32::try_from(self.names.len()).ok()?;
        let n_slots = (n_names.checked_add(1)?.checked_mul(2)?).next_power_of_two();
        // The resolver's lists on this thread, the name tables and the
        // package rows on another, each as the bytes of its sections.
        let lookup = || {
            [
                u32s(self.names.iter().flat_map(|&(o, l)| [o, l])),
                u32s(self.slots(n_slots)),
                self.package_table(),
            ]
        };
        let (lookup, lists) = if self.names.len() >= 4096 && parallel() {
            let (lookup_done, lists) = assemble_io::thread::join(lookup, || self.universe());
            (lookup_done.unwrap_or_else(|_| lookup()), lists)
        } else {
            (lookup(), self.universe())
        };
        let [names, slots, packages] = lookup;
        let layout = Layout {
            text_len: self.text.len() as u32,
            strings_len,
            n_records: u32::try_from(kept_lines.len()).ok()?,
            n_names,
            n_slots,
            n_atoms: u32::try_from(self.atoms.len() / ATOM_LEN).ok()?,
            n_problems: u32::try_from(self.problems.len() / PROBLEM_LEN).ok()?,
            n_warnings: u32::try_from(warnings.len()).ok()?,
            n_pkgs: u32::try_from(self.packages.len()).ok()?,
            n_prov: u32::try_from(lists.n_prov).ok()?,
            n_rdep: u32::try_from(lists.n_rdep).ok()?,
            n_riif: u32::try_from(lists.n_riif).ok()?,
            n_arches: u32::try_from(self.arches.len()).ok()?,
            ..Layout::default()
        }
        .compute()?;
        u32::try_from(layout.total).ok()?;

        let mut header = [0u8; HEADER_LEN];
        header[..8].copy_from_slice(&MAGIC);
        let put =
            |out: &mut [u8], at: usize, v: u32| out[at..at + 4].copy_from_slice(&v.to_le_bytes());
        put(&mut header, 8, FORMAT_VERSION);
        put(&mut header, 12, u32::from(lossy));
        header[16..48].copy_from_slice(&digest);
        put(&mut header, 52, layout.total as u32);
        for (at, v) in [
            (56, layout.text_len),
            (60, layout.strings_len),
            (64, layout.n_records),
            (68, layout.n_names),
            (72, layout.n_slots),
            (76, layout.n_atoms),
            (80, layout.n_problems),
            (84, layout.n_warnings),
            (88, description.0),
            (92, description.1),
            (96, layout.n_pkgs),
            (100, layout.n_prov),
            (104, layout.n_rdep),
            (108, layout.n_riif),
            (112, layout.n_arches),
        ] {
            put(&mut header, at, v);
        }

        // Sections in layout order, each padded to 8 bytes.
        let mut extra = std::mem::take(&mut self.extra).into_bytes();
        let strings_end = self.text.len() + extra.len();
        pad_to(&mut extra, strings_end);
        let warning_bytes: Vec<u8> = warnings
            .iter()
            .flat_map(|(_, w)| w.iter().copied())
            .collect();
        let mut sections = vec![
            extra,
            std::mem::take(&mut self.records),
            // Whole records (RECORD_LEN is a multiple of 8): no padding
            // between the two.
            std::mem::take(&mut self.absorbed_records),
            names,
            slots,
            std::mem::take(&mut self.atoms),
            std::mem::take(&mut self.problems),
            warning_bytes,
            packages,
        ];
        sections.extend(lists.sections);
        sections.push(u32s(self.arches.iter().flat_map(|&(o, l)| [o, l])));
        for s in sections.iter_mut().skip(1) {
            let n = s.len();
            pad_to(s, n);
        }
        let mut crc = text_crc.unwrap_or_else(|| {
            let mut crc = crc32fast::Hasher::new();
            crc.update(self.text.as_bytes());
            crc
        });
        for s in &sections {
            crc.update(s);
        }
        put(&mut header, 48, crc.finalize());
        let total = HEADER_LEN + self.text.len() + sections.iter().map(Vec::len).sum::<usize>();
        debug_assert_eq!(total, layout.total);
        Some(Parts {
            header,
            text: self.text,
            sections,
            digest,
        })
    }
}

/// Where to cut `text` in two for parsing in parallel: a record boundary
/// near the middle, or `None` when one thread is enough.
fn split_point(text: &str) -> Option<usize> {
    if text.len() < MIN_PARALLEL || !parallel() {
        return None;
    }
    let mid = text.len() / 2;
    memchr::memmem::find(&text.as_bytes()[mid..], b"\n\n").map(|i| mid + i + 1)
}

/// Texts shorter than this are parsed by one thread.
pub(crate) const MIN_PARALLEL: usize = 256 * 1024;

/// Whether more than one core is there (asked once: the answer reads
/// cgroup files).
fn parallel() -> bool {
    static PARALLEL: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *PARALLEL.get_or_init(|| std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2))
}

/// `values` as little-endian bytes.
fn u32s(values: impl IntoIterator<Item = u32>) -> Vec<u8> {
    values.into_iter().flat_map(u32::to_le_bytes).collect()
}

/// Pads `bytes` with zeros so that a section of `len` bytes (ending with
/// `bytes`) ends on an 8-byte boundary.
fn pad_to(bytes: &mut Vec<u8>, len: usize) {
    bytes.resize(bytes.len() + (align8(len) - len), 0);
}

/// A parsed index before it is one buffer: its header and sections, the
/// text borrowed. The cache writes them to a file as they are; without a
/// cache they are joined into a buffer.
pub(crate) struct Parts<'t> {
    header: [u8; HEADER_LEN],
    text: &'t str,
    sections: Vec<Vec<u8>>,
    digest: [u8; 32],
}

impl<'t> Parts<'t> {
    /// Parses an index's text (leniently, validating every record fully).
    /// `file` names the text in errors; `digest` is the digest of the
    /// compressed file it came from.
    pub fn build(
        text: &'t str,
        description: &str,
        lossy: bool,
        file: &str,
        digest: [u8; 32],
    ) -> Result<Parts<'t>, IndexTextError> {
        let parse = |part: &'t str, line_offset: usize| {
            let mut builder = Builder::new(text, part.len());
            let mut kept_lines = Vec::with_capacity(part.len() / 256);
            let mut warnings = Vec::new();
            builder
                .parse_part(part, file, line_offset, &mut kept_lines, &mut warnings)
                .map(|()| (builder, kept_lines, warnings))
        };
        // A large index is parsed in two halves side by side (split at a
        // record boundary) and the second merged into the first: the bytes
        // are the same as from one pass.
        let split = split_point(text);
        let (builder, mut kept_lines, mut parse_warnings) = match split {
            Some(at) => {
                let (a, b) = text.split_at(at);
                let offset = memchr::memchr_iter(b'\n', a.as_bytes()).count();
                let (second, first) =
                    assemble_io::thread::join(|| parse(b, offset), || parse(a, 0));
                let (mut builder, mut kept, mut warnings) = first?;
                let (rest, rest_kept, rest_warnings) = match second {
                    Ok(r) => r?,
                    Err(_) => parse(b, offset)?,
                };
                builder.absorb(rest);
                kept.extend(rest_kept);
                warnings.extend(rest_warnings);
                (builder, kept, warnings)
            }
            None => parse(text, 0)?,
        };
        kept_lines.shrink_to_fit();
        parse_warnings.shrink_to_fit();
        builder
            .finish(
                &kept_lines,
                &parse_warnings,
                description,
                lossy,
                digest,
                None,
            )
            .ok_or_else(|| IndexTextError {
                file: file.to_owned(),
                line: 0,
                message: "the index is too large to hold in a parsed index (over 4 GiB)".to_owned(),
            })
    }

    /// A buffer for [`ParsedIndex::build_streamed`] when the index body (which
    /// announces `announced` inflated bytes) is worth parsing while it is
    /// inflated; `None` when it is not (small, or one core).
    pub fn stream_buffer(announced: u64, max_size: u64) -> Option<TextBuffer> {
        if announced < MIN_PARALLEL as u64 || !parallel() {
            return None;
        }
        let cap = usize::try_from(announced.min(max_size)).ok()?;
        // Room for the tables after the text, which the index then appends
        // in place: about as many bytes as the text for Alpine's indexes.
        let spare = cap.saturating_add(cap / 2);
        Filling::new(HEADER_LEN, cap, spare, StreamState::default()).ok()
    }

    /// Inflates `verified` into `buffer` and parses the text while it
    /// arrives: another thread parses records as soon as they are there,
    /// and once everything is inflated this one parses the second half of
    /// what is left; the two are joined as [`Parts::build`] joins its
    /// halves, so the bytes are those of [`Parts::build`] on the whole
    /// text. `None` whenever anything is off (the inflate fails, the text is
    /// not UTF-8 or larger than announced, a record cannot be parsed): the
    /// caller then inflates and parses the whole text the usual way, which
    /// reports what is wrong.
    fn parse_streamed(
        buffer: &'t TextBuffer,
        verified: &archive::Verified<'_>,
        file: &std::path::Path,
        max_size: u64,
        label: &str,
        digest: [u8; 32],
    ) -> Option<Parts<'t>> {
        let (front, inflated) = assemble_io::thread::join(
            || parse_front(buffer, label),
            || {
                // However this thread leaves (a panic included), the other one
                // must not wait for text that will never come.
                let _release = Release(buffer);
                let sink = |r: &mut dyn std::io::Read, size| buffer.fill_from(r, size);
                let description = archive::inflate_into(verified, file, max_size, &sink).ok();
                let full = description
                    .as_ref()
                    .filter(|_| buffer.filled().len() == buffer.total())
                    .and_then(|_| std::str::from_utf8(buffer.filled()).ok());
                let start = {
                    let mut state = buffer.lock();
                    match full {
                        Some(full) => {
                            // Half of what the other thread has not taken yet.
                            let mid = state.claimed + (full.len() - state.claimed) / 2;
                            let start = memchr::memmem::find(&full.as_bytes()[mid..], b"\n\n")
                                .map_or(full.len(), |i| mid + i + 1);
                            state.tail_start = Some(start);
                            Some(start)
                        }
                        None => {
                            state.failed = true;
                            None
                        }
                    }
                };
                buffer.signal();
                let tail = full.zip(start).and_then(|(full, start)| {
                    let lines = memchr::memchr_iter(b'\n', &full.as_bytes()[..start]).count();
                    let part = &full[start..];
                    let mut builder = Builder::new(full, part.len());
                    let (mut kept, mut warnings) = (Vec::new(), Vec::new());
                    builder
                        .parse_part(part, label, lines, &mut kept, &mut warnings)
                        .ok()?;
                    Some((builder, kept, warnings))
                });
                // While the other thread may still be parsing: the text's
                // part of the checksum.
                let text_crc = full.map(|full| {
                    let mut crc = crc32fast::Hasher::new();
                    crc.update(full.as_bytes());
                    crc
                });
                (description, full, tail, text_crc)
            },
        );
        let (description, full, tail, text_crc) = inflated;
        let (mut builder, mut kept, mut warnings) = front.ok()??;
        let (rest, rest_kept, rest_warnings) = tail?;
        builder.grow(full?);
        builder.absorb(rest);
        kept.extend(rest_kept);
        warnings.extend(rest_warnings);
        kept.shrink_to_fit();
        warnings.shrink_to_fit();
        builder.finish(&kept, &warnings, &description?, false, digest, text_crc)
    }

    /// The serialized index, in pieces.
    pub fn pieces(&self) -> Vec<&[u8]> {
        let mut pieces = vec![&self.header[..], self.text.as_bytes()];
        pieces.extend(self.sections.iter().map(Vec::as_slice));
        pieces
    }

    /// Writes the serialized index.
    pub fn write_to(&self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        self.pieces().into_iter().try_for_each(|p| out.write_all(p))
    }

    /// The index in one buffer.
    pub fn into_index(self) -> ParsedIndex {
        let total =
            HEADER_LEN + self.text.len() + self.sections.iter().map(Vec::len).sum::<usize>();
        let mut bytes = Vec::with_capacity(total);
        self.write_to(&mut bytes)
            .expect("writing to memory does not fail");
        ParsedIndex::from_built(Buf::Owned(bytes), &self.digest)
    }
}

/// What the two threads of [`Parts::parse_streamed`] share.
#[derive(Debug, Default)]
pub(crate) struct StreamState {
    /// The text up to here is the front parser's (a record boundary).
    claimed: usize,
    /// Where the inflating thread's part starts, once it is all inflated.
    tail_start: Option<usize>,
    /// The inflate failed: stop.
    failed: bool,
}

/// Stops the front parser of [`Parts::parse_streamed`] when dropped, unless
/// it was told where to stop already.
struct Release<'b>(&'b TextBuffer);

impl Drop for Release<'_> {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        if state.tail_start.is_none() {
            state.failed = true;
        }
        drop(state);
        self.0.signal();
    }
}

/// How much text the front parser takes at a time, at most (unless a
/// record is longer).
const FRONT_STEP: usize = 64 * 1024;

/// The buffer an index's text is inflated into while it is parsed.
pub(crate) type TextBuffer = Filling<StreamState>;

/// What one thread parsed: the builder, the lines of the records it kept,
/// the parser's warnings.
type Parsed<'t> = (Builder<'t>, Vec<usize>, Vec<IndexWarning>);

/// The front parser of [`Parts::parse_streamed`]: takes whole records as
/// they are inflated, up to where the inflating thread's part starts.
fn parse_front<'t>(buffer: &'t TextBuffer, label: &str) -> Option<Parsed<'t>> {
    let mut builder: Option<Builder<'t>> = None;
    let (mut kept, mut warnings) = (Vec::new(), Vec::new());
    let (mut pos, mut lines) = (0, 0);
    loop {
        let end = {
            let mut state = buffer.lock();
            loop {
                if state.failed {
                    return None;
                }
                if let Some(start) = state.tail_start {
                    break start;
                }
                // Taken a little at a time, so that what is left when the
                // inflate ends can be shared fairly.
                let from = state.claimed;
                let there = &buffer.filled()[from..];
                let boundary =
                    memchr::memmem::rfind(&there[..there.len().min(FRONT_STEP)], b"\n\n")
                        .or_else(|| memchr::memmem::find(there, b"\n\n"));
                if let Some(i) = boundary {
                    state.claimed = from + i + 1;
                    break state.claimed;
                }
                state = buffer.wait(state);
            }
        };
        let bytes = &buffer.filled()[..end.max(pos)];
        let chunk = std::str::from_utf8(&bytes[pos..]).ok()?;
        // SAFETY: `bytes[..pos]` was checked to be UTF-8 chunk by chunk,
        // every chunk ending right after a `\n` (a character boundary), and
        // `bytes[pos..]` just now; published bytes never change.
        let text = unsafe { std::str::from_utf8_unchecked(bytes) };
        let b = builder
            .get_or_insert_with(|| Builder::growing(text, buffer.total(), buffer.total() / 2));
        b.grow(text);
        b.parse_part(chunk, label, lines, &mut kept, &mut warnings)
            .ok()?;
        lines += memchr::memchr_iter(b'\n', chunk.as_bytes()).count();
        pos = bytes.len();
        if buffer.lock().tail_start == Some(pos) {
            let text = &buffer.filled()[..0];
            let text = std::str::from_utf8(text).ok()?;
            let builder = builder.unwrap_or_else(|| Builder::growing(text, buffer.total(), 0));
            return Some((builder, kept, warnings));
        }
    }
}

/// Per-name lists: offsets (one more than names) and items.
/// Per-name lists as one table: list `n` is `items[start[n]..start[n + 1]]`
/// of `(start, items)`.
pub type OffsetTable<T> = (Vec<u32>, Vec<T>);

/// The per-name lists of [`Builder::universe`] as the bytes of their
/// sections (offsets, then items, for providers, reverse dependencies and
/// reverse install_if), with their item counts.
struct Universe {
    sections: [Vec<u8>; 6],
    n_prov: usize,
    n_rdep: usize,
    n_riif: usize,
}

/// Groups `(name, item)` pairs by name, keeping their order (a stable
/// counting sort); names are below `names`.
pub fn offset_table<T: Copy>(names: usize, pairs: &[(u32, T)]) -> OffsetTable<T> {
    let mut start = vec![0u32; names + 1];
    for &(n, _) in pairs {
        start[n as usize + 1] += 1;
    }
    for i in 0..names {
        start[i + 1] += start[i];
    }
    let mut next = start.clone();
    let mut items = match pairs.first() {
        Some(&(_, filler)) => vec![filler; pairs.len()],
        None => Vec::new(),
    };
    for &(n, item) in pairs {
        let at = &mut next[n as usize];
        items[*at as usize] = item;
        *at += 1;
    }
    (start, items)
}

/// A stored warning: line, package span (or none), message span.
fn warning(line: usize, package: Option<(u32, u32)>, message: (u32, u32)) -> Vec<u8> {
    let (po, pl) = package.unwrap_or((NONE, 0));
    [line as u32, po, pl, message.0, message.1]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "C:Q1EyN5AdpAOBJWKMR89pp/C66o+OE=\nP:a\nV:1\nS:1\nI:1\nD:b so:libc.so>=1.2 !c\nD:d\np:cmd:a=1 virt\n\n\
C:Q1C4uoV7SdMdDhYg4OCVmI71D8HIA=\nP:b\nV:1.0bc\nS:1\nI:1\np:pc:x=v2.4 cmd:b=1\nX:new\ni:a\n\n\
V:2\n\n\
C:Q1EyN5AdpAOBJWKMR89pp/C66o+OE=\nP:a\nV:1\nk:10\n";

    fn built() -> ParsedIndex {
        ParsedIndex::build(TEXT, "desc", false, "t", [7; 32]).unwrap()
    }

    #[test]
    fn records_and_warnings_match_the_text_parser() {
        let idx = built();
        let direct = text::parse(TEXT, "t", Strictness::Lenient).unwrap();
        let ours = idx.to_text();
        assert_eq!(ours.records, direct.records);
        assert_eq!(ours.warnings, direct.warnings);
        assert_eq!(idx.description(), "desc");
        assert_eq!(idx.text(), TEXT);
    }

    #[test]
    fn atoms_are_parsed_and_names_interned() {
        let idx = built();
        let deps: Vec<String> = idx.depends(0).map(|a| a.dep.to_string()).collect();
        assert_eq!(deps, ["b", "so:libc.so>=1.2", "!c", "d"]);
        let b = idx.lookup("b").unwrap();
        assert_eq!(idx.row(1).name, b);
        assert_eq!(idx.depends(0).next().unwrap().name, b);
        let provides: Vec<(&str, Option<&str>)> =
            idx.provides(0).map(|(n, v)| (idx.name(n), v)).collect();
        assert_eq!(provides, [("cmd:a", Some("1")), ("virt", None)]);
        // b's version is invalid, its provides are not.
        let row = idx.row(1);
        assert!(row.has_problems);
        assert_eq!(
            idx.install_if(1).map(|a| a.name).collect::<Vec<_>>(),
            [idx.lookup("a").unwrap()]
        );
        assert_eq!(idx.lookup("nosuch"), None);
        // The same identity twice: the second is a duplicate.
        assert!(!idx.row(0).duplicate && idx.row(2).duplicate);
        assert_eq!(idx.row(2).provider_priority, Some(10));
    }

    #[test]
    fn bytes_round_trip_and_damage_is_refused() {
        let idx = built();
        let bytes = idx.to_bytes().to_vec();
        let again = ParsedIndex::from_bytes(bytes.clone(), &[7; 32]).unwrap();
        assert_eq!(again.to_text().records, idx.to_text().records);
        assert!(ParsedIndex::from_bytes(bytes.clone(), &[8; 32]).is_err());
        let mut flipped = bytes.clone();
        let n = flipped.len();
        flipped[n / 2] ^= 1;
        assert_eq!(
            ParsedIndex::from_bytes(flipped, &[7; 32]).unwrap_err().0,
            "checksum mismatch"
        );
        assert!(ParsedIndex::from_bytes(bytes[..n - 8].to_vec(), &[7; 32]).is_err());
        let mut other = bytes.clone();
        other[8] = 99;
        assert!(ParsedIndex::from_bytes(other, &[7; 32]).is_err());
        assert!(ParsedIndex::from_bytes(b"garbage".to_vec(), &[7; 32]).is_err());
    }

    #[test]
    fn two_halves_build_the_same_bytes_as_one_pass() {
        // Joined lists, problems, duplicates and skipped records on both
        // sides of the cut.
        let mut text = String::new();
        for i in 0..4000 {
            text.push_str(&format!(
                "C:Q1{:026}AAAAAA=\nP:p{}\nV:{}\nA:{}\nD:so:libc.so.{} p{}\nD:q{}\np:cmd:p{}=1 virt{}\n\n",
                i % 3000,
                i,
                if i % 97 == 0 { "bad" } else { "1.0-r0" },
                ["x86_64", "aarch64", "noarch"][i % 3],
                i % 7,
                (i + 1) % 4000,
                i % 50,
                i,
                i % 11,
            ));
            if i % 500 == 0 {
                text.push_str("V:1\n\n");
            }
        }
        assert!(
            split_point(&text).is_some() || std::thread::available_parallelism().unwrap().get() < 2
        );
        let one = {
            let mut b = Builder::new(&text, text.len());
            let mut kept = Vec::new();
            let mut warnings = Vec::new();
            text::parse_each(
                &text,
                "t",
                Strictness::Lenient,
                text::Validation::Deferred,
                0,
                &mut warnings,
                &mut |r| kept.push(b.add(&r)),
            )
            .unwrap();
            let parts = b
                .finish(&kept, &warnings, "d", false, [3; 32], None)
                .unwrap();
            let mut v = Vec::new();
            parts.write_to(&mut v).unwrap();
            v
        };
        let two = ParsedIndex::build(&text, "d", false, "t", [3; 32]).unwrap();
        assert_eq!(two.to_bytes(), &one[..]);
        assert_eq!(
            two.to_text().records,
            text::parse(&text, "t", Strictness::Lenient)
                .unwrap()
                .records
        );
    }

    #[test]
    fn joined_list_lines_and_the_real_indexes() {
        let text = "C:Q1EyN5AdpAOBJWKMR89pp/C66o+OE=\nP:a\nV:1\nD:x\nD:y>1\n";
        let idx = ParsedIndex::build(text, "", false, "t", [0; 32]).unwrap();
        let deps: Vec<String> = idx.depends(0).map(|a| a.dep.to_string()).collect();
        assert_eq!(deps, ["x", "y>1"]);
        assert_eq!(idx.record(0).info.depends, "x y>1");

        let keys = crate::signature::Keyring::load(&[testkit::corpus("apk/keys/alpine")]).unwrap();
        for dir in [
            "apk/alpine-v3.16-main-x86_64",
            "apk/alpine-v3.17-main-aarch64",
        ] {
            let path = testkit::corpus(dir).join("APKINDEX.tar.gz");
            let a = super::super::archive::read_file(&path, &keys, super::super::Trust::Verify)
                .unwrap();
            let idx = ParsedIndex::build(&a.text, &a.description, false, dir, [1; 32]).unwrap();
            let direct = text::parse(&a.text, dir, Strictness::Lenient).unwrap();
            let ours = idx.to_text();
            assert_eq!(ours.records, direct.records, "{dir}");
            assert_eq!(ours.warnings, direct.warnings, "{dir}");
            for i in 0..idx.len() {
                let r = &direct.records[i];
                let deps: Vec<_> = r.info.depends().filter_map(Result::ok).collect();
                let ours: Vec<_> = idx.depends(i).map(|a| a.dep).collect();
                assert_eq!(ours, deps, "{dir} {}", r.info.name);
                for a in idx.depends(i) {
                    assert_eq!(idx.lookup(a.dep.name), Some(a.name));
                }
            }
        }
    }
}
