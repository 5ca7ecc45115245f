//! Reading images from a registry: what a tag points to (`HEAD`, for "did
//! the source move"), manifests by tag or digest (verified, at most
//! [`MAX_MANIFEST`] bytes), blobs streamed into the verified cache, a
//! [`Source`] that reads like a layout, and a copy into an OCI layout.
//!
//! Only what is asked for is fetched: opening a source reads its index,
//! manifests and configs; a layer is downloaded when it is first opened
//! (or by [`Source::prefetch`], several at a time) and served from the
//! cache afterwards. A manifest pinned by digest that is already cached
//! needs no network at all.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use reqwest::Method;
use serde_json::Value;

use super::cache::PutError;
use super::transport::{read_small, Call, Deadline, Payload, Scope};
use super::{Registry, RegistryError, RegistryRef};
use crate::layout::{kind_of, Kind};
use crate::write::LayoutWriter;
use crate::{media_type, Descriptor, Digest, OciError, Source, REF_NAME_ANNOTATION};

/// Largest manifest or index accepted from a registry.
pub(crate) const MAX_MANIFEST: u64 = 4 << 20;

/// Every manifest type we read, for `Accept`.
pub(crate) const MANIFEST_ACCEPT: &str = concat!(
    "application/vnd.oci.image.index.v1+json, ",
    "application/vnd.oci.image.manifest.v1+json, ",
    "application/vnd.docker.distribution.manifest.list.v2+json, ",
    "application/vnd.docker.distribution.manifest.v2+json"
);

/// What a tag (or digest) points to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// The digest of the manifest or index.
    pub digest: Digest,
    /// Its media type.
    pub media_type: String,
    /// Its size in bytes.
    pub size: u64,
}

/// A manifest as the registry served it.
pub(crate) struct Fetched {
    pub(crate) bytes: Vec<u8>,
    pub(crate) media_type: String,
    pub(crate) digest: Digest,
}

/// `Content-Type` without parameters.
fn content_type(r: &reqwest::blocking::Response) -> Option<String> {
    r.headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_owned())
        .filter(|v| !v.is_empty())
}

fn header_digest(r: &reqwest::blocking::Response) -> Option<Digest> {
    r.headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| Digest::parse(v.trim()).ok())
}

/// The media type a manifest document declares, else its shape's.
pub(crate) fn sniff_media_type(bytes: &[u8]) -> String {
    let v: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
    match v.get("mediaType").and_then(Value::as_str) {
        Some(m) => m.to_owned(),
        None if v.get("manifests").is_some() => media_type::OCI_INDEX.to_owned(),
        None => media_type::OCI_MANIFEST.to_owned(),
    }
}

