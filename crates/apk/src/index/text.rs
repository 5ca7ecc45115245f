//! The APKINDEX text format: records of `K:value` lines separated by blank
//! lines. The installed database uses the same syntax with extra letters.
//!
//! Parsing borrows every field from the text; the only allocations are the
//! record vector and, for broken records, their problem lists.

use std::borrow::Cow;

use crate::checksum::Checksum;
use crate::package::{FieldProblem, PackageInfo};

/// One package record of an index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexRecord<'a> {
    /// The record's fields.
    pub info: PackageInfo<'a>,
    /// 1-based line of the record's first line.
    pub line: usize,
    /// Malformed fields; a record with problems is listed but cannot be
    /// installed (apk-tools marks such packages uninstallable).
    pub problems: Vec<FieldProblem>,
    /// Whether `problems` includes the deep checks (name, version and every
    /// atom); see [`Validation`].
    pub checked: bool,
}

/// How much of each record to validate while parsing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Validation {
    /// Check every field, including each dependency atom and version.
    #[default]
    Full,
    /// Check only the record structure and numbers; the consumer checks
    /// atoms itself as it parses them (the resolver does, saving a pass).
    Deferred,
}

impl IndexRecord<'_> {
    /// True when the record can be used by a resolver.
    pub fn is_installable(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Something odd in an index that does not stop it from being used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexWarning {
    /// 1-based line of the record.
    pub line: usize,
    /// `name-version` of the record, when it has a name.
    pub package: Option<String>,
    /// What is wrong, naming the field.
    pub message: String,
}

/// A parsed index text.
#[derive(Clone, Debug, Default)]
pub struct IndexText<'a> {
    /// Every record with a name, in file order.
    pub records: Vec<IndexRecord<'a>>,
    /// Records skipped or marked uninstallable, and why.
    pub warnings: Vec<IndexWarning>,
}

/// An index text that cannot be used at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct IndexTextError {
    /// The file (or archive member) the text came from.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// What is wrong and what is expected.
    pub message: String,
}

/// How to treat records that apk-tools would reject.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Strictness {
    /// A record without `P:`, `V:` or a valid `C:` is skipped with a warning.
    #[default]
    Lenient,
    /// Such a record fails the whole index, as in apk-tools.
    Strict,
}

/// Splits `text` into `(line_number, line)` pairs without allocating.
pub(crate) fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let bytes = text.as_bytes();
    let mut start = 0usize;
    let mut n = 0usize;
    std::iter::from_fn(move || {
        if start >= bytes.len() {
            return None;
        }
        let end = memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |i| start + i);
        let line = &text[start..end];
        start = end + 1;
        n += 1;
        Some((n, line))
    })
}

/// Splits a record line into its letter and value, or `None` for a
/// record separator (any line shorter than two bytes).
pub(crate) fn split_field(line: &str) -> Result<Option<(u8, &str)>, String> {
    let b = line.as_bytes();
    if b.len() < 2 {
        return Ok(None);
    }
    if b[1] != b':' || !b[0].is_ascii_alphabetic() {
        let shown: String = line.chars().take(40).collect();
        return Err(format!(
            "expected a 'K:value' line (one letter, a colon, the value), found '{shown}'"
        ));
    }
    Ok(Some((b[0], &line[2..])))
}

fn number(letter: u8, value: &str, problems: &mut Vec<FieldProblem>) -> Option<u64> {
    match value.parse() {
        Ok(n) => Some(n),
        Err(_) => {
            problems.push(FieldProblem {
                field: letter as char,
                message: format!("'{value}' is not a whole number"),
            });
            None
        }
    }
}

/// Appends a list value, borrowing when it is the first one.
fn append<'a>(list: &mut Cow<'a, str>, value: &'a str) {
    if list.is_empty() {
        *list = Cow::Borrowed(value);
    } else {
        let joined = format!("{list} {value}");
        *list = Cow::Owned(joined);
    }
}

