//! `cargo assemble import` and `export`: apko configurations and Custom
//! Assembly overlay YAML, to and from `assembly.toml`.
//!
//! [`read`] turns a YAML file into a [`Neutral`] declaration plus the list
//! of every field it cannot express ([`Unexpressed`]: never silently
//! dropped); [`render_toml`] writes the equivalent `assembly.toml` with
//! `toml_edit` (readable: one key per line, long lists one entry per line,
//! what was left out in a comment at the top). [`chainguard::export`] is
//! the reverse, a declaration as overlay YAML for the anchor service.
//!
//! YAML is read with `serde_norway`, the maintained continuation of
//! `serde_yaml` (same API and YAML 1.2 behaviour as apko's go-yaml v3 for
//! these files: `yes` stays a string, merge keys `<<` are applied), which
//! also writes the export with block literals for PEM text, and bounds
//! alias expansion (a "billion laughs" file is an error, not an
//! allocation storm). `saphyr`/`yaml-rust2` would give line numbers but no
//! serde; a field path (`accounts.users[1].uid`) names the place well
//! enough in files this size.

pub mod apko;
pub mod chainguard;

use std::collections::BTreeMap;
use std::fmt;

use serde_norway::{Mapping, Value};
use toml_edit::{Array, ArrayOfTables, DocumentMut, Item, Table};

use crate::accounts::{Accounts, Group, User};
use crate::certs::{CertificateEntry, EntrySource};

/// Largest YAML file read.
pub const MAX_YAML_BYTES: usize = 4 * 1024 * 1024;

/// Which kind of YAML file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// An apko image configuration (builds from scratch or `baseimage`).
    Apko,
    /// A Custom Assembly overlay (customizes an existing image).
    Overlay,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Apko => "apko configuration",
            Format::Overlay => "Custom Assembly overlay",
        })
    }
}

/// A `runtime_keyring` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyEntry {
    /// A key file (its name is the file name).
    Path(String),
    /// `{ name, content }`.
    Inline {
        /// File name under `etc/apk/keys`.
        name: String,
        /// PEM text.
        content: String,
    },
}

/// A declaration in neither format: what both `assembly.toml` and the
/// YAML formats can say.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Neutral {
    /// Base image (`scratch`, `oci:PATH`); `None` when the file does not
    /// say (an overlay: the image it is attached to).
    pub source: Option<String>,
    /// Atoms to add.
    pub packages: Vec<String>,
    /// Build-time repositories.
    pub repositories: Vec<String>,
    /// Build-time keys (paths).
    pub keyring: Vec<String>,
    /// Repositories written into the image.
    pub runtime_repositories: Vec<String>,
    /// Keys written into the image.
    pub runtime_keyring: Vec<KeyEntry>,
    /// APK architecture names.
    pub architectures: Vec<String>,
    /// Config environment.
    pub environment: BTreeMap<String, String>,
    /// Manifest annotations.
    pub annotations: BTreeMap<String, String>,
    /// Users, groups, run_as.
    pub accounts: Accounts,
    /// Extra CA certificates.
    pub certificates: Vec<CertificateEntry>,
    /// Config `Entrypoint`.
    pub entrypoint: Option<Vec<String>>,
    /// Config `Cmd`.
    pub cmd: Option<Vec<String>>,
    /// Config `WorkingDir`.
    pub workdir: Option<String>,
}

/// A field the target format cannot express.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unexpressed {
    /// Where, as a field path (`paths[0]`, `entrypoint.services`).
    pub path: String,
    /// Why it is left out, and what to do instead.
    pub reason: String,
}

impl fmt::Display for Unexpressed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.reason)
    }
}

/// A file that cannot be imported.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// Not YAML, or too large.
    #[error("not a readable YAML file: {0}")]
    Yaml(String),
    /// Fields of the wrong type; every one of them.
    #[error("{}", .0.iter().map(|p| format!("{}: {}", p.path, p.reason)).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Unexpressed>),
    /// An overlay needs the image it customizes.
    #[error("a Custom Assembly overlay customizes an existing image: give the source image (e.g. --source oci:./base or a registry reference)")]
    SourceRequired,
}

