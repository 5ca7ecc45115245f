//! `build`: source image + added packages → a new OCI image, locally.
//!
//! The phases, in order:
//! 1. [`source`]: open the source image, pick the architectures;
//! 2. [`platform`]: per architecture, read the source's apk state, load
//!    keys and verified indexes, resolve the additions — everything that
//!    can fail on the declaration's account fails here, before anything is
//!    fetched or written (a dry run, as `plan` and `validate` do, stops
//!    after this phase);
//! 3. [`write`]: per architecture fetch and verify the packages, write the
//!    layer, derive config, manifest and SBOM ([`image`]); then finish the
//!    output. Everything goes into a temporary layout that replaces the
//!    output only when complete.

mod extras;
mod image;
mod platform;
mod source;
mod write;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::publish::{self, PublishError, Published};
use super::{FetchSettings, IndexError, Progress, Warning};
use crate::layer::LayerError;
use crate::lock::LockedPackage;
use crate::model::Image;
use oci_image::registry::RegistryRef;
use oci_image::{ImageRef, OciError};

/// Where a built image goes.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Output {
    /// An OCI layout directory, `oci:DIR`.
    Layout(PathBuf),
    /// A tar of an OCI layout, `oci-archive:FILE`.
    Archive(PathBuf),
    /// A registry repository, `docker://HOST[:PORT]/REPO`: the image is
    /// written to a temporary layout and pushed under every tag.
    Registry(RegistryRef),
}

/// An output that cannot be written to.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("output '{text}': {reason}")]
#[diagnostic(help("write oci:DIR, oci-archive:FILE or docker://HOST[:PORT]/REPO"))]
pub struct OutputError {
    /// The output as given.
    pub text: String,
    /// What is wrong.
    pub reason: String,
}

impl Output {
    /// Parses `oci:DIR`, `oci-archive:FILE` or `docker://HOST/REPO` (the
    /// same transports as a source, without a tag: tags come from the
    /// declaration).
    pub fn parse(text: &str) -> Result<Output, OutputError> {
        let err = |reason: String| OutputError {
            text: text.to_owned(),
            reason,
        };
        match ImageRef::parse(text) {
            Ok(ImageRef::Layout {
                path,
                reference: None,
            }) => Ok(Output::Layout(path)),
            Ok(ImageRef::Archive {
                path,
                reference: None,
            }) => Ok(Output::Archive(path)),
            Ok(ImageRef::Registry(r)) if r.tag().is_none() && r.digest().is_none() => {
                Ok(Output::Registry(r))
            }
            Ok(ImageRef::Layout { .. } | ImageRef::Archive { .. } | ImageRef::Registry(_)) => {
                Err(err(
                    "the tags of the output come from `tags` in the declaration; drop the ':REF'"
                        .into(),
                ))
            }
            Ok(other) => Err(err(format!("'{other}' cannot be written to"))),
            Err(OciError::Reference { reason, .. }) => Err(err(reason)),
            Err(e) => Err(err(e.to_string())),
        }
    }

    /// `target/assemble/<name>`, the default output of an image.
    pub fn default_for(image: &Image) -> Output {
        Output::Layout(Path::new("target/assemble").join(&*image.name))
    }

    /// The directory or file written (`None` for a registry).
    pub fn path(&self) -> Option<&Path> {
        match self {
            Output::Layout(p) | Output::Archive(p) => Some(p),
            Output::Registry(_) => None,
        }
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Output::Layout(p) => write!(f, "oci:{}", p.display()),
            Output::Archive(p) => write!(f, "oci-archive:{}", p.display()),
            Output::Registry(r) => r.fmt(f),
        }
    }
}

/// `arch → name → version`.
pub type ArchVersions = BTreeMap<String, BTreeMap<String, String>>;

/// Versions from the lock, per architecture.
#[derive(Clone, Debug, Default)]
pub struct LockPins {
    /// Versions to keep while the declaration allows.
    pub keep: ArchVersions,
    /// `--locked`: the whole lock, which the result must equal exactly (an
    /// architecture without an entry locks nothing).
    pub exact: Option<ArchVersions>,
    /// `--locked`: `arch → source manifest digest` the source image must
    /// still have (a moved tag is refused, not silently rebuilt).
    pub sources: Option<BTreeMap<String, String>>,
}

