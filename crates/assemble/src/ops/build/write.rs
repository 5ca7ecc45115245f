//! Phase 3: per architecture, fetch and verify the planned packages, write
//! the layer and the image documents into a temporary layout; then finish
//! the output (`index.json`, the archive, SBOM files beside it).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use apk::package::PackageInfo;
use apk_repo::{Fetcher, PackageRequest};
use assemble_io::tarball::Compression;
use oci_image::write::LayoutWriter;
use oci_image::{Descriptor, Platform, REF_NAME_ANNOTATION};
use serde_json::Value;

use super::app;
use super::image::{self, media, ConfigChange};
use super::platform::PlatformPlan;
use super::source::SourceImage;
use super::{BuildError, BuildOptions, BuildReport, Log, Output, PlatformReport};
use crate::layer::{self, LayerSpec, PackageFile};
use crate::model::Image;
use crate::ops::{Event, Step, Warning};
use crate::{cyclonedx, purl, sbom};

/// Fails when the config or manifest exceeds what registries accept.
fn check_documents(config: &Value, manifest: &Value) -> Result<(), BuildError> {
    crate::image_limits::check_document("config", config)
        .and_then(|()| crate::image_limits::check_document("manifest", manifest))
        .map_err(BuildError::Limit)
}

/// The documents' sizes as far as the declaration decides them (digests
/// and sizes are placeholders of the final length), checked before
/// anything is resolved, fetched or written.
pub(super) fn probe_documents(
    image: &Image,
    source: Option<&oci_image::layout::PlatformImage>,
    arch: &str,
) -> Result<(), BuildError> {
    let digest = format!("sha256:{}", "0".repeat(64));
    let names: Vec<String> = image.packages.iter().map(|a| a.to_string()).collect();
    let by = format!("cargo-assemble: apk add {}", names.join(" "));
    let change = ConfigChange {
        layers: vec![(digest.clone(), by); image.layers.max(1)],
        created: "1970-01-01T00:00:00Z",
        environment: &image.environment,
        labels: &image.annotations,
        user: image.extras.accounts.run_as.as_deref(),
    };
    let config = image::config(source.map(|i| &i.config_json), arch, &change);
    let layer = image::descriptor(layer_media_type(image.compression), &digest, 0);
    let layers = vec![layer; source.map_or(0, |i| i.layers.len()) + image.layers.max(1)];
    let manifest = image::manifest(
        image::descriptor(media::CONFIG, &digest, 0),
        layers,
        &image.annotations,
    );
    check_documents(&config, &manifest)
}

/// One architecture written into the layout.
struct Written {
    manifest: Descriptor,
    /// SPDX, then CycloneDX when asked for.
    sboms: Vec<WrittenSbom>,
    report: PlatformReport,
}

/// One SBOM: its referrer artifact and the file beside the output.
struct WrittenSbom {
    artifact: Descriptor,
    media_type: &'static str,
    path: PathBuf,
    bytes: Vec<u8>,
}

/// The CycloneDX media type (the artifact's type and its layer's).
const CYCLONEDX: &str = "application/vnd.cyclonedx+json";

