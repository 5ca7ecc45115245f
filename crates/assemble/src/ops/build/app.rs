//! The application part of a build (issue 13), between resolving and
//! writing: the crate declaring the image is built with cargo for each
//! architecture (the target chosen for the base), its binaries' ELF needs
//! become `so:` atoms resolved with the declared packages, and after the
//! packages layer comes one more layer with the binaries and `files`, plus
//! the run settings of the config and the crates in the SBOM.
//!
//! `plan` and `build` compile (the needs are only known from the built
//! binaries, and cargo is incremental, so the build after a plan finds
//! them fresh); `validate` does not: it checks the target choice, the
//! destinations and the user, and resolves the declared packages only.

use std::path::{Path, PathBuf};

use apk::package::PackageInfo;
use oci_image::rootfs::RootFs;
use oci_image::ImageRef;
use serde::Serialize;

use super::{BuildError, BuildOptions, Log};
use crate::layer::BaseState;
use crate::model::Image;
use crate::ops::Event;
use crate::rust::build::{self as cargo_build, BuildRequest, Features};
use crate::rust::elf::{self, ElfError};
use crate::rust::layer::{self as app_layer, AppLayer, AppLayerError, Item};
use crate::rust::project::{Package, ProjectError, Workspace};
use crate::rust::sbom::{self as crate_sbom, CrateSbom, SbomError};
use crate::rust::target::{self, Arch, BaseLibc, InstalledTargets, TargetChoice, TargetError};
use crate::rust::Base;

/// Why the application part of an image cannot be built.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum AppError {
    /// The crate cannot be found or selected.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Project(#[from] ProjectError),
    /// No Rust target fits.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Target(#[from] TargetError),
    /// cargo failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Cargo(#[from] cargo_build::BuildError),
    /// A binary cannot run on the image, or needs what nothing provides.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Elf(#[from] ElfError),
    /// The application layer cannot be made.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Layer(#[from] AppLayerError),
    /// The crate's SBOM data cannot be read.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Sbom(#[from] SbomError),
    /// `user` names no user of the image.
    #[error("{arch}: user '{user}' is not in the image's /etc/passwd")]
    #[diagnostic(help(
        "add a package that creates it, use a user the base has ({known}), or give a numeric uid[:gid]"
    ))]
    UnknownUser {
        /// APK architecture.
        arch: String,
        /// The user as declared.
        user: String,
        /// The users the image has.
        known: String,
    },
}

impl From<AppError> for BuildError {
    fn from(e: AppError) -> Self {
        BuildError::App(Box::new(e))
    }
}

/// What the plan reports of the application, per architecture.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct AppReport {
    /// The target decision (`x86_64: x86_64-unknown-linux-gnu, statically
    /// linked (…)`), when binaries are built.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The binaries, as installed (`/usr/bin/hello`).
    pub binaries: Vec<String>,
    /// What the binaries need from packages (`so:libfoo.so.1 ← bin/app`).
    pub requirements: Vec<String>,
}

/// The crate of an image and the binaries to build.
pub(super) struct Crate {
    workspace: Workspace,
    package: Package,
    bins: Vec<String>,
}

/// The crate of `image`, when it is declared in a Cargo.toml and has
/// binaries to build (every `[[bin]]` unless `binaries` names some).
pub(super) fn open(image: &Image) -> Result<Option<Crate>, BuildError> {
    let Some(cargo) = &image.app.package else {
        return Ok(None);
    };
    let workspace = Workspace::load(&image.file.path).map_err(AppError::from)?;
    let package = workspace
        .member(&cargo.name)
        .map_err(AppError::from)?
        .clone();
    let bins = match &image.app.binaries {
        Some(list) if list.is_empty() => return Ok(None),
        Some(list) => {
            let wanted: Vec<String> = list.iter().map(|b| b.value.clone()).collect();
            package.binaries(&wanted).map_err(AppError::from)?
        }
        None if package.bins.is_empty() => return Ok(None),
        None => package.bins.clone(),
    };
    Ok(Some(Crate {
        workspace,
        package,
        bins,
    }))
}

/// The application of one architecture.
#[derive(Default)]
pub(super) struct PlatformApp {
    /// The target, when binaries are built.
    pub target: Option<TargetChoice>,
    /// Built binaries: name, file.
    pub binaries: Vec<(String, PathBuf)>,
    /// Atoms the binaries need resolved (`so:…`).
    pub atoms: Vec<String>,
    /// Why: each atom and the binaries needing it.
    pub requirements: Vec<elf::Requirement>,
    /// The crate and its dependencies, for the SBOM.
    pub sbom: Option<CrateSbom>,
    /// For the report.
    pub report: AppReport,
}

