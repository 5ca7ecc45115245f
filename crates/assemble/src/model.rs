//! The image model: what a declaration says, typed once and consumed by
//! every operation.
//!
//! [`config`](crate::config) produces [`Image`]s from `assembly.toml` or
//! `[package.metadata.image]` (values checked, relative paths resolved,
//! spans kept for later errors); `build`, `plan`, `validate`, `outdated`
//! and the lock read them without parsing anything again. `search` and
//! `resolve` take [`Repository`]s parsed by the same function from the
//! command line.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::{Deref, Range};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use apk::dependency::Atom;
use assemble_io::tarball::Compression;
use assemble_io::url::SafeUrl;
use oci_image::registry::RegistryRef;
use oci_image::ImageRef;

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

/// An architecture name that is not one of [`ARCHITECTURES`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
#[error("unknown architecture '{arch}'")]
#[diagnostic(help("{help}"))]
pub struct UnknownArch {
    /// The name as given (escaped).
    pub arch: String,
    /// "did you mean …", or the list of known names.
    pub help: String,
}

/// Checks an architecture name given on the command line or in a
/// declaration.
pub fn check_arch(arch: &str) -> Result<(), UnknownArch> {
    if ARCHITECTURES.contains(&arch) {
        return Ok(());
    }
    let help = crate::config::suggest::arch(arch).map_or_else(
        || format!("known architectures: {}", ARCHITECTURES.join(", ")),
        |a| format!("did you mean '{a}'?"),
    );
    Err(UnknownArch {
        arch: assemble_io::escape::escape(arch).into_owned(),
        help,
    })
}

/// A value with the byte range it was written at in its declaration file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// Byte range in [`Image::file`] (empty for defaults).
    pub span: Range<usize>,
}

impl<T> Spanned<T> {
    /// `value` written at `span`.
    pub fn new(value: T, span: Range<usize>) -> Self {
        Spanned { value, span }
    }
}

impl<T> Deref for Spanned<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: fmt::Display> fmt::Display for Spanned<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.fmt(f)
    }
}

/// A declaration file and its text (errors found after loading point into
/// it).
#[derive(Debug, PartialEq, Eq)]
pub struct DeclarationFile {
    /// The path, as found.
    pub path: PathBuf,
    /// Its text.
    pub text: String,
}

/// One declared image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    /// The file declaring it (assembly.toml or a Cargo.toml).
    pub file: Arc<DeclarationFile>,
    /// `[a-z0-9][a-z0-9._-]*`.
    pub name: Spanned<String>,
    /// The base image.
    pub source: Spanned<Source>,
    /// Atoms to add, in declaration order.
    pub packages: Vec<Spanned<Atom>>,
    /// Repositories besides those the source image lists.
    pub repositories: Vec<Spanned<Repository>>,
    /// Keys trusted besides the source image's `etc/apk/keys`.
    pub keyring: Vec<Spanned<KeyFile>>,
    /// Architectures to build; empty means every one the source has.
    pub architectures: Vec<Spanned<String>>,
    /// Tags of the result (`["latest"]` when not declared).
    pub tags: Vec<String>,
    /// Manifest annotations, also set as config labels.
    pub annotations: BTreeMap<String, String>,
    /// Environment variables set in the config.
    pub environment: BTreeMap<String, String>,
    /// Registry repositories `apply` pushes the result to (every tag).
    pub publish: Vec<Spanned<RegistryRef>>,
    /// How many layers the added packages are split into (at least 1).
    pub layers: usize,
    /// How the new layers are compressed (the source's stay as they are).
    pub compression: Compression,
    /// The application: binaries, files and run settings.
    pub app: App,
    /// Accounts, CA certificates, the image's own apk configuration,
    /// overlays and SBOM formats.
    pub extras: Extras,
}

