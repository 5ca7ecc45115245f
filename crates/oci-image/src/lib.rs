//! OCI images on disk: reading a source image, computing the effective
//! filesystem of its layers, and writing a new image layout.
//!
//! Why each file exists:
//!
//! * `mod.rs` (this file) — the vocabulary shared by all of them: the
//!   [`Descriptor`], [`Platform`] and [`Digest`] types, media-type
//!   constants and the one error type, [`OciError`].
//! * [`reference`](mod@reference) — parsing the user's image reference
//!   (`oci:PATH[:REF]`, `oci-archive:FILE[:REF]`, `docker://…`, `scratch`).
//! * [`registry`] — pulling from and pushing to registries, with the
//!   credentials and TLS settings docker users already have.
//! * [`layout`] — opening a layout directory or archive, selecting the
//!   platform images, and streaming blobs with digest/size verification.
//! * [`rootfs`] — merging an image's layers (whiteouts, opaque
//!   directories, symlinked parents, hard links) into the effective tree and
//!   capturing the few small files we need (the APK database).
//! * [`write`](mod@write) — producing a new layout atomically and packing a finished
//!   layout into a deterministic `oci-archive` tar.
//!
//! The module never prints; every failure is an [`OciError`] naming the
//! file, blob or digest involved.
#![deny(missing_docs)]

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

pub mod layout;
pub mod reference;
pub mod registry;
pub mod rootfs;
pub mod write;

pub use layout::{open, BlobReader, PlatformImage, Source};
pub use reference::ImageRef;
pub use rootfs::{Node, NodeKind, RootFs};
pub use write::{write_archive, LayoutWriter};

/// Media types we read and write.
pub mod media_type {
    /// OCI image index.
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    /// OCI image manifest.
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    /// OCI image config.
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    /// OCI uncompressed layer.
    pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
    /// OCI gzip layer (what we write).
    pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    /// OCI zstd layer.
    pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
    /// Docker manifest list (read only).
    pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
    /// Docker image manifest (read only).
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    /// Docker image config (read only).
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    /// Docker gzip layer (read only).
    pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    /// SPDX JSON document (the SBOM artifact's layer and artifact type).
    pub const SPDX: &str = "application/spdx+json";
    /// The empty descriptor's content (`{}`), the config of artifacts.
    pub const EMPTY: &str = "application/vnd.oci.empty.v1+json";
}

/// Annotation carrying the tag of an `index.json` entry.
pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";

/// A content descriptor (OCI image-spec "descriptor"), as found in
/// `index.json`, image indexes and manifests.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the referenced content.
    #[serde(default)]
    pub media_type: String,
    /// Digest of the exact bytes (serialised as `sha256:<hex>`).
    pub digest: Digest,
    /// Byte length of the content.
    pub size: u64,
    /// Free-form annotations (the tag lives in [`REF_NAME_ANNOTATION`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Platform of a manifest listed in an index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// Artifact type (apko sets it on index entries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

impl Descriptor {
    /// The tag annotation, if any.
    pub fn ref_name(&self) -> Option<&str> {
        self.annotations
            .get(REF_NAME_ANNOTATION)
            .map(String::as_str)
    }

    /// A descriptor of `size` bytes of `media_type` content with `digest`
    /// and nothing else.
    pub fn new(media_type: &str, digest: Digest, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.to_owned(),
            digest,
            size,
            annotations: BTreeMap::new(),
            platform: None,
            artifact_type: None,
        }
    }
}

/// The platform an image runs on.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Platform {
    /// OCI architecture (`amd64`, `arm64`, …).
    pub architecture: String,
    /// Operating system (`linux`).
    pub os: String,
    /// CPU variant (`v7` for `arm`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// Whether two platforms denote the same target; `arm64` without a
    /// variant equals `arm64/v8`.
    pub fn matches(&self, other: &Platform) -> bool {
        let norm = |p: &Platform| -> Option<String> {
            match (p.architecture.as_str(), p.variant.as_deref()) {
                ("arm64", Some("v8")) => None,
                (_, v) => v.map(str::to_owned),
            }
        };
        self.architecture == other.architecture && self.os == other.os && norm(self) == norm(other)
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// A SHA-256 content digest (`sha256:<64 lowercase hex>`); other
/// algorithms are rejected when parsing.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest {
    hex: String,
}