/// Options of a build.
#[derive(Clone, Debug)]
pub struct BuildOptions {
    /// Where the image goes.
    pub output: Output,
    /// How repositories are reached.
    pub fetch: FetchSettings,
    /// `SOURCE_DATE_EPOCH`: the time of every entry and document.
    pub source_date_epoch: Option<u64>,
    /// Locked versions.
    pub pins: LockPins,
    /// Stop after resolving: nothing is fetched or written.
    pub dry_run: bool,
}

impl BuildOptions {
    /// A build of `image` to its default output.
    pub fn new(image: &Image) -> BuildOptions {
        BuildOptions {
            output: Output::default_for(image),
            fetch: FetchSettings::default(),
            source_date_epoch: None,
            pins: LockPins::default(),
            dry_run: false,
        }
    }
}

/// What happened to one architecture.
#[derive(Clone, Debug, Serialize)]
pub struct PlatformReport {
    /// APK architecture.
    pub arch: String,
    /// Digest of the image manifest (empty for a dry run).
    pub manifest_digest: String,
    /// `name-version` of every added package, in install order.
    pub added: Vec<String>,
    /// Compressed size of the new layer.
    pub layer_size: u64,
    /// SBOM file written beside the image.
    pub sbom: PathBuf,
    /// Manifest digest of the source image (`scratch` for none).
    pub source_digest: String,
    /// The added packages with identity and repository, sorted by name
    /// (what the lock records).
    pub packages: Vec<LockedPackage>,
}

/// The result of a build.
#[derive(Debug, Serialize)]
pub struct BuildReport {
    /// The output: its path, or the registry repository.
    pub output: PathBuf,
    /// Digest of the image index (several platforms) or the manifest
    /// (empty for a dry run).
    pub digest: String,
    /// Per architecture.
    pub platforms: Vec<PlatformReport>,
    /// Warnings for the user.
    pub warnings: Vec<Warning>,
    /// Registries the image was pushed to (`--output docker://…`, or
    /// `publish` under `apply`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub published: Vec<Published>,
}