impl Image {
    /// An image with nothing declared yet (no name, `scratch`); the
    /// checker fills it in key by key.
    pub(crate) fn empty(file: Arc<DeclarationFile>) -> Image {
        Image {
            file,
            name: Spanned::new(String::new(), 0..0),
            source: Spanned::new(
                Source {
                    reference: ImageRef::Scratch,
                    as_written: "scratch".into(),
                },
                0..0,
            ),
            packages: Vec::new(),
            repositories: Vec::new(),
            keyring: Vec::new(),
            architectures: Vec::new(),
            tags: vec!["latest".into()],
            annotations: BTreeMap::new(),
            environment: BTreeMap::new(),
            publish: Vec::new(),
            layers: 1,
            compression: Compression::Gzip,
            app: App::default(),
            extras: Extras::default(),
        }
    }

    /// The directory of the declaring file (where `target/` and the lock go).
    pub fn dir(&self) -> &Path {
        self.file.path.parent().unwrap_or(Path::new("."))
    }
}

/// The application part of an image (issue 13): the crate's binaries or
/// prebuilt files in a layer of their own, and how the image runs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct App {
    /// The cargo package declaring the image (`[package.metadata.image]`).
    pub package: Option<CargoPackage>,
    /// `binaries`: the `[[bin]]` targets to build; `None`: every one.
    pub binaries: Option<Vec<Spanned<String>>>,
    /// `install_dir`: where binaries go (`/usr/bin` when `None`).
    pub install_dir: Option<Spanned<String>>,
    /// `target`: the Rust target triple, instead of the one chosen for
    /// the base.
    pub target: Option<Spanned<String>>,
    /// `files`: local files and directories to add.
    pub files: Vec<Spanned<AppFile>>,
    /// `entrypoint` (default `["<install_dir>/<bin>"]` with exactly one
    /// binary).
    pub entrypoint: Option<Spanned<Vec<String>>>,
    /// `cmd`.
    pub cmd: Option<Spanned<Vec<String>>>,
    /// `workdir`: an absolute path.
    pub workdir: Option<Spanned<String>>,
    /// `user`: a name (which must exist in the image's `/etc/passwd`) or
    /// `uid[:gid]`.
    pub user: Option<Spanned<String>>,
    /// `ports`: `PORT[/tcp|/udp]`, normalised to `PORT/PROTO`.
    pub ports: Vec<Spanned<String>>,
    /// `stop_signal`: `SIGTERM`-style names or numbers.
    pub stop_signal: Option<Spanned<String>>,
    /// `volumes`: absolute paths.
    pub volumes: Vec<Spanned<String>>,
}

impl App {
    /// True when the image gets an application layer or run settings.
    pub fn is_empty(&self) -> bool {
        *self == App::default()
    }

    /// The install directory of binaries.
    pub fn install_dir(&self) -> &str {
        self.install_dir
            .as_deref()
            .map_or("/usr/bin", |d| d.as_str())
    }
}

/// The cargo package an image is declared in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CargoPackage {
    /// Its name.
    pub name: String,
    /// The workspace's target directory (outputs go to
    /// `<target dir>/assemble/<image>`).
    pub target_dir: PathBuf,
}

/// One entry of `files`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppFile {
    /// The local file or directory, resolved against the declaring file.
    pub src: PathBuf,
    /// Where it goes in the image (absolute; ending in `/`: into that
    /// directory under the source's name).
    pub dst: String,
    /// The mode of files (`None`: 0755 for executables, else 0644).
    pub mode: Option<u32>,
}

