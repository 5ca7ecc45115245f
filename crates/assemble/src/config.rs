//! The image declaration users write: `assembly.toml`, or
//! `[package.metadata.image]` in any Cargo.toml of a workspace.
//!
//! ```toml
//! [image]                                  # or [[image]] for several
//! name = "python-custom"
//! source = "oci:./base:latest"             # oci-archive:FILE[:REF], scratch
//! packages = ["curl", "py3-requests>=2.31"]
//! repositories = ["./repo", "https://apk.example.org/acme"]
//! keyring = ["keys/acme.rsa.pub"]
//! architectures = ["x86_64", "aarch64"]   # default: all of the source's
//! tags = ["latest"]                        # default ["latest"]
//! [image.annotations]                      # string → string
//! [image.environment]                      # string → string
//! ```
//!
//! Checking never stops at the first problem: every error of a file is
//! collected into [`ConfigErrors`] with its byte span, 1-based line and
//! column, so `validate` and the fancy miette report can show them all.
//! Relative paths (local repositories, keys, `oci:` layouts) are resolved
//! against the directory of the file that declares them.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use miette::{
    Diagnostic, LabeledSpan, MietteError, MietteSpanContents, SourceCode, SourceSpan, SpanContents,
};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use apk::dependency::{Context, Dependency};

/// The file name looked for by [`discover`].
pub const ASSEMBLY_FILE: &str = "assembly.toml";

/// APK architecture names accepted in `architectures`.
pub const ARCHITECTURES: &[&str] = &[
    "x86_64",
    "aarch64",
    "armv7",
    "armhf",
    "x86",
    "ppc64le",
    "s390x",
    "riscv64",
    "loongarch64",
];

/// Keys allowed in an image table.
const IMAGE_KEYS: &[&str] = &[
    "name",
    "source",
    "packages",
    "repositories",
    "keyring",
    "architectures",
    "tags",
    "annotations",
    "environment",
];

/// One declared image, validated, with paths resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSpec {
    /// The file that declares the image (assembly.toml or a Cargo.toml).
    pub file: PathBuf,
    /// The image name, `[a-z0-9][a-z0-9._-]*`.
    pub name: String,
    /// Byte span of the name's value in `file`.
    pub name_span: Range<usize>,
    /// `source` as written.
    pub source: String,
    /// `source` with a relative layout/archive path resolved, e.g.
    /// `oci:/proj/base:latest`.
    pub source_resolved: String,
    /// The parsed, resolved source.
    pub source_kind: Source,
    /// Byte span of the source's value in `file`.
    pub source_span: Range<usize>,
    /// Dependency atoms to install, as written (each parses with
    /// [`Dependency::parse`] in [`Context::World`]).
    pub packages: Vec<String>,
    /// Byte span of each `packages` entry, parallel to `packages`.
    pub package_spans: Vec<Range<usize>>,
    /// Extra repositories, resolved: URLs as written, local paths made
    /// relative to the declaring file's directory; an `@tag ` prefix is kept.
    pub repositories: Vec<String>,
    /// `repositories` as written, parallel to `repositories`.
    pub repositories_written: Vec<String>,
    /// Extra trusted keys, resolved against the declaring file's directory.
    pub keyring: Vec<PathBuf>,
    /// `keyring` as written, parallel to `keyring`.
    pub keyring_written: Vec<String>,
    /// Architectures to build; `None` means every one the source has.
    pub architectures: Option<Vec<String>>,
    /// Tags to give the result; `["latest"]` by default.
    pub tags: Vec<String>,
    /// OCI annotations and labels.
    pub annotations: BTreeMap<String, String>,
    /// Environment variables appended to the source's config.
    pub environment: BTreeMap<String, String>,
}

/// Where the base image comes from, with paths resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// An empty image.
    Scratch,
    /// An OCI image layout directory, `oci:PATH[:REF]`.
    Oci {
        /// The layout directory.
        path: PathBuf,
        /// The `org.opencontainers.image.ref.name` to pick, if given.
        reference: Option<String>,
    },
    /// A tar of an OCI image layout, `oci-archive:FILE[:REF]`.
    OciArchive {
        /// The archive file.
        path: PathBuf,
        /// The `org.opencontainers.image.ref.name` to pick, if given.
        reference: Option<String>,
    },
}

/// One problem found in a declaration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Byte range in the file (may be empty, e.g. for a missing key).
    pub span: Range<usize>,
    /// 1-based line of `span.start`.
    pub line: usize,
    /// 1-based column (in characters) of `span.start`.
    pub column: usize,
    /// What is wrong.
    pub message: String,
    /// How to fix it, when there is something useful to say.
    pub help: Option<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(help) = &self.help {
            write!(f, " ({help})")?;
        }
        Ok(())
    }
}

/// Every error found in one declaration file (plus, for a workspace, the
/// errors of the other manifests in `others`).
///
/// `Display` gives one `file:line:column: message (help)` line per error;
/// as a [`Diagnostic`] it labels each error's span in the source text.
#[derive(Debug)]
pub struct ConfigErrors {
    /// The file the errors are in, as given.
    pub file: PathBuf,
    /// Its text (empty when it could not be read).
    pub source_text: String,
    /// The errors, in the order they appear in the file.
    pub errors: Vec<ConfigError>,
    /// Errors in further files (other workspace members).
    pub others: Vec<ConfigErrors>,
}

impl ConfigErrors {
    /// An empty error list for `file` holding `source_text`; use
    /// [`push`](Self::push) to add errors, e.g. to point at
    /// [`ImageSpec::package_spans`] after a failed solve.
    pub fn new(file: &Path, source_text: String) -> Self {
        ConfigErrors {
            file: file.to_owned(),
            source_text,
            errors: Vec::new(),
            others: Vec::new(),
        }
    }

    /// Adds an error at byte range `span`, computing its line and column.
    pub fn push(&mut self, span: Range<usize>, message: impl Into<String>, help: Option<String>) {
        let (line, column) = line_column(&self.source_text, span.start);
        self.errors.push(ConfigError {
            span,
            line,
            column,
            message: message.into(),
            help,
        });
    }

