//! Reading an OCI image layout: a directory (`oci:`) or a tar of one
//! (`oci-archive:`), the selection of the image by tag, the expansion of
//! indexes into per-platform images, and verified blob streams.
//!
//! An `oci-archive:` tar is **not extracted**: opening it reads the tar
//! headers once (seeking over contents) and records the offset and size of
//! every regular file; a blob is then read by seeking to its offset. This
//! keeps large base images off the disk a second time and needs no cleanup.
//!
//! Every blob is read through a [`BlobReader`], which hashes as it reads and
//! fails at end of stream (or as soon as too many bytes arrive) when the
//! content does not match the digest and size it was requested with.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::{media_type, Descriptor, Digest, ImageRef, OciError, Platform};
use crate::registry::{Registry, RegistryRef};

/// Largest JSON blob (index, manifest, config) read into memory.
pub(crate) const MAX_JSON_BLOB: u64 = 16 << 20;

/// How deep nested image indexes are followed.
const MAX_INDEX_DEPTH: usize = 8;

/// One runnable image of a source: its manifest, config and layers.
#[derive(Clone, Debug)]
pub struct PlatformImage {
    /// Platform (from the index entry when it has one, else the config).
    pub platform: Platform,
    /// The manifest's descriptor, as listed in the index that named it.
    pub manifest: Descriptor,
    /// The manifest document.
    pub manifest_json: Value,
    /// The config's descriptor, from the manifest.
    pub config: Descriptor,
    /// The config document.
    pub config_json: Value,
    /// Layer descriptors, bottom first.
    pub layers: Vec<Descriptor>,
    /// `rootfs.diff_ids` of the config, one per layer.
    pub diff_ids: Vec<String>,
}

/// Where blobs come from.
enum Store {
    /// A layout directory.
    Dir(PathBuf),
    /// A tar of a layout: path → (content offset, size).
    Archive {
        file: PathBuf,
        entries: HashMap<String, (u64, u64)>,
    },
    /// A registry repository, through the verified blob cache.
    Registry {
        registry: Registry,
        repository: RegistryRef,
    },
}

/// An opened source image.
pub struct Source {
    image: ImageRef,
    location: String,
    store: Option<Store>,
    index_bytes: Option<Vec<u8>>,
    index_json: Option<Value>,
    selected: Vec<Descriptor>,
    images: Vec<PlatformImage>,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source")
            .field("image", &self.image)
            .field("selected", &self.selected)
            .field("images", &self.images.len())
            .finish()
    }
}

/// A blob stream that verifies digest and size. Reading past the end
/// returns an `io::Error` wrapping [`OciError::DigestMismatch`] or
/// [`OciError::SizeMismatch`] when the content is wrong; recover it with
/// [`OciError::from_io`].
pub struct BlobReader {
    inner: Box<dyn Read + Send>,
    hasher: Sha256,
    digest: Digest,
    expected_size: Option<u64>,
    read: u64,
    verified: bool,
    location: String,
}

impl BlobReader {
    fn check(&mut self) -> Result<(), OciError> {
        if let Some(expected) = self.expected_size {
            if self.read != expected {
                return Err(OciError::SizeMismatch {
                    digest: self.digest.to_string(),
                    expected,
                    actual: self.read,
                    location: self.location.clone(),
                });
            }
        }
        let actual = Digest::from_hasher(std::mem::take(&mut self.hasher));
        if actual != self.digest {
            return Err(OciError::DigestMismatch {
                digest: self.digest.to_string(),
                actual: actual.hex().to_owned(),
                location: self.location.clone(),
            });
        }
        Ok(())
    }

    /// Reads the rest of the blob and verifies it.
    pub fn finish(mut self) -> Result<(), OciError> {
        io::copy(&mut self, &mut io::sink()).map_err(|e| self.wrap(e))?;
        Ok(())
    }