/// Why a build failed. Nothing was written, earlier outputs are intact.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum BuildError {
    /// The source image cannot be read.
    #[error("cannot read the source image {source_ref}")]
    Source {
        /// The source as written.
        source_ref: String,
        /// Cause.
        #[source]
        error: OciError,
    },
    /// The fetcher cannot be set up (cache, credentials, HTTP client).
    #[error("cannot set up fetching")]
    Fetcher(#[source] Box<apk_repo::FetchError>),
    /// `--locked`, and the source image is no longer what the lock
    /// recorded (its tag was moved).
    #[error(
        "{arch}: the source {source_ref} is now {current}, but assembly.lock records {locked}"
    )]
    #[diagnostic(help(
        "the source tag was moved; run without --locked to build on the new source and update assembly.lock"
    ))]
    SourceMoved {
        /// APK architecture.
        arch: String,
        /// The source as written.
        source_ref: String,
        /// The digest in the lock.
        locked: String,
        /// The digest now.
        current: String,
    },
    /// Pushing the image failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Publish(#[from] PublishError),
    /// No architecture to build.
    #[error("set `architectures` (the source has none to take them from)")]
    NoArchitectures,
    /// A declared architecture the source image does not have.
    #[error("the source image has no {arch} image (it has: {})", available.join(", "))]
    MissingArchitecture {
        /// The architecture.
        arch: String,
        /// Those it has.
        available: Vec<String>,
    },
    /// The source image's apk database is unreadable.
    #[error("{arch}: the source image's apk database")]
    SourceDatabase {
        /// APK architecture.
        arch: String,
        /// Cause.
        #[source]
        error: apk::database::installed::InstalledError,
    },
    /// A key of the keyring cannot be used.
    #[error("keyring entry {}", path.display())]
    Key {
        /// The key file or directory.
        path: PathBuf,
        /// Cause.
        #[source]
        error: apk::signature::KeyError,
    },
    /// A configured repository's index cannot be used.
    #[error("{arch}: repository {repository}")]
    #[diagnostic(help(
        "{}",
        crate::ops::repos::trust_help(error, crate::ops::repos::KeySource::Declaration)
            .unwrap_or_default()
    ))]
    Index {
        /// APK architecture.
        arch: String,
        /// The repository, credentials redacted.
        repository: String,
        /// Cause.
        #[source]
        error: Box<IndexError>,
    },
    /// More repositories than one resolution can hold.
    #[error("{arch}: {error}")]
    Universe {
        /// APK architecture.
        arch: String,
        /// Cause.
        error: apk_solve::db::DbError,
    },
    /// The packages cannot be resolved.
    #[error("{arch}: cannot add the requested packages")]
    #[diagnostic(help("{}", resolve_help(error)))]
    Resolve {
        /// APK architecture.
        arch: String,
        /// Why, with the solver's structured explanation.
        #[source]
        error: apk_solve::ResolveError,
    },
    /// A resolved package no repository offers for download (only a
    /// broken index can cause this).
    #[error("{arch}: {package} is in no repository with an identity to fetch it by")]
    Unfetchable {
        /// APK architecture.
        arch: String,
        /// `name-version`.
        package: String,
    },
    /// Fetching packages failed.
    #[error("{arch}: fetching packages")]
    Fetch {
        /// APK architecture.
        arch: String,
        /// Cause.
        #[source]
        error: Box<apk_repo::FetchError>,
    },
    /// The layer cannot be built.
    #[error("{arch}: building the layer")]
    Layer {
        /// APK architecture.
        arch: String,
        /// Cause.
        #[source]
        error: Box<LayerError>,
    },
    /// The layer file is not what the layer writer wrote (changed on disk
    /// before it was copied into the image).
    #[error("{arch}: the layer file changed while it was copied into the image")]
    LayerChanged {
        /// APK architecture.
        arch: String,
    },
    /// The image's config or manifest would break a registry's or
    /// runtime's limits (an environment entry with `=` or NUL, a document
    /// over 4 MiB): found before anything is resolved or written.
    #[error("{0}")]
    #[diagnostic(help("shorten or fix the `environment` and `annotations` of the image"))]
    Limit(String),
    /// The declaration's accounts, certificates or runtime keys clash
    /// with the source image.
    #[error("{arch}: {message}")]
    #[diagnostic(help("{}", help.as_deref().unwrap_or("")))]
    Extras {
        /// APK architecture.
        arch: String,
        /// What clashes, naming both sides.
        message: String,
        /// How to fix it.
        help: Option<String>,
    },
    /// Writing the image failed.
    #[error("writing the image")]
    Image(#[source] OciError),
    /// Writing a file failed.
    #[error("writing {}", path.display())]
    Write {
        /// The path.
        path: PathBuf,
        /// Cause.
        #[source]
        error: std::io::Error,
    },
}

/// A build error of one image of several (plan, apply, outdated).
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("image '{image}'")]
pub struct ImageError {
    /// The image.
    pub image: String,
    /// Why.
    #[source]
    #[diagnostic_source]
    pub error: BuildError,
}

impl ImageError {
    /// `error` of `image`.
    pub fn new(image: &Image, error: BuildError) -> Self {
        ImageError {
            image: image.name.value.clone(),
            error,
        }
    }
}

/// The fix for a resolution failure.
fn resolve_help(error: &apk_solve::ResolveError) -> &'static str {
    use apk_solve::ResolveError as E;
    match error {
        E::MissingTags { .. } => "declare each tag in `repositories` as \"@tag URL-or-PATH\"",
        E::Unsatisfiable(_) => "see the explanation below",
        E::PinsUnsatisfiable(_) | E::PinsChanged { .. } => {
            "assembly.lock no longer fits the declaration; run without --locked to update it"
        }
    }
}

impl BuildError {
    /// The solver's structured explanation, when resolving failed.
    pub fn resolve_report(&self) -> Option<&apk_solve::ErrorReport> {
        match self {
            BuildError::Resolve { error, .. } => error.report(),
            _ => None,
        }
    }

    /// The index of the declared atom of `image` whose name the solver's
    /// explanation is about.
    pub fn culprit(&self, image: &Image) -> Option<usize> {
        let names = self.resolve_report().map(|r| r.names()).unwrap_or_default();
        image
            .packages
            .iter()
            .position(|p| names.contains(&p.name()))
    }

    /// The error with the solver's explanation, or else its causes, as one
    /// message.
    pub fn explain(&self) -> String {
        match self.resolve_report() {
            Some(report) => format!("{self}\n{}", report.render(usize::MAX).trim_end()),
            None => super::warning::chain(self),
        }
    }
}