    /// True when neither this file nor `others` holds an error.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty() && self.others.iter().all(ConfigErrors::is_empty)
    }

    /// Total number of errors, `others` included.
    pub fn len(&self) -> usize {
        self.errors.len() + self.others.iter().map(ConfigErrors::len).sum::<usize>()
    }

    fn sort(&mut self) {
        self.errors.sort_by_key(|e| (e.span.start, e.span.end));
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for e in &self.errors {
            if !first {
                f.write_str("\n")?;
            }
            first = false;
            write!(f, "{}:{}:{}: {e}", self.file.display(), e.line, e.column)?;
        }
        for other in &self.others {
            if !first {
                f.write_str("\n")?;
            }
            first = false;
            write!(f, "{other}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// The source text, named after the file (what `miette::NamedSource` does,
/// without a second copy of the text).
impl SourceCode for ConfigErrors {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let inner = self
            .source_text
            .read_span(span, context_lines_before, context_lines_after)?;
        Ok(Box::new(MietteSpanContents::new_named(
            self.file.display().to_string(),
            inner.data(),
            *inner.span(),
            inner.line(),
            inner.column(),
            inner.line_count(),
        )))
    }
}

impl Diagnostic for ConfigErrors {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new("assemble::config"))
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        Some(self)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(self.errors.iter().map(|e| {
            LabeledSpan::new_with_span(Some(e.message.clone()), e.span.clone())
        })))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        let helps: Vec<String> = self
            .errors
            .iter()
            .filter_map(|e| e.help.as_ref().map(|h| (e, h)))
            .map(|(e, h)| {
                if self.errors.len() == 1 {
                    h.clone()
                } else {
                    format!("{}:{}: {h}", e.line, e.column)
                }
            })
            .collect();
        if helps.is_empty() {
            None
        } else {
            Some(Box::new(helps.join("\n")))
        }
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        if self.others.is_empty() {
            None
        } else {
            Some(Box::new(self.others.iter().map(|o| o as &dyn Diagnostic)))
        }
    }
}

/// Loads the images declared in `path`: a file named `Cargo.toml` goes
/// through [`load_cargo`], anything else is read as an assembly.toml.
/// Relative paths are resolved against the file's absolute directory.
pub fn load(path: &Path) -> Result<Vec<ImageSpec>, ConfigErrors> {
    if path.file_name().is_some_and(|n| n == "Cargo.toml") {
        return load_cargo(path);
    }
    let text = read(path)?;
    let base = absolute_dir(path);
    let mut seen = BTreeMap::new();
    let (images, mut errors) = check_file(&text, path, &base, Route::Assembly, &mut seen);
    if errors.is_empty() && images.is_empty() {
        errors.push(
            0..0,
            "no image declared",
            Some("add an [image] table with at least `name` and `source`".into()),
        );
    }
    finish(images, errors)
}

/// Parses assembly.toml text; `file` names it in errors and its directory
/// (as given) resolves relative paths.
pub fn parse_str(text: &str, file: &Path) -> Result<Vec<ImageSpec>, ConfigErrors> {
    let base = file.parent().unwrap_or(Path::new("")).to_owned();
    let mut seen = BTreeMap::new();
    let (images, errors) = check_file(text, file, &base, Route::Assembly, &mut seen);
    finish(images, errors)
}

/// Loads the `[package.metadata.image]` declarations (table or array of
/// tables) of every package of the workspace `manifest_path` belongs to,
/// found with `cargo metadata --no-deps`. Spans point into each manifest.
pub fn load_cargo(manifest_path: &Path) -> Result<Vec<ImageSpec>, ConfigErrors> {
    let metadata = cargo_metadata::MetadataCommand::new()
        .manifest_path(manifest_path)
        .no_deps()
        .exec();
    let metadata = match metadata {
        Ok(m) => m,
        Err(e) => {
            let text = std::fs::read_to_string(manifest_path).unwrap_or_default();
            let mut errors = ConfigErrors::new(manifest_path, text);
            errors.push(0..0, format!("`cargo metadata` failed: {e}"), None);
            return Err(errors);
        }
    };
    let mut images = Vec::new();
    let mut failed: Vec<ConfigErrors> = Vec::new();
    let mut seen = BTreeMap::new();
    for package in &metadata.packages {
        if package.metadata.get("image").is_none_or(|v| v.is_null()) {
            continue;
        }
        let manifest = package.manifest_path.as_std_path();
        let text = match read(manifest) {
            Ok(t) => t,
            Err(e) => {
                failed.push(e);
                continue;
            }
        };
        let base = absolute_dir(manifest);
        let (found, errors) = check_file(&text, manifest, &base, Route::Cargo, &mut seen);
        if errors.is_empty() {
            images.extend(found);
        } else {
            failed.push(errors);
        }
    }
    if failed.is_empty() && images.is_empty() {
        let text = std::fs::read_to_string(manifest_path).unwrap_or_default();
        let mut errors = ConfigErrors::new(manifest_path, text);
        errors.push(
            0..0,
            "no package of this workspace declares an image",
            Some("add a [package.metadata.image] table with `name` and `source`".into()),
        );
        return Err(errors);
    }
    if failed.is_empty() {
        return Ok(images);
    }
    let mut first = failed.remove(0);
    first.others = failed;
    Err(first)
}

/// Finds the declaration in `dir`: `assembly.toml`, else a `Cargo.toml`
/// holding `[package.metadata.image]`.
pub fn discover(dir: &Path) -> Option<PathBuf> {
    let assembly = dir.join(ASSEMBLY_FILE);
    if assembly.is_file() {
        return Some(assembly);
    }
    let cargo = dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&cargo).ok()?;
    let table: toml::Table = toml::from_str(&text).ok()?;
    table
        .get("package")?
        .get("metadata")?
        .get("image")
        .map(|_| cargo)
}

fn read(path: &Path) -> Result<String, ConfigErrors> {
    std::fs::read_to_string(path).map_err(|e| {
        let mut errors = ConfigErrors::new(path, String::new());
        errors.push(0..0, format!("cannot read {}: {e}", path.display()), None);
        errors
    })
}

fn finish(images: Vec<ImageSpec>, errors: ConfigErrors) -> Result<Vec<ImageSpec>, ConfigErrors> {
    if errors.is_empty() {
        Ok(images)
    } else {
        Err(errors)
    }
}

