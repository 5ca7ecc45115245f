//! `lib/apk/db/installed`: one record per installed package, in the
//! APKINDEX line syntax plus the letters that describe installed files
//! (`F M R a Z`, formats.md §6.2).
//!
//! A record keeps its lines exactly as read, so writing an unchanged
//! database reproduces the input byte for byte (apko's `i:[]`, its `0755`
//! modes and its field order included). The package metadata and the file
//! list are derived views over those lines.

use std::fmt;

use crate::checksum::{Checksum, InvalidChecksum};
use crate::index::text::{lines, set_field, split_field};
use crate::package::{FieldProblem, PackageInfo};

/// One `K:value` line of a record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordLine {
    /// The field letter (an ASCII letter).
    pub letter: u8,
    /// Everything after `K:`, up to the end of the line.
    pub value: String,
}

/// Owner, group, permission bits and extended-attribute digest of a
/// directory (`M:`) or file (`a:`): `uid:gid:mode[:xattrhash]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acl {
    /// Numeric owner.
    pub uid: u32,
    /// Numeric group.
    pub gid: u32,
    /// Permission bits, written in octal (`755`, `1777`).
    pub mode: u32,
    /// `Q1…` digest of the extended attributes, as written.
    pub xattr_digest: Option<String>,
}

impl Acl {
    /// What apk-tools assumes for a directory without `M:`: `0:0:755`.
    pub const DIR_DEFAULT: Acl = Acl {
        uid: 0,
        gid: 0,
        mode: 0o755,
        xattr_digest: None,
    };

    /// What apk-tools assumes for a file without `a:`: `0:0:644`.
    pub const FILE_DEFAULT: Acl = Acl {
        uid: 0,
        gid: 0,
        mode: 0o644,
        xattr_digest: None,
    };

    /// Parses `uid:gid:mode[:xattrhash]` (decimal ids, octal mode, `Q1`
    /// xattr digest). The error says what is wrong.
    pub fn parse(text: &str) -> Result<Acl, String> {
        let mut parts = text.splitn(4, ':');
        let mut next = |what: &str| -> Result<&str, String> {
            match parts.next() {
                Some(p) if !p.is_empty() => Ok(p),
                _ => Err(format!("the {what} is missing")),
            }
        };
        let uid = next("uid")?;
        let gid = next("gid")?;
        let mode = next("mode")?;
        let xattr = parts.next();
        let decimal = |what: &str, s: &str| {
            s.parse::<u32>()
                .map_err(|_| format!("the {what} '{s}' is not a decimal number"))
        };
        let acl = Acl {
            uid: decimal("uid", uid)?,
            gid: decimal("gid", gid)?,
            mode: u32::from_str_radix(mode, 8)
                .map_err(|_| format!("the mode '{mode}' is not an octal number"))?,
            xattr_digest: match xattr {
                None => None,
                Some(x) => {
                    Checksum::parse(x).map_err(|e| format!("xattr digest: {e}"))?;
                    Some(x.to_owned())
                }
            },
        };
        Ok(acl)
    }
}

impl fmt::Display for Acl {
    /// `uid:gid:mode[:xattrhash]` with the mode in octal, as apk-tools
    /// writes it (`0:0:1777`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{:o}", self.uid, self.gid, self.mode)?;
        if let Some(x) = &self.xattr_digest {
            write!(f, ":{x}")?;
        }
        Ok(())
    }
}

/// A file owned by a package (`R:` with its `a:` and `Z:`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileEntry {
    /// The file name inside its directory (no `/`).
    pub name: String,
    /// `a:`; `None` means the default `0:0:644`.
    pub acl: Option<Acl>,
    /// `Z:`: digest of the content (of the target for a symlink).
    pub digest: Option<Checksum>,
}

/// A directory owned by a package (`F:` with its `M:`) and the files the
/// package installed in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    /// Relative path without leading or trailing `/`; empty for the root.
    pub path: String,
    /// `M:`; `None` means the default `0:0:755`.
    pub acl: Option<Acl>,
    /// The `R:` entries under this directory, in order.
    pub files: Vec<FileEntry>,
}