/// What [`read`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Imported {
    /// The format read.
    pub format: Format,
    /// The declaration.
    pub neutral: Neutral,
    /// Every field left out, in file order.
    pub unexpressed: Vec<Unexpressed>,
}

/// Reads `text` as `format`, or guesses it: an apko configuration when it
/// has anything only apko has (build repositories or keys, a base image,
/// entrypoint, cmd, work-dir, archs, paths…), else an overlay.
pub fn read(text: &str, format: Option<Format>) -> Result<Imported, ImportError> {
    if text.len() > MAX_YAML_BYTES {
        return Err(ImportError::Yaml(format!(
            "{} bytes, more than the {} MiB allowed",
            text.len(),
            MAX_YAML_BYTES >> 20
        )));
    }
    let mut value: Value =
        serde_norway::from_str(text).map_err(|e| ImportError::Yaml(e.to_string()))?;
    value
        .apply_merge()
        .map_err(|e| ImportError::Yaml(e.to_string()))?;
    let empty = Mapping::new();
    let top = match &value {
        Value::Mapping(m) => m,
        Value::Null => &empty,
        _ => return Err(ImportError::Yaml("the top level is not a mapping".into())),
    };
    let format = format.unwrap_or_else(|| detect(top));
    let mut r = Reader::default();
    let neutral = match format {
        Format::Apko => apko::read(top, &mut r),
        Format::Overlay => chainguard::read(top, &mut r),
    };
    if !r.errors.is_empty() {
        return Err(ImportError::Invalid(r.errors));
    }
    Ok(Imported {
        format,
        neutral,
        unexpressed: r.unexpressed,
    })
}

fn detect(top: &Mapping) -> Format {
    const APKO_ONLY: &[&str] = &[
        "entrypoint",
        "cmd",
        "work-dir",
        "stop-signal",
        "archs",
        "paths",
        "include",
        "vcs-url",
        "volumes",
        "layering",
    ];
    const APKO_CONTENTS: &[&str] = &["repositories", "build_repositories", "keyring", "baseimage"];
    let has = |m: &Mapping, keys: &[&str]| keys.iter().any(|k| m.contains_key(*k));
    let contents_apko = top
        .get("contents")
        .and_then(Value::as_mapping)
        .is_some_and(|c| has(c, APKO_CONTENTS));
    if has(top, APKO_ONLY) || contents_apko {
        Format::Apko
    } else {
        Format::Overlay
    }
}

/// Collects unexpressed fields and type errors while walking the YAML.
#[derive(Default)]
pub(crate) struct Reader {
    pub(crate) unexpressed: Vec<Unexpressed>,
    pub(crate) errors: Vec<Unexpressed>,
}

impl Reader {
    pub(crate) fn left_out(&mut self, path: impl Into<String>, reason: impl Into<String>) {
        self.unexpressed.push(Unexpressed {
            path: path.into(),
            reason: reason.into(),
        });
    }

    fn invalid(&mut self, path: &str, reason: impl Into<String>) {
        self.errors.push(Unexpressed {
            path: path.to_owned(),
            reason: reason.into(),
        });
    }

