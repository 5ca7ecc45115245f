//! `lib/apk/db/scripts.tar`: the package scripts apk keeps after
//! installation, one plain-tar entry per script (formats.md §6.3).
//!
//! Entries keep their raw header blocks, content and padding, and the bytes
//! after the last entry (end-of-archive blocks, record padding) are kept
//! too, so an unchanged file is written back byte for byte. Headers are
//! read directly from their 512-byte blocks: the checksum is verified, GNU
//! long names (`L`) and PAX `path` records are honoured, and a file that
//! ends inside a header or an entry is an error.

use std::fmt;

use crate::checksum::Checksum;

const BLOCK: usize = 512;

/// Which script an entry holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ScriptKind {
    /// `pre-install`.
    PreInstall,
    /// `post-install`.
    PostInstall,
    /// `pre-deinstall`.
    PreDeinstall,
    /// `post-deinstall`.
    PostDeinstall,
    /// `pre-upgrade`.
    PreUpgrade,
    /// `post-upgrade`.
    PostUpgrade,
    /// `trigger`.
    Trigger,
}

impl ScriptKind {
    /// Every kind, in the order apk-tools numbers them.
    pub const ALL: [ScriptKind; 7] = [
        ScriptKind::PreInstall,
        ScriptKind::PostInstall,
        ScriptKind::PreDeinstall,
        ScriptKind::PostDeinstall,
        ScriptKind::PreUpgrade,
        ScriptKind::PostUpgrade,
        ScriptKind::Trigger,
    ];

    /// The name used in entry names and, with a leading dot, as the file
    /// name in a package's control member (`.post-install`).
    pub fn as_str(self) -> &'static str {
        match self {
            ScriptKind::PreInstall => "pre-install",
            ScriptKind::PostInstall => "post-install",
            ScriptKind::PreDeinstall => "pre-deinstall",
            ScriptKind::PostDeinstall => "post-deinstall",
            ScriptKind::PreUpgrade => "pre-upgrade",
            ScriptKind::PostUpgrade => "post-upgrade",
            ScriptKind::Trigger => "trigger",
        }
    }

    /// The kind named `text`, if any.
    pub fn parse(text: &str) -> Option<ScriptKind> {
        ScriptKind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

impl fmt::Display for ScriptKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An entry name `<P>-<V>.<identity>.<script>`, read from the right.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ScriptName {
    /// `name-version` of the package.
    pub package: String,
    /// The package identity as written (`Q1<base64>` or `X1<hex>`); the
    /// base64 form may contain `/`.
    pub identity: String,
    /// The script.
    pub kind: ScriptKind,
}

impl ScriptName {
    /// Splits an entry name: the last `.` starts the script kind, the one
    /// before it the identity, which must be a `Q1`/`X1` digest.
    pub fn parse(name: &str) -> Result<ScriptName, ScriptsError> {
        let bad = |reason: &str| ScriptsError::BadName {
            name: name.to_owned(),
            reason: reason.to_owned(),
        };
        let (rest, kind) = name
            .rsplit_once('.')
            .ok_or_else(|| bad("expected <name>-<version>.<identity>.<script>"))?;
        let kind = ScriptKind::parse(kind).ok_or_else(|| {
            bad("unknown script kind; expected pre-install, post-install, pre-deinstall, post-deinstall, pre-upgrade, post-upgrade or trigger")
        })?;
        let (package, identity) = rest
            .rsplit_once('.')
            .ok_or_else(|| bad("expected <name>-<version>.<identity>.<script>"))?;
        if package.is_empty() {
            return Err(bad("the package name-version is empty"));
        }
        Checksum::parse(identity).map_err(|e| bad(&e.to_string()))?;
        Ok(ScriptName {
            package: package.to_owned(),
            identity: identity.to_owned(),
            kind,
        })
    }

    /// The identity as a checksum (validated by [`ScriptName::parse`]).
    pub fn checksum(&self) -> Option<Checksum> {
        Checksum::parse(&self.identity).ok()
    }
}

impl fmt::Display for ScriptName {
    /// The entry name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.package, self.identity, self.kind)
    }
}