    /// The digest being verified.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// Converts an error from this reader into an [`OciError`].
    pub(crate) fn wrap(&self, e: io::Error) -> OciError {
        OciError::from_io(e, |source| OciError::Io {
            action: "reading blob",
            path: PathBuf::from(format!("{} in {}", self.digest, self.location)),
            source,
        })
    }
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.verified || buf.is_empty() {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        if n == 0 {
            self.check().map_err(io::Error::other)?;
            self.verified = true;
            return Ok(0);
        }
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        if let Some(expected) = self.expected_size {
            if self.read > expected {
                return Err(io::Error::other(OciError::SizeMismatch {
                    digest: self.digest.to_string(),
                    expected,
                    actual: self.read,
                    location: self.location.clone(),
                }));
            }
        }
        Ok(n)
    }
}

#[derive(Deserialize)]
struct LayoutFile {
    #[serde(rename = "imageLayoutVersion")]
    image_layout_version: String,
}

#[derive(Deserialize)]
struct IndexDoc {
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ManifestDoc {
    #[serde(default)]
    media_type: Option<String>,
    config: Descriptor,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct ConfigDoc {
    architecture: String,
    os: String,
    #[serde(default)]
    variant: Option<String>,
    rootfs: RootfsDoc,
}

#[derive(Deserialize)]
struct RootfsDoc {
    #[serde(default)]
    diff_ids: Vec<String>,
}

/// What a media type names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// An image manifest (OCI or Docker).
    Manifest,
    /// An image index or manifest list.
    Index,
    /// Anything else (config, layer, artifact content).
    Other,
}

/// The kind of document `media` names.
pub(crate) fn kind_of(media: &str) -> Kind {
    match media {
        media_type::OCI_MANIFEST | media_type::DOCKER_MANIFEST => Kind::Manifest,
        media_type::OCI_INDEX | media_type::DOCKER_LIST => Kind::Index,
        _ => Kind::Other,
    }
}

/// Strips `./` and `/` prefixes from a tar member name.
fn member_name(raw: &[u8]) -> Option<String> {
    let mut s = std::str::from_utf8(raw).ok()?;
    loop {
        if let Some(r) = s.strip_prefix("./") {
            s = r;
        } else if let Some(r) = s.strip_prefix('/') {
            s = r;
        } else {
            break;
        }
    }
    Some(s.trim_end_matches('/').to_owned())
}

impl Store {
    fn index_archive(path: &Path) -> Result<Store, OciError> {
        let file = File::open(path).map_err(|e| OciError::io("opening archive", path, e))?;
        let mut archive = tar::Archive::new(file);
        let mut entries: HashMap<String, (u64, u64)> = HashMap::new();
        let bad = |e: io::Error| OciError::io("reading archive", path, e);
        for entry in archive.entries_with_seek().map_err(bad)? {
            let entry = entry.map_err(bad)?;
            let Some(name) = member_name(&entry.path_bytes()) else {
                continue;
            };
            let kind = entry.header().entry_type();
            if kind.is_file() || kind == tar::EntryType::Continuous {
                entries.insert(name, (entry.raw_file_position(), entry.size()));
            } else if kind.is_hard_link() {
                let target = entry
                    .link_name_bytes()
                    .and_then(|t| member_name(&t))
                    .and_then(|t| entries.get(&t).copied());
                if let Some(found) = target {
                    entries.insert(name, found);
                }
            }
        }
        Ok(Store::Archive {
            file: path.to_owned(),
            entries,
        })
    }

    /// Opens the blob `digest` (`media_type` tells a registry which
    /// endpoint serves it); `None` when a layout lacks it.
    #[allow(clippy::type_complexity)]
    fn open_blob(
        &self,
        digest: &Digest,
        size: Option<u64>,
        media_type: &str,
    ) -> Result<Option<(Box<dyn Read + Send>, u64)>, OciError> {
        match self {
            Store::Registry {
                registry,
                repository,
            } => {
                let (file, len) = registry.blob(repository, digest, size, media_type)?;
                Ok(Some((Box::new(file), len)))
            }
            _ => self.open(&format!("blobs/sha256/{}", digest.hex())),
        }
    }