fn absolute_dir(file: &Path) -> PathBuf {
    let dir = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned());
    clean(&dir)
}

/// Joins `rel` to `base` unless absolute, dropping `.` components.
fn resolve(base: &Path, rel: &str) -> PathBuf {
    clean(&base.join(rel))
}

fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                let last = out.components().next_back();
                match last {
                    Some(Component::Normal(_)) => {
                        out.pop();
                    }
                    Some(Component::RootDir) => {}
                    _ => out.push(".."),
                }
            }
            other => out.push(other),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// 1-based line and character column of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, text[line_start..offset].chars().count() + 1)
}

// ---------------------------------------------------------------------------
// A TOML tree that keeps the spans toml gives (tables declared only
// implicitly, like `package.metadata` in `[package.metadata.image]`, have
// none; their keys always do).

#[derive(Debug)]
struct Node {
    kind: Kind,
    span: Option<Range<usize>>,
}

#[derive(Debug)]
enum Kind {
    Str(String),
    Int,
    Float,
    Bool,
    Datetime,
    Array(Vec<Node>),
    Table(Vec<(Key, Node)>),
}

#[derive(Debug)]
struct Key {
    name: String,
    span: Option<Range<usize>>,
}

impl Node {
    fn type_name(&self) -> &'static str {
        match self.kind {
            Kind::Str(_) => "a string",
            Kind::Int => "an integer",
            Kind::Float => "a float",
            Kind::Bool => "a boolean",
            Kind::Datetime => "a datetime",
            Kind::Array(_) => "an array",
            Kind::Table(_) => "a table",
        }
    }

    fn span_or(&self, at: &Range<usize>) -> Range<usize> {
        self.span.clone().unwrap_or_else(|| at.clone())
    }
}

/// The private struct names toml uses for `Spanned` and `Datetime`,
/// learnt from their `Deserialize` impls rather than copied.
struct Magic {
    spanned: &'static str,
    spanned_fields: &'static [&'static str],
    datetime_field: Option<&'static str>,
}

fn magic() -> &'static Magic {
    static MAGIC: OnceLock<Magic> = OnceLock::new();
    MAGIC.get_or_init(|| {
        let (spanned, spanned_fields) =
            capture(|d| toml::Spanned::<()>::deserialize(d).map(drop)).unwrap_or(("", &[]));
        let datetime_field = capture(|d| toml::value::Datetime::deserialize(d).map(drop))
            .and_then(|(_, f)| f.first().copied());
        Magic {
            spanned,
            spanned_fields,
            datetime_field,
        }
    })
}