/// A `scripts.tar` that cannot be read, or a script that cannot be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScriptsError {
    /// The file ends inside a header or an entry.
    #[error("{file}: truncated at byte {offset}: {what}")]
    Truncated {
        /// The file name given to the parser.
        file: String,
        /// Where the incomplete part starts.
        offset: u64,
        /// What is incomplete.
        what: String,
    },
    /// A header's checksum does not match its bytes.
    #[error("{file}: the tar header at byte {offset} is corrupt (checksum {stored:o} stored, {computed:o} computed)")]
    BadChecksum {
        /// The file name given to the parser.
        file: String,
        /// Offset of the header block.
        offset: u64,
        /// The checksum stored in the header.
        stored: u64,
        /// The checksum of the header's bytes.
        computed: u64,
    },
    /// A numeric header field is not a number.
    #[error("{file}: the tar header at byte {offset} has a malformed {field} field '{value}'")]
    BadNumber {
        /// The file name given to the parser.
        file: String,
        /// Offset of the header block.
        offset: u64,
        /// Which field (`size`, `mtime`, …).
        field: &'static str,
        /// The field's text.
        value: String,
    },
    /// An entry name that is not `<P>-<V>.<identity>.<script>`.
    #[error("script name '{name}': {reason}")]
    BadName {
        /// The rejected name.
        name: String,
        /// What is wrong.
        reason: String,
    },
}

/// One tar entry of `scripts.tar`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptEntry {
    /// Raw header blocks: extension headers with their data, then the
    /// entry's own header.
    header: Vec<u8>,
    name: String,
    typeflag: u8,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
    content: Vec<u8>,
    /// The bytes between the content and the next 512-byte boundary.
    padding: Vec<u8>,
}

impl ScriptEntry {
    /// The entry name (from a GNU long-name record or PAX `path` when
    /// present); bytes that are not UTF-8 are replaced.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The name split into package, identity and script kind.
    pub fn script_name(&self) -> Result<ScriptName, ScriptsError> {
        ScriptName::parse(&self.name)
    }

    /// True for a regular file (typeflag `0`, NUL or `7`); apk-tools
    /// ignores other entries.
    pub fn is_file(&self) -> bool {
        matches!(self.typeflag, b'0' | 0 | b'7')
    }

    /// The script text.
    pub fn content(&self) -> &[u8] {
        &self.content
    }

    /// Permission bits.
    pub fn mode(&self) -> u32 {
        self.mode
    }

    /// Numeric owner.
    pub fn uid(&self) -> u64 {
        self.uid
    }

    /// Numeric group.
    pub fn gid(&self) -> u64 {
        self.gid
    }

    /// Modification time, Unix seconds (the package's build time).
    pub fn mtime(&self) -> u64 {
        self.mtime
    }
}

/// The whole `scripts.tar`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptsTar {
    entries: Vec<ScriptEntry>,
    /// Everything after the last entry (end-of-archive blocks, padding).
    trailer: Vec<u8>,
}

impl Default for ScriptsTar {
    /// An empty database: two zero blocks, as apk and apko write it.
    fn default() -> Self {
        ScriptsTar {
            entries: Vec::new(),
            trailer: vec![0; 2 * BLOCK],
        }
    }
}