    /// Opens a member by layout-relative name; `None` when absent.
    #[allow(clippy::type_complexity)]
    fn open(&self, name: &str) -> Result<Option<(Box<dyn Read + Send>, u64)>, OciError> {
        match self {
            Store::Registry { .. } => Ok(None),
            Store::Dir(dir) => {
                let path = dir.join(name);
                let file = match File::open(&path) {
                    Ok(f) => f,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(OciError::io("opening", path, e)),
                };
                let meta = file
                    .metadata()
                    .map_err(|e| OciError::io("reading", &path, e))?;
                if !meta.is_file() {
                    return Ok(None);
                }
                Ok(Some((Box::new(file), meta.len())))
            }
            Store::Archive { file, entries } => {
                let Some(&(offset, size)) = entries.get(name) else {
                    return Ok(None);
                };
                let mut f =
                    File::open(file).map_err(|e| OciError::io("opening archive", file, e))?;
                f.seek(SeekFrom::Start(offset))
                    .map_err(|e| OciError::io("reading archive", file, e))?;
                Ok(Some((Box::new(f.take(size)), size)))
            }
        }
    }

    fn member_path(&self, name: &str) -> PathBuf {
        match self {
            Store::Dir(dir) => dir.join(name),
            Store::Registry { repository, .. } => PathBuf::from(format!("{repository} {name}")),
            Store::Archive { file, .. } => PathBuf::from(format!("{}//{name}", file.display())),
        }
    }