/// One package of the installed database, kept as its lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstalledRecord {
    lines: Vec<RecordLine>,
    /// Record-separator lines (lines shorter than two bytes, normally
    /// empty) that followed the record, kept verbatim.
    separators: Vec<String>,
    /// 1-based line of the first field in the source; 0 when built.
    line: usize,
}

impl InstalledRecord {
    /// Builds a record the way apk-tools writes one: index fields in the
    /// order of [`PackageInfo::write_index_fields`], then `r:` and `q:`
    /// (when non-empty / non-zero), then one `F:` group per directory
    /// (`M:` unless `0:0:755`) with its files (`R:`, then `a:` unless
    /// `0:0:644`, then `Z:`), and one blank line.
    ///
    /// Fails when a value cannot be written as one line: a line break in
    /// any text, a directory path with a leading or trailing `/`, a file
    /// name that is empty or holds `/`, or an unreadable xattr digest.
    pub fn new(info: &PackageInfo<'_>, dirs: &[DirEntry]) -> Result<InstalledRecord, FieldProblem> {
        let texts: [(char, &str); 13] = [
            ('P', &info.name),
            ('V', &info.version),
            ('A', &info.arch),
            ('T', &info.description),
            ('U', &info.url),
            ('L', &info.license),
            ('o', &info.origin),
            ('m', &info.maintainer),
            ('c', &info.commit),
            ('D', &info.depends),
            ('p', &info.provides),
            ('i', &info.install_if),
            ('r', &info.replaces),
        ];
        for (field, value) in texts {
            one_line(field, value)?;
        }
        let mut text = String::new();
        info.write_index_fields(&mut text);
        let mut out = Vec::new();
        for (_, line) in lines(&text) {
            match split_field(line) {
                Ok(Some((letter, value))) => out.push(RecordLine {
                    letter,
                    value: value.to_owned(),
                }),
                Ok(None) => {}
                Err(message) => {
                    return Err(FieldProblem {
                        field: '?',
                        message,
                    })
                }
            }
        }
        let mut push = |letter: u8, value: String| out.push(RecordLine { letter, value });
        if !info.replaces.trim().is_empty() {
            push(b'r', info.replaces.to_string());
        }
        if let Some(q) = info.replaces_priority.filter(|&q| q != 0) {
            push(b'q', q.to_string());
        }
        for dir in dirs {
            one_line('F', &dir.path)?;
            if dir.path.starts_with('/') || dir.path.ends_with('/') {
                return Err(FieldProblem {
                    field: 'F',
                    message: format!(
                        "directory '{}' must be relative, without a leading or trailing '/'",
                        dir.path
                    ),
                });
            }
            push(b'F', dir.path.clone());
            if let Some(acl) = dir.acl.as_ref().filter(|a| **a != Acl::DIR_DEFAULT) {
                push(b'M', checked_acl('M', acl)?);
            }
            for file in &dir.files {
                one_line('R', &file.name)?;
                if file.name.is_empty() || file.name.contains('/') {
                    return Err(FieldProblem {
                        field: 'R',
                        message: format!(
                            "file name '{}' must be non-empty and hold no '/'",
                            file.name
                        ),
                    });
                }
                push(b'R', file.name.clone());
                if let Some(acl) = file.acl.as_ref().filter(|a| **a != Acl::FILE_DEFAULT) {
                    push(b'a', checked_acl('a', acl)?);
                }
                if let Some(d) = &file.digest {
                    push(b'Z', d.to_string());
                }
            }
        }
        Ok(InstalledRecord {
            lines: out,
            separators: vec![String::new()],
            line: 0,
        })
    }

    /// The record's lines, in file order.
    pub fn lines(&self) -> &[RecordLine] {
        &self.lines
    }

    /// 1-based line of the record's first field in the file it was read
    /// from; `None` for a record built with [`InstalledRecord::new`].
    pub fn line(&self) -> Option<usize> {
        (self.line != 0).then_some(self.line)
    }

    /// How many record-separator lines follow the record (0 only for the
    /// last record of a file without a final blank line).
    pub fn separators(&self) -> usize {
        self.separators.len()
    }