/// Reads a numeric header field: octal ASCII ended by NUL or space
/// (leading spaces allowed, empty = 0), or GNU base-256.
fn number(field: &[u8]) -> Option<u64> {
    if let Some((&first, rest)) = field.split_first() {
        if first & 0x80 != 0 {
            if first & 0x40 != 0 {
                return None; // negative
            }
            let mut v = u64::from(first & 0x3f);
            for &b in rest {
                v = v.checked_mul(256)?.checked_add(u64::from(b))?;
            }
            return Some(v);
        }
    }
    let start = field.iter().position(|&b| b != b' ').unwrap_or(field.len());
    let digits = &field[start..];
    let end = digits
        .iter()
        .position(|&b| b == 0 || b == b' ')
        .unwrap_or(digits.len());
    if digits[end..].iter().any(|&b| b != 0 && b != b' ') {
        return None;
    }
    let mut v = 0u64;
    for &b in &digits[..end] {
        if !(b'0'..=b'7').contains(&b) {
            return None;
        }
        v = v.checked_mul(8)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(v)
}

fn cstr(field: &[u8]) -> &[u8] {
    let end = memchr::memchr(0, field).unwrap_or(field.len());
    &field[..end]
}

/// The `path` value of PAX extended-header records, if any.
fn pax_path(data: &[u8]) -> Option<String> {
    let mut rest = data;
    let mut path = None;
    while !rest.is_empty() {
        let space = memchr::memchr(b' ', rest)?;
        let len: usize = std::str::from_utf8(&rest[..space]).ok()?.parse().ok()?;
        if len <= space + 1 || len > rest.len() {
            return path;
        }
        let record = &rest[space + 1..len];
        let record = record.strip_suffix(b"\n").unwrap_or(record);
        if let Some(value) = record.strip_prefix(b"path=") {
            path = Some(String::from_utf8_lossy(value).into_owned());
        }
        rest = &rest[len..];
    }
    path
}

fn padded(len: usize) -> usize {
    len.div_ceil(BLOCK) * BLOCK
}

/// Writes `value` into a numeric header field as apk-tools does: octal
/// filling the field, with a NUL terminator when `nul` is set; GNU
/// base-256 when it does not fit.
fn put_number(field: &mut [u8], value: u64, nul: bool) {
    let digits = field.len() - usize::from(nul);
    let text = format!("{value:0digits$o}");
    if text.len() <= digits {
        field[..digits].copy_from_slice(text.as_bytes());
        if nul {
            field[digits] = 0;
        }
    } else {
        let mut v = value;
        for b in field.iter_mut().rev() {
            *b = (v & 0xff) as u8;
            v >>= 8;
        }
        field[0] = 0x80;
    }
}

fn header_sum(block: &[u8]) -> (u64, u64) {
    let mut unsigned = 0u64;
    let mut signed = 0i64;
    for (i, &b) in block.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += u64::from(b);
        signed += i64::from(b as i8);
    }
    (unsigned, signed as u64)
}

/// A GNU-format header block as apk-tools writes them: magic
/// `"ustar  \0"`, owner names `root`, mode/uid/gid as 7 octal digits and a
/// NUL, size/mtime as 12 octal digits, checksum as 6 digits, NUL, space.
fn gnu_header(name: &[u8], mode: u32, size: u64, mtime: u64, typeflag: u8) -> [u8; BLOCK] {
    let mut h = [0u8; BLOCK];
    let n = name.len().min(100);
    h[..n].copy_from_slice(&name[..n]);
    put_number(&mut h[100..108], u64::from(mode), true);
    put_number(&mut h[108..116], 0, true);
    put_number(&mut h[116..124], 0, true);
    put_number(&mut h[124..136], size, false);
    put_number(&mut h[136..148], mtime, false);
    h[156] = typeflag;
    h[257..265].copy_from_slice(b"ustar  \0");
    h[265..269].copy_from_slice(b"root");
    h[297..301].copy_from_slice(b"root");
    let (sum, _) = header_sum(&h);
    let text = format!("{:06o}\0 ", sum & 0o777_777);
    h[148..156].copy_from_slice(text.as_bytes());
    h
}

impl ScriptsTar {
    /// An empty database (1024 zero bytes when written).
    pub fn new() -> ScriptsTar {
        ScriptsTar::default()
    }