/// What a declaration sets besides packages: users and groups, CA
/// certificates, the repositories and keys the image's own `apk` uses,
/// per-tag overlays and the SBOM formats. Each value was checked when the
/// declaration was read; what depends on the source image (clashes with
/// its accounts, keys or certificates) is checked by the build's planning
/// phase.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Extras {
    /// `[image.accounts]`.
    pub accounts: crate::accounts::Accounts,
    /// Where `[image.accounts]` is written (errors found against the base).
    pub accounts_span: Range<usize>,
    /// `[[image.certificates]]`, parsed and checked.
    pub certificates: Vec<Spanned<crate::certs::CaCertificate>>,
    /// `runtime_repositories`: lines for the image's `etc/apk/repositories`.
    pub runtime_repositories: Vec<Spanned<crate::runtime::RuntimeRepository>>,
    /// `runtime_keyring`: keys for the image's `etc/apk/keys`.
    pub runtime_keyring: Vec<Spanned<crate::runtime::RuntimeKey>>,
    /// `sbom = [...]` also asks for a CycloneDX document (SPDX is always
    /// written).
    pub cyclonedx: bool,
    /// `[[image.overlay]]`; empty once loading has split the image into one
    /// image per variant.
    pub overlays: Vec<ImageOverlay>,
}

/// One `[[image.overlay]]`: settings applied, after the image-wide ones,
/// to the output tags it selects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageOverlay {
    /// Exact tags and globs.
    pub tags: Vec<Spanned<String>>,
    /// The overlay's table header.
    pub span: Range<usize>,
    /// Atoms to add (an atom naming a package the image already adds
    /// replaces it).
    pub packages: Vec<Spanned<Atom>>,
    /// Environment variables (later wins).
    pub environment: BTreeMap<String, String>,
    /// Annotations (later wins).
    pub annotations: BTreeMap<String, String>,
    /// Users and groups (same name replaced), `run_as`.
    pub accounts: crate::accounts::Accounts,
    /// Certificates (same name replaced).
    pub certificates: Vec<Spanned<crate::certs::CaCertificate>>,
}

/// The base image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// The parsed reference, paths resolved against the declaring file.
    pub reference: ImageRef,
    /// As written (recorded in the image, the lock and the state, so they
    /// do not depend on where the project lives).
    pub as_written: String,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_written)
    }
}

/// A trusted public key file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyFile {
    /// The file (or a directory of `*.pub` files), resolved.
    pub path: PathBuf,
    /// As written.
    pub as_written: String,
}

/// An APK repository: `[@tag ]PATH_OR_URL`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repository {
    /// `@tag`: only `name@tag` atoms (and what they pull in) may take
    /// packages from it.
    pub tag: Option<String>,
    /// Where it is.
    pub location: Location,
    /// As written, credentials redacted (recorded in the lock).
    pub as_written: String,
}

/// Where a repository is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// A directory holding `ARCH/APKINDEX.tar.gz` (or an index file); also
    /// what a `file://` URL names.
    Local(PathBuf),
    /// An `http(s)://` repository.
    Url(SafeUrl),
}

/// A repository that cannot be used as written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
#[error("{message}")]
pub struct RepositoryError {
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    #[help]
    pub help: Option<String>,
}

impl Repository {
    /// Parses `[@tag ]PATH_OR_URL`; a relative path is resolved against
    /// `base`. URLs with a user name or password are accepted here (the
    /// command line may give them); the declaration refuses them.
    pub fn parse(text: &str, base: &Path) -> Result<Repository, RepositoryError> {
        let err = |message: String, help: Option<&str>| RepositoryError {
            message,
            help: help.map(str::to_owned),
        };
        let shown = assemble_io::url::redact(text);
        let (tag, location) = match text.strip_prefix('@') {
            Some(rest) => match rest.split_once(char::is_whitespace) {
                Some((tag, location)) if is_valid_repository_tag(tag) => {
                    (Some(tag.to_owned()), location.trim())
                }
                _ => return Err(err(
                    format!("invalid tagged repository '{shown}'"),
                    Some(
                        "write \"@tag URL-or-PATH\" (a tag is letters, digits, '.', '_', '+', '-')",
                    ),
                )),
            },
            None => (None, text.trim()),
        };
        if location.is_empty() {
            return Err(err("empty repository".into(), None));
        }
        let location = if location.contains("://") {
            let url = SafeUrl::parse(location).map_err(|e| {
                err(
                    format!(
                        "invalid repository URL '{}': {e}",
                        assemble_io::url::redact(location)
                    ),
                    None,
                )
            })?;
            match url.scheme() {
                "http" | "https" => Location::Url(url),
                "file" => Location::Local(
                    url.expose()
                        .to_file_path()
                        .map_err(|()| err(format!("'{shown}' is not a local path"), None))?,
                ),
                other => {
                    return Err(err(
                        format!("unsupported repository scheme '{other}' in '{shown}'"),
                        Some("use a local path, file://, http:// or https://"),
                    ))
                }
            }
        } else {
            Location::Local(resolve_path(base, location))
        };
        let as_written = match (&tag, &location) {
            (Some(t), Location::Url(u)) => format!("@{t} {u}"),
            (None, Location::Url(u)) => u.to_string(),
            _ => shown,
        };
        Ok(Repository {
            tag,
            location,
            as_written,
        })
    }