impl Digest {
    /// Parses `sha256:<64 lowercase hex>`.
    pub fn parse(text: &str) -> Result<Digest, OciError> {
        let bad = |reason: &str| OciError::InvalidDigest {
            text: text.to_owned(),
            reason: reason.to_owned(),
        };
        let (alg, hex) = text
            .split_once(':')
            .ok_or_else(|| bad("expected `sha256:<64 hex digits>`"))?;
        if alg != "sha256" {
            return Err(bad("only sha256 digests are supported"));
        }
        if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(bad("expected 64 lowercase hex digits after `sha256:`"));
        }
        Ok(Digest {
            hex: hex.to_owned(),
        })
    }

    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest::from_hasher(Sha256::new_with_prefix(bytes))
    }

    /// The digest a finished hasher holds.
    pub(crate) fn from_hasher(hasher: Sha256) -> Digest {
        Digest {
            hex: hex::encode(hasher.finalize()),
        }
    }

    /// The 64 hex digits (the blob's file name).
    pub fn hex(&self) -> &str {
        &self.hex
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl std::str::FromStr for Digest {
    type Err = OciError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Digest::parse(s)
    }
}

impl Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Digest::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Everything that can go wrong reading or writing OCI images.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    /// The image reference text is malformed.
    #[error("invalid image reference `{text}`: {reason} (expected oci:PATH[:REF], oci-archive:FILE[:REF], docker://HOST[:PORT]/REPO[:TAG][@DIGEST] or scratch)")]
    Reference {
        /// The text as given.
        text: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Reading or writing a file failed.
    #[error("{action} `{}`: {source}", path.display())]
    Io {
        /// What we were doing (`reading`, `writing`, …).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A JSON document could not be parsed or has the wrong shape.
    #[error("{what} in {location}: {reason}")]
    Json {
        /// Which document (`index.json`, `manifest sha256:…`, …).
        what: String,
        /// The layout or archive it came from.
        location: String,
        /// What is wrong.
        reason: String,
    },
    /// The directory or archive is not a usable OCI layout.
    #[error("{location} is not a usable OCI image layout: {reason}")]
    Layout {
        /// The layout or archive.
        location: String,
        /// What is wrong.
        reason: String,
    },
    /// No `index.json` entry carries the requested tag.
    #[error(
        "no image tagged `{wanted}` in {location}; available: {}",
        list_or_none(available)
    )]
    RefNotFound {
        /// The layout or archive.
        location: String,
        /// The requested tag.
        wanted: String,
        /// The tags that exist.
        available: Vec<String>,
    },
    /// Several differently tagged images and no tag given.
    #[error(
        "{location} holds several images; choose one with `:REF` (available: {})",
        list_or_none(available)
    )]
    Ambiguous {
        /// The layout or archive.
        location: String,
        /// The tags that exist.
        available: Vec<String>,
    },
    /// A digest string is malformed or uses an unsupported algorithm.
    #[error("invalid digest `{text}`: {reason}")]
    InvalidDigest {
        /// The text as found.
        text: String,
        /// What is wrong.
        reason: String,
    },
    /// A referenced blob is not in the layout.
    #[error("blob {digest} is missing from {location}")]
    BlobMissing {
        /// The blob's digest.
        digest: String,
        /// The layout or archive.
        location: String,
    },
    /// A blob's bytes do not hash to its digest.
    #[error("blob {digest} in {location} is corrupt: its content hashes to sha256:{actual}")]
    DigestMismatch {
        /// The expected digest.
        digest: String,
        /// Hex of the digest actually computed.
        actual: String,
        /// The layout or archive.
        location: String,
    },
    /// A blob's length differs from its descriptor.
    #[error("blob {digest} in {location} has {actual} bytes, but its descriptor says {expected}")]
    SizeMismatch {
        /// The blob's digest.
        digest: String,
        /// Size from the descriptor.
        expected: u64,
        /// Size found (at least this many bytes).
        actual: u64,
        /// The layout or archive.
        location: String,
    },
    /// A JSON blob is implausibly large to be read into memory.
    #[error("blob {digest} ({size} bytes) is too large for a {what} (limit {limit} bytes)")]
    TooLarge {
        /// The blob's digest.
        digest: String,
        /// What it was supposed to be.
        what: &'static str,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A media type we cannot handle where it appears.
    #[error("blob {digest}: unsupported media type `{media_type}` for {what}")]
    UnsupportedMediaType {
        /// The blob's digest.
        digest: String,
        /// The media type.
        media_type: String,
        /// What the blob was expected to be.
        what: &'static str,
    },
    /// A manifest or config that is inconsistent.
    #[error("{what} {digest} in {location}: {reason}")]
    Invalid {
        /// `manifest`, `config`, `index` …
        what: &'static str,
        /// Its digest.
        digest: String,
        /// The layout or archive.
        location: String,
        /// What is wrong.
        reason: String,
    },
    /// The uncompressed layer does not match the config's diff_id.
    #[error("layer {digest}: uncompressed content hashes to sha256:{actual}, but the config's diff_id is {expected}")]
    DiffIdMismatch {
        /// The layer blob's digest.
        digest: String,
        /// The diff_id from the config.
        expected: String,
        /// Hex of the digest actually computed.
        actual: String,
    },
    /// The layer tar itself is unreadable.
    #[error("layer {layer}: reading the tar failed: {source}")]
    LayerTar {
        /// The layer blob's digest (or a label for synthetic layers).
        layer: String,
        /// The underlying error.
        source: io::Error,
    },
    /// A layer entry whose path or link is unsafe or impossible to apply.
    #[error("layer {layer}: entry `{path}`: {reason}")]
    LayerEntry {
        /// The layer blob's digest (or a label).
        layer: String,
        /// The entry path as written in the tar (lossy UTF-8).
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// Talking to a registry failed.
    #[error(transparent)]
    Registry(Box<registry::RegistryError>),
    /// Writing a layout failed for a reason other than I/O.
    #[error("writing the layout {}: {reason}", path.display())]
    Write {
        /// The final layout directory or archive.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

fn list_or_none(v: &[String]) -> String {
    if v.is_empty() {
        "(none)".to_owned()
    } else {
        v.join(", ")
    }
}

impl OciError {
    /// An [`OciError::Io`] for `path`.
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        OciError::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// Turns an `io::Error` from a [`BlobReader`] chain back into the
    /// [`OciError`] it carries (digest/size mismatch), or wraps it.
    pub fn from_io(source: io::Error, fallback: impl FnOnce(io::Error) -> OciError) -> OciError {
        if !source.get_ref().is_some_and(|e| e.is::<OciError>()) {
            return fallback(source);
        }
        match source
            .into_inner()
            .map(|inner| inner.downcast::<OciError>())
        {
            Some(Ok(e)) => *e,
            Some(Err(inner)) => fallback(io::Error::other(inner)),
            None => fallback(io::Error::other("blob verification failed")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_parse_and_print() {
        let d = Digest::parse(
            "sha256:07b5a67da37624954ee5f14d83b111a797c6deacbc470c2adf56fbafb75b60a9",
        )
        .unwrap();
        assert_eq!(
            d.to_string(),
            "sha256:07b5a67da37624954ee5f14d83b111a797c6deacbc470c2adf56fbafb75b60a9"
        );
        for bad in [
            "sha256:abc",
            "sha512:00",
            "nocolon",
            "sha256:07B5a67da37624954ee5f14d83b111a797c6deacbc470c2adf56fbafb75b60a9",
        ] {
            assert!(
                matches!(Digest::parse(bad), Err(OciError::InvalidDigest { .. })),
                "{bad}"
            );
        }
        assert_eq!(
            Digest::of(b"").hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn arm64_v8_matches_plain_arm64() {
        let p = |a: &str, v: Option<&str>| Platform {
            architecture: a.into(),
            os: "linux".into(),
            variant: v.map(Into::into),
        };
        assert!(p("arm64", None).matches(&p("arm64", Some("v8"))));
        assert!(!p("arm", Some("v7")).matches(&p("arm", Some("v6"))));
        assert_eq!(p("arm", Some("v7")).to_string(), "linux/arm/v7");
    }

    #[test]
    fn descriptors_use_camel_case() {
        let d: Descriptor = serde_json::from_str(
            r#"{"mediaType":"m","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":3,"artifactType":"a","annotations":{"org.opencontainers.image.ref.name":"t"}}"#,
        )
        .unwrap();
        assert_eq!(d.digest, Digest::of(b""));
        assert_eq!(d.ref_name(), Some("t"));
        assert_eq!(d.artifact_type.as_deref(), Some("a"));
        let back = serde_json::to_string(&d).unwrap();
        assert!(back.contains("\"mediaType\":\"m\""), "{back}");
        assert!(!back.contains("platform"), "{back}");
        assert!(
            back.contains(&format!("\"digest\":\"{}\"", d.digest)),
            "{back}"
        );
        // A digest we cannot verify is refused when parsing.
        let e =
            serde_json::from_str::<Descriptor>(r#"{"mediaType":"m","digest":"md5:00","size":1}"#)
                .unwrap_err();
        assert!(e.to_string().contains("only sha256"), "{e}");
    }
}