    /// Reads a `scripts.tar`. `file` names it in errors. Input that ends
    /// right after an entry, without end-of-archive blocks, is accepted.
    pub fn parse(bytes: &[u8], file: &str) -> Result<ScriptsTar, ScriptsError> {
        let truncated = |offset: usize, what: &str| ScriptsError::Truncated {
            file: file.to_owned(),
            offset: offset as u64,
            what: what.to_owned(),
        };
        let mut entries = Vec::new();
        let mut off = 0usize;
        // Extension headers (long name, PAX) waiting for their entry.
        let mut pending: Vec<u8> = Vec::new();
        let mut pending_start = 0usize;
        let mut pending_name: Option<String> = None;
        let trailer = loop {
            let rest = &bytes[off..];
            if rest.iter().take(BLOCK).all(|&b| b == 0) {
                if !pending.is_empty() {
                    return Err(truncated(
                        pending_start,
                        "an extended header is not followed by its entry",
                    ));
                }
                break rest.to_vec();
            }
            if rest.len() < BLOCK {
                return Err(truncated(off, "incomplete tar header"));
            }
            let h = &rest[..BLOCK];
            let bad_number =
                |field: &'static str, range: std::ops::Range<usize>| ScriptsError::BadNumber {
                    file: file.to_owned(),
                    offset: off as u64,
                    field,
                    value: String::from_utf8_lossy(&h[range])
                        .escape_debug()
                        .to_string(),
                };
            let stored = number(&h[148..156]).ok_or_else(|| bad_number("chksum", 148..156))?;
            let (unsigned, signed) = header_sum(h);
            if stored != unsigned && stored != signed {
                return Err(ScriptsError::BadChecksum {
                    file: file.to_owned(),
                    offset: off as u64,
                    stored,
                    computed: unsigned,
                });
            }
            let field = |name, range: std::ops::Range<usize>| {
                number(&h[range.clone()]).ok_or_else(|| bad_number(name, range))
            };
            let size = field("size", 124..136)?;
            let mode = field("mode", 100..108)?;
            let uid = field("uid", 108..116)?;
            let gid = field("gid", 116..124)?;
            let mtime = field("mtime", 136..148)?;
            let typeflag = h[156];
            let size = usize::try_from(size)
                .ok()
                .filter(|&s| s <= rest.len() - BLOCK)
                .ok_or_else(|| truncated(off + BLOCK, "entry content is incomplete"))?;
            let data = &rest[BLOCK..BLOCK + size];
            let end = BLOCK + padded(size);
            if end > rest.len() {
                return Err(truncated(
                    off + BLOCK + size,
                    "entry padding to the 512-byte boundary is incomplete",
                ));
            }
            if pending.is_empty() {
                pending_start = off;
            }
            match typeflag {
                b'L' | b'K' | b'x' | b'g' => {
                    match typeflag {
                        b'L' => {
                            pending_name = Some(String::from_utf8_lossy(cstr(data)).into_owned());
                        }
                        b'x' => {
                            if let Some(p) = pax_path(data) {
                                pending_name = Some(p);
                            }
                        }
                        _ => {}
                    }
                    pending.extend_from_slice(&rest[..end]);
                }
                _ => {
                    let name = match pending_name.take() {
                        Some(n) => n,
                        None => {
                            let mut name = cstr(&h[..100]).to_vec();
                            let prefix = cstr(&h[345..500]);
                            if &h[257..263] == b"ustar\0" && !prefix.is_empty() {
                                let mut full = prefix.to_vec();
                                full.push(b'/');
                                full.extend_from_slice(&name);
                                name = full;
                            }
                            String::from_utf8_lossy(&name).into_owned()
                        }
                    };
                    let mut header = std::mem::take(&mut pending);
                    header.extend_from_slice(h);
                    entries.push(ScriptEntry {
                        header,
                        name,
                        typeflag,
                        mode: (mode & 0o7777) as u32,
                        uid,
                        gid,
                        mtime,
                        content: data.to_vec(),
                        padding: rest[BLOCK + size..end].to_vec(),
                    });
                }
            }
            off += end;
        };
        Ok(ScriptsTar { entries, trailer })
    }

    /// The entries, in file order.
    pub fn entries(&self) -> &[ScriptEntry] {
        &self.entries
    }

    /// The scripts of the package with `identity` (compared on its first
    /// 20 bytes, so `Q1` and `X1` names both match), in file order.
    /// Entries that are not regular files or whose name does not parse
    /// are skipped, as apk-tools does.
    pub fn scripts_for<'s>(
        &'s self,
        identity: &Checksum,
    ) -> impl Iterator<Item = (ScriptKind, &'s ScriptEntry)> + 's {
        let identity = *identity;
        self.entries.iter().filter_map(move |e| {
            let name = e.script_name().ok()?;
            let matches = e.is_file() && name.checksum()?.same_identity(&identity);
            matches.then_some((name.kind, e))
        })
    }

    /// Appends a script as apk-tools does: name
    /// `<name_version>.Q1<identity>.<kind>`, mode 0755, owner 0:0, GNU
    /// header, the whole name in the header when it is at most 99 bytes
    /// and in a GNU long-name record otherwise. When the file had no
    /// end-of-archive blocks, two are added.
    pub fn push(
        &mut self,
        name_version: &str,
        identity: &Checksum,
        kind: ScriptKind,
        content: &[u8],
        mtime: u64,
    ) -> Result<(), ScriptsError> {
        let name = format!(
            "{name_version}.{}.{kind}",
            Checksum::Sha1(identity.identity())
        );
        if name_version.is_empty() || name_version.contains(['\0', '\n']) {
            return Err(ScriptsError::BadName {
                name,
                reason: "the package name-version is empty or holds NUL or a line break".to_owned(),
            });
        }
        let mut header = Vec::new();
        if name.len() > 99 {
            let mut long = name.clone().into_bytes();
            long.push(0);
            header.extend_from_slice(&gnu_header(
                b"././@LongLink",
                0o644,
                long.len() as u64,
                0,
                b'L',
            ));
            long.resize(padded(long.len()), 0);
            header.extend_from_slice(&long);
        }
        header.extend_from_slice(&gnu_header(
            name.as_bytes(),
            0o755,
            content.len() as u64,
            mtime,
            b'0',
        ));
        self.entries.push(ScriptEntry {
            header,
            name,
            typeflag: b'0',
            mode: 0o755,
            uid: 0,
            gid: 0,
            mtime,
            content: content.to_vec(),
            padding: vec![0; padded(content.len()) - content.len()],
        });
        if self.trailer.len() < 2 * BLOCK {
            self.trailer = vec![0; 2 * BLOCK];
        }
        Ok(())
    }

    /// The file's bytes.
    pub fn write(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for e in &self.entries {
            out.extend_from_slice(&e.header);
            out.extend_from_slice(&e.content);
            out.extend_from_slice(&e.padding);
        }
        out.extend_from_slice(&self.trailer);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static ALPINE: std::sync::LazyLock<&[u8]> = std::sync::LazyLock::new(|| {
        testkit::corpus_bytes("apk/installed-db/root-usr-lib/scripts.tar").leak()
    });

    fn id(text: &str) -> Checksum {
        Checksum::parse(text).unwrap()
    }

    #[test]
    fn corpus_round_trips_byte_for_byte() {
        let tar = ScriptsTar::parse(*ALPINE, "scripts.tar").unwrap();
        assert_eq!(tar.entries().len(), 7);
        assert_eq!(tar.write(), *ALPINE);
    }

    #[test]
    fn corpus_entries() {
        let tar = ScriptsTar::parse(*ALPINE, "scripts.tar").unwrap();
        let e = &tar.entries()[2];
        assert_eq!(
            e.name(),
            "busybox-1.35.0-r17.Q1Meo+LHGPSi3uY9gIouEVb9z8Fbo=.trigger"
        );
        assert_eq!(e.content().len(), 546);
        assert!(e.content().starts_with(b"#!/bin/sh"));
        assert_eq!((e.mode(), e.uid(), e.gid()), (0o755, 0, 0));
        assert_eq!(e.mtime(), 0o14261274033);
        assert!(e.is_file());

        let baselayout = id("Q1PGxwzLd7SQ/SZjUGrncnpjjtpKY=");
        let kinds: Vec<ScriptKind> = tar.scripts_for(&baselayout).map(|(k, _)| k).collect();
        assert_eq!(
            kinds,
            [
                ScriptKind::PreInstall,
                ScriptKind::PostInstall,
                ScriptKind::PreUpgrade,
                ScriptKind::PostUpgrade
            ]
        );
        let x1 = Checksum::parse(&format!("X1{}", hex::encode(baselayout.as_bytes()))).unwrap();
        assert_eq!(tar.scripts_for(&x1).count(), 4);
    }

    #[test]
    fn names_parse_from_the_right() {
        let n = ScriptName::parse(
            "alpine-baselayout-3.2.0-r22.Q1PGxwzLd7SQ/SZjUGrncnpjjtpKY=.pre-install",
        )
        .unwrap();
        assert_eq!(n.package, "alpine-baselayout-3.2.0-r22");
        assert_eq!(n.identity, "Q1PGxwzLd7SQ/SZjUGrncnpjjtpKY=");
        assert_eq!(n.kind, ScriptKind::PreInstall);
        assert_eq!(
            n.to_string(),
            "alpine-baselayout-3.2.0-r22.Q1PGxwzLd7SQ/SZjUGrncnpjjtpKY=.pre-install"
        );
        let hex = "X1".to_owned() + &"ab".repeat(20);
        let n = ScriptName::parse(&format!("a-1.{hex}.trigger")).unwrap();
        assert_eq!((n.package.as_str(), n.kind), ("a-1", ScriptKind::Trigger));
        for bad in [
            "a-1.Q1PGxwzLd7SQ/SZjUGrncnpjjtpKY=.install",
            "a-1.nodigest.trigger",
            ".Q1PGxwzLd7SQ/SZjUGrncnpjjtpKY=.trigger",
            "trigger",
        ] {
            assert!(ScriptName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn empty_database_is_two_zero_blocks() {
        assert_eq!(ScriptsTar::new().write(), vec![0u8; 1024]);
        let tar = ScriptsTar::parse(&[0u8; 1024], "e").unwrap();
        assert!(tar.entries().is_empty());
        assert_eq!(tar.write(), vec![0u8; 1024]);
        let tar = ScriptsTar::parse(&[], "e").unwrap();
        assert!(tar.write().is_empty());
    }

    #[test]
    fn pushed_scripts_read_back_and_match_apk_headers() {
        let mut tar = ScriptsTar::parse(*ALPINE, "scripts.tar").unwrap();
        let busybox = id("Q1Meo+LHGPSi3uY9gIouEVb9z8Fbo=");
        let script = b"#!/bin/sh\n\n# Create all symlinks\n/bin/busybox --install -s\n\nexit 0\n";
        // Rebuilding the first corpus entry gives the same header bytes.
        let first = &tar.entries()[0];
        let mut fresh = ScriptsTar::new();
        fresh
            .push(
                "busybox-1.35.0-r17",
                &busybox,
                ScriptKind::PostInstall,
                first.content(),
                first.mtime(),
            )
            .unwrap();
        assert_eq!(fresh.entries()[0].header, first.header);
        assert_eq!(fresh.write()[..1024], (*ALPINE)[..1024]);

        tar.push(
            "hello-2.12-r1",
            &busybox,
            ScriptKind::PreInstall,
            script,
            1_700_000_000,
        )
        .unwrap();
        let bytes = tar.write();
        assert_eq!(bytes[..10240], (*ALPINE)[..10240]);
        assert_eq!(bytes.len() % BLOCK, 0);
        let again = ScriptsTar::parse(&bytes, "t").unwrap();
        assert_eq!(again.entries().len(), 8);
        let last = &again.entries()[7];
        assert_eq!(
            last.name(),
            "hello-2.12-r1.Q1Meo+LHGPSi3uY9gIouEVb9z8Fbo=.pre-install"
        );
        assert_eq!(last.content(), script);
        assert_eq!(last.mtime(), 1_700_000_000);
        assert_eq!(again.write(), bytes);
    }

    #[test]
    fn long_names_use_a_gnu_longlink_record() {
        let mut tar = ScriptsTar::new();
        let long = format!("{}-1.0-r0", "x".repeat(80));
        let sha256 = Checksum::Sha256([7; 32]);
        tar.push(&long, &sha256, ScriptKind::PostDeinstall, b"echo\n", 0)
            .unwrap();
        let bytes = tar.write();
        assert_eq!(bytes[156], b'L');
        assert_eq!(&bytes[..13], b"././@LongLink");
        // No ustar prefix split.
        assert!(bytes[BLOCK * 2 + 345..BLOCK * 2 + 500]
            .iter()
            .all(|&b| b == 0));
        let again = ScriptsTar::parse(&bytes, "t").unwrap();
        let name = again.entries()[0].script_name().unwrap();
        assert_eq!(name.package, long);
        // The identity is written as Q1 of its first 20 bytes.
        assert_eq!(name.identity, Checksum::Sha1([7; 20]).to_string());
        assert_eq!(again.scripts_for(&sha256).count(), 1);
        assert_eq!(again.write(), bytes);

        let e = tar
            .push("", &sha256, ScriptKind::Trigger, b"", 0)
            .unwrap_err();
        assert!(matches!(e, ScriptsError::BadName { .. }));
    }

    #[test]
    fn other_tar_dialects_read() {
        // POSIX ustar with a prefix split, a GNU long name (both from the
        // `tar` crate) and a PAX `path` record.
        let mut builder = tar::Builder::new(Vec::new());
        let ustar = |size: u64| {
            let mut h = tar::Header::new_ustar();
            h.set_size(size);
            h.set_mode(0o755);
            h
        };
        let split = format!(
            "{}-1.Q1PGxwzLd7SQ/SZjUGrncnpjjtpKY=.pre-install",
            "p".repeat(60)
        );
        let long = format!(
            "{}-1.Q1Meo+LHGPSi3uY9gIouEVb9z8Fbo=.trigger",
            "q".repeat(120)
        );
        for name in [&split, &long] {
            builder
                .append_data(&mut ustar(3), name, &b"hi\n"[..])
                .unwrap();
        }
        let pax_name = "r-2.Q1Meo+LHGPSi3uY9gIouEVb9z8Fbo=.post-upgrade";
        let record = format!("path={pax_name}\n");
        let record = format!("{} {record}", record.len() + 3);
        let mut x = ustar(record.len() as u64);
        x.set_entry_type(tar::EntryType::XHeader);
        x.set_path("PaxHeaders.0/r").unwrap();
        x.set_cksum();
        builder.append(&x, record.as_bytes()).unwrap();
        let mut h = ustar(2);
        h.set_path("short").unwrap();
        h.set_cksum();
        builder.append(&h, &b"ok"[..]).unwrap();
        let bytes = builder.into_inner().unwrap();
        assert_eq!(&bytes[257..263], b"ustar\0");
        assert!(bytes[345] != 0, "expected a ustar prefix");

        let t = ScriptsTar::parse(&bytes, "t").unwrap();
        let names: Vec<&str> = t.entries().iter().map(ScriptEntry::name).collect();
        assert_eq!(names, [split.as_str(), long.as_str(), pax_name]);
        assert_eq!(t.entries()[1].content(), b"hi\n");
        assert_eq!(
            t.entries()[2].script_name().unwrap().kind,
            ScriptKind::PostUpgrade
        );
        assert_eq!(t.write(), bytes);
    }

    #[test]
    fn corrupt_and_truncated_files_are_errors() {
        let mut bad = (*ALPINE).to_vec();
        bad[1024 + 10] ^= 1;
        match ScriptsTar::parse(&bad, "s.tar").unwrap_err() {
            ScriptsError::BadChecksum { offset, file, .. } => {
                assert_eq!((offset, file.as_str()), (1024, "s.tar"));
            }
            e => panic!("{e}"),
        }
        let e = ScriptsTar::parse(&(*ALPINE)[..600], "s.tar").unwrap_err();
        assert!(
            matches!(e, ScriptsError::Truncated { offset: 512, .. }),
            "{e}"
        );
        let e = ScriptsTar::parse(&(*ALPINE)[..700], "s.tar").unwrap_err();
        assert!(
            matches!(e, ScriptsError::Truncated { offset: 643, .. }),
            "{e}"
        );
        let e = ScriptsTar::parse(&(*ALPINE)[..1100], "s.tar").unwrap_err();
        assert!(
            matches!(e, ScriptsError::Truncated { offset: 1024, .. }),
            "{e}"
        );
        assert!(
            e.to_string().starts_with("s.tar: truncated at byte 1024"),
            "{e}"
        );
        // Cut after a complete entry: accepted, nothing added.
        let cut = ScriptsTar::parse(&(*ALPINE)[..1024], "s.tar").unwrap();
        assert_eq!(cut.entries().len(), 1);
        assert_eq!(cut.write(), &(*ALPINE)[..1024]);
    }
}
