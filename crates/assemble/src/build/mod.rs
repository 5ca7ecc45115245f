//! `build`: source image + added packages → a new OCI image, locally.
//!
//! Per architecture: read the source image's effective filesystem (only
//! its metadata and the apk state files), resolve the additions with the
//! image policy against the repositories, fetch and verify the packages,
//! write one layer (checking file ownership before anything is written),
//! and derive config, manifest and SBOM. Everything goes into a temporary
//! layout that replaces the output only when complete.

pub mod image;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::layer::{self, BaseState, LayerSpec, PackageFile};
use crate::sbom;
use apk::database::InstalledDb;
use apk::dependency::{Constraint, Context, Dependency};
use apk::index::archive::Trust;
use apk::index::text::{self, Strictness, Validation};
use apk::package::PackageInfo;
use apk::signature::{self, Keyring};
use apk_repo::{FetchOptions, Fetcher, PackageRequest};
use apk_solve::{self as solve, ChangeKind, Db, PkgId, Policy, Request, DEFAULT_TAG};
use assemble_io::escape::escape;
use assemble_io::url::strip_credentials;
use oci_image::layout::{PlatformImage, Source};
use oci_image::rootfs::RootFs;
use oci_image::write::LayoutWriter;
use oci_image::{Descriptor, ImageRef, Platform, REF_NAME_ANNOTATION};

use image::{media, ConfigChange};

/// What to build (an `[image]` of assembly.toml, paths resolved).
#[derive(Clone, Debug, Default)]
pub struct BuildSpec {
    /// Image name.
    pub name: String,
    /// `oci:PATH[:REF]`, `oci-archive:FILE[:REF]` or `scratch`, paths resolved.
    pub source: String,
    /// The source as the user wrote it (recorded in the image, so the
    /// output does not depend on where the project lives).
    pub source_name: String,
    /// Atoms to add.
    pub packages: Vec<String>,
    /// Repositories (paths resolved, URLs as written).
    pub repositories: Vec<String>,
    /// The repositories as written in the declaration (parallel to
    /// `repositories`), recorded in the lock.
    pub repository_names: Vec<String>,
    /// Key files.
    pub keyring: Vec<PathBuf>,
    /// APK architectures; empty = those of the source.
    pub architectures: Vec<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Annotations and labels.
    pub annotations: BTreeMap<String, String>,
    /// Environment additions.
    pub environment: BTreeMap<String, String>,
}

/// Where the image goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// An OCI layout directory.
    Layout(PathBuf),
    /// A tar of a layout.
    Archive(PathBuf),
}

impl Output {
    /// Parses `oci:DIR` or `oci-archive:FILE`.
    pub fn parse(text: &str) -> Result<Output, BuildError> {
        if let Some(p) = text.strip_prefix("oci-archive:") {
            Ok(Output::Archive(PathBuf::from(p)))
        } else if let Some(p) = text.strip_prefix("oci:") {
            Ok(Output::Layout(PathBuf::from(p)))
        } else {
            Err(BuildError::Input(format!(
                "output '{text}': expected oci:DIR or oci-archive:FILE"
            )))
        }
    }

    fn path(&self) -> &Path {
        match self {
            Output::Layout(p) | Output::Archive(p) => p,
        }
    }
}

/// Options of a build.
#[derive(Clone, Debug, Default)]
pub struct BuildOptions {
    /// Use only the package cache.
    pub offline: bool,
    /// `SOURCE_DATE_EPOCH`.
    pub source_date_epoch: Option<u64>,
    /// Package cache directory (default: the user cache dir).
    pub cache_dir: Option<PathBuf>,
    /// Locked versions per architecture (`arch → name → version`), used
    /// unless the declaration no longer allows them.
    pub pins: BTreeMap<String, BTreeMap<String, String>>,
    /// Fail instead of re-resolving when the result differs from `pins`
    /// (`--locked`).
    pub locked: bool,
    /// Stop after resolving: nothing is fetched or written.
    pub dry_run: bool,
}

/// What happened to one architecture.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PlatformReport {
    /// APK architecture.
    pub arch: String,
    /// Digest of the image manifest.
    pub manifest_digest: String,
    /// `name-version` of every added package, in install order.
    pub added: Vec<String>,
    /// Compressed size of the new layer.
    pub layer_size: u64,
    /// SBOM file written beside the image.
    pub sbom: PathBuf,
    /// Manifest digest of the source image (`scratch` for none).
    pub source_digest: String,
    /// The added packages with identity and repository, for the lock.
    pub packages: Vec<crate::lock::LockedPackage>,
}