    /// Reads a small non-blob member (`oci-layout`, `index.json`).
    fn read_small(&self, name: &str, location: &str) -> Result<Option<Vec<u8>>, OciError> {
        let Some((reader, size)) = self.open(name)? else {
            return Ok(None);
        };
        if size > MAX_JSON_BLOB {
            return Err(OciError::Layout {
                location: location.to_owned(),
                reason: format!("`{name}` is {size} bytes, more than {MAX_JSON_BLOB}"),
            });
        }
        let mut buf = Vec::with_capacity(size as usize);
        reader
            .take(MAX_JSON_BLOB)
            .read_to_end(&mut buf)
            .map_err(|e| OciError::io("reading", self.member_path(name), e))?;
        Ok(Some(buf))
    }
}

/// Opens the image `image` names and loads every platform image it
/// selects. `scratch` gives a source without images; a `docker://`
/// reference is opened with a registry client configured from the
/// environment ([`crate::registry::Registry::open`]).
///
/// Selection in a layout: with a `:REF`, the `index.json` entries whose
/// `org.opencontainers.image.ref.name` equals it; without, the only entry,
/// or all entries when none of them is tagged differently from the others
/// (apko's multi-arch layouts list untagged per-platform manifests).
/// Entries that are image indexes (OCI or Docker lists) are descended.
pub fn open(image: &ImageRef) -> Result<Source, OciError> {
    let reference = match image {
        ImageRef::Scratch => {
            return Ok(Source {
                image: image.clone(),
                location: "scratch".to_owned(),
                store: None,
                index_bytes: None,
                index_json: None,
                selected: Vec::new(),
                images: Vec::new(),
            })
        }
        ImageRef::Registry(r) => return crate::registry::Registry::from_env()?.open(r),
        ImageRef::Layout { reference, .. } | ImageRef::Archive { reference, .. } => reference,
    };
    let mut source = open_unselected(image)?;
    let entries = std::mem::take(&mut source.selected);
    let mut tags: Vec<String> = entries
        .iter()
        .filter_map(|d| d.ref_name().map(str::to_owned))
        .collect();
    tags.sort();
    tags.dedup();
    let selected: Vec<Descriptor> = match reference {
        Some(wanted) => {
            let found: Vec<Descriptor> = entries
                .iter()
                .filter(|d| d.ref_name() == Some(wanted.as_str()))
                .cloned()
                .collect();
            if found.is_empty() {
                return Err(OciError::RefNotFound {
                    location: source.location,
                    wanted: wanted.clone(),
                    available: tags,
                });
            }
            found
        }
        None => {
            if entries.is_empty() {
                return Err(OciError::Layout {
                    location: source.location,
                    reason: "`index.json` lists no manifests".to_owned(),
                });
            }
            let first = entries[0].ref_name();
            if entries.iter().any(|d| d.ref_name() != first) {
                return Err(OciError::Ambiguous {
                    location: source.location,
                    available: tags,
                });
            }
            entries
        }
    };
    source.load(selected)
}

/// Opens a layout directory or archive and reads its `index.json`, without
/// selecting: [`Source::selected`] lists every entry, and no platform image
/// is loaded (what pushing a whole layout needs).
pub(crate) fn open_unselected(image: &ImageRef) -> Result<Source, OciError> {
    let (store, path) = match image {
        ImageRef::Layout { path, .. } => {
            let meta =
                std::fs::metadata(path).map_err(|e| OciError::io("opening layout", path, e))?;
            if !meta.is_dir() {
                return Err(OciError::Layout {
                    location: format!("oci:{}", path.display()),
                    reason: "not a directory (use oci-archive: for a tar file)".to_owned(),
                });
            }
            (Store::Dir(path.clone()), path)
        }
        ImageRef::Archive { path, .. } => (Store::index_archive(path)?, path),
        ImageRef::Scratch | ImageRef::Registry(_) => {
            return Err(OciError::Layout {
                location: image.to_string(),
                reason: "not an OCI layout or archive".to_owned(),
            })
        }
    };
    let location = match image {
        ImageRef::Archive { .. } => format!("oci-archive:{}", path.display()),
        _ => format!("oci:{}", path.display()),
    };
    let layout_err = |reason: String| OciError::Layout {
        location: location.clone(),
        reason,
    };
    let json_err = |what: &str, e: serde_json::Error| OciError::Json {
        what: what.to_owned(),
        location: location.clone(),
        reason: e.to_string(),
    };

    let marker = store
        .read_small("oci-layout", &location)?
        .ok_or_else(|| layout_err("the `oci-layout` file is missing".to_owned()))?;
    let marker: LayoutFile =
        serde_json::from_slice(&marker).map_err(|e| json_err("oci-layout", e))?;
    if !marker.image_layout_version.starts_with("1.") {
        return Err(layout_err(format!(
            "unsupported imageLayoutVersion `{}`",
            marker.image_layout_version
        )));
    }
    let index_bytes = store
        .read_small("index.json", &location)?
        .ok_or_else(|| layout_err("`index.json` is missing".to_owned()))?;
    let index_json: Value =
        serde_json::from_slice(&index_bytes).map_err(|e| json_err("index.json", e))?;
    let index: IndexDoc =
        serde_json::from_value(index_json.clone()).map_err(|e| json_err("index.json", e))?;
    Ok(Source {
        image: image.clone(),
        location,
        store: Some(store),
        index_bytes: Some(index_bytes),
        index_json: Some(index_json),
        selected: index.manifests,
        images: Vec::new(),
    })
}

impl Source {
    /// Loads the platform images of `selected` entries.
    fn load(mut self, selected: Vec<Descriptor>) -> Result<Source, OciError> {
        let mut images = Vec::new();
        for desc in &selected {
            self.load_entry(desc, 0, true, &mut images)?;
        }
        if images.is_empty() {
            return Err(OciError::Layout {
                location: self.location,
                reason: "the selected entries contain no image manifest".to_owned(),
            });
        }
        self.selected = selected;
        self.images = images;
        Ok(self)
    }

    /// A source reading `top` (the manifest or index `r` resolved to) and
    /// everything under it from `registry`.
    pub(crate) fn from_registry(
        registry: Registry,
        r: RegistryRef,
        top: Descriptor,
    ) -> Result<Source, OciError> {
        let source = Source {
            image: ImageRef::Registry(r.clone()),
            location: r.to_string(),
            store: Some(Store::Registry {
                registry,
                repository: r.repository_ref(),
            }),
            index_bytes: None,
            index_json: None,
            selected: Vec::new(),
            images: Vec::new(),
        };
        source.load(vec![top])
    }

    /// Makes the blobs `descs` name local, several at a time, so that
    /// reading them later does not wait on the network: downloads them into
    /// the cache for a registry source, nothing for a layout.
    pub fn fetch(&self, descs: &[&Descriptor]) -> Result<(), OciError> {
        let Some(Store::Registry {
            registry,
            repository,
        }) = &self.store
        else {
            return Ok(());
        };
        crate::registry::pull::parallel(descs, registry.options().jobs, |d| {
            registry
                .blob(repository, &d.digest, Some(d.size), &d.media_type)
                .map(drop)
        })
        .map_err(OciError::from)
    }