    /// The package metadata, borrowing from the record's values. Fields
    /// this type does not hold (`s f g` and the file list) are left out;
    /// `i:[]` reads as an empty install_if.
    pub fn info(&self) -> PackageInfo<'_> {
        let mut info = PackageInfo::default();
        let mut problems = Vec::new();
        for l in &self.lines {
            set_field(&mut info, l.letter, &l.value, &mut problems);
        }
        info
    }

    /// The directories and files the package owns, in record order.
    /// A repeated `M:` for one directory: the last one counts.
    pub fn dirs(&self) -> Vec<DirEntry> {
        let mut dirs: Vec<DirEntry> = Vec::new();
        for l in &self.lines {
            let dir = dirs.last_mut();
            match (l.letter, dir) {
                (b'F', _) => dirs.push(DirEntry {
                    path: l.value.clone(),
                    acl: None,
                    files: Vec::new(),
                }),
                (b'M', Some(dir)) => dir.acl = Acl::parse(&l.value).ok(),
                (b'R', Some(dir)) => dir.files.push(FileEntry {
                    name: l.value.clone(),
                    acl: None,
                    digest: None,
                }),
                (b'a', Some(dir)) => {
                    if let Some(file) = dir.files.last_mut() {
                        file.acl = Acl::parse(&l.value).ok();
                    }
                }
                (b'Z', Some(dir)) => {
                    if let Some(file) = dir.files.last_mut() {
                        file.digest = Checksum::parse(&l.value).ok();
                    }
                }
                _ => {}
            }
        }
        dirs
    }
}

fn one_line(field: char, value: &str) -> Result<(), FieldProblem> {
    if value.contains('\n') {
        return Err(FieldProblem {
            field,
            message: format!("'{}' holds a line break", value.escape_debug()),
        });
    }
    Ok(())
}

fn checked_acl(field: char, acl: &Acl) -> Result<String, FieldProblem> {
    let text = acl.to_string();
    Acl::parse(&text).map_err(|message| FieldProblem { field, message })?;
    Ok(text)
}

/// What is wrong with a line of an installed database.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InstalledErrorKind {
    /// The line is not `K:value`.
    #[error("{0}")]
    Syntax(String),
    /// The bytes are not UTF-8.
    #[error("the text is not valid UTF-8")]
    NotUtf8,
    /// A package field (`C:`, a number) is malformed.
    #[error("{0}")]
    Value(String),
    /// `R:` before any `F:` in the record.
    #[error("a file (R:) must follow the directory (F:) that holds it; this record has no F: yet")]
    FileWithoutDir,
    /// `M:` before any `F:` in the record.
    #[error("directory permissions (M:) must follow a directory (F:); this record has no F: yet")]
    ModeWithoutDir,
    /// `a:` or `Z:` with no `R:` since the last `F:`.
    #[error("file attributes (a:, Z:) must follow the file (R:) they describe; there is no R: since the last F:")]
    AttrWithoutFile,
    /// `M:`/`a:` is not `uid:gid:mode[:xattrhash]`.
    #[error("'{value}' is not uid:gid:mode[:xattr-digest]: {reason}")]
    BadAcl {
        /// The rejected value.
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// `Z:` is not a digest.
    #[error(transparent)]
    BadDigest(#[from] InvalidChecksum),
}

/// An installed database that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {}{kind}", field_label(.field))]
pub struct InstalledError {
    /// The file name given to the parser.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// The field letter of the line, when it has one.
    pub field: Option<char>,
    /// What is wrong.
    pub kind: InstalledErrorKind,
}

fn field_label(field: &Option<char>) -> String {
    field.map(|f| format!("field {f}: ")).unwrap_or_default()
}

/// The whole `installed` file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstalledDb {
    /// The packages, in file order.
    pub records: Vec<InstalledRecord>,
    /// Separator lines before the first record, kept verbatim.
    leading: Vec<String>,
    /// Whether the last line ended with a line feed.
    final_newline: bool,
}

impl Default for InstalledDb {
    fn default() -> Self {
        InstalledDb {
            records: Vec::new(),
            leading: Vec::new(),
            final_newline: true,
        }
    }
}

/// Where a line sits in the file-list structure of the current record.
#[derive(Default)]
struct Cursor {
    dir: bool,
    file: bool,
}