/// Writes every planned architecture and finishes the output.
pub(super) fn write(
    image: &Image,
    source: &SourceImage,
    plans: &[PlatformPlan<'_>],
    fetcher: &Fetcher,
    options: &BuildOptions,
    log: &mut Log<'_>,
) -> Result<BuildReport, BuildError> {
    let output = &options.output;
    // A registry output was turned into a temporary layout by the caller.
    let out_path = output.path().unwrap_or(Path::new("."));
    let parent = out_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io_err(parent))?;
    remove_leftovers(out_path);
    let work = assemble_io::atomic::temp_dir_in(parent, ".assemble-").map_err(io_err(parent))?;
    let layout_dir = match output {
        Output::Layout(p) => p.clone(),
        Output::Archive(_) | Output::Registry(_) => work.path().join("layout"),
    };
    let mut writer = LayoutWriter::create(&layout_dir).map_err(BuildError::Image)?;
    let mut written = Vec::new();
    for plan in plans {
        let w = platform(
            image,
            source,
            plan,
            plans.len(),
            fetcher,
            &mut writer,
            work.path(),
            options,
            log,
        )?;
        written.push(w);
    }

    // index.json: each tag names the image (a manifest, or an index of
    // them); SBOM artifacts are listed too so that they stay reachable.
    let target = if written.len() == 1 {
        let mut d = written[0].manifest.clone();
        d.platform = None;
        d
    } else {
        let list: Vec<Value> = written
            .iter()
            .map(|w| serde_json::to_value(&w.manifest).unwrap_or(Value::Null))
            .collect();
        let idx = writer
            .add_json(media::INDEX, &image::index(list, &BTreeMap::new()))
            .map_err(BuildError::Image)?;
        Descriptor {
            media_type: media::INDEX.into(),
            annotations: BTreeMap::new(),
            platform: None,
            artifact_type: None,
            ..idx
        }
    };
    let mut entries = Vec::new();
    for tag in &image.tags {
        let mut d = target.clone();
        d.annotations
            .insert(REF_NAME_ANNOTATION.into(), tag.clone());
        entries.push(d);
    }
    for sbom in written.iter().flat_map(|w| &w.sboms) {
        let mut a = sbom.artifact.clone();
        a.artifact_type = Some(sbom.media_type.into());
        entries.push(a);
    }
    let mut platforms = Vec::new();
    assemble_io::crash_point("layout-written");
    match output {
        // The SBOMs go inside the layout, swapped in with the image as one
        // unit; the documented paths beside it are links into it that
        // never change, so they always name the SBOM of the image there.
        Output::Layout(dir) => {
            for WrittenSbom { path, bytes, .. } in written.iter().flat_map(|w| &w.sboms) {
                let name = file_name(path);
                writer.add_file(&name, bytes).map_err(BuildError::Image)?;
                let target = Path::new(&file_name(dir)).join(&name);
                assemble_io::atomic::symlink(&target, path).map_err(io_err(path))?;
            }
            writer.finish(&entries).map_err(BuildError::Image)?;
        }
        Output::Archive(file) => {
            writer.finish(&entries).map_err(BuildError::Image)?;
            let sboms: Vec<&WrittenSbom> = written.iter().flat_map(|w| &w.sboms).collect();
            finish_archive(file, &layout_dir, &sboms)?;
        }
        // Turned into a temporary layout by the caller before building;
        // its SBOMs travel as referrers.
        Output::Registry(_) => writer.finish(&entries).map_err(BuildError::Image)?,
    }
    for w in written {
        platforms.push(w.report);
    }
    Ok(BuildReport {
        output: out_path.to_owned(),
        digest: target.digest.to_string(),
        platforms,
        warnings: std::mem::take(&mut log.warnings),
        published: Vec::new(),
    })
}

