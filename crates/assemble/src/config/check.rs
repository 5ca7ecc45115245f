//! Checking a parsed declaration into [`Image`]s: one function per key of
//! an image table, listed in [`IMAGE_KEYS`] with its documentation.
//!
//! Adding a key is: a field in [`Image`], a `fn(&mut Checker, &Node, …)`
//! that checks the value and stores it, and a line in [`IMAGE_KEYS`].
//! Every problem is recorded and checking goes on, so one run reports them
//! all.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use apk::dependency::Atom;
use assemble_io::tarball::Compression;
use oci_image::registry::RegistryRef;
use oci_image::ImageRef;

mod app;

use super::document::{Entry, Kind, Node};
use super::errors::{line_column, ConfigErrors};
use super::suggest;
use crate::model::{
    is_valid_image_name, is_valid_tag, resolve_path, DeclarationFile, Image, KeyFile, Location,
    Repository, Source, Spanned,
};

/// The shape of a key's value (what `init --set` writes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// A string.
    String,
    /// An array of strings.
    Strings,
    /// A table of strings.
    Table,
    /// A whole number.
    Integer,
}

/// A key of an image table.
pub struct ImageKey {
    /// Its name.
    pub name: &'static str,
    /// One line saying what it means.
    pub doc: &'static str,
    /// The shape of its value.
    pub shape: Shape,
    /// When required: an example for the "missing key" help.
    pub required: Option<&'static str>,
    check: fn(&mut Checker<'_>, &Node, &Range<usize>, &mut Image),
}

/// Every key an image table may hold, in documentation order.
pub const IMAGE_KEYS: &[ImageKey] = &[
    ImageKey {
        name: "name",
        doc: "The image name, [a-z0-9][a-z0-9._-]*; the default output is target/assemble/<name>.",
        shape: Shape::String,
        required: Some("every image needs a name, e.g. name = \"my-image\""),
        check: |c, node, at, image| c.name(node, at, image),
    },
    ImageKey {
        name: "source",
        doc: "The base image: docker://HOST/REPO[:TAG][@DIGEST], oci:DIR[:REF], oci-archive:FILE[:REF] or scratch.",
        shape: Shape::String,
        required: Some(
            "e.g. source = \"docker://cgr.dev/chainguard/wolfi-base:latest\", \"oci:./base:latest\", \"oci-archive:base.tar\" or \"scratch\"",
        ),
        check: |c, node, at, image| c.source(node, at, image),
    },
    ImageKey {
        name: "packages",
        doc: "APK atoms to add: name, name@tag, name>=1.2, so:…, cmd:….",
        shape: Shape::Strings,
        required: None,
        check: |c, node, at, image| c.packages(node, at, image),
    },
    ImageKey {
        name: "repositories",
        doc: "Repositories ([@tag ]PATH_OR_URL) besides those the source image lists.",
        shape: Shape::Strings,
        required: None,
        check: |c, node, at, image| c.repositories(node, at, image),
    },
    ImageKey {
        name: "keyring",
        doc: "Public keys (files or directories of *.pub) trusted besides the source image's.",
        shape: Shape::Strings,
        required: None,
        check: |c, node, at, image| c.keyring(node, at, image),
    },
    ImageKey {
        name: "architectures",
        doc: "APK architectures to build; default: every architecture the source has.",
        shape: Shape::Strings,
        required: None,
        check: |c, node, at, image| c.architectures(node, at, image),
    },
    ImageKey {
        name: "tags",
        doc: "Tags of the result (org.opencontainers.image.ref.name); default [\"latest\"].",
        shape: Shape::Strings,
        required: None,
        check: |c, node, at, image| c.tags(node, at, image),
    },
    ImageKey {
        name: "annotations",
        doc: "Manifest annotations, also set as config labels.",
        shape: Shape::Table,
        required: None,
        check: |c, node, at, image| c.annotations(node, at, image),
    },
    ImageKey {
        name: "environment",
        doc: "Environment variables set in the config (same name replaced).",
        shape: Shape::Table,
        required: None,
        check: |c, node, at, image| c.environment(node, at, image),
    },
    ImageKey {
        name: "publish",
        doc: "Registry repositories (docker://HOST[:PORT]/REPO) `apply` pushes the image to, under every tag.",
        shape: Shape::Strings,
        required: None,
        check: |c, node, at, image| c.publish(node, at, image),
    },
    ImageKey {
        name: "layers",
        doc: "Layers the added packages are split into, grouped by origin package (1 to 32); default 1.",
        shape: Shape::Integer,
        required: None,
        check: |c, node, at, image| c.layers(node, at, image),
    },
    ImageKey {
        name: "compression",
        doc: "How the new layers are compressed: \"gzip\" (default) or \"zstd\" (smaller, faster to unpack; needs containerd >= 1.5, Docker >= 23 or podman >= 3 to run).",
        shape: Shape::String,
        required: None,
        check: |c, node, at, image| c.compression(node, at, image),
    },
    // The application keys (issue 13), checked in check/app.rs.
    ImageKey {
        name: "binaries",
        doc: "Binaries of the crate to build into the image ([[bin]] names); default: every one. Only in [package.metadata.image].",
        shape: Shape::Strings,
        required: None,
        check: |c, node, at, image| c.binaries(node, at, image),
    },
    ImageKey {
        name: "install_dir",
        doc: "Where the binaries go in the image; default /usr/bin.",
        shape: Shape::String,
        required: None,
        check: |c, node, at, image| {
            image.app.install_dir = c.absolute_path(node, at, "install_dir");
        },
    },
    ImageKey {
        name: "target",
        doc: "The Rust target triple to build for; default: chosen per architecture for the base (musl or static for musl-based bases).",
        shape: Shape::String,
        required: None,
        check: |c, node, at, image| c.rust_target(node, at, image),
    },
    ImageKey {
        name: "files",
        doc: "Local files or directories to add: [{ src = \"dist/app\", dst = \"/usr/bin/app\", mode = \"0755\" }].",
        shape: Shape::Table,
        required: None,
        check: |c, node, at, image| c.files(node, at, image),
    },
    ImageKey {
        name: "entrypoint",
        doc: "The config's Entrypoint; default [\"/usr/bin/<bin>\"] when the image has exactly one binary.",
        shape: Shape::Strings,
        required: None,
        check: |c, node, at, image| image.app.entrypoint = c.command(node, at, "entrypoint"),
    },
    ImageKey {
        name: "cmd",
        doc: "The config's Cmd (arguments to the entrypoint).",
        shape: Shape::Strings,
        required: None,
        check: |c, node, at, image| image.app.cmd = c.command(node, at, "cmd"),
    },
    ImageKey {
        name: "workdir",
        doc: "The config's WorkingDir (absolute).",
        shape: Shape::String,
        required: None,
        check: |c, node, at, image| {
            image.app.workdir = c.absolute_path(node, at, "workdir");
        },
    },
    ImageKey {
        name: "user",
        doc: "The config's User: a name in the image's /etc/passwd, or uid[:gid].",
        shape: Shape::String,
        required: None,
        check: |c, node, at, image| c.run_user(node, at, image),
    },
    ImageKey {
        name: "ports",
        doc: "The config's ExposedPorts: \"8080\", \"8080/tcp\", \"53/udp\".",
        shape: Shape::Strings,
        required: None,
        check: |c, node, at, image| c.ports(node, at, image),
    },
    ImageKey {
        name: "stop_signal",
        doc: "The config's StopSignal: SIGTERM, SIGINT, … or a number.",
        shape: Shape::String,
        required: None,
        check: |c, node, at, image| c.stop_signal(node, at, image),
    },
    ImageKey {
        name: "volumes",
        doc: "The config's Volumes (absolute paths).",
        shape: Shape::Strings,
        required: None,
        check: |c, node, at, image| c.volumes(node, at, image),
    },
    ImageKey {
        name: "accounts",
        doc: "Users and groups to add to /etc/passwd and /etc/group, and `run_as` (the config's User).",
        shape: Shape::Table,
        required: None,
        check: |c, node, at, image| c.accounts(node, at, image),
    },
    ImageKey {
        name: "certificates",
        doc: "CA certificates ({ name, content | path }) added to the image's trust bundle.",
        shape: Shape::Table,
        required: None,
        check: |c, node, at, image| c.certificates(node, at, image),
    },
    ImageKey {
        name: "runtime_repositories",
        doc: "Public https repositories written to the image's etc/apk/repositories (build repositories are not).",
        shape: Shape::Strings,
        required: None,
        check: |c, node, at, image| c.runtime_repositories(node, at, image),
    },
    ImageKey {
        name: "runtime_keyring",
        doc: "Public keys (paths or { name, content }) written to the image's etc/apk/keys.",
        shape: Shape::Strings,
        required: None,
        check: |c, node, at, image| c.runtime_keyring(node, at, image),
    },
    ImageKey {
        name: "sbom",
        doc: "SBOM formats written and attached: [\"spdx\"] (default) or [\"spdx\", \"cyclonedx\"].",
        shape: Shape::Strings,
        required: None,
        check: |c, node, at, image| c.sbom(node, at, image),
    },
    ImageKey {
        name: "overlay",
        doc: "[[image.overlay]]: packages, environment, annotations, accounts, certificates for the tags it selects.",
        shape: Shape::Table,
        required: None,
        check: |c, node, at, image| c.overlays(node, at, image),
    },
];

/// Most layers `layers` may ask for.
pub const MAX_LAYERS: usize = 32;

/// The names of [`IMAGE_KEYS`].
pub(crate) fn image_key_names() -> Vec<&'static str> {
    IMAGE_KEYS.iter().map(|k| k.name).collect()
}