/// Prepares the application of `arch`: target, cargo build (unless
/// `options.compile` is off), ELF needs, destination and user checks.
#[allow(clippy::too_many_arguments)]
pub(super) fn prepare(
    image: &Image,
    krate: Option<&Crate>,
    arch: &str,
    fs: &RootFs,
    base: &BaseState,
    passwd: Option<&[u8]>,
    options: &BuildOptions,
    log: &mut Log<'_>,
) -> Result<PlatformApp, BuildError> {
    let mut app = PlatformApp::default();
    check_user(image, arch, passwd)?;
    let install_dir = image.app.install_dir();
    for (i, f) in image.app.files.iter().enumerate() {
        let dir = f.src.is_dir();
        app_layer::check_destination(&format!("files[{i}]"), &f.dst, dir, fs)
            .map_err(AppError::from)?;
    }
    let Some(krate) = krate else {
        return Ok(app);
    };
    let infos: Vec<PackageInfo<'_>> = base.installed.records.iter().map(|r| r.info()).collect();
    let rust_base = Base {
        files: fs,
        packages: &infos,
        scratch: image.source.reference == ImageRef::Scratch,
    };
    let rust_arch = Arch::from_apk(arch).map_err(AppError::from)?;
    let libc = BaseLibc::detect(rust_arch, &rust_base);
    let installed = InstalledTargets::detect(&krate.workspace.root).map_err(AppError::from)?;
    let declared = image.app.target.as_ref().map(|t| t.as_str());
    let choice = target::choose(rust_arch, libc, declared, &installed).map_err(AppError::from)?;
    let decision = choice.to_string();
    let decision = decision
        .strip_prefix(&format!("{arch}: "))
        .unwrap_or(&decision);
    note(image, arch, log, &format!("Rust target {decision}"));
    app.report.target = Some(choice.to_string());
    app.report.binaries = krate
        .bins
        .iter()
        .map(|b| format!("{}/{b}", install_dir.trim_end_matches('/')))
        .collect();
    for b in &app.report.binaries {
        app_layer::check_destination(b, b, false, fs).map_err(AppError::from)?;
    }
    if !options.compile {
        app.target = Some(choice);
        return Ok(app);
    }
    note(
        image,
        arch,
        log,
        &format!(
            "compiling {} {} (cargo build --release --locked --target {})",
            krate.package.name, krate.package.version, choice.target
        ),
    );
    let features = Features::default();
    let req = BuildRequest {
        workspace: &krate.workspace,
        package: &krate.package,
        bins: &krate.bins,
        target: &choice,
        features: &features,
        offline: options.fetch.offline,
        source_date_epoch: options.source_date_epoch,
    };
    let progress = log.progress;
    let built = cargo_build::build(&req, &mut |line| {
        progress.event(Event::Cargo { line });
    })
    .map_err(AppError::from)?;
    let mut binaries = Vec::new();
    for b in &built.binaries {
        let label = format!("bin/{}", b.name);
        let needs = elf::read(&b.path).map_err(AppError::from)?;
        elf::check(&label, &needs, rust_arch, choice.linkage).map_err(AppError::from)?;
        binaries.push(elf::Binary {
            label,
            path: format!("{}/{}", install_dir.trim_matches('/'), b.name)
                .trim_start_matches('/')
                .to_owned(),
            needs,
        });
        app.binaries.push((b.name.clone(), b.path.clone()));
    }
    let requirements =
        elf::requirements(rust_arch, &binaries, &rust_base).map_err(AppError::from)?;
    for r in &requirements {
        note(image, arch, log, &r.to_string());
        app.report.requirements.push(r.to_string());
        app.atoms.push(r.atom.clone());
    }
    app.requirements = requirements;
    app.sbom = Some(
        crate_sbom::collect(
            &krate.workspace,
            &krate.package,
            &choice.target,
            &features,
            options.fetch.offline,
        )
        .map_err(AppError::from)?,
    );
    app.target = Some(choice);
    Ok(app)
}

impl PlatformApp {
    /// Fails with the requirement no package of `db` provides (called
    /// before resolving, so the error names the library, not the solver's
    /// story).
    pub fn check_providers(&self, provided: impl Fn(&str) -> bool) -> Result<(), BuildError> {
        match self.requirements.iter().find(|r| !provided(&r.atom)) {
            Some(r) => Err(AppError::from(r.unprovided()).into()),
            None => Ok(()),
        }
    }