/// Fetch, layer, config, manifest and SBOM of one architecture.
#[allow(clippy::too_many_arguments)]
fn platform(
    image: &Image,
    source: &SourceImage,
    plan: &PlatformPlan<'_>,
    count: usize,
    fetcher: &Fetcher,
    writer: &mut LayoutWriter,
    work: &Path,
    options: &BuildOptions,
    log: &mut Log<'_>,
) -> Result<Written, BuildError> {
    let arch = plan.arch.as_str();
    log.step(image, arch, Step::Fetching);
    let requests: Vec<PackageRequest> = plan
        .packages
        .iter()
        .map(|p| PackageRequest {
            repo: plan.repos[p.repo].address(),
            arch: arch.to_owned(),
            file_name: format!("{}-{}.apk", p.name, p.version),
            identity: p.identity,
            size: p.size,
        })
        .collect();
    let fetched = fetcher
        .fetch_packages(&requests)
        .map_err(|error| BuildError::Fetch {
            arch: arch.to_owned(),
            error: Box::new(error),
        })?;
    log.progress.event(Event::Fetched {
        image: &image.name,
        arch,
        done: fetched.len(),
        total: requests.len(),
    });

    log.step(image, arch, Step::WritingLayer);
    let package_files: Vec<PackageFile> = fetched
        .into_iter()
        .zip(&requests)
        .map(|(path, r)| PackageFile {
            path,
            identity: r.identity,
        })
        .collect();
    let layer_spec = LayerSpec {
        world: image.packages.iter().map(|a| a.to_string()).collect(),
        repositories: super::extras::repository_lines(image),
        keys: plan.key_files.clone(),
        mtime: options.source_date_epoch,
        layers: image.layers,
        compression: image.compression,
        files: plan.generated.files.clone(),
        dirs: plan.generated.dirs.clone(),
    };
    let layer =
        layer::build(&package_files, &plan.fs, &plan.base, &layer_spec, work).map_err(|error| {
            BuildError::Layer {
                arch: arch.to_owned(),
                error: Box::new(error),
            }
        })?;
    for warning in &layer.warnings {
        log.warn(Warning::Layer {
            arch: arch.to_owned(),
            warning: warning.clone(),
        });
    }

    log.step(image, arch, Step::WritingImage);
    let image_err = BuildError::Image;
    // Blobs: source layers byte for byte, the new layer, config, manifest.
    let mut layers: Vec<Value> = Vec::new();
    if let (Some(s), Some(img)) = (&source.0, plan.image) {
        for l in &img.layers {
            writer.copy_blob(s, l).map_err(image_err)?;
            layers.push(serde_json::to_value(l).unwrap_or(Value::Null));
        }
    }
    let mut history = Vec::new();
    for part in &layer.parts {
        layers.push(add_layer(
            writer,
            part.file.path(),
            &part.digest,
            image.compression,
            arch,
        )?);
        history.push((part.diff_id.clone(), created_by(&layer, part)));
    }
    // The application layer on top of the packages.
    if let Some(app_layer) = app::layer(image, &plan.app, &plan.fs, layer.mtime, work)? {
        let path = app_layer.file.path();
        layers.push(add_layer(
            writer,
            path,
            &app_layer.digest,
            image.compression,
            arch,
        )?);
        history.push((app_layer.diff_id.clone(), app::created_by(image, &plan.app)));
    }
    let created = sbom::rfc3339(layer.mtime);
    let mut config = image::config(
        plan.image.map(|i| &i.config_json),
        arch,
        &ConfigChange {
            layers: history,
            created: &created,
            environment: &image.environment,
            labels: &image.annotations,
            user: plan.generated.user.as_deref(),
        },
    );
    let run = app::run_settings(image, &plan.app);
    if let Some(c) = config.get_mut("config").and_then(Value::as_object_mut) {
        for (k, v) in run {
            match v {
                Value::Null => c.remove(&k),
                v => c.insert(k, v),
            };
        }
    }
    let config_desc = writer.add_json(media::CONFIG, &config).map_err(image_err)?;
    let mut annotations = image.annotations.clone();
    annotations.insert("org.opencontainers.image.created".into(), created.clone());
    if let Some(img) = plan.image {
        annotations.insert(
            "org.opencontainers.image.base.name".into(),
            image.source.as_written.clone(),
        );
        annotations.insert(
            "org.opencontainers.image.base.digest".into(),
            img.manifest.digest.to_string(),
        );
    }
    let manifest = image::manifest(
        image::descriptor(
            media::CONFIG,
            &config_desc.digest.to_string(),
            config_desc.size,
        ),
        layers,
        &annotations,
    );
    check_documents(&config, &manifest)?;
    let manifest_desc = writer
        .add_json(media::MANIFEST, &manifest)
        .map_err(image_err)?;
    let manifest_digest = manifest_desc.digest.to_string();

    // SBOM of everything installed, attached to the manifest.
    let packages: Vec<(PackageInfo<'_>, sbom::Origin)> = layer
        .installed
        .records
        .iter()
        .map(|r| {
            let info = r.info().into_owned();
            let added = layer
                .added
                .iter()
                .any(|a| a.name == info.name && a.version == info.version);
            let origin = if added {
                sbom::Origin::Added
            } else {
                sbom::Origin::Base
            };
            (info, origin)
        })
        .collect();
    // The base's distribution: the purl namespace of both documents.
    let distro = plan
        .generated
        .os_release
        .as_deref()
        .and_then(|t| purl::distro_from_os_release(&String::from_utf8_lossy(t)));
    let mut doc = sbom::document(
        &image.name,
        manifest_digest.trim_start_matches("sha256:"),
        layer.mtime,
        distro.as_ref(),
        &packages,
    );
    if let Some(crates) = &plan.app.sbom {
        let part = crate::rust::sbom::spdx(crates);
        for (key, items) in [
            ("packages", part.packages),
            ("relationships", part.relationships),
        ] {
            if let Some(list) = doc.get_mut(key).and_then(Value::as_array_mut) {
                list.extend(items);
            }
        }
    }
    let subject = image::descriptor(media::MANIFEST, &manifest_digest, manifest_desc.size);
    let sbom_file = sbom_path(&options.output, &image.name, arch, count);
    let mut sboms = vec![attach(
        writer,
        media::SPDX,
        &doc,
        &subject,
        sbom_file.clone(),
    )?];
    if image.extras.cyclonedx {
        let doc = cyclonedx::document(
            &image.name,
            manifest_digest.trim_start_matches("sha256:"),
            layer.mtime,
            distro.as_ref(),
            &packages,
        );
        let path =
            sbom_file.with_file_name(file_name(&sbom_file).replace(".spdx.json", ".cdx.json"));
        sboms.push(attach(writer, CYCLONEDX, &doc, &subject, path)?);
    }

    let (oci_arch, variant) = image::oci_platform(arch);
    let manifest = Descriptor {
        media_type: media::MANIFEST.into(),
        annotations: BTreeMap::new(),
        platform: Some(Platform {
            architecture: oci_arch.into(),
            os: "linux".into(),
            variant: variant.map(str::to_owned),
        }),
        artifact_type: None,
        ..manifest_desc
    };
    Ok(Written {
        manifest,
        sboms,
        report: PlatformReport {
            arch: arch.to_owned(),
            manifest_digest,
            added: layer.added.iter().map(|i| i.name_version()).collect(),
            layer_size: layer.parts.iter().map(|p| p.size).sum(),
            sbom: sbom_file,
            source_digest: plan.source_digest.clone(),
            packages: plan.locked_packages(),
            application: plan.application(),
        },
    })
}

/// The OCI media type of a layer compressed as `compression`.
fn layer_media_type(compression: Compression) -> &'static str {
    match compression {
        Compression::Gzip => media::LAYER_GZIP,
        Compression::Zstd => media::LAYER_ZSTD,
    }
}