/// Runs `f` on every item with up to `jobs` threads; stops handing out
/// work after the first error, which is returned.
pub(crate) fn parallel<T: Sync, E: Send>(
    items: &[T],
    jobs: usize,
    f: impl Fn(&T) -> Result<(), E> + Sync,
) -> Result<(), E> {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let error: Mutex<Option<E>> = Mutex::new(None);
    let worker = || {
        while !failed.load(Ordering::SeqCst) {
            let i = next.fetch_add(1, Ordering::SeqCst);
            let Some(item) = items.get(i) else { break };
            if let Err(e) = f(item) {
                failed.store(true, Ordering::SeqCst);
                error
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get_or_insert(e);
            }
        }
    };
    let threads = jobs.clamp(1, items.len().max(1));
    std::thread::scope(|s| {
        for _ in 1..threads {
            s.spawn(worker);
        }
        worker();
    });
    match error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

impl Registry {
    /// What `r` points to, from a `HEAD` of its manifest (a `GET` when the
    /// registry does not send `Docker-Content-Digest`). A digest in `r` is
    /// checked against the registry's answer.
    pub fn resolve(&self, r: &RegistryRef) -> Result<Resolved, RegistryError> {
        let dl = self.deadline();
        let t = &self.inner.transport;
        let host = t.host(r.registry(), &dl)?;
        let target = r.to_string();
        let scope = Scope::pull(r.repository());
        let call = Call {
            method: Method::HEAD,
            url: host.url(
                r.repository(),
                &format!("manifests/{}", r.manifest_reference()),
            ),
            accept: Some(MANIFEST_ACCEPT),
            content_type: None,
            payload: Payload::Empty,
            target: &target,
            action: "resolving the tag",
            transfer: false,
        };
        let response = t.send(&host, &scope, &call, &dl)?;
        let response = t.expect(&host, &scope, &call, response, &[200], "repository or tag")?;
        let size = response.content_length();
        let (digest, media_type) = (header_digest(&response), content_type(&response));
        let resolved = match (digest, media_type, size) {
            (Some(digest), Some(media_type), Some(size)) if size > 0 => Resolved {
                digest,
                media_type,
                size,
            },
            _ => {
                let f = self.fetch_manifest(r, &r.manifest_reference(), &dl)?;
                Resolved {
                    size: f.bytes.len() as u64,
                    digest: f.digest,
                    media_type: f.media_type,
                }
            }
        };
        if let Some(want) = r.digest() {
            if &resolved.digest != want {
                return Err(RegistryError::Protocol {
                    target,
                    reason: format!("the registry answered with digest {}", resolved.digest),
                });
            }
        }
        Ok(resolved)
    }

    /// `GET` of a manifest by tag or digest, verified.
    pub(crate) fn fetch_manifest(
        &self,
        r: &RegistryRef,
        reference: &str,
        dl: &Deadline,
    ) -> Result<Fetched, RegistryError> {
        let t = &self.inner.transport;
        let host = t.host(r.registry(), dl)?;
        let target = r.to_string();
        let scope = Scope::pull(r.repository());
        let call = Call {
            method: Method::GET,
            url: host.url(r.repository(), &format!("manifests/{reference}")),
            accept: Some(MANIFEST_ACCEPT),
            content_type: None,
            payload: Payload::Empty,
            target: &target,
            action: "fetching the manifest",
            transfer: false,
        };
        let response = t.send(&host, &scope, &call, dl)?;
        let what = if reference.starts_with("sha256:") {
            format!("manifest {reference}")
        } else {
            "repository or tag".to_owned()
        };
        let response = t.expect(&host, &scope, &call, response, &[200], &what)?;
        let protocol = |reason: String| RegistryError::Protocol {
            target: target.clone(),
            reason,
        };
        if response.content_length().is_some_and(|l| l > MAX_MANIFEST) {
            return Err(protocol(format!(
                "the manifest is larger than the limit of {MAX_MANIFEST} bytes"
            )));
        }
        let header = header_digest(&response);
        let declared = content_type(&response);
        let bytes = read_small(response, MAX_MANIFEST, "a manifest")
            .map_err(|e| protocol(format!("reading the manifest: {e}")))?;
        let digest = Digest::of(&bytes);
        let expected = Digest::parse(reference).ok().or(header);
        if let Some(want) = expected {
            if want != digest {
                return Err(protocol(format!(
                    "the registry served a manifest for {want} whose content hashes to {digest}"
                )));
            }
        }
        let media_type = match declared {
            Some(m) if kind_of(&m) != Kind::Other => m,
            _ => sniff_media_type(&bytes),
        };
        Ok(Fetched {
            bytes,
            media_type,
            digest,
        })
    }

    /// The cached blob `digest` of `repository`, downloading (and
    /// verifying) it first when needed. Manifest media types are fetched
    /// from the manifests endpoint.
    pub(crate) fn blob(
        &self,
        repository: &RegistryRef,
        digest: &Digest,
        size: Option<u64>,
        media: &str,
    ) -> Result<(std::fs::File, u64), RegistryError> {
        let cache = &self.inner.cache;
        if let Some(hit) = cache.get(digest, size) {
            return Ok(hit);
        }
        let dl = self.deadline();
        self.download(repository, digest, size, media, &dl)?;
        cache.get(digest, size).ok_or_else(|| RegistryError::Io {
            action: "reading the cached blob",
            path: cache.path(digest),
            source: std::io::Error::other("it vanished right after it was written"),
        })
    }

    fn download(
        &self,
        repository: &RegistryRef,
        digest: &Digest,
        size: Option<u64>,
        media: &str,
        dl: &Deadline,
    ) -> Result<(), RegistryError> {
        let t = &self.inner.transport;
        let host = t.host(repository.registry(), dl)?;
        let manifest = kind_of(media) != Kind::Other;
        let endpoint = if manifest { "manifests" } else { "blobs" };
        let target = repository.with_digest(digest.clone()).to_string();
        let scope = Scope::pull(repository.repository());
        let what = format!("{} {digest}", if manifest { "manifest" } else { "blob" });
        let attempts = self.inner.options.attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let call = Call {
                method: Method::GET,
                url: host.url(repository.repository(), &format!("{endpoint}/{digest}")),
                accept: manifest.then_some(MANIFEST_ACCEPT),
                content_type: None,
                payload: Payload::Empty,
                target: &target,
                action: "downloading",
                transfer: true,
            };
            let response = t.send(&host, &scope, &call, dl)?;
            let response = t.expect(&host, &scope, &call, response, &[200], &what)?;
            let limit = if manifest { Some(MAX_MANIFEST) } else { None };
            if let (Some(l), Some(s)) = (limit, size) {
                if s > l {
                    return Err(RegistryError::Protocol {
                        target,
                        reason: format!("{what} is larger than the limit of {l} bytes"),
                    });
                }
            }
            let reader = response.take(limit.map_or(u64::MAX, |l| l + 1));
            match self.inner.cache.put(digest, size, reader, &target) {
                Ok(_) => return Ok(()),
                Err(PutError::Transfer(_)) if attempt < attempts => {
                    dl.remaining(&target)?;
                    std::thread::sleep(self.inner.options.retry_delay * attempt);
                }
                Err(PutError::Transfer(e)) => {
                    return Err(RegistryError::Network {
                        registry: repository.registry().to_owned(),
                        message: format!(
                            "downloading {what}: {}",
                            assemble_io::url::error_chain(&e)
                        ),
                        attempts: attempt,
                        hint: String::new(),
                    })
                }
                Err(PutError::Mismatch(e) | PutError::Local(e)) => return Err(e),
            }
        }
    }

    /// Opens `r` as a [`Source`]: the manifest or index it names (from the
    /// cache when pinned by a cached digest), and every platform image's
    /// manifest and config. Layers are fetched when first read.
    pub fn open(&self, r: &RegistryRef) -> Result<Source, OciError> {
        let cached = r.digest().and_then(|d| {
            let (file, len) = self.inner.cache.get(d, None)?;
            let mut bytes = Vec::new();
            file.take(MAX_MANIFEST + 1).read_to_end(&mut bytes).ok()?;
            (len <= MAX_MANIFEST && &Digest::of(&bytes) == d).then_some(bytes)
        });
        let top = match cached {
            Some(bytes) => Descriptor::new(
                &sniff_media_type(&bytes),
                Digest::of(&bytes),
                bytes.len() as u64,
            ),
            None => {
                let dl = self.deadline();
                let f = self.fetch_manifest(r, &r.manifest_reference(), &dl)?;
                let size = f.bytes.len() as u64;
                self.inner
                    .cache
                    .put(&f.digest, Some(size), &f.bytes[..], &r.to_string())
                    .map_err(|e| match e {
                        PutError::Mismatch(e) | PutError::Local(e) => e,
                        PutError::Transfer(e) => RegistryError::Io {
                            action: "caching the manifest",
                            path: self.inner.cache.path(&f.digest),
                            source: e,
                        },
                    })?;
                Descriptor::new(&f.media_type, f.digest, size)
            }
        };
        Source::from_registry(self.clone(), r.clone(), top)
    }

    /// Copies `r` into an OCI layout at `dest` (replaced atomically), every
    /// blob it reaches verified on the way, tagged with `r`'s tag (else
    /// `latest`). Returns the top descriptor as written in `index.json`.
    pub fn pull_to_layout(&self, r: &RegistryRef, dest: &Path) -> Result<Descriptor, OciError> {
        let source = self.open(r)?;
        let top = source
            .selected()
            .first()
            .cloned()
            .ok_or_else(|| OciError::Layout {
                location: source.location().to_owned(),
                reason: "nothing was selected".into(),
            })?;
        let mut all = Vec::new();
        let mut seen = BTreeSet::new();
        reachable(&source, &top, &mut all, &mut seen, 0)?;
        let layers: Vec<&Descriptor> = all
            .iter()
            .filter(|d| kind_of(&d.media_type) == Kind::Other)
            .collect();
        source.fetch(&layers)?;
        let mut writer = LayoutWriter::create(dest)?;
        for d in &all {
            writer.copy_blob(&source, d)?;
        }
        let mut entry = top.clone();
        entry.annotations.insert(
            REF_NAME_ANNOTATION.to_owned(),
            r.tag().unwrap_or("latest").to_owned(),
        );
        writer.finish(std::slice::from_ref(&entry))?;
        Ok(entry)
    }
}

