//! Phase 1: the source image — opened once, its architectures matched to
//! the declaration's, and per architecture its effective filesystem (only
//! metadata, plus the apk state files the build reads).

use std::collections::BTreeMap;

use apk::database::InstalledDb;
use oci_image::layout::{PlatformImage, Source};
use oci_image::rootfs::RootFs;
use oci_image::{ImageRef, OciError};

use super::image::apk_arch;
use super::BuildError;
use crate::layer::BaseState;
use crate::model::Image;
use crate::ops::publish::registry_client;
use crate::ops::FetchSettings;

/// The opened source image (`None` for `scratch`).
pub(super) struct SourceImage(pub Option<Source>);

/// Opens the source of `image`: a layout or archive on disk, or an image
/// in a registry (its manifests and configs fetched now, each layer into
/// the verified cache when first read).
pub(super) fn open(image: &Image, fetch: &FetchSettings) -> Result<SourceImage, BuildError> {
    let opened = match &image.source.reference {
        ImageRef::Scratch => return Ok(SourceImage(None)),
        ImageRef::Registry(r) => registry_client(fetch)
            .map_err(OciError::from)
            .and_then(|registry| registry.open(r)),
        other => oci_image::layout::open(other),
    };
    opened
        .map(|s| SourceImage(Some(s)))
        .map_err(|error| BuildError::Source {
            source_ref: image.source.as_written.clone(),
            error,
        })
}

/// The manifest digest of a source platform (`scratch` for none), as the
/// lock records it.
pub(super) fn digest(platform: Option<&PlatformImage>) -> String {
    platform.map_or_else(|| "scratch".to_owned(), |i| i.manifest.digest.to_string())
}

impl SourceImage {
    /// The APK architectures of the source's images.
    fn available(&self) -> Vec<String> {
        let Some(s) = &self.0 else {
            return Vec::new();
        };
        s.images()
            .iter()
            .filter_map(|i| apk_arch(&i.platform.architecture, i.platform.variant.as_deref()))
            .map(str::to_owned)
            .collect()
    }

    /// The architectures to build: the declared ones (which the source
    /// must have), else every one the source has.
    pub fn architectures(&self, image: &Image) -> Result<Vec<String>, BuildError> {
        let available = self.available();
        if image.architectures.is_empty() {
            if available.is_empty() {
                return Err(BuildError::NoArchitectures);
            }
            return Ok(available);
        }
        if self.0.is_some() {
            for a in &image.architectures {
                if !available.contains(a) {
                    return Err(BuildError::MissingArchitecture {
                        arch: a.value.clone(),
                        available,
                    });
                }
            }
        }
        Ok(image
            .architectures
            .iter()
            .map(|a| a.value.clone())
            .collect())
    }

    /// The image of `arch` (`None` for `scratch`).
    pub fn platform(&self, arch: &str) -> Result<Option<&PlatformImage>, BuildError> {
        let Some(s) = &self.0 else { return Ok(None) };
        s.images()
            .iter()
            .find(|i| {
                apk_arch(&i.platform.architecture, i.platform.variant.as_deref()) == Some(arch)
            })
            .map(Some)
            .ok_or_else(|| BuildError::MissingArchitecture {
                arch: arch.to_owned(),
                available: self.available(),
            })
    }

    /// The effective filesystem of `platform` and the contents of the files
    /// the build reads.
    pub fn scan(
        &self,
        image: &Image,
        platform: Option<&PlatformImage>,
    ) -> Result<(RootFs, BTreeMap<String, Vec<u8>>), BuildError> {
        match (&self.0, platform) {
            (Some(s), Some(p)) => {
                RootFs::scan(s, p, &captured).map_err(|error| BuildError::Source {
                    source_ref: image.source.as_written.clone(),
                    error,
                })
            }
            _ => Ok((RootFs::new(), BTreeMap::new())),
        }
    }
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
        || super::extras::captured(path)
}

/// files around it).
pub(super) fn base_state(
    image: &Image,
    arch: &str,
    fs: &RootFs,
    files: &BTreeMap<String, Vec<u8>>,
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
        Some(b) => {
            InstalledDb::from_bytes(b, &format!("{}:{db_dir}/installed", image.source.reference))
                .map_err(|error| BuildError::SourceDatabase {
                    arch: arch.to_owned(),
                    error,
                })?
        }
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