type StructShape = (&'static str, &'static [&'static str]);

fn capture<T>(f: impl FnOnce(Capture<'_>) -> Result<T, de::value::Error>) -> Option<StructShape> {
    let cell = std::cell::Cell::new(None);
    let _ = f(Capture(&cell));
    cell.get()
}

/// A deserializer that only records the struct shape asked of it.
struct Capture<'c>(&'c std::cell::Cell<Option<StructShape>>);

impl<'de> Deserializer<'de> for Capture<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("shape capture"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.set(Some((name, fields)));
        Err(de::Error::custom("shape capture"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let m = magic();
        d.deserialize_struct(m.spanned, m.spanned_fields, NodeVisitor)
    }
}

/// Deserializes a value without asking for its span (used for the value
/// inside the spanned wrapper).
struct Unspanned;

impl<'de> DeserializeSeed<'de> for Unspanned {
    type Value = Node;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl NodeVisitor {
    fn leaf(kind: Kind) -> Node {
        Node { kind, span: None }
    }
}

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a TOML value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Node, E> {
        Ok(Self::leaf(Kind::Bool))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Node, E> {
        Ok(Self::leaf(Kind::Int))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Node, E> {
        Ok(Self::leaf(Kind::Int))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Node, E> {
        Ok(Self::leaf(Kind::Float))
    }
    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Self::leaf(Kind::Str(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Self::leaf(Kind::Str(v)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Self::leaf(Kind::Array(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let m = magic();
        let Some(first) = map.next_key::<Key>()? else {
            return Ok(Self::leaf(Kind::Table(Vec::new())));
        };
        if first.span.is_none() && m.spanned_fields.first() == Some(&first.name.as_str()) {
            // The spanned wrapper: start, end, value.
            let start: usize = map.next_value()?;
            let mut end = start;
            let mut value = None;
            while let Some(key) = map.next_key::<Key>()? {
                if m.spanned_fields.get(1) == Some(&key.name.as_str()) {
                    end = map.next_value()?;
                } else if m.spanned_fields.get(2) == Some(&key.name.as_str()) {
                    value = Some(map.next_value_seed(Unspanned)?);
                } else {
                    map.next_value::<de::IgnoredAny>()?;
                }
            }
            let mut node = value.ok_or_else(|| de::Error::custom("spanned value missing"))?;
            node.span = Some(start..end);
            return Ok(node);
        }
        if first.span.is_none() && m.datetime_field == Some(first.name.as_str()) {
            map.next_value::<de::IgnoredAny>()?;
            return Ok(Self::leaf(Kind::Datetime));
        }
        let mut entries = vec![(first, map.next_value::<Node>()?)];
        while let Some(key) = map.next_key::<Key>()? {
            let value = map.next_value::<Node>()?;
            entries.push((key, value));
        }
        Ok(Self::leaf(Kind::Table(entries)))
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let m = magic();
        d.deserialize_struct(m.spanned, m.spanned_fields, KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E>(self, v: &str) -> Result<Key, E> {
        Ok(Key {
            name: v.to_owned(),
            span: None,
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Key, A::Error> {
        let m = magic();
        let (mut start, mut end, mut name) = (0, 0, None);
        while let Some(key) = map.next_key::<String>()? {
            if m.spanned_fields.first() == Some(&key.as_str()) {
                start = map.next_value()?;
            } else if m.spanned_fields.get(1) == Some(&key.as_str()) {
                end = map.next_value()?;
            } else if m.spanned_fields.get(2) == Some(&key.as_str()) {
                name = Some(map.next_value::<String>()?);
            } else {
                return Err(de::Error::custom("unexpected map as a key"));
            }
        }
        Ok(Key {
            name: name.ok_or_else(|| de::Error::custom("spanned key missing"))?,
            span: Some(start..end),
        })
    }
}

// ---------------------------------------------------------------------------
// Checking.

#[derive(Clone, Copy, PartialEq, Eq)]
enum Route {
    /// assembly.toml: `[image]` / `[[image]]` at the top.
    Assembly,
    /// Cargo.toml: `[package.metadata.image]`, other keys ignored.
    Cargo,
}

struct Checker<'a> {
    text: &'a str,
    file: &'a Path,
    base: &'a Path,
    errors: ConfigErrors,
}

/// Image names already declared in this load, for duplicate detection:
/// name → "file:line:column".
type Seen = BTreeMap<String, String>;

fn check_file(
    text: &str,
    file: &Path,
    base: &Path,
    route: Route,
    seen: &mut Seen,
) -> (Vec<ImageSpec>, ConfigErrors) {
    let mut c = Checker {
        text,
        file,
        base,
        errors: ConfigErrors::new(file, text.to_owned()),
    };
    let root = match toml::from_str::<Node>(text) {
        Ok(root) => root,
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            c.errors.push(span, e.message().trim_end().to_owned(), None);
            return (Vec::new(), c.errors);
        }
    };
    let Kind::Table(root) = root.kind else {
        c.errors.push(0..0, "the document is not a table", None);
        return (Vec::new(), c.errors);
    };
    let mut images = Vec::new();
    match route {
        Route::Assembly => {
            for (key, node) in &root {
                let at = key.span.clone().unwrap_or(0..0);
                if key.name == "image" {
                    c.images(node, &at, "image", &mut images, seen);
                } else {
                    c.unknown_key(key, &["image"], "at the top level");
                }
            }
        }
        Route::Cargo => {
            let image = find(&root, "package")
                .and_then(|(_, p)| table(p))
                .and_then(|p| find(p, "metadata"))
                .and_then(|(_, m)| table(m))
                .and_then(|m| find(m, "image"));
            if let Some((key, node)) = image {
                let at = key.span.clone().unwrap_or(0..0);
                c.images(node, &at, "package.metadata.image", &mut images, seen);
            }
        }
    }
    c.errors.sort();
    (images, c.errors)
}

fn find<'n>(entries: &'n [(Key, Node)], name: &str) -> Option<&'n (Key, Node)> {
    entries.iter().find(|(k, _)| k.name == name)
}

fn table(node: &Node) -> Option<&[(Key, Node)]> {
    match &node.kind {
        Kind::Table(t) => Some(t),
        _ => None,
    }
}

impl Checker<'_> {
    fn error(&mut self, span: Range<usize>, message: impl Into<String>, help: Option<String>) {
        self.errors.push(span, message, help);
    }

    /// The first line of `span`: a table header rather than the whole table.
    fn header(&self, span: Range<usize>) -> Range<usize> {
        let end = self.text[span.clone()]
            .find('\n')
            .map_or(span.end, |i| span.start + i);
        span.start..self.text[span.start..end].trim_end().len() + span.start
    }

    fn unknown_key(&mut self, key: &Key, known: &[&str], place: &str) {
        let help = suggest_key(&key.name, known).map(|s| format!("did you mean '{s}'?"));
        let help = help.or_else(|| Some(format!("expected one of: {}", known.join(", "))));
        self.error(
            key.span.clone().unwrap_or(0..0),
            format!("unknown key '{}' {place}", key.name),
            help,
        );
    }

    /// `image` (or `package.metadata.image`): a table or an array of tables.
    fn images(
        &mut self,
        node: &Node,
        at: &Range<usize>,
        what: &str,
        out: &mut Vec<ImageSpec>,
        seen: &mut Seen,
    ) {
        match &node.kind {
            Kind::Table(entries) => {
                let header = self.header(node.span_or(at));
                if let Some(spec) = self.image(entries, header, seen) {
                    out.push(spec);
                }
            }
            Kind::Array(items) => {
                for item in items {
                    match &item.kind {
                        Kind::Table(entries) => {
                            let header = self.header(item.span_or(at));
                            if let Some(spec) = self.image(entries, header, seen) {
                                out.push(spec);
                            }
                        }
                        _ => self.error(
                            item.span_or(at),
                            format!("each [[{what}]] must be a table, found {}", item.type_name()),
                            None,
                        ),
                    }
                }
            }
            _ => self.error(
                node.span_or(at),
                format!(
                    "'{what}' must be a table ([{what}]) or an array of tables ([[{what}]]), found {}",
                    node.type_name()
                ),
                None,
            ),
        }
    }

    fn image(
        &mut self,
        entries: &[(Key, Node)],
        header: Range<usize>,
        seen: &mut Seen,
    ) -> Option<ImageSpec> {
        let before = self.errors.errors.len();
        let mut name = None;
        let mut source = None;
        let mut packages = (Vec::new(), Vec::new());
        let mut repositories = (Vec::new(), Vec::new());
        let mut keyring = (Vec::new(), Vec::new());
        let mut architectures = None;
        let mut tags = None;
        let mut annotations = BTreeMap::new();
        let mut environment = BTreeMap::new();
        for (key, node) in entries {
            let at = key.span.clone().unwrap_or_else(|| header.clone());
            match key.name.as_str() {
                "name" => name = self.name(node, &at, seen),
                "source" => source = self.source(node, &at),
                "packages" => {
                    for (atom, span) in self.strings(node, &at, "packages") {
                        match Dependency::parse(&atom, Context::World) {
                            Ok(_) => {
                                packages.0.push(atom);
                                packages.1.push(span);
                            }
                            Err(e) => self.error(span, e.to_string(), None),
                        }
                    }
                }
                "repositories" => {
                    for (repo, span) in self.strings(node, &at, "repositories") {
                        if let Some(resolved) = self.repository(&repo, span) {
                            repositories.0.push(resolved);
                            repositories.1.push(repo);
                        }
                    }
                }
                "keyring" => {
                    for (key, span) in self.strings(node, &at, "keyring") {
                        if key.trim().is_empty() {
                            self.error(span, "empty key path in 'keyring'", None);
                        } else {
                            keyring.0.push(resolve(self.base, &key));
                            keyring.1.push(key);
                        }
                    }
                }
                "architectures" => architectures = Some(self.architectures(node, &at)),
                "tags" => tags = Some(self.tags(node, &at)),
                "annotations" => annotations = self.string_map(node, &at, "annotations"),
                "environment" => {
                    environment = self.string_map(node, &at, "environment");
                }
                _ => self.unknown_key(key, IMAGE_KEYS, "in an image"),
            }
        }
        if !entries.iter().any(|(k, _)| k.name == "name") {
            self.error(
                header.clone(),
                "missing required key 'name'",
                Some("every image needs a name, e.g. name = \"my-image\"".into()),
            );
        }
        if !entries.iter().any(|(k, _)| k.name == "source") {
            self.error(
                header,
                "missing required key 'source'",
                Some(
                    "e.g. source = \"oci:./base:latest\", \"oci-archive:base.tar\" or \"scratch\""
                        .into(),
                ),
            );
        }
        if self.errors.errors.len() != before {
            return None;
        }
        let (name, name_span) = name?;
        let (source, source_resolved, source_kind, source_span) = source?;
        Some(ImageSpec {
            file: self.file.to_owned(),
            name,
            name_span,
            source,
            source_resolved,
            source_kind,
            source_span,
            packages: packages.0,
            package_spans: packages.1,
            repositories: repositories.0,
            repositories_written: repositories.1,
            keyring: keyring.0,
            keyring_written: keyring.1,
            architectures: architectures.flatten(),
            tags: tags.flatten().unwrap_or_else(|| vec!["latest".to_owned()]),
            annotations,
            environment,
        })
    }

    fn string(&mut self, node: &Node, at: &Range<usize>, key: &str) -> Option<String> {
        match &node.kind {
            Kind::Str(s) => Some(s.clone()),
            _ => {
                self.error(
                    node.span_or(at),
                    format!("'{key}' must be a string, found {}", node.type_name()),
                    None,
                );
                None
            }
        }
    }

    /// The string elements of an array (type errors reported), with spans.
    fn strings(
        &mut self,
        node: &Node,
        at: &Range<usize>,
        key: &str,
    ) -> Vec<(String, Range<usize>)> {
        let Kind::Array(items) = &node.kind else {
            let help = match &node.kind {
                Kind::Str(s) => Some(format!("write {key} = [{s:?}]")),
                _ => None,
            };
            self.error(
                node.span_or(at),
                format!(
                    "'{key}' must be an array of strings, found {}",
                    node.type_name()
                ),
                help,
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items {
            let span = item.span_or(at);
            match &item.kind {
                Kind::Str(s) => out.push((s.clone(), span)),
                _ => self.error(
                    span,
                    format!(
                        "'{key}' entries must be strings, found {}",
                        item.type_name()
                    ),
                    None,
                ),
            }
        }
        out
    }

    fn string_map(
        &mut self,
        node: &Node,
        at: &Range<usize>,
        key: &str,
    ) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let Kind::Table(entries) = &node.kind else {
            self.error(
                node.span_or(at),
                format!(
                    "'{key}' must be a table of strings, found {}",
                    node.type_name()
                ),
                Some(format!(
                    "write [image.{key}] followed by NAME = \"value\" lines"
                )),
            );
            return out;
        };
        for (k, v) in entries {
            let kspan = k.span.clone().unwrap_or_else(|| at.clone());
            let value = match &v.kind {
                Kind::Str(s) => s.clone(),
                _ => {
                    self.error(
                        v.span_or(&kspan),
                        format!(
                            "'{key}.{}' must be a string, found {}",
                            k.name,
                            v.type_name()
                        ),
                        Some("quote the value".into()),
                    );
                    continue;
                }
            };
            if k.name.is_empty() {
                self.error(kspan, format!("empty name in '{key}'"), None);
                continue;
            }
            if key == "environment" && (k.name.contains('=') || k.name.contains('\0')) {
                self.error(
                    kspan,
                    format!("invalid environment variable name '{}'", k.name),
                    Some("names may not contain '=' or NUL".into()),
                );
                continue;
            }
            out.insert(k.name.clone(), value);
        }
        out
    }

    fn name(
        &mut self,
        node: &Node,
        at: &Range<usize>,
        seen: &mut Seen,
    ) -> Option<(String, Range<usize>)> {
        let name = self.string(node, at, "name")?;
        let span = node.span_or(at);
        if !is_valid_image_name(&name) {
            let lower = name.to_ascii_lowercase();
            let help = if is_valid_image_name(&lower) {
                format!("image names are lowercase: try '{lower}'")
            } else {
                "image names use lowercase letters, digits, '.', '_' and '-', starting with a letter or digit".into()
            };
            self.error(span, format!("invalid image name '{name}'"), Some(help));
            return None;
        }
        let (line, column) = line_column(self.text, span.start);
        let here = format!("{}:{line}:{column}", self.file.display());
        if let Some(first) = seen.get(&name) {
            self.error(
                span,
                format!("duplicate image name '{name}'"),
                Some(format!("first declared at {first}")),
            );
            return None;
        }
        seen.insert(name.clone(), here);
        Some((name, span))
    }

    #[allow(clippy::type_complexity)]
    fn source(
        &mut self,
        node: &Node,
        at: &Range<usize>,
    ) -> Option<(String, String, Source, Range<usize>)> {
        let text = self.string(node, at, "source")?;
        let span = node.span_or(at);
        match parse_source(&text, self.base) {
            Ok((kind, resolved)) => Some((text, resolved, kind, span)),
            Err((message, help)) => {
                self.error(span, message, help);
                None
            }
        }
    }

    fn repository(&mut self, repo: &str, span: Range<usize>) -> Option<String> {
        let (tag, location) = match repo.strip_prefix('@') {
            Some(rest) => match rest.split_once(char::is_whitespace) {
                Some((tag, location)) if !tag.is_empty() => (Some(tag), location.trim()),
                _ => {
                    self.error(
                        span,
                        format!("invalid tagged repository '{repo}'"),
                        Some("write \"@tag URL-or-PATH\"".into()),
                    );
                    return None;
                }
            },
            None => (None, repo.trim()),
        };
        if location.is_empty() {
            self.error(span, "empty repository", None);
            return None;
        }
        let resolved = if location.contains("://") {
            location.to_owned()
        } else {
            resolve(self.base, location).display().to_string()
        };
        Some(match tag {
            Some(tag) => format!("@{tag} {resolved}"),
            None => resolved,
        })
    }

    /// `None` inside when the value was wrong (errors already reported).
    fn architectures(&mut self, node: &Node, at: &Range<usize>) -> Option<Vec<String>> {
        let is_array = matches!(node.kind, Kind::Array(_));
        let items = self.strings(node, at, "architectures");
        if is_array && items.is_empty() {
            self.error(
                node.span_or(at),
                "'architectures' is empty",
                Some("remove the key to build every architecture the source has".into()),
            );
        }
        let mut out: Vec<String> = Vec::new();
        for (arch, span) in items {
            if !ARCHITECTURES.contains(&arch.as_str()) {
                let help = suggest_arch(&arch).map_or_else(
                    || format!("known architectures: {}", ARCHITECTURES.join(", ")),
                    |s| format!("did you mean '{s}'?"),
                );
                self.error(span, format!("unknown architecture '{arch}'"), Some(help));
            } else if out.contains(&arch) {
                self.error(span, format!("duplicate architecture '{arch}'"), None);
            } else {
                out.push(arch);
            }
        }
        Some(out)
    }

    fn tags(&mut self, node: &Node, at: &Range<usize>) -> Option<Vec<String>> {
        let is_array = matches!(node.kind, Kind::Array(_));
        let items = self.strings(node, at, "tags");
        if is_array && items.is_empty() {
            self.error(
                node.span_or(at),
                "'tags' is empty",
                Some("remove the key to tag the image 'latest'".into()),
            );
        }
        let mut out: Vec<String> = Vec::new();
        for (tag, span) in items {
            if !is_valid_tag(&tag) {
                self.error(
                    span,
                    format!("invalid tag '{tag}'"),
                    Some(
                        "tags are 1 to 128 of [A-Za-z0-9_.-], not starting with '.' or '-'".into(),
                    ),
                );
            } else if out.contains(&tag) {
                self.error(span, format!("duplicate tag '{tag}'"), None);
            } else {
                out.push(tag);
            }
        }
        Some(out)
    }
}

/// `[a-z0-9][a-z0-9._-]*`.
pub fn is_valid_image_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter().all(|&c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'.' | b'_' | b'-')
        })
}

/// `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
pub fn is_valid_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
}

/// Parses `scratch`, `oci:PATH[:REF]` or `oci-archive:FILE[:REF]`,
/// resolving a relative PATH against `base`; returns the source and its
/// resolved text, or a message and help.
fn parse_source(text: &str, base: &Path) -> Result<(Source, String), (String, Option<String>)> {
    let forms = "expected \"oci:PATH[:REF]\", \"oci-archive:FILE[:REF]\" or \"scratch\"";
    if text == "scratch" {
        return Ok((Source::Scratch, text.to_owned()));
    }
    let (scheme, rest) = if let Some(rest) = text.strip_prefix("oci:") {
        ("oci", rest)
    } else if let Some(rest) = text.strip_prefix("oci-archive:") {
        ("oci-archive", rest)
    } else if text.trim().is_empty() {
        return Err(("'source' is empty".into(), Some(forms.into())));
    } else if text.contains("://")
        || text.starts_with("docker:")
        || text.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/' | b':' | b'@')
        })
    {
        let image = text
            .strip_prefix("docker://")
            .or_else(|| text.strip_prefix("docker:"))
            .unwrap_or(text);
        return Err((
            format!("unsupported source '{text}': registries are not supported yet"),
            Some(format!(
                "copy the image to an OCI layout first, e.g. `skopeo copy docker://{image} oci:./base:latest`, then use source = \"oci:./base:latest\""
            )),
        ));
    } else {
        return Err((format!("unsupported source '{text}'"), Some(forms.into())));
    };
    // The reference follows the last ':' unless that is inside the path.
    let (path, reference) = match rest.rfind(':') {
        Some(i) if i > 0 && !rest[i + 1..].contains('/') => (&rest[..i], Some(&rest[i + 1..])),
        _ => (rest, None),
    };
    if path.is_empty() {
        return Err((
            format!("'{text}' has no path"),
            Some(format!("write \"{scheme}:PATH[:REF]\"")),
        ));
    }
    if reference == Some("") {
        return Err((
            format!("'{text}' has an empty reference after ':'"),
            Some("drop the trailing ':' or name the reference".into()),
        ));
    }
    let resolved = resolve(base, path);
    let resolved_text = format!(
        "{scheme}:{}{}",
        resolved.display(),
        reference.map(|r| format!(":{r}")).unwrap_or_default()
    );
    let reference = reference.map(str::to_owned);
    let source = if scheme == "oci" {
        Source::Oci {
            path: resolved,
            reference,
        }
    } else {
        Source::OciArchive {
            path: resolved,
            reference,
        }
    };
    Ok((source, resolved_text))
}

fn suggest_key<'k>(word: &str, known: &[&'k str]) -> Option<&'k str> {
    const ALIASES: &[(&str, &str)] = &[
        ("env", "environment"),
        ("labels", "annotations"),
        ("repos", "repositories"),
        ("keys", "keyring"),
        ("arch", "architectures"),
        ("archs", "architectures"),
        ("arches", "architectures"),
        ("platforms", "architectures"),
        ("from", "source"),
        ("base", "source"),
    ];
    let lower = word.to_ascii_lowercase();
    if let Some((_, to)) = ALIASES.iter().find(|(from, _)| *from == lower) {
        if let Some(k) = known.iter().find(|k| *k == to) {
            return Some(k);
        }
    }
    closest(&lower, known)
}

fn suggest_arch(word: &str) -> Option<&'static str> {
    const ALIASES: &[(&str, &str)] = &[
        ("amd64", "x86_64"),
        ("x64", "x86_64"),
        ("arm64", "aarch64"),
        ("arm64v8", "aarch64"),
        ("i386", "x86"),
        ("i686", "x86"),
        ("386", "x86"),
        ("arm", "armhf"),
        ("armv6", "armhf"),
        ("arm/v6", "armhf"),
        ("arm/v7", "armv7"),
        ("ppc64el", "ppc64le"),
        ("riscv", "riscv64"),
        ("loong64", "loongarch64"),
    ];
    let lower = word.to_ascii_lowercase();
    ALIASES
        .iter()
        .find(|(from, _)| *from == lower)
        .map(|(_, to)| *to)
        .or_else(|| closest(&lower, ARCHITECTURES))
}

/// The candidate within a third of its length in edit distance, if any.
fn closest<'k>(word: &str, candidates: &[&'k str]) -> Option<&'k str> {
    candidates
        .iter()
        .map(|c| (levenshtein(word, c), *c))
        .filter(|(d, c)| *d <= (c.len().max(word.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Edit distance counting a swap of two neighbours as one edit (optimal
/// string alignment), so `imgae` is one away from `image`.
fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"
[image]
name = "python-custom"
source = "oci:./base:3.12"
packages = ["curl", "py3-requests>=2.31"]
repositories = ["./repo", "https://apk.example.org/acme"]
keyring = ["keys/acme.rsa.pub"]
architectures = ["x86_64", "aarch64"]
tags = ["latest", "3.12"]
[image.annotations]
"org.opencontainers.image.title" = "Python, customized"
[image.environment]
PYTHONUNBUFFERED = "1"
"#;

    fn errors(text: &str) -> ConfigErrors {
        parse_str(text, Path::new("assembly.toml")).unwrap_err()
    }

    #[test]
    fn full_example() {
        let images = parse_str(FULL, Path::new("/proj/assembly.toml")).unwrap();
        assert_eq!(images.len(), 1);
        let img = &images[0];
        assert_eq!(img.file, Path::new("/proj/assembly.toml"));
        assert_eq!(img.name, "python-custom");
        assert_eq!(img.source, "oci:./base:3.12");
        assert_eq!(img.source_resolved, "oci:/proj/base:3.12");
        assert_eq!(
            img.source_kind,
            Source::Oci {
                path: "/proj/base".into(),
                reference: Some("3.12".into())
            }
        );
        assert_eq!(img.packages, ["curl", "py3-requests>=2.31"]);
        assert_eq!(
            &FULL[img.package_spans[1].clone()],
            "\"py3-requests>=2.31\""
        );
        assert_eq!(&FULL[img.name_span.clone()], "\"python-custom\"");
        assert_eq!(
            img.repositories,
            ["/proj/repo", "https://apk.example.org/acme"]
        );
        assert_eq!(
            img.repositories_written,
            ["./repo", "https://apk.example.org/acme"]
        );
        assert_eq!(img.keyring, [PathBuf::from("/proj/keys/acme.rsa.pub")]);
        assert_eq!(img.keyring_written, ["keys/acme.rsa.pub"]);
        assert_eq!(
            img.architectures.as_deref(),
            Some(&["x86_64".to_owned(), "aarch64".to_owned()][..])
        );
        assert_eq!(img.tags, ["latest", "3.12"]);
        assert_eq!(
            img.annotations["org.opencontainers.image.title"],
            "Python, customized"
        );
        assert_eq!(img.environment["PYTHONUNBUFFERED"], "1");
    }

    #[test]
    fn defaults() {
        let images = parse_str(
            "[image]\nname = \"a\"\nsource = \"scratch\"\n",
            Path::new("assembly.toml"),
        )
        .unwrap();
        let img = &images[0];
        assert_eq!(img.source_kind, Source::Scratch);
        assert_eq!(img.tags, ["latest"]);
        assert_eq!(img.architectures, None);
        assert!(img.packages.is_empty() && img.repositories.is_empty());
    }

    #[test]
    fn array_of_images() {
        let text = r#"
[[image]]
name = "one"
source = "oci-archive:base.tar"
packages = ["busybox"]

[[image]]
name = "two"
source = "oci:/abs/layout"
image.environment = { A = "b" }
"#;
        let text = text.replace("image.environment", "environment");
        let images = parse_str(&text, Path::new("dir/assembly.toml")).unwrap();
        assert_eq!(images.len(), 2);
        assert_eq!(images[0].name, "one");
        assert_eq!(
            images[0].source_kind,
            Source::OciArchive {
                path: "dir/base.tar".into(),
                reference: None
            }
        );
        assert_eq!(images[1].name, "two");
        assert_eq!(images[1].source_resolved, "oci:/abs/layout");
        assert_eq!(images[1].environment["A"], "b");
    }

    #[test]
    fn every_error_is_reported() {
        let text = r#"[[image]]
name = "demo"
source = "oci:./base"
pakages = ["curl"]
packages = "curl"

[[image]]
name = "Other"
source = "docker://alpine:3.20"
packages = ["ok", "foo==", 3]
architectures = ["x86_64", "arm64", "sparc"]
tags = ["-bad"]
annotations = { a = 1 }

[[image]]
name = "demo"
"#;
        let errs = errors(text);
        insta::assert_snapshot!(errs.to_string(), @r#"
        assembly.toml:4:1: unknown key 'pakages' in an image (did you mean 'packages'?)
        assembly.toml:5:12: 'packages' must be an array of strings, found a string (write packages = ["curl"])
        assembly.toml:8:8: invalid image name 'Other' (image names are lowercase: try 'other')
        assembly.toml:9:10: unsupported source 'docker://alpine:3.20': registries are not supported yet (copy the image to an OCI layout first, e.g. `skopeo copy docker://alpine:3.20 oci:./base:latest`, then use source = "oci:./base:latest")
        assembly.toml:10:19: 'foo==' is not a valid dependency: an operator must be followed by a version
        assembly.toml:10:28: 'packages' entries must be strings, found an integer
        assembly.toml:11:28: unknown architecture 'arm64' (did you mean 'aarch64'?)
        assembly.toml:11:37: unknown architecture 'sparc' (known architectures: x86_64, aarch64, armv7, armhf, x86, ppc64le, s390x, riscv64, loongarch64)
        assembly.toml:12:9: invalid tag '-bad' (tags are 1 to 128 of [A-Za-z0-9_.-], not starting with '.' or '-')
        assembly.toml:13:21: 'annotations.a' must be a string, found an integer (quote the value)
        assembly.toml:15:1: missing required key 'source' (e.g. source = "oci:./base:latest", "oci-archive:base.tar" or "scratch")
        assembly.toml:16:8: duplicate image name 'demo' (first declared at assembly.toml:2:8)
        "#);
        assert_eq!(errs.len(), 12);
        let first = &errs.errors[0];
        assert_eq!(&text[first.span.clone()], "pakages");
    }

    #[test]
    fn syntax_and_top_level_errors() {
        let errs = errors("[image]\nname = \"a\nsource = 1\n");
        assert_eq!(errs.errors.len(), 1);
        assert_eq!(errs.errors[0].line, 2);

        let errs = errors("imgae = 1\n[image]\nname = \"a\"\nsource = \"scratch\"\ntags = []\n");
        insta::assert_snapshot!(errs.to_string(), @r"
        assembly.toml:1:1: unknown key 'imgae' at the top level (did you mean 'image'?)
        assembly.toml:5:8: 'tags' is empty (remove the key to tag the image 'latest')
        ");

        let errs = errors("image = \"x\"\n");
        assert_eq!(
            errs.to_string(),
            "assembly.toml:1:9: 'image' must be a table ([image]) or an array of tables ([[image]]), found a string"
        );
    }

    #[test]
    fn diagnostic_labels_point_into_the_file() {
        let errs = errors("[image]\nname = \"a\"\nsource = \"scratch\"\npakages = []\n");
        let labels: Vec<_> = errs.labels().unwrap().collect();
        assert_eq!(labels.len(), 1);
        assert_eq!(labels[0].offset(), 38);
        assert_eq!(labels[0].len(), "pakages".len());
        assert!(errs.source_code().is_some());
        let mut out = String::new();
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
            .render_report(&mut out, &errs)
            .unwrap();
        assert!(out.contains("pakages = []"), "{out}");
        assert!(out.contains("did you mean 'packages'?"), "{out}");
        assert!(out.contains("[assembly.toml:4:1]"), "{out}");
    }

    #[test]
    fn relative_paths_resolve_against_the_declaring_directory() {
        let text = r#"[image]
name = "x"
source = "oci:../layouts/base"
repositories = ["repo", "@acme ./acme-repo", "/abs/repo", "https://h/r"]
keyring = ["./keys/a.rsa.pub", "/etc/k.pub"]
"#;
        let img = &parse_str(text, Path::new("/w/proj/assembly.toml")).unwrap()[0];
        assert_eq!(img.source_resolved, "oci:/w/layouts/base");
        assert_eq!(
            img.repositories,
            [
                "/w/proj/repo",
                "@acme /w/proj/acme-repo",
                "/abs/repo",
                "https://h/r"
            ]
        );
        assert_eq!(
            img.keyring,
            [
                PathBuf::from("/w/proj/keys/a.rsa.pub"),
                PathBuf::from("/etc/k.pub")
            ]
        );

        // load() resolves against the absolute directory of the file.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("assembly.toml");
        std::fs::write(&file, text).unwrap();
        let img = &load(&file).unwrap()[0];
        assert_eq!(img.keyring[0], clean(&dir.path().join("keys/a.rsa.pub")));
        assert_eq!(discover(dir.path()), Some(file));
    }

    #[test]
    fn cargo_workspace_route() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let write = |path: &str, text: &str| {
            let path = root.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write(
            "Cargo.toml",
            "[workspace]\nmembers = [\"app\", \"other\"]\nresolver = \"2\"\n",
        );
        write(
            "app/Cargo.toml",
            r#"[package]
name = "app"
version = "0.1.0"
edition = "2021"

[package.metadata.image]
name = "app"
source = "oci:./base"
keyring = ["keys/app.rsa.pub"]
packages = ["musl"]
"#,
        );
        write("app/src/lib.rs", "");
        write(
            "other/Cargo.toml",
            "[package]\nname = \"other\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
        );
        write("other/src/lib.rs", "");

        let root = std::fs::canonicalize(root).unwrap();
        for manifest in ["Cargo.toml", "other/Cargo.toml", "app/Cargo.toml"] {
            let images = load(&root.join(manifest)).unwrap();
            assert_eq!(images.len(), 1, "{manifest}");
            let img = &images[0];
            assert_eq!(img.name, "app");
            assert_eq!(img.file, root.join("app/Cargo.toml"));
            assert_eq!(img.keyring, [root.join("app/keys/app.rsa.pub")]);
            assert_eq!(
                img.source_resolved,
                format!("oci:{}", root.join("app/base").display())
            );
        }
        assert_eq!(
            discover(&root.join("app")),
            Some(root.join("app/Cargo.toml"))
        );
        assert_eq!(discover(&root.join("other")), None);

        // Errors point into the member's manifest.
        write(
            "app/Cargo.toml",
            "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
             [package.metadata.image]\nname = \"app\"\nsource = \"oci:./base\"\narchitectures = [\"amd64\"]\n",
        );
        let errs = load(&root.join("Cargo.toml")).unwrap_err();
        assert_eq!(errs.file, root.join("app/Cargo.toml"));
        assert_eq!(errs.errors.len(), 1);
        assert_eq!((errs.errors[0].line, errs.errors[0].column), (9, 18));
        assert_eq!(
            errs.errors[0].help.as_deref(),
            Some("did you mean 'x86_64'?")
        );
    }

    #[test]
    fn suggestions() {
        assert_eq!(levenshtein("imgae", "image"), 1);
        assert_eq!(levenshtein("pakages", "packages"), 1);
        assert_eq!(suggest_key("env", IMAGE_KEYS), Some("environment"));
        assert_eq!(
            suggest_key("architecture", IMAGE_KEYS),
            Some("architectures")
        );
        assert_eq!(suggest_key("zzz", IMAGE_KEYS), None);
        assert_eq!(suggest_arch("x86-64"), Some("x86_64"));
    }

    #[test]
    fn line_columns_count_characters() {
        assert_eq!(line_column("ab\nçd", 5), (2, 2));
        assert_eq!(line_column("", 0), (1, 1));
    }
}