    /// [`Source::fetch`] of every layer of `images`.
    pub fn prefetch(&self, images: &[&PlatformImage]) -> Result<(), OciError> {
        let mut seen = std::collections::BTreeSet::new();
        let layers: Vec<&Descriptor> = images
            .iter()
            .flat_map(|i| &i.layers)
            .filter(|l| seen.insert(&l.digest))
            .collect();
        self.fetch(&layers)
    }

    /// The reference this source was opened from.
    pub fn image_ref(&self) -> &ImageRef {
        &self.image
    }

    /// The layout or archive, for messages (`oci:PATH`).
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The selected platform images (empty for `scratch`).
    pub fn images(&self) -> &[PlatformImage] {
        &self.images
    }

    /// The image for `platform` (`arm64` matches `arm64/v8`).
    pub fn image_for(&self, platform: &Platform) -> Option<&PlatformImage> {
        self.images.iter().find(|i| i.platform.matches(platform))
    }

    /// The parsed `index.json` (`None` for `scratch`).
    pub fn index_json(&self) -> Option<&Value> {
        self.index_json.as_ref()
    }

    /// The digest of the exact `index.json` bytes (`None` for `scratch`).
    pub fn index_digest(&self) -> Option<Digest> {
        self.index_bytes.as_deref().map(Digest::of)
    }

    /// The `index.json` entries the reference selected.
    pub fn selected(&self) -> &[Descriptor] {
        &self.selected
    }

    /// The digest to record as `base.digest`: the selected `index.json`
    /// entry's digest when exactly one was selected, else the digest of
    /// `index.json` itself (apko's untagged multi-arch layouts).
    pub fn base_digest(&self) -> Option<Digest> {
        match self.selected.as_slice() {
            [one] => Some(one.digest.clone()),
            _ => self.index_digest(),
        }
    }

    /// Opens a blob by digest; the content is verified against the digest
    /// at end of stream. Prefer [`Source::open_descriptor`], which also
    /// checks the size.
    pub fn open_blob(&self, digest: &Digest) -> Result<BlobReader, OciError> {
        self.open_verified(digest, None, "")
    }

    /// Opens the blob a descriptor names, verifying digest and size.
    pub fn open_descriptor(&self, desc: &Descriptor) -> Result<BlobReader, OciError> {
        self.open_verified(&desc.digest, Some(desc.size), &desc.media_type)
    }

    fn open_verified(
        &self,
        digest: &Digest,
        size: Option<u64>,
        media_type: &str,
    ) -> Result<BlobReader, OciError> {
        let missing = || OciError::BlobMissing {
            digest: digest.to_string(),
            location: self.location.clone(),
        };
        let store = self.store.as_ref().ok_or_else(missing)?;
        let (inner, actual) = store
            .open_blob(digest, size, media_type)?
            .ok_or_else(missing)?;
        if let Some(expected) = size {
            if expected != actual {
                return Err(OciError::SizeMismatch {
                    digest: digest.to_string(),
                    expected,
                    actual,
                    location: self.location.clone(),
                });
            }
        }
        Ok(BlobReader {
            inner,
            hasher: Sha256::new(),
            digest: digest.clone(),
            expected_size: size,
            read: 0,
            verified: false,
            location: self.location.clone(),
        })
    }

    /// Reads a small blob (index, manifest, config) into memory, verified.
    pub fn read_blob(&self, desc: &Descriptor) -> Result<Vec<u8>, OciError> {
        self.read_limited(desc, "JSON document")
    }

    fn read_limited(&self, desc: &Descriptor, what: &'static str) -> Result<Vec<u8>, OciError> {
        if desc.size > MAX_JSON_BLOB {
            return Err(OciError::TooLarge {
                digest: desc.digest.to_string(),
                what,
                size: desc.size,
                limit: MAX_JSON_BLOB,
            });
        }
        let mut reader = self.open_descriptor(desc)?;
        let mut buf = Vec::with_capacity(desc.size as usize);
        reader.read_to_end(&mut buf).map_err(|e| reader.wrap(e))?;
        Ok(buf)
    }