/// Copies the layer file `path` into the layout; its digest must still be
/// the one its writer computed. Returns its descriptor.
fn add_layer(
    writer: &mut LayoutWriter,
    path: &Path,
    digest: &str,
    compression: Compression,
    arch: &str,
) -> Result<Value, BuildError> {
    let media_type = layer_media_type(compression);
    let file = std::fs::File::open(path).map_err(|error| BuildError::Write {
        path: path.to_owned(),
        error,
    })?;
    let desc = writer
        .add_blob_from_reader(media_type, std::io::BufReader::new(file))
        .map_err(BuildError::Image)?;
    if desc.digest.to_string() != digest {
        return Err(BuildError::LayerChanged {
            arch: arch.to_owned(),
        });
    }
    Ok(image::descriptor(
        media_type,
        &desc.digest.to_string(),
        desc.size,
    ))
}

/// Writes `doc` as an SBOM blob and a referrer artifact of `subject`.
fn attach(
    writer: &mut LayoutWriter,
    media_type: &'static str,
    doc: &Value,
    subject: &Value,
    path: PathBuf,
) -> Result<WrittenSbom, BuildError> {
    let bytes = serde_json::to_vec_pretty(doc).unwrap_or_default();
    let blob = writer
        .add_blob_bytes(media_type, &bytes)
        .map_err(BuildError::Image)?;
    let artifact = image::sbom_manifest(
        image::descriptor(media_type, &blob.digest.to_string(), blob.size),
        subject.clone(),
    );
    writer
        .add_blob_bytes(media::EMPTY, b"{}")
        .map_err(BuildError::Image)?;
    let artifact = writer
        .add_json(media::MANIFEST, &artifact)
        .map_err(BuildError::Image)?;
    Ok(WrittenSbom {
        artifact,
        media_type,
        path,
        bytes,
    })
}