/// Every descriptor reachable from `desc` (itself first, then what it
/// names), each once.
pub(crate) fn reachable(
    source: &Source,
    desc: &Descriptor,
    out: &mut Vec<Descriptor>,
    seen: &mut BTreeSet<Digest>,
    depth: usize,
) -> Result<(), OciError> {
    if !seen.insert(desc.digest.clone()) {
        return Ok(());
    }
    out.push(desc.clone());
    if kind_of(&desc.media_type) == Kind::Other || depth > 8 {
        return Ok(());
    }
    let bytes = source.read_blob(desc)?;
    let doc: Value = serde_json::from_slice(&bytes).map_err(|e| OciError::Json {
        what: format!("manifest {}", desc.digest),
        location: source.location().to_owned(),
        reason: e.to_string(),
    })?;
    let mut next: Vec<Descriptor> = Vec::new();
    let parse = |v: &Value| -> Result<Descriptor, OciError> {
        serde_json::from_value(v.clone()).map_err(|e| OciError::Json {
            what: format!("manifest {}", desc.digest),
            location: source.location().to_owned(),
            reason: e.to_string(),
        })
    };
    if let Some(list) = doc.get("manifests").and_then(Value::as_array) {
        for m in list {
            next.push(parse(m)?);
        }
    }
    if let Some(c) = doc.get("config") {
        next.push(parse(c)?);
    }
    if let Some(list) = doc.get("layers").and_then(Value::as_array) {
        for l in list {
            next.push(parse(l)?);
        }
    }
    for d in &next {
        reachable(source, d, out, seen, depth + 1)?;
    }
    Ok(())
}