    fn parse_json<T: serde::de::DeserializeOwned>(
        &self,
        bytes: &[u8],
        what: &str,
        digest: &Digest,
    ) -> Result<(Value, T), OciError> {
        let err = |e: serde_json::Error| OciError::Json {
            what: format!("{what} {digest}"),
            location: self.location.clone(),
            reason: e.to_string(),
        };
        let value: Value = serde_json::from_slice(bytes).map_err(err)?;
        let doc = T::deserialize(&value).map_err(err)?;
        Ok((value, doc))
    }

    fn load_entry(
        &self,
        desc: &Descriptor,
        depth: usize,
        top: bool,
        out: &mut Vec<PlatformImage>,
    ) -> Result<(), OciError> {
        let mut kind = kind_of(&desc.media_type);
        let mut bytes = None;
        if kind == Kind::Other && desc.media_type.is_empty() {
            // No media type: recognise the document by its shape.
            let b = self.read_limited(desc, "manifest or index")?;
            let (v, _): (Value, serde::de::IgnoredAny) =
                self.parse_json(&b, "document", &desc.digest)?;
            kind = if v.get("manifests").is_some() {
                Kind::Index
            } else if v.get("layers").is_some() {
                Kind::Manifest
            } else {
                Kind::Other
            };
            bytes = Some(b);
        }
        match kind {
            Kind::Manifest => {
                let bytes = match bytes {
                    Some(b) => b,
                    None => self.read_limited(desc, "manifest")?,
                };
                out.push(self.load_manifest(desc, &bytes)?);
            }
            Kind::Index => {
                if depth >= MAX_INDEX_DEPTH {
                    return Err(self.invalid("index", desc, "image indexes nested too deeply"));
                }
                let bytes = match bytes {
                    Some(b) => b,
                    None => self.read_limited(desc, "image index")?,
                };
                let (_, index): (Value, IndexDoc) =
                    self.parse_json(&bytes, "image index", &desc.digest)?;
                for child in &index.manifests {
                    let unknown = child
                        .platform
                        .as_ref()
                        .is_some_and(|p| p.os == "unknown" || p.architecture == "unknown");
                    if unknown || child.annotations.contains_key("vnd.docker.reference.type") {
                        continue; // attestations and other non-images
                    }
                    self.load_entry(child, depth + 1, false, out)?;
                }
            }
            Kind::Other if top => {
                return Err(OciError::UnsupportedMediaType {
                    digest: desc.digest.to_string(),
                    media_type: desc.media_type.clone(),
                    what: "an index.json entry (expected an image manifest or index)",
                })
            }
            Kind::Other => {}
        }
        Ok(())
    }

    fn invalid(&self, what: &'static str, desc: &Descriptor, reason: &str) -> OciError {
        OciError::Invalid {
            what,
            digest: desc.digest.to_string(),
            location: self.location.clone(),
            reason: reason.to_owned(),
        }
    }