/// The history entry of a layer: one layer lists every added package,
/// split layers their own (the last also the apk database).
fn created_by(layer: &layer::Layer, part: &layer::LayerPart) -> String {
    let names: Vec<String> = if layer.parts.len() == 1 {
        layer.added.iter().map(|i| i.name.to_string()).collect()
    } else {
        part.packages.clone()
    };
    match (part.database && layer.parts.len() > 1, names.is_empty()) {
        (true, true) => "cargo-assemble: the apk database".to_owned(),
        (true, false) => format!(
            "cargo-assemble: apk add {} + the apk database",
            names.join(" ")
        ),
        _ => format!("cargo-assemble: apk add {}", names.join(" ")),
    }
}

/// Maps an I/O error writing `path` to the build's error.
fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> BuildError {
    let path = path.to_owned();
    move |error| BuildError::Write { path, error }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Removes what killed builds of `output` left beside it: their work
/// directories, half-written layouts, old layouts not yet deleted,
/// temporary files (only those no running build holds).
fn remove_leftovers(output: &Path) {
    let parent = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = file_name(output);
    assemble_io::atomic::remove_leftovers(
        parent,
        &[
            ".assemble-",
            ".tmp-",
            &format!(".{name}.tmp-"),
            &format!(".{name}.old-"),
        ],
    );
}

/// Writes an archive and its SBOMs so that they change as one unit, the
/// way a layout output does: both go into a new generation directory
/// `.NAME.d/live-…/`, then the one link `.NAME.d/current` is switched to
/// it (a rename). `NAME` and the SBOM paths are links through `current`
/// that never change, so at every instant they name one generation.
/// Older generations are removed after the switch; a generation left by a
/// kill before it is removed by the next run.
fn finish_archive(
    file: &Path,
    layout_dir: &Path,
    sboms: &[&WrittenSbom],
) -> Result<(), BuildError> {
    use assemble_io::atomic;
    let name = file_name(file);
    let store_name = format!(".{name}.d");
    let store = file.with_file_name(&store_name);
    std::fs::create_dir_all(&store).map_err(io_err(&store))?;
    atomic::remove_leftovers(&store, &["gen-"]);
    let generation = atomic::temp_dir_in(&store, "gen-").map_err(io_err(&store))?;
    oci_image::write::write_archive(layout_dir, &generation.path().join(&name))
        .map_err(BuildError::Image)?;
    for WrittenSbom { path, bytes, .. } in sboms {
        let inside = generation.path().join(file_name(path));
        atomic::write_file::<_, std::io::Error>(&inside, |f| std::io::Write::write_all(f, bytes))
            .map_err(io_err(&inside))?;
    }
    // `gen-XXXXXX` → `live-XXXXXX`: complete, no longer a temporary.
    let temp_name = file_name(generation.path());
    let live_name = format!("live-{}", &temp_name["gen-".len()..]);
    let live = store.join(&live_name);
    std::fs::rename(generation.path(), &live).map_err(io_err(&live))?;
    let _ = generation.keep();
    assemble_io::crash_point("archive-generation-written");
    atomic::symlink(Path::new(&live_name), &store.join("current")).map_err(io_err(&store))?;
    assemble_io::crash_point("archive-switched");
    let through = Path::new(&store_name).join("current");
    atomic::symlink(&through.join(&name), file).map_err(io_err(file))?;
    for WrittenSbom { path, .. } in sboms {
        atomic::symlink(&through.join(file_name(path)), path).map_err(io_err(path))?;
    }
    if let Ok(entries) = std::fs::read_dir(&store) {
        for e in entries.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with("live-") && n != live_name {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    Ok(())
}

/// `<output>.spdx.json`, or `<output>.<arch>.spdx.json` for several
/// architectures.
fn sbom_path(output: &Output, name: &str, arch: &str, count: usize) -> PathBuf {
    let base = output.path().unwrap_or(Path::new(name));
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