/// Image names already declared in this load, for duplicate detection:
/// name → "file:line:column".
pub(crate) type Seen = BTreeMap<String, String>;

/// Checks one declaration file.
pub(crate) struct Checker<'a> {
    file: Arc<DeclarationFile>,
    base: &'a Path,
    seen: &'a mut Seen,
    pub errors: ConfigErrors,
    /// The cargo package whose `[package.metadata.image]` is checked
    /// (its name is the default image name).
    pub package: Option<String>,
}

impl<'a> Checker<'a> {
    pub fn new(file: Arc<DeclarationFile>, base: &'a Path, seen: &'a mut Seen) -> Self {
        let errors = ConfigErrors::new(&file.path, file.text.clone());
        Checker {
            file,
            base,
            seen,
            errors,
            package: None,
        }
    }

    fn text(&self) -> &str {
        &self.file.text
    }

    pub fn error(&mut self, span: Range<usize>, message: impl Into<String>, help: Option<String>) {
        self.errors.push(span, message, help);
    }

    /// The first line of `span`: a table header rather than the whole table.
    fn header(&self, span: Range<usize>) -> Range<usize> {
        let text = self.text();
        let end = text[span.clone()]
            .find('\n')
            .map_or(span.end, |i| span.start + i);
        span.start..text[span.start..end].trim_end().len() + span.start
    }