/// The result of a build.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BuildReport {
    /// The output as given.
    pub output: PathBuf,
    /// Digest of the image index (several platforms) or the manifest.
    pub digest: String,
    /// Per architecture.
    pub platforms: Vec<PlatformReport>,
    /// Warnings for the user.
    pub warnings: Vec<String>,
}

/// Progress events for the CLI.
#[derive(Clone, Debug)]
pub enum Event<'a> {
    /// A step starts.
    Step(&'a str, &'a str),
    /// A package was fetched (done, total).
    Fetched(usize, usize),
}

/// Why a build failed. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Bad input (spec, output, architectures).
    #[error("{0}")]
    Input(String),
    /// The source image.
    #[error(transparent)]
    Oci(#[from] oci_image::OciError),
    /// Keys.
    #[error(transparent)]
    Key(#[from] signature::KeyError),
    /// A repository or index.
    #[error("{0}")]
    Repository(String),
    /// Resolution failed.
    #[error("{arch}: cannot add the requested packages:\n{report}")]
    Solve {
        /// Architecture.
        arch: String,
        /// apk's explanation.
        report: String,
    },
    /// Fetching.
    #[error(transparent)]
    Fetch(#[from] apk_repo::FetchError),
    /// The layer.
    #[error("{arch}: {error}")]
    Layer {
        /// Architecture.
        arch: String,
        /// Cause.
        error: layer::LayerError,
    },
    /// Writing the output.
    #[error("writing {path}: {error}")]
    Io {
        /// The path.
        path: PathBuf,
        /// Cause.
        error: std::io::Error,
    },
}

/// Paths of the source filesystem whose content the build reads.
fn captured(path: &str) -> bool {
    const DB: [&str; 2] = ["lib/apk/db/", "usr/lib/apk/db/"];
    let in_db = DB.iter().any(|d| {
        path.strip_prefix(d)
            .is_some_and(|f| matches!(f, "installed" | "scripts.tar" | "triggers"))
    });
    in_db
        || matches!(
            path,
            "etc/apk/world" | "etc/apk/repositories" | "etc/apk/arch"
        )
        || path.starts_with("etc/apk/keys/")
}

/// The apk state of a source image (where its database lives and the
/// files around it).
fn base_state(
    fs: &RootFs,
    files: &BTreeMap<String, Vec<u8>>,
    location: &str,
) -> Result<BaseState, BuildError> {
    let text = |p: &str| {
        files
            .get(p)
            .map(|b| String::from_utf8_lossy(b).into_owned())
    };
    let db_dir = ["lib/apk/db", "usr/lib/apk/db"]
        .into_iter()
        .find(|d| {
            let resolved = fs.resolve(&format!("{d}/installed"));
            resolved.is_some_and(|r| files.contains_key(&r))
        })
        .unwrap_or("lib/apk/db");
    let resolved = |f: &str| {
        fs.resolve(&format!("{db_dir}/{f}"))
            .unwrap_or_else(|| format!("{db_dir}/{f}"))
    };
    let installed = match files.get(&resolved("installed")) {
        Some(b) => InstalledDb::from_bytes(b, &format!("{location}:{db_dir}/installed"))
            .map_err(|e| BuildError::Input(format!("the source image's apk database: {e}")))?,
        None => InstalledDb::new(),
    };
    Ok(BaseState {
        db_dir: db_dir.to_owned(),
        installed,
        scripts: files.get(&resolved("scripts.tar")).cloned(),
        triggers: text(&resolved("triggers")),
        world: text("etc/apk/world"),
        repositories: text("etc/apk/repositories"),
    })
}

/// One repository's parsed index for an architecture.
struct RepoIndex {
    /// The repository as configured (credentials included: to fetch).
    repo: String,
    /// Without credentials: for messages, the lock and the state.
    label: String,
    text: String,
}

/// Builds `spec` into `output`.
pub fn build(
    spec: &BuildSpec,
    output: &Output,
    options: &BuildOptions,
    progress: &dyn Fn(Event<'_>),
) -> Result<BuildReport, BuildError> {
    crate::image_limits::check_environment(&spec.environment).map_err(BuildError::Input)?;
    let image_ref = ImageRef::parse(&spec.source)?;
    let source = if image_ref.is_scratch() {
        None
    } else {
        Some(oci_image::layout::open(&image_ref)?)
    };
    let archs = architectures(spec, source.as_ref())?;
    let parent = output
        .path()
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    // A dry run writes nothing, not even temporary files next to the output.
    let scratch_root = if options.dry_run {
        std::env::temp_dir()
    } else {
        parent.to_owned()
    };
    std::fs::create_dir_all(&scratch_root).map_err(|error| BuildError::Io {
        path: scratch_root.clone(),
        error,
    })?;
    let work = tempfile::Builder::new()
        .prefix(".assemble-")
        .tempdir_in(&scratch_root)
        .map_err(|error| BuildError::Io {
            path: scratch_root.clone(),
            error,
        })?;
    let layout_dir = match output {
        Output::Layout(p) => p.clone(),
        Output::Archive(_) => work.path().join("layout"),
    };
    let mut writer = if options.dry_run {
        None
    } else {
        Some(LayoutWriter::create(&layout_dir)?)
    };
    let fetcher = Fetcher::new(FetchOptions {
        offline: options.offline,
        cache_dir: options.cache_dir.clone(),
        ..Default::default()
    })?;
    // The source image's own repositories are optional extras (often
    // unreachable from a build machine): try each once, without retries.
    let source_fetcher = Fetcher::new(FetchOptions {
        offline: options.offline,
        cache_dir: options.cache_dir.clone(),
        retry: apk_repo::RetryPolicy {
            attempts: 1,
            ..Default::default()
        },
        ..Default::default()
    })?;
    let mut platforms = Vec::new();
    let mut manifests = Vec::new();
    let mut warnings = Vec::new();
    let mut sboms = Vec::new();
    for arch in &archs {
        progress(Event::Step(arch, "reading the source image"));
        let platform_image = match &source {
            Some(s) => Some(platform_image(s, arch)?),
            None => None,
        };
        probe_documents(spec, platform_image, arch)?;
        let (fs, files) = match (&source, platform_image) {
            (Some(s), Some(img)) => RootFs::scan(s, img, &captured)?,
            _ => (RootFs::new(), BTreeMap::new()),
        };
        let base = base_state(&fs, &files, &spec.source)?;

        // Keys: the source's, then the configured ones.
        let mut keyring = Keyring::new();
        let mut key_files: Vec<(String, Vec<u8>)> = Vec::new();
        for (path, pem) in &files {
            if let Some(name) = path.strip_prefix("etc/apk/keys/") {
                if let Some(k) = signature::parse_public_key(&String::from_utf8_lossy(pem)) {
                    keyring.insert(name.to_owned(), k);
                }
            }
        }
        for k in &spec.keyring {
            keyring.add_path(k)?;
            let name = k
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let pem = std::fs::read(k).map_err(|error| BuildError::Io {
                path: k.clone(),
                error,
            })?;
            key_files.push((name, pem));
        }

        // Repositories: the configured ones, then those the source lists.
        progress(Event::Step(arch, "loading repository indexes"));
        let mut indexes = Vec::new();
        for r in &spec.repositories {
            indexes.push(load_index(&fetcher, r, arch, &keyring)?);
        }
        for line in base.repositories.as_deref().unwrap_or("").lines() {
            let r = line.trim();
            if r.is_empty()
                || r.starts_with('#')
                || r.starts_with('@')
                || spec.repositories.iter().any(|x| x == r)
            {
                continue;
            }
            match load_index(&source_fetcher, r, arch, &keyring) {
                Ok(i) => indexes.push(i),
                Err(e) => warnings.push(format!(
                    "{arch}: skipping the source image's repository {}: {e}",
                    escape(&strip_credentials(r))
                )),
            }
        }
        let parsed: Vec<_> = indexes
            .iter()
            .map(|i| {
                text::parse_with(&i.text, &i.label, Strictness::Lenient, Validation::Deferred)
                    .map_err(|e| BuildError::Repository(e.to_string()))
            })
            .collect::<Result<_, _>>()?;

        progress(Event::Step(arch, "resolving"));
        let installed_infos: Vec<PackageInfo<'_>> =
            base.installed.records.iter().map(|r| r.info()).collect();
        let mut db = Db::new(&[arch.as_str(), "noarch"]);
        for (idx, i) in parsed.iter().zip(&indexes) {
            db.add_repository(&i.label, None, true, false, idx.records.iter())
                .map_err(|e| BuildError::Repository(e.to_string()))?;
        }
        for info in &installed_infos {
            db.add_installed(info, None);
        }
        db.finish();
        let atoms: Vec<Dependency<'_>> = spec
            .packages
            .iter()
            .map(|p| {
                Dependency::parse(p, Context::World).map_err(|e| BuildError::Input(e.to_string()))
            })
            .collect::<Result<_, _>>()?;
        let mut world: Vec<Dependency<'_>> = installed_infos
            .iter()
            .map(|i| Dependency {
                name: &i.name,
                tag: None,
                conflict: false,
                constraint: Constraint::Any,
            })
            .collect();
        for a in &atoms {
            world.retain(|w| w.name != a.name);
            world.push(*a);
        }
        let mut solution = solve_world(&mut db, &world).map_err(|e| BuildError::Solve {
            arch: arch.clone(),
            report: e.report.render(usize::MAX),
        })?;
        // Locked versions: pin every locked package the new resolution
        // still needs (and the declaration does not constrain itself);
        // when that is unsatisfiable, the lock is stale and re-resolving
        // wins, unless `--locked`.
        let empty = BTreeMap::new();
        let pins = options.pins.get(arch.as_str()).unwrap_or(&empty);
        if !pins.is_empty() {
            let needed: Vec<&str> = installs(&db, &solution)
                .map(|p| db.name_str(db.packages[p].name))
                .collect();
            let mut pinned = world.clone();
            for (name, version) in pins {
                let constrained = atoms
                    .iter()
                    .any(|a| a.name == name && a.constraint != Constraint::Any);
                if !needed.contains(&name.as_str())
                    || constrained
                    || !apk::version::is_valid(version)
                {
                    continue;
                }
                pinned.retain(|w| w.name != name);
                pinned.push(Dependency {
                    name,
                    tag: None,
                    conflict: false,
                    constraint: Constraint::Version(apk::version::Op::EQUAL, version),
                });
            }
            match solve_world(&mut db, &pinned) {
                Ok(s) => solution = s,
                Err(e) if options.locked => {
                    return Err(BuildError::Input(format!(
                        "{arch}: assembly.lock no longer fits the declaration (and --locked forbids re-resolving):\n{}",
                        e.report.render(usize::MAX)
                    )))
                }
                Err(_) => {}
            }
        }
        let adds: Vec<PkgId> = installs(&db, &solution).collect();

        let source_digest =
            platform_image.map_or_else(|| "scratch".to_owned(), |i| i.manifest.digest.to_string());
        let mut locked_packages: Vec<crate::lock::LockedPackage> = Vec::new();
        for &p in &adds {
            let pkg = &db.packages[p];
            let repo = first_repo(pkg.repos).unwrap_or(0);
            locked_packages.push(crate::lock::LockedPackage {
                name: db.name_str(pkg.name).to_owned(),
                version: pkg.version.to_owned(),
                checksum: pkg.info.checksum.map(|c| c.to_string()).unwrap_or_default(),
                repository: spec
                    .repositories
                    .iter()
                    .position(|r| indexes.get(repo).is_some_and(|i| &i.repo == r))
                    .and_then(|k| spec.repository_names.get(k).map(|n| strip_credentials(n)))
                    .or_else(|| indexes.get(repo).map(|i| i.label.clone()))
                    .unwrap_or_default(),
            });
        }
        locked_packages.sort();
        if options.locked {
            let now: BTreeMap<&str, &str> = locked_packages
                .iter()
                .map(|p| (p.name.as_str(), p.version.as_str()))
                .collect();
            let before: BTreeMap<&str, &str> =
                pins.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            if now != before {
                return Err(BuildError::Input(format!(
                    "{arch}: assembly.lock is out of date (it locks {}, the declaration now needs {}); \
                     run without --locked to update it",
                    fmt_versions(&before),
                    fmt_versions(&now)
                )));
            }
        }
        if options.dry_run {
            platforms.push(PlatformReport {
                arch: arch.clone(),
                manifest_digest: String::new(),
                added: locked_packages
                    .iter()
                    .map(|p| format!("{}-{}", p.name, p.version))
                    .collect(),
                layer_size: 0,
                sbom: PathBuf::new(),
                source_digest,
                packages: locked_packages,
            });
            continue;
        }

        let Some(writer) = writer.as_mut() else {
            continue;
        };
        progress(Event::Step(arch, "fetching packages"));
        let mut requests = Vec::new();
        for &p in &adds {
            let pkg = &db.packages[p];
            let repo = first_repo(pkg.repos)
                .filter(|&i| i < indexes.len())
                .ok_or_else(|| {
                    BuildError::Repository(format!("{} is in no repository", db.pkg_label(p)))
                })?;
            let identity = pkg.info.checksum.ok_or_else(|| {
                BuildError::Repository(format!("{} has no checksum", db.pkg_label(p)))
            })?;
            requests.push(PackageRequest {
                repo: indexes[repo].repo.clone(),
                arch: arch.clone(),
                file_name: format!("{}.apk", db.pkg_label(p)),
                identity,
                size: pkg.info.size,
            });
        }
        let files_fetched = fetcher.fetch_packages(&requests)?;
        progress(Event::Fetched(files_fetched.len(), requests.len()));

        progress(Event::Step(arch, "writing the layer"));
        let package_files: Vec<PackageFile> = files_fetched
            .into_iter()
            .zip(&requests)
            .map(|(path, r)| PackageFile {
                path,
                identity: r.identity,
            })
            .collect();
        let layer_spec = LayerSpec {
            world: spec.packages.clone(),
            repositories: spec
                .repositories
                .iter()
                .filter(|r| r.starts_with("http://") || r.starts_with("https://"))
                .cloned()
                .collect(),
            keys: key_files,
            mtime: options.source_date_epoch,
        };
        let layer = layer::build(&package_files, &fs, &base, &layer_spec, work.path()).map_err(
            |error| BuildError::Layer {
                arch: arch.clone(),
                error,
            },
        )?;
        warnings.extend(layer.warnings.iter().map(|w| format!("{arch}: {w}")));

        // Blobs: source layers byte for byte, the new layer, config, manifest.
        let mut layers: Vec<Value> = Vec::new();
        if let (Some(s), Some(img)) = (&source, platform_image) {
            for l in &img.layers {
                writer.copy_blob(s, l)?;
                layers.push(serde_json::to_value(l).unwrap_or(Value::Null));
            }
        }
        let layer_file =
            std::fs::File::open(layer.file.path()).map_err(|error| BuildError::Io {
                path: layer.file.path().to_owned(),
                error,
            })?;
        let layer_desc =
            writer.add_blob_from_reader(media::LAYER_GZIP, std::io::BufReader::new(layer_file))?;
        layers.push(image::descriptor(
            media::LAYER_GZIP,
            &layer_desc.digest,
            layer_desc.size,
        ));
        let created = sbom::rfc3339(layer.mtime);
        let names: Vec<String> = layer.added.iter().map(|i| i.name.to_string()).collect();
        let config = image::config(
            platform_image.map(|i| &i.config_json),
            arch,
            &ConfigChange {
                diff_id: &layer.diff_id,
                created: &created,
                created_by: format!("cargo-assemble: apk add {}", names.join(" ")),
                environment: &spec.environment,
                labels: &spec.annotations,
            },
        );
        let config_desc = writer.add_json(media::CONFIG, &config)?;
        let mut annotations = spec.annotations.clone();
        annotations.insert("org.opencontainers.image.created".into(), created.clone());
        if let Some(img) = platform_image {
            annotations.insert(
                "org.opencontainers.image.base.name".into(),
                spec.source_name.clone(),
            );
            annotations.insert(
                "org.opencontainers.image.base.digest".into(),
                img.manifest.digest.to_string(),
            );
        }
        let manifest = image::manifest(
            image::descriptor(media::CONFIG, &config_desc.digest, config_desc.size),
            layers,
            &annotations,
        );
        check_documents(&config, &manifest)?;
        let manifest_desc = writer.add_json(media::MANIFEST, &manifest)?;

        // SBOM of everything installed, attached to the manifest.
        let mut packages: Vec<(PackageInfo<'_>, sbom::Origin)> = Vec::new();
        for r in &layer.installed.records {
            let info = r.info().into_owned();
            let origin = if layer
                .added
                .iter()
                .any(|a| a.name == info.name && a.version == info.version)
            {
                sbom::Origin::Added
            } else {
                sbom::Origin::Base
            };
            packages.push((info, origin));
        }
        let doc = sbom::document(
            &spec.name,
            manifest_desc.digest.hex(),
            layer.mtime,
            &packages,
        );
        let sbom_bytes = serde_json::to_vec_pretty(&doc).unwrap_or_default();
        let sbom_desc = writer.add_blob_bytes(media::SPDX, &sbom_bytes)?;
        let subject = image::descriptor(media::MANIFEST, &manifest_desc.digest, manifest_desc.size);
        let artifact = image::sbom_manifest(
            image::descriptor(media::SPDX, &sbom_desc.digest, sbom_desc.size),
            subject,
        );
        writer.add_blob_bytes(media::EMPTY, b"{}")?;
        let artifact_desc = writer.add_json(media::MANIFEST, &artifact)?;
        let sbom_path = sbom_path(output, &spec.name, arch, archs.len());
        sboms.push((sbom_path.clone(), sbom_bytes));

        let (oci_arch, variant) = image::oci_platform(arch);
        manifests.push((
            Descriptor {
                media_type: media::MANIFEST.into(),
                digest: manifest_desc.digest.clone(),
                size: manifest_desc.size,
                annotations: BTreeMap::new(),
                platform: Some(Platform {
                    architecture: oci_arch.into(),
                    os: "linux".into(),
                    variant: variant.map(str::to_owned),
                }),
                artifact_type: None,
            },
            artifact_desc,
        ));
        platforms.push(PlatformReport {
            arch: arch.clone(),
            manifest_digest: manifest_desc.digest.to_string(),
            added: layer.added.iter().map(|i| i.name_version()).collect(),
            layer_size: layer.size,
            sbom: sbom_path,
            source_digest,
            packages: locked_packages,
        });
    }

    if options.dry_run {
        return Ok(BuildReport {
            output: output.path().to_owned(),
            digest: String::new(),
            platforms,
            warnings,
        });
    }

    let Some(mut writer) = writer else {
        return Err(BuildError::Input("internal: no layout writer".into()));
    };
    // index.json: each tag names the image (a manifest, or an index of
    // them); SBOM artifacts are listed too so that they stay reachable.
    let mut entries = Vec::new();
    let target = if manifests.len() == 1 {
        let mut d = manifests[0].0.clone();
        d.platform = None;
        d
    } else {
        let list: Vec<Value> = manifests
            .iter()
            .map(|(d, _)| serde_json::to_value(d).unwrap_or(Value::Null))
            .collect();
        let idx = writer.add_json(media::INDEX, &image::index(list, &BTreeMap::new()))?;
        Descriptor {
            media_type: media::INDEX.into(),
            digest: idx.digest,
            size: idx.size,
            annotations: BTreeMap::new(),
            platform: None,
            artifact_type: None,
        }
    };
    let digest = target.digest.to_string();
    for tag in &spec.tags {
        let mut d = target.clone();
        d.annotations
            .insert(REF_NAME_ANNOTATION.into(), tag.clone());
        entries.push(d);
    }
    for (_, artifact) in &manifests {
        let mut a = artifact.clone();
        a.artifact_type = Some(media::SPDX.into());
        entries.push(a);
    }
    writer.finish(&entries)?;
    if let Output::Archive(file) = output {
        oci_image::write::write_archive(&layout_dir, file)?;
    }
    for (path, bytes) in &sboms {
        assemble_io::atomic::write_file::<_, std::io::Error>(path, |w| {
            std::io::Write::write_all(w, bytes)
        })
        .map_err(|error| BuildError::Io {
            path: path.clone(),
            error,
        })?;
    }
    Ok(BuildReport {
        output: output.path().to_owned(),
        digest,
        platforms,
        warnings,
    })
}

/// Fails when the config or manifest exceeds what registries accept.
fn check_documents(config: &Value, manifest: &Value) -> Result<(), BuildError> {
    crate::image_limits::check_document("config", config)
        .and_then(|()| crate::image_limits::check_document("manifest", manifest))
        .map_err(BuildError::Input)
}

/// The documents' sizes as far as the declaration decides them, checked
/// before anything is resolved, fetched or written.
fn probe_documents(
    spec: &BuildSpec,
    source: Option<&PlatformImage>,
    arch: &str,
) -> Result<(), BuildError> {
    let digest = format!("sha256:{}", "0".repeat(64));
    let change = ConfigChange {
        diff_id: &digest,
        created: "1970-01-01T00:00:00Z",
        created_by: format!("cargo-assemble: apk add {}", spec.packages.join(" ")),
        environment: &spec.environment,
        labels: &spec.annotations,
    };
    let config = image::config(source.map(|i| &i.config_json), arch, &change);
    let layer = image::descriptor(media::LAYER_GZIP, &digest, 0);
    let layers = vec![layer; source.map_or(0, |i| i.layers.len()) + 1];
    let manifest = image::manifest(
        image::descriptor(media::CONFIG, &digest, 0),
        layers,
        &spec.annotations,
    );
    check_documents(&config, &manifest)
}

/// Solves `world` over `db` with the image policy.
fn solve_world<'a>(
    db: &mut Db<'a>,
    world: &[Dependency<'a>],
) -> Result<solve::Solution, solve::SolveError> {
    let mut request = Request {
        policy: Policy::Image,
        ..Default::default()
    };
    for a in world {
        let dep = db.world_dep(*a);
        request.world.push((dep, DEFAULT_TAG));
    }
    solve::solve(db, &request)
}

/// The packages `solution` adds (as opposed to keeps, upgrades or removes).
fn installs<'s>(db: &'s Db<'_>, solution: &'s solve::Solution) -> impl Iterator<Item = PkgId> + 's {
    solution
        .changes
        .iter()
        .filter(|c| c.kind(db) == ChangeKind::Install)
        .filter_map(|c| c.new)
}

/// The first repository (lowest bit) of a [`solve::db::Package::repos`] mask.
fn first_repo(repos: u64) -> Option<usize> {
    (repos != 0).then(|| repos.trailing_zeros() as usize)
}

/// `a-1, b-2` for messages.
fn fmt_versions(m: &BTreeMap<&str, &str>) -> String {
    if m.is_empty() {
        return "nothing".into();
    }
    m.iter()
        .map(|(n, v)| format!("{n}-{v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `<output>.spdx.json`, or `<output>.<arch>.spdx.json` for several
/// architectures.
fn sbom_path(output: &Output, name: &str, arch: &str, count: usize) -> PathBuf {
    let base = output.path();
    let stem = base
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| name.to_owned());
    let file = if count > 1 {
        format!("{stem}.{arch}.spdx.json")
    } else {
        format!("{stem}.spdx.json")
    };
    base.with_file_name(file)
}

/// The architectures to build.
fn architectures(spec: &BuildSpec, source: Option<&Source>) -> Result<Vec<String>, BuildError> {
    let available: Vec<String> = source
        .map(|s| {
            s.images()
                .iter()
                .filter_map(|i| {
                    image::apk_arch(&i.platform.architecture, i.platform.variant.as_deref())
                })
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if spec.architectures.is_empty() {
        if available.is_empty() {
            return Err(BuildError::Input(format!(
                "image '{}': set `architectures` (the source has none to take them from)",
                spec.name
            )));
        }
        return Ok(available);
    }
    if source.is_some() {
        for a in &spec.architectures {
            if !available.contains(a) {
                return Err(BuildError::Input(format!(
                    "image '{}': the source image has no {a} image (it has: {})",
                    spec.name,
                    available.join(", ")
                )));
            }
        }
    }
    Ok(spec.architectures.clone())
}

fn platform_image<'s>(source: &'s Source, arch: &str) -> Result<&'s PlatformImage, BuildError> {
    source
        .images()
        .iter()
        .find(|i| {
            image::apk_arch(&i.platform.architecture, i.platform.variant.as_deref()) == Some(arch)
        })
        .ok_or_else(|| BuildError::Input(format!("the source image has no {arch} image")))
}

fn load_index(
    fetcher: &Fetcher,
    repo: &str,
    arch: &str,
    keyring: &Keyring,
) -> Result<RepoIndex, BuildError> {
    let index = fetcher.fetch_index(repo, arch, keyring, Trust::Verify)?;
    Ok(RepoIndex {
        repo: repo.to_owned(),
        label: index.label,
        text: index.archive.text,
    })
}