impl Cursor {
    fn check(&mut self, letter: u8, value: &str) -> Result<(), InstalledErrorKind> {
        match letter {
            b'F' => {
                self.dir = true;
                self.file = false;
            }
            b'M' | b'R' if !self.dir => {
                return Err(if letter == b'M' {
                    InstalledErrorKind::ModeWithoutDir
                } else {
                    InstalledErrorKind::FileWithoutDir
                })
            }
            b'R' => self.file = true,
            b'a' | b'Z' if !self.file => return Err(InstalledErrorKind::AttrWithoutFile),
            b'Z' => {
                Checksum::parse(value)?;
            }
            _ => {}
        }
        if letter == b'M' || letter == b'a' {
            Acl::parse(value).map_err(|reason| InstalledErrorKind::BadAcl {
                value: value.to_owned(),
                reason,
            })?;
        }
        Ok(())
    }
}

/// Checks a package field the way [`InstalledRecord::info`] will read it.
/// An empty number (apko prints some fields empty) reads as absent.
fn check_package_field(letter: u8, value: &str) -> Result<(), InstalledErrorKind> {
    if matches!(letter, b'S' | b'I' | b't' | b'k' | b'q') && value.is_empty() {
        return Ok(());
    }
    let mut scratch = PackageInfo::default();
    let mut problems = Vec::new();
    set_field(&mut scratch, letter, value, &mut problems);
    match problems.into_iter().next() {
        Some(p) => Err(InstalledErrorKind::Value(p.message)),
        None => Ok(()),
    }
}

impl InstalledDb {
    /// An empty database.
    pub fn new() -> InstalledDb {
        InstalledDb::default()
    }