    /// The entries of a mapping as (key, value), non-string keys reported.
    pub(crate) fn entries<'a>(&mut self, v: &'a Value, path: &str) -> Vec<(String, &'a Value)> {
        match v {
            Value::Null => Vec::new(),
            Value::Mapping(m) => m
                .iter()
                .filter_map(|(k, v)| self.scalar(k, path).map(|k| (k, v)))
                .collect(),
            _ => {
                self.invalid(path, "expected a mapping");
                Vec::new()
            }
        }
    }

    /// A scalar as text (numbers and booleans as written by YAML).
    pub(crate) fn scalar(&mut self, v: &Value, path: &str) -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => {
                self.invalid(path, "expected a string");
                None
            }
        }
    }

    pub(crate) fn string_list(&mut self, v: &Value, path: &str) -> Vec<String> {
        match v {
            Value::Null => Vec::new(),
            Value::Sequence(items) => items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| self.scalar(item, &format!("{path}[{i}]")))
                .collect(),
            _ => {
                self.invalid(path, "expected a list");
                Vec::new()
            }
        }
    }

    pub(crate) fn string_map(&mut self, v: &Value, path: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for (k, val) in self.entries(v, path) {
            if let Some(s) = self.scalar(val, &format!("{path}.{k}")) {
                out.insert(k, s);
            }
        }
        out
    }

    fn id(&mut self, v: &Value, path: &str) -> Option<u32> {
        match v.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(n) => Some(n),
            None => {
                self.invalid(path, "expected a number from 0 to 4294967295");
                None
            }
        }
    }

    /// A list of mappings: each one's path and entries.
    fn each_mapping<'a>(
        &mut self,
        v: &'a Value,
        path: &str,
    ) -> Vec<(String, Vec<(String, &'a Value)>)> {
        match v {
            Value::Null => Vec::new(),
            Value::Sequence(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let p = format!("{path}[{i}]");
                    let e = self.entries(item, &p);
                    (p, e)
                })
                .collect(),
            _ => {
                self.invalid(path, "expected a list");
                Vec::new()
            }
        }
    }

    /// `accounts` (same in both formats).
    pub(crate) fn accounts(&mut self, v: &Value, path: &str) -> Accounts {
        let mut out = Accounts::default();
        for (key, val) in self.entries(v, path) {
            let p = format!("{path}.{key}");
            match key.as_str() {
                "run-as" => out.run_as = self.scalar(val, &p).filter(|s| !s.is_empty()),
                "users" => {
                    for (up, fields) in self.each_mapping(val, &p) {
                        let mut u = User {
                            username: String::new(),
                            uid: 0,
                            gid: None,
                            home: None,
                            shell: None,
                        };
                        let mut has_uid = false;
                        for (k, fv) in fields {
                            let fp = format!("{up}.{k}");
                            match k.as_str() {
                                "username" => u.username = self.scalar(fv, &fp).unwrap_or_default(),
                                "uid" => {
                                    has_uid = true;
                                    u.uid = self.id(fv, &fp).unwrap_or_default();
                                }
                                // apko treats gid 0 as "unset" (then gid = uid).
                                "gid" => u.gid = self.id(fv, &fp).filter(|g| *g != 0),
                                "homedir" => u.home = self.scalar(fv, &fp),
                                "shell" => u.shell = self.scalar(fv, &fp),
                                _ => self.left_out(fp, "unknown user field"),
                            }
                        }
                        if u.username.is_empty() || !has_uid {
                            self.invalid(&up, "a user needs `username` and `uid`");
                        }
                        out.users.push(u);
                    }
                }
                "groups" => {
                    for (gp, fields) in self.each_mapping(val, &p) {
                        let mut g = Group {
                            groupname: String::new(),
                            gid: 0,
                            members: Vec::new(),
                        };
                        let mut has_gid = false;
                        for (k, fv) in fields {
                            let fp = format!("{gp}.{k}");
                            match k.as_str() {
                                "groupname" => {
                                    g.groupname = self.scalar(fv, &fp).unwrap_or_default()
                                }
                                "gid" => {
                                    has_gid = true;
                                    g.gid = self.id(fv, &fp).unwrap_or_default();
                                }
                                "members" => g.members = self.string_list(fv, &fp),
                                _ => self.left_out(fp, "unknown group field"),
                            }
                        }
                        if g.groupname.is_empty() || !has_gid {
                            self.invalid(&gp, "a group needs `groupname` and `gid`");
                        }
                        out.groups.push(g);
                    }
                }
                _ => self.left_out(p, "unknown accounts field"),
            }
        }
        out
    }

    /// `certificates` (same in both formats).
    pub(crate) fn certificates(&mut self, v: &Value, path: &str) -> Vec<CertificateEntry> {
        let mut out = Vec::new();
        for (key, val) in self.entries(v, path) {
            let p = format!("{path}.{key}");
            match key.as_str() {
                "additional" => {
                    for (cp, fields) in self.each_mapping(val, &p) {
                        let (name, content) = self.name_content(fields, &cp, "certificate");
                        out.push(CertificateEntry {
                            name,
                            source: EntrySource::Content(content),
                        });
                    }
                }
                "providers" => self.left_out(
                    p,
                    "packages providing CA certificates are not collected into the bundle; \
                     add their certificates as [[image.certificates]] entries",
                ),
                _ => self.left_out(p, "unknown certificates field"),
            }
        }
        out
    }

    /// `contents.runtime_keyring`: `{name, content}` or a path.
    pub(crate) fn runtime_keyring(&mut self, v: &Value, path: &str) -> Vec<KeyEntry> {
        let Value::Sequence(items) = v else {
            if !v.is_null() {
                self.invalid(path, "expected a list");
            }
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let p = format!("{path}[{i}]");
            if item.is_mapping() {
                let fields = self.entries(item, &p);
                let (name, content) = self.name_content(fields, &p, "key");
                out.push(KeyEntry::Inline { name, content });
            } else if let Some(s) = self.scalar(item, &p) {
                out.push(KeyEntry::Path(s));
            }
        }
        out
    }

    fn name_content(
        &mut self,
        fields: Vec<(String, &Value)>,
        path: &str,
        what: &str,
    ) -> (String, String) {
        let (mut name, mut content) = (None, None);
        for (k, fv) in fields {
            let fp = format!("{path}.{k}");
            match k.as_str() {
                "name" => name = self.scalar(fv, &fp),
                "content" => content = self.scalar(fv, &fp),
                _ => self.left_out(fp, format!("unknown {what} field")),
            }
        }
        if name.is_none() || content.is_none() {
            self.invalid(path, format!("a {what} needs `name` and `content`"));
        }
        (name.unwrap_or_default(), content.unwrap_or_default())
    }
}