    fn load_manifest(&self, desc: &Descriptor, bytes: &[u8]) -> Result<PlatformImage, OciError> {
        let (manifest_json, manifest): (Value, ManifestDoc) =
            self.parse_json(bytes, "manifest", &desc.digest)?;
        if manifest
            .media_type
            .as_deref()
            .is_some_and(|m| kind_of(m) != Kind::Manifest)
        {
            return Err(self.invalid(
                "manifest",
                desc,
                "its mediaType is not an image manifest type",
            ));
        }
        let config_bytes = self.read_limited(&manifest.config, "config")?;
        let (config_json, config): (Value, ConfigDoc) =
            self.parse_json(&config_bytes, "config", &manifest.config.digest)?;
        let diff_ids = config.rootfs.diff_ids;
        if diff_ids.len() != manifest.layers.len() {
            return Err(self.invalid(
                "config",
                &manifest.config,
                &format!(
                    "rootfs.diff_ids has {} entries but manifest {} lists {} layers",
                    diff_ids.len(),
                    desc.digest,
                    manifest.layers.len()
                ),
            ));
        }
        for d in diff_ids.iter().map(String::as_str) {
            Digest::parse(d)?;
        }
        let from_config = Platform {
            architecture: config.architecture,
            os: config.os,
            variant: config.variant,
        };
        let platform = match &desc.platform {
            Some(p) if !p.matches(&from_config) => {
                return Err(self.invalid(
                    "manifest",
                    desc,
                    &format!("the index says platform {p}, but its config says {from_config}"),
                ))
            }
            Some(p) => p.clone(),
            None => from_config,
        };
        Ok(PlatformImage {
            platform,
            manifest: desc.clone(),
            manifest_json,
            config: manifest.config,
            config_json,
            layers: manifest.layers,
            diff_ids,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn corpus(rel: &str) -> PathBuf {
        testkit::corpus(rel)
    }

    pub(crate) fn open_dir(rel: &str, reference: Option<&str>) -> Result<Source, OciError> {
        open(&ImageRef::Layout {
            path: corpus(rel),
            reference: reference.map(Into::into),
        })
    }

    pub(crate) use testkit::copy_dir;

    #[test]
    fn opens_single_manifest_alpine() {
        for r in [None, Some("alpine-3.16.9")] {
            let s = open_dir("images/alpine-3.16.9-x86_64", r).unwrap();
            assert_eq!(s.images().len(), 1);
            let img = &s.images()[0];
            assert_eq!(img.platform.architecture, "amd64");
            assert_eq!(img.platform.os, "linux");
            assert_eq!(img.layers.len(), 1);
            assert_eq!(img.diff_ids.len(), 1);
            assert_eq!(
                s.base_digest().map(|d| d.to_string()).as_deref(),
                Some("sha256:07b5a67da37624954ee5f14d83b111a797c6deacbc470c2adf56fbafb75b60a9")
            );
            assert_eq!(img.manifest.ref_name(), Some("alpine-3.16.9"));
            assert!(s.index_json().unwrap()["manifests"].is_array());
        }
    }

    #[test]
    fn wrong_ref_lists_available() {
        let e = open_dir("images/alpine-3.16.9-x86_64", Some("latest")).unwrap_err();
        assert!(matches!(e, OciError::RefNotFound { .. }), "{e:?}");
        let msg = e.to_string();
        assert!(
            msg.contains("`latest`") && msg.contains("available: alpine-3.16.9"),
            "{msg}"
        );
        let e = open_dir("apk/repo-small/base_image", Some("x")).unwrap_err();
        assert!(e.to_string().contains("available: (none)"), "{e}");
    }

    #[test]
    fn opens_two_arch_layouts() {
        for rel in ["apk/repo-small/base_image", "apk/repo-small/top_image"] {
            let s = open_dir(rel, None).unwrap();
            let archs: Vec<_> = s
                .images()
                .iter()
                .map(|i| i.platform.architecture.as_str())
                .collect();
            assert_eq!(archs, ["amd64", "arm64"], "{rel}");
            assert_eq!(s.selected().len(), 2);
            assert_eq!(s.base_digest(), s.index_digest());
            let arm = s
                .image_for(&Platform {
                    architecture: "arm64".into(),
                    os: "linux".into(),
                    variant: Some("v8".into()),
                })
                .unwrap();
            assert_eq!(arm.platform.architecture, "arm64");
        }
        let top = open_dir("apk/repo-small/top_image", None).unwrap();
        assert_eq!(top.images()[0].layers.len(), 2);
        assert_eq!(
            top.images()[0].manifest.artifact_type.as_deref(),
            Some(media_type::OCI_CONFIG)
        );
    }

    #[test]
    fn scratch_has_no_images() {
        let s = open(&ImageRef::Scratch).unwrap();
        assert!(s.images().is_empty());
        assert!(s.index_json().is_none());
        assert!(s.base_digest().is_none());
    }

    #[test]
    fn nested_index_and_ambiguity() {
        // Wrap base_image's index in a blob, tag it, and add a second tag.
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("l");
        copy_dir(&corpus("apk/repo-small/base_image"), &dir);
        let inner = std::fs::read(dir.join("index.json")).unwrap();
        let d = Digest::of(&inner);
        std::fs::write(dir.join("blobs/sha256").join(d.hex()), &inner).unwrap();
        let entry = |tag: &str| {
            serde_json::json!({"mediaType": media_type::OCI_INDEX, "digest": d.to_string(),
                "size": inner.len(), "annotations": {"org.opencontainers.image.ref.name": tag}})
        };
        let index = serde_json::json!({"schemaVersion": 2, "manifests": [entry("a"), entry("b")]});
        std::fs::write(dir.join("index.json"), index.to_string()).unwrap();
        let r = |t: Option<&str>| ImageRef::Layout {
            path: dir.clone(),
            reference: t.map(Into::into),
        };
        let s = open(&r(Some("b"))).unwrap();
        assert_eq!(s.images().len(), 2);
        assert_eq!(s.base_digest(), Some(d.clone()));
        let e = open(&r(None)).unwrap_err();
        assert!(matches!(e, OciError::Ambiguous { .. }), "{e}");
        assert!(e.to_string().contains("a, b"), "{e}");
    }

    #[test]
    fn tampered_blob_is_detected() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("l");
        copy_dir(&corpus("images/alpine-3.16.9-x86_64"), &dir);
        let s = open(&ImageRef::Layout {
            path: dir.clone(),
            reference: None,
        })
        .unwrap();
        let layer = s.images()[0].layers[0].clone();
        let path = dir.join("blobs/sha256").join(layer.digest.hex());
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[1000] ^= 0x55;
        std::fs::write(&path, &bytes).unwrap();
        let e = s.open_descriptor(&layer).unwrap().finish().unwrap_err();
        assert!(matches!(e, OciError::DigestMismatch { .. }), "{e:?}");
        assert!(e.to_string().contains(&layer.digest.to_string()), "{e}");
        // Through open_blob too, and a size mismatch caught up front.
        let e = s.open_blob(&layer.digest).unwrap().finish().unwrap_err();
        assert!(matches!(e, OciError::DigestMismatch { .. }), "{e:?}");
        bytes.push(0);
        std::fs::write(&path, &bytes).unwrap();
        let e = s.open_descriptor(&layer).err().unwrap();
        assert!(matches!(e, OciError::SizeMismatch { .. }), "{e:?}");
        // A tampered manifest fails `open`.
        let m = dir
            .join("blobs/sha256")
            .join(s.images()[0].manifest.digest.hex());
        let mut mb = std::fs::read(&m).unwrap();
        mb[10] = b' ';
        std::fs::write(&m, &mb).unwrap();
        let e = open(&ImageRef::Layout {
            path: dir,
            reference: None,
        })
        .unwrap_err();
        assert!(matches!(e, OciError::DigestMismatch { .. }), "{e:?}");
    }

    #[test]
    fn missing_layout_files_are_reported() {
        let tmp = tempfile::tempdir().unwrap();
        let e = open(&ImageRef::Layout {
            path: tmp.path().to_owned(),
            reference: None,
        })
        .unwrap_err();
        assert!(
            e.to_string().contains("`oci-layout` file is missing"),
            "{e}"
        );
        let e = open(&ImageRef::Layout {
            path: tmp.path().join("nope"),
            reference: None,
        })
        .unwrap_err();
        assert!(matches!(e, OciError::Io { .. }), "{e:?}");
    }

    #[test]
    fn reads_an_archive_without_extracting() {
        let tmp = tempfile::tempdir().unwrap();
        let tar_path = tmp.path().join("img.tar");
        let mut b = tar::Builder::new(File::create(&tar_path).unwrap());
        b.append_dir_all(".", corpus("apk/repo-small/top_image"))
            .unwrap();
        b.into_inner().unwrap();
        let s = open(&ImageRef::Archive {
            path: tar_path,
            reference: None,
        })
        .unwrap();
        assert_eq!(s.images().len(), 2);
        for l in &s.images()[1].layers {
            s.open_descriptor(l).unwrap().finish().unwrap();
        }
    }
}