/// Stores one `K:value` field in `info`. Returns false for an unknown
/// uppercase letter (a field this reader does not understand, which
/// apk-tools treats as "package needs a newer apk").
pub(crate) fn set_field<'a>(
    info: &mut PackageInfo<'a>,
    letter: u8,
    value: &'a str,
    problems: &mut Vec<FieldProblem>,
) -> bool {
    let v = Cow::Borrowed(value);
    match letter {
        b'P' => info.name = v,
        b'V' => info.version = v,
        b'A' => info.arch = v,
        b'T' => info.description = v,
        b'U' => info.url = v,
        b'L' => info.license = v,
        b'o' => info.origin = v,
        b'm' => info.maintainer = v,
        b'c' => info.commit = v,
        // List fields may be split over several lines; apk appends them.
        b'D' => append(&mut info.depends, value),
        b'p' => append(&mut info.provides, value),
        // apko writes an empty install_if as the literal "[]".
        b'i' if value == "[]" => {}
        b'i' => append(&mut info.install_if, value),
        b'r' => append(&mut info.replaces, value),
        b'S' => info.size = number(letter, value, problems),
        b'I' => info.installed_size = number(letter, value, problems),
        b't' => info.build_time = number(letter, value, problems),
        b'k' => info.provider_priority = number(letter, value, problems),
        b'q' => info.replaces_priority = number(letter, value, problems),
        b'C' => match Checksum::parse(value) {
            Ok(c) => info.checksum = Some(c),
            Err(e) => problems.push(FieldProblem {
                field: 'C',
                message: e.to_string(),
            }),
        },
        // Installed-database letters describe state after installation.
        b'F' | b'M' | b'R' | b'a' | b'Z' | b's' | b'f' | b'g' => {}
        _ if letter.is_ascii_uppercase() => return false,
        _ => {}
    }
    true
}

/// Parses index text. `file` names the source in errors and warnings.
pub fn parse<'a>(
    text: &'a str,
    file: &str,
    strictness: Strictness,
) -> Result<IndexText<'a>, IndexTextError> {
    parse_with(text, file, strictness, Validation::Full)
}

/// Like [`parse`], choosing how deeply records are validated.
pub fn parse_with<'a>(
    text: &'a str,
    file: &str,
    strictness: Strictness,
    validation: Validation,
) -> Result<IndexText<'a>, IndexTextError> {
    let mut out = IndexText::default();
    let mut records = Vec::new();
    parse_each(
        text,
        file,
        strictness,
        validation,
        0,
        &mut out.warnings,
        &mut |r| records.push(r),
    )?;
    out.records = records;
    Ok(out)
}

/// Like [`parse_with`], handing each record to `each` as soon as it is
/// complete instead of collecting them. Line numbers start after
/// `line_offset` (for a part of a larger text).
#[allow(clippy::too_many_arguments)]
pub(crate) fn parse_each<'a>(
    text: &'a str,
    file: &str,
    strictness: Strictness,
    validation: Validation,
    line_offset: usize,
    warnings: &mut Vec<IndexWarning>,
    each: &mut dyn FnMut(IndexRecord<'a>),
) -> Result<(), IndexTextError> {
    let mut current: Option<(usize, PackageInfo<'a>, Vec<FieldProblem>)> = None;
    let mut finish = |rec: Option<(usize, PackageInfo<'a>, Vec<FieldProblem>)>,
                      warnings: &mut Vec<IndexWarning>|
     -> Result<(), IndexTextError> {
        let Some((line, info, problems)) = rec else {
            return Ok(());
        };
        let sink = Sink { warnings, each };
        finish_record(line, info, problems, file, strictness, validation, sink)
    };
    for (n, line) in lines(text) {
        let n = n + line_offset;
        let field = split_field(line).map_err(|message| IndexTextError {
            file: file.to_owned(),
            line: n,
            message,
        })?;
        let Some((letter, value)) = field else {
            finish(current.take(), warnings)?;
            continue;
        };
        let (_, info, problems) =
            current.get_or_insert_with(|| (n, PackageInfo::default(), Vec::new()));
        if !set_field(info, letter, value, problems) {
            problems.push(FieldProblem {
                field: letter as char,
                message: "unknown field; this package needs a newer package manager".to_owned(),
            });
        }
    }
    finish(current.take(), warnings)
}

/// Where finished records and warnings go.
struct Sink<'s, 'a> {
    warnings: &'s mut Vec<IndexWarning>,
    each: &'s mut dyn FnMut(IndexRecord<'a>),
}

fn finish_record<'a>(
    line: usize,
    info: PackageInfo<'a>,
    mut problems: Vec<FieldProblem>,
    file: &str,
    strictness: Strictness,
    validation: Validation,
    out: Sink<'_, 'a>,
) -> Result<(), IndexTextError> {
    let fatal = if info.name.is_empty() {
        Some("record has no P: (package name)".to_owned())
    } else if info.version.is_empty() {
        Some(format!("package '{}' has no V: (version)", info.name))
    } else if info.checksum.is_none() {
        Some(format!(
            "package '{}' has no valid C: (checksum)",
            info.name
        ))
    } else {
        None
    };
    let package = || (!info.name.is_empty()).then(|| info.name_version());
    if let Some(message) = fatal {
        if strictness == Strictness::Strict {
            return Err(IndexTextError {
                file: file.to_owned(),
                line,
                message,
            });
        }
        out.warnings.push(IndexWarning {
            line,
            package: package(),
            message: format!("{message}; record skipped"),
        });
        return Ok(());
    }
    let checked = validation == Validation::Full;
    if checked {
        problems.extend(info.problems());
    }
    for p in &problems {
        out.warnings.push(IndexWarning {
            line,
            package: package(),
            message: format!("{p}; package is not installable"),
        });
    }
    (out.each)(IndexRecord {
        info,
        line,
        problems,
        checked,
    });
    Ok(())
}