    /// True when there is nothing to put in an application layer.
    pub fn is_empty(&self, image: &Image) -> bool {
        self.binaries.is_empty() && image.app.files.is_empty()
    }
}

/// The layer of the binaries and `files` over `fs` (the base; the
/// packages layer adds under it, never over these paths).
pub(super) fn layer(
    image: &Image,
    app: &PlatformApp,
    fs: &RootFs,
    mtime: u64,
    work: &Path,
) -> Result<Option<AppLayer>, BuildError> {
    if app.is_empty(image) {
        return Ok(None);
    }
    let mut items: Vec<Item> = app
        .binaries
        .iter()
        .map(|(name, path)| Item::binary(name, path, image.app.install_dir()))
        .collect();
    items.extend(image.app.files.iter().enumerate().map(|(i, f)| Item {
        label: format!("files[{i}]"),
        src: f.src.clone(),
        dst: f.dst.clone(),
        mode: f.mode,
    }));
    let contents = app_layer::collect(&items, fs).map_err(AppError::from)?;
    let layer =
        app_layer::write(&contents, mtime, image.compression, work).map_err(AppError::from)?;
    Ok(Some(layer))
}

/// The `created_by` of the application layer's history entry.
pub(super) fn created_by(image: &Image, app: &PlatformApp) -> String {
    let mut what: Vec<String> = app.report.binaries.clone();
    what.extend(image.app.files.iter().map(|f| f.dst.clone()));
    format!("cargo-assemble: add {}", what.join(" "))
}

/// The config's run settings: Entrypoint (default: the one binary), Cmd,
/// WorkingDir, User, ExposedPorts, StopSignal, Volumes.
pub(super) fn run_settings(
    image: &Image,
    app: &PlatformApp,
) -> serde_json::Map<String, serde_json::Value> {
    use serde_json::{json, Value};
    let mut out = serde_json::Map::new();
    let a = &image.app;
    let entrypoint = match (&a.entrypoint, app.report.binaries.as_slice()) {
        (Some(e), _) => Some(e.value.clone()),
        (None, [one]) => Some(vec![one.clone()]),
        _ => None,
    };
    if let Some(e) = entrypoint {
        out.insert("Entrypoint".into(), json!(e));
        // A base's Cmd would become arguments of a new entrypoint.
        out.insert(
            "Cmd".into(),
            a.cmd.as_ref().map_or(Value::Null, |c| json!(c.value)),
        );
    } else if let Some(c) = &a.cmd {
        out.insert("Cmd".into(), json!(c.value));
    }
    if let Some(w) = &a.workdir {
        out.insert("WorkingDir".into(), json!(w.value));
    }
    if let Some(u) = &a.user {
        out.insert("User".into(), json!(u.value));
    }
    if !a.ports.is_empty() {
        let ports: serde_json::Map<String, Value> = a
            .ports
            .iter()
            .map(|p| (p.value.clone(), json!({})))
            .collect();
        out.insert("ExposedPorts".into(), Value::Object(ports));
    }
    if let Some(s) = &a.stop_signal {
        out.insert("StopSignal".into(), json!(s.value));
    }
    if !a.volumes.is_empty() {
        let volumes: serde_json::Map<String, Value> = a
            .volumes
            .iter()
            .map(|v| (v.value.clone(), json!({})))
            .collect();
        out.insert("Volumes".into(), Value::Object(volumes));
    }
    out
}

/// A named `user` must be in the image's `/etc/passwd`: the base's, with
/// the declared accounts merged in (the packages' users are created by
/// scripts cargo-assemble does not run).
fn check_user(image: &Image, arch: &str, passwd: Option<&[u8]>) -> Result<(), BuildError> {
    let Some(user) = &image.app.user else {
        return Ok(());
    };
    let name = user.split_once(':').map_or(user.as_str(), |(u, _)| u);
    if name.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(());
    }
    let text = String::from_utf8_lossy(passwd.unwrap_or_default());
    let users: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split(':').next())
        .filter(|u| !u.is_empty())
        .collect();
    if users.contains(&name) {
        return Ok(());
    }
    Err(AppError::UnknownUser {
        arch: arch.to_owned(),
        user: assemble_io::escape::escape(user).into_owned(),
        known: if users.is_empty() {
            "it has no /etc/passwd".to_owned()
        } else {
            users
                .iter()
                .map(|u| assemble_io::escape::escape(u).into_owned())
                .collect::<Vec<_>>()
                .join(", ")
        },
    }
    .into())
}

fn note(image: &Image, arch: &str, log: &Log<'_>, text: &str) {
    log.progress.event(Event::Note {
        image: &image.name,
        arch,
        text,
    });
}