    /// Parses the text of an `installed` file. `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<InstalledDb, InstalledError> {
        let mut db = InstalledDb {
            records: Vec::new(),
            leading: Vec::new(),
            final_newline: text.is_empty() || text.ends_with('\n'),
        };
        let mut current: Option<InstalledRecord> = None;
        let mut cursor = Cursor::default();
        for (n, line) in lines(text) {
            let err = |field: Option<u8>, kind| InstalledError {
                file: file.to_owned(),
                line: n,
                field: field.map(char::from),
                kind,
            };
            let field = split_field(line).map_err(|m| err(None, InstalledErrorKind::Syntax(m)))?;
            let Some((letter, value)) = field else {
                if let Some(rec) = current.take() {
                    db.records.push(rec);
                }
                cursor = Cursor::default();
                match db.records.last_mut() {
                    Some(rec) => rec.separators.push(line.to_owned()),
                    None => db.leading.push(line.to_owned()),
                }
                continue;
            };
            cursor
                .check(letter, value)
                .and_then(|()| check_package_field(letter, value))
                .map_err(|kind| err(Some(letter), kind))?;
            current
                .get_or_insert_with(|| InstalledRecord {
                    lines: Vec::new(),
                    separators: Vec::new(),
                    line: n,
                })
                .lines
                .push(RecordLine {
                    letter,
                    value: value.to_owned(),
                });
        }
        if let Some(rec) = current.take() {
            db.records.push(rec);
        }
        Ok(db)
    }

    /// Like [`InstalledDb::parse`] for raw bytes; text that is not UTF-8
    /// is an error naming the line.
    pub fn from_bytes(bytes: &[u8], file: &str) -> Result<InstalledDb, InstalledError> {
        match std::str::from_utf8(bytes) {
            Ok(text) => InstalledDb::parse(text, file),
            Err(e) => Err(InstalledError {
                file: file.to_owned(),
                line: 1 + memchr::memchr_iter(b'\n', &bytes[..e.valid_up_to()]).count(),
                field: None,
                kind: InstalledErrorKind::NotUtf8,
            }),
        }
    }

    /// Appends a record. When the file's last record had no blank line
    /// after it, one is added first so the records stay separate.
    pub fn push(&mut self, record: InstalledRecord) {
        if let Some(last) = self.records.last_mut() {
            if last.separators.is_empty() {
                last.separators.push(String::new());
            }
        }
        self.records.push(record);
        self.final_newline = true;
    }

    /// The file's bytes.
    pub fn write(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut first = true;
        let mut emit = |parts: &[&[u8]]| {
            if !first {
                out.push(b'\n');
            }
            first = false;
            for p in parts {
                out.extend_from_slice(p);
            }
        };
        for line in &self.leading {
            emit(&[line.as_bytes()]);
        }
        let count = self.records.len();
        for (i, rec) in self.records.iter().enumerate() {
            for l in &rec.lines {
                emit(&[&[l.letter, b':'], l.value.as_bytes()]);
            }
            for sep in &rec.separators {
                emit(&[sep.as_bytes()]);
            }
            if rec.separators.is_empty() && i + 1 < count {
                emit(&[]);
            }
        }
        if self.final_newline && !first {
            out.push(b'\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    macro_rules! corpus {
        ($name:literal) => {
            std::sync::LazyLock::new(|| {
                testkit::corpus_text(concat!("apk/installed-db/", $name)).leak()
            })
        };
    }

    static WOLFI: std::sync::LazyLock<&str> = corpus!("wolfi-base");
    static REDIS: std::sync::LazyLock<&str> = corpus!("redis-operator-compat");
    static BAD_PERMS: std::sync::LazyLock<&str> = corpus!("bad-top-level-perms");
    static ALPINE: std::sync::LazyLock<&str> = corpus!("root-usr-lib/installed");

    fn find<'a>(db: &'a InstalledDb, name: &str) -> &'a InstalledRecord {
        db.records
            .iter()
            .find(|r| r.info().name == name)
            .unwrap_or_else(|| panic!("no record {name}"))
    }

    #[test]
    fn corpus_files_round_trip_byte_for_byte() {
        for (name, text) in [
            ("wolfi-base", *WOLFI),
            ("redis-operator-compat", *REDIS),
            ("bad-top-level-perms", *BAD_PERMS),
            ("root-usr-lib/installed", *ALPINE),
        ] {
            let db = InstalledDb::parse(text, name).unwrap();
            assert!(!db.records.is_empty(), "{name}");
            assert_eq!(
                String::from_utf8(db.write()).unwrap(),
                text,
                "{name} did not round-trip"
            );
        }
    }

    #[test]
    fn odd_separators_round_trip() {
        for text in [
            "",
            "\n",
            "\n\nP:a\n",
            "P:a\nV:1\n\n\n\nP:b\n\n",
            "P:a\n \nP:b",
            "P:a\n\n ",
        ] {
            let db = InstalledDb::parse(text, "t").unwrap();
            assert_eq!(db.write(), text.as_bytes(), "{text:?}");
        }
    }

    #[test]
    fn record_boundaries_and_counts() {
        let db = InstalledDb::parse(*ALPINE, "installed").unwrap();
        assert_eq!(db.records.len(), 14);
        assert_eq!(db.records[0].line(), Some(1));
        assert_eq!(db.records[1].line(), Some(47));
        assert!(db.records.iter().all(|r| r.separators() == 1));
        let bad = InstalledDb::parse(*BAD_PERMS, "bad").unwrap();
        assert_eq!(bad.records.len(), 1);
        assert_eq!(bad.records[0].separators(), 0);
    }

    #[test]
    fn info_reads_package_fields() {
        let db = InstalledDb::parse(*ALPINE, "installed").unwrap();
        let busybox = find(&db, "busybox").info();
        assert_eq!(busybox.version, "1.35.0-r17");
        assert_eq!(busybox.replaces, "busybox-initscripts");
        assert_eq!(busybox.installed_size, Some(1015808));
        assert_eq!(
            busybox.checksum.unwrap().to_string(),
            "Q1Meo+LHGPSi3uY9gIouEVb9z8Fbo="
        );
        assert!(busybox.problems().is_empty());

        let wolfi = InstalledDb::parse(*WOLFI, "wolfi-base").unwrap();
        let rec = find(&wolfi, "wolfi-baselayout");
        assert_eq!(rec.info().install_if, "");
        assert_eq!(rec.info().provider_priority, Some(0));
        // `i:[]` is kept as a line and written back unchanged.
        assert!(rec
            .lines()
            .iter()
            .any(|l| l.letter == b'i' && l.value == "[]"));
    }

    #[test]
    fn busybox_dirs() {
        let db = InstalledDb::parse(*ALPINE, "installed").unwrap();
        let dirs = find(&db, "busybox").dirs();
        assert_eq!(dirs.len(), 21);
        let tmp = dirs.iter().find(|d| d.path == "tmp").unwrap();
        assert_eq!(
            tmp.acl,
            Some(Acl {
                uid: 0,
                gid: 0,
                mode: 0o1777,
                xattr_digest: None
            })
        );
        assert!(tmp.files.is_empty());
        let bin = &dirs[0];
        assert_eq!(bin.path, "bin");
        assert_eq!(bin.acl, None);
        assert_eq!(bin.files.len(), 2);
        assert_eq!(bin.files[1].name, "sh");
        assert_eq!(bin.files[1].acl.as_ref().map(|a| a.mode), Some(0o777));
        assert_eq!(
            bin.files[1].digest.unwrap().to_string(),
            "Q1pcfTfDNEbNKQc2s1tia7da05M8Q="
        );
        let up = dirs
            .iter()
            .find(|d| d.path == "etc/network/if-up.d")
            .unwrap();
        assert_eq!(up.files[0].name, "dad");
        assert_eq!(up.files[0].acl.as_ref().map(|a| a.mode), Some(0o775));
    }

    #[test]
    fn root_directory_files() {
        let db = InstalledDb::parse(*REDIS, "redis-operator-compat").unwrap();
        let rec = find(&db, "redis-operator-compat");
        let dirs = rec.dirs();
        let root = &dirs[0];
        assert_eq!(root.path, "");
        assert_eq!(root.acl, None);
        assert_eq!(root.files.len(), 1);
        assert_eq!(root.files[0].name, "operator");
        assert_eq!(root.files[0].acl, Some(Acl::parse("0:0:777").unwrap()));
        assert_eq!(
            root.files[0].digest.unwrap().to_string(),
            "Q1MpwFRrS6f7TyQUedTVkbLp8sNh4="
        );

        // apko rejects `M:` after a bare `F:`; we keep it and report it.
        let bad = InstalledDb::parse(*BAD_PERMS, "bad-top-level-perms").unwrap();
        let dirs = bad.records[0].dirs();
        assert_eq!(dirs[0].path, "");
        assert_eq!(dirs[0].acl.as_ref().map(|a| a.mode), Some(0o711));
        assert_eq!(dirs.len(), 5);
    }

    #[test]
    fn apko_modes_read_as_octal() {
        let acl = Acl::parse("0:0:0777").unwrap();
        assert_eq!(acl.mode, 0o777);
        assert_eq!(acl.to_string(), "0:0:777");
        let x = Acl::parse("1000:1000:1755:Q1MpwFRrS6f7TyQUedTVkbLp8sNh4=").unwrap();
        assert_eq!(
            x.xattr_digest.as_deref(),
            Some("Q1MpwFRrS6f7TyQUedTVkbLp8sNh4=")
        );
        assert_eq!(
            x.to_string(),
            "1000:1000:1755:Q1MpwFRrS6f7TyQUedTVkbLp8sNh4="
        );
        for bad in ["", "0:0", "0:0:", "a:0:755", "0:0:789", "0:0:755:junk"] {
            assert!(Acl::parse(bad).is_err(), "{bad}");
        }
    }

    fn sample_info() -> PackageInfo<'static> {
        PackageInfo {
            name: Cow::Borrowed("hello"),
            version: Cow::Borrowed("2.12-r1"),
            arch: Cow::Borrowed("x86_64"),
            size: Some(1234),
            installed_size: Some(4096),
            description: Cow::Borrowed("says hello"),
            url: Cow::Borrowed("https://example.com/"),
            license: Cow::Borrowed("MIT"),
            origin: Cow::Borrowed("hello"),
            maintainer: Cow::Borrowed("Someone <s@example.com>"),
            build_time: Some(1700000000),
            commit: Cow::Borrowed("abc123"),
            provider_priority: Some(10),
            depends: Cow::Borrowed("so:libc.musl-x86_64.so.1"),
            provides: Cow::Borrowed("cmd:hello=2.12-r1"),
            install_if: Cow::Borrowed(""),
            replaces: Cow::Borrowed("hello-old"),
            replaces_priority: Some(5),
            checksum: Some(Checksum::parse("Q1Meo+LHGPSi3uY9gIouEVb9z8Fbo=").unwrap()),
            datahash: None,
            triggers: Cow::Borrowed(""),
        }
    }

    fn sample_dirs() -> Vec<DirEntry> {
        let file = |name: &str, acl: Option<&str>, digest: Option<&str>| FileEntry {
            name: name.to_owned(),
            acl: acl.map(|a| Acl::parse(a).unwrap()),
            digest: digest.map(|d| Checksum::parse(d).unwrap()),
        };
        vec![
            DirEntry {
                path: String::new(),
                acl: None,
                files: vec![file(
                    "hello-link",
                    Some("0:0:777"),
                    Some("Q1MpwFRrS6f7TyQUedTVkbLp8sNh4="),
                )],
            },
            DirEntry {
                path: "tmp".to_owned(),
                acl: Some(Acl::parse("0:0:1777").unwrap()),
                files: vec![],
            },
            DirEntry {
                path: "usr/bin".to_owned(),
                acl: None,
                files: vec![
                    file(
                        "hello",
                        Some("0:0:755"),
                        Some("Q1z9q8GKcLmzboM90vMuZaj47yeOU="),
                    ),
                    file("hello.conf", None, Some("Q1pcfTfDNEbNKQc2s1tia7da05M8Q=")),
                ],
            },
        ]
    }

    #[test]
    fn built_record_parses_back() {
        let info = sample_info();
        let dirs = sample_dirs();
        let rec = InstalledRecord::new(&info, &dirs).unwrap();
        assert_eq!(rec.line(), None);
        assert_eq!(rec.info(), info);
        assert_eq!(rec.dirs(), dirs);

        let mut db = InstalledDb::new();
        db.push(rec);
        let text = String::from_utf8(db.write()).unwrap();
        let letters: String = text
            .lines()
            .map(|l| l.chars().next().unwrap_or('_'))
            .collect();
        assert_eq!(letters, "CPVASITULomtckDprqFRaZFMFRaZRZ_");
        assert!(text.ends_with("Z:Q1pcfTfDNEbNKQc2s1tia7da05M8Q=\n\n"));
        let again = InstalledDb::parse(&text, "t").unwrap();
        assert_eq!(again.records[0].info(), info);
        assert_eq!(again.records[0].dirs(), dirs);
        assert_eq!(again.write(), text.as_bytes());
    }

    #[test]
    fn default_permissions_are_omitted() {
        let dirs = vec![DirEntry {
            path: "etc".to_owned(),
            acl: Some(Acl::DIR_DEFAULT),
            files: vec![FileEntry {
                name: "motd".to_owned(),
                acl: Some(Acl::FILE_DEFAULT),
                digest: None,
            }],
        }];
        let rec = InstalledRecord::new(&sample_info(), &dirs).unwrap();
        let tail: Vec<String> = rec
            .lines()
            .iter()
            .skip_while(|l| l.letter != b'F')
            .map(|l| format!("{}:{}", l.letter as char, l.value))
            .collect();
        assert_eq!(tail, ["F:etc", "R:motd"]);
    }

    #[test]
    fn new_rejects_unwritable_values() {
        let mut info = sample_info();
        info.description = Cow::Borrowed("two\nlines");
        assert_eq!(InstalledRecord::new(&info, &[]).unwrap_err().field, 'T');
        let mut dirs = sample_dirs();
        dirs[2].files[0].name = "a/b".to_owned();
        assert_eq!(
            InstalledRecord::new(&sample_info(), &dirs)
                .unwrap_err()
                .field,
            'R'
        );
        dirs[2].path = "/usr/bin".to_owned();
        assert_eq!(
            InstalledRecord::new(&sample_info(), &dirs)
                .unwrap_err()
                .field,
            'F'
        );
    }

    #[test]
    fn push_after_unterminated_record_adds_separator() {
        let mut db = InstalledDb::parse(*BAD_PERMS, "bad").unwrap();
        let rec = InstalledRecord::new(&sample_info(), &sample_dirs()).unwrap();
        db.push(rec);
        let text = String::from_utf8(db.write()).unwrap();
        assert!(text.starts_with(*BAD_PERMS));
        // The file ends with a line feed but no blank line.
        assert!(text[BAD_PERMS.len()..].starts_with("\nC:Q1Meo"));
        let again = InstalledDb::parse(&text, "t").unwrap();
        assert_eq!(again.records.len(), 2);
        assert_eq!(again.records[1].info(), sample_info());
        assert_eq!(again.write(), text.as_bytes());

        // Without even a final line feed.
        let mut db = InstalledDb::parse("P:a\nV:1", "t").unwrap();
        db.push(InstalledRecord::new(&sample_info(), &[]).unwrap());
        let text = String::from_utf8(db.write()).unwrap();
        assert!(text.starts_with("P:a\nV:1\n\nC:Q1Meo"), "{text}");
        assert!(text.ends_with("\n\n"), "{text}");
    }

    #[test]
    fn push_onto_wolfi_base_keeps_the_original_bytes() {
        let mut db = InstalledDb::parse(*WOLFI, "wolfi-base").unwrap();
        let n = db.records.len();
        db.push(InstalledRecord::new(&sample_info(), &[]).unwrap());
        let out = db.write();
        assert_eq!(&out[..WOLFI.len()], WOLFI.as_bytes());
        assert_eq!(
            InstalledDb::from_bytes(&out, "t").unwrap().records.len(),
            n + 1
        );
    }

    fn error(text: &str) -> InstalledError {
        InstalledDb::parse(text, "db/installed").unwrap_err()
    }

    #[test]
    fn structural_errors_name_line_and_field() {
        let e = error("P:a\nV:1\nR:orphan\n");
        assert_eq!((e.line, e.field), (3, Some('R')));
        assert_eq!(e.kind, InstalledErrorKind::FileWithoutDir);
        assert!(
            e.to_string()
                .starts_with("db/installed:3: field R: a file (R:)"),
            "{e}"
        );

        let e = error("P:a\nF:etc\nR:x\nF:usr\nZ:Q1MpwFRrS6f7TyQUedTVkbLp8sNh4=\n");
        assert_eq!((e.line, e.field), (5, Some('Z')));
        assert_eq!(e.kind, InstalledErrorKind::AttrWithoutFile);

        let e = error("P:a\nF:etc\na:0:0:644\n");
        assert_eq!((e.line, e.field), (3, Some('a')));

        let e = error("P:a\nM:0:0:755\n");
        assert_eq!(
            (e.line, e.field, e.kind),
            (2, Some('M'), InstalledErrorKind::ModeWithoutDir)
        );

        // The file structure restarts with each record.
        let e = error("P:a\nF:etc\nR:x\n\nP:b\nZ:Q1MpwFRrS6f7TyQUedTVkbLp8sNh4=\n");
        assert_eq!((e.line, e.field), (6, Some('Z')));
    }

    #[test]
    fn value_errors_name_line_and_field() {
        let e = error("P:a\nF:etc\nM:0:0:9z\n");
        assert_eq!((e.line, e.field), (3, Some('M')));
        assert!(matches!(e.kind, InstalledErrorKind::BadAcl { .. }), "{e}");
        assert!(e.to_string().contains("'0:0:9z'"), "{e}");

        let e = error("P:a\nF:etc\nR:x\na:root:0:644\n");
        assert_eq!((e.line, e.field), (4, Some('a')));

        let e = error("P:a\nF:etc\nR:x\nZ:Q1nope\n");
        assert_eq!((e.line, e.field), (4, Some('Z')));
        assert!(matches!(e.kind, InstalledErrorKind::BadDigest(_)));

        let e = error("P:a\nC:garbage\n");
        assert_eq!((e.line, e.field), (2, Some('C')));
        let e = error("P:a\nS:12x\n");
        assert_eq!((e.line, e.field), (2, Some('S')));

        let e = error("P:a\nnot a field\n");
        assert_eq!((e.line, e.field), (2, None));
        assert!(e.to_string().starts_with("db/installed:2: expected"), "{e}");

        let e = InstalledDb::from_bytes(b"P:a\nT:\xff\n", "x").unwrap_err();
        assert_eq!((e.line, e.kind), (2, InstalledErrorKind::NotUtf8));
    }
}