    pub fn unknown_key(&mut self, entry: &Entry, known: &[&str], place: &str) {
        let help = suggest::key(&entry.key, known).map(|s| format!("did you mean '{s}'?"));
        let help = help.or_else(|| Some(format!("expected one of: {}", known.join(", "))));
        self.error(
            entry.key_span.clone().unwrap_or(0..0),
            format!("unknown key '{}' {place}", entry.key),
            help,
        );
    }

    /// `image` (or `package.metadata.image`): a table or an array of tables.
    pub fn images(&mut self, node: &Node, at: &Range<usize>, what: &str, out: &mut Vec<Image>) {
        match &node.kind {
            Kind::Table(entries) => {
                let header = self.header(node.span_or(at));
                out.extend(self.image(entries, header));
            }
            Kind::Array(items) => {
                for item in items {
                    match &item.kind {
                        Kind::Table(entries) => {
                            let header = self.header(item.span_or(at));
                            out.extend(self.image(entries, header));
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

    /// One image table; `None` when it has errors (all recorded).
    fn image(&mut self, entries: &[Entry], header: Range<usize>) -> Option<Image> {
        let before = self.errors.errors.len();
        let mut image = Image::empty(self.file.clone());
        let names = image_key_names();
        for entry in entries {
            let at = entry.key_span.clone().unwrap_or_else(|| header.clone());
            match IMAGE_KEYS.iter().find(|k| k.name == entry.key) {
                Some(key) => (key.check)(self, &entry.value, &at, &mut image),
                None => self.unknown_key(entry, &names, "in an image"),
            }
        }
        for key in IMAGE_KEYS {
            if let Some(help) = key.required {
                if key.name == "name" && self.package.is_some() {
                    if !entries.iter().any(|e| e.key == "name") {
                        self.default_name(&header, &mut image);
                    }
                    continue;
                }
                if !entries.iter().any(|e| e.key == key.name) {
                    self.error(
                        header.clone(),
                        format!("missing required key '{}'", key.name),
                        Some(help.into()),
                    );
                }
            }
        }
        self.cross_checks(&image);
        self.app_cross_checks(&image);
        (self.errors.errors.len() == before).then_some(image)
    }

    /// Checks between keys: a `name@tag` atom needs a repository with
    /// that tag.
    fn cross_checks(&mut self, image: &Image) {
        for atom in &image.packages {
            let Some(tag) = atom.tag() else { continue };
            if image
                .repositories
                .iter()
                .any(|r| r.tag.as_deref() == Some(tag))
            {
                continue;
            }
            self.error(
                atom.span.clone(),
                format!("no repository is tagged @{tag} (needed by '{}')", **atom),
                Some(format!(
                    "declare it in `repositories` as \"@{tag} URL-or-PATH\""
                )),
            );
        }
    }

    fn string(&mut self, node: &Node, at: &Range<usize>, key: &str) -> Option<Spanned<String>> {
        match &node.kind {
            Kind::Str(s) => Some(Spanned::new(s.clone(), node.span_or(at))),
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
    /// `empty_help`: an empty array is an error with this help.
    fn strings(
        &mut self,
        node: &Node,
        at: &Range<usize>,
        key: &str,
        empty_help: Option<&str>,
    ) -> Vec<Spanned<String>> {
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
        if let (true, Some(help)) = (items.is_empty(), empty_help) {
            self.error(
                node.span_or(at),
                format!("'{key}' is empty"),
                Some(help.into()),
            );
        }
        let mut out = Vec::new();
        for item in items {
            let span = item.span_or(at);
            match &item.kind {
                Kind::Str(s) => out.push(Spanned::new(s.clone(), span)),
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

    /// A table of strings.
    fn string_map(
        &mut self,
        node: &Node,
        at: &Range<usize>,
        key: &str,
        check_name: fn(&str) -> Option<&'static str>,
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
        for e in entries {
            let kspan = e.key_span.clone().unwrap_or_else(|| at.clone());
            let Kind::Str(value) = &e.value.kind else {
                self.error(
                    e.value.span_or(&kspan),
                    format!(
                        "'{key}.{}' must be a string, found {}",
                        e.key,
                        e.value.type_name()
                    ),
                    Some("quote the value".into()),
                );
                continue;
            };
            if e.key.is_empty() {
                self.error(kspan, format!("empty name in '{key}'"), None);
                continue;
            }
            if let Some(help) = check_name(&e.key) {
                self.error(
                    kspan,
                    format!("invalid {key} name '{}'", e.key),
                    Some(help.into()),
                );
                continue;
            }
            out.insert(e.key.clone(), value.clone());
        }
        out
    }

    // The keys, in the order of `IMAGE_KEYS`.

    fn name(&mut self, node: &Node, at: &Range<usize>, image: &mut Image) {
        let Some(name) = self.string(node, at, "name") else {
            return;
        };
        if !is_valid_image_name(&name) {
            let lower = name.to_ascii_lowercase();
            let help = if is_valid_image_name(&lower) {
                format!("image names are lowercase: try '{lower}'")
            } else {
                "image names use lowercase letters, digits, '.', '_' and '-', starting with a letter or digit".into()
            };
            self.error(
                name.span.clone(),
                format!("invalid image name '{}'", *name),
                Some(help),
            );
            return;
        }
        let (line, column) = line_column(self.text(), name.span.start);
        if let Some(first) = self.seen.get(&*name) {
            let first = first.clone();
            self.error(
                name.span.clone(),
                format!("duplicate image name '{}'", *name),
                Some(format!("first declared at {first}")),
            );
            return;
        }
        let here = format!("{}:{line}:{column}", self.file.path.display());
        self.seen.insert(name.value.clone(), here);
        image.name = name;
    }

    fn source(&mut self, node: &Node, at: &Range<usize>, image: &mut Image) {
        let Some(text) = self.string(node, at, "source") else {
            return;
        };
        match ImageRef::parse(&text) {
            Ok(mut reference) => {
                if let ImageRef::Layout { path, .. } | ImageRef::Archive { path, .. } =
                    &mut reference
                {
                    *path = resolve_path(self.base, &*path);
                }
                image.source = Spanned::new(
                    Source {
                        reference,
                        as_written: text.value,
                    },
                    text.span,
                );
            }
            Err(e) => {
                let (message, help) = source_help(&text, &e);
                self.error(text.span, message, Some(help));
            }
        }
    }

    fn packages(&mut self, node: &Node, at: &Range<usize>, image: &mut Image) {
        for text in self.strings(node, at, "packages", None) {
            match Atom::parse(&text) {
                Ok(atom) => image.packages.push(Spanned::new(atom, text.span)),
                Err(e) => self.error(text.span, e.to_string(), None),
            }
        }
    }

    fn repositories(&mut self, node: &Node, at: &Range<usize>, image: &mut Image) {
        for text in self.strings(node, at, "repositories", None) {
            let repo = match Repository::parse(&text, self.base) {
                Ok(r) => r,
                Err(e) => {
                    self.error(text.span, e.message, e.help);
                    continue;
                }
            };
            if let Location::Url(url) = &repo.location {
                if url.has_credentials() {
                    self.mask_credentials(text.span.clone());
                    self.error(
                        text.span,
                        format!("repository '{repo}' has credentials in its URL"),
                        Some(
                            "keep secrets out of assembly.toml: give them in HTTP_AUTH \
                             (basic:HOST:USER:PASSWORD) or ~/.netrc"
                                .into(),
                        ),
                    );
                    continue;
                }
            }
            image.repositories.push(Spanned::new(repo, text.span));
        }
    }

    /// Masks the `user:password` of the URL written at `span`.
    fn mask_credentials(&mut self, span: Range<usize>) {
        let literal = &self.text()[span.clone()];
        let Some(scheme_end) = literal.find("://").map(|i| i + 3) else {
            return;
        };
        let authority = &literal[scheme_end..];
        let end = authority
            .find(['/', '?', '#', '"', '\'', ' '])
            .unwrap_or(authority.len());
        if let Some(at) = authority[..end].rfind('@') {
            let start = span.start + scheme_end;
            self.errors.mask(start..start + at);
        }
    }

    fn keyring(&mut self, node: &Node, at: &Range<usize>, image: &mut Image) {
        for text in self.strings(node, at, "keyring", None) {
            if text.trim().is_empty() {
                self.error(text.span, "empty key path in 'keyring'", None);
                continue;
            }
            let key = KeyFile {
                path: resolve_path(self.base, &*text),
                as_written: text.value,
            };
            image.keyring.push(Spanned::new(key, text.span));
        }
    }

    fn architectures(&mut self, node: &Node, at: &Range<usize>, image: &mut Image) {
        let help = "remove the key to build every architecture the source has";
        for arch in self.strings(node, at, "architectures", Some(help)) {
            if let Err(unknown) = crate::model::check_arch(&arch) {
                self.error(arch.span.clone(), unknown.to_string(), Some(unknown.help));
            } else if image.architectures.iter().any(|a| **a == *arch) {
                self.error(
                    arch.span.clone(),
                    format!("duplicate architecture '{}'", *arch),
                    None,
                );
            } else {
                image.architectures.push(arch);
            }
        }
    }

    fn tags(&mut self, node: &Node, at: &Range<usize>, image: &mut Image) {
        let help = "remove the key to tag the image 'latest'";
        let mut tags: Vec<String> = Vec::new();
        for tag in self.strings(node, at, "tags", Some(help)) {
            if !is_valid_tag(&tag) {
                self.error(
                    tag.span.clone(),
                    format!("invalid tag '{}'", *tag),
                    Some(
                        "tags are 1 to 128 of [A-Za-z0-9_.-], not starting with '.' or '-'".into(),
                    ),
                );
            } else if tags.contains(&tag) {
                self.error(tag.span.clone(), format!("duplicate tag '{}'", *tag), None);
            } else {
                tags.push(tag.value);
            }
        }
        image.tags = tags;
    }

    fn publish(&mut self, node: &Node, at: &Range<usize>, image: &mut Image) {
        for text in self.strings(node, at, "publish", None) {
            let parsed = if text.starts_with("docker://") {
                RegistryRef::parse(&text)
            } else {
                Err(oci_image::OciError::Reference {
                    text: text.value.clone(),
                    reason: "a destination is a registry repository".into(),
                })
            };
            match parsed {
                Ok(r) if r.digest().is_some() || r.tag().is_some() => self.error(
                    text.span.clone(),
                    format!("publish destination '{}' names a tag or digest", *text),
                    Some(format!(
                        "write \"docker://{}/{}\": the tags come from `tags`, the digest from the content",
                        r.registry(),
                        r.repository()
                    )),
                ),
                Ok(r) if image.publish.iter().any(|p| p.value == r) => {
                    let message = format!("duplicate destination '{}'", *text);
                    self.error(text.span, message, None)
                }
                Ok(r) => image.publish.push(Spanned::new(r, text.span)),
                Err(e) => {
                    let reason = match e {
                        oci_image::OciError::Reference { reason, .. } => reason,
                        other => other.to_string(),
                    };
                    let bare = text.trim_start_matches("docker:").trim_start_matches('/');
                    self.error(
                        text.span.clone(),
                        format!("invalid publish destination '{}': {reason}", *text),
                        Some(format!("expected \"docker://HOST[:PORT]/REPO\", e.g. \"docker://{}\"", bare.split([':', '@']).next().unwrap_or(bare))),
                    )
                }
            }
        }
    }

    fn layers(&mut self, node: &Node, at: &Range<usize>, image: &mut Image) {
        let span = node.span_or(at);
        match node.kind {
            Kind::Int(n) if (1..=MAX_LAYERS as i64).contains(&n) => image.layers = n as usize,
            Kind::Int(n) => self.error(
                span,
                format!("'layers' is {n}, outside 1 to {MAX_LAYERS}"),
                Some("1 (the default) adds one layer; more split the packages by origin".into()),
            ),
            _ => self.error(
                span,
                format!("'layers' must be an integer, found {}", node.type_name()),
                Some("write layers = 3".into()),
            ),
        }
    }

    fn compression(&mut self, node: &Node, at: &Range<usize>, image: &mut Image) {
        let Some(value) = self.string(node, at, "compression") else {
            return;
        };
        match Compression::ALL.into_iter().find(|c| c.name() == *value) {
            Some(c) => image.compression = c,
            None => {
                let names = Compression::ALL.map(Compression::name);
                let help = suggest::key(&value, &names).map_or_else(
                    || "the values are \"gzip\" (the default) and \"zstd\"".to_owned(),
                    |s| format!("did you mean '{s}'?"),
                );
                self.error(
                    value.span.clone(),
                    format!("unknown layer compression '{}'", *value),
                    Some(help),
                );
            }
        }
    }

    fn annotations(&mut self, node: &Node, at: &Range<usize>, image: &mut Image) {
        image.annotations = self.string_map(node, at, "annotations", |_| None);
        self.reserved(node, crate::reserved::NameKind::Annotation);
    }

    fn environment(&mut self, node: &Node, at: &Range<usize>, image: &mut Image) {
        image.environment = self.string_map(node, at, "environment", |name| {
            name.contains(['=', '\0'])
                .then_some("names may not contain '=' or NUL")
        });
        self.reserved(node, crate::reserved::NameKind::Environment);
    }
}

#[path = "extras.rs"]
mod extras;
pub use extras::extras_summary;
pub(crate) use extras::extras_to_value;

/// The message and help for a source that looks like an image in a
/// registry but is not written as one.
fn registry_help(text: &str, reason: &str) -> (String, String) {
    let image = text
        .strip_prefix("docker://")
        .or_else(|| text.strip_prefix("docker:"))
        .unwrap_or(text)
        .trim_start_matches('/');
    (
        format!("invalid source '{text}': {reason}"),
        format!("write a registry image as \"docker://{image}\" (skopeo's transport name)"),
    )
}

/// The message and help for a `source` that does not parse.
fn source_help(text: &str, error: &oci_image::OciError) -> (String, String) {
    let forms = "expected \"docker://HOST/REPO[:TAG][@DIGEST]\", \"oci:PATH[:REF]\", \"oci-archive:FILE[:REF]\" or \"scratch\"";
    if text.trim().is_empty() {
        return ("'source' is empty".into(), forms.into());
    }
    let registry_like = text.contains("://")
        || text.starts_with("docker:")
        || text.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/' | b':' | b'@')
        });
    let reason = match error {
        oci_image::OciError::Reference { reason, .. } => reason.clone(),
        other => other.to_string(),
    };
    if registry_like && !text.starts_with("oci:") && !text.starts_with("oci-archive:") {
        return registry_help(text, &reason);
    }
    (format!("invalid source '{text}': {reason}"), forms.into())
}