/// Writes records as index text (apk-tools field order, one blank line
/// after each record).
pub fn write<'a>(infos: impl IntoIterator<Item = &'a PackageInfo<'a>>) -> String {
    let mut out = String::new();
    for info in infos {
        info.write_index_fields(&mut out);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: &str = "C:Q1EyN5AdpAOBJWKMR89pp/C66o+OE=\nP:a\nV:1\nS:1\nI:1\nD:b\n\n\n\
C:Q1C4uoV7SdMdDhYg4OCVmI71D8HIA=\nP:b\nV:1.0bc\nS:1\nI:1\np:pc:x=v2.4 cmd:b=1\nX:new\n";

    #[test]
    fn parses_records_and_flags_broken_ones() {
        let idx = parse(TWO, "t", Strictness::Strict).unwrap();
        assert_eq!(idx.records.len(), 2);
        assert_eq!(idx.records[0].info.depends, "b");
        assert!(idx.records[0].is_installable());
        let b = &idx.records[1];
        assert_eq!(b.line, 9);
        let fields: Vec<char> = b.problems.iter().map(|p| p.field).collect();
        assert_eq!(fields, ['X', 'V', 'p']);
        assert_eq!(idx.warnings.len(), 3);
        assert_eq!(idx.warnings[0].package.as_deref(), Some("b-1.0bc"));
    }

    #[test]
    fn repeated_list_lines_are_joined() {
        let idx = parse(
            "C:Q1EyN5AdpAOBJWKMR89pp/C66o+OE=\nP:a\nV:1\np:x\np:y=1\nD:b\nD:c\n",
            "t",
            Strictness::Strict,
        )
        .unwrap();
        assert_eq!(idx.records[0].info.provides, "x y=1");
        assert_eq!(idx.records[0].info.depends, "b c");
    }

    #[test]
    fn malformed_line_names_file_and_line() {
        let e = parse(
            "P:a\nV:1\nbroken line\n",
            "repo/APKINDEX",
            Strictness::Lenient,
        )
        .unwrap_err();
        assert_eq!(e.line, 3);
        assert!(
            e.to_string()
                .starts_with("repo/APKINDEX:3: expected a 'K:value' line"),
            "{e}"
        );
    }

    #[test]
    fn records_without_name_or_checksum() {
        let text = "V:1\n\nP:a\nV:1\n";
        let lenient = parse(text, "t", Strictness::Lenient).unwrap();
        assert!(lenient.records.is_empty());
        assert_eq!(lenient.warnings.len(), 2);
        let e = parse(text, "t", Strictness::Strict).unwrap_err();
        assert!(e.message.contains("no P:"), "{e}");
    }

    #[test]
    fn write_then_parse_round_trips() {
        let idx = parse(TWO, "t", Strictness::Lenient).unwrap();
        let text = write(idx.records.iter().map(|r| &r.info));
        let again = parse(&text, "t", Strictness::Lenient).unwrap();
        let a: Vec<_> = idx.records.iter().map(|r| &r.info).collect();
        let b: Vec<_> = again.records.iter().map(|r| &r.info).collect();
        assert_eq!(a, b);
    }
}