/// Splits a command line as a POSIX shell would (quotes and backslashes;
/// no expansion), as apko splits `entrypoint.command` and `cmd`.
pub fn shell_split(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("unterminated single quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some('\n') => {}
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err("unterminated double quote".into()),
                        },
                        Some(c) => word.push(c),
                        None => return Err("unterminated double quote".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some('\n') => {}
                    Some(c) => word.push(c),
                    None => return Err("trailing backslash".into()),
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// What [`render_toml`] needs besides the declaration.
#[derive(Clone, Debug, Default)]
pub struct RenderOptions<'a> {
    /// The image name (`[a-z0-9][a-z0-9._-]*`).
    pub name: &'a str,
    /// The base image, overriding (or, for an overlay, supplying) the
    /// file's.
    pub source: Option<&'a str>,
    /// The YAML file's name, for the header comment.
    pub from: &'a str,
}

/// The `assembly.toml` text for `imported`.
pub fn render_toml(imported: &Imported, opts: &RenderOptions<'_>) -> Result<String, ImportError> {
    let n = &imported.neutral;
    let source = opts
        .source
        .map(str::to_owned)
        .or_else(|| n.source.clone())
        .ok_or(ImportError::SourceRequired)?;
    let mut doc = DocumentMut::new();
    let mut image = Table::new();
    let mut header = format!(
        "# Imported from {} ({}) by `cargo assemble import`.\n",
        comment_text(opts.from),
        imported.format
    );
    if imported.unexpressed.is_empty() {
        header.push_str("# Every field was expressed.\n");
    } else {
        header.push_str("# Left out (not expressible in assembly.toml):\n");
        for u in &imported.unexpressed {
            header.push_str(&format!("#   {}\n", comment_text(&u.to_string())));
        }
    }
    image.decor_mut().set_prefix(header);
    image.insert("name", toml_edit::value(opts.name));
    image.insert("source", toml_edit::value(source));
    insert_list(&mut image, "packages", &n.packages);
    insert_list(&mut image, "repositories", &n.repositories);
    insert_list(&mut image, "keyring", &n.keyring);
    insert_list(&mut image, "architectures", &n.architectures);
    insert_list(&mut image, "runtime_repositories", &n.runtime_repositories);
    // All inline: `[[image.runtime_keyring]]` tables; with paths: one array.
    if n.runtime_keyring
        .iter()
        .all(|k| matches!(k, KeyEntry::Inline { .. }))
    {
        insert_tables(&mut image, "runtime_keyring", &n.runtime_keyring, |k, t| {
            if let KeyEntry::Inline { name, content } = k {
                t.insert("name", toml_edit::value(name.as_str()));
                t.insert("content", Item::Value(multiline(content)));
            }
        });
    } else {
        let mut arr = Array::new();
        for k in &n.runtime_keyring {
            match k {
                KeyEntry::Path(p) => arr.push(p.as_str()),
                KeyEntry::Inline { name, content } => {
                    let mut t = toml_edit::InlineTable::new();
                    t.insert("name", name.as_str().into());
                    t.insert("content", multiline(content));
                    arr.push(t);
                }
            }
        }
        one_per_line(&mut arr);
        image.insert("runtime_keyring", Item::Value(arr.into()));
    }
    if let Some(e) = &n.entrypoint {
        insert_array(&mut image, "entrypoint", e, false);
    }
    if let Some(c) = &n.cmd {
        insert_array(&mut image, "cmd", c, false);
    }
    if let Some(w) = &n.workdir {
        image.insert("workdir", toml_edit::value(w.as_str()));
    }
    for (key, map) in [
        ("environment", &n.environment),
        ("annotations", &n.annotations),
    ] {
        if !map.is_empty() {
            let mut t = Table::new();
            for (k, v) in map {
                t.insert(k, toml_edit::value(v.as_str()));
            }
            image.insert(key, Item::Table(t));
        }
    }
    let a = &n.accounts;
    if !a.is_empty() {
        let mut accounts = Table::new();
        if let Some(r) = &a.run_as {
            accounts.insert("run_as", toml_edit::value(r.as_str()));
        }
        insert_tables(&mut accounts, "users", &a.users, |u, t| {
            t.insert("username", toml_edit::value(u.username.as_str()));
            t.insert("uid", toml_edit::value(i64::from(u.uid)));
            if let Some(g) = u.gid {
                t.insert("gid", toml_edit::value(i64::from(g)));
            }
            if let Some(h) = &u.home {
                t.insert("home", toml_edit::value(h.as_str()));
            }
            if let Some(s) = &u.shell {
                t.insert("shell", toml_edit::value(s.as_str()));
            }
        });
        insert_tables(&mut accounts, "groups", &a.groups, |g, t| {
            t.insert("groupname", toml_edit::value(g.groupname.as_str()));
            t.insert("gid", toml_edit::value(i64::from(g.gid)));
            let members: Array = g.members.iter().map(String::as_str).collect();
            t.insert("members", Item::Value(members.into()));
        });
        image.insert("accounts", Item::Table(accounts));
    }
    insert_tables(&mut image, "certificates", &n.certificates, |c, t| {
        t.insert("name", toml_edit::value(c.name.as_str()));
        match &c.source {
            EntrySource::Content(pem) => t.insert("content", Item::Value(multiline(pem))),
            EntrySource::Path(p) => t.insert("path", toml_edit::value(p.display().to_string())),
        };
    });
    doc.insert("image", Item::Table(image));
    Ok(doc.to_string())
}

/// Text safe inside a `#` comment line.
fn comment_text(s: &str) -> String {
    assemble_io::escape::escape(s).replace(['\n', '\r'], " ")
}

/// `[[key]]` tables, one per item, filled by `fill` (nothing when empty).
fn insert_tables<T>(t: &mut Table, key: &str, items: &[T], fill: impl Fn(&T, &mut Table)) {
    if items.is_empty() {
        return;
    }
    let mut tables = ArrayOfTables::new();
    for item in items {
        let mut table = Table::new();
        fill(item, &mut table);
        tables.push(table);
    }
    t.insert(key, Item::ArrayOfTables(tables));
}

/// A list of declarations: one per line when there are more than three.
fn insert_list(t: &mut Table, key: &str, items: &[String]) {
    if !items.is_empty() {
        insert_array(t, key, items, items.len() > 3);
    }
}

/// An array; one entry per line when `vertical` or it would be long.
fn insert_array(t: &mut Table, key: &str, items: &[String], vertical: bool) {
    let mut arr: Array = items.iter().map(String::as_str).collect();
    if vertical || items.iter().map(|i| i.len() + 4).sum::<usize>() > 72 {
        one_per_line(&mut arr);
    }
    t.insert(key, Item::Value(arr.into()));
}

fn one_per_line(arr: &mut Array) {
    for v in arr.iter_mut() {
        v.decor_mut().set_prefix("\n    ");
    }
    arr.set_trailing("\n");
    arr.set_trailing_comma(true);
}

/// A TOML multi-line literal string when the text allows it.
fn multiline(text: &str) -> toml_edit::Value {
    if text.contains('\n')
        && !text.contains("'''")
        && !text
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        if let Ok(v) = format!("'''\n{text}'''").parse::<toml_edit::Value>() {
            return v;
        }
    }
    text.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words() {
        for (text, words) in [
            ("/usr/bin/app --flag", vec!["/usr/bin/app", "--flag"]),
            ("  a   b  ", vec!["a", "b"]),
            (
                r#"gunicorn --bind "0.0.0.0:8080" 'app:create()'"#,
                vec!["gunicorn", "--bind", "0.0.0.0:8080", "app:create()"],
            ),
            (r#"echo "a \"b\" \$c \x""#, vec!["echo", r#"a "b" $c \x"#]),
            (r"a\ b c", vec!["a b", "c"]),
            ("''", vec![""]),
            ("", vec![]),
        ] {
            assert_eq!(shell_split(text).unwrap(), words, "{text}");
        }
        for bad in ["'open", "\"open", "x\\"] {
            assert!(shell_split(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn detection_and_bad_input() {
        assert_eq!(
            read("contents:\n  packages: [curl]\n", None)
                .unwrap()
                .format,
            Format::Overlay
        );
        assert_eq!(
            read("contents:\n  keyring: [k.pub]\n", None)
                .unwrap()
                .format,
            Format::Apko
        );
        assert_eq!(
            read("archs: [x86_64]\n", None).unwrap().format,
            Format::Apko
        );
        assert_eq!(read("", None).unwrap().neutral, Neutral::default());
        assert!(matches!(
            read("- a\n- b\n", None),
            Err(ImportError::Yaml(_))
        ));
        assert!(matches!(
            read("a: [unclosed\n", None),
            Err(ImportError::Yaml(_))
        ));
        assert!(
            matches!(read("a: 1\na: 2\n", None), Err(ImportError::Yaml(_))),
            "duplicate keys"
        );
        let huge = "#".repeat(MAX_YAML_BYTES + 1);
        assert!(matches!(read(&huge, None), Err(ImportError::Yaml(m)) if m.contains("MiB")));
        // A billion laughs is refused, not expanded.
        let mut bomb = String::from(
            "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
        );
        for i in 1..10 {
            let prev = (b'a' + i - 1) as char;
            let cur = (b'a' + i) as char;
            bomb.push_str(&format!("{cur}: &{cur} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"));
        }
        assert!(matches!(read(&bomb, None), Err(ImportError::Yaml(_))));
        // Merge keys are applied.
        let merged = read(
            "base: &b\n  FOO: \"1\"\nenvironment:\n  <<: *b\n  BAR: \"2\"\n",
            Some(Format::Overlay),
        )
        .unwrap();
        assert_eq!(merged.neutral.environment.len(), 2);
    }

    #[test]
    fn type_errors_all_at_once() {
        let e = read(
            "contents:\n  packages: curl\naccounts:\n  users:\n    - username: a\n      uid: -1\n    - uid: 5\nenvironment: [a]\n",
            Some(Format::Overlay),
        )
        .unwrap_err();
        let ImportError::Invalid(problems) = e else {
            panic!("{e:?}")
        };
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "contents.packages",
                "accounts.users[0].uid",
                "accounts.users[1]",
                "environment"
            ],
            "{problems:?}"
        );
    }

    const APKO: &str = include_str!("testdata/billing.apko.yaml");
    const OVERLAY: &str = include_str!("testdata/team.overlay.yaml");

    #[test]
    fn apko_configuration() {
        let imported = read(APKO, None).unwrap();
        assert_eq!(imported.format, Format::Apko);
        let n = &imported.neutral;
        assert_eq!(n.source.as_deref(), Some("scratch"));
        assert_eq!(n.packages.len(), 5);
        assert_eq!(n.packages[4], "acme-billing-api@acme>=2.4");
        assert_eq!(
            n.repositories,
            ["https://packages.wolfi.dev/os", "@acme ./packages"]
        );
        assert_eq!(n.runtime_repositories, ["https://packages.wolfi.dev/os"]);
        assert_eq!(n.keyring, ["./keys/acme-packages.rsa.pub"]);
        assert_eq!(n.architectures, ["x86_64", "aarch64"]);
        assert_eq!(
            n.entrypoint.as_deref().unwrap(),
            [
                "/usr/bin/gunicorn",
                "--bind",
                "0.0.0.0:8080",
                "billing.app:create()"
            ]
        );
        assert_eq!(
            n.cmd.as_deref().unwrap(),
            ["--workers", "4", "--access-logfile", "-"]
        );
        assert_eq!(n.workdir.as_deref(), Some("/srv/billing"));
        assert_eq!(n.environment["GUNICORN_TIMEOUT"], "30");
        assert_eq!(n.accounts.run_as.as_deref(), Some("billing"));
        assert_eq!(n.accounts.users[0].home.as_deref(), Some("/srv/billing"));
        assert_eq!(n.accounts.users[1].gid, None);
        assert_eq!(n.accounts.groups[0].members, ["billing"]);
        assert_eq!(n.certificates[0].name, "example-corp-root");
        let paths: Vec<&str> = imported
            .unexpressed
            .iter()
            .map(|u| u.path.as_str())
            .collect();
        assert_eq!(
            paths,
            [
                "contents.keyring[0]",
                "contents.repositories[1]",
                "stop-signal",
                "paths",
                "vcs-url"
            ]
        );
        // The certificate imported is a CA we accept.
        let EntrySource::Content(pem) = &n.certificates[0].source else {
            panic!()
        };
        crate::certs::check("example-corp-root", pem.as_bytes(), 1_900_000_000).unwrap();

        let text = render_toml(
            &imported,
            &RenderOptions {
                name: "billing-api",
                source: None,
                from: "billing.apko.yaml",
            },
        )
        .unwrap();
        insta::assert_snapshot!("apko_assembly_toml", text);
        // The text is TOML and says the same thing.
        let v: toml::Value = toml::from_str(&text).unwrap();
        let image = &v["image"];
        assert_eq!(image["source"].as_str(), Some("scratch"));
        assert_eq!(image["packages"].as_array().unwrap().len(), 5);
        assert_eq!(
            image["entrypoint"][3].as_str(),
            Some("billing.app:create()")
        );
        assert_eq!(
            image["accounts"]["users"][0]["home"].as_str(),
            Some("/srv/billing")
        );
        assert_eq!(
            image["certificates"][0]["content"].as_str(),
            Some(pem.as_str())
        );
        assert_eq!(image["environment"]["PYTHONUNBUFFERED"].as_str(), Some("1"));
    }

    #[test]
    fn overlay_yaml_and_export_round_trip() {
        let imported = read(OVERLAY, None).unwrap();
        assert_eq!(imported.format, Format::Overlay);
        assert!(
            imported.unexpressed.is_empty(),
            "{:?}",
            imported.unexpressed
        );
        let n = &imported.neutral;
        assert_eq!(n.source, None);
        assert_eq!(
            n.packages,
            ["py3.12-requests", "py3.12-psycopg", "postgresql-client"]
        );
        assert_eq!(n.runtime_repositories, ["https://apk.acme.example/wolfi"]);
        let KeyEntry::Inline { name, content } = &n.runtime_keyring[0] else {
            panic!()
        };
        assert_eq!(name, "acme-wolfi.rsa.pub");
        crate::runtime::check_key(0, name, content.as_bytes()).unwrap();
        assert_eq!(n.annotations["com.acme.cost-center"], "4711");

        let opts = RenderOptions {
            name: "python-acme",
            source: None,
            from: "team.overlay.yaml",
        };
        assert_eq!(
            render_toml(&imported, &opts),
            Err(ImportError::SourceRequired)
        );
        let text = render_toml(
            &imported,
            &RenderOptions {
                source: Some("oci:./python:3.12"),
                ..opts
            },
        )
        .unwrap();
        insta::assert_snapshot!("overlay_assembly_toml", text);
        let v: toml::Value = toml::from_str(&text).unwrap();
        assert_eq!(
            v["image"]["runtime_keyring"][0]["content"].as_str(),
            Some(content.as_str())
        );

        let (yaml, left_out) = chainguard::export(n).unwrap();
        assert!(left_out.is_empty());
        insta::assert_snapshot!("overlay_export", yaml);
        let again = read(&yaml, Some(Format::Overlay)).unwrap();
        assert_eq!(&again.neutral, n);
        assert!(again.unexpressed.is_empty());
    }

    #[test]
    fn export_reports_what_an_overlay_cannot_say_and_inlines_files() {
        let imported = read(APKO, None).unwrap();
        let mut n = imported.neutral.clone();
        let dir = tempfile::tempdir().unwrap();
        let cert_path = dir.path().join("corp.pem");
        let EntrySource::Content(pem) = n.certificates[0].source.clone() else {
            panic!()
        };
        std::fs::write(&cert_path, &pem).unwrap();
        n.certificates[0].source = EntrySource::Path(cert_path);
        let (yaml, left_out) = chainguard::export(&n).unwrap();
        let paths: Vec<&str> = left_out.iter().map(|u| u.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "source",
                "repositories",
                "keyring",
                "architectures",
                "entrypoint",
                "cmd",
                "workdir"
            ]
        );
        let back = read(&yaml, Some(Format::Overlay)).unwrap().neutral;
        assert_eq!(back.certificates[0].source, EntrySource::Content(pem));
        assert_eq!(back.accounts, n.accounts);
        assert_eq!(back.packages, n.packages);
        n.runtime_keyring = vec![KeyEntry::Path(
            dir.path().join("missing.pub").display().to_string(),
        )];
        assert!(chainguard::export(&n)
            .unwrap_err()
            .0
            .contains("cannot read"));
        assert_eq!(chainguard::export(&Neutral::default()).unwrap().0, "{}\n");
    }

    #[test]
    fn mixed_runtime_keyring_renders_as_one_array() {
        let imported = read(
            "contents:\n  runtime_keyring:\n    - keys/a.rsa.pub\n    - name: b.rsa.pub\n      content: |\n        x\n        y\n",
            Some(Format::Overlay),
        )
        .unwrap();
        let text = render_toml(
            &imported,
            &RenderOptions {
                name: "x",
                source: Some("scratch"),
                from: "f",
            },
        )
        .unwrap();
        let v: toml::Value = toml::from_str(&text).unwrap();
        let keys = v["image"]["runtime_keyring"].as_array().unwrap();
        assert_eq!(keys[0].as_str(), Some("keys/a.rsa.pub"));
        assert_eq!(keys[1]["content"].as_str(), Some("x\ny\n"));
    }

    #[test]
    fn overlay_format_reports_apko_only_fields() {
        let imported = read("contents:\n  packages: [jq]\n  repositories: [https://x.example.com/a]\nentrypoint:\n  command: /bin/sh\nguarded_entrypoint: {}\n", Some(Format::Overlay)).unwrap();
        let paths: Vec<&str> = imported
            .unexpressed
            .iter()
            .map(|u| u.path.as_str())
            .collect();
        assert_eq!(
            paths,
            ["contents.repositories", "entrypoint", "guarded_entrypoint"]
        );
        assert_eq!(imported.neutral.packages, ["jq"]);
    }
}
