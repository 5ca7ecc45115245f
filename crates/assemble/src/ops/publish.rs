//! `publish`: a built OCI layout pushed to registries — the step `apply`
//! runs for the declaration's `publish` list, `build --output docker://…`
//! runs for its one destination, and the build service runs after its
//! builds. Thin wiring over [`oci_image::registry`]: blobs skipped when
//! present, mounted from the source image's repository on the same
//! registry, streamed otherwise; manifests as their exact bytes; the SBOM
//! as a referrer; tags moved last.

use std::path::Path;

use oci_image::registry::{
    PushEvent, PushOptions, PushReport, Registry, RegistryError, RegistryOptions, RegistryRef,
};
use oci_image::{ImageRef, OciError};
use serde::Serialize;

use super::{Event, FetchSettings, Progress};

/// One destination as pushed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Published {
    /// `docker://HOST/REPO`.
    pub destination: String,
    /// Per tagged image: the digest the tags name (index or manifest), per
    /// platform the manifest digest, every reference now naming it; the
    /// referrers (SBOMs) and the blob counters.
    #[serde(flatten)]
    pub report: PushReport,
}

/// A push that failed; tags already moved at other destinations stay.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("publishing to {destination}")]
pub struct PublishError {
    /// The destination.
    pub destination: String,
    /// Why (names the registry; never a credential).
    #[source]
    pub error: OciError,
}

/// A registry client for the operations: the environment's credentials,
/// TLS and insecure-registry settings, the cache of `fetch`.
pub fn registry_client(fetch: &FetchSettings) -> Result<Registry, RegistryError> {
    let mut options = RegistryOptions::from_env();
    if let Some(dir) = &fetch.cache_dir {
        options.cache_dir = Some(dir.clone());
    }
    Registry::new(options)
}

/// [`publish`] with a client from [`registry_client`].
pub fn publish_from_env(
    fetch: &FetchSettings,
    layout: &Path,
    destinations: &[RegistryRef],
    source: &ImageRef,
    progress: &dyn Progress,
) -> Result<Vec<Published>, PublishError> {
    let registry = registry_client(fetch).map_err(|e| PublishError {
        destination: destinations
            .first()
            .map(ToString::to_string)
            .unwrap_or_default(),
        error: e.into(),
    })?;
    publish(&registry, layout, destinations, source, progress)
}

/// Pushes the layout at `layout` (every tagged image under its tags, the
/// SBOM artifacts as referrers) to each destination in turn. Blobs of
/// `source` (the image's source, when it is in a registry) are mounted
/// rather than uploaded where the destination shares its registry.
pub fn publish(
    registry: &Registry,
    layout: &Path,
    destinations: &[RegistryRef],
    source: &ImageRef,
    progress: &dyn Progress,
) -> Result<Vec<Published>, PublishError> {
    let options = PushOptions {
        mount_from: source
            .registry()
            .map(|r| r.repository_ref())
            .into_iter()
            .collect(),
    };
    let mut out = Vec::new();
    for dest in destinations {
        let destination = dest.to_string();
        progress.event(Event::Publishing {
            destination: &destination,
        });
        let report = registry
            .push_layout(layout, dest, &options, &|_: PushEvent<'_>| {})
            .map_err(|error| PublishError {
                destination: destination.clone(),
                error,
            })?;
        out.push(Published {
            destination,
            report,
        });
    }
    Ok(out)
}