/// Builds `image` (or, with `dry_run`, resolves it).
pub fn build(
    image: &Image,
    options: &BuildOptions,
    progress: &dyn Progress,
) -> Result<BuildReport, BuildError> {
    crate::image_limits::check_environment(&image.environment).map_err(BuildError::Limit)?;
    let source = source::open(image, &options.fetch)?;
    let archs = source.architectures(image)?;
    for arch in &archs {
        let platform = source.platform(arch)?;
        if let Some(locked) = options.pins.sources.as_ref().and_then(|s| s.get(arch)) {
            let current = source::digest(platform);
            if *locked != current {
                return Err(BuildError::SourceMoved {
                    arch: arch.clone(),
                    source_ref: image.source.as_written.clone(),
                    locked: locked.clone(),
                    current,
                });
            }
        }
        write::probe_documents(image, platform, arch)?;
    }
    let fetcher = super::repos::fetcher(&options.fetch, false)
        .map_err(|e| BuildError::Fetcher(Box::new(e)))?;
    let mut log = Log {
        progress,
        warnings: Vec::new(),
    };
    for message in extras::declared_warnings(image) {
        log.warn(Warning::Extras { message });
    }
    let mut plans = Vec::new();
    for arch in &archs {
        let plan = platform::plan(image, &source, arch, &fetcher, options, &mut log)?;
        for message in &plan.generated.warnings {
            log.warn(Warning::Extras {
                message: format!("{arch}: {message}"),
            });
        }
        plans.push(plan);
    }
    if options.dry_run {
        return Ok(BuildReport {
            output: output_name(&options.output),
            digest: String::new(),
            platforms: plans.iter().map(|p| p.report()).collect(),
            warnings: log.warnings,
            published: Vec::new(),
        });
    }
    let Output::Registry(dest) = &options.output else {
        return write::write(image, &source, &plans, &fetcher, options, &mut log);
    };
    // A registry: a temporary layout beside the default output, pushed.
    let parent = image.dir().join("target/assemble");
    let io_err = |error| BuildError::Write {
        path: parent.clone(),
        error,
    };
    std::fs::create_dir_all(&parent).map_err(io_err)?;
    let work = tempfile::Builder::new()
        .prefix(".assemble-push-")
        .tempdir_in(&parent)
        .map_err(io_err)?;
    let layout = work.path().join("layout");
    let local = BuildOptions {
        output: Output::Layout(layout.clone()),
        ..options.clone()
    };
    let mut report = write::write(image, &source, &plans, &fetcher, &local, &mut log)?;
    report.published = publish::publish_from_env(
        &options.fetch,
        &layout,
        std::slice::from_ref(dest),
        &image.source.reference,
        progress,
    )?;
    report.output = output_name(&options.output);
    for p in &mut report.platforms {
        p.sbom = PathBuf::new();
    }
    Ok(report)
}

/// The report's `output`: the path, or the registry reference.
fn output_name(output: &Output) -> PathBuf {
    match output.path() {
        Some(p) => p.to_owned(),
        None => PathBuf::from(output.to_string()),
    }
}

/// Progress plus the warnings collected for the report.
struct Log<'p> {
    progress: &'p dyn Progress,
    warnings: Vec<Warning>,
}

impl Log<'_> {
    fn step(&self, image: &Image, arch: &str, step: super::Step) {
        self.progress.event(super::Event::Step {
            image: &image.name,
            arch,
            step,
        });
    }

    fn warn(&mut self, warning: Warning) {
        self.progress.event(super::Event::Warning(&warning));
        self.warnings.push(warning);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_parse_like_sources_without_tags() {
        assert_eq!(
            Output::parse("oci:out/dir").unwrap(),
            Output::Layout("out/dir".into())
        );
        assert_eq!(
            Output::parse("oci-archive:/tmp/x.tar").unwrap(),
            Output::Archive("/tmp/x.tar".into())
        );
        assert_eq!(Output::parse("oci:out").unwrap().to_string(), "oci:out");
        for bad in ["scratch", "out", "oci:", "oci:dir:latest"] {
            assert!(Output::parse(bad).is_err(), "{bad}");
        }
    }
}