    /// True for `http(s)://` repositories.
    pub fn is_remote(&self) -> bool {
        matches!(self.location, Location::Url(_))
    }

    /// The address handed to the fetcher: the path, or the URL with its
    /// credentials (never for display).
    pub(crate) fn address(&self) -> String {
        match &self.location {
            Location::Local(p) => p.display().to_string(),
            Location::Url(u) => u.expose().as_str().to_owned(),
        }
    }
}

impl fmt::Display for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_written)
    }
}

/// `[A-Za-z0-9._+-]+`, as apk accepts after `@`.
fn is_valid_repository_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'+' | b'-'))
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

/// Joins `rel` to `base` unless absolute, dropping `.` and resolving `..`
/// lexically.
pub(crate) fn resolve_path(base: &Path, rel: impl AsRef<Path>) -> PathBuf {
    clean(&base.join(rel))
}

/// `path` without `.` components and with `..` applied lexically.
pub(crate) fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.components().next_back() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir) => {}
                _ => out.push(".."),
            },
            other => out.push(other),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// The absolute, cleaned directory of `file`.
pub(crate) fn absolute_dir(file: &Path) -> PathBuf {
    let dir = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned());
    clean(&dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories_parse_tags_paths_and_urls() {
        let base = Path::new("/w/proj");
        let r = Repository::parse("@acme ./repo", base).unwrap();
        assert_eq!(r.tag.as_deref(), Some("acme"));
        assert_eq!(r.location, Location::Local("/w/proj/repo".into()));
        assert_eq!(r.as_written, "@acme ./repo");
        let r = Repository::parse("file:///srv/repo", base).unwrap();
        assert_eq!(r.location, Location::Local("/srv/repo".into()));
        let r = Repository::parse("https://u:s3cret@h/alpine", base).unwrap();
        assert!(r.is_remote());
        assert_eq!(r.as_written, "https://****@h/alpine");
        assert!(r.address().contains("s3cret"));
        assert!(!format!("{r:?}").contains("s3cret"));
        for bad in ["@ ./x", "@acme", "", "ftp://h/x", "@a!b ./x"] {
            assert!(Repository::parse(bad, base).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_and_tags() {
        assert!(is_valid_image_name("a.b_c-1"));
        assert!(!is_valid_image_name("Other") && !is_valid_image_name("-x"));
        assert!(is_valid_tag("3.12") && !is_valid_tag("-bad") && !is_valid_tag(".x"));
    }

    #[test]
    fn paths_are_cleaned() {
        assert_eq!(
            resolve_path(Path::new("/w/p"), "../l/./b"),
            PathBuf::from("/w/l/b")
        );
        assert_eq!(resolve_path(Path::new("/w"), "/abs"), PathBuf::from("/abs"));
        assert_eq!(clean(Path::new("/..")), PathBuf::from("/"));
    }
}
